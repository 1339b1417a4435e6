//! `dusk local`: a scheduler and worker processes on this machine, in one command.
//!
//! The scheduler runs in this process; each worker is a child process of the same binary
//! (so it has the same registered functions). This process is the workers' nanny: a
//! worker that exits unexpectedly is started again, so a task that crashes its worker
//! meets a fresh one until it errs with `KilledWorker`; a worker whose resident memory
//! passes [`NANNY_MEMORY_FRACTION`] of its limit is killed and started again, and its
//! lost work recomputed, as Dask's nanny does. Workers are started with
//! `--die-with-parent` and exit when this process dies, however it dies (SIGKILL
//! included).
//!
//! With a SQL prompt ([`Front::Prompt`]) the cluster serves until the prompt ends;
//! workers run in their own process group, so a Ctrl-C that cancels a query at the
//! prompt never reaches them.
//!
//! Shutdown on Ctrl-C or SIGTERM (or the prompt's end): stop the scheduler (so workers
//! have nothing to drain to and stop at once), stop restarting, send SIGTERM to every
//! worker, wait up to [`WORKER_STOP_GRACE`] for them, SIGKILL the rest.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};
use tokio::sync::watch;

use crate::config::SchedulerConfig;
use crate::repl::ReplOptions;
use crate::scheduler::{Scheduler, SchedulerError};
use crate::security::secret::SECRET_ENV;
use crate::security::tls::TlsFiles;
use crate::security::{Credentials, Role};

/// How long workers get to exit after SIGTERM before they are killed.
pub const WORKER_STOP_GRACE: Duration = Duration::from_secs(5);

/// Pause before restarting a worker that died, so a crash loop does not spin.
const RESTART_DELAY: Duration = Duration::from_millis(500);

/// A worker whose resident memory passes this fraction of its limit is restarted.
pub const NANNY_MEMORY_FRACTION: f64 = 0.95;

/// A memory restart this soon after a start counts as a quick one.
const NANNY_QUICK_KILL: Duration = Duration::from_secs(10);

/// Quick memory restarts in a row after which the nanny stops restarting a worker for
/// memory: its limit is below what it needs to run at all.
const NANNY_MAX_QUICK_KILLS: u32 = 3;

/// How often the nanny reads its worker's resident memory.
const MEMORY_CHECK_INTERVAL: Duration = Duration::from_millis(250);

/// What `dusk local` starts.
#[derive(Debug, Clone)]
pub struct LocalConfig {
    /// Address to listen on.
    pub host: String,
    /// Scheduler port; 0 picks a free one.
    pub port: u16,
    /// Worker processes.
    pub workers: usize,
    /// Threads per worker.
    pub threads_per_worker: usize,
    /// Memory limit per worker.
    pub memory_limit_bytes: u64,
    /// Parent directory of the workers' spill directories.
    pub spill_dir: Option<PathBuf>,
    /// Scheduler settings.
    pub scheduler: SchedulerConfig,
    /// Where the cluster keeps what outlives it (sample data; the scheduler's catalog
    /// goes where `scheduler.state_dir` says).
    pub state_dir: PathBuf,
    /// Register a small TPC-H (generated once into the state dir) so there is data to
    /// query from the first prompt.
    pub sample_data: bool,
    /// The certificate and key the scheduler serves TLS with (`scheduler.security.tls`),
    /// handed to the workers too, which also trust it.
    pub tls_files: Option<TlsFiles>,
    /// Workers log only warnings (unless `DUSK_LOG` says otherwise), to keep a prompt
    /// in the same terminal readable.
    pub quiet_workers: bool,
}

/// What holds the terminal while the cluster runs.
#[derive(Debug)]
pub enum Front {
    /// Serve in the foreground until Ctrl-C or SIGTERM.
    Foreground,
    /// A SQL prompt on the cluster (its URL and credentials are filled in); the cluster
    /// stops when it ends, or on SIGTERM.
    Prompt(ReplOptions),
}

/// Scale factor of the sample TPC-H `dusk local` registers.
pub const SAMPLE_SCALE: f64 = 0.1;

/// Why `dusk local` could not run.
#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    /// The scheduler did not start.
    #[error(transparent)]
    Scheduler(#[from] SchedulerError),
    /// A worker process could not be started.
    #[error("starting worker process {index}")]
    Spawn {
        /// Which worker.
        index: usize,
        /// The system's reason.
        #[source]
        source: std::io::Error,
    },
}

