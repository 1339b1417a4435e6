//! Membership: workers joining, rejoining, leaving, retiring, and work no worker can run.
//!
//! A worker outlives its connection to the scheduler. Each registration gets a fresh
//! [`WorkerId`] and its own stream, and that id is the registration's epoch: every
//! assignment goes out on one registration's stream and every report comes back tagged
//! with its id, so a report from an earlier registration can never be mistaken for one
//! of the current one (the event loop drops updates of ids it no longer knows). When a
//! worker reconnects it voids its own task table and says which results it still holds;
//! [`SchedulerState::add_worker`] takes back those still wanted (no recomputation) and
//! frees the rest. A registration of a name that is still on the books (the old stream's
//! loss has not been noticed yet) ends the old one first.
//!
//! Leaving comes in two kinds. A worker that dies or goes silent is removed at once
//! ([`SchedulerState::remove_worker`]): its running tasks start again elsewhere and the
//! results only it held are recomputed from lineage. A worker that retires (SIGTERM,
//! `dusk.retire_worker`) drains instead ([`SchedulerState::retire_worker`]): it gets no
//! new tasks, gives back those that have not started, and its results still wanted are
//! copied to peers; when nothing it holds is needed from it any more it is told to shut
//! down and removed, and nothing is recomputed.
//!
//! Work that no live worker can run (none alive, or none offering its resources) waits
//! at most `no_workers_timeout` ([`SchedulerState::check_unrunnable`]) and then errs with
//! a message that names the timeout.

use std::time::{Duration, Instant};

use dusk_flight::messages::{
    FailureKind, ResultLocation, TaskFailed, TaskFinished, ValueKind, WorkerHello, WorkerInstructions,
};

use super::records::{TaskState, WorkerId, WorkerRecord};
use super::state::{Recs, SchedulerState, ready_event};
use super::transitions::Next;
use crate::graph::TaskKey;

/// A retiring worker asks a peer to copy a result again after this long without news.
const ACQUIRE_RETRY: Duration = Duration::from_secs(5);

/// How a worker's drain stands, while it retires.
#[derive(Debug, Default)]
pub(crate) struct Retirement {
    /// Results asked of peers, and when.
    pub(crate) asked: crate::graph::KeyMap<Instant>,
}

impl SchedulerState {
    /// A worker registered; ready tasks that had nowhere to go are placed again.
    ///
    /// `hello.held` lists results it kept from an earlier registration: those still
    /// wanted are taken back as they are, the rest are freed. An earlier registration of
    /// the same worker (name and address) still on the books ends here, after its results
    /// have moved over. Callers check [`Self::refuse`] first.
    pub(crate) fn add_worker(&mut self, mut hello: WorkerHello, now: Instant) -> WorkerId {
        let id = WorkerId(self.next_worker);
        self.next_worker += 1;
        let name = if hello.name.is_empty() { hello.data_addr.clone() } else { hello.name };
        let held = std::mem::take(&mut hello.held);
        let previous =
            self.workers.values().find(|w| w.name == name && w.data_addr == hello.data_addr).map(|w| w.id);
        let record = WorkerRecord {
            id,
            name,
            data_addr: hello.data_addr,
            threads: hello.threads.max(1),
            memory_limit_bytes: hello.memory_limit_bytes,
            resources: hello.resources.into_iter().collect(),
            processing: Default::default(),
            occupancy: 0.0,
            has_what: Default::default(),
            nbytes: 0,
            metrics: Default::default(),
            last_seen: now,
            pid: hello.pid,
            retiring: None,
        };
        self.outbox.worker(id).welcome = Some(id.0);
        self.workers.insert(id, record);
        self.unrunnable_since = None;
        self.take_back(id, held);
        if let Some(previous) = previous {
            tracing::info!(worker.id = %previous, worker.new_id = %id, "worker registered again; its earlier registration ends");
            self.remove_worker(previous);
        }
        let recs: Recs = self.no_worker.iter().map(|(_, k)| (k.clone(), Next::Processing)).collect();
        self.transitions(recs);
        self.fill_queue();
        id
    }

    /// Why a worker may not register: its name is taken by a worker at another address
    /// (two workers given one `--name` would otherwise end each other's registration
    /// in turn). A worker rejoining from its own address is not refused.
    pub(crate) fn refuse(&self, hello: &WorkerHello) -> Option<String> {
        let name = if hello.name.is_empty() { &hello.data_addr } else { &hello.name };
        self.workers.values().find(|w| &w.name == name && w.data_addr != hello.data_addr).map(|w| {
            format!(
                "a worker named {name:?} is already connected from {}; worker names must be unique \
                 (this one is at {})",
                w.data_addr, hello.data_addr
            )
        })
    }

