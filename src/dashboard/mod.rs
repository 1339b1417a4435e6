//! The live dashboard: an HTTP server inside the scheduler (default port 8787).
//!
//! Pages (`/status`, `/workers`, `/workers/{name}`, `/tasks`, `/queries`, `/graph`) are
//! one embedded HTML shell and script ([`assets`]) that read the JSON API under `/api/`
//! ([`api`]); the status page gets a frame per tick over a WebSocket ([`live`]).
//! `/metrics` serves Prometheus' text format ([`metrics`]) and `/health` answers probes.
//!
//! Every view is computed on the scheduler's event loop from counters it keeps as tasks
//! move ([`views`]), so a view costs time in the number of workers and task groups, not
//! tasks: the page stays smooth and the scheduler keeps its pace with 100,000 tasks in
//! flight.

mod api;
mod assets;
mod live;
mod metrics;
mod source;
mod views;

use std::net::SocketAddr;

use axum::Router;
use axum::extract::Path;
use axum::response::{IntoResponse, Redirect};
use axum::routing::get;
use tokio::net::TcpListener;
use tokio::sync::watch;

pub(crate) use source::Source;

/// The dashboard's routes over `source`.
fn router(source: Source) -> Router {
    let mut router = Router::new()
        .route("/", get(|| async { Redirect::to("/status") }))
        .route(
            "/workers/{name}",
            get(|Path(name): Path<String>| async move { assets::page("worker", &name) }),
        )
        .route("/static/app.js", get(assets::script))
        .route("/static/style.css", get(assets::style))
        .route("/favicon.svg", get(assets::icon))
        .route("/favicon.ico", get(assets::icon))
        .route("/api/status", get(api::status))
        .route("/api/live", get(api::live))
        .route("/api/workers", get(api::workers))
        .route("/api/workers/{name}", get(api::worker))
        .route("/api/tasks", get(api::tasks))
        .route("/api/groups", get(api::groups))
        .route("/api/graph", get(api::graph))
        .route("/api/queries", get(api::queries))
        .route("/metrics", get(api::prometheus))
        .route("/health", get(api::health));
    for (path, title) in assets::PAGES {
        router = router.route(
            &format!("/{path}"),
            get(move || async move { assets::page(path, title).into_response() }),
        );
    }
    router.fallback(assets::not_found).with_state(source)
}

/// Serves the dashboard on `listener` until `shutdown` turns true.
pub(crate) fn serve(
    listener: TcpListener,
    source: Source,
    mut shutdown: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    let addr = listener.local_addr().ok();
    tokio::spawn(async move {
        let app = router(source);
        let stop = async move {
            let _ = shutdown.wait_for(|s| *s).await;
        };
        if let Err(e) = axum::serve(listener, app).with_graceful_shutdown(stop).await {
            tracing::warn!(dashboard.addr = ?addr, error = %e, "dashboard stopped");
        }
    })
}

/// Binds the dashboard's address. When `addr`'s port is taken (another cluster on this
/// machine), it takes a free port instead and says so, as the cluster is still useful.
pub(crate) async fn bind(addr: &str) -> std::io::Result<TcpListener> {
    match TcpListener::bind(addr).await {
        Ok(listener) => Ok(listener),
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
            let host = addr.rsplit_once(':').map_or(addr, |(host, _)| host);
            let listener = TcpListener::bind(format!("{host}:0")).await?;
            let port = listener.local_addr().map(|a| a.port()).unwrap_or_default();
            tracing::warn!(
                dashboard.addr = addr,
                dashboard.port = port,
                "dashboard port in use; serving on another"
            );
            Ok(listener)
        }
        Err(e) => Err(e),
    }
}

/// The URL people open, for an address the dashboard listens on.
pub fn url(addr: SocketAddr) -> String {
    if addr.ip().is_unspecified() {
        format!("http://localhost:{}/status", addr.port())
    } else {
        format!("http://{addr}/status")
    }
}
