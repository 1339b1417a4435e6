//! The scheduler's state and the events that change it.
//!
//! `SchedulerState` is plain synchronous data owned by one event loop (`server`), so
//! there are no locks and every event is handled atomically: an event handler here turns
//! a message into recommendations, `transitions` applies them, and whatever must be sent
//! lands in the [`Outbox`], flushed once per loop turn. Nothing here does I/O, which is
//! what lets tests drive it step by step and `validate()` it after every step.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::time::Instant;

use dusk_flight::messages::{
    ClientUpdate, ClusterInfo, FailureKind, ResultLocation, TaskFailed, ValueKind, WorkerInfo, WorkerUpdate,
};
use dusk_flight::query::{StageCounts, stage_prefix};

use super::outbox::Outbox;
use super::records::{ClientId, ClientRecord, TaskRecord, TaskState, WorkerId, WorkerRecord};
use super::transitions::Next;
use crate::config::SchedulerConfig;
use crate::graph::{KeyMap, KeySet, Priority, Task, TaskKey};

/// The client id that holds the keys of published datasets.
pub(crate) const DATASETS: ClientId = ClientId(0);

/// Recommendations waiting to be applied, in order.
pub(crate) type Recs = VecDeque<(TaskKey, Next)>;

/// Everything the scheduler knows. See the module docs.
#[derive(Debug)]
pub(crate) struct SchedulerState {
    pub(crate) config: SchedulerConfig,
    pub(crate) tasks: KeyMap<TaskRecord>,
    pub(crate) workers: BTreeMap<WorkerId, WorkerRecord>,
    pub(crate) clients: HashMap<ClientId, ClientRecord>,
    /// Root tasks ready to run, waiting for room on a worker, best first.
    pub(crate) queued: BTreeSet<(Priority, TaskKey)>,
    /// Ready tasks that no live worker can run.
    pub(crate) no_worker: BTreeSet<(Priority, TaskKey)>,
    /// Measured seconds per run, by task group (exponential moving average).
    pub(crate) group_durations: HashMap<String, f64, foldhash::fast::RandomState>,
    pub(crate) datasets: BTreeMap<String, Vec<TaskKey>>,
    /// How many datasets hold each key.
    pub(crate) dataset_refs: KeyMap<usize>,
    pub(crate) outbox: Outbox,
    pub(crate) transition_count: u64,
    /// Recent finished task runs.
    pub(crate) history: super::history::TaskHistory,
    /// Task counts by group and state.
    pub(crate) groups: super::groups::TaskGroups,
    /// Assignments and the transfers they imply, for the cluster map.
    pub(crate) traffic: super::traffic::Traffic,
    generation: u64,
    pub(super) next_worker: u64,
    /// Since when some ready task has had no worker to run it (see `membership`).
    pub(super) unrunnable_since: Option<Instant>,
    /// Workers whose drain finished since the event loop last looked: removed here, to
    /// be told to shut down.
    pub(crate) retired: Vec<WorkerId>,
    next_client: u64,
}

impl SchedulerState {
    pub(crate) fn new(config: SchedulerConfig) -> Self {
        let mut clients = HashMap::new();
        clients.insert(DATASETS, ClientRecord::default());
        SchedulerState {
            config,
            tasks: KeyMap::default(),
            workers: BTreeMap::new(),
            clients,
            queued: BTreeSet::new(),
            no_worker: BTreeSet::new(),
            group_durations: Default::default(),
            datasets: BTreeMap::new(),
            dataset_refs: KeyMap::default(),
            outbox: Outbox::default(),
            transition_count: 0,
            history: Default::default(),
            groups: Default::default(),
            traffic: Default::default(),
            generation: 0,
            next_worker: 1,
            unrunnable_since: None,
            retired: Vec::new(),
            next_client: 1,
        }
    }

    // ----- workers (joining and leaving: see `membership`) ---------------------------

