//! Sockets and channels with the settings every Dusk connection needs.
//!
//! Every socket gets `TCP_NODELAY`: control frames are small, and with Nagle's algorithm
//! a small frame can wait for a delayed ACK (~40 ms) before it leaves, which turns a
//! 100 µs round trip into a 40 ms one.

use std::time::Duration;

use std::pin::Pin;

use futures::Stream;
use tokio::net::{TcpListener, TcpStream};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};

use crate::security::{Bearer, Credentials, tls};

/// Largest gRPC message any Dusk process accepts or sends (Flight data, control
/// messages); bigger values travel in chunks (`dusk_flight::chunks`).
pub(crate) const MAX_MESSAGE_BYTES: usize = 256 << 20;

/// A connection to a Dusk process that shows this process's credentials on every call.
pub(crate) type DuskChannel = InterceptedService<Channel, Bearer>;

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
    /// The TLS settings could not be applied (for example, an unreadable CA certificate).
    #[error("TLS settings for {url}")]
    Tls {
        /// Where.
        url: String,
        /// The transport's reason.
        #[source]
        source: tonic::transport::Error,
    },
    /// Something accepted the connection but did not answer a gRPC call over it: most
    /// often a server serving TLS reached with `grpc://`.
    #[error("{url} accepted the connection but did not answer as a plain gRPC server: {hint}")]
    Protocol {
        /// Where.
        url: String,
        /// What to try instead.
        hint: &'static str,
        /// The failed call.
        #[source]
        source: tonic::Status,
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

/// Pauses between attempts to reach a peer again: 100 ms, doubling up to 2 s, so a peer
/// that comes back is reached within seconds and one that stays away is not hammered.
#[derive(Debug)]
pub(crate) struct Backoff {
    next: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff { next: Duration::from_millis(100) }
    }
}

impl Backoff {
    /// The pause before the next attempt.
    pub(crate) fn next_delay(&mut self) -> Duration {
        let delay = self.next;
        self.next = (delay * 2).min(Duration::from_secs(2));
        delay
    }
}

/// True when a call failed because the connection broke or could not be made (the peer
/// stopped, restarted or cannot be reached), not because the peer answered with an error.
pub(crate) fn is_connection_lost(status: &tonic::Status) -> bool {
    let message = status.message();
    status.code() == tonic::Code::Unavailable
        || (status.code() == tonic::Code::Unknown
            && ["transport error", "h2 protocol error", "connection", "broken pipe"]
                .iter()
                .any(|m| message.contains(m)))
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

/// The endpoint for a `grpc://host:port` (or `http://`) URL; `grpc+tls://` (or
/// `https://`) connects with TLS, trusting the certificates of `credentials`.
pub(crate) fn endpoint(url: &str, credentials: &Credentials) -> Result<Endpoint, ConnectError> {
    let (http, secure) = match url.split_once("://") {
        Some(("grpc" | "grpc+tcp" | "http", rest)) => (format!("http://{rest}"), false),
        Some(("grpc+tls" | "https", rest)) => (format!("https://{rest}"), true),
        None => (format!("http://{url}"), false),
        _ => return Err(ConnectError::InvalidUrl { url: url.to_string() }),
    };
    let mut endpoint =
        Endpoint::from_shared(http).map_err(|_| ConnectError::InvalidUrl { url: url.to_string() })?;
    if secure {
        endpoint = endpoint
            .tls_config(tls::client_config(credentials.tls_ca()))
            .map_err(|source| ConnectError::Tls { url: url.to_string(), source })?;
    }
    Ok(endpoint
        .tcp_nodelay(true)
        .connect_timeout(Duration::from_secs(10))
        .http2_keep_alive_interval(Duration::from_secs(10))
        .keep_alive_timeout(Duration::from_secs(20)))
}

/// Connects to a Dusk process, showing `credentials` on every call.
pub(crate) async fn connect(url: &str, credentials: &Credentials) -> Result<DuskChannel, ConnectError> {
    let channel = connect_channel(url, credentials).await?;
    Ok(InterceptedService::new(channel, credentials.interceptor()))
}

/// The bare channel to `url` (TLS settings from `credentials`, no token added), for a
/// caller that adds the token itself once it has one.
pub(crate) async fn connect_channel(url: &str, credentials: &Credentials) -> Result<Channel, ConnectError> {
    endpoint(url, credentials)?
        .connect()
        .await
        .map_err(|source| ConnectError::Unreachable { url: url.to_string(), source })
}

/// Makes one call over a fresh `channel`, so that a server speaking something else (TLS
/// reached with `grpc://`, or not gRPC at all) is named when connecting instead of
/// surfacing as an HTTP/2 error at the first query. Any gRPC answer, a refusal included,
/// passes.
pub(crate) async fn check_speaks_grpc(channel: &Channel, url: &str) -> Result<(), ConnectError> {
    let mut client = arrow_flight::flight_service_client::FlightServiceClient::new(channel.clone());
    match client.list_actions(arrow_flight::Empty {}).await {
        // A TLS server reached in plain text answers bytes HTTP/2 cannot read: the call
        // fails in the transport (a server's own refusals carry other codes).
        Err(source)
            if matches!(
                source.code(),
                tonic::Code::Unavailable
                    | tonic::Code::Unknown
                    | tonic::Code::Cancelled
                    | tonic::Code::Internal
            ) =>
        {
            let hint = if url.starts_with("grpc+tls://") || url.starts_with("https://") {
                "is it a Dusk server?"
            } else {
                "if it serves TLS, connect with grpc+tls:// (`dusk sql --tls`)"
            };
            Err(ConnectError::Protocol { url: url.to_string(), hint, source })
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_two_seconds() {
        let mut backoff = Backoff::default();
        let delays: Vec<u64> = (0..7).map(|_| backoff.next_delay().as_millis() as u64).collect();
        assert_eq!(delays, vec![100, 200, 400, 800, 1600, 2000, 2000]);
    }

    #[test]
    fn urls_accept_grpc_and_bare_host_port() {
        let none = Credentials::default();
        assert!(endpoint("grpc://127.0.0.1:8786", &none).is_ok());
        assert!(endpoint("127.0.0.1:8786", &none).is_ok());
        assert!(endpoint("grpc+tls://localhost:8786", &none).is_ok());
        assert!(matches!(endpoint("s3://bucket", &none), Err(ConnectError::InvalidUrl { .. })));
    }
}
