//! Arrays from and to files: NumPy `.npy` files and Parquet columns.
//!
//! Only headers and footers are read on the client, for shapes and types; each chunk's
//! data is read by the worker that computes it, so the files must be at the same path
//! on every worker (a shared or local disk, as for a one-machine cluster).

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use arrow::array::{Array as _, AsArray};
use arrow::datatypes::{DataType, Float32Type, Float64Type, Int32Type, Int64Type};
use datafusion::parquet::arrow::ProjectionMask;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use ndarray::{ArrayD, IxDyn, ShapeBuilder};

use super::codec::into_vec;
use super::dtype::{DType, NdArray};
use super::program::Program;
use super::{Array, ArrayError, Block};
use crate::Client;

const MAGIC: &[u8] = b"\x93NUMPY";

/// What a `.npy` header says.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct NpyHeader {
    pub(crate) dtype: DType,
    pub(crate) shape: Vec<usize>,
    pub(crate) fortran: bool,
    /// Bytes before the data.
    pub(crate) data_offset: usize,
}

fn file_error(path: &Path, message: impl Into<String>) -> ArrayError {
    ArrayError::File { path: path.to_path_buf(), message: message.into() }
}

/// Longest header accepted; NumPy itself refuses headers over 10,000 bytes by default.
const MAX_HEADER_BYTES: usize = 64 << 10;

/// Parses the header of a `.npy` file (format versions 1 to 3).
pub(crate) fn read_npy_header(mut reader: impl Read) -> Result<NpyHeader, String> {
    let mut lead = [0u8; 8];
    reader.read_exact(&mut lead).map_err(|e| format!("reading the header: {e}"))?;
    if &lead[..6] != MAGIC {
        return Err("not a .npy file (no \\x93NUMPY magic)".into());
    }
    let (len, prefix) = match lead[6] {
        1 => {
            let mut b = [0u8; 2];
            reader.read_exact(&mut b).map_err(|e| e.to_string())?;
            (u16::from_le_bytes(b) as usize, 10)
        }
        2 | 3 => {
            let mut b = [0u8; 4];
            reader.read_exact(&mut b).map_err(|e| e.to_string())?;
            (u32::from_le_bytes(b) as usize, 12)
        }
        v => return Err(format!(".npy format version {v} is not supported")),
    };
    if len > MAX_HEADER_BYTES {
        return Err(format!(
            "a header of {len} bytes is longer than the {MAX_HEADER_BYTES} a .npy header may have"
        ));
    }
    let mut text = vec![0u8; len];
    reader.read_exact(&mut text).map_err(|e| format!("reading the header: {e}"))?;
    let text = String::from_utf8_lossy(&text);
    let value = |key: &str| -> Result<String, String> {
        let at = text.find(&format!("'{key}'")).ok_or_else(|| format!("the header has no '{key}'"))?;
        let rest = text[at + key.len() + 2..].trim_start().trim_start_matches(':').trim_start();
        let end = if rest.starts_with('(') {
            rest.find(')').map(|i| i + 1)
        } else if let Some(stripped) = rest.strip_prefix('\'') {
            stripped.find('\'').map(|i| i + 2)
        } else {
            rest.find([',', '}'])
        };
        Ok(rest[..end.ok_or_else(|| format!("malformed '{key}' in the header"))?].to_string())
    };
    let descr = value("descr")?;
    let dtype = match descr.trim_matches('\'') {
        "<f8" => DType::F64,
        "<f4" => DType::F32,
        "<i8" => DType::I64,
        "|b1" => DType::Bool,
        other => return Err(format!("element type {other} is not supported (use <f8, <f4, <i8 or |b1)")),
    };
    let fortran = value("fortran_order")?.trim() == "True";
    let shape_text = value("shape")?;
    let shape = shape_text
        .trim_matches(|c| c == '(' || c == ')')
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<usize>().map_err(|e| format!("shape {shape_text}: {e}")))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(NpyHeader { dtype, shape, fortran, data_offset: prefix + len })
}

