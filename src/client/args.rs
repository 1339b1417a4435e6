//! Arguments of submitted calls: inline values, futures, or delayed nodes.
//!
//! [`IntoArg<T>`] is what may stand where a function takes a `T`: a `T` itself (encoded
//! now), a [`Future<T>`] of another task (its key; the task waits for it), or a
//! [`Delayed<T>`] (its graph is submitted too). Types are checked at compile time:
//! a `Future<String>` cannot be passed where an `i64` is expected.

use std::hash::{Hash, Hasher};
use std::sync::Arc;

use bytes::Bytes;
use serde::Serialize;

use super::future::{Future, KeyRef};
use crate::collections::delayed::{Delayed, Node};
use crate::graph::TaskKey;

/// One argument, ready to be sent.
#[derive(Debug, Clone)]
pub enum ArgSource {
    /// A postcard-encoded value.
    Literal(Bytes),
    /// The result of a submitted task; the reference keeps it alive until the call is sent.
    Future(KeyRef),
    /// The result of a delayed node, submitted with the call.
    Node(Arc<Node>),
    /// A value that could not be encoded; reported when the call is submitted.
    Invalid(String),
}

impl ArgSource {
    /// The key this argument reads, if it is another task's result.
    pub(crate) fn key(&self) -> Option<&TaskKey> {
        match self {
            ArgSource::Future(r) => Some(r.key()),
            ArgSource::Node(n) => Some(&n.key),
            ArgSource::Literal(_) | ArgSource::Invalid(_) => None,
        }
    }

    /// Feeds the argument's identity into a key hash.
    pub(crate) fn hash_into(&self, h: &mut impl Hasher) {
        match self {
            ArgSource::Literal(b) => (0u8, b.as_ref()).hash(h),
            ArgSource::Invalid(m) => (1u8, m).hash(h),
            _ => (2u8, self.key().map(TaskKey::as_str)).hash(h),
        }
    }
}

/// A value that can stand where a function takes a `T`.
pub trait IntoArg<T> {
    /// Converts into a sendable argument.
    fn into_arg(self) -> ArgSource;
}

impl<T: Serialize> IntoArg<T> for T {
    fn into_arg(self) -> ArgSource {
        match postcard::to_stdvec(&self) {
            Ok(v) => ArgSource::Literal(Bytes::from(v)),
            Err(e) => ArgSource::Invalid(e.to_string()),
        }
    }
}

impl<T> IntoArg<T> for &Future<T> {
    fn into_arg(self) -> ArgSource {
        ArgSource::Future(self.key_ref().clone())
    }
}

impl<T> IntoArg<T> for Future<T> {
    fn into_arg(self) -> ArgSource {
        ArgSource::Future(self.key_ref().clone())
    }
}

impl<T> IntoArg<T> for &Delayed<T> {
    fn into_arg(self) -> ArgSource {
        ArgSource::Node(self.node().clone())
    }
}

impl<T> IntoArg<T> for Delayed<T> {
    fn into_arg(self) -> ArgSource {
        ArgSource::Node(self.node().clone())
    }
}

/// A tuple of arguments for a function whose parameters are `Args`.
pub trait IntoArgs<Args> {
    /// Converts each element.
    fn into_args(self) -> Vec<ArgSource>;
}

impl IntoArgs<()> for () {
    fn into_args(self) -> Vec<ArgSource> {
        Vec::new()
    }
}

macro_rules! tuple_args {
    ($(($T:ident, $X:ident, $i:tt)),+) => {
        impl<$($T, $X: IntoArg<$T>),+> IntoArgs<($($T,)+)> for ($($X,)+) {
            fn into_args(self) -> Vec<ArgSource> {
                vec![$(self.$i.into_arg()),+]
            }
        }
    };
}

tuple_args!((A, XA, 0));
tuple_args!((A, XA, 0), (B, XB, 1));
tuple_args!((A, XA, 0), (B, XB, 1), (C, XC, 2));
tuple_args!((A, XA, 0), (B, XB, 1), (C, XC, 2), (D, XD, 3));
tuple_args!((A, XA, 0), (B, XB, 1), (C, XC, 2), (D, XD, 3), (E, XE, 4));
tuple_args!((A, XA, 0), (B, XB, 1), (C, XC, 2), (D, XD, 3), (E, XE, 4), (F, XF, 5));
