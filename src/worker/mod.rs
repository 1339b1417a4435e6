//! The worker: runs tasks, holds their results, serves them to peers and clients.
//!
//! A worker connects to the scheduler over one `DoExchange` stream and serves its own
//! Flight data plane. Its parts:
//!
//! - [`event_loop`]: the task table; turns scheduler instructions into executor jobs and
//!   peer fetches, and results into reports.
//! - [`executor`]: the CPU threads, apart from the I/O reactor.
//! - [`result_store`] and [`spill`]: results with byte accounting; least-recently-used
//!   results spill to Arrow IPC files at 60 % of the memory limit and come back on use;
//!   at 80 % the worker stops starting tasks.
//! - [`data_plane`]: `DoGet` of results and `DoPut` of scattered data.
//!
//! Shutdown order: the event loop ends (scheduler gone, told to stop, or asked by the
//! handle), then the data plane stops serving, then results and spill files are dropped.

mod call;
mod data_plane;
mod error;
mod event_loop;
mod executor;
mod result_store;
mod spill;
mod stage;

use std::sync::Arc;
use std::time::Duration;

use arrow_flight::flight_service_client::FlightServiceClient;
use arrow_flight::flight_service_server::FlightServiceServer;
use arrow_flight::{FlightData, FlightDescriptor};
use dusk_flight::envelope::{error_chain, from_flight_data, to_flight_data};
use dusk_flight::messages::{WorkerHello, WorkerInstructions, WorkerUpdate};
use futures::StreamExt;
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::UnboundedReceiverStream;
use tonic::Streaming;

pub(crate) use call::panic_message;
pub use error::{SpillFileError, WorkerError};
use event_loop::{WorkerEvent, WorkerLoop};
use executor::Executor;
use result_store::{ResultStore, StoreConfig};

use crate::config::WorkerConfig;
use crate::data_client::DataClient;
use crate::functions::FunctionRegistry;
use crate::net;
use crate::security::Security;
use crate::security::guard::{AuthLayer, Open};

/// Largest gRPC message a worker accepts or sends.
const MAX_MESSAGE_BYTES: usize = 256 << 20;
/// Background events handled per loop turn before the scheduler's frames get a look.
const MAX_EVENTS_PER_TURN: usize = 4096;

/// Starts workers.
#[derive(Debug)]
pub struct Worker;

/// Why a worker stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkerExit {
    /// The scheduler closed the connection or dropped this worker.
    SchedulerClosed,
    /// The connection to the scheduler failed.
    SchedulerLost(String),
    /// The scheduler told it to shut down.
    ShutdownRequested,
    /// [`WorkerHandle::shutdown`] was called.
    Stopped,
}

/// A running worker.
#[derive(Debug)]
pub struct WorkerHandle {
    data_addr: String,
    stop: Arc<watch::Sender<bool>>,
    join: tokio::task::JoinHandle<WorkerExit>,
}

/// Stops a worker from elsewhere (a signal handler), without owning its handle.
#[derive(Debug, Clone)]
pub struct WorkerStopper(Arc<watch::Sender<bool>>);

impl WorkerStopper {
    /// Asks the worker to stop; [`WorkerHandle::wait`] then returns [`WorkerExit::Stopped`].
    pub fn stop(&self) {
        let _ = self.0.send(true);
    }
}

impl WorkerHandle {
    /// `grpc://host:port` of its data plane.
    pub fn data_addr(&self) -> &str {
        &self.data_addr
    }

    /// A handle that stops this worker.
    pub fn stopper(&self) -> WorkerStopper {
        WorkerStopper(self.stop.clone())
    }

    /// Waits until the worker stops, and says why.
    pub async fn wait(self) -> WorkerExit {
        let exit =
            self.join.await.unwrap_or_else(|e| WorkerExit::SchedulerLost(format!("worker task ended: {e}")));
        let _ = self.stop.send(true);
        exit
    }

    /// Stops the worker at once, as if its process had died: the scheduler sees it leave.
    pub async fn shutdown(self) -> WorkerExit {
        let _ = self.stop.send(true);
        self.wait().await
    }
}

