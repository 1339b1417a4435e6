//! sqllogictest files under `sql/tests/` run against a real cluster.
//!
//! Before each file, the tables of `sql/tests/data/*.csv` are registered (`people`,
//! `depts`, `empty`), so their scans run on workers. Values print as Arrow displays them,
//! `NULL` for nulls and `(empty)` for empty strings; floats print with up to 6 decimals.
//!
//! To (re)write the expected results with in-process DataFusion as the reference, run
//! `DUSK_SLT_COMPLETE=1 cargo test --test main slt::` and review the diff.

use std::path::{Path, PathBuf};

use arrow::array::RecordBatch;
use arrow::datatypes::DataType;
use datafusion::prelude::SessionContext;
use dusk::Client;
use dusk::testing::LocalCluster;
use sqllogictest::{AsyncDB, DBOutput, DefaultColumnType};

fn sql_tests_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("sql/tests")
}

fn create_tables() -> Vec<String> {
    ["people", "depts", "empty"]
        .iter()
        .map(|t| {
            let path = sql_tests_dir().join("data").join(format!("{t}.csv"));
            format!(
                "CREATE EXTERNAL TABLE {t} STORED AS CSV LOCATION '{}' OPTIONS ('format.has_header' 'true')",
                path.display()
            )
        })
        .collect()
}

fn column_type(t: &DataType) -> DefaultColumnType {
    match t {
        t if t.is_integer() => DefaultColumnType::Integer,
        t if t.is_floating() || matches!(t, DataType::Decimal128(..) | DataType::Decimal256(..)) => {
            DefaultColumnType::FloatingPoint
        }
        _ => DefaultColumnType::Text,
    }
}

/// Rows as sqllogictest compares them; statements with no columns are "complete".
fn output(
    schema: &arrow::datatypes::Schema,
    batches: &[RecordBatch],
) -> Result<DBOutput<DefaultColumnType>, String> {
    if schema.fields().is_empty() {
        return Ok(DBOutput::StatementComplete(0));
    }
    let types = schema.fields().iter().map(|f| column_type(f.data_type())).collect();
    let rows = dusk::tpch::format_cells(batches, |v| {
        format!("{v:.6}").trim_end_matches('0').trim_end_matches('.').to_string()
    })
    .map_err(|e| e.to_string())?
    .into_iter()
    .map(|cells| cells.into_iter().map(|c| if c.is_empty() { "(empty)".to_string() } else { c }).collect())
    .collect();
    Ok(DBOutput::Rows { types, rows })
}

/// The cluster, through the Rust client.
struct Dusk(Client);

#[async_trait::async_trait]
impl AsyncDB for Dusk {
    type Error = dusk::ClientError;
    type ColumnType = DefaultColumnType;

    async fn run(&mut self, sql: &str) -> Result<DBOutput<DefaultColumnType>, dusk::ClientError> {
        let out = self.0.sql(sql).await?;
        output(&out.schema, &out.batches)
            .map_err(|message| dusk::ClientError::Result { query: sql.to_string(), message })
    }

    async fn shutdown(&mut self) {}

    fn engine_name(&self) -> &str {
        "dusk"
    }
}

/// In-process DataFusion, the reference that writes expected results.
struct Reference(SessionContext);

#[async_trait::async_trait]
impl AsyncDB for Reference {
    type Error = datafusion::error::DataFusionError;
    type ColumnType = DefaultColumnType;

    async fn run(&mut self, sql: &str) -> Result<DBOutput<DefaultColumnType>, Self::Error> {
        let df = self.0.sql(sql).await?;
        let schema = df.schema().as_arrow().clone();
        let batches = df.collect().await?;
        output(&schema, &batches).map_err(datafusion::error::DataFusionError::Execution)
    }

    async fn shutdown(&mut self) {}
}

fn slt_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(sql_tests_dir())
        .expect("sql/tests exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "slt"))
        .collect();
    files.sort();
    files
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqllogictest_files_pass_on_the_cluster() {
    let files = slt_files();
    assert!(files.len() >= 3, "expected .slt files in sql/tests, found {files:?}");
    if std::env::var_os("DUSK_SLT_COMPLETE").is_some() {
        for file in &files {
            let mut runner = sqllogictest::Runner::new(|| async {
                let ctx = SessionContext::new();
                for statement in create_tables() {
                    ctx.sql(&statement).await?.collect().await?;
                }
                Ok(Reference(ctx))
            });
            runner
                .update_test_file(
                    file,
                    " ",
                    sqllogictest::default_validator,
                    sqllogictest::default_normalizer,
                    sqllogictest::default_column_validator,
                )
                .await
                .unwrap_or_else(|e| panic!("completing {}: {e}", file.display()));
        }
    }
    let cluster = LocalCluster::start(2, 1).await.expect("cluster");
    let url = cluster.url();
    for file in &files {
        let url = url.clone();
        let mut runner = sqllogictest::Runner::new(move || {
            let url = url.clone();
            async move {
                let client = Client::connect(&url).await?;
                for statement in create_tables() {
                    // Tables live in the catalog all clients share; a second file finds them.
                    let statement =
                        statement.replace("CREATE EXTERNAL TABLE", "CREATE EXTERNAL TABLE IF NOT EXISTS");
                    client.sql(&statement).await?;
                }
                Ok(Dusk(client))
            }
        });
        if let Err(e) = runner.run_file_async(file).await {
            panic!("{}: {e}", file.display());
        }
    }
    cluster.shutdown().await;
}
