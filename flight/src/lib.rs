//! The wire between Dusk's processes.
//!
//! Every process in a Dusk cluster speaks Arrow Flight. This crate holds what crosses
//! the wire and nothing else:
//!
//! - [`messages`]: the control messages exchanged between clients, the scheduler and
//!   workers, as Rust structs with `prost::Message` derives (no `protoc` needed).
//! - [`envelope`]: how a control message rides in a `FlightData` frame of a long-lived
//!   `DoExchange` stream, and in `DoAction` bodies.
//! - [`chunks`]: how opaque byte values travel as Arrow data (one binary column, split
//!   into bounded chunks so no gRPC message grows past a few MiB).
//! - [`actions`]: the names of the scheduler's and workers' `DoAction` calls.
//! - [`query`]: the SQL actions' requests and answers.
//! - [`ticket`]: result tickets the scheduler signs for Flight SQL clients and workers
//!   check before serving.
//! - [`results`]: result batches stamped with the schema a Flight SQL client was told.
//! - [`clock`]: wall-clock time as messages carry it.
//!
//! ```
//! use dusk_flight::messages::FetchTicket;
//! use dusk_flight::envelope::{decode_message, encode_message};
//!
//! let ticket = FetchTicket { keys: vec!["inc-1".into(), "inc-2".into()], bucket: None };
//! let bytes = encode_message(&ticket);
//! let back: FetchTicket = decode_message(&bytes, "fetch ticket").unwrap();
//! assert_eq!(back, ticket);
//! ```
#![warn(missing_docs, unreachable_pub, missing_debug_implementations)]
#![cfg_attr(not(test), warn(clippy::unwrap_used))]

pub mod actions;
pub mod chunks;
pub mod clock;
pub mod envelope;
mod error;
pub mod messages;
pub mod query;
pub mod results;
pub mod ticket;

pub use error::WireError;