/// Runs the local cluster until Ctrl-C or SIGTERM, or until the prompt ends.
pub async fn run(config: LocalConfig, front: Front) -> Result<(), LocalError> {
    let scheduler =
        Scheduler::bind(&format!("{}:{}", config.host, config.port), config.scheduler.clone()).await?;
    let url = scheduler.url();
    println!("Dusk scheduler listening on {url}");
    let addr = scheduler.addr();
    println!(
        "Flight SQL: {url} (ADBC, pyarrow.flight), jdbc:arrow-flight-sql://{}:{}?useEncryption={} (JDBC)",
        addr.ip(),
        addr.port(),
        config.tls_files.is_some(),
    );
    if let Some(addr) = scheduler.dashboard_addr() {
        println!("Dashboard: {}", crate::dashboard::url(addr));
    }
    println!(
        "Started {} workers x {} threads, {} MiB each (Ctrl-C stops everything)",
        config.workers,
        config.threads_per_worker,
        config.memory_limit_bytes >> 20
    );
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut nannies = Vec::with_capacity(config.workers);
    for index in 0..config.workers {
        let child =
            spawn_worker(&config, &url, index).map_err(|source| LocalError::Spawn { index, source })?;
        nannies.push(tokio::spawn(nanny(config.clone(), url.clone(), index, child, stop_rx.clone())));
    }
    let credentials = config.scheduler.security.credentials("local");
    let mut sample = config
        .sample_data
        .then(|| tokio::spawn(register_sample_data(url.clone(), config.state_dir.clone(), credentials)));
    match front {
        Front::Foreground => shutdown_signal().await,
        Front::Prompt(mut options) => {
            // The first prompt already sees the sample tables.
            if let Some(sample) = sample.take() {
                let _ = sample.await;
            }
            let security = &config.scheduler.security;
            options.connect.url = url.clone();
            options.connect.token =
                security.issuer().map(|issuer| issuer.issue("local-prompt", Role::Cluster, None));
            options.connect.tls_ca = security.tls_ca.as_deref().map(<[u8]>::to_vec);
            let runtime = tokio::runtime::Handle::current();
            let prompt = tokio::task::spawn_blocking(move || crate::repl::run(options, runtime));
            tokio::select! {
                ended = prompt => match ended {
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => eprintln!("dusk: {}", dusk_flight::envelope::error_chain(&e)),
                    Err(e) => eprintln!("dusk: the prompt stopped: {e}"),
                },
                () = terminate_signal() => {}
            }
        }
    }
    if let Some(sample) = sample {
        sample.abort();
    }
    println!("Stopping workers and scheduler");
    scheduler.shutdown().await;
    let _ = stop_tx.send(true);
    for nanny in nannies {
        let _ = nanny.await;
    }
    Ok(())
}

/// Generates the sample TPC-H once and registers its tables; failures are reported, not
/// fatal: the cluster serves without them.
async fn register_sample_data(url: String, state_dir: PathBuf, credentials: Credentials) {
    let dir = state_dir.join(format!("tpch-sf{SAMPLE_SCALE}"));
    if !crate::tpch::is_generated(&dir) {
        println!("Generating TPC-H SF {SAMPLE_SCALE} sample data into {} (once)", dir.display());
        let target = dir.clone();
        let threads = crate::config::available_cores();
        match tokio::task::spawn_blocking(move || crate::tpch::generate(SAMPLE_SCALE, &target, threads)).await
        {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return eprintln!("dusk: sample data: {}", dusk_flight::envelope::error_chain(&e)),
            Err(e) => return eprintln!("dusk: sample data: {e}"),
        }
    }
    let client = match crate::Client::connect_with(&url, credentials).await {
        Ok(client) => client,
        Err(e) => return eprintln!("dusk: sample data: {}", dusk_flight::envelope::error_chain(&e)),
    };
    for statement in crate::tpch::create_tables(&dir) {
        if let Err(e) = client.sql(&statement).await {
            return eprintln!("dusk: sample data: {}", dusk_flight::envelope::error_chain(&e));
        }
    }
    println!(
        "Sample data: TPC-H SF {SAMPLE_SCALE} tables {} (try SELECT count(*) FROM lineitem)",
        crate::tpch::TABLES.join(", ")
    );
}

fn spawn_worker(config: &LocalConfig, url: &str, index: usize) -> std::io::Result<Child> {
    let exe = std::env::current_exe()?;
    let mut cmd = Command::new(exe);
    // Its own process group: Ctrl-C at a prompt in this terminal is not for workers.
    cmd.process_group(0);
    if config.quiet_workers && std::env::var_os("DUSK_LOG").is_none() {
        cmd.env("DUSK_LOG", "warn");
    }
    cmd.arg("worker")
        .arg(url)
        .arg("--threads")
        .arg(config.threads_per_worker.to_string())
        .arg("--memory-limit")
        .arg(config.memory_limit_bytes.to_string())
        .arg("--host")
        .arg(if config.host == "0.0.0.0" { "127.0.0.1" } else { &config.host })
        .arg("--name")
        .arg(format!("local-{index}"))
        .arg("--die-with-parent")
        .stdin(Stdio::null())
        .kill_on_drop(true);
    if let Some(dir) = &config.spill_dir {
        cmd.arg("--spill-dir").arg(dir);
    }
    // The workers share the scheduler's secret and certificate.
    match &config.scheduler.security.secret {
        Some(secret) => cmd.env(SECRET_ENV, secret.expose()),
        None => cmd.env_remove(SECRET_ENV),
    };
    if let Some(files) = &config.tls_files {
        cmd.arg("--tls-cert")
            .arg(&files.cert)
            .arg("--tls-key")
            .arg(&files.key)
            .arg("--tls-ca")
            .arg(&files.cert);
    }
    cmd.spawn()
}

