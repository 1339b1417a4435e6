//! What the dashboard shows, read off the scheduler's state on its event loop.
//!
//! Every view here runs between two events of the scheduler, so each must be cheap:
//! counts come from the incrementally kept task groups and traffic counters, task runs
//! from the history ring after a cursor. Only the graph view walks every task, and it is
//! asked for on demand, never on a timer. The structs are the JSON of `/api/...`.

use serde::Serialize;

use crate::scheduler::groups::{GroupStats, state_index};
use crate::scheduler::records::{TaskState, WorkerRecord};
use crate::scheduler::state::SchedulerState;

/// Most task runs one status frame carries: beyond this the task stream shows the newest
/// (a sample under heavy load) and the throughput figure stays exact.
pub(crate) const MAX_RUNS_PER_FRAME: usize = 1000;

/// Largest graph drawn task by task; larger ones are summarised by group.
pub(crate) const MAX_GRAPH_TASKS: usize = 500;

/// One worker, as the cluster map, memory bars and workers table show it.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct WorkerView {
    pub(crate) id: u64,
    pub(crate) name: String,
    pub(crate) address: String,
    pub(crate) threads: u32,
    pub(crate) pid: u32,
    pub(crate) memory_limit_bytes: u64,
    /// Bytes of results held in memory.
    pub(crate) managed_bytes: u64,
    pub(crate) spilled_bytes: u64,
    pub(crate) rss_bytes: u64,
    /// Resident memory not accounted for by held results.
    pub(crate) unmanaged_bytes: u64,
    /// Tasks assigned and not yet reported back.
    pub(crate) processing: u64,
    pub(crate) executing: u32,
    /// Results held.
    pub(crate) holding: u64,
    pub(crate) cpu_percent: f32,
    pub(crate) fetched_bytes: u64,
    pub(crate) paused: bool,
    pub(crate) last_seen_ms: u64,
    pub(crate) assigned_total: u64,
}

/// One task group, as a progress bar shows it.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct GroupView {
    pub(crate) name: String,
    /// Live tasks by state.
    #[serde(flatten)]
    pub(crate) states: StateCounts,
    /// Finished runs (a recomputed task counts again).
    pub(crate) finished: u64,
    /// Tasks done whose results were since released.
    pub(crate) forgotten_done: u64,
    /// Live tasks plus those forgotten once done: the bar's length.
    pub(crate) total: u64,
    pub(crate) compute_ms: f64,
    pub(crate) nbytes: u64,
}

impl GroupView {
    fn new(g: &GroupStats) -> Self {
        GroupView {
            name: g.name.clone(),
            states: StateCounts::new(g.counts),
            finished: g.finished,
            forgotten_done: g.forgotten_done,
            total: g.live() + g.forgotten_done,
            compute_ms: g.compute_us as f64 / 1e3,
            nbytes: g.nbytes,
        }
    }
}

/// One finished task run.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct RunView {
    pub(crate) key: String,
    pub(crate) group: String,
    pub(crate) worker: String,
    /// Start, milliseconds since the Unix epoch.
    pub(crate) start_ms: f64,
    pub(crate) duration_ms: f64,
    pub(crate) nbytes: u64,
}

impl RunView {
    fn new(run: &dusk_flight::messages::TaskRun) -> Self {
        RunView {
            group: crate::graph::TaskKey::from(run.key.as_str()).group().to_string(),
            key: run.key.clone(),
            worker: run.worker.clone(),
            start_ms: run.start_unix_us as f64 / 1e3,
            duration_ms: run.compute_us as f64 / 1e3,
            nbytes: run.nbytes,
        }
    }
}

/// Inputs fetched between two workers since start.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct TransferView {
    pub(crate) from: String,
    pub(crate) to: String,
    pub(crate) count: u64,
    pub(crate) bytes: u64,
}

/// Tasks by state over the whole cluster.
#[derive(Clone, Debug, Default, Serialize)]
pub(crate) struct StateCounts {
    pub(crate) released: u64,
    pub(crate) waiting: u64,
    pub(crate) queued: u64,
    pub(crate) no_worker: u64,
    pub(crate) processing: u64,
    pub(crate) memory: u64,
    pub(crate) erred: u64,
}

