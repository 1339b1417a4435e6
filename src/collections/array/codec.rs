//! Chunks as Arrow data: how an [`NdArray`] is held by a worker and sent between them.
//!
//! A chunk is one record batch with one non-null column per field (`values` for a plain
//! chunk; several for a reduction's partial state, all of one shape), its elements in
//! row-major order. The shape goes in the schema's metadata, so a 0-d chunk (one row)
//! and an empty chunk of shape `[0, 3]` (no rows) both come back with their shape. A
//! transfer may split the batch by rows; decoding joins the pieces.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{Array as _, ArrayRef, BooleanArray, Float32Array, Float64Array, Int64Array, RecordBatch};
use arrow::datatypes::{DataType, Field, Schema};
use ndarray::{ArrayD, IxDyn};

use super::dtype::{NdArray, with_array};
use crate::graph::Value;

/// Schema metadata key holding the chunk's shape, as comma-separated extents.
const SHAPE_KEY: &str = "dusk.array.shape";

/// The column of a plain chunk.
pub(crate) const VALUES: &str = "values";

/// Encodes named arrays of one shape as one record batch.
pub(crate) fn encode(fields: Vec<(&str, NdArray)>) -> Result<RecordBatch, String> {
    let shape = fields.first().map(|(_, a)| a.shape().to_vec()).unwrap_or_default();
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(fields.len());
    let mut schema_fields = Vec::with_capacity(fields.len());
    for (name, array) in fields {
        if array.shape() != shape.as_slice() {
            return Err(format!("field {name} has shape {:?}, not {shape:?}", array.shape()));
        }
        // An empty chunk carries one placeholder element: Flight sends no message for
        // a batch without rows, and the shape would be lost with it.
        let pad = array.is_empty();
        let column: ArrayRef = match array {
            NdArray::Bool(_) if pad => Arc::new(BooleanArray::from(vec![false])),
            NdArray::I64(_) if pad => Arc::new(Int64Array::from(vec![0])),
            NdArray::F32(_) if pad => Arc::new(Float32Array::from(vec![0.0])),
            NdArray::F64(_) if pad => Arc::new(Float64Array::from(vec![0.0])),
            NdArray::Bool(a) => Arc::new(BooleanArray::from(into_vec(a))),
            NdArray::I64(a) => Arc::new(Int64Array::from(into_vec(a))),
            NdArray::F32(a) => Arc::new(Float32Array::from(into_vec(a))),
            NdArray::F64(a) => Arc::new(Float64Array::from(into_vec(a))),
        };
        schema_fields.push(Field::new(name, column.data_type().clone(), false));
        columns.push(column);
    }
    let extents: Vec<String> = shape.iter().map(usize::to_string).collect();
    let metadata = HashMap::from([(SHAPE_KEY.to_string(), extents.join(","))]);
    let schema = Arc::new(Schema::new_with_metadata(schema_fields, metadata));
    let rows = shape.iter().product::<usize>().max(1);
    RecordBatch::try_new_with_options(
        schema,
        columns,
        &arrow::array::RecordBatchOptions::new().with_row_count(Some(rows)),
    )
    .map_err(|e| e.to_string())
}

/// Decodes the batches [`encode`] made (possibly split by rows) into named arrays.
pub(crate) fn decode(batches: &[RecordBatch]) -> Result<Vec<(String, NdArray)>, String> {
    let Some(first) = batches.first() else {
        return Err("an array chunk arrived with no batches".into());
    };
    let schema = first.schema();
    let extents = schema
        .metadata()
        .get(SHAPE_KEY)
        .ok_or_else(|| format!("a batch without {SHAPE_KEY} metadata is not an array chunk"))?;
    let shape = parse_shape(extents)?;
    let batch = if batches.len() == 1 {
        first.clone()
    } else {
        arrow::compute::concat_batches(&schema, batches).map_err(|e| e.to_string())?
    };
    let expected = shape.iter().product::<usize>();
    let batch = if expected == 0 { batch.slice(0, 0) } else { batch };
    if batch.num_rows() != expected {
        return Err(format!("chunk of shape {shape:?} has {} elements, not {expected}", batch.num_rows()));
    }
    let dim = IxDyn(&shape);
    let mut out = Vec::with_capacity(batch.num_columns());
    for (field, column) in schema.fields().iter().zip(batch.columns()) {
        let shaped = |e: ndarray::ShapeError| format!("field {}: {e}", field.name());
        let array = match column.data_type() {
            DataType::Boolean => {
                let c = downcast::<BooleanArray>(column)?;
                NdArray::Bool(
                    ArrayD::from_shape_vec(dim.clone(), c.values().iter().collect()).map_err(shaped)?,
                )
            }
            DataType::Int64 => {
                let c = downcast::<Int64Array>(column)?;
                NdArray::I64(ArrayD::from_shape_vec(dim.clone(), c.values().to_vec()).map_err(shaped)?)
            }
            DataType::Float32 => {
                let c = downcast::<Float32Array>(column)?;
                NdArray::F32(ArrayD::from_shape_vec(dim.clone(), c.values().to_vec()).map_err(shaped)?)
            }
            DataType::Float64 => {
                let c = downcast::<Float64Array>(column)?;
                NdArray::F64(ArrayD::from_shape_vec(dim.clone(), c.values().to_vec()).map_err(shaped)?)
            }
            other => return Err(format!("field {} is {other}, not an array element type", field.name())),
        };
        out.push((field.name().clone(), array));
    }
    Ok(out)
}

