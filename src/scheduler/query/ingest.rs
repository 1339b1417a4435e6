//! Bulk ingestion: a client's Arrow batches become a table, or more rows of one
//! (Flight SQL's `CommandStatementIngest`, ADBC's `adbc_ingest`).
//!
//! The batches arrive at the scheduler, so they are planned as an in-memory scan and go
//! through the same paths as SQL: a new table is a `CREATE TABLE AS` (Parquet under the
//! state directory, registered and logged), an append is an `INSERT INTO`. Columns are
//! cast to the existing table's types, so a client's `string` column appends to a
//! table read back as `Utf8View`.

use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use datafusion::common::TableReference;
use datafusion::datasource::{MemTable, provider_as_source};
use datafusion::error::DataFusionError;
use datafusion::logical_expr::dml::InsertOp;
use datafusion::logical_expr::{CreateMemoryTable, LogicalPlanBuilder, cast, col};

use super::{QueryEngine, QueryError};

/// What to do when the table exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IfExists {
    /// Refuse.
    Fail,
    /// Add the rows.
    Append,
    /// Drop the old rows and keep only these.
    Replace,
}

/// What to do when the table does not exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IfMissing {
    /// Refuse.
    Fail,
    /// Create it with the batches' schema.
    Create,
}

impl QueryEngine {
    /// Writes `batches` into table `name`; returns the rows written.
    pub(crate) async fn ingest(
        self: &Arc<Self>,
        name: TableReference,
        schema: SchemaRef,
        batches: Vec<RecordBatch>,
        if_exists: IfExists,
        if_missing: IfMissing,
    ) -> Result<u64, QueryError> {
        let rows = batches.iter().map(|b| b.num_rows() as u64).sum();
        let (query, ctx) = self.start_query().await?;
        let exists = ctx.table_exist(name.clone())?;
        let source = MemTable::try_new(schema, vec![batches])?;
        let scan = LogicalPlanBuilder::scan("ingested", provider_as_source(Arc::new(source)), None)?;
        match (exists, if_exists, if_missing) {
            (true, IfExists::Fail, _) => {
                return Err(DataFusionError::Plan(format!(
                    "table '{name}' already exists (ingest with mode append or replace to change it)"
                ))
                .into());
            }
            (false, _, IfMissing::Fail) => {
                return Err(DataFusionError::Plan(format!(
                    "table '{name}' does not exist (ingest with mode create to make it)"
                ))
                .into());
            }
            (true, IfExists::Append, _) => {
                let target = ctx.table_provider(name.clone()).await?;
                let target_schema = target.schema();
                let incoming = scan.schema().clone();
                if incoming.fields().len() != target_schema.fields().len() {
                    return Err(DataFusionError::Plan(format!(
                        "table '{name}' has {} columns but the ingested data has {}",
                        target_schema.fields().len(),
                        incoming.fields().len()
                    ))
                    .into());
                }
                let columns =
                    incoming.columns().into_iter().zip(target_schema.fields()).map(|(column, field)| {
                        cast(col(column), field.data_type().clone()).alias(field.name())
                    });
                let plan = scan
                    .project(columns)?
                    .build()
                    .and_then(|input| {
                        LogicalPlanBuilder::insert_into(
                            input,
                            name.clone(),
                            provider_as_source(target),
                            InsertOp::Append,
                        )
                    })?
                    .build()?;
                let result = self.execute_planned(query, &ctx, "", plan).await?;
                self.close(&result.query);
            }
            (exists, _, _) => {
                let create = CreateMemoryTable {
                    name,
                    constraints: Default::default(),
                    input: Arc::new(scan.build()?),
                    if_not_exists: false,
                    or_replace: exists,
                    column_defaults: Vec::new(),
                    temporary: false,
                };
                self.create_table(query, &ctx, &create).await?;
            }
        }
        Ok(rows)
    }
}