/// Keeps worker `index` running until told to stop, then stops it.
async fn nanny(
    config: LocalConfig,
    url: String,
    index: usize,
    mut child: Child,
    mut stop: watch::Receiver<bool>,
) {
    let stopping = stop.clone();
    let limit = config.memory_limit_bytes as f64 * NANNY_MEMORY_FRACTION;
    let mut memory_check = tokio::time::interval(MEMORY_CHECK_INTERVAL);
    memory_check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // Memory restarts in a row that came soon after a start: past a few, the limit is below
    // what the worker needs to live at all, and restarting it again would only loop.
    let mut quick_kills = 0u32;
    let mut watched = true;
    let mut started = tokio::time::Instant::now();
    loop {
        tokio::select! {
            _ = memory_check.tick() => {
                let rss = child.id().and_then(crate::config::process_memory_bytes).map_or(0, |(rss, _)| rss);
                if watched && rss as f64 > limit {
                    if started.elapsed() < NANNY_QUICK_KILL {
                        quick_kills += 1;
                    } else {
                        quick_kills = 0;
                    }
                    tracing::warn!(worker.index = index, worker.rss_bytes = rss,
                        worker.memory_limit_bytes = config.memory_limit_bytes,
                        "worker passed 95% of its memory limit; restarting it (its lost work is recomputed)");
                    let _ = child.start_kill();
                    if quick_kills >= NANNY_MAX_QUICK_KILLS {
                        watched = false;
                        tracing::warn!(worker.index = index, worker.memory_limit_bytes = config.memory_limit_bytes,
                            "worker passed its memory limit right after each of its last starts; \
                             it is no longer restarted for memory (raise --memory-limit)");
                    }
                }
            }
            status = child.wait() => {
                if stopped(&stopping) {
                    return;
                }
                tracing::warn!(worker.index = index, status = ?status.ok(), "worker process exited; restarting it");
                tokio::time::sleep(RESTART_DELAY).await;
                if stopped(&stopping) {
                    return;
                }
                match spawn_worker(&config, &url, index) {
                    Ok(c) => {
                        child = c;
                        started = tokio::time::Instant::now();
                    }
                    Err(e) => {
                        tracing::error!(worker.index = index, error = %e, "cannot restart worker; giving up on it");
                        return;
                    }
                }
            }
            _ = wait_stopped(&mut stop) => {
                terminate(&mut child).await;
                return;
            }
        }
    }
}

/// SIGTERM, a grace period, then SIGKILL.
async fn terminate(child: &mut Child) {
    if let Some(pid) = child.id() {
        send_signal(pid, libc::SIGTERM);
    }
    if tokio::time::timeout(WORKER_STOP_GRACE, child.wait()).await.is_err() {
        let _ = child.kill().await;
    }
}

/// Sends `signal` to process `pid`; a process that is already gone is not an error.
pub(crate) fn send_signal(pid: u32, signal: libc::c_int) {
    // SAFETY: kill(2) takes a pid and a signal number and touches no memory of ours.
    unsafe {
        libc::kill(pid as libc::pid_t, signal);
    }
}

/// Resolves on SIGTERM (never, where it cannot be watched).
async fn terminate_signal() {
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(mut term) => {
            term.recv().await;
        }
        Err(_) => std::future::pending().await,
    }
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = ctrl_c => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = ctrl_c.await;
        }
    }
}

/// Makes this process exit when its parent does (Linux `PR_SET_PDEATHSIG`), with a
/// polling backstop for a parent that died before the call and for other systems.
pub fn die_with_parent() {
    let parent = std::os::unix::process::parent_id();
    #[cfg(target_os = "linux")]
    // SAFETY: prctl with PR_SET_PDEATHSIG takes a signal number and touches no memory.
    unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
    }
    std::thread::Builder::new()
        .name("dusk-parent-watch".into())
        .spawn(move || {
            loop {
                if std::os::unix::process::parent_id() != parent {
                    // The parent is gone and we were re-parented: leave now.
                    std::process::exit(0);
                }
                std::thread::sleep(Duration::from_millis(500));
            }
        })
        .ok();
}

fn stopped(stop: &watch::Receiver<bool>) -> bool {
    *stop.borrow()
}

async fn wait_stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await.map(|_| ());
}
