//! Messages the scheduler has decided to send, gathered per peer until the event loop
//! flushes them, so one event that touches thousands of tasks sends one frame per peer.

use std::collections::HashMap;

use dusk_flight::messages::{ClientEvents, WorkerInstructions};

use super::records::{ClientId, WorkerId};

/// Pending frames, one per worker and per client.
#[derive(Debug, Default)]
pub(crate) struct Outbox {
    pub(crate) workers: HashMap<WorkerId, WorkerInstructions>,
    pub(crate) clients: HashMap<ClientId, ClientEvents>,
}

impl Outbox {
    /// The pending frame for a worker.
    pub(crate) fn worker(&mut self, id: WorkerId) -> &mut WorkerInstructions {
        self.workers.entry(id).or_default()
    }

    /// The pending frame for a client.
    pub(crate) fn client(&mut self, id: ClientId) -> &mut ClientEvents {
        self.clients.entry(id).or_default()
    }

    /// Hands over everything pending and starts empty.
    pub(crate) fn take(&mut self) -> Outbox {
        std::mem::take(self)
    }
}
