//! Futures on an in-process cluster: map/gather, as_completed, cancel, scatter, datasets.

use bytes::Bytes;
use dusk::builtins::{add, byte_len, inc, slow_inc};
use dusk::testing::{ClusterSpec, LocalCluster};
use dusk::{ClientError, SubmitOptions};
use futures::StreamExt;

use crate::support::{eventually, tasks_in};

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error>>;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn map_gather_10000_tasks_returns_every_answer() -> Result {
    let cluster = LocalCluster::start(2, 2).await?;
    let client = cluster.client().await?;
    let futures = client.map(inc, 0..10_000i64)?;
    let results = client.gather(&futures).await?;
    assert_eq!(results.len(), 10_000);
    for (i, r) in results.iter().enumerate() {
        assert_eq!(*r, i as i64 + 1, "result {i}");
    }
    drop(futures);
    // Released futures let the cluster forget every task.
    eventually("tasks forgotten", || async { tasks_in(&client, "memory").await == 0 }).await;
    cluster.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn futures_as_arguments_chain_on_the_cluster() -> Result {
    let cluster = LocalCluster::start(2, 1).await?;
    let client = cluster.client().await?;
    let a = client.submit(inc, (1i64,))?;
    let b = client.submit(inc, (10i64,))?;
    let c = client.submit(add, (&a, &b))?;
    let d = client.submit(add, (&c, 100i64))?;
    assert_eq!(d.result().await?, 113);
    assert_eq!(a.result().await?, 2);
    cluster.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn as_completed_yields_in_finishing_order() -> Result {
    let cluster = LocalCluster::start(1, 3).await?;
    let client = cluster.client().await?;
    let slow = client.submit(slow_inc, (0i64, 1500u64))?;
    let fast = client.submit(slow_inc, (1i64, 1u64))?;
    let middle = client.submit(slow_inc, (2i64, 500u64))?;
    let order: Vec<String> = client
        .as_completed(vec![slow.clone(), fast.clone(), middle.clone()])
        .map(|f| f.key().to_string())
        .collect()
        .await;
    assert_eq!(order, vec![fast.key().to_string(), middle.key().to_string(), slow.key().to_string()]);
    cluster.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_stops_a_task_and_its_dependents() -> Result {
    // Two threads: a running task cannot be interrupted, so the cluster serves on the other.
    let cluster = LocalCluster::start(1, 2).await?;
    let client = cluster.client().await?;
    let long = client.submit(slow_inc, (0i64, 20_000u64))?;
    let after = client.submit(inc, (&long,))?;
    eventually("the long task to be assigned", || async { tasks_in(&client, "processing").await >= 1 }).await;
    client.cancel(std::slice::from_ref(&long));
    assert!(matches!(long.result().await, Err(ClientError::Cancelled { .. })));
    assert!(matches!(after.result().await, Err(ClientError::Cancelled { .. })));
    eventually("cancelled tasks released", || async {
        tasks_in(&client, "processing").await == 0 && tasks_in(&client, "waiting").await == 0
    })
    .await;
    // The cluster keeps serving.
    assert_eq!(client.submit(inc, (41i64,))?.result().await?, 42);
    cluster.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scatter_of_one_gib_gathers_back_byte_equal() -> Result {
    let mut spec = ClusterSpec::new(2, 1);
    spec.memory_limit_bytes = 4 << 30;
    let cluster = LocalCluster::start_with(spec).await?;
    let client = cluster.client().await?;
    let size = 1usize << 30;
    let data = Bytes::from((0..size).map(|i| (i % 251) as u8).collect::<Vec<u8>>());
    let future = client.scatter(&data).await?;
    let len = client.submit(byte_len, (&future,))?;
    assert_eq!(len.result().await?, size as u64);
    let back: Bytes = future.result().await?;
    assert!(back == data, "gathered bytes differ from scattered bytes");
    cluster.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn published_dataset_is_shared_between_clients() -> Result {
    let cluster = LocalCluster::start(1, 1).await?;
    let producer = cluster.client().await?;
    let consumer = cluster.client().await?;
    let xs = producer.map(inc, 0..5i64)?;
    producer.wait(&xs).await;
    producer.publish("numbers", &xs).await?;
    assert!(producer.publish("numbers", &xs).await.is_err(), "a second publish of a name fails");
    drop(xs);
    drop(producer);
    assert_eq!(consumer.list_datasets().await?, vec!["numbers".to_string()]);
    let shared = consumer.get_dataset::<i64>("numbers").await?;
    assert_eq!(consumer.gather(&shared).await?, vec![1, 2, 3, 4, 5]);
    consumer.unpublish("numbers").await?;
    assert!(consumer.get_dataset::<i64>("numbers").await.is_err());
    cluster.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resources_restrict_where_tasks_run() -> Result {
    let mut spec = ClusterSpec::new(1, 2);
    spec.resources = vec![("gpu".into(), 1.0)];
    let cluster = LocalCluster::start_with(spec).await?;
    let client = cluster.client().await?;
    let on_gpu = client.submit_with(inc, (1i64,), SubmitOptions::default().resource("gpu", 1.0))?;
    assert_eq!(on_gpu.result().await?, 2);
    let impossible = client.submit_with(inc, (2i64,), SubmitOptions::default().resource("tpu", 1.0))?;
    eventually("the tpu task to wait for a worker", || async { tasks_in(&client, "no-worker").await == 1 })
        .await;
    client.cancel(std::slice::from_ref(&impossible));
    assert!(matches!(impossible.result().await, Err(ClientError::Cancelled { .. })));
    cluster.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fire_and_forget_runs_without_a_holder() -> Result {
    let cluster = LocalCluster::start(1, 1).await?;
    let client = cluster.client().await?;
    let f = client.submit(crate::support::counted, (7007i64,))?;
    client.fire_and_forget(f);
    eventually("the forgotten task to run", || async { crate::support::calls("counted", 7007) == 1 }).await;
    eventually("its result to be released", || async { tasks_in(&client, "memory").await == 0 }).await;
    cluster.shutdown().await;
    Ok(())
}
