//! Process-mode clusters (`dusk local` with worker processes): SIGKILL, KilledWorker,
//! clean shutdown with no orphans.

use std::path::Path;

use dusk::builtins::{add, fault_exit_worker, inc, slow_inc};
use dusk::testing::ProcessCluster;
use dusk::{Client, ClientError, delayed};
use futures::StreamExt;

use crate::support::eventually;

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error>>;

fn dusk_binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_dusk"))
}

fn alive(pid: u32) -> bool {
    // A zombie still has a /proc entry; count it as gone.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| s.split_whitespace().nth(2).is_none_or(|state| state != "Z"))
        .unwrap_or(false)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_of_a_worker_mid_graph_still_gives_the_right_answer() -> Result {
    let cluster = ProcessCluster::start(dusk_binary(), 2, 1).await?;
    let client = Client::connect(cluster.url()).await?;
    let leaves: Vec<_> = (0..400i64).map(|i| delayed(slow_inc, (i, 5u64))).collect();
    let mut level = leaves;
    while level.len() > 1 {
        level = level
            .chunks(2)
            .map(|p| if p.len() == 2 { delayed(add, (&p[0], &p[1])) } else { p[0].clone() })
            .collect();
    }
    let total = client.persist(&level[0])?;
    let some: Vec<_> = (0..20i64)
        .map(|i| client.submit(slow_inc, (i + 10_000, 5u64)))
        .collect::<std::result::Result<_, _>>()?;
    let mut done = client.as_completed(some);
    for _ in 0..5 {
        done.next().await;
    }
    cluster.kill_worker(&client, 0).await?;
    let expected: i64 = (0..400i64).map(|i| i + 1).sum();
    assert_eq!(total.result().await?, expected);
    cluster.terminate().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn task_that_kills_every_worker_errs_with_killed_worker() -> Result {
    let cluster = ProcessCluster::start(dusk_binary(), 2, 1).await?;
    let client = Client::connect(cluster.url()).await?;
    let crash = client.submit(fault_exit_worker, (1i64,))?;
    match crash.result().await {
        Err(ClientError::KilledWorker { key, message }) => {
            assert_eq!(key, crash.key().to_string());
            assert!(message.contains("4 workers"), "{message}");
        }
        other => panic!("expected KilledWorker, got {other:?}"),
    }
    // The nanny restarts the workers and the cluster keeps serving.
    dusk::testing::wait_for_workers(&client, 1).await?;
    assert_eq!(client.submit(inc, (1i64,))?.result().await?, 2);
    cluster.terminate().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_local_cleanly_without_orphans() -> Result {
    let cluster = ProcessCluster::start(dusk_binary(), 2, 1).await?;
    let client = Client::connect(cluster.url()).await?;
    let pids: Vec<u32> = client.cluster_info().await?.workers.iter().map(|w| w.pid).collect();
    assert_eq!(pids.len(), 2);
    assert_eq!(cluster.terminate().await?, Some(0));
    eventually("worker processes to exit", || async { pids.iter().all(|p| !alive(*p)) }).await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_exit_when_local_is_killed() -> Result {
    let cluster = ProcessCluster::start(dusk_binary(), 2, 1).await?;
    let client = Client::connect(cluster.url()).await?;
    let pids: Vec<u32> = client.cluster_info().await?.workers.iter().map(|w| w.pid).collect();
    let local = cluster.pid().ok_or("no pid")?;
    // SAFETY: kill(2) on our own child.
    unsafe {
        libc::kill(local as libc::pid_t, libc::SIGKILL);
    }
    eventually("orphaned workers to exit", || async { pids.iter().all(|p| !alive(*p)) }).await;
    Ok(())
}