impl StateCounts {
    fn new(totals: [u64; TaskState::ALL.len()]) -> Self {
        let n = |s| totals[state_index(s)];
        StateCounts {
            released: n(TaskState::Released),
            waiting: n(TaskState::Waiting),
            queued: n(TaskState::Queued),
            no_worker: n(TaskState::NoWorker),
            processing: n(TaskState::Processing),
            memory: n(TaskState::Memory),
            erred: n(TaskState::Erred),
        }
    }

    /// Pairs of (state name as Dask spells it, count).
    pub(crate) fn pairs(&self) -> [(&'static str, u64); 7] {
        [
            (TaskState::Released.name(), self.released),
            (TaskState::Waiting.name(), self.waiting),
            (TaskState::Queued.name(), self.queued),
            (TaskState::NoWorker.name(), self.no_worker),
            (TaskState::Processing.name(), self.processing),
            (TaskState::Memory.name(), self.memory),
            (TaskState::Erred.name(), self.erred),
        ]
    }
}

/// Everything the status page draws, as one frame.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct StatusView {
    pub(crate) now_ms: f64,
    pub(crate) tasks: StateCounts,
    pub(crate) transitions: u64,
    /// Task runs finished since start: a viewer's throughput is its growth.
    pub(crate) finished_total: u64,
    pub(crate) fetched_bytes: u64,
    pub(crate) workers: Vec<WorkerView>,
    pub(crate) groups: Vec<GroupView>,
    /// Runs finished after the viewer's cursor, oldest first (at most
    /// [`MAX_RUNS_PER_FRAME`]); the next cursor is `finished_total`.
    pub(crate) runs: Vec<RunView>,
    pub(crate) transfers: Vec<TransferView>,
}

/// The status frame for a viewer that has seen the first `seen` runs.
pub(crate) fn status(state: &SchedulerState, seen: u64) -> StatusView {
    StatusView {
        now_ms: now_ms(),
        tasks: StateCounts::new(state.groups.totals()),
        transitions: state.transition_count,
        finished_total: state.history.total(),
        fetched_bytes: state.traffic.fetched_bytes,
        workers: workers(state),
        groups: state.groups.iter().map(GroupView::new).collect(),
        runs: state.history.since(seen, MAX_RUNS_PER_FRAME).map(RunView::new).collect(),
        transfers: state
            .traffic
            .transfers
            .iter()
            .filter_map(|((from, to), flow)| {
                Some(TransferView {
                    from: state.workers.get(from)?.name.clone(),
                    to: state.workers.get(to)?.name.clone(),
                    count: flow.count,
                    bytes: flow.bytes,
                })
            })
            .collect(),
    }
}

/// Every connected worker.
pub(crate) fn workers(state: &SchedulerState) -> Vec<WorkerView> {
    state.workers.values().map(|w| worker(state, w)).collect()
}

fn worker(state: &SchedulerState, w: &WorkerRecord) -> WorkerView {
    WorkerView {
        id: w.id.0,
        name: w.name.clone(),
        address: w.data_addr.clone(),
        threads: w.threads,
        pid: w.pid,
        memory_limit_bytes: w.memory_limit_bytes,
        managed_bytes: w.metrics.managed_bytes,
        spilled_bytes: w.metrics.spilled_bytes,
        rss_bytes: w.metrics.rss_bytes,
        unmanaged_bytes: w.metrics.rss_bytes.saturating_sub(w.metrics.managed_bytes),
        processing: w.processing.len() as u64,
        executing: w.metrics.executing,
        holding: w.has_what.len() as u64,
        cpu_percent: w.metrics.cpu_percent,
        fetched_bytes: w.metrics.fetched_bytes,
        paused: w.metrics.paused,
        last_seen_ms: w.last_seen.elapsed().as_millis() as u64,
        assigned_total: state.traffic.assigned.get(&w.id).copied().unwrap_or(0),
    }
}

/// One worker and its latest runs.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct WorkerDetail {
    pub(crate) worker: WorkerView,
    pub(crate) recent: Vec<RunView>,
}

