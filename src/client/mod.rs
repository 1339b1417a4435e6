//! The Rust client: Dask's futures API over a Dusk cluster.
//!
//! A [`Client`] holds one session with the scheduler. `submit` and `map` send calls of
//! registered functions and return [`Future`]s at once; futures can be arguments of
//! further calls, so chains of work never pass through the client. `gather` fetches
//! results straight from the workers holding them. Dropping every clone of a future lets
//! the cluster free its result. [`Client::sql`] runs SQL on the cluster; [`Client::session`] gives a DataFusion
//! session whose `DataFrame`s run there.

mod args;
mod dataframe;
mod error;
mod future;
mod gather;
mod graph_builder;
mod handle;
mod key_table;
mod options;
mod session;
mod sql;

pub use args::{ArgSource, IntoArg, IntoArgs};
pub use error::ClientError;
pub use future::{Future, KeyRef};
pub(crate) use graph_builder::call_key;
pub use handle::Client;
pub use options::SubmitOptions;
pub use sql::SqlOutput;
