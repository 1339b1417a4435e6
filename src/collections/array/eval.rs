//! Evaluation of a block [`Program`] on a worker.

use ndarray::{ArrayD, Axis, IxDyn, Slice, Zip};

use super::codec;
use super::dtype::{DType, Element, NdArray, with_array};
use super::program::{AxisSlice, BinaryOp, Program, UnaryOp};
use super::random;
use crate::graph::Value;

/// Evaluates `program` with the task's inputs (argument 0, the program, excluded).
pub(crate) fn eval(program: &Program, inputs: &[Value]) -> Result<NdArray, String> {
    Ok(match program {
        Program::Input(n) => codec::from_value(input(inputs, *n)?)?,
        Program::Serde(n) => match input(inputs, *n)? {
            Value::Bytes(b) => postcard::from_bytes::<NdArray>(b)
                .map_err(|e| format!("argument {n} is not an array: {e}"))?,
            _ => return Err(format!("argument {n} is Arrow data, not a serde-encoded array")),
        },
        Program::Npy(path) => super::files::read_npy(path)?,
        Program::Parquet { path, column, row_group } => super::files::read_parquet(path, column, *row_group)?,
        Program::Fill { value, shape } => NdArray::full(shape, *value),
        Program::Range { start, step, offset, len, dtype } => {
            let values =
                ArrayD::from_shape_fn(IxDyn(&[*len]), |i| start + (offset + i[0] as u64) as f64 * step);
            NdArray::F64(values).cast(*dtype)
        }
        Program::Random { seed, dist, global_shape, offset, shape } => {
            NdArray::F64(random::block(*seed, *dist, global_shape, offset, shape)?)
        }
        Program::Unary(op, a) => unary(*op, eval(a, inputs)?)?,
        Program::Binary(op, a, b) => binary(*op, eval(a, inputs)?, eval(b, inputs)?)?,
        Program::Where(c, a, b) => select_where(eval(c, inputs)?, eval(a, inputs)?, eval(b, inputs)?)?,
        Program::Cast(dtype, a) => eval(a, inputs)?.cast(*dtype),
        Program::Transpose(perm, a) => {
            // Random values are generated straight in transposed order, with no copy.
            if let Program::Random { seed, dist, global_shape, offset, shape } = a.as_ref() {
                return Ok(NdArray::F64(random::permuted(*seed, *dist, global_shape, offset, shape, perm)?));
            }
            let a = eval(a, inputs)?;
            if perm.len() != a.shape().len() {
                return Err(format!(
                    "transpose of {} axes on a block of rank {}",
                    perm.len(),
                    a.shape().len()
                ));
            }
            with_array!(a, x => transpose(x, perm).into())
        }
        Program::Slice(slices, a) => {
            let a = eval(a, inputs)?;
            check_slices(slices, a.shape())?;
            with_array!(a, x => slice(x, slices).into())
        }
        Program::Squeeze(axes, a) => {
            let a = eval(a, inputs)?;
            let mut axes = axes.clone();
            axes.sort_unstable_by(|x, y| y.cmp(x));
            for &axis in &axes {
                if a.shape().get(axis) != Some(&1) {
                    return Err(format!("cannot drop axis {axis} of a block of shape {:?}", a.shape()));
                }
            }
            with_array!(a, x => {
                let mut x = x;
                for &axis in &axes {
                    x = x.index_axis_move(Axis(axis), 0);
                }
                x.into()
            })
        }
        Program::ExpandDims(axis, a) => {
            let a = eval(a, inputs)?;
            if *axis > a.shape().len() {
                return Err(format!("cannot insert axis {axis} into a block of rank {}", a.shape().len()));
            }
            with_array!(a, x => x.insert_axis(Axis(*axis)).into())
        }
        Program::Broadcast(shape, a) => {
            let a = eval(a, inputs)?;
            let from = a.shape().to_vec();
            with_array!(a, x => x
                .broadcast(IxDyn(shape))
                .ok_or_else(|| format!("cannot broadcast a block of shape {from:?} to {shape:?}"))?
                .to_owned()
                .into())
        }
        Program::Assemble { grid, parts } => {
            let parts = parts.iter().map(|p| eval(p, inputs)).collect::<Result<Vec<_>, _>>()?;
            assemble(grid, parts)?
        }
        Program::Select(data, mask) => {
            let (data, mask) = (eval(data, inputs)?, eval(mask, inputs)?);
            let NdArray::Bool(mask) = mask else { return Err("a selection mask must be bool".into()) };
            if data.shape() != mask.shape() {
                return Err(format!(
                    "mask of shape {:?} for a block of shape {:?}",
                    mask.shape(),
                    data.shape()
                ));
            }
            with_array!(data, x => {
                let picked: Vec<_> = x.iter().zip(mask.iter()).filter(|(_, m)| **m).map(|(v, _)| *v).collect();
                let n = picked.len();
                ArrayD::from_shape_vec(IxDyn(&[n]), picked).map_err(|e| e.to_string())?.into()
            })
        }
    })
}