impl Worker {
    /// Starts a worker: binds its data plane, connects to the scheduler, starts serving.
    pub async fn start(config: WorkerConfig) -> Result<WorkerHandle, WorkerError> {
        // Each executor thread runs one task: BLAS calls stay on their own thread.
        crate::array::blas::single_threaded();
        let bind_addr = format!("{}:{}", config.listen_host, config.listen_port);
        let listener = tokio::net::TcpListener::bind(&bind_addr)
            .await
            .map_err(|source| WorkerError::Bind { addr: bind_addr.clone(), source })?;
        let port =
            listener.local_addr().map_err(|source| WorkerError::Bind { addr: bind_addr, source })?.port();
        let host = match config.advertise_host.clone() {
            Some(h) => h,
            None if config.listen_host == "0.0.0.0" => "127.0.0.1".to_string(),
            None => config.listen_host.clone(),
        };
        let data_addr = format!("{}://{host}:{port}", config.security.scheme());
        let name = config.name.clone().unwrap_or_else(|| data_addr.clone());
        let spill_dir = config
            .spill_dir
            .clone()
            .unwrap_or_else(|| {
                std::env::temp_dir().join(format!("dusk-worker-{}-{port}", std::process::id()))
            })
            .join(format!("worker-{port}"));
        let limit = config.memory_limit_bytes;
        let store_config = StoreConfig::new(limit, spill_dir);
        let spill_threshold_bytes = (limit as f64 * store_config.spill_fraction) as u64;
        let store = Arc::new(ResultStore::new(store_config)?);
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        let (stop_tx, stop_rx) = watch::channel(false);
        let tickets = data_plane::TicketKey::default();
        serve_data_plane(
            listener,
            DataPlaneParts {
                name: name.clone(),
                store: store.clone(),
                events: events_tx.clone(),
                tickets: tickets.clone(),
                security: config.security.clone(),
            },
            stop_rx.clone(),
        )?;

        let credentials = config.security.credentials(&name);
        let channel = net::connect(&config.scheduler_url, &credentials).await?;
        let mut scheduler = FlightServiceClient::new(channel)
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES);
        let hello = WorkerUpdate {
            hello: Some(WorkerHello {
                name: name.clone(),
                data_addr: data_addr.clone(),
                threads: config.threads as u32,
                memory_limit_bytes: limit,
                resources: config.resources.iter().cloned().collect(),
                pid: std::process::id(),
            }),
            ..Default::default()
        };
        let mut first = to_flight_data(&hello);
        first.flight_descriptor = Some(FlightDescriptor::new_path(vec!["worker".to_string()]));
        let (out_tx, out_rx) = mpsc::unbounded_channel::<WorkerUpdate>();
        let outbound = futures::stream::once(async move { first })
            .chain(UnboundedReceiverStream::new(out_rx).map(|u| to_flight_data(&u)));
        let inbound = scheduler
            .do_exchange(outbound)
            .await
            .map_err(|source| WorkerError::Scheduler { url: config.scheduler_url.clone(), source })?
            .into_inner();

        let executor = Executor::start(config.threads, config.resources.iter().cloned().collect())
            .map_err(WorkerError::ExecutorStart)?;
        let peers = Arc::new(DataClient::new(credentials));
        let stages = Arc::new(stage::StageRunner::new(store.clone(), peers.clone(), name.clone()));
        let lp = WorkerLoop::new(
            name.clone(),
            store,
            Arc::new(FunctionRegistry::from_linked()),
            stages,
            executor,
            peers,
            events_tx,
            out_tx,
            spill_threshold_bytes,
            tickets,
        );
        tracing::info!(worker.name = %name, worker.addr = %data_addr, worker.threads = config.threads,
            worker.memory_limit_bytes = limit, "worker started");
        let join = tokio::spawn(run(lp, events_rx, inbound, stop_rx, config.heartbeat_interval));
        Ok(WorkerHandle { data_addr, stop: Arc::new(stop_tx), join })
    }
}

struct DataPlaneParts {
    name: String,
    store: Arc<ResultStore>,
    events: mpsc::UnboundedSender<WorkerEvent>,
    tickets: data_plane::TicketKey,
    security: Security,
}

fn serve_data_plane(
    listener: tokio::net::TcpListener,
    parts: DataPlaneParts,
    mut stop: watch::Receiver<bool>,
) -> Result<(), WorkerError> {
    let issuer = parts.security.issuer();
    let service = data_plane::DataPlane {
        name: parts.name,
        store: parts.store,
        events: parts.events,
        tickets: parts.tickets,
        authenticated: issuer.is_some(),
    };
    let service = FlightServiceServer::new(service)
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES);
    let mut server = tonic::transport::Server::builder();
    if let Some(identity) = &parts.security.tls {
        server = server.tls_config(identity.server_config()).map_err(WorkerError::Tls)?;
    }
    let mut server = server.layer(AuthLayer::new(issuer, Open::DoGet));
    tokio::spawn(async move {
        let served = server
            .add_service(service)
            .serve_with_incoming_shutdown(net::incoming(listener), async move {
                let _ = stop.wait_for(|s| *s).await;
            })
            .await;
        if let Err(e) = served {
            tracing::error!(error = %error_chain(&e), "worker data plane stopped");
        }
    });
    Ok(())
}

async fn run(
    mut lp: WorkerLoop,
    mut events: mpsc::UnboundedReceiver<WorkerEvent>,
    mut inbound: Streaming<FlightData>,
    mut stop: watch::Receiver<bool>,
    heartbeat: Duration,
) -> WorkerExit {
    let mut tick = tokio::time::interval(heartbeat);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let exit = loop {
        tokio::select! {
            frame = inbound.next() => match frame {
                Some(Ok(frame)) => match from_flight_data::<WorkerInstructions>(&frame, "scheduler instructions") {
                    Ok(instructions) => {
                        if !lp.on_instructions(instructions) {
                            break WorkerExit::ShutdownRequested;
                        }
                    }
                    Err(e) => break WorkerExit::SchedulerLost(error_chain(&e)),
                },
                Some(Err(status)) => break WorkerExit::SchedulerLost(status.message().to_string()),
                None => break WorkerExit::SchedulerClosed,
            },
            Some(event) = events.recv() => {
                lp.on_event(event);
                for _ in 0..MAX_EVENTS_PER_TURN {
                    match events.try_recv() {
                        Ok(event) => lp.on_event(event),
                        Err(_) => break,
                    }
                }
            }
            _ = tick.tick() => {
                lp.flush(true);
                continue;
            }
            _ = stop.changed() => break WorkerExit::Stopped,
        }
        lp.flush(false);
    };
    tracing::info!(worker.name = %lp.name, reason = ?exit, "worker stopping");
    lp.clear();
    exit
}
