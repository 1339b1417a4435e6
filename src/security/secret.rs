//! The cluster secret: what lets scheduler, workers and Rust clients trust each other.
//!
//! Every process of a cluster started with authentication on is given the same secret
//! (`DUSK_CLUSTER_SECRET`, or a file). Nothing sends it over the wire: each process derives
//! keys from it and mints or checks tokens with those keys.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};

use super::SecurityError;

/// The environment variable the secret is read from.
pub const SECRET_ENV: &str = "DUSK_CLUSTER_SECRET";

/// Shortest secret accepted, in bytes: shorter ones can be guessed.
const MIN_SECRET_BYTES: usize = 16;

/// A secret shared by every process of one cluster. Its `Debug` output hides it.
#[derive(Clone)]
pub struct ClusterSecret {
    bytes: Arc<[u8]>,
}

impl fmt::Debug for ClusterSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClusterSecret(..)")
    }
}

impl ClusterSecret {
    /// A secret from text, such as the value of `DUSK_CLUSTER_SECRET`. Surrounding
    /// whitespace is ignored; at least 16 bytes must remain.
    pub fn new(text: &str) -> Result<Self, SecurityError> {
        let text = text.trim();
        if text.len() < MIN_SECRET_BYTES {
            return Err(SecurityError::WeakSecret { min: MIN_SECRET_BYTES, got: text.len() });
        }
        Ok(ClusterSecret { bytes: text.as_bytes().into() })
    }

    /// A fresh random secret, for a cluster whose processes are all started together
    /// (`dusk local`).
    pub fn generate() -> Result<Self, SecurityError> {
        let mut bytes = [0u8; 32];
        SystemRandom::new().fill(&mut bytes).map_err(|_| SecurityError::Random)?;
        let text: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        Self::new(&text)
    }

    /// The secret from `DUSK_CLUSTER_SECRET`, if that is set.
    pub fn from_env() -> Result<Option<Self>, SecurityError> {
        match std::env::var(SECRET_ENV) {
            Ok(text) if !text.trim().is_empty() => Self::new(&text).map(Some),
            _ => Ok(None),
        }
    }

    /// The secret stored in a file (its whole content, trimmed).
    pub fn from_file(path: &Path) -> Result<Self, SecurityError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| SecurityError::Read { path: path.to_path_buf(), source })?;
        Self::new(&text)
    }

    /// The secret as text, to hand to a child process through its environment.
    pub fn expose(&self) -> &str {
        // Only ever built from a `&str`.
        std::str::from_utf8(&self.bytes).unwrap_or_default()
    }

    /// A key for one purpose, derived so that keys for different purposes differ.
    pub(crate) fn derive(&self, purpose: &str) -> hmac::Key {
        let root = hmac::Key::new(hmac::HMAC_SHA256, &self.bytes);
        let derived = hmac::sign(&root, purpose.as_bytes());
        hmac::Key::new(hmac::HMAC_SHA256, derived.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_secrets_are_refused() {
        assert!(matches!(ClusterSecret::new("short"), Err(SecurityError::WeakSecret { got: 5, .. })));
        assert!(ClusterSecret::new("  sixteen-bytes-ok  ").is_ok());
    }

    #[test]
    fn generated_secrets_differ_and_debug_hides_them() {
        let a = ClusterSecret::generate().unwrap();
        let b = ClusterSecret::generate().unwrap();
        assert_ne!(a.expose(), b.expose());
        assert!(!format!("{a:?}").contains(a.expose()));
    }
}
