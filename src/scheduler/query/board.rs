//! Which queries ran, how far each running one is, and how long they took: for
//! `dusk.query_progress` (the SQL prompt's progress line), the dashboard's queries page
//! and `/metrics`.
//!
//! The engine notes a query when it starts, its stages when it submits them, and its
//! outcome when it ends. The event loop counts the tasks still unfinished under each
//! stage (`dusk.stage_counts`); the two make the progress report. Ended queries stay
//! listed until [`QueryBoard::KEPT`] newer ones ended.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Instant;

use dusk_flight::query::{QueryProgress, RunningQuery, StageCounts};
use dusk_sql::StageGraph;
use serde::Serialize;

/// Upper bounds, in seconds, of the query duration histogram's buckets.
pub(crate) const DURATION_BUCKETS: [f64; 14] =
    [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0];

/// Longest statement text kept per query.
const MAX_TEXT: usize = 4096;

/// How a query ended, or that it has not.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum QueryState {
    Running,
    Finished,
    Failed,
    Cancelled,
}

/// One stage of a query, as the queries page draws it.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct StageSummary {
    pub(crate) id: usize,
    /// The operator at the top of its fragment, below any shuffle writer.
    pub(crate) name: String,
    pub(crate) partitions: u64,
    /// Stages it reads.
    pub(crate) inputs: Vec<usize>,
    /// Its task keys' common prefix; their group is this plus `part`.
    pub(crate) prefix: String,
    /// The fragment's plan, indented.
    pub(crate) plan: String,
}

/// One query, as the queries page lists it.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct QuerySummary {
    pub(crate) id: String,
    pub(crate) text: String,
    pub(crate) state: QueryState,
    pub(crate) error: Option<String>,
    pub(crate) started_unix_ms: u64,
    pub(crate) duration_ms: u64,
    pub(crate) stages: Vec<StageSummary>,
}

struct Entry {
    summary: QuerySummary,
    started: Instant,
}

/// Counts of ended queries and their durations, for `/metrics`.
#[derive(Clone, Debug, Default)]
pub(crate) struct QueryStats {
    pub(crate) running: u64,
    pub(crate) finished: u64,
    pub(crate) failed: u64,
    pub(crate) cancelled: u64,
    /// Ended queries at or under each of [`DURATION_BUCKETS`] (not cumulative).
    pub(crate) buckets: [u64; DURATION_BUCKETS.len()],
    pub(crate) duration_sum_secs: f64,
}

impl QueryStats {
    /// Ended queries.
    pub(crate) fn ended(&self) -> u64 {
        self.finished + self.failed + self.cancelled
    }
}

#[derive(Default)]
struct Board {
    running: HashMap<String, Entry>,
    ended: VecDeque<QuerySummary>,
    stats: QueryStats,
}

/// See the module docs.
#[derive(Default)]
pub(crate) struct QueryBoard {
    board: Mutex<Board>,
}

impl QueryBoard {
    /// Ended queries kept listed.
    pub(crate) const KEPT: usize = 200;

    /// Notes that `query` started, with its statement text; the guard marks it cancelled
    /// if dropped before [`Traced::finish`] (the client went away mid-query).
    pub(crate) fn begin(&self, query: &str, text: &str) -> Traced<'_> {
        let mut text = text.trim().to_string();
        if text.len() > MAX_TEXT {
            let mut end = MAX_TEXT;
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            text.truncate(end);
            text.push('…');
        }
        let summary = QuerySummary {
            id: query.to_string(),
            text,
            state: QueryState::Running,
            error: None,
            started_unix_ms: dusk_flight::clock::now_unix_ms(),
            duration_ms: 0,
            stages: Vec::new(),
        };
        if let Ok(mut board) = self.board.lock() {
            board.running.insert(query.to_string(), Entry { summary, started: Instant::now() });
        }
        Traced { board: self, query: query.to_string(), done: false }
    }

    /// Notes the stages `query` submits.
    pub(crate) fn stages(&self, query: &str, graph: &StageGraph) {
        let stages = graph
            .stages
            .iter()
            .map(|stage| {
                let top = match stage.writer() {
                    Some(_) => stage.plan.children().first().map(|c| (*c).clone()),
                    None => Some(stage.plan.clone()),
                };
                StageSummary {
                    id: stage.id,
                    name: top.map_or_else(String::new, |p| p.name().to_string()),
                    partitions: stage.partitions as u64,
                    inputs: stage.inputs.clone(),
                    prefix: graph.stage_prefix(stage.id),
                    plan: datafusion::physical_plan::displayable(stage.plan.as_ref())
                        .indent(false)
                        .to_string(),
                }
            })
            .collect();
        if let Ok(mut board) = self.board.lock()
            && let Some(entry) = board.running.get_mut(query)
        {
            entry.summary.stages = stages;
        }
    }

    fn end(&self, query: &str, state: QueryState, error: Option<String>) {
        let Ok(mut board) = self.board.lock() else { return };
        let Some(entry) = board.running.remove(query) else { return };
        let elapsed = entry.started.elapsed();
        let mut summary = entry.summary;
        summary.duration_ms = elapsed.as_millis() as u64;
        summary.error = error;
        let stats = &mut board.stats;
        match state {
            QueryState::Finished => stats.finished += 1,
            QueryState::Failed => stats.failed += 1,
            QueryState::Cancelled | QueryState::Running => stats.cancelled += 1,
        }
        let secs = elapsed.as_secs_f64();
        stats.duration_sum_secs += secs;
        if let Some(bucket) = DURATION_BUCKETS.iter().position(|le| secs <= *le) {
            stats.buckets[bucket] += 1;
        }
        summary.state = state;
        board.ended.push_back(summary);
        while board.ended.len() > Self::KEPT {
            board.ended.pop_front();
        }
    }

    /// The stage prefixes to count unfinished tasks under.
    pub(crate) fn prefixes(&self) -> Vec<String> {
        let Ok(board) = self.board.lock() else { return Vec::new() };
        board.running.values().flat_map(|e| e.summary.stages.iter().map(|s| s.prefix.clone())).collect()
    }

    /// The progress of the running queries that run on workers, given the unfinished
    /// tasks under each stage prefix.
    pub(crate) fn report(&self, counts: &StageCounts) -> QueryProgress {
        let Ok(board) = self.board.lock() else { return QueryProgress::default() };
        let mut queries: Vec<(Instant, RunningQuery)> = board
            .running
            .values()
            .filter(|entry| !entry.summary.stages.is_empty())
            .map(|entry| {
                let mut report = RunningQuery {
                    query: entry.summary.id.clone(),
                    elapsed_ms: entry.started.elapsed().as_millis() as u64,
                    stages: entry.summary.stages.len() as u32,
                    ..Default::default()
                };
                for stage in &entry.summary.stages {
                    let unfinished =
                        counts.unfinished.get(&stage.prefix).copied().unwrap_or(0).min(stage.partitions);
                    report.tasks += stage.partitions;
                    report.tasks_done += stage.partitions - unfinished;
                    report.stages_done += u32::from(unfinished == 0);
                }
                (entry.started, report)
            })
            .collect();
        queries.sort_by_key(|(started, _)| *started);
        QueryProgress { queries: queries.into_iter().map(|(_, q)| q).collect() }
    }

    /// Every listed query, running ones first, then the latest ended first.
    pub(crate) fn list(&self) -> Vec<QuerySummary> {
        let Ok(board) = self.board.lock() else { return Vec::new() };
        let mut running: Vec<(Instant, QuerySummary)> = board
            .running
            .values()
            .map(|e| {
                let mut summary = e.summary.clone();
                summary.duration_ms = e.started.elapsed().as_millis() as u64;
                (e.started, summary)
            })
            .collect();
        running.sort_by_key(|(started, _)| *started);
        running.into_iter().map(|(_, s)| s).chain(board.ended.iter().rev().cloned()).collect()
    }

    /// Counts and durations so far.
    pub(crate) fn stats(&self) -> QueryStats {
        let Ok(board) = self.board.lock() else { return QueryStats::default() };
        QueryStats { running: board.running.len() as u64, ..board.stats.clone() }
    }
}

