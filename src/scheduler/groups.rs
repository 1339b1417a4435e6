//! Task counts by group and state, kept up to date as tasks move, so the dashboard and
//! `/metrics` read them in time proportional to the number of groups, never of tasks.
//!
//! A task's group is the text of its key before the last `-` ("inc-7" is in "inc",
//! "sql-q1/stage-0/part-3" in "sql-q1/stage-0/part"). Each task record holds its group's
//! slot, so a state change costs two array updates and no hashing. A group whose tasks
//! were all forgotten stays listed (finished groups are what a progress view shows last)
//! until [`TaskGroups::ENDED_KEPT`] newer groups have ended after it.

use std::collections::{HashMap, VecDeque};

use super::records::{TaskRecord, TaskState};

/// A group's slot in [`TaskGroups`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct GroupId(u32);

/// One group's counts.
#[derive(Clone, Debug)]
pub(crate) struct GroupStats {
    pub(crate) name: String,
    /// Live tasks in each state, indexed like [`TaskState::ALL`].
    pub(crate) counts: [u64; TaskState::ALL.len()],
    /// Tasks that finished (reached memory), counted once per run.
    pub(crate) finished: u64,
    /// Tasks forgotten after their result was made: still part of the group's total.
    pub(crate) forgotten_done: u64,
    /// Sum of the reported run times of its finished tasks.
    pub(crate) compute_us: u64,
    /// Bytes of the results it made.
    pub(crate) nbytes: u64,
    /// Order of creation, so views list groups oldest first.
    pub(crate) serial: u64,
}

impl GroupStats {
    /// Live tasks, whatever their state.
    pub(crate) fn live(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// Tasks in `state`.
    #[cfg(test)]
    pub(crate) fn count(&self, state: TaskState) -> u64 {
        self.counts[state_index(state)]
    }
}

/// Every group's counts. See the module docs.
#[derive(Debug, Default)]
pub(crate) struct TaskGroups {
    ids: HashMap<String, GroupId, foldhash::fast::RandomState>,
    slots: Vec<Option<GroupStats>>,
    free: Vec<GroupId>,
    /// Groups with no live task, oldest first.
    ended: VecDeque<GroupId>,
    next_serial: u64,
}

impl TaskGroups {
    /// Ended groups kept listed.
    pub(crate) const ENDED_KEPT: usize = 64;

    /// Counts a new task (in state `released`) in the group of `key`, and returns the group.
    pub(crate) fn join(&mut self, group: &str) -> GroupId {
        let id = match self.ids.get(group) {
            Some(id) => *id,
            None => self.create(group),
        };
        if let Some(stats) = self.get_mut(id) {
            if stats.live() == 0 {
                self.ended.retain(|g| *g != id);
            }
            if let Some(stats) = self.get_mut(id) {
                stats.counts[state_index(TaskState::Released)] += 1;
            }
        }
        id
    }

    fn create(&mut self, group: &str) -> GroupId {
        let stats = GroupStats {
            name: group.to_string(),
            counts: [0; TaskState::ALL.len()],
            finished: 0,
            forgotten_done: 0,
            compute_us: 0,
            nbytes: 0,
            serial: self.next_serial,
        };
        self.next_serial += 1;
        let id = match self.free.pop() {
            Some(id) => {
                self.slots[id.0 as usize] = Some(stats);
                id
            }
            None => {
                self.slots.push(Some(stats));
                GroupId((self.slots.len() - 1) as u32)
            }
        };
        self.ids.insert(group.to_string(), id);
        id
    }

    /// Moves `t` to `state`, keeping the counts: every change of a task's state goes here.
    pub(crate) fn set(&mut self, t: &mut TaskRecord, state: TaskState) {
        if let Some(stats) = self.get_mut(t.group) {
            let from = &mut stats.counts[state_index(t.state)];
            *from = from.saturating_sub(1);
            stats.counts[state_index(state)] += 1;
        }
        t.state = state;
    }

    /// Counts a finished run of a task of `id`.
    pub(crate) fn finished(&mut self, id: GroupId, compute_us: u64, nbytes: u64) {
        if let Some(stats) = self.get_mut(id) {
            stats.finished += 1;
            stats.compute_us += compute_us;
            stats.nbytes += nbytes;
        }
    }

