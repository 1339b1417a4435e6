//! Tests of the result store: accounting, LRU spill, read-back and races.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use bytes::Bytes;

use super::*;
use crate::worker::error::SpillFileError;

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn store(dir: &Path, limit: u64) -> Result<ResultStore, WorkerError> {
    ResultStore::new(StoreConfig::new(limit, dir))
}

fn bytes_value(fill: u8, len: usize) -> Value {
    Value::Bytes(Bytes::from(vec![fill; len]))
}

fn batch(first: i64, rows: usize) -> Result<RecordBatch, arrow::error::ArrowError> {
    let schema = Schema::new_with_metadata(
        vec![Field::new("n", DataType::Int64, false), Field::new("s", DataType::Utf8, true)],
        HashMap::from([("origin".to_string(), "test".to_string())]),
    );
    let n: ArrayRef = Arc::new(Int64Array::from_iter_values(first..first + rows as i64));
    let s: ArrayRef =
        Arc::new(StringArray::from_iter((0..rows).map(|i| (i % 3 != 0).then(|| format!("row {i}")))));
    RecordBatch::try_new(Arc::new(schema), vec![n, s])
}

/// Recomputes the accounting from the entries and checks every invariant of `State`.
fn validate(store: &ResultStore) {
    let state = store.shared.lock();
    let (mut managed, mut spilling, mut spilled, mut spilled_count) = (0, 0, 0, 0);
    let mut in_memory = 0;
    for (key, entry) in &state.entries {
        match entry.slot {
            Slot::Memory(_) => {
                managed += entry.nbytes;
                in_memory += 1;
                assert_eq!(state.lru.get(&entry.last_used), Some(key), "lru entry of {key}");
            }
            Slot::Spilling { .. } => {
                managed += entry.nbytes;
                spilling += entry.nbytes;
            }
            Slot::Spilled { file_bytes, .. } => {
                spilled += file_bytes;
                spilled_count += 1;
            }
        }
    }
    assert_eq!(state.lru.len(), in_memory, "lru lists exactly the in-memory entries");
    assert_eq!(state.managed_bytes, managed);
    assert_eq!(state.spilling_bytes, spilling);
    assert_eq!(state.spilled_bytes, spilled);
    assert_eq!(state.spilled_count, spilled_count);
}

fn in_memory(store: &ResultStore, key: &str) -> bool {
    matches!(store.shared.lock().entries.get(key), Some(Entry { slot: Slot::Memory(_), .. }))
}

fn spill_files(dir: &Path) -> std::io::Result<usize> {
    let mut n = 0;
    for entry in std::fs::read_dir(dir)? {
        if entry?.path().extension().is_some_and(|e| e == "arrow") {
            n += 1;
        }
    }
    Ok(n)
}

fn expect_bytes(value: Option<Value>) -> Bytes {
    match value {
        Some(Value::Bytes(bytes)) => bytes,
        other => panic!("expected a byte value, got {other:?}"),
    }
}

#[tokio::test]
async fn insert_get_remove_round_trip() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = store(dir.path(), 1 << 20)?;
    store.insert("a-1".into(), bytes_value(1, 100));
    assert!(store.contains("a-1"));
    assert_eq!(store.describe("a-1"), Some((100, ValueKind::Bytes)));
    assert_eq!(expect_bytes(store.get("a-1").await?), Bytes::from(vec![1; 100]));
    store.insert("a-1".into(), bytes_value(2, 50));
    assert_eq!(expect_bytes(store.get("a-1").await?), Bytes::from(vec![2; 50]));
    assert_eq!(store.metrics().managed_bytes, 50);
    assert!(store.remove("a-1"));
    assert!(!store.remove("a-1"));
    assert!(!store.contains("a-1"));
    assert!(store.get("a-1").await?.is_none());
    assert_eq!(store.describe("a-1"), None);
    assert_eq!(store.metrics(), StoreMetrics { memory_limit_bytes: 1 << 20, ..StoreMetrics::default() });
    validate(&store);
    Ok(())
}

#[tokio::test]
async fn spill_starts_above_spill_fraction_and_keeps_managed_under_it() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = store(dir.path(), 1000)?;
    for i in 0..6 {
        store.insert(format!("v-{i}").into(), bytes_value(i, 100));
    }
    // Exactly 60 %: nothing to do.
    assert_eq!(store.spill_if_needed().await?, 0);
    assert_eq!(spill_files(dir.path())?, 0);
    for i in 6..10 {
        store.insert(format!("v-{i}").into(), bytes_value(i, 100));
    }
    assert_eq!(store.spill_if_needed().await?, 400);
    let metrics = store.metrics();
    assert_eq!(metrics.managed_bytes, 600);
    assert_eq!(metrics.count, 10);
    assert_eq!(metrics.spilled_count, 4);
    assert!(metrics.spilled_bytes > 400, "files hold the data plus Arrow framing");
    assert_eq!(spill_files(dir.path())?, 4);
    validate(&store);
    Ok(())
}

