//! Where shuffle readers get their input: the seam between planning and the cluster.
//!
//! A [`ShuffleReaderExec`](crate::ShuffleReaderExec) knows *which* producer tasks it
//! reads, not *where* their outputs are. The process running a stage task (a Dusk worker)
//! supplies a [`ShuffleSource`] through the task's DataFusion session config, wrapped in
//! [`ShuffleInputs`]; it reads outputs from its own result store when the producer ran
//! there and over Flight `DoGet` from the peer that holds them otherwise.

use std::fmt::Debug;
use std::sync::Arc;

use arrow::array::RecordBatch;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::TaskContext;
use futures::stream::BoxStream;

/// Reads one output partition of one producer task.
#[async_trait::async_trait]
pub trait ShuffleSource: Debug + Send + Sync {
    /// Streams output partition `partition` of the task with key `producer`.
    ///
    /// An error that means "the producer's output is gone" (its worker died) should be a
    /// [`InputUnavailable`] inside `DataFusionError::External`, so the runner can ask the
    /// scheduler to recompute the producer instead of failing the query.
    async fn read(&self, producer: &str, partition: usize)
    -> Result<BoxStream<'static, Result<RecordBatch>>>;
}

/// The session-config extension that carries a stage task's [`ShuffleSource`].
#[derive(Debug, Clone)]
pub struct ShuffleInputs(pub Arc<dyn ShuffleSource>);

impl ShuffleInputs {
    /// The source set on `context`, or an error naming what is missing.
    pub fn from_context(context: &TaskContext) -> Result<Arc<dyn ShuffleSource>> {
        context.session_config().get_extension::<ShuffleInputs>().map(|inputs| inputs.0.clone()).ok_or_else(
            || {
                DataFusionError::Internal(
                    "a shuffle reader ran outside a Dusk stage task (no shuffle inputs are set)".into(),
                )
            },
        )
    }
}

/// A producer's output could not be read from the worker that was said to hold it.
#[derive(Debug, thiserror::Error)]
#[error("reading {producer} from {peer}: {message}")]
pub struct InputUnavailable {
    /// Key of the producer task.
    pub producer: String,
    /// Address of the worker that was asked.
    pub peer: String,
    /// What went wrong.
    pub message: String,
}

impl InputUnavailable {
    /// The first `InputUnavailable` inside a DataFusion error, however deeply wrapped.
    pub fn find(error: &DataFusionError) -> Option<&InputUnavailable> {
        let mut current: Option<&(dyn std::error::Error + 'static)> = Some(error);
        while let Some(e) = current {
            if let Some(found) = e.downcast_ref::<InputUnavailable>() {
                return Some(found);
            }
            if let Some(DataFusionError::External(inner)) = e.downcast_ref::<DataFusionError>()
                && let Some(found) = inner.downcast_ref::<InputUnavailable>()
            {
                return Some(found);
            }
            current = e.source();
        }
        None
    }
}
