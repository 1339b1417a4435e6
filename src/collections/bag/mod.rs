//! Bags: unordered collections of any serde values, Dask's `dask.bag`.
//!
//! A [`Bag<T>`] is a list of partitions, each computed by a task and held by a worker
//! as a JSON array, so records of any shape (`serde_json::Value`) work as well as Rust
//! types. User code is registered with [`bag_fn!`](crate::bag_fn). `map`, `filter`,
//! `flat_map` and `map_partitions` are lazy and fuse: a chain of them is one task per
//! partition. Aggregations (`count`, `fold`, `frequencies`, `topk`, `distinct`,
//! `foldby`, …) run a partial per partition, fused with its chain, and merge the partials
//! in a tree. `groupby` shuffles through the workers. `to_dataframe` turns JSON records
//! into a table SQL can query.
//!
//! ```no_run
//! # async fn demo(client: &dusk::Client) -> Result<(), dusk::bag::BagError> {
//! use dusk::bag::{self, Bag};
//!
//! dusk::bag_fn! {
//!     fn parse(line: String) -> serde_json::Value { serde_json::from_str(&line).unwrap_or_default() }
//! }
//! let records = bag::read_text("/var/log/app/*.jsonl.gz")?.map(parse);
//! let rows = records.to_dataframe(client, "app_log").await?;
//! let top = client.sql("SELECT level, count(*) FROM app_log GROUP BY level").await;
//! # let _ = (rows, top); Ok(()) }
//! ```

mod collection;
mod error;
mod functions;
mod kernels;
mod text;

pub use collection::{Bag, from_sequence, read_text, read_text_store};
pub use error::BagError;
pub use functions::{BagFunction, ElementCall};

#[doc(hidden)]
pub mod __private {
    pub use super::functions::{decode_arg, encode_result};
}
