//! Worker errors: why a worker could not run, hold or serve a task result.
//!
//! One enum for the whole worker, sorted by who has to act: the operator (a spill
//! directory that cannot be written, fractions that make no sense) or Dusk itself
//! ([`WorkerError::Internal`], which is always a bug). Variants carry typed fields (task
//! key, path) and describe only their own layer; the cause sits in `#[source]`, so a
//! printer that joins the chain with `: ` gives one readable line, e.g.
//! `reading spill file /tmp/spill/7.arrow of task inc-3f2a: No such file or directory`.

use std::io;
use std::path::PathBuf;

use arrow::error::ArrowError;
use dusk_flight::WireError;

use crate::graph::TaskKey;

/// Why a worker could not run, hold or serve a task result.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    /// The spill directory could not be created; the operator must fix the path or its
    /// permissions.
    #[error("creating spill directory {}", .path.display())]
    SpillDir {
        /// The directory from the store's config.
        path: PathBuf,
        /// What the file system said.
        #[source]
        source: io::Error,
    },
    /// A value could not be written to its spill file; it stays in memory.
    #[error("writing spill file {}", .path.display())]
    SpillWrite {
        /// The file being written (deleted again after the failure).
        path: PathBuf,
        /// What went wrong in the file or the Arrow encoder.
        #[source]
        source: SpillFileError,
    },
    /// A spilled value could not be read back; the value is lost to this worker and has
    /// to be recomputed or fetched elsewhere.
    #[error("reading spill file {} of task {key}", .path.display())]
    SpillRead {
        /// The task whose result was spilled.
        key: TaskKey,
        /// The spill file.
        path: PathBuf,
        /// What went wrong in the file or the Arrow decoder.
        #[source]
        source: SpillFileError,
    },
    /// The store's fractions are unusable: both must be finite and
    /// `0 < spill_fraction <= pause_fraction`, or a paused worker could never spill its way
    /// back to work.
    #[error(
        "store spill fraction {spill_fraction} must be above 0 and at most pause fraction {pause_fraction}"
    )]
    StoreFractions {
        /// The configured spill fraction.
        spill_fraction: f64,
        /// The configured pause fraction.
        pause_fraction: f64,
    },
    /// The data plane's address could not be bound.
    #[error("cannot listen on {addr}")]
    Bind {
        /// The address asked for.
        addr: String,
        /// The system's reason.
        #[source]
        source: io::Error,
    },
    /// The data plane's certificate or key could not be used.
    #[error("TLS certificate and key of the data plane")]
    Tls(#[source] tonic::transport::Error),
    /// The scheduler could not be reached.
    #[error(transparent)]
    Connect(#[from] crate::net::ConnectError),
    /// The scheduler refused the worker's stream.
    #[error("scheduler {url} refused this worker: {}", .source.message())]
    Scheduler {
        /// The scheduler's URL.
        url: String,
        /// Its answer.
        #[source]
        source: tonic::Status,
    },
    /// The executor's threads could not be started.
    #[error("starting executor threads")]
    ExecutorStart(#[source] io::Error),
    /// Something that cannot happen did: a bug in Dusk.
    #[error("internal error: {what}; this is a bug in Dusk, please report it")]
    Internal {
        /// What went wrong, for the bug report.
        what: String,
    },
}

impl From<crate::blocking::BlockingFailed> for WorkerError {
    fn from(e: crate::blocking::BlockingFailed) -> Self {
        WorkerError::Internal { what: dusk_flight::envelope::error_chain(&e) }
    }
}

/// What went wrong inside one spill file operation.
///
/// The cause of [`WorkerError::SpillWrite`] and [`WorkerError::SpillRead`]; the path and
/// task key live in those variants, so these texts say only what failed.
#[derive(Debug, thiserror::Error)]
pub enum SpillFileError {
    /// Creating, writing, opening or reading the file failed.
    #[error(transparent)]
    Io(#[from] io::Error),
    /// The Arrow IPC writer or reader failed (this includes its own I/O).
    #[error(transparent)]
    Arrow(#[from] ArrowError),
    /// The chunks of a byte value did not reassemble.
    #[error(transparent)]
    Chunks(#[from] WireError),
    /// The file is readable Arrow but not a spill file as this module writes them.
    #[error("not a dusk spill file: {reason}")]
    Malformed {
        /// What was unexpected.
        reason: String,
    },
}
