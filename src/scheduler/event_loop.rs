//! The scheduler's event loop: the one owner of its state.
//!
//! Connections send [`Event`]s; the loop drains whatever is queued (up to a bound, so a
//! flood cannot starve the timers), applies each to the state, then flushes the outbox:
//! one frame per peer per turn. That is where batching comes from: under load, a turn
//! handles many events and sends few frames; when idle, a single completion goes out at
//! once. Timers check heartbeats and rebalance work.
//!
//! Shutdown: when the shutdown signal fires, the workers' channels are dropped (ending
//! their streams) and the loop returns. Workers are not told to exit: they keep their
//! results and reconnect to the next scheduler on this address (see `membership`).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use dusk_flight::actions;
use dusk_flight::envelope::{decode_message, encode_message, take_front};
use dusk_flight::messages::{
    ClientEvents, ClientUpdate, DatasetKeys, DatasetList, DatasetName, PublishRequest, ScatterTargetRequest,
    ScatterTargets, TaskHistory, TaskHistoryRequest, WorkerHello, WorkerInstructions, WorkerUpdate,
};
use dusk_flight::query::StagePrefixes;
use tokio::sync::{mpsc, oneshot, watch};
use tonic::Status;

use super::records::{ClientId, WorkerId};
use super::state::SchedulerState;
use crate::config::SchedulerConfig;

/// Events handled per loop turn before timers get a look.
const MAX_EVENTS_PER_TURN: usize = 4096;

/// Something that happened at the edge, for the loop to apply.
#[derive(Debug)]
pub(crate) enum Event {
    WorkerJoined {
        hello: WorkerHello,
        tx: mpsc::UnboundedSender<WorkerInstructions>,
        reply: oneshot::Sender<Result<WorkerId, Status>>,
    },
    Worker(WorkerId, WorkerUpdate),
    WorkerLeft(WorkerId),
    ClientJoined {
        tx: mpsc::UnboundedSender<ClientEvents>,
        reply: oneshot::Sender<ClientId>,
    },
    Client(ClientId, ClientUpdate),
    ClientLeft(ClientId),
    Action {
        kind: String,
        body: Bytes,
        reply: oneshot::Sender<Result<Bytes, Status>>,
    },
    /// Runs a read-only look at the state between events (the dashboard's views); it
    /// must be quick, as the loop waits for it.
    Inspect(Inspection),
}

/// A look at the state, run on the event loop; it sends its answer itself.
pub(crate) struct Inspection(pub(crate) Box<dyn FnOnce(&SchedulerState) + Send>);

impl std::fmt::Debug for Inspection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Inspection")
    }
}

