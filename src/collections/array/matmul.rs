//! Block matrix multiplication: per output chunk, block products summed in one task
//! (BLAS GEMM accumulating in place) up to about [`TASK_FLOP`] of work, and the tasks'
//! partial sums added in a tree.
//!
//! Sizing tasks by work rather than by a fixed number of products matters: a partial
//! sum of 1000 × 1000 blocks is 8 MB that the tree has to move and add, so summing more
//! products in place is cheaper as long as one task stays short enough to balance
//! across workers and to redo cheaply after a failure.

use super::compute::{lower_many, node};
use super::dtype::DType;
use super::kernels::{Finish, MATMUL, MatmulSpec};
use super::program::Program;
use super::reduce::Reduction;
use super::reduction::tree;
use super::{Array, ArrayError};
use crate::client::ArgSource;

/// Floating-point operations one matmul task aims at: about a second on one core.
const TASK_FLOP: f64 = (1u64 << 36) as f64;

impl Array {
    /// Matrix product, as NumPy's `a @ b` for 1-d and 2-d operands: a 1-d left operand
    /// is a row, a 1-d right operand a column, and their axis is dropped from the result.
    /// `other` is rechunked along its first axis to match this array's last.
    pub fn matmul(&self, other: &Array) -> Result<Array, ArrayError> {
        self.matmul_grouped(other, None)
    }

    /// [`Array::matmul`] with `products_per_task` block products summed per task before
    /// the tree sum (`None`: chosen from the chunk sizes, about [`TASK_FLOP`] per task).
    pub fn matmul_grouped(
        &self,
        other: &Array,
        products_per_task: Option<usize>,
    ) -> Result<Array, ArrayError> {
        let (a, drop_row) =
            if self.ndim() == 1 { (self.expand_dims(0)?, true) } else { (self.clone(), false) };
        let (b, drop_col) =
            if other.ndim() == 1 { (other.expand_dims(1)?, true) } else { (other.clone(), false) };
        if a.ndim() != 2 || b.ndim() != 2 {
            return Err(ArrayError::shape(
                "matmul",
                format!(
                    "operands of rank {} and {}; only 1-d and 2-d arrays multiply",
                    self.ndim(),
                    other.ndim()
                ),
            ));
        }
        if a.shape[1] != b.shape[0] {
            return Err(ArrayError::shape(
                "matmul",
                format!(
                    "shapes {:?} and {:?} do not align: {} != {}",
                    self.shape, other.shape, a.shape[1], b.shape[0]
                ),
            ));
        }
        let dtype = match a.dtype.promote(b.dtype) {
            DType::Bool => DType::I64,
            d => d,
        };
        let b = if b.chunks[0] != a.chunks[1] {
            b.rechunk_to(vec![a.chunks[1].clone(), b.chunks[1].clone()])?
        } else {
            b
        };
        let nk = a.chunks[1].len();
        let largest = |c: &[usize]| c.iter().copied().max().unwrap_or(1).max(1) as f64;
        let product_flop = 2.0 * largest(&a.chunks[0]) * largest(&a.chunks[1]) * largest(&b.chunks[1]);
        let group = products_per_task.unwrap_or((TASK_FLOP / product_flop) as usize).max(1);
        let per_task = nk.div_ceil(nk.div_ceil(group).max(1)).max(1);
        let (rows, cols) = (a.chunks[0].len(), b.chunks[1].len());
        let finish = Finish { axes: Vec::new(), input: dtype };
        let mut blocks = Vec::with_capacity(rows * cols);
        for i in 0..rows {
            for j in 0..cols {
                let ks: Vec<usize> = (0..nk).collect();
                let groups: Vec<&[usize]> = ks.chunks(per_task).collect();
                let single = groups.len() == 1;
                let mut partials = Vec::with_capacity(groups.len());
                for group in groups {
                    let mut refs = Vec::with_capacity(group.len() * 2);
                    for &k in group {
                        refs.push(a.block(&[i, k]));
                        refs.push(b.block(&[k, j]));
                    }
                    let (programs, inputs) = lower_many(&refs);
                    let pairs = programs.chunks(2).map(|p| (p[0].clone(), p[1].clone())).collect();
                    let spec = MatmulSpec { pairs, dtype, finish: single };
                    partials.push(ArgSource::Node(node("matmul", MATMUL, &spec, inputs)?));
                }
                blocks.push(Program::Input(tree(Reduction::Sum, partials, &finish, "matmul-sum")?));
            }
        }
        let mut out = Array::from_parts(
            dtype,
            vec![a.shape[0], b.shape[1]],
            vec![a.chunks[0].clone(), b.chunks[1].clone()],
            blocks,
        );
        if drop_col {
            out = out.squeeze(1)?;
        }
        if drop_row {
            out = out.squeeze(0)?;
        }
        Ok(out)
    }

    /// The same as [`Array::matmul`].
    pub fn dot(&self, other: &Array) -> Result<Array, ArrayError> {
        self.matmul(other)
    }
}

/// The GEMM behind block products, for benches and logs: the system OpenBLAS and the
/// kernels it chose with the `openblas` feature, ndarray's built-in pure-Rust GEMM
/// (matrixmultiply) otherwise.
pub fn gemm_backend() -> String {
    #[cfg(feature = "openblas")]
    return format!("OpenBLAS ({})", super::blas::core_name());
    #[cfg(not(feature = "openblas"))]
    return "matrixmultiply (built in)".to_string();
}
