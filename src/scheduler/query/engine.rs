//! The engine behind every SQL statement: [`QueryEngine`].

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use arrow::array::{RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::ipc::writer::StreamWriter;
use bytes::Bytes;
use datafusion::datasource::file_format::format_as_file_type;
use datafusion::datasource::file_format::parquet::ParquetFormatFactory;
use datafusion::error::DataFusionError;
use datafusion::execution::SessionStateBuilder;
use datafusion::logical_expr::{CreateMemoryTable, DdlStatement, LogicalPlan, LogicalPlanBuilder};
use datafusion::physical_plan::{ExecutionPlan, collect};
use datafusion::prelude::SessionContext;
use dusk_flight::actions;
use dusk_flight::envelope::{decode_message, encode_message};
use dusk_flight::messages::{
    ClientUpdate, ClusterInfo, TaskFailed, TaskHistory, TaskHistoryRequest, TaskSpec,
};
use dusk_flight::query::{QueryProgress, StageCounts};
use dusk_flight::query::{ResultPartition, SqlResult};
use dusk_sql::{
    StageGraph, base_config, decode_logical_plan, query_prefix, resolve_catalog_tables, runs_on_workers,
    split, stage_tasks,
};
use tokio::sync::mpsc;

use super::board::QueryBoard;
use super::caches::Caches;
use super::catalog_log::{CatalogLog, changes_catalog};
use super::locations::Locations;
use super::tables::{self, ManagedTables};
use super::tracker::{KeyEvent, Tracker};
use super::{QueryError, QueryStats, QuerySummary, analyze};
use crate::blocking::blocking;
use crate::scheduler::event_loop::Event;

/// How long a finished query's result stays on workers if the client never closes it.
const RESULT_TTL: Duration = Duration::from_secs(600);

/// Plans and runs SQL on the cluster. See the module docs.
pub(crate) struct QueryEngine {
    pub(super) catalog: SessionContext,
    pub(super) tracker: Tracker,
    /// Prefix of this scheduler's query ids, so ids do not repeat across restarts.
    pub(super) epoch: String,
    pub(super) next_query: AtomicU64,
    /// Finished queries whose results are still held, with their final keys.
    pub(super) open: Mutex<HashMap<String, Vec<String>>>,
    /// Final keys of open queries that a Flight SQL client has read from a worker.
    pub(super) read: Mutex<HashMap<String, HashSet<String>>>,
    /// Where catalog changes are kept across restarts, if anywhere.
    pub(super) log: Option<CatalogLog>,
    /// Where the tables `CREATE TABLE` makes keep their files.
    pub(super) tables: ManagedTables,
    /// Results clients cached on the workers.
    pub(super) caches: Caches,
    /// Object stores statements have named.
    pub(super) locations: Locations,
    /// Queries running and recently ended, for progress reports and the dashboard.
    pub(super) board: QueryBoard,
}

impl QueryEngine {
    /// Starts an engine that submits through the event loop behind `events`; with a
    /// `state_dir`, the catalog kept there is loaded and later changes are kept there.
    pub(crate) async fn start(
        events: mpsc::UnboundedSender<Event>,
        state_dir: Option<&std::path::Path>,
    ) -> Result<Arc<Self>, QueryError> {
        let tracker = Tracker::connect(events).await?;
        let epoch = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() % 0x10000);
        let engine = Arc::new(QueryEngine {
            catalog: SessionContext::new_with_state(
                SessionStateBuilder::new()
                    .with_config(base_config())
                    .with_default_features()
                    .with_physical_optimizer_rules(dusk_sql::physical_optimizer_rules())
                    .build(),
            ),
            tracker,
            epoch: format!("{epoch:04x}"),
            next_query: AtomicU64::new(1),
            board: QueryBoard::default(),
            open: Mutex::new(HashMap::new()),
            read: Mutex::new(HashMap::new()),
            log: state_dir.map(CatalogLog::new),
            tables: ManagedTables::new(state_dir)
                .map_err(|e| QueryError::Plan(DataFusionError::IoError(e)))?,
            caches: Caches::default(),
            locations: Locations::default(),
        });
        crate::object_stores::register_option_prefixes(&engine.catalog);
        engine.load_catalog().await;
        Ok(engine)
    }

    /// Replays the catalog log; a statement that no longer runs is reported and skipped.
    pub(super) async fn load_catalog(&self) {
        let Some(log) = &self.log else { return };
        let statements = match log.statements() {
            Ok(statements) => statements,
            Err(e) => {
                tracing::error!(path = %log.path().display(), error = %e, "cannot read the catalog; starting empty");
                return;
            }
        };
        let mut loaded = 0;
        for sql in &statements {
            match self.replay(sql).await {
                Ok(()) => loaded += 1,
                Err(e) => tracing::warn!(statement = %sql, error = %e, "skipping a catalog statement"),
            }
        }
        tracing::info!(path = %log.path().display(), statements = loaded, "catalog loaded");
    }

    /// Runs one logged catalog statement again.
    pub(super) async fn replay(&self, sql: &str) -> Result<(), DataFusionError> {
        let plan = self.catalog.state().create_logical_plan(sql).await?;
        self.locations.prepare(&self.catalog, &plan)?;
        self.catalog.execute_logical_plan(plan).await?;
        Ok(())
    }

    /// A new query's id and a session over the shared catalog, planning for the cluster's
    /// threads.
    pub(super) async fn start_query(&self) -> Result<(String, SessionContext), QueryError> {
        let query = self.next_query_id();
        let threads = self.cluster_threads().await?;
        let mut state = self.catalog.state();
        state.config_mut().options_mut().execution.target_partitions = threads.max(1);
        Ok((query, SessionContext::new_with_state(state)))
    }

    /// A new query's id, unique across this scheduler's restarts.
    pub(super) fn next_query_id(&self) -> String {
        format!("q{}.{}", self.epoch, self.next_query.fetch_add(1, Ordering::Relaxed))
    }

    /// Runs a logical plan a client's own DataFusion session made (see
    /// `Client::session`): the cluster's tables and cached results go in place of their
    /// stand-ins, then it runs like a query.
    pub(crate) async fn execute_plan(self: &Arc<Self>, bytes: &[u8]) -> Result<SqlResult, QueryError> {
        let (query, ctx) = self.start_query().await?;
        let trace = self.board.begin(&query, "(DataFrame plan)");
        let result = async {
            let plan = decode_logical_plan(bytes, &ctx.task_ctx())?;
            let plan = resolve_catalog_tables(plan, &ctx).await?;
            self.locations.prepare(&ctx, &plan)?;
            let plan = self.caches.materialize(self, plan, &ctx).await?;
            self.run(query, &ctx, &plan).await
        }
        .await;
        trace.finish(&result);
        result
    }

    /// Plans and runs one statement.
    pub(crate) async fn execute(self: &Arc<Self>, sql: &str) -> Result<SqlResult, QueryError> {
        let (query, ctx) = self.start_query().await?;
        let trace = self.board.begin(&query, sql);
        let result = async {
            let plan = ctx.state().create_logical_plan(sql).await?;
            self.execute_planned(query.clone(), &ctx, sql, plan).await
        }
        .await;
        trace.finish(&result);
        result
    }

    /// Plans a statement without running it: a prepared statement's plan, whose
    /// parameters are bound later.
    pub(crate) async fn prepare(&self, sql: &str) -> Result<LogicalPlan, QueryError> {
        Ok(self.catalog.state().create_logical_plan(sql).await?)
    }

    /// Plans a Substrait plan (the bytes of a `substrait.Plan` message, as ADBC and
    /// DataFusion's producers send) against the catalog. Only queries: a plan that would
    /// change the catalog is refused, since the catalog log replays SQL text.
    #[cfg(feature = "substrait")]
    pub(crate) async fn prepare_substrait(&self, bytes: &[u8]) -> Result<LogicalPlan, QueryError> {
        let plan = datafusion_substrait::serializer::deserialize_bytes(bytes)?;
        let plan =
            datafusion_substrait::logical_plan::consumer::from_substrait_plan(&self.catalog.state(), &plan)
                .await?;
        if changes_catalog(&plan) {
            return Err(QueryError::Plan(DataFusionError::NotImplemented(
                "Substrait plans that change the catalog: send DDL and DML as SQL".to_string(),
            )));
        }
        Ok(plan)
    }

    /// Refuses a Substrait plan: this build has no Substrait consumer.
    #[cfg(not(feature = "substrait"))]
    pub(crate) async fn prepare_substrait(&self, _bytes: &[u8]) -> Result<LogicalPlan, QueryError> {
        Err(QueryError::Plan(DataFusionError::NotImplemented(
            "Substrait plans: this Dusk was built without the `substrait` feature \
             (rebuild with `--features substrait`, which needs `protoc`); send SQL instead"
                .to_string(),
        )))
    }

    /// Runs a statement [`Self::prepare`] planned (with its parameters bound); `sql` is its
    /// text, kept in the catalog log if the statement changes the catalog.
    pub(crate) async fn execute_prepared(
        self: &Arc<Self>,
        sql: &str,
        plan: LogicalPlan,
    ) -> Result<SqlResult, QueryError> {
        let (query, ctx) = self.start_query().await?;
        let trace = self.board.begin(&query, sql);
        let result = self.execute_planned(query.clone(), &ctx, sql, plan).await;
        trace.finish(&result);
        result
    }

    /// How the queries running on the workers stand, given the unfinished tasks the
    /// event loop counted under the stage prefixes of [`Self::stage_prefixes`].
    pub(crate) fn progress(&self, counts: &StageCounts) -> QueryProgress {
        self.board.report(counts)
    }

    /// The running and recently ended queries, running first.
    pub(crate) fn queries(&self) -> Vec<QuerySummary> {
        self.board.list()
    }

    /// Query counts and durations since start.
    pub(crate) fn query_stats(&self) -> QueryStats {
        self.board.stats()
    }

    /// The stage prefixes of the running queries.
    pub(crate) fn stage_prefixes(&self) -> Vec<String> {
        self.board.prefixes()
    }

    /// The shared catalog, for metadata calls.
    pub(crate) fn catalog(&self) -> &SessionContext {
        &self.catalog
    }

    pub(super) async fn execute_planned(
        self: &Arc<Self>,
        query: String,
        ctx: &SessionContext,
        sql: &str,
        plan: LogicalPlan,
    ) -> Result<SqlResult, QueryError> {
        if let LogicalPlan::Ddl(DdlStatement::CreateMemoryTable(create)) = &plan {
            return self.create_table(query, ctx, create).await;
        }
        // Dropping a table Dusk made also removes its files, once the drop took effect.
        let mut owned_dir = None;
        if let LogicalPlan::Ddl(DdlStatement::DropTable(drop)) = &plan
            && let Ok(provider) = ctx.table_provider(drop.name.clone()).await
            && self.tables.owns(&drop.name, &provider)
        {
            owned_dir = Some(self.tables.dir(&drop.name));
        }
        self.locations.prepare(ctx, &plan)?;
        let log = changes_catalog(&plan) && !already_exists(ctx, &plan);
        let df = ctx.execute_logical_plan(plan).await?;
        if log {
            self.remember(sql);
        }
        if let Some(dir) = owned_dir {
            blocking("removing a table's files", move || tables::remove_dir(&dir)).await??;
        }
        let logical = df.into_parts().1;
        if let LogicalPlan::Explain(explain) = &logical
            && !explain.verbose
        {
            let plan = ctx.state().create_physical_plan(&explain.plan).await?;
            let graph = split(plan, &query)?;
            return explain_result(&query, &explain.plan.display_indent().to_string(), &graph);
        }
        if let LogicalPlan::Analyze(analyze) = &logical {
            let plan = ctx.state().create_physical_plan(&analyze.input).await?;
            // A plan that stays on the scheduler is analyzed by DataFusion as usual.
            if runs_on_workers(&plan) {
                return self.analyze(query, plan).await;
            }
        }
        self.run(query, ctx, &logical).await
    }

    /// Runs a planned statement: on the workers, or here if it reads no files or holds
    /// an operator that cannot travel.
    pub(super) async fn run(
        self: &Arc<Self>,
        query: String,
        ctx: &SessionContext,
        logical: &LogicalPlan,
    ) -> Result<SqlResult, QueryError> {
        let plan = ctx.state().create_physical_plan(logical).await?;
        if !runs_on_workers(&plan) {
            return self.run_here(query, plan, ctx).await;
        }
        let graph = split(plan.clone(), &query)?;
        let specs = match stage_tasks(&graph, &self.locations.specs()) {
            Ok(specs) => specs,
            // Some operator cannot travel (an in-memory table, say): run it here.
            Err(DataFusionError::NotImplemented(why)) => {
                tracing::debug!(query = %query, reason = %why, "running a query on the scheduler");
                return self.run_here(query, plan, ctx).await;
            }
            Err(e) => return Err(e.into()),
        };
        tracing::debug!(query = %query, stages = graph.stages.len(), tasks = specs.len(), "running a query");
        self.run_stages(query, &graph, specs).await
    }

    /// `CREATE TABLE [AS]`: writes the rows as Parquet into a directory of Dusk's own and
    /// registers a table over it (see [`tables`]). The rows go to a staging directory
    /// first, so a failed statement leaves the old table, if any, as it was.
    pub(super) async fn create_table(
        self: &Arc<Self>,
        query: String,
        ctx: &SessionContext,
        create: &CreateMemoryTable,
    ) -> Result<SqlResult, QueryError> {
        let name = &create.name;
        let exists = ctx.table_exist(name.clone())?;
        if exists && create.if_not_exists {
            return Ok(SqlResult {
                query,
                inline: ipc_stream(&Schema::empty(), &[])?,
                partitions: Vec::new(),
            });
        }
        if exists && !create.or_replace {
            return Err(DataFusionError::Plan(format!("table '{name}' already exists")).into());
        }
        let dir = self.tables.dir(name);
        let staging = self.tables.staging_dir(name, &query);
        let schema = create.input.schema().as_arrow().clone();
        let start = staging.clone();
        blocking("creating a table's directory", move || tables::start_table_dir(&start, &schema)).await??;
        let copy = LogicalPlanBuilder::copy_to(
            create.input.as_ref().clone(),
            tables::directory_url(&staging),
            format_as_file_type(Arc::new(ParquetFormatFactory::new())),
            HashMap::new(),
            Vec::new(),
        )?
        .build()?;
        match self.run(query.clone(), ctx, &copy).await {
            Ok(written) => self.close(&written.query),
            Err(e) => {
                let _ = blocking("removing staged table files", move || tables::remove_dir(&staging)).await;
                return Err(e);
            }
        }
        if exists {
            ctx.deregister_table(name.clone())?;
            self.remember(&format!("DROP TABLE IF EXISTS {}", name.to_quoted_string()));
        }
        let target = dir.clone();
        blocking("replacing a table's files", move || tables::replace_dir(&staging, &target)).await??;
        let register = format!(
            "CREATE EXTERNAL TABLE {} STORED AS PARQUET LOCATION '{}'",
            name.to_quoted_string(),
            tables::directory_url(&dir).replace('\'', "''")
        );
        ctx.sql(&register).await?.collect().await?;
        self.remember(&register);
        Ok(SqlResult { query, inline: ipc_stream(&Schema::empty(), &[])?, partitions: Vec::new() })
    }

    /// Keeps a statement that changed the catalog in the catalog log, if there is one.
    pub(super) fn remember(&self, sql: &str) {
        if let Some(catalog_log) = &self.log
            && let Err(e) = catalog_log.append(sql)
        {
            tracing::error!(path = %catalog_log.path().display(), error = %e,
                "the statement took effect but could not be saved; it will not survive a restart");
        }
    }

    /// `EXPLAIN ANALYZE`: runs the stages, drops the answer, and reports what every task
    /// did from the scheduler's task history.
    pub(super) async fn analyze(
        self: &Arc<Self>,
        query: String,
        plan: Arc<dyn ExecutionPlan>,
    ) -> Result<SqlResult, QueryError> {
        let graph = split(plan, &query)?;
        let specs = stage_tasks(&graph, &self.locations.specs())?;
        let started = Instant::now();
        self.run_stages(query.clone(), &graph, specs).await?;
        let elapsed = started.elapsed();
        self.close(&query);
        let request = TaskHistoryRequest { prefix: query_prefix(&query) };
        let body = self.tracker.action(actions::TASK_HISTORY, encode_message(&request)).await?;
        let history: TaskHistory = decode_message(&body, "task history")
            .map_err(|e| QueryError::Plan(DataFusionError::External(e.into())))?;
        analyze::analyze_result(&query, &graph, &history.runs, elapsed)
    }

    /// A worker streamed the final partition `key` to a Flight SQL client in full; once
    /// every final partition of its query has been read, the query is closed.
    pub(crate) fn served(&self, key: &str) {
        let Some(query) = key.strip_prefix("sql-").and_then(|rest| rest.split('/').next()) else { return };
        let all_read = {
            let (Ok(open), Ok(mut read)) = (self.open.lock(), self.read.lock()) else { return };
            let Some(finals) = open.get(query) else { return };
            let read = read.entry(query.to_string()).or_default();
            read.insert(key.to_string());
            finals.iter().all(|k| read.contains(k))
        };
        if all_read {
            tracing::debug!(query = %query, "every result partition was read");
            self.close(query);
        }
    }

    /// Drops a finished query's result from the workers.
    pub(crate) fn close(&self, query: &str) {
        if let Ok(mut read) = self.read.lock() {
            read.remove(query);
        }
        let keys = self.open.lock().ok().and_then(|mut open| open.remove(query));
        tracing::debug!(query = %query, held = keys.is_some(), "query closed");
        self.release(keys.unwrap_or_default());
    }

    /// Drops results cached on the workers by `DataFrame::cache()`.
    pub(crate) fn uncache(&self, ids: &[u64]) {
        self.caches.uncache(self, ids);
    }

    /// Keeps a finished query's result on the workers until [`Self::release`]: it no
    /// longer expires or closes. Returns the keys holding it.
    pub(super) fn keep(&self, query: &str) -> Vec<String> {
        self.open.lock().ok().and_then(|mut open| open.remove(query)).unwrap_or_default()
    }

    /// Lets the workers drop results kept with [`Self::keep`].
    pub(super) fn release(&self, keys: Vec<String>) {
        if !keys.is_empty() {
            self.tracker.send(ClientUpdate { release: keys, ..Default::default() });
        }
    }

    pub(super) async fn cluster_threads(&self) -> Result<usize, QueryError> {
        let body = self.tracker.action(actions::CLUSTER_INFO, Bytes::new()).await?;
        let info: ClusterInfo = decode_message(&body, "cluster info")
            .map_err(|e| QueryError::Plan(DataFusionError::External(e.into())))?;
        Ok(info.workers.iter().map(|w| w.threads as usize).sum())
    }

    pub(super) async fn run_here(
        &self,
        query: String,
        plan: Arc<dyn ExecutionPlan>,
        ctx: &SessionContext,
    ) -> Result<SqlResult, QueryError> {
        let schema = plan.schema();
        let batches = collect(plan, ctx.task_ctx()).await?;
        Ok(SqlResult { query, inline: ipc_stream(&schema, &batches)?, partitions: Vec::new() })
    }

    pub(super) async fn run_stages(
        self: &Arc<Self>,
        query: String,
        graph: &StageGraph,
        specs: Vec<TaskSpec>,
    ) -> Result<SqlResult, QueryError> {
        let schema = graph.final_stage().plan.schema();
        let finals = graph.stage_keys(graph.final_stage().id);
        let mut events = self.tracker.watch(&finals);
        let mut running = Running { engine: self, keys: finals.clone(), finished: false };
        self.board.stages(&query, graph);
        self.tracker.send(ClientUpdate { submit: specs, want: finals.clone(), ..Default::default() });
        let mut ready = HashMap::with_capacity(finals.len());
        while ready.len() < finals.len() {
            match events.recv().await {
                Some(KeyEvent::Ready(r)) => {
                    ready.insert(r.key.clone(), r);
                }
                Some(KeyEvent::Failed(failed)) => {
                    return Err(QueryError::Task { query, message: describe_failure(&failed) });
                }
                Some(KeyEvent::Gone) => return Err(QueryError::Cancelled(query)),
                Some(KeyEvent::Lost(key)) => {
                    // Being computed again: wait for it anew.
                    ready.remove(&key);
                }
                None => return Err(QueryError::ShuttingDown),
            }
        }
        running.finished = true;
        drop(running);
        tracing::debug!(query = %query, partitions = finals.len(), "query finished");
        self.tracker.forget(&finals);
        let partitions = finals
            .iter()
            .filter_map(|k| ready.remove(k))
            .map(|r| ResultPartition { key: r.key, addrs: r.addrs, nbytes: r.nbytes })
            .collect();
        if let Ok(mut open) = self.open.lock() {
            open.insert(query.clone(), finals);
        }
        let engine = Arc::downgrade(self);
        let expiring = query.clone();
        tokio::spawn(async move {
            tokio::time::sleep(RESULT_TTL).await;
            if let Some(engine) = engine.upgrade() {
                engine.close(&expiring);
            }
        });
        Ok(SqlResult { query, inline: ipc_stream(&schema, &[])?, partitions })
    }
}

