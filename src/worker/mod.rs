//! The worker: runs tasks, holds their results, serves them to peers and clients.
//!
//! A worker registers with the scheduler over one `DoExchange` stream and serves its own
//! Flight data plane. Its parts:
//!
//! - [`start`]: binds the data plane and makes the first registration.
//! - [`session`]: serves the scheduler's stream, and registers again (keeping results and
//!   data plane) when it breaks; retiring.
//! - [`event_loop`]: the task table; turns scheduler instructions into executor jobs and
//!   peer fetches, and results into reports.
//! - [`executor`]: the CPU threads, apart from the I/O reactor.
//! - [`result_store`] and [`spill`]: results with byte accounting; least-recently-used
//!   results spill to Arrow IPC files at 60 % of the memory limit and come back on use;
//!   at 80 % the worker stops starting tasks.
//! - [`data_plane`]: `DoGet` of results and `DoPut` of scattered data.
//!
//! Shutdown order: the session ends (told to stop, retired, told to shut down, or the
//! scheduler stayed away past the reconnect timeout), then the data plane stops
//! serving, then results and spill files are dropped.

mod call;
mod data_plane;
mod error;
mod event_loop;
mod executor;
mod handle;
mod result_store;
mod session;
mod spill;
mod stage;
mod start;

pub(crate) use call::panic_message;
pub use error::{SpillFileError, WorkerError};
pub use handle::{WorkerExit, WorkerHandle, WorkerStopper};
pub use start::Worker;