    /// Handles one batch from a worker.
    pub(crate) fn worker_update(&mut self, id: WorkerId, update: WorkerUpdate, now: Instant) {
        let Some(worker) = self.workers.get_mut(&id) else { return };
        worker.last_seen = now;
        let mut recs = Recs::new();
        if let Some(metrics) = update.metrics {
            self.traffic.fetched(worker.metrics.fetched_bytes, metrics.fetched_bytes);
            let resumed = worker.metrics.paused && !metrics.paused;
            worker.metrics = metrics;
            if resumed {
                // Work that found every worker paused can go to this one now.
                recs.extend(self.no_worker.iter().map(|(_, k)| (k.clone(), Next::Processing)));
            }
        }
        for done in update.finished {
            self.on_finished(id, done, &mut recs);
        }
        for failed in update.failed {
            self.on_failed(id, failed, &mut recs);
        }
        for ff in update.fetch_failed {
            self.on_fetch_failed(id, ff, &mut recs);
        }
        for key in update.stolen {
            if self.is_processing_on(&key, id) {
                recs.push_back((TaskKey::from(key), Next::Reset));
            }
        }
        for key in update.steal_refused {
            if let Some(t) = self.tasks.get_mut(key.as_str()) {
                t.steal_pending = false;
            }
        }
        for key in update.replicas {
            self.on_replica(id, TaskKey::from(key));
        }
        self.transitions(recs);
        if update.retiring {
            self.retire_worker(id, now);
        }
        self.fill_queue();
    }

    /// The scheduler's own copy of a key named on the wire, so a known key costs no new
    /// allocation (every event names keys as strings).
    pub(super) fn key(&self, name: &str) -> TaskKey {
        self.tasks.get_key_value(name).map_or_else(|| TaskKey::from(name), |(k, _)| k.clone())
    }

    fn is_processing_on(&self, key: &str, id: WorkerId) -> bool {
        self.tasks.get(key).is_some_and(|t| t.state == TaskState::Processing && t.processing_on == Some(id))
    }

    fn on_finished(&mut self, id: WorkerId, done: dusk_flight::messages::TaskFinished, recs: &mut Recs) {
        let kind = ValueKind::try_from(done.kind).unwrap_or(ValueKind::Bytes);
        if self.is_processing_on(&done.key, id) {
            self.history.push(dusk_flight::messages::TaskRun {
                key: done.key.clone(),
                worker: self.workers.get(&id).map(|w| w.name.clone()).unwrap_or_default(),
                start_unix_us: done.start_unix_us,
                compute_us: done.compute_us,
                nbytes: done.nbytes,
                rows: done.rows,
            });
            let next = Next::Memory {
                worker: id,
                nbytes: done.nbytes,
                kind,
                compute_secs: done.compute_us as f64 / 1e6,
            };
            recs.push_back((self.key(&done.key), next));
        } else if self.tasks.get(done.key.as_str()).is_some_and(|t| t.state == TaskState::Memory) {
            // A second copy, e.g. a task stolen after it had started: keep it as a replica.
            self.on_replica(id, TaskKey::from(done.key));
        } else {
            // Nobody is waiting for this result any more.
            self.outbox.worker(id).free.push(done.key);
        }
    }

    fn on_failed(&mut self, id: WorkerId, mut failed: TaskFailed, recs: &mut Recs) {
        if !self.is_processing_on(&failed.key, id) {
            return;
        }
        let key = TaskKey::from(failed.key.clone());
        let Some(t) = self.tasks.get_mut(&key) else { return };
        if t.retries_left > 0 {
            t.retries_left -= 1;
            tracing::debug!(task.key = %key, retries.left = t.retries_left, "retrying failed task");
            recs.push_back((key, Next::Reset));
        } else {
            if failed.worker.is_empty() {
                failed.worker = self.workers.get(&id).map(|w| w.name.clone()).unwrap_or_default();
            }
            recs.push_back((key, Next::Erred(Box::new(failed))));
        }
    }

    fn on_fetch_failed(&mut self, id: WorkerId, ff: dusk_flight::messages::FetchFailed, recs: &mut Recs) {
        let peer = self.workers.values().find(|w| w.data_addr == ff.peer).map(|w| w.id);
        tracing::warn!(task.key = %ff.key, dep.key = %ff.dep, peer.addr = %ff.peer, error = %ff.message,
            "worker could not fetch a dependency");
        if let (Some(peer), Some(dep)) = (peer, self.tasks.get_mut(ff.dep.as_str()))
            && dep.who_has.remove(&peer)
        {
            let dep_key = dep.task.key.clone();
            let nbytes = dep.nbytes;
            if dep.who_has.is_empty() && dep.state == TaskState::Memory {
                // Put the peer's link back so the reset frees its copy too.
                dep.who_has.insert(peer);
                recs.push_back((dep_key, Next::Reset));
            } else if let Some(w) = self.workers.get_mut(&peer) {
                w.has_what.remove(&dep_key);
                w.nbytes = w.nbytes.saturating_sub(nbytes);
                self.outbox.worker(peer).free.push(ff.dep.clone());
            }
        }
        if self.is_processing_on(&ff.key, id) {
            recs.push_back((TaskKey::from(ff.key), Next::Reset));
        }
    }

