//! The `dusk` command line: parses arguments and starts the part asked for.
//!
//! ```text
//! dusk local     [--workers N] [--threads-per-worker T] [--port 8786] [--no-repl]
//! dusk scheduler [--port 8786] [--dashboard-port 8787] [--state-dir DIR]
//! dusk worker    grpc://HOST:8786 [--threads N] [--memory-limit 4GiB] [--spill-dir DIR]
//! dusk gen tpch  --scale SF --output DIR
//! ```
//!
//! Exit codes: 0 on success, 2 when the command could not start (bad arguments, a port
//! in use, no scheduler at the URL). Errors print as one line, `dusk: <cause chain>`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::config::{self, SchedulerConfig, WorkerConfig};
use crate::local::{self, LocalConfig};

#[derive(Debug, Parser)]
#[command(name = "dusk", version, about = "A distributed query and task engine on Arrow")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Scheduler and workers on this machine, in one command.
    Local(LocalArgs),
    /// A scheduler for a cluster across machines.
    Scheduler(SchedulerArgs),
    /// A worker that joins the scheduler at the given URL.
    Worker(WorkerArgs),
    /// Generate sample data.
    #[command(subcommand)]
    Gen(GenCommand),
}

#[derive(Debug, Subcommand)]
enum GenCommand {
    /// TPC-H tables as Parquet, one directory per table.
    Tpch(TpchArgs),
}

#[derive(Debug, Args)]
struct TpchArgs {
    /// Scale factor: 1 is about 1 GB of raw data (6 million lineitem rows).
    #[arg(long, default_value_t = 1.0)]
    scale: f64,
    /// Directory to write; created if missing.
    #[arg(long)]
    output: PathBuf,
}

#[derive(Debug, Args)]
struct LocalArgs {
    /// Worker processes to start.
    #[arg(long, default_value_t = 2)]
    workers: usize,
    /// Executor threads per worker [default: cores / workers, at least 1].
    #[arg(long)]
    threads_per_worker: Option<usize>,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Scheduler port (Flight); 0 picks a free one.
    #[arg(long, default_value_t = 8786)]
    port: u16,
    /// Dashboard port.
    #[arg(long, default_value_t = 8787)]
    dashboard_port: u16,
    /// Memory limit per worker, e.g. 4GiB [default: machine memory / workers].
    #[arg(long, value_parser = parse_size)]
    memory_limit: Option<u64>,
    /// Directory for spill files [default: under the system temp dir].
    #[arg(long)]
    spill_dir: Option<PathBuf>,
    /// Serve in the foreground without an interactive prompt.
    #[arg(long)]
    no_repl: bool,
    /// Directory for what outlives the cluster (SQL catalog, sample data)
    /// [default: $XDG_DATA_HOME/dusk or ~/.local/share/dusk].
    #[arg(long)]
    state_dir: Option<PathBuf>,
    /// Do not register the sample TPC-H tables.
    #[arg(long)]
    no_sample_data: bool,
    /// Send every Flight SQL result through the scheduler in one endpoint, for clients
    /// that read only the first endpoint [default: large results come from the workers].
    #[arg(long)]
    proxy_results: bool,
}

#[derive(Debug, Args)]
struct SchedulerArgs {
    /// Address to listen on.
    #[arg(long, default_value = "0.0.0.0")]
    host: String,
    /// Flight port; 0 picks a free one.
    #[arg(long, default_value_t = 8786)]
    port: u16,
    /// Dashboard port.
    #[arg(long, default_value_t = 8787)]
    dashboard_port: u16,
    /// Worker deaths while running a task before it errs with KilledWorker.
    #[arg(long, default_value_t = 3)]
    allowed_failures: u32,
    /// Directory where the SQL catalog survives restarts [default: none, in memory only].
    #[arg(long)]
    state_dir: Option<PathBuf>,
    /// Send every Flight SQL result through the scheduler in one endpoint, for clients
    /// that read only the first endpoint [default: large results come from the workers].
    #[arg(long)]
    proxy_results: bool,
}

#[derive(Debug, Args)]
struct WorkerArgs {
    /// The scheduler, e.g. grpc://10.0.0.5:8786.
    scheduler: String,
    /// Executor threads [default: all cores].
    #[arg(long)]
    threads: Option<usize>,
    /// Result store limit, e.g. 4GiB [default: machine memory].
    #[arg(long, value_parser = parse_size)]
    memory_limit: Option<u64>,
    /// Directory for spill files [default: under the system temp dir].
    #[arg(long)]
    spill_dir: Option<PathBuf>,
    /// Address the data plane listens on.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Data plane port; 0 picks a free one.
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Host name others use to reach this worker [default: --host].
    #[arg(long)]
    advertise_host: Option<String>,
    /// Name in logs and the dashboard.
    #[arg(long)]
    name: Option<String>,
    /// Resources offered, e.g. --resource gpu=2 (repeatable).
    #[arg(long = "resource", value_parser = parse_resource)]
    resources: Vec<(String, f64)>,
    /// Exit when the parent process exits (set by `dusk local`).
    #[arg(long, hide = true)]
    die_with_parent: bool,
}

