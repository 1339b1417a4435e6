//! Bags of JSON records on a real cluster, checked against the same computations done
//! with plain Rust iterators.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};

use dusk::SubmitOptions;
use dusk::bag::{self, BagError};
use dusk::bag_fn;
use dusk::testing::{ClusterSpec, LocalCluster};
use serde_json::{Value as Json, json};

use crate::support::{eventually, tasks_in};

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error>>;

const LEVELS: [&str; 3] = ["info", "warn", "error"];

pub(crate) fn record(i: i64) -> Json {
    json!({
        "id": i,
        "user": format!("u{:02}", i % 37),
        "level": LEVELS[(i % 3) as usize],
        "ms": (i * 7919) % 1000,
        "tags": (0..(i % 4)).map(|t| format!("t{}", (i + t) % 5)).collect::<Vec<_>>(),
    })
}

bag_fn! {
    /// A log line as a record.
    pub(crate) fn parse(line: String) -> Json { serde_json::from_str(&line).unwrap_or(Json::Null) }
}
bag_fn! {
    fn is_error(r: Json) -> bool { r["level"] == "error" }
}
bag_fn! {
    fn ms_of(r: Json) -> i64 { r["ms"].as_i64().unwrap_or(0) }
}
bag_fn! {
    pub(crate) fn user_of(r: Json) -> String { r["user"].as_str().unwrap_or_default().to_string() }
}
bag_fn! {
    fn tags_of(r: Json) -> Vec<String> {
        r["tags"].as_array().map(|t| t.iter().filter_map(|v| v.as_str().map(String::from)).collect()).unwrap_or_default()
    }
}
bag_fn! {
    fn add_ms(acc: i64, r: Json) -> i64 { acc + r["ms"].as_i64().unwrap_or(0) }
}
bag_fn! {
    fn add(a: i64, b: i64) -> i64 { a + b }
}
bag_fn! {
    fn partition_len(p: Vec<Json>) -> i64 { p.len() as i64 }
}
bag_fn! {
    fn total(v: Vec<i64>) -> i64 { v.iter().sum() }
}
bag_fn! {
    fn slow_only(p: Vec<Json>) -> Vec<Json> { p.into_iter().filter(|r| r["ms"].as_i64().unwrap_or(0) >= 900).collect() }
}

