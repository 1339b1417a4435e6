//! Collections built on tasks: lazy [`delayed`] graphs, chunked [`array`]s and [`bag`]s.

pub mod array;
pub mod bag;
pub mod delayed;

use std::sync::Arc;

use bytes::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::client::{ArgSource, SubmitOptions, call_key};
use crate::functions::CallError;
use crate::graph::{TaskKey, Value};
use delayed::Node;

/// A task calling a collection kernel `function` with `spec` (postcard-encoded) and
/// `inputs`; its key is `label` and a hash of the call, so equal calls share a task.
pub(crate) fn kernel_node<S: Serialize>(
    label: &str,
    function: &'static str,
    spec: &S,
    inputs: Vec<ArgSource>,
) -> Result<Arc<Node>, postcard::Error> {
    let mut args = Vec::with_capacity(inputs.len() + 1);
    args.push(ArgSource::Literal(Bytes::from(postcard::to_stdvec(spec)?)));
    args.extend(inputs);
    let options = SubmitOptions::default();
    let hashed = call_key(function, &args, &options);
    let hash = hashed.as_str().rsplit('-').next().unwrap_or_default();
    let key = TaskKey::from(format!("{label}-{hash}"));
    Ok(Arc::new(Node { key, function, args, options }))
}

/// A collection kernel's error from its own message.
pub(crate) fn raised(message: impl Into<String>) -> CallError {
    CallError::Raised(message.into())
}

/// Splits a collection kernel's arguments into its postcard-encoded spec (the first)
/// and its inputs.
pub(crate) fn kernel_spec<T: DeserializeOwned>(args: &[Value]) -> Result<(T, &[Value]), CallError> {
    let Some((Value::Bytes(first), rest)) = args.split_first() else {
        return Err(CallError::BadArgument { param: "spec", message: "missing or not a serde value".into() });
    };
    let spec = postcard::from_bytes(first)
        .map_err(|e| CallError::BadArgument { param: "spec", message: e.to_string() })?;
    Ok((spec, rest))
}