    /// Uncounts a forgotten task; `done` when its result had been made.
    pub(crate) fn forget(&mut self, t: &TaskRecord, done: bool) {
        let id = t.group;
        let Some(stats) = self.get_mut(id) else { return };
        let count = &mut stats.counts[state_index(t.state)];
        *count = count.saturating_sub(1);
        if done {
            stats.forgotten_done += 1;
        }
        if stats.live() > 0 {
            return;
        }
        self.ended.push_back(id);
        while self.ended.len() > Self::ENDED_KEPT {
            let Some(old) = self.ended.pop_front() else { break };
            if let Some(stats) = self.slots.get_mut(old.0 as usize).and_then(Option::take) {
                self.ids.remove(&stats.name);
                self.free.push(old);
            }
        }
    }

    /// The groups listed, oldest first.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &GroupStats> {
        let mut groups: Vec<&GroupStats> = self.slots.iter().flatten().collect();
        groups.sort_by_key(|g| g.serial);
        groups.into_iter()
    }

    /// The group named `name`, if listed.
    pub(crate) fn by_name(&self, name: &str) -> Option<&GroupStats> {
        self.ids.get(name).and_then(|id| self.slots.get(id.0 as usize)).and_then(Option::as_ref)
    }

    /// Live tasks in each state, over all groups, indexed like [`TaskState::ALL`].
    pub(crate) fn totals(&self) -> [u64; TaskState::ALL.len()] {
        let mut totals = [0; TaskState::ALL.len()];
        for stats in self.slots.iter().flatten() {
            for (total, n) in totals.iter_mut().zip(stats.counts) {
                *total += n;
            }
        }
        totals
    }

    /// Groups listed.
    pub(crate) fn len(&self) -> usize {
        self.ids.len()
    }

    fn get_mut(&mut self, id: GroupId) -> Option<&mut GroupStats> {
        self.slots.get_mut(id.0 as usize).and_then(Option::as_mut)
    }
}

/// Position of `state` in [`TaskState::ALL`].
pub(crate) fn state_index(state: TaskState) -> usize {
    match state {
        TaskState::Released => 0,
        TaskState::Waiting => 1,
        TaskState::Queued => 2,
        TaskState::NoWorker => 3,
        TaskState::Processing => 4,
        TaskState::Memory => 5,
        TaskState::Erred => 6,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::Task;

    fn record(groups: &mut TaskGroups, key: &str) -> TaskRecord {
        let key = crate::graph::TaskKey::from(key);
        let group = groups.join(key.group());
        TaskRecord::new(Task::scattered(key, 0), group)
    }

    #[test]
    fn counts_follow_state_changes_and_forgetting() {
        let mut groups = TaskGroups::default();
        let mut a = record(&mut groups, "inc-1");
        let mut b = record(&mut groups, "inc-2");
        let _c = record(&mut groups, "sum-1");
        groups.set(&mut a, TaskState::Waiting);
        groups.set(&mut a, TaskState::Processing);
        groups.set(&mut a, TaskState::Memory);
        groups.finished(a.group, 10, 8);
        groups.set(&mut b, TaskState::Waiting);
        let inc = groups.by_name("inc").expect("inc listed");
        assert_eq!((inc.count(TaskState::Memory), inc.count(TaskState::Waiting), inc.finished), (1, 1, 1));
        assert_eq!(groups.totals()[state_index(TaskState::Released)], 1, "sum-1 is released");

        groups.set(&mut a, TaskState::Released);
        groups.forget(&a, true);
        groups.set(&mut b, TaskState::Released);
        groups.forget(&b, false);
        let inc = groups.by_name("inc").expect("an ended group stays listed");
        assert_eq!((inc.live(), inc.forgotten_done), (0, 1));
        let names: Vec<&str> = groups.iter().map(|g| g.name.as_str()).collect();
        assert_eq!(names, ["inc", "sum"]);
    }

    #[test]
    fn ended_groups_beyond_the_limit_are_dropped() {
        let mut groups = TaskGroups::default();
        for i in 0..TaskGroups::ENDED_KEPT + 5 {
            let t = record(&mut groups, &format!("g{i}-0"));
            groups.forget(&t, true);
        }
        assert_eq!(groups.len(), TaskGroups::ENDED_KEPT);
        assert!(groups.by_name("g0").is_none(), "the oldest ended group was dropped");
        let t = record(&mut groups, "fresh-0");
        assert_eq!(groups.by_name("fresh").map(GroupStats::live), Some(1), "a freed slot is reused");
        groups.forget(&t, false);
    }
}
