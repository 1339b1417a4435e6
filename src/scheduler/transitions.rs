//! The transition function: the only code that changes a task's state.
//!
//! Event handlers never set `state` themselves; they recommend a [`Next`] for a key and
//! [`SchedulerState::transitions`] applies recommendations in order until none are left.
//! Each step may recommend more (a finished task readies its dependents, an erred task
//! fails its dependents, a released task may let its inputs go). A recommendation that
//! no longer fits the task's state when its turn comes is dropped: recommendations are
//! hints computed from a state that may have moved on.
//!
//! With `validate` on (tests), every step is followed by `validate_task` on its key.

use dusk_flight::messages::{Assignment, FailureKind, ResultLocation, TaskFailed, ValueKind};

use super::records::{TaskState, WorkerId};
use super::state::{Recs, SchedulerState, ready_event};
use crate::graph::{KeySet, TaskKey};

/// Early-assigned tasks stop being added to a worker holding this many tasks.
const MAX_EARLY_PER_WORKER: usize = 100_000;

/// Where a recommendation wants a task to go.
#[derive(Clone, Debug)]
pub(crate) enum Next {
    /// Start computing (a released task that is needed).
    Waiting,
    /// Run now: on a worker, in the root queue, or in no-worker if none fits.
    Processing,
    /// Let go if nobody needs it any more: stop it, drop its result, forget it if nothing
    /// depends on it. A no-op while it is still needed.
    Release,
    /// Stop whatever it is doing or holding (worker lost, retry, steal, failed fetch),
    /// then start again if still needed.
    Reset,
    /// Remove the record: nothing needs it or depends on it.
    Forgotten,
    /// Its run on `worker` finished (or data was scattered there).
    Memory { worker: WorkerId, nbytes: u64, kind: ValueKind, compute_secs: f64 },
    /// It failed for good.
    Erred(Box<TaskFailed>),
    /// A rejoining worker still holds its result from an earlier registration: take it
    /// instead of waiting for (or finishing) another run.
    Reclaim { worker: WorkerId, nbytes: u64, kind: ValueKind },
}

impl SchedulerState {
    /// Applies recommendations until none are left.
    pub(crate) fn transitions(&mut self, mut recs: Recs) {
        while let Some((key, next)) = recs.pop_front() {
            self.transition(&key, next, &mut recs);
        }
    }

    /// Applies one recommendation; the single place where task states change.
    fn transition(&mut self, key: &TaskKey, next: Next, recs: &mut Recs) {
        let Some(t) = self.tasks.get(key) else { return };
        let (state, needed) = (t.state, t.is_needed());
        use TaskState as S;
        let applied = match (state, next) {
            (S::Released, Next::Waiting) if needed => self.released_to_waiting(key, recs),
            (S::Waiting | S::NoWorker, Next::Processing) => self.ready_to_processing(key),
            (S::Processing, Next::Memory { worker, nbytes, kind, compute_secs }) => {
                self.processing_to_memory(key, worker, nbytes, kind, compute_secs, recs)
            }
            (S::Released, Next::Memory { worker, nbytes, kind, .. }) => {
                self.scattered_to_memory(key, worker, nbytes, kind, recs)
            }
            (S::Processing, Next::Release) if !needed => self.processing_to_released(key, recs),
            (S::Processing, Next::Reset) => self.processing_to_released(key, recs),
            (S::Waiting | S::Queued | S::NoWorker, Next::Release) if !needed => {
                self.pending_to_released(key, recs)
            }
            (S::Queued | S::NoWorker, Next::Reset) => self.pending_to_released(key, recs),
            (S::Memory, Next::Release) if !needed => self.memory_to_released(key, recs),
            (S::Memory, Next::Reset) => self.memory_to_released(key, recs),
            (S::Released | S::Erred, Next::Release) if !needed => self.maybe_forget(key, recs),
            (S::Released | S::Erred, Next::Forgotten) => self.maybe_forget(key, recs),
            (
                S::Waiting | S::Queued | S::NoWorker | S::Processing,
                Next::Reclaim { worker, nbytes, kind },
            ) => self.reclaimed_to_memory(key, worker, nbytes, kind, recs),
            (S::Released | S::Waiting | S::Queued | S::NoWorker | S::Processing, Next::Erred(failure)) => {
                self.active_to_erred(key, *failure, recs)
            }
            _ => false,
        };
        if applied {
            self.transition_count += 1;
            if self.config.validate
                && let Err(e) = self.validate_task(key)
            {
                panic!(
                    "invalid state after {} -> {:?}: {e}",
                    state.name(),
                    self.tasks.get(key).map(|t| t.state)
                );
            }
        }
    }