    /// Takes back results a rejoining worker still holds: a result in memory elsewhere
    /// gains a replica; one still on its way (waiting, queued, running elsewhere) is done
    /// already; anything else is no longer wanted and is freed.
    fn take_back(&mut self, id: WorkerId, held: Vec<TaskFinished>) {
        let mut recs = Recs::new();
        let mut kept = 0usize;
        for h in held {
            let key = self.key(&h.key);
            match self.tasks.get(&key).map(|t| t.state) {
                Some(TaskState::Memory) => {
                    self.on_replica(id, key);
                    kept += 1;
                }
                Some(s) if s.is_active() => {
                    let kind = ValueKind::try_from(h.kind).unwrap_or(ValueKind::Bytes);
                    recs.push_back((key, Next::Reclaim { worker: id, nbytes: h.nbytes, kind }));
                    kept += 1;
                }
                _ => self.outbox.worker(id).free.push(h.key),
            }
        }
        if kept > 0 {
            tracing::info!(worker.id = %id, results.kept = kept, "rejoining worker keeps results still wanted");
        }
        self.transitions(recs);
    }

    /// A worker left or went silent: its running tasks start over elsewhere and results
    /// only it held are recomputed from lineage if still needed.
    pub(crate) fn remove_worker(&mut self, id: WorkerId) {
        let Some(worker) = self.workers.remove(&id) else { return };
        tracing::info!(worker.id = %id, worker.addr = %worker.data_addr, tasks.processing = worker.processing.len(),
            tasks.held = worker.has_what.len(), "worker removed");
        self.outbox.workers.remove(&id);
        self.traffic.remove_worker(id);
        let mut recs = Recs::new();
        // Lost results first, so tasks restarted below already wait for their recomputation.
        // Results kept elsewhere stay; clients holding them learn where they are now.
        for key in worker.has_what {
            let Some(t) = self.tasks.get_mut(&key) else { continue };
            t.who_has.remove(&id);
            if t.state != TaskState::Memory {
                continue;
            }
            if t.who_has.is_empty() {
                recs.push_back((key, Next::Reset));
            } else if !t.who_wants.is_empty() {
                let ready = ready_event(t, &self.workers);
                for client in t.who_wants.iter().copied().collect::<Vec<_>>() {
                    self.outbox.client(client).ready.push(ready.clone());
                }
            }
        }
        for key in worker.processing {
            let Some(t) = self.tasks.get_mut(&key) else { continue };
            t.processing_on = None;
            if !t.waiting_on.is_empty() || worker.retiring.is_some() {
                // Assigned early and still waiting for its input (it never ran there), or
                // handed back by a worker that retired: no suspicion on the task.
                recs.push_back((key, Next::Reset));
                continue;
            }
            t.killed_on.push(worker.name.clone());
            if t.killed_on.len() as u32 > self.config.allowed_failures {
                let message = format!(
                    "task {key} was running on {} workers that died: {}",
                    t.killed_on.len(),
                    t.killed_on.join(", ")
                );
                let failure = TaskFailed {
                    key: key.to_string(),
                    kind: FailureKind::KilledWorker as i32,
                    message,
                    worker: worker.name.clone(),
                    function: t.task.function().to_string(),
                    cause_key: String::new(),
                };
                recs.push_back((key, Next::Erred(Box::new(failure))));
            } else {
                recs.push_back((key, Next::Reset));
            }
        }
        self.transitions(recs);
        self.fill_queue();
    }

    /// Removes workers that have not been heard from within the heartbeat timeout.
    pub(crate) fn check_heartbeats(&mut self, now: Instant) -> Vec<WorkerId> {
        let timeout = self.config.heartbeat_timeout;
        let silent: Vec<WorkerId> = self
            .workers
            .values()
            .filter(|w| now.saturating_duration_since(w.last_seen) > timeout)
            .map(|w| w.id)
            .collect();
        for id in &silent {
            tracing::warn!(worker.id = %id, timeout.ms = timeout.as_millis() as u64, "worker missed its heartbeat deadline");
            self.remove_worker(*id);
        }
        silent
    }

    // ----- retiring ------------------------------------------------------------------

    /// Starts draining a worker: no new tasks; those not started come back (steal
    /// requests); results still wanted that only it holds are copied to peers. False if
    /// no such worker is connected.
    pub(crate) fn retire_worker(&mut self, id: WorkerId, now: Instant) -> bool {
        let Some(w) = self.workers.get_mut(&id) else { return false };
        if w.retiring.is_some() {
            return true;
        }
        tracing::info!(worker.id = %id, worker.name = %w.name, tasks.processing = w.processing.len(),
            tasks.held = w.has_what.len(), "worker retiring");
        w.retiring = Some(Retirement::default());
        let steal: Vec<TaskKey> = w.processing.iter().cloned().collect();
        for key in &steal {
            if let Some(t) = self.tasks.get_mut(key) {
                t.steal_pending = true;
            }
        }
        let frame = self.outbox.worker(id);
        frame.retire_started = true;
        frame.steal.extend(steal.iter().map(|k| k.to_string()));
        self.drain_step(id, now);
        true
    }

    /// The id of the worker with this name or data address.
    pub(crate) fn worker_named(&self, name: &str) -> Option<WorkerId> {
        self.workers.values().find(|w| w.name == name || w.data_addr == name).map(|w| w.id)
    }