/// The shape in a chunk's schema metadata.
fn parse_shape(extents: &str) -> Result<Vec<usize>, String> {
    if extents.is_empty() {
        return Ok(Vec::new());
    }
    extents.split(',').map(str::parse).collect::<Result<_, _>>().map_err(|e| format!("chunk shape: {e}"))
}

/// Copies a fetched plain chunk, which must have shape `extent`, into the region of
/// `whole` that starts at `start`,
/// straight from the Arrow buffers (one copy, however the transfer split the batch).
/// `Ok(false)` when the chunk's element type is not `whole`'s, for the caller to decode
/// and convert it instead.
pub(crate) fn copy_into(
    batches: &[RecordBatch],
    whole: &mut NdArray,
    start: &[usize],
    extent: &[usize],
) -> Result<bool, String> {
    let Some(first) = batches.first() else {
        return Err("an array chunk arrived with no batches".into());
    };
    let extents = first
        .schema()
        .metadata()
        .get(SHAPE_KEY)
        .ok_or_else(|| format!("a batch without {SHAPE_KEY} metadata is not an array chunk"))?
        .clone();
    let shape = parse_shape(&extents)?;
    if shape != extent {
        return Err(format!("a chunk of shape {shape:?} where {extent:?} was expected"));
    }
    if shape.len() != start.len() || shape.iter().zip(start).zip(whole.shape()).any(|((n, s), w)| s + n > *w)
    {
        return Err(format!("a chunk of shape {shape:?} at {start:?} does not fit in {:?}", whole.shape()));
    }
    match whole {
        NdArray::I64(w) => copy_values::<arrow::datatypes::Int64Type>(batches, w, start, &shape),
        NdArray::F32(w) => copy_values::<arrow::datatypes::Float32Type>(batches, w, start, &shape),
        NdArray::F64(w) => copy_values::<arrow::datatypes::Float64Type>(batches, w, start, &shape),
        NdArray::Bool(_) => Ok(false),
    }
}

fn copy_values<T: arrow::datatypes::ArrowPrimitiveType>(
    batches: &[RecordBatch],
    whole: &mut ArrayD<T::Native>,
    start: &[usize],
    shape: &[usize],
) -> Result<bool, String> {
    let mut pieces: Vec<&[T::Native]> = Vec::with_capacity(batches.len());
    for batch in batches {
        let column = batch.column_by_name(VALUES).ok_or("the chunk has no values column")?;
        let Some(values) = column.as_any().downcast_ref::<arrow::array::PrimitiveArray<T>>() else {
            return Ok(false);
        };
        if !values.is_empty() {
            pieces.push(values.values());
        }
    }
    let total: usize = shape.iter().product();
    if pieces.iter().map(|p| p.len()).sum::<usize>() < total {
        return Err(format!("chunk of shape {shape:?} arrived with too few elements"));
    }
    if total == 0 {
        return Ok(true);
    }
    let Some(last) = shape.len().checked_sub(1) else {
        // 0-d: one element.
        if let (Some(out), Some(v)) = (whole.iter_mut().next(), pieces.iter().find_map(|p| p.first())) {
            *out = *v;
        }
        return Ok(true);
    };
    let mut region = whole.view_mut();
    for (axis, (&s, &n)) in start.iter().zip(shape).enumerate() {
        region.slice_axis_inplace(ndarray::Axis(axis), ndarray::Slice::from(s..s + n));
    }
    // Row by row of the region (contiguous in `whole`, which is in standard layout),
    // each from as many pieces as it spans.
    let (mut piece, mut at) = (0, 0);
    for mut row in region.lanes_mut(ndarray::Axis(last)) {
        let row = row.as_slice_mut().ok_or("a region row is not contiguous")?;
        let mut filled = 0;
        while filled < row.len() {
            let source = pieces.get(piece).map_or(&[][..], |p| &p[at..]);
            if source.is_empty() {
                return Err("chunk arrived with too few elements".into());
            }
            let n = source.len().min(row.len() - filled);
            row[filled..filled + n].copy_from_slice(&source[..n]);
            filled += n;
            at += n;
            if at == pieces[piece].len() {
                piece += 1;
                at = 0;
            }
        }
    }
    Ok(true)
}

/// A plain chunk as a task value.
pub(crate) fn to_value(array: NdArray) -> Result<Value, String> {
    encode(vec![(VALUES, array)]).map(|b| Value::Batches(vec![b]))
}

