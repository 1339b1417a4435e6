//! Dusk's distributed planning: DataFusion physical plans cut into stage graphs.
//!
//! The scheduler plans a query with DataFusion, then [`split`]s the physical plan into
//! [`Stage`]s where data must move between tasks. Each stage partition runs as one task
//! on a worker: the fragment travels as datafusion-proto bytes ([`encode_plan`],
//! [`decode_plan`], with [`DuskCodec`] for Dusk's own operators). A producing stage ends in
//! a [`ShuffleWriterExec`] whose buckets the worker keeps in its result store; a consuming
//! stage starts with a [`ShuffleReaderExec`] that reads them through the
//! [`ShuffleSource`] the worker provides.
//!
//! Clients with a DataFusion session of their own send logical plans instead of SQL
//! ([`encode_logical_plan`], with [`DuskLogicalCodec`]); the scheduler puts the catalog's
//! tables and cached results in place ([`resolve_catalog_tables`], [`CachedTable`]).
#![warn(missing_docs, unreachable_pub, missing_debug_implementations)]
#![cfg_attr(not(test), warn(clippy::unwrap_used))]

mod cluster_tables;
mod codec;
mod join_rule;
mod logical_codec;
mod session;
mod shuffle_reader;
mod shuffle_writer;
mod source;
mod stage;
mod tasks;
mod yielding;

pub use cluster_tables::{CACHED_STAGE, CachedTable, resolve_catalog_tables};
pub use codec::{DuskCodec, DuskNode, ReaderNode, WriterNode, decode_plan, dusk_node, encode_plan};
pub use datafusion;
pub use join_rule::{PartitionBuildSideJoins, physical_optimizer_rules};
pub use logical_codec::{
    CatalogTable, ClusterCache, DuskLogicalCodec, FileFormatKind, FileFormatNode, LogicalNode, MemoryNode,
    cache_id, decode_logical_plan, encode_logical_plan, logical_node,
};
pub use session::base_config;
pub use shuffle_reader::{ReadMode, ShuffleReaderExec};
pub use shuffle_writer::{ShuffleWriterExec, shrink};
pub use source::{InputUnavailable, ShuffleInputs, ShuffleSource};
pub use stage::{Stage, StageGraph, query_prefix, split, task_key};
pub use tasks::{runs_on_workers, stage_tasks};
pub use yielding::{YieldExec, yield_between_batches};

/// The DataFusion version Dusk plans with.
pub const DATAFUSION_VERSION: &str = datafusion::DATAFUSION_VERSION;

#[cfg(test)]
mod tests;
