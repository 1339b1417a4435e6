//! The query engine's own session with the event loop.
//!
//! The engine submits stage tasks the way a client does: it joins the event loop as a
//! client, sends `ClientUpdate`s and reads `ClientEvents`. The tracker routes each event
//! about a key to the query waiting for that key.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use dusk_flight::messages::{ClientEvents, ClientUpdate, ResultLocation, TaskFailed};
use tokio::sync::{mpsc, oneshot};

use super::super::event_loop::Event;
use super::super::records::ClientId;
use super::error::QueryError;

/// What happened to a key a query waits for.
#[derive(Debug)]
pub(crate) enum KeyEvent {
    /// It is in memory on these workers.
    Ready(ResultLocation),
    /// It failed.
    Failed(TaskFailed),
    /// It was cancelled.
    Gone,
    /// Its only holder left; the scheduler computes it again, and it will be ready again.
    Lost(String),
}

/// The engine's client session.
#[derive(Debug)]
pub(crate) struct Tracker {
    events: mpsc::UnboundedSender<Event>,
    id: ClientId,
    waiting: Arc<Mutex<HashMap<String, mpsc::UnboundedSender<KeyEvent>>>>,
}

impl Tracker {
    /// Joins the event loop as a client and starts routing its events.
    pub(crate) async fn connect(events: mpsc::UnboundedSender<Event>) -> Result<Self, QueryError> {
        let (tx, mut rx) = mpsc::unbounded_channel::<ClientEvents>();
        let (reply, id) = oneshot::channel();
        events.send(Event::ClientJoined { tx, reply }).map_err(|_| QueryError::ShuttingDown)?;
        let id = id.await.map_err(|_| QueryError::ShuttingDown)?;
        let waiting: Arc<Mutex<HashMap<String, mpsc::UnboundedSender<KeyEvent>>>> = Arc::default();
        let routes = waiting.clone();
        tokio::spawn(async move {
            while let Some(frame) = rx.recv().await {
                let Ok(routes) = routes.lock() else { break };
                let send = |key: &str, event: KeyEvent| {
                    if let Some(tx) = routes.get(key) {
                        let _ = tx.send(event);
                    }
                };
                // Losses first: a key lost and made again within one frame ends up ready.
                for key in frame.lost {
                    send(&key.clone(), KeyEvent::Lost(key));
                }
                for ready in frame.ready {
                    let key = ready.key.clone();
                    send(&key, KeyEvent::Ready(ready));
                }
                for failed in frame.failed {
                    let key = failed.key.clone();
                    send(&key, KeyEvent::Failed(failed));
                }
                for key in frame.cancelled {
                    send(&key, KeyEvent::Gone);
                }
            }
        });
        Ok(Tracker { events, id, waiting })
    }

    /// Sends an update as this client.
    pub(crate) fn send(&self, update: ClientUpdate) {
        let _ = self.events.send(Event::Client(self.id, update));
    }

    /// Routes events about `keys` to the returned receiver until [`Tracker::forget`].
    pub(crate) fn watch(&self, keys: &[String]) -> mpsc::UnboundedReceiver<KeyEvent> {
        let (tx, rx) = mpsc::unbounded_channel();
        if let Ok(mut routes) = self.waiting.lock() {
            for key in keys {
                routes.insert(key.clone(), tx.clone());
            }
        }
        rx
    }

    /// Stops routing events about `keys`.
    pub(crate) fn forget(&self, keys: &[String]) {
        if let Ok(mut routes) = self.waiting.lock() {
            for key in keys {
                routes.remove(key);
            }
        }
    }

    /// Sends an action to the event loop and waits for its answer.
    pub(crate) async fn action(&self, kind: &str, body: bytes::Bytes) -> Result<bytes::Bytes, QueryError> {
        let (reply, answer) = oneshot::channel();
        self.events
            .send(Event::Action { kind: kind.to_string(), body, reply })
            .map_err(|_| QueryError::ShuttingDown)?;
        answer.await.map_err(|_| QueryError::ShuttingDown)?.map_err(|_| QueryError::ShuttingDown)
    }
}
