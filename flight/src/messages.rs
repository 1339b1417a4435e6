//! Control messages between clients, the scheduler and workers.
//!
//! Two long-lived `DoExchange` streams carry batches of these:
//!
//! - worker → scheduler: [`WorkerUpdate`] (the first one carries [`WorkerHello`]);
//!   scheduler → worker: [`WorkerInstructions`].
//! - client → scheduler: [`ClientUpdate`] (the first one carries [`ClientHello`]);
//!   scheduler → client: [`ClientEvents`].
//!
//! Every message is a batch: a process drains whatever it has queued into one frame, so
//! under load thousands of tasks share a frame and when idle a single task goes out at
//! once. Field numbers are the wire contract; add fields, never renumber them.

use std::collections::HashMap;

/// How a result value is laid out, so a fetcher knows how to ask for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum ValueKind {
    /// Serde-encoded bytes, sent as a binary column in chunks.
    Bytes = 0,
    /// Arrow record batches with their own schema.
    Batches = 1,
    /// A shuffle writer's output: record batches split into buckets, fetched one bucket
    /// at a time.
    Buckets = 2,
}

/// One argument of a function call: an inline value or the result of another task.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Arg {
    /// The argument itself.
    #[prost(oneof = "arg::Value", tags = "1, 2")]
    pub value: Option<arg::Value>,
}

/// The variants of [`Arg`].
pub mod arg {
    /// Where an argument's bytes come from.
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Value {
        /// Serde-encoded value given inline.
        #[prost(bytes = "bytes", tag = "1")]
        Literal(bytes::Bytes),
        /// The result of the task with this key.
        #[prost(string, tag = "2")]
        Key(String),
    }
}

/// A task as a client submits it and a worker receives it.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TaskSpec {
    /// Unique key, e.g. `inc-3f2a9c01`.
    #[prost(string, tag = "1")]
    pub key: String,
    /// Name of the registered function to call.
    #[prost(string, tag = "2")]
    pub function: String,
    /// Arguments, in order.
    #[prost(message, repeated, tag = "3")]
    pub args: Vec<Arg>,
    /// User priority: higher runs first.
    #[prost(int64, tag = "4")]
    pub priority: i64,
    /// How many times a failed run is retried before the task errs.
    #[prost(uint32, tag = "5")]
    pub retries: u32,
    /// Abstract resources one run holds, e.g. `{"gpu": 1}`.
    #[prost(map = "string, double", tag = "6")]
    pub resources: HashMap<String, f64>,
    /// Position within its submitted graph (depth-first order), a priority tie-break.
    #[prost(uint64, tag = "7")]
    pub order: u64,
    /// Set for a SQL stage task: the stage fragment to run instead of a function. Its
    /// key arguments are the producer tasks it reads, which the worker does not fetch
    /// up front: the fragment's shuffle readers stream them.
    #[prost(message, optional, tag = "8")]
    pub stage: Option<StageSpec>,
}

/// One partition of one stage of a SQL query.
#[derive(Clone, PartialEq, prost::Message)]
pub struct StageSpec {
    /// The stage fragment: a DataFusion physical plan as datafusion-proto bytes.
    #[prost(bytes = "bytes", tag = "1")]
    pub plan: bytes::Bytes,
    /// The partition of the fragment this task runs.
    #[prost(uint32, tag = "2")]
    pub partition: u32,
    /// The query's id, for logs and the dashboard.
    #[prost(string, tag = "3")]
    pub query: String,
    /// Object stores the fragment reads or writes, for the worker to build.
    #[prost(message, repeated, tag = "4")]
    pub stores: Vec<StoreSpec>,
}

/// An object store a stage task needs: where it is and how to reach it.
#[derive(Clone, PartialEq, prost::Message)]
pub struct StoreSpec {
    /// The store, as a URL such as `s3://bucket`.
    #[prost(string, tag = "1")]
    pub url: String,
    /// Its options (`aws.region`, ...); the rest comes from the worker's environment.
    #[prost(map = "string, string", tag = "2")]
    pub options: HashMap<String, String>,
}