#[tokio::test]
async fn spill_picks_least_recently_used_values() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = store(dir.path(), 1000)?;
    for i in 0..5 {
        store.insert(format!("v-{i}").into(), bytes_value(i, 200));
    }
    store.get("v-0").await?;
    store.get("v-1").await?;
    assert_eq!(store.spill_if_needed().await?, 400);
    let memory: Vec<bool> = (0..5).map(|i| in_memory(&store, &format!("v-{i}"))).collect();
    assert_eq!(memory, [true, true, false, false, true]);
    // Reading v-2 back makes it most recently used: v-4 is next.
    assert_eq!(expect_bytes(store.get("v-2").await?), Bytes::from(vec![2; 200]));
    assert_eq!(store.spill_if_needed().await?, 200);
    let memory: Vec<bool> = (0..5).map(|i| in_memory(&store, &format!("v-{i}"))).collect();
    assert_eq!(memory, [true, true, true, false, false]);
    validate(&store);
    Ok(())
}

#[tokio::test]
async fn spilled_bytes_and_batches_read_back_equal() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = store(dir.path(), 100)?;
    let batches = vec![batch(0, 10)?, batch(10, 0)?, batch(10, 1000)?];
    let slice = batch(0, 100)?.slice(40, 20);
    let bytes = Bytes::from_iter((0..5000u32).map(|i| (i % 251) as u8));
    store.insert("empty-b".into(), Value::Batches(vec![]));
    store.insert("empty-y".into(), Value::Bytes(Bytes::new()));
    store.insert("bytes".into(), Value::Bytes(bytes.clone()));
    store.insert("batches".into(), Value::Batches(batches.clone()));
    store.insert("slice".into(), Value::Batches(vec![slice.clone()]));
    store.insert("last".into(), bytes_value(0, 101));
    store.spill_if_needed().await?;
    assert_eq!(store.metrics().spilled_count, 6, "all spilled: even the last alone is over the limit");
    assert_eq!(store.describe("batches").map(|d| d.1), Some(ValueKind::Batches));

    assert_eq!(expect_bytes(store.get("bytes").await?), bytes);
    assert_eq!(expect_bytes(store.get("empty-y").await?), Bytes::new());
    for (key, expected) in [("batches", batches), ("slice", vec![slice]), ("empty-b", vec![])] {
        match store.get(key).await? {
            Some(Value::Batches(back)) => assert_eq!(back, expected, "{key}"),
            other => panic!("{key}: expected batches, got {other:?}"),
        }
    }
    assert_eq!(store.metrics().spilled_count, 1);
    assert_eq!(spill_files(dir.path())?, 1, "read-back deletes the files");
    validate(&store);
    Ok(())
}