/// The plain chunk a task value holds.
pub(crate) fn from_value(value: &Value) -> Result<NdArray, String> {
    let Value::Batches(batches) = value else {
        return Err("the input is not an array chunk (it is not Arrow data)".into());
    };
    from_batches(batches)
}

/// The plain chunk in fetched batches.
pub(crate) fn from_batches(batches: &[RecordBatch]) -> Result<NdArray, String> {
    let mut fields = decode(batches)?;
    match fields.iter().position(|(name, _)| name == VALUES) {
        Some(i) => Ok(fields.swap_remove(i).1),
        None => Err("the chunk has no values column".into()),
    }
}

fn downcast<T: 'static>(column: &ArrayRef) -> Result<&T, String> {
    column.as_any().downcast_ref::<T>().ok_or_else(|| "a column does not match its type".to_string())
}

/// The elements in row-major order, without a copy when the array already is.
pub(crate) fn into_vec<T: Clone>(a: ArrayD<T>) -> Vec<T> {
    if a.is_standard_layout() {
        let len = a.len();
        let (mut v, offset) = a.into_raw_vec_and_offset();
        match offset {
            Some(0) | None if v.len() == len => v,
            Some(o) => {
                v.drain(..o);
                v.truncate(len);
                v
            }
            None => Vec::new(),
        }
    } else {
        a.iter().cloned().collect()
    }
}

/// The element count and shape, for messages.
pub(crate) fn describe(a: &NdArray) -> String {
    with_array!(a, x => format!("{} {:?}", a.dtype(), x.shape()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(a: NdArray) -> NdArray {
        let value = to_value(a).expect("encodes");
        from_value(&value).expect("decodes")
    }

    #[test]
    fn every_type_and_odd_shapes_roundtrip() {
        let scalar = NdArray::F64(ArrayD::from_elem(IxDyn(&[]), 2.5));
        assert_eq!(roundtrip(scalar.clone()), scalar);
        let empty = NdArray::I64(ArrayD::zeros(IxDyn(&[0, 3])));
        assert_eq!(roundtrip(empty.clone()), empty);
        let cube =
            NdArray::F32(ArrayD::from_shape_fn(IxDyn(&[2, 3, 4]), |i| (i[0] * 12 + i[1] * 4 + i[2]) as f32));
        assert_eq!(roundtrip(cube.clone()), cube);
        let mask = NdArray::Bool(ArrayD::from_shape_fn(IxDyn(&[5]), |i| i[0] % 2 == 0));
        assert_eq!(roundtrip(mask.clone()), mask);
    }

    #[test]
    fn a_transposed_view_is_written_in_row_major_order() {
        let a = ArrayD::from_shape_vec(IxDyn(&[2, 3]), vec![1i64, 2, 3, 4, 5, 6]).expect("shape");
        let t = a.reversed_axes();
        let back = roundtrip(NdArray::I64(t.clone())).into_typed::<i64>().expect("i64");
        assert_eq!(back, t);
    }

    #[test]
    fn split_batches_are_joined() {
        let a = NdArray::F64(ArrayD::from_shape_fn(IxDyn(&[4, 2]), |i| (i[0] * 2 + i[1]) as f64));
        let batch = encode(vec![(VALUES, a.clone())]).expect("encodes");
        let parts = vec![batch.slice(0, 3), batch.slice(3, 5)];
        assert_eq!(from_batches(&parts).expect("decodes"), a);
    }

    #[test]
    fn a_split_chunk_is_copied_into_its_region() {
        let part = ArrayD::from_shape_fn(IxDyn(&[3, 4]), |i| (i[0] * 4 + i[1]) as f64);
        let batch = encode(vec![(VALUES, NdArray::F64(part.clone()))]).expect("encodes");
        // Pieces that split rows: 5 + 2 + 5 elements.
        let pieces = vec![batch.slice(0, 5), batch.slice(5, 2), batch.slice(7, 5)];
        let mut whole = NdArray::F64(ArrayD::zeros(IxDyn(&[5, 7])));
        assert_eq!(copy_into(&pieces, &mut whole, &[1, 2], &[3, 4]), Ok(true));
        let mut want = ArrayD::<f64>::zeros(IxDyn(&[5, 7]));
        want.slice_mut(ndarray::s![1..4, 2..6]).assign(&part);
        assert_eq!(whole, NdArray::F64(want));
        assert!(copy_into(&pieces, &mut whole, &[3, 2], &[3, 4]).is_err(), "does not fit");
        assert!(copy_into(&pieces, &mut whole, &[0, 0], &[4, 3]).is_err(), "wrong shape");
        let mut other = NdArray::I64(ArrayD::zeros(IxDyn(&[5, 7])));
        assert_eq!(copy_into(&pieces, &mut other, &[0, 0], &[3, 4]), Ok(false), "another type");
    }
}
