//! The scheduler's Flight service: the edge where frames become events.
//!
//! Workers and clients each open one long-lived `DoExchange` stream; the first frame's
//! descriptor says which they are (`worker` or `client`) and carries their hello. Every
//! later frame is one batch, decoded here and handed to the event loop; what the loop
//! sends back streams out on the same exchange. Request/reply calls (datasets, scatter
//! targets, cluster info, SQL) are `DoAction`s. A frame that does not decode ends that stream
//! with `InvalidArgument`; the scheduler itself carries on.

use std::net::SocketAddr;

use arrow_flight::flight_service_server::{FlightService, FlightServiceServer};
use arrow_flight::{
    Action, ActionType, Criteria, Empty, FlightData, FlightDescriptor, FlightInfo, HandshakeRequest,
    HandshakeResponse, PollInfo, PutResult, SchemaResult, Ticket,
};
use std::sync::Arc;

use bytes::Bytes;
use dusk_flight::actions;
use dusk_flight::envelope::{decode_message, encode_message, from_flight_data, to_flight_data};
use dusk_flight::messages::{ClientUpdate, WorkerUpdate};
use dusk_flight::query::{QueryId, SqlRequest, UncacheRequest};
use futures::stream::BoxStream;
use futures::{FutureExt, StreamExt};
use tokio::sync::{mpsc, oneshot, watch};
use tokio_stream::wrappers::UnboundedReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use super::SchedulerError;
use super::event_loop::{self, Event};
use super::query::QueryEngine;
use crate::config::SchedulerConfig;
use crate::net::FlightStream;

/// How long open connections get to close when the scheduler shuts down.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(1);

/// Largest gRPC message the scheduler accepts or sends.
pub(crate) const MAX_MESSAGE_BYTES: usize = 256 << 20;

/// Starts schedulers.
#[derive(Debug)]
pub struct Scheduler;

impl Scheduler {
    /// Binds `addr` (e.g. `0.0.0.0:8786`, or port 0 for any free port) and starts serving.
    pub async fn bind(addr: &str, config: SchedulerConfig) -> Result<SchedulerHandle, SchedulerError> {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| SchedulerError::Bind { addr: addr.to_string(), source })?;
        let local = listener
            .local_addr()
            .map_err(|source| SchedulerError::Bind { addr: addr.to_string(), source })?;
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let state_dir = config.state_dir.clone();
        let event_loop = tokio::spawn(event_loop::run(config, events_rx, shutdown_rx.clone()));
        let queries = QueryEngine::start(events_tx.clone(), state_dir.as_deref())
            .await
            .map_err(|_| SchedulerError::EventLoopGone)?;
        let service = FlightServiceServer::new(SchedulerService { events: events_tx, queries })
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES);
        let incoming = crate::net::incoming(listener);
        let mut stop = shutdown_rx;
        let server = tokio::spawn(async move {
            let result = tonic::transport::Server::builder()
                .tcp_nodelay(true)
                .add_service(service)
                .serve_with_incoming_shutdown(incoming, async move {
                    let _ = stop.wait_for(|s| *s).await;
                })
                .await;
            result.map_err(|source| SchedulerError::Serve { addr: local, source })
        });
        tracing::info!(scheduler.addr = %local, "scheduler listening");
        Ok(SchedulerHandle { addr: local, shutdown: shutdown_tx, server, event_loop })
    }
}

/// A running scheduler.
#[derive(Debug)]
pub struct SchedulerHandle {
    addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    server: tokio::task::JoinHandle<Result<(), SchedulerError>>,
    event_loop: tokio::task::JoinHandle<()>,
}

impl SchedulerHandle {
    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `grpc://host:port` for clients and workers.
    pub fn url(&self) -> String {
        format!("grpc://{}", self.addr)
    }