/// Reads a whole `.npy` file.
pub(crate) fn read_npy(path: &str) -> Result<NdArray, String> {
    let mut file = File::open(path).map_err(|e| format!("{path}: {e}"))?;
    let header = read_npy_header(&mut file).map_err(|e| format!("{path}: {e}"))?;
    // The header's shape is checked against the file before any memory is taken for it.
    let count = header.shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d));
    let bytes = count.and_then(|c| c.checked_mul(header.dtype.size()));
    let (Some(count), Some(bytes)) = (count, bytes) else {
        return Err(format!("{path}: shape {:?} holds more elements than memory can", header.shape));
    };
    let file_len = file.metadata().map_err(|e| format!("{path}: {e}"))?.len();
    let available = file_len.saturating_sub(header.data_offset as u64);
    if available < bytes as u64 {
        return Err(format!("{path}: {available} data bytes for {count} elements of {}", header.dtype));
    }
    let mut data = Vec::with_capacity(bytes);
    file.take(bytes as u64).read_to_end(&mut data).map_err(|e| format!("{path}: {e}"))?;
    if data.len() < bytes {
        return Err(format!("{path}: {} data bytes for {count} elements of {}", data.len(), header.dtype));
    }
    let dim =
        if header.fortran { IxDyn(&header.shape).f() } else { IxDyn(&header.shape).into_shape_with_order() };
    let shaped = |e: ndarray::ShapeError| format!("{path}: {e}");
    Ok(match header.dtype {
        DType::F64 => NdArray::F64(
            ArrayD::from_shape_vec(
                dim,
                data.chunks_exact(8)
                    .take(count)
                    .map(|b| f64::from_le_bytes(b.try_into().unwrap_or_default()))
                    .collect(),
            )
            .map_err(shaped)?,
        ),
        DType::F32 => NdArray::F32(
            ArrayD::from_shape_vec(
                dim,
                data.chunks_exact(4)
                    .take(count)
                    .map(|b| f32::from_le_bytes(b.try_into().unwrap_or_default()))
                    .collect(),
            )
            .map_err(shaped)?,
        ),
        DType::I64 => NdArray::I64(
            ArrayD::from_shape_vec(
                dim,
                data.chunks_exact(8)
                    .take(count)
                    .map(|b| i64::from_le_bytes(b.try_into().unwrap_or_default()))
                    .collect(),
            )
            .map_err(shaped)?,
        ),
        DType::Bool => NdArray::Bool(
            ArrayD::from_shape_vec(dim, data.iter().take(count).map(|&b| b != 0).collect())
                .map_err(shaped)?,
        ),
    })
}

/// Writes an array as a `.npy` file (format 1.0, C order, little-endian).
pub(crate) fn write_npy(path: &Path, array: NdArray) -> std::io::Result<()> {
    let descr = match array.dtype() {
        DType::F64 => "<f8",
        DType::F32 => "<f4",
        DType::I64 => "<i8",
        DType::Bool => "|b1",
    };
    let shape = array.shape().to_vec();
    let shape_text = match shape.len() {
        1 => format!("({},)", shape[0]),
        _ => format!("({})", shape.iter().map(usize::to_string).collect::<Vec<_>>().join(", ")),
    };
    let mut header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape_text}, }}");
    // Pad so the data starts on a 64-byte boundary, header ending in a newline.
    let total = MAGIC.len() + 4 + header.len() + 1;
    header.push_str(&" ".repeat((64 - total % 64) % 64));
    header.push('\n');
    let mut out = BufWriter::new(File::create(path)?);
    out.write_all(MAGIC)?;
    out.write_all(&[1, 0])?;
    out.write_all(&(header.len() as u16).to_le_bytes())?;
    out.write_all(header.as_bytes())?;
    match array {
        NdArray::F64(a) => write_elements(&mut out, into_vec(a), f64::to_le_bytes)?,
        NdArray::F32(a) => write_elements(&mut out, into_vec(a), f32::to_le_bytes)?,
        NdArray::I64(a) => write_elements(&mut out, into_vec(a), i64::to_le_bytes)?,
        NdArray::Bool(a) => write_elements(&mut out, into_vec(a), |b| [u8::from(b)])?,
    }
    out.flush()
}

/// Writes `values` in row-major order, each as the `N` bytes `le` gives.
fn write_elements<T, const N: usize>(
    out: &mut impl Write,
    values: Vec<T>,
    le: fn(T) -> [u8; N],
) -> std::io::Result<()> {
    let mut bytes = Vec::with_capacity(values.len() * N);
    for v in values {
        bytes.extend_from_slice(&le(v));
    }
    out.write_all(&bytes)
}

