//! Bringing results to the client: wait until keys are ready, then fetch them from the
//! workers holding them, one stream per worker, all workers at once.
//!
//! A worker can die between the scheduler saying "ready on W" and the fetch from W. The
//! scheduler then reports the key lost and recomputes it; gather waits for the new
//! location and fetches again, so the caller sees the value, not the failure.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use arrow::array::RecordBatch;
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use serde::de::DeserializeOwned;

use super::key_table::KeyStatus;
use super::session::Shared;
use super::{ClientError, Future};
use crate::data_client::TransferError;
use crate::graph::{KeyMap, TaskKey};

/// Fetch rounds before gather gives up on a key whose holders keep failing.
const MAX_FETCH_ROUNDS: usize = 5;

/// How long to wait for the scheduler to notice a holder that failed a fetch.
const RELOCATE_TIMEOUT: Duration = Duration::from_secs(30);

/// Waits until `key` is done; its status if ready, its error otherwise.
pub(crate) async fn wait_ready(shared: &Shared, key: &TaskKey) -> Result<KeyStatus, ClientError> {
    let mut rx = shared.keys.subscribe(key).ok_or(ClientError::Disconnected)?;
    let status = rx.wait_for(KeyStatus::is_done).await.map_err(|_| ClientError::Disconnected)?.clone();
    match status {
        KeyStatus::Ready { .. } => Ok(status),
        KeyStatus::Failed(f) => Err(ClientError::from_failure(f)),
        KeyStatus::Cancelled => Err(ClientError::Cancelled { key: key.to_string() }),
        KeyStatus::Disconnected | KeyStatus::Pending => Err(ClientError::Disconnected),
    }
}

/// Waits until `key` is done, whatever the outcome.
pub(crate) async fn wait_done(shared: &Shared, key: &TaskKey) {
    if let Some(mut rx) = shared.keys.subscribe(key) {
        let _ = rx.wait_for(KeyStatus::is_done).await;
    }
}

/// Results of `futures`, in order.
pub(crate) async fn gather<T: DeserializeOwned>(
    shared: &Arc<Shared>,
    futures: &[Future<T>],
) -> Result<Vec<T>, ClientError> {
    let keys: Vec<TaskKey> = futures.iter().map(|f| f.key().clone()).collect();
    let bytes = gather_bytes(shared, &keys).await?;
    keys.iter()
        .map(|key| {
            let raw = bytes.get(key).ok_or_else(|| ClientError::Unavailable {
                key: key.to_string(),
                message: "missing from the gathered results".into(),
            })?;
            postcard::from_bytes(raw).map_err(|source| ClientError::Decode { key: key.to_string(), source })
        })
        .collect()
}

/// Raw results of `keys`, fetched from their workers.
pub(crate) async fn gather_bytes(
    shared: &Arc<Shared>,
    keys: &[TaskKey],
) -> Result<KeyMap<Bytes>, ClientError> {
    gather_with(shared, keys, |addr, keys| async move {
        let names = keys.iter().map(|k| k.to_string()).collect();
        let values = shared.data.fetch_bytes(&addr, names).await?;
        Ok(values.into_iter().map(|(k, v)| (TaskKey::from(k), v)).collect())
    })
    .await
}

/// Chunk fetches in flight at once while a gather of Arrow results runs.
const BATCH_FETCHES_IN_FLIGHT: usize = 64;

