//! Blocking work (files, `fsync`) run on tokio's blocking pool, off the async reactor.

/// A blocking step that panicked or was cancelled before it finished.
#[derive(Debug, thiserror::Error)]
#[error("{what} did not finish")]
pub(crate) struct BlockingFailed {
    /// The step, e.g. "spilling results to disk".
    what: &'static str,
    /// Why: a panic or the runtime shutting down.
    #[source]
    source: tokio::task::JoinError,
}

/// Runs `work` (named `what` for errors) on tokio's blocking pool and waits for it.
pub(crate) async fn blocking<T: Send + 'static>(
    what: &'static str,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, BlockingFailed> {
    tokio::task::spawn_blocking(work).await.map_err(|source| BlockingFailed { what, source })
}
