//! What a client shows when it connects: a bearer token and the certificates it trusts.

use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;

use super::{ClusterSecret, Security, SecurityError, tls};

/// What a client shows when it connects: a bearer token (when the cluster wants one) and
/// the certificates it trusts for `grpc+tls://` addresses.
#[derive(Clone, Debug, Default)]
pub struct Credentials {
    token: Option<String>,
    tls_ca: Option<std::sync::Arc<[u8]>>,
}

impl Credentials {
    pub(super) fn new(token: Option<String>, tls_ca: Option<std::sync::Arc<[u8]>>) -> Self {
        Credentials { token, tls_ca }
    }

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