impl std::fmt::Debug for QueryEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueryEngine").field("epoch", &self.epoch).finish_non_exhaustive()
    }
}

/// True for an `IF NOT EXISTS` create of something that exists: it changes nothing, so
/// it is not logged (`dusk local` registers its sample tables so at every start).
fn already_exists(ctx: &SessionContext, plan: &LogicalPlan) -> bool {
    match plan {
        LogicalPlan::Ddl(DdlStatement::CreateExternalTable(c)) => {
            c.if_not_exists && ctx.table_exist(c.name.clone()).unwrap_or(false)
        }
        LogicalPlan::Ddl(DdlStatement::CreateView(c)) => {
            !c.or_replace && ctx.table_exist(c.name.clone()).unwrap_or(false)
        }
        _ => false,
    }
}

/// A query in flight: cancels its tasks if dropped before it finished.
struct Running<'a> {
    engine: &'a QueryEngine,
    keys: Vec<String>,
    finished: bool,
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        if !self.finished {
            self.engine.tracker.forget(&self.keys);
            self.engine.tracker.send(ClientUpdate { cancel: self.keys.clone(), ..Default::default() });
        }
    }
}

/// A task failure as one line for the person who ran the query.
fn describe_failure(failed: &TaskFailed) -> String {
    if failed.cause_key.is_empty() {
        format!("task {} on {}: {}", failed.key, failed.worker, failed.message)
    } else {
        format!(
            "task {} could not run: its input {} failed: {}",
            failed.key, failed.cause_key, failed.message
        )
    }
}