/// First message a worker sends on its exchange stream.
#[derive(Clone, PartialEq, prost::Message)]
pub struct WorkerHello {
    /// Human-readable name (defaults to the data address).
    #[prost(string, tag = "1")]
    pub name: String,
    /// `grpc://host:port` of the worker's Flight data plane.
    #[prost(string, tag = "2")]
    pub data_addr: String,
    /// Executor threads: how many tasks run at once.
    #[prost(uint32, tag = "3")]
    pub threads: u32,
    /// Memory limit of the result store in bytes.
    #[prost(uint64, tag = "4")]
    pub memory_limit_bytes: u64,
    /// Abstract resources this worker offers, e.g. `{"gpu": 2}`.
    #[prost(map = "string, double", tag = "5")]
    pub resources: HashMap<String, f64>,
    /// Operating-system process id, for operators.
    #[prost(uint32, tag = "6")]
    pub pid: u32,
    /// Results the worker still holds from an earlier registration (it lost its
    /// scheduler connection and reconnected): the scheduler takes back those still wanted
    /// and frees the rest, so nothing is recomputed that survived.
    #[prost(message, repeated, tag = "7")]
    pub held: Vec<TaskFinished>,
}

/// A task the worker finished, with what the scheduler needs to place its dependents.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TaskFinished {
    /// The task's key.
    #[prost(string, tag = "1")]
    pub key: String,
    /// Size of the result in the worker's store.
    #[prost(uint64, tag = "2")]
    pub nbytes: u64,
    /// Layout of the result.
    #[prost(enumeration = "ValueKind", tag = "3")]
    pub kind: i32,
    /// Time the function ran, in microseconds.
    #[prost(uint64, tag = "4")]
    pub compute_us: u64,
    /// When it started, microseconds since the Unix epoch.
    #[prost(uint64, tag = "5")]
    pub start_unix_us: u64,
    /// Rows in the result, for results made of Arrow batches; 0 otherwise.
    #[prost(uint64, tag = "6")]
    pub rows: u64,
}

/// One finished run of a task, as the scheduler's task history keeps it.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TaskRun {
    /// The task's key.
    #[prost(string, tag = "1")]
    pub key: String,
    /// Name of the worker that ran it.
    #[prost(string, tag = "2")]
    pub worker: String,
    /// When it started, microseconds since the Unix epoch.
    #[prost(uint64, tag = "3")]
    pub start_unix_us: u64,
    /// How long it ran, in microseconds.
    #[prost(uint64, tag = "4")]
    pub compute_us: u64,
    /// Size of its result.
    #[prost(uint64, tag = "5")]
    pub nbytes: u64,
    /// Rows in its result, for results made of Arrow batches.
    #[prost(uint64, tag = "6")]
    pub rows: u64,
}

/// Asks for the recent runs of the tasks whose keys start with `prefix`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TaskHistoryRequest {
    /// Key prefix; empty for every task.
    #[prost(string, tag = "1")]
    pub prefix: String,
}

/// Recent task runs, oldest first.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TaskHistory {
    /// The runs.
    #[prost(message, repeated, tag = "1")]
    pub runs: Vec<TaskRun>,
}

/// Why a run of a task failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, prost::Enumeration)]
#[repr(i32)]
pub enum FailureKind {
    /// The function panicked or returned an error.
    Raised = 0,
    /// No function of that name is registered in the worker's binary.
    UnknownFunction = 1,
    /// An argument did not decode as the type the function takes.
    BadArgument = 2,
    /// The task was running on too many workers that died.
    KilledWorker = 3,
    /// A dependency failed, so this task cannot run.
    DependencyFailed = 4,
    /// Something inside Dusk went wrong: a bug.
    Internal = 5,
    /// The result was lost with its worker and has no lineage to recompute it (scattered data).
    Lost = 6,
    /// The task depends on a key the scheduler does not know.
    UnknownDependency = 7,
    /// No live worker could run it for longer than the scheduler's no-workers timeout.
    NoWorkers = 8,
}

/// A failed run of a task.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TaskFailed {
    /// The task's key.
    #[prost(string, tag = "1")]
    pub key: String,
    /// What happened.
    #[prost(enumeration = "FailureKind", tag = "2")]
    pub kind: i32,
    /// The message: panic text, error display, decoder complaint.
    #[prost(string, tag = "3")]
    pub message: String,
    /// Name or address of the worker where it happened.
    #[prost(string, tag = "4")]
    pub worker: String,
    /// The function that was called.
    #[prost(string, tag = "5")]
    pub function: String,
    /// When a dependency's failure is passed on: the key that failed first.
    #[prost(string, tag = "6")]
    pub cause_key: String,
}

