//! Configuration of the scheduler and workers, with their defaults, and the parsing of
//! sizes given on the command line (`4GiB`, `512MB`, `1000000`).

use std::path::PathBuf;
use std::time::Duration;

use crate::security::Security;

/// How the scheduler schedules. Every field has a default; see [`Default`].
#[derive(Clone, Debug)]
pub struct SchedulerConfig {
    /// Deaths of workers running a task before it errs with `KilledWorker`. Default 3.
    pub allowed_failures: u32,
    /// Root tasks sent to a worker per thread before the rest wait on the scheduler
    /// (Dask's `worker-saturation`). Default 1.1.
    pub worker_saturation: f64,
    /// For short tasks of a known duration, a worker gets enough of them to keep each
    /// thread busy for this long, so round trips do not starve it. Default 2 ms.
    pub backlog_target: Duration,
    /// Upper bound of queued root tasks per worker thread. Default 1000.
    pub max_backlog_per_thread: u32,
    /// Duration assumed for a task group not yet measured. Default 500 ms (as Dask).
    pub unknown_task_duration: Duration,
    /// Bandwidth assumed between workers when placing tasks, bytes per second.
    /// Default 100 MB/s.
    pub bandwidth_bytes_per_sec: f64,
    /// A worker silent for this long is removed and its work rescheduled. Default 10 s.
    pub heartbeat_timeout: Duration,
    /// Ready work that no live worker can run (none alive, or none offering its
    /// resources) errs after waiting this long. Default 60 s.
    pub no_workers_timeout: Duration,
    /// How often idle workers steal queued work from busy ones. Default 100 ms.
    pub steal_interval: Duration,
    /// Check every invariant after every transition (slow; tests turn it on). Default off.
    pub validate: bool,
    /// Where the SQL catalog is kept across restarts. Default none: the catalog lives in
    /// memory only.
    pub state_dir: Option<std::path::PathBuf>,
    /// Send every Flight SQL result through the scheduler in one endpoint, for clients
    /// that read only `endpoints[0]`. Default off: large results are read from the
    /// workers holding them.
    pub proxy_results: bool,
    /// How long a Flight SQL result stays readable: the expiry of the tickets workers
    /// check, and of answers held on the scheduler. Default 10 minutes.
    pub result_ttl: Duration,
    /// Cluster secret, users who may log in, TLS certificate. Default: none (an open
    /// cluster over plain TCP).
    pub security: Security,
    /// Where the dashboard listens (`host:port`); when the port is taken it takes a
    /// free one. Default: no dashboard (the command line serves it on port 8787).
    pub dashboard: Option<String>,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        SchedulerConfig {
            allowed_failures: 3,
            worker_saturation: 1.1,
            backlog_target: Duration::from_millis(2),
            max_backlog_per_thread: 1000,
            unknown_task_duration: Duration::from_millis(500),
            bandwidth_bytes_per_sec: 100e6,
            heartbeat_timeout: Duration::from_secs(10),
            no_workers_timeout: Duration::from_secs(60),
            steal_interval: Duration::from_millis(100),
            validate: false,
            state_dir: None,
            proxy_results: false,
            result_ttl: Duration::from_secs(600),
            security: Security::default(),
            dashboard: None,
        }
    }
}

/// How a worker runs. See [`WorkerConfig::new`] for the defaults.
#[derive(Clone, Debug)]
pub struct WorkerConfig {
    /// `grpc://host:port` of the scheduler.
    pub scheduler_url: String,
    /// Address the data plane listens on. Default `127.0.0.1`.
    pub listen_host: String,
    /// Port of the data plane; 0 picks a free one. Default 0.
    pub listen_port: u16,
    /// Host name peers and clients use to reach the data plane. Default: `listen_host`.
    pub advertise_host: Option<String>,
    /// Executor threads. Default: the machine's cores.
    pub threads: usize,
    /// Result store limit in bytes. Default: the machine's memory.
    pub memory_limit_bytes: u64,
    /// Directory for spill files. Default: a fresh directory under the system temp dir.
    pub spill_dir: Option<PathBuf>,
    /// Abstract resources offered, e.g. `gpu=2`. Default none.
    pub resources: Vec<(String, f64)>,
    /// Name shown in logs and the dashboard. Default: the data address.
    pub name: Option<String>,
    /// How often the worker reports when it has nothing else to say. Default 1 s.
    pub heartbeat_interval: Duration,
    /// How long a worker that lost its scheduler keeps trying to register again before
    /// it exits; `None` keeps trying forever, zero exits at once. Default: forever.
    pub reconnect_timeout: Option<Duration>,
    /// How long a retiring worker waits for its results to move before it leaves anyway.
    /// Default 60 s.
    pub drain_timeout: Duration,
    /// Cluster secret, TLS certificate and trusted certificates. Default: none (an open
    /// cluster over plain TCP).
    pub security: Security,
}

impl WorkerConfig {
    /// Defaults for a worker of the scheduler at `scheduler_url`.
    pub fn new(scheduler_url: impl Into<String>) -> Self {
        WorkerConfig {
            scheduler_url: scheduler_url.into(),
            listen_host: "127.0.0.1".into(),
            listen_port: 0,
            advertise_host: None,
            threads: available_cores(),
            memory_limit_bytes: total_memory_bytes(),
            spill_dir: None,
            resources: Vec::new(),
            name: None,
            heartbeat_interval: Duration::from_secs(1),
            reconnect_timeout: None,
            drain_timeout: Duration::from_secs(60),
            security: Security::default(),
        }
    }
}