/// Axes permuted. A 2-d block comes back in row-major order, copied tile by tile, so
/// the operations after it read memory in order (a strided transposed view would make
/// every element of an 8 MB block a cache miss); other ranks get a permuted view.
fn transpose<T: Copy>(x: ArrayD<T>, perm: &[usize]) -> ArrayD<T> {
    const TILE: usize = 32;
    if perm != [1, 0] || !x.is_standard_layout() || x.len() < TILE * TILE {
        return x.permuted_axes(IxDyn(perm));
    }
    let (rows, cols) = (x.shape()[0], x.shape()[1]);
    let Some(src) = x.as_slice() else { return x.permuted_axes(IxDyn(perm)) };
    let mut out: Vec<T> = Vec::with_capacity(rows * cols);
    let spare = out.spare_capacity_mut();
    for i0 in (0..rows).step_by(TILE) {
        for j0 in (0..cols).step_by(TILE) {
            for i in i0..(i0 + TILE).min(rows) {
                for j in j0..(j0 + TILE).min(cols) {
                    spare[j * rows + i].write(src[i * cols + j]);
                }
            }
        }
    }
    // SAFETY: the tiles cover every (i, j) once, so all rows * cols slots are written.
    unsafe { out.set_len(rows * cols) };
    ArrayD::from_shape_vec(IxDyn(&[cols, rows]), out).unwrap_or_else(|e| panic!("transpose shape: {e}"))
}

fn input(inputs: &[Value], n: u32) -> Result<&Value, String> {
    inputs
        .get(n as usize)
        .ok_or_else(|| format!("the program reads argument {n}, the task has {}", inputs.len()))
}

fn check_slices(slices: &[AxisSlice], shape: &[usize]) -> Result<(), String> {
    if slices.len() != shape.len() {
        return Err(format!("{} slices for a block of rank {}", slices.len(), shape.len()));
    }
    for (axis, (s, &n)) in slices.iter().zip(shape).enumerate() {
        if s.step == 0 || s.start > s.stop || s.stop > n {
            return Err(format!(
                "slice {}..{} by {} out of range on axis {axis} of length {n}",
                s.start, s.stop, s.step
            ));
        }
    }
    Ok(())
}

fn slice<T>(mut x: ArrayD<T>, slices: &[AxisSlice]) -> ArrayD<T> {
    x.slice_each_axis_inplace(|ax| {
        let s = slices[ax.axis.index()];
        Slice::new(s.start as isize, Some(s.stop as isize), s.step as isize)
    });
    x
}

/// The shape two shapes broadcast to, as NumPy: aligned at the last axis, each extent
/// equal or 1.
pub(crate) fn broadcast_shape(a: &[usize], b: &[usize]) -> Option<Vec<usize>> {
    let n = a.len().max(b.len());
    let mut out = vec![0; n];
    for i in 0..n {
        let x = if i + a.len() >= n { a[i + a.len() - n] } else { 1 };
        let y = if i + b.len() >= n { b[i + b.len() - n] } else { 1 };
        out[i] = match (x, y) {
            (x, y) if x == y => x,
            (1, y) => y,
            (x, 1) => x,
            _ => return None,
        };
    }
    Some(out)
}

