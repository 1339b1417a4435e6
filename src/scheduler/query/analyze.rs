//! `EXPLAIN ANALYZE`: the stage graph with what each stage and task did when it ran.
//!
//! The numbers come from the scheduler's task history: every task's worker, run time,
//! output rows and output bytes as the worker reported them. A task that ran more than
//! once (its worker died and it was recomputed) shows every run.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::time::Duration;

use dusk_flight::messages::TaskRun;
use dusk_flight::query::SqlResult;
use dusk_sql::{Stage, StageGraph};

use super::QueryError;
use super::engine::plan_table;

/// The result of `EXPLAIN ANALYZE` for `graph`, whose tasks ran as `runs`.
pub(super) fn analyze_result(
    query: &str,
    graph: &StageGraph,
    runs: &[TaskRun],
    elapsed: Duration,
) -> Result<SqlResult, QueryError> {
    let annotate = |stage: &Stage| {
        let prefix = graph.stage_prefix(stage.id);
        let mine: Vec<&TaskRun> = runs.iter().filter(|r| r.key.starts_with(&prefix)).collect();
        stage_metrics(&mine, &prefix)
    };
    let plan = graph.display_with(annotate);
    let total_rows: u64 = final_rows(graph, runs);
    let busy: u64 = runs.iter().map(|r| r.compute_us).sum();
    let summary = format!(
        "elapsed={}, stages={}, task runs={}, task time={}, output rows={total_rows}",
        human_duration(elapsed.as_micros() as u64),
        graph.stages.len(),
        runs.len(),
        human_duration(busy),
    );
    plan_table(query, &[("Plan with Metrics", plan), ("Query", summary)])
}

/// Rows the final stage produced: the query's answer.
fn final_rows(graph: &StageGraph, runs: &[TaskRun]) -> u64 {
    let finals = graph.stage_keys(graph.final_stage().id);
    let mut latest: BTreeMap<&str, u64> = BTreeMap::new();
    for run in runs.iter().filter(|r| finals.contains(&r.key)) {
        latest.insert(&run.key, run.rows);
    }
    latest.values().sum()
}

/// A stage's totals, then one line per task run.
fn stage_metrics(runs: &[&TaskRun], prefix: &str) -> String {
    let mut out = String::new();
    let rows: u64 = runs.iter().map(|r| r.rows).sum();
    let bytes: u64 = runs.iter().map(|r| r.nbytes).sum();
    let busy: u64 = runs.iter().map(|r| r.compute_us).sum();
    let slowest = runs.iter().map(|r| r.compute_us).max().unwrap_or(0);
    let mut workers: BTreeMap<&str, usize> = BTreeMap::new();
    for run in runs {
        *workers.entry(run.worker.as_str()).or_default() += 1;
    }
    let workers: Vec<String> = workers.iter().map(|(w, n)| format!("{w} ({n})")).collect();
    let _ = writeln!(
        out,
        "  metrics: rows={rows}, bytes={}, task time={}, slowest task={}, workers: {}",
        human_bytes(bytes),
        human_duration(busy),
        human_duration(slowest),
        if workers.is_empty() { "none".to_string() } else { workers.join(", ") },
    );
    for run in runs {
        let task = run.key.strip_prefix(prefix).unwrap_or(&run.key);
        let _ = writeln!(
            out,
            "    {task} on {}: rows={}, bytes={}, time={}",
            run.worker,
            run.rows,
            human_bytes(run.nbytes),
            human_duration(run.compute_us)
        );
    }
    out
}

/// `n` bytes in the largest unit that keeps it above one.
fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 { format!("{n} B") } else { format!("{value:.1} {}", UNITS[unit]) }
}

/// `us` microseconds in µs, ms or s, with three significant digits or so.
fn human_duration(us: u64) -> String {
    match us {
        0..1_000 => format!("{us} µs"),
        1_000..1_000_000 => format!("{:.1} ms", us as f64 / 1e3),
        _ => format!("{:.3} s", us as f64 / 1e6),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_read_as_people_write_them() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(3 << 30), "3.0 GiB");
    }

    #[test]
    fn durations_read_as_people_write_them() {
        assert_eq!(human_duration(850), "850 µs");
        assert_eq!(human_duration(12_345), "12.3 ms");
        assert_eq!(human_duration(1_234_567), "1.235 s");
    }
}
