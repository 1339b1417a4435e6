//! The dashboard on a real cluster: its JSON API and Prometheus metrics read over HTTP,
//! and its status page driven in headless Chromium (Debian's `chromium` and
//! `chromedriver`, which `scripts/test.sh` installs) through WebDriver.

use std::collections::HashMap;
use std::process::Stdio;
use std::time::Duration;

use dusk::SubmitOptions;
use dusk::builtins::{inc, slow_inc};
use dusk::testing::{ClusterSpec, LocalCluster};
use serde_json::{Value, json};

use crate::support::{eventually, register_tpch};
use crate::webdriver::Browser;

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// A cluster with a dashboard; `validate` checks the scheduler's invariants after every
/// event, which costs time in the number of tasks per event.
async fn cluster(workers: usize, threads: usize, validate: bool) -> Result<(LocalCluster, String)> {
    let mut spec = ClusterSpec::new(workers, threads);
    spec.scheduler.dashboard = Some("127.0.0.1:0".to_string());
    spec.scheduler.validate = validate;
    let cluster = LocalCluster::start_with(spec).await?;
    let url = cluster.dashboard_url().ok_or("the cluster serves no dashboard")?;
    Ok((cluster, url))
}

async fn get(url: &str) -> Result<(u16, String)> {
    let response = reqwest::get(url).await?;
    let status = response.status().as_u16();
    Ok((status, response.text().await?))
}

async fn get_json(url: &str) -> Result<Value> {
    let (status, body) = get(url).await?;
    assert_eq!(status, 200, "{url}: {body}");
    Ok(serde_json::from_str(&body)?)
}

/// Samples of a metrics page by name and sorted labels.
type Samples = HashMap<(String, Vec<(String, String)>), f64>;

/// Samples of the metrics page by family name and labels.
fn parse_metrics(text: &str) -> Result<Samples> {
    let lines = text.lines().map(|l| Ok(l.to_string()));
    let scrape = prometheus_parse::Scrape::parse(lines)?;
    let mut samples = HashMap::new();
    for sample in scrape.samples {
        let value = match sample.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v,
            prometheus_parse::Value::Histogram(buckets) => {
                for b in buckets {
                    let mut labels: Vec<(String, String)> =
                        sample.labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
                    labels.push(("le".to_string(), b.less_than.to_string()));
                    labels.sort();
                    samples.insert((format!("{}_bucket", sample.metric), labels), b.count);
                }
                continue;
            }
            _ => continue,
        };
        let mut labels: Vec<(String, String)> =
            sample.labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        labels.sort();
        samples.insert((sample.metric.clone(), labels), value);
    }
    Ok(samples)
}