#[tokio::test]
async fn removing_or_replacing_a_spilled_value_deletes_its_file() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = store(dir.path(), 100)?;
    store.insert("a".into(), bytes_value(1, 100));
    store.insert("b".into(), bytes_value(2, 100));
    store.spill_if_needed().await?;
    assert_eq!(spill_files(dir.path())?, 2);
    assert!(store.remove("a"));
    assert_eq!(spill_files(dir.path())?, 1);
    store.insert("b".into(), bytes_value(3, 10));
    assert_eq!(spill_files(dir.path())?, 0);
    assert_eq!(expect_bytes(store.get("b").await?), Bytes::from(vec![3; 10]));
    assert_eq!(store.metrics().spilled_bytes, 0);
    validate(&store);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_get_insert_remove_and_spill_keep_values_and_files_consistent() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = Arc::new(store(dir.path(), 20_000)?);
    let keys = 200;
    for i in 0..keys {
        store.insert(format!("v-{i}").into(), bytes_value(i as u8, 500));
    }
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..2 {
        let store = store.clone();
        tasks.spawn(async move {
            for _ in 0..20 {
                store.spill_if_needed().await?;
                tokio::task::yield_now().await;
            }
            Ok::<_, WorkerError>(())
        });
    }
    for reader in 0..4 {
        let store = store.clone();
        tasks.spawn(async move {
            for round in 0..3 {
                for i in (reader..keys).step_by(4) {
                    let key = format!("v-{i}");
                    match store.get(&key).await? {
                        Some(value) => {
                            assert_eq!(expect_bytes(Some(value)), Bytes::from(vec![i as u8; 500]))
                        }
                        None => assert!(i % 10 == 0, "{key} vanished in round {round}"),
                    }
                }
            }
            Ok(())
        });
    }
    {
        let store = store.clone();
        tasks.spawn(async move {
            for i in (0..keys).step_by(10) {
                store.remove(&format!("v-{i}"));
                tokio::task::yield_now().await;
            }
            for i in (5..keys).step_by(10) {
                store.insert(format!("v-{i}").into(), bytes_value(i as u8, 500));
                tokio::task::yield_now().await;
            }
            Ok(())
        });
    }
    while let Some(joined) = tasks.join_next().await {
        joined??;
    }
    store.spill_if_needed().await?;
    validate(&store);
    let metrics = store.metrics();
    assert_eq!(metrics.count, keys - keys / 10);
    assert!(metrics.managed_bytes <= 12_000);
    assert_eq!(spill_files(dir.path())?, metrics.spilled_count, "no leaked or missing spill files");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_spills_pick_each_value_once() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = Arc::new(store(dir.path(), 10_000)?);
    for i in 0..100 {
        store.insert(format!("v-{i}").into(), bytes_value(i, 100));
    }
    let (a, b) = tokio::join!(store.spill_if_needed(), store.spill_if_needed());
    assert_eq!(a? + b?, 4_000);
    assert_eq!(store.metrics().managed_bytes, 6_000);
    assert_eq!(spill_files(dir.path())?, 40);
    validate(&store);
    Ok(())
}

#[tokio::test]
async fn should_pause_above_pause_fraction() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = store(dir.path(), 1000)?;
    store.insert("a".into(), bytes_value(0, 800));
    assert!(!store.should_pause(), "exactly 80 % does not pause");
    store.insert("b".into(), bytes_value(0, 1));
    assert!(store.should_pause());
    store.spill_if_needed().await?;
    assert!(!store.should_pause());
    Ok(())
}

#[tokio::test]
async fn value_larger_than_the_limit_spills_and_reads_back() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = store(dir.path(), 1 << 20)?;
    let big = Bytes::from_iter((0..10usize << 20).map(|i| (i % 251) as u8));
    store.insert("big".into(), Value::Bytes(big.clone()));
    assert_eq!(store.spill_if_needed().await?, 10 << 20);
    assert_eq!(store.metrics().managed_bytes, 0);
    assert!(store.metrics().spilled_bytes >= 10 << 20);
    assert_eq!(expect_bytes(store.get("big").await?), big);
    assert_eq!(store.describe("big"), Some((10 << 20, ValueKind::Bytes)));
    assert_eq!(spill_files(dir.path())?, 0);
    validate(&store);
    Ok(())
}

#[tokio::test]
async fn clear_drops_everything_and_deletes_spill_files() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = store(dir.path(), 1000)?;
    for i in 0..20 {
        store.insert(format!("v-{i}").into(), bytes_value(i, 100));
    }
    store.spill_if_needed().await?;
    assert_eq!(spill_files(dir.path())?, 14);
    store.clear();
    assert_eq!(spill_files(dir.path())?, 0);
    assert_eq!(store.metrics(), StoreMetrics { memory_limit_bytes: 1000, ..StoreMetrics::default() });
    // The store is usable after a clear, and numbers no file twice.
    store.insert("again".into(), bytes_value(1, 700));
    assert_eq!(store.spill_if_needed().await?, 700);
    assert_eq!(expect_bytes(store.get("again").await?), Bytes::from(vec![1; 700]));
    validate(&store);
    Ok(())
}

#[tokio::test]
async fn unreadable_spill_file_reports_key_and_path_and_stays_spilled() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = store(dir.path(), 10)?;
    store.insert("lost-1".into(), bytes_value(1, 100));
    store.spill_if_needed().await?;
    let path = spill::spill_path(dir.path(), 0);
    std::fs::write(&path, b"not arrow")?;
    match store.get("lost-1").await {
        Err(WorkerError::SpillRead { key, path: p, .. }) => {
            assert_eq!(key.as_str(), "lost-1");
            assert_eq!(p, path);
        }
        other => panic!("expected a spill read error, got {other:?}"),
    }
    assert!(store.contains("lost-1"));
    assert!(store.remove("lost-1"));
    assert!(!path.exists());
    Ok(())
}

/// Marks victims as `spill_if_needed` does, without writing them yet.
fn pick(store: &ResultStore) -> Vec<Victim> {
    store.shared.lock().pick_victims(store.shared.spill_threshold_bytes)
}

