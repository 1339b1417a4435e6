//! Membership: rejoining with held results, stale registrations, retiring, and work no
//! worker can run. Every test validates the state after each step.

use std::time::{Duration, Instant};

use dusk_flight::messages::{
    Arg, ClientUpdate, FailureKind, TaskFinished, TaskSpec, WorkerHello, WorkerUpdate, arg,
};

use crate::config::SchedulerConfig;
use crate::scheduler::records::{TaskState, WorkerId};
use crate::scheduler::state::SchedulerState;

fn call(key: &str, deps: &[&str]) -> TaskSpec {
    TaskSpec {
        key: key.to_string(),
        function: "f".into(),
        args: deps.iter().map(|d| Arg { value: Some(arg::Value::Key(d.to_string())) }).collect(),
        ..Default::default()
    }
}

fn state() -> SchedulerState {
    SchedulerState::new(SchedulerConfig { validate: true, ..Default::default() })
}

fn hello(name: &str, held: &[&str]) -> WorkerHello {
    WorkerHello {
        name: name.into(),
        data_addr: format!("grpc://{name}:1"),
        threads: 1,
        held: held
            .iter()
            .map(|k| TaskFinished { key: k.to_string(), nbytes: 8, ..Default::default() })
            .collect(),
        ..Default::default()
    }
}

fn finish(s: &mut SchedulerState, w: WorkerId, key: &str) {
    let finished = vec![TaskFinished { key: key.into(), nbytes: 8, ..Default::default() }];
    s.worker_update(w, WorkerUpdate { finished, ..Default::default() }, Instant::now());
    s.validate().expect("valid");
}

#[test]
fn rejoining_worker_keeps_wanted_results_and_frees_the_rest() {
    let mut s = state();
    let c = s.add_client();
    let a = s.add_worker(hello("a", &[]), Instant::now());
    s.client_update(
        c,
        ClientUpdate { submit: vec![call("x-1", &[])], want: vec!["x-1".into()], ..Default::default() },
    );
    finish(&mut s, a, "x-1");
    let b = s.add_worker(hello("b", &[]), Instant::now());
    // `a` goes silent: x-1, held only there, starts again on `b`.
    s.remove_worker(a);
    s.validate().expect("valid");
    assert_eq!(s.tasks["x-1"].processing_on, Some(b));
    s.outbox.take();
    // `a` comes back still holding x-1, plus a result nobody wants any more.
    let a2 = s.add_worker(hello("a", &["x-1", "old-1"]), Instant::now());
    s.validate().expect("valid");
    assert_ne!(a, a2, "a new registration is a new epoch");
    let x = &s.tasks["x-1"];
    assert_eq!(x.state, TaskState::Memory);
    assert!(x.who_has.contains(&a2), "taken back without a rerun");
    let frames = s.outbox.take().workers;
    assert_eq!(frames[&b].cancel, vec!["x-1".to_string()], "the rerun on b is called off");
    assert!(frames[&a2].free.contains(&"old-1".to_string()));
    // The client hears x-1 is ready (once more, at its new home).
    assert!(s.tasks["x-1"].who_wants.contains(&c));
}

#[test]
fn registering_again_voids_the_earlier_registration() {
    let mut s = state();
    let c = s.add_client();
    let a = s.add_worker(hello("a", &[]), Instant::now());
    let submit = vec![call("x-1", &[]), call("y-1", &["x-1"])];
    s.client_update(c, ClientUpdate { submit, want: vec!["x-1".into(), "y-1".into()], ..Default::default() });
    finish(&mut s, a, "x-1");
    assert_eq!(s.tasks["y-1"].processing_on, Some(a));
    s.outbox.take();
    // `a` reconnects before the scheduler noticed its old stream break.
    let a2 = s.add_worker(hello("a", &["x-1"]), Instant::now());
    s.validate().expect("valid");
    assert!(!s.workers.contains_key(&a), "one registration per name");
    assert_eq!(s.tasks["x-1"].state, TaskState::Memory, "x-1 never counted as lost");
    assert!(s.outbox.clients.get(&c).is_none_or(|events| events.lost.is_empty()));
    // y-1's old assignment is void: it is assigned again, and a late report on the old
    // registration changes nothing.
    assert_eq!(s.tasks["y-1"].processing_on, Some(a2));
    s.worker_update(
        a,
        WorkerUpdate {
            finished: vec![TaskFinished { key: "y-1".into(), nbytes: 8, ..Default::default() }],
            ..Default::default()
        },
        Instant::now(),
    );
    assert_eq!(s.tasks["y-1"].state, TaskState::Processing);
    assert!(s.tasks["y-1"].killed_on.len() <= 1);
    finish(&mut s, a2, "y-1");
    assert_eq!(s.tasks["y-1"].state, TaskState::Memory);
}

