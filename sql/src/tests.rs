//! Splitting real plans and running their stages in-process through the codec: every
//! query must give what DataFusion gives without stages.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use arrow::array::RecordBatch;
use arrow::util::pretty::pretty_format_batches;
use datafusion::dataframe::DataFrameWriteOptions;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::TaskContext;
use datafusion::prelude::{ParquetReadOptions, SessionConfig, SessionContext};
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};

use super::*;

/// Buckets written by finished tasks, by task key.
#[derive(Debug, Default)]
struct Buckets(Mutex<HashMap<String, Vec<Vec<RecordBatch>>>>);

#[async_trait::async_trait]
impl ShuffleSource for Buckets {
    async fn read(
        &self,
        producer: &str,
        partition: usize,
    ) -> Result<BoxStream<'static, Result<RecordBatch>>> {
        let map = self.0.lock().map_err(|_| DataFusionError::Internal("poisoned".into()))?;
        let batches = map
            .get(producer)
            .and_then(|b| b.get(partition))
            .cloned()
            .ok_or_else(|| DataFusionError::Internal(format!("{producer} bucket {partition} missing")))?;
        Ok(futures::stream::iter(batches.into_iter().map(Ok)).boxed())
    }
}

async fn context(dir: &std::path::Path) -> SessionContext {
    // Files split into byte ranges too, as large files are.
    let mut config = SessionConfig::new().with_target_partitions(4);
    config.options_mut().optimizer.repartition_file_min_size = 0;
    // As on workers: each task reads only its own partition's files.
    config.options_mut().execution.enable_file_stream_work_stealing = false;
    config.options_mut().optimizer.enable_physical_uncorrelated_scalar_subquery = false;
    let state = datafusion::execution::SessionStateBuilder::new()
        .with_config(config)
        .with_default_features()
        .with_physical_optimizer_rules(physical_optimizer_rules())
        .build();
    let ctx = SessionContext::new_with_state(state);
    let people = ctx
        .sql(
            "SELECT * FROM (VALUES (1, 'ann', 10), (2, 'bob', 20), (3, 'cy', 10), (4, 'dee', NULL), \
             (5, 'eve', 30), (6, 'fay', 20)) AS t(id, name, dept)",
        )
        .await
        .expect("people");
    let depts = ctx
        .sql("SELECT * FROM (VALUES (10, 'eng'), (20, 'ops'), (40, 'hr')) AS t(dept, title)")
        .await
        .expect("depts");
    for (name, df) in [("people", people), ("depts", depts)] {
        let path = dir.join(name);
        df.write_parquet(path.to_str().expect("utf-8 path"), DataFrameWriteOptions::new(), None)
            .await
            .expect("write parquet");
        ctx.register_parquet(name, path.to_str().expect("utf-8 path"), ParquetReadOptions::default())
            .await
            .expect("register");
    }
    ctx
}

/// Runs every stage's tasks in order, each through encode/decode, like workers would.
async fn run_staged(ctx: &SessionContext, sql: &str) -> Vec<RecordBatch> {
    let plan = ctx.sql(sql).await.expect("plans").create_physical_plan().await.expect("physical");
    let graph = split(plan, "t").expect("splits");
    let buckets = Arc::new(Buckets::default());
    let config = ctx.copied_config().with_extension(Arc::new(ShuffleInputs(buckets.clone())));
    let task_ctx = Arc::new(TaskContext::from(&ctx.state()).with_session_config(config));
    let mut result = Vec::new();
    for stage in &graph.stages {
        let bytes = encode_plan(stage.plan.clone()).expect("encodes");
        for p in 0..stage.partitions {
            let plan = decode_plan(&bytes, &task_ctx).expect("decodes");
            if let Some(writer) = plan.downcast_ref::<ShuffleWriterExec>() {
                let out = writer.write_partition(p, task_ctx.clone()).await.expect("writes");
                assert_eq!(out.len(), writer.buckets());
                buckets.0.lock().expect("lock").insert(graph.task_key(stage.id, p), out);
            } else {
                let batches: Vec<RecordBatch> =
                    plan.execute(p, task_ctx.clone()).expect("runs").try_collect().await.expect("collects");
                result.extend(batches);
            }
        }
    }
    result
}

fn lines(batches: &[RecordBatch], sorted: bool) -> Vec<String> {
    let text = pretty_format_batches(batches).expect("formats").to_string();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    if sorted {
        lines.sort();
    }
    lines
}

const QUERIES: &[(&str, bool)] = &[
    ("SELECT dept, count(*) AS n, sum(id) AS s FROM people GROUP BY dept", false),
    ("SELECT p.name, d.title FROM people p JOIN depts d ON p.dept = d.dept", false),
    ("SELECT p.name, d.title FROM people p LEFT JOIN depts d ON p.dept = d.dept", false),
    ("SELECT d.title, p.name FROM depts d FULL JOIN people p ON p.dept = d.dept", false),
    ("SELECT name FROM people ORDER BY id DESC LIMIT 3", true),
    ("SELECT count(DISTINCT dept) FROM people", true),
    ("SELECT name FROM people WHERE dept = (SELECT max(dept) FROM depts WHERE dept < 40)", false),
    ("SELECT name, rank() OVER (PARTITION BY dept ORDER BY id) AS r FROM people", false),
    ("SELECT name FROM people WHERE dept IN (SELECT dept FROM depts) ORDER BY name", true),
    ("SELECT name FROM people p WHERE NOT EXISTS (SELECT 1 FROM depts d WHERE d.dept = p.dept)", false),
    (
        "SELECT d.title, count(p.id) FROM depts d LEFT JOIN people p ON p.dept = d.dept GROUP BY d.title",
        false,
    ),
    ("SELECT dept FROM people UNION SELECT dept FROM depts", false),
    ("SELECT * FROM people WHERE id > 100", false),
];

#[tokio::test]
async fn staged_runs_match_datafusion() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ctx = context(dir.path()).await;
    for (sql, ordered) in QUERIES {
        let expected = ctx.sql(sql).await.expect("plans").collect().await.expect("runs");
        let got = run_staged(&ctx, sql).await;
        assert_eq!(lines(&got, !ordered), lines(&expected, !ordered), "query: {sql}");
    }
}

#[tokio::test]
async fn splits_at_shuffles_and_merges() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ctx = context(dir.path()).await;
    let sql = "SELECT dept, count(*) AS n FROM people GROUP BY dept ORDER BY n";
    let plan = ctx.sql(sql).await.expect("plans").create_physical_plan().await.expect("physical");
    let graph = split(plan, "q1").expect("splits");
    assert!(graph.stages.len() >= 3, "{}", graph.display());
    let last = graph.final_stage();
    assert_eq!(last.partitions, 1, "a sorted result is one partition");
    assert!(last.writer().is_none());
    for stage in &graph.stages[..graph.stages.len() - 1] {
        assert!(stage.writer().is_some(), "stage {} feeds another through a writer", stage.id);
        assert!(stage.inputs.iter().all(|i| *i < stage.id), "inputs come first");
    }
    assert_eq!(graph.task_key(1, 2), "sql-q1/stage-1/part-2");
    assert!(graph.display().contains("ShuffleReaderExec"));
}
