//! Randomized tests of the scheduler's state machine: every event, then `validate()`.

use std::time::Instant;

use dusk_flight::messages::{
    Arg, ClientUpdate, FailureKind, FetchFailed, Scattered, TaskFailed, TaskFinished, TaskSpec, WorkerHello,
    WorkerUpdate, arg,
};
use rand::rngs::SmallRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};

use super::records::{ClientId, TaskState, WorkerId};
use super::state::SchedulerState;
use crate::config::SchedulerConfig;

fn call(key: String, deps: &[String]) -> TaskSpec {
    TaskSpec {
        key,
        function: "f".into(),
        args: deps.iter().map(|d| Arg { value: Some(arg::Value::Key(d.clone())) }).collect(),
        retries: 1,
        ..Default::default()
    }
}

struct Sim {
    s: SchedulerState,
    rng: SmallRng,
    next_key: usize,
    next_addr: usize,
    clients: Vec<ClientId>,
}

impl Sim {
    fn new(seed: u64) -> Self {
        let config = SchedulerConfig { validate: true, allowed_failures: 2, ..Default::default() };
        Sim {
            s: SchedulerState::new(config),
            rng: SmallRng::seed_from_u64(seed),
            next_key: 0,
            next_addr: 0,
            clients: Vec::new(),
        }
    }

    fn add_worker(&mut self) {
        self.next_addr += 1;
        let threads = self.rng.random_range(1..4);
        let hello = WorkerHello { data_addr: format!("w{}", self.next_addr), threads, ..Default::default() };
        self.s.add_worker(hello, Instant::now());
    }

    fn random_worker(&mut self) -> Option<WorkerId> {
        let ids: Vec<WorkerId> = self.s.workers.keys().copied().collect();
        ids.choose(&mut self.rng).copied()
    }

    fn random_processing(&mut self) -> Option<(WorkerId, String)> {
        let w = self.random_worker()?;
        let keys: Vec<String> = self.s.workers[&w].processing.iter().map(|k| k.to_string()).collect();
        keys.choose(&mut self.rng).map(|k| (w, k.clone()))
    }

    fn submit_graph(&mut self) {
        let Some(&client) = self.clients.choose(&mut self.rng) else { return };
        let existing: Vec<String> = self.s.tasks.keys().map(|k| k.to_string()).collect();
        let mut new_keys: Vec<String> = Vec::new();
        let mut specs = Vec::new();
        for _ in 0..self.rng.random_range(1..12) {
            let key = format!("t{}-{}", self.rng.random_range(0..3), self.next_key);
            self.next_key += 1;
            let pool: Vec<&String> = existing.iter().chain(new_keys.iter()).collect();
            let n = self.rng.random_range(0..3).min(pool.len());
            let deps: Vec<String> = pool.choose_multiple(&mut self.rng, n).map(|k| (*k).clone()).collect();
            specs.push(call(key.clone(), &deps));
            new_keys.push(key);
        }
        let want: Vec<String> = new_keys.iter().filter(|_| self.rng.random_bool(0.5)).cloned().collect();
        self.s.client_update(client, ClientUpdate { submit: specs, want, ..Default::default() });
    }

