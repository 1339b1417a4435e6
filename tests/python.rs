//! Real Python Flight SQL clients (ADBC, `pyarrow.flight`, flightsql-dbapi, DataFusion's
//! Substrait producer) against real `dusk local` clusters, an open one and one with
//! `--auth basic` and TLS: runs `tests/python` with pytest from the venv that
//! `scripts/test.sh` makes.

use std::path::PathBuf;

use dusk::testing::ProcessCluster;

use crate::support::{dusk_binary, register_tpch};

type Result = std::result::Result<(), Box<dyn std::error::Error + Send + Sync>>;

/// The venv's Python, or `DUSK_PYTHON` if set.
fn python() -> PathBuf {
    std::env::var_os("DUSK_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python"))
}

/// Runs one pytest file of `tests/python` with `env` set; fails with pytest's output.
async fn pytest(file: &str, env: &[(&str, &str)]) -> Result {
    let python = python();
    assert!(
        python.exists(),
        "{} is missing: run scripts/test.sh once to create the venv with the Python clients",
        python.display()
    );
    let tests = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/python");
    let output = tokio::process::Command::new(&python)
        .args(["-m", "pytest", "-q", "-W", "ignore::Warning", "-p", "no:cacheprovider"])
        .arg(tests.join(file))
        .envs(env.iter().copied())
        .output()
        .await?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "pytest {file} failed:\n{stdout}\n{stderr}");
    println!("{stdout}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_flight_sql_clients_pass_their_tests() -> Result {
    let cluster = ProcessCluster::start(dusk_binary(), 2, 1).await?;
    let client = cluster.client().await?;
    let _data = register_tpch(&client).await?;
    pytest("test_flight_sql.py", &[("DUSK_URL", cluster.url())]).await?;
    drop(client);
    cluster.terminate().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_clients_log_in_over_tls() -> Result {
    let files = tempfile::tempdir()?;
    let certified =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string(), "localhost".to_string()])?;
    let (cert, key, users) =
        (files.path().join("cert.pem"), files.path().join("key.pem"), files.path().join("users"));
    std::fs::write(&cert, certified.cert.pem())?;
    std::fs::write(&key, certified.signing_key.serialize_pem())?;
    let password = "py-secret-42";
    dusk::security::users::set_password(&users, "pyuser", password)?;
    let path = |p: &std::path::Path| p.to_string_lossy().into_owned();
    let (cert_arg, key_arg, users_arg) = (path(&cert), path(&key), path(&users));
    let args = ["--auth", "basic", "--users", &users_arg, "--tls-cert", &cert_arg, "--tls-key", &key_arg];
    let cluster = ProcessCluster::start_with_args(dusk_binary(), 2, 1, &args).await?;
    assert!(cluster.url().starts_with("grpc+tls://"), "{}", cluster.url());
    let client = cluster.client().await?;
    let _data = register_tpch(&client).await?;
    let env = [
        ("DUSK_URL", cluster.url()),
        ("DUSK_TLS_CA", cert_arg.as_str()),
        ("DUSK_USER", "pyuser"),
        ("DUSK_PASSWORD", password),
    ];
    pytest("test_secure_cluster.py", &env).await?;
    drop(client);
    cluster.terminate().await?;
    Ok(())
}
