//! Writing the eight tables as Parquet with the `tpchgen` generators, and the DDL that
//! registers them.

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

use super::TABLES;

/// Rows per Parquet row group: small enough that a scan splits into many partitions.
const ROW_GROUP_ROWS: usize = 128 * 1024;

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