/// Writes the records as JSON lines in three files: plain, gzip and zstd.
pub(crate) fn write_logs(dir: &std::path::Path, records: &[Json]) -> Result {
    let lines = |part: &[Json]| part.iter().map(|r| format!("{r}\n")).collect::<String>();
    let third = records.len() / 3;
    std::fs::write(dir.join("a.jsonl"), lines(&records[..third]))?;
    let mut gz = flate2::write::GzEncoder::new(
        std::fs::File::create(dir.join("b.jsonl.gz"))?,
        flate2::Compression::fast(),
    );
    gz.write_all(lines(&records[third..2 * third]).as_bytes())?;
    gz.finish()?;
    let zst = zstd::encode_all(lines(&records[2 * third..]).as_bytes(), 3)?;
    std::fs::write(dir.join("c.jsonl.zst"), zst)?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bag_operations_on_json_records_match_iterators() -> Result {
    let cluster = LocalCluster::start(2, 1).await?;
    let client = cluster.client().await?;
    let records: Vec<Json> = (0..3000).map(record).collect();
    let dir = tempfile::tempdir()?;
    write_logs(dir.path(), &records)?;
    let logs = bag::read_text(dir.path().join("*.jsonl*"))?;
    assert_eq!(logs.npartitions(), 3);
    let parsed = logs.map(parse);

    assert_eq!(parsed.count(&client).await?, 3000);
    assert_eq!(parsed.compute(&client).await?, records, "files in name order, lines in order");
    let errors = parsed.filter(is_error);
    assert_eq!(errors.count(&client).await?, records.iter().filter(|r| r["level"] == "error").count() as u64);

    let mut ms = parsed.map(ms_of).compute(&client).await?;
    ms.sort_unstable();
    let mut want: Vec<i64> = records.iter().map(|r| r["ms"].as_i64().unwrap_or(0)).collect();
    want.sort_unstable();
    assert_eq!(ms, want);

    let freq = parsed.flat_map(tags_of).frequencies(&client).await?;
    let mut counts: HashMap<String, u64> = HashMap::new();
    for r in &records {
        for t in r["tags"].as_array().into_iter().flatten() {
            *counts.entry(t.as_str().unwrap_or_default().to_string()).or_default() += 1;
        }
    }
    let mut want: Vec<(String, u64)> = counts.into_iter().collect();
    want.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    assert_eq!(freq, want);

    let top = parsed.map(ms_of).topk(&client, 5).await?;
    assert_eq!(top, ms.iter().rev().take(5).copied().collect::<Vec<_>>());
    let slowest = parsed.topk_by(&client, 3, ms_of).await?;
    assert_eq!(
        slowest.iter().map(|r| r["ms"].as_i64().unwrap_or(-1)).collect::<Vec<_>>(),
        ms.iter().rev().take(3).copied().collect::<Vec<_>>()
    );

    let users = parsed.map(user_of).distinct(&client).await?;
    let want: Vec<String> = (0..37).map(|u| format!("u{u:02}")).collect();
    assert_eq!(users, want);

    let sum: i64 = records.iter().map(|r| r["ms"].as_i64().unwrap_or(0)).sum();
    assert_eq!(parsed.fold(&client, add_ms, 0i64, add).await?, sum);
    assert_eq!(parsed.reduction(&client, partition_len, total).await?, 3000);
    let slow = parsed.map_partitions(slow_only);
    assert_eq!(
        slow.count(&client).await?,
        records.iter().filter(|r| r["ms"].as_i64().unwrap_or(0) >= 900).count() as u64
    );

    let by_user = parsed.foldby(&client, user_of, add_ms, 0i64, add).await?;
    let mut want: BTreeMap<String, i64> = BTreeMap::new();
    for r in &records {
        *want.entry(r["user"].as_str().unwrap_or_default().to_string()).or_default() +=
            r["ms"].as_i64().unwrap_or(0);
    }
    assert_eq!(by_user, want.into_iter().collect::<Vec<_>>());

    // 37 groups over 5 partitions: a shuffle through the workers.
    let groups = parsed.groupby(user_of, 5)?;
    assert_eq!(groups.npartitions(), 5);
    let mut got: Vec<(String, usize)> =
        groups.compute(&client).await?.into_iter().map(|(k, v)| (k, v.len())).collect();
    got.sort();
    let mut want: BTreeMap<String, usize> = BTreeMap::new();
    for r in &records {
        *want.entry(r["user"].as_str().unwrap_or_default().to_string()).or_default() += 1;
    }
    assert_eq!(got, want.into_iter().collect::<Vec<_>>());

    assert_eq!(parsed.take(&client, 10).await?, records[..10].to_vec());

    let out = tempfile::tempdir()?;
    let paths = errors.to_textfiles(&client, out.path(), true).await?;
    assert_eq!(paths.len(), 3);
    let back = bag::read_text(out.path().join("*.txt.gz"))?.map(parse).compute(&client).await?;
    assert_eq!(back, records.iter().filter(|r| r["level"] == "error").cloned().collect::<Vec<_>>());

    let seq = bag::from_sequence(&(1..=100i64).collect::<Vec<_>>(), 7)?;
    assert_eq!(seq.npartitions(), 7);
    assert_eq!(seq.fold(&client, add, 0i64, add).await?, 5050);
    assert!(matches!(bag::read_text(dir.path().join("*.nothing")), Err(BagError::File { .. })));
    cluster.shutdown().await;
    Ok(())
}

bag_fn! {
    /// Drops the list column, which a flat table cannot hold as is.
    fn flat(r: Json) -> Json {
        json!({"id": r["id"], "user": r["user"], "level": r["level"], "ms": r["ms"]})
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_log_cleaned_with_a_bag_then_queried_with_sql() -> Result {
    let cluster = LocalCluster::start(2, 1).await?;
    let client = cluster.client().await?;
    let records: Vec<Json> = (0..2000).map(record).collect();
    let dir = tempfile::tempdir()?;
    write_logs(dir.path(), &records)?;
    let cleaned = bag::read_text(dir.path().join("*"))?.map(parse).map(flat);
    assert_eq!(cleaned.to_dataframe(&client, "events").await?, 2000);
    let out = client.sql("SELECT level, count(*), sum(ms) FROM events GROUP BY level ORDER BY level").await?;
    let got = dusk::tpch::result_rows(&out.batches, true)?;
    let mut want: BTreeMap<&str, (i64, i64)> = BTreeMap::new();
    for r in &records {
        let e = want.entry(r["level"].as_str().unwrap_or_default()).or_default();
        e.0 += 1;
        e.1 += r["ms"].as_i64().unwrap_or(0);
    }
    let want: Vec<String> = want.into_iter().map(|(l, (n, s))| format!("{l} | {n} | {s}")).collect();
    assert_eq!(got, want);
    let empty = bag::from_sequence::<Json>(&[], 2)?;
    assert!(matches!(empty.to_dataframe(&client, "nothing").await, Err(BagError::Table(_))));
    cluster.shutdown().await;
    Ok(())
}

/// Calls of [`fails_first`], so the test can make exactly its first run fail.
static FAILS_FIRST_CALLS: AtomicUsize = AtomicUsize::new(0);

bag_fn! {
    /// Fails on its first call in this process, then passes partitions through.
    fn fails_first(p: Vec<i64>) -> Vec<i64> {
        assert!(FAILS_FIRST_CALLS.fetch_add(1, Ordering::SeqCst) > 0, "the first run fails");
        p
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn task_options_reach_bag_and_array_tasks() -> Result {
    let mut spec = ClusterSpec::new(2, 1);
    spec.resources = vec![("gpu".into(), 1.0)];
    let cluster = LocalCluster::start_with(spec).await?;
    let client = cluster.client().await?;

    // Retries: the first run of the partition fails; one retry brings the answer.
    let items: Vec<i64> = (1..=20).collect();
    let flaky = bag::from_sequence(&items, 1)?.map_partitions(fails_first);
    let retried = client.with_task_options(SubmitOptions::default().retries(1));
    assert_eq!(flaky.compute(&retried).await?, items);
    assert_eq!(FAILS_FIRST_CALLS.load(Ordering::SeqCst), 2);
    // Without retries the same failure reaches the caller.
    FAILS_FIRST_CALLS.store(0, Ordering::SeqCst);
    let other = bag::from_sequence(&items[..10], 1)?.map_partitions(fails_first);
    let err = other.compute(&client).await.expect_err("no retries").to_string();
    assert!(err.contains("the first run fails"), "{err}");

    // Resources: no worker offers a TPU, so the array's tasks wait for one; dropping
    // the computation cancels them and the cluster keeps serving.
    let x = dusk::array::random(&[400, 400], &[100, 100], 3)?;
    let on_tpu = client.with_task_options(SubmitOptions::default().resource("tpu", 1.0));
    let waiting = tokio::spawn({
        let x = x.clone();
        async move { x.sum()?.compute(&on_tpu).await }
    });
    eventually("the TPU tasks to wait for a worker", || async { tasks_in(&client, "no-worker").await > 0 })
        .await;
    waiting.abort();
    eventually("the waiting tasks to be released", || async { tasks_in(&client, "no-worker").await == 0 })
        .await;
    let on_gpu = client.with_task_options(SubmitOptions::default().resource("gpu", 1.0).priority(5));
    let summed = x.sum()?.compute(&on_gpu).await?.into_typed::<f64>().ok_or("f64")?;
    let whole = x.compute(&client).await?.into_typed::<f64>().ok_or("f64")?;
    assert!((summed.sum() - whole.sum()).abs() < 1e-6 * whole.sum().abs());
    cluster.shutdown().await;
    Ok(())
}
