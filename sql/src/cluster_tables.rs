//! What the scheduler puts in place of a client's table stand-ins before planning.
//!
//! A logical plan from a client names the cluster's tables as [`CatalogTable`]s;
//! [`resolve_catalog_tables`] swaps in the catalog's real tables. A cached result kept on
//! the workers is read through a [`CachedTable`], whose scan is a shuffle reader of the
//! tasks holding it.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use async_trait::async_trait;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::TableReference;
use datafusion::common::tree_node::{Transformed, TreeNodeRecursion};
use datafusion::datasource::{TableType, provider_as_source, source_as_provider};
use datafusion::error::Result;
use datafusion::logical_expr::{Expr, LogicalPlan, TableScan};
use datafusion::physical_expr::expressions::Column;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::projection::ProjectionExec;
use datafusion::prelude::SessionContext;

use crate::logical_codec::CatalogTable;
use crate::shuffle_reader::{ReadMode, ShuffleReaderExec};

/// The reader stage id of a cached result: it belongs to no stage of the query reading it.
pub const CACHED_STAGE: usize = usize::MAX;

/// Replaces every [`CatalogTable`] in `plan` (subqueries included) with the table of that
/// name in `ctx`'s catalog. An unknown name is the usual "table not found" error.
pub async fn resolve_catalog_tables(plan: LogicalPlan, ctx: &SessionContext) -> Result<LogicalPlan> {
    let mut names: Vec<TableReference> = Vec::new();
    plan.apply_with_subqueries(|node| {
        names.extend(catalog_table_name(node));
        Ok(TreeNodeRecursion::Continue)
    })?;
    if names.is_empty() {
        return Ok(plan);
    }
    let mut providers: HashMap<TableReference, Arc<dyn TableProvider>> = HashMap::new();
    for name in names {
        if let std::collections::hash_map::Entry::Vacant(entry) = providers.entry(name) {
            let provider = ctx.table_provider(entry.key().clone()).await?;
            entry.insert(provider);
        }
    }
    let resolved = plan.transform_up_with_subqueries(|node| {
        let Some(provider) = catalog_table_name(&node).and_then(|name| providers.get(&name)) else {
            return Ok(Transformed::no(node));
        };
        let LogicalPlan::TableScan(scan) = node else { return Ok(Transformed::no(node)) };
        let scan = TableScan { source: provider_as_source(provider.clone()), ..scan };
        Ok(Transformed::yes(LogicalPlan::TableScan(scan)))
    })?;
    Ok(resolved.data)
}

/// The cluster-catalog name `node` scans, if it scans a [`CatalogTable`].
fn catalog_table_name(node: &LogicalPlan) -> Option<TableReference> {
    let LogicalPlan::TableScan(scan) = node else { return None };
    let provider = source_as_provider(&scan.source).ok()?;
    provider.downcast_ref::<CatalogTable>().map(|t| t.name().clone())
}

/// A result kept on the workers: the keys of the tasks holding its partitions.
#[derive(Debug)]
pub struct CachedTable {
    keys: Vec<String>,
    schema: SchemaRef,
}

impl CachedTable {
    /// The result held by the tasks `keys` (one partition each), with columns `schema`.
    pub fn new(keys: Vec<String>, schema: SchemaRef) -> Self {
        Self { keys, schema }
    }
}

#[async_trait]
impl TableProvider for CachedTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Temporary
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let reader: Arc<dyn ExecutionPlan> = Arc::new(ShuffleReaderExec::new(
            CACHED_STAGE,
            self.keys.clone(),
            ReadMode::PerProducer,
            self.keys.len(),
            self.schema.clone(),
        ));
        let Some(projection) = projection else { return Ok(reader) };
        let exprs: Vec<(Arc<dyn datafusion::physical_expr::PhysicalExpr>, String)> = projection
            .iter()
            .map(|&i| {
                let name = self.schema.field(i).name().clone();
                (Arc::new(Column::new(&name, i)) as _, name)
            })
            .collect();
        Ok(Arc::new(ProjectionExec::try_new(exprs, reader)?))
    }
}
