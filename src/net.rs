//! Sockets and channels with the settings every Dusk connection needs.
//!
//! Every socket gets `TCP_NODELAY`: control frames are small, and with Nagle's algorithm
//! a small frame can wait for a delayed ACK (~40 ms) before it leaves, which turns a
//! 100 µs round trip into a 40 ms one.

use std::time::Duration;

use std::pin::Pin;

use futures::Stream;
use tokio::net::{TcpListener, TcpStream};
use tonic::transport::{Channel, Endpoint};

/// The response stream type of every Flight method Dusk serves.
pub(crate) type FlightStream<T> = Pin<Box<dyn Stream<Item = Result<T, tonic::Status>> + Send + 'static>>;

/// Why a connection to a Dusk URL could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The URL is not of the form `grpc://host:port`.
    #[error("invalid address {url:?}: expected grpc://host:port")]
    InvalidUrl {
        /// What was given.
        url: String,
    },
    /// Nothing answered there.
    #[error("cannot connect to {url}")]
    Unreachable {
        /// Where.
        url: String,
        /// The transport's reason.
        #[source]
        source: tonic::transport::Error,
    },
}

/// Accepted connections of `listener`, each with `TCP_NODELAY` set.
pub(crate) fn incoming(
    listener: TcpListener,
) -> impl Stream<Item = std::io::Result<TcpStream>> + Send + 'static {
    futures::stream::unfold(listener, |listener| async move {
        let accepted = listener.accept().await.map(|(stream, _)| {
            let _ = stream.set_nodelay(true);
            stream
        });
        Some((accepted, listener))
    })
}

/// The endpoint for a `grpc://host:port` (or `http://`) URL.
pub(crate) fn endpoint(url: &str) -> Result<Endpoint, ConnectError> {
    let http = match url.split_once("://") {
        Some(("grpc" | "grpc+tcp" | "http", rest)) => format!("http://{rest}"),
        None => format!("http://{url}"),
        _ => return Err(ConnectError::InvalidUrl { url: url.to_string() }),
    };
    let endpoint =
        Endpoint::from_shared(http).map_err(|_| ConnectError::InvalidUrl { url: url.to_string() })?;
    Ok(endpoint
        .tcp_nodelay(true)
        .connect_timeout(Duration::from_secs(10))
        .http2_keep_alive_interval(Duration::from_secs(10))
        .keep_alive_timeout(Duration::from_secs(20)))
}

/// Connects to a Dusk process.
pub(crate) async fn connect(url: &str) -> Result<Channel, ConnectError> {
    endpoint(url)?
        .connect()
        .await
        .map_err(|source| ConnectError::Unreachable { url: url.to_string(), source })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_accept_grpc_and_bare_host_port() {
        assert!(endpoint("grpc://127.0.0.1:8786").is_ok());
        assert!(endpoint("127.0.0.1:8786").is_ok());
        assert!(matches!(endpoint("s3://bucket"), Err(ConnectError::InvalidUrl { .. })));
    }
}
