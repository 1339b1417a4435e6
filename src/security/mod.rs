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
pub(crate) mod guard;
pub mod secret;
pub mod tls;
pub mod tokens;
pub mod users;

use std::path::PathBuf;
use std::time::Duration;

use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;

pub use secret::ClusterSecret;
pub use tls::TlsIdentity;
pub use tokens::{Claims, Role, TokenError, TokenIssuer};
pub use users::Users;

/// How long a user's token from the handshake stays valid.
pub const USER_TOKEN_TTL: Duration = Duration::from_secs(12 * 3600);

/// Why security settings could not be loaded or used.
#[derive(Debug, thiserror::Error)]
pub enum SecurityError {
    /// A key, certificate, secret or users file could not be read.
    #[error("cannot read {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The reason.
        #[source]
        source: std::io::Error,
    },
    /// The users file could not be written.
    #[error("cannot write {path}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The reason.
        #[source]
        source: std::io::Error,
    },
    /// A line of the users file is malformed.
    #[error("{path}, line {line}: {reason}")]
    UsersFile {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// A user name cannot be stored in a users file.
    #[error("invalid user name {0:?}: it must be non-empty and hold no ':'")]
    UserName(String),
    /// The cluster secret is too short to be safe.
    #[error("the cluster secret must be at least {min} bytes long (got {got})")]
    WeakSecret {
        /// Shortest accepted.
        min: usize,
        /// Length given.
        got: usize,
    },
    /// `--auth basic` without what it needs.
    #[error("{0}")]
    Config(String),
    /// The system's random source failed.
    #[error("the system random number generator failed")]
    Random,
    /// A PEM file holds no certificate or key.
    #[error("{path} holds no PEM {what}")]
    Pem {
        /// The file.
        path: PathBuf,
        /// "certificate" or "private key".
        what: &'static str,
    },
}

/// The security settings of one process: the same secret and trust on every process of
/// a cluster; the users file on the scheduler; a certificate on every process that serves
/// TLS.
#[derive(Clone, Debug, Default)]
pub struct Security {
    /// The cluster secret. `Some` turns authentication on: every call needs a token.
    pub secret: Option<ClusterSecret>,
    /// Who may log in with a password (the scheduler's Flight SQL front end). Without
    /// it only the cluster's own processes get in.
    pub users: Option<Users>,
    /// The certificate and key this process serves TLS with.
    pub tls: Option<TlsIdentity>,
    /// Certificates (PEM) to trust when connecting to `grpc+tls://` addresses; without
    /// them, the system's roots.
    pub tls_ca: Option<std::sync::Arc<[u8]>>,
}

impl Security {
    /// Who issues and checks tokens, when authentication is on.
    pub fn issuer(&self) -> Option<TokenIssuer> {
        self.secret.as_ref().map(TokenIssuer::new)
    }

    /// What this process shows when it connects to others: a cluster token minted for
    /// `name`, and its trusted certificates.
    pub fn credentials(&self, name: &str) -> Credentials {
        let token = self.issuer().map(|issuer| issuer.issue(name, Role::Cluster, None));
        Credentials { token, tls_ca: self.tls_ca.clone() }
    }

    /// The URL scheme of this process's own addresses: `grpc+tls` when it serves TLS.
    pub fn scheme(&self) -> &'static str {
        if self.tls.is_some() { "grpc+tls" } else { "grpc" }
    }
}

/// What a client shows when it connects: a bearer token (when the cluster wants one) and
/// the certificates it trusts for `grpc+tls://` addresses.
#[derive(Clone, Debug, Default)]
pub struct Credentials {
    token: Option<String>,
    tls_ca: Option<std::sync::Arc<[u8]>>,
}

impl Credentials {
    /// Credentials from the environment: a cluster token when `DUSK_CLUSTER_SECRET` is
    /// set, and the certificates in the PEM file named by `DUSK_TLS_CA`, if set.
    pub fn from_env() -> Result<Self, SecurityError> {
        let mut security = Security { secret: ClusterSecret::from_env()?, ..Default::default() };
        if let Some(path) = std::env::var_os("DUSK_TLS_CA").filter(|p| !p.is_empty()) {
            security.tls_ca = Some(tls::read_pem(std::path::Path::new(&path))?);
        }
        let name = format!("client-{}", std::process::id());
        Ok(security.credentials(&name))
    }

    /// Shows `token` (from a handshake, or minted by a cluster process) on every call.
    pub fn with_token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// Trusts the certificates in `pem` for `grpc+tls://` addresses.
    pub fn with_tls_ca(mut self, pem: impl Into<std::sync::Arc<[u8]>>) -> Self {
        self.tls_ca = Some(pem.into());
        self
    }

    /// The certificates to trust, if set.
    pub(crate) fn tls_ca(&self) -> Option<&[u8]> {
        self.tls_ca.as_deref()
    }

    /// The interceptor that adds the token to every call.
    pub(crate) fn interceptor(&self) -> Bearer {
        let header = self.token.as_ref().and_then(|t| MetadataValue::try_from(format!("Bearer {t}")).ok());
        Bearer { header }
    }
}

/// Adds `authorization: Bearer <token>` to every outgoing call.
#[derive(Clone, Debug)]
pub struct Bearer {
    header: Option<MetadataValue<Ascii>>,
}

impl Interceptor for Bearer {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(header) = &self.header {
            request.metadata_mut().insert("authorization", header.clone());
        }
        Ok(request)
    }
}
