//! The worker's event loop: the one owner of its task table.
//!
//! It takes instructions from the scheduler (run, free, cancel, steal), fetches missing
//! inputs from peers, hands ready tasks to the [`Executor`], stores results and reports
//! back. Reports accumulate in one [`WorkerUpdate`] that is sent once per loop turn, so
//! under load many completions share a frame and when idle one goes out at once. At
//! least every heartbeat interval an update with the worker's metrics goes out, which is
//! what tells the scheduler this worker is alive.
//!
//! Memory: after every stored result the loop checks the store; above the spill
//! threshold a background spill starts (at most one at a time); above the pause
//! threshold the executor stops starting tasks until spilling brings memory back down.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use dusk_flight::envelope::{error_chain, take_front};
use dusk_flight::messages::{
    Assignment, FailureKind, FetchFailed, ResultLocation, TaskFailed, TaskFinished, TaskSpec, ValueKind,
    WorkerInstructions, WorkerMetrics, WorkerUpdate,
};
use dusk_flight::ticket::TicketSigner;
use futures::future::{AbortHandle, Abortable};
use tokio::sync::{Semaphore, mpsc};

use super::call::{Ran, run_call};
use super::data_plane::TicketKey;
use super::executor::{Executor, Job};
use super::result_store::ResultStore;
use super::stage::{StageFailure, StageRunner};
use crate::data_client::DataClient;
use crate::functions::FunctionRegistry;
use crate::graph::{KeyMap, KeySet, Priority, Resources, TaskKey, Value};

/// Bound on dependency bytes being fetched at once, in KiB (256 MiB).
const FETCH_BUDGET_KIB: usize = 256 * 1024;

/// Dependencies to fetch this turn, by holder and layout, with their total bytes.
type Fetches = HashMap<(String, ValueKind), (Vec<TaskKey>, u64)>;

/// Something that finished in the background.
#[derive(Debug)]
pub(crate) enum WorkerEvent {
    /// A task ran.
    Done { key: TaskKey, outcome: Result<Ran, TaskFailed> },
    /// A stage task could not read an input from the peer said to hold it.
    InputLost { key: TaskKey, failed: FetchFailed },
    /// A fetch from a peer ended.
    Fetched { peer: String, keys: Vec<TaskKey>, result: Result<Vec<(TaskKey, Value)>, String> },
    /// Data arrived through the data plane (scatter); memory may need attention.
    Stored,
    /// A background spill ended.
    Spilled,
    /// A query result partition was streamed in full to a Flight SQL client.
    Served(String),
}

#[derive(Debug)]
enum Phase {
    /// Waiting for inputs from peers.
    Fetching,
    /// Handed to the executor (queued or running).
    Submitted,
    /// Cancelled while running: its result will be dropped. If the scheduler assigns the
    /// key again before the run ends, the new assignment waits here and starts (or takes
    /// the run's result, if it succeeded) once the old run ends, so one key never runs
    /// twice at once and no assignment is lost.
    Cancelled { again: Option<Box<Assignment>> },
}

#[derive(Debug)]
struct WorkerTask {
    spec: TaskSpec,
    priority: Priority,
    resources: Resources,
    missing: KeySet,
    phase: Phase,
    /// For a SQL stage task: the peers holding each producer output it streams.
    inputs: Option<HashMap<String, Vec<String>>>,
    /// Stops a running stage task when it is cancelled.
    abort: Option<AbortHandle>,
}

