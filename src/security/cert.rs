//! Self-signed certificates for `dusk cert`: TLS for a cluster with no certificate
//! authority at hand.
//!
//! The certificate is an end-entity certificate (not a CA) naming every host clients
//! reach the cluster by; clients trust it directly (`--tls-ca cert.pem`). A certificate
//! made with `openssl req -x509` is a CA certificate, which TLS libraries refuse as a
//! server's own (`CaUsedAsEndEntity`).

use std::path::{Path, PathBuf};

use super::SecurityError;

/// Where [`write_self_signed`] put the certificate and its key.
#[derive(Debug)]
pub struct CertFiles {
    /// The certificate (PEM): `--tls-cert` for servers, `--tls-ca` for clients.
    pub cert: PathBuf,
    /// Its private key (PEM, readable by the owner only): `--tls-key`.
    pub key: PathBuf,
}

/// Makes a self-signed certificate valid for `hosts` (DNS names or IP addresses) and
/// writes it and its key as `cert.pem` and `key.pem` in `dir`.
pub fn write_self_signed(hosts: &[String], dir: &Path) -> Result<CertFiles, SecurityError> {
    if hosts.is_empty() {
        return Err(SecurityError::Config("a certificate needs at least one host name or address".into()));
    }
    let certified = rcgen::generate_simple_self_signed(hosts.to_vec())
        .map_err(|e| SecurityError::Config(format!("cannot make a certificate for {hosts:?}: {e}")))?;
    let files = CertFiles { cert: dir.join("cert.pem"), key: dir.join("key.pem") };
    let write = |path: &Path, text: &str, private: bool| {
        let written = if private {
            super::users::write_private(path, text)
        } else {
            std::fs::create_dir_all(dir).and_then(|()| std::fs::write(path, text))
        };
        written.map_err(|source| SecurityError::Write { path: path.to_path_buf(), source })
    };
    write(&files.key, &certified.signing_key.serialize_pem(), true)?;
    write(&files.cert, &certified.cert.pem(), false)?;
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_certificate_and_key_load_as_a_tls_identity() {
        let dir = tempfile::tempdir().unwrap();
        let files = write_self_signed(&["localhost".into(), "127.0.0.1".into()], dir.path()).unwrap();
        let files = crate::security::tls::TlsFiles { cert: files.cert, key: files.key };
        files.load().unwrap();
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&files.key).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the key is the owner's only");
        assert!(write_self_signed(&[], dir.path()).is_err());
    }
}
