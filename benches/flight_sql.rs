//! Flight SQL latency and throughput on a real `dusk local` cluster.
//!
//! `cargo bench --bench flight_sql` starts `dusk local` with 2 worker processes of one
//! thread each and measures, with arrow-flight's Flight SQL client over loopback gRPC:
//!
//! - **select1**: 1,000 sequential `SELECT 1` through the prepared path, as ADBC runs
//!   every statement: `CreatePreparedStatement`, `GetFlightInfo`, `DoGet` (the statement
//!   is closed after the clock stops). In-process DataFusion's `ctx.sql("SELECT 1")`
//!   plus `collect` is the floor it is compared with.
//! - **concurrent**: 32 clients, each with its own connection, running TPC-H Q6 at
//!   scale 0.1 for `--seconds` (10), against in-process DataFusion running the same
//!   query from 32 tasks at once.
//!
//! The last lines have this form:
//!
//! ```text
//! flight_sql select1: p50 0.61 ms, p99 1.20 ms
//! flight_sql concurrent: 32 clients, 210.0 queries/s
//! ```
//!
//! `--clients N`, `--seconds S`, `--scale SF` change the concurrent case.

use std::path::Path;
use std::time::{Duration, Instant};

use arrow_flight::sql::client::FlightSqlServiceClient;
use arrow_flight::{FlightClient, FlightInfo};
use datafusion::prelude::{SessionConfig, SessionContext};
use dusk::testing::ProcessCluster;
use dusk::{Client, tpch};
use futures::TryStreamExt;
use tonic::transport::Channel;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

const SELECT1_RUNS: usize = 1000;
const WARMUP: usize = 50;

/// `cargo bench --bench flight_sql -- [options]`.
#[derive(clap::Parser)]
struct Args {
    /// Concurrent clients in the concurrent case.
    #[arg(long, default_value_t = 32)]
    clients: usize,
    /// Seconds the concurrent case runs.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// TPC-H scale factor of the data queried.
    #[arg(long, default_value_t = 0.1)]
    scale: f64,
    /// Passed by `cargo bench`.
    #[arg(long, hide = true)]
    bench: bool,
}

fn parse_args() -> Result<Args> {
    Ok(<Args as clap::Parser>::try_parse()?)
}

async fn connect(url: &str) -> Result<Channel> {
    let http = url.replace("grpc://", "http://");
    Ok(tonic::transport::Endpoint::from_shared(http)?.tcp_nodelay(true).connect().await?)
}

/// Reads every endpoint of `info`; returns the rows.
async fn read(client: &mut FlightSqlServiceClient<Channel>, info: FlightInfo) -> Result<usize> {
    let mut rows = 0;
    for endpoint in info.endpoint {
        let ticket = endpoint.ticket.ok_or("endpoint without ticket")?;
        let batches: Vec<arrow::array::RecordBatch> = match endpoint.location.first() {
            Some(location) => {
                FlightClient::new(connect(&location.uri).await?).do_get(ticket).await?.try_collect().await?
            }
            None => client.do_get(ticket).await?.try_collect().await?,
        };
        rows += batches.iter().map(|b| b.num_rows()).sum::<usize>();
    }
    Ok(rows)
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1e3
}

async fn select1_dusk(url: &str) -> Result<Vec<Duration>> {
    let mut client = FlightSqlServiceClient::new(connect(url).await?);
    let mut times = Vec::with_capacity(SELECT1_RUNS);
    for i in 0..WARMUP + SELECT1_RUNS {
        let started = Instant::now();
        let mut statement = client.prepare("SELECT 1".into(), None).await?;
        let info = statement.execute().await?;
        let rows = read(&mut client, info).await?;
        let elapsed = started.elapsed();
        statement.close().await?;
        assert_eq!(rows, 1);
        if i >= WARMUP {
            times.push(elapsed);
        }
    }
    times.sort();
    Ok(times)
}

