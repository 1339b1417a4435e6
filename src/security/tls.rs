//! TLS for the scheduler's port and the workers' data planes (rustls, through tonic).
//!
//! A process serves TLS when given a certificate chain and private key in PEM files
//! (`--tls-cert`, `--tls-key`); it then advertises `grpc+tls://` addresses. A process
//! connecting to a `grpc+tls://` address trusts the certificates of `--tls-ca` (for a
//! self-signed cluster, the certificate itself), or the system's roots.

use std::path::Path;
use std::sync::Arc;

use tonic::transport::{Certificate, ClientTlsConfig, Identity, ServerTlsConfig};

use super::SecurityError;

/// Where a certificate chain and its private key are, for a process to hand to its
/// children (`dusk local` to its workers).
#[derive(Clone, Debug)]
pub struct TlsFiles {
    /// The certificate chain (PEM).
    pub cert: std::path::PathBuf,
    /// The private key (PEM).
    pub key: std::path::PathBuf,
}

impl TlsFiles {
    /// Reads both files.
    pub fn load(&self) -> Result<TlsIdentity, SecurityError> {
        TlsIdentity::load(&self.cert, &self.key)
    }
}

/// A certificate chain and its private key, in PEM.
#[derive(Clone)]
pub struct TlsIdentity {
    cert: Arc<[u8]>,
    key: Arc<[u8]>,
}

impl std::fmt::Debug for TlsIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TlsIdentity(..)")
    }
}

impl TlsIdentity {
    /// Reads the certificate chain and key files, checking that each holds PEM of its kind.
    pub fn load(cert: &Path, key: &Path) -> Result<Self, SecurityError> {
        let cert_pem = read_pem(cert)?;
        if !contains(&cert_pem, b"-----BEGIN CERTIFICATE-----") {
            return Err(SecurityError::Pem { path: cert.to_path_buf(), what: "certificate" });
        }
        let key_pem = read_pem(key)?;
        if !contains(&key_pem, b"PRIVATE KEY-----") {
            return Err(SecurityError::Pem { path: key.to_path_buf(), what: "private key" });
        }
        Ok(TlsIdentity { cert: cert_pem, key: key_pem })
    }

    /// An identity from PEM bytes already in memory.
    pub fn from_pem(cert: impl Into<Arc<[u8]>>, key: impl Into<Arc<[u8]>>) -> Self {
        TlsIdentity { cert: cert.into(), key: key.into() }
    }

    /// The certificate chain, in PEM (clients of a self-signed cluster trust it).
    pub fn cert_pem(&self) -> &[u8] {
        &self.cert
    }

    /// The server configuration serving this identity.
    pub(crate) fn server_config(&self) -> ServerTlsConfig {
        ServerTlsConfig::new().identity(Identity::from_pem(&*self.cert, &*self.key))
    }
}

/// The client configuration trusting `ca` (PEM), or the system's roots without it.
pub(crate) fn client_config(ca: Option<&[u8]>) -> ClientTlsConfig {
    match ca {
        Some(pem) => ClientTlsConfig::new().ca_certificate(Certificate::from_pem(pem)),
        None => ClientTlsConfig::new().with_native_roots(),
    }
}

/// The bytes of a PEM file.
pub fn read_pem(path: &Path) -> Result<Arc<[u8]>, SecurityError> {
    std::fs::read(path)
        .map(Arc::from)
        .map_err(|source| SecurityError::Read { path: path.to_path_buf(), source })
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}
