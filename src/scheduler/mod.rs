//! The scheduler: decides where and when every task runs.
//!
//! One event loop ([`event_loop`]) owns the whole [`state`]: workers' and clients'
//! connections ([`service`]) turn frames into events and the loop applies them one by one,
//! so the state needs no locks and every event is atomic. Task states move only through
//! the transition function ([`transitions`]); [`placement`] picks workers, [`stealing`]
//! rebalances, [`membership`] handles workers joining, rejoining, retiring and leaving,
//! and [`validate`] checks the invariants in tests. SQL statements are planned
//! by the [`query`] engine, which submits their stages as tasks like any client.
//!
//! ```no_run
//! # async fn run() -> Result<(), dusk::scheduler::SchedulerError> {
//! use dusk::scheduler::Scheduler;
//! let scheduler = Scheduler::bind("127.0.0.1:8786", Default::default()).await?;
//! println!("serving on {}", scheduler.url());
//! scheduler.wait().await;
//! # Ok(())
//! # }
//! ```

mod error;
pub(crate) mod event_loop;
mod flight_sql;
pub(crate) mod groups;
pub(crate) mod history;
pub(crate) mod membership;
mod outbox;
mod placement;
pub(crate) mod query;
pub(crate) mod records;
mod service;
pub(crate) mod state;
mod stealing;
pub(crate) mod traffic;
mod transitions;
mod validate;

pub use error::SchedulerError;
pub use records::TaskState;
pub use service::{Scheduler, SchedulerHandle};

#[cfg(test)]
mod tests;
