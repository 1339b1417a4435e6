//! `/metrics` in Prometheus' text format (version 0.0.4), for scraping.
//!
//! Names follow Prometheus' conventions: a `dusk_` prefix, base units (bytes, seconds),
//! `_total` on counters; every family has its `# HELP` and `# TYPE` lines.

use std::fmt::Write;

use super::views::MetricsView;
use crate::scheduler::query::{DURATION_BUCKETS, QueryStats};

/// The content type Prometheus expects for this format.
pub(crate) const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Renders the metrics page.
pub(crate) fn render(view: &MetricsView, queries: &QueryStats) -> String {
    let mut out = Metrics(String::with_capacity(4096));
    out.family("dusk_tasks", "gauge", "Tasks on the scheduler by state.");
    for (state, n) in view.tasks.pairs() {
        out.sample("dusk_tasks", &[("state", state)], n as f64);
    }
    out.family("dusk_task_groups", "gauge", "Task groups listed on the scheduler.");
    out.sample("dusk_task_groups", &[], view.groups as f64);
    out.family("dusk_transitions_total", "counter", "Task state transitions since the scheduler started.");
    out.sample("dusk_transitions_total", &[], view.transitions as f64);
    out.family("dusk_tasks_finished_total", "counter", "Task runs finished since the scheduler started.");
    out.sample("dusk_tasks_finished_total", &[], view.finished_total as f64);
    out.family("dusk_workers", "gauge", "Connected workers.");
    out.sample("dusk_workers", &[], view.workers.len() as f64);
    out.family("dusk_worker_threads", "gauge", "Executor threads of connected workers.");
    out.sample("dusk_worker_threads", &[], view.workers.iter().map(|w| f64::from(w.threads)).sum());
    out.family("dusk_worker_memory_bytes", "gauge", "Worker memory by kind: managed (results held), unmanaged (the rest of the resident set), spilled (results on disk).");
    for w in &view.workers {
        for (kind, n) in
            [("managed", w.managed_bytes), ("unmanaged", w.unmanaged_bytes), ("spilled", w.spilled_bytes)]
        {
            out.sample("dusk_worker_memory_bytes", &[("worker", &w.name), ("kind", kind)], n as f64);
        }
    }
    out.family("dusk_worker_memory_limit_bytes", "gauge", "Worker memory limit.");
    for w in &view.workers {
        out.sample("dusk_worker_memory_limit_bytes", &[("worker", &w.name)], w.memory_limit_bytes as f64);
    }
    out.family("dusk_worker_processing", "gauge", "Tasks assigned to a worker and not yet done.");
    for w in &view.workers {
        out.sample("dusk_worker_processing", &[("worker", &w.name)], w.processing as f64);
    }
    out.family(
        "dusk_worker_cpu_percent",
        "gauge",
        "Worker CPU use between its last two heartbeats, percent of one core.",
    );
    for w in &view.workers {
        out.sample("dusk_worker_cpu_percent", &[("worker", &w.name)], f64::from(w.cpu_percent));
    }
    out.family("dusk_spilled_bytes", "gauge", "Bytes of results spilled to disk over all workers.");
    out.sample("dusk_spilled_bytes", &[], view.workers.iter().map(|w| w.spilled_bytes as f64).sum());
    out.family(
        "dusk_transferred_bytes_total",
        "counter",
        "Bytes of task inputs workers fetched from each other.",
    );
    out.sample("dusk_transferred_bytes_total", &[], view.fetched_bytes as f64);
    out.family("dusk_queries_running", "gauge", "SQL queries running now.");
    out.sample("dusk_queries_running", &[], queries.running as f64);
    out.family("dusk_queries_total", "counter", "SQL queries ended, by outcome.");
    for (outcome, n) in
        [("finished", queries.finished), ("failed", queries.failed), ("cancelled", queries.cancelled)]
    {
        out.sample("dusk_queries_total", &[("outcome", outcome)], n as f64);
    }
    out.family("dusk_query_duration_seconds", "histogram", "Duration of ended SQL queries.");
    let mut cumulative = 0;
    for (le, n) in DURATION_BUCKETS.iter().zip(queries.buckets) {
        cumulative += n;
        out.sample("dusk_query_duration_seconds_bucket", &[("le", &le.to_string())], cumulative as f64);
    }
    out.sample("dusk_query_duration_seconds_bucket", &[("le", "+Inf")], queries.ended() as f64);
    out.sample("dusk_query_duration_seconds_sum", &[], queries.duration_sum_secs);
    out.sample("dusk_query_duration_seconds_count", &[], queries.ended() as f64);
    out.0
}

struct Metrics(String);

impl Metrics {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.0, "# HELP {name} {help}");
        let _ = writeln!(self.0, "# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.0.push_str(name);
        if !labels.is_empty() {
            self.0.push('{');
            for (i, (label, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.0.push(',');
                }
                let _ = write!(self.0, "{label}=\"{}\"", escape(v));
            }
            self.0.push('}');
        }
        let _ = writeln!(self.0, " {value}");
    }
}

/// Escapes a label value as the format requires.
fn escape(value: &str) -> String {
    value.replace('\\', r"\\").replace('"', "\\\"").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped_and_histograms_are_cumulative() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
        let view = MetricsView {
            tasks: Default::default(),
            transitions: 3,
            finished_total: 2,
            fetched_bytes: 0,
            workers: Vec::new(),
            groups: 0,
        };
        let mut stats = QueryStats { finished: 2, ..Default::default() };
        stats.buckets[0] = 1;
        stats.buckets[3] = 1;
        let text = render(&view, &stats);
        assert!(text.contains("dusk_query_duration_seconds_bucket{le=\"0.005\"} 1\n"));
        assert!(text.contains("dusk_query_duration_seconds_bucket{le=\"0.05\"} 2\n"));
        assert!(text.contains("dusk_query_duration_seconds_bucket{le=\"+Inf\"} 2\n"));
        assert!(text.contains("dusk_tasks{state=\"no-worker\"} 0\n"));
    }
}
