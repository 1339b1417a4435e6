//! SQL on a real cluster, checked against in-process DataFusion on the same files.

use std::path::Path;

use datafusion::prelude::{SessionConfig, SessionContext};
use dusk::testing::{ClusterSpec, LocalCluster};
use dusk::{Client, tpch};

/// Generates TPC-H at scale `scale` into `dir` (off the async reactor).
pub(crate) async fn generate(scale: f64, dir: &Path) {
    let dir = dir.to_path_buf();
    tokio::task::spawn_blocking(move || tpch::generate(scale, &dir, 2))
        .await
        .expect("generator thread")
        .expect("TPC-H data");
}

/// In-process DataFusion over the same tables, the reference.
pub(crate) async fn reference(dir: &Path) -> SessionContext {
    let ctx = SessionContext::new_with_config(SessionConfig::new().with_target_partitions(2));
    for statement in tpch::create_tables(dir) {
        ctx.sql(&statement).await.expect("register").collect().await.expect("register");
    }
    ctx
}

/// A cluster as `spec` says, with TPC-H SF 0.01 generated and registered.
async fn tpch_cluster(spec: ClusterSpec) -> (tempfile::TempDir, LocalCluster, Client) {
    let dir = tempfile::tempdir().expect("temp dir");
    generate(0.01, dir.path()).await;
    let cluster = LocalCluster::start_with(spec).await.expect("cluster");
    let client = cluster.client().await.expect("client");
    for statement in tpch::create_tables(dir.path()) {
        client.sql(&statement).await.expect("create table");
    }
    (dir, cluster, client)
}

