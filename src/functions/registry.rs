//! The function table and the [`task!`](crate::task) macro that fills it.

use std::collections::HashMap;
use std::fmt;

use bytes::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::graph::Value;

/// Why a call of a registered function did not produce a result.
#[derive(Debug, Clone, PartialEq)]
pub enum CallError {
    /// An argument did not decode as the parameter's type.
    BadArgument {
        /// Parameter name.
        param: &'static str,
        /// The decoder's complaint.
        message: String,
    },
    /// The function was called with the wrong number of arguments.
    ArgumentCount {
        /// Parameters the function takes.
        expected: usize,
        /// Arguments the task carried.
        got: usize,
    },
    /// The result could not be encoded.
    Encode(String),
    /// The function itself reported an error (bad data, a shape it cannot handle).
    Raised(String),
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallError::BadArgument { param, message } => write!(f, "argument {param}: {message}"),
            CallError::ArgumentCount { expected, got } => {
                write!(f, "takes {expected} arguments, the task has {got}")
            }
            CallError::Encode(message) => write!(f, "encoding the result: {message}"),
            CallError::Raised(message) => f.write_str(message),
        }
    }
}

/// The type-erased entry point of a registered function.
pub type CallFn = fn(&[Bytes]) -> Result<Bytes, CallError>;

/// The entry point of a function on whole task values: Arrow data in, Arrow data out.
///
/// Array chunks use these, so a chunk goes from one task to the next as Arrow arrays
/// without a serde round trip. Inline arguments arrive as [`Value::Bytes`].
pub type ValuesFn = fn(&[Value]) -> Result<Value, CallError>;

/// How a registered function takes its arguments.
#[derive(Debug, Clone, Copy)]
pub enum Callable {
    /// Serde-encoded values in, a serde-encoded value out: what [`task!`](crate::task) makes.
    Serde(CallFn),
    /// Task values in and out, Arrow batches included.
    Values(ValuesFn),
    /// A bag's element function (what [`bag_fn!`](crate::bag_fn) makes): JSON values in
    /// and out, called by the bag kernels inside their tasks, not run as a task itself
    /// (found with [`FunctionRegistry::element`], never by [`FunctionRegistry::get`]).
    Element(ElementFn),
}

/// The type-erased form of a bag element function: arguments in, result out, as JSON.
pub type ElementFn = fn(Vec<serde_json::Value>) -> Result<serde_json::Value, String>;

/// One registered function, submitted by [`task!`](crate::task), by
/// [`bag_fn!`](crate::bag_fn) or by Dusk's own collections: every function a worker can
/// call by name is in this one registry.
#[derive(Debug)]
pub struct Registration {
    name: &'static str,
    call: Callable,
}

impl Registration {
    /// A registration of `call` under `name`.
    pub const fn new(name: &'static str, call: CallFn) -> Self {
        Self { name, call: Callable::Serde(call) }
    }

    /// A registration of a function on whole task values under `name`.
    pub const fn values(name: &'static str, call: ValuesFn) -> Self {
        Self { name, call: Callable::Values(call) }
    }

    /// A registration of a bag element function under `name`.
    pub const fn element(name: &'static str, call: ElementFn) -> Self {
        Self { name, call: Callable::Element(call) }
    }
}

inventory::collect!(Registration);

/// A function a task can call, as seen by code that submits it.
///
/// Implemented by the unit struct that [`task!`](crate::task) generates, so
/// `client.submit(inc, (1,))` checks argument and result types at compile time.
pub trait TaskFunction: Copy + Send + Sync + 'static {
    /// Parameter types, as a tuple.
    type Args;
    /// Result type.
    type Output: Serialize + DeserializeOwned + Send + 'static;
    /// Registered name.
    const NAME: &'static str;
}

/// Every function registered in this binary, by name.
#[derive(Debug)]
pub struct FunctionRegistry {
    /// Functions a task can name: [`Callable::Serde`] and [`Callable::Values`].
    by_name: HashMap<&'static str, Callable>,
    /// Bag element functions, a namespace of their own: a bag function may share its
    /// name with a task function.
    elements: HashMap<&'static str, ElementFn>,
}

impl FunctionRegistry {
    /// Collects the registrations linked into this binary.
    ///
    /// When two functions share a name, the first one found wins and a warning names it;
    /// task names must be unique within a binary.
    pub fn from_linked() -> Self {
        let mut by_name = HashMap::new();
        let mut elements = HashMap::new();
        for r in inventory::iter::<Registration> {
            let clash = match r.call {
                Callable::Element(call) => elements.insert(r.name, call).is_some(),
                call => by_name.insert(r.name, call).is_some(),
            };
            if clash {
                tracing::warn!(function = r.name, "two registered functions share a name");
            }
        }
        Self { by_name, elements }
    }

    /// Looks up a function a task can run.
    pub fn get(&self, name: &str) -> Option<Callable> {
        self.by_name.get(name).copied()
    }