/// An array of `.npy` files: one path, or a glob whose matches (in name order) are
/// stacked along the first axis, one chunk per file. Every file must have the same
/// element type and the same extents after the first axis.
pub fn from_npy(pattern: &str) -> Result<Array, ArrayError> {
    let mut paths: Vec<PathBuf> = glob::glob(pattern)
        .map_err(|e| file_error(Path::new(pattern), format!("bad pattern: {e}")))?
        .filter_map(Result::ok)
        .collect();
    paths.sort();
    if paths.is_empty() {
        return Err(file_error(Path::new(pattern), "no file matches"));
    }
    let mut first: Option<NpyHeader> = None;
    let mut along = Vec::with_capacity(paths.len());
    let mut blocks: Vec<Block> = Vec::with_capacity(paths.len());
    for path in &paths {
        let file = File::open(path).map_err(|e| file_error(path, e.to_string()))?;
        let header = read_npy_header(file).map_err(|e| file_error(path, e))?;
        if header.shape.is_empty() {
            return Err(file_error(path, "a 0-d array cannot be stacked along its first axis"));
        }
        if let Some(f) = &first
            && (f.dtype != header.dtype || f.shape[1..] != header.shape[1..])
        {
            return Err(file_error(
                path,
                format!(
                    "holds {} {:?}, the first file {} {:?}",
                    header.dtype, header.shape, f.dtype, f.shape
                ),
            ));
        }
        along.push(header.shape[0]);
        blocks.push(Program::Npy(path.to_string_lossy().into_owned()));
        first.get_or_insert(header);
    }
    let Some(first) = first else { return Err(file_error(Path::new(pattern), "no file matches")) };
    let mut shape = first.shape.clone();
    shape[0] = along.iter().sum();
    let mut chunks: Vec<Vec<usize>> = first.shape[1..].iter().map(|&n| vec![n]).collect();
    if along.iter().all(|&n| n == 0) {
        along = vec![0];
        blocks.truncate(1);
    } else {
        let kept: Vec<(usize, Block)> = along.iter().copied().zip(blocks).filter(|(n, _)| *n > 0).collect();
        along = kept.iter().map(|(n, _)| *n).collect();
        blocks = kept.into_iter().map(|(_, b)| b).collect();
    }
    chunks.insert(0, along);
    Ok(Array::from_parts(first.dtype, shape, chunks, blocks))
}

/// A 1-d array of one column of a Parquet file, one chunk per row group. The column
/// must be `f64`, `f32`, `i64`, `i32` (read as `i64`) or `bool`, without nulls.
pub fn from_parquet(path: impl AsRef<Path>, column: &str) -> Result<Array, ArrayError> {
    let path = path.as_ref();
    let file = File::open(path).map_err(|e| file_error(path, e.to_string()))?;
    let builder =
        ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| file_error(path, e.to_string()))?;
    let field = builder
        .schema()
        .field_with_name(column)
        .map_err(|_| file_error(path, format!("no column named {column:?}")))?;
    let dtype = match field.data_type() {
        DataType::Float64 => DType::F64,
        DataType::Float32 => DType::F32,
        DataType::Int64 | DataType::Int32 => DType::I64,
        DataType::Boolean => DType::Bool,
        other => {
            return Err(file_error(
                path,
                format!("column {column:?} is {other}, not a numeric or bool column"),
            ));
        }
    };
    let mut along = Vec::new();
    let mut blocks = Vec::new();
    for (i, rg) in builder.metadata().row_groups().iter().enumerate() {
        let rows = rg.num_rows() as usize;
        if rows > 0 {
            along.push(rows);
            blocks.push(Program::Parquet {
                path: path.to_string_lossy().into_owned(),
                column: column.to_string(),
                row_group: i,
            });
        }
    }
    if along.is_empty() {
        along.push(0);
        blocks.push(Program::Fill { value: super::dtype::Scalar::Bool(false).cast(dtype), shape: vec![0] });
    }
    let len = along.iter().sum();
    Ok(Array::from_parts(dtype, vec![len], vec![along], blocks))
}

/// Reads one row group of one column as a 1-d array.
pub(crate) fn read_parquet(path: &str, column: &str, row_group: usize) -> Result<NdArray, String> {
    let file = File::open(path).map_err(|e| format!("{path}: {e}"))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| format!("{path}: {e}"))?;
    let index =
        builder.schema().index_of(column).map_err(|_| format!("{path}: no column named {column:?}"))?;
    let mask = ProjectionMask::roots(builder.parquet_schema(), [index]);
    let reader = builder
        .with_row_groups(vec![row_group])
        .with_projection(mask)
        .build()
        .map_err(|e| format!("{path}: {e}"))?;
    let mut parts: Vec<NdArray> = Vec::new();
    for batch in reader {
        let batch = batch.map_err(|e| format!("{path}: {e}"))?;
        let col = batch.column(0);
        if col.null_count() > 0 {
            return Err(format!("{path}: column {column:?} has nulls, which arrays cannot hold"));
        }
        let n = col.len();
        let one = |v| IxDyn(&[v]);
        parts.push(match col.data_type() {
            DataType::Float64 => NdArray::F64(
                ArrayD::from_shape_vec(one(n), col.as_primitive::<Float64Type>().values().to_vec())
                    .map_err(|e| e.to_string())?,
            ),
            DataType::Float32 => NdArray::F32(
                ArrayD::from_shape_vec(one(n), col.as_primitive::<Float32Type>().values().to_vec())
                    .map_err(|e| e.to_string())?,
            ),
            DataType::Int64 => NdArray::I64(
                ArrayD::from_shape_vec(one(n), col.as_primitive::<Int64Type>().values().to_vec())
                    .map_err(|e| e.to_string())?,
            ),
            DataType::Int32 => NdArray::I64(
                ArrayD::from_shape_vec(
                    one(n),
                    col.as_primitive::<Int32Type>().values().iter().map(|&v| i64::from(v)).collect(),
                )
                .map_err(|e| e.to_string())?,
            ),
            DataType::Boolean => NdArray::Bool(
                ArrayD::from_shape_vec(one(n), col.as_boolean().values().iter().collect())
                    .map_err(|e| e.to_string())?,
            ),
            other => return Err(format!("{path}: column {column:?} is {other}")),
        });
    }
    match parts.len() {
        0 => Err(format!("{path}: row group {row_group} has no rows")),
        1 => parts.pop().ok_or_else(|| "no rows".to_string()),
        n => super::eval::assemble(&[n], parts),
    }
}