fn metric(samples: &Samples, name: &str, labels: &[(&str, &str)]) -> f64 {
    let mut labels: Vec<(String, String)> =
        labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    labels.sort();
    *samples.get(&(name.to_string(), labels.clone())).unwrap_or_else(|| panic!("no sample {name} {labels:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_parse_and_match_the_scheduler_and_the_api_answers() -> Result {
    let (cluster, url) = cluster(2, 2, true).await?;
    let client = cluster.client().await?;
    let (status, health) = get(&format!("{url}/health")).await?;
    assert_eq!(status, 200, "{health}");
    assert_eq!(serde_json::from_str::<Value>(&health)?["workers"], 2);

    // Results held in memory, then one SQL query and one failing statement.
    let futures = client.map(inc, 0..500i64)?;
    client.gather(&futures).await?;
    let _tpch = register_tpch(&client).await?;
    let rows = client.sql("SELECT l_returnflag, count(*) FROM lineitem GROUP BY l_returnflag").await?;
    assert_eq!(rows.num_rows(), 3);
    assert!(client.sql("SELECT * FROM no_such_table").await.is_err());

    let (status, text) = get(&format!("{url}/metrics")).await?;
    assert_eq!(status, 200);
    let samples = parse_metrics(&text)?;
    let info = client.cluster_info().await?;
    for (state, n) in &info.tasks_by_state {
        assert_eq!(metric(&samples, "dusk_tasks", &[("state", state)]), *n as f64, "tasks in {state}");
    }
    assert!(metric(&samples, "dusk_tasks", &[("state", "memory")]) >= 500.0);
    assert_eq!(metric(&samples, "dusk_workers", &[]), 2.0);
    assert_eq!(metric(&samples, "dusk_worker_threads", &[]), 4.0);
    assert!(metric(&samples, "dusk_transitions_total", &[]) >= info.transitions as f64 - 0.5);
    assert!(metric(&samples, "dusk_tasks_finished_total", &[]) >= 500.0);
    for w in &info.workers {
        assert!(metric(&samples, "dusk_worker_memory_limit_bytes", &[("worker", &w.name)]) > 0.0);
        metric(&samples, "dusk_worker_memory_bytes", &[("worker", &w.name), ("kind", "managed")]);
    }
    // The CREATE EXTERNAL TABLEs, the GROUP BY and the failed SELECT.
    let finished = metric(&samples, "dusk_queries_total", &[("outcome", "finished")]);
    let failed = metric(&samples, "dusk_queries_total", &[("outcome", "failed")]);
    assert!(finished >= 2.0, "finished queries: {finished}");
    assert_eq!(failed, 1.0);
    let count = metric(&samples, "dusk_query_duration_seconds_count", &[]);
    assert_eq!(
        count,
        finished + failed + metric(&samples, "dusk_queries_total", &[("outcome", "cancelled")])
    );
    assert_eq!(metric(&samples, "dusk_query_duration_seconds_bucket", &[("le", "inf")]), count);

    // The JSON behind the pages.
    let workers = get_json(&format!("{url}/api/workers")).await?;
    assert_eq!(workers.as_array().map(Vec::len), Some(2));
    let name = workers[0]["name"].as_str().ok_or("worker name")?.to_string();
    // Worker names are their addresses: `grpc://host:port`, one path segment once encoded.
    let encoded = name.replace(':', "%3A").replace('/', "%2F");
    let detail = get_json(&format!("{url}/api/workers/{encoded}")).await?;
    assert_eq!(detail["worker"]["name"], name.as_str());
    assert!(detail["recent"].as_array().is_some_and(|r| !r.is_empty()), "the worker ran tasks");
    assert_eq!(get(&format!("{url}/api/workers/nobody")).await?.0, 404);
    let tasks = get_json(&format!("{url}/api/tasks?limit=10&prefix=inc")).await?;
    assert_eq!(tasks.as_array().map(Vec::len), Some(10));
    let groups = get_json(&format!("{url}/api/groups")).await?;
    let inc_group =
        groups.as_array().and_then(|g| g.iter().find(|g| g["name"] == "inc")).ok_or("no inc group")?;
    assert_eq!((inc_group["memory"].as_u64(), inc_group["total"].as_u64()), (Some(500), Some(500)));
    let queries = get_json(&format!("{url}/api/queries")).await?;
    let group_by = queries
        .as_array()
        .and_then(|q| q.iter().find(|q| q["text"].as_str().is_some_and(|t| t.contains("GROUP BY"))))
        .ok_or("the GROUP BY query is not listed")?;
    assert_eq!(group_by["state"], "finished");
    assert!(group_by["stages"].as_array().is_some_and(|s| s.len() >= 2), "{group_by}");
    let failed = queries
        .as_array()
        .and_then(|q| q.iter().find(|q| q["state"] == "failed"))
        .ok_or("the failed query is not listed")?;
    assert!(failed["error"].as_str().is_some_and(|e| e.contains("no_such_table")), "{failed}");
    let graph = get_json(&format!("{url}/api/graph")).await?;
    assert_eq!(graph["detailed"], true);
    assert_eq!(graph["tasks"].as_u64(), Some(info.tasks_by_state.values().sum::<u64>()));
    let status = get_json(&format!("{url}/api/status")).await?;
    assert_eq!(status["workers"].as_array().map(Vec::len), Some(2));
    for page in ["status", "workers", "tasks", "queries", "graph", &format!("workers/{encoded}")] {
        let (code, html) = get(&format!("{url}/{page}")).await?;
        assert_eq!(code, 200, "/{page}");
        assert!(html.contains("/static/app.js"), "/{page} loads the script");
    }
    assert_eq!(get(&format!("{url}/no-such-page")).await?.0, 404);
    drop(futures);
    cluster.shutdown().await;
    Ok(())
}

/// `chromedriver` on a free port, killed on drop.
struct Driver {
    child: tokio::process::Child,
    url: String,
}

impl Driver {
    async fn start() -> Result<Self> {
        let binary = std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "/usr/bin/chromedriver".to_string());
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        // Its own process group, so the browsers it starts end with it (see Drop).
        let child = tokio::process::Command::new(&binary)
            .arg(format!("--port={port}"))
            .process_group(0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("cannot start {binary} (install Debian's chromium-driver): {e}"))?;
        let url = format!("http://127.0.0.1:{port}");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
            if tokio::time::Instant::now() > deadline {
                return Err("chromedriver did not start listening".into());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(Driver { child, url })
    }

    /// A headless Chromium session that keeps the page's console log.
    async fn browser(&self) -> Result<Browser> {
        let binary = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_string());
        let profile = tempfile::tempdir()?;
        let caps = json!({
            "browserName": "chrome",
            "goog:loggingPrefs": { "browser": "ALL" },
            "goog:chromeOptions": {
                "binary": binary,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-quic", "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--window-size=1400,1000",
                    format!("--user-data-dir={}", profile.keep().display())],
            },
        });
        Browser::open(&self.url, caps).await
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // A failed test never closes its session: end chromedriver and its browsers.
        if let Some(pid) = self.child.id() {
            // SAFETY: kill has no memory effects; the group is the one spawned above.
            unsafe { libc::kill(-(pid as i32), libc::SIGKILL) };
        }
        let _ = self.child.start_kill();
    }
}