/// Runs until `shutdown` turns true or every sender is gone.
pub(crate) async fn run(
    config: SchedulerConfig,
    mut events: mpsc::UnboundedReceiver<Event>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(config.steal_interval.min(Duration::from_millis(500)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut lp = Loop {
        state: SchedulerState::new(config),
        workers: HashMap::new(),
        clients: HashMap::new(),
        retiring: HashMap::new(),
    };
    loop {
        tokio::select! {
            event = events.recv() => {
                let Some(event) = event else { break };
                lp.handle(event);
                for _ in 0..MAX_EVENTS_PER_TURN {
                    match events.try_recv() {
                        Ok(event) => lp.handle(event),
                        Err(_) => break,
                    }
                }
            }
            _ = tick.tick() => {
                let now = Instant::now();
                for id in lp.state.check_heartbeats(now) {
                    lp.workers.remove(&id);
                }
                lp.state.check_unrunnable(now);
                lp.state.advance_retirements(now);
                lp.state.balance();
            }
            _ = shutdown.changed() => break,
        }
        if lp.state.config.validate
            && let Err(e) = lp.state.validate()
        {
            panic!("scheduler state invalid: {e}");
        }
        lp.flush();
    }
}

struct Loop {
    state: SchedulerState,
    workers: HashMap<WorkerId, mpsc::UnboundedSender<WorkerInstructions>>,
    clients: HashMap<ClientId, mpsc::UnboundedSender<ClientEvents>>,
    /// `dusk.retire_worker` calls waiting for their worker to leave.
    retiring: HashMap<WorkerId, Vec<oneshot::Sender<Result<Bytes, Status>>>>,
}

impl Loop {
    fn handle(&mut self, event: Event) {
        match event {
            Event::WorkerJoined { hello, tx, reply } => {
                tracing::info!(worker.addr = %hello.data_addr, worker.threads = hello.threads,
                    worker.memory_limit_bytes = hello.memory_limit_bytes, "worker joined");
                if let Some(why) = self.state.refuse(&hello) {
                    tracing::warn!(worker.addr = %hello.data_addr, reason = %why, "refused a worker");
                    let _ = reply.send(Err(Status::already_exists(why)));
                    return;
                }
                let id = self.state.add_worker(hello, Instant::now());
                // An earlier registration of the same worker may have ended just now.
                self.workers.retain(|id, _| self.state.workers.contains_key(id));
                self.workers.insert(id, tx);
                let _ = reply.send(Ok(id));
            }
            Event::Worker(id, update) => self.state.worker_update(id, update, Instant::now()),
            Event::WorkerLeft(id) => {
                if self.workers.remove(&id).is_some() {
                    self.state.remove_worker(id);
                }
            }
            Event::ClientJoined { tx, reply } => {
                let id = self.state.add_client();
                tracing::debug!(client.id = id.0, "client connected");
                self.clients.insert(id, tx);
                let _ = reply.send(id);
            }
            Event::Client(id, update) => self.state.client_update(id, update),
            Event::ClientLeft(id) => {
                tracing::debug!(client.id = id.0, "client disconnected");
                self.clients.remove(&id);
                self.state.remove_client(id);
            }
            Event::Action { kind, body, reply } if kind == actions::RETIRE_WORKER => {
                self.retire(&body, reply);
            }
            Event::Action { kind, body, reply } => {
                let _ = reply.send(self.action(&kind, &body));
            }
            Event::Inspect(Inspection(look)) => look(&self.state),
        }
    }

    fn action(&mut self, kind: &str, body: &[u8]) -> Result<Bytes, Status> {
        match kind {
            actions::PUBLISH => {
                let r: PublishRequest = decode_message(body, "publish request")?;
                self.state.publish(r.name, r.keys, r.overwrite).map_err(Status::already_exists)?;
                Ok(Bytes::new())
            }
            actions::UNPUBLISH => {
                let r: DatasetName = decode_message(body, "dataset name")?;
                if self.state.unpublish(&r.name) {
                    Ok(Bytes::new())
                } else {
                    Err(Status::not_found(format!("no dataset named {:?}", r.name)))
                }
            }
            actions::GET_DATASET => {
                let r: DatasetName = decode_message(body, "dataset name")?;
                let keys = self
                    .state
                    .dataset(&r.name)
                    .ok_or_else(|| Status::not_found(format!("no dataset named {:?}", r.name)))?;
                Ok(encode_message(&DatasetKeys { keys }))
            }
            actions::LIST_DATASETS => {
                Ok(encode_message(&DatasetList { names: self.state.datasets.keys().cloned().collect() }))
            }
            actions::SCATTER_TARGETS => {
                let r: ScatterTargetRequest = decode_message(body, "scatter target request")?;
                let addrs = self.state.scatter_targets(r.count as usize);
                if addrs.is_empty() && r.count > 0 {
                    return Err(Status::unavailable("no workers are connected to receive scattered data"));
                }
                Ok(encode_message(&ScatterTargets { addrs }))
            }
            actions::CLUSTER_INFO => Ok(encode_message(&self.state.cluster_info())),
            actions::STAGE_COUNTS => {
                let r: StagePrefixes = decode_message(body, "stage prefixes")?;
                Ok(encode_message(&self.state.unfinished_by_stage(r.prefixes)))
            }
            actions::TASK_HISTORY => {
                let request: TaskHistoryRequest = decode_message(body, "task history request")?;
                Ok(encode_message(&TaskHistory { runs: self.state.history.with_prefix(&request.prefix) }))
            }
            other => Err(Status::invalid_argument(format!("unknown action {other:?}"))),
        }
    }

    /// Starts draining the worker a `dusk.retire_worker` call names; the reply goes out
    /// once it has left.
    fn retire(&mut self, body: &[u8], reply: oneshot::Sender<Result<Bytes, Status>>) {
        let request: DatasetName = match decode_message(body, "worker name") {
            Ok(r) => r,
            Err(e) => {
                let _ = reply.send(Err(e.into()));
                return;
            }
        };
        let Some(id) = self.state.worker_named(&request.name) else {
            let _ = reply
                .send(Err(Status::not_found(format!("no worker named {:?} is connected", request.name))));
            return;
        };
        self.state.retire_worker(id, Instant::now());
        self.retiring.entry(id).or_default().push(reply);
    }

    /// Tells workers whose drain finished to shut down, and answers who waited for that.
    fn release_retired(&mut self) {
        for id in std::mem::take(&mut self.state.retired) {
            if let Some(tx) = self.workers.remove(&id) {
                let _ = tx.send(super::membership::shutdown_frame());
            }
            for reply in self.retiring.remove(&id).unwrap_or_default() {
                let _ = reply.send(Ok(Bytes::new()));
            }
        }
        if !self.retiring.is_empty() {
            let gone: Vec<WorkerId> =
                self.retiring.keys().filter(|id| !self.state.workers.contains_key(id)).copied().collect();
            for id in gone {
                for reply in self.retiring.remove(&id).unwrap_or_default() {
                    let _ = reply.send(Err(Status::aborted(format!(
                        "{id} left before its drain finished; its results are recomputed as needed"
                    ))));
                }
            }
        }
    }

    /// Sends what the state decided, split into bounded frames.
    fn flush(&mut self) {
        self.release_retired();
        let outbox = self.state.outbox.take();
        for (id, frame) in outbox.workers {
            if let Some(tx) = self.workers.get(&id) {
                for part in split_instructions(frame) {
                    let _ = tx.send(part);
                }
            }
        }
        for (id, frame) in outbox.clients {
            if let Some(tx) = self.clients.get(&id) {
                for part in split_events(frame) {
                    let _ = tx.send(part);
                }
            }
        }
    }
}

fn split_instructions(mut frame: WorkerInstructions) -> Vec<WorkerInstructions> {
    let mut parts = Vec::new();
    loop {
        let part = WorkerInstructions {
            welcome: frame.welcome.take(),
            compute: take_front(&mut frame.compute),
            free: take_front(&mut frame.free),
            cancel: take_front(&mut frame.cancel),
            steal: take_front(&mut frame.steal),
            shutdown: frame.shutdown,
            ticket_key: std::mem::take(&mut frame.ticket_key),
            acquire: take_front(&mut frame.acquire),
            retire_started: frame.retire_started,
        };
        let done = frame.compute.is_empty()
            && frame.free.is_empty()
            && frame.cancel.is_empty()
            && frame.steal.is_empty()
            && frame.acquire.is_empty();
        parts.push(part);
        if done {
            return parts;
        }
    }
}

fn split_events(mut frame: ClientEvents) -> Vec<ClientEvents> {
    let mut parts = Vec::new();
    loop {
        let part = ClientEvents {
            welcome: frame.welcome.take(),
            ready: take_front(&mut frame.ready),
            failed: take_front(&mut frame.failed),
            cancelled: take_front(&mut frame.cancelled),
            lost: take_front(&mut frame.lost),
        };
        let done = frame.ready.is_empty()
            && frame.failed.is_empty()
            && frame.cancelled.is_empty()
            && frame.lost.is_empty();
        parts.push(part);
        if done {
            return parts;
        }
    }
}
