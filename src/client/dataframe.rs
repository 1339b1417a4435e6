//! DataFusion's own `DataFrame` API, run on the cluster.
//!
//! [`Client::session`] gives a DataFusion `SessionContext` that plans logically on the
//! client and physically on the cluster: its query planner sends each optimized logical
//! plan to the scheduler (datafusion-proto bytes, with Dusk's logical codec), which cuts
//! it into stages and runs them on the workers like any SQL. So `read_parquet`,
//! `filter`, `aggregate`, `join`, `sort`, `collect`, `write_parquet` and the rest run
//! distributed, unchanged.
//!
//! The session sees the cluster's catalog (its tables appear in `datafusion.public` next
//! to tables registered in the session itself, which stay local to it), and
//! `DataFrame::cache()` keeps a result on the workers for later plans to read
//! ([`Client::uncache`] lets it go).

use std::collections::HashSet;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{MemorySchemaProvider, SchemaProvider, Session, TableProvider};
use datafusion::common::TableReference;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::dataframe::DataFrame;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::context::QueryPlanner;
use datafusion::execution::session_state::{CacheFactory, SessionState, SessionStateBuilder};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::{Extension, LogicalPlan};
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties};
use datafusion::prelude::SessionContext;
use dusk_flight::actions;
use dusk_flight::query::UncacheRequest;
use dusk_sql::{CatalogTable, ClusterCache, cache_id, encode_logical_plan};
use futures::StreamExt;

use super::{Client, ClientError};

impl Client {
    /// A DataFusion session whose queries run on this cluster. See the module docs.
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// use datafusion::functions_aggregate::expr_fn::count;
    /// use datafusion::prelude::*;
    /// let client = dusk::Client::connect("grpc://127.0.0.1:8786").await?;
    /// let ctx = client.session().await?;
    /// let busy = ctx
    ///     .table("lineitem")
    ///     .await?
    ///     .filter(col("l_quantity").gt(lit(45)))?
    ///     .aggregate(vec![col("l_returnflag")], vec![count(lit(1))])?
    ///     .collect()
    ///     .await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn session(&self) -> Result<SessionContext, ClientError> {
        let names = self.cluster_table_names().await?;
        let state = SessionStateBuilder::new()
            .with_default_features()
            .with_query_planner(Arc::new(ClusterPlanner { client: self.clone() }))
            .with_cache_factory(Some(Arc::new(ClusterCacheFactory)))
            .build();
        let ctx = SessionContext::new_with_state(state);
        let schema = ClusterSchema { client: self.clone(), names, local: MemorySchemaProvider::new() };
        let catalog = ctx.catalog("datafusion").ok_or_else(|| ClientError::Result {
            query: String::new(),
            message: "no default catalog".into(),
        })?;
        catalog
            .register_schema("public", Arc::new(schema))
            .map_err(|e| ClientError::Result { query: String::new(), message: e.to_string() })?;
        Ok(ctx)
    }

    /// Lets the cluster drop the results that `df`'s `cache()` points keep on workers.
    pub async fn uncache(&self, df: &DataFrame) -> Result<(), ClientError> {
        let mut ids = Vec::new();
        let _ = df.logical_plan().apply_with_subqueries(|node| {
            if let LogicalPlan::Extension(e) = node
                && let Some(point) = e.node.as_any().downcast_ref::<ClusterCache>()
            {
                ids.push(point.id);
            }
            Ok(TreeNodeRecursion::Continue)
        });
        self.shared.action::<()>(actions::SQL_UNCACHE, &UncacheRequest { ids }, "uncache").await?;
        Ok(())
    }

    /// The unqualified names of the cluster's tables in its default schema.
    async fn cluster_table_names(&self) -> Result<HashSet<String>, ClientError> {
        let out = self
            .sql(
                "SELECT table_name FROM information_schema.tables \
                 WHERE table_catalog = 'datafusion' AND table_schema = 'public'",
            )
            .await?;
        let mut names = HashSet::new();
        for batch in &out.batches {
            let column = batch.column(0);
            let formatter = datafusion::arrow::util::display::ArrayFormatter::try_new(
                column.as_ref(),
                &Default::default(),
            )
            .map_err(|e| ClientError::Result { query: String::new(), message: e.to_string() })?;
            names.extend((0..batch.num_rows()).map(|row| formatter.value(row).to_string()));
        }
        Ok(names)
    }
}

