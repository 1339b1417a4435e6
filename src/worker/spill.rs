//! Spill files: one task result per Arrow IPC file on the worker's local disk.
//!
//! The result store moves least-recently-used values here when memory runs short and
//! reads them back on demand. Each file is in the Arrow IPC *file* format (footer and
//! all) and holds exactly one value:
//!
//! - a [`Value::Bytes`] is written as the batches of [`dusk_flight::chunks::encode_values`]
//!   (schema `(key, total, chunk)`, at most 1 MiB per row), the same layout byte values
//!   have on the wire, and comes back through a [`ValueAssembler`];
//! - a [`Value::Batches`] is written as-is, under the schema of its first batch. An empty
//!   `Batches(vec![])` becomes a file with an empty schema and no batches.
//!
//! - a [`Value::Buckets`] (a shuffle writer's output) is written as the batches of all its
//!   buckets in order, with [`BUCKETS_KEY`] listing how many batches each bucket has.
//!
//! The schema carries the metadata entry [`KIND_KEY`] = `bytes` | `batches` | `buckets`, so
//! the reader knows which. That entry is removed again from the batches read back, so a round trip
//! gives batches equal to those written.
//!
//! Everything here is blocking file I/O: callers run it in `spawn_blocking`, never on the
//! async reactor and never under a lock. This module knows nothing about memory
//! accounting; it only writes, reads and deletes files.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, BufReader, BufWriter};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{RecordBatch, RecordBatchOptions};
use arrow::datatypes::{Schema, SchemaRef};
use arrow::ipc::reader::FileReader;
use arrow::ipc::writer::FileWriter;
use dusk_flight::chunks::{self, ValueAssembler};

use super::error::SpillFileError;
use crate::graph::{TaskKey, Value};

/// The schema metadata key that says what kind of value a spill file holds.
pub(crate) const KIND_KEY: &str = "dusk.kind";

/// [`KIND_KEY`]'s value for a [`Value::Bytes`].
const KIND_BYTES: &str = "bytes";

/// [`KIND_KEY`]'s value for a [`Value::Batches`].
const KIND_BATCHES: &str = "batches";

/// [`KIND_KEY`]'s value for a [`Value::Buckets`].
const KIND_BUCKETS: &str = "buckets";

/// The schema metadata key listing the batch count of each bucket, comma-separated.
const BUCKETS_KEY: &str = "dusk.buckets";

/// The path of spill file number `id` in `dir`: `<dir>/<id>.arrow`.
pub(crate) fn spill_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("{id}.arrow"))
}

/// Writes `value` of task `key` to a new file at `path` and returns the file's size in
/// bytes.
///
/// An existing file at `path` is replaced. On failure the partial file is deleted.
pub(crate) fn write(path: &Path, key: &TaskKey, value: &Value) -> Result<u64, SpillFileError> {
    let result = write_file(path, key, value);
    if result.is_err() {
        // Best effort: the original error is the one worth reporting.
        let _ = delete(path);
    }
    result
}

/// Reads back the value of task `key` from the spill file at `path`.
///
/// The file is left in place; deleting it is the caller's decision.
pub(crate) fn read(path: &Path, key: &TaskKey) -> Result<Value, SpillFileError> {
    let reader = FileReader::try_new(BufReader::new(File::open(path)?), None)?;
    let file_schema = reader.schema();
    match file_schema.metadata().get(KIND_KEY).map(String::as_str) {
        Some(KIND_BYTES) => read_bytes(reader, key),
        Some(KIND_BATCHES) => Ok(Value::Batches(read_batches(reader, &file_schema)?)),
        Some(KIND_BUCKETS) => read_buckets(reader, &file_schema),
        Some(other) => Err(malformed(format!("unknown {KIND_KEY} {other:?}"))),
        None => Err(malformed(format!("no {KIND_KEY} in the schema metadata"))),
    }
}

