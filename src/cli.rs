//! The `dusk` command line: parses arguments and starts the part asked for.
//!
//! ```text
//! dusk local     [--workers N] [--threads-per-worker T] [--port 8786] [--dashboard-port 8787] [--no-repl]
//! dusk scheduler [--port 8786] [--dashboard-port 8787] [--state-dir DIR]
//! dusk worker    grpc://HOST:8786 [--threads N] [--memory-limit 4GiB] [--spill-dir DIR] [--reconnect-timeout forever]
//! dusk gen tpch  --scale SF --output DIR
//! dusk passwd    NAME --file users.txt
//! dusk sql       [grpc://HOST:8786] [-c SQL]... [-f FILE] [--format table|csv|json|ndjson|markdown]
//! ```
//!
//! Security (all off by default): `--auth basic --users FILE` makes every call carry a
//! token; the processes of one cluster share `DUSK_CLUSTER_SECRET` (`dusk local` makes one
//! up). `--tls-cert/--tls-key` serve TLS; `--tls-ca` says which certificates to trust.
//!
//! Exit codes: 0 on success, 2 when the command could not start (bad arguments, a port
//! in use, no scheduler at the URL); `dusk sql` exits with 1 when a statement failed. Errors print as one line, `dusk: <cause chain>`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::config::{self, SchedulerConfig, WorkerConfig};
use crate::local::{self, Front, LocalConfig};
use crate::repl::{self, ConnectOptions, Format, ReplOptions};
use crate::security::secret::SECRET_ENV;
use crate::security::tls::{self, TlsFiles};
use crate::security::{ClusterSecret, Security, SecurityError, Users};

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
    /// A SQL prompt (or script runner) on any Flight SQL server.
    Sql(SqlArgs),
    /// Add a user to a users file (or change their password); the password is read from
    /// DUSK_PASSWORD, or prompted for.
    Passwd(PasswdArgs),
    /// Make a self-signed TLS certificate and key for a cluster (`cert.pem`, `key.pem`).
    Cert(CertArgs),
}

#[derive(Debug, Args)]
struct CertArgs {
    /// Host names and IP addresses clients reach the cluster by (repeatable).
    #[arg(long = "host", default_values = ["localhost", "127.0.0.1"])]
    hosts: Vec<String>,
    /// Directory to write cert.pem and key.pem into; created if missing.
    #[arg(long, default_value = ".")]
    out: PathBuf,
}

#[derive(Debug, Args)]
struct SqlArgs {
    /// The Flight SQL server.
    #[arg(default_value = "grpc://127.0.0.1:8786")]
    url: String,
    /// Run this statement or meta-command, then exit (repeatable).
    #[arg(short = 'c', long = "command")]
    commands: Vec<String>,
    /// Run the statements in this file, then exit.
    #[arg(short = 'f', long)]
    file: Option<PathBuf>,
    /// How results print.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Without a terminal, go on after a statement fails (the exit code is still 1).
    #[arg(long)]
    continue_on_error: bool,
    /// Log in as this user; the password comes from DUSK_PASSWORD or is prompted for.
    #[arg(short = 'u', long)]
    user: Option<String>,
    /// A bearer token to send instead of logging in.
    #[arg(long, env = "DUSK_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Connect with TLS (as a grpc+tls:// URL does).
    #[arg(long)]
    tls: bool,
    /// Certificates (PEM) to trust for TLS [default: the system's roots].
    #[arg(long)]
    tls_ca: Option<PathBuf>,
    /// History file [default: `history` in the state directory].
    #[arg(long, env = "DUSK_HISTORY")]
    history: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct PasswdArgs {
    /// The user name.
    name: String,
    /// The users file; created if missing.
    #[arg(long)]
    file: PathBuf,
}

/// Who may call the cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum AuthMode {
    /// Anyone who reaches the port (a laptop, a trusted network).
    None,
    /// Users log in with a name and password from --users; the cluster's processes share
    /// DUSK_CLUSTER_SECRET.
    Basic,
}

