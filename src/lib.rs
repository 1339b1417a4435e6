//! Dusk: a distributed query and task engine on Arrow.
//!
//! Dask's model, native in Rust: a [`Client`] hands work to a scheduler, which shards it
//! across workers; workers hold results in memory (spilling to Arrow IPC files), serve
//! them to each other over Arrow Flight, and run tasks on CPU threads apart from their
//! network reactor. Functions that tasks run are registered at compile time with
//! [`task!`]; every binary ships the [`builtins`].
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use dusk::builtins::{add, inc};
//! use dusk::testing::LocalCluster;
//!
//! let cluster = LocalCluster::start(2, 1).await?;          // scheduler + 2 workers
//! let client = cluster.client().await?;
//! let xs = client.map(inc, 0..1000i64)?;                   // 1,000 tasks
//! let ys: Vec<i64> = client.gather(&xs).await?;
//! assert_eq!(ys[999], 1000);
//!
//! let a = dusk::delayed(inc, (1i64,));
//! let b = dusk::delayed(add, (&a, &a));                    // a diamond: `a` runs once
//! assert_eq!(client.compute(&b).await?, 4);
//! # Ok(())
//! # }
//! ```
//!
//! Parts, each a module: [`graph`] (the task model), [`scheduler`], [`worker`],
//! [`client`], [`collections`], [`functions`], [`config`], [`testing`] (clusters for
//! tests), [`tpch`] (sample data and queries) and [`cli`] (the `dusk` command). SQL runs
//! through [`Client::sql`]; its distributed planning lives in the `dusk-sql` crate.
#![warn(missing_docs, unreachable_pub, missing_debug_implementations)]
#![cfg_attr(not(test), warn(clippy::unwrap_used))]

mod blocking;
pub mod cli;
pub mod client;
pub mod collections;
pub mod config;
pub mod dashboard;
mod data_client;
pub mod functions;
pub mod graph;
pub mod local;
mod net;
pub mod object_stores;
pub mod repl;
pub mod scheduler;
pub mod security;
pub mod testing;
pub mod tpch;
pub mod worker;

pub use cli::main;
pub use client::{Client, ClientError, Future, SqlOutput, SubmitOptions};
pub use collections::delayed::{Delayed, delayed, delayed_with};
pub use collections::{array, bag};
pub use data_client::TransferError;
pub use functions::builtins;
pub use net::ConnectError;
