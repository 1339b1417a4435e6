//! Why the scheduler could not start or serve.

use std::net::SocketAddr;

/// A scheduler failure, for the operator.
#[derive(Debug, thiserror::Error)]
pub enum SchedulerError {
    /// The listening address could not be bound.
    #[error("cannot listen on {addr}")]
    Bind {
        /// Address asked for.
        addr: String,
        /// The system's reason.
        #[source]
        source: std::io::Error,
    },
    /// The gRPC server stopped with an error.
    #[error("serving on {addr}")]
    Serve {
        /// Address served.
        addr: SocketAddr,
        /// The transport's reason.
        #[source]
        source: tonic::transport::Error,
    },
    /// The TLS certificate or key could not be used.
    #[error("TLS certificate and key of the scheduler")]
    Tls(#[source] tonic::transport::Error),
    /// A part of the scheduler could not be set up.
    #[error("the scheduler could not start: {0}")]
    Startup(String),
    /// The event loop stopped before the scheduler finished starting.
    #[error("the scheduler's event loop stopped while starting")]
    EventLoopGone,
}
