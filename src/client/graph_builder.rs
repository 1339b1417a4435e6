//! Turning calls and delayed nodes into the task specs of one submission.
//!
//! Keys are deterministic for pure calls (function name + hash of the arguments, as
//! Dask's tokenize), so submitting the same work twice, or two outputs that share a
//! sub-graph, adds each task once. Nodes are walked without recursion: a delayed chain
//! of a million links must not overflow the stack.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use dusk_flight::messages::{Arg, TaskSpec, arg};

use super::args::ArgSource;
use super::future::KeyRef;
use super::{ClientError, SubmitOptions};
use crate::collections::delayed::Node;
use crate::graph::{KeySet, TaskKey};

/// Tells impure calls apart within this process.
static IMPURE_COUNTER: AtomicU64 = AtomicU64::new(0);

/// The key of a call.
pub(crate) fn call_key(function: &str, args: &[ArgSource], options: &SubmitOptions) -> TaskKey {
    if let Some(key) = &options.key {
        return TaskKey::from(key.as_str());
    }
    let mut h = DefaultHasher::new();
    function.hash(&mut h);
    for a in args {
        a.hash_into(&mut h);
    }
    if !options.pure {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        (now, std::process::id(), IMPURE_COUNTER.fetch_add(1, Ordering::Relaxed)).hash(&mut h);
    }
    TaskKey::from(format!("{function}-{:016x}", h.finish()))
}

/// Task specs of one submission, dependencies before dependents.
#[derive(Debug, Default)]
pub(crate) struct GraphBuilder<'a> {
    pub(crate) specs: Vec<TaskSpec>,
    /// When set, every task takes its priority, retries and resources from these
    /// options instead of its node's (a collection computed with
    /// [`Client::with_task_options`](crate::Client::with_task_options)).
    pub(crate) collection_options: Option<&'a SubmitOptions>,
    seen: KeySet,
    /// Futures used as arguments, kept alive until the submission is queued.
    pub(crate) holds: Vec<KeyRef>,
}

impl<'a> GraphBuilder<'a> {
    /// A builder giving every task the priority, retries and resources of `options`.
    pub(crate) fn for_collection(options: &'a SubmitOptions) -> Self {
        GraphBuilder { collection_options: Some(options), ..Default::default() }
    }

    /// Adds a call and the delayed nodes it reads; returns its key.
    pub(crate) fn add_call(
        &mut self,
        function: &str,
        args: &[ArgSource],
        options: &SubmitOptions,
    ) -> Result<TaskKey, ClientError> {
        for a in args {
            if let ArgSource::Node(node) = a {
                self.add_node(node)?;
            }
        }
        let key = call_key(function, args, options);
        self.push(key.clone(), function, args, options)?;
        Ok(key)
    }

    /// Adds a delayed node and everything it depends on, dependencies first.
    pub(crate) fn add_node(&mut self, root: &Arc<Node>) -> Result<(), ClientError> {
        // Iterative post-order walk: (node, children pushed yet).
        let mut stack: Vec<(Arc<Node>, bool)> = vec![(root.clone(), false)];
        while let Some((node, expanded)) = stack.pop() {
            if self.seen.contains(&node.key) {
                continue;
            }
            if expanded {
                self.push(node.key.clone(), node.function, &node.args, &node.options)?;
                continue;
            }
            stack.push((node.clone(), true));
            for a in node.args.iter().rev() {
                if let ArgSource::Node(child) = a
                    && !self.seen.contains(&child.key)
                {
                    stack.push((child.clone(), false));
                }
            }
        }
        Ok(())
    }

    fn push(
        &mut self,
        key: TaskKey,
        function: &str,
        args: &[ArgSource],
        options: &SubmitOptions,
    ) -> Result<(), ClientError> {
        if !self.seen.insert(key.clone()) {
            return Ok(());
        }
        let mut wire_args = Vec::with_capacity(args.len());
        for a in args {
            let value = match a {
                ArgSource::Literal(b) => arg::Value::Literal(b.clone()),
                ArgSource::Future(r) => {
                    self.holds.push(r.clone());
                    arg::Value::Key(r.key().to_string())
                }
                ArgSource::Node(n) => arg::Value::Key(n.key.to_string()),
                ArgSource::Invalid(message) => {
                    return Err(ClientError::Encode {
                        function: function.to_string(),
                        message: message.clone(),
                    });
                }
            };
            wire_args.push(Arg { value: Some(value) });
        }
        let options = self.collection_options.unwrap_or(options);
        let order = self.specs.len() as u64;
        self.specs.push(TaskSpec {
            key: key.to_string(),
            function: function.to_string(),
            args: wire_args,
            priority: options.priority,
            retries: options.retries,
            resources: options.resources.iter().cloned().collect(),
            order,
            stage: None,
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    #[test]
    fn pure_calls_share_keys_and_impure_ones_do_not() {
        let args = [ArgSource::Literal(Bytes::from_static(&[1]))];
        let pure = SubmitOptions::default();
        assert_eq!(call_key("inc", &args, &pure), call_key("inc", &args, &pure));
        assert_ne!(call_key("inc", &args, &pure), call_key("dec", &args, &pure));
        let impure = SubmitOptions::default().pure(false);
        assert_ne!(call_key("inc", &args, &impure), call_key("inc", &args, &impure));
        assert_eq!(call_key("inc", &args, &SubmitOptions::default().key("mine")).as_str(), "mine");
        assert!(call_key("inc", &args, &pure).as_str().starts_with("inc-"));
    }
}