/// Console errors the page logged so far.
async fn console_errors(browser: &Browser) -> Result<Vec<String>> {
    let log = browser.console_log().await?;
    let mut errors: Vec<String> = log
        .as_array()
        .into_iter()
        .flatten()
        .filter(|entry| entry["level"] == "SEVERE")
        .map(|entry| entry["message"].to_string())
        .collect();
    let page = browser.execute("return window.duskView.errors", vec![]).await?;
    errors.extend(page.as_array().into_iter().flatten().map(|e| e.to_string()));
    Ok(errors)
}

/// What the status page drew last (`window.duskView`).
async fn drawn(browser: &Browser) -> Value {
    browser.execute("return window.duskView", vec![]).await.unwrap_or(Value::Null)
}

/// Polls the page until `check` holds for what it drew, or 30 s pass.
async fn until_drawn(browser: &Browser, what: &str, check: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let view = drawn(browser).await;
        if check(&view) {
            return view;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for the page to show {what}; it shows {view}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Attributes of the progress bar of task group `group`.
async fn progress_bar(browser: &Browser, group: &str) -> Result<Value> {
    let script = "const row = document.querySelector(`.bar-row[data-group=\"${arguments[0]}\"]`);
        return row && { total: +row.dataset.total, done: +row.dataset.done, processing: +row.dataset.processing,
                        segments: row.querySelectorAll('.bar span').length };";
    browser.execute(script, vec![json!(group)]).await
}

fn names(view: &Value, field: &str) -> Vec<String> {
    let mut names: Vec<String> =
        view[field].as_array().into_iter().flatten().filter_map(|v| v.as_str().map(String::from)).collect();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_page_in_chromium_follows_a_running_graph_a_dead_worker_and_100000_tasks() -> Result {
    // Unvalidated: with 100,000 tasks a check after every event would be what is measured.
    let (mut cluster, url) = cluster(2, 2, false).await?;
    let client = cluster.client().await?;
    let driver = Driver::start().await?;
    let browser = driver.browser().await?;
    browser.goto(&format!("{url}/status")).await?;
    let view =
        until_drawn(&browser, "both workers", |v| v["frames"].as_u64() > Some(0) && v["mapWorkers"] == 2)
            .await;
    let mut expected: Vec<String> =
        client.cluster_info().await?.workers.iter().map(|w| w.name.clone()).collect();
    expected.sort();
    assert_eq!(names(&view, "workers"), expected, "the cluster map shows every worker");

    // 4000 tasks of 5 ms on 4 threads: about 5 s of work to watch.
    let futures = (0..4000i64)
        .map(|i| client.submit(slow_inc, (i, 5u64)))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let view = until_drawn(&browser, "task bars", |v| v["streamBars"].as_u64() >= Some(100)).await;
    assert_eq!(view["streamRows"], 4, "one task stream row per worker thread");
    // Submissions arrive one by one: wait until the bar counts them all.
    eventually("every task in the progress bar", || async {
        progress_bar(&browser, "slow_inc").await.is_ok_and(|b| b["total"] == 4000)
    })
    .await;
    let bar = progress_bar(&browser, "slow_inc").await?;
    assert!(bar["done"].as_u64().is_some_and(|d| d > 0 && d < 4000), "mid-run progress: {bar}");
    assert!(bar["segments"].as_u64() >= Some(2), "done and waiting segments: {bar}");
    let screenshot = browser.screenshot().await?;
    assert!(screenshot.starts_with(b"\x89PNG"), "a PNG screenshot");
    let artifact = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("dashboard-status.png");
    std::fs::write(&artifact, &screenshot)?;
    println!("screenshot of /status mid-run: {}", artifact.display());
    let view = drawn(&browser).await;
    assert!(view["assignments"].as_u64() > Some(0), "the map drew assignments: {view}");

    let results = client.gather(&futures).await?;
    assert_eq!(results.len(), 4000);
    eventually("the progress bar full", || async {
        progress_bar(&browser, "slow_inc").await.is_ok_and(|b| b["done"] == 4000 && b["total"] == 4000)
    })
    .await;

    // A worker dies and another joins: the map follows.
    cluster.stop_worker(0).await;
    until_drawn(&browser, "one worker left", |v| v["mapWorkers"] == 1).await;
    cluster.add_worker().await?;
    cluster.wait_for_workers(2).await?;
    let view = until_drawn(&browser, "the new worker", |v| v["mapWorkers"] == 2).await;
    let mut expected: Vec<String> =
        client.cluster_info().await?.workers.iter().map(|w| w.name.clone()).collect();
    expected.sort();
    assert_eq!(names(&view, "workers"), expected);

    // 100,000 tasks waiting on one slow task: frames keep coming and show them all.
    let root = client.submit(slow_inc, (0i64, 60_000u64))?;
    let options = SubmitOptions { key: Some("inc".to_string()), ..Default::default() };
    let many = client.map_with(inc, std::iter::repeat_n(&root, 100_000), options)?;
    let before = drawn(&browser).await["frames"].as_u64().unwrap_or(0);
    let view = until_drawn(&browser, "100,000 waiting tasks", |v| {
        v["frames"].as_u64().unwrap_or(0) >= before + 4
            && v["groups"].as_array().is_some_and(|g| g.iter().any(|g| g == "inc"))
    })
    .await;
    let bar = progress_bar(&browser, "inc").await?;
    assert_eq!(bar["total"], 100_000, "{bar} in {view}");
    let started = std::time::Instant::now();
    let status = get_json(&format!("{url}/api/status")).await?;
    println!("/api/status with 100,000 tasks: {:?}, {} bytes", started.elapsed(), status.to_string().len());
    assert!(status["tasks"]["waiting"].as_u64() >= Some(100_000));
    client.cancel(&many);
    client.cancel(std::slice::from_ref(&root));
    drop(many);

    let errors = console_errors(&browser).await?;
    assert!(errors.is_empty(), "the page logged errors: {errors:?}");
    for page in ["workers", "tasks", "queries", "graph"] {
        browser.goto(&format!("{url}/{page}")).await?;
        until_drawn(&browser, &format!("/{page} loaded"), |v| v["lastUpdate"].as_u64() > Some(0)).await;
        let errors = console_errors(&browser).await?;
        assert!(errors.is_empty(), "/{page} logged errors: {errors:?}");
    }
    browser.close().await?;
    cluster.shutdown().await;
    Ok(())
}