    /// Moves retiring workers' drains along (see [`SchedulerState::retired`]).
    pub(crate) fn advance_retirements(&mut self, now: Instant) {
        let retiring: Vec<WorkerId> =
            self.workers.values().filter(|w| w.retiring.is_some()).map(|w| w.id).collect();
        for id in retiring {
            self.drain_step(id, now);
        }
    }

    /// One step of a drain: asks peers for copies of what only `id` holds and is still
    /// wanted; when nothing is left to wait for, removes the worker and lists it in
    /// `retired`, for the event loop to tell it to shut down.
    fn drain_step(&mut self, id: WorkerId, now: Instant) {
        let Some(w) = self.workers.get(&id) else { return };
        let mut pending = false;
        let mut asks: Vec<(WorkerId, ResultLocation)> = Vec::new();
        let targets: Vec<&WorkerRecord> =
            self.workers.values().filter(|p| p.id != id && p.retiring.is_none()).collect();
        for key in &w.has_what {
            let Some(t) = self.tasks.get(key) else { continue };
            if !t.is_needed() || t.who_has.iter().any(|h| *h != id) {
                continue;
            }
            if targets.is_empty() {
                // Nowhere to copy it: the drain ends and the result is recomputed later.
                continue;
            }
            pending = true;
            if t.kind == ValueKind::Buckets {
                // A shuffle output moves only as its readers read it: wait for them.
                continue;
            }
            let asked = w.retiring.as_ref().and_then(|r| r.asked.get(key));
            if asked.is_some_and(|at| now.saturating_duration_since(*at) < ACQUIRE_RETRY) {
                continue;
            }
            let spread = asks.len() + key.as_str().len();
            let target = targets[spread % targets.len()].id;
            let location = ResultLocation {
                key: key.to_string(),
                addrs: vec![w.data_addr.clone()],
                nbytes: t.nbytes,
                kind: t.kind as i32,
            };
            asks.push((target, location));
        }
        let done = !pending && w.processing.is_empty();
        for (target, location) in asks {
            if let Some(r) = self.workers.get_mut(&id).and_then(|w| w.retiring.as_mut()) {
                r.asked.insert(TaskKey::from(location.key.clone()), now);
            }
            self.outbox.worker(target).acquire.push(location);
        }
        if done {
            tracing::info!(worker.id = %id, "worker drained; telling it to shut down");
            self.remove_worker(id);
            self.retired.push(id);
        }
    }

    // ----- work no worker can run ----------------------------------------------------

    /// Errs tasks that no live worker could run for longer than `no_workers_timeout`:
    /// tasks in no-worker, and queued root tasks while no worker is alive at all.
    pub(crate) fn check_unrunnable(&mut self, now: Instant) {
        let stalled = !self.no_worker.is_empty() || (self.workers.is_empty() && !self.queued.is_empty());
        if !stalled {
            self.unrunnable_since = None;
            return;
        }
        let since = *self.unrunnable_since.get_or_insert(now);
        let timeout = self.config.no_workers_timeout;
        if now.saturating_duration_since(since) < timeout {
            return;
        }
        let no_workers = self.workers.is_empty();
        let mut stuck: Vec<TaskKey> = self.no_worker.iter().map(|(_, k)| k.clone()).collect();
        if no_workers {
            stuck.extend(self.queued.iter().map(|(_, k)| k.clone()));
        }
        tracing::warn!(
            tasks = stuck.len(),
            workers = self.workers.len(),
            timeout.ms = timeout.as_millis() as u64,
            "failing tasks no worker could run within the no-workers timeout"
        );
        let mut recs = Recs::new();
        for key in stuck {
            let Some(t) = self.tasks.get(&key) else { continue };
            let all_busy = self.workers.values().all(|w| !w.is_running());
            let message = if no_workers {
                format!(
                    "no worker was alive to run it for {} s (the scheduler's --no-workers-timeout)",
                    timeout.as_secs()
                )
            } else if all_busy && t.task.resources.is_empty() {
                format!(
                    "every worker was paused for memory or retiring for {} s (the scheduler's \
                     --no-workers-timeout)",
                    timeout.as_secs()
                )
            } else {
                let wants: Vec<String> = t
                    .task
                    .resources
                    .to_map::<Vec<(String, f64)>>()
                    .into_iter()
                    .map(|(name, amount)| format!("{name}={amount}"))
                    .collect();
                format!(
                    "no live worker offers the resources it needs ({}) after {} s (the scheduler's \
                     --no-workers-timeout)",
                    wants.join(", "),
                    timeout.as_secs()
                )
            };
            let failure = TaskFailed {
                key: key.to_string(),
                kind: FailureKind::NoWorkers as i32,
                message,
                function: t.task.function().to_string(),
                ..Default::default()
            };
            recs.push_back((key, Next::Erred(Box::new(failure))));
        }
        self.transitions(recs);
        self.unrunnable_since = None;
    }
}

/// The frame that tells a worker to leave.
pub(crate) fn shutdown_frame() -> WorkerInstructions {
    WorkerInstructions { shutdown: true, ..Default::default() }
}

#[cfg(test)]
#[path = "membership_tests.rs"]
mod tests;