#[test]
fn work_fails_clearly_after_the_no_workers_timeout() {
    let config =
        SchedulerConfig { validate: true, no_workers_timeout: Duration::from_secs(10), ..Default::default() };
    let mut s = SchedulerState::new(config);
    let c = s.add_client();
    let a = s.add_worker(hello("a", &[]), Instant::now());
    let submit = vec![call("x-1", &[]), call("y-1", &["x-1"])];
    s.client_update(c, ClientUpdate { submit, want: vec!["y-1".into()], ..Default::default() });
    let start = Instant::now();
    s.remove_worker(a);
    assert_eq!(s.tasks["x-1"].state, TaskState::NoWorker);
    s.check_unrunnable(start);
    s.check_unrunnable(start + Duration::from_secs(9));
    assert_eq!(s.tasks["x-1"].state, TaskState::NoWorker, "waits within the timeout");
    s.outbox.take();
    s.check_unrunnable(start + Duration::from_secs(11));
    s.validate().expect("valid");
    let failed = &s.outbox.take().clients[&c].failed;
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].key, "y-1");
    assert!(failed[0].message.contains("no worker was alive") && failed[0].message.contains("10 s"));
}

#[test]
fn a_worker_joining_in_time_runs_the_waiting_work() {
    let config =
        SchedulerConfig { validate: true, no_workers_timeout: Duration::from_secs(10), ..Default::default() };
    let mut s = SchedulerState::new(config);
    let c = s.add_client();
    s.client_update(
        c,
        ClientUpdate { submit: vec![call("x-1", &[])], want: vec!["x-1".into()], ..Default::default() },
    );
    let start = Instant::now();
    s.check_unrunnable(start);
    let a = s.add_worker(hello("a", &[]), start + Duration::from_secs(9));
    s.check_unrunnable(start + Duration::from_secs(11));
    assert_eq!(s.tasks["x-1"].processing_on, Some(a));
    // Unrunnable for its resources while a worker is alive: the same timeout, its own words.
    let gpu = TaskSpec { resources: [("gpu".to_string(), 1.0)].into_iter().collect(), ..call("g-1", &[]) };
    s.client_update(c, ClientUpdate { submit: vec![gpu], want: vec!["g-1".into()], ..Default::default() });
    assert_eq!(s.tasks["g-1"].state, TaskState::NoWorker);
    s.check_unrunnable(start + Duration::from_secs(12));
    s.check_unrunnable(start + Duration::from_secs(23));
    let t = &s.tasks["g-1"];
    assert_eq!(t.state, TaskState::Erred);
    let error = t.error.as_ref().expect("an error");
    assert_eq!(error.kind, FailureKind::NoWorkers as i32);
    assert!(error.message.contains("gpu=1"), "{}", error.message);
}

