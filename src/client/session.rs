//! The client's connection to the scheduler.
//!
//! One `DoExchange` stream carries everything: the client queues [`ClientUpdate`]s on a
//! channel and the outbound side merges whatever is queued into one frame, so a `map` of
//! 100,000 calls or the release of 100,000 futures costs a handful of frames. Merging
//! never reorders: an update that wants or submits keys is not folded into a frame that
//! already releases or cancels some, because the scheduler applies a frame's wants before
//! its releases. The inbound side applies the scheduler's events to the key table.
//!
//! The session ends when the last handle (client or future) is dropped: the outbound
//! stream closes, the scheduler releases everything this client held, and the driver
//! task is aborted.
//!
//! When the stream breaks (the scheduler restarted, or the network failed), everything
//! the scheduler knew of this session is gone: every key still followed turns
//! [`KeyStatus::Disconnected`], so waiters fail at once with a clear error, and the
//! driver opens a new session with capped backoff. The next call works again; futures
//! of the old session stay failed.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arrow_flight::flight_service_client::FlightServiceClient;
use arrow_flight::{Action, FlightData, FlightDescriptor};
use dusk_flight::envelope::{
    MAX_FRAME_ENTRIES, decode_message, encode_message, from_flight_data, to_flight_data,
};
use dusk_flight::messages::{ClientEvents, ClientHello, ClientUpdate, ValueKind};
use futures::StreamExt;
use tokio::sync::mpsc;
use tonic::Streaming;

use super::ClientError;
use super::key_table::{KeyStatus, KeyTable};
use crate::data_client::DataClient;
use crate::net::{self, DuskChannel};
use crate::security::Credentials;

/// What every handle of one client shares.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) url: String,
    /// The scheduler's id for the current session (it changes when the session is
    /// opened again).
    id: Arc<AtomicU64>,
    pub(crate) keys: Arc<KeyTable>,
    pub(crate) data: DataClient,
    scheduler: FlightServiceClient<DuskChannel>,
    commands: mpsc::UnboundedSender<ClientUpdate>,
    driver: tokio::task::JoinHandle<()>,
}

impl Drop for Shared {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

impl Shared {
    /// The scheduler's id for this client's current session.
    pub(crate) fn id(&self) -> u64 {
        self.id.load(Ordering::Acquire)
    }

    /// Queues an update for the scheduler.
    pub(crate) fn send(&self, update: ClientUpdate) {
        let _ = self.commands.send(update);
    }

