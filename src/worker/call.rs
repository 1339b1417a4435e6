//! Running one registered-function task: resolve its arguments, call, catch panics.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Instant;

use bytes::Bytes;
use dusk_flight::messages::{FailureKind, TaskFailed, TaskSpec, arg};

use super::result_store::ResultStore;
use crate::functions::{CallError, Callable, FunctionRegistry};
use crate::graph::Value;

/// A successful run: the result and when and how long the function ran.
#[derive(Debug)]
pub(crate) struct Ran {
    pub(crate) value: Value,
    pub(crate) compute_us: u64,
    pub(crate) start_unix_us: u64,
}

/// Runs the call `spec` describes; its inputs must be in `store`.
pub(crate) async fn run_call(
    store: &ResultStore,
    registry: &FunctionRegistry,
    spec: &TaskSpec,
    worker: &str,
) -> Result<Ran, TaskFailed> {
    let fail = |kind: FailureKind, message: String| TaskFailed {
        key: spec.key.clone(),
        kind: kind as i32,
        message,
        worker: worker.to_string(),
        function: spec.function.clone(),
        cause_key: String::new(),
    };
    let Some(function) = registry.get(&spec.function) else {
        return Err(fail(
            FailureKind::UnknownFunction,
            format!(
                "no function named {:?} is registered in this worker's binary (it has {} functions)",
                spec.function,
                registry.names().len()
            ),
        ));
    };
    let mut args: Vec<Value> = Vec::with_capacity(spec.args.len());
    for a in &spec.args {
        match &a.value {
            Some(arg::Value::Literal(b)) => args.push(Value::Bytes(b.clone())),
            Some(arg::Value::Key(key)) => match store.get(key).await {
                Ok(Some(value)) => args.push(value),
                Ok(None) => {
                    return Err(fail(
                        FailureKind::Internal,
                        format!("input {key} is not in this worker's store"),
                    ));
                }
                Err(e) => {
                    return Err(fail(FailureKind::Internal, dusk_flight::envelope::error_chain(&e)));
                }
            },
            None => args.push(Value::Bytes(Bytes::new())),
        }
    }
    let call: Box<dyn FnOnce() -> Result<Value, CallError>> = match function {
        Callable::Element(_) => {
            return Err(fail(
                FailureKind::BadArgument,
                format!(
                    "{} is a bag function (bag_fn!): bags call it on their elements; it is not a task",
                    spec.function
                ),
            ));
        }
        Callable::Values(f) => Box::new(move || f(&args)),
        Callable::Serde(f) => {
            let mut raw: Vec<Bytes> = Vec::with_capacity(args.len());
            for (a, value) in spec.args.iter().zip(args) {
                match value {
                    Value::Bytes(b) => raw.push(b),
                    Value::Batches(_) | Value::Buckets(_) => {
                        let key = match &a.value {
                            Some(arg::Value::Key(key)) => key.as_str(),
                            _ => "",
                        };
                        return Err(fail(
                            FailureKind::BadArgument,
                            format!("input {key} is Arrow data, but {} takes serde values", spec.function),
                        ));
                    }
                }
            }
            Box::new(move || f(&raw).map(Value::Bytes))
        }
    };
    let start_unix_us = dusk_flight::clock::now_unix_us();
    let started = Instant::now();
    let outcome = catch_unwind(AssertUnwindSafe(call));
    let compute_us = started.elapsed().as_micros() as u64;
    match outcome {
        Ok(Ok(value)) => Ok(Ran { value, compute_us, start_unix_us }),
        Ok(Err(e @ (CallError::BadArgument { .. } | CallError::ArgumentCount { .. }))) => {
            Err(fail(FailureKind::BadArgument, e.to_string()))
        }
        Ok(Err(e)) => Err(fail(FailureKind::Raised, e.to_string())),
        Err(payload) => Err(fail(FailureKind::Raised, format!("panicked: {}", panic_message(&*payload)))),
    }
}

/// The text of a panic payload.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic with a non-text payload".to_string()
    }
}
