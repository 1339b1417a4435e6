//! Fetching results from, and placing data on, workers' Flight data planes.
//!
//! Workers use it to fetch dependencies from peers and clients use it to gather results
//! and scatter data. Byte values of many keys share one `DoGet` stream (see
//! `dusk_flight::chunks`); a key holding record batches streams alone with its schema.
//! Channels are cached per address, so a task's fetch reuses the connection.

use std::collections::HashMap;
use std::sync::Mutex;

use arrow::array::RecordBatch;
use arrow_flight::decode::FlightRecordBatchStream;
use arrow_flight::encode::FlightDataEncoderBuilder;
use arrow_flight::error::FlightError;
use arrow_flight::flight_service_client::FlightServiceClient;
use arrow_flight::{FlightDescriptor, Ticket};
use bytes::Bytes;
use dusk_flight::chunks::{self, ValueAssembler};
use dusk_flight::envelope::encode_message;
use dusk_flight::messages::FetchTicket;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};

use crate::net::{self, ConnectError, DuskChannel};
use crate::security::Credentials;

/// Why a transfer with a worker failed.
#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    /// The worker could not be reached.
    #[error(transparent)]
    Connect(#[from] ConnectError),
    /// The worker answered with an error.
    #[error("worker {addr}: {}", .source.message())]
    Status {
        /// The worker's data address.
        addr: String,
        /// Its answer.
        #[source]
        source: tonic::Status,
    },
    /// The data did not decode.
    #[error("worker {addr} sent malformed data")]
    Decode {
        /// The worker's data address.
        addr: String,
        /// What was wrong.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The worker's stream ended without a key that was asked for.
    #[error("worker {addr} did not send {key}")]
    Missing {
        /// The worker's data address.
        addr: String,
        /// The key.
        key: String,
    },
}

impl TransferError {
    fn decode(addr: &str, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        TransferError::Decode { addr: addr.to_string(), source: Box::new(source) }
    }

    fn flight(addr: &str, e: FlightError) -> Self {
        match e {
            FlightError::Tonic(status) => TransferError::Status { addr: addr.to_string(), source: *status },
            other => TransferError::decode(addr, other),
        }
    }
}

/// A cache of data-plane connections. Cheap to share behind an `Arc`.
#[derive(Debug, Default)]
pub(crate) struct DataClient {
    channels: Mutex<HashMap<String, FlightServiceClient<DuskChannel>>>,
    credentials: Credentials,
}

impl DataClient {
    /// Connects to workers showing `credentials`.
    pub(crate) fn new(credentials: Credentials) -> Self {
        DataClient { channels: Mutex::default(), credentials }
    }

    async fn client(&self, addr: &str) -> Result<FlightServiceClient<DuskChannel>, TransferError> {
        if let Some(c) = self.channels.lock().ok().and_then(|m| m.get(addr).cloned()) {
            return Ok(c);
        }
        let channel = net::connect(addr, &self.credentials).await?;
        let client = FlightServiceClient::new(channel)
            .max_decoding_message_size(crate::net::MAX_MESSAGE_BYTES)
            .max_encoding_message_size(crate::net::MAX_MESSAGE_BYTES);
        if let Ok(mut m) = self.channels.lock() {
            m.insert(addr.to_string(), client.clone());
        }
        Ok(client)
    }

    /// Forgets the connection to `addr` (after it failed), so the next call reconnects.
    pub(crate) fn forget(&self, addr: &str) {
        if let Ok(mut m) = self.channels.lock() {
            m.remove(addr);
        }
    }

    async fn do_get(
        &self,
        addr: &str,
        keys: Vec<String>,
        bucket: Option<u32>,
    ) -> Result<FlightRecordBatchStream, TransferError> {
        let mut client = self.client(addr).await?;
        let ticket = Ticket { ticket: encode_message(&FetchTicket { keys, bucket }) };
        let response = client.do_get(ticket).await.map_err(|source| {
            self.forget(addr);
            TransferError::Status { addr: addr.to_string(), source }
        })?;
        let frames = response.into_inner().map_err(|s| FlightError::Tonic(Box::new(s)));
        Ok(FlightRecordBatchStream::new_from_flight_data(frames))
    }

    /// Fetches byte values of `keys` from the worker at `addr`, in one stream.
    pub(crate) async fn fetch_bytes(
        &self,
        addr: &str,
        keys: Vec<String>,
    ) -> Result<Vec<(String, Bytes)>, TransferError> {
        let wanted = keys.clone();
        let mut stream = self.do_get(addr, keys, None).await?;
        let mut assembler = ValueAssembler::new();
        let mut values = Vec::with_capacity(wanted.len());
        while let Some(batch) = stream.next().await {
            let batch = batch.map_err(|e| TransferError::flight(addr, e))?;
            values.extend(assembler.push(&batch).map_err(|e| TransferError::decode(addr, e))?);
        }
        values.extend(assembler.finish().map_err(|e| TransferError::decode(addr, e))?);
        if values.len() < wanted.len() {
            let key = wanted.into_iter().find(|k| !values.iter().any(|(v, _)| v == k)).unwrap_or_default();
            return Err(TransferError::Missing { addr: addr.to_string(), key });
        }
        Ok(values)
    }

    /// Fetches a key holding record batches.
    pub(crate) async fn fetch_batches(
        &self,
        addr: &str,
        key: &str,
    ) -> Result<Vec<RecordBatch>, TransferError> {
        let stream = self.do_get(addr, vec![key.to_string()], None).await?;
        stream.try_collect().await.map_err(|e| TransferError::flight(addr, e))
    }

    /// Streams bucket `bucket` of the shuffle output `key`, batch by batch.
    pub(crate) async fn fetch_bucket(
        &self,
        addr: &str,
        key: &str,
        bucket: u32,
    ) -> Result<BoxStream<'static, Result<RecordBatch, TransferError>>, TransferError> {
        let stream = self.do_get(addr, vec![key.to_string()], Some(bucket)).await?;
        let addr = addr.to_string();
        Ok(stream.map_err(move |e| TransferError::flight(&addr, e)).boxed())
    }

    /// Stores byte values on the worker at `addr` under their keys.
    pub(crate) async fn put_bytes(
        &self,
        addr: &str,
        values: Vec<(String, Bytes)>,
    ) -> Result<(), TransferError> {
        let mut client = self.client(addr).await?;
        let batches = futures::stream::iter(chunks::encode_values(values))
            .map(|b| b.map_err(|e| FlightError::ExternalError(Box::new(e))));
        // `do_put` takes plain frames, so an encoding error is kept aside and reported after.
        let encode_error = std::sync::Arc::new(Mutex::new(None));
        let slot = encode_error.clone();
        let frames = FlightDataEncoderBuilder::new()
            .with_flight_descriptor(Some(FlightDescriptor::new_path(vec!["scatter".to_string()])))
            .build(batches)
            .filter_map(move |r| {
                let slot = slot.clone();
                async move {
                    r.map_err(|e| {
                        if let Ok(mut s) = slot.lock() {
                            *s = Some(e);
                        }
                    })
                    .ok()
                }
            });
        let response = client
            .do_put(frames)
            .await
            .map_err(|source| TransferError::Status { addr: addr.to_string(), source })?;
        let mut results = response.into_inner();
        while let Some(r) = results.next().await {
            r.map_err(|source| TransferError::Status { addr: addr.to_string(), source })?;
        }
        if let Some(e) = encode_error.lock().ok().and_then(|mut s| s.take()) {
            return Err(TransferError::decode(addr, e));
        }
        Ok(())
    }
}
