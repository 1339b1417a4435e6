//! The registered functions array tasks run on workers.
//!
//! Each takes a serde-encoded spec as its first argument and chunks (Arrow data) after
//! it, and returns a chunk or a reduction state as Arrow data. They are registered
//! under fixed names, so every `dusk` binary's workers can run any array graph.

use ndarray::{Array2, Ix2, linalg::general_mat_mul};
use serde::{Deserialize, Serialize};

use super::dtype::{DType, NdArray};
use super::eval::eval;
use super::program::Program;
use super::reduce::{self, Place, Reduction, State};
use super::{band, codec};
use crate::collections::{kernel_spec as spec, raised};
use crate::functions::{CallError, Registration};
use crate::graph::Value;

/// Evaluates one block program into a chunk.
pub(crate) const BLOCK: &str = "array_block";
/// Evaluates a block program and reduces it to a partial state.
pub(crate) const PARTIAL: &str = "array_partial";
/// Merges partial states; the last merge of a tree also finishes the result.
pub(crate) const COMBINE: &str = "array_combine";
/// Multiplies pairs of blocks and sums the products.
pub(crate) const MATMUL: &str = "array_matmul";
/// Evaluates a block program into a serde-encoded [`NdArray`], for a user's function.
pub(crate) const TO_SERDE: &str = "array_to_serde";

/// What [`PARTIAL`] computes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct PartialSpec {
    pub(crate) program: Program,
    pub(crate) reduction: Reduction,
    pub(crate) axes: Vec<usize>,
    pub(crate) place: Place,
    /// Finish right away: the reduction touches one chunk only.
    pub(crate) finish: Option<Finish>,
}

/// How the last step of a reduction turns its state into the result.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Finish {
    /// Reduced axes, dropped from the result.
    pub(crate) axes: Vec<usize>,
    /// Element type of the reduced array.
    pub(crate) input: DType,
}

/// What [`COMBINE`] computes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct CombineSpec {
    pub(crate) reduction: Reduction,
    pub(crate) finish: Option<Finish>,
}

/// What [`MATMUL`] computes: the sum of `a @ b` over the pairs, in `dtype`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct MatmulSpec {
    pub(crate) pairs: Vec<(Program, Program)>,
    pub(crate) dtype: DType,
    /// Give a plain chunk (the only partial sum) rather than a `Sum` state.
    pub(crate) finish: bool,
}

fn state_value(state: State) -> Result<Value, CallError> {
    let fields = state.iter().map(|(name, a)| (name.as_str(), a.clone())).collect();
    codec::encode(fields).map(|b| Value::Batches(vec![b])).map_err(raised)
}

fn chunk_value(array: NdArray) -> Result<Value, CallError> {
    codec::to_value(array).map_err(raised)
}

fn block(args: &[Value]) -> Result<Value, CallError> {
    let (program, inputs) = spec::<Program>(args)?;
    chunk_value(eval(&program, inputs).map_err(raised)?)
}

fn to_serde(args: &[Value]) -> Result<Value, CallError> {
    let (program, inputs) = spec::<Program>(args)?;
    let array = eval(&program, inputs).map_err(raised)?;
    postcard::to_stdvec(&array).map(|v| Value::Bytes(v.into())).map_err(|e| CallError::Encode(e.to_string()))
}

fn partial(args: &[Value]) -> Result<Value, CallError> {
    let (spec, inputs) = spec::<PartialSpec>(args)?;
    let state = match band::bands(&spec.program) {
        Some(bands) => banded_partial(&spec, bands, inputs),
        None => eval(&spec.program, inputs)
            .and_then(|array| reduce::partial(spec.reduction, array, &spec.axes, &spec.place)),
    }
    .map_err(raised)?;
    match spec.finish {
        Some(f) => chunk_value(reduce::finish(spec.reduction, state, &f.axes, f.input).map_err(raised)?),
        None => state_value(state),
    }
}

