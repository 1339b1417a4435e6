//! Failures on an in-process cluster: retries, panics, unknown functions, lost workers.

use dusk::builtins::{fault_panic, inc, slow_inc};
use dusk::functions::TaskFunction;
use dusk::testing::LocalCluster;
use dusk::{ClientError, SubmitOptions};

use crate::support::{calls, eventually, flaky};

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error>>;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_let_a_task_that_fails_twice_succeed() -> Result {
    let cluster = LocalCluster::start(2, 1).await?;
    let client = cluster.client().await?;
    let f = client.submit_with(flaky, (31i64, 2u64), SubmitOptions::default().retries(2))?;
    assert_eq!(f.result().await?, 31);
    assert_eq!(calls("flaky", 31), 3);
    // With one retry fewer the same failures reach the client.
    let g = client.submit_with(flaky, (32i64, 2u64), SubmitOptions::default().retries(1))?;
    match g.result().await {
        Err(ClientError::TaskFailed { message, .. }) => {
            assert!(message.contains("flaky failure number 2"), "{message}")
        }
        other => panic!("expected the second failure, got {other:?}"),
    }
    cluster.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn panic_reaches_the_client_and_the_next_graph_runs() -> Result {
    let cluster = LocalCluster::start(1, 1).await?;
    let client = cluster.client().await?;
    let bad = client.submit(fault_panic, ("boom at row 7".to_string(),))?;
    let after = client.submit(inc, (&bad,))?;
    match bad.result().await {
        Err(ClientError::TaskFailed { key, function, worker, message }) => {
            assert_eq!(key, bad.key().to_string());
            assert_eq!(function, "fault_panic");
            assert!(worker.starts_with("grpc://127.0.0.1:"), "{worker}");
            assert!(message.contains("boom at row 7"), "{message}");
        }
        other => panic!("expected a task failure, got {other:?}"),
    }
    match after.result().await {
        Err(e @ ClientError::DependencyFailed { .. }) => {
            assert!(e.to_string().contains("boom at row 7"), "{e}")
        }
        other => panic!("expected a dependency failure, got {other:?}"),
    }
    let next = client.map(inc, 0..100i64)?;
    assert_eq!(client.gather(&next).await?.iter().sum::<i64>(), (1..=100).sum::<i64>());
    cluster.shutdown().await;
    Ok(())
}

/// A function this binary knows the type of but never registered.
#[derive(Debug, Clone, Copy)]
#[allow(non_camel_case_types)]
struct not_registered;

impl TaskFunction for not_registered {
    type Args = (i64,);
    type Output = i64;
    const NAME: &'static str = "not_registered_anywhere";
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_function_is_a_clear_error() -> Result {
    let cluster = LocalCluster::start(1, 1).await?;
    let client = cluster.client().await?;
    let f = client.submit(not_registered, (1i64,))?;
    let err = f.result().await.expect_err("no worker has this function");
    assert!(matches!(err, ClientError::UnknownFunction { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("not_registered_anywhere") && text.contains("worker"), "{text}");
    cluster.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graph_completes_when_a_worker_leaves_mid_run() -> Result {
    let mut cluster = LocalCluster::start(3, 1).await?;
    let client = cluster.client().await?;
    let firsts: Vec<_> =
        (0..60i64).map(|i| client.submit(slow_inc, (i, 20u64))).collect::<std::result::Result<_, _>>()?;
    let slow: Vec<_> =
        firsts.iter().map(|f| client.submit(slow_inc, (f, 20u64))).collect::<std::result::Result<_, _>>()?;
    // Stop worker 0 once it holds results and has work in hand, so that its loss must
    // be recovered from: results recomputed, running tasks started elsewhere.
    let addr = cluster.worker_data_addr(0).ok_or("worker 0 runs")?.to_string();
    eventually("worker 0 to hold results and have work", || async {
        let info = client.cluster_info().await.expect("cluster info");
        info.workers.iter().any(|w| w.data_addr == addr && w.holding > 0 && w.processing > 0)
    })
    .await;
    cluster.stop_worker(0).await;
    eventually("the scheduler to see worker 0 gone", || async {
        let info = client.cluster_info().await.expect("cluster info");
        info.workers.iter().all(|w| w.data_addr != addr)
    })
    .await;
    let results = client.gather(&slow).await?;
    assert_eq!(results, (0..60i64).map(|i| i + 2).collect::<Vec<_>>());
    cluster.shutdown().await;
    Ok(())
}