#[derive(Debug, Args)]
struct AuthArgs {
    /// Who may call the cluster.
    #[arg(long, value_enum, default_value_t = AuthMode::None)]
    auth: AuthMode,
    /// Users file for --auth basic (lines written by `dusk passwd`).
    #[arg(long)]
    users: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct TlsArgs {
    /// Certificate chain (PEM) to serve TLS with; needs --tls-key.
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// Private key (PEM) of --tls-cert.
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
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
    /// Memory limit per worker, e.g. 4GiB [default: machine memory / workers].
    #[arg(long, value_parser = parse_size)]
    memory_limit: Option<u64>,
    /// Directory for spill files [default: under the system temp dir].
    #[arg(long)]
    spill_dir: Option<PathBuf>,
    /// Serve in the foreground without the SQL prompt (also when stdin is not a
    /// terminal).
    #[arg(long)]
    no_repl: bool,
    /// Directory for what outlives the cluster (SQL catalog, sample data)
    /// [default: $XDG_DATA_HOME/dusk or ~/.local/share/dusk].
    #[arg(long)]
    state_dir: Option<PathBuf>,
    /// Do not register the sample TPC-H tables.
    #[arg(long)]
    no_sample_data: bool,
    #[command(flatten)]
    serve: ServeArgs,
    #[command(flatten)]
    auth: AuthArgs,
    #[command(flatten)]
    tls: TlsArgs,
}

#[derive(Debug, Args)]
struct SchedulerArgs {
    /// Address to listen on.
    #[arg(long, default_value = "0.0.0.0")]
    host: String,
    /// Flight port; 0 picks a free one.
    #[arg(long, default_value_t = 8786)]
    port: u16,
    /// Directory where the SQL catalog survives restarts [default: none, in memory only].
    #[arg(long)]
    state_dir: Option<PathBuf>,
    #[command(flatten)]
    serve: ServeArgs,
    #[command(flatten)]
    auth: AuthArgs,
    #[command(flatten)]
    cluster: ClusterArgs,
}

/// How the scheduler serves, the same for `local` and `scheduler`.
#[derive(Debug, Args)]
struct ServeArgs {
    /// Dashboard port (HTTP); when taken, a free one is used and printed.
    #[arg(long, default_value_t = 8787)]
    dashboard_port: u16,
    /// Serve no dashboard.
    #[arg(long)]
    no_dashboard: bool,
    /// Send every Flight SQL result through the scheduler in one endpoint, for clients
    /// that read only the first endpoint [default: large results come from the workers].
    #[arg(long)]
    proxy_results: bool,
    /// Worker deaths while running a task before it errs with KilledWorker.
    #[arg(long, default_value_t = 3)]
    allowed_failures: u32,
    /// How long ready work waits when no live worker can run it (none alive, or none
    /// offering its resources) before it fails, e.g. 60s, 5m.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    no_workers_timeout: std::time::Duration,
    /// A worker not heard from for this long is removed and its work rescheduled; it
    /// rejoins when it is heard from again.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    heartbeat_timeout: std::time::Duration,
}

impl ServeArgs {
    /// The scheduler's configuration for serving on `host` with these settings.
    fn config(&self, host: &str, state_dir: Option<PathBuf>, security: Security) -> SchedulerConfig {
        SchedulerConfig {
            allowed_failures: self.allowed_failures,
            no_workers_timeout: self.no_workers_timeout,
            heartbeat_timeout: self.heartbeat_timeout,
            dashboard: (!self.no_dashboard).then(|| format!("{host}:{}", self.dashboard_port)),
            state_dir,
            proxy_results: self.proxy_results,
            security,
            ..Default::default()
        }
    }
}

#[derive(Debug, Args)]
struct ClusterArgs {
    /// File holding the cluster secret [default: the DUSK_CLUSTER_SECRET variable].
    #[arg(long)]
    cluster_secret_file: Option<PathBuf>,
    #[command(flatten)]
    tls: TlsArgs,
    /// Certificates (PEM) trusted for grpc+tls:// connections to the scheduler and
    /// workers [default: the system's roots].
    #[arg(long)]
    tls_ca: Option<PathBuf>,
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
    /// How long to keep trying to register again after losing the scheduler, e.g. 5m;
    /// `forever`, or 0 to exit at once.
    #[arg(long, default_value = "forever", value_parser = parse_reconnect_timeout)]
    reconnect_timeout: ReconnectTimeout,
    /// On SIGTERM or Ctrl-C the worker retires: it takes no new tasks and its results move
    /// to peers before it exits. Past this long it exits anyway (a second signal exits
    /// at once).
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    drain_timeout: std::time::Duration,
    /// Exit when the parent process exits (set by `dusk local`).
    #[arg(long, hide = true)]
    die_with_parent: bool,
    #[command(flatten)]
    cluster: ClusterArgs,
}

impl ClusterArgs {
    /// The secret, trusted certificates and own certificate these flags (and the
    /// environment) name.
    fn security(&self) -> Result<Security, SecurityError> {
        let secret = match &self.cluster_secret_file {
            Some(path) => Some(ClusterSecret::from_file(path)?),
            None => ClusterSecret::from_env()?,
        };
        let tls_ca = self.tls_ca.as_deref().map(tls::read_pem).transpose()?;
        Ok(Security { secret, users: None, tls: self.tls.files().map(|f| f.load()).transpose()?, tls_ca })
    }
}

impl TlsArgs {
    fn files(&self) -> Option<TlsFiles> {
        Some(TlsFiles { cert: self.tls_cert.clone()?, key: self.tls_key.clone()? })
    }
}

impl AuthArgs {
    /// Adds the users of `--auth basic` to `security`, which must then hold a secret.
    fn apply(&self, security: &mut Security) -> Result<(), SecurityError> {
        match self.auth {
            AuthMode::None => {
                security.secret = None;
                security.users = None;
            }
            AuthMode::Basic => {
                let path = self.users.as_ref().ok_or_else(|| {
                    SecurityError::Config("--auth basic needs --users FILE (see `dusk passwd`)".into())
                })?;
                let users = Users::load(path)?;
                if users.is_empty() {
                    return Err(SecurityError::Config(format!("{} lists no users", path.display())));
                }
                if security.secret.is_none() {
                    return Err(SecurityError::Config(format!(
                        "--auth basic needs a cluster secret shared with the workers: set {SECRET_ENV} \
                         or --cluster-secret-file"
                    )));
                }
                security.users = Some(users);
            }
        }
        Ok(())
    }
}

fn parse_size(text: &str) -> Result<u64, String> {
    config::parse_size(text).map_err(|e| e.to_string())
}

/// `--reconnect-timeout`: a duration, or forever.
#[derive(Debug, Clone, Copy)]
struct ReconnectTimeout(Option<std::time::Duration>);

fn parse_reconnect_timeout(text: &str) -> Result<ReconnectTimeout, String> {
    match text.trim() {
        "forever" | "never" | "inf" => Ok(ReconnectTimeout(None)),
        other => parse_duration(other).map(|d| ReconnectTimeout(Some(d))),
    }
}

fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    config::parse_duration(text).map_err(|e| e.to_string())
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
    #[cfg(feature = "openblas")]
    if matches!(cli.command, Command::Local(_) | Command::Worker(_)) {
        crate::array::blas::restart_with_better_kernels();
    }
    // A prompt shares the terminal with the logs: only warnings then.
    let prompt = match &cli.command {
        Command::Local(args) => repl_wanted(args),
        Command::Sql(_) => true,
        _ => false,
    };
    init_logging(if prompt { "warn" } else { "info" });
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => return fail(&e),
    };
    let result = runtime.block_on(async move {
        let done = match cli.command {
            Command::Local(args) => run_local(args).await,
            Command::Scheduler(args) => run_scheduler(args).await,
            Command::Worker(args) => run_worker(args).await,
            Command::Gen(GenCommand::Tpch(args)) => run_gen_tpch(args).await,
            Command::Passwd(args) => run_passwd(args),
            Command::Cert(args) => run_cert(args),
            Command::Sql(args) => return run_sql(args).await,
        };
        done.map(|()| ExitCode::SUCCESS)
    });
    runtime.shutdown_background();
    match result {
        Ok(code) => code,
        Err(e) => fail(&*e),
    }
}