/// `f` over two arrays broadcast together; reuses `a`'s buffer when it has the result shape.
fn zip_same<T: Element>(a: ArrayD<T>, b: ArrayD<T>, f: impl Fn(T, T) -> T) -> Result<ArrayD<T>, String> {
    let shape = broadcast_shape(a.shape(), b.shape())
        .ok_or_else(|| format!("blocks of shapes {:?} and {:?} do not broadcast", a.shape(), b.shape()))?;
    if a.shape() == shape.as_slice() {
        let mut a = a;
        let bv = b.broadcast(IxDyn(&shape)).ok_or("broadcast failed")?;
        Zip::from(&mut a).and(&bv).for_each(|x, y| *x = f(*x, *y));
        return Ok(a);
    }
    zip_map(&a, &b, f)
}

fn zip_map<T: Element, O>(a: &ArrayD<T>, b: &ArrayD<T>, f: impl Fn(T, T) -> O) -> Result<ArrayD<O>, String> {
    let shape = broadcast_shape(a.shape(), b.shape())
        .ok_or_else(|| format!("blocks of shapes {:?} and {:?} do not broadcast", a.shape(), b.shape()))?;
    let av = a.broadcast(IxDyn(&shape)).ok_or("broadcast failed")?;
    let bv = b.broadcast(IxDyn(&shape)).ok_or("broadcast failed")?;
    Ok(Zip::from(&av).and(&bv).map_collect(|x, y| f(*x, *y)))
}

/// Arithmetic every numeric element type has.
trait Arith: Element {
    fn add(self, b: Self) -> Self;
    fn sub(self, b: Self) -> Self;
    fn mul(self, b: Self) -> Self;
    fn div(self, b: Self) -> Self;
    fn pow(self, b: Self) -> Self;
}

impl Arith for i64 {
    fn add(self, b: Self) -> Self {
        self.wrapping_add(b)
    }
    fn sub(self, b: Self) -> Self {
        self.wrapping_sub(b)
    }
    fn mul(self, b: Self) -> Self {
        self.wrapping_mul(b)
    }
    fn div(self, b: Self) -> Self {
        self.checked_div(b).unwrap_or(0)
    }
    fn pow(self, b: Self) -> Self {
        if b < 0 { 0 } else { self.wrapping_pow(b.min(u32::MAX as i64) as u32) }
    }
}

macro_rules! float_arith {
    ($t:ty) => {
        impl Arith for $t {
            fn add(self, b: Self) -> Self {
                self + b
            }
            fn sub(self, b: Self) -> Self {
                self - b
            }
            fn mul(self, b: Self) -> Self {
                self * b
            }
            fn div(self, b: Self) -> Self {
                self / b
            }
            fn pow(self, b: Self) -> Self {
                self.powf(b)
            }
        }
    };
}
float_arith!(f32);
float_arith!(f64);

fn arith<T: Arith>(op: BinaryOp, a: ArrayD<T>, b: ArrayD<T>) -> Result<ArrayD<T>, String> {
    use BinaryOp::*;
    match op {
        Add => zip_same(a, b, T::add),
        Sub => zip_same(a, b, T::sub),
        Mul => zip_same(a, b, T::mul),
        Div => zip_same(a, b, T::div),
        Pow => zip_same(a, b, T::pow),
        Minimum => zip_same(a, b, |x, y| if y < x || is_nan(y) { y } else { x }),
        Maximum => zip_same(a, b, |x, y| if y > x || is_nan(y) { y } else { x }),
        _ => Err(format!("{op:?} is not arithmetic")),
    }
}

/// Whether a value is unordered against itself: a NaN.
pub(crate) fn is_nan<T: PartialOrd>(v: T) -> bool {
    v.partial_cmp(&v).is_none()
}

