//! TPC-H: sample data for `dusk local`, `dusk gen tpch`, the tests and the benches.
//!
//! [`generate`] writes the eight tables as Parquet with the `tpchgen` generators, one
//! directory per table (`<dir>/lineitem/part-0.parquet`, ...); [`create_tables`] gives the
//! `CREATE EXTERNAL TABLE` statements that register them; [`QUERIES`] holds the 22
//! queries. Each is the standard text with the validation parameters, except that the
//! queries with a `LIMIT` order by enough columns to make the answer unique, so runs can
//! be compared row for row.

use std::fs::{self, File};
use std::path::{Path, PathBuf};

use arrow::array::RecordBatchReader;
use arrow::error::ArrowError;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::Compression;
use datafusion::parquet::errors::ParquetError;
use datafusion::parquet::file::properties::WriterProperties;
use tpchgen::generators::{
    CustomerGenerator, LineItemGenerator, NationGenerator, OrderGenerator, PartGenerator, PartSuppGenerator,
    RegionGenerator, SupplierGenerator,
};
use tpchgen_arrow::{
    CustomerArrow, LineItemArrow, NationArrow, OrderArrow, PartArrow, PartSuppArrow, RegionArrow,
    SupplierArrow,
};

/// The eight TPC-H tables.
pub const TABLES: [&str; 8] =
    ["nation", "region", "part", "supplier", "partsupp", "customer", "orders", "lineitem"];

/// Rows per Parquet row group: small enough that a scan splits into many partitions.
const ROW_GROUP_ROWS: usize = 128 * 1024;

/// The 22 queries, as `(name, sql)`: `("q1", "select ...")`.
pub const QUERIES: [(&str, &str); 22] = [
    ("q1", include_str!("queries/q1.sql")),
    ("q2", include_str!("queries/q2.sql")),
    ("q3", include_str!("queries/q3.sql")),
    ("q4", include_str!("queries/q4.sql")),
    ("q5", include_str!("queries/q5.sql")),
    ("q6", include_str!("queries/q6.sql")),
    ("q7", include_str!("queries/q7.sql")),
    ("q8", include_str!("queries/q8.sql")),
    ("q9", include_str!("queries/q9.sql")),
    ("q10", include_str!("queries/q10.sql")),
    ("q11", include_str!("queries/q11.sql")),
    ("q12", include_str!("queries/q12.sql")),
    ("q13", include_str!("queries/q13.sql")),
    ("q14", include_str!("queries/q14.sql")),
    ("q15", include_str!("queries/q15.sql")),
    ("q16", include_str!("queries/q16.sql")),
    ("q17", include_str!("queries/q17.sql")),
    ("q18", include_str!("queries/q18.sql")),
    ("q19", include_str!("queries/q19.sql")),
    ("q20", include_str!("queries/q20.sql")),
    ("q21", include_str!("queries/q21.sql")),
    ("q22", include_str!("queries/q22.sql")),
];

/// Why generating TPC-H data failed.
#[derive(Debug, thiserror::Error)]
pub enum TpchError {
    /// The scale factor is not a positive number.
    #[error("scale factor must be positive, got {0}")]
    Scale(f64),
    /// A file or directory could not be written.
    #[error("writing {path}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The system's reason.
        #[source]
        source: std::io::Error,
    },
    /// The generator failed.
    #[error("generating {table}")]
    Generate {
        /// The table.
        table: &'static str,
        /// What failed.
        #[source]
        source: ArrowError,
    },
    /// Parquet encoding failed.
    #[error("writing {path}")]
    Parquet {
        /// The file.
        path: PathBuf,
        /// What failed.
        #[source]
        source: ParquetError,
    },
}

/// Writes all eight tables at scale factor `scale` under `dir`, using up to `threads`
/// threads. Blocking: call it from a thread that may block.
pub fn generate(scale: f64, dir: &Path, threads: usize) -> Result<(), TpchError> {
    if !(scale > 0.0 && scale.is_finite()) {
        return Err(TpchError::Scale(scale));
    }
    // Large tables are split into files of about a million lineitem rows' worth.
    let parts = (scale * 4.0).ceil().max(1.0) as i32;
    let mut jobs: Vec<(&'static str, i32, i32)> = Vec::new();
    for table in TABLES {
        let n = if matches!(table, "nation" | "region") { 1 } else { parts };
        jobs.extend((1..=n).map(|part| (table, part, n)));
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let threads = threads.clamp(1, jobs.len());
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| -> Result<(), TpchError> {
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(&(table, part, count)) = jobs.get(i) else { return Ok(()) };
                        write_part(scale, dir, table, part, count)?;
                    }
                })
            })
            .collect();
        workers.into_iter().try_for_each(|w| w.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
    })
}

/// The statements that register the tables written by [`generate`] in `dir`.
pub fn create_tables(dir: &Path) -> Vec<String> {
    TABLES
        .iter()
        .map(|table| {
            let location = dir.join(table);
            format!(
                "CREATE EXTERNAL TABLE IF NOT EXISTS {table} STORED AS PARQUET LOCATION '{}/'",
                location.display()
            )
        })
        .collect()
}

/// True if `dir` holds every table's directory (as [`generate`] leaves it).
pub fn is_generated(dir: &Path) -> bool {
    TABLES.iter().all(|t| dir.join(t).join("part-1.parquet").is_file())
}

fn write_part(scale: f64, dir: &Path, table: &'static str, part: i32, count: i32) -> Result<(), TpchError> {
    let table_dir = dir.join(table);
    fs::create_dir_all(&table_dir).map_err(|source| TpchError::Io { path: table_dir.clone(), source })?;
    let batches: Box<dyn RecordBatchReader> = match table {
        "nation" => Box::new(NationArrow::new(NationGenerator::new(scale, part, count))),
        "region" => Box::new(RegionArrow::new(RegionGenerator::new(scale, part, count))),
        "part" => Box::new(PartArrow::new(PartGenerator::new(scale, part, count))),
        "supplier" => Box::new(SupplierArrow::new(SupplierGenerator::new(scale, part, count))),
        "partsupp" => Box::new(PartSuppArrow::new(PartSuppGenerator::new(scale, part, count))),
        "customer" => Box::new(CustomerArrow::new(CustomerGenerator::new(scale, part, count))),
        "orders" => Box::new(OrderArrow::new(OrderGenerator::new(scale, part, count))),
        _ => Box::new(LineItemArrow::new(LineItemGenerator::new(scale, part, count))),
    };
    // Written under a temporary name and renamed, so a crash never leaves a table that
    // looks complete.
    let path = table_dir.join(format!("part-{part}.parquet"));
    let partial = table_dir.join(format!(".part-{part}.parquet.partial"));
    let file = File::create(&partial).map_err(|source| TpchError::Io { path: partial.clone(), source })?;
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .build();
    let parquet = |source| TpchError::Parquet { path: path.clone(), source };
    let mut writer = ArrowWriter::try_new(file, batches.schema(), Some(props)).map_err(parquet)?;
    for batch in batches {
        let batch = batch.map_err(|source| TpchError::Generate { table, source })?;
        writer.write(&batch).map_err(parquet)?;
    }
    writer.close().map_err(parquet)?;
    fs::rename(&partial, &path).map_err(|source| TpchError::Io { path: path.clone(), source })
}

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