/// A partial state computed band by band of rows: band states merge when the rows are
/// reduced and join along them otherwise.
fn banded_partial(
    spec: &PartialSpec,
    bands: Vec<(usize, Program)>,
    inputs: &[Value],
) -> Result<State, String> {
    let rows_reduced = spec.axes.contains(&0);
    let mut merged: Option<State> = None;
    let mut stacked = Vec::new();
    for (start, program) in bands {
        let mut place = spec.place.clone();
        if let Some(first) = place.offset.first_mut() {
            *first += start;
        }
        let state = reduce::partial(spec.reduction, eval(&program, inputs)?, &spec.axes, &place)?;
        if rows_reduced {
            merged = Some(match merged {
                None => state,
                Some(acc) => reduce::merge(spec.reduction, acc, state)?,
            });
        } else {
            stacked.push(state);
        }
    }
    match merged {
        Some(state) => Ok(state),
        None => reduce::join_rows(stacked),
    }
}

fn combine(args: &[Value]) -> Result<Value, CallError> {
    let (spec, inputs) = spec::<CombineSpec>(args)?;
    let mut merged: Option<State> = None;
    for input in inputs {
        let Value::Batches(batches) = input else {
            return Err(raised("a reduction state is not Arrow data"));
        };
        let state = codec::decode(batches).map_err(raised)?;
        merged = Some(match merged {
            None => state,
            Some(acc) => reduce::merge(spec.reduction, acc, state).map_err(raised)?,
        });
    }
    let state = merged.ok_or_else(|| raised("a combine step with no states"))?;
    match spec.finish {
        Some(f) => chunk_value(reduce::finish(spec.reduction, state, &f.axes, f.input).map_err(raised)?),
        None => state_value(state),
    }
}

fn matrix<T: Clone>(a: ndarray::ArrayD<T>) -> Result<Array2<T>, CallError> {
    a.into_dimensionality::<Ix2>().map_err(|_| raised("a matmul operand block is not 2-d"))
}

fn matmul(args: &[Value]) -> Result<Value, CallError> {
    let (spec, inputs) = spec::<MatmulSpec>(args)?;
    let mut acc: Option<NdArray> = None;
    for (pa, pb) in &spec.pairs {
        let a = eval(pa, inputs).map_err(raised)?.cast(spec.dtype);
        let b = eval(pb, inputs).map_err(raised)?.cast(spec.dtype);
        let (m, n) = match (a.shape(), b.shape()) {
            ([m, k], [k2, n]) if k == k2 => (*m, *n),
            (x, y) => return Err(raised(format!("blocks of shapes {x:?} and {y:?} do not multiply"))),
        };
        acc = Some(match (a, b, acc) {
            (NdArray::F64(a), NdArray::F64(b), prev) => {
                let mut c = match prev {
                    Some(NdArray::F64(c)) => matrix(c)?,
                    _ => Array2::zeros((m, n)),
                };
                general_mat_mul(1.0, &matrix(a)?, &matrix(b)?, 1.0, &mut c);
                NdArray::F64(c.into_dyn())
            }
            (NdArray::F32(a), NdArray::F32(b), prev) => {
                let mut c = match prev {
                    Some(NdArray::F32(c)) => matrix(c)?,
                    _ => Array2::zeros((m, n)),
                };
                general_mat_mul(1.0, &matrix(a)?, &matrix(b)?, 1.0, &mut c);
                NdArray::F32(c.into_dyn())
            }
            (NdArray::I64(a), NdArray::I64(b), prev) => {
                let product = matrix(a)?.dot(&matrix(b)?);
                match prev {
                    Some(NdArray::I64(c)) => NdArray::I64(matrix(c)?.into_dyn() + product.into_dyn()),
                    _ => NdArray::I64(product.into_dyn()),
                }
            }
            _ => return Err(raised(format!("matmul computes in f64, f32 or i64, not {}", spec.dtype))),
        });
    }
    let c = acc.ok_or_else(|| raised("a matmul task with no blocks"))?;
    if spec.finish { chunk_value(c) } else { state_value(vec![("sum".to_string(), c)]) }
}

inventory::submit! { Registration::values(BLOCK, block) }
inventory::submit! { Registration::values(PARTIAL, partial) }
inventory::submit! { Registration::values(COMBINE, combine) }
inventory::submit! { Registration::values(MATMUL, matmul) }
inventory::submit! { Registration::values(TO_SERDE, to_serde) }