    fn released_to_waiting(&mut self, key: &TaskKey, recs: &mut Recs) -> bool {
        let Some(t) = self.tasks.get(key) else { return false };
        if t.task.kind == crate::graph::TaskKind::Scattered {
            let failure = TaskFailed {
                key: key.to_string(),
                kind: FailureKind::Lost as i32,
                message: format!("scattered data {key} was lost with its worker and cannot be recomputed"),
                ..Default::default()
            };
            recs.push_back((key.clone(), Next::Erred(Box::new(failure))));
            return false;
        }
        let deps = t.task.deps.clone();
        let mut waiting_on = KeySet::default();
        let mut failed_dep = None;
        for dep in deps {
            let Some(d) = self.tasks.get_mut(&dep) else { continue };
            d.waiters.insert(key.clone());
            match d.state {
                TaskState::Memory => {}
                TaskState::Erred => failed_dep = d.error.clone().map(|e| (dep.clone(), e)),
                TaskState::Released => {
                    waiting_on.insert(dep.clone());
                    recs.push_back((dep, Next::Waiting));
                }
                _ => {
                    waiting_on.insert(dep);
                }
            }
        }
        let Some(t) = self.tasks.get_mut(key) else { return false };
        self.groups.set(t, TaskState::Waiting);
        let ready = waiting_on.is_empty();
        t.waiting_on = waiting_on;
        if let Some((dep, e)) = failed_dep {
            recs.push_back((key.clone(), Next::Erred(Box::new(passed_on(key, &dep, e)))));
        } else if ready {
            recs.push_back((key.clone(), Next::Processing));
        }
        true
    }

    /// A ready task goes to a worker now, to the root queue, or to no-worker.
    fn ready_to_processing(&mut self, key: &TaskKey) -> bool {
        let Some(t) = self.tasks.get(key) else { return false };
        if !t.waiting_on.is_empty() {
            return false;
        }
        let entry = (t.task.priority, key.clone());
        let is_root = t.task.deps.is_empty();
        let was_no_worker = t.state == TaskState::NoWorker;
        let choice = if is_root { self.pick_root_worker(key) } else { self.decide_worker(key) };
        match choice {
            super::placement::Choice::Worker(worker) => {
                if was_no_worker {
                    self.no_worker.remove(&entry);
                }
                self.assign(key, worker);
            }
            super::placement::Choice::Queue => {
                if was_no_worker {
                    self.no_worker.remove(&entry);
                }
                self.queued.insert(entry);
                self.set_state(key, TaskState::Queued);
            }
            super::placement::Choice::NoWorker => {
                if was_no_worker {
                    return false;
                }
                self.no_worker.insert(entry);
                self.set_state(key, TaskState::NoWorker);
            }
        }
        true
    }

    fn set_state(&mut self, key: &TaskKey, state: TaskState) {
        if let Some(t) = self.tasks.get_mut(key) {
            self.groups.set(t, state);
        }
    }

    /// Sends a ready task to `worker`, with the dependents that can follow it there.
    pub(crate) fn assign(&mut self, key: &TaskKey, worker: WorkerId) {
        self.book(key, worker);
        self.assign_successors(key, worker);
    }

    /// Early assignment: a waiting task whose only missing input is running on `worker`
    /// goes to `worker` now, and the worker starts it the moment that input is stored.
    /// A chain or a per-item pipeline then runs at the worker's speed instead of one
    /// scheduler round trip per link. Such a task is `processing` with a non-empty
    /// `waiting_on`; if its input stops running there (reset, steal, loss), it is reset
    /// too, and it never counts as suspicious when its worker dies.
    fn assign_successors(&mut self, key: &TaskKey, worker: WorkerId) {
        let mut stack = vec![key.clone()];
        while let Some(producer) = stack.pop() {
            let Some(p) = self.tasks.get(&producer) else { continue };
            let eligible: Vec<TaskKey> =
                p.dependents.iter().filter(|d| self.can_follow(d, &producer, worker)).cloned().collect();
            for dependent in eligible {
                if self.workers.get(&worker).is_some_and(|w| w.processing.len() >= MAX_EARLY_PER_WORKER) {
                    return;
                }
                self.book(&dependent, worker);
                stack.push(dependent);
            }
        }
    }

