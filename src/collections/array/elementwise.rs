//! Elementwise operations with NumPy broadcasting, fused into the chunks' programs.

use std::ops;

use super::compute::node;
use super::create::scalar_block;
use super::dtype::{DType, NdArray, Scalar};
use super::eval::broadcast_shape;
use super::program::{BinaryOp, Program, UnaryOp};
use super::{Array, ArrayError, Block, grid_indices};
use crate::client::ArgSource;
use crate::collections::delayed::call_node;
use crate::functions::TaskFunction;

/// How an operand's axes map onto the broadcast result's: per result axis, the
/// operand's axis, or `None` where it broadcasts (missing, or length 1).
fn axis_map(operand: &[usize], out: &[usize]) -> Vec<Option<usize>> {
    let lead = out.len() - operand.len();
    (0..out.len())
        .map(|i| {
            let j = i.checked_sub(lead)?;
            (operand[j] == out[i]).then_some(j)
        })
        .collect()
}

/// Scalars take the array's type unless that loses their kind (a float with an int array).
fn weak(value: Scalar, dtype: DType) -> Scalar {
    match (value.dtype().is_float(), dtype) {
        (true, DType::Bool | DType::I64) => value.cast(DType::F64),
        (false, DType::Bool) if value.dtype() != DType::Bool => value.cast(DType::I64),
        _ => value.cast(dtype),
    }
}

impl Array {
    /// Applies a binary elementwise operation, broadcasting as NumPy. Where both operands
    /// span an axis with different chunks, `other` is rechunked to this array's chunks.
    pub fn binary(&self, op: BinaryOp, other: &Array) -> Result<Array, ArrayError> {
        let name = format!("{op:?}").to_lowercase();
        let dtype = op
            .output(self.dtype, other.dtype)
            .ok_or_else(|| ArrayError::dtype(&name, format!("{} and {}", self.dtype, other.dtype)))?;
        let (shape, chunks, blocks) = broadcast_blocks(&name, &[self, other])?;
        let blocks = blocks
            .into_iter()
            .map(|pair| {
                let [a, b] = <[Block; 2]>::try_from(pair).expect("one chunk per operand");
                Program::Binary(op, Box::new(a), Box::new(b))
            })
            .collect();
        Ok(Array::from_parts(dtype, shape, chunks, blocks))
    }

    /// Applies a binary elementwise operation with a scalar on the right (or left).
    pub fn binary_scalar(
        &self,
        op: BinaryOp,
        value: impl Into<Scalar>,
        scalar_left: bool,
    ) -> Result<Array, ArrayError> {
        let value = weak(value.into(), self.dtype);
        let name = format!("{op:?}").to_lowercase();
        let (l, r) = if scalar_left { (value.dtype(), self.dtype) } else { (self.dtype, value.dtype()) };
        let dtype = op.output(l, r).ok_or_else(|| ArrayError::dtype(&name, format!("{l} and {r}")))?;
        Ok(self.map_programs(dtype, |block| {
            let s = Box::new(scalar_block(value));
            if scalar_left {
                Program::Binary(op, s, Box::new(block.clone()))
            } else {
                Program::Binary(op, Box::new(block.clone()), s)
            }
        }))
    }

    /// Applies an elementwise function.
    pub fn unary(&self, op: UnaryOp) -> Result<Array, ArrayError> {
        let name = format!("{op:?}").to_lowercase();
        let dtype = op.output(self.dtype).ok_or_else(|| ArrayError::dtype(&name, self.dtype))?;
        Ok(self.map_programs(dtype, |block| Program::Unary(op, Box::new(block.clone()))))
    }

    /// The array converted to another element type.
    pub fn astype(&self, dtype: DType) -> Array {
        if dtype == self.dtype {
            return self.clone();
        }
        self.map_programs(dtype, |block| Program::Cast(dtype, Box::new(block.clone())))
    }

    /// The same chunk grid with each chunk's program wrapped by `f`.
    pub(crate) fn map_programs(&self, dtype: DType, f: impl Fn(&Block) -> Block) -> Array {
        let blocks = self.blocks.iter().map(f).collect();
        Array::from_parts(dtype, self.shape.clone(), self.chunks.clone(), blocks)
    }

    /// Runs a registered function on every chunk, as Dask's `map_blocks`.
    ///
    /// `f` takes and returns an [`NdArray`] (define it with [`task!`](crate::task)); each
    /// output chunk must keep its input chunk's shape, and holds `dtype` elements.
    pub fn map_blocks<F>(&self, f: F, dtype: DType) -> Result<Array, ArrayError>
    where
        F: TaskFunction<Args = (NdArray,), Output = NdArray>,
    {
        let _ = f;
        let mut blocks = Vec::with_capacity(self.blocks.len());
        for block in self.blocks.iter() {
            let (program, inputs) = super::compute::lower(block);
            let chunk = node(&block.label(), super::kernels::TO_SERDE, &program, inputs)?;
            let key_source = ArgSource::Node(chunk);
            let applied = node_for_function(F::NAME, key_source);
            blocks.push(Program::Cast(dtype, Box::new(Program::Serde(applied))));
        }
        Ok(Array::from_parts(dtype, self.shape.clone(), self.chunks.clone(), blocks))
    }

