//! Why security settings could not be loaded or used.

use std::path::PathBuf;

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