impl Array {
    /// Computes the array and writes it to `path` as a `.npy` file.
    pub async fn to_npy(&self, client: &Client, path: impl AsRef<Path>) -> Result<(), ArrayError> {
        let path = path.as_ref();
        let array = self.compute(client).await?;
        let target = path.to_path_buf();
        tokio::task::spawn_blocking(move || write_npy(&target, array))
            .await
            .map_err(|e| file_error(path, e.to_string()))?
            .map_err(|e| file_error(path, e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn npy_files_roundtrip_every_type() {
        let dir = tempfile::tempdir().expect("temp dir");
        let arrays = [
            NdArray::F64(ArrayD::from_shape_fn(IxDyn(&[3, 4]), |i| (i[0] * 4 + i[1]) as f64 / 3.0)),
            NdArray::F32(ArrayD::from_shape_fn(IxDyn(&[5]), |i| i[0] as f32)),
            NdArray::I64(ArrayD::from_shape_fn(IxDyn(&[2, 0, 3]), |_| 1)),
            NdArray::Bool(ArrayD::from_shape_fn(IxDyn(&[]), |_| true)),
        ];
        for (n, a) in arrays.into_iter().enumerate() {
            let path = dir.path().join(format!("{n}.npy"));
            write_npy(&path, a.clone()).expect("writes");
            assert_eq!(read_npy(&path.to_string_lossy()).expect("reads"), a);
        }
    }

    #[test]
    fn a_fortran_order_header_is_read_in_that_order() {
        let header = b"{'descr': '<i8', 'fortran_order': True, 'shape': (2, 3), }";
        let mut bytes = MAGIC.to_vec();
        bytes.extend([1, 0]);
        bytes.extend((header.len() as u16).to_le_bytes());
        bytes.extend(header);
        for v in [1i64, 4, 2, 5, 3, 6] {
            bytes.extend(v.to_le_bytes());
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("f.npy");
        std::fs::write(&path, bytes).expect("writes");
        let a = read_npy(&path.to_string_lossy()).expect("reads").into_typed::<i64>().expect("i64");
        assert_eq!(a, ArrayD::from_shape_vec(IxDyn(&[2, 3]), vec![1, 2, 3, 4, 5, 6]).expect("shape"));
    }

    fn npy_with(header: &[u8], version: u8, data: &[u8]) -> std::path::PathBuf {
        let mut bytes = MAGIC.to_vec();
        bytes.extend([version, 0]);
        if version == 1 {
            bytes.extend((header.len() as u16).to_le_bytes());
        } else {
            bytes.extend((header.len() as u32).to_le_bytes());
        }
        bytes.extend(header);
        bytes.extend(data);
        let path = std::env::temp_dir().join(format!("dusk-npy-{}-{}.npy", std::process::id(), header.len()));
        std::fs::write(&path, bytes).expect("writes");
        path
    }

    #[test]
    fn headers_that_promise_more_than_the_file_holds_are_refused_before_allocating() {
        // A shape whose element count overflows, one far beyond the file, and a header
        // announcing 4 GiB of itself: each an error, none an allocation.
        let cases: [(&[u8], u8, &str); 3] = [
            (
                b"{'descr': '<f8', 'fortran_order': False, 'shape': (4294967296, 4294967296, 16), }",
                1,
                "more elements",
            ),
            (b"{'descr': '<f8', 'fortran_order': False, 'shape': (1000000000000,), }", 1, "data bytes for"),
            (b"{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }   ", 1, "data bytes for"),
        ];
        for (header, version, want) in cases {
            let path = npy_with(header, version, &[0u8; 8]);
            let err = read_npy(&path.to_string_lossy()).expect_err("refused");
            assert!(err.contains(want), "{err}");
            let _ = std::fs::remove_file(path);
        }
        let mut lead = MAGIC.to_vec();
        lead.extend([2, 0]);
        lead.extend(u32::MAX.to_le_bytes());
        let err = read_npy_header(&lead[..]).expect_err("refused");
        assert!(err.contains("longer than"), "{err}");
    }
}
