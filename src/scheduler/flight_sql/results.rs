//! How a finished query's answer reaches a Flight SQL client.
//!
//! - **From the workers** (large results): one endpoint per final partition, at the
//!   workers holding it, with a ticket the scheduler signed (see
//!   `dusk_flight::ticket`). Clients such as ADBC read the endpoints in parallel, and the
//!   rows never pass through the scheduler.
//! - **Through the scheduler**: one endpoint with no location, so the client reads it on
//!   the connection it already has. Used for rows computed on the scheduler itself
//!   (`SELECT 1`, DDL, catalog queries), for small results (cheaper than opening a
//!   connection per worker, and readable by clients that only look at `endpoints[0]`),
//!   and for every result when the client sends `x-dusk-results: proxy` or the scheduler
//!   runs with `--proxy-results`. A client sending `x-dusk-results: workers` reads even
//!   small results from the workers.
//!
//! Small results are fetched from the workers at once and the query closed, so nothing
//! stays on the workers; a held answer is dropped once read, or after the result TTL
//! (`SchedulerConfig::result_ttl`, which also bounds the tickets).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use arrow::ipc::reader::StreamReader;
use arrow_flight::encode::{DictionaryHandling, FlightDataEncoderBuilder};
use arrow_flight::error::FlightError;
use arrow_flight::sql::{ProstMessageExt, TicketStatementQuery};
use arrow_flight::{FlightData, FlightEndpoint, FlightInfo, Ticket};
use bytes::Bytes;
use dusk_flight::query::{ResultPartition, SqlResult};
use dusk_flight::results::{conform, encode_schema};
use dusk_flight::ticket::{ResultTicket, TicketSigner, now_unix_ms};
use futures::{StreamExt, TryStreamExt};
use prost::Message;
use tonic::Status;

use super::super::query::QueryEngine;
use crate::data_client::DataClient;
use crate::net::FlightStream;
use crate::security::Credentials;

/// Results up to this size come through the scheduler in one endpoint.
pub(crate) const SMALL_RESULT_BYTES: u64 = 8 << 20;

/// How the client asked for its results to travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Delivery {
    /// Large results straight from the workers, small ones through the scheduler.
    Auto,
    /// Everything through the scheduler, in one endpoint.
    Proxy,
    /// Rows held by workers straight from them, whatever their size.
    Workers,
}

/// Where a held answer's rows are.
enum Rows {
    /// Already here.
    Here(Vec<RecordBatch>),
    /// Some rows here (`first`), the rest still on the workers: streamed through the
    /// scheduler when read, then released.
    Workers { first: Vec<RecordBatch>, queries: Vec<String>, partitions: Vec<ResultPartition> },
}

struct Held {
    schema: SchemaRef,
    rows: Rows,
    since: Instant,
}

/// Answers waiting for their `DoGet`, by handle.
pub(crate) struct HeldResults {
    next: AtomicU64,
    held: Mutex<HashMap<Bytes, Held>>,
    data: Arc<DataClient>,
    signer: TicketSigner,
    /// How long an answer held here, or a signed ticket, stays valid unread.
    ttl: Duration,
}

impl HeldResults {
    /// Holds results for `ttl`, signs tickets with `signer` and reads from workers
    /// showing `credentials`.
    pub(crate) fn new(signer: TicketSigner, ttl: Duration, credentials: Credentials) -> Self {
        HeldResults {
            next: AtomicU64::new(1),
            held: Mutex::new(HashMap::new()),
            data: Arc::new(DataClient::new(credentials)),
            signer,
            ttl,
        }
    }

    /// The signer of result tickets.
    pub(crate) fn signer(&self) -> &TicketSigner {
        &self.signer
    }

