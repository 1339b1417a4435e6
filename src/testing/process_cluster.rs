//! `dusk local` as a child process.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use super::{TestingError, wait_for_workers};
use crate::client::{Client, ClientError};
use crate::security::{ClusterSecret, Credentials, Security};

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