/// `schema` and `batches` as one Arrow IPC stream.
fn ipc_stream(schema: &Schema, batches: &[RecordBatch]) -> Result<Bytes, QueryError> {
    let mut writer = StreamWriter::try_new(Vec::new(), schema).map_err(DataFusionError::from)?;
    for batch in batches {
        writer.write(batch).map_err(DataFusionError::from)?;
    }
    writer.finish().map_err(DataFusionError::from)?;
    Ok(Bytes::from(writer.into_inner().map_err(DataFusionError::from)?))
}

/// `EXPLAIN`: the logical plan and the stage graph, as DataFusion lays out its own.
fn explain_result(query: &str, logical: &str, graph: &StageGraph) -> Result<SqlResult, QueryError> {
    plan_table(query, &[("logical_plan", logical.to_string()), ("distributed_plan", graph.display())])
}

/// A result of `(plan_type, plan)` rows, the layout of DataFusion's `EXPLAIN` output.
pub(super) fn plan_table(query: &str, rows: &[(&str, String)]) -> Result<SqlResult, QueryError> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("plan_type", DataType::Utf8, false),
        Field::new("plan", DataType::Utf8, false),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(StringArray::from_iter_values(rows.iter().map(|(kind, _)| *kind))),
            Arc::new(StringArray::from_iter_values(rows.iter().map(|(_, plan)| plan.as_str()))),
        ],
    )
    .map_err(DataFusionError::from)?;
    Ok(SqlResult { query: query.to_string(), inline: ipc_stream(&schema, &[batch])?, partitions: Vec::new() })
}
