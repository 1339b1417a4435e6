//! Byte values as Arrow data.
//!
//! A serde-encoded result travels as rows of one schema, `(key, total, chunk)`: each row
//! holds at most [`MAX_CHUNK_BYTES`] of one value, and a value's rows are consecutive.
//! Small values share a batch; a large value is cut into many rows, each its own batch,
//! so a 1 GiB value streams as ~1,000 frames of 1 MiB and no gRPC message grows past a
//! few MiB. Spill files use the same schema, so there is one byte layout everywhere.

use std::sync::{Arc, LazyLock};

use arrow::array::{Array, BinaryArray, BinaryBuilder, RecordBatch, StringArray, StringBuilder, UInt64Array};
use arrow::buffer::{Buffer, OffsetBuffer};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use bytes::{Bytes, BytesMut};

use crate::WireError;

/// The largest slice of one value in a row: 1 MiB.
pub const MAX_CHUNK_BYTES: usize = 1 << 20;

/// Rows of small values are gathered into batches of about this many bytes.
const TARGET_BATCH_BYTES: usize = MAX_CHUNK_BYTES;

static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new("key", DataType::Utf8, false),
        Field::new("total", DataType::UInt64, false),
        Field::new("chunk", DataType::Binary, false),
    ]))
});

/// The schema of byte-value batches.
pub fn schema() -> SchemaRef {
    SCHEMA.clone()
}

/// Cuts `(key, value)` pairs into batches of [`schema`], lazily.
pub fn encode_values(
    values: Vec<(String, Bytes)>,
) -> impl Iterator<Item = Result<RecordBatch, WireError>> + Send {
    let mut rows = values.into_iter().flat_map(|(key, value)| {
        let total = value.len();
        let pieces = total.div_ceil(MAX_CHUNK_BYTES).max(1);
        (0..pieces).map(move |i| {
            let start = i * MAX_CHUNK_BYTES;
            let end = (start + MAX_CHUNK_BYTES).min(total);
            (key.clone(), total as u64, value.slice(start..end))
        })
    });
    let mut pending: Option<(String, u64, Bytes)> = None;
    std::iter::from_fn(move || {
        let mut batch: Vec<(String, u64, Bytes)> = Vec::new();
        let mut size = 0;
        while let Some(row) = pending.take().or_else(|| rows.next()) {
            if !batch.is_empty() && size + row.2.len() > TARGET_BATCH_BYTES {
                pending = Some(row);
                break;
            }
            size += row.2.len();
            batch.push(row);
        }
        (!batch.is_empty()).then(|| rows_to_batch(batch))
    })
}

fn rows_to_batch(rows: Vec<(String, u64, Bytes)>) -> Result<RecordBatch, WireError> {
    let mut keys = StringBuilder::new();
    let totals = UInt64Array::from_iter_values(rows.iter().map(|r| r.1));
    let chunks = if let [(_, _, only)] = rows.as_slice() {
        // One large slice: hand its buffer to Arrow without copying.
        let offsets = OffsetBuffer::from_lengths([only.len()]);
        BinaryArray::try_new(offsets, Buffer::from(only.clone()), None)?
    } else {
        let mut builder = BinaryBuilder::with_capacity(rows.len(), rows.iter().map(|r| r.2.len()).sum());
        for row in &rows {
            builder.append_value(&row.2);
        }
        builder.finish()
    };
    for row in &rows {
        keys.append_value(&row.0);
    }
    Ok(RecordBatch::try_new(schema(), vec![Arc::new(keys.finish()), Arc::new(totals), Arc::new(chunks)])?)
}

/// Reassembles values from batches of [`schema`], in the order they were sent.
#[derive(Debug, Default)]
pub struct ValueAssembler {
    /// The value being assembled: key, announced length, bytes so far.
    current: Option<(String, usize, BytesMut)>,
}

/// Most memory taken ahead of the bytes that fill it: a value announced as longer grows
/// as its chunks arrive, so a frame that merely claims a huge size costs nothing.
const MAX_PREALLOC_BYTES: usize = 4 * MAX_CHUNK_BYTES;

impl ValueAssembler {
    /// A new, empty assembler.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds one batch; returns the values it completed.
    pub fn push(&mut self, batch: &RecordBatch) -> Result<Vec<(String, Bytes)>, WireError> {
        let keys = column::<StringArray>(batch, "key")?;
        let totals = column::<UInt64Array>(batch, "total")?;
        let chunks = column::<BinaryArray>(batch, "chunk")?;
        let mut done = Vec::new();
        for row in 0..batch.num_rows() {
            let key = keys.value(row);
            let total =
                usize::try_from(totals.value(row)).map_err(|_| chunk_error("value larger than memory"))?;
            let chunk = chunks.value(row);
            let continues =
                matches!(&self.current, Some((k, t, buf)) if k == key && *t == total && buf.len() < total);
            if !continues {
                done.extend(self.take_current()?);
                let buf = BytesMut::with_capacity(total.min(MAX_PREALLOC_BYTES));
                self.current = Some((key.to_string(), total, buf));
            }
            if let Some((_, _, buf)) = &mut self.current {
                if buf.len() + chunk.len() > total {
                    return Err(chunk_error(format!(
                        "value {key} is longer than its announced {total} bytes"
                    )));
                }
                buf.extend_from_slice(chunk);
            }
        }
        Ok(done)
    }

