//! Arrays: n-dimensional chunked arrays computed on the cluster, NumPy style.
//!
//! An [`Array`] is a grid of chunks, each an [`ndarray`] array held by a worker as Arrow
//! data. Building one only records what each chunk is; nothing runs until
//! [`Array::compute`] or [`Array::persist`]. Elementwise operations, transposes, slices
//! and rechunks fuse into one task per chunk, reductions run as trees, and matmul sums
//! block products (OpenBLAS) in a tree. Shapes, chunks and element types are checked as
//! the graph is built, so a mismatch is an error at the call that makes it.
//!
//! ```no_run
//! # async fn demo(client: &dusk::Client) -> Result<(), dusk::array::ArrayError> {
//! use dusk::array::{self, Array};
//!
//! let x = array::random(&[20_000, 20_000], &[1_000, 1_000], 42)?;
//! let y = (&x + &x.t())?.mean_axis(0)?;      // one task per chunk, then a tree
//! let means = y.compute_typed::<f64>(client).await?;
//! assert_eq!(means.shape(), &[20_000]);
//! # Ok(()) }
//! ```

mod band;
#[cfg(feature = "openblas")]
pub mod blas;
mod codec;
mod compute;
mod create;
mod dtype;
mod elementwise;
mod error;
mod eval;
mod files;
mod kernels;
mod layout;
mod matmul;
mod program;
mod random;
mod reduce;
mod reduction;

use std::sync::Arc;

pub use create::{arange, from_ndarray, full, linspace, ones, random, random_normal, zeros};
pub use dtype::{DType, Element, NdArray, Scalar};
pub use error::ArrayError;
pub use files::{from_npy, from_parquet};
pub use layout::{Idx, concatenate, stack};
pub use matmul::gemm_backend;
pub use program::{BinaryOp, UnaryOp};
pub use reduce::Reduction;

use crate::client::ArgSource;
use program::Program;

/// A chunk as the client sees it while building: a program whose inputs are task
/// results or inline values.
pub(crate) type Block = Program<ArgSource>;

/// A lazy n-dimensional array of `bool`, `i64`, `f32` or `f64`, split into chunks.
///
/// Cloning is cheap: clones share the chunk programs.
#[derive(Clone)]
pub struct Array {
    dtype: DType,
    shape: Vec<usize>,
    /// Chunk extents per axis; they sum to the axis' length. An empty axis has one
    /// chunk of length 0.
    chunks: Vec<Vec<usize>>,
    /// One program per chunk, in row-major order over the chunk grid.
    blocks: Arc<Vec<Block>>,
}

impl std::fmt::Debug for Array {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Array")
            .field("dtype", &self.dtype)
            .field("shape", &self.shape)
            .field("chunks", &self.chunks)
            .finish_non_exhaustive()
    }
}

impl Array {
    /// Element type.
    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// Shape.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// Number of axes.
    pub fn ndim(&self) -> usize {
        self.shape.len()
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    /// Whether it has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Chunk extents along each axis.
    pub fn chunks(&self) -> &[Vec<usize>] {
        &self.chunks
    }

    /// Chunks along each axis.
    pub fn numblocks(&self) -> Vec<usize> {
        self.chunks.iter().map(Vec::len).collect()
    }

    /// Number of chunks.
    pub fn nblocks(&self) -> usize {
        self.blocks.len()
    }

    /// Bytes the whole array takes in memory.
    pub fn nbytes(&self) -> usize {
        self.len() * self.dtype.size()
    }

    /// An array from its parts; checks the chunk grid covers the shape.
    pub(crate) fn from_parts(
        dtype: DType,
        shape: Vec<usize>,
        chunks: Vec<Vec<usize>>,
        blocks: Vec<Block>,
    ) -> Array {
        debug_assert_eq!(blocks.len(), chunks.iter().map(Vec::len).product::<usize>());
        debug_assert!(chunks.iter().zip(&shape).all(|(c, n)| c.iter().sum::<usize>() == *n));
        Array { dtype, shape, chunks, blocks: Arc::new(blocks) }
    }

    /// The chunk at grid position `index`.
    pub(crate) fn block(&self, index: &[usize]) -> &Block {
        &self.blocks[flat_index(&self.numblocks(), index)]
    }

    /// Extents of the chunk at grid position `index`.
    pub(crate) fn block_shape(&self, index: &[usize]) -> Vec<usize> {
        index.iter().zip(&self.chunks).map(|(&i, c)| c[i]).collect()
    }

    /// Global index of the first element of the chunk at grid position `index`.
    pub(crate) fn block_offset(&self, index: &[usize]) -> Vec<usize> {
        index.iter().zip(&self.chunks).map(|(&i, c)| c[..i].iter().sum()).collect()
    }

    pub(crate) fn check_axis(&self, op: &str, axis: usize) -> Result<(), ArrayError> {
        if axis < self.ndim() {
            Ok(())
        } else {
            Err(ArrayError::Axis { op: op.to_string(), axis, ndim: self.ndim() })
        }
    }
}

/// Row-major position of grid index `index` in a grid of `grid`.
pub(crate) fn flat_index(grid: &[usize], index: &[usize]) -> usize {
    index.iter().zip(grid).fold(0, |acc, (&i, &n)| acc * n + i)
}

/// Every index of a grid, in row-major order.
pub(crate) fn grid_indices(grid: &[usize]) -> Vec<Vec<usize>> {
    let total: usize = grid.iter().product();
    (0..total)
        .map(|mut flat| {
            let mut index = vec![0; grid.len()];
            for axis in (0..grid.len()).rev() {
                index[axis] = flat % grid[axis];
                flat /= grid[axis];
            }
            index
        })
        .collect()
}

/// Chunk extents for `shape` cut in pieces of at most `sizes` (one size per axis).
pub(crate) fn normalize_chunks(shape: &[usize], sizes: &[usize]) -> Result<Vec<Vec<usize>>, ArrayError> {
    let fail = |reason: &str| ArrayError::Chunks {
        shape: shape.to_vec(),
        chunks: format!("{sizes:?}"),
        reason: reason.to_string(),
    };
    if sizes.len() != shape.len() {
        return Err(fail("one chunk size per axis is needed"));
    }
    shape
        .iter()
        .zip(sizes)
        .map(|(&n, &size)| {
            if n == 0 {
                return Ok(vec![0]);
            }
            if size == 0 {
                return Err(fail("a chunk size must be at least 1"));
            }
            let mut out = vec![size; n / size];
            if n % size != 0 {
                out.push(n % size);
            }
            Ok(out)
        })
        .collect()
}

/// Checks explicit chunk extents against a shape.
pub(crate) fn check_chunks(shape: &[usize], chunks: &[Vec<usize>]) -> Result<(), ArrayError> {
    let fail =
        |reason: String| ArrayError::Chunks { shape: shape.to_vec(), chunks: format!("{chunks:?}"), reason };
    if chunks.len() != shape.len() {
        return Err(fail("one list of chunk extents per axis is needed".into()));
    }
    for (axis, (c, &n)) in chunks.iter().zip(shape).enumerate() {
        if c.iter().sum::<usize>() != n {
            return Err(fail(format!("axis {axis}'s chunks sum to {}, not {n}", c.iter().sum::<usize>())));
        }
        if c.is_empty() || (n > 0 && c.contains(&0)) {
            return Err(fail(format!("axis {axis} has an empty chunk")));
        }
    }
    Ok(())
}