fn compare<T: Element>(op: BinaryOp, a: &ArrayD<T>, b: &ArrayD<T>) -> Result<ArrayD<bool>, String> {
    use BinaryOp::*;
    match op {
        Eq => zip_map(a, b, |x, y| x == y),
        Ne => zip_map(a, b, |x, y| x != y),
        Lt => zip_map(a, b, |x, y| x < y),
        Le => zip_map(a, b, |x, y| x <= y),
        Gt => zip_map(a, b, |x, y| x > y),
        Ge => zip_map(a, b, |x, y| x >= y),
        _ => Err(format!("{op:?} is not a comparison")),
    }
}

/// Applies a binary operation, converting both operands to its operand type first.
pub(crate) fn binary(op: BinaryOp, a: NdArray, b: NdArray) -> Result<NdArray, String> {
    let operand = op
        .operand(a.dtype(), b.dtype())
        .ok_or_else(|| format!("{op:?} does not apply to {} and {}", a.dtype(), b.dtype()))?;
    let (a, b) = (a.cast(operand), b.cast(operand));
    if op.is_comparison() {
        return Ok(NdArray::Bool(match (&a, &b) {
            (NdArray::Bool(x), NdArray::Bool(y)) => compare(op, x, y)?,
            (NdArray::I64(x), NdArray::I64(y)) => compare(op, x, y)?,
            (NdArray::F32(x), NdArray::F32(y)) => compare(op, x, y)?,
            (NdArray::F64(x), NdArray::F64(y)) => compare(op, x, y)?,
            _ => return Err("operands of different types".into()),
        }));
    }
    Ok(match (a, b) {
        (NdArray::Bool(x), NdArray::Bool(y)) => NdArray::Bool(match op {
            BinaryOp::And => zip_same(x, y, |p, q| p & q)?,
            BinaryOp::Or => zip_same(x, y, |p, q| p | q)?,
            BinaryOp::Xor => zip_same(x, y, |p, q| p ^ q)?,
            BinaryOp::Minimum => zip_same(x, y, |p, q| p & q)?,
            BinaryOp::Maximum => zip_same(x, y, |p, q| p | q)?,
            _ => return Err(format!("{op:?} does not apply to bool")),
        }),
        (NdArray::I64(x), NdArray::I64(y)) => NdArray::I64(arith(op, x, y)?),
        (NdArray::F32(x), NdArray::F32(y)) => NdArray::F32(arith(op, x, y)?),
        (NdArray::F64(x), NdArray::F64(y)) => NdArray::F64(arith(op, x, y)?),
        _ => return Err("operands of different types".into()),
    })
}

/// Applies an elementwise function of one operand.
pub(crate) fn unary(op: UnaryOp, a: NdArray) -> Result<NdArray, String> {
    use UnaryOp::*;
    let out = op.output(a.dtype()).ok_or_else(|| format!("{op:?} does not apply to {}", a.dtype()))?;
    Ok(match op {
        Not => match a {
            NdArray::Bool(x) => NdArray::Bool(x.mapv_into(|v| !v)),
            _ => return Err("not applies to bool".into()),
        },
        Neg => match a {
            NdArray::I64(x) => NdArray::I64(x.mapv_into(i64::wrapping_neg)),
            NdArray::F32(x) => NdArray::F32(x.mapv_into(|v| -v)),
            NdArray::F64(x) => NdArray::F64(x.mapv_into(|v| -v)),
            NdArray::Bool(_) => return Err("neg does not apply to bool".into()),
        },
        Abs => match a {
            NdArray::I64(x) => NdArray::I64(x.mapv_into(i64::wrapping_abs)),
            NdArray::F32(x) => NdArray::F32(x.mapv_into(f32::abs)),
            NdArray::F64(x) => NdArray::F64(x.mapv_into(f64::abs)),
            NdArray::Bool(_) => return Err("abs does not apply to bool".into()),
        },
        IsNan => NdArray::Bool(match a {
            NdArray::F32(x) => x.mapv(f32::is_nan),
            NdArray::F64(x) => x.mapv(f64::is_nan),
            other => ArrayD::from_elem(IxDyn(other.shape()), false),
        }),
        _ => match a.cast(out) {
            NdArray::F32(x) => NdArray::F32(x.mapv_into(|v| float_fn(op, f64::from(v)) as f32)),
            NdArray::F64(x) => NdArray::F64(x.mapv_into(|v| float_fn(op, v))),
            _ => return Err(format!("{op:?} gives a float")),
        },
    })
}

