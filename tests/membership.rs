//! Membership on real processes: a scheduler restarted under its workers, a worker that
//! goes silent and comes back, a worker retired mid-graph, work with no worker to run it.

use std::time::{Duration, Instant};

use dusk::builtins::inc;
use dusk::testing::{ClusterSpec, DuskProcess, LocalCluster, wait_for_workers};
use dusk::{Client, tpch};
use tokio::process::Command;

use crate::support::{calls, dusk_binary, eventually, register_tpch, slow_counted};

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// `dusk scheduler` on loopback `port` (0: any) with its catalog in `state_dir`.
fn scheduler_command(port: u16, state_dir: &std::path::Path, extra: &[&str]) -> Command {
    let mut command = Command::new(dusk_binary());
    command
        .args(["scheduler", "--host", "127.0.0.1", "--port", &port.to_string(), "--no-dashboard"])
        .arg("--state-dir")
        .arg(state_dir)
        .args(extra);
    command
}

/// `dusk worker` named `name` joining `url`.
fn worker_command(url: &str, name: &str) -> Command {
    let mut command = Command::new(dusk_binary());
    command.args(["worker", url, "--threads", "1", "--memory-limit", "1GiB", "--name", name]);
    command
}

fn port_of(url: &str) -> Result<u16> {
    Ok(url.rsplit(':').next().ok_or("no port in the url")?.parse()?)
}

/// Polls until the cluster shows `n` workers; returns how long that took. Calls may
/// fail meanwhile (the scheduler is coming back).
async fn until_workers(client: &Client, n: usize) -> Duration {
    let started = Instant::now();
    eventually(&format!("{n} workers"), || async {
        client.cluster_info().await.is_ok_and(|info| info.workers.len() == n)
    })
    .await;
    started.elapsed()
}