async fn select1_datafusion() -> Result<Vec<Duration>> {
    let ctx = SessionContext::new();
    let mut times = Vec::with_capacity(SELECT1_RUNS);
    for i in 0..WARMUP + SELECT1_RUNS {
        let started = Instant::now();
        ctx.sql("SELECT 1").await?.collect().await?;
        if i >= WARMUP {
            times.push(started.elapsed());
        }
    }
    times.sort();
    Ok(times)
}

/// Q6 from `clients` connections at once for `seconds`; returns queries per second.
async fn concurrent_dusk(url: &str, clients: usize, seconds: u64, q6: &'static str) -> Result<f64> {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let url = url.to_string();
        tasks.push(tokio::spawn(async move {
            let mut client = FlightSqlServiceClient::new(connect(&url).await?);
            let mut done = 0u64;
            while Instant::now() < deadline {
                let info = client.execute(q6.into(), None).await?;
                assert_eq!(read(&mut client, info).await?, 1);
                done += 1;
            }
            Result::Ok(done)
        }));
    }
    let mut total = 0;
    for task in tasks {
        total += task.await??;
    }
    Ok(total as f64 / started.elapsed().as_secs_f64())
}

async fn concurrent_datafusion(dir: &Path, clients: usize, seconds: u64, q6: &'static str) -> Result<f64> {
    let ctx = SessionContext::new_with_config(SessionConfig::new().with_target_partitions(2));
    for statement in tpch::create_tables(dir) {
        ctx.sql(&statement).await?.collect().await?;
    }
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let ctx = ctx.clone();
        tasks.push(tokio::spawn(async move {
            let mut done = 0u64;
            while Instant::now() < deadline {
                ctx.sql(q6).await?.collect().await?;
                done += 1;
            }
            Result::Ok(done)
        }));
    }
    let mut total = 0;
    for task in tasks {
        total += task.await??;
    }
    Ok(total as f64 / started.elapsed().as_secs_f64())
}

async fn run() -> Result {
    let args = parse_args()?;
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/tpch").join(format!("sf{}", args.scale));
    if !tpch::is_generated(&dir) {
        println!("generating TPC-H SF {} into {}", args.scale, dir.display());
        let (out, scale) = (dir.clone(), args.scale);
        tokio::task::spawn_blocking(move || tpch::generate(scale, &out, 2)).await??;
    }
    let cluster = ProcessCluster::start(Path::new(env!("CARGO_BIN_EXE_dusk")), 2, 1).await?;
    let client = Client::connect(cluster.url()).await?;
    for statement in tpch::create_tables(&dir) {
        client.sql(&statement).await?;
    }
    let q6 = tpch::QUERIES.iter().find(|(name, _)| *name == "q6").map(|(_, sql)| *sql).ok_or("no q6")?;

    let dusk = select1_dusk(cluster.url()).await?;
    let floor = select1_datafusion().await?;
    println!(
        "datafusion in-process select1: p50 {:.3} ms, p99 {:.3} ms",
        percentile(&floor, 0.5),
        percentile(&floor, 0.99)
    );
    let dusk_qps = concurrent_dusk(cluster.url(), args.clients, args.seconds, q6).await?;
    let datafusion_qps = concurrent_datafusion(&dir, args.clients, args.seconds, q6).await?;
    println!(
        "datafusion in-process concurrent: {} tasks, {:.1} queries/s (dusk/datafusion throughput {:.2})",
        args.clients,
        datafusion_qps,
        dusk_qps / datafusion_qps
    );
    println!(
        "flight_sql select1: p50 {:.2} ms, p99 {:.2} ms",
        percentile(&dusk, 0.5),
        percentile(&dusk, 0.99)
    );
    println!("flight_sql concurrent: {} clients, {:.1} queries/s", args.clients, dusk_qps);
    drop(client);
    cluster.terminate().await?;
    Ok(())
}

fn main() -> std::process::ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("flight_sql bench: cannot start a runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("flight_sql bench failed: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