fn float_fn(op: UnaryOp, v: f64) -> f64 {
    use UnaryOp::*;
    match op {
        Sqrt => v.sqrt(),
        Exp => v.exp(),
        Ln => v.ln(),
        Log10 => v.log10(),
        Sin => v.sin(),
        Cos => v.cos(),
        Tan => v.tan(),
        Tanh => v.tanh(),
        Floor => v.floor(),
        Ceil => v.ceil(),
        Round => v.round(),
        Neg => -v,
        Abs => v.abs(),
        Not | IsNan => v,
    }
}

fn select_where(cond: NdArray, a: NdArray, b: NdArray) -> Result<NdArray, String> {
    let NdArray::Bool(cond) = cond else { return Err("the condition of where must be bool".into()) };
    let dtype = if a.dtype() == b.dtype() { a.dtype() } else { a.dtype().promote(b.dtype()) };
    let shape = broadcast_shape(a.shape(), b.shape())
        .and_then(|s| broadcast_shape(&s, cond.shape()))
        .ok_or_else(|| "where's operands do not broadcast".to_string())?;
    fn pick<T: Element>(
        c: &ArrayD<bool>,
        a: &ArrayD<T>,
        b: &ArrayD<T>,
        shape: &[usize],
    ) -> Option<ArrayD<T>> {
        let (c, a, b) = (c.broadcast(IxDyn(shape))?, a.broadcast(IxDyn(shape))?, b.broadcast(IxDyn(shape))?);
        Some(Zip::from(&c).and(&a).and(&b).map_collect(|c, a, b| if *c { *a } else { *b }))
    }
    let fail = || "where's operands do not broadcast".to_string();
    Ok(match (a.cast(dtype), b.cast(dtype)) {
        (NdArray::Bool(x), NdArray::Bool(y)) => NdArray::Bool(pick(&cond, &x, &y, &shape).ok_or_else(fail)?),
        (NdArray::I64(x), NdArray::I64(y)) => NdArray::I64(pick(&cond, &x, &y, &shape).ok_or_else(fail)?),
        (NdArray::F32(x), NdArray::F32(y)) => NdArray::F32(pick(&cond, &x, &y, &shape).ok_or_else(fail)?),
        (NdArray::F64(x), NdArray::F64(y)) => NdArray::F64(pick(&cond, &x, &y, &shape).ok_or_else(fail)?),
        _ => return Err("operands of different types".into()),
    })
}

/// Joins a grid of blocks; parts in row-major grid order, all of one element type.
pub(crate) fn assemble(grid: &[usize], parts: Vec<NdArray>) -> Result<NdArray, String> {
    let count: usize = grid.iter().product();
    if parts.len() != count || parts.is_empty() {
        return Err(format!("a grid of {grid:?} needs {count} parts, got {}", parts.len()));
    }
    if parts.len() == 1 {
        return parts.into_iter().next().ok_or_else(|| "no parts".to_string());
    }
    let dtype = parts[0].dtype();
    let ndim = grid.len();
    // Extent of each grid row/column along each axis, from the parts on the grid's edges.
    let mut sizes: Vec<Vec<usize>> = Vec::with_capacity(ndim);
    for axis in 0..ndim {
        let stride: usize = grid[axis + 1..].iter().product();
        sizes.push(
            (0..grid[axis]).map(|i| parts[i * stride].shape().get(axis).copied().unwrap_or(0)).collect(),
        );
    }
    let shape: Vec<usize> = sizes.iter().map(|s| s.iter().sum()).collect();
    let parts: Vec<NdArray> = parts.into_iter().map(|p| p.cast(dtype)).collect();
    fn fill<T: Element + Default>(
        shape: &[usize],
        grid: &[usize],
        sizes: &[Vec<usize>],
        parts: Vec<ArrayD<T>>,
    ) -> Result<ArrayD<T>, String> {
        let mut out = ArrayD::from_elem(IxDyn(shape), T::default());
        for (n, part) in parts.into_iter().enumerate() {
            let mut rest = n;
            let mut start = vec![0usize; grid.len()];
            for axis in (0..grid.len()).rev() {
                let i = rest % grid[axis];
                rest /= grid[axis];
                start[axis] = sizes[axis][..i].iter().sum();
            }
            let mut view = out.view_mut();
            for (axis, &s) in start.iter().enumerate() {
                let len = part.shape()[axis];
                view.slice_axis_inplace(Axis(axis), Slice::from(s..s + len));
            }
            if view.shape() != part.shape() {
                return Err(format!("a part of shape {:?} does not fit its place in the grid", part.shape()));
            }
            view.assign(&part);
        }
        Ok(out)
    }
    macro_rules! typed {
        ($variant:ident) => {
            NdArray::$variant(fill(
                &shape,
                grid,
                &sizes,
                parts
                    .into_iter()
                    .map(|p| match p {
                        NdArray::$variant(x) if x.ndim() == grid.len() => Ok(x),
                        other => Err(format!("a part {} does not match the grid", codec::describe(&other))),
                    })
                    .collect::<Result<Vec<_>, String>>()?,
            )?)
        };
    }
    Ok(match dtype {
        DType::Bool => typed!(Bool),
        DType::I64 => typed!(I64),
        DType::F32 => typed!(F32),
        DType::F64 => typed!(F64),
    })
}

