//! The `dusk` command's own behaviour: usage errors, startup errors, exit codes.

use std::process::Command;

fn dusk(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_dusk")).args(args).output().expect("the dusk binary runs")
}

#[test]
fn bad_size_is_a_usage_error_naming_the_value() {
    let out = dusk(&["worker", "grpc://127.0.0.1:1", "--memory-limit", "lots"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("invalid size \"lots\""), "{stderr}");
}

#[test]
fn unreachable_scheduler_is_one_line_and_exit_code_2() {
    let out = dusk(&["worker", "grpc://127.0.0.1:1"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let line = stderr.lines().find(|l| l.starts_with("dusk: ")).unwrap_or_default();
    assert!(line.contains("cannot connect to grpc://127.0.0.1:1"), "{stderr}");
}

#[test]
fn port_in_use_is_a_startup_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a port");
    let port = taken.local_addr().expect("local addr").port().to_string();
    let out = dusk(&["scheduler", "--host", "127.0.0.1", "--port", &port]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&format!("cannot listen on 127.0.0.1:{port}")), "{stderr}");
}

#[test]
fn help_lists_the_commands() {
    let out = dusk(&["--help"]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    for command in ["local", "scheduler", "worker", "gen"] {
        assert!(text.contains(command), "{text}");
    }
}

#[test]
fn gen_tpch_writes_every_table_and_rejects_a_bad_scale() {
    let dir = tempfile::tempdir().expect("temp dir");
    let output = dir.path().join("sf");
    let out = dusk(&["gen", "tpch", "--scale", "0.01", "--output", output.to_str().expect("utf-8 path")]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(dusk::tpch::is_generated(&output));
    assert!(String::from_utf8_lossy(&out.stdout).contains("Wrote TPC-H SF 0.01"));
    // The DDL it leaves registers every table, as any SQL client runs it.
    let ddl = std::fs::read_to_string(output.join("create_tables.sql")).expect("create_tables.sql written");
    assert!(String::from_utf8_lossy(&out.stdout).contains("create_tables.sql"));
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let nations = runtime.block_on(async {
        let ctx = datafusion::prelude::SessionContext::new();
        for statement in ddl.split(";\n").filter(|s| !s.trim().is_empty()) {
            ctx.sql(statement).await?.collect().await?;
        }
        ctx.sql("SELECT * FROM nation").await?.count().await
    });
    assert_eq!(nations.expect("the DDL registers the tables"), 25);

    let out = dusk(&["gen", "tpch", "--scale=-1", "--output", output.to_str().expect("utf-8 path")]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("scale factor must be positive, got -1"), "{stderr}");
}

#[test]
fn an_open_scheduler_on_every_address_warns_and_logs_carry_no_colour_codes() {
    use std::io::{BufRead, BufReader};
    let mut child = Command::new(env!("CARGO_BIN_EXE_dusk"))
        .args(["scheduler", "--host", "0.0.0.0", "--port", "0", "--no-dashboard"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the dusk binary runs");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut seen = Vec::new();
    while let Ok(line) = lines.recv_timeout(std::time::Duration::from_secs(30)) {
        let warned = line.contains("warning: listening on 0.0.0.0") && line.contains("--auth none");
        seen.push(line);
        if warned {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(seen.last().is_some_and(|l| l.contains("--auth basic")), "{seen:#?}");
    // Its log went to a pipe: plain text, no escape sequences.
    assert!(seen.iter().all(|l| !l.contains('\u{1b}')), "{seen:#?}");
}
