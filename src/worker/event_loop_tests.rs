//! The worker loop's answers to the scheduler, driven frame by frame.

use std::time::Duration;

use bytes::Bytes;
use dusk_flight::messages::{Arg, Assignment, TaskSpec, WorkerInstructions, arg};

use super::*;
use crate::worker::result_store::StoreConfig;

struct Harness {
    lp: WorkerLoop,
    events: mpsc::UnboundedReceiver<WorkerEvent>,
    _spill: tempfile::TempDir,
}

fn harness() -> Harness {
    let spill = tempfile::tempdir().expect("temp dir");
    let store = Arc::new(ResultStore::new(StoreConfig::new(1 << 30, spill.path())).expect("store"));
    let peers = Arc::new(DataClient::new(Default::default()));
    let stages = Arc::new(StageRunner::new(store.clone(), peers.clone(), "w".into()));
    let executor = Executor::start(1, Resources::none()).expect("executor");
    let (events_tx, events) = mpsc::unbounded_channel();
    let (outgoing, _) = mpsc::unbounded_channel();
    let registry = Arc::new(FunctionRegistry::from_linked());
    let tickets = TicketKey::default();
    let lp = WorkerLoop::new(
        "w".into(),
        store,
        registry,
        stages,
        executor,
        peers,
        events_tx,
        outgoing,
        u64::MAX,
        tickets,
    );
    Harness { lp, events, _spill: spill }
}

/// Waits until the executor's one thread has picked a task up.
async fn until_running(h: &Harness) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while h.lp.executor.load().0 == 0 {
        assert!(tokio::time::Instant::now() < deadline, "the executor never started the task");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

fn literal<T: serde::Serialize>(value: &T) -> Arg {
    Arg { value: Some(arg::Value::Literal(Bytes::from(postcard::to_stdvec(value).expect("encodes")))) }
}

/// A `slow_inc` task that runs for `ms` milliseconds.
fn slow(key: &str, ms: u64) -> Assignment {
    let task = TaskSpec {
        key: key.into(),
        function: "slow_inc".into(),
        args: vec![literal(&1i64), literal(&ms)],
        ..Default::default()
    };
    Assignment { task: Some(task), deps: Vec::new(), generation: 0 }
}

#[tokio::test]
async fn a_steal_of_a_running_task_is_refused_and_the_task_still_reports() {
    let mut h = harness();
    h.lp.on_instructions(WorkerInstructions { compute: vec![slow("busy", 2000)], ..Default::default() });
    until_running(&h).await;
    h.lp.on_instructions(WorkerInstructions { steal: vec!["busy".into()], ..Default::default() });
    assert_eq!(h.lp.update.steal_refused, vec!["busy".to_string()]);
    assert!(h.lp.update.stolen.is_empty());

    let event = tokio::time::timeout(Duration::from_secs(10), h.events.recv()).await;
    h.lp.on_event(event.expect("the task finishes").expect("events open"));
    let finished: Vec<&str> = h.lp.update.finished.iter().map(|f| f.key.as_str()).collect();
    assert_eq!(finished, vec!["busy"], "a refused steal must not drop the task's result");
}

#[tokio::test]
async fn a_steal_of_a_queued_task_gives_it_up() {
    let mut h = harness();
    let frame =
        WorkerInstructions { compute: vec![slow("first", 2000), slow("second", 1)], ..Default::default() };
    h.lp.on_instructions(frame);
    until_running(&h).await;
    h.lp.on_instructions(WorkerInstructions { steal: vec!["second".into()], ..Default::default() });
    assert_eq!(h.lp.update.stolen, vec!["second".to_string()]);

    let event = tokio::time::timeout(Duration::from_secs(10), h.events.recv()).await;
    h.lp.on_event(event.expect("the first task finishes").expect("events open"));
    let finished: Vec<&str> = h.lp.update.finished.iter().map(|f| f.key.as_str()).collect();
    assert_eq!(finished, vec!["first"]);
}

#[tokio::test]
async fn a_cancel_of_a_running_task_drops_its_result() {
    let mut h = harness();
    h.lp.on_instructions(WorkerInstructions { compute: vec![slow("doomed", 200)], ..Default::default() });
    until_running(&h).await;
    h.lp.on_instructions(WorkerInstructions { cancel: vec!["doomed".into()], ..Default::default() });
    let event = tokio::time::timeout(Duration::from_secs(10), h.events.recv()).await;
    h.lp.on_event(event.expect("the task ends").expect("events open"));
    assert!(h.lp.update.finished.is_empty());
    assert!(!h.lp.store.contains("doomed"));
}

#[tokio::test]
async fn a_task_assigned_again_while_its_cancelled_run_ends_still_reports() {
    let mut h = harness();
    h.lp.on_instructions(WorkerInstructions { compute: vec![slow("again", 600)], ..Default::default() });
    until_running(&h).await;
    // The scheduler drops the task (an input was lost elsewhere), then wants it here again.
    h.lp.on_instructions(WorkerInstructions { cancel: vec!["again".into()], ..Default::default() });
    h.lp.on_instructions(WorkerInstructions { compute: vec![slow("again", 600)], ..Default::default() });
    let event = tokio::time::timeout(Duration::from_secs(10), h.events.recv()).await;
    h.lp.on_event(event.expect("the task ends").expect("events open"));
    let finished: Vec<&str> = h.lp.update.finished.iter().map(|f| f.key.as_str()).collect();
    assert_eq!(finished, vec!["again"], "the second assignment must not be lost");
    assert!(h.lp.store.contains("again"));
}

#[tokio::test]
async fn a_cancel_after_a_second_assignment_drops_both() {
    let mut h = harness();
    h.lp.on_instructions(WorkerInstructions { compute: vec![slow("gone", 400)], ..Default::default() });
    until_running(&h).await;
    for frame in [
        WorkerInstructions { cancel: vec!["gone".into()], ..Default::default() },
        WorkerInstructions { compute: vec![slow("gone", 400)], ..Default::default() },
        WorkerInstructions { cancel: vec!["gone".into()], ..Default::default() },
    ] {
        h.lp.on_instructions(frame);
    }
    let event = tokio::time::timeout(Duration::from_secs(10), h.events.recv()).await;
    h.lp.on_event(event.expect("the task ends").expect("events open"));
    assert!(h.lp.update.finished.is_empty());
    assert!(h.lp.tasks.is_empty(), "nothing may be left to run");
}
