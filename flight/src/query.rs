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
