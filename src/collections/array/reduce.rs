//! Reductions as partial states: computed per chunk, merged in a tree, finished once.
//!
//! A state keeps the reduced axes as length 1, so the states of chunks that lie along
//! the reduced axes all have one shape and merge elementwise, however many levels the
//! tree has. Variance uses Chan et al.'s pairwise update of (count, mean, M2), which
//! stays accurate where a sum of squares would cancel.

use ndarray::{ArrayD, Axis, Dimension, IxDyn, Zip};
use serde::{Deserialize, Serialize};

use super::dtype::{DType, Element, NdArray};
use super::eval::is_nan;

/// A reduction over some axes of an array.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Reduction {
    /// Sum (of a `bool` array: a count, as `i64`).
    Sum,
    /// Arithmetic mean.
    Mean,
    /// Smallest value; NaN if any is NaN.
    Min,
    /// Largest value; NaN if any is NaN.
    Max,
    /// Variance with `ddof` delta degrees of freedom.
    Var {
        /// Delta degrees of freedom: the divisor is `n - ddof`.
        ddof: u32,
    },
    /// Standard deviation with `ddof` delta degrees of freedom.
    Std {
        /// Delta degrees of freedom.
        ddof: u32,
    },
    /// Position of the smallest value (first one on ties; a NaN counts as smallest).
    ArgMin,
    /// Position of the largest value (first one on ties; a NaN counts as largest).
    ArgMax,
    /// Whether any element is true (non-zero).
    Any,
    /// Whether every element is true (non-zero).
    All,
}

impl Reduction {
    /// The element type of the result on an input of `dtype`.
    pub fn output(self, dtype: DType) -> DType {
        use Reduction::*;
        match self {
            Sum if dtype == DType::Bool => DType::I64,
            Sum | Min | Max => dtype,
            Mean | Var { .. } | Std { .. } => dtype.float(),
            ArgMin | ArgMax => DType::I64,
            Any | All => DType::Bool,
        }
    }

    /// Whether the reduction has no value on zero elements.
    pub fn needs_elements(self) -> bool {
        matches!(self, Reduction::Min | Reduction::Max | Reduction::ArgMin | Reduction::ArgMax)
    }

    /// Its name, as in messages and task keys.
    pub fn name(self) -> &'static str {
        use Reduction::*;
        match self {
            Sum => "sum",
            Mean => "mean",
            Min => "min",
            Max => "max",
            Var { .. } => "var",
            Std { .. } => "std",
            ArgMin => "argmin",
            ArgMax => "argmax",
            Any => "any",
            All => "all",
        }
    }
}

/// Where a chunk lies in its array, for arg-reductions' global positions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Place {
    /// Global index of the chunk's first element, per axis.
    pub offset: Vec<usize>,
    /// Shape of the whole array.
    pub global_shape: Vec<usize>,
}

/// A partial state: named arrays of one shape.
pub(crate) type State = Vec<(String, NdArray)>;

fn field(state: &mut State, name: &str) -> Result<NdArray, String> {
    let i = state.iter().position(|(n, _)| n == name).ok_or_else(|| format!("state has no {name} field"))?;
    Ok(state.swap_remove(i).1)
}

fn keep<T: Clone>(mut x: ArrayD<T>, axes: &[usize], f: impl Fn(&ArrayD<T>, Axis) -> ArrayD<T>) -> ArrayD<T> {
    for &axis in axes {
        x = f(&x, Axis(axis)).insert_axis(Axis(axis));
    }
    x
}

fn sum_keep<T: Clone + num_traits::Zero + std::ops::Add<Output = T>>(
    x: ArrayD<T>,
    axes: &[usize],
) -> ArrayD<T> {
    keep(x, axes, |x, a| x.sum_axis(a))
}

fn fold_keep<T: Element>(x: ArrayD<T>, axes: &[usize], pick: fn(T, T) -> T) -> ArrayD<T> {
    keep(x, axes, |x, a| {
        x.map_axis(a, |lane| {
            let mut it = lane.iter();
            let first = it.next().copied();
            it.fold(first, |acc, v| acc.map(|acc| pick(acc, *v))).unwrap_or_else(|| lane[0])
        })
    })
}

