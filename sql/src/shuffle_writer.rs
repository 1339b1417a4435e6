//! `ShuffleWriterExec`: the root of a producing stage, splitting its output into buckets.

use std::fmt;
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::compute::BatchCoalescer;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_plan::metrics::{ExecutionPlanMetricsSet, MetricBuilder, MetricsSet};
use datafusion::physical_plan::repartition::BatchPartitioner;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, ExecutionPlanProperties, Partitioning, PlanProperties,
};
use futures::StreamExt;

/// Rows per output batch: buckets are coalesced to this size, which also copies the
/// rows out of the (possibly much larger) buffers they were sliced or taken from.
const TARGET_BATCH_ROWS: usize = 8192;

/// Runs one partition of its input and splits the rows into output buckets.
///
/// With a partitioning (hash or range), every row goes to the bucket its key selects, so
/// bucket `i` of every producer together forms partition `i` of the consuming stage.
/// Without one, the whole output is one bucket (the input of a coalesce, a merge or a
/// broadcast). The worker calls [`write_partition`](Self::write_partition) and stores the
/// buckets as the task's result; `execute` is not how a writer runs.
#[derive(Debug)]
pub struct ShuffleWriterExec {
    input: Arc<dyn ExecutionPlan>,
    partitioning: Option<Partitioning>,
    properties: Arc<PlanProperties>,
    metrics: ExecutionPlanMetricsSet,
}

impl ShuffleWriterExec {
    /// A writer over `input`, bucketing by `partitioning` (or into one bucket).
    pub fn new(input: Arc<dyn ExecutionPlan>, partitioning: Option<Partitioning>) -> Self {
        let properties = Arc::new(PlanProperties::new(
            input.equivalence_properties().clone(),
            input.output_partitioning().clone(),
            input.pipeline_behavior(),
            input.boundedness(),
        ));
        Self { input, partitioning, properties, metrics: ExecutionPlanMetricsSet::new() }
    }

    /// How rows are bucketed; `None` is one bucket.
    pub fn partitioning(&self) -> Option<&Partitioning> {
        self.partitioning.as_ref()
    }

    /// The number of buckets each task writes.
    pub fn buckets(&self) -> usize {
        self.partitioning.as_ref().map_or(1, |p| p.partition_count())
    }

    /// The plan whose output is shuffled.
    pub fn input(&self) -> &Arc<dyn ExecutionPlan> {
        &self.input
    }

    /// Runs input partition `partition` to the end and returns its rows by bucket.
    pub async fn write_partition(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<Vec<Vec<RecordBatch>>> {
        let rows_out = MetricBuilder::new(&self.metrics).output_rows(partition);
        let timer = MetricBuilder::new(&self.metrics).subset_time("repart_time", partition);
        let schema = self.input.schema();
        let buckets = self.buckets();
        let mut coalescers: Vec<BatchCoalescer> =
            (0..buckets).map(|_| BatchCoalescer::new(schema.clone(), TARGET_BATCH_ROWS)).collect();
        let mut partitioner = match &self.partitioning {
            Some(p) => Some(BatchPartitioner::try_new(
                p.clone(),
                timer,
                partition,
                self.input.output_partitioning().partition_count(),
            )?),
            None => None,
        };
        let mut stream = self.input.execute(partition, context)?;
        while let Some(batch) = stream.next().await {
            let batch = batch?;
            rows_out.add(batch.num_rows());
            match partitioner.as_mut() {
                Some(p) => p.partition(batch, |bucket, part| {
                    coalescers[bucket].push_batch(part).map_err(DataFusionError::from)
                })?,
                None => coalescers[0].push_batch(batch)?,
            }
        }
        coalescers
            .into_iter()
            .map(|mut c| {
                c.finish_buffered_batch()?;
                let mut out = Vec::new();
                while let Some(batch) = c.next_completed_batch() {
                    out.push(shrink(batch)?);
                }
                Ok(out)
            })
            .collect()
    }
}

/// `batch` with its buffers cut to their length: a coalescer allocates a full batch of
/// capacity, and a bucket of a few rows would otherwise hold megabytes.
pub fn shrink(batch: RecordBatch) -> Result<RecordBatch> {
    let rows = batch.num_rows();
    let (schema, mut columns, _) = batch.into_parts();
    for column in &mut columns {
        <arrow::array::ArrayRef as arrow::array::Array>::shrink_to_fit(column);
    }
    let options = arrow::array::RecordBatchOptions::new().with_row_count(Some(rows));
    Ok(RecordBatch::try_new_with_options(schema, columns, &options)?)
}

impl DisplayAs for ShuffleWriterExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        match &self.partitioning {
            Some(p) => write!(f, "ShuffleWriterExec: partitioning={p}"),
            None => write!(f, "ShuffleWriterExec: single bucket"),
        }
    }
}

impl ExecutionPlan for ShuffleWriterExec {
    fn name(&self) -> &str {
        "ShuffleWriterExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn apply_expressions(
        &self,
        f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        let mut recursion = TreeNodeRecursion::Continue;
        if let Some(Partitioning::Hash(exprs, _)) = &self.partitioning {
            for e in exprs {
                recursion = f(e)?;
                if recursion == TreeNodeRecursion::Stop {
                    break;
                }
            }
        }
        Ok(recursion)
    }

    fn with_new_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        match (children.pop(), children.is_empty()) {
            (Some(input), true) => Ok(Arc::new(Self::new(input, self.partitioning.clone()))),
            _ => Err(DataFusionError::Internal("ShuffleWriterExec takes exactly one child".into())),
        }
    }

    fn execute(&self, _partition: usize, _context: Arc<TaskContext>) -> Result<SendableRecordBatchStream> {
        Err(DataFusionError::Internal(
            "ShuffleWriterExec runs through write_partition on a worker, not execute".into(),
        ))
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }
}