/// The worker's state between events. See the module docs.
#[derive(Debug)]
pub(crate) struct WorkerLoop {
    pub(crate) name: String,
    pub(crate) store: Arc<ResultStore>,
    pub(crate) registry: Arc<FunctionRegistry>,
    pub(crate) stages: Arc<StageRunner>,
    pub(crate) executor: Executor,
    pub(crate) peers: Arc<DataClient>,
    pub(crate) events: mpsc::UnboundedSender<WorkerEvent>,
    /// The current registration's outbound stream; replaced when the worker reconnects.
    pub(crate) outgoing: mpsc::UnboundedSender<WorkerUpdate>,
    pub(crate) spill_threshold_bytes: u64,
    tasks: KeyMap<WorkerTask>,
    /// Dependencies being fetched, with the tasks waiting for each.
    fetching: KeyMap<Vec<TaskKey>>,
    /// Inputs that run on this worker, with the early-assigned tasks waiting for each.
    local_waiters: KeyMap<Vec<TaskKey>>,
    update: WorkerUpdate,
    /// Resident memory, read at each heartbeat (reading /proc per frame would cost more
    /// than the frame).
    rss_bytes: u64,
    /// CPU seconds used at the last heartbeat, and when it was read.
    cpu_seconds: Option<(std::time::Instant, f64)>,
    /// CPU use between the last two heartbeats, in percent of one core.
    cpu_percent: f32,
    /// Bytes of inputs fetched from peers since start.
    fetched_bytes: u64,
    spilling: Arc<AtomicBool>,
    fetch_budget: Arc<Semaphore>,
    /// Where the data plane finds the key to check result tickets with.
    tickets: TicketKey,
}