fn parse_size(text: &str) -> Result<u64, String> {
    config::parse_size(text).map_err(|e| e.to_string())
}

fn parse_resource(text: &str) -> Result<(String, f64), String> {
    let (name, quantity) =
        text.split_once('=').ok_or_else(|| format!("expected NAME=QUANTITY, got {text:?}"))?;
    let quantity: f64 =
        quantity.parse().map_err(|_| format!("quantity of {name} is not a number: {quantity:?}"))?;
    Ok((name.to_string(), quantity))
}

/// Runs the `dusk` command with this process's arguments.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => return fail(&e),
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Local(args) => run_local(args).await,
            Command::Scheduler(args) => run_scheduler(args).await,
            Command::Worker(args) => run_worker(args).await,
            Command::Gen(GenCommand::Tpch(args)) => run_gen_tpch(args).await,
        }
    });
    runtime.shutdown_background();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&*e),
    }
}

fn fail(e: &(dyn std::error::Error + 'static)) -> ExitCode {
    eprintln!("dusk: {}", dusk_flight::envelope::error_chain(e));
    ExitCode::from(2)
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("DUSK_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

async fn run_local(args: LocalArgs) -> Result<(), BoxError> {
    let workers = args.workers.max(1);
    let threads = args.threads_per_worker.unwrap_or_else(|| (config::available_cores() / workers).max(1));
    let memory_limit = args.memory_limit.unwrap_or_else(|| config::total_memory_bytes() / workers as u64);
    let state_dir = args.state_dir.unwrap_or_else(config::default_state_dir);
    let config = LocalConfig {
        host: args.host,
        port: args.port,
        dashboard_port: args.dashboard_port,
        workers,
        threads_per_worker: threads,
        memory_limit_bytes: memory_limit,
        spill_dir: args.spill_dir,
        scheduler: SchedulerConfig {
            state_dir: Some(state_dir.clone()),
            proxy_results: args.proxy_results,
            ..Default::default()
        },
        state_dir,
        sample_data: !args.no_sample_data,
    };
    if !args.no_repl {
        eprintln!("dusk: no interactive prompt yet; serving in the foreground (as with --no-repl)");
    }
    local::run(config).await?;
    Ok(())
}

async fn run_gen_tpch(args: TpchArgs) -> Result<(), BoxError> {
    let started = std::time::Instant::now();
    let output = args.output.clone();
    let threads = config::available_cores();
    tokio::task::spawn_blocking(move || crate::tpch::generate(args.scale, &output, threads)).await??;
    println!(
        "Wrote TPC-H SF {} to {} in {:.1} s",
        args.scale,
        args.output.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

async fn run_scheduler(args: SchedulerArgs) -> Result<(), BoxError> {
    let config = SchedulerConfig {
        allowed_failures: args.allowed_failures,
        state_dir: args.state_dir,
        proxy_results: args.proxy_results,
        ..Default::default()
    };
    let scheduler =
        crate::scheduler::Scheduler::bind(&format!("{}:{}", args.host, args.port), config).await?;
    println!("Dusk scheduler listening on {}", scheduler.url());
    tracing::debug!(dashboard.port = args.dashboard_port, "dashboard port reserved");
    local::shutdown_signal().await;
    scheduler.shutdown().await;
    Ok(())
}

async fn run_worker(args: WorkerArgs) -> Result<(), BoxError> {
    if args.die_with_parent {
        local::die_with_parent();
    }
    let mut config = WorkerConfig::new(args.scheduler);
    if let Some(threads) = args.threads {
        config.threads = threads.max(1);
    }
    if let Some(limit) = args.memory_limit {
        config.memory_limit_bytes = limit;
    }
    config.spill_dir = args.spill_dir;
    config.listen_host = args.host;
    config.listen_port = args.port;
    config.advertise_host = args.advertise_host;
    config.name = args.name;
    config.resources = args.resources;
    let worker = crate::worker::Worker::start(config).await?;
    let stopper = worker.stopper();
    tokio::spawn(async move {
        local::shutdown_signal().await;
        stopper.stop();
    });
    let exit = worker.wait().await;
    tracing::info!(reason = ?exit, "worker stopped");
    Ok(())
}