    fn step(&mut self) {
        let now = Instant::now();
        match self.rng.random_range(0..100) {
            0..=4 => self.add_worker(),
            5..=6 => {
                if let Some(w) = self.random_worker() {
                    self.s.remove_worker(w);
                }
            }
            7..=8 => {
                let c = self.s.add_client();
                self.clients.push(c);
            }
            9 => {
                if !self.clients.is_empty() {
                    let i = self.rng.random_range(0..self.clients.len());
                    let c = self.clients.swap_remove(i);
                    self.s.remove_client(c);
                }
            }
            10..=24 => self.submit_graph(),
            25..=64 => {
                if let Some((w, key)) = self.random_processing() {
                    let finished = vec![TaskFinished {
                        key,
                        nbytes: self.rng.random_range(0..1000),
                        ..Default::default()
                    }];
                    self.s.worker_update(w, WorkerUpdate { finished, ..Default::default() }, now);
                }
            }
            65..=69 => {
                if let Some((w, key)) = self.random_processing() {
                    let failed = vec![TaskFailed {
                        key,
                        kind: FailureKind::Raised as i32,
                        message: "boom".into(),
                        ..Default::default()
                    }];
                    self.s.worker_update(w, WorkerUpdate { failed, ..Default::default() }, now);
                }
            }
            70..=74 => {
                let Some(&client) = self.clients.choose(&mut self.rng) else { return };
                let wants: Vec<String> =
                    self.s.clients[&client].wants.iter().map(|k| k.to_string()).collect();
                if let Some(k) = wants.choose(&mut self.rng) {
                    self.s.client_update(
                        client,
                        ClientUpdate { release: vec![k.clone()], ..Default::default() },
                    );
                }
            }
            75..=77 => {
                let Some(&client) = self.clients.choose(&mut self.rng) else { return };
                let keys: Vec<String> = self.s.tasks.keys().map(|k| k.to_string()).collect();
                if let Some(k) = keys.choose(&mut self.rng) {
                    self.s.client_update(
                        client,
                        ClientUpdate { cancel: vec![k.clone()], ..Default::default() },
                    );
                }
            }
            78..=81 => {
                self.s.balance();
                let requests: Vec<(WorkerId, Vec<String>)> =
                    self.s.outbox.workers.iter().map(|(w, f)| (*w, f.steal.clone())).collect();
                for (w, keys) in requests {
                    let (stolen, refused): (Vec<String>, Vec<String>) =
                        keys.into_iter().partition(|_| self.rng.random_bool(0.5));
                    self.s.worker_update(
                        w,
                        WorkerUpdate { stolen, steal_refused: refused, ..Default::default() },
                        now,
                    );
                }
            }
            82..=84 => {
                if let Some((w, key)) = self.random_processing() {
                    let deps = self.s.tasks[key.as_str()].task.deps.clone();
                    if let Some(dep) = deps.first() {
                        let holder = self.s.tasks[dep].who_has.iter().next().copied();
                        let peer = holder.map(|h| self.s.workers[&h].data_addr.clone()).unwrap_or_default();
                        let ff =
                            vec![FetchFailed { key, dep: dep.to_string(), peer, message: "gone".into() }];
                        self.s.worker_update(w, WorkerUpdate { fetch_failed: ff, ..Default::default() }, now);
                    }
                }
            }
            85..=87 => {
                let Some(&client) = self.clients.choose(&mut self.rng) else { return };
                let Some(w) = self.random_worker() else { return };
                let addr = self.s.workers[&w].data_addr.clone();
                self.next_key += 1;
                let scattered = vec![Scattered {
                    key: format!("scatter-{}", self.next_key),
                    worker_addr: addr,
                    nbytes: 10,
                    kind: 0,
                }];
                self.s.client_update(client, ClientUpdate { scattered, ..Default::default() });
            }
            88..=89 => {
                let Some(&client) = self.clients.choose(&mut self.rng) else { return };
                let keys: Vec<String> = self.s.tasks.keys().map(|k| k.to_string()).collect();
                if let Some(k) = keys.choose(&mut self.rng) {
                    self.s.client_update(
                        client,
                        ClientUpdate { fire_and_forget: vec![k.clone()], ..Default::default() },
                    );
                }
            }
            90..=92 => self.reconnect(),
            93 => {
                if let Some(w) = self.random_worker() {
                    self.s.retire_worker(w, now);
                }
            }
            _ => {
                if let Some((w, key)) = self.random_processing() {
                    let replicas = vec![key];
                    self.s.worker_update(w, WorkerUpdate { replicas, ..Default::default() }, now);
                }
            }
        }
        self.answer_acquires(now);
        self.s.advance_retirements(now + std::time::Duration::from_secs(10));
        self.s.retired.clear();
        self.s.outbox.take();
    }

    /// A worker re-registers under its name, holding some of its results and a stale one.
    fn reconnect(&mut self) {
        let Some(w) = self.random_worker() else { return };
        let worker = &self.s.workers[&w];
        let mut held: Vec<TaskFinished> = worker
            .has_what
            .iter()
            .filter(|_| self.rng.random_bool(0.7))
            .map(|k| TaskFinished { key: k.to_string(), nbytes: 1, ..Default::default() })
            .collect();
        // A result of a task it ran for its earlier registration, reported now as held.
        held.extend(worker.processing.iter().filter(|_| self.rng.random_bool(0.3)).map(|k| TaskFinished {
            key: k.to_string(),
            nbytes: 1,
            ..Default::default()
        }));
        held.push(TaskFinished { key: "gone-1".into(), nbytes: 1, ..Default::default() });
        let hello = WorkerHello {
            name: worker.name.clone(),
            data_addr: worker.data_addr.clone(),
            threads: worker.threads,
            held,
            ..Default::default()
        };
        self.s.add_worker(hello, Instant::now());
    }

    /// Workers asked to copy results report most of them as replicas.
    fn answer_acquires(&mut self, now: Instant) {
        let asks: Vec<(WorkerId, Vec<String>)> = self
            .s
            .outbox
            .workers
            .iter()
            .map(|(w, f)| (*w, f.acquire.iter().map(|l| l.key.clone()).collect()))
            .collect();
        for (w, keys) in asks {
            let replicas: Vec<String> = keys.into_iter().filter(|_| self.rng.random_bool(0.8)).collect();
            if !replicas.is_empty() {
                self.s.worker_update(w, WorkerUpdate { replicas, ..Default::default() }, now);
            }
        }
    }

