//! Process-mode clusters (`dusk local` with worker processes): SIGKILL, KilledWorker,
//! clean shutdown with no orphans.

use dusk::builtins::{add, fault_exit_worker, inc, slow_inc};
use dusk::testing::ProcessCluster;
use dusk::{Client, ClientError, delayed};
use futures::StreamExt;

use crate::support::{dusk_binary, eventually};

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error>>;

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_of_a_worker_mid_query_still_gives_the_right_answer() -> Result {
    let data = tempfile::tempdir()?;
    let dir = data.path().to_path_buf();
    tokio::task::spawn_blocking(move || dusk::tpch::generate(0.01, &dir, 2)).await??;
    let cluster = ProcessCluster::start(dusk_binary(), 3, 1).await?;
    let client = Client::connect(cluster.url()).await?;
    let reference = datafusion::prelude::SessionContext::new();
    for statement in dusk::tpch::create_tables(data.path()) {
        client.sql(&statement).await?;
        reference.sql(&statement).await?.collect().await?;
    }
    // Several stages, one of them a nested-loop join long enough to kill a worker in.
    let sql = "SELECT a.l_returnflag, count(*) AS n FROM \
               (SELECT l_returnflag, l_quantity FROM lineitem WHERE l_orderkey < 12000) a \
               JOIN (SELECT l_quantity FROM lineitem WHERE l_orderkey < 12000) b \
               ON a.l_quantity < b.l_quantity GROUP BY a.l_returnflag ORDER BY a.l_returnflag";
    let expected = dusk::tpch::result_rows(&reference.sql(sql).await?.collect().await?, true)?;
    let running = {
        let client = client.clone();
        tokio::spawn(async move { client.sql(sql).await })
    };
    eventually("the query's tasks to run", || async {
        let info = client.cluster_info().await.expect("info");
        info.workers.iter().filter_map(|w| w.metrics.as_ref()).any(|m| m.executing > 0)
    })
    .await;
    let info = client.cluster_info().await?;
    let busy =
        info.workers.iter().position(|w| w.metrics.as_ref().is_some_and(|m| m.executing > 0)).unwrap_or(0);
    assert!(!running.is_finished(), "the query must still be running when the worker dies");
    let killed = cluster.kill_worker(&client, busy).await?;
    eventually("the killed worker to be gone", || async { !alive(killed) }).await;
    let out = match tokio::time::timeout(std::time::Duration::from_secs(120), running).await {
        Ok(out) => out??,
        Err(_) => {
            let info = client.cluster_info().await?;
            panic!("the query hangs after the kill: {:?}\n{:#?}", info.tasks_by_state, info.workers);
        }
    };
    assert_eq!(dusk::tpch::result_rows(&out.batches, true)?, expected);
    drop(client);
    cluster.terminate().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_nanny_restarts_a_worker_past_95_percent_of_its_memory_limit() -> Result {
    let cluster = ProcessCluster::start_with_args(dusk_binary(), 1, 1, &["--memory-limit", "400MiB"]).await?;
    let client = Client::connect(cluster.url()).await?;
    let first = client.cluster_info().await?.workers.first().map(|w| w.pid).ok_or("no worker")?;
    // 600 MB in one task: the worker passes 380 MiB of resident memory while it fills them.
    let big = client.submit(dusk::builtins::make_bytes, (600_000_000u64, 1u8))?;
    let size = client.submit(dusk::builtins::byte_len, (&big,))?;
    eventually("the nanny to restart the worker", || async {
        client.cluster_info().await.is_ok_and(|i| i.workers.iter().any(|w| w.pid != first))
    })
    .await;
    // Its work was recomputed on the fresh worker until it ran out of retries (each run
    // passes the limit again), or ran once the nanny stopped restarting it.
    match tokio::time::timeout(std::time::Duration::from_secs(120), size.result()).await? {
        Ok(n) => assert_eq!(n, 600_000_000),
        Err(e) => assert!(e.to_string().contains("killed too many workers"), "{e}"),
    }
    drop((big, size));
    assert_eq!(client.submit(dusk::builtins::inc, (1i64,))?.result().await?, 2);
    drop(client);
    cluster.terminate().await?;
    Ok(())
}
