//! A scheduler and workers inside the test's own process.

use std::time::Duration;

use super::{TestingError, init_test_logging, wait_for_workers};
use crate::client::{Client, ClientError};
use crate::config::{SchedulerConfig, WorkerConfig};
use crate::scheduler::{Scheduler, SchedulerHandle};
use crate::security::{Credentials, Security};
use crate::worker::{Worker, WorkerExit, WorkerHandle};

/// What a [`LocalCluster`] starts.
#[derive(Debug, Clone)]
pub struct ClusterSpec {
    /// Workers.
    pub workers: usize,
    /// Threads per worker.
    pub threads: usize,
    /// Memory limit per worker. Default 1 GiB.
    pub memory_limit_bytes: u64,
    /// Resources every worker offers.
    pub resources: Vec<(String, f64)>,
    /// Scheduler settings; `validate` is on by default here.
    pub scheduler: SchedulerConfig,
}

impl ClusterSpec {
    /// `workers` × `threads`, 1 GiB each, invariants checked after every transition.
    pub fn new(workers: usize, threads: usize) -> Self {
        ClusterSpec {
            workers,
            threads,
            memory_limit_bytes: 1 << 30,
            resources: Vec::new(),
            scheduler: SchedulerConfig { validate: true, ..Default::default() },
        }
    }
}

/// A scheduler and workers inside this process. Dropping it leaves them running until
/// the runtime ends; call [`LocalCluster::shutdown`] to stop them.
#[derive(Debug)]
pub struct LocalCluster {
    scheduler: SchedulerHandle,
    workers: Vec<Option<WorkerHandle>>,
    spec: ClusterSpec,
    spill_root: std::path::PathBuf,
}

impl LocalCluster {
    /// Starts `workers` workers of `threads` threads each.
    pub async fn start(workers: usize, threads: usize) -> Result<Self, TestingError> {
        Self::start_with(ClusterSpec::new(workers, threads)).await
    }

    /// Starts the cluster `spec` describes and waits until every worker has joined.
    ///
    /// With `DUSK_LOG` set (e.g. `DUSK_LOG=debug`), logs go to the test's output.
    pub async fn start_with(spec: ClusterSpec) -> Result<Self, TestingError> {
        init_test_logging();
        let scheduler = Scheduler::bind("127.0.0.1:0", spec.scheduler.clone()).await?;
        let spill_root = std::env::temp_dir().join(format!(
            "dusk-test-{}-{}",
            std::process::id(),
            scheduler.addr().port()
        ));
        let mut cluster = LocalCluster { scheduler, workers: Vec::new(), spec, spill_root };
        for _ in 0..cluster.spec.workers {
            cluster.add_worker().await?;
        }
        cluster.wait_for_workers(cluster.spec.workers).await?;
        Ok(cluster)
    }

    /// `grpc://127.0.0.1:<port>` of the scheduler.
    pub fn url(&self) -> String {
        self.scheduler.url()
    }

    /// `http://127.0.0.1:<port>` of the dashboard, when the scheduler config asked for one.
    pub fn dashboard_url(&self) -> Option<String> {
        self.scheduler.dashboard_addr().map(|addr| format!("http://{addr}"))
    }

    /// A new client of this cluster, with the cluster's credentials.
    pub async fn client(&self) -> Result<Client, ClientError> {
        Client::connect_with(&self.url(), self.credentials()).await
    }

    /// What the cluster's own processes show: a cluster token when the scheduler
    /// config has a secret, and its trusted certificates.
    pub fn credentials(&self) -> Credentials {
        self.spec.scheduler.security.credentials("test-client")
    }

    /// Starts one more worker like the others; returns its index.
    pub async fn add_worker(&mut self) -> Result<usize, TestingError> {
        let mut config = WorkerConfig::new(self.url());
        config.threads = self.spec.threads;
        config.memory_limit_bytes = self.spec.memory_limit_bytes;
        config.resources = self.spec.resources.clone();
        config.spill_dir = Some(self.spill_root.clone());
        config.heartbeat_interval = Duration::from_millis(200);
        config.security = Security { users: None, ..self.spec.scheduler.security.clone() };
        let worker = Worker::start(config).await?;
        self.workers.push(Some(worker));
        Ok(self.workers.len() - 1)
    }

    /// The data address of worker `index` (as `ClusterInfo` lists it), while it runs.
    pub fn worker_data_addr(&self, index: usize) -> Option<&str> {
        self.workers.get(index)?.as_ref().map(|w| w.data_addr())
    }

    /// Stops worker `index` at once, as if it died; the scheduler sees it leave.
    pub async fn stop_worker(&mut self, index: usize) -> Option<WorkerExit> {
        let worker = self.workers.get_mut(index)?.take()?;
        Some(worker.shutdown().await)
    }

    /// Retires worker `index` (its results move to peers) and waits until it has left.
    pub async fn retire_worker(&mut self, index: usize) -> Option<WorkerExit> {
        let worker = self.workers.get_mut(index)?.take()?;
        Some(worker.retire().await)
    }

    /// Waits until the scheduler has `n` workers.
    pub async fn wait_for_workers(&self, n: usize) -> Result<(), TestingError> {
        let client = self.client().await?;
        wait_for_workers(&client, n).await
    }

    /// Stops workers and the scheduler.
    pub async fn shutdown(mut self) {
        for w in self.workers.iter_mut().filter_map(Option::take) {
            w.shutdown().await;
        }
        self.scheduler.shutdown().await;
        let _ = std::fs::remove_dir_all(&self.spill_root);
    }
}
