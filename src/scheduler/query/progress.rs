//! Which queries run on the workers and how far each is, for `dusk.query_progress`
//! (the SQL prompt's progress line).
//!
//! The engine notes each query's stages and their task counts when it submits them and
//! forgets the query when it ends; the event loop counts the tasks still unfinished
//! under each stage (`dusk.stage_counts`), and the two make the report.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use dusk_flight::query::{QueryProgress, RunningQuery, StageCounts, stage_prefix};

struct Entry {
    started: Instant,
    /// Stage prefix and its task count, in stage order.
    stages: Vec<(String, u64)>,
}

/// The running queries.
#[derive(Default)]
pub(crate) struct ProgressBoard {
    running: Mutex<HashMap<String, Entry>>,
}

impl ProgressBoard {
    /// Notes that `query` submitted the tasks `keys`.
    pub(crate) fn start<'a>(&self, query: &str, keys: impl Iterator<Item = &'a str>) {
        let mut stages: Vec<(String, u64)> = Vec::new();
        for prefix in keys.filter_map(stage_prefix) {
            match stages.iter_mut().find(|(p, _)| p == prefix) {
                Some((_, n)) => *n += 1,
                None => stages.push((prefix.to_string(), 1)),
            }
        }
        if let Ok(mut running) = self.running.lock() {
            running.insert(query.to_string(), Entry { started: Instant::now(), stages });
        }
    }

    /// Forgets `query`: it finished, failed or was cancelled.
    pub(crate) fn end(&self, query: &str) {
        if let Ok(mut running) = self.running.lock() {
            running.remove(query);
        }
    }

    /// The stage prefixes to count unfinished tasks under.
    pub(crate) fn prefixes(&self) -> Vec<String> {
        let Ok(running) = self.running.lock() else { return Vec::new() };
        running.values().flat_map(|e| e.stages.iter().map(|(p, _)| p.clone())).collect()
    }

    /// The report, given the unfinished tasks under each prefix.
    pub(crate) fn report(&self, counts: &StageCounts) -> QueryProgress {
        let Ok(running) = self.running.lock() else { return QueryProgress::default() };
        let mut queries: Vec<(Instant, RunningQuery)> = running
            .iter()
            .map(|(query, entry)| {
                let mut report = RunningQuery {
                    query: query.clone(),
                    elapsed_ms: entry.started.elapsed().as_millis() as u64,
                    stages: entry.stages.len() as u32,
                    ..Default::default()
                };
                for (prefix, tasks) in &entry.stages {
                    let unfinished = counts.unfinished.get(prefix).copied().unwrap_or(0).min(*tasks);
                    report.tasks += tasks;
                    report.tasks_done += tasks - unfinished;
                    report.stages_done += u32::from(unfinished == 0);
                }
                (entry.started, report)
            })
            .collect();
        queries.sort_by_key(|(started, _)| *started);
        QueryProgress { queries: queries.into_iter().map(|(_, q)| q).collect() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_and_tasks_are_counted_from_unfinished_tasks() {
        let board = ProgressBoard::default();
        let keys = ["sql-q1/stage-0/part-0", "sql-q1/stage-0/part-1", "sql-q1/stage-1/part-0", "inc-1"];
        board.start("q1", keys.into_iter());
        let mut prefixes = board.prefixes();
        prefixes.sort();
        assert_eq!(prefixes, vec!["sql-q1/stage-0/", "sql-q1/stage-1/"]);
        let counts = StageCounts {
            unfinished: [("sql-q1/stage-0/".to_string(), 0), ("sql-q1/stage-1/".to_string(), 1)].into(),
        };
        let report = board.report(&counts);
        let q = &report.queries[0];
        assert_eq!((q.stages, q.stages_done, q.tasks, q.tasks_done), (2, 1, 3, 2));
        board.end("q1");
        assert!(board.report(&counts).queries.is_empty());
    }
}