    pub(super) fn on_replica(&mut self, id: WorkerId, key: TaskKey) {
        let in_memory = self.tasks.get(&key).is_some_and(|t| t.state == TaskState::Memory);
        let Some(worker) = self.workers.get_mut(&id) else { return };
        if !in_memory {
            self.outbox.worker(id).free.push(key.to_string());
            return;
        }
        if let Some(t) = self.tasks.get_mut(&key)
            && t.who_has.insert(id)
        {
            worker.has_what.insert(key);
            worker.nbytes += t.nbytes;
        }
    }

    // ----- clients -------------------------------------------------------------------

    /// A client connected.
    pub(crate) fn add_client(&mut self) -> ClientId {
        let id = ClientId(self.next_client);
        self.next_client += 1;
        self.clients.insert(id, ClientRecord::default());
        self.outbox.client(id).welcome = Some(id.0);
        id
    }

    /// A client left: everything it wanted is released unless someone else wants it.
    pub(crate) fn remove_client(&mut self, id: ClientId) {
        let Some(client) = self.clients.remove(&id) else { return };
        self.outbox.clients.remove(&id);
        let mut recs = Recs::new();
        for key in client.wants {
            if let Some(t) = self.tasks.get_mut(&key) {
                t.who_wants.remove(&id);
                recs.push_back((key, Next::Release));
            }
        }
        self.transitions(recs);
        self.fill_queue();
    }

    /// Handles one batch from a client: scattered data, new tasks, wants, releases, cancels.
    pub(crate) fn client_update(&mut self, id: ClientId, update: ClientUpdate) {
        if !self.clients.contains_key(&id) {
            return;
        }
        let mut recs = Recs::new();
        for s in update.scattered {
            self.on_scattered(id, s, &mut recs);
        }
        let added =
            if update.submit.is_empty() { Vec::new() } else { self.add_tasks(update.submit, &mut recs) };
        for key in update.want {
            self.want(id, self.key(&key), &mut recs);
        }
        for key in update.fire_and_forget {
            if let Some(t) = self.tasks.get_mut(key.as_str())
                && !matches!(t.state, TaskState::Memory | TaskState::Erred)
            {
                t.fire_and_forget = true;
                if t.state == TaskState::Released {
                    recs.push_back((TaskKey::from(key), Next::Waiting));
                }
            }
        }
        for key in update.release {
            self.unwant(id, &self.key(&key), &mut recs);
        }
        if !update.cancel.is_empty() {
            self.cancel(id, update.cancel, &mut recs);
        }
        // New tasks that nothing wants or reads are dropped at once (a no-op for the rest).
        recs.extend(added.into_iter().map(|k| (k, Next::Release)));
        self.transitions(recs);
        self.fill_queue();
    }

    fn on_scattered(&mut self, id: ClientId, s: dusk_flight::messages::Scattered, recs: &mut Recs) {
        let key = TaskKey::from(s.key);
        let worker = self.workers.values().find(|w| w.data_addr == s.worker_addr).map(|w| w.id);
        let Some(worker) = worker else {
            self.outbox.client(id).failed.push(TaskFailed {
                key: key.to_string(),
                kind: FailureKind::Lost as i32,
                message: format!("scattered to {}, which is not a live worker", s.worker_addr),
                worker: s.worker_addr,
                ..Default::default()
            });
            return;
        };
        let generation = self.next_generation();
        self.tasks.entry(key.clone()).or_insert_with(|| {
            TaskRecord::new(Task::scattered(key.clone(), generation), self.groups.join(key.group()))
        });
        let kind = ValueKind::try_from(s.kind).unwrap_or(ValueKind::Bytes);
        let next = Next::Memory { worker, nbytes: s.nbytes, kind, compute_secs: 0.0 };
        if self.tasks.get(&key).is_some_and(|t| t.state == TaskState::Released) {
            recs.push_back((key.clone(), next));
        } else {
            self.on_replica(worker, key.clone());
        }
        self.want(id, key, recs);
    }

