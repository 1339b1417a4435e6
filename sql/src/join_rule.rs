//! A physical optimizer rule that keeps broadcast joins only where they are safe to split.
//!
//! A `CollectLeft` hash join builds its whole left side in every partition and probes
//! with one right partition each. In one process the partitions share the build side, so
//! a join that also emits *unmatched or matched build rows* (left, left semi, left anti,
//! left mark and full joins) emits them once, from the last partition to finish. Run as
//! separate tasks, no task sees the others finish, and those rows are lost (or repeated).
//! This rule turns such joins into `Partitioned` ones; DataFusion's distribution rule
//! then hash-partitions both sides, and the splitter cuts there as for any shuffle.
//! Joins that emit only probe rows (inner, right, right semi/anti/mark) keep broadcasting
//! their build side.

use std::sync::Arc;

use datafusion::common::JoinType;
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::error::Result;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_optimizer::optimizer::PhysicalOptimizer;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::joins::{HashJoinExec, PartitionMode};

/// See the module docs.
#[derive(Debug, Default, Clone, Copy)]
pub struct PartitionBuildSideJoins;

/// True for join types that emit rows of the build (left) side.
fn emits_build_rows(join_type: JoinType) -> bool {
    matches!(
        join_type,
        JoinType::Left | JoinType::LeftSemi | JoinType::LeftAnti | JoinType::LeftMark | JoinType::Full
    )
}

impl PhysicalOptimizerRule for PartitionBuildSideJoins {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        plan.transform_up(|node| {
            let Some(join) = node.downcast_ref::<HashJoinExec>() else { return Ok(Transformed::no(node)) };
            if *join.partition_mode() != PartitionMode::CollectLeft || !emits_build_rows(*join.join_type()) {
                return Ok(Transformed::no(node));
            }
            let partitioned = join.builder().with_partition_mode(PartitionMode::Partitioned).build()?;
            Ok(Transformed::yes(Arc::new(partitioned) as Arc<dyn ExecutionPlan>))
        })
        .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "dusk_partition_build_side_joins"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// DataFusion's physical optimizer rules with [`PartitionBuildSideJoins`] right after
/// join selection (which picks `CollectLeft`) and before distribution enforcement.
pub fn physical_optimizer_rules() -> Vec<Arc<dyn PhysicalOptimizerRule + Send + Sync>> {
    let mut rules = PhysicalOptimizer::new().rules;
    let at = rules.iter().position(|r| r.name() == "join_selection").map_or(0, |i| i + 1);
    rules.insert(at, Arc::new(PartitionBuildSideJoins));
    rules
}