fn min_of<T: Element>(a: T, b: T) -> T {
    if is_nan(a) || b < a || is_nan(b) { if is_nan(a) { a } else { b } } else { a }
}

fn max_of<T: Element>(a: T, b: T) -> T {
    if is_nan(a) || b > a || is_nan(b) { if is_nan(a) { a } else { b } } else { a }
}

/// Whether `b` beats `a` for an arg-reduction (`max` or min); NaN wins, ties keep `a`.
fn beats<T: Element>(b: T, a: T, max: bool) -> bool {
    if is_nan(a) {
        return false;
    }
    if is_nan(b) {
        return true;
    }
    if max { b > a } else { b < a }
}

/// The state of one chunk for `reduction` over `axes`.
pub(crate) fn partial(
    reduction: Reduction,
    x: NdArray,
    axes: &[usize],
    place: &Place,
) -> Result<State, String> {
    use Reduction::*;
    let s = |name: &str, a: NdArray| (name.to_string(), a);
    Ok(match reduction {
        Sum => vec![s(
            "sum",
            match x {
                NdArray::Bool(a) => NdArray::I64(sum_keep(a.mapv(i64::from), axes)),
                NdArray::I64(a) => NdArray::I64(sum_keep(a, axes)),
                NdArray::F32(a) => NdArray::F32(sum_keep(a, axes)),
                NdArray::F64(a) => NdArray::F64(sum_keep(a, axes)),
            },
        )],
        Mean | Var { .. } | Std { .. } => {
            let n: usize = axes.iter().map(|&a| x.shape()[a]).product();
            let Some(a) = x.cast(DType::F64).into_typed::<f64>() else {
                return Err("cast to f64 failed".into());
            };
            if reduction == Mean {
                let sum = sum_keep(a, axes);
                let count = ArrayD::from_elem(sum.raw_dim(), n as f64);
                vec![s("sum", NdArray::F64(sum)), s("count", NdArray::F64(count))]
            } else {
                let sum = sum_keep(a.clone(), axes);
                let count = ArrayD::from_elem(sum.raw_dim(), n as f64);
                let mean = if n == 0 { sum.mapv(|_| 0.0) } else { sum.mapv(|v| v / n as f64) };
                let dev = {
                    let m = mean.broadcast(a.raw_dim()).ok_or("broadcast of the mean failed")?;
                    let mut d = a;
                    Zip::from(&mut d).and(&m).for_each(|v, m| *v = (*v - m) * (*v - m));
                    d
                };
                let m2 = sum_keep(dev, axes);
                vec![
                    s("count", NdArray::F64(count)),
                    s("mean", NdArray::F64(mean)),
                    s("m2", NdArray::F64(m2)),
                ]
            }
        }
        Min => vec![s(
            "value",
            match x {
                NdArray::Bool(a) => NdArray::Bool(fold_keep(a, axes, |p, q| p & q)),
                NdArray::I64(a) => NdArray::I64(fold_keep(a, axes, min_of)),
                NdArray::F32(a) => NdArray::F32(fold_keep(a, axes, min_of)),
                NdArray::F64(a) => NdArray::F64(fold_keep(a, axes, min_of)),
            },
        )],
        Max => vec![s(
            "value",
            match x {
                NdArray::Bool(a) => NdArray::Bool(fold_keep(a, axes, |p, q| p | q)),
                NdArray::I64(a) => NdArray::I64(fold_keep(a, axes, max_of)),
                NdArray::F32(a) => NdArray::F32(fold_keep(a, axes, max_of)),
                NdArray::F64(a) => NdArray::F64(fold_keep(a, axes, max_of)),
            },
        )],
        Any | All => {
            let Some(a) = x.cast(DType::Bool).into_typed::<bool>() else {
                return Err("cast to bool failed".into());
            };
            let any = reduction == Any;
            vec![s("value", NdArray::Bool(fold_keep(a, axes, if any { |p, q| p | q } else { |p, q| p & q })))]
        }
        ArgMin | ArgMax => {
            let max = reduction == ArgMax;
            let (value, index) = match x {
                NdArray::Bool(a) => arg_partial(a, axes, place, max).map(|(v, i)| (NdArray::Bool(v), i))?,
                NdArray::I64(a) => arg_partial(a, axes, place, max).map(|(v, i)| (NdArray::I64(v), i))?,
                NdArray::F32(a) => arg_partial(a, axes, place, max).map(|(v, i)| (NdArray::F32(v), i))?,
                NdArray::F64(a) => arg_partial(a, axes, place, max).map(|(v, i)| (NdArray::F64(v), i))?,
            };
            vec![s("value", value), s("index", NdArray::I64(index))]
        }
    })
}

