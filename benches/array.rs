//! Arrays: random 20,000 × 20,000 `f64` on a real 2-worker × 1-thread cluster.
//!
//! `cargo bench --bench array` starts `dusk local` (worker processes, real gRPC on
//! loopback) and, with `x = random((20000, 20000), chunks=(1000, 1000))` built afresh for
//! each op (never persisted: every op generates its chunks on the workers), prints one
//! line per op:
//!
//! ```text
//! array (x + x.T).mean(axis=0): 0.464 s
//! array x.sum(): 0.244 s
//! array x @ x[:, :2000]: 13.063 s
//! ```
//!
//! then dask.array's times on this machine kind (threaded and 2-worker distributed,
//! from the issue's measurements) as ratios, the matmul's GFLOP/s against this machine's
//! GEMM peak (two threads each running 1000³ f64 GEMM in this process), and the largest
//! worker's peak RSS.

use std::path::Path;
use std::time::Instant;

use dusk::Client;
use dusk::array::{self, Array, Idx};
use dusk::testing::ProcessCluster;
use ndarray::{Array2, linalg::general_mat_mul};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error>>;

const N: usize = 20_000;
const CHUNK: usize = 1_000;

/// dask.array on this machine kind: (threaded, 2-worker distributed) seconds.
const DASK: [(&str, f64, f64); 3] =
    [("(x + x.T).mean(axis=0)", 1.25, 3.17), ("x.sum()", 0.71, 2.29), ("x @ x[:, :2000]", 17.9, 20.2)];

fn x(seed: u64) -> Result<Array> {
    Ok(array::random(&[N, N], &[CHUNK, CHUNK], seed)?)
}

async fn run(client: &Client, op: &str, seed: u64) -> Result<f64> {
    let x = x(seed)?;
    let y = match op {
        "(x + x.T).mean(axis=0)" => (&x + &x.t())?.mean_axis(0)?,
        "x.sum()" => x.sum()?,
        _ => x.matmul(&x.slice(&[Idx::all(), Idx::range(0, 2000)])?)?,
    };
    let before = client.task_history("").await?.len();
    let start = Instant::now();
    let out = y.compute(client).await?;
    let seconds = start.elapsed().as_secs_f64();
    let done_us = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_micros() as u64;
    print_task_time(client, before, seconds, done_us).await?;
    let expect: &[usize] = match op {
        "(x + x.T).mean(axis=0)" => &[N],
        "x.sum()" => &[],
        _ => &[N, 2000],
    };
    assert_eq!(out.shape(), expect, "{op}");
    Ok(seconds)
}

/// Where an op's time went: compute time per task group, and how busy the two worker
/// threads were over the op's wall time.
async fn print_task_time(client: &Client, before: usize, seconds: f64, done_us: u64) -> Result {
    let runs = client.task_history("").await?;
    let mut groups: std::collections::BTreeMap<&str, (usize, u64)> = Default::default();
    let last_end = runs.iter().skip(before).map(|r| r.start_unix_us + r.compute_us).max().unwrap_or(done_us);
    for run in runs.iter().skip(before) {
        let group = run.key.rsplit_once('-').map_or(run.key.as_str(), |(g, _)| g);
        let entry = groups.entry(group).or_default();
        entry.0 += 1;
        entry.1 += run.compute_us;
    }
    let busy: u64 = groups.values().map(|g| g.1).sum();
    let by_group: Vec<String> = groups
        .iter()
        .map(|(g, (n, us))| format!("{g} {n} x {:.2} ms", *us as f64 / *n as f64 / 1e3))
        .collect();
    println!(
        "  tasks: {}; worker threads busy {:.0}% of the wall time; result here {:.3} s after the last task",
        by_group.join(", "),
        busy as f64 / 1e6 / (2.0 * seconds) * 100.0,
        done_us.saturating_sub(last_end) as f64 / 1e6
    );
    Ok(())
}

/// GFLOP/s of two threads each multiplying 1000 × 1000 `f64` matrices for ~2 s.
fn blas_peak() -> f64 {
    #[cfg(feature = "openblas")]
    dusk::array::blas::single_threaded();
    let n = 1000;
    let threads: Vec<_> = (0..2)
        .map(|_| {
            std::thread::spawn(move || {
                let a = Array2::<f64>::from_shape_fn((n, n), |(i, j)| ((i * 7 + j) % 13) as f64);
                let b = a.t().to_owned();
                let mut c = Array2::<f64>::zeros((n, n));
                general_mat_mul(1.0, &a, &b, 0.0, &mut c);
                let start = Instant::now();
                let mut calls = 0u32;
                while start.elapsed().as_secs_f64() < 2.0 {
                    general_mat_mul(1.0, &a, &b, 0.0, &mut c);
                    calls += 1;
                }
                2.0 * (n as f64).powi(3) * f64::from(calls) / start.elapsed().as_secs_f64() / 1e9
            })
        })
        .collect();
    threads.into_iter().filter_map(|t| t.join().ok()).sum()
}

#[tokio::main]
async fn main() -> Result {
    // OpenBLAS picks its kernels when it loads: restart with the right ones if needed.
    #[cfg(feature = "openblas")]
    dusk::array::blas::restart_with_better_kernels();
    dusk::testing::init_test_logging();
    let binary = Path::new(env!("CARGO_BIN_EXE_dusk"));
    let cluster = ProcessCluster::start(binary, 2, 1).await?;
    let client = Client::connect(cluster.url()).await?;
    println!(
        "array bench | {} cores, {} GiB | dusk local: 2 workers x 1 thread | GEMM: {}",
        dusk::config::available_cores(),
        dusk::config::total_memory_bytes() >> 30,
        dusk::array::gemm_backend(),
    );
    // Warm-up: connections, allocator, BLAS.
    run(&client, "x.sum()", 1).await?;
    let mut times = Vec::new();
    for (i, (op, threaded, distributed)) in DASK.iter().enumerate() {
        let seconds = run(&client, op, 42 + i as u64).await?;
        println!("array {op}: {seconds:.3} s");
        times.push((op, seconds, threaded, distributed));
    }
    for (op, seconds, threaded, distributed) in &times {
        println!(
            "  {op}: dask threaded {threaded:.2} s ({:.2}x of dusk's time), dask distributed {distributed:.2} s ({:.2}x)",
            *threaded / seconds,
            *distributed / seconds
        );
    }
    let matmul = times.last().map_or(f64::NAN, |t| t.1);
    let flops = 2.0 * N as f64 * N as f64 * 2000.0;
    let reached = flops / matmul / 1e9;
    let peak = blas_peak();
    println!(
        "array matmul: {reached:.1} GFLOP/s; GEMM peak here (2 threads x 1000^3 f64): {peak:.1} GFLOP/s; peak/reached = {:.2}",
        peak / reached
    );
    let info = client.cluster_info().await?;
    let rss = info
        .workers
        .iter()
        .filter_map(|w| dusk::config::process_memory_bytes(w.pid).map(|(_, peak)| peak))
        .max()
        .unwrap_or(0);
    println!("array peak worker RSS: {} MiB (largest of {} workers)", rss >> 20, info.workers.len());
    cluster.terminate().await?;
    Ok(())
}