    /// Tells workers to stop and stops serving. Connections still open after a grace
    /// period (a client that keeps its session open) are cut.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        let _ = self.event_loop.await;
        if tokio::time::timeout(SHUTDOWN_GRACE, &mut self.server).await.is_err() {
            self.server.abort();
        }
    }

    /// Serves until the process ends.
    pub async fn wait(self) {
        let _ = self.server.await;
    }
}

struct SchedulerService {
    events: mpsc::UnboundedSender<Event>,
    queries: Arc<QueryEngine>,
}

fn gone() -> Status {
    Status::unavailable("the scheduler is shutting down")
}

impl SchedulerService {
    /// Hands a request/reply action to the event loop.
    async fn loop_action(&self, action: Action) -> Result<Bytes, Status> {
        let (reply, answer) = oneshot::channel();
        self.events
            .send(Event::Action { kind: action.r#type, body: action.body, reply })
            .map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }

    async fn worker_stream(
        &self,
        first: FlightData,
        mut frames: Streaming<FlightData>,
    ) -> Result<BoxStream<'static, Result<FlightData, Status>>, Status> {
        let update: WorkerUpdate = from_flight_data(&first, "worker hello")?;
        let hello = update
            .hello
            .clone()
            .ok_or_else(|| Status::invalid_argument("first worker frame has no hello"))?;
        let (tx, rx) = mpsc::unbounded_channel();
        let (reply, id) = oneshot::channel();
        self.events.send(Event::WorkerJoined { hello, tx, reply }).map_err(|_| gone())?;
        let id = id.await.map_err(|_| gone())?;
        let events = self.events.clone();
        let _ = events.send(Event::Worker(id, update));
        tokio::spawn(async move {
            while let Some(frame) = frames.next().await {
                let Ok(frame) = frame else { break };
                match from_flight_data::<WorkerUpdate>(&frame, "worker update") {
                    Ok(update) => {
                        if events.send(Event::Worker(id, update)).is_err() {
                            break;
                        }
                    }
                    Err(e) => {
                        tracing::warn!(worker.id = %id, error = %e, "dropping worker that sent a malformed frame");
                        break;
                    }
                }
            }
            let _ = events.send(Event::WorkerLeft(id));
        });
        Ok(UnboundedReceiverStream::new(rx).map(|m| Ok(to_flight_data(&m))).boxed())
    }

    async fn client_stream(
        &self,
        first: FlightData,
        mut frames: Streaming<FlightData>,
    ) -> Result<BoxStream<'static, Result<FlightData, Status>>, Status> {
        let update: ClientUpdate = from_flight_data(&first, "client hello")?;
        let (tx, rx) = mpsc::unbounded_channel();
        let (reply, id) = oneshot::channel();
        self.events.send(Event::ClientJoined { tx, reply }).map_err(|_| gone())?;
        let id = id.await.map_err(|_| gone())?;
        let events = self.events.clone();
        let _ = events.send(Event::Client(id, update));
        tokio::spawn(async move {
            while let Some(Ok(frame)) = frames.next().await {
                match from_flight_data::<ClientUpdate>(&frame, "client update") {
                    Ok(update) => {
                        if events.send(Event::Client(id, update)).is_err() {
                            break;
                        }
                    }
                    Err(e) => {
                        tracing::warn!(client.id = id.0, error = %e, "dropping client that sent a malformed frame");
                        break;
                    }
                }
            }
            let _ = events.send(Event::ClientLeft(id));
        });
        Ok(UnboundedReceiverStream::new(rx).map(|m| Ok(to_flight_data(&m))).boxed())
    }
}