/// A dependency the worker could not fetch from the peer the scheduler named.
#[derive(Clone, PartialEq, prost::Message)]
pub struct FetchFailed {
    /// The task that needed the dependency.
    #[prost(string, tag = "1")]
    pub key: String,
    /// The dependency.
    #[prost(string, tag = "2")]
    pub dep: String,
    /// Data address of the peer that failed to serve it.
    #[prost(string, tag = "3")]
    pub peer: String,
    /// What went wrong.
    #[prost(string, tag = "4")]
    pub message: String,
}

/// A worker's memory and load, sent with every update and at least once per heartbeat.
#[derive(Clone, PartialEq, prost::Message)]
pub struct WorkerMetrics {
    /// Bytes of results held in memory.
    #[prost(uint64, tag = "1")]
    pub managed_bytes: u64,
    /// Bytes of results spilled to disk.
    #[prost(uint64, tag = "2")]
    pub spilled_bytes: u64,
    /// Resident set size of the process.
    #[prost(uint64, tag = "3")]
    pub rss_bytes: u64,
    /// Tasks running now.
    #[prost(uint32, tag = "4")]
    pub executing: u32,
    /// Tasks assigned and not yet running.
    #[prost(uint32, tag = "5")]
    pub waiting: u32,
    /// True while the worker takes no new tasks because memory is above its pause threshold.
    #[prost(bool, tag = "6")]
    pub paused: bool,
    /// Bytes of inputs fetched from peers since the worker started.
    #[prost(uint64, tag = "7")]
    pub fetched_bytes: u64,
    /// CPU the process used since the previous heartbeat, in percent of one core.
    #[prost(float, tag = "8")]
    pub cpu_percent: f32,
}

/// Worker → scheduler batch.
#[derive(Clone, PartialEq, prost::Message)]
pub struct WorkerUpdate {
    /// Present only in the first frame.
    #[prost(message, optional, tag = "1")]
    pub hello: Option<WorkerHello>,
    /// Tasks finished since the last frame.
    #[prost(message, repeated, tag = "2")]
    pub finished: Vec<TaskFinished>,
    /// Tasks failed since the last frame.
    #[prost(message, repeated, tag = "3")]
    pub failed: Vec<TaskFailed>,
    /// Dependencies that could not be fetched.
    #[prost(message, repeated, tag = "4")]
    pub fetch_failed: Vec<FetchFailed>,
    /// Keys given up in answer to a steal request (they had not started).
    #[prost(string, repeated, tag = "5")]
    pub stolen: Vec<String>,
    /// Keys of a steal request that had already started and stay here.
    #[prost(string, repeated, tag = "6")]
    pub steal_refused: Vec<String>,
    /// Keys this worker now holds a copy of, fetched from a peer.
    #[prost(string, repeated, tag = "7")]
    pub replicas: Vec<String>,
    /// Memory and load.
    #[prost(message, optional, tag = "8")]
    pub metrics: Option<WorkerMetrics>,
    /// Query result partitions this worker streamed in full to a Flight SQL client
    /// holding a signed ticket, so the scheduler can release them once all are read.
    #[prost(string, repeated, tag = "9")]
    pub served: Vec<String>,
    /// The worker asks to leave (SIGTERM, or told to retire): it takes no new tasks,
    /// and once its results that are still wanted have copies on peers the scheduler tells
    /// it to shut down.
    #[prost(bool, tag = "10")]
    pub retiring: bool,
}

/// Where a task's result lives: a dependency a worker fetches, a copy to acquire, a
/// result a client waits for.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ResultLocation {
    /// The dependency's key.
    #[prost(string, tag = "1")]
    pub key: String,
    /// Data addresses of the workers holding it.
    #[prost(string, repeated, tag = "2")]
    pub addrs: Vec<String>,
    /// Its size in bytes.
    #[prost(uint64, tag = "3")]
    pub nbytes: u64,
    /// Its layout.
    #[prost(enumeration = "ValueKind", tag = "4")]
    pub kind: i32,
}