/// Results of `keys` that are Arrow data (array chunks, tables), fetched from their
/// workers. Each is fetched as soon as it is ready, while the others still compute, so
/// moving large chunks here overlaps the work instead of following it; a fetch that
/// fails (its worker died) is retried from the key's new holder.
pub(crate) async fn gather_batches(
    shared: &Arc<Shared>,
    keys: &[TaskKey],
) -> Result<KeyMap<Vec<RecordBatch>>, ClientError> {
    let mut keys = keys.to_vec();
    keys.sort_unstable();
    keys.dedup();
    let fetches = keys.into_iter().map(|key| async move {
        let KeyStatus::Ready { addrs, .. } = wait_ready(shared, &key).await? else {
            return Ok::<_, ClientError>((key, None));
        };
        let addr = addrs.first().map_or("", String::as_str);
        let fetched = shared.data.fetch_batches(addr, key.as_str()).await.ok();
        Ok((key, fetched))
    });
    let results: Vec<(TaskKey, Option<Vec<RecordBatch>>)> =
        futures::stream::iter(fetches).buffer_unordered(BATCH_FETCHES_IN_FLIGHT).try_collect().await?;
    let mut out = KeyMap::default();
    let mut failed = Vec::new();
    for (key, fetched) in results {
        match fetched {
            Some(batches) => {
                out.insert(key, batches);
            }
            None => failed.push(key),
        }
    }
    if !failed.is_empty() {
        let refetched = gather_with(shared, &failed, |addr, keys| async move {
            let mut out = Vec::with_capacity(keys.len());
            for key in keys {
                let batches = shared.data.fetch_batches(&addr, key.as_str()).await?;
                out.push((key, batches));
            }
            Ok(out)
        })
        .await?;
        out.extend(refetched);
    }
    Ok(out)
}

/// Fetches `keys` from their holders with `fetch(addr, keys)`, refetching from the new
/// holder when a worker fails during the fetch.
async fn gather_with<T, F, Fut>(
    shared: &Arc<Shared>,
    keys: &[TaskKey],
    fetch: F,
) -> Result<KeyMap<T>, ClientError>
where
    F: Fn(String, Vec<TaskKey>) -> Fut,
    Fut: std::future::Future<Output = Result<Vec<(TaskKey, T)>, TransferError>>,
{
    let mut remaining: Vec<TaskKey> = keys.to_vec();
    remaining.sort_unstable();
    remaining.dedup();
    let mut out = KeyMap::default();
    let mut last_error: Option<(TaskKey, TransferError)> = None;
    for _ in 0..MAX_FETCH_ROUNDS {
        let mut by_addr: HashMap<String, Vec<TaskKey>> = HashMap::new();
        for key in remaining.drain(..) {
            if let KeyStatus::Ready { addrs, .. } = wait_ready(shared, &key).await? {
                let addr = addrs.first().map_or("", String::as_str);
                match by_addr.get_mut(addr) {
                    Some(keys) => keys.push(key),
                    None => {
                        by_addr.insert(addr.to_string(), vec![key]);
                    }
                }
            }
        }
        let fetches = by_addr.into_iter().map(|(addr, keys)| {
            let fetched = fetch(addr.clone(), keys.clone());
            async move { (addr, keys, fetched.await) }
        });
        for (addr, keys, result) in futures::future::join_all(fetches).await {
            match result {
                Ok(values) => out.extend(values),
                Err(e) => {
                    tracing::debug!(worker.addr = %addr, error = %e, "fetch failed; waiting for the scheduler to relocate");
                    for key in &keys {
                        wait_moved_from(shared, key, &addr).await;
                    }
                    last_error = Some((keys[0].clone(), e));
                    remaining.extend(keys);
                }
            }
        }
        if remaining.is_empty() {
            return Ok(out);
        }
    }
    match last_error {
        Some((key, source)) => Err(ClientError::Fetch { key: key.to_string(), source }),
        None => Err(ClientError::Disconnected),
    }
}

/// Waits (bounded) until the scheduler no longer reports `key` ready on `addr`.
async fn wait_moved_from(shared: &Shared, key: &TaskKey, addr: &str) {
    let Some(mut rx) = shared.keys.subscribe(key) else { return };
    let moved =
        rx.wait_for(|s| !matches!(s, KeyStatus::Ready { addrs, .. } if addrs.iter().any(|a| a == addr)));
    let _ = tokio::time::timeout(RELOCATE_TIMEOUT, moved).await;
}