/// The worker named `name` (or with that id), with up to `limit` of its latest runs.
pub(crate) fn worker_detail(state: &SchedulerState, name: &str, limit: usize) -> Option<WorkerDetail> {
    let w = state.workers.values().find(|w| w.name == name || w.id.0.to_string() == name)?;
    let recent =
        state.history.latest(usize::MAX).filter(|r| r.worker == w.name).take(limit).map(RunView::new);
    Some(WorkerDetail { worker: worker(state, w), recent: recent.collect() })
}

/// Up to `limit` of the latest runs whose key starts with `prefix`, newest first.
pub(crate) fn tasks(state: &SchedulerState, prefix: &str, limit: usize) -> Vec<RunView> {
    state
        .history
        .latest(usize::MAX)
        .filter(|r| r.key.starts_with(prefix))
        .take(limit)
        .map(RunView::new)
        .collect()
}

/// Every listed task group.
pub(crate) fn groups(state: &SchedulerState) -> Vec<GroupView> {
    state.groups.iter().map(GroupView::new).collect()
}

/// The groups named `names` that are listed.
pub(crate) fn groups_named(state: &SchedulerState, names: &[String]) -> Vec<GroupView> {
    names.iter().filter_map(|n| state.groups.by_name(n)).map(GroupView::new).collect()
}

/// One task of a small graph.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct NodeView {
    pub(crate) key: String,
    pub(crate) group: String,
    pub(crate) state: &'static str,
    /// Positions of its inputs in the node list.
    pub(crate) deps: Vec<usize>,
}

/// Tasks of one group reading tasks of another.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct GroupEdge {
    pub(crate) from: String,
    pub(crate) to: String,
    pub(crate) count: u64,
}

/// The scheduler's current task graph: every task when small, else its groups.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct GraphView {
    pub(crate) tasks: usize,
    /// True when `nodes` lists every task; false when only groups are given.
    pub(crate) detailed: bool,
    pub(crate) nodes: Vec<NodeView>,
    pub(crate) groups: Vec<GroupView>,
    pub(crate) edges: Vec<GroupEdge>,
}

/// The graph view. Walks every task: ask for it on demand, not on a timer.
pub(crate) fn graph(state: &SchedulerState) -> GraphView {
    let tasks = state.tasks.len();
    if tasks <= MAX_GRAPH_TASKS {
        let mut keys: Vec<&crate::graph::TaskKey> = state.tasks.keys().collect();
        keys.sort_by_key(|k| state.tasks.get(*k).map(|t| t.task.priority));
        let index: std::collections::HashMap<&str, usize> =
            keys.iter().enumerate().map(|(i, k)| (k.as_str(), i)).collect();
        let nodes = keys
            .iter()
            .filter_map(|k| {
                let t = state.tasks.get(*k)?;
                Some(NodeView {
                    key: k.to_string(),
                    group: k.group().to_string(),
                    state: t.state.name(),
                    deps: t.task.deps.iter().filter_map(|d| index.get(d.as_str()).copied()).collect(),
                })
            })
            .collect();
        return GraphView { tasks, detailed: true, nodes, groups: groups(state), edges: Vec::new() };
    }
    let mut edges: std::collections::BTreeMap<(&str, &str), u64> = Default::default();
    for (key, t) in &state.tasks {
        for dep in &t.task.deps {
            *edges.entry((dep.group(), key.group())).or_default() += 1;
        }
    }
    let edges = edges
        .into_iter()
        .map(|((from, to), count)| GroupEdge { from: from.to_string(), to: to.to_string(), count })
        .collect();
    GraphView { tasks, detailed: false, nodes: Vec::new(), groups: groups(state), edges }
}

/// What `/metrics` reports about the scheduler.
#[derive(Clone, Debug)]
pub(crate) struct MetricsView {
    pub(crate) tasks: StateCounts,
    pub(crate) transitions: u64,
    pub(crate) finished_total: u64,
    pub(crate) fetched_bytes: u64,
    pub(crate) workers: Vec<WorkerView>,
    pub(crate) groups: usize,
}

/// The metrics view.
pub(crate) fn metrics(state: &SchedulerState) -> MetricsView {
    MetricsView {
        tasks: StateCounts::new(state.groups.totals()),
        transitions: state.transition_count,
        finished_total: state.history.total(),
        fetched_bytes: state.traffic.fetched_bytes,
        workers: workers(state),
        groups: state.groups.len(),
    }
}

fn now_ms() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64() * 1e3)
}
