//! Starting a worker: its data plane, its first registration, its event loop.

use std::sync::Arc;

use arrow_flight::flight_service_server::FlightServiceServer;
use dusk_flight::envelope::error_chain;
use dusk_flight::messages::WorkerHello;
use tokio::sync::{mpsc, watch};

use super::data_plane;
use super::error::WorkerError;
use super::event_loop::{WorkerEvent, WorkerLoop};
use super::executor::Executor;
use super::handle::{StopRequest, WorkerHandle};
use super::result_store::{ResultStore, StoreConfig};
use super::session::{self, Registration, SessionSettings};
use super::stage;
use crate::config::WorkerConfig;
use crate::data_client::DataClient;
use crate::functions::FunctionRegistry;
use crate::net;
use crate::net::MAX_MESSAGE_BYTES;
use crate::security::Security;
use crate::security::guard::{AuthLayer, Open};

/// Starts workers.
#[derive(Debug)]
pub struct Worker;

impl Worker {
    /// Starts a worker: binds its data plane, registers with the scheduler, starts
    /// serving. The first registration must succeed (a wrong URL fails here, at once);
    /// later losses of the scheduler are survived (see `WorkerConfig::reconnect_timeout`).
    pub async fn start(config: WorkerConfig) -> Result<WorkerHandle, WorkerError> {
        // Each executor thread runs one task: BLAS calls stay on their own thread.
        #[cfg(feature = "openblas")]
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
        let (stop_tx, stop_rx) = watch::channel(StopRequest::Run);
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
        let registration = Registration {
            scheduler_url: config.scheduler_url.clone(),
            credentials: credentials.clone(),
            hello: WorkerHello {
                name: name.clone(),
                data_addr: data_addr.clone(),
                threads: config.threads as u32,
                memory_limit_bytes: limit,
                resources: config.resources.iter().cloned().collect(),
                pid: std::process::id(),
                held: Vec::new(),
            },
        };
        let link = registration.register(Vec::new()).await?;

        let executor = Executor::start(config.threads, config.resources.iter().cloned().collect())
            .map_err(WorkerError::ExecutorStart)?;
        let peers = Arc::new(DataClient::new(credentials));
        let stages = Arc::new(stage::StageRunner::new(store.clone(), peers.clone(), name.clone()));
        // The session gives the loop each registration's outbound stream.
        let (unlinked, _) = mpsc::unbounded_channel();
        let lp = WorkerLoop::new(
            name.clone(),
            store,
            Arc::new(FunctionRegistry::from_linked()),
            stages,
            executor,
            peers,
            events_tx,
            unlinked,
            spill_threshold_bytes,
            tickets,
        );
        tracing::info!(worker.name = %name, worker.addr = %data_addr, worker.threads = config.threads,
            worker.memory_limit_bytes = limit, "worker started");
        let settings = SessionSettings {
            heartbeat: config.heartbeat_interval,
            reconnect_timeout: config.reconnect_timeout,
            drain_timeout: config.drain_timeout,
        };
        let join = tokio::spawn(session::run(lp, events_rx, link, registration, stop_rx, settings));
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

/// Serves the data plane until the worker stops for good.
fn serve_data_plane(
    listener: tokio::net::TcpListener,
    parts: DataPlaneParts,
    mut stop: watch::Receiver<StopRequest>,
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
                let _ = stop.wait_for(|s| *s == StopRequest::Stop).await;
            })
            .await;
        if let Err(e) = served {
            tracing::error!(error = %error_chain(&e), "worker data plane stopped");
        }
    });
    Ok(())
}
