//! Real clusters for tests and benches, on loopback ports.
//!
//! [`LocalCluster`] runs a scheduler and workers as tasks of the caller's tokio runtime
//! (workers still get their own CPU threads), so tests can register their own task
//! functions and stop a worker to simulate its death. [`ProcessCluster`] runs
//! `dusk local` as a child process with worker processes under it, for tests that kill a
//! worker with SIGKILL. Both talk real gRPC/Flight on `127.0.0.1`.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::client::{Client, ClientError};
use crate::config::{SchedulerConfig, WorkerConfig};
use crate::scheduler::{Scheduler, SchedulerError, SchedulerHandle};
use crate::security::{ClusterSecret, Credentials, Security};
use crate::worker::{Worker, WorkerError, WorkerExit, WorkerHandle};

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

    /// Stops worker `index` at once, as if it died; the scheduler sees it leave.
    pub async fn stop_worker(&mut self, index: usize) -> Option<WorkerExit> {
        let worker = self.workers.get_mut(index)?.take()?;
        Some(worker.shutdown().await)
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

/// `dusk local --no-repl` as a child process: a scheduler and worker processes.
#[derive(Debug)]
pub struct ProcessCluster {
    child: Child,
    url: String,
    dashboard: Option<String>,
    credentials: Credentials,
}

impl ProcessCluster {
    /// Starts `binary local` with `workers` × `threads` on a free port and waits until
    /// every worker has joined.
    pub async fn start(binary: &Path, workers: usize, threads: usize) -> Result<Self, TestingError> {
        Self::start_with_args(binary, workers, threads, &[]).await
    }

    /// [`ProcessCluster::start`] with extra `dusk local` arguments.
    pub async fn start_with_args(
        binary: &Path,
        workers: usize,
        threads: usize,
        extra: &[&str],
    ) -> Result<Self, TestingError> {
        // A state directory of its own, so tests never touch the user's catalog.
        let state_dir = std::env::temp_dir().join(format!(
            "dusk-process-cluster-{}-{}",
            std::process::id(),
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos())
        ));
        let mut child = Command::new(binary)
            .args([
                "local",
                "--no-repl",
                "--no-sample-data",
                "--port",
                "0",
                "--dashboard-port",
                "0",
                "--workers",
            ])
            .arg(workers.to_string())
            .arg("--threads-per-worker")
            .arg(threads.to_string())
            .arg("--state-dir")
            .arg(&state_dir)
            .args(extra)
            .env("DUSK_LOG", std::env::var("DUSK_LOG").unwrap_or_else(|_| "warn".into()))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| TestingError::Process(format!("cannot start {}: {e}", binary.display())))?;
        let stdout = child.stdout.take().ok_or_else(|| TestingError::Process("no stdout".into()))?;
        let mut lines = BufReader::new(stdout).lines();
        // The scheduler's address comes first; the dashboard's (if any) before "Started".
        let find_urls = async {
            let mut url = None;
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(found) = line.strip_prefix("Dusk scheduler listening on ") {
                    url = Some(found.trim().to_string());
                } else if let Some(found) = line.strip_prefix("Dashboard: ") {
                    let base = found.trim().trim_end_matches("/status").to_string();
                    return url.map(|url| (url, Some(base)));
                } else if line.starts_with("Started ") {
                    return url.map(|url| (url, None));
                }
            }
            None
        };
        let (url, dashboard) = tokio::time::timeout(Duration::from_secs(30), find_urls)
            .await
            .map_err(|_| TestingError::Timeout("the scheduler's address".into()))?
            .ok_or_else(|| TestingError::Process("exited before printing its address".into()))?;
        // Keep draining stdout so the child never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        // With `--auth basic`, the cluster's secret is in its state directory; with TLS,
        // its certificate is the one to trust.
        let mut security = Security {
            secret: ClusterSecret::from_file(&state_dir.join("cluster-secret")).ok(),
            ..Default::default()
        };
        if let Some(cert) = extra.iter().position(|a| *a == "--tls-cert").and_then(|i| extra.get(i + 1)) {
            security.tls_ca = Some(
                crate::security::tls::read_pem(Path::new(cert))
                    .map_err(|e| TestingError::Process(e.to_string()))?,
            );
        }
        let credentials = security.credentials("test-client");
        let cluster = ProcessCluster { child, url, dashboard, credentials };
        let client = cluster.client().await?;
        wait_for_workers(&client, workers).await?;
        Ok(cluster)
    }

    /// `http://127.0.0.1:<port>` of the dashboard, unless started with `--no-dashboard`.
    pub fn dashboard_url(&self) -> Option<&str> {
        self.dashboard.as_deref()
    }

    /// `grpc://127.0.0.1:<port>` of the scheduler.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// A client with the cluster's credentials (its secret and certificate, if any).
    pub async fn client(&self) -> Result<Client, ClientError> {
        Client::connect_with(&self.url, self.credentials.clone()).await
    }

    /// The `dusk local` process id.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Kills a worker process with SIGKILL; returns its pid.
    pub async fn kill_worker(&self, client: &Client, index: usize) -> Result<u32, TestingError> {
        let info = client.cluster_info().await?;
        let worker = info.workers.get(index).ok_or_else(|| {
            TestingError::Process(format!("no worker {index} ({} running)", info.workers.len()))
        })?;
        crate::local::send_signal(worker.pid, libc::SIGKILL);
        Ok(worker.pid)
    }

    /// Sends SIGTERM and waits for a clean exit; returns the exit code.
    pub async fn terminate(mut self) -> Result<Option<i32>, TestingError> {
        if let Some(pid) = self.child.id() {
            crate::local::send_signal(pid, libc::SIGTERM);
        }
        let status = tokio::time::timeout(Duration::from_secs(20), self.child.wait())
            .await
            .map_err(|_| TestingError::Timeout("dusk local to exit".into()))?
            .map_err(|e| TestingError::Process(e.to_string()))?;
        Ok(status.code())
    }
}