/// Best value and its global position: along one axis, or over all axes as a flat index.
fn arg_partial<T: Element>(
    a: ArrayD<T>,
    axes: &[usize],
    place: &Place,
    max: bool,
) -> Result<(ArrayD<T>, ArrayD<i64>), String> {
    let ndim = a.ndim();
    if axes.len() == ndim && ndim != 1 {
        // All axes: one best element, as a flat index into the whole array.
        let mut best: Option<(T, Vec<usize>)> = None;
        for (idx, v) in a.indexed_iter() {
            if best.as_ref().is_none_or(|(b, _)| beats(*v, *b, max)) {
                best = Some((*v, idx.slice().to_vec()));
            }
        }
        let (v, idx) = best.ok_or("an arg-reduction over no elements")?;
        let mut flat: i64 = 0;
        for ((&n, &o), &i) in place.global_shape.iter().zip(&place.offset).zip(&idx) {
            flat = flat * n as i64 + (o + i) as i64;
        }
        let ones = IxDyn(&vec![1; ndim]);
        return Ok((ArrayD::from_elem(ones.clone(), v), ArrayD::from_elem(ones, flat)));
    }
    let [axis] = axes else { return Err("an arg-reduction runs over one axis or all of them".into()) };
    let offset = place.offset[*axis] as i64;
    let lanes = a.map_axis(Axis(*axis), |lane| {
        let mut best: Option<(T, usize)> = None;
        for (i, v) in lane.iter().enumerate() {
            if best.is_none_or(|(b, _)| beats(*v, b, max)) {
                best = Some((*v, i));
            }
        }
        best
    });
    let values: Vec<T> = lanes
        .iter()
        .map(|b| b.map(|(v, _)| v))
        .collect::<Option<_>>()
        .ok_or("an arg-reduction over no elements")?;
    let value = ArrayD::from_shape_vec(lanes.raw_dim(), values).map_err(|e| e.to_string())?;
    let index = lanes.mapv(|b| b.map_or(0, |(_, i)| offset + i as i64));
    Ok((value.insert_axis(Axis(*axis)), index.insert_axis(Axis(*axis))))
}

/// The elementwise sum of two states' `name` fields.
fn add(name: &str, a: &mut State, b: &mut State) -> Result<(String, NdArray), String> {
    let (x, y) = (field(a, name)?, field(b, name)?);
    if x.shape() != y.shape() || x.dtype() != y.dtype() {
        return Err(format!("states of shapes {:?} and {:?} do not merge", x.shape(), y.shape()));
    }
    Ok((name.to_string(), super::eval::binary(super::program::BinaryOp::Add, x, y)?))
}

/// The states of consecutive bands of rows joined along the first axis, field by field.
pub(crate) fn join_rows(states: Vec<State>) -> Result<State, String> {
    let n = states.len();
    let mut states = states.into_iter();
    let first = states.next().ok_or("no states to join")?;
    let mut fields: Vec<(String, Vec<NdArray>)> =
        first.into_iter().map(|(name, a)| (name, vec![a])).collect();
    for state in states {
        if state.len() != fields.len() {
            return Err("band states with different fields".into());
        }
        for ((name, a), field) in state.into_iter().zip(fields.iter_mut()) {
            if name != field.0 {
                return Err(format!("band states with fields {name} and {}", field.0));
            }
            field.1.push(a);
        }
    }
    fields
        .into_iter()
        .map(|(name, parts)| {
            let mut grid = vec![1; parts.first().map_or(0, |p| p.shape().len())];
            if let Some(rows) = grid.first_mut() {
                *rows = n;
            }
            Ok((name, super::eval::assemble(&grid, parts)?))
        })
        .collect()
}