/// Runs all 22 queries on the cluster and on DataFusion; returns the names that differ.
pub(crate) async fn run_tpch(client: &Client, dir: &Path) -> Vec<String> {
    let ctx = reference(dir).await;
    let mut wrong = Vec::new();
    for (name, sql) in tpch::QUERIES {
        let expected = ctx.sql(sql).await.expect("plans").collect().await.expect("runs");
        let got = match tokio::time::timeout(std::time::Duration::from_secs(20), client.sql(sql)).await {
            Ok(got) => got.unwrap_or_else(|e| panic!("{name} failed on the cluster: {e}")),
            Err(_) => {
                let info = client.cluster_info().await.expect("info");
                panic!("{name} hangs: {:?} {:#?}", info.tasks_by_state, info.workers);
            }
        };
        let ordered = sql.contains("order by");
        let expected_rows = tpch::result_rows(&expected, ordered).expect("formats");
        let got_rows = tpch::result_rows(&got.batches, ordered).expect("formats");
        assert!(!expected_rows.is_empty() || name == "q20", "{name} returned no rows in DataFusion");
        if let Some(first) = expected.first() {
            assert_eq!(got.schema.fields(), first.schema().fields(), "{name} schema");
        }
        if got_rows != expected_rows {
            eprintln!("{name}: cluster {got_rows:#?}\nDataFusion {expected_rows:#?}");
            wrong.push(name.to_string());
        }
    }
    // Every query was closed: no task of any stage is left, and the workers let go of
    // every shuffle output and result.
    super::support::eventually("every query's tasks and data to be released", || async {
        let info = client.cluster_info().await.expect("info");
        let held: u64 = info.workers.iter().filter_map(|w| w.metrics.as_ref()).map(|m| m.managed_bytes).sum();
        info.tasks_by_state.values().sum::<u64>() == 0 && held == 0
    })
    .await;
    wrong
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn tpch_on_one_worker_matches_datafusion() {
    let (dir, cluster, client) = tpch_cluster(ClusterSpec::new(1, 2)).await;
    assert_eq!(run_tpch(&client, dir.path()).await, Vec::<String>::new());
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn tpch_on_three_workers_matches_datafusion() {
    let (dir, cluster, client) = tpch_cluster(ClusterSpec::new(3, 2)).await;
    assert_eq!(run_tpch(&client, dir.path()).await, Vec::<String>::new());
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn tpch_with_spilling_shuffles_matches_datafusion() {
    // 2 MiB per worker: shuffle outputs pass the spill threshold and go to disk.
    let (dir, cluster, client) =
        tpch_cluster(ClusterSpec { memory_limit_bytes: 2 << 20, ..ClusterSpec::new(2, 2) }).await;
    assert_eq!(run_tpch(&client, dir.path()).await, Vec::<String>::new());
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_sql_gets_a_clear_error_and_the_cluster_keeps_serving() {
    let (dir, cluster, client) = tpch_cluster(ClusterSpec::new(2, 1)).await;
    let cases = [
        ("SELEC 1", "sql parser error: Expected: an SQL statement, found: SELEC"),
        ("SELECT * FROM no_such_table", "no_such_table"),
        ("SELECT no_such_column FROM nation", "no_such_column"),
        ("SELECT n_name + 1 FROM nation", "Utf8"),
    ];
    for (sql, needle) in cases {
        let err = client.sql(sql).await.expect_err(sql).to_string();
        assert!(err.to_lowercase().contains(&needle.to_lowercase()), "{sql}: {err}");
    }
    let missing = dir.path().join("missing");
    let err = client
        .sql(&format!("CREATE EXTERNAL TABLE gone STORED AS PARQUET LOCATION '{}/'", missing.display()))
        .await
        .expect_err("missing directory")
        .to_string();
    assert!(err.contains("missing"), "{err}");
    // A corrupt Parquet file fails its query with the file named; others still run.
    let corrupt = dir.path().join("corrupt");
    std::fs::create_dir_all(&corrupt).expect("dir");
    std::fs::write(corrupt.join("part-1.parquet"), b"PAR1 this is not parquet PAR1").expect("write");
    let created = client
        .sql(&format!("CREATE EXTERNAL TABLE corrupt STORED AS PARQUET LOCATION '{}/'", corrupt.display()))
        .await;
    if created.is_ok() {
        let err = client.sql("SELECT count(*) FROM corrupt").await.expect_err("corrupt file").to_string();
        assert!(err.to_lowercase().contains("parquet"), "{err}");
    }
    let out = client.sql("SELECT count(*) AS n FROM nation").await.expect("still serving");
    assert_eq!(tpch::result_rows(&out.batches, true).expect("rows"), vec!["25".to_string()]);
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn explain_shows_the_stage_graph() {
    let (_dir, cluster, client) = tpch_cluster(ClusterSpec::new(2, 1)).await;
    let out = client
        .sql("EXPLAIN SELECT n_name, count(*) FROM nation JOIN supplier ON n_nationkey = s_nationkey GROUP BY n_name")
        .await
        .expect("explain");
    let text = tpch::result_rows(&out.batches, true).expect("rows").join("\n");
    assert!(text.contains("distributed_plan"), "{text}");
    assert!(text.contains("Stage 0"), "{text}");
    assert!(text.contains("ShuffleWriterExec"), "{text}");
    assert!(text.contains("ShuffleReaderExec"), "{text}");
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn explain_analyze_shows_what_every_stage_and_task_did() {
    let (_dir, cluster, client) = tpch_cluster(ClusterSpec::new(2, 1)).await;
    let query =
        "SELECT n_name, count(*) FROM nation JOIN supplier ON n_nationkey = s_nationkey GROUP BY n_name";
    let answer = client.sql(query).await.expect("query").num_rows();
    let out = client.sql(&format!("EXPLAIN ANALYZE {query}")).await.expect("explain analyze");
    let rows = tpch::result_rows(&out.batches, true).expect("rows");
    assert_eq!(rows.len(), 2, "{rows:?}");
    let (plan, summary) = (&rows[0], &rows[1]);
    assert!(plan.starts_with("Plan with Metrics"), "{plan}");
    assert!(summary.contains(&format!("output rows={answer}")), "{summary}");
    let stages = plan.matches("Stage ").count();
    assert!(stages >= 2, "a join with a group-by has several stages: {plan}");
    assert_eq!(plan.matches("metrics: rows=").count(), stages, "{plan}");
    // Every task names a worker of the cluster.
    let workers: Vec<String> =
        client.cluster_info().await.expect("info").workers.into_iter().map(|w| w.name).collect();
    let task_lines: Vec<&str> = plan.split("\n").filter(|l| l.trim_start().starts_with("part-")).collect();
    assert!(!task_lines.is_empty(), "{plan}");
    for line in &task_lines {
        assert!(
            workers.iter().any(|w| line.contains(&format!(" on {w}:"))),
            "{line} names no worker of {workers:?}"
        );
    }
    // The answer was dropped: nothing of the query stays on the cluster.
    super::support::eventually("the analyzed query to be released", || async {
        client.cluster_info().await.expect("info").tasks_by_state.values().sum::<u64>() == 0
    })
    .await;
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dropping_a_running_query_releases_its_tasks() {
    let (_dir, cluster, client) = tpch_cluster(ClusterSpec::new(2, 1)).await;
    // A nested-loop join of 60,000 x 60,000 rows: far longer than the test waits.
    let long = "SELECT count(*) FROM lineitem a, lineitem b WHERE a.l_quantity + b.l_quantity < 0";
    let running = {
        let client = client.clone();
        tokio::spawn(async move { client.sql(long).await })
    };
    super::support::eventually("the query's tasks to run", || async {
        super::support::tasks_in(&client, "processing").await > 0
    })
    .await;
    running.abort();
    let started = std::time::Instant::now();
    super::support::eventually("the query's tasks to be released", || async {
        let info = client.cluster_info().await.expect("info");
        let busy = info.workers.iter().filter_map(|w| w.metrics.as_ref()).map(|m| m.executing).sum::<u32>();
        info.tasks_by_state.values().sum::<u64>() == 0 && busy == 0
    })
    .await;
    eprintln!("released {:.0} ms after the drop", started.elapsed().as_secs_f64() * 1e3);
    // The cluster serves the next query as usual.
    let out = client.sql("SELECT count(*) FROM nation").await.expect("next query");
    assert_eq!(tpch::result_rows(&out.batches, true).expect("rows"), vec!["25".to_string()]);
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_catalog_survives_a_scheduler_restart() {
    let state = tempfile::tempdir().expect("state dir");
    let mut spec = ClusterSpec::new(1, 1);
    spec.scheduler.state_dir = Some(state.path().to_path_buf());
    let (dir, cluster, client) = tpch_cluster(spec.clone()).await;
    client
        .sql("CREATE VIEW big_nations AS SELECT n_name FROM nation WHERE n_nationkey > 20")
        .await
        .expect("view");
    client.sql("DROP TABLE region").await.expect("drop");
    drop(client);
    cluster.shutdown().await;

    let cluster = LocalCluster::start_with(spec).await.expect("second cluster");
    let client = cluster.client().await.expect("client");
    let out = client.sql("SELECT count(*) FROM big_nations").await.expect("the view is back");
    assert_eq!(tpch::result_rows(&out.batches, true).expect("rows"), vec!["4".to_string()]);
    let out = client.sql("SELECT count(*) FROM lineitem").await.expect("the tables are back");
    assert_eq!(out.num_rows(), 1);
    let err = client.sql("SELECT * FROM region").await.expect_err("region stays dropped").to_string();
    assert!(err.contains("region"), "{err}");
    cluster.shutdown().await;
    drop(dir);
}

/// The single number a statement such as `COPY` or `INSERT` answers with.
async fn count_of(client: &Client, sql: &str) -> u64 {
    let out = client.sql(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    let rows = tpch::result_rows(&out.batches, true).expect("rows");
    assert_eq!(rows.len(), 1, "{sql} answered {rows:?}");
    rows[0].parse().unwrap_or_else(|_| panic!("{sql} answered {rows:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn copy_create_table_as_and_insert_write_files_that_outlive_the_scheduler() {
    let state = tempfile::tempdir().expect("state dir");
    let mut spec = ClusterSpec::new(2, 1);
    spec.scheduler.state_dir = Some(state.path().to_path_buf());
    let (dir, cluster, client) = tpch_cluster(spec.clone()).await;
    let ctx = reference(dir.path()).await;
    let expected = |sql: &'static str| {
        let ctx = ctx.clone();
        async move {
            let batches = ctx.sql(sql).await.expect("plans").collect().await.expect("runs");
            tpch::result_rows(&batches, false).expect("rows")
        }
    };

    // COPY writes Parquet that any table can then read.
    let out = dir.path().join("asia");
    let copied = count_of(
        &client,
        &format!(
            "COPY (SELECT n_nationkey, n_name FROM nation WHERE n_regionkey = 2) TO '{}/' STORED AS PARQUET",
            out.display()
        ),
    )
    .await;
    assert_eq!(copied, 5);
    client
        .sql(&format!("CREATE EXTERNAL TABLE asia STORED AS PARQUET LOCATION '{}/'", out.display()))
        .await
        .expect("register the copy");
    let got = client.sql("SELECT n_nationkey, n_name FROM asia").await.expect("read the copy");
    assert_eq!(
        tpch::result_rows(&got.batches, false).expect("rows"),
        expected("SELECT n_nationkey, n_name FROM nation WHERE n_regionkey = 2").await
    );

    // CREATE TABLE AS runs on the workers and keeps its rows in files of the state dir.
    let heavy = "SELECT l_orderkey, l_linenumber, l_quantity FROM lineitem WHERE l_quantity > 45";
    client.sql(&format!("CREATE TABLE heavy AS {heavy}")).await.expect("create table as");
    let history = client.task_history("sql-").await.expect("history");
    assert!(history.iter().any(|r| r.rows > 0), "the table's rows were made by stage tasks: {history:?}");
    let light = "SELECT l_orderkey, l_linenumber, l_quantity FROM lineitem WHERE l_quantity < 2";
    let inserted = count_of(&client, &format!("INSERT INTO heavy {light}")).await;
    assert_eq!(inserted as usize, expected(light).await.len());
    assert_eq!(count_of(&client, "INSERT INTO heavy VALUES (-1, 1, 99.5), (-2, 1, 0.5)").await, 2);

    // A table made with columns only starts empty and takes rows.
    client.sql("CREATE TABLE notes (id BIGINT, body VARCHAR)").await.expect("create empty table");
    assert_eq!(count_of(&client, "SELECT count(*) FROM notes").await, 0);
    assert_eq!(count_of(&client, "INSERT INTO notes VALUES (1, 'first'), (2, NULL)").await, 2);
    drop(client);
    cluster.shutdown().await;

    // After a restart the tables hold what was written; DROP removes their files.
    let cluster = LocalCluster::start_with(spec).await.expect("second cluster");
    let client = cluster.client().await.expect("client");
    let mut want = expected(heavy).await;
    want.extend(expected(light).await);
    want.extend(["-1 | 1 | 99.50".to_string(), "-2 | 1 | 0.50".to_string()]);
    want.sort();
    let got = client.sql("SELECT l_orderkey, l_linenumber, l_quantity FROM heavy").await.expect("read back");
    assert_eq!(tpch::result_rows(&got.batches, false).expect("rows"), want);
    let got = client.sql("SELECT id, body FROM notes ORDER BY id").await.expect("read notes");
    assert_eq!(tpch::result_rows(&got.batches, true).expect("rows"), vec!["1 | first", "2 | NULL"]);
    let tables = state.path().join("tables");
    assert!(tables.join("heavy").is_dir(), "CREATE TABLE keeps its files under the state dir");
    client.sql("DROP TABLE heavy").await.expect("drop");
    assert!(!tables.join("heavy").exists(), "DROP TABLE removes a table Dusk made");
    let err = client.sql("SELECT * FROM heavy").await.expect_err("heavy is gone").to_string();
    assert!(err.contains("heavy"), "{err}");
    // A table made with an existing name is refused with a clear error.
    let err = client.sql("CREATE TABLE notes AS SELECT 1 AS id").await.expect_err("exists").to_string();
    assert!(err.contains("notes") && err.contains("exists"), "{err}");
    cluster.shutdown().await;
}