async fn rows(client: &Client, sql: &str) -> Result<Vec<String>> {
    Ok(tpch::result_rows(&client.sql(sql).await?.batches, true)?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduler_restart_keeps_the_catalog_and_the_workers_rejoin() -> Result {
    let state = tempfile::tempdir()?;
    let mut scheduler = DuskProcess::scheduler(scheduler_command(0, state.path(), &[])).await?;
    let url = scheduler.url().ok_or("no url")?.to_string();
    let port = port_of(&url)?;
    let _workers = [
        DuskProcess::worker(worker_command(&url, "rejoin-a"))?,
        DuskProcess::worker(worker_command(&url, "rejoin-b"))?,
    ];
    let client = Client::connect(&url).await?;
    wait_for_workers(&client, 2).await?;
    let _data = register_tpch(&client).await?;
    client.sql("CREATE TABLE kept(id INT, name VARCHAR) AS VALUES (1, 'ada'), (2, 'bo')").await?;
    let q1 = tpch::QUERIES[0].1;
    let before = rows(&client, q1).await?;

    // A statement running when the scheduler dies fails clearly; it does not hang.
    let running = {
        let client = client.clone();
        tokio::spawn(async move {
            client.sql("SELECT count(*) FROM lineitem a JOIN lineitem b ON a.l_quantity < b.l_quantity").await
        })
    };
    eventually("the long query to run", || async {
        client
            .cluster_info()
            .await
            .is_ok_and(|i| i.tasks_by_state.get("processing").copied().unwrap_or(0) > 0)
    })
    .await;
    scheduler.kill().await?;
    let failed = tokio::time::timeout(Duration::from_secs(60), running).await??;
    let error = failed.err().ok_or("the query outlived its scheduler")?.to_string();
    assert!(error.contains("lost the connection to the scheduler"), "{error}");

    let restarted = Instant::now();
    let _scheduler = DuskProcess::scheduler(scheduler_command(port, state.path(), &[])).await?;
    let listening = restarted.elapsed();
    let back = until_workers(&client, 2).await;
    println!(
        "scheduler restart: listening after {} ms, both workers back {} ms later",
        listening.as_millis(),
        back.as_millis()
    );
    // The catalog and the stored table are back, and answers are what they were.
    assert_eq!(rows(&client, "SELECT * FROM kept ORDER BY id").await?, vec!["1 | ada", "2 | bo"]);
    assert_eq!(rows(&client, q1).await?, before);
    // The same client's futures work again once its session has reopened.
    eventually("the client's session to reopen", || async {
        match client.submit(inc, (41i64,)) {
            Ok(f) => f.result().await.is_ok_and(|v| v == 42),
            Err(_) => false,
        }
    })
    .await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_worker_is_dropped_then_rejoins_and_takes_tasks() -> Result {
    let state = tempfile::tempdir()?;
    let command = scheduler_command(0, state.path(), &["--heartbeat-timeout", "2s"]);
    let _scheduler = DuskProcess::scheduler(command).await?;
    let url = _scheduler.url().ok_or("no url")?.to_string();
    let stopped = DuskProcess::worker(worker_command(&url, "silent-a"))?;
    let _other = DuskProcess::worker(worker_command(&url, "silent-b"))?;
    let client = Client::connect(&url).await?;
    wait_for_workers(&client, 2).await?;
    let xs = client.map(inc, 0..200i64)?;
    let before: Vec<i64> = client.gather(&xs).await?;

    stopped.signal(libc::SIGSTOP);
    until_workers(&client, 1).await;
    // Its results were recomputed on the other worker: the futures still resolve.
    assert_eq!(client.gather(&xs).await?, before);
    let resumed = Instant::now();
    stopped.signal(libc::SIGCONT);
    let back = until_workers(&client, 2).await;
    // It takes tasks again.
    let mut batch = 1000i64;
    eventually("the rejoined worker to run tasks", || {
        batch += 100;
        let from = batch;
        let client = client.clone();
        async move {
            let ys = client.map(inc, from..from + 100).expect("submit");
            let _: Vec<i64> = client.gather(&ys).await.expect("gather");
            let runs = client.task_history("inc-").await.expect("history");
            runs.iter().rev().take(100).any(|r| r.worker == "silent-a")
        }
    })
    .await;
    let taking = resumed.elapsed();
    println!(
        "worker back {} ms after SIGCONT, running tasks after {} ms",
        back.as_millis(),
        taking.as_millis()
    );
    assert_eq!(client.gather(&xs).await?, before);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_retired_mid_graph_hands_over_without_recomputing() -> Result {
    let mut cluster = LocalCluster::start(3, 1).await?;
    let client = cluster.client().await?;
    let xs = (7000..7060i64)
        .map(|x| client.submit(slow_counted, (x, 20u64)))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    eventually("a third of the graph to finish", || async {
        crate::support::tasks_in(&client, "memory").await >= 20
    })
    .await;
    let exit = cluster.retire_worker(0).await.ok_or("no worker 0")?;
    assert_eq!(exit, dusk::worker::WorkerExit::Retired);
    let info = client.cluster_info().await?;
    assert_eq!(info.workers.len(), 2);
    let got: Vec<i64> = client.gather(&xs).await?;
    assert_eq!(got, (7000..7060).collect::<Vec<_>>());
    for x in 7000..7060 {
        assert_eq!(calls("slow_counted", x), 1, "task {x} ran more than once");
    }
    // Retiring through the client's call works the same way.
    let name = info.workers.first().ok_or("no worker")?.name.clone();
    client.retire_worker(&name).await?;
    assert_eq!(client.cluster_info().await?.workers.len(), 1);
    assert_eq!(client.gather(&xs).await?, got);
    cluster.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn work_with_no_worker_fails_after_the_timeout_and_health_says_why() -> Result {
    let mut spec = ClusterSpec::new(1, 1);
    spec.scheduler.no_workers_timeout = Duration::from_secs(2);
    spec.scheduler.dashboard = Some("127.0.0.1:0".into());
    let mut cluster = LocalCluster::start_with(spec).await?;
    let client = cluster.client().await?;
    let _data = register_tpch(&client).await?;
    cluster.stop_worker(0).await;
    until_workers(&client, 0).await;
    let health = format!("{}/health", cluster.dashboard_url().ok_or("no dashboard")?);
    let future = client.submit(inc, (1i64,))?;
    let query = {
        let client = client.clone();
        tokio::spawn(async move { client.sql("SELECT sum(l_quantity) FROM lineitem").await })
    };
    eventually("health to show the waiting work", || async {
        let body = reqwest::get(&health).await.expect("health").text().await.expect("body");
        let health: serde_json::Value = serde_json::from_str(&body).expect("json");
        health["status"] == "no-workers" && health["unrunnable_tasks"].as_u64().unwrap_or(0) >= 1
    })
    .await;
    let error = tokio::time::timeout(Duration::from_secs(30), future.result()).await?.err().ok_or("ran?")?;
    assert!(error.to_string().contains("no-workers-timeout"), "{error}");
    let sql = tokio::time::timeout(Duration::from_secs(30), query).await??.err().ok_or("answered?")?;
    assert!(sql.to_string().contains("no-workers-timeout"), "{sql}");
    // A worker joining brings the cluster back.
    cluster.add_worker().await?;
    assert_eq!(rows(&client, "SELECT count(*) FROM nation").await?, vec!["25"]);
    cluster.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_prompt_reconnects_after_a_scheduler_restart() -> Result {
    let state = tempfile::tempdir()?;
    let mut scheduler = DuskProcess::scheduler(scheduler_command(0, state.path(), &[])).await?;
    let url = scheduler.url().ok_or("no url")?.to_string();
    let port = port_of(&url)?;
    let _worker = DuskProcess::worker(worker_command(&url, "prompt-a"))?;
    let client = Client::connect(&url).await?;
    wait_for_workers(&client, 1).await?;
    client.sql("CREATE TABLE kept(id INT) AS VALUES (7), (8)").await?;
    let home = tempfile::tempdir()?;
    let history = home.path().join("history");
    let mut session = {
        let (url, history) = (url.clone(), history.clone());
        tokio::task::spawn_blocking(move || -> Result<rexpect::session::PtySession> {
            let mut s = crate::repl::prompt(&url, &history)?;
            crate::repl::enter(&mut s, "SELECT sum(id) FROM kept;")?;
            s.exp_string("15")?;
            Ok(s)
        })
        .await??
    };
    scheduler.kill().await?;
    session = tokio::task::spawn_blocking(move || -> Result<rexpect::session::PtySession> {
        crate::repl::enter(&mut session, "SELECT sum(id) FROM kept;")?;
        session.exp_string("Lost the connection to")?;
        Ok(session)
    })
    .await??;
    let _scheduler = DuskProcess::scheduler(scheduler_command(port, state.path(), &[])).await?;
    tokio::task::spawn_blocking(move || -> Result {
        session.exp_string("Reconnected to")?;
        crate::repl::enter(&mut session, "SELECT sum(id) FROM kept;")?;
        session.exp_string("15")?;
        crate::repl::enter(&mut session, "\\q")?;
        Ok(())
    })
    .await??;
    Ok(())
}

/// Every worker misses its heartbeat mid-query (all stopped past the deadline), then comes
/// back: the query ends with its answer, never waiting forever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_17_a_query_whose_workers_all_went_silent_still_ends() -> Result {
    let state = tempfile::tempdir()?;
    let command = scheduler_command(0, state.path(), &["--heartbeat-timeout", "2s"]);
    let scheduler = DuskProcess::scheduler(command).await?;
    let url = scheduler.url().ok_or("no url")?.to_string();
    let workers = [
        DuskProcess::worker(worker_command(&url, "quiet-a"))?,
        DuskProcess::worker(worker_command(&url, "quiet-b"))?,
    ];
    let client = Client::connect(&url).await?;
    wait_for_workers(&client, 2).await?;
    let _data = register_tpch(&client).await?;
    let sql = "SELECT a.l_returnflag, count(*) AS n FROM \
               (SELECT l_returnflag, l_quantity FROM lineitem WHERE l_orderkey < 6000) a \
               JOIN (SELECT l_quantity FROM lineitem WHERE l_orderkey < 6000) b \
               ON a.l_quantity < b.l_quantity GROUP BY a.l_returnflag ORDER BY a.l_returnflag";
    let expected = rows(&client, sql).await?;
    let running = {
        let client = client.clone();
        tokio::spawn(async move { client.sql(sql).await })
    };
    eventually("the query to run", || async {
        client
            .cluster_info()
            .await
            .is_ok_and(|i| i.tasks_by_state.get("processing").copied().unwrap_or(0) > 0)
    })
    .await;
    for w in &workers {
        w.signal(libc::SIGSTOP);
    }
    until_workers(&client, 0).await;
    for w in &workers {
        w.signal(libc::SIGCONT);
    }
    let out = match tokio::time::timeout(Duration::from_secs(120), running).await {
        Ok(out) => out??,
        Err(_) => {
            let info = client.cluster_info().await?;
            panic!("the query hangs: {:?} {:#?}", info.tasks_by_state, info.workers);
        }
    };
    assert_eq!(tpch::result_rows(&out.batches, true)?, expected);
    Ok(())
}

/// SIGTERM to a `dusk worker` mid-graph: it drains and exits 0, and the task history
/// shows every task ran once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_a_worker_process_without_recomputing() -> Result {
    let state = tempfile::tempdir()?;
    let scheduler = DuskProcess::scheduler(scheduler_command(0, state.path(), &[])).await?;
    let url = scheduler.url().ok_or("no url")?.to_string();
    let mut leaving = DuskProcess::worker(worker_command(&url, "drain-a"))?;
    let _staying = DuskProcess::worker(worker_command(&url, "drain-b"))?;
    let client = Client::connect(&url).await?;
    wait_for_workers(&client, 2).await?;
    let xs = (0..60i64)
        .map(|x| client.submit(dusk::builtins::slow_inc, (x, 30u64)))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    eventually("a third of the graph to finish", || async {
        crate::support::tasks_in(&client, "memory").await >= 20
    })
    .await;
    leaving.signal(libc::SIGTERM);
    let status = leaving.wait(Duration::from_secs(60)).await?;
    assert_eq!(status.code(), Some(0), "a drained worker exits 0");
    let got: Vec<i64> = client.gather(&xs).await?;
    assert_eq!(got, (1..61).collect::<Vec<_>>());
    let runs = client.task_history("slow_inc-").await?;
    let mut keys: Vec<&str> = runs.iter().map(|r| r.key.as_str()).collect();
    let ran = keys.len();
    keys.sort_unstable();
    keys.dedup();
    assert_eq!((ran, keys.len()), (60, 60), "every task ran exactly once");
    assert!(runs.iter().any(|r| r.worker == "drain-a"), "the retired worker had run some");
    Ok(())
}

/// An ADBC connection (the Go Flight SQL driver) keeps working across a scheduler restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_adbc_connection_works_again_after_a_scheduler_restart() -> Result {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let python = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python");
    assert!(python.exists(), "{} is missing: run scripts/test.sh once", python.display());
    let state = tempfile::tempdir()?;
    let mut scheduler = DuskProcess::scheduler(scheduler_command(0, state.path(), &[])).await?;
    let url = scheduler.url().ok_or("no url")?.to_string();
    let port = port_of(&url)?;
    let _worker = DuskProcess::worker(worker_command(&url, "adbc-a"))?;
    let client = Client::connect(&url).await?;
    wait_for_workers(&client, 1).await?;
    client.sql("CREATE TABLE kept(id INT) AS VALUES (7), (8)").await?;
    let script = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/python/adbc_reconnect.py");
    let mut child = Command::new(&python)
        .arg(script)
        .env("DUSK_URL", &url)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let mut lines = BufReader::new(child.stdout.take().ok_or("no stdout")?).lines();
    let mut said = Vec::new();
    while let Some(line) = tokio::time::timeout(Duration::from_secs(60), lines.next_line()).await?? {
        let ready = line == "READY";
        said.push(line);
        if ready {
            break;
        }
    }
    assert!(said.iter().any(|l| l == "BEFORE 15"), "{said:?}");
    scheduler.kill().await?;
    let _scheduler = DuskProcess::scheduler(scheduler_command(port, state.path(), &[])).await?;
    until_workers(&client, 1).await;
    child.stdin.take().ok_or("no stdin")?.write_all(b"go\n").await?;
    while let Some(line) = tokio::time::timeout(Duration::from_secs(60), lines.next_line()).await?? {
        said.push(line);
    }
    let status = child.wait().await?;
    println!("adbc across a scheduler restart: {said:?}");
    assert!(status.success(), "{said:?}");
    assert!(said.iter().any(|l| l.starts_with("AFTER 15")), "{said:?}");
    Ok(())
}