    /// Turns finished statements (one per bound parameter row) into the `FlightInfo`
    /// a client reads them by.
    pub(crate) async fn deliver(
        &self,
        engine: &QueryEngine,
        results: Vec<SqlResult>,
        delivery: Delivery,
    ) -> Result<FlightInfo, Status> {
        let mut schema = None;
        let mut here = Vec::new();
        let mut partitions = Vec::new();
        let mut queries = Vec::new();
        for result in results {
            let (s, batches) = decode_inline(&result)?;
            schema.get_or_insert(s);
            here.extend(batches);
            if !result.partitions.is_empty() {
                queries.push(result.query.clone());
                partitions.extend(result.partitions);
            }
        }
        let schema = schema.ok_or_else(|| Status::internal("a statement ran but gave no result"))?;
        let on_workers: u64 = partitions.iter().map(|p| p.nbytes).sum();
        let info = FlightInfo::new().try_with_schema(&schema).map_err(arrow_status)?;

        let small = on_workers <= SMALL_RESULT_BYTES && delivery != Delivery::Workers;
        if partitions.is_empty() || small {
            // Everything fits here: read it now and let the workers drop it.
            let fetched = self.fetch(&partitions).await;
            for query in &queries {
                engine.close(query);
            }
            here.extend(fetched?);
            let rows: i64 = here.iter().map(|b| b.num_rows() as i64).sum();
            let bytes: i64 = here.iter().map(|b| b.get_array_memory_size() as i64).sum();
            let handle = self.hold(schema, Rows::Here(here));
            return Ok(info
                .with_endpoint(local_endpoint(handle))
                .with_total_records(rows)
                .with_total_bytes(bytes)
                .with_ordered(true));
        }
        if delivery == Delivery::Proxy || !here.is_empty() {
            let handle = self.hold(schema, Rows::Workers { first: here, queries, partitions });
            return Ok(info
                .with_endpoint(local_endpoint(handle))
                .with_total_records(-1)
                .with_total_bytes(on_workers as i64)
                .with_ordered(true));
        }
        let schema_bytes = encode_schema(&schema).map_err(arrow_status)?;
        let expires_unix_ms = now_unix_ms() + self.ttl.as_millis() as u64;
        let ordered = partitions.len() == 1;
        let query = queries.join(",");
        let endpoints = partitions.into_iter().map(|p| {
            let ticket = ResultTicket {
                key: p.key,
                expires_unix_ms,
                schema: schema_bytes.clone(),
                query: query.clone(),
            };
            let mut endpoint = FlightEndpoint::new().with_ticket(Ticket::new(self.signer.sign(&ticket)));
            for addr in p.addrs {
                endpoint = endpoint.with_location(addr);
            }
            endpoint
        });
        Ok(info
            .with_endpoints(endpoints.collect())
            .with_total_records(-1)
            .with_total_bytes(on_workers as i64)
            .with_ordered(ordered))
    }

    fn hold(&self, schema: SchemaRef, rows: Rows) -> Bytes {
        let handle = Bytes::from(format!("res-{}", self.next.fetch_add(1, Ordering::Relaxed)));
        if let Ok(mut held) = self.held.lock() {
            let now = Instant::now();
            held.retain(|_, h| now.duration_since(h.since) < self.ttl);
            held.insert(handle.clone(), Held { schema, rows, since: now });
        }
        handle
    }

    /// Streams a held answer, stamped with the schema its `FlightInfo` announced, and
    /// forgets it. Rows still on workers are released once streamed.
    pub(crate) fn stream(
        &self,
        engine: Arc<QueryEngine>,
        handle: &[u8],
    ) -> Result<FlightStream<FlightData>, Status> {
        let held = self.held.lock().ok().and_then(|mut held| held.remove(handle)).ok_or_else(|| {
            Status::not_found(format!(
                "no result {:?}: it was read already, cancelled or expired",
                String::from_utf8_lossy(handle)
            ))
        })?;
        let schema = held.schema;
        let announced = schema.clone();
        let batches = match held.rows {
            Rows::Here(batches) => futures::stream::iter(batches.into_iter().map(Ok)).boxed(),
            Rows::Workers { first, queries, partitions } => {
                let data = self.data.clone();
                let from_workers = futures::stream::iter(partitions)
                    .then(move |p| {
                        let data = data.clone();
                        async move { fetch_stream(&data, &p).await }
                    })
                    .try_flatten();
                // Once the last partition is streamed, the workers may drop the result.
                let release = futures::stream::once(async move {
                    for query in queries {
                        engine.close(&query);
                    }
                })
                .filter_map(|()| async { None });
                futures::stream::iter(first.into_iter().map(Ok)).chain(from_workers).chain(release).boxed()
            }
        };
        let conformed =
            batches.map(move |b| b.and_then(|b| conform(&b, &announced).map_err(FlightError::Arrow)));
        Ok(encode(schema, conformed))
    }

