//! Block programs: what one array task computes, as a tree a worker evaluates.
//!
//! Elementwise chains, transposes, slices and chunk re-assembly fuse into one program
//! per output chunk, so `(x + 1) * 2` over a random `x` is one task per chunk that
//! generates, adds and doubles without writing `x` anywhere. Leaves are the task's
//! input chunks (by argument position) or generators that make values where they run.

use serde::{Deserialize, Serialize};

use super::dtype::{DType, Scalar};

/// One node of a block program. `I` names inputs: an argument position on the wire, a
/// chunk's source (task or literal) while the client builds the graph.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) enum Program<I = u32> {
    /// The chunk passed as task argument `n` (after the program itself).
    Input(I),
    /// A serde-encoded [`NdArray`](super::NdArray) passed as task argument `n`: results
    /// of user functions, and arrays that came from the client.
    Serde(I),
    /// A whole `.npy` file, read on the worker.
    Npy(String),
    /// One row group of one column of a Parquet file, read on the worker as a 1-d block.
    Parquet {
        /// The file.
        path: String,
        /// The column.
        column: String,
        /// The row group.
        row_group: usize,
    },
    /// `shape` filled with one value.
    Fill {
        /// The value.
        value: Scalar,
        /// Block shape.
        shape: Vec<usize>,
    },
    /// Elements `offset..offset + len` of `start + i * step`, as `dtype`.
    Range {
        /// First value of the whole range.
        start: f64,
        /// Distance between values.
        step: f64,
        /// Index of the block's first element in the whole range.
        offset: u64,
        /// Elements in the block.
        len: usize,
        /// Element type.
        dtype: DType,
    },
    /// Seeded random values for the region `offset .. offset + shape` of an array of
    /// `global_shape`; each value depends only on the seed and its global position.
    Random {
        /// Seed.
        seed: u64,
        /// Distribution.
        dist: Distribution,
        /// Shape of the whole array.
        global_shape: Vec<usize>,
        /// Global index of the block's first element, per axis.
        offset: Vec<usize>,
        /// Block shape.
        shape: Vec<usize>,
    },
    /// An elementwise function of one operand.
    Unary(UnaryOp, Box<Program<I>>),
    /// An elementwise function of two operands, broadcast against each other.
    Binary(BinaryOp, Box<Program<I>>, Box<Program<I>>),
    /// `cond ? a : b`, broadcast.
    Where(Box<Program<I>>, Box<Program<I>>, Box<Program<I>>),
    /// Conversion of the element type.
    Cast(DType, Box<Program<I>>),
    /// Axes reordered: output axis `i` is input axis `perm[i]`.
    Transpose(Vec<usize>, Box<Program<I>>),
    /// A strided window per axis.
    Slice(Vec<AxisSlice>, Box<Program<I>>),
    /// Length-1 axes removed.
    Squeeze(Vec<usize>, Box<Program<I>>),
    /// A length-1 axis inserted at a position.
    ExpandDims(usize, Box<Program<I>>),
    /// Broadcast to a shape.
    Broadcast(Vec<usize>, Box<Program<I>>),
    /// A grid of parts joined into one block: `grid[i]` parts along axis `i`, the parts
    /// listed in row-major grid order.
    Assemble {
        /// Parts along each axis.
        grid: Vec<usize>,
        /// The parts.
        parts: Vec<Program<I>>,
    },
    /// The elements of the first program where the second (a mask of the same shape) is
    /// true, in row-major order, as a 1-d block.
    Select(Box<Program<I>>, Box<Program<I>>),
}

/// `start..stop` by `step` (positive) along one axis, in block-local indices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct AxisSlice {
    /// First index taken.
    pub start: usize,
    /// One past the last index considered.
    pub stop: usize,
    /// Distance between taken indices.
    pub step: usize,
}

/// A random distribution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Distribution {
    /// Uniform over `[0, 1)`.
    Uniform,
    /// Standard normal.
    Normal,
}

/// Elementwise functions of one operand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum UnaryOp {
    /// `-x`.
    Neg,
    /// `|x|`.
    Abs,
    /// Logical not (bool only).
    Not,
    /// Square root.
    Sqrt,
    /// `e^x`.
    Exp,
    /// Natural logarithm.
    Ln,
    /// Base-10 logarithm.
    Log10,
    /// Sine.
    Sin,
    /// Cosine.
    Cos,
    /// Tangent.
    Tan,
    /// Hyperbolic tangent.
    Tanh,
    /// Largest integer not above.
    Floor,
    /// Smallest integer not below.
    Ceil,
    /// Nearest integer, half away from zero.
    Round,
    /// Whether the value is NaN.
    IsNan,
}

impl UnaryOp {
    /// The result type on an operand of `dtype`, or `None` when the function does not
    /// apply to it.
    pub fn output(self, dtype: DType) -> Option<DType> {
        use UnaryOp::*;
        match self {
            Neg | Abs => (dtype != DType::Bool).then_some(dtype),
            Not => (dtype == DType::Bool).then_some(DType::Bool),
            IsNan => Some(DType::Bool),
            Floor | Ceil | Round => Some(if dtype.is_float() { dtype } else { DType::F64 }),
            Sqrt | Exp | Ln | Log10 | Sin | Cos | Tan | Tanh => Some(dtype.float()),
        }
    }
}