/// Deletes the spill file at `path`; a file that is already gone is not an error.
pub(crate) fn delete(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// [`write`] without the clean-up.
fn write_file(path: &Path, key: &TaskKey, value: &Value) -> Result<u64, SpillFileError> {
    let file = BufWriter::new(File::create(path)?);
    let file = match value {
        Value::Bytes(bytes) => {
            let schema = with_kind(&chunks::schema(), KIND_BYTES);
            let mut writer = FileWriter::try_new(file, &schema)?;
            for batch in chunks::encode_values(vec![(key.to_string(), bytes.clone())]) {
                writer.write(&batch?)?;
            }
            writer.finish()?;
            writer.into_inner()?
        }
        Value::Batches(batches) => {
            let base = base_schema(batches)?;
            write_batches(file, batches, with_kind(&base, KIND_BATCHES))?
        }
        Value::Buckets(buckets) => {
            let all: Vec<RecordBatch> = buckets.iter().flatten().cloned().collect();
            let base = base_schema(&all)?;
            let mut schema = with_kind(&base, KIND_BUCKETS);
            let sizes: Vec<String> = buckets.iter().map(|b| b.len().to_string()).collect();
            schema.metadata.insert(BUCKETS_KEY.to_string(), sizes.join(","));
            write_batches(file, &all, schema)?
        }
    };
    // Flushes the buffer; the file needs no fsync, as spill files do not outlive the worker.
    let file = file.into_inner().map_err(io::IntoInnerError::into_error)?;
    Ok(file.metadata()?.len())
}

/// The schema all of `batches` share (empty for no batches).
fn base_schema(batches: &[RecordBatch]) -> Result<SchemaRef, SpillFileError> {
    let base = batches.first().map_or_else(|| Arc::new(Schema::empty()), RecordBatch::schema);
    if let Some(odd) = batches.iter().find(|b| b.schema_ref().fields() != base.fields()) {
        return Err(malformed(format!(
            "batches of one value have different schemas: [{base}] and [{}]",
            odd.schema_ref()
        )));
    }
    Ok(base)
}

/// Writes `batches` under `schema` and returns the file.
fn write_batches(
    file: BufWriter<File>,
    batches: &[RecordBatch],
    schema: Schema,
) -> Result<BufWriter<File>, SpillFileError> {
    let mut writer = FileWriter::try_new(file, &schema)?;
    for batch in batches {
        writer.write(batch)?;
    }
    writer.finish()?;
    Ok(writer.into_inner()?)
}

/// Reassembles the one byte value of a `bytes` spill file.
fn read_bytes(reader: FileReader<BufReader<File>>, key: &TaskKey) -> Result<Value, SpillFileError> {
    let mut assembler = ValueAssembler::new();
    let mut values = Vec::with_capacity(1);
    for batch in reader {
        values.extend(assembler.push(&batch?)?);
    }
    values.extend(assembler.finish()?);
    match <[_; 1]>::try_from(values) {
        Ok([(found, bytes)]) if found == key.as_str() => Ok(Value::Bytes(bytes)),
        Ok([(found, _)]) => Err(malformed(format!("holds task {found}, expected {key}"))),
        Err(values) => Err(malformed(format!("holds {} byte values, expected 1", values.len()))),
    }
}

/// Reads the batches of a `batches` spill file, under their original schema.
fn read_batches(
    reader: FileReader<BufReader<File>>,
    file_schema: &SchemaRef,
) -> Result<Vec<RecordBatch>, SpillFileError> {
    let mut metadata: HashMap<String, String> = file_schema.metadata().clone();
    metadata.remove(KIND_KEY);
    metadata.remove(BUCKETS_KEY);
    let schema = Arc::new(Schema::new_with_metadata(file_schema.fields().clone(), metadata));
    let mut batches = Vec::new();
    for batch in reader {
        let batch = batch?;
        // `with_schema` only accepts a superset of the metadata, so rebuild the batch.
        let options = RecordBatchOptions::new().with_row_count(Some(batch.num_rows()));
        let columns = batch.columns().to_vec();
        batches.push(RecordBatch::try_new_with_options(schema.clone(), columns, &options)?);
    }
    Ok(batches)
}

/// Reads the buckets of a `buckets` spill file.
fn read_buckets(
    reader: FileReader<BufReader<File>>,
    file_schema: &SchemaRef,
) -> Result<Value, SpillFileError> {
    let sizes: Vec<usize> = match file_schema.metadata().get(BUCKETS_KEY) {
        Some(list) if list.is_empty() => Vec::new(),
        Some(list) => list
            .split(',')
            .map(|n| n.parse().map_err(|_| malformed(format!("bad {BUCKETS_KEY} entry {n:?}"))))
            .collect::<Result<_, _>>()?,
        None => return Err(malformed(format!("no {BUCKETS_KEY} in a buckets file"))),
    };
    let mut batches = read_batches(reader, file_schema)?.into_iter();
    let buckets: Vec<Vec<RecordBatch>> = sizes.iter().map(|n| batches.by_ref().take(*n).collect()).collect();
    let read: usize = buckets.iter().map(Vec::len).sum();
    if read != sizes.iter().sum::<usize>() || batches.next().is_some() {
        return Err(malformed(format!("bucket sizes {sizes:?} do not match the batches in the file")));
    }
    Ok(Value::Buckets(buckets))
}

/// `schema` with [`KIND_KEY`] set to `kind`.
fn with_kind(schema: &Schema, kind: &str) -> Schema {
    let mut metadata = schema.metadata().clone();
    metadata.insert(KIND_KEY.to_string(), kind.to_string());
    Schema::new_with_metadata(schema.fields().clone(), metadata)
}

/// A [`SpillFileError::Malformed`] with `reason`.
fn malformed(reason: String) -> SpillFileError {
    SpillFileError::Malformed { reason }
}