/// A query being traced: see [`QueryBoard::begin`].
pub(crate) struct Traced<'a> {
    board: &'a QueryBoard,
    query: String,
    done: bool,
}

impl Traced<'_> {
    /// Records how the query ended.
    pub(crate) fn finish<T>(mut self, result: &Result<T, super::QueryError>) {
        self.done = true;
        match result {
            Ok(_) => self.board.end(&self.query, QueryState::Finished, None),
            Err(super::QueryError::Cancelled(_)) => self.board.end(&self.query, QueryState::Cancelled, None),
            Err(e) => self.board.end(&self.query, QueryState::Failed, Some(e.to_string())),
        }
    }
}

impl Drop for Traced<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.board.end(&self.query, QueryState::Cancelled, None);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stage(id: usize, partitions: u64, prefix: &str) -> StageSummary {
        StageSummary {
            id,
            name: String::new(),
            partitions,
            inputs: Vec::new(),
            prefix: prefix.to_string(),
            plan: String::new(),
        }
    }

    #[test]
    fn stages_and_tasks_are_counted_from_unfinished_tasks() {
        let board = QueryBoard::default();
        let trace = board.begin("q1", "SELECT 1");
        if let Ok(mut b) = board.board.lock() {
            let entry = b.running.get_mut("q1").expect("running");
            entry.summary.stages = vec![stage(0, 2, "sql-q1/stage-0/"), stage(1, 1, "sql-q1/stage-1/")];
        }
        let mut prefixes = board.prefixes();
        prefixes.sort();
        assert_eq!(prefixes, vec!["sql-q1/stage-0/", "sql-q1/stage-1/"]);
        let counts = StageCounts {
            unfinished: [("sql-q1/stage-0/".to_string(), 0), ("sql-q1/stage-1/".to_string(), 1)].into(),
        };
        let report = board.report(&counts);
        let q = &report.queries[0];
        assert_eq!((q.stages, q.stages_done, q.tasks, q.tasks_done), (2, 1, 3, 2));
        trace.finish::<()>(&Ok(()));
        assert!(board.report(&counts).queries.is_empty());
        let listed = board.list();
        assert_eq!((listed[0].id.as_str(), &listed[0].state), ("q1", &QueryState::Finished));
    }

    #[test]
    fn outcomes_and_durations_are_counted() {
        let board = QueryBoard::default();
        board.begin("q1", "SELECT 1").finish::<()>(&Ok(()));
        let failed: Result<(), _> = Err(super::super::QueryError::ShuttingDown);
        board.begin("q2", "SELECT 2").finish(&failed);
        drop(board.begin("q3", "SELECT 3"));
        let _running = board.begin("q4", "SELECT 4");
        let stats = board.stats();
        assert_eq!((stats.running, stats.finished, stats.failed, stats.cancelled), (1, 1, 1, 1));
        assert_eq!(stats.buckets.iter().sum::<u64>(), 3);
        let listed = board.list();
        let ids: Vec<&str> = listed.iter().map(|q| q.id.as_str()).collect();
        assert_eq!(ids, ["q4", "q3", "q2", "q1"], "running first, then the latest ended");
        assert_eq!(listed[2].error.as_deref(), Some("the scheduler is shutting down"));
    }
}