#[test]
fn retiring_worker_hands_back_work_and_moves_results_without_recomputing() {
    let mut s = state();
    let c = s.add_client();
    let a = s.add_worker(hello("a", &[]), Instant::now());
    let submit = vec![call("x-1", &[]), call("y-1", &[]), call("z-1", &["x-1"])];
    s.client_update(c, ClientUpdate { submit, want: vec!["y-1".into(), "z-1".into()], ..Default::default() });
    finish(&mut s, a, "x-1");
    let b = s.add_worker(hello("b", &[]), Instant::now());
    s.outbox.take();
    let now = Instant::now();
    s.worker_update(a, WorkerUpdate { retiring: true, ..Default::default() }, now);
    s.validate().expect("valid");
    let frames = s.outbox.take().workers;
    let to_a = &frames[&a];
    assert!(to_a.retire_started);
    let mut steal = to_a.steal.clone();
    steal.sort();
    assert_eq!(steal, vec!["y-1".to_string(), "z-1".to_string()]);
    let asked: Vec<&str> = frames[&b].acquire.iter().map(|l| l.key.as_str()).collect();
    assert_eq!(asked, vec!["x-1"], "x-1, held only by a and read by z-1, moves to b");
    assert_eq!(frames[&b].acquire[0].addrs, vec!["grpc://a:1".to_string()]);
    // y-1 had started and stays; z-1 had not and moves to b, which fetches x-1 itself.
    s.worker_update(
        a,
        WorkerUpdate { steal_refused: vec!["y-1".into()], stolen: vec!["z-1".into()], ..Default::default() },
        now,
    );
    s.validate().expect("valid");
    assert_eq!(s.tasks["z-1"].processing_on, Some(b));
    finish(&mut s, a, "y-1");
    s.advance_retirements(now);
    let acquire = &s.outbox.take().workers[&b].acquire;
    let asked: Vec<&str> = acquire.iter().map(|l| l.key.as_str()).collect();
    assert_eq!(asked, vec!["y-1"], "y-1 finished there and moves too; x-1 was asked for already");
    s.worker_update(
        b,
        WorkerUpdate { replicas: vec!["x-1".into(), "y-1".into()], ..Default::default() },
        now,
    );
    s.advance_retirements(now);
    s.validate().expect("valid");
    assert_eq!(s.retired, vec![a], "drained: told to leave");
    assert!(!s.workers.contains_key(&a));
    for key in ["x-1", "y-1"] {
        assert_eq!(s.tasks[key].state, TaskState::Memory, "{key} is not recomputed: {:?}", s.tasks[key]);
        assert!(s.tasks[key].killed_on.is_empty());
    }
    assert!(s.outbox.clients.get(&c).is_none_or(|events| events.lost.is_empty()));
}

#[test]
fn retiring_worker_gets_no_new_work() {
    let mut s = state();
    let c = s.add_client();
    let a = s.add_worker(hello("a", &[]), Instant::now());
    s.client_update(
        c,
        ClientUpdate { submit: vec![call("x-1", &[])], want: vec!["x-1".into()], ..Default::default() },
    );
    assert!(s.retire_worker(a, Instant::now()));
    s.worker_update(
        a,
        WorkerUpdate { steal_refused: vec!["x-1".into()], ..Default::default() },
        Instant::now(),
    );
    s.client_update(
        c,
        ClientUpdate { submit: vec![call("w-1", &[])], want: vec!["w-1".into()], ..Default::default() },
    );
    assert_eq!(s.tasks["w-1"].state, TaskState::NoWorker);
    let b = s.add_worker(hello("b", &[]), Instant::now());
    assert_eq!(s.tasks["w-1"].processing_on, Some(b));
    assert_eq!(s.scatter_targets(2), vec!["grpc://b:1".to_string(), "grpc://b:1".to_string()]);
    s.validate().expect("valid");
}

#[test]
fn work_waiting_for_a_paused_worker_goes_to_it_when_it_resumes() {
    let mut s = state();
    let c = s.add_client();
    let a = s.add_worker(hello("a", &[]), Instant::now());
    let paused = |paused| WorkerUpdate {
        metrics: Some(dusk_flight::messages::WorkerMetrics { paused, ..Default::default() }),
        ..Default::default()
    };
    s.worker_update(a, paused(true), Instant::now());
    s.client_update(
        c,
        ClientUpdate { submit: vec![call("x-1", &[])], want: vec!["x-1".into()], ..Default::default() },
    );
    assert_eq!(s.tasks["x-1"].state, TaskState::NoWorker);
    s.worker_update(a, paused(false), Instant::now());
    s.validate().expect("valid");
    assert_eq!(s.tasks["x-1"].processing_on, Some(a));
}

#[test]
fn a_second_worker_with_a_taken_name_is_refused() {
    let mut s = state();
    let a = s.add_worker(hello("a", &[]), Instant::now());
    let impostor = WorkerHello { data_addr: "grpc://elsewhere:1".into(), ..hello("a", &[]) };
    let why = s.refuse(&impostor).expect("refused");
    assert!(why.contains("grpc://a:1") && why.contains("unique"), "{why}");
    assert_eq!(s.refuse(&hello("a", &["x-1"])), None, "the same worker rejoining is welcome");
    assert!(s.workers.contains_key(&a));
}
