//! The stage splitter: one DataFusion physical plan → a graph of stages.
//!
//! A stage is a fragment of the plan that runs as independent tasks, one per output
//! partition, with no data moving between tasks. The splitter cuts where data must move:
//!
//! - a hash or range `RepartitionExec` becomes a [`ShuffleWriterExec`] bucketing by that
//!   partitioning (root of the producing stage) and a [`ShuffleReaderExec`] reading bucket
//!   `i` of every producer (leaf of the consuming stage);
//! - the input of a `CoalescePartitionsExec` or `SortPreservingMergeExec` with more than
//!   one partition becomes a stage of single-bucket writers, and the coalesce or merge
//!   reads one partition per producer, so it combines them in one task. Broadcast joins
//!   (`CollectLeft`) get their build side through such a coalesce, so every probe task
//!   reads the whole build side;
//! - a round-robin `RepartitionExec` is dropped: it only spreads batches between threads
//!   of one process, and run as separate tasks it would split rows unpredictably.
//!
//! Stages come out in an order where every stage follows the stages it reads, the final
//! stage last. Task keys are `sql-<query>/stage-<s>/part-<p>`, so a task's group is its
//! stage.

use std::sync::Arc;

use datafusion::error::{DataFusionError, Result};
use datafusion::physical_plan::coalesce_partitions::CoalescePartitionsExec;
use datafusion::physical_plan::repartition::RepartitionExec;
use datafusion::physical_plan::sorts::sort_preserving_merge::SortPreservingMergeExec;
use datafusion::physical_plan::{
    ExecutionPlan, ExecutionPlanProperties, Partitioning, displayable, replace_children_if_necessary,
};

use crate::shuffle_reader::{ReadMode, ShuffleReaderExec};
use crate::shuffle_writer::ShuffleWriterExec;

/// One stage: a plan fragment run as one task per output partition.
#[derive(Debug, Clone)]
pub struct Stage {
    /// Position in [`StageGraph::stages`].
    pub id: usize,
    /// The fragment; a [`ShuffleWriterExec`] at the root unless this is the final stage.
    pub plan: Arc<dyn ExecutionPlan>,
    /// Number of tasks.
    pub partitions: usize,
    /// Stages this one reads, without repeats.
    pub inputs: Vec<usize>,
}

impl Stage {
    /// The writer at the root, if this stage feeds another.
    pub fn writer(&self) -> Option<&ShuffleWriterExec> {
        self.plan.downcast_ref::<ShuffleWriterExec>()
    }
}

/// A query cut into stages.
#[derive(Debug, Clone)]
pub struct StageGraph {
    /// The query's id, part of every task key.
    pub query: String,
    /// Stages, each after those it reads; the final stage is last.
    pub stages: Vec<Stage>,
}

impl StageGraph {
    /// The stage whose partitions are the query's result.
    pub fn final_stage(&self) -> &Stage {
        // `split` always adds the final stage, so the graph is never empty.
        &self.stages[self.stages.len() - 1]
    }

    /// Key of the task that runs partition `partition` of stage `stage`.
    pub fn task_key(&self, stage: usize, partition: usize) -> String {
        task_key(&self.query, stage, partition)
    }

    /// What every task key of stage `stage` starts with.
    pub fn stage_prefix(&self, stage: usize) -> String {
        stage_prefix(&self.query, stage)
    }

    /// Keys of every task of stage `stage`, in partition order.
    pub fn stage_keys(&self, stage: usize) -> Vec<String> {
        (0..self.stages[stage].partitions).map(|p| self.task_key(stage, p)).collect()
    }

    /// The stage graph as text, for `EXPLAIN`: each stage with its tasks, inputs and plan.
    pub fn display(&self) -> String {
        self.display_with(|_| String::new())
    }

    /// The stage graph as text with lines of `annotate`'s (each ending in a newline) under
    /// each stage's heading, for `EXPLAIN ANALYZE`'s metrics.
    pub fn display_with(&self, annotate: impl Fn(&Stage) -> String) -> String {
        let mut out = String::new();
        for stage in &self.stages {
            let inputs = if stage.inputs.is_empty() {
                String::from("none")
            } else {
                stage.inputs.iter().map(|i| i.to_string()).collect::<Vec<_>>().join(", ")
            };
            let role = match stage.writer() {
                Some(w) => format!("{} buckets", w.buckets()),
                None => String::from("final"),
            };
            out.push_str(&format!(
                "Stage {} ({} tasks, reads stages: {inputs}, output: {role})\n",
                stage.id, stage.partitions
            ));
            out.push_str(&annotate(stage));
            for line in displayable(stage.plan.as_ref()).indent(false).to_string().lines() {
                out.push_str("  ");
                out.push_str(line);
                out.push('\n');
            }
        }
        out
    }
}

