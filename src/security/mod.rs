//! Authentication and encryption of every Dusk connection.
//!
//! A cluster is open by default, for a laptop or a trusted network. With a cluster
//! secret ([`ClusterSecret`]) every call to the scheduler and the workers must carry a
//! bearer token ([`tokens`]): users get one from the Flight handshake with a name and
//! password from a users file ([`users`]); the cluster's own processes mint theirs from
//! the secret. The server side is a tower layer ([`guard`]); the client side adds the
//! token to every call ([`Credentials`]). TLS ([`tls`]) encrypts the scheduler's port and
//! the workers' data planes with a certificate and key in PEM files; [`cert`] makes a
//! self-signed one.

pub mod cert;
mod credentials;
mod error;
pub(crate) mod guard;
pub mod secret;
mod settings;
pub mod tls;
pub mod tokens;
pub mod users;

use std::time::Duration;

pub use credentials::{Bearer, Credentials};
pub use error::SecurityError;
pub use secret::ClusterSecret;
pub use settings::Security;
pub use tls::TlsIdentity;
pub use tokens::{Claims, Role, TokenError, TokenIssuer};
pub use users::Users;

/// How long a user's token from the handshake stays valid.
pub const USER_TOKEN_TTL: Duration = Duration::from_secs(12 * 3600);