#[tonic::async_trait]
impl FlightService for SchedulerService {
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
        Err(Status::unimplemented("handshake: the scheduler needs no authentication yet"))
    }

    async fn list_flights(
        &self,
        _request: Request<Criteria>,
    ) -> Result<Response<Self::ListFlightsStream>, Status> {
        Err(Status::unimplemented("list_flights is not served by the scheduler"))
    }

    async fn get_flight_info(
        &self,
        _request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        Err(Status::unimplemented("get_flight_info is not served by the scheduler yet"))
    }

    async fn poll_flight_info(
        &self,
        _request: Request<FlightDescriptor>,
    ) -> Result<Response<PollInfo>, Status> {
        Err(Status::unimplemented("poll_flight_info is not served by the scheduler"))
    }

    async fn get_schema(
        &self,
        _request: Request<FlightDescriptor>,
    ) -> Result<Response<SchemaResult>, Status> {
        Err(Status::unimplemented("get_schema is not served by the scheduler yet"))
    }

    async fn do_get(&self, _request: Request<Ticket>) -> Result<Response<Self::DoGetStream>, Status> {
        Err(Status::unimplemented("results are served by workers, not the scheduler"))
    }

    async fn do_put(
        &self,
        _request: Request<Streaming<FlightData>>,
    ) -> Result<Response<Self::DoPutStream>, Status> {
        Err(Status::unimplemented("scatter data to workers, not the scheduler"))
    }

    async fn do_action(&self, request: Request<Action>) -> Result<Response<Self::DoActionStream>, Status> {
        let action = request.into_inner();
        let body = match action.r#type.as_str() {
            actions::SQL => {
                let request: SqlRequest = decode_message(&action.body, "sql request")?;
                // A panic while planning (a corrupt file's metadata, say) fails this
                // statement with its message; the scheduler keeps serving.
                let statement = if request.plan.is_empty() {
                    self.queries.execute(&request.sql).boxed()
                } else {
                    self.queries.execute_plan(&request.plan).boxed()
                };
                let run = std::panic::AssertUnwindSafe(statement).catch_unwind();
                match run.await {
                    Ok(result) => encode_message(&result?),
                    Err(payload) => {
                        return Err(Status::internal(format!(
                            "planning the statement panicked: {}",
                            crate::worker::panic_message(&*payload)
                        )));
                    }
                }
            }
            actions::SQL_CLOSE => {
                let request: QueryId = decode_message(&action.body, "query id")?;
                self.queries.close(&request.query);
                Bytes::new()
            }
            actions::SQL_UNCACHE => {
                let request: UncacheRequest = decode_message(&action.body, "uncache request")?;
                self.queries.uncache(&request.ids);
                Bytes::new()
            }
            _ => self.loop_action(action).await?,
        };
        let result = arrow_flight::Result { body };
        Ok(Response::new(futures::stream::once(async { Ok(result) }).boxed()))
    }

    async fn list_actions(
        &self,
        _request: Request<Empty>,
    ) -> Result<Response<Self::ListActionsStream>, Status> {
        use dusk_flight::actions::*;
        let kinds = [
            PUBLISH,
            UNPUBLISH,
            GET_DATASET,
            LIST_DATASETS,
            SCATTER_TARGETS,
            CLUSTER_INFO,
            TASK_HISTORY,
            SQL,
            SQL_CLOSE,
            SQL_UNCACHE,
        ];
        let list: Vec<Result<ActionType, Status>> = kinds
            .iter()
            .map(|k| Ok(ActionType { r#type: k.to_string(), description: String::new() }))
            .collect();
        Ok(Response::new(futures::stream::iter(list).boxed()))
    }

    async fn do_exchange(
        &self,
        request: Request<Streaming<FlightData>>,
    ) -> Result<Response<Self::DoExchangeStream>, Status> {
        let mut frames = request.into_inner();
        let first = frames
            .next()
            .await
            .ok_or_else(|| Status::invalid_argument("exchange closed before its first frame"))??;
        let role = first.flight_descriptor.as_ref().and_then(|d| d.path.first()).map(String::as_str);
        let stream = match role {
            Some("worker") => self.worker_stream(first, frames).await?,
            Some("client") => self.client_stream(first, frames).await?,
            other => {
                return Err(Status::invalid_argument(format!(
                    "first exchange frame must name its role (worker or client), got {other:?}"
                )));
            }
        };
        Ok(Response::new(stream))
    }
}
