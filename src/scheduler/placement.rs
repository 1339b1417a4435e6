//! Placement: chooses the worker that runs a ready task, and when root tasks leave the
//! scheduler's queue.
//!
//! A task with inputs goes to the worker where it can start earliest: the work already
//! queued there (occupancy, in estimated seconds per thread) plus the time to fetch the
//! input bytes that live elsewhere at the assumed bandwidth. So a reduction runs where
//! most of its inputs are, unless that worker is far busier. Ties go to the worker with
//! fewer tasks per thread, then the lowest id, so the same state always gives the same
//! answer and tests can assert it.
//!
//! Root tasks (no inputs) are queued on the scheduler and handed out only while a worker
//! has room (Dask's root-task queuing): on a wide graph memory stays flat because inputs
//! are not all loaded at once. Room is `worker-saturation` tasks per thread, raised for
//! task groups measured to be short so each thread holds about `backlog_target` of work
//! and never idles waiting for a round trip.
//!
//! This module only decides; `transitions::assign` books and sends the assignment and
//! `stealing` may move it later.

use super::records::{WorkerId, WorkerRecord};
use super::state::SchedulerState;
use crate::graph::TaskKey;

/// Where a ready task goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Choice {
    /// To this worker now.
    Worker(WorkerId),
    /// Into the root queue until a worker has room.
    Queue,
    /// Nowhere: no live worker offers what it needs.
    NoWorker,
}

/// Weight of an EWMA update of a group's duration.
const DURATION_ALPHA: f64 = 0.5;

impl SchedulerState {
    /// Best worker for a task with inputs, by earliest estimated start.
    pub(crate) fn decide_worker(&self, key: &TaskKey) -> Choice {
        let Some(t) = self.tasks.get(key) else { return Choice::NoWorker };
        let bandwidth = self.config.bandwidth_bytes_per_sec.max(1.0);
        let best = self
            .candidates(key)
            .map(|w| {
                let missing: u64 = t
                    .task
                    .deps
                    .iter()
                    .filter_map(|d| self.tasks.get(d))
                    .filter(|d| !d.who_has.contains(&w.id))
                    .map(|d| d.nbytes)
                    .sum();
                let start = w.occupancy / f64::from(w.threads) + missing as f64 / bandwidth;
                (start, load(w), w.id)
            })
            .min_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
        best.map_or(Choice::NoWorker, |(_, _, id)| Choice::Worker(id))
    }

    /// Least-loaded worker with room for a root task, or the queue if all are full.
    pub(crate) fn pick_root_worker(&self, key: &TaskKey) -> Choice {
        let group = key.group();
        let mut any = false;
        let best = self
            .candidates(key)
            .inspect(|_| any = true)
            .filter(|w| w.processing.len() < self.worker_limit(w, group))
            .min_by(|a, b| {
                load(a).partial_cmp(&load(b)).unwrap_or(std::cmp::Ordering::Equal).then(a.id.cmp(&b.id))
            })
            .map(|w| w.id);
        match (best, any) {
            (Some(id), _) => Choice::Worker(id),
            (None, true) => Choice::Queue,
            (None, false) => Choice::NoWorker,
        }
    }

