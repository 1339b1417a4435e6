//! Messages of the scheduler's SQL actions (see [`crate::actions::SQL`]).
//!
//! A query's result stays on the workers that computed it: the answer lists one
//! [`ResultPartition`] per final partition, in order, and the client streams each from a
//! worker holding it, then closes the query so the workers drop it. Results the scheduler
//! computed itself (DDL, catalog queries, plans that read no files) come inline.

/// `dusk.sql` request.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SqlRequest {
    /// One SQL statement.
    #[prost(string, tag = "1")]
    pub sql: String,
    /// A DataFusion logical plan as datafusion-proto bytes (with Dusk's logical codec),
    /// run instead of `sql` when set: what a client's own DataFusion session planned.
    #[prost(bytes = "bytes", tag = "2")]
    pub plan: bytes::Bytes,
}

/// Where one final partition of a query's result is held.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ResultPartition {
    /// Key of the task holding it.
    #[prost(string, tag = "1")]
    pub key: String,
    /// Data-plane addresses of the workers holding it.
    #[prost(string, repeated, tag = "2")]
    pub addrs: Vec<String>,
    /// Bytes it holds.
    #[prost(uint64, tag = "3")]
    pub nbytes: u64,
}

/// `dusk.sql` answer.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SqlResult {
    /// The query's id; close it with `dusk.sql_close` once the result is read.
    #[prost(string, tag = "1")]
    pub query: String,
    /// An Arrow IPC stream: the result's schema, then any rows computed on the scheduler.
    #[prost(bytes = "bytes", tag = "2")]
    pub inline: bytes::Bytes,
    /// The final partitions held by workers, in result order.
    #[prost(message, repeated, tag = "3")]
    pub partitions: Vec<ResultPartition>,
}

/// `dusk.sql_close` request.
#[derive(Clone, PartialEq, prost::Message)]
pub struct QueryId {
    /// The query's id.
    #[prost(string, tag = "1")]
    pub query: String,
}

/// `dusk.sql_uncache` request: cached results to drop from the workers.
#[derive(Clone, PartialEq, prost::Message)]
pub struct UncacheRequest {
    /// Ids of the cache points whose results to drop.
    #[prost(uint64, repeated, tag = "1")]
    pub ids: Vec<u64>,
}

/// `dusk.query_progress` answer: every SQL query running on the workers.
#[derive(Clone, PartialEq, prost::Message)]
pub struct QueryProgress {
    /// Oldest first.
    #[prost(message, repeated, tag = "1")]
    pub queries: Vec<RunningQuery>,
}

/// How far one running query is.
#[derive(Clone, PartialEq, prost::Message)]
pub struct RunningQuery {
    /// The query's id (`q<epoch>.<n>`).
    #[prost(string, tag = "1")]
    pub query: String,
    /// Since its stages were submitted.
    #[prost(uint64, tag = "2")]
    pub elapsed_ms: u64,
    /// Stages in its graph.
    #[prost(uint32, tag = "3")]
    pub stages: u32,
    /// Stages whose every task has finished.
    #[prost(uint32, tag = "4")]
    pub stages_done: u32,
    /// Tasks in its graph.
    #[prost(uint64, tag = "5")]
    pub tasks: u64,
    /// Tasks that have finished.
    #[prost(uint64, tag = "6")]
    pub tasks_done: u64,
}

/// `dusk.stage_counts` request: key prefixes of stages (`sql-<query>/stage-<n>/`).
#[derive(Clone, PartialEq, prost::Message)]
pub struct StagePrefixes {
    /// The prefixes to count under.
    #[prost(string, repeated, tag = "1")]
    pub prefixes: Vec<String>,
}

/// `dusk.stage_counts` answer: tasks not yet finished (waiting, queued or processing)
/// under each prefix asked for.
#[derive(Clone, PartialEq, prost::Message)]
pub struct StageCounts {
    /// By prefix.
    #[prost(map = "string, uint64", tag = "1")]
    pub unfinished: std::collections::HashMap<String, u64>,
}

/// The stage prefix (`sql-<query>/stage-<n>/`) of a SQL task's key, `None` for other keys.
pub fn stage_prefix(key: &str) -> Option<&str> {
    if !key.starts_with("sql-") {
        return None;
    }
    key.rfind("/part-").map(|at| &key[..=at])
}
