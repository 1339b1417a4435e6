//! DataFusion's DataFrame API through `Client::session`, run on a real cluster and checked
//! against the same calls on in-process DataFusion.

use datafusion::functions_aggregate::expr_fn::{count, sum};
use datafusion::prelude::*;
use dusk::testing::LocalCluster;
use dusk::{Client, tpch};

/// Rows of `df` as sorted text, for comparing answers whatever their order.
async fn rows(df: DataFrame) -> Vec<String> {
    let batches = df.collect().await.expect("runs");
    tpch::result_rows(&batches, false).expect("formats")
}

/// Stage tasks the cluster has run so far.
async fn stage_runs(client: &Client) -> usize {
    client.task_history("sql-").await.expect("history").len()
}

/// `(tpch dir, cluster, client, reference)` with TPC-H SF 0.01 registered on the cluster
/// and in the in-process reference.
async fn setup() -> (tempfile::TempDir, LocalCluster, Client, SessionContext) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().to_path_buf();
    tokio::task::spawn_blocking(move || tpch::generate(0.01, &path, 2)).await.expect("thread").expect("data");
    let cluster = LocalCluster::start(2, 1).await.expect("cluster");
    let client = cluster.client().await.expect("client");
    let reference = SessionContext::new_with_config(SessionConfig::new().with_target_partitions(2));
    for statement in tpch::create_tables(dir.path()) {
        client.sql(&statement).await.expect("create on the cluster");
        reference.sql(&statement).await.expect("plans").collect().await.expect("creates");
    }
    (dir, cluster, client, reference)
}

/// The same DataFrame pipeline over `lineitem` and `orders`, from any session.
async fn busy_orders(ctx: &SessionContext) -> DataFrame {
    let lineitem = ctx.table("lineitem").await.expect("lineitem");
    let orders = ctx.table("orders").await.expect("orders");
    lineitem
        .filter(col("l_quantity").gt(lit(40)))
        .expect("filter")
        .join(orders, JoinType::Inner, &["l_orderkey"], &["o_orderkey"], None)
        .expect("join")
        .aggregate(
            vec![col("o_orderpriority")],
            vec![count(lit(1)).alias("n"), sum(col("l_quantity")).alias("q")],
        )
        .expect("aggregate")
        .sort(vec![col("o_orderpriority").sort(true, false)])
        .expect("sort")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dataframes_run_on_the_cluster_and_match_datafusion() {
    let (dir, cluster, client, reference) = setup().await;
    let ctx = client.session().await.expect("session");
    assert!(ctx.table_exist("lineitem").expect("lookup"), "the cluster's tables are in the session");

    let before = stage_runs(&client).await;
    let got = rows(busy_orders(&ctx).await).await;
    assert_eq!(got, rows(busy_orders(&reference).await).await);
    assert!(stage_runs(&client).await > before, "the DataFrame ran as stage tasks on the workers");

    // A file read by the session itself, joined with a table of the cluster.
    let nation = dir.path().join("nation");
    let local =
        ctx.read_parquet(nation.to_str().expect("utf-8"), ParquetReadOptions::default()).await.expect("read");
    let supplier = ctx.table("supplier").await.expect("supplier");
    let joined = local
        .join(supplier, JoinType::Inner, &["n_nationkey"], &["s_nationkey"], None)
        .expect("join")
        .aggregate(vec![col("n_name")], vec![count(lit(1))])
        .expect("aggregate");
    let expected = reference
        .table("nation")
        .await
        .expect("nation")
        .join(
            reference.table("supplier").await.expect("supplier"),
            JoinType::Inner,
            &["n_nationkey"],
            &["s_nationkey"],
            None,
        )
        .expect("join")
        .aggregate(vec![col("n_name")], vec![count(lit(1))])
        .expect("aggregate");
    assert_eq!(rows(joined).await, rows(expected).await);

    // Rows made in the session travel with the plan.
    let small = ctx.read_batch(
        datafusion::arrow::record_batch::RecordBatch::try_from_iter(vec![(
            "k",
            std::sync::Arc::new(datafusion::arrow::array::Int64Array::from(vec![1, 2, 3])) as _,
        )])
        .expect("batch"),
    );
    let filtered = small.expect("read batch").filter(col("k").gt(lit(1))).expect("filter");
    assert_eq!(rows(filtered).await, vec!["2", "3"]);

    // Writes land where the DataFrame says, written by the cluster.
    let out = dir.path().join("busy");
    busy_orders(&ctx)
        .await
        .write_parquet(
            out.to_str().expect("utf-8"),
            datafusion::dataframe::DataFrameWriteOptions::new(),
            None,
        )
        .await
        .expect("write");
    let written = reference
        .read_parquet(out.to_str().expect("utf-8"), ParquetReadOptions::default())
        .await
        .expect("read back");
    assert_eq!(rows(written).await, rows(busy_orders(&reference).await).await);

    // A missing table is the usual error.
    let err = ctx.table("no_such_table").await.expect_err("missing").to_string();
    assert!(err.contains("no_such_table"), "{err}");
    cluster.shutdown().await;
}

/// Lines of large quantity, from any session.
async fn heavy_lines(ctx: &SessionContext) -> DataFrame {
    ctx.table("lineitem")
        .await
        .expect("lineitem")
        .filter(col("l_quantity").gt(lit(45)))
        .expect("filter")
        .select(vec![col("l_orderkey"), col("l_quantity"), col("l_returnflag")])
        .expect("select")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_cached_dataframe_is_computed_once_and_kept_on_the_workers() {
    let (dir, cluster, client, reference) = setup().await;
    let ctx = client.session().await.expect("session");
    let cached = heavy_lines(&ctx).await.cache().await.expect("cache");
    let expected = heavy_lines(&reference).await;

    assert_eq!(rows(cached.clone()).await, rows(expected.clone()).await);
    let info = client.cluster_info().await.expect("info");
    let kept = info.tasks_by_state.get("memory").copied().unwrap_or(0);
    assert!(kept > 0, "the cached result stays on the workers: {:?}", info.tasks_by_state);

    // Later plans read the kept result, not lineitem: they work with its files gone.
    let expected_by_flag =
        expected.aggregate(vec![col("l_returnflag")], vec![count(lit(1))]).expect("aggregate");
    let expected_by_flag = rows(expected_by_flag).await;
    let (files, moved) = (dir.path().join("lineitem"), dir.path().join("lineitem-away"));
    std::fs::rename(&files, &moved).expect("move lineitem away");
    let by_flag =
        cached.clone().aggregate(vec![col("l_returnflag")], vec![count(lit(1))]).expect("aggregate");
    assert_eq!(rows(by_flag).await, expected_by_flag);
    std::fs::rename(&moved, &files).expect("move lineitem back");

    client.uncache(&cached).await.expect("uncache");
    super::support::eventually("the cached result to be released", || async {
        client.cluster_info().await.expect("info").tasks_by_state.values().sum::<u64>() == 0
    })
    .await;
    cluster.shutdown().await;
}