    /// Finishes everything that can run; every wanted key must end in memory or erred.
    fn drain(&mut self) {
        if self.s.workers.values().all(|w| w.retiring.is_some()) {
            self.add_worker();
        }
        for _ in 0..100_000 {
            let Some(w) = self.s.workers.keys().copied().find(|w| !self.s.workers[w].processing.is_empty())
            else {
                break;
            };
            let finished: Vec<TaskFinished> = self.s.workers[&w]
                .processing
                .iter()
                .map(|k| TaskFinished { key: k.to_string(), nbytes: 1, ..Default::default() })
                .collect();
            self.s.worker_update(w, WorkerUpdate { finished, ..Default::default() }, Instant::now());
            self.s.validate().unwrap_or_else(|e| panic!("after drain step: {e}"));
        }
        for c in &self.clients {
            for key in &self.s.clients[c].wants {
                let state = self.s.tasks[key].state;
                assert!(
                    matches!(state, TaskState::Memory | TaskState::Erred),
                    "wanted {key} stuck in {}",
                    state.name()
                );
            }
        }
    }
}

#[test]
fn validate_passes_after_every_transition_of_random_workloads() {
    for seed in 0..40 {
        let mut sim = Sim::new(seed);
        sim.add_worker();
        let c = sim.s.add_client();
        sim.clients.push(c);
        for step in 0..600 {
            sim.step();
            if let Err(e) = sim.s.validate() {
                panic!("seed {seed}, step {step}: {e}");
            }
        }
        sim.drain();
    }
}

#[test]
fn killed_worker_after_allowed_failures() {
    let mut s =
        SchedulerState::new(SchedulerConfig { validate: true, allowed_failures: 2, ..Default::default() });
    let c = s.add_client();
    let mut next = 0;
    let mut add = |s: &mut SchedulerState| {
        next += 1;
        s.add_worker(
            WorkerHello {
                data_addr: format!("w{next}"),
                threads: 1,
                name: format!("w{next}"),
                ..Default::default()
            },
            Instant::now(),
        )
    };
    add(&mut s);
    s.client_update(
        c,
        ClientUpdate {
            submit: vec![call("crash-1".into(), &[])],
            want: vec!["crash-1".into()],
            ..Default::default()
        },
    );
    for _ in 0..3 {
        let w = s.tasks["crash-1"].processing_on.expect("assigned");
        add(&mut s);
        s.remove_worker(w);
        s.validate().expect("valid");
    }
    let t = &s.tasks["crash-1"];
    assert_eq!(t.state, TaskState::Erred);
    let error = t.error.as_ref().expect("erred with an error");
    assert_eq!(error.kind, FailureKind::KilledWorker as i32);
    assert!(error.message.contains("crash-1") && error.message.contains("w1"), "{}", error.message);
}

#[test]
fn lost_result_is_recomputed_from_lineage() {
    let mut s = SchedulerState::new(SchedulerConfig { validate: true, ..Default::default() });
    let c = s.add_client();
    let a =
        s.add_worker(WorkerHello { data_addr: "a".into(), threads: 1, ..Default::default() }, Instant::now());
    let submit = vec![call("x-1".into(), &[]), call("y-1".into(), &["x-1".into()])];
    s.client_update(c, ClientUpdate { submit, want: vec!["y-1".into(), "x-1".into()], ..Default::default() });
    let finish = |s: &mut SchedulerState, w, key: &str| {
        let finished = vec![TaskFinished { key: key.into(), nbytes: 8, ..Default::default() }];
        s.worker_update(w, WorkerUpdate { finished, ..Default::default() }, Instant::now());
    };
    finish(&mut s, a, "x-1");
    finish(&mut s, a, "y-1");
    assert_eq!(s.tasks["y-1"].state, TaskState::Memory);
    let b =
        s.add_worker(WorkerHello { data_addr: "b".into(), threads: 1, ..Default::default() }, Instant::now());
    s.remove_worker(a);
    s.validate().expect("valid");
    // Both results were only on `a`: x-1 runs again on `b`, and y-1 goes there early to
    // start as soon as x-1 is stored.
    assert_eq!(s.tasks["x-1"].processing_on, Some(b));
    assert_eq!(s.tasks["y-1"].processing_on, Some(b));
    assert!(s.tasks["y-1"].waiting_on.contains("x-1"));
    finish(&mut s, b, "x-1");
    assert!(s.tasks["y-1"].waiting_on.is_empty());
    finish(&mut s, b, "y-1");
    assert_eq!(s.tasks["y-1"].state, TaskState::Memory);
    s.validate().expect("valid");
}

