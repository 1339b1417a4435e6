//! Registered functions: the code tasks run.
//!
//! A task names a function; the worker looks the name up in one table built at compile
//! time from every [`task!`](crate::task), [`bag_fn!`](crate::bag_fn) and collection
//! kernel (arrays, bags) in the binary (the `inventory` crate collects them at link
//! time, so there is no start-up registration code and no global mutable state). Workers run the same binary as the client that submits, so a user who adds
//! functions builds their own `dusk` binary with one `dusk::main()` call.
//!
//! Arguments and results are serde-encoded with postcard, one encoding per argument, so
//! an argument can be an inline value or another task's result without re-encoding.

pub mod builtins;
mod registry;

pub use registry::{
    CallError, CallFn, Callable, ElementFn, FunctionRegistry, Registration, TaskFunction, ValuesFn,
};

#[doc(hidden)]
pub mod __private {
    pub use inventory;

    pub use super::registry::{check_arity, decode_arg, encode_result};
}