/// A task to run, with where to find its inputs.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Assignment {
    /// The task.
    #[prost(message, optional, tag = "1")]
    pub task: Option<TaskSpec>,
    /// Locations of its dependencies.
    #[prost(message, repeated, tag = "2")]
    pub deps: Vec<ResultLocation>,
    /// The scheduler's submission generation, a priority tie-break after the user's.
    #[prost(uint64, tag = "3")]
    pub generation: u64,
}

/// Scheduler → worker batch.
#[derive(Clone, PartialEq, prost::Message)]
pub struct WorkerInstructions {
    /// Present only in the first frame: the id the scheduler gave this worker.
    #[prost(uint64, optional, tag = "1")]
    pub welcome: Option<u64>,
    /// Tasks to run.
    #[prost(message, repeated, tag = "2")]
    pub compute: Vec<Assignment>,
    /// Results to drop from the store.
    #[prost(string, repeated, tag = "3")]
    pub free: Vec<String>,
    /// Assigned tasks to drop; a running one finishes but its result is discarded.
    #[prost(string, repeated, tag = "4")]
    pub cancel: Vec<String>,
    /// Assigned tasks to give back if they have not started.
    #[prost(string, repeated, tag = "5")]
    pub steal: Vec<String>,
    /// Stop serving and exit.
    #[prost(bool, tag = "6")]
    pub shutdown: bool,
    /// Present only in the first frame: the key result tickets are signed with (see
    /// [`crate::ticket`]), so the worker serves Flight SQL clients what the scheduler
    /// issued and nothing else.
    #[prost(bytes = "bytes", tag = "7")]
    pub ticket_key: bytes::Bytes,
    /// Results to copy from the peers holding them and keep (a retiring worker's results
    /// moving before it leaves); each copy is reported as a replica.
    #[prost(message, repeated, tag = "8")]
    pub acquire: Vec<ResultLocation>,
    /// Set when this worker asked to retire: whether the scheduler started its drain.
    #[prost(bool, tag = "9")]
    pub retire_started: bool,
}

/// First message a client sends on its exchange stream.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ClientHello {
    /// Human-readable name.
    #[prost(string, tag = "1")]
    pub name: String,
}

/// Data a client placed on a worker with `DoPut`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Scattered {
    /// The key it is stored under.
    #[prost(string, tag = "1")]
    pub key: String,
    /// Data address of the worker holding it.
    #[prost(string, tag = "2")]
    pub worker_addr: String,
    /// Its size.
    #[prost(uint64, tag = "3")]
    pub nbytes: u64,
    /// Its layout.
    #[prost(enumeration = "ValueKind", tag = "4")]
    pub kind: i32,
}

/// Client → scheduler batch.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ClientUpdate {
    /// Present only in the first frame.
    #[prost(message, optional, tag = "1")]
    pub hello: Option<ClientHello>,
    /// New tasks (a key already known is not run again).
    #[prost(message, repeated, tag = "2")]
    pub submit: Vec<TaskSpec>,
    /// Keys this client holds futures for: keep their results and report on them.
    #[prost(string, repeated, tag = "3")]
    pub want: Vec<String>,
    /// Keys this client no longer holds futures for.
    #[prost(string, repeated, tag = "4")]
    pub release: Vec<String>,
    /// Keys to cancel, with every task that depends on them.
    #[prost(string, repeated, tag = "5")]
    pub cancel: Vec<String>,
    /// Data scattered to workers.
    #[prost(message, repeated, tag = "6")]
    pub scattered: Vec<Scattered>,
    /// Keys to run to completion even when no client wants them.
    #[prost(string, repeated, tag = "7")]
    pub fire_and_forget: Vec<String>,
}

/// Scheduler → client batch.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ClientEvents {
    /// Present only in the first frame: the id the scheduler gave this client.
    #[prost(uint64, optional, tag = "1")]
    pub welcome: Option<u64>,
    /// Keys now in memory.
    #[prost(message, repeated, tag = "2")]
    pub ready: Vec<ResultLocation>,
    /// Keys that failed for good.
    #[prost(message, repeated, tag = "3")]
    pub failed: Vec<TaskFailed>,
    /// Keys cancelled.
    #[prost(string, repeated, tag = "4")]
    pub cancelled: Vec<String>,
    /// Keys whose result was lost with a worker and is being recomputed.
    #[prost(string, repeated, tag = "5")]
    pub lost: Vec<String>,
}

