//! Results that clients cached with `DataFrame::cache()`, kept on the workers.
//!
//! A client's plan marks a cache point with a [`ClusterCache`] node. The first plan that
//! holds it runs the node's input as a query of its own and keeps that query's final
//! partitions on the workers; this plan and every later one holding the same id read
//! them from there instead of recomputing. A kept partition lost with its worker is
//! recomputed from lineage like any task's result. The result stays until the client
//! uncaches it or the scheduler stops.
//!
//! Kept columns are named `c0`, `c1`, ... (a join's output may repeat a name); the node's
//! replacement renames them back to the qualified names the rest of the plan uses.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use arrow::ipc::reader::StreamReader;
use datafusion::catalog::{MemTable, TableProvider};
use datafusion::common::Column;
use datafusion::common::tree_node::{Transformed, TreeNodeRecursion};
use datafusion::datasource::provider_as_source;
use datafusion::error::DataFusionError;
use datafusion::logical_expr::{Expr, LogicalPlan, LogicalPlanBuilder};
use datafusion::prelude::SessionContext;
use dusk_sql::{CachedTable, ClusterCache};

use super::{QueryEngine, QueryError};

/// One kept result.
#[derive(Debug)]
struct Cached {
    table: Arc<dyn TableProvider>,
    /// Keys of the tasks holding it on workers (none when the scheduler computed it).
    keys: Vec<String>,
}

/// The kept results by cache id. See the module docs.
#[derive(Debug, Default)]
pub(crate) struct Caches {
    kept: Mutex<HashMap<u64, Cached>>,
}

impl Caches {
    /// Computes the cache points of `plan` not kept yet, innermost first, and puts a read
    /// of each kept result in its place.
    pub(crate) async fn materialize(
        &self,
        engine: &Arc<QueryEngine>,
        plan: LogicalPlan,
        ctx: &SessionContext,
    ) -> Result<LogicalPlan, QueryError> {
        let mut points: Vec<ClusterCache> = Vec::new();
        plan.apply_with_subqueries(|node| {
            points.extend(cache_point(node).cloned());
            Ok(TreeNodeRecursion::Continue)
        })?;
        // Pre-order lists a point before the points inside it: compute from the end.
        for point in points.into_iter().rev() {
            if self.is_kept(point.id) {
                continue;
            }
            let input = self.replace(point.input.clone())?;
            let cached = compute(engine, input, ctx).await?;
            let mut kept = self.kept.lock().map_err(|_| poisoned())?;
            if let Some(old) = kept.insert(point.id, cached) {
                // Two plans raced to compute it: keep one copy.
                engine.release(old.keys);
            }
        }
        self.replace(plan)
    }

    /// Drops kept results by id; unknown ids are ignored.
    pub(crate) fn uncache(&self, engine: &QueryEngine, ids: &[u64]) {
        let Ok(mut kept) = self.kept.lock() else { return };
        for id in ids {
            if let Some(cached) = kept.remove(id) {
                engine.release(cached.keys);
            }
        }
    }

    fn is_kept(&self, id: u64) -> bool {
        self.kept.lock().is_ok_and(|kept| kept.contains_key(&id))
    }

    /// Puts a read of the kept result in place of every kept cache point of `plan`.
    fn replace(&self, plan: LogicalPlan) -> Result<LogicalPlan, QueryError> {
        let kept = self.kept.lock().map_err(|_| poisoned())?;
        let replaced = plan.transform_up_with_subqueries(|node| {
            let Some(point) = cache_point(&node) else { return Ok(Transformed::no(node)) };
            let Some(cached) = kept.get(&point.id) else { return Ok(Transformed::no(node)) };
            let scan = LogicalPlanBuilder::scan(
                format!("cache_{:016x}", point.id),
                provider_as_source(cached.table.clone()),
                None,
            )?
            .build()?;
            // Back to the names the rest of the plan reads.
            let renames: Vec<Expr> = point
                .input
                .schema()
                .iter()
                .enumerate()
                .map(|(i, (qualifier, field))| {
                    let stored = Expr::Column(Column::new_unqualified(format!("c{i}")));
                    stored.alias_qualified(qualifier.cloned(), field.name())
                })
                .collect();
            Ok(Transformed::yes(LogicalPlanBuilder::from(scan).project(renames)?.build()?))
        })?;
        Ok(replaced.data)
    }
}

fn cache_point(node: &LogicalPlan) -> Option<&ClusterCache> {
    let LogicalPlan::Extension(extension) = node else { return None };
    extension.node.as_any().downcast_ref::<ClusterCache>()
}

/// Runs `input` with its columns renamed `c0`, `c1`, ... and keeps the result.
async fn compute(
    engine: &Arc<QueryEngine>,
    input: LogicalPlan,
    ctx: &SessionContext,
) -> Result<Cached, QueryError> {
    let positional: Vec<Expr> = input
        .schema()
        .columns()
        .into_iter()
        .enumerate()
        .map(|(i, column)| Expr::Column(column).alias(format!("c{i}")))
        .collect();
    let plan = LogicalPlanBuilder::from(input).project(positional)?.build()?;
    let query = engine.next_query_id();
    let result = engine.run(query.clone(), ctx, &plan).await?;
    let reader = StreamReader::try_new(std::io::Cursor::new(result.inline.as_ref()), None)
        .map_err(DataFusionError::from)?;
    let schema = reader.schema();
    if result.partitions.is_empty() {
        // Computed on the scheduler: keep the rows here.
        let batches = reader.collect::<Result<Vec<_>, _>>().map_err(DataFusionError::from)?;
        return Ok(Cached { table: Arc::new(MemTable::try_new(schema, vec![batches])?), keys: Vec::new() });
    }
    let keys = engine.keep(&query);
    Ok(Cached { table: Arc::new(CachedTable::new(keys.clone(), schema)), keys })
}

fn poisoned() -> QueryError {
    QueryError::Plan(DataFusionError::Internal("the cache table's lock is poisoned".into()))
}
