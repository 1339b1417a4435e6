//! From a stage graph to the tasks the scheduler runs: one per stage partition.

use std::sync::Arc;

use datafusion::datasource::physical_plan::FileScanConfig;
use datafusion::datasource::source::DataSourceExec;
use datafusion::error::DataFusionError;
use datafusion::physical_plan::ExecutionPlan;
use dusk_flight::messages::{Arg, StageSpec, StoreSpec, TaskSpec, arg};

use crate::{ShuffleReaderExec, StageGraph, encode_plan};

/// True if the plan scans files or results kept on workers: its work belongs there.
pub fn runs_on_workers(plan: &Arc<dyn ExecutionPlan>) -> bool {
    let scans = plan.downcast_ref::<DataSourceExec>().is_some_and(|s| s.data_source().is::<FileScanConfig>())
        || plan.is::<ShuffleReaderExec>();
    scans || plan.children().into_iter().any(runs_on_workers)
}

/// Keys of every task whose output `plan`'s shuffle readers read, without repeats.
fn read_keys(plan: &Arc<dyn ExecutionPlan>, keys: &mut Vec<String>) {
    if let Some(reader) = plan.downcast_ref::<ShuffleReaderExec>() {
        for key in reader.producers() {
            if !keys.contains(key) {
                keys.push(key.clone());
            }
        }
    }
    for child in plan.children() {
        read_keys(child, keys);
    }
}

/// One task per stage partition; each reads every task its stage's shuffle readers read
/// (the stages before it, and any cached result).
pub fn stage_tasks(graph: &StageGraph, stores: &[StoreSpec]) -> Result<Vec<TaskSpec>, DataFusionError> {
    let mut specs = Vec::new();
    for stage in &graph.stages {
        let plan = encode_plan(stage.plan.clone())?;
        let mut keys = Vec::new();
        read_keys(&stage.plan, &mut keys);
        let args: Vec<Arg> = keys.into_iter().map(|key| Arg { value: Some(arg::Value::Key(key)) }).collect();
        for partition in 0..stage.partitions {
            specs.push(TaskSpec {
                key: graph.task_key(stage.id, partition),
                args: args.clone(),
                order: specs.len() as u64,
                stage: Some(StageSpec {
                    plan: plan.clone(),
                    partition: partition as u32,
                    query: graph.query.clone(),
                    stores: stores.to_vec(),
                }),
                ..Default::default()
            });
        }
    }
    Ok(specs)
}