/// Ticket of a worker's `DoGet`: the results to stream back.
///
/// Several byte-valued keys share one stream (schema of [`crate::chunks`]); a key holding
/// record batches is fetched alone and streams with its own schema, as does one bucket of
/// a shuffle output.
#[derive(Clone, PartialEq, prost::Message)]
pub struct FetchTicket {
    /// Keys to fetch.
    #[prost(string, repeated, tag = "1")]
    pub keys: Vec<String>,
    /// For a key holding buckets (a shuffle writer's output): the one bucket to stream.
    #[prost(uint32, optional, tag = "2")]
    pub bucket: Option<u32>,
}

/// `dusk.publish` request.
#[derive(Clone, PartialEq, prost::Message)]
pub struct PublishRequest {
    /// Dataset name.
    #[prost(string, tag = "1")]
    pub name: String,
    /// Keys it holds on to.
    #[prost(string, repeated, tag = "2")]
    pub keys: Vec<String>,
    /// Replace an existing dataset of the same name instead of failing.
    #[prost(bool, tag = "3")]
    pub overwrite: bool,
}

/// `dusk.unpublish` / `dusk.get_dataset` request.
#[derive(Clone, PartialEq, prost::Message)]
pub struct DatasetName {
    /// Dataset name.
    #[prost(string, tag = "1")]
    pub name: String,
    /// For `get_dataset`: the asking client, which then wants the keys.
    #[prost(uint64, tag = "2")]
    pub client_id: u64,
}

/// `dusk.get_dataset` response.
#[derive(Clone, PartialEq, prost::Message)]
pub struct DatasetKeys {
    /// The keys of the dataset.
    #[prost(string, repeated, tag = "1")]
    pub keys: Vec<String>,
}

/// `dusk.list_datasets` response.
#[derive(Clone, PartialEq, prost::Message)]
pub struct DatasetList {
    /// Names, sorted.
    #[prost(string, repeated, tag = "1")]
    pub names: Vec<String>,
}

/// `dusk.scatter_targets` request.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ScatterTargetRequest {
    /// How many values will be scattered.
    #[prost(uint32, tag = "1")]
    pub count: u32,
}

/// `dusk.scatter_targets` response: one data address per value, round-robin over workers.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ScatterTargets {
    /// Data addresses.
    #[prost(string, repeated, tag = "1")]
    pub addrs: Vec<String>,
}

/// One worker in a [`ClusterInfo`].
#[derive(Clone, PartialEq, prost::Message)]
pub struct WorkerInfo {
    /// The scheduler's id for it.
    #[prost(uint64, tag = "1")]
    pub id: u64,
    /// Name.
    #[prost(string, tag = "2")]
    pub name: String,
    /// Data address.
    #[prost(string, tag = "3")]
    pub data_addr: String,
    /// Threads.
    #[prost(uint32, tag = "4")]
    pub threads: u32,
    /// Tasks assigned to it.
    #[prost(uint32, tag = "5")]
    pub processing: u32,
    /// Results it holds.
    #[prost(uint32, tag = "6")]
    pub holding: u32,
    /// Latest metrics.
    #[prost(message, optional, tag = "7")]
    pub metrics: Option<WorkerMetrics>,
    /// Memory limit.
    #[prost(uint64, tag = "8")]
    pub memory_limit_bytes: u64,
    /// Operating-system process id.
    #[prost(uint32, tag = "9")]
    pub pid: u32,
}

/// `dusk.cluster_info` response.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ClusterInfo {
    /// Live workers by id.
    #[prost(message, repeated, tag = "1")]
    pub workers: Vec<WorkerInfo>,
    /// Number of tasks in each state, by state name.
    #[prost(map = "string, uint64", tag = "2")]
    pub tasks_by_state: HashMap<String, u64>,
    /// Transitions made since start.
    #[prost(uint64, tag = "3")]
    pub transitions: u64,
}
