//! Functions every `dusk` binary ships, for examples, tests and benches.
//!
//! They are small on purpose: they measure the engine, not the work. The `fault_*`
//! functions and `make_bytes` inject failures and load so tests can check that a
//! panicking task, a task that kills its worker and a task that overloads it are each
//! handled, even on process-mode clusters where a test cannot add functions of its own.
//! They exist only with the `fault-injection` feature, which the tests' own build
//! enables: the shipped binary cannot run them, so no client can crash a worker with
//! them.

use std::time::Duration;

use bytes::Bytes;

crate::task! {
    /// `x + 1`.
    pub fn inc(x: i64) -> i64 { x.wrapping_add(1) }
}

crate::task! {
    /// `x + y`.
    pub fn add(x: i64, y: i64) -> i64 { x.wrapping_add(y) }
}

crate::task! {
    /// `x * 2`.
    pub fn double(x: i64) -> i64 { x.wrapping_mul(2) }
}

crate::task! {
    /// The sum of a list.
    pub fn sum(xs: Vec<i64>) -> i64 { xs.iter().fold(0i64, |a, b| a.wrapping_add(*b)) }
}

crate::task! {
    /// Sleeps `ms` milliseconds, then returns `x + 1`: a task that takes a while.
    pub fn slow_inc(x: i64, ms: u64) -> i64 {
        std::thread::sleep(Duration::from_millis(ms));
        x.wrapping_add(1)
    }
}

#[cfg(feature = "fault-injection")]
crate::task! {
    /// `n` bytes, each `seed` plus its position (mod 256): a result of a chosen size.
    pub fn make_bytes(n: u64, seed: u8) -> Bytes {
        Bytes::from((0..n).map(|i| seed.wrapping_add(i as u8)).collect::<Vec<u8>>())
    }
}

crate::task! {
    /// The length of a byte value.
    pub fn byte_len(data: Bytes) -> u64 { data.len() as u64 }
}

#[cfg(feature = "fault-injection")]
crate::task! {
    /// Panics with `message`: a task that raises.
    pub fn fault_panic(message: String) -> i64 { panic!("{message}") }
}

#[cfg(feature = "fault-injection")]
crate::task! {
    /// Ends the worker process running it, at once (SIGKILL-like): a task that kills its worker.
    pub fn fault_exit_worker(x: i64) -> i64 {
        let _ = x;
        std::process::abort()
    }
}
