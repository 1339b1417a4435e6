//! The scheduler's SQL engine: plans statements with DataFusion and runs them as stages.
//!
//! One statement, step by step:
//!
//! 1. DataFusion parses and plans it against the catalog, with `target_partitions` = the
//!    cluster's executor threads. DDL (`CREATE EXTERNAL TABLE`, `CREATE VIEW`, `DROP`,
//!    ...) takes effect right there.
//! 2. A plan that reads no files (DDL, `SELECT 1`, `information_schema`) runs here on the
//!    scheduler: shipping it would cost more than running it, and its data lives here.
//! 3. Otherwise `dusk_sql::split` cuts the physical plan into stages; every stage
//!    partition becomes a task whose inputs are the tasks of the stages it reads, and the
//!    engine submits them all at once through its own client session ([`tracker`]) and
//!    waits for the final stage.
//! 4. The answer lists where each final partition is held; the client streams them from
//!    the workers and closes the query, which releases them. Intermediate shuffle
//!    outputs are released by the scheduler as soon as their readers are done.
//!
//! If the caller goes away before the query finishes (its request is dropped), the
//! query's tasks are cancelled.

mod analyze;
mod board;
mod caches;
mod catalog_log;
mod engine;
mod error;
mod ingest;
mod locations;
mod tables;
mod tracker;

pub(crate) use board::{DURATION_BUCKETS, QueryStats, QuerySummary};
pub(crate) use engine::QueryEngine;
pub(crate) use error::QueryError;
pub(crate) use ingest::{IfExists, IfMissing};