impl WorkerLoop {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        name: String,
        store: Arc<ResultStore>,
        registry: Arc<FunctionRegistry>,
        stages: Arc<StageRunner>,
        executor: Executor,
        peers: Arc<DataClient>,
        events: mpsc::UnboundedSender<WorkerEvent>,
        outgoing: mpsc::UnboundedSender<WorkerUpdate>,
        spill_threshold_bytes: u64,
        tickets: TicketKey,
    ) -> Self {
        WorkerLoop {
            name,
            store,
            registry,
            stages,
            executor,
            peers,
            events,
            outgoing,
            spill_threshold_bytes,
            tasks: KeyMap::default(),
            fetching: KeyMap::default(),
            local_waiters: KeyMap::default(),
            update: WorkerUpdate::default(),
            rss_bytes: 0,
            cpu_seconds: None,
            cpu_percent: 0.0,
            fetched_bytes: 0,
            spilling: Arc::new(AtomicBool::new(false)),
            fetch_budget: Arc::new(Semaphore::new(FETCH_BUDGET_KIB)),
            tickets,
        }
    }

    /// Applies a frame from the scheduler. Returns false when told to shut down.
    pub(crate) fn on_instructions(&mut self, frame: WorkerInstructions) -> bool {
        if !frame.ticket_key.is_empty()
            && let Ok(mut key) = self.tickets.write()
        {
            *key = Some(TicketSigner::from_key(&frame.ticket_key));
        }
        for key in frame.free {
            self.store.remove(&key);
        }
        for key in frame.cancel {
            self.cancel(&TaskKey::from(key));
        }
        for key in frame.steal {
            let key = TaskKey::from(key);
            if self.steal(&key) {
                self.update.stolen.push(key.to_string());
            } else {
                self.update.steal_refused.push(key.to_string());
            }
        }
        let mut fetches: Fetches = HashMap::new();
        for assignment in frame.compute {
            self.accept(assignment, &mut fetches);
        }
        for location in frame.acquire {
            self.acquire(location, &mut fetches);
        }
        for ((peer, kind), (keys, nbytes)) in fetches {
            self.start_fetch(peer, kind, keys, nbytes);
        }
        !frame.shutdown
    }

    /// Gives up a task that has not started, for the scheduler to run elsewhere. True if
    /// it was given up; a task already running is left to finish and report.
    fn steal(&mut self, key: &TaskKey) -> bool {
        let Some(task) = self.tasks.get(key) else { return false };
        let not_started = match task.phase {
            Phase::Fetching => true,
            Phase::Submitted => self.executor.cancel(task.priority, key),
            Phase::Cancelled { .. } => false,
        };
        if not_started {
            self.tasks.remove(key);
            // Tasks waiting for this one here are moved by the scheduler too.
            self.local_waiters.remove(key);
        }
        not_started
    }

    /// Drops a task the scheduler no longer wants, stopping it if it runs. True if it was
    /// dropped before running.
    fn cancel(&mut self, key: &TaskKey) -> bool {
        // Tasks waiting for this one here are cancelled by the scheduler too.
        self.local_waiters.remove(key);
        let Some(task) = self.tasks.get_mut(key) else { return false };
        match task.phase {
            Phase::Fetching => {
                self.tasks.remove(key);
                true
            }
            Phase::Submitted => {
                if self.executor.cancel(task.priority, key) {
                    self.tasks.remove(key);
                    true
                } else {
                    task.phase = Phase::Cancelled { again: None };
                    if let Some(abort) = &task.abort {
                        abort.abort();
                    }
                    false
                }
            }
            Phase::Cancelled { ref mut again } => {
                *again = None;
                false
            }
        }
    }

    fn accept(&mut self, assignment: Assignment, fetches: &mut Fetches) {
        let Some(spec) = assignment.task else { return };
        let key = TaskKey::from(spec.key.clone());
        if let Some(existing) = self.tasks.get_mut(&key) {
            if let Phase::Cancelled { again } = &mut existing.phase {
                // Assigned again while the cancelled run winds down: start after it.
                *again = Some(Box::new(Assignment { task: Some(spec), ..assignment }));
            }
            return;
        }
        let priority = Priority { user: spec.priority, generation: assignment.generation, order: spec.order };
        let resources: Resources = spec.resources.iter().map(|(k, v)| (k.clone(), *v)).collect();
        let mut missing = KeySet::default();
        let mut inputs = spec.stage.as_ref().map(|_| HashMap::new());
        for dep in assignment.deps {
            let dep_key = TaskKey::from(dep.key.clone());
            if self.store.contains(&dep.key) {
                continue;
            }
            if let Some(inputs) = inputs.as_mut()
                && !dep.addrs.is_empty()
            {
                // A stage streams its inputs from their holders as it reads them.
                inputs.insert(dep.key, dep.addrs);
                continue;
            }
            missing.insert(dep_key.clone());
            if dep.addrs.is_empty() {
                // Assigned early: the input runs here and this task starts once it is stored.
                self.local_waiters.entry(dep_key).or_default().push(key.clone());
                continue;
            }
            let waiting = self.fetching.entry(dep_key.clone()).or_default();
            let first = waiting.is_empty();
            waiting.push(key.clone());
            if first {
                let Some(peer) = pick_peer(&dep.addrs, &dep.key) else { continue };
                let kind = ValueKind::try_from(dep.kind).unwrap_or(ValueKind::Bytes);
                let (keys, nbytes) = fetches.entry((peer, kind)).or_default();
                keys.push(dep_key);
                *nbytes += dep.nbytes;
            }
        }
        let ready = missing.is_empty();
        let task =
            WorkerTask { spec, priority, resources, missing, phase: Phase::Fetching, inputs, abort: None };
        self.tasks.insert(key.clone(), task);
        if ready {
            self.submit(&key);
        }
    }

    /// Copies a result from a peer to keep here (a retiring peer's results moving).
    fn acquire(&mut self, location: ResultLocation, fetches: &mut Fetches) {
        if self.store.contains(&location.key) {
            self.update.replicas.push(location.key);
            return;
        }
        let key = TaskKey::from(location.key.clone());
        if self.fetching.contains_key(&key) {
            return;
        }
        let Some(peer) = pick_peer(&location.addrs, &location.key) else { return };
        self.fetching.insert(key.clone(), Vec::new());
        let kind = ValueKind::try_from(location.kind).unwrap_or(ValueKind::Bytes);
        let (keys, nbytes) = fetches.entry((peer, kind)).or_default();
        keys.push(key);
        *nbytes += location.nbytes;
    }

    /// The scheduler connection was lost: everything it assigned is void. Tasks not
    /// started are dropped, running ones finish but their results are dropped, fetches
    /// in flight still land (as results held), and reports not yet sent are dropped: the
    /// next registration starts from the results held (see [`Self::held`]).
    pub(crate) fn disconnected(&mut self) {
        let keys: Vec<TaskKey> = self.tasks.keys().cloned().collect();
        for key in keys {
            self.cancel(&key);
        }
        self.local_waiters.clear();
        for waiting in self.fetching.values_mut() {
            waiting.clear();
        }
        self.update = WorkerUpdate::default();
    }

    /// The results this worker holds, for its registration's hello.
    pub(crate) fn held(&self) -> Vec<TaskFinished> {
        self.store
            .entries()
            .into_iter()
            .map(|(key, nbytes, kind)| TaskFinished {
                key: key.to_string(),
                nbytes,
                kind: kind as i32,
                ..Default::default()
            })
            .collect()
    }

    /// Asks the scheduler to let this worker leave once its results have moved.
    pub(crate) fn retire(&mut self) {
        self.update.retiring = true;
        self.flush(false);
    }

    fn start_fetch(&self, peer: String, kind: ValueKind, keys: Vec<TaskKey>, nbytes: u64) {
        let peers = self.peers.clone();
        let events = self.events.clone();
        let budget = self.fetch_budget.clone();
        tokio::spawn(async move {
            // Hold the fetch's bytes of the in-flight budget; a fetch larger than the whole
            // budget takes all of it, so it runs alone.
            let kib = (nbytes / 1024).clamp(1, FETCH_BUDGET_KIB as u64) as u32;
            let _permit = budget.acquire_many(kib).await;
            let result = match kind {
                ValueKind::Bytes => {
                    let names = keys.iter().map(|k| k.to_string()).collect();
                    peers.fetch_bytes(&peer, names).await.map(|values| {
                        values.into_iter().map(|(k, b)| (TaskKey::from(k), Value::Bytes(b))).collect()
                    })
                }
                ValueKind::Batches => {
                    let mut out = Vec::with_capacity(keys.len());
                    let mut failed = None;
                    for key in &keys {
                        match peers.fetch_batches(&peer, key.as_str()).await {
                            Ok(batches) => out.push((key.clone(), Value::Batches(batches))),
                            Err(e) => {
                                failed = Some(e);
                                break;
                            }
                        }
                    }
                    failed.map_or(Ok(out), Err)
                }
                ValueKind::Buckets => {
                    let message = "a shuffle output is read by SQL stages, not passed as an argument";
                    let _ = events.send(WorkerEvent::Fetched { peer, keys, result: Err(message.into()) });
                    return;
                }
            };
            if result.is_err() {
                peers.forget(&peer);
            }
            let result = result.map_err(|e| error_chain(&e));
            let _ = events.send(WorkerEvent::Fetched { peer, keys, result });
        });
    }

    fn submit(&mut self, key: &TaskKey) {
        let Some(task) = self.tasks.get_mut(key) else { return };
        task.phase = Phase::Submitted;
        if let Some(stage) = task.spec.stage.clone() {
            let (abort, registration) = AbortHandle::new_pair();
            task.abort = Some(abort);
            let (stages, events, job_key) = (self.stages.clone(), self.events.clone(), key.clone());
            let inputs = task.inputs.take().unwrap_or_default();
            let run = Box::pin(async move {
                let work = stages.run(job_key.as_str(), &stage, inputs);
                let event = match Abortable::new(work, registration).await {
                    Ok(Ok(ran)) => WorkerEvent::Done { key: job_key, outcome: Ok(ran) },
                    Ok(Err(StageFailure::Task(failed))) => {
                        WorkerEvent::Done { key: job_key, outcome: Err(failed) }
                    }
                    Ok(Err(StageFailure::Input(failed))) => WorkerEvent::InputLost { key: job_key, failed },
                    Err(_aborted) => {
                        let failed = TaskFailed {
                            key: job_key.to_string(),
                            kind: FailureKind::Raised as i32,
                            message: "cancelled".into(),
                            ..Default::default()
                        };
                        WorkerEvent::Done { key: job_key, outcome: Err(failed) }
                    }
                };
                let _ = events.send(event);
            });
            self.executor.submit(task.priority, key.clone(), Job { resources: task.resources.clone(), run });
            return;
        }
        let (store, registry, events, worker) =
            (self.store.clone(), self.registry.clone(), self.events.clone(), self.name.clone());
        let spec = task.spec.clone();
        let job_key = key.clone();
        let run = Box::pin(async move {
            let outcome = run_call(&store, &registry, &spec, &worker).await;
            let _ = events.send(WorkerEvent::Done { key: job_key, outcome });
        });
        self.executor.submit(task.priority, key.clone(), Job { resources: task.resources.clone(), run });
    }

    /// Applies something that finished in the background.
    pub(crate) fn on_event(&mut self, event: WorkerEvent) {
        match event {
            WorkerEvent::Done { key, outcome } => self.on_done(key, outcome),
            WorkerEvent::InputLost { key, failed } => {
                let Some(task) = self.tasks.remove(&key) else { return };
                if let Phase::Cancelled { again } = task.phase {
                    // The new assignment names where the inputs are now.
                    self.reassign(again);
                    return;
                }
                self.local_waiters.remove(&key);
                tracing::warn!(task.key = %key, input = %failed.dep, peer.addr = %failed.peer,
                    error = %failed.message, "a stage input is unavailable");
                self.update.fetch_failed.push(failed);
            }
            WorkerEvent::Fetched { peer, keys, result } => self.on_fetched(peer, keys, result),
            WorkerEvent::Stored | WorkerEvent::Spilled => self.check_memory(),
            WorkerEvent::Served(key) => self.update.served.push(key),
        }
    }

    /// Accepts an assignment that waited for a cancelled run of the same key to end.
    fn reassign(&mut self, again: Option<Box<Assignment>>) {
        let Some(assignment) = again else { return };
        let mut fetches: Fetches = HashMap::new();
        self.accept(*assignment, &mut fetches);
        for ((peer, kind), (keys, nbytes)) in fetches {
            self.start_fetch(peer, kind, keys, nbytes);
        }
    }

    fn on_done(&mut self, key: TaskKey, outcome: Result<Ran, TaskFailed>) {
        let Some(task) = self.tasks.remove(&key) else { return };
        // A cancelled run's result counts only if the key was assigned again meanwhile and
        // the run finished; otherwise the new assignment (if any) runs afresh.
        if let Phase::Cancelled { again } = task.phase
            && (again.is_none() || outcome.is_err())
        {
            self.reassign(again);
            return;
        }
        let waiters = self.local_waiters.remove(&key).unwrap_or_default();
        match outcome {
            Ok(ran) => {
                let (nbytes, kind, rows) = (ran.value.nbytes(), ran.value.kind(), ran.value.rows());
                self.store.insert(key.clone(), ran.value);
                self.update.finished.push(TaskFinished {
                    key: key.to_string(),
                    nbytes,
                    kind: kind as i32,
                    compute_us: ran.compute_us,
                    start_unix_us: ran.start_unix_us,
                    rows,
                });
                self.input_ready(&key, waiters);
                self.check_memory();
            }
            Err(failure) => {
                tracing::debug!(task.key = %key, error = %failure.message, "task failed");
                self.update.failed.push(failure);
            }
        }
    }

    fn on_fetched(
        &mut self,
        peer: String,
        keys: Vec<TaskKey>,
        result: Result<Vec<(TaskKey, Value)>, String>,
    ) {
        match result {
            Ok(values) => {
                for (key, value) in values {
                    self.fetched_bytes += value.nbytes();
                    if !self.store.contains(key.as_str()) {
                        self.store.insert(key.clone(), value);
                        self.update.replicas.push(key.to_string());
                    }
                    let waiting = self.fetching.remove(&key).unwrap_or_default();
                    self.input_ready(&key, waiting);
                }
                self.check_memory();
            }
            Err(message) => {
                tracing::warn!(peer.addr = %peer, error = %message, "fetching inputs failed");
                for dep in keys {
                    for waiting in self.fetching.remove(&dep).unwrap_or_default() {
                        if self.tasks.get(&waiting).is_some_and(|t| matches!(t.phase, Phase::Fetching)) {
                            self.tasks.remove(&waiting);
                            self.update.fetch_failed.push(FetchFailed {
                                key: waiting.to_string(),
                                dep: dep.to_string(),
                                peer: peer.clone(),
                                message: message.clone(),
                            });
                        }
                    }
                }
            }
        }
    }

    /// An input is now in the store: tasks that had only it missing start.
    fn input_ready(&mut self, input: &TaskKey, waiting: Vec<TaskKey>) {
        for key in waiting {
            let ready = self.tasks.get_mut(&key).is_some_and(|t| {
                t.missing.remove(input);
                t.missing.is_empty() && matches!(t.phase, Phase::Fetching)
            });
            if ready {
                self.submit(&key);
            }
        }
    }

    /// Starts a background spill above the spill threshold; pauses above the pause one.
    fn check_memory(&mut self) {
        let metrics = self.store.metrics();
        if metrics.managed_bytes > self.spill_threshold_bytes && !self.spilling.swap(true, Ordering::AcqRel) {
            let (store, spilling, events) = (self.store.clone(), self.spilling.clone(), self.events.clone());
            tokio::spawn(async move {
                match store.spill_if_needed().await {
                    Ok(bytes) => {
                        tracing::debug!(spill.bytes = bytes, "spilled results under memory pressure")
                    }
                    Err(e) => {
                        tracing::error!(error = %error_chain(&e), "spilling failed; results stay in memory")
                    }
                }
                spilling.store(false, Ordering::Release);
                let _ = events.send(WorkerEvent::Spilled);
            });
        }
        let pause = self.store.should_pause();
        self.executor.set_paused(pause);
    }

    /// Sends what accumulated this turn; with `heartbeat`, sends metrics even if nothing else.
    pub(crate) fn flush(&mut self, heartbeat: bool) {
        if !has_reports(&self.update) && !heartbeat {
            return;
        }
        if heartbeat {
            self.rss_bytes =
                crate::config::process_memory_bytes(std::process::id()).map_or(0, |(rss, _)| rss);
            self.measure_cpu();
        }
        let mut update = std::mem::take(&mut self.update);
        update.metrics = Some(self.metrics());
        loop {
            let part = WorkerUpdate {
                hello: None,
                finished: take_front(&mut update.finished),
                failed: take_front(&mut update.failed),
                fetch_failed: take_front(&mut update.fetch_failed),
                stolen: take_front(&mut update.stolen),
                steal_refused: take_front(&mut update.steal_refused),
                replicas: take_front(&mut update.replicas),
                metrics: update.metrics.clone(),
                served: take_front(&mut update.served),
                retiring: std::mem::take(&mut update.retiring),
            };
            let _ = self.outgoing.send(part);
            if !has_reports(&update) {
                break;
            }
        }
    }

    fn measure_cpu(&mut self) {
        let Some(used) = crate::config::process_cpu_seconds(std::process::id()) else { return };
        let now = std::time::Instant::now();
        if let Some((then, before)) = self.cpu_seconds {
            let wall = now.duration_since(then).as_secs_f64();
            if wall > 0.0 {
                self.cpu_percent = ((used - before).max(0.0) / wall * 100.0) as f32;
            }
        }
        self.cpu_seconds = Some((now, used));
    }

    fn metrics(&self) -> WorkerMetrics {
        let store = self.store.metrics();
        let (running, queued) = self.executor.load();
        WorkerMetrics {
            managed_bytes: store.managed_bytes,
            spilled_bytes: store.spilled_bytes,
            rss_bytes: self.rss_bytes,
            executing: running as u32,
            waiting: (queued + self.fetching.len()) as u32,
            paused: self.store.should_pause(),
            fetched_bytes: self.fetched_bytes,
            cpu_percent: self.cpu_percent,
        }
    }

    /// Drops every result and spill file (shutdown).
    pub(crate) fn clear(&self) {
        self.store.clear();
    }
}

/// True when an update carries anything besides metrics.
fn has_reports(u: &WorkerUpdate) -> bool {
    !(u.finished.is_empty()
        && u.failed.is_empty()
        && u.fetch_failed.is_empty()
        && u.stolen.is_empty()
        && u.steal_refused.is_empty()
        && u.replicas.is_empty()
        && u.served.is_empty()
        && !u.retiring)
}

/// Chooses which holder to fetch from, spreading keys over holders.
fn pick_peer(addrs: &[String], key: &str) -> Option<String> {
    if addrs.is_empty() {
        return None;
    }
    let spread = key.bytes().fold(0usize, |h, b| h.wrapping_mul(31).wrapping_add(b as usize));
    Some(addrs[spread % addrs.len()].clone())
}

#[cfg(test)]
#[path = "event_loop_tests.rs"]
mod tests;
