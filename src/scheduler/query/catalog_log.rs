//! The catalog's memory across restarts: the DDL statements that shaped it, replayed.
//!
//! Every statement that changes the catalog (`CREATE EXTERNAL TABLE`, `CREATE VIEW`,
//! `DROP ...`, schemas and catalogs) is appended to `<state-dir>/catalog.sql` once it has
//! succeeded; on start the engine runs them again in order. Replaying the statements,
//! rather than storing providers, keeps the file readable and editable by people, and
//! lets a table pick up files added to its directory since. A statement that fails on
//! replay (its files are gone) is logged and skipped; the others still load.

use std::io::Write;
use std::path::{Path, PathBuf};

use datafusion::logical_expr::{DdlStatement, LogicalPlan};

/// Ends each statement in the file, so statements may hold `;` and newlines.
const SEPARATOR: &str = "\n-- dusk: end of statement\n";

/// The log of catalog statements in one state directory.
#[derive(Debug, Clone)]
pub(crate) struct CatalogLog {
    path: PathBuf,
}

impl CatalogLog {
    /// The log in `state_dir`, created with the directory when first written.
    pub(crate) fn new(state_dir: &Path) -> Self {
        CatalogLog { path: state_dir.join("catalog.sql") }
    }

    /// The statements logged so far, oldest first.
    pub(crate) fn statements(&self) -> std::io::Result<Vec<String>> {
        match std::fs::read_to_string(&self.path) {
            Ok(text) => Ok(text
                .split(SEPARATOR)
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(e),
        }
    }

    /// Appends `sql`, which changed the catalog, and flushes it to disk.
    pub(crate) fn append(&self, sql: &str) -> std::io::Result<()> {
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut file = std::fs::OpenOptions::new().create(true).append(true).open(&self.path)?;
        file.write_all(sql.trim().as_bytes())?;
        file.write_all(SEPARATOR.as_bytes())?;
        file.sync_data()
    }

    /// Where the log is.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

/// True if running `plan` changes the catalog.
pub(crate) fn changes_catalog(plan: &LogicalPlan) -> bool {
    matches!(
        plan,
        LogicalPlan::Ddl(
            DdlStatement::CreateExternalTable(_)
                | DdlStatement::CreateView(_)
                | DdlStatement::CreateCatalogSchema(_)
                | DdlStatement::CreateCatalog(_)
                | DdlStatement::DropTable(_)
                | DdlStatement::DropView(_)
                | DdlStatement::DropCatalogSchema(_)
        )
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_round_trip_with_semicolons_and_newlines() {
        let dir = tempfile::tempdir().expect("temp dir");
        let log = CatalogLog::new(&dir.path().join("state"));
        assert!(log.statements().expect("empty").is_empty());
        log.append("CREATE VIEW v AS SELECT ';' AS x;\\n").expect("append");
        log.append("DROP VIEW v").expect("append");
        assert_eq!(
            log.statements().expect("read"),
            vec!["CREATE VIEW v AS SELECT ';' AS x;\\n".to_string(), "DROP VIEW v".to_string()]
        );
    }
}