    /// Live, unpaused workers offering the task's resources.
    fn candidates<'a>(&'a self, key: &TaskKey) -> impl Iterator<Item = &'a WorkerRecord> + 'a {
        let resources = self.tasks.get(key).map(|t| &t.task.resources);
        self.workers.values().filter(move |w| {
            w.is_running() && resources.is_none_or(|r| r.is_empty() || r.fits_in(&w.resources))
        })
    }

    /// How many tasks of `group` a worker may hold before root tasks wait on the scheduler.
    pub(crate) fn worker_limit(&self, w: &WorkerRecord, group: &str) -> usize {
        let saturation = self.config.worker_saturation.max(0.0);
        let per_thread = match self.group_durations.get(group) {
            Some(&secs) if secs > 0.0 => (self.config.backlog_target.as_secs_f64() / secs)
                .clamp(saturation, f64::from(self.config.max_backlog_per_thread).max(saturation)),
            Some(_) => f64::from(self.config.max_backlog_per_thread).max(saturation),
            None => saturation,
        };
        ((per_thread * f64::from(w.threads)).ceil() as usize).max(1)
    }

    /// Hands queued root tasks to workers while they have room, best priority first.
    pub(crate) fn fill_queue(&mut self) {
        while let Some((_, key)) = self.queued.first().cloned() {
            match self.pick_root_worker(&key) {
                Choice::Worker(worker) => {
                    self.queued.pop_first();
                    self.assign(&key, worker);
                    self.transition_count += 1;
                }
                Choice::Queue | Choice::NoWorker => break,
            }
        }
    }

    /// Estimated seconds one run of this task takes.
    pub(crate) fn estimate_duration(&self, key: &TaskKey) -> f64 {
        self.group_durations
            .get(key.group())
            .copied()
            .unwrap_or(self.config.unknown_task_duration.as_secs_f64())
    }

    /// Learns from a finished run.
    pub(crate) fn record_duration(&mut self, key: &TaskKey, secs: f64) {
        match self.group_durations.get_mut(key.group()) {
            Some(d) => *d = DURATION_ALPHA * secs + (1.0 - DURATION_ALPHA) * *d,
            None => {
                self.group_durations.insert(key.group().to_string(), secs);
            }
        }
    }
}

/// Tasks per thread.
fn load(w: &WorkerRecord) -> f64 {
    w.processing.len() as f64 / f64::from(w.threads)
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use dusk_flight::messages::{Arg, ClientUpdate, TaskSpec, WorkerHello, arg};

    use super::*;
    use crate::config::SchedulerConfig;
    use crate::scheduler::records::TaskState;

    fn hello(addr: &str, threads: u32) -> WorkerHello {
        WorkerHello { data_addr: addr.into(), threads, ..Default::default() }
    }

    fn call(key: &str, deps: &[&str]) -> TaskSpec {
        TaskSpec {
            key: key.into(),
            function: "inc".into(),
            args: deps.iter().map(|d| Arg { value: Some(arg::Value::Key(d.to_string())) }).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn placement_prefers_worker_holding_most_input_bytes() {
        let mut s = SchedulerState::new(SchedulerConfig { validate: true, ..Default::default() });
        let a = s.add_worker(hello("a", 1), Instant::now());
        let b = s.add_worker(hello("b", 1), Instant::now());
        let client = s.add_client();
        s.client_update(
            client,
            ClientUpdate {
                submit: vec![call("x-1", &[]), call("y-1", &["x-1"])],
                want: vec!["y-1".into()],
                ..Default::default()
            },
        );
        let on = s.tasks["x-1"].processing_on.expect("x-1 runs somewhere");
        let update = dusk_flight::messages::WorkerUpdate {
            finished: vec![dusk_flight::messages::TaskFinished {
                key: "x-1".into(),
                nbytes: 1 << 30,
                ..Default::default()
            }],
            ..Default::default()
        };
        s.worker_update(on, update, Instant::now());
        assert_eq!(s.tasks["y-1"].state, TaskState::Processing);
        assert_eq!(s.tasks["y-1"].processing_on, Some(on));
        assert!(on == a || on == b);
        s.validate().expect("valid");
    }

    #[test]
    fn root_tasks_queue_beyond_saturation_until_durations_are_known() {
        let mut s = SchedulerState::new(SchedulerConfig { validate: true, ..Default::default() });
        let w = s.add_worker(hello("a", 2), Instant::now());
        let client = s.add_client();
        let specs: Vec<_> = (0..10).map(|i| call(&format!("inc-{i}"), &[])).collect();
        let want = specs.iter().map(|t| t.key.clone()).collect();
        s.client_update(client, ClientUpdate { submit: specs, want, ..Default::default() });
        // ceil(2 threads * 1.1) = 3 on the worker, the rest queued.
        assert_eq!(s.workers[&w].processing.len(), 3);
        assert_eq!(s.queued.len(), 7);
        s.record_duration(&TaskKey::from("inc-0"), 1e-6);
        s.fill_queue();
        assert_eq!(s.workers[&w].processing.len(), 10);
        s.validate().expect("valid");
    }
}