/// The session's `datafusion.public`: its own tables, then the cluster's.
#[derive(Debug)]
struct ClusterSchema {
    client: Client,
    /// The cluster's tables when the session started (for listing; lookups ask anew).
    names: HashSet<String>,
    local: MemorySchemaProvider,
}

#[async_trait]
impl SchemaProvider for ClusterSchema {
    fn table_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.local.table_names();
        names.extend(self.names.iter().filter(|n| !self.local.table_exist(n)).cloned());
        names.sort();
        names
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        if let Some(table) = self.local.table(name).await? {
            return Ok(Some(table));
        }
        let quoted = format!("\"{}\"", name.replace('"', "\"\""));
        match self.client.sql(&format!("SELECT * FROM {quoted} LIMIT 0")).await {
            Ok(out) => Ok(Some(Arc::new(CatalogTable::new(TableReference::bare(name), out.schema)))),
            Err(e) if e.to_string().contains("not found") => Ok(None),
            Err(e) => Err(DataFusionError::External(Box::new(e))),
        }
    }

    fn register_table(
        &self,
        name: String,
        table: Arc<dyn TableProvider>,
    ) -> Result<Option<Arc<dyn TableProvider>>> {
        self.local.register_table(name, table)
    }

    fn deregister_table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        self.local.deregister_table(name)
    }

    fn table_exist(&self, name: &str) -> bool {
        self.local.table_exist(name) || self.names.contains(name)
    }
}

/// Plans physically on the cluster. See the module docs.
#[derive(Debug)]
struct ClusterPlanner {
    client: Client,
}

#[async_trait]
impl QueryPlanner for ClusterPlanner {
    async fn create_physical_plan(
        &self,
        logical_plan: &LogicalPlan,
        _session: &dyn Session,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let plan = encode_logical_plan(logical_plan)?;
        let schema: SchemaRef = Arc::new(logical_plan.schema().as_arrow().clone());
        Ok(Arc::new(ClusterExec::new(self.client.clone(), plan, schema)))
    }
}

/// Marks `DataFrame::cache()` points for the cluster to keep.
#[derive(Debug)]
struct ClusterCacheFactory;

impl CacheFactory for ClusterCacheFactory {
    fn create(&self, plan: LogicalPlan, _session_state: &SessionState) -> Result<LogicalPlan> {
        let id = cache_id(&plan);
        Ok(LogicalPlan::Extension(Extension { node: Arc::new(ClusterCache { id, input: plan }) }))
    }
}

/// A whole logical plan that runs on the cluster; its one partition streams the result.
#[derive(Debug)]
struct ClusterExec {
    client: Client,
    plan: bytes::Bytes,
    schema: SchemaRef,
    properties: Arc<PlanProperties>,
}

impl ClusterExec {
    fn new(client: Client, plan: bytes::Bytes, schema: SchemaRef) -> Self {
        let properties = Arc::new(PlanProperties::new(
            EquivalenceProperties::new(schema.clone()),
            Partitioning::UnknownPartitioning(1),
            EmissionType::Final,
            Boundedness::Bounded,
        ));
        Self { client, plan, schema, properties }
    }
}

impl DisplayAs for ClusterExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "ClusterExec: scheduler={}", self.client.url())
    }
}

impl ExecutionPlan for ClusterExec {
    fn name(&self) -> &str {
        "ClusterExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        Vec::new()
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
            Err(DataFusionError::Internal("ClusterExec has no children".into()))
        }
    }

    fn execute(&self, partition: usize, _context: Arc<TaskContext>) -> Result<SendableRecordBatchStream> {
        if partition != 0 {
            return Err(DataFusionError::Internal(format!("ClusterExec has one partition, not {partition}")));
        }
        let (client, plan) = (self.client.clone(), self.plan.clone());
        let batches = futures::stream::once(async move {
            match client.run_plan(plan).await {
                Ok(out) => futures::stream::iter(out.batches.into_iter().map(Ok)).boxed(),
                Err(e) => futures::stream::iter([Err(DataFusionError::External(Box::new(e)))]).boxed(),
            }
        })
        .flatten();
        Ok(Box::pin(RecordBatchStreamAdapter::new(self.schema.clone(), batches)))
    }
}
