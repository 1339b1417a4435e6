//! Tables in an S3-compatible object store: moto's server, started on loopback by the
//! test (`scripts/test.sh` installs it into `.venv`).

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use dusk::testing::{ClusterSpec, LocalCluster};
use dusk::{Client, bag, tpch};

/// A moto S3 server on a free loopback port, stopped on drop.
struct Moto {
    child: Child,
    port: u16,
}

impl Moto {
    fn start() -> Moto {
        let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port").port();
        let child = Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("moto_server runs (scripts/test.sh installs it into .venv; put .venv/bin on the PATH)");
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(started.elapsed() < Duration::from_secs(60), "moto_server did not listen on port {port}");
            std::thread::sleep(Duration::from_millis(100));
        }
        Moto { child, port }
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Creates a bucket with a plain HTTP `PUT` (moto does not check signatures).
    fn create_bucket(&self, name: &str) {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).expect("connect to moto");
        let request = format!(
            "PUT /{name} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            self.port
        );
        stream.write_all(request.as_bytes()).expect("send");
        let mut response = String::new();
        stream.read_to_string(&mut response).expect("read");
        assert!(response.starts_with("HTTP/1.1 200"), "creating bucket {name}: {response}");
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sorted rows of a query, as text.
async fn rows(client: &Client, sql: &str) -> Vec<String> {
    let out = client.sql(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    tpch::result_rows(&out.batches, false).expect("rows")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn s3_tables_are_written_read_and_kept_across_a_restart() {
    let moto = Moto::start();
    moto.create_bucket("dusk-test");
    let state = tempfile::tempdir().expect("state dir");
    let mut spec = ClusterSpec::new(2, 1);
    spec.scheduler.state_dir = Some(state.path().to_path_buf());
    let cluster = LocalCluster::start_with(spec.clone()).await.expect("cluster");
    let client = cluster.client().await.expect("client");
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("sql/tests/data");
    for table in ["people", "depts"] {
        client
            .sql(&format!(
                "CREATE EXTERNAL TABLE {table} STORED AS CSV LOCATION '{}' OPTIONS ('format.has_header' 'true')",
                data.join(format!("{table}.csv")).display()
            ))
            .await
            .expect("local table");
    }
    let options = format!(
        "OPTIONS ('aws.access_key_id' 'test', 'aws.secret_access_key' 'test', 'aws.region' 'us-east-1', \
         'aws.endpoint' '{}')",
        moto.endpoint()
    );

    // Written by the workers into the bucket, then read back by them.
    let written = rows(
        &client,
        &format!("COPY (SELECT id, name, dept, salary FROM people) TO 's3://dusk-test/people/' STORED AS PARQUET {options}"),
    )
    .await;
    assert_eq!(written, vec!["8"]);
    client
        .sql(&format!(
            "CREATE EXTERNAL TABLE s3_people STORED AS PARQUET LOCATION 's3://dusk-test/people/' {options}"
        ))
        .await
        .expect("register the S3 table");
    let join = "SELECT p.name, d.title FROM {people} p JOIN depts d ON p.dept = d.dept";
    let expected = rows(&client, &join.replace("{people}", "people")).await;
    assert!(!expected.is_empty());
    assert_eq!(rows(&client, &join.replace("{people}", "s3_people")).await, expected);
    assert_eq!(
        rows(
            &client,
            "INSERT INTO s3_people SELECT id + 100, name, dept, salary FROM people WHERE dept = 10"
        )
        .await,
        vec!["3"]
    );
    assert_eq!(rows(&client, "SELECT count(*) FROM s3_people").await, vec!["11"]);

    // A misspelt option is named, and the cluster keeps serving.
    let err = client
        .sql("CREATE EXTERNAL TABLE typo STORED AS PARQUET LOCATION 's3://dusk-test/people/' OPTIONS ('aws.acess_key_id' 'x')")
        .await
        .expect_err("a misspelt option")
        .to_string();
    assert!(err.contains("aws.acess_key_id"), "{err}");
    drop(client);
    cluster.shutdown().await;

    // The catalog keeps the table and its options: after a restart it reads the bucket.
    let cluster = LocalCluster::start_with(spec).await.expect("second cluster");
    let client = cluster.client().await.expect("client");
    assert_eq!(rows(&client, "SELECT count(*) FROM s3_people").await, vec!["11"]);
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bags_read_text_objects_from_s3_globs() -> Result<(), Box<dyn std::error::Error>> {
    use object_store::ObjectStoreExt;

    let moto = Moto::start();
    moto.create_bucket("dusk-bags");
    let options = HashMap::from([
        ("aws.access_key_id".to_string(), "test".to_string()),
        ("aws.secret_access_key".to_string(), "test".to_string()),
        ("aws.region".to_string(), "us-east-1".to_string()),
        ("aws.endpoint".to_string(), moto.endpoint()),
    ]);
    // A plain, a gzip and a zstd log, plus objects the glob must not match.
    let records: Vec<serde_json::Value> = (0..1500).map(crate::bag::record).collect();
    let dir = tempfile::tempdir()?;
    crate::bag::write_logs(dir.path(), &records)?;
    let store = dusk::object_stores::build(&url::Url::parse("s3://dusk-bags")?, &options)?;
    for entry in std::fs::read_dir(dir.path())? {
        let path = entry?.path();
        let name = path.file_name().and_then(|n| n.to_str()).ok_or("file name")?.to_string();
        store
            .put(&object_store::path::Path::from(format!("logs/{name}")), std::fs::read(&path)?.into())
            .await?;
    }
    store.put(&object_store::path::Path::from("logs/old/z.jsonl"), "{}\n".into()).await?;
    store.put(&object_store::path::Path::from("logs/README.md"), "not a log\n".into()).await?;

    let cluster = LocalCluster::start(2, 1).await?;
    let client = cluster.client().await?;
    let logs = bag::read_text_store("s3://dusk-bags/logs/*.jsonl*", &options).await?;
    assert_eq!(logs.npartitions(), 3);
    let parsed = logs.map(crate::bag::parse);
    assert_eq!(parsed.compute(&client).await?, records);
    let mut users: Vec<(String, u64)> = parsed.map(crate::bag::user_of).frequencies(&client).await?;
    users.sort();
    let mut want: std::collections::BTreeMap<String, u64> = Default::default();
    for r in &records {
        *want.entry(r["user"].as_str().unwrap_or_default().to_string()).or_default() += 1;
    }
    assert_eq!(users, want.into_iter().collect::<Vec<_>>());

    // No match, and a wrong option, are errors that name the location or the option.
    let none = bag::read_text_store("s3://dusk-bags/logs/*.csv", &options).await.err().map(|e| e.to_string());
    assert!(none.as_deref().is_some_and(|e| e.contains("no object matches")), "{none:?}");
    let mut typo = options.clone();
    typo.insert("aws.acess_key_id".into(), "x".into());
    let typo = bag::read_text_store("s3://dusk-bags/logs/*", &typo).await.err().map(|e| e.to_string());
    assert!(typo.as_deref().is_some_and(|e| e.contains("aws.acess_key_id")), "{typo:?}");
    cluster.shutdown().await;
    Ok(())
}
