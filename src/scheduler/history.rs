//! The task history: the most recent finished task runs, for `EXPLAIN ANALYZE` and
//! anyone who asks what ran where.
//!
//! A bounded ring: the oldest runs fall off once it holds [`TaskHistory::CAPACITY`], so
//! its memory stays flat however many tasks the cluster runs.

use std::collections::VecDeque;

use dusk_flight::messages::TaskRun;

/// Recent task runs, oldest first.
#[derive(Debug, Default)]
pub(crate) struct TaskHistory {
    runs: VecDeque<TaskRun>,
    /// Runs ever recorded: the sequence number the next run gets.
    total: u64,
}

impl TaskHistory {
    /// Runs kept; about 100 bytes each.
    pub(crate) const CAPACITY: usize = 100_000;

    /// Records a run, dropping the oldest when full.
    pub(crate) fn push(&mut self, run: TaskRun) {
        if self.runs.len() == Self::CAPACITY {
            self.runs.pop_front();
        }
        self.runs.push_back(run);
        self.total += 1;
    }

    /// Runs ever recorded (finished tasks since start).
    pub(crate) fn total(&self) -> u64 {
        self.total
    }

    /// Up to `limit` of the latest runs recorded after the first `seen` runs ever
    /// recorded, oldest first: what a viewer that has seen `seen` runs has not.
    pub(crate) fn since(&self, seen: u64, limit: usize) -> impl Iterator<Item = &TaskRun> {
        let unseen = self.total.saturating_sub(seen).min(self.runs.len() as u64) as usize;
        let take = unseen.min(limit);
        self.runs.iter().skip(self.runs.len() - take)
    }

    /// The latest `limit` runs, newest first.
    pub(crate) fn latest(&self, limit: usize) -> impl Iterator<Item = &TaskRun> {
        self.runs.iter().rev().take(limit)
    }

    /// The kept runs of tasks whose keys start with `prefix`, oldest first.
    pub(crate) fn with_prefix(&self, prefix: &str) -> Vec<TaskRun> {
        self.runs.iter().filter(|r| r.key.starts_with(prefix)).cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_latest_runs_and_filters_by_prefix() {
        let mut history = TaskHistory::default();
        for i in 0..TaskHistory::CAPACITY + 10 {
            let prefix = if i % 2 == 0 { "sql-q1/" } else { "inc-" };
            history.push(TaskRun { key: format!("{prefix}{i}"), ..Default::default() });
        }
        assert_eq!(history.runs.len(), TaskHistory::CAPACITY);
        let q1 = history.with_prefix("sql-q1/");
        assert_eq!(q1.len(), TaskHistory::CAPACITY / 2);
        assert_eq!(q1.first().map(|r| r.key.as_str()), Some("sql-q1/10"), "the oldest fell off");
        assert!(q1.iter().all(|r| r.key.starts_with("sql-q1/")));
    }

    #[test]
    fn since_returns_only_unseen_runs_up_to_a_limit() {
        let mut history = TaskHistory::default();
        for i in 0..10 {
            history.push(TaskRun { key: format!("t-{i}"), ..Default::default() });
        }
        let keys = |seen, limit| history.since(seen, limit).map(|r| r.key.clone()).collect::<Vec<_>>();
        assert_eq!(keys(7, 100), ["t-7", "t-8", "t-9"]);
        assert_eq!(keys(0, 2), ["t-8", "t-9"], "the newest when more are unseen than asked for");
        assert!(keys(10, 5).is_empty());
        assert_eq!(history.latest(1).next().map(|r| r.key.as_str()), Some("t-9"));
    }
}
