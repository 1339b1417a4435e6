//! The client's table of keys it holds futures for, and what it knows of each.
//!
//! Every [`Future`](super::Future) of a key shares one entry, counted; when the last one
//! is dropped the entry goes and the scheduler is told to release the key. Statuses are
//! `watch` channels, so any number of waiters see each change and a waiter that starts
//! late sees the latest status at once.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};

use dusk_flight::messages::{TaskFailed, ValueKind};
use tokio::sync::watch;

use crate::graph::{KeyMap, TaskKey};

/// What the client knows of a key.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum KeyStatus {
    /// Not finished yet (or being recomputed after a loss).
    Pending,
    /// In memory on these workers.
    /// (Shared, so following a status costs no copy of the addresses.)
    Ready { addrs: std::sync::Arc<[String]>, nbytes: u64, kind: ValueKind },
    /// Failed for good.
    Failed(TaskFailed),
    /// Cancelled.
    Cancelled,
    /// The connection to the scheduler is gone.
    Disconnected,
}

impl KeyStatus {
    /// True once nothing more will happen to the key unless it is lost.
    pub(crate) fn is_done(&self) -> bool {
        !matches!(self, KeyStatus::Pending)
    }
}

#[derive(Debug)]
struct Entry {
    refs: usize,
    status: watch::Sender<KeyStatus>,
}

/// See the module docs.
#[derive(Debug, Default)]
pub(crate) struct KeyTable {
    entries: Mutex<KeyMap<Entry>>,
    /// Set once the session ended: new entries start out disconnected.
    closed: AtomicBool,
}

impl KeyTable {
    fn lock(&self) -> MutexGuard<'_, KeyMap<Entry>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Counts one more future of `key`. A key of an earlier session that is submitted
    /// again in a new one is pending again.
    pub(crate) fn acquire(&self, key: &TaskKey) {
        let closed = self.closed.load(Ordering::Acquire);
        let initial = if closed { KeyStatus::Disconnected } else { KeyStatus::Pending };
        let mut entries = self.lock();
        let entry = entries
            .entry(key.clone())
            .or_insert_with(|| Entry { refs: 0, status: watch::channel(initial).0 });
        if !closed {
            entry.status.send_if_modified(|s| {
                let stale = *s == KeyStatus::Disconnected;
                if stale {
                    *s = KeyStatus::Pending;
                }
                stale
            });
        }
        entry.refs += 1;
    }

    /// Counts one future fewer; true when it was the last.
    pub(crate) fn release(&self, key: &TaskKey) -> bool {
        let mut entries = self.lock();
        let Some(entry) = entries.get_mut(key) else { return false };
        entry.refs -= 1;
        if entry.refs == 0 {
            entries.remove(key);
            true
        } else {
            false
        }
    }

    /// Records what the scheduler said about some keys.
    pub(crate) fn set_many(&self, updates: impl IntoIterator<Item = (String, KeyStatus)>) {
        let entries = self.lock();
        for (key, status) in updates {
            if let Some(entry) = entries.get(key.as_str()) {
                entry.status.send_replace(status);
            }
        }
    }

    /// Sets a key's status unless it is already done.
    pub(crate) fn set_if_pending(&self, key: &TaskKey, status: KeyStatus) {
        if let Some(entry) = self.lock().get(key) {
            entry.status.send_if_modified(|s| {
                let pending = !s.is_done();
                if pending {
                    *s = status;
                }
                pending
            });
        }
    }

    /// Follows a key's status.
    pub(crate) fn subscribe(&self, key: &TaskKey) -> Option<watch::Receiver<KeyStatus>> {
        self.lock().get(key).map(|e| e.status.subscribe())
    }

    /// A new session is open: keys acquired from now on start out pending.
    pub(crate) fn reopen(&self) {
        self.closed.store(false, Ordering::Release);
    }

    /// Marks every key as disconnected, waking every waiter.
    pub(crate) fn disconnect_all(&self) {
        self.closed.store(true, Ordering::Release);
        for entry in self.lock().values() {
            entry.status.send_replace(KeyStatus::Disconnected);
        }
    }
}