/// Cores this process may use.
pub fn available_cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Where a local cluster keeps what outlives it: `$XDG_DATA_HOME/dusk`, else
/// `~/.local/share/dusk`, else `dusk` under the system temp dir.
pub fn default_state_dir() -> std::path::PathBuf {
    if let Some(data) = std::env::var_os("XDG_DATA_HOME").filter(|d| !d.is_empty()) {
        return std::path::PathBuf::from(data).join("dusk");
    }
    match std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        Some(home) => std::path::PathBuf::from(home).join(".local/share/dusk"),
        None => std::env::temp_dir().join("dusk"),
    }
}

/// Total physical memory (Linux's `/proc/meminfo`); 8 GiB where that cannot be read.
pub fn total_memory_bytes() -> u64 {
    use procfs::Current;
    procfs::Meminfo::current().map_or(8 << 30, |m| m.mem_total)
}

/// Resident and peak resident memory of a process, in bytes (`/proc/<pid>/status`).
pub fn process_memory_bytes(pid: u32) -> Option<(u64, u64)> {
    let status = procfs::process::Process::new(i32::try_from(pid).ok()?).ok()?.status().ok()?;
    Some((status.vmrss? * 1024, status.vmhwm? * 1024))
}

/// CPU seconds (user and system) the process `pid` has used (`/proc/<pid>/stat`).
pub fn process_cpu_seconds(pid: u32) -> Option<f64> {
    let stat = procfs::process::Process::new(i32::try_from(pid).ok()?).ok()?.stat().ok()?;
    let ticks = procfs::ticks_per_second();
    (ticks > 0).then(|| (stat.utime + stat.stime) as f64 / ticks as f64)
}

/// A duration the user typed could not be read.
#[derive(Debug, thiserror::Error)]
#[error(
    "invalid duration {text:?}: expected a number of seconds or a number with a unit (500ms, 30s, 5m, 1h)"
)]
pub struct DurationParseError {
    text: String,
}

/// Parses `30s`, `5m`, `1h 30m`, `500ms`; a bare number is seconds.
pub fn parse_duration(text: &str) -> Result<Duration, DurationParseError> {
    let trimmed = text.trim();
    if let Ok(seconds) = trimmed.parse::<f64>() {
        return Duration::try_from_secs_f64(seconds)
            .map_err(|_| DurationParseError { text: text.to_string() });
    }
    humantime::parse_duration(trimmed).map_err(|_| DurationParseError { text: text.to_string() })
}

/// A size the user typed could not be read.
#[derive(Debug, thiserror::Error)]
#[error(
    "invalid size {text:?}: expected a number of bytes with an optional unit (B, KB, MB, GB, KiB, MiB, GiB, TiB)"
)]
pub struct SizeParseError {
    text: String,
}

/// Parses `4GiB`, `512MB`, `1.5G`, `1000000` into bytes (K/M/G alone are binary units).
pub fn parse_size(text: &str) -> Result<u64, SizeParseError> {
    let err = || SizeParseError { text: text.to_string() };
    let trimmed = text.trim();
    let split = trimmed.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(split);
    let number: f64 = number.parse().map_err(|_| err())?;
    let multiplier: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "kb" => 1e3,
        "mb" => 1e6,
        "gb" => 1e9,
        "tb" => 1e12,
        "k" | "kib" => 1024.0,
        "m" | "mib" => 1024.0 * 1024.0,
        "g" | "gib" => 1024.0 * 1024.0 * 1024.0,
        "t" | "tib" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        _ => return Err(err()),
    };
    let bytes = number * multiplier;
    if !bytes.is_finite() || bytes < 0.0 {
        return Err(err());
    }
    Ok(bytes as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_decimal_and_binary_units() -> Result<(), SizeParseError> {
        assert_eq!(parse_size("1000")?, 1000);
        assert_eq!(parse_size("4GiB")?, 4 << 30);
        assert_eq!(parse_size("512MB")?, 512_000_000);
        assert_eq!(parse_size("1.5G")?, 3 << 29);
        assert!(parse_size("lots").is_err());
        assert!(parse_size("12 parsecs").is_err());
        Ok(())
    }

    #[test]
    fn durations_parse_with_units_and_bare_seconds() -> Result<(), DurationParseError> {
        assert_eq!(parse_duration("60")?, Duration::from_secs(60));
        assert_eq!(parse_duration("1.5")?, Duration::from_millis(1500));
        assert_eq!(parse_duration("30s")?, Duration::from_secs(30));
        assert_eq!(parse_duration("5m")?, Duration::from_secs(300));
        assert_eq!(parse_duration("500ms")?, Duration::from_millis(500));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("-3").is_err());
        Ok(())
    }

    #[test]
    fn machine_reports_memory_and_cores() {
        assert!(total_memory_bytes() > 0);
        assert!(available_cores() >= 1);
        assert!(process_memory_bytes(std::process::id()).is_some_and(|(rss, peak)| rss > 0 && peak >= rss));
    }
}
