//! Futures: handles on tasks submitted to the cluster.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use dusk_flight::messages::ClientUpdate;
use serde::de::DeserializeOwned;

use super::ClientError;
use super::session::Shared;
use crate::graph::TaskKey;

/// A counted reference to a key, untyped. While any exists the scheduler keeps the key's
/// result; dropping the last one releases it.
pub struct KeyRef {
    key: TaskKey,
    shared: Arc<Shared>,
}

impl KeyRef {
    pub(crate) fn new(key: TaskKey, shared: Arc<Shared>) -> Self {
        shared.keys.acquire(&key);
        KeyRef { key, shared }
    }

    /// The key.
    pub fn key(&self) -> &TaskKey {
        &self.key
    }

    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }
}

impl Clone for KeyRef {
    fn clone(&self) -> Self {
        KeyRef::new(self.key.clone(), self.shared.clone())
    }
}

impl Drop for KeyRef {
    fn drop(&mut self) {
        if self.shared.keys.release(&self.key) {
            self.shared.send(ClientUpdate { release: vec![self.key.to_string()], ..Default::default() });
        }
    }
}

impl fmt::Debug for KeyRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("KeyRef").field(&self.key).finish()
    }
}

/// A task's eventual result of type `T`, held on a worker.
///
/// Cheap to clone. Pass it as an argument of another task (`client.submit(inc, (&f,))`)
/// to chain work without moving data through the client; call [`Future::result`] or
/// [`Client::gather`](super::Client::gather) to bring it here. Dropping every clone lets
/// the cluster free the result.
pub struct Future<T> {
    r: KeyRef,
    _t: PhantomData<fn() -> T>,
}

impl<T> Future<T> {
    pub(crate) fn new(r: KeyRef) -> Self {
        Future { r, _t: PhantomData }
    }

    /// The task's key.
    pub fn key(&self) -> &TaskKey {
        self.r.key()
    }

    pub(crate) fn key_ref(&self) -> &KeyRef {
        &self.r
    }

    /// Waits until the task has finished, failed or been cancelled; errors if it did not succeed.
    pub async fn wait(&self) -> Result<(), ClientError> {
        super::gather::wait_ready(self.r.shared(), self.key()).await.map(|_| ())
    }

    /// True once the task is done (in memory, failed or cancelled).
    pub fn done(&self) -> bool {
        self.r.shared().keys.subscribe(self.key()).is_some_and(|rx| rx.borrow().is_done())
    }
}

impl<T: DeserializeOwned> Future<T> {
    /// Waits for the result and brings it to this process.
    pub async fn result(&self) -> Result<T, ClientError> {
        let mut values = super::gather::gather(self.r.shared(), std::slice::from_ref(self)).await?;
        values.pop().ok_or(ClientError::Disconnected)
    }
}

impl<T> Clone for Future<T> {
    fn clone(&self) -> Self {
        Future { r: self.r.clone(), _t: PhantomData }
    }
}

impl<T> fmt::Debug for Future<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Future").field(self.key()).finish()
    }
}
