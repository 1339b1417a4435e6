//! `ShuffleReaderExec`: the leaf of a consuming stage, reading what producers wrote.

use std::fmt;
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::metrics::{ExecutionPlanMetricsSet, MetricBuilder, MetricsSet};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties};
use futures::{StreamExt, TryStreamExt};

use crate::source::ShuffleInputs;

/// Producer outputs opened ahead of the one being read, so connections overlap.
const OPEN_AHEAD: usize = 4;

/// Which producer buckets make up each output partition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadMode {
    /// Output partition `i` is bucket `i` of every producer (a hash or range shuffle).
    Buckets,
    /// Output partition `j` is the single bucket of producer `j` (input of a coalesce or
    /// merge, which then combines them in one task).
    PerProducer,
}

/// Reads the outputs of a producing stage's tasks.
#[derive(Debug)]
pub struct ShuffleReaderExec {
    stage: usize,
    producers: Vec<String>,
    mode: ReadMode,
    partitions: usize,
    schema: SchemaRef,
    properties: Arc<PlanProperties>,
    metrics: ExecutionPlanMetricsSet,
}

impl ShuffleReaderExec {
    /// A reader of stage `stage`, whose tasks have keys `producers` (in partition order).
    ///
    /// `partitions` is the number of buckets each producer wrote for [`ReadMode::Buckets`];
    /// for [`ReadMode::PerProducer`] the reader has one partition per producer.
    pub fn new(
        stage: usize,
        producers: Vec<String>,
        mode: ReadMode,
        partitions: usize,
        schema: SchemaRef,
    ) -> Self {
        let partitions = match mode {
            ReadMode::Buckets => partitions,
            ReadMode::PerProducer => producers.len(),
        };
        let properties = Arc::new(PlanProperties::new(
            EquivalenceProperties::new(schema.clone()),
            Partitioning::UnknownPartitioning(partitions),
            EmissionType::Incremental,
            Boundedness::Bounded,
        ));
        Self {
            stage,
            producers,
            mode,
            partitions,
            schema,
            properties,
            metrics: ExecutionPlanMetricsSet::new(),
        }
    }

    /// The stage it reads.
    pub fn stage(&self) -> usize {
        self.stage
    }

    /// Keys of the producer tasks, in partition order.
    pub fn producers(&self) -> &[String] {
        &self.producers
    }

    /// How producer buckets map to output partitions.
    pub fn mode(&self) -> ReadMode {
        self.mode
    }

    /// Its output partition count.
    pub fn partitions(&self) -> usize {
        self.partitions
    }
}

impl DisplayAs for ShuffleReaderExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        let mode = match self.mode {
            ReadMode::Buckets => "buckets",
            ReadMode::PerProducer => "per producer",
        };
        write!(
            f,
            "ShuffleReaderExec: stage={}, producers={}, partitions={}, read={mode}",
            self.stage,
            self.producers.len(),
            self.partitions
        )
    }
}

impl ExecutionPlan for ShuffleReaderExec {
    fn name(&self) -> &str {
        "ShuffleReaderExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        if children.is_empty() {
            Ok(self)
        } else {
            Err(DataFusionError::Internal("ShuffleReaderExec has no children".into()))
        }
    }

    fn execute(&self, partition: usize, context: Arc<TaskContext>) -> Result<SendableRecordBatchStream> {
        if partition >= self.partitions {
            return Err(DataFusionError::Internal(format!(
                "ShuffleReaderExec has {} partitions, asked for {partition}",
                self.partitions
            )));
        }
        let source = ShuffleInputs::from_context(&context)?;
        let reads: Vec<(String, usize)> = match self.mode {
            ReadMode::Buckets => self.producers.iter().map(|p| (p.clone(), partition)).collect(),
            ReadMode::PerProducer => vec![(self.producers[partition].clone(), 0)],
        };
        let rows = MetricBuilder::new(&self.metrics).output_rows(partition);
        let batches = futures::stream::iter(reads)
            .map(move |(producer, bucket)| {
                let source = source.clone();
                async move { source.read(&producer, bucket).await }
            })
            .buffered(OPEN_AHEAD)
            .try_flatten()
            .inspect_ok(move |batch| rows.add(batch.num_rows()));
        Ok(Box::pin(RecordBatchStreamAdapter::new(self.schema.clone(), batches)))
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }
}
