//! Real clusters for tests and benches, on loopback ports.
//!
//! [`LocalCluster`] runs a scheduler and workers as tasks of the caller's tokio runtime
//! (workers still get their own CPU threads), so tests can register their own task
//! functions and stop a worker to simulate its death. [`ProcessCluster`] runs
//! `dusk local` as a child process with worker processes under it, for tests that kill a
//! worker with SIGKILL. [`DuskProcess`] runs one `dusk scheduler` or `dusk worker`
//! process (optionally inside a network namespace), for tests that restart a scheduler
//! or cut a worker's network. All talk real gRPC/Flight.

mod local_cluster;
mod process_cluster;
mod services;

use std::time::Duration;

pub use local_cluster::{ClusterSpec, LocalCluster};
pub use process_cluster::ProcessCluster;
pub use services::DuskProcess;

use crate::client::{Client, ClientError};
use crate::scheduler::SchedulerError;
use crate::worker::WorkerError;

/// Why a test cluster could not start or do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum TestingError {
    /// The scheduler did not start.
    #[error(transparent)]
    Scheduler(#[from] SchedulerError),
    /// A worker did not start.
    #[error(transparent)]
    Worker(#[from] WorkerError),
    /// A client call failed.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The `dusk` process could not be started or said something unexpected.
    #[error("dusk process: {0}")]
    Process(String),
    /// Something did not happen in time.
    #[error("timed out waiting for {0}")]
    Timeout(String),
}

/// Sends logs to the test output when `DUSK_LOG` is set; once per process.
pub fn init_test_logging() {
    if let Ok(filter) = std::env::var("DUSK_LOG") {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_test_writer()
            .try_init();
    }
}

/// Polls cluster info until `n` workers are connected (30 s at most).
pub async fn wait_for_workers(client: &Client, n: usize) -> Result<(), TestingError> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let info = client.cluster_info().await?;
        if info.workers.len() >= n {
            return Ok(());
        }
        if tokio::time::Instant::now() > deadline {
            return Err(TestingError::Timeout(format!("{n} workers (have {})", info.workers.len())));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
