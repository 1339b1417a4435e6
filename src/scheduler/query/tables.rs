//! Tables Dusk keeps itself: what `CREATE TABLE` makes.
//!
//! DataFusion keeps such a table in memory, in the process that plans it. On a cluster
//! that would be the scheduler: every row would pass through it and be lost with it. So
//! `CREATE TABLE [AS]` writes the table as Parquet under `<state-dir>/tables/<name>/`
//! (the query runs on the workers, like `COPY`) and registers it as an external table
//! over that directory. The catalog log keeps the registration, so the table survives a
//! restart; `INSERT INTO` adds files beside the others; `DROP TABLE` removes the
//! directory. The workers read the files by path, so they must see the scheduler's state
//! directory (one machine, or a shared file system).
//!
//! Each table starts with an empty Parquet file that carries its schema, so a table with
//! no rows still knows its columns.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::datatypes::Schema;
use datafusion::catalog::TableProvider;
use datafusion::common::TableReference;
use datafusion::datasource::listing::{ListingTable, ListingTableUrl};
use datafusion::error::{DataFusionError, Result};
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::arrow::arrow_writer::ArrowWriterOptions;

/// The file that gives a table its schema before it has rows.
const SCHEMA_FILE: &str = "0-schema.parquet";

/// Where Dusk's own tables live. See the module docs.
#[derive(Debug)]
pub(crate) struct ManagedTables {
    root: PathBuf,
    /// Without a state directory, tables live in a temporary one that goes with the engine.
    _temp: Option<tempfile::TempDir>,
}

impl ManagedTables {
    /// Tables under `<state_dir>/tables`, or under a temporary directory without one.
    pub(crate) fn new(state_dir: Option<&Path>) -> std::io::Result<Self> {
        match state_dir {
            Some(dir) => Ok(Self { root: dir.join("tables"), _temp: None }),
            None => {
                let temp = tempfile::Builder::new().prefix("dusk-tables-").tempdir()?;
                Ok(Self { root: temp.path().to_path_buf(), _temp: Some(temp) })
            }
        }
    }

    /// The directory of table `name`.
    pub(crate) fn dir(&self, name: &TableReference) -> PathBuf {
        let file_name: String = name
            .to_string()
            .chars()
            .map(|c| if c.is_alphanumeric() || c == '_' || c == '-' || c == '.' { c } else { '_' })
            .collect();
        self.root.join(file_name)
    }

    /// Where the rows of a new table `name` are written by query `query` before they
    /// replace the table's directory.
    pub(crate) fn staging_dir(&self, name: &TableReference, query: &str) -> PathBuf {
        let dir = self.dir(name);
        let file_name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        self.root.join(format!(".{file_name}.{query}.partial"))
    }

    /// True if `provider`, registered as `name`, is a table Dusk made (so dropping it
    /// removes its files).
    pub(crate) fn owns(&self, name: &TableReference, provider: &Arc<dyn TableProvider>) -> bool {
        let Some(listing) = provider.downcast_ref::<ListingTable>() else { return false };
        let Ok(url) = ListingTableUrl::parse(directory_url(&self.dir(name))) else { return false };
        listing.table_paths().first().is_some_and(|p| p.as_str() == url.as_str())
    }
}

/// `dir` as a location that names a directory (with the trailing slash).
pub(crate) fn directory_url(dir: &Path) -> String {
    format!("{}/", dir.display())
}

/// Blocking: makes `dir` afresh, holding only an empty Parquet file of `schema`.
pub(crate) fn start_table_dir(dir: &Path, schema: &Schema) -> Result<()> {
    remove_dir(dir)?;
    std::fs::create_dir_all(dir).map_err(|e| io_error(e, dir))?;
    let path = dir.join(SCHEMA_FILE);
    let file = std::fs::File::create(&path).map_err(|e| io_error(e, &path))?;
    // Like every file Dusk writes, without an embedded Arrow schema (see the session's
    // `skip_arrow_metadata`).
    let options = ArrowWriterOptions::new().with_skip_arrow_metadata(true);
    let mut writer = ArrowWriter::try_new_with_options(file, Arc::new(schema.clone()), options)?;
    writer.finish()?;
    Ok(())
}

/// Blocking: removes `dir` and everything in it, if it is there.
pub(crate) fn remove_dir(dir: &Path) -> Result<()> {
    match std::fs::remove_dir_all(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io_error(e, dir)),
        _ => Ok(()),
    }
}

/// Blocking: moves a finished table from `from` to `to`, replacing what was there.
pub(crate) fn replace_dir(from: &Path, to: &Path) -> Result<()> {
    remove_dir(to)?;
    std::fs::rename(from, to).map_err(|e| io_error(e, to))
}

fn io_error(e: std::io::Error, path: &Path) -> DataFusionError {
    DataFusionError::External(format!("{}: {e}", path.display()).into())
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::datatypes::{DataType, Field};

    use super::*;

    #[test]
    fn a_new_table_dir_holds_its_schema_and_replaces_what_was_there() {
        let root = tempfile::tempdir().expect("temp dir");
        let tables = ManagedTables::new(Some(root.path())).expect("tables");
        let dir = tables.dir(&TableReference::bare("my table/../x"));
        assert_eq!(dir.parent(), Some(root.path().join("tables").as_path()), "names cannot leave the root");
        std::fs::create_dir_all(&dir).expect("mkdir");
        std::fs::write(dir.join("old.parquet"), b"stale").expect("write");
        let schema = Schema::new(vec![Field::new("id", DataType::Int64, false)]);
        start_table_dir(&dir, &schema).expect("start");
        let names: Vec<_> =
            std::fs::read_dir(&dir).expect("list").map(|e| e.expect("entry").file_name()).collect();
        assert_eq!(names, vec![SCHEMA_FILE]);
        let file = std::fs::File::open(dir.join(SCHEMA_FILE)).expect("open");
        let reader = datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
            .expect("a Parquet file");
        assert_eq!(reader.schema().fields(), schema.fields());
    }
}
