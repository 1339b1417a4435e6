//! The scheduler's Flight SQL front end: what ADBC, JDBC, `pyarrow.flight` and BI tools
//! talk to on port 8786.
//!
//! A statement runs when the client asks for its `FlightInfo` (plain, or prepared and
//! bound); the answer lists where to read the rows ([`results`]). Catalog calls are
//! answered from the scheduler's catalog ([`metadata`], [`sql_info`]). Dusk's own calls
//! (the workers' and Rust clients' exchanges, `dusk.*` actions) share the port and pass
//! through to [`super::service`].
//!
//! Errors carry DataFusion's message (its `Display` text) with a gRPC code that says
//! whose fault it was: `InvalidArgument` for bad SQL, `NotFound` for an unknown handle,
//! `Unimplemented` for transactions.

mod dispatch;
mod login;
mod metadata;
mod placeholders;
mod prepared;
mod results;
mod service;
mod sql_info;
mod state;

pub(crate) use dispatch::SchedulerFlight;
pub(crate) use state::FlightSqlState;

/// The header a client sets to `proxy` to read every result through the scheduler, or
/// to `workers` to read results held by workers from them even when small.
pub(crate) const RESULTS_HEADER: &str = "x-dusk-results";