/// A 0-d array holding `value`.
#[cfg(test)]
pub(crate) fn scalar_array(value: super::dtype::Scalar) -> NdArray {
    NdArray::full(&[], value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collections::array::dtype::Scalar;

    fn f64s(shape: &[usize], v: Vec<f64>) -> NdArray {
        NdArray::F64(ArrayD::from_shape_vec(IxDyn(shape), v).expect("shape"))
    }

    #[test]
    fn broadcasting_follows_numpy() {
        assert_eq!(broadcast_shape(&[3, 1], &[4]), Some(vec![3, 4]));
        assert_eq!(broadcast_shape(&[], &[2, 2]), Some(vec![2, 2]));
        assert_eq!(broadcast_shape(&[3], &[4]), None);
        let a = f64s(&[2, 1], vec![1.0, 2.0]);
        let b = f64s(&[3], vec![10.0, 20.0, 30.0]);
        let sum = binary(BinaryOp::Add, a, b).expect("adds");
        assert_eq!(sum, f64s(&[2, 3], vec![11.0, 21.0, 31.0, 12.0, 22.0, 32.0]));
    }

    #[test]
    fn mixed_types_promote_and_division_is_true_division() {
        let a = NdArray::I64(ArrayD::from_shape_vec(IxDyn(&[2]), vec![1, 3]).expect("shape"));
        let half = binary(BinaryOp::Div, a.clone(), scalar_array(Scalar::I64(2))).expect("divides");
        assert_eq!(half, f64s(&[2], vec![0.5, 1.5]));
        let gt = binary(BinaryOp::Gt, a, scalar_array(Scalar::F64(2.0))).expect("compares");
        assert_eq!(gt.into_typed::<bool>().expect("bool").into_raw_vec_and_offset().0, vec![false, true]);
    }

    #[test]
    fn tiled_transpose_matches_the_view() {
        let x = ArrayD::from_shape_fn(IxDyn(&[70, 45]), |i| (i[0] * 100 + i[1]) as i64);
        let t = transpose(x.clone(), &[1, 0]);
        assert!(t.is_standard_layout());
        assert_eq!(t, x.t());
    }

    #[test]
    fn assemble_joins_uneven_parts() {
        let parts = vec![
            f64s(&[2, 1], vec![1.0, 4.0]),
            f64s(&[2, 2], vec![2.0, 3.0, 5.0, 6.0]),
            f64s(&[1, 1], vec![7.0]),
            f64s(&[1, 2], vec![8.0, 9.0]),
        ];
        let whole = assemble(&[2, 2], parts).expect("assembles");
        assert_eq!(whole, f64s(&[3, 3], (1..=9).map(f64::from).collect()));
    }
}
