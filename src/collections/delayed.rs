//! Delayed: lazy task graphs built by calling functions on values not computed yet.
//!
//! `delayed(f, args)` records a call without running it; its arguments may be plain
//! values, futures, or other delayed nodes. Nothing reaches the cluster until the graph
//! is computed ([`Client::compute`](crate::Client::compute),
//! [`Client::compute_many`](crate::Client::compute_many) or
//! [`Client::persist`](crate::Client::persist)); then the whole graph is submitted at once
//! and nodes reached by several paths (a diamond) run once, because pure calls with the
//! same function and arguments share a key.
//!
//! ```
//! use dusk::delayed;
//! use dusk::builtins::{add, inc};
//!
//! let a = delayed(inc, (1i64,));
//! let b = delayed(add, (&a, &a)); // `a` runs once
//! assert_ne!(a.key(), b.key());
//! ```

use std::marker::PhantomData;
use std::sync::Arc;
use std::{fmt, mem};

use crate::client::{ArgSource, IntoArgs, SubmitOptions};
use crate::functions::TaskFunction;
use crate::graph::TaskKey;

/// One recorded call.
pub struct Node {
    pub(crate) key: TaskKey,
    pub(crate) function: &'static str,
    pub(crate) args: Vec<ArgSource>,
    pub(crate) options: SubmitOptions,
}

impl fmt::Debug for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Node")
            .field("key", &self.key)
            .field("function", &self.function)
            .finish_non_exhaustive()
    }
}

impl Drop for Node {
    // Unlinks chains iteratively: dropping a delayed chain of a million links must not
    // recurse a million frames deep.
    fn drop(&mut self) {
        let mut stack: Vec<Arc<Node>> = Vec::new();
        let take = |args: &mut Vec<ArgSource>, stack: &mut Vec<Arc<Node>>| {
            for a in mem::take(args) {
                if let ArgSource::Node(n) = a {
                    stack.push(n);
                }
            }
        };
        take(&mut self.args, &mut stack);
        while let Some(node) = stack.pop() {
            if let Ok(mut node) = Arc::try_unwrap(node) {
                take(&mut node.args, &mut stack);
            }
        }
    }
}

/// A lazy call whose result will be a `T`.
pub struct Delayed<T> {
    node: Arc<Node>,
    _t: PhantomData<fn() -> T>,
}

impl<T> Delayed<T> {
    /// The key the call will run under.
    pub fn key(&self) -> &TaskKey {
        &self.node.key
    }

    pub(crate) fn node(&self) -> &Arc<Node> {
        &self.node
    }
}

impl<T> Clone for Delayed<T> {
    fn clone(&self) -> Self {
        Delayed { node: self.node.clone(), _t: PhantomData }
    }
}

impl<T> fmt::Debug for Delayed<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Delayed").field(self.key()).finish()
    }
}

/// Records a call of `f` with `args` (values, futures or delayed nodes).
pub fn delayed<F: TaskFunction, A: IntoArgs<F::Args>>(f: F, args: A) -> Delayed<F::Output> {
    delayed_with(f, args, SubmitOptions::default())
}

/// [`delayed`] with options (key, priority, retries, resources).
pub fn delayed_with<F: TaskFunction, A: IntoArgs<F::Args>>(
    _f: F,
    args: A,
    options: SubmitOptions,
) -> Delayed<F::Output> {
    Delayed { node: call_node(F::NAME, args.into_args(), options), _t: PhantomData }
}

/// The node of a call of the registered `function`, keyed as [`delayed_with`] keys it.
pub(crate) fn call_node(function: &'static str, args: Vec<ArgSource>, options: SubmitOptions) -> Arc<Node> {
    let key = crate::client::call_key(function, &args, &options);
    Arc::new(Node { key, function, args, options })
}

/// Several delayed values computed together: tuples of `&Delayed<_>`.
pub trait DelayedTuple {
    /// The tuple of results.
    type Output;
    /// The nodes, in order.
    fn nodes(&self) -> Vec<Arc<Node>>;
    /// Decodes results given in the same order as [`DelayedTuple::nodes`].
    fn decode(raw: Vec<bytes::Bytes>) -> Result<Self::Output, postcard::Error>;
}

macro_rules! delayed_tuple {
    ($(($T:ident, $i:tt)),+) => {
        impl<$($T: serde::de::DeserializeOwned),+> DelayedTuple for ($(&Delayed<$T>,)+) {
            type Output = ($($T,)+);
            fn nodes(&self) -> Vec<Arc<Node>> {
                vec![$(self.$i.node.clone()),+]
            }
            fn decode(raw: Vec<bytes::Bytes>) -> Result<Self::Output, postcard::Error> {
                Ok(($(postcard::from_bytes::<$T>(raw.get($i).map_or(&[][..], |b| b.as_ref()))?,)+))
            }
        }
    };
}

delayed_tuple!((A, 0));
delayed_tuple!((A, 0), (B, 1));
delayed_tuple!((A, 0), (B, 1), (C, 2));
delayed_tuple!((A, 0), (B, 1), (C, 2), (D, 3));
