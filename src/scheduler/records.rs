//! What the scheduler remembers about each task, worker and client.
//!
//! Plain data with no behaviour of its own: the transition function in `transitions`
//! is the only code that changes a task's state, and `validate` checks that the links
//! between these records agree with each other.

use std::collections::HashSet;
use std::fmt;
use std::time::Instant;

use dusk_flight::messages::{TaskFailed, ValueKind, WorkerMetrics};

use super::groups::GroupId;
use crate::graph::{KeySet, Resources, Task};

/// The scheduler's id for a connected worker.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct WorkerId(pub(crate) u64);

impl fmt::Display for WorkerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "worker-{}", self.0)
    }
}

/// A small set of workers (the holders of one result), kept sorted in a `Vec`: it has
/// one or two members almost always, and a tree or hash set would cost an allocation
/// of its own per task.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct WorkerSet(Vec<WorkerId>);

impl WorkerSet {
    /// Adds a worker; false if it was there.
    pub(crate) fn insert(&mut self, id: WorkerId) -> bool {
        match self.0.binary_search(&id) {
            Ok(_) => false,
            Err(at) => {
                self.0.insert(at, id);
                true
            }
        }
    }

    /// Removes a worker; false if it was not there.
    pub(crate) fn remove(&mut self, id: &WorkerId) -> bool {
        match self.0.binary_search(id) {
            Ok(at) => {
                self.0.remove(at);
                true
            }
            Err(_) => false,
        }
    }

    /// True if `id` is in the set.
    pub(crate) fn contains(&self, id: &WorkerId) -> bool {
        self.0.binary_search(id).is_ok()
    }

    /// True if empty.
    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The workers, in id order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &WorkerId> {
        self.0.iter()
    }
}

impl IntoIterator for WorkerSet {
    type Item = WorkerId;
    type IntoIter = std::vec::IntoIter<WorkerId>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<'a> IntoIterator for &'a WorkerSet {
    type Item = &'a WorkerId;
    type IntoIter = std::slice::Iter<'a, WorkerId>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

/// The scheduler's id for a connected client.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct ClientId(pub(crate) u64);

/// Where a task is in its life, as in Dask's scheduler.
///
/// ```text
///   released ──► waiting ──► queued ────► processing ──► memory
///      ▲  │         │  └─► no-worker ─┘      │  │           │
///      │  ▼         └──────────────────────►─┘  └► erred     │
///   forgotten ◄────────────── released ◄──────────────────────┘
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TaskState {
    /// Known, not needed now or not yet started; holds its lineage for recomputation.
    Released,
    /// Needed; some dependencies are not in memory yet.
    Waiting,
    /// A root task ready to run, held on the scheduler until a worker has room.
    Queued,
    /// Ready, but no live worker offers the resources it needs.
    NoWorker,
    /// Assigned to a worker.
    Processing,
    /// Its result is held by at least one worker.
    Memory,
    /// Failed for good; the error is kept for whoever asks.
    Erred,
}

impl TaskState {
    /// Every state, for counts that list zeros too.
    pub const ALL: [TaskState; 7] = [
        TaskState::Released,
        TaskState::Waiting,
        TaskState::Queued,
        TaskState::NoWorker,
        TaskState::Processing,
        TaskState::Memory,
        TaskState::Erred,
    ];

    /// Lower-case name, as Dask spells it.
    pub fn name(self) -> &'static str {
        match self {
            TaskState::Released => "released",
            TaskState::Waiting => "waiting",
            TaskState::Queued => "queued",
            TaskState::NoWorker => "no-worker",
            TaskState::Processing => "processing",
            TaskState::Memory => "memory",
            TaskState::Erred => "erred",
        }
    }

    /// True while the task is on its way to memory and so holds on to its inputs.
    pub fn is_active(self) -> bool {
        matches!(self, TaskState::Waiting | TaskState::Queued | TaskState::NoWorker | TaskState::Processing)
    }
}

/// One task on the scheduler.
#[derive(Debug)]
pub(crate) struct TaskRecord {
    pub(crate) task: Task,
    pub(crate) state: TaskState,
    /// Tasks that read this one's result.
    pub(crate) dependents: KeySet,
    /// While waiting: dependencies not yet in memory.
    pub(crate) waiting_on: KeySet,
    /// Active dependents: they need this result to stay (or become) available.
    pub(crate) waiters: KeySet,
    /// Clients holding a future of this key.
    pub(crate) who_wants: HashSet<ClientId>,
    /// Kept until it finishes, even when nobody wants it (`fire_and_forget`).
    pub(crate) fire_and_forget: bool,
    /// Workers holding the result.
    pub(crate) who_has: WorkerSet,
    /// The worker running it, while processing.
    pub(crate) processing_on: Option<WorkerId>,
    /// A steal request for it is out to its worker.
    pub(crate) steal_pending: bool,
    /// Seconds of work it added to its worker's occupancy when assigned.
    pub(crate) occupancy_est: f64,
    pub(crate) nbytes: u64,
    pub(crate) kind: ValueKind,
    pub(crate) retries_left: u32,
    /// Workers that died while running it.
    pub(crate) killed_on: Vec<String>,
    pub(crate) error: Option<TaskFailed>,
    /// Its slot in the group counts.
    pub(crate) group: GroupId,
    /// Its result was made at least once (so forgetting it counts it as done).
    pub(crate) ran: bool,
}

impl TaskRecord {
    /// A released task, counted in `group`.
    pub(crate) fn new(task: Task, group: GroupId) -> Self {
        let retries_left = task.retries;
        TaskRecord {
            task,
            state: TaskState::Released,
            dependents: KeySet::default(),
            waiting_on: KeySet::default(),
            waiters: KeySet::default(),
            who_wants: HashSet::new(),
            fire_and_forget: false,
            who_has: WorkerSet::default(),
            processing_on: None,
            steal_pending: false,
            occupancy_est: 0.0,
            nbytes: 0,
            kind: ValueKind::Bytes,
            retries_left,
            killed_on: Vec::new(),
            error: None,
            group,
            ran: false,
        }
    }

    /// True when someone still needs this task's result.
    pub(crate) fn is_needed(&self) -> bool {
        !self.who_wants.is_empty() || !self.waiters.is_empty() || self.fire_and_forget
    }
}

/// One connected worker.
#[derive(Debug)]
pub(crate) struct WorkerRecord {
    pub(crate) id: WorkerId,
    pub(crate) name: String,
    pub(crate) data_addr: String,
    pub(crate) threads: u32,
    pub(crate) memory_limit_bytes: u64,
    pub(crate) resources: Resources,
    /// Tasks assigned to it and not yet reported back.
    pub(crate) processing: KeySet,
    /// Estimated seconds of work in `processing`.
    pub(crate) occupancy: f64,
    /// Results it holds.
    pub(crate) has_what: KeySet,
    pub(crate) nbytes: u64,
    pub(crate) metrics: WorkerMetrics,
    pub(crate) last_seen: Instant,
    pub(crate) pid: u32,
    /// Set while it drains before leaving (see `membership`).
    pub(crate) retiring: Option<super::membership::Retirement>,
}

impl WorkerRecord {
    /// True when it may take new tasks now: not paused for memory, not retiring.
    pub(crate) fn is_running(&self) -> bool {
        !self.metrics.paused && self.retiring.is_none()
    }
}

/// One connected client.
#[derive(Debug, Default)]
pub(crate) struct ClientRecord {
    pub(crate) wants: KeySet,
}
