//! The worker's Flight data plane: serves results (`DoGet`) and takes scattered data
//! (`DoPut`).
//!
//! A `DoGet` ticket lists keys. Byte values of all of them stream back in one stream of
//! bounded chunks (see `dusk_flight::chunks`); a key holding record batches streams
//! alone with its own schema. Spilled values are read back transparently. A key this
//! worker does not hold is `NotFound`, naming the worker, so the fetcher can tell the
//! scheduler which copy was missing.

use std::sync::{Arc, RwLock};

use arrow_flight::decode::FlightRecordBatchStream;
use arrow_flight::encode::{DictionaryHandling, FlightDataEncoderBuilder};
use arrow_flight::error::FlightError;
use arrow_flight::flight_service_server::FlightService;
use arrow_flight::{
    Action, ActionType, Criteria, Empty, FlightData, FlightDescriptor, FlightInfo, HandshakeRequest,
    HandshakeResponse, PollInfo, PutResult, SchemaResult, Ticket,
};
use bytes::Bytes;
use dusk_flight::chunks::{self, ValueAssembler};
use dusk_flight::envelope::{decode_message, error_chain};
use dusk_flight::messages::FetchTicket;
use dusk_flight::ticket::{TicketSigner, is_signed, now_unix_ms};
use futures::{Stream, StreamExt, TryStreamExt};
use tokio::sync::mpsc;
use tonic::{Request, Response, Status, Streaming};

use super::event_loop::WorkerEvent;
use super::result_store::ResultStore;
use crate::graph::{TaskKey, Value};
use crate::net::FlightStream;
use crate::security::{Claims, Role};

/// The key result tickets are checked with, once the scheduler has sent it.
pub(crate) type TicketKey = Arc<RwLock<Option<TicketSigner>>>;

/// Serves one worker's store.
pub(crate) struct DataPlane {
    pub(crate) name: String,
    pub(crate) store: Arc<ResultStore>,
    pub(crate) events: mpsc::UnboundedSender<WorkerEvent>,
    pub(crate) tickets: TicketKey,
    /// Whether the cluster authenticates: then a `DoGet` by key (not a signed result
    /// ticket) needs a cluster token.
    pub(crate) authenticated: bool,
}

impl DataPlane {
    async fn value(&self, key: &str) -> Result<Value, Status> {
        match self.store.get(key).await {
            Ok(Some(v)) => Ok(v),
            Ok(None) => Err(Status::not_found(format!("worker {} does not hold {key}", self.name))),
            Err(e) => Err(Status::internal(format!("worker {}: {}", self.name, error_chain(&e)))),
        }
    }
}

impl DataPlane {
    /// Streams a query result partition to a Flight SQL client holding a ticket the
    /// scheduler signed, with exactly the schema the scheduler announced.
    async fn signed_result(&self, bytes: &[u8]) -> Result<FlightStream<FlightData>, Status> {
        let signer = self.tickets.read().ok().and_then(|k| k.clone()).ok_or_else(|| {
            Status::unavailable(format!("worker {} has not joined a scheduler yet", self.name))
        })?;
        let ticket = signer.verify(bytes, now_unix_ms())?;
        let schema = dusk_flight::results::decode_schema(&ticket.schema)
            .map_err(|e| Status::invalid_argument(format!("result ticket schema: {e}")))?;
        let batches = match self.value(&ticket.key).await? {
            Value::Batches(batches) => batches,
            Value::Buckets(buckets) => buckets.into_iter().next().unwrap_or_default(),
            Value::Bytes(_) => {
                return Err(Status::invalid_argument(format!("{} is not a query result", ticket.key)));
            }
        };
        tracing::debug!(query = %ticket.query, key = %ticket.key, "serving a result partition");
        let announced = schema.clone();
        let conformed = futures::stream::iter(
            batches
                .into_iter()
                .map(move |b| dusk_flight::results::conform(&b, &announced).map_err(FlightError::Arrow)),
        );
        // Once the last batch is taken, the scheduler may release the partition.
        let events = self.events.clone();
        let served = futures::stream::once(async move {
            let _ = events.send(WorkerEvent::Served(ticket.key));
        })
        .filter_map(|()| async { None });
        let builder = FlightDataEncoderBuilder::new()
            .with_schema(schema)
            .with_dictionary_handling(DictionaryHandling::Resend);
        Ok(encode_with(builder, conformed.chain(served)))
    }

    /// Streams bucket `bucket` of a shuffle output, announcing its schema even when empty.
    async fn bucket(&self, key: &str, bucket: usize) -> Result<FlightStream<FlightData>, Status> {
        let value = self.value(key).await?;
        let schema = value.schema();
        let batches =
            value.into_bucket(bucket).map_err(|why| Status::invalid_argument(format!("{key}: {why}")))?;
        let mut builder = FlightDataEncoderBuilder::new();
        if let Some(schema) = schema {
            builder = builder.with_schema(schema);
        }
        Ok(encode_with(builder, futures::stream::iter(batches.into_iter().map(Ok))))
    }
}

fn encode(
    batches: impl Stream<Item = Result<arrow::array::RecordBatch, FlightError>> + Send + 'static,
) -> FlightStream<FlightData> {
    encode_with(FlightDataEncoderBuilder::new(), batches)
}

fn encode_with(
    builder: FlightDataEncoderBuilder,
    batches: impl Stream<Item = Result<arrow::array::RecordBatch, FlightError>> + Send + 'static,
) -> FlightStream<FlightData> {
    builder
        .build(batches)
        .map_err(|e| match e {
            FlightError::Tonic(status) => *status,
            other => Status::internal(other.to_string()),
        })
        .boxed()
}