    /// Calls a scheduler action and decodes its answer.
    pub(crate) async fn action<M: prost::Message + Default>(
        &self,
        kind: &str,
        body: &impl prost::Message,
        what: &'static str,
    ) -> Result<M, ClientError> {
        let mut scheduler = self.scheduler.clone();
        let action = Action { r#type: kind.to_string(), body: encode_message(body) };
        let status = |source| ClientError::Scheduler { url: self.url.clone(), source };
        let mut results = scheduler.do_action(action).await.map_err(status)?.into_inner();
        let first = results.next().await.transpose().map_err(status)?;
        let body = first.map(|r| r.body).unwrap_or_default();
        decode_message(&body, what).map_err(|e| status(tonic::Status::from(e)))
    }
}

impl Shared {
    /// Writes `batches` into table `table` through Flight SQL ingest, creating it or
    /// replacing its rows; returns the rows written.
    pub(crate) async fn ingest(
        &self,
        table: &str,
        batches: Vec<arrow::array::RecordBatch>,
    ) -> Result<u64, ClientError> {
        use arrow_flight::encode::FlightDataEncoderBuilder;
        use arrow_flight::sql::{
            CommandStatementIngest, DoPutUpdateResult, ProstMessageExt, TableDefinitionOptions,
            TableExistsOption, TableNotExistOption,
        };
        use futures::TryStreamExt;
        use prost::Message;

        let command = CommandStatementIngest {
            table_definition_options: Some(TableDefinitionOptions {
                if_not_exist: TableNotExistOption::Create.into(),
                if_exists: TableExistsOption::Replace.into(),
            }),
            table: table.to_string(),
            ..Default::default()
        };
        let descriptor = FlightDescriptor::new_cmd(command.as_any().encode_to_vec());
        let status = |source| ClientError::Scheduler { url: self.url.clone(), source };
        let schema = batches.first().map(|b| b.schema());
        let mut builder = FlightDataEncoderBuilder::new().with_flight_descriptor(Some(descriptor));
        if let Some(schema) = schema {
            builder = builder.with_schema(schema);
        }
        let data: Vec<FlightData> = builder
            .build(futures::stream::iter(batches.into_iter().map(Ok)))
            .try_collect()
            .await
            .map_err(|e| status(tonic::Status::invalid_argument(format!("encoding the batches: {e}"))))?;
        let mut scheduler = self.scheduler.clone();
        let results = scheduler.do_put(futures::stream::iter(data)).await.map_err(status)?.into_inner();
        let results: Vec<arrow_flight::PutResult> = results.try_collect().await.map_err(status)?;
        Ok(results
            .first()
            .and_then(|r| DoPutUpdateResult::decode(r.app_metadata.as_ref()).ok())
            .map_or(0, |r| r.record_count.max(0) as u64))
    }
}

/// Opens a session with the scheduler at `url`.
pub(crate) async fn connect(
    url: &str,
    name: &str,
    credentials: Credentials,
) -> Result<Arc<Shared>, ClientError> {
    let channel = net::connect(url, &credentials).await?;
    let scheduler = FlightServiceClient::new(channel)
        .max_decoding_message_size(crate::net::MAX_MESSAGE_BYTES)
        .max_encoding_message_size(crate::net::MAX_MESSAGE_BYTES);
    let opener = Opener { url: url.to_string(), name: name.to_string(), scheduler: scheduler.clone() };
    let (link, id) = opener.open().await?;
    let (commands, rx) = mpsc::unbounded_channel();
    let keys = Arc::new(KeyTable::default());
    let id = Arc::new(AtomicU64::new(id));
    let driver = tokio::spawn(drive(opener, link, rx, keys.clone(), id.clone()));
    Ok(Arc::new(Shared {
        url: url.to_string(),
        id,
        keys,
        data: DataClient::new(credentials),
        scheduler,
        commands,
        driver,
    }))
}

/// Opens sessions: the first, and new ones after the stream broke.
struct Opener {
    url: String,
    name: String,
    scheduler: FlightServiceClient<DuskChannel>,
}

/// One session's stream: updates out, events in.
struct Link {
    outgoing: mpsc::UnboundedSender<ClientUpdate>,
    inbound: Streaming<FlightData>,
}

impl Opener {
    /// Opens a session; returns its stream and the id the scheduler gave it.
    async fn open(&self) -> Result<(Link, u64), ClientError> {
        let hello =
            ClientUpdate { hello: Some(ClientHello { name: self.name.clone() }), ..Default::default() };
        let mut first = to_flight_data(&hello);
        first.flight_descriptor = Some(FlightDescriptor::new_path(vec!["client".to_string()]));
        let (outgoing, rx) = mpsc::unbounded_channel();
        let status = |source| ClientError::Scheduler { url: self.url.clone(), source };
        let mut scheduler = self.scheduler.clone();
        let mut inbound = scheduler.do_exchange(outbound(first, rx)).await.map_err(status)?.into_inner();
        let welcome = inbound.next().await.ok_or(ClientError::Disconnected)?.map_err(status)?;
        let welcome: ClientEvents = from_flight_data(&welcome, "welcome").map_err(|e| status(e.into()))?;
        let id = welcome.welcome.ok_or(ClientError::Disconnected)?;
        Ok((Link { outgoing, inbound }, id))
    }
}

/// Carries updates out and events in for as long as the client lives, opening a new
/// session whenever the stream breaks.
async fn drive(
    opener: Opener,
    mut link: Link,
    mut commands: mpsc::UnboundedReceiver<ClientUpdate>,
    keys: Arc<KeyTable>,
    id: Arc<AtomicU64>,
) {
    loop {
        let ended = loop {
            tokio::select! {
                update = commands.recv() => match update {
                    Some(update) => {
                        let _ = link.outgoing.send(update);
                    }
                    None => return,
                },
                frame = link.inbound.next() => match frame {
                    Some(Ok(frame)) => {
                        if let Err(why) = apply_events(&frame, &keys) {
                            break why;
                        }
                    }
                    Some(Err(status)) => break status.message().to_string(),
                    None => break "the scheduler closed the stream".to_string(),
                },
            }
        };
        tracing::warn!(scheduler.url = %opener.url, reason = %ended,
            "lost the session with the scheduler; work in flight fails and a new session opens");
        keys.disconnect_all();
        let mut backoff = net::Backoff::default();
        link = loop {
            // Updates meant for the old session go nowhere: their futures are failed.
            while commands.try_recv().is_ok() {}
            match opener.open().await {
                Ok((next, new_id)) => {
                    id.store(new_id, Ordering::Release);
                    keys.reopen();
                    tracing::info!(scheduler.url = %opener.url, client.id = new_id, "opened a new session with the scheduler");
                    break next;
                }
                Err(e) => {
                    tracing::debug!(scheduler.url = %opener.url, error = %e, "opening a new session failed")
                }
            }
            tokio::time::sleep(backoff.next_delay()).await;
        };
    }
}

fn entries(u: &ClientUpdate) -> usize {
    u.submit.len()
        + u.want.len()
        + u.release.len()
        + u.cancel.len()
        + u.scattered.len()
        + u.fire_and_forget.len()
}

/// True when `next` can join `frame` without changing what the scheduler does.
fn can_merge(frame: &ClientUpdate, next: &ClientUpdate) -> bool {
    let frame_lets_go = !frame.release.is_empty() || !frame.cancel.is_empty();
    let next_takes = !next.submit.is_empty()
        || !next.want.is_empty()
        || !next.scattered.is_empty()
        || !next.fire_and_forget.is_empty();
    !(frame_lets_go && next_takes) && entries(frame) + entries(next) <= MAX_FRAME_ENTRIES
}

fn merge(frame: &mut ClientUpdate, next: ClientUpdate) {
    frame.submit.extend(next.submit);
    frame.want.extend(next.want);
    frame.release.extend(next.release);
    frame.cancel.extend(next.cancel);
    frame.scattered.extend(next.scattered);
    frame.fire_and_forget.extend(next.fire_and_forget);
}

fn outbound(
    first: FlightData,
    rx: mpsc::UnboundedReceiver<ClientUpdate>,
) -> impl futures::Stream<Item = FlightData> + Send + 'static {
    let frames = futures::stream::unfold((rx, None::<ClientUpdate>), |(mut rx, carry)| async move {
        let mut frame = match carry {
            Some(u) => u,
            None => rx.recv().await?,
        };
        let mut carry = None;
        while let Ok(next) = rx.try_recv() {
            if can_merge(&frame, &next) {
                merge(&mut frame, next);
            } else {
                carry = Some(next);
                break;
            }
        }
        Some((to_flight_data(&frame), (rx, carry)))
    });
    futures::stream::once(async move { first }).chain(frames)
}

/// Applies one frame of the scheduler's events to the key table; an error ends the
/// session (the scheduler sent something that does not decode).
fn apply_events(frame: &FlightData, keys: &KeyTable) -> Result<(), String> {
    let events = from_flight_data::<ClientEvents>(frame, "client events")
        .map_err(|e| format!("the scheduler sent a malformed event frame: {e}"))?;
    // Losses first: a key lost and recomputed within one frame ends up ready.
    keys.set_many(events.lost.into_iter().map(|k| (k, KeyStatus::Pending)));
    keys.set_many(events.ready.into_iter().map(|r| {
        let kind = ValueKind::try_from(r.kind).unwrap_or(ValueKind::Bytes);
        (r.key, KeyStatus::Ready { addrs: r.addrs.into(), nbytes: r.nbytes, kind })
    }));
    keys.set_many(events.failed.into_iter().map(|f| (f.key.clone(), KeyStatus::Failed(f))));
    keys.set_many(events.cancelled.into_iter().map(|k| (k, KeyStatus::Cancelled)));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_want_never_merges_behind_a_release() {
        let release = ClientUpdate { release: vec!["k".into()], ..Default::default() };
        let want = ClientUpdate { want: vec!["k".into()], ..Default::default() };
        assert!(!can_merge(&release, &want));
        assert!(can_merge(&want, &release));
        assert!(can_merge(&release, &release));
    }
}
