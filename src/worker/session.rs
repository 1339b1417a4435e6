//! The worker's session with the scheduler: registering, serving the stream, and
//! reconnecting when it breaks.
//!
//! A registration is one `DoExchange` stream opened with a hello that lists the results
//! this worker holds. While it lasts, [`serve`] feeds the scheduler's frames and the
//! background events to the [`WorkerLoop`] and sends its reports. When the stream breaks
//! (scheduler restarted, network cut, or the scheduler dropped this worker for missing
//! its heartbeat), the loop's task table is voided ([`WorkerLoop::disconnected`]) and
//! [`reconnect`] registers again with capped exponential backoff and jitter, for as long
//! as `reconnect_timeout` allows. The data plane keeps serving the whole time, and
//! results are kept: the scheduler takes back those still wanted.
//!
//! Retiring: the owner's [`StopRequest::Retire`] makes the worker ask the scheduler to
//! drain it; the scheduler's shutdown frame then ends the session with
//! [`WorkerExit::Retired`]. A drain that outlasts `drain_timeout` ends with
//! [`WorkerExit::Stopped`]; so does retiring while disconnected (there is no one to hand
//! results to).

use std::time::Duration;

use arrow_flight::flight_service_client::FlightServiceClient;
use arrow_flight::{FlightData, FlightDescriptor};
use dusk_flight::envelope::{error_chain, from_flight_data, to_flight_data};
use dusk_flight::messages::{WorkerHello, WorkerInstructions, WorkerUpdate};
use futures::StreamExt;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_stream::wrappers::UnboundedReceiverStream;
use tonic::Streaming;

use super::error::WorkerError;
use super::event_loop::{WorkerEvent, WorkerLoop};
use super::handle::{StopRequest, WorkerExit};
use crate::net;
use crate::net::MAX_MESSAGE_BYTES;
use crate::security::Credentials;

/// Background events handled per loop turn before the scheduler's frames get a look.
const MAX_EVENTS_PER_TURN: usize = 4096;

/// How this worker registers, again and again.
#[derive(Debug, Clone)]
pub(crate) struct Registration {
    pub(crate) scheduler_url: String,
    pub(crate) credentials: Credentials,
    /// The hello without its held results (filled in at each registration).
    pub(crate) hello: WorkerHello,
}

/// One registration's stream: frames in, reports out.
pub(crate) struct Link {
    inbound: Streaming<FlightData>,
    outgoing: mpsc::UnboundedSender<WorkerUpdate>,
}

/// How the worker's session runs.
#[derive(Debug, Clone)]
pub(crate) struct SessionSettings {
    pub(crate) heartbeat: Duration,
    /// `None`: reconnect forever; zero: never.
    pub(crate) reconnect_timeout: Option<Duration>,
    pub(crate) drain_timeout: Duration,
}

impl Registration {
    /// Opens a new registration, announcing `held` results.
    pub(crate) async fn register(
        &self,
        held: Vec<dusk_flight::messages::TaskFinished>,
    ) -> Result<Link, WorkerError> {
        let channel = net::connect(&self.scheduler_url, &self.credentials).await?;
        let mut scheduler = FlightServiceClient::new(channel)
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES);
        let hello =
            WorkerUpdate { hello: Some(WorkerHello { held, ..self.hello.clone() }), ..Default::default() };
        let mut first = to_flight_data(&hello);
        first.flight_descriptor = Some(FlightDescriptor::new_path(vec!["worker".to_string()]));
        let (outgoing, out_rx) = mpsc::unbounded_channel::<WorkerUpdate>();
        let outbound = futures::stream::once(async move { first })
            .chain(UnboundedReceiverStream::new(out_rx).map(|u| to_flight_data(&u)));
        let inbound = scheduler
            .do_exchange(outbound)
            .await
            .map_err(|source| WorkerError::Scheduler { url: self.scheduler_url.clone(), source })?
            .into_inner();
        Ok(Link { inbound, outgoing })
    }
}

/// How one registration ended.
enum Ended {
    /// The worker is done.
    Exit(WorkerExit),
    /// The stream broke, for this reason.
    Lost(String),
}

/// Runs the worker until it stops, registering again whenever its stream breaks.
pub(crate) async fn run(
    mut lp: WorkerLoop,
    mut events: mpsc::UnboundedReceiver<WorkerEvent>,
    mut link: Link,
    registration: Registration,
    mut stop: watch::Receiver<StopRequest>,
    settings: SessionSettings,
) -> WorkerExit {
    let exit = loop {
        lp.outgoing = link.outgoing.clone();
        let reason = match serve(&mut lp, &mut events, link.inbound, &mut stop, &settings).await {
            Ended::Exit(exit) => break exit,
            Ended::Lost(reason) => reason,
        };
        lp.disconnected();
        if settings.reconnect_timeout == Some(Duration::ZERO) {
            tracing::warn!(worker.name = %lp.name, reason = %reason, "lost the scheduler; not reconnecting");
            break WorkerExit::SchedulerLost(reason);
        }
        tracing::warn!(worker.name = %lp.name, reason = %reason, "lost the scheduler; reconnecting");
        match reconnect(&mut lp, &mut events, &registration, &mut stop, &settings).await {
            Ok(next) => link = next,
            Err(exit) => break exit,
        }
    };
    tracing::info!(worker.name = %lp.name, reason = ?exit, "worker stopping");
    lp.clear();
    exit
}

