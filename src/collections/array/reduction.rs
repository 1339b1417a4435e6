//! Reductions as task trees: one partial per chunk (fused with the chunk's program),
//! merged [`FAN_IN`] at a time until one state per output chunk remains.

use super::compute::{lower, node};
use super::kernels::{COMBINE, CombineSpec, Finish, PARTIAL, PartialSpec};
use super::program::Program;
use super::reduce::{Place, Reduction};
use super::{Array, ArrayError, grid_indices};
use crate::client::ArgSource;

/// States merged by one combine task.
pub(crate) const FAN_IN: usize = 8;

impl Array {
    /// Reduces over `axis`, or over all axes for `None`, as a tree of tasks.
    pub fn reduce(&self, reduction: Reduction, axis: Option<usize>) -> Result<Array, ArrayError> {
        let name = reduction.name();
        let axes: Vec<usize> = match axis {
            Some(a) => {
                self.check_axis(name, a)?;
                vec![a]
            }
            None => (0..self.ndim()).collect(),
        };
        if reduction.needs_elements() && axes.iter().any(|&a| self.shape[a] == 0) {
            return Err(ArrayError::EmptyReduction { op: name.to_string() });
        }
        let kept: Vec<usize> = (0..self.ndim()).filter(|a| !axes.contains(a)).collect();
        let out_shape: Vec<usize> = kept.iter().map(|&a| self.shape[a]).collect();
        let out_chunks: Vec<Vec<usize>> = kept.iter().map(|&a| self.chunks[a].clone()).collect();
        let reduced_grid: Vec<usize> = axes.iter().map(|&a| self.chunks[a].len()).collect();
        let out_grid: Vec<usize> = out_chunks.iter().map(Vec::len).collect();
        let finish = Finish { axes: axes.clone(), input: self.dtype };
        let label = format!("{name}-partial");
        let mut blocks = Vec::with_capacity(out_grid.iter().product());
        for out_index in grid_indices(&out_grid) {
            let inputs: Vec<Vec<usize>> = grid_indices(&reduced_grid)
                .into_iter()
                .map(|r| {
                    let mut index = vec![0; self.ndim()];
                    for (i, &a) in kept.iter().enumerate() {
                        index[a] = out_index[i];
                    }
                    for (i, &a) in axes.iter().enumerate() {
                        index[a] = r[i];
                    }
                    index
                })
                .collect();
            let single = inputs.len() == 1;
            let mut level: Vec<ArgSource> = Vec::with_capacity(inputs.len());
            for index in &inputs {
                let (program, args) = lower(self.block(index));
                let place = Place { offset: self.block_offset(index), global_shape: self.shape.clone() };
                let spec = PartialSpec {
                    program,
                    reduction,
                    axes: axes.clone(),
                    place,
                    finish: single.then(|| finish.clone()),
                };
                level.push(ArgSource::Node(node(&label, PARTIAL, &spec, args)?));
            }
            let result = tree(reduction, level, &finish, &format!("{name}-aggregate"))?;
            blocks.push(Program::Input(result));
        }
        Ok(Array::from_parts(reduction.output(self.dtype), out_shape, out_chunks, blocks))
    }
}

/// Merges `level` states [`FAN_IN`] at a time; the root finishes with `finish`. One
/// state alone was finished by its partial already.
pub(crate) fn tree(
    reduction: Reduction,
    mut level: Vec<ArgSource>,
    finish: &Finish,
    label: &str,
) -> Result<ArgSource, ArrayError> {
    if level.len() == 1 {
        return level.pop().ok_or_else(|| ArrayError::shape(label, "no chunks"));
    }
    loop {
        let last = level.len() <= FAN_IN;
        let mut next = Vec::with_capacity(level.len().div_ceil(FAN_IN));
        for group in level.chunks(FAN_IN) {
            let spec = CombineSpec { reduction, finish: last.then(|| finish.clone()) };
            next.push(ArgSource::Node(node(label, COMBINE, &spec, group.to_vec())?));
        }
        if last {
            return next.pop().ok_or_else(|| ArrayError::shape(label, "no chunks"));
        }
        level = next;
    }
}

macro_rules! reductions {
    ($($all:ident, $axis:ident => $r:expr;)*) => {
        impl Array {
            $(
                #[doc = concat!("`", stringify!($all), "` over all elements, as a 0-d array.")]
                pub fn $all(&self) -> Result<Array, ArrayError> {
                    self.reduce($r, None)
                }

                #[doc = concat!("`", stringify!($all), "` along `axis`, which is dropped.")]
                pub fn $axis(&self, axis: usize) -> Result<Array, ArrayError> {
                    self.reduce($r, Some(axis))
                }
            )*
        }
    };
}

reductions! {
    sum, sum_axis => Reduction::Sum;
    mean, mean_axis => Reduction::Mean;
    min, min_axis => Reduction::Min;
    max, max_axis => Reduction::Max;
    argmin, argmin_axis => Reduction::ArgMin;
    argmax, argmax_axis => Reduction::ArgMax;
    any, any_axis => Reduction::Any;
    all, all_axis => Reduction::All;
}

impl Array {
    /// Variance over all elements with `ddof` delta degrees of freedom, as a 0-d array.
    pub fn var(&self, ddof: u32) -> Result<Array, ArrayError> {
        self.reduce(Reduction::Var { ddof }, None)
    }

    /// Variance along `axis`.
    pub fn var_axis(&self, axis: usize, ddof: u32) -> Result<Array, ArrayError> {
        self.reduce(Reduction::Var { ddof }, Some(axis))
    }

    /// Standard deviation over all elements, as a 0-d array.
    pub fn std(&self, ddof: u32) -> Result<Array, ArrayError> {
        self.reduce(Reduction::Std { ddof }, None)
    }

    /// Standard deviation along `axis`.
    pub fn std_axis(&self, axis: usize, ddof: u32) -> Result<Array, ArrayError> {
        self.reduce(Reduction::Std { ddof }, Some(axis))
    }
}