    /// Looks up a bag element function.
    pub fn element(&self, name: &str) -> Option<ElementFn> {
        self.elements.get(name).copied()
    }

    /// Registered names, sorted.
    pub fn names(&self) -> Vec<&'static str> {
        let mut names: Vec<_> = self.by_name.keys().copied().collect();
        names.sort_unstable();
        names
    }
}

/// Checks a call got as many arguments as the function has parameters.
pub fn check_arity(args: &[Bytes], expected: usize) -> Result<(), CallError> {
    if args.len() == expected { Ok(()) } else { Err(CallError::ArgumentCount { expected, got: args.len() }) }
}

/// Decodes one argument of a call; used by the code [`task!`](crate::task) generates.
pub fn decode_arg<T: DeserializeOwned>(
    args: &[Bytes],
    index: usize,
    param: &'static str,
) -> Result<T, CallError> {
    let bytes = args.get(index).ok_or(CallError::ArgumentCount { expected: index + 1, got: args.len() })?;
    postcard::from_bytes(bytes).map_err(|e| CallError::BadArgument { param, message: e.to_string() })
}

/// Encodes a call's result; used by the code [`task!`](crate::task) generates.
pub fn encode_result<T: Serialize>(value: &T) -> Result<Bytes, CallError> {
    postcard::to_stdvec(value).map(Bytes::from).map_err(|e| CallError::Encode(e.to_string()))
}

/// Defines a function that tasks can run on the cluster.
///
/// The function becomes a unit struct of the same name that implements
/// [`TaskFunction`]; call it in-process with `name::call(..)`, or on the cluster with
/// `client.submit(name, (args,))`. Parameters and result must be serde types. A panic
/// inside becomes the task's error; the worker keeps serving.
///
/// ```
/// dusk::task! {
///     /// Adds one.
///     pub fn add_one(x: i64) -> i64 { x + 1 }
/// }
/// assert_eq!(add_one::call(1), 2);
/// ```
#[macro_export]
macro_rules! task {
    ($(#[$meta:meta])* $vis:vis fn $name:ident($($param:ident : $ty:ty),* $(,)?) -> $ret:ty $body:block) => {
        $(#[$meta])*
        #[allow(non_camel_case_types)]
        #[derive(Debug, Clone, Copy)]
        $vis struct $name;

        impl $name {
            /// Runs the function in this process.
            #[allow(clippy::too_many_arguments, dead_code)]
            $vis fn call($($param: $ty),*) -> $ret $body
        }

        impl $crate::functions::TaskFunction for $name {
            type Args = ($($ty,)*);
            type Output = $ret;
            const NAME: &'static str = stringify!($name);
        }

        $crate::functions::__private::inventory::submit! {
            $crate::functions::Registration::new(stringify!($name), |args| {
                const PARAMS: &[&str] = &[$(stringify!($param)),*];
                $crate::functions::__private::check_arity(args, PARAMS.len())?;
                #[allow(unused_mut, unused_variables)]
                let mut index = 0usize..;
                $(
                    let $param: $ty = $crate::functions::__private::decode_arg(
                        args,
                        index.next().unwrap_or_default(),
                        stringify!($param),
                    )?;
                )*
                $crate::functions::__private::encode_result(&$name::call($($param),*))
            })
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    crate::task! {
        /// A function defined only for these tests.
        fn registry_test_concat(a: String, b: u32) -> String { format!("{a}{b}") }
    }

    #[test]
    fn macro_registers_a_callable_function() -> Result<(), CallError> {
        let registry = FunctionRegistry::from_linked();
        let Some(Callable::Serde(call)) = registry.get("registry_test_concat") else {
            panic!("registered by the macro above as a serde function")
        };
        let out = call(&[encode_result(&"x".to_string())?, encode_result(&7u32)?])?;
        assert_eq!(postcard::from_bytes::<String>(&out).ok(), Some("x7".to_string()));
        assert_eq!(<registry_test_concat as TaskFunction>::NAME, "registry_test_concat");
        Ok(())
    }

    #[test]
    fn wrong_argument_type_names_the_parameter() -> Result<(), CallError> {
        let Some(Callable::Serde(call)) = FunctionRegistry::from_linked().get("registry_test_concat") else {
            panic!("registered")
        };
        let not_utf8 = encode_result(&vec![0xffu8, 0xfe])?;
        let err = call(&[not_utf8, encode_result(&7u32)?]).expect_err("invalid UTF-8 is not a string");
        assert!(matches!(err, CallError::BadArgument { param: "a", .. }), "{err}");
        Ok(())
    }

    #[test]
    fn missing_argument_is_reported() -> Result<(), CallError> {
        let Some(Callable::Serde(call)) = FunctionRegistry::from_linked().get("registry_test_concat") else {
            panic!("registered")
        };
        let err = call(&[encode_result(&"x".to_string())?]).expect_err("one argument short");
        assert!(matches!(err, CallError::ArgumentCount { .. }), "{err}");
        Ok(())
    }
}
