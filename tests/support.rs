//! Task functions and helpers only these tests use.
//!
//! Counters are kept per argument, so tests running at once in this binary do not see
//! each other's calls.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};
use std::time::Duration;

use dusk::Client;

static CALLS: LazyLock<Mutex<HashMap<(&'static str, i64), u64>>> = LazyLock::new(Default::default);

fn count(function: &'static str, x: i64) -> u64 {
    let mut calls = CALLS.lock().unwrap_or_else(|p| p.into_inner());
    let n = calls.entry((function, x)).or_default();
    *n += 1;
    *n
}

/// How many times `function` ran with argument `x`.
pub fn calls(function: &'static str, x: i64) -> u64 {
    CALLS.lock().unwrap_or_else(|p| p.into_inner()).get(&(function, x)).copied().unwrap_or(0)
}

dusk::task! {
    /// Returns `x` and counts the call.
    pub fn counted(x: i64) -> i64 {
        count("counted", x);
        x
    }
}

dusk::task! {
    /// Fails its first `failures` runs with this `x`, then returns `x`.
    pub fn flaky(x: i64, failures: u64) -> i64 {
        let run = count("flaky", x);
        if run <= failures {
            panic!("flaky failure number {run}");
        }
        x
    }
}

dusk::task! {
    /// Sleeps `ms`, counts the call, returns `x`: work long enough to be caught running.
    pub fn slow_counted(x: i64, ms: u64) -> i64 {
        std::thread::sleep(Duration::from_millis(ms));
        count("slow_counted", x);
        x
    }
}

/// Polls `check` every 20 ms until it is true or 30 s pass.
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !check().await {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Number of tasks the scheduler has in `state`.
pub async fn tasks_in(client: &Client, state: &str) -> u64 {
    let info = client.cluster_info().await.expect("cluster info");
    info.tasks_by_state.get(state).copied().unwrap_or(0)
}

/// The `dusk` binary cargo built for these tests.
pub fn dusk_binary() -> &'static std::path::Path {
    std::path::Path::new(env!("CARGO_BIN_EXE_dusk"))
}

/// Generates TPC-H SF 0.01 and registers its tables through `client`; the files live in
/// the returned directory.
pub async fn register_tpch(
    client: &Client,
) -> Result<tempfile::TempDir, Box<dyn std::error::Error + Send + Sync>> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().to_path_buf();
    tokio::task::spawn_blocking(move || dusk::tpch::generate(0.01, &path, 2)).await??;
    for statement in dusk::tpch::create_tables(dir.path()) {
        client.sql(&statement).await?;
    }
    Ok(dir)
}
