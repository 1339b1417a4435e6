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

    let out = dusk(&["gen", "tpch", "--scale=-1", "--output", output.to_str().expect("utf-8 path")]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("scale factor must be positive, got -1"), "{stderr}");
}
