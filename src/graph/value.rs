//! Task results as workers hold them.

use arrow::array::RecordBatch;
use bytes::Bytes;
use dusk_flight::messages::ValueKind;

/// A task's result.
///
/// Byte values are serde-encoded Rust values (postcard); batches are tables and array
/// chunks; buckets are a SQL stage's shuffle output, read one bucket at a time. All
/// cross process boundaries as Arrow data and spill as Arrow IPC, so memory accounting
/// and transfer are the same for every kind of work.
#[derive(Clone, Debug)]
pub enum Value {
    /// A serde-encoded Rust value.
    Bytes(Bytes),
    /// Arrow record batches.
    Batches(Vec<RecordBatch>),
    /// A shuffle writer's output: batches by output bucket. Readers fetch one bucket.
    Buckets(Vec<Vec<RecordBatch>>),
}

impl Value {
    /// Bytes this value holds in memory.
    pub fn nbytes(&self) -> u64 {
        match self {
            Value::Bytes(b) => b.len() as u64,
            Value::Batches(batches) => batches_nbytes(batches),
            Value::Buckets(buckets) => buckets.iter().map(|b| batches_nbytes(b)).sum(),
        }
    }

    /// Rows held, for values made of Arrow batches; 0 for serde-encoded bytes.
    pub fn rows(&self) -> u64 {
        let rows = |batches: &[RecordBatch]| batches.iter().map(|b| b.num_rows() as u64).sum::<u64>();
        match self {
            Value::Bytes(_) => 0,
            Value::Batches(batches) => rows(batches),
            Value::Buckets(buckets) => buckets.iter().map(|b| rows(b)).sum(),
        }
    }

    /// The schema of its batches, if it holds any.
    pub fn schema(&self) -> Option<arrow::datatypes::SchemaRef> {
        match self {
            Value::Bytes(_) => None,
            Value::Batches(batches) => batches.first().map(RecordBatch::schema),
            Value::Buckets(buckets) => buckets.iter().flatten().next().map(RecordBatch::schema),
        }
    }

    /// Bucket `bucket` of this value: of a shuffle output, or of a plain batch result
    /// (a query's final stage, a cached result), which is one bucket 0. The error says
    /// why it has no such bucket.
    pub fn into_bucket(self, bucket: usize) -> Result<Vec<RecordBatch>, String> {
        match self {
            Value::Buckets(mut buckets) if bucket < buckets.len() => Ok(std::mem::take(&mut buckets[bucket])),
            Value::Buckets(buckets) => Err(format!("it has {} buckets, not bucket {bucket}", buckets.len())),
            Value::Batches(batches) if bucket == 0 => Ok(batches),
            Value::Batches(_) => Err(format!("it is one batch result, not bucket {bucket}")),
            Value::Bytes(_) => Err("it is not Arrow data".to_string()),
        }
    }

    /// The layout, as announced to the scheduler and fetchers.
    pub fn kind(&self) -> ValueKind {
        match self {
            Value::Bytes(_) => ValueKind::Bytes,
            Value::Batches(_) => ValueKind::Batches,
            Value::Buckets(_) => ValueKind::Buckets,
        }
    }
}

fn batches_nbytes(batches: &[RecordBatch]) -> u64 {
    batches.iter().map(|b| b.get_array_memory_size() as u64).sum()
}