    /// True when `dependent` waits only for `producer` and may run on `worker`.
    ///
    /// SQL stage tasks are not assigned early: they are long and read many producers, so a
    /// round trip is nothing to save, and placement should see all their inputs.
    fn can_follow(&self, dependent: &TaskKey, producer: &TaskKey, worker: WorkerId) -> bool {
        let (Some(d), Some(w)) = (self.tasks.get(dependent), self.workers.get(&worker)) else { return false };
        !matches!(d.task.kind, crate::graph::TaskKind::Stage { .. })
            && d.state == TaskState::Waiting
            && d.waiting_on.len() == 1
            && d.waiting_on.contains(producer)
            && d.task.resources.fits_in(&w.resources)
            && w.retiring.is_none()
    }

    /// Books `key` as processing on `worker` and queues its assignment.
    fn book(&mut self, key: &TaskKey, worker: WorkerId) {
        let estimate = self.estimate_duration(key);
        let Some(t) = self.tasks.get(key) else { return };
        let fetches: Vec<(WorkerId, u64)> = t
            .task
            .deps
            .iter()
            .filter_map(|d| self.tasks.get(d))
            .filter(|d| !d.who_has.contains(&worker))
            .filter_map(|d| d.who_has.iter().next().map(|from| (*from, d.nbytes)))
            .collect();
        self.traffic.assigned(worker, &fetches);
        let deps = t
            .task
            .deps
            .iter()
            .filter_map(|d| self.tasks.get(d))
            .map(|d| ResultLocation {
                key: d.task.key.to_string(),
                addrs: d
                    .who_has
                    .iter()
                    .filter_map(|w| self.workers.get(w))
                    .map(|w| w.data_addr.clone())
                    .collect(),
                nbytes: d.nbytes,
                kind: d.kind as i32,
            })
            .collect();
        let Some(t) = self.tasks.get_mut(key) else { return };
        let Some(w) = self.workers.get_mut(&worker) else { return };
        self.groups.set(t, TaskState::Processing);
        t.processing_on = Some(worker);
        t.occupancy_est = estimate;
        w.processing.insert(key.clone());
        w.occupancy += estimate;
        let assignment =
            Assignment { task: Some(t.task.to_spec()), deps, generation: t.task.priority.generation };
        self.outbox.worker(worker).compute.push(assignment);
    }

    fn processing_to_memory(
        &mut self,
        key: &TaskKey,
        worker: WorkerId,
        nbytes: u64,
        kind: ValueKind,
        compute_secs: f64,
        recs: &mut Recs,
    ) -> bool {
        self.unassign(key);
        self.record_duration(key, compute_secs);
        if let Some(t) = self.tasks.get(key) {
            self.groups.finished(t.group, (compute_secs * 1e6) as u64, nbytes);
        }
        self.put_in_memory(key, worker, nbytes, kind, recs)
    }

    fn scattered_to_memory(
        &mut self,
        key: &TaskKey,
        worker: WorkerId,
        nbytes: u64,
        kind: ValueKind,
        recs: &mut Recs,
    ) -> bool {
        let is_scattered =
            self.tasks.get(key).is_some_and(|t| t.task.kind == crate::graph::TaskKind::Scattered);
        is_scattered && self.put_in_memory(key, worker, nbytes, kind, recs)
    }

    /// A result held from an earlier registration of `worker` replaces whatever was
    /// under way for the task: a run elsewhere is cancelled (with the dependents assigned
    /// early to wait for it there), a queued entry is dropped.
    fn reclaimed_to_memory(
        &mut self,
        key: &TaskKey,
        worker: WorkerId,
        nbytes: u64,
        kind: ValueKind,
        recs: &mut Recs,
    ) -> bool {
        if !self.workers.contains_key(&worker) {
            return false;
        }
        if self.tasks.get(key).is_some_and(|t| t.state == TaskState::Processing) {
            self.reset_early_dependents(key, recs);
        }
        self.withdraw(key);
        self.put_in_memory(key, worker, nbytes, kind, recs)
    }