    /// Ends the stream: returns the last value, or an error if it was cut short.
    pub fn finish(mut self) -> Result<Option<(String, Bytes)>, WireError> {
        self.take_current()
    }

    fn take_current(&mut self) -> Result<Option<(String, Bytes)>, WireError> {
        match self.current.take() {
            None => Ok(None),
            Some((key, total, buf)) if buf.len() < total => Err(chunk_error(format!(
                "value {key} ended after {} of its announced {total} bytes",
                buf.len()
            ))),
            Some((key, _, buf)) => Ok(Some((key, buf.freeze()))),
        }
    }
}

fn column<'a, T: Array + 'static>(batch: &'a RecordBatch, name: &str) -> Result<&'a T, WireError> {
    batch
        .column_by_name(name)
        .and_then(|c| c.as_any().downcast_ref::<T>())
        .ok_or_else(|| chunk_error(format!("missing or mistyped column {name}")))
}

fn chunk_error(reason: impl Into<String>) -> WireError {
    WireError::Chunks { reason: reason.into() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(values: Vec<(String, Bytes)>) -> Result<Vec<(String, Bytes)>, WireError> {
        let mut assembler = ValueAssembler::new();
        let mut out = Vec::new();
        for batch in encode_values(values) {
            let batch = batch?;
            let bytes: usize = batch.get_array_memory_size();
            assert!(bytes < 4 * MAX_CHUNK_BYTES, "batch of {bytes} bytes");
            out.extend(assembler.push(&batch)?);
        }
        out.extend(assembler.finish()?);
        Ok(out)
    }

    #[test]
    fn small_values_share_a_batch_and_come_back_in_order() -> Result<(), WireError> {
        let values: Vec<_> = (0..100).map(|i| (format!("k{i}"), Bytes::from(vec![i as u8; i]))).collect();
        assert_eq!(encode_values(values.clone()).count(), 1);
        assert_eq!(round_trip(values.clone())?, values);
        Ok(())
    }

    #[test]
    fn large_value_is_cut_into_bounded_chunks() -> Result<(), WireError> {
        let big: Vec<u8> = (0..(3 * MAX_CHUNK_BYTES + 17)).map(|i| (i % 251) as u8).collect();
        let values = vec![
            ("a".to_string(), Bytes::from_static(b"x")),
            ("big".to_string(), Bytes::from(big)),
            ("empty".to_string(), Bytes::new()),
        ];
        assert!(encode_values(values.clone()).count() >= 4);
        assert_eq!(round_trip(values.clone())?, values);
        Ok(())
    }

    fn frame(rows: Vec<(&str, u64, &'static [u8])>) -> RecordBatch {
        let rows = rows.into_iter().map(|(k, t, c)| (k.to_string(), t, Bytes::from_static(c))).collect();
        rows_to_batch(rows).expect("a batch")
    }

    #[test]
    fn a_frame_announcing_a_huge_value_takes_no_memory_for_it() {
        // 2^50 bytes announced, 3 sent: an error when the stream ends, not an abort.
        let mut assembler = ValueAssembler::new();
        assert!(assembler.push(&frame(vec![("k", 1 << 50, b"abc")])).expect("pushed").is_empty());
        let err = assembler.finish().expect_err("cut short");
        assert!(err.to_string().contains("ended after 3 of its announced"), "{err}");

        // A value cut short by the next key is an error too, and so is one too long.
        let mut assembler = ValueAssembler::new();
        let err = assembler.push(&frame(vec![("a", 10, b"abc"), ("b", 1, b"x")])).expect_err("cut short");
        assert!(err.to_string().contains("value a ended after 3"), "{err}");
        let mut assembler = ValueAssembler::new();
        let err = assembler.push(&frame(vec![("a", 2, b"abc")])).expect_err("too long");
        assert!(err.to_string().contains("longer than its announced"), "{err}");
    }

    #[test]
    fn repeated_key_yields_two_values() -> Result<(), WireError> {
        let values =
            vec![("k".to_string(), Bytes::from_static(b"1")), ("k".to_string(), Bytes::from_static(b"2"))];
        assert_eq!(round_trip(values.clone())?, values);
        Ok(())
    }
}
