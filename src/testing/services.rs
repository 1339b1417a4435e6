//! One `dusk scheduler` or `dusk worker` process, started by a test.

use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use super::TestingError;

/// A `dusk` service process a test started (a scheduler or a worker), killed when
/// dropped. Its output is drained so it never blocks on a full pipe; with `DUSK_LOG`
/// set, the test's own output shows it.
#[derive(Debug)]
pub struct DuskProcess {
    child: Child,
    url: Option<String>,
}

impl DuskProcess {
    /// Starts `command` (a `dusk scheduler ...` invocation, possibly behind a wrapper such
    /// as `ip netns exec`) and waits until it prints the address it listens on.
    pub async fn scheduler(mut command: Command) -> Result<Self, TestingError> {
        let mut child = spawn(&mut command)?;
        let stdout = child.stdout.take().ok_or_else(|| TestingError::Process("no stdout".into()))?;
        let mut lines = BufReader::new(stdout).lines();
        let find = async {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(found) = line.strip_prefix("Dusk scheduler listening on ") {
                    return Some(found.trim().to_string());
                }
            }
            None
        };
        let url = tokio::time::timeout(Duration::from_secs(60), find)
            .await
            .map_err(|_| TestingError::Timeout("the scheduler's address".into()))?
            .ok_or_else(|| TestingError::Process("the scheduler exited before it listened".into()))?;
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(DuskProcess { child, url: Some(url) })
    }

    /// Starts `command` (a `dusk worker ...` invocation); the worker registers on its own.
    pub fn worker(mut command: Command) -> Result<Self, TestingError> {
        let mut child = spawn(&mut command)?;
        if let Some(stdout) = child.stdout.take() {
            let mut lines = BufReader::new(stdout).lines();
            tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        }
        Ok(DuskProcess { child, url: None })
    }

    /// The address a scheduler printed.
    pub fn url(&self) -> Option<&str> {
        self.url.as_deref()
    }

    /// The process id (of the wrapper, when started through one that stays, such as
    /// `ip netns exec`, which execs and so keeps the pid).
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Sends `signal` (SIGSTOP, SIGCONT, SIGTERM, ...).
    pub fn signal(&self, signal: libc::c_int) {
        if let Some(pid) = self.child.id() {
            crate::local::send_signal(pid, signal);
        }
    }

    /// Kills it with SIGKILL and reaps it.
    pub async fn kill(&mut self) -> Result<(), TestingError> {
        self.child.kill().await.map_err(|e| TestingError::Process(e.to_string()))
    }

    /// Waits for it to exit, at most `limit`.
    pub async fn wait(&mut self, limit: Duration) -> Result<ExitStatus, TestingError> {
        tokio::time::timeout(limit, self.child.wait())
            .await
            .map_err(|_| TestingError::Timeout("the dusk process to exit".into()))?
            .map_err(|e| TestingError::Process(e.to_string()))
    }
}

fn spawn(command: &mut Command) -> Result<Child, TestingError> {
    // SAFETY: the closure runs in the child between fork and exec and only calls prctl,
    // which is async-signal-safe.
    #[cfg(target_os = "linux")]
    unsafe {
        // A test that dies (a panic, a killed harness) takes its processes with it.
        command.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    command
        .env("DUSK_LOG", std::env::var("DUSK_LOG").unwrap_or_else(|_| "warn".into()))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| TestingError::Process(format!("cannot start {command:?}: {e}")))
}
