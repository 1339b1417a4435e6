//! Work stealing: idle workers take queued tasks from busy ones.
//!
//! Placement decides with estimates that go stale: durations turn out longer, workers
//! join. Every `steal_interval` the scheduler looks for workers with idle threads and
//! workers holding more tasks than threads, and asks the busiest to give back tasks that
//! have not started and are worth moving (their estimated run time exceeds twice the
//! cost of moving their inputs). The victim answers with the keys it gave up (`stolen`),
//! which placement sends elsewhere, or refuses those already running. A task is never
//! run twice because of a steal: the victim drops a stolen task before answering.

use dusk_flight::messages::WorkerInstructions;

use super::records::WorkerId;
use super::state::SchedulerState;
use crate::graph::TaskKey;

/// Tasks shorter than this are not worth a steal round trip.
const MIN_STEAL_SECS: f64 = 0.005;

impl SchedulerState {
    /// Sends steal requests from busy workers for idle workers' free threads.
    pub(crate) fn balance(&mut self) {
        let idle_threads: usize = self
            .workers
            .values()
            .filter(|w| w.is_running())
            .map(|w| (w.threads as usize).saturating_sub(w.processing.len()))
            .sum();
        if idle_threads == 0 {
            return;
        }
        let mut victims: Vec<(f64, WorkerId)> = self
            .workers
            .values()
            .filter(|w| w.processing.len() > w.threads as usize)
            .map(|w| (w.occupancy / f64::from(w.threads), w.id))
            .collect();
        victims.sort_by(|a, b| b.partial_cmp(a).unwrap_or(std::cmp::Ordering::Equal));
        let bandwidth = self.config.bandwidth_bytes_per_sec.max(1.0);
        let mut budget = idle_threads;
        for (_, victim) in victims {
            if budget == 0 {
                break;
            }
            let Some(w) = self.workers.get(&victim) else { continue };
            let spare = w.processing.len() - w.threads as usize;
            let mut candidates: Vec<(crate::graph::Priority, TaskKey)> = w
                .processing
                .iter()
                .filter_map(|k| self.tasks.get(k))
                .filter(|t| !t.steal_pending && t.waiting_on.is_empty())
                .filter(|t| {
                    let estimate = self.estimate_duration(&t.task.key);
                    let move_secs: f64 = t
                        .task
                        .deps
                        .iter()
                        .filter_map(|d| self.tasks.get(d))
                        .map(|d| d.nbytes as f64 / bandwidth)
                        .sum();
                    estimate >= MIN_STEAL_SECS && estimate > 2.0 * move_secs
                })
                .map(|t| (t.task.priority, t.task.key.clone()))
                .collect();
            // Give away the tasks the victim would run last.
            candidates.sort_unstable_by_key(|c| std::cmp::Reverse(c.0));
            candidates.truncate(spare.min(budget));
            budget -= candidates.len();
            if candidates.is_empty() {
                continue;
            }
            let frame: &mut WorkerInstructions = self.outbox.worker(victim);
            for (_, key) in &candidates {
                frame.steal.push(key.to_string());
            }
            for (_, key) in candidates {
                if let Some(t) = self.tasks.get_mut(&key) {
                    t.steal_pending = true;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use dusk_flight::messages::{Arg, ClientUpdate, Scattered, TaskSpec, WorkerHello, WorkerUpdate, arg};

    use super::*;
    use crate::config::SchedulerConfig;

    #[test]
    fn idle_worker_steals_tasks_that_have_not_started() {
        let mut s = SchedulerState::new(SchedulerConfig { validate: true, ..Default::default() });
        let busy = s.add_worker(
            WorkerHello { data_addr: "busy".into(), threads: 1, ..Default::default() },
            Instant::now(),
        );
        let client = s.add_client();
        let scattered = vec![Scattered { key: "s".into(), worker_addr: "busy".into(), nbytes: 10, kind: 0 }];
        s.client_update(client, ClientUpdate { scattered, ..Default::default() });
        s.record_duration(&TaskKey::from("long-0"), 1.0);
        let specs: Vec<TaskSpec> = (0..10)
            .map(|i| TaskSpec {
                key: format!("long-{i}"),
                function: "f".into(),
                args: vec![Arg { value: Some(arg::Value::Key("s".into())) }],
                ..Default::default()
            })
            .collect();
        let want = specs.iter().map(|t| t.key.clone()).collect();
        s.client_update(client, ClientUpdate { submit: specs, want, ..Default::default() });
        assert_eq!(s.workers[&busy].processing.len(), 10);
        let idle = s.add_worker(
            WorkerHello { data_addr: "idle".into(), threads: 2, ..Default::default() },
            Instant::now(),
        );
        s.outbox.take();

        s.balance();
        let requested = s.outbox.take().workers.remove(&busy).map(|f| f.steal).unwrap_or_default();
        assert_eq!(requested.len(), 2, "one steal per idle thread");
        // A second round does not ask for the same tasks again.
        s.balance();
        let again = s.outbox.take().workers.remove(&busy).map(|f| f.steal).unwrap_or_default();
        assert!(again.iter().all(|k| !requested.contains(k)));

        let (stolen, refused) = (vec![requested[0].clone()], vec![requested[1].clone()]);
        s.worker_update(
            busy,
            WorkerUpdate { stolen, steal_refused: refused, ..Default::default() },
            Instant::now(),
        );
        assert_eq!(s.tasks[requested[0].as_str()].processing_on, Some(idle));
        assert_eq!(s.tasks[requested[1].as_str()].processing_on, Some(busy));
        s.validate().expect("valid");
    }
}