/// Merges two states of the same reduction and shape.
pub(crate) fn merge(reduction: Reduction, mut a: State, mut b: State) -> Result<State, String> {
    use Reduction::*;
    let same = |x: &NdArray, y: &NdArray| {
        if x.shape() == y.shape() && x.dtype() == y.dtype() {
            Ok(())
        } else {
            Err(format!("states of shapes {:?} and {:?} do not merge", x.shape(), y.shape()))
        }
    };
    let s = |name: &str, a: NdArray| (name.to_string(), a);
    Ok(match reduction {
        Sum => vec![add("sum", &mut a, &mut b)?],
        Mean => vec![add("sum", &mut a, &mut b)?, add("count", &mut a, &mut b)?],
        Var { .. } | Std { .. } => {
            let f = |st: &mut State, name: &str| -> Result<ArrayD<f64>, String> {
                field(st, name)?.into_typed::<f64>().ok_or_else(|| format!("{name} is not f64"))
            };
            let (na, ma, m2a) = (f(&mut a, "count")?, f(&mut a, "mean")?, f(&mut a, "m2")?);
            let (nb, mb, m2b) = (f(&mut b, "count")?, f(&mut b, "mean")?, f(&mut b, "m2")?);
            if na.shape() != nb.shape() {
                return Err("variance states of different shapes".into());
            }
            let mut n = na.clone();
            let mut mean = ma.clone();
            let mut m2 = m2a.clone();
            Zip::from(&mut n).and(&mut mean).and(&mut m2).and(&nb).and(&mb).and(&m2b).for_each(
                |n, mean, m2, nb, mb, m2b| {
                    let na = *n;
                    let total = na + nb;
                    if total > 0.0 {
                        let delta = mb - *mean;
                        *mean += delta * nb / total;
                        *m2 += m2b + delta * delta * na * nb / total;
                    }
                    *n = total;
                },
            );
            vec![s("count", NdArray::F64(n)), s("mean", NdArray::F64(mean)), s("m2", NdArray::F64(m2))]
        }
        Min | Max | Any | All => {
            let (x, y) = (field(&mut a, "value")?, field(&mut b, "value")?);
            same(&x, &y)?;
            let op = match reduction {
                Min => super::program::BinaryOp::Minimum,
                Max => super::program::BinaryOp::Maximum,
                Any => super::program::BinaryOp::Or,
                _ => super::program::BinaryOp::And,
            };
            vec![s("value", super::eval::binary(op, x, y)?)]
        }
        ArgMin | ArgMax => {
            let max = reduction == ArgMax;
            let (va, vb) = (field(&mut a, "value")?, field(&mut b, "value")?);
            let (ia, ib) = (field(&mut a, "index")?, field(&mut b, "index")?);
            same(&va, &vb)?;
            let (Some(mut ia), Some(ib)) = (ia.into_typed::<i64>(), ib.into_typed::<i64>()) else {
                return Err("arg indices are not i64".into());
            };
            fn pick<T: Element>(
                mut va: ArrayD<T>,
                vb: &ArrayD<T>,
                ia: &mut ArrayD<i64>,
                ib: &ArrayD<i64>,
                max: bool,
            ) -> ArrayD<T> {
                Zip::from(&mut va).and(vb).and(ia).and(ib).for_each(|va, vb, ia, ib| {
                    // The later chunk wins only if strictly better, or equal at a smaller index.
                    let better = beats(*vb, *va, max) || (!beats(*va, *vb, max) && ib < ia);
                    if better {
                        *va = *vb;
                        *ia = *ib;
                    }
                });
                va
            }
            let value = match (va, vb) {
                (NdArray::Bool(x), NdArray::Bool(y)) => NdArray::Bool(pick(x, &y, &mut ia, &ib, max)),
                (NdArray::I64(x), NdArray::I64(y)) => NdArray::I64(pick(x, &y, &mut ia, &ib, max)),
                (NdArray::F32(x), NdArray::F32(y)) => NdArray::F32(pick(x, &y, &mut ia, &ib, max)),
                (NdArray::F64(x), NdArray::F64(y)) => NdArray::F64(pick(x, &y, &mut ia, &ib, max)),
                _ => return Err("arg states of different types".into()),
            };
            vec![s("value", value), s("index", NdArray::I64(ia))]
        }
    })
}