    fn next_generation(&mut self) -> u64 {
        self.generation += 1;
        self.generation
    }

    /// Adds a graph. Known keys are kept as they are (the same key is the same work).
    fn add_tasks(&mut self, specs: Vec<dusk_flight::messages::TaskSpec>, recs: &mut Recs) -> Vec<TaskKey> {
        let generation = self.next_generation();
        let mut added = Vec::new();
        for spec in specs {
            if self.tasks.contains_key(spec.key.as_str()) {
                continue;
            }
            let task = Task::from_spec(spec, generation);
            added.push(task.key.clone());
            let group = self.groups.join(task.key.group());
            self.tasks.insert(task.key.clone(), TaskRecord::new(task, group));
        }
        for key in added.iter().cloned() {
            let deps = self.tasks.get(&key).map(|t| t.task.deps.clone()).unwrap_or_default();
            let mut unknown = None;
            for dep in deps {
                match self.tasks.get_mut(&dep) {
                    Some(d) => {
                        d.dependents.insert(key.clone());
                    }
                    None => unknown = Some(dep),
                }
            }
            if let Some(dep) = unknown {
                // Without its input this task can never run: drop the link it cannot have.
                if let Some(t) = self.tasks.get_mut(&key) {
                    t.task.deps.retain(|d| *d != dep);
                    let failure = TaskFailed {
                        key: key.to_string(),
                        kind: FailureKind::UnknownDependency as i32,
                        message: format!(
                            "depends on {dep}, which the scheduler does not know (released or never submitted)"
                        ),
                        function: t.task.function().to_string(),
                        ..Default::default()
                    };
                    recs.push_back((key, Next::Erred(Box::new(failure))));
                }
            }
        }
        added
    }

    fn want(&mut self, id: ClientId, key: TaskKey, recs: &mut Recs) {
        let Some(t) = self.tasks.get_mut(&key) else {
            self.outbox.client(id).failed.push(TaskFailed {
                key: key.to_string(),
                kind: FailureKind::UnknownDependency as i32,
                message: format!("the scheduler does not know {key} (released or never submitted)"),
                ..Default::default()
            });
            return;
        };
        t.who_wants.insert(id);
        if let Some(client) = self.clients.get_mut(&id) {
            client.wants.insert(key.clone());
        }
        match t.state {
            TaskState::Memory => {
                let ready = ready_event(t, &self.workers);
                self.outbox.client(id).ready.push(ready);
            }
            TaskState::Erred => {
                if let Some(e) = t.error.clone() {
                    self.outbox.client(id).failed.push(e);
                }
            }
            TaskState::Released => recs.push_back((key, Next::Waiting)),
            _ => {}
        }
    }

    fn unwant(&mut self, id: ClientId, key: &TaskKey, recs: &mut Recs) {
        if let Some(client) = self.clients.get_mut(&id) {
            client.wants.remove(key);
        }
        if let Some(t) = self.tasks.get_mut(key)
            && t.who_wants.remove(&id)
        {
            recs.push_back((key.clone(), Next::Release));
        }
    }

    /// Cancels keys for one client, with every dependent it wants, as Dask does.
    fn cancel(&mut self, id: ClientId, keys: Vec<String>, recs: &mut Recs) {
        let mut stack: Vec<TaskKey> = keys.into_iter().map(TaskKey::from).collect();
        let mut seen = KeySet::default();
        while let Some(key) = stack.pop() {
            if !seen.insert(key.clone()) {
                continue;
            }
            let Some(t) = self.tasks.get(&key) else { continue };
            stack.extend(t.dependents.iter().cloned());
            if t.who_wants.contains(&id) {
                self.outbox.client(id).cancelled.push(key.to_string());
                self.unwant(id, &key, recs);
            }
            if let Some(t) = self.tasks.get_mut(&key) {
                t.fire_and_forget = false;
            }
            recs.push_back((key, Next::Release));
        }
    }

    // ----- datasets ------------------------------------------------------------------

