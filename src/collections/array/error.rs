//! Why an array operation was refused or failed.

use std::path::PathBuf;

use super::dtype::DType;
use crate::client::ClientError;

/// An array operation that cannot be built, or a computation that failed.
///
/// Shape, chunk and type mismatches are found when the graph is built, at the call that
/// makes them, not later on a worker.
#[derive(Debug, thiserror::Error)]
pub enum ArrayError {
    /// Two shapes do not broadcast against each other.
    #[error("{op}: shapes {left:?} and {right:?} do not broadcast")]
    Broadcast {
        /// The operation.
        op: String,
        /// Left operand's shape.
        left: Vec<usize>,
        /// Right operand's shape.
        right: Vec<usize>,
    },
    /// An operation does not apply to an element type.
    #[error("{op} does not apply to {dtype}")]
    Type {
        /// The operation.
        op: String,
        /// The element type(s), as text.
        dtype: String,
    },
    /// An axis beyond the array's rank.
    #[error("{op}: axis {axis} is out of range for an array of rank {ndim}")]
    Axis {
        /// The operation.
        op: String,
        /// The axis asked for.
        axis: usize,
        /// The array's rank.
        ndim: usize,
    },
    /// Chunk sizes that do not fit the shape.
    #[error("chunks {chunks:?} do not fit shape {shape:?}: {reason}")]
    Chunks {
        /// The shape.
        shape: Vec<usize>,
        /// The chunks asked for.
        chunks: String,
        /// What is wrong.
        reason: String,
    },
    /// A shape mismatch other than broadcasting (matmul, concatenate, mask).
    #[error("{op}: {message}")]
    Shape {
        /// The operation.
        op: String,
        /// What does not match.
        message: String,
    },
    /// An index outside the array.
    #[error("index {index} is out of bounds for axis {axis} of length {len}")]
    Index {
        /// The index asked for.
        index: isize,
        /// The axis.
        axis: usize,
        /// The axis' length.
        len: usize,
    },
    /// A reduction with no identity over no elements.
    #[error("{op} of an empty array has no value")]
    EmptyReduction {
        /// The reduction.
        op: String,
    },
    /// A computed array of another element type than asked for.
    #[error("the array holds {found}, not {wanted}")]
    WrongType {
        /// The type asked for.
        wanted: DType,
        /// The array's type.
        found: DType,
    },
    /// The cluster could not compute it.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// A computed chunk did not decode.
    #[error("chunk {key}: {message}")]
    Decode {
        /// The chunk's task key.
        key: String,
        /// What was wrong.
        message: String,
    },
    /// A file could not be read or written.
    #[error("{path}: {message}")]
    File {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
}

impl ArrayError {
    pub(crate) fn shape(op: &str, message: impl Into<String>) -> Self {
        ArrayError::Shape { op: op.to_string(), message: message.into() }
    }

    pub(crate) fn dtype(op: &str, dtype: impl std::fmt::Display) -> Self {
        ArrayError::Type { op: op.to_string(), dtype: dtype.to_string() }
    }
}