/// The result from a merged state: reduced axes dropped, in the reduction's output type.
pub(crate) fn finish(
    reduction: Reduction,
    mut state: State,
    axes: &[usize],
    input: DType,
) -> Result<NdArray, String> {
    use Reduction::*;
    let out = match reduction {
        Sum => field(&mut state, "sum")?,
        Mean => {
            let sum = field(&mut state, "sum")?;
            let count = field(&mut state, "count")?;
            super::eval::binary(super::program::BinaryOp::Div, sum, count)?
        }
        Var { ddof } | Std { ddof } => {
            let n = field(&mut state, "count")?.into_typed::<f64>().ok_or("count is not f64")?;
            let m2 = field(&mut state, "m2")?.into_typed::<f64>().ok_or("m2 is not f64")?;
            let mut var = m2;
            Zip::from(&mut var).and(&n).for_each(|v, n| {
                let d = n - f64::from(ddof);
                *v = if d > 0.0 { *v / d } else { f64::NAN };
            });
            if matches!(reduction, Std { .. }) {
                var.mapv_inplace(f64::sqrt);
            }
            NdArray::F64(var)
        }
        Min | Max | Any | All => field(&mut state, "value")?,
        ArgMin | ArgMax => field(&mut state, "index")?,
    };
    let mut axes = axes.to_vec();
    axes.sort_unstable_by(|a, b| b.cmp(a));
    let squeezed = super::dtype::with_array!(out, x => {
        let mut x = x;
        for &axis in &axes {
            if axis < x.ndim() {
                x = x.index_axis_move(Axis(axis), 0);
            }
        }
        NdArray::from(x)
    });
    Ok(squeezed.cast(reduction.output(input)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f64s(shape: &[usize], v: Vec<f64>) -> NdArray {
        NdArray::F64(ArrayD::from_shape_vec(IxDyn(shape), v).expect("shape"))
    }

    fn run(reduction: Reduction, whole: &[f64], split: usize, axes: &[usize]) -> NdArray {
        let n = whole.len();
        let place = |offset| Place { offset: vec![offset], global_shape: vec![n] };
        let a = partial(reduction, f64s(&[split], whole[..split].to_vec()), axes, &place(0)).expect("a");
        let b =
            partial(reduction, f64s(&[n - split], whole[split..].to_vec()), axes, &place(split)).expect("b");
        finish(reduction, merge(reduction, a, b).expect("merges"), axes, DType::F64).expect("finishes")
    }

    #[test]
    fn split_states_give_the_whole_result() {
        let v = [3.0, -1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0];
        let scalar = |x: f64| f64s(&[], vec![x]);
        assert_eq!(run(Reduction::Sum, &v, 3, &[0]), scalar(29.0));
        assert_eq!(run(Reduction::Mean, &v, 5, &[0]), scalar(29.0 / 8.0));
        assert_eq!(run(Reduction::Max, &v, 2, &[0]), scalar(9.0));
        assert_eq!(run(Reduction::ArgMin, &v, 4, &[0]), NdArray::I64(ArrayD::from_elem(IxDyn(&[]), 1)));
        let mean = 29.0 / 8.0;
        let var = v.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / 7.0;
        let got = run(Reduction::Var { ddof: 1 }, &v, 3, &[0]).into_typed::<f64>().expect("f64");
        assert!((got.sum() - var).abs() < 1e-12);
    }
}
