//! Element functions: the user code a bag runs on each element, partition or pair.
//!
//! A bag holds any serde type, JSON records (`serde_json::Value`) included, so its
//! elements travel as JSON, which describes itself; [`bag_fn!`](crate::bag_fn) makes a
//! function callable on such elements. The worker looks it up by name, as it does task
//! functions; types are checked at compile time where the bag is built.

use std::sync::OnceLock;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value as Json;

use crate::functions::FunctionRegistry;

/// The type-erased form of an element function: arguments in, result out, as JSON.
pub use crate::functions::ElementFn as ElementCall;

/// An element function as seen where a bag is built (the unit struct [`bag_fn!`](crate::bag_fn)
/// generates).
pub trait BagFunction: Copy + Send + Sync + 'static {
    /// Parameter types, as a tuple.
    type Args;
    /// Result type.
    type Output: Serialize + DeserializeOwned + Send + 'static;
    /// Registered name.
    const NAME: &'static str;
}

/// The element functions linked into this binary: the bag namespace of the one
/// [`FunctionRegistry`].
#[derive(Debug)]
pub(crate) struct ElementFunctions {
    registry: FunctionRegistry,
}

impl ElementFunctions {
    /// The registrations linked into this binary, collected on first use: the set is
    /// fixed at link time, so every task shares one table.
    pub(crate) fn linked() -> &'static Self {
        static LINKED: OnceLock<ElementFunctions> = OnceLock::new();
        LINKED.get_or_init(|| Self { registry: FunctionRegistry::from_linked() })
    }

    /// Looks a function up; the error names it.
    pub(crate) fn get(&self, name: &str) -> Result<ElementCall, String> {
        self.registry
            .element(name)
            .ok_or_else(|| format!("no bag function named {name:?} is registered in this worker's binary"))
    }
}

/// Decodes one argument; used by the code [`bag_fn!`](crate::bag_fn) generates.
pub fn decode_arg<T: DeserializeOwned>(
    args: &mut std::vec::IntoIter<Json>,
    param: &str,
) -> Result<T, String> {
    let value = args.next().ok_or_else(|| format!("missing argument {param}"))?;
    serde_json::from_value(value).map_err(|e| format!("argument {param}: {e}"))
}

/// Encodes a result; used by the code [`bag_fn!`](crate::bag_fn) generates.
pub fn encode_result<T: Serialize>(value: &T) -> Result<Json, String> {
    serde_json::to_value(value).map_err(|e| format!("encoding the result: {e}"))
}

/// Defines a function a bag can run on its elements, partitions or pairs.
///
/// Like [`task!`](crate::task), the function becomes a unit struct of the same name; pass
/// it to [`Bag::map`](crate::bag::Bag::map), `filter`, `fold`, `groupby`, … Parameters
/// and result are serde types; they travel as JSON, so `serde_json::Value` works too.
///
/// ```
/// dusk::bag_fn! {
///     /// The length of a line.
///     pub fn line_len(line: String) -> usize { line.len() }
/// }
/// assert_eq!(line_len::call("abc".into()), 3);
/// ```
#[macro_export]
macro_rules! bag_fn {
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

        impl $crate::bag::BagFunction for $name {
            type Args = ($($ty,)*);
            type Output = $ret;
            const NAME: &'static str = stringify!($name);
        }

        $crate::functions::__private::inventory::submit! {
            $crate::functions::Registration::element(stringify!($name), |args| {
                #[allow(unused_mut, unused_variables)]
                let mut args = args.into_iter();
                $(
                    let $param: $ty = $crate::bag::__private::decode_arg(&mut args, stringify!($param))?;
                )*
                $crate::bag::__private::encode_result(&$name::call($($param),*))
            })
        }
    };
}