    /// Takes a task out of wherever it waits or runs: off its worker's books (the worker
    /// is told to cancel it), out of the root queue and the no-worker set.
    fn withdraw(&mut self, key: &TaskKey) {
        let Some(t) = self.tasks.get(key) else { return };
        let entry = (t.task.priority, key.clone());
        match t.state {
            TaskState::Processing => {
                if let Some(worker) = self.unassign(key)
                    && self.workers.contains_key(&worker)
                {
                    self.outbox.worker(worker).cancel.push(key.to_string());
                }
            }
            TaskState::Queued | TaskState::NoWorker => {
                self.queued.remove(&entry);
                self.no_worker.remove(&entry);
            }
            _ => {}
        }
    }

    /// Dependents assigned early to wait for `key`'s run must not wait for it any more.
    fn reset_early_dependents(&mut self, key: &TaskKey, recs: &mut Recs) {
        let Some(t) = self.tasks.get(key) else { return };
        for d in &t.dependents {
            if self
                .tasks
                .get(d)
                .is_some_and(|d| d.state == TaskState::Processing && d.waiting_on.contains(key))
            {
                recs.push_back((d.clone(), Next::Reset));
            }
        }
    }

    fn put_in_memory(
        &mut self,
        key: &TaskKey,
        worker: WorkerId,
        nbytes: u64,
        kind: ValueKind,
        recs: &mut Recs,
    ) -> bool {
        let Some(w) = self.workers.get_mut(&worker) else { return false };
        let Some(t) = self.tasks.get_mut(key) else { return false };
        w.has_what.insert(key.clone());
        w.nbytes += nbytes;
        t.who_has.insert(worker);
        self.groups.set(t, TaskState::Memory);
        t.ran = true;
        t.nbytes = nbytes;
        t.kind = kind;
        t.fire_and_forget = false;
        t.waiting_on.clear();
        let deps = t.task.deps.clone();
        let dependents: Vec<TaskKey> = t.dependents.iter().cloned().collect();
        if !t.who_wants.is_empty() {
            let ready = ready_event(t, &self.workers);
            for client in t.who_wants.iter().copied().collect::<Vec<_>>() {
                self.outbox.client(client).ready.push(ready.clone());
            }
        }
        self.stop_waiting_on_deps(key, &deps, recs);
        for dependent in dependents {
            let Some(d) = self.tasks.get_mut(&dependent) else { continue };
            // An early-assigned dependent (processing) just loses its wait.
            if d.waiting_on.remove(key) && d.waiting_on.is_empty() && d.state == TaskState::Waiting {
                recs.push_back((dependent, Next::Processing));
            }
        }
        recs.push_back((key.clone(), Next::Release));
        true
    }

    /// Removes `key` from its deps' waiters; deps nobody needs any more are released.
    fn stop_waiting_on_deps(&mut self, key: &TaskKey, deps: &[TaskKey], recs: &mut Recs) {
        for dep in deps {
            if let Some(d) = self.tasks.get_mut(dep)
                && d.waiters.remove(key)
                && !d.is_needed()
            {
                recs.push_back((dep.clone(), Next::Release));
            }
        }
    }

    /// Takes a processing task off its worker's books (the worker itself is not told).
    fn unassign(&mut self, key: &TaskKey) -> Option<WorkerId> {
        let t = self.tasks.get_mut(key)?;
        let worker = t.processing_on.take()?;
        t.steal_pending = false;
        let estimate = std::mem::take(&mut t.occupancy_est);
        if let Some(w) = self.workers.get_mut(&worker) {
            w.processing.remove(key);
            w.occupancy = (w.occupancy - estimate).max(0.0);
            if w.processing.is_empty() {
                w.occupancy = 0.0;
            }
        }
        Some(worker)
    }

    fn processing_to_released(&mut self, key: &TaskKey, recs: &mut Recs) -> bool {
        self.reset_early_dependents(key, recs);
        if let Some(worker) = self.unassign(key)
            && self.workers.contains_key(&worker)
        {
            self.outbox.worker(worker).cancel.push(key.to_string());
        }
        self.settle_released(key, recs)
    }

    fn pending_to_released(&mut self, key: &TaskKey, recs: &mut Recs) -> bool {
        if let Some(t) = self.tasks.get(key) {
            let entry = (t.task.priority, key.clone());
            self.queued.remove(&entry);
            self.no_worker.remove(&entry);
        }
        self.settle_released(key, recs)
    }