#[tonic::async_trait]
impl FlightService for DataPlane {
    type HandshakeStream = FlightStream<HandshakeResponse>;
    type ListFlightsStream = FlightStream<FlightInfo>;
    type DoGetStream = FlightStream<FlightData>;
    type DoPutStream = FlightStream<PutResult>;
    type DoActionStream = FlightStream<arrow_flight::Result>;
    type ListActionsStream = FlightStream<ActionType>;
    type DoExchangeStream = FlightStream<FlightData>;

    async fn handshake(
        &self,
        _request: Request<Streaming<HandshakeRequest>>,
    ) -> Result<Response<Self::HandshakeStream>, Status> {
        Err(Status::unimplemented("handshake is not served by workers"))
    }

    async fn list_flights(
        &self,
        _request: Request<Criteria>,
    ) -> Result<Response<Self::ListFlightsStream>, Status> {
        Err(Status::unimplemented("list_flights is not served by workers"))
    }

    async fn get_flight_info(
        &self,
        _request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        Err(Status::unimplemented("get_flight_info is served by the scheduler"))
    }

    async fn poll_flight_info(
        &self,
        _request: Request<FlightDescriptor>,
    ) -> Result<Response<PollInfo>, Status> {
        Err(Status::unimplemented("poll_flight_info is not served by workers"))
    }

    async fn get_schema(
        &self,
        _request: Request<FlightDescriptor>,
    ) -> Result<Response<SchemaResult>, Status> {
        Err(Status::unimplemented("get_schema is not served by workers"))
    }

    async fn do_get(&self, request: Request<Ticket>) -> Result<Response<Self::DoGetStream>, Status> {
        let from_cluster = request.extensions().get::<Claims>().is_some_and(|c| c.role == Role::Cluster);
        let ticket = request.into_inner().ticket;
        if is_signed(&ticket) {
            return self.signed_result(&ticket).await.map(Response::new);
        }
        if self.authenticated && !from_cluster {
            return Err(Status::unauthenticated(format!(
                "worker {} serves results by key only to the cluster's own processes",
                self.name
            )));
        }
        let ticket: FetchTicket = decode_message(&ticket, "fetch ticket")?;
        if ticket.keys.is_empty() {
            return Err(Status::invalid_argument("fetch ticket names no keys"));
        }
        if let Some(missing) = ticket.keys.iter().find(|k| self.store.describe(k).is_none()) {
            return Err(Status::not_found(format!("worker {} does not hold {missing}", self.name)));
        }
        if let Some(bucket) = ticket.bucket {
            let [key] = <[String; 1]>::try_from(ticket.keys)
                .map_err(|_| Status::invalid_argument("a bucket is fetched from one key at a time"))?;
            return self.bucket(&key, bucket as usize).await.map(Response::new);
        }
        let mut values = Vec::with_capacity(ticket.keys.len());
        for key in ticket.keys {
            match self.value(&key).await? {
                Value::Bytes(b) => values.push((key, b)),
                Value::Batches(batches) if values.is_empty() => {
                    let stream = futures::stream::iter(batches.into_iter().map(Ok));
                    return Ok(Response::new(encode(stream)));
                }
                Value::Batches(_) => {
                    return Err(Status::invalid_argument(format!(
                        "{key} holds record batches: fetch it alone"
                    )));
                }
                Value::Buckets(_) => {
                    return Err(Status::invalid_argument(format!(
                        "{key} holds shuffle buckets: fetch one bucket at a time"
                    )));
                }
            }
        }
        let batches =
            chunks::encode_values(values).map(|r| r.map_err(|e| FlightError::ExternalError(Box::new(e))));
        Ok(Response::new(encode(futures::stream::iter(batches))))
    }

    async fn do_put(
        &self,
        request: Request<Streaming<FlightData>>,
    ) -> Result<Response<Self::DoPutStream>, Status> {
        let frames = request.into_inner().map_err(|s| FlightError::Tonic(Box::new(s)));
        let mut batches = FlightRecordBatchStream::new_from_flight_data(frames);
        let mut assembler = ValueAssembler::new();
        let mut stored = 0usize;
        let store = |values: Vec<(String, Bytes)>, stored: &mut usize| {
            for (key, bytes) in values {
                self.store.insert(TaskKey::from(key), Value::Bytes(bytes));
                *stored += 1;
            }
        };
        while let Some(batch) = batches.next().await {
            let batch = batch.map_err(|e| Status::invalid_argument(format!("scatter stream: {e}")))?;
            let done = assembler.push(&batch).map_err(Status::from)?;
            store(done, &mut stored);
        }
        let last = assembler.finish().map_err(Status::from)?;
        store(last.into_iter().collect(), &mut stored);
        let _ = self.events.send(WorkerEvent::Stored);
        tracing::debug!(values = stored, "stored scattered data");
        let result = PutResult { app_metadata: Bytes::from(stored.to_string()) };
        Ok(Response::new(futures::stream::once(async { Ok(result) }).boxed()))
    }

    async fn do_action(&self, request: Request<Action>) -> Result<Response<Self::DoActionStream>, Status> {
        Err(Status::unimplemented(format!("workers answer no action {:?}", request.into_inner().r#type)))
    }

    async fn list_actions(
        &self,
        _request: Request<Empty>,
    ) -> Result<Response<Self::ListActionsStream>, Status> {
        Ok(Response::new(futures::stream::empty().boxed()))
    }

    async fn do_exchange(
        &self,
        _request: Request<Streaming<FlightData>>,
    ) -> Result<Response<Self::DoExchangeStream>, Status> {
        Err(Status::unimplemented("do_exchange is not served by workers"))
    }
}
