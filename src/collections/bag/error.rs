//! Why a bag operation failed.

use std::path::PathBuf;

use crate::client::ClientError;

/// Why a bag operation failed.
#[derive(Debug, thiserror::Error)]
pub enum BagError {
    /// The cluster could not compute it (a task failed: its message says why).
    #[error(transparent)]
    Client(#[from] ClientError),
    /// A value could not be encoded for the cluster.
    #[error("encoding {what}: {message}")]
    Encode {
        /// What was encoded.
        what: String,
        /// Why it failed.
        message: String,
    },
    /// A computed value is not of the bag's element type.
    #[error("decoding a result: {0}")]
    Decode(String),
    /// Files that could not be listed.
    #[error("{path}: {message}")]
    File {
        /// The path or pattern.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// Records that do not make a table.
    #[error("to_dataframe: {0}")]
    Table(String),
}