    /// Elements of `a` where `self` (a bool array) is true, of `b` elsewhere; broadcast.
    pub fn where_(&self, a: &Array, b: &Array) -> Result<Array, ArrayError> {
        if self.dtype != DType::Bool {
            return Err(ArrayError::dtype("where's condition", self.dtype));
        }
        let dtype = if a.dtype == b.dtype { a.dtype } else { a.dtype.promote(b.dtype) };
        let (shape, chunks, blocks) = broadcast_blocks("where", &[self, a, b])?;
        let blocks = blocks
            .into_iter()
            .map(|parts| {
                let [c, x, y] = <[Block; 3]>::try_from(parts).expect("one chunk per operand");
                Program::Where(Box::new(c), Box::new(x), Box::new(y))
            })
            .collect();
        Ok(Array::from_parts(dtype, shape, chunks, blocks))
    }
}

/// Aligns operands for an elementwise operation: the broadcast shape, its chunks (from
/// the first operand spanning each axis; the others are rechunked to match), and per
/// output chunk the operands' chunks, in operand order.
#[allow(clippy::type_complexity)]
fn broadcast_blocks(
    op: &str,
    operands: &[&Array],
) -> Result<(Vec<usize>, Vec<Vec<usize>>, Vec<Vec<Block>>), ArrayError> {
    let mut shape: Vec<usize> = Vec::new();
    for (i, a) in operands.iter().enumerate() {
        shape = if i == 0 {
            a.shape.clone()
        } else {
            broadcast_shape(&shape, &a.shape).ok_or_else(|| ArrayError::Broadcast {
                op: op.to_string(),
                left: shape.clone(),
                right: a.shape.clone(),
            })?
        };
    }
    let maps: Vec<Vec<Option<usize>>> = operands.iter().map(|a| axis_map(&a.shape, &shape)).collect();
    let mut chunks: Vec<Vec<usize>> = Vec::with_capacity(shape.len());
    for (i, &n) in shape.iter().enumerate() {
        let first = operands.iter().zip(&maps).find_map(|(a, m)| m[i].map(|j| a.chunks[j].clone()));
        chunks.push(first.unwrap_or_else(|| vec![n]));
    }
    let mut aligned: Vec<Array> = Vec::with_capacity(operands.len());
    for (a, map) in operands.iter().zip(&maps) {
        let mut want = a.chunks.clone();
        for (i, m) in map.iter().enumerate() {
            if let Some(j) = m {
                want[*j] = chunks[i].clone();
            }
        }
        aligned.push(if want != a.chunks { a.rechunk_to(want)? } else { (*a).clone() });
    }
    let grid: Vec<usize> = chunks.iter().map(Vec::len).collect();
    let blocks = grid_indices(&grid)
        .into_iter()
        .map(|index| {
            aligned
                .iter()
                .zip(&maps)
                .map(|(array, map)| {
                    let mut own = vec![0; array.ndim()];
                    for (i, m) in map.iter().enumerate() {
                        if let Some(j) = m {
                            own[*j] = index[i];
                        }
                    }
                    array.block(&own).clone()
                })
                .collect()
        })
        .collect();
    Ok((shape, chunks, blocks))
}

fn node_for_function(function: &'static str, input: ArgSource) -> ArgSource {
    ArgSource::Node(call_node(function, vec![input], crate::SubmitOptions::default()))
}

macro_rules! named_binary {
    ($($name:ident => $op:ident),* $(,)?) => {
        impl Array {
            $(
                #[doc = concat!("Elementwise `", stringify!($name), "`, broadcast.")]
                pub fn $name(&self, other: &Array) -> Result<Array, ArrayError> {
                    self.binary(BinaryOp::$op, other)
                }
            )*
        }
    };
}

named_binary!(
    add => Add, sub => Sub, mul => Mul, div => Div, pow => Pow, minimum => Minimum, maximum => Maximum,
    eq => Eq, ne => Ne, lt => Lt, le => Le, gt => Gt, ge => Ge, and => And, or => Or, xor => Xor,
);

macro_rules! named_unary {
    ($($name:ident => $op:ident),* $(,)?) => {
        impl Array {
            $(
                #[doc = concat!("Elementwise `", stringify!($name), "`.")]
                pub fn $name(&self) -> Result<Array, ArrayError> {
                    self.unary(UnaryOp::$op)
                }
            )*
        }
    };
}

named_unary!(
    neg => Neg, abs => Abs, not => Not, sqrt => Sqrt, exp => Exp, ln => Ln, log10 => Log10, sin => Sin,
    cos => Cos, tan => Tan, tanh => Tanh, floor => Floor, ceil => Ceil, round => Round, isnan => IsNan,
);

macro_rules! operator {
    ($trait:ident, $method:ident, $op:ident) => {
        impl ops::$trait<&Array> for &Array {
            type Output = Result<Array, ArrayError>;
            fn $method(self, rhs: &Array) -> Self::Output {
                self.binary(BinaryOp::$op, rhs)
            }
        }
        impl ops::$trait<f64> for &Array {
            type Output = Result<Array, ArrayError>;
            fn $method(self, rhs: f64) -> Self::Output {
                self.binary_scalar(BinaryOp::$op, rhs, false)
            }
        }
        impl ops::$trait<i64> for &Array {
            type Output = Result<Array, ArrayError>;
            fn $method(self, rhs: i64) -> Self::Output {
                self.binary_scalar(BinaryOp::$op, rhs, false)
            }
        }
        impl ops::$trait<&Array> for f64 {
            type Output = Result<Array, ArrayError>;
            fn $method(self, rhs: &Array) -> Self::Output {
                rhs.binary_scalar(BinaryOp::$op, self, true)
            }
        }
    };
}

operator!(Add, add, Add);
operator!(Sub, sub, Sub);
operator!(Mul, mul, Mul);
operator!(Div, div, Div);

impl ops::Neg for &Array {
    type Output = Result<Array, ArrayError>;
    fn neg(self) -> Self::Output {
        self.unary(UnaryOp::Neg)
    }
}