    /// Publishes keys under a name; the dataset keeps them alive until unpublished.
    pub(crate) fn publish(&mut self, name: String, keys: Vec<String>, overwrite: bool) -> Result<(), String> {
        if self.datasets.contains_key(&name) && !overwrite {
            return Err(format!("a dataset named {name:?} already exists"));
        }
        if let Some(missing) = keys.iter().find(|k| !self.tasks.contains_key(k.as_str())) {
            return Err(format!("cannot publish {name:?}: the scheduler does not know key {missing}"));
        }
        self.unpublish(&name);
        let keys: Vec<TaskKey> = keys.into_iter().map(TaskKey::from).collect();
        let mut recs = Recs::new();
        for key in &keys {
            *self.dataset_refs.entry(key.clone()).or_default() += 1;
            self.want(DATASETS, key.clone(), &mut recs);
        }
        self.outbox.clients.remove(&DATASETS);
        self.datasets.insert(name, keys);
        self.transitions(recs);
        self.fill_queue();
        Ok(())
    }

    /// Removes a dataset; its keys are released unless someone else holds them.
    pub(crate) fn unpublish(&mut self, name: &str) -> bool {
        let Some(keys) = self.datasets.remove(name) else { return false };
        let mut recs = Recs::new();
        for key in keys {
            let count = self.dataset_refs.entry(key.clone()).or_default();
            *count = count.saturating_sub(1);
            if *count == 0 {
                self.dataset_refs.remove(&key);
                self.unwant(DATASETS, &key, &mut recs);
            }
        }
        self.transitions(recs);
        self.fill_queue();
        true
    }

    /// The keys of a dataset.
    pub(crate) fn dataset(&self, name: &str) -> Option<Vec<String>> {
        self.datasets.get(name).map(|keys| keys.iter().map(|k| k.to_string()).collect())
    }

    // ----- reporting -----------------------------------------------------------------

    /// Data addresses to scatter `count` values to: round-robin, emptiest workers first.
    pub(crate) fn scatter_targets(&self, count: usize) -> Vec<String> {
        let mut workers: Vec<&WorkerRecord> =
            self.workers.values().filter(|w| w.retiring.is_none()).collect();
        workers.sort_by_key(|w| (w.nbytes, w.id));
        if workers.is_empty() {
            return Vec::new();
        }
        (0..count).map(|i| workers[i % workers.len()].data_addr.clone()).collect()
    }

    /// Tasks not yet finished (waiting, queued or processing) under each stage prefix.
    pub(crate) fn unfinished_by_stage(&self, prefixes: Vec<String>) -> StageCounts {
        let mut unfinished: HashMap<String, u64> = prefixes.into_iter().map(|p| (p, 0)).collect();
        for (key, record) in &self.tasks {
            if !record.state.is_active() {
                continue;
            }
            if let Some(n) = stage_prefix(key.as_str()).and_then(|p| unfinished.get_mut(p)) {
                *n += 1;
            }
        }
        StageCounts { unfinished }
    }

    /// Task counts by state.
    pub(crate) fn count_by_state(&self) -> BTreeMap<TaskState, u64> {
        let mut counts: BTreeMap<TaskState, u64> = TaskState::ALL.iter().map(|s| (*s, 0)).collect();
        for t in self.tasks.values() {
            *counts.entry(t.state).or_default() += 1;
        }
        counts
    }

    /// A snapshot for `dusk.cluster_info`.
    pub(crate) fn cluster_info(&self) -> ClusterInfo {
        ClusterInfo {
            workers: self
                .workers
                .values()
                .map(|w| WorkerInfo {
                    id: w.id.0,
                    name: w.name.clone(),
                    data_addr: w.data_addr.clone(),
                    threads: w.threads,
                    processing: w.processing.len() as u32,
                    holding: w.has_what.len() as u32,
                    metrics: Some(w.metrics.clone()),
                    memory_limit_bytes: w.memory_limit_bytes,
                    pid: w.pid,
                })
                .collect(),
            tasks_by_state: self
                .count_by_state()
                .into_iter()
                .map(|(s, n)| (s.name().to_string(), n))
                .collect(),
            transitions: self.transition_count,
        }
    }
}

/// The event telling clients where a finished key lives.
pub(crate) fn ready_event(t: &TaskRecord, workers: &BTreeMap<WorkerId, WorkerRecord>) -> ResultLocation {
    ResultLocation {
        key: t.task.key.to_string(),
        addrs: t.who_has.iter().filter_map(|w| workers.get(w)).map(|w| w.data_addr.clone()).collect(),
        nbytes: t.nbytes,
        kind: t.kind as i32,
    }
}
