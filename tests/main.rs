//! End-to-end tests: real schedulers and workers on loopback ports, real gRPC/Flight.
//!
//! One test binary (see `Cargo.toml`): each module is one area.

mod array;
mod bag;
mod chaos;
mod cli;
mod cluster;
mod dashboard;
mod dataframe;
mod delayed;
mod failures;
mod flight_sql;
mod membership;
mod memory;
mod multihost;
mod netns;
mod plain_flight_sql;
mod process;
mod python;
mod repl;
mod s3;
mod security;
mod slt;
mod sql;
mod support;
mod webdriver;
mod wire;
