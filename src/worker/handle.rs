//! Handles to a running worker: wait for it, stop it at once, or let it retire.

use std::sync::Arc;

use tokio::sync::watch;

/// Why a worker stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkerExit {
    /// The connection to the scheduler broke (or the scheduler dropped this worker) and
    /// could not be made again within `reconnect_timeout` (at once when it is zero).
    SchedulerLost(String),
    /// The scheduler told it to shut down.
    ShutdownRequested,
    /// It retired: its results moved to peers and the scheduler let it go.
    Retired,
    /// [`WorkerHandle::shutdown`] was called (or a retirement ran out of time).
    Stopped,
}

/// What the worker's owner asks of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StopRequest {
    /// Keep serving.
    Run,
    /// Drain, then leave (see [`WorkerHandle::retire`]).
    Retire,
    /// Leave now.
    Stop,
}

/// A running worker.
#[derive(Debug)]
pub struct WorkerHandle {
    pub(crate) data_addr: String,
    pub(crate) stop: Arc<watch::Sender<StopRequest>>,
    pub(crate) join: tokio::task::JoinHandle<WorkerExit>,
}

/// Stops a worker from elsewhere (a signal handler), without owning its handle.
#[derive(Debug, Clone)]
pub struct WorkerStopper(Arc<watch::Sender<StopRequest>>);

impl WorkerStopper {
    /// Asks the worker to stop at once; [`WorkerHandle::wait`] then returns
    /// [`WorkerExit::Stopped`].
    pub fn stop(&self) {
        let _ = self.0.send(StopRequest::Stop);
    }

    /// Asks the worker to retire: it takes no new tasks, its results still wanted move
    /// to peers, then it leaves with [`WorkerExit::Retired`]. Asking again (a second
    /// SIGTERM) stops it at once.
    pub fn retire(&self) {
        self.0.send_modify(|now| {
            *now = match *now {
                StopRequest::Run => StopRequest::Retire,
                _ => StopRequest::Stop,
            }
        });
    }
}

impl WorkerHandle {
    /// `grpc://host:port` of its data plane.
    pub fn data_addr(&self) -> &str {
        &self.data_addr
    }

    /// A handle that stops or retires this worker.
    pub fn stopper(&self) -> WorkerStopper {
        WorkerStopper(self.stop.clone())
    }

    /// Waits until the worker stops, and says why.
    pub async fn wait(self) -> WorkerExit {
        let exit =
            self.join.await.unwrap_or_else(|e| WorkerExit::SchedulerLost(format!("worker task ended: {e}")));
        let _ = self.stop.send(StopRequest::Stop);
        exit
    }

    /// Stops the worker at once, as if its process had died: the scheduler sees it leave.
    pub async fn shutdown(self) -> WorkerExit {
        let _ = self.stop.send(StopRequest::Stop);
        self.wait().await
    }

    /// Retires the worker (see [`WorkerStopper::retire`]) and waits until it has left.
    pub async fn retire(self) -> WorkerExit {
        self.stopper().retire();
        self.wait().await
    }
}
