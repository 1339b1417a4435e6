//! The scheduler's Flight service: the edge where frames become events.
//!
//! Workers and clients each open one long-lived `DoExchange` stream; the first frame's
//! descriptor says which they are (`worker` or `client`) and carries their hello. Every
//! later frame is one batch, decoded here and handed to the event loop; what the loop
//! sends back streams out on the same exchange. Request/reply calls (datasets, scatter
//! targets, cluster info, SQL) are `DoAction`s. A frame that does not decode ends that stream
//! with `InvalidArgument`; the scheduler itself carries on.

use std::net::SocketAddr;

use std::sync::Arc;

use arrow_flight::flight_service_server::FlightServiceServer;
use arrow_flight::{Action, ActionType, FlightData};

use bytes::Bytes;
use dusk_flight::actions;
use dusk_flight::envelope::{decode_message, encode_message, from_flight_data, to_flight_data};
use dusk_flight::messages::{ClientUpdate, WorkerInstructions, WorkerUpdate};
use dusk_flight::query::{QueryId, SqlRequest, StageCounts, StagePrefixes, UncacheRequest};
use dusk_flight::ticket::TicketSigner;
use futures::{FutureExt, StreamExt};
use tokio::sync::{mpsc, oneshot, watch};
use tokio_stream::wrappers::UnboundedReceiverStream;
use tonic::{Status, Streaming};

use super::SchedulerError;
use super::event_loop::{self, Event};
use super::flight_sql::{FlightSqlState, SchedulerFlight};
use super::query::QueryEngine;
use crate::config::SchedulerConfig;
use crate::net::FlightStream;
use crate::security::guard::{AuthLayer, Open};
use crate::security::{Claims, Role};

/// How long open connections get to close when the scheduler shuts down.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(1);

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
        let (proxy_results, result_ttl) = (config.proxy_results, config.result_ttl);
        let security = config.security.clone();
        let dashboard_addr = config.dashboard.clone();
        let event_loop = tokio::spawn(event_loop::run(config, events_rx, shutdown_rx.clone()));
        let queries = QueryEngine::start(events_tx.clone(), state_dir.as_deref())
            .await
            .map_err(|_| SchedulerError::EventLoopGone)?;
        let dashboard = match dashboard_addr {
            Some(addr) => {
                let listener = crate::dashboard::bind(&addr)
                    .await
                    .map_err(|source| SchedulerError::Bind { addr: addr.clone(), source })?;
                let bound = listener
                    .local_addr()
                    .map_err(|source| SchedulerError::Bind { addr: addr.clone(), source })?;
                let source = crate::dashboard::Source::new(events_tx.clone(), queries.clone());
                tracing::info!(dashboard.url = %crate::dashboard::url(bound), "dashboard listening");
                Some((bound, crate::dashboard::serve(listener, source, shutdown_rx.clone())))
            }
            None => None,
        };
        let signer = TicketSigner::generate().map_err(|e| SchedulerError::Startup(e.to_string()))?;
        let sql = FlightSqlState::new(&queries, signer, proxy_results, result_ttl, &security)
            .map_err(|e| SchedulerError::Startup(e.message().to_string()))?;
        let authenticated = security.secret.is_some();
        let service = SchedulerService { events: events_tx, queries, sql: Arc::new(sql), authenticated };
        let service = FlightServiceServer::new(SchedulerFlight(service))
            .max_decoding_message_size(crate::net::MAX_MESSAGE_BYTES)
            .max_encoding_message_size(crate::net::MAX_MESSAGE_BYTES);
        let mut server = tonic::transport::Server::builder().tcp_nodelay(true);
        if let Some(identity) = &security.tls {
            server = server.tls_config(identity.server_config()).map_err(SchedulerError::Tls)?;
        }
        let mut server = server.layer(AuthLayer::new(security.issuer(), Open::Handshake));
        let incoming = crate::net::incoming(listener);
        let mut stop = shutdown_rx;
        let server = tokio::spawn(async move {
            let result = server
                .add_service(service)
                .serve_with_incoming_shutdown(incoming, async move {
                    let _ = stop.wait_for(|s| *s).await;
                })
                .await;
            result.map_err(|source| SchedulerError::Serve { addr: local, source })
        });
        tracing::info!(scheduler.addr = %local, "scheduler listening");
        Ok(SchedulerHandle {
            addr: local,
            scheme: security.scheme(),
            shutdown: shutdown_tx,
            server,
            event_loop,
            dashboard,
        })
    }
}

/// A running scheduler.
#[derive(Debug)]
pub struct SchedulerHandle {
    addr: SocketAddr,
    scheme: &'static str,
    shutdown: watch::Sender<bool>,
    server: tokio::task::JoinHandle<Result<(), SchedulerError>>,
    event_loop: tokio::task::JoinHandle<()>,
    dashboard: Option<(SocketAddr, tokio::task::JoinHandle<()>)>,
}

impl SchedulerHandle {
    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The address the dashboard listens on, if it was asked for.
    pub fn dashboard_addr(&self) -> Option<SocketAddr> {
        self.dashboard.as_ref().map(|(addr, _)| *addr)
    }

