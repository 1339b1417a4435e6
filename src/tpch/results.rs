//! Query results as text, for comparing runs of the same query.

use arrow::error::ArrowError;

/// A result as one text line per row, for comparing runs: floats are rounded to 10
/// significant digits (summation order differs between plans), everything else is
/// printed exactly. Rows are sorted unless `ordered`.
pub fn result_rows(batches: &[arrow::array::RecordBatch], ordered: bool) -> Result<Vec<String>, ArrowError> {
    let mut rows: Vec<String> =
        format_cells(batches, |v| format!("{v:.9e}"))?.into_iter().map(|cells| cells.join(" | ")).collect();
    if !ordered {
        rows.sort();
    }
    Ok(rows)
}

/// Every cell of `batches` as text, row by row: `NULL` for nulls, floats through `float`
/// (so a comparison can round them), everything else as Arrow displays it.
pub fn format_cells(
    batches: &[arrow::array::RecordBatch],
    float: impl Fn(f64) -> String,
) -> Result<Vec<Vec<String>>, ArrowError> {
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::{DataType, Float32Type, Float64Type};
    use arrow::util::display::{ArrayFormatter, FormatOptions};

    let options = FormatOptions::default().with_null("NULL");
    let mut rows = Vec::new();
    for batch in batches {
        let formatters = batch
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
            .collect::<Result<Vec<_>, _>>()?;
        for row in 0..batch.num_rows() {
            let cells = batch
                .columns()
                .iter()
                .zip(&formatters)
                .map(|(column, formatter)| match column.data_type() {
                    _ if column.is_null(row) => formatter.value(row).to_string(),
                    DataType::Float64 => float(column.as_primitive::<Float64Type>().value(row)),
                    DataType::Float32 => float(column.as_primitive::<Float32Type>().value(row) as f64),
                    _ => formatter.value(row).to_string(),
                })
                .collect();
            rows.push(cells);
        }
    }
    Ok(rows)
}