/// The key of one stage task.
pub fn task_key(query: &str, stage: usize, partition: usize) -> String {
    format!("{}part-{partition}", stage_prefix(query, stage))
}

/// What every task key of one stage starts with.
fn stage_prefix(query: &str, stage: usize) -> String {
    format!("{}stage-{stage}/", query_prefix(query))
}

/// What every task key of query `query` starts with.
pub fn query_prefix(query: &str) -> String {
    format!("sql-{query}/")
}

/// Cuts `plan` into stages for query `query`. See the module docs for where it cuts.
pub fn split(plan: Arc<dyn ExecutionPlan>, query: &str) -> Result<StageGraph> {
    let mut splitter = Splitter { query: query.to_string(), stages: Vec::new() };
    let (root, inputs) = splitter.visit(plan)?;
    splitter.add_stage(root, inputs);
    Ok(StageGraph { query: splitter.query, stages: splitter.stages })
}

struct Splitter {
    query: String,
    stages: Vec<Stage>,
}

impl Splitter {
    fn add_stage(&mut self, plan: Arc<dyn ExecutionPlan>, inputs: Vec<usize>) -> usize {
        let id = self.stages.len();
        let partitions = plan.output_partitioning().partition_count();
        self.stages.push(Stage { id, plan, partitions, inputs });
        id
    }

    /// A reader of a new stage rooted at a writer over `input`.
    fn cut(
        &mut self,
        input: Arc<dyn ExecutionPlan>,
        inputs: Vec<usize>,
        partitioning: Option<Partitioning>,
    ) -> (Arc<dyn ExecutionPlan>, usize) {
        let schema = input.schema();
        let (mode, buckets) = match &partitioning {
            Some(p) => (ReadMode::Buckets, p.partition_count()),
            None => (ReadMode::PerProducer, 1),
        };
        let stage = self.add_stage(Arc::new(ShuffleWriterExec::new(input, partitioning)), inputs);
        let producers = (0..self.stages[stage].partitions).map(|p| task_key(&self.query, stage, p)).collect();
        (Arc::new(ShuffleReaderExec::new(stage, producers, mode, buckets, schema)), stage)
    }

    /// Rewrites `plan` bottom-up; returns it with the stages its subtree reads.
    fn visit(&mut self, plan: Arc<dyn ExecutionPlan>) -> Result<(Arc<dyn ExecutionPlan>, Vec<usize>)> {
        let mut inputs = Vec::new();
        let mut children = Vec::with_capacity(plan.children().len());
        for child in plan.children() {
            let (child, child_inputs) = self.visit(child.clone())?;
            for i in child_inputs {
                if !inputs.contains(&i) {
                    inputs.push(i);
                }
            }
            children.push(child);
        }
        if let Some(repartition) = plan.downcast_ref::<RepartitionExec>() {
            let Some(input) = children.pop() else {
                return Err(DataFusionError::Internal("RepartitionExec without input".into()));
            };
            return match repartition.partitioning() {
                Partitioning::RoundRobinBatch(_) | Partitioning::UnknownPartitioning(_) => {
                    Ok((input, inputs))
                }
                partitioning => {
                    if repartition.preserve_order() {
                        return Err(DataFusionError::NotImplemented(
                            "order-preserving repartitions across workers".into(),
                        ));
                    }
                    let (reader, stage) = self.cut(input, inputs, Some(partitioning.clone()));
                    Ok((reader, vec![stage]))
                }
            };
        }
        let merges = plan.downcast_ref::<CoalescePartitionsExec>().is_some()
            || plan.downcast_ref::<SortPreservingMergeExec>().is_some();
        if merges
            && let [input] = children.as_slice()
            && input.output_partitioning().partition_count() > 1
        {
            let (reader, stage) = self.cut(input.clone(), inputs, None);
            let plan = replace_children_if_necessary(plan, vec![reader])?;
            return Ok((plan, vec![stage]));
        }
        Ok((replace_children_if_necessary(plan, children)?, inputs))
    }
}
