//! The task model: what the cluster runs.
//!
//! Everything a Dusk cluster does is a [`Task`]: a registered function call from the
//! futures, delayed, array and bag APIs, or data a client scattered. A task has a unique
//! [`TaskKey`], the keys of the tasks it depends on, a [`Priority`] and the
//! [`Resources`] it holds while it runs. Its result is a [`Value`].

mod key;
mod priority;
mod resources;
mod task;
mod value;

pub use key::TaskKey;
pub use priority::Priority;
pub use resources::Resources;
pub use task::{Arg, Task, TaskKind};
pub use value::Value;

/// Maps and sets keyed by task key, with a fast hasher (foldhash, randomly seeded per
/// process): the scheduler hashes each key a dozen times per task, and SipHash was a
/// tenth of its time.
pub(crate) type KeyMap<V> = std::collections::HashMap<TaskKey, V, foldhash::fast::RandomState>;
/// See [`KeyMap`].
pub(crate) type KeySet = std::collections::HashSet<TaskKey, foldhash::fast::RandomState>;
