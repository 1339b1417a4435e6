//! Where work and data went: tasks assigned per worker and the inputs each assignment
//! made a worker fetch from another, for the dashboard's cluster map and `/metrics`.
//!
//! Counters only grow, so any number of viewers can each keep their last reading and draw
//! the difference, and nobody has to drain them. Transfers are the scheduler's view: an
//! input held elsewhere is counted as coming from its first holder (the worker may pick
//! another replica); the bytes workers really fetched are summed from their metrics.

use std::collections::BTreeMap;

use super::records::WorkerId;

/// Inputs fetched between two workers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Flow {
    pub(crate) count: u64,
    pub(crate) bytes: u64,
}

/// See the module docs.
#[derive(Debug, Default)]
pub(crate) struct Traffic {
    /// Tasks assigned to each worker.
    pub(crate) assigned: BTreeMap<WorkerId, u64>,
    /// Inputs fetched, by (holder, fetcher).
    pub(crate) transfers: BTreeMap<(WorkerId, WorkerId), Flow>,
    /// Bytes workers reported fetching from peers, over all workers ever connected.
    pub(crate) fetched_bytes: u64,
}

impl Traffic {
    /// Counts an assignment to `worker`, which must fetch `inputs` (holder, bytes).
    pub(crate) fn assigned(&mut self, worker: WorkerId, inputs: &[(WorkerId, u64)]) {
        *self.assigned.entry(worker).or_default() += 1;
        for (from, bytes) in inputs {
            let flow = self.transfers.entry((*from, worker)).or_default();
            flow.count += 1;
            flow.bytes += bytes;
        }
    }

    /// Adds what a worker's cumulative fetch counter grew by.
    pub(crate) fn fetched(&mut self, before: u64, now: u64) {
        self.fetched_bytes += now.saturating_sub(before);
    }

    /// Drops the counters of a worker that left.
    pub(crate) fn remove_worker(&mut self, id: WorkerId) {
        self.assigned.remove(&id);
        self.transfers.retain(|(from, to), _| *from != id && *to != id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_assignments_and_transfers_until_a_worker_leaves() {
        let (a, b) = (WorkerId(1), WorkerId(2));
        let mut traffic = Traffic::default();
        traffic.assigned(a, &[]);
        traffic.assigned(b, &[(a, 100), (a, 50)]);
        assert_eq!(traffic.assigned[&b], 1);
        assert_eq!(traffic.transfers[&(a, b)], Flow { count: 2, bytes: 150 });
        traffic.fetched(10, 40);
        traffic.fetched(40, 30);
        assert_eq!(traffic.fetched_bytes, 30, "a counter that went back (a restart) adds nothing");
        traffic.remove_worker(a);
        assert!(traffic.transfers.is_empty());
        assert_eq!(traffic.assigned.len(), 1);
    }
}
