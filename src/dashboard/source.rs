//! Where the dashboard reads from: the scheduler's event loop (task, worker and traffic
//! views) and its query engine (the queries list).

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use crate::scheduler::event_loop::{Event, Inspection};
use crate::scheduler::query::QueryEngine;
use crate::scheduler::state::SchedulerState;

/// The scheduler stopped, so there is nothing to show.
#[derive(Debug, thiserror::Error)]
#[error("the scheduler is shutting down")]
pub(crate) struct Gone;

/// See the module docs.
#[derive(Clone, Debug)]
pub(crate) struct Source {
    events: mpsc::UnboundedSender<Event>,
    pub(crate) queries: Arc<QueryEngine>,
}

impl Source {
    pub(crate) fn new(events: mpsc::UnboundedSender<Event>, queries: Arc<QueryEngine>) -> Self {
        Source { events, queries }
    }

    /// Runs `view` on the event loop between two events and returns what it made.
    pub(crate) async fn inspect<T: Send + 'static>(
        &self,
        view: impl FnOnce(&SchedulerState) -> T + Send + 'static,
    ) -> Result<T, Gone> {
        let (reply, answer) = oneshot::channel();
        let look = Inspection(Box::new(move |state: &SchedulerState| {
            let _ = reply.send(view(state));
        }));
        self.events.send(Event::Inspect(look)).map_err(|_| Gone)?;
        answer.await.map_err(|_| Gone)
    }
}