/// Elementwise functions of two operands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum BinaryOp {
    /// `a + b`.
    Add,
    /// `a - b`.
    Sub,
    /// `a * b`.
    Mul,
    /// `a / b`, always a float (true division).
    Div,
    /// `a ** b`.
    Pow,
    /// The smaller of two.
    Minimum,
    /// The larger of two.
    Maximum,
    /// `a == b`.
    Eq,
    /// `a != b`.
    Ne,
    /// `a < b`.
    Lt,
    /// `a <= b`.
    Le,
    /// `a > b`.
    Gt,
    /// `a >= b`.
    Ge,
    /// Logical and (bool only).
    And,
    /// Logical or (bool only).
    Or,
    /// Logical exclusive or (bool only).
    Xor,
}

impl BinaryOp {
    /// The type both operands are converted to before the operation, or `None` when
    /// the operation does not apply to them.
    pub fn operand(self, a: DType, b: DType) -> Option<DType> {
        use BinaryOp::*;
        match self {
            And | Or | Xor => (a == DType::Bool && b == DType::Bool).then_some(DType::Bool),
            Div => Some(a.promote(b).float()),
            Pow => Some(a.promote(b)),
            Eq | Ne | Lt | Le | Gt | Ge | Minimum | Maximum if a == b => Some(a),
            _ => Some(a.promote(b)),
        }
    }

    /// Whether the result is a bool whatever the operands.
    pub fn is_comparison(self) -> bool {
        use BinaryOp::*;
        matches!(self, Eq | Ne | Lt | Le | Gt | Ge)
    }

    /// The result type on operands of these types.
    pub fn output(self, a: DType, b: DType) -> Option<DType> {
        let operand = self.operand(a, b)?;
        Some(if self.is_comparison() { DType::Bool } else { operand })
    }
}

impl<I> Program<I> {
    /// The same program with each input renamed by `f` (told whether it is a serde input).
    pub(crate) fn map_inputs<J>(&self, f: &mut impl FnMut(&I, bool) -> J) -> Program<J> {
        self.map_dyn(f)
    }

    fn map_dyn<J>(&self, f: &mut dyn FnMut(&I, bool) -> J) -> Program<J> {
        fn b<I, J>(p: &Program<I>, f: &mut dyn FnMut(&I, bool) -> J) -> Box<Program<J>> {
            Box::new(p.map_dyn(f))
        }
        match self {
            Program::Input(i) => Program::Input(f(i, false)),
            Program::Serde(i) => Program::Serde(f(i, true)),
            Program::Npy(path) => Program::Npy(path.clone()),
            Program::Parquet { path, column, row_group } => {
                Program::Parquet { path: path.clone(), column: column.clone(), row_group: *row_group }
            }
            Program::Fill { value, shape } => Program::Fill { value: *value, shape: shape.clone() },
            Program::Range { start, step, offset, len, dtype } => {
                Program::Range { start: *start, step: *step, offset: *offset, len: *len, dtype: *dtype }
            }
            Program::Random { seed, dist, global_shape, offset, shape } => Program::Random {
                seed: *seed,
                dist: *dist,
                global_shape: global_shape.clone(),
                offset: offset.clone(),
                shape: shape.clone(),
            },
            Program::Unary(op, a) => Program::Unary(*op, b(a, f)),
            Program::Binary(op, x, y) => {
                let x = b(x, f);
                Program::Binary(*op, x, b(y, f))
            }
            Program::Where(c, x, y) => {
                let c = b(c, f);
                let x = b(x, f);
                Program::Where(c, x, b(y, f))
            }
            Program::Cast(d, a) => Program::Cast(*d, b(a, f)),
            Program::Transpose(p, a) => Program::Transpose(p.clone(), b(a, f)),
            Program::Slice(s, a) => Program::Slice(s.clone(), b(a, f)),
            Program::Squeeze(s, a) => Program::Squeeze(s.clone(), b(a, f)),
            Program::ExpandDims(d, a) => Program::ExpandDims(*d, b(a, f)),
            Program::Broadcast(s, a) => Program::Broadcast(s.clone(), b(a, f)),
            Program::Assemble { grid, parts } => {
                Program::Assemble { grid: grid.clone(), parts: parts.iter().map(|p| p.map_dyn(f)).collect() }
            }
            Program::Select(x, m) => {
                let x = b(x, f);
                Program::Select(x, b(m, f))
            }
        }
    }

    /// A short name for what the program's last step does, for task keys.
    pub(crate) fn label(&self) -> String {
        match self {
            Program::Input(_) | Program::Serde(_) => "array".into(),
            Program::Npy(_) => "from_npy".into(),
            Program::Parquet { .. } => "from_parquet".into(),
            Program::Fill { .. } => "full".into(),
            Program::Range { .. } => "arange".into(),
            Program::Random { dist: Distribution::Uniform, .. } => "random".into(),
            Program::Random { dist: Distribution::Normal, .. } => "normal".into(),
            Program::Unary(op, _) => format!("{op:?}").to_lowercase(),
            Program::Binary(op, _, _) => format!("{op:?}").to_lowercase(),
            Program::Where(..) => "where".into(),
            Program::Cast(d, _) => format!("astype_{d}"),
            Program::Transpose(..) => "transpose".into(),
            Program::Slice(..) | Program::Squeeze(..) => "getitem".into(),
            Program::ExpandDims(..) => "expand_dims".into(),
            Program::Broadcast(..) => "broadcast_to".into(),
            Program::Assemble { .. } => "rechunk".into(),
            Program::Select(..) => "mask".into(),
        }
    }
}