#[tokio::test]
async fn get_during_spill_serves_from_memory() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = store(dir.path(), 100)?;
    store.insert("a".into(), bytes_value(1, 100));
    let victims = pick(&store);
    assert_eq!(victims.len(), 1);
    assert!(pick(&store).is_empty(), "a value being spilled is not picked twice");
    assert_eq!(store.spill_if_needed().await?, 0, "nor spilled by a concurrent call");
    assert_eq!(expect_bytes(store.get("a").await?), Bytes::from(vec![1; 100]));
    validate(&store);
    assert_eq!(store.shared.spill(victims).0, 100);
    assert_eq!(expect_bytes(store.get("a").await?), Bytes::from(vec![1; 100]));
    validate(&store);
    Ok(())
}

#[tokio::test]
async fn remove_during_spill_deletes_the_file_the_spill_wrote() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = store(dir.path(), 100)?;
    store.insert("a".into(), bytes_value(1, 100));
    store.insert("b".into(), bytes_value(2, 100));
    let victims = pick(&store);
    assert!(store.remove("a"));
    store.insert("b".into(), bytes_value(3, 10));
    validate(&store);
    assert_eq!(store.shared.spill(victims).0, 0);
    assert_eq!(spill_files(dir.path())?, 0);
    assert!(!store.contains("a"));
    assert_eq!(expect_bytes(store.get("b").await?), Bytes::from(vec![3; 10]));
    validate(&store);
    Ok(())
}

#[tokio::test]
async fn clear_during_spill_leaves_no_file() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = store(dir.path(), 100)?;
    store.insert("a".into(), bytes_value(1, 100));
    let victims = pick(&store);
    store.clear();
    store.insert("a".into(), bytes_value(2, 50));
    assert_eq!(store.shared.spill(victims).0, 0);
    assert_eq!(spill_files(dir.path())?, 0);
    assert!(in_memory(&store, "a"));
    validate(&store);
    Ok(())
}

#[tokio::test]
async fn read_back_after_remove_finds_nothing() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = store(dir.path(), 10)?;
    store.insert("a".into(), bytes_value(1, 100));
    store.spill_if_needed().await?;
    let path = spill::spill_path(dir.path(), 0);
    let copy = dir.path().join("copy");
    std::fs::copy(&path, &copy)?;
    assert!(store.remove("a"));
    std::fs::rename(&copy, &path)?;
    assert!(matches!(store.shared.read_back("a".into(), 0), ReadBack::Changed));
    assert!(store.get("a").await?.is_none());
    validate(&store);
    Ok(())
}

#[tokio::test]
async fn failed_spill_keeps_the_value_in_memory() -> TestResult {
    let dir = tempfile::tempdir()?;
    let spill_dir = dir.path().join("spill");
    let store = store(&spill_dir, 100)?;
    store.insert("a".into(), bytes_value(1, 100));
    store.insert("b".into(), bytes_value(2, 100));
    std::fs::remove_dir(&spill_dir)?;
    match store.spill_if_needed().await {
        Err(WorkerError::SpillWrite { path, source: SpillFileError::Io(_) }) => {
            assert_eq!(path, spill::spill_path(&spill_dir, 0));
        }
        other => panic!("expected a spill write error, got {other:?}"),
    }
    assert!(in_memory(&store, "a") && in_memory(&store, "b"));
    assert_eq!(store.metrics().managed_bytes, 200);
    validate(&store);
    // The failed value became most recently used, so the next spill tries `b` first.
    std::fs::create_dir(&spill_dir)?;
    assert_eq!(store.spill_if_needed().await?, 200);
    assert_eq!(spill_files(&spill_dir)?, 2);
    validate(&store);
    Ok(())
}

#[test]
fn store_and_its_futures_can_be_shared_across_tasks() -> TestResult {
    fn send_sync<T: Send + Sync>(_: &T) {}
    fn send<T: Send>(_: &T) {}
    let dir = tempfile::tempdir()?;
    let store = store(dir.path(), 1000)?;
    send_sync(&store);
    send(&store.get("a"));
    send(&store.spill_if_needed());
    Ok(())
}

#[test]
fn unusable_fractions_are_rejected() -> TestResult {
    let dir = tempfile::tempdir()?;
    for (spill_fraction, pause_fraction) in [(0.9, 0.8), (0.0, 0.8), (f64::NAN, 0.8)] {
        let config = StoreConfig { spill_fraction, pause_fraction, ..StoreConfig::new(1000, dir.path()) };
        assert!(matches!(ResultStore::new(config), Err(WorkerError::StoreFractions { .. })));
    }
    Ok(())
}