/// Serves one registration until it ends.
async fn serve(
    lp: &mut WorkerLoop,
    events: &mut mpsc::UnboundedReceiver<WorkerEvent>,
    mut inbound: Streaming<FlightData>,
    stop: &mut watch::Receiver<StopRequest>,
    settings: &SessionSettings,
) -> Ended {
    let mut tick = tokio::time::interval(settings.heartbeat);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // Set once a retirement is asked for: past it, the worker leaves anyway.
    let mut drain_deadline: Option<Instant> = None;
    if *stop.borrow_and_update() == StopRequest::Retire {
        drain_deadline = Some(start_retiring(lp, settings));
    }
    loop {
        tokio::select! {
            frame = inbound.next() => match frame {
                Some(Ok(frame)) => match from_flight_data::<WorkerInstructions>(&frame, "scheduler instructions") {
                    Ok(instructions) => {
                        if instructions.retire_started && drain_deadline.is_none() {
                            // Retired by the scheduler (`dusk.retire_worker`).
                            tracing::info!(worker.name = %lp.name, "the scheduler is retiring this worker");
                            drain_deadline = Some(Instant::now() + settings.drain_timeout);
                        }
                        if !lp.on_instructions(instructions) {
                            let exit = if drain_deadline.is_some() { WorkerExit::Retired } else { WorkerExit::ShutdownRequested };
                            return Ended::Exit(exit);
                        }
                    }
                    Err(e) => return Ended::Lost(error_chain(&e)),
                },
                Some(Err(status)) => return Ended::Lost(status.message().to_string()),
                None => return Ended::Lost("the scheduler closed the connection".to_string()),
            },
            Some(event) = events.recv() => {
                lp.on_event(event);
                for _ in 0..MAX_EVENTS_PER_TURN {
                    match events.try_recv() {
                        Ok(event) => lp.on_event(event),
                        Err(_) => break,
                    }
                }
            }
            _ = tick.tick() => {
                lp.flush(true);
                continue;
            }
            changed = stop.changed() => {
                let request = if changed.is_ok() { *stop.borrow_and_update() } else { StopRequest::Stop };
                match request {
                    StopRequest::Stop => return Ended::Exit(WorkerExit::Stopped),
                    StopRequest::Retire if drain_deadline.is_none() => {
                        drain_deadline = Some(start_retiring(lp, settings));
                    }
                    _ => {}
                }
            }
            () = sleep_until(drain_deadline) => {
                tracing::warn!(worker.name = %lp.name, timeout.ms = settings.drain_timeout.as_millis() as u64,
                    "the drain did not finish in time; leaving anyway");
                return Ended::Exit(WorkerExit::Stopped);
            }
        }
        lp.flush(false);
    }
}

/// Asks the scheduler to drain this worker; returns when to give up waiting.
fn start_retiring(lp: &mut WorkerLoop, settings: &SessionSettings) -> Instant {
    tracing::info!(worker.name = %lp.name, "retiring: handing back work and moving results to peers");
    lp.retire();
    Instant::now() + settings.drain_timeout
}

/// Sleeps until `deadline`, or forever without one.
async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Registers again with capped, jittered exponential backoff; background events are
/// applied meanwhile. Gives up after `reconnect_timeout`, or when asked to stop.
async fn reconnect(
    lp: &mut WorkerLoop,
    events: &mut mpsc::UnboundedReceiver<WorkerEvent>,
    registration: &Registration,
    stop: &mut watch::Receiver<StopRequest>,
    settings: &SessionSettings,
) -> Result<Link, WorkerExit> {
    let started = Instant::now();
    let mut backoff = net::Backoff::default();
    let mut attempts = 0u32;
    loop {
        let wake = Instant::now() + jitter(backoff.next_delay());
        loop {
            tokio::select! {
                () = tokio::time::sleep_until(wake) => break,
                Some(event) = events.recv() => lp.on_event(event),
                changed = stop.changed() => {
                    // With no scheduler there is nothing to drain to: retiring stops too.
                    if changed.is_err() || *stop.borrow_and_update() != StopRequest::Run {
                        return Err(WorkerExit::Stopped);
                    }
                }
            }
        }
        attempts += 1;
        // Reports made while disconnected belong to no registration: the hello's held
        // results say it all.
        lp.disconnected();
        let error = match registration.register(lp.held()).await {
            Ok(link) => {
                tracing::info!(worker.name = %lp.name, attempts, elapsed.ms = started.elapsed().as_millis() as u64,
                    "registered with the scheduler again");
                return Ok(link);
            }
            Err(e) => error_chain(&e),
        };
        tracing::debug!(worker.name = %lp.name, attempts, error = %error, "registering again failed");
        if settings.reconnect_timeout.is_some_and(|limit| started.elapsed() >= limit) {
            return Err(WorkerExit::SchedulerLost(format!(
                "no scheduler at {} for {} s: {error}",
                registration.scheduler_url,
                started.elapsed().as_secs()
            )));
        }
    }
}

/// Between half and all of `delay`, so workers that lost the same scheduler do not all
/// knock at once.
fn jitter(delay: Duration) -> Duration {
    use std::hash::BuildHasher;
    let random = std::hash::RandomState::new().hash_one(std::process::id());
    let spread = (random >> 11) as f64 / (1u64 << 53) as f64;
    delay.mul_f64(0.5 + 0.5 * spread)
}