/// Whether `dusk local` opens the SQL prompt: unless told not to, or not at a terminal.
fn repl_wanted(args: &LocalArgs) -> bool {
    use std::io::IsTerminal;
    !args.no_repl && std::io::stdin().is_terminal()
}

async fn run_sql(args: SqlArgs) -> Result<ExitCode, BoxError> {
    let mut url = args.url;
    if args.tls {
        url = match url.split_once("://") {
            Some((_, rest)) => format!("grpc+tls://{rest}"),
            None => format!("grpc+tls://{url}"),
        };
    }
    let password = match &args.user {
        None => None,
        Some(user) => Some(match std::env::var("DUSK_PASSWORD") {
            Ok(p) => p,
            Err(_) => rpassword::prompt_password(format!("Password for user {user}: "))?,
        }),
    };
    let tls_ca = args.tls_ca.as_deref().map(std::fs::read).transpose()?;
    let options = ReplOptions {
        connect: ConnectOptions { url, user: args.user, password, token: args.token, tls_ca },
        commands: args.commands,
        file: args.file,
        format: args.format,
        continue_on_error: args.continue_on_error,
        history: args.history,
    };
    let runtime = tokio::runtime::Handle::current();
    let ok = tokio::task::spawn_blocking(move || repl::run(options, runtime)).await??;
    Ok(if ok { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

fn fail(e: &(dyn std::error::Error + 'static)) -> ExitCode {
    eprintln!("dusk: {}", dusk_flight::envelope::error_chain(e));
    ExitCode::from(2)
}

fn init_logging(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("DUSK_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    // Colour codes only for a terminal: a log file or a pipe gets plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .try_init();
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

async fn run_local(args: LocalArgs) -> Result<(), BoxError> {
    let prompt = repl_wanted(&args);
    let workers = args.workers.max(1);
    let threads = args.threads_per_worker.unwrap_or_else(|| (config::available_cores() / workers).max(1));
    let memory_limit = args.memory_limit.unwrap_or_else(|| config::total_memory_bytes() / workers as u64);
    let state_dir = args.state_dir.unwrap_or_else(config::default_state_dir);
    let tls_files = args.tls.files();
    let mut security = Security {
        // One cluster, started together: a fresh secret each time.
        secret: Some(ClusterSecret::generate()?),
        tls: tls_files.as_ref().map(TlsFiles::load).transpose()?,
        tls_ca: tls_files.as_ref().map(|f| tls::read_pem(&f.cert)).transpose()?,
        users: None,
    };
    args.auth.apply(&mut security)?;
    let secret_file = state_dir.join("cluster-secret");
    if security.secret.is_none() {
        let _ = std::fs::remove_file(&secret_file);
    }
    if let Some(secret) = &security.secret {
        let path = secret_file;
        crate::security::users::write_private(&path, secret.expose())?;
        println!(
            "Authentication on: users from {}; Rust clients set {SECRET_ENV}=$(cat {})",
            args.auth.users.as_deref().unwrap_or(std::path::Path::new("?")).display(),
            path.display()
        );
    }
    let config = LocalConfig {
        scheduler: args.serve.config(&args.host, Some(state_dir.clone()), security),
        host: args.host,
        port: args.port,
        workers,
        threads_per_worker: threads,
        memory_limit_bytes: memory_limit,
        spill_dir: args.spill_dir,
        state_dir,
        sample_data: !args.no_sample_data,
        tls_files,
        quiet_workers: prompt,
    };
    let front = if prompt { Front::Prompt(ReplOptions::default()) } else { Front::Foreground };
    local::run(config, front).await?;
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
    // The DDL that registers what was written, for `dusk sql -f` (or any SQL client).
    let output = std::fs::canonicalize(&args.output)?;
    let ddl = output.join("create_tables.sql");
    let statements: Vec<String> =
        crate::tpch::create_tables(&output).into_iter().map(|s| format!("{s};\n")).collect();
    std::fs::write(&ddl, statements.concat())?;
    println!("Register the tables with: dusk sql grpc://127.0.0.1:8786 -f {}", ddl.display());
    Ok(())
}

fn run_passwd(args: PasswdArgs) -> Result<(), BoxError> {
    let password = match std::env::var("DUSK_PASSWORD") {
        Ok(p) if !p.is_empty() => p,
        _ => rpassword::prompt_password(format!("Password for {}: ", args.name))?,
    };
    if password.is_empty() {
        return Err("the password is empty".into());
    }
    crate::security::users::set_password(&args.file, &args.name, &password)?;
    println!("Set the password of {} in {}", args.name, args.file.display());
    Ok(())
}

fn run_cert(args: CertArgs) -> Result<(), BoxError> {
    let files = crate::security::cert::write_self_signed(&args.hosts, &args.out)?;
    let (cert, key) = (files.cert.display(), files.key.display());
    println!("Wrote {cert} and {key} for {}", args.hosts.join(", "));
    let host = args.hosts.first().map_or("localhost", String::as_str);
    println!(
        "Serve TLS with: --tls-cert {cert} --tls-key {key} --tls-ca {cert} (scheduler and every worker)"
    );
    println!("Connect with:   dusk sql --tls --tls-ca {cert} grpc://{host}:8786");
    Ok(())
}

async fn run_scheduler(args: SchedulerArgs) -> Result<(), BoxError> {
    let mut security = args.cluster.security()?;
    args.auth.apply(&mut security)?;
    let config = args.serve.config(&args.host, args.state_dir, security);
    let open = config.security.users.is_none();
    let scheduler =
        crate::scheduler::Scheduler::bind(&format!("{}:{}", args.host, args.port), config).await?;
    println!("Dusk scheduler listening on {}", scheduler.url());
    if open && !scheduler.addr().ip().is_loopback() {
        eprintln!(
            "dusk: warning: listening on {} with --auth none: anyone who reaches this port can run \
             SQL and tasks; use --auth basic --users FILE (and --tls-cert/--tls-key) on a shared \
             network (see the README's Authentication and TLS)",
            scheduler.addr()
        );
    }
    if let Some(addr) = scheduler.dashboard_addr() {
        println!("Dashboard: {}", crate::dashboard::url(addr));
    }
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
    config.reconnect_timeout = args.reconnect_timeout.0;
    config.drain_timeout = args.drain_timeout;
    config.security = args.cluster.security()?;
    let worker = crate::worker::Worker::start(config).await?;
    let stopper = worker.stopper();
    tokio::spawn(async move {
        // The first signal retires the worker; a second one stops it at once.
        loop {
            local::shutdown_signal().await;
            stopper.retire();
        }
    });
    let exit = worker.wait().await;
    tracing::info!(reason = ?exit, "worker stopped");
    match exit {
        crate::worker::WorkerExit::SchedulerLost(reason) => Err(reason.into()),
        _ => Ok(()),
    }
}
