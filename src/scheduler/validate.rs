//! Invariants of the scheduler's state, checked by tests after every step.
//!
//! `validate_task` checks what must hold for one task right after any transition of it;
//! `validate` checks everything, including links between records, and holds whenever the
//! scheduler is between events. A failure is a bug in the transition code.

use super::groups::state_index;
use super::records::TaskState;
use super::state::SchedulerState;
use crate::graph::{KeySet, TaskKey};

/// A broken invariant, described for the person fixing it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {problem}")]
pub(crate) struct InvariantViolation {
    key: String,
    problem: String,
}

fn check(ok: bool, key: &str, problem: impl FnOnce() -> String) -> Result<(), InvariantViolation> {
    if ok { Ok(()) } else { Err(InvariantViolation { key: key.to_string(), problem: problem() }) }
}

impl SchedulerState {
    /// What must hold for one task after any transition of it.
    pub(crate) fn validate_task(&self, key: &TaskKey) -> Result<(), InvariantViolation> {
        let Some(t) = self.tasks.get(key) else { return Ok(()) };
        let k = key.as_str();
        let entry = (t.task.priority, key.clone());
        check((t.state == TaskState::Processing) == t.processing_on.is_some(), k, || {
            format!("state {} but processing_on {:?}", t.state.name(), t.processing_on)
        })?;
        if let Some(w) = t.processing_on {
            let on_worker = self.workers.get(&w).is_some_and(|w| w.processing.contains(key));
            check(on_worker, k, || format!("processing on {w}, which does not list it"))?;
        }
        check((t.state == TaskState::Memory) != t.who_has.is_empty(), k, || {
            format!("state {} but held by {:?}", t.state.name(), t.who_has)
        })?;
        for w in &t.who_has {
            let listed = self.workers.get(w).is_some_and(|w| w.has_what.contains(key));
            check(listed, k, || format!("held by {w}, which does not list it"))?;
        }
        check((t.state == TaskState::Queued) == self.queued.contains(&entry), k, || {
            format!("state {} disagrees with the root queue", t.state.name())
        })?;
        check((t.state == TaskState::NoWorker) == self.no_worker.contains(&entry), k, || {
            format!("state {} disagrees with the no-worker set", t.state.name())
        })?;
        check((t.state == TaskState::Erred) == t.error.is_some(), k, || {
            format!("state {} but error {:?}", t.state.name(), t.error)
        })?;
        check(
            t.waiting_on.is_empty() || matches!(t.state, TaskState::Waiting | TaskState::Processing),
            k,
            || format!("state {} but waiting on {:?}", t.state.name(), t.waiting_on),
        )?;
        check(t.waiting_on.iter().all(|d| t.task.deps.contains(d)), k, || {
            "waits on a non-dependency".into()
        })?;
        Ok(())
    }

    /// Every invariant; holds between events.
    pub(crate) fn validate(&self) -> Result<(), InvariantViolation> {
        for (key, t) in &self.tasks {
            self.validate_task(key)?;
            let k = key.as_str();
            for dep in &t.task.deps {
                let d = self.tasks.get(dep);
                check(d.is_some(), k, || format!("dependency {dep} was forgotten"))?;
                let d = d.expect("checked above");
                check(d.dependents.contains(key), k, || format!("{dep} does not list it as a dependent"))?;
                check(d.waiters.contains(key) == t.state.is_active(), k, || {
                    format!("state {} but waiter of {dep} is {}", t.state.name(), d.waiters.contains(key))
                })?;
            }
            for dependent in &t.dependents {
                let d = self.tasks.get(dependent);
                check(d.is_some_and(|d| d.task.deps.contains(key)), k, || {
                    format!("dependent {dependent} missing or does not depend on it")
                })?;
            }
            check(t.waiters.iter().all(|w| t.dependents.contains(w)), k, || {
                "a waiter is not a dependent".into()
            })?;
            match t.state {
                TaskState::Waiting => {
                    let expected: KeySet = t
                        .task
                        .deps
                        .iter()
                        .filter(|d| self.tasks.get(*d).is_some_and(|d| d.state != TaskState::Memory))
                        .cloned()
                        .collect();
                    check(t.waiting_on == expected, k, || {
                        format!("waiting on {:?}, deps not in memory {:?}", t.waiting_on, expected)
                    })?;
                    check(!t.waiting_on.is_empty(), k, || "waiting on nothing yet not running".into())?;
                }
                TaskState::Queued | TaskState::NoWorker | TaskState::Processing => {
                    // Inputs are in memory, except those an early-assigned task waits for,
                    // which run on its own worker.
                    for dep in &t.task.deps {
                        let Some(d) = self.tasks.get(dep) else { continue };
                        let ok = if t.waiting_on.contains(dep) {
                            d.state == TaskState::Processing && d.processing_on == t.processing_on
                        } else {
                            d.state == TaskState::Memory
                        };
                        check(ok, k, || format!("{} with input {dep} {}", t.state.name(), d.state.name()))?;
                    }
                }
                TaskState::Memory => check(t.is_needed(), k, || "in memory but nobody needs it".into())?,
                TaskState::Released => {
                    check(!t.is_needed(), k, || "released but needed".into())?;
                    check(!t.dependents.is_empty(), k, || {
                        "released with no dependents yet not forgotten".into()
                    })?;
                }
                TaskState::Erred => {}
            }
            check(t.state.is_active() || !t.fire_and_forget, k, || {
                "fire-and-forget flag on a finished task".into()
            })?;
            for client in &t.who_wants {
                let listed = self.clients.get(client).is_some_and(|c| c.wants.contains(key));
                check(listed, k, || format!("wanted by client {client:?}, which does not list it"))?;
            }
        }
        for (id, c) in &self.clients {
            for key in &c.wants {
                let ok = self.tasks.get(key).is_some_and(|t| t.who_wants.contains(id));
                check(ok, key.as_str(), || format!("client {id:?} wants it but the task does not know"))?;
            }
        }
        for w in self.workers.values() {
            let name = w.id.to_string();
            for key in &w.processing {
                let ok = self.tasks.get(key).is_some_and(|t| t.processing_on == Some(w.id));
                check(ok, &name, || format!("lists {key} as processing, which is not"))?;
            }
            let mut nbytes = 0;
            for key in &w.has_what {
                let t = self.tasks.get(key);
                check(t.is_some_and(|t| t.who_has.contains(&w.id)), &name, || {
                    format!("lists {key} as held")
                })?;
                nbytes += t.map_or(0, |t| t.nbytes);
            }
            check(nbytes == w.nbytes, &name, || format!("holds {nbytes} bytes but books {}", w.nbytes))?;
        }
        for (_, key) in self.queued.iter().chain(self.no_worker.iter()) {
            check(self.tasks.contains_key(key), key.as_str(), || "queued but forgotten".into())?;
        }
        let mut counted = [0u64; TaskState::ALL.len()];
        for t in self.tasks.values() {
            counted[state_index(t.state)] += 1;
        }
        let kept = self.groups.totals();
        check(counted == kept, "task groups", || {
            format!("count tasks by state as {kept:?}, but they are {counted:?}")
        })?;
        Ok(())
    }
}