    /// Drops a held answer (a cancelled `FlightInfo`), releasing what workers keep of it.
    pub(crate) fn cancel(&self, engine: &QueryEngine, handle: &[u8]) -> bool {
        let Some(held) = self.held.lock().ok().and_then(|mut held| held.remove(handle)) else {
            return false;
        };
        if let Rows::Workers { queries, .. } = held.rows {
            for query in queries {
                engine.close(&query);
            }
        }
        true
    }

    async fn fetch(&self, partitions: &[ResultPartition]) -> Result<Vec<RecordBatch>, Status> {
        let mut out = Vec::new();
        for p in partitions {
            let batches: Vec<RecordBatch> = fetch_stream(&self.data, p)
                .await
                .map_err(flight_status)?
                .try_collect()
                .await
                .map_err(flight_status)?;
            out.extend(batches);
        }
        Ok(out)
    }
}

/// Streams one result partition from the first worker holding it that answers.
async fn fetch_stream(
    data: &DataClient,
    p: &ResultPartition,
) -> Result<futures::stream::BoxStream<'static, Result<RecordBatch, FlightError>>, FlightError> {
    let mut last = None;
    for addr in &p.addrs {
        match data.fetch_bucket(addr, &p.key, 0).await {
            Ok(stream) => {
                return Ok(stream.map_err(|e| FlightError::ExternalError(Box::new(e))).boxed());
            }
            Err(e) => last = Some(e),
        }
    }
    Err(match last {
        Some(e) => FlightError::ExternalError(Box::new(e)),
        None => FlightError::ProtocolError(format!("no worker holds result partition {}", p.key)),
    })
}

/// The endpoint of an answer held here: no location, so the client asks this server.
fn local_endpoint(handle: Bytes) -> FlightEndpoint {
    let ticket = TicketStatementQuery { statement_handle: handle };
    FlightEndpoint::new().with_ticket(Ticket::new(ticket.as_any().encode_to_vec()))
}

/// The handle in a ticket made by [`local_endpoint`], if it is one.
pub(crate) fn held_handle(ticket: &[u8]) -> Option<Bytes> {
    let any = arrow_flight::sql::Any::decode(ticket).ok()?;
    let ticket: TicketStatementQuery = any.unpack().ok()??;
    Some(ticket.statement_handle)
}

/// Streams batches as Flight data with `schema` announced first (also when there are no
/// batches), dictionaries kept as they are.
pub(crate) fn encode(
    schema: SchemaRef,
    batches: impl futures::Stream<Item = Result<RecordBatch, FlightError>> + Send + 'static,
) -> FlightStream<FlightData> {
    FlightDataEncoderBuilder::new()
        .with_schema(schema)
        .with_dictionary_handling(DictionaryHandling::Resend)
        .build(batches)
        .map_err(flight_status)
        .boxed()
}

fn decode_inline(result: &SqlResult) -> Result<(SchemaRef, Vec<RecordBatch>), Status> {
    let reader =
        StreamReader::try_new(std::io::Cursor::new(result.inline.as_ref()), None).map_err(arrow_status)?;
    let schema = reader.schema();
    let batches = reader.collect::<Result<Vec<_>, _>>().map_err(arrow_status)?;
    Ok((schema, batches))
}

pub(crate) fn arrow_status(e: arrow::error::ArrowError) -> Status {
    Status::internal(format!("encoding the result: {e}"))
}

pub(crate) fn flight_status(e: FlightError) -> Status {
    match e {
        FlightError::Tonic(status) => *status,
        other => Status::internal(other.to_string()),
    }
}
