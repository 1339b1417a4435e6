//! TPC-H: sample data for `dusk local`, `dusk gen tpch`, the tests and the benches.
//!
//! [`generate`] writes the eight tables as Parquet with the `tpchgen` generators, one
//! directory per table (`<dir>/lineitem/part-0.parquet`, ...); [`create_tables`] gives the
//! `CREATE EXTERNAL TABLE` statements that register them; [`QUERIES`] holds the 22
//! queries. Each is the standard text with the validation parameters, except that the
//! queries with a `LIMIT` order by enough columns to make the answer unique, so runs can
//! be compared row for row.

mod generate;
mod queries;
mod results;

pub use generate::{TpchError, create_tables, generate, is_generated};
pub use queries::QUERIES;
pub use results::{format_cells, result_rows};

/// The eight TPC-H tables.
pub const TABLES: [&str; 8] =
    ["nation", "region", "part", "supplier", "partsupp", "customer", "orders", "lineitem"];