    /// Common tail of the moves to released: let go of inputs, then start again if still
    /// needed or forget if nothing refers to it.
    fn settle_released(&mut self, key: &TaskKey, recs: &mut Recs) -> bool {
        let Some(t) = self.tasks.get_mut(key) else { return false };
        self.groups.set(t, TaskState::Released);
        t.waiting_on.clear();
        let deps = t.task.deps.clone();
        let needed = t.is_needed();
        // Start again before the inputs are let go: a stolen or retried task still needs
        // them, and they must not be dropped (and recomputed) in between.
        if needed {
            recs.push_back((key.clone(), Next::Waiting));
        }
        self.stop_waiting_on_deps(key, &deps, recs);
        if !needed {
            recs.push_back((key.clone(), Next::Forgotten));
        }
        true
    }

    fn memory_to_released(&mut self, key: &TaskKey, recs: &mut Recs) -> bool {
        let Some(t) = self.tasks.get_mut(key) else { return false };
        let holders = std::mem::take(&mut t.who_has);
        let nbytes = t.nbytes;
        let wanted_by: Vec<_> = t.who_wants.iter().copied().collect();
        let dependents: Vec<TaskKey> = t.dependents.iter().cloned().collect();
        for worker in holders {
            if let Some(w) = self.workers.get_mut(&worker) {
                w.has_what.remove(key);
                w.nbytes = w.nbytes.saturating_sub(nbytes);
                self.outbox.worker(worker).free.push(key.to_string());
            }
        }
        for client in wanted_by {
            self.outbox.client(client).lost.push(key.to_string());
        }
        for dependent in dependents {
            let Some(d) = self.tasks.get_mut(&dependent) else { continue };
            match d.state {
                TaskState::Waiting => {
                    d.waiting_on.insert(key.clone());
                }
                TaskState::Queued | TaskState::NoWorker | TaskState::Processing => {
                    recs.push_back((dependent, Next::Reset));
                }
                _ => {}
            }
        }
        self.settle_released(key, recs)
    }

    fn active_to_erred(&mut self, key: &TaskKey, failure: TaskFailed, recs: &mut Recs) -> bool {
        self.withdraw(key);
        let Some(t) = self.tasks.get_mut(key) else { return false };
        tracing::debug!(task.key = %key, error = %failure.message, "task erred");
        self.groups.set(t, TaskState::Erred);
        t.waiting_on.clear();
        t.fire_and_forget = false;
        t.error = Some(failure.clone());
        let deps = t.task.deps.clone();
        let dependents: Vec<TaskKey> = t.dependents.iter().cloned().collect();
        for client in t.who_wants.iter().copied().collect::<Vec<_>>() {
            self.outbox.client(client).failed.push(failure.clone());
        }
        self.stop_waiting_on_deps(key, &deps, recs);
        for dependent in dependents {
            if self.tasks.get(&dependent).is_some_and(|d| d.state.is_active() || d.is_needed()) {
                recs.push_back((
                    dependent.clone(),
                    Next::Erred(Box::new(passed_on(&dependent, key, failure.clone()))),
                ));
            }
        }
        recs.push_back((key.clone(), Next::Forgotten));
        true
    }

    /// Removes a released or erred task that nobody needs and nothing depends on.
    fn maybe_forget(&mut self, key: &TaskKey, recs: &mut Recs) -> bool {
        let Some(t) = self.tasks.get(key) else { return false };
        if t.is_needed() || !t.dependents.is_empty() {
            return false;
        }
        let Some(t) = self.tasks.remove(key) else { return false };
        self.groups.forget(&t, t.ran);
        for dep in &t.task.deps {
            if let Some(d) = self.tasks.get_mut(dep) {
                d.dependents.remove(key);
                if matches!(d.state, TaskState::Released | TaskState::Erred) {
                    recs.push_back((dep.clone(), Next::Forgotten));
                }
            }
        }
        true
    }
}

/// The failure a dependent inherits from a failed input: same cause, its own key.
fn passed_on(key: &TaskKey, failed_dep: &TaskKey, mut failure: TaskFailed) -> TaskFailed {
    if failure.cause_key.is_empty() {
        failure.cause_key = failed_dep.to_string();
    }
    failure.key = key.to_string();
    if failure.kind != FailureKind::KilledWorker as i32 {
        failure.kind = FailureKind::DependencyFailed as i32;
    }
    failure
}