#[test]
fn early_assigned_chain_follows_its_input_and_resets_with_it() {
    let mut s = SchedulerState::new(SchedulerConfig { validate: true, ..Default::default() });
    let c = s.add_client();
    let a =
        s.add_worker(WorkerHello { data_addr: "a".into(), threads: 1, ..Default::default() }, Instant::now());
    let submit = vec![
        call("x-1".into(), &[]),
        call("y-1".into(), &["x-1".into()]),
        call("z-1".into(), &["y-1".into()]),
    ];
    s.client_update(c, ClientUpdate { submit, want: vec!["z-1".into()], ..Default::default() });
    for key in ["x-1", "y-1", "z-1"] {
        assert_eq!(s.tasks[key].processing_on, Some(a), "{key} goes to a at once");
    }
    assert_eq!(s.outbox.take().workers[&a].compute.len(), 3, "one frame carries the whole chain");
    // x-1 fails and is retried: the tasks waiting for it on `a` start over with it.
    let failed = vec![TaskFailed { key: "x-1".into(), message: "transient".into(), ..Default::default() }];
    s.worker_update(a, WorkerUpdate { failed, ..Default::default() }, Instant::now());
    s.validate().expect("valid");
    let frame = s.outbox.take().workers.remove(&a).expect("a frame for a");
    assert!(frame.cancel.contains(&"y-1".to_string()) && frame.cancel.contains(&"z-1".to_string()));
    assert_eq!(frame.compute.len(), 3, "the chain is assigned again");
    // A dead worker does not count early tasks as suspicious: they never ran.
    let b =
        s.add_worker(WorkerHello { data_addr: "b".into(), threads: 1, ..Default::default() }, Instant::now());
    s.remove_worker(a);
    s.validate().expect("valid");
    assert_eq!(s.tasks["x-1"].killed_on.len(), 1);
    assert!(s.tasks["y-1"].killed_on.is_empty() && s.tasks["z-1"].killed_on.is_empty());
    assert_eq!(s.tasks["z-1"].processing_on, Some(b));
}

#[test]
fn silent_worker_is_removed_at_its_heartbeat_deadline() {
    let config = SchedulerConfig { validate: true, ..Default::default() };
    let timeout = config.heartbeat_timeout;
    let mut s = SchedulerState::new(config);
    let c = s.add_client();
    let start = Instant::now();
    let a = s.add_worker(WorkerHello { data_addr: "a".into(), threads: 1, ..Default::default() }, start);
    s.client_update(
        c,
        ClientUpdate {
            submit: vec![call("x-1".into(), &[])],
            want: vec!["x-1".into()],
            ..Default::default()
        },
    );
    assert_eq!(s.tasks["x-1"].processing_on, Some(a));
    let b = s
        .add_worker(WorkerHello { data_addr: "b".into(), threads: 1, ..Default::default() }, start + timeout);
    // `a` last spoke at `start`; `b` just joined.
    assert!(s.check_heartbeats(start + timeout / 2).is_empty());
    assert_eq!(s.check_heartbeats(start + timeout + timeout / 2), vec![a]);
    assert_eq!(s.tasks["x-1"].processing_on, Some(b));
    s.validate().expect("valid");
}

#[test]
fn queued_root_tasks_leave_in_priority_order() {
    let mut s = SchedulerState::new(SchedulerConfig { validate: true, ..Default::default() });
    let c = s.add_client();
    let specs: Vec<TaskSpec> = [(0, "low-1"), (5, "high-1"), (1, "mid-1"), (5, "high-2"), (0, "low-2")]
        .into_iter()
        .map(|(priority, key)| TaskSpec { priority, ..call(key.into(), &[]) })
        .collect();
    let want = specs.iter().map(|t| t.key.clone()).collect();
    s.client_update(c, ClientUpdate { submit: specs, want, ..Default::default() });
    assert_eq!(s.no_worker.len(), 5, "no worker yet: all wait on the scheduler");
    let w =
        s.add_worker(WorkerHello { data_addr: "a".into(), threads: 1, ..Default::default() }, Instant::now());
    // ceil(1 thread x 1.1) = 2 slots: the two priority-5 tasks go first.
    let mut sent: Vec<String> = s.workers[&w].processing.iter().map(|k| k.to_string()).collect();
    sent.sort();
    assert_eq!(sent, vec!["high-1".to_string(), "high-2".to_string()]);
    s.validate().expect("valid");
}
