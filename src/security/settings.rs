//! The security settings of one process.

use super::{ClusterSecret, Credentials, Role, TlsIdentity, TokenIssuer, Users};

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
        Credentials::new(token, self.tls_ca.clone())
    }

    /// The URL scheme of this process's own addresses: `grpc+tls` when it serves TLS.
    pub fn scheme(&self) -> &'static str {
        if self.tls.is_some() { "grpc+tls" } else { "grpc" }
    }
}