    /// `grpc://host:port` for clients and workers.
    pub fn url(&self) -> String {
        format!("{}://{}", self.scheme, self.addr)
    }

    /// Tells workers to stop and stops serving. Connections still open after a grace
    /// period (a client that keeps its session open) are cut.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        let _ = self.event_loop.await;
        if tokio::time::timeout(SHUTDOWN_GRACE, &mut self.server).await.is_err() {
            self.server.abort();
        }
        if let Some((_, mut dashboard)) = self.dashboard.take()
            && tokio::time::timeout(SHUTDOWN_GRACE, &mut dashboard).await.is_err()
        {
            dashboard.abort();
        }
    }

    /// Serves until the process ends.
    pub async fn wait(self) {
        let _ = self.server.await;
    }
}

/// The scheduler's one gRPC service: Flight SQL for SQL clients (see
/// [`super::flight_sql`]), plus the exchanges and `dusk.*` actions of workers and Rust
/// clients.
pub(crate) struct SchedulerService {
    events: mpsc::UnboundedSender<Event>,
    pub(crate) queries: Arc<QueryEngine>,
    pub(crate) sql: Arc<FlightSqlState>,
    /// Whether calls carry tokens (the cluster has a secret).
    authenticated: bool,
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
    ) -> Result<FlightStream<FlightData>, Status> {
        let update: WorkerUpdate = from_flight_data(&first, "worker hello")?;
        // The worker's first frame from here: the key it checks result tickets with.
        let key = WorkerInstructions { ticket_key: self.sql.signer().key_bytes(), ..Default::default() };
        let hello = update
            .hello
            .clone()
            .ok_or_else(|| Status::invalid_argument("first worker frame has no hello"))?;
        let (tx, rx) = mpsc::unbounded_channel();
        let (reply, id) = oneshot::channel();
        self.events.send(Event::WorkerJoined { hello, tx, reply }).map_err(|_| gone())?;
        let id = id.await.map_err(|_| gone())??;
        let events = self.events.clone();
        let _ = events.send(Event::Worker(id, update));
        let queries = self.queries.clone();
        tokio::spawn(async move {
            while let Some(frame) = frames.next().await {
                let Ok(frame) = frame else { break };
                match from_flight_data::<WorkerUpdate>(&frame, "worker update") {
                    Ok(mut update) => {
                        for key in std::mem::take(&mut update.served) {
                            queries.served(&key);
                        }
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
        let frames = futures::stream::once(async move { key }).chain(UnboundedReceiverStream::new(rx));
        Ok(frames.map(|m| Ok(to_flight_data(&m))).boxed())
    }

    async fn client_stream(
        &self,
        first: FlightData,
        mut frames: Streaming<FlightData>,
    ) -> Result<FlightStream<FlightData>, Status> {
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

impl SchedulerService {
    /// Dusk's own `DoAction` calls (`dusk.*`).
    pub(crate) async fn dusk_action(
        &self,
        action: Action,
    ) -> Result<FlightStream<arrow_flight::Result>, Status> {
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
            actions::QUERY_PROGRESS => {
                let prefixes = StagePrefixes { prefixes: self.queries.stage_prefixes() };
                let ask =
                    Action { r#type: actions::STAGE_COUNTS.to_string(), body: encode_message(&prefixes) };
                let counts: StageCounts = decode_message(&self.loop_action(ask).await?, "stage counts")?;
                encode_message(&self.queries.progress(&counts))
            }
            kind if kind.starts_with("dusk.") => self.loop_action(action).await?,
            other => {
                return Err(Status::invalid_argument(format!(
                    "unknown action {other:?}: the scheduler serves Flight SQL actions and dusk.* actions"
                )));
            }
        };
        let result = arrow_flight::Result { body };
        Ok(futures::stream::once(async { Ok(result) }).boxed())
    }

    /// Dusk's own actions, as `ListActions` shows them.
    pub(crate) fn dusk_action_types() -> Vec<ActionType> {
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
            QUERY_PROGRESS,
            RETIRE_WORKER,
        ];
        kinds.iter().map(|k| ActionType { r#type: k.to_string(), description: String::new() }).collect()
    }

    /// A worker's or Rust client's long-lived `DoExchange`.
    pub(crate) async fn exchange(
        &self,
        request: tonic::Request<Streaming<FlightData>>,
    ) -> Result<FlightStream<FlightData>, Status> {
        let from_cluster = request.extensions().get::<Claims>().is_some_and(|c| c.role == Role::Cluster);
        let mut frames = request.into_inner();
        let first = frames
            .next()
            .await
            .ok_or_else(|| Status::invalid_argument("exchange closed before its first frame"))??;
        let role = first.flight_descriptor.as_ref().and_then(|d| d.path.first()).map(String::as_str);
        match role {
            Some("worker") if self.authenticated && !from_cluster => Err(Status::permission_denied(
                "only the cluster's own processes (holding the cluster secret) may join as workers",
            )),
            Some("worker") => self.worker_stream(first, frames).await,
            Some("client") => self.client_stream(first, frames).await,
            other => Err(Status::invalid_argument(format!(
                "first exchange frame must name its role (worker or client), got {other:?}"
            ))),
        }
    }
}
