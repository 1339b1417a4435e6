//! Real Python Flight SQL clients (ADBC, `pyarrow.flight`, flightsql-dbapi) against a
//! real `dusk local` cluster: runs `tests/python` with pytest from the venv that
//! `scripts/test.sh` makes.

use std::path::PathBuf;

use dusk::Client;
use dusk::testing::ProcessCluster;

use crate::support::dusk_binary;

type Result = std::result::Result<(), Box<dyn std::error::Error + Send + Sync>>;

/// The venv's Python, or `DUSK_PYTHON` if set.
fn python() -> PathBuf {
    std::env::var_os("DUSK_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_flight_sql_clients_pass_their_tests() -> Result {
    let python = python();
    assert!(
        python.exists(),
        "{} is missing: run scripts/test.sh once to create the venv with the Python clients",
        python.display()
    );
    let data = tempfile::tempdir()?;
    let dir = data.path().to_path_buf();
    tokio::task::spawn_blocking(move || dusk::tpch::generate(0.01, &dir, 2)).await??;
    let cluster = ProcessCluster::start(dusk_binary(), 2, 1).await?;
    let client = Client::connect(cluster.url()).await?;
    for statement in dusk::tpch::create_tables(data.path()) {
        client.sql(&statement).await?;
    }
    let tests = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/python");
    let output = tokio::process::Command::new(&python)
        .args(["-m", "pytest", "-q", "-W", "ignore::Warning", "-p", "no:cacheprovider"])
        .arg(&tests)
        .env("DUSK_URL", cluster.url())
        .output()
        .await?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "pytest failed:\n{stdout}\n{stderr}");
    println!("{stdout}");
    drop(client);
    cluster.terminate().await?;
    Ok(())
}
