//! Query results as Flight SQL clients must see them.
//!
//! A client compares the schema `GetFlightInfo` announced with the one on the `DoGet`
//! stream, nullability and metadata included, and refuses a mismatch. Batches computed by
//! different operators can differ from the plan's schema in exactly those details, so
//! every result stream is stamped with the announced schema here before it is sent.

use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::{Schema, SchemaRef};
use arrow::error::ArrowError;
use arrow::ipc::writer::{IpcWriteOptions, StreamWriter};
use bytes::Bytes;

/// `schema` as an Arrow IPC stream holding only the schema (the form Flight SQL uses
/// for `FlightInfo.schema` and prepared statements' schemas).
pub fn encode_schema(schema: &Schema) -> Result<Bytes, ArrowError> {
    let mut out = Vec::new();
    StreamWriter::try_new_with_options(&mut out, schema, IpcWriteOptions::default())?.finish()?;
    Ok(Bytes::from(out))
}

/// The schema of an Arrow IPC stream (or of an IPC schema message, as `FlightInfo`
/// carries); an empty input is the empty schema.
pub fn decode_schema(bytes: &[u8]) -> Result<SchemaRef, ArrowError> {
    if bytes.is_empty() {
        return Ok(Arc::new(Schema::empty()));
    }
    let reader = arrow::ipc::reader::StreamReader::try_new(std::io::Cursor::new(bytes), None)?;
    Ok(reader.schema())
}

/// `batch` carrying exactly `schema`: its columns cast where their types differ, and
/// the schema's names, nullability and metadata in place of its own.
pub fn conform(batch: &RecordBatch, schema: &SchemaRef) -> Result<RecordBatch, ArrowError> {
    if batch.schema_ref() == schema {
        return Ok(batch.clone());
    }
    if batch.num_columns() != schema.fields().len() {
        return Err(ArrowError::SchemaError(format!(
            "a result batch has {} columns where its schema announced {}",
            batch.num_columns(),
            schema.fields().len()
        )));
    }
    let columns = batch
        .columns()
        .iter()
        .zip(schema.fields())
        .map(|(column, field)| {
            if column.data_type() == field.data_type() {
                Ok(column.clone())
            } else {
                arrow::compute::cast(column, field.data_type())
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    let options = arrow::array::RecordBatchOptions::new().with_row_count(Some(batch.num_rows()));
    RecordBatch::try_new_with_options(schema.clone(), columns, &options)
}

#[cfg(test)]
mod tests {
    use arrow::array::{Int64Array, StringArray};
    use arrow::datatypes::{DataType, Field};

    use super::*;

    #[test]
    fn a_batch_takes_the_announced_names_nullability_and_types() {
        let got = Arc::new(Schema::new(vec![
            Field::new("x", DataType::Int64, false),
            Field::new("s", DataType::Utf8, true),
        ]));
        let batch = RecordBatch::try_new(
            got,
            vec![Arc::new(Int64Array::from(vec![1, 2])), Arc::new(StringArray::from(vec!["a", "b"]))],
        )
        .unwrap();
        let announced = Arc::new(Schema::new(vec![
            Field::new("x", DataType::Int64, true),
            Field::new("s", DataType::LargeUtf8, true),
        ]));
        let out = conform(&batch, &announced).unwrap();
        assert_eq!(out.schema(), announced);
        assert_eq!(out.num_rows(), 2);
        assert_eq!(decode_schema(&encode_schema(&announced).unwrap()).unwrap(), announced);
    }
}
