//! Array constructors. Generated arrays are made on the workers, chunk by chunk; only
//! [`from_ndarray`] carries data from the client.

use bytes::Bytes;
use ndarray::{ArrayD, SliceInfoElem};

use super::dtype::{DType, Element, Scalar};
use super::program::{Distribution, Program};
use super::{Array, ArrayError, Block, grid_indices, normalize_chunks};
use crate::client::ArgSource;

/// An array of one generated program per chunk: `make(offset, shape)`.
fn generated(
    dtype: DType,
    shape: &[usize],
    chunks: &[usize],
    make: impl Fn(&[usize], &[usize]) -> Block,
) -> Result<Array, ArrayError> {
    let chunks = normalize_chunks(shape, chunks)?;
    let grid: Vec<usize> = chunks.iter().map(Vec::len).collect();
    let blocks = grid_indices(&grid)
        .into_iter()
        .map(|index| {
            let offset: Vec<usize> = index.iter().zip(&chunks).map(|(&i, c)| c[..i].iter().sum()).collect();
            let block_shape: Vec<usize> = index.iter().zip(&chunks).map(|(&i, c)| c[i]).collect();
            make(&offset, &block_shape)
        })
        .collect();
    Ok(Array::from_parts(dtype, shape.to_vec(), chunks, blocks))
}

/// An array of `shape` filled with `value`, cut in chunks of at most `chunks` per axis.
pub fn full(shape: &[usize], chunks: &[usize], value: impl Into<Scalar>) -> Result<Array, ArrayError> {
    let value = value.into();
    generated(value.dtype(), shape, chunks, |_, s| Program::Fill { value, shape: s.to_vec() })
}

/// An `f64` array of zeros.
pub fn zeros(shape: &[usize], chunks: &[usize]) -> Result<Array, ArrayError> {
    full(shape, chunks, 0.0)
}

/// An `f64` array of ones.
pub fn ones(shape: &[usize], chunks: &[usize]) -> Result<Array, ArrayError> {
    full(shape, chunks, 1.0)
}

/// Uniform random `f64` values in `[0, 1)`. The values depend on `seed` and position
/// only, not on the chunking; each chunk is generated on the worker that needs it.
pub fn random(shape: &[usize], chunks: &[usize], seed: u64) -> Result<Array, ArrayError> {
    seeded(shape, chunks, seed, Distribution::Uniform)
}

/// Standard normal random `f64` values; chunking-independent as [`random`].
pub fn random_normal(shape: &[usize], chunks: &[usize], seed: u64) -> Result<Array, ArrayError> {
    seeded(shape, chunks, seed, Distribution::Normal)
}

fn seeded(shape: &[usize], chunks: &[usize], seed: u64, dist: Distribution) -> Result<Array, ArrayError> {
    generated(DType::F64, shape, chunks, |offset, s| Program::Random {
        seed,
        dist,
        global_shape: shape.to_vec(),
        offset: offset.to_vec(),
        shape: s.to_vec(),
    })
}

/// `start, start + step, …` up to (not including) `stop`, as `f64`, in chunks of `chunk`.
pub fn arange(start: f64, stop: f64, step: f64, chunk: usize) -> Result<Array, ArrayError> {
    if step == 0.0 || !step.is_finite() || !start.is_finite() || !stop.is_finite() {
        return Err(ArrayError::shape(
            "arange",
            format!("start {start}, stop {stop} and step {step} make no range"),
        ));
    }
    let len = ((stop - start) / step).ceil().max(0.0) as usize;
    range(start, step, len, chunk)
}

/// `num` evenly spaced `f64` values from `start` to `stop` inclusive, in chunks of `chunk`.
pub fn linspace(start: f64, stop: f64, num: usize, chunk: usize) -> Result<Array, ArrayError> {
    let step = if num > 1 { (stop - start) / (num - 1) as f64 } else { 0.0 };
    range(start, step, num, chunk)
}

fn range(start: f64, step: f64, len: usize, chunk: usize) -> Result<Array, ArrayError> {
    generated(DType::F64, &[len], &[chunk], |offset, s| Program::Range {
        start,
        step,
        offset: offset[0] as u64,
        len: s[0],
        dtype: DType::F64,
    })
}

/// An array of an in-memory `ndarray` array, cut in chunks of at most `chunks` per axis.
///
/// The chunks travel inline with the tasks that read them, through the scheduler: fine
/// for arrays of a few hundred MB; generate larger ones on the workers or read files.
pub fn from_ndarray<T: Element>(array: &ArrayD<T>, chunks: &[usize]) -> Result<Array, ArrayError> {
    let shape = array.shape().to_vec();
    let chunks = normalize_chunks(&shape, chunks)?;
    let grid: Vec<usize> = chunks.iter().map(Vec::len).collect();
    let mut blocks = Vec::with_capacity(grid.iter().product());
    for index in grid_indices(&grid) {
        let info: Vec<SliceInfoElem> = index
            .iter()
            .zip(&chunks)
            .map(|(&i, c)| {
                let start: usize = c[..i].iter().sum();
                SliceInfoElem::Slice { start: start as isize, end: Some((start + c[i]) as isize), step: 1 }
            })
            .collect();
        let part: ArrayD<T> = array.slice(info.as_slice()).to_owned();
        let bytes = postcard::to_stdvec(&T::into_nd(part))
            .map_err(|e| ArrayError::shape("from_ndarray", format!("encoding a chunk: {e}")))?;
        blocks.push(Program::Serde(ArgSource::Literal(Bytes::from(bytes))));
    }
    Ok(Array::from_parts(T::DTYPE, shape, chunks, blocks))
}

/// A 0-d array holding `value`.
pub(crate) fn scalar_block(value: Scalar) -> Block {
    Program::Fill { value, shape: Vec::new() }
}
