//! Yield points for stage tasks, so a cancelled task stops within one batch.
//!
//! A worker stops a cancelled stage task when the task's future is next polled, and a
//! future is polled again only after it returns `Pending`. Many operators never do while
//! their inputs are ready: a nested-loop join with an in-memory build side and a probe
//! side decoded from one fetched row group can loop over every probe batch inside one
//! poll, for minutes. [`yield_between_batches`] puts a [`YieldExec`] over every leaf of
//! a fragment; its stream returns `Pending` once (waking itself at once) after each
//! batch, so the task's future comes back to its poller at least once per leaf batch.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::{RecordBatchStream, SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties};
use futures::Stream;

/// Puts a [`YieldExec`] over every leaf of `plan`.
pub fn yield_between_batches(plan: Arc<dyn ExecutionPlan>) -> Result<Arc<dyn ExecutionPlan>> {
    let wrapped = plan.transform_up(|node| {
        if node.children().is_empty() {
            Ok(Transformed::yes(Arc::new(YieldExec { input: node }) as Arc<dyn ExecutionPlan>))
        } else {
            Ok(Transformed::no(node))
        }
    })?;
    Ok(wrapped.data)
}

/// Passes its input through, returning `Pending` once after every batch. Added on the
/// worker, never planned or sent.
#[derive(Debug)]
pub struct YieldExec {
    input: Arc<dyn ExecutionPlan>,
}

impl DisplayAs for YieldExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "YieldExec")
    }
}

impl ExecutionPlan for YieldExec {
    fn name(&self) -> &str {
        "YieldExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        self.input.properties()
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        match (children.pop(), children.is_empty()) {
            (Some(input), true) => Ok(Arc::new(YieldExec { input })),
            _ => Err(DataFusionError::Internal("YieldExec has one child".into())),
        }
    }

    fn execute(&self, partition: usize, context: Arc<TaskContext>) -> Result<SendableRecordBatchStream> {
        Ok(Box::pin(YieldStream { input: self.input.execute(partition, context)?, yield_next: false }))
    }
}

struct YieldStream {
    input: SendableRecordBatchStream,
    /// A batch just went out: the next poll yields first.
    yield_next: bool,
}

impl Stream for YieldStream {
    type Item = Result<datafusion::arrow::record_batch::RecordBatch>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.yield_next {
            self.yield_next = false;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        let next = self.input.as_mut().poll_next(cx);
        if matches!(next, Poll::Ready(Some(_))) {
            self.yield_next = true;
        }
        next
    }
}

impl RecordBatchStream for YieldStream {
    fn schema(&self) -> datafusion::arrow::datatypes::SchemaRef {
        self.input.schema()
    }
}
