//! TPC-H on a real cluster against in-process DataFusion on the same files.
//!
//! `cargo bench --bench tpch -- --scale 1 --workers 2` generates the data once (under
//! `target/tpch/sf<scale>`), starts `dusk local` with `--workers` worker processes of one
//! thread each, and runs the 22 queries there and on in-process DataFusion with as many
//! partitions as the cluster has threads: one warm-up and `--runs` (3) timed runs each.
//! It prints the median of each query, the totals, every worker's peak resident memory,
//! and last a line of this form:
//!
//! ```text
//! tpch sf1: dusk 3.10 s, datafusion 2.60 s, ratio 1.19, correct 22/22
//! ```
//!
//! A query is correct when its rows equal DataFusion's (in order when it has an ORDER BY).
//!
//! `--query q20` (repeatable) runs only the queries named; `--watch 10` prints the
//! cluster's task counts every 10 seconds while it runs, to see where a query stalls;
//! `--data DIR` reads (or generates) the tables elsewhere.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use datafusion::prelude::{SessionConfig, SessionContext};
use dusk::testing::ProcessCluster;
use dusk::{Client, tpch};

/// The client here uses the allocator the `dusk` binary uses.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error>>;

/// `cargo bench --bench tpch -- [options]`.
#[derive(clap::Parser)]
struct Args {
    /// TPC-H scale factor.
    #[arg(long, default_value_t = 1.0)]
    scale: f64,
    /// Worker processes of one thread each.
    #[arg(long, default_value_t = 2)]
    workers: usize,
    /// Timed runs per query (after one warm-up).
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Directory of existing TPC-H data [default: generated under target/tpch].
    #[arg(long)]
    data: Option<PathBuf>,
    /// Run only these queries (`q1`, `q20`, ...; repeatable); all when none.
    #[arg(long = "query")]
    queries: Vec<String>,
    /// Print the cluster's task counts every this many seconds (0: never).
    #[arg(long, default_value_t = 0)]
    watch: u64,
    /// Passed by `cargo bench`.
    #[arg(long, hide = true)]
    bench: bool,
}

fn parse_args() -> Result<Args> {
    Ok(<Args as clap::Parser>::try_parse()?)
}

fn median(mut xs: Vec<Duration>) -> Duration {
    xs.sort();
    xs[xs.len() / 2]
}

async fn time_dusk(client: &Client, sql: &str, runs: usize) -> Result<(Duration, Vec<String>)> {
    let ordered = sql.contains("order by");
    let rows = tpch::result_rows(&client.sql(sql).await?.batches, ordered)?;
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let started = Instant::now();
        client.sql(sql).await?;
        times.push(started.elapsed());
    }
    Ok((median(times), rows))
}

async fn time_datafusion(ctx: &SessionContext, sql: &str, runs: usize) -> Result<(Duration, Vec<String>)> {
    let ordered = sql.contains("order by");
    let rows = tpch::result_rows(&ctx.sql(sql).await?.collect().await?, ordered)?;
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let started = Instant::now();
        ctx.sql(sql).await?.collect().await?;
        times.push(started.elapsed());
    }
    Ok((median(times), rows))
}

/// Peak resident memory of a process, from `/proc/<pid>/status` (`VmHWM`), in MiB.
fn peak_rss_mib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse::<u64>().ok().map(|kib| kib / 1024)
}

async fn run() -> Result {
    let args = parse_args()?;
    let data = args.data.clone().unwrap_or_else(|| {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("target/tpch").join(format!("sf{}", args.scale))
    });
    if !tpch::is_generated(&data) {
        println!("generating TPC-H SF {} into {}", args.scale, data.display());
        let (scale, dir) = (args.scale, data.clone());
        tokio::task::spawn_blocking(move || tpch::generate(scale, &dir, 2)).await??;
    }
    let cluster = ProcessCluster::start(Path::new(env!("CARGO_BIN_EXE_dusk")), args.workers, 1).await?;
    let client = Client::connect(cluster.url()).await?;
    if args.watch > 0 {
        let watcher = Client::connect(cluster.url()).await?;
        let period = Duration::from_secs(args.watch);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(period).await;
                match watcher.cluster_info().await {
                    Ok(info) => eprintln!("cluster: {:?}", info.tasks_by_state),
                    Err(e) => eprintln!("cluster: {e}"),
                }
            }
        });
    }
    let ctx = SessionContext::new_with_config(SessionConfig::new().with_target_partitions(args.workers));
    for statement in tpch::create_tables(&data) {
        client.sql(&statement).await?;
        ctx.sql(&statement).await?.collect().await?;
    }
    println!("{:<5} {:>10} {:>12} {:>7}  correct", "query", "dusk (s)", "datafusion (s)", "ratio");
    let (mut dusk_total, mut df_total, mut correct) = (Duration::ZERO, Duration::ZERO, 0);
    for (name, sql) in tpch::QUERIES {
        if !args.queries.is_empty() && !args.queries.iter().any(|q| q == name) {
            continue;
        }
        let (df, expected) = time_datafusion(&ctx, sql, args.runs).await?;
        let (dusk, got) = match time_dusk(&client, sql, args.runs).await {
            Ok(r) => r,
            Err(e) => {
                println!("{name:<5} failed: {e}");
                df_total += df;
                continue;
            }
        };
        let ok = got == expected;
        correct += usize::from(ok);
        dusk_total += dusk;
        df_total += df;
        println!(
            "{name:<5} {:>10.3} {:>12.3} {:>7.2}  {}",
            dusk.as_secs_f64(),
            df.as_secs_f64(),
            dusk.as_secs_f64() / df.as_secs_f64().max(1e-9),
            if ok { "yes" } else { "NO" }
        );
    }
    let info = client.cluster_info().await?;
    for worker in &info.workers {
        match peak_rss_mib(worker.pid) {
            Some(mib) => println!("worker {} (pid {}): peak RSS {mib} MiB", worker.name, worker.pid),
            None => println!("worker {} (pid {}): peak RSS unknown", worker.name, worker.pid),
        }
    }
    let scale =
        if args.scale.fract() == 0.0 { format!("{}", args.scale as u64) } else { args.scale.to_string() };
    println!(
        "tpch sf{scale}: dusk {:.2} s, datafusion {:.2} s, ratio {:.2}, correct {correct}/22",
        dusk_total.as_secs_f64(),
        df_total.as_secs_f64(),
        dusk_total.as_secs_f64() / df_total.as_secs_f64().max(1e-9)
    );
    drop(client);
    cluster.terminate().await?;
    Ok(())
}

fn main() -> std::process::ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("tpch bench: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tpch bench: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
