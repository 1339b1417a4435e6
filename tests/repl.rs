//! `dusk sql`, the terminal client: non-interactive runs (`-c`, `-f`, a pipe, every
//! `--format`, exit codes) and interactive sessions in a real pseudo-terminal against a
//! real cluster, plus a run against a small Flight SQL server that is not Dusk.

use std::process::Stdio;
use std::time::Duration;

use dusk::testing::LocalCluster;
use rexpect::session::PtySession;
use tokio::io::AsyncWriteExt;

use crate::support::{dusk_binary, eventually, register_tpch, tasks_in};

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// A 1-worker cluster with TPC-H SF 0.01 registered.
async fn cluster() -> Result<(tempfile::TempDir, LocalCluster)> {
    let cluster = LocalCluster::start(1, 2).await?;
    let dir = register_tpch(&cluster.client().await?).await?;
    Ok((dir, cluster))
}

/// What a `dusk sql` run printed and how it ended.
struct Run {
    stdout: String,
    stderr: String,
    code: Option<i32>,
}

/// Runs `dusk sql URL ARGS...` with `stdin` piped in.
async fn sql(url: &str, args: &[&str], stdin: &str) -> Result<Run> {
    sql_with_env(url, args, stdin, &[]).await
}

/// [`sql`] with environment variables set.
async fn sql_with_env(url: &str, args: &[&str], stdin: &str, env: &[(&str, &str)]) -> Result<Run> {
    let mut child = tokio::process::Command::new(dusk_binary())
        .arg("sql")
        .arg(url)
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let mut input = child.stdin.take().ok_or("no stdin")?;
    input.write_all(stdin.as_bytes()).await?;
    drop(input);
    let output = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output()).await??;
    Ok(Run {
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        code: output.status.code(),
    })
}

const NATIONS: &str = "SELECT n_nationkey, n_name FROM nation WHERE n_nationkey < 3 ORDER BY n_nationkey";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_files_and_pipes_run_in_every_format() -> Result {
    let (_dir, cluster) = cluster().await?;
    let url = cluster.url();

    let table = sql(&url, &["-c", NATIONS], "").await?;
    assert_eq!(table.code, Some(0), "{}", table.stderr);
    assert_eq!(
        table.stdout,
        " n_nationkey |  n_name\n-------------+-----------\n           0 | ALGERIA\n           1 | ARGENTINA\n           2 | BRAZIL\n(3 rows)\n"
    );

    let csv = sql(&url, &["--format", "csv", "-c", NATIONS], "").await?;
    assert_eq!(csv.stdout, "n_nationkey,n_name\n0,ALGERIA\n1,ARGENTINA\n2,BRAZIL\n");
    let json = sql(&url, &["--format", "json", "-c", NATIONS], "").await?;
    let parsed: serde_json::Value = serde_json::from_str(&json.stdout)?;
    assert_eq!(parsed[2]["n_name"], "BRAZIL", "{}", json.stdout);
    let ndjson = sql(&url, &["--format", "ndjson", "-c", NATIONS], "").await?;
    let lines: Vec<serde_json::Value> =
        ndjson.stdout.lines().map(serde_json::from_str).collect::<std::result::Result<_, _>>()?;
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0]["n_nationkey"], 0);
    let markdown = sql(&url, &["--format", "markdown", "-c", NATIONS], "").await?;
    assert!(
        markdown.stdout.starts_with("| n_nationkey | n_name |\n|---:|---|\n| 0 | ALGERIA |"),
        "{}",
        markdown.stdout
    );

    // Several -c run in order; a file mixes statements and meta-commands.
    let two = sql(&url, &["--format", "csv", "-c", "SELECT 1 AS a", "-c", "SELECT 2 AS b"], "").await?;
    assert_eq!(two.stdout, "a\n1\nb\n2\n");
    let script = tempfile::NamedTempFile::new()?;
    std::fs::write(
        script.path(),
        "-- a script\nSELECT count(*) AS n\n  FROM lineitem;\n\\format csv\nSELECT r_name FROM region\n ORDER BY r_regionkey LIMIT 1;\n",
    )?;
    let file = sql(&url, &["-f", &script.path().to_string_lossy()], "").await?;
    assert_eq!(file.code, Some(0), "{}", file.stderr);
    assert!(file.stdout.contains("60175") && file.stdout.ends_with("r_name\nAFRICA\n"), "{}", file.stdout);

    // Statements piped in, one per line or spread over lines.
    let piped = sql(&url, &["--format", "csv"], "SELECT 7 AS seven;\nSELECT\n  8 AS eight;\n").await?;
    assert_eq!(piped.stdout, "seven\n7\neight\n8\n");
    assert_eq!(piped.code, Some(0));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_set_the_exit_code_and_stop_unless_told_to_go_on() -> Result {
    let (_dir, cluster) = cluster().await?;
    let url = cluster.url();
    let args = [
        "--format",
        "csv",
        "-c",
        "SELECT 1 AS one",
        "-c",
        "SELECT n_name FRM nation",
        "-c",
        "SELECT 3 AS three",
    ];
    let stopped = sql(&url, &args, "").await?;
    assert_eq!(stopped.code, Some(1));
    assert_eq!(stopped.stdout, "one\n1\n", "the run stops at the first error");
    assert!(stopped.stderr.contains("ERROR: sql parser error"), "{}", stopped.stderr);
    // The position the parser names is shown under the statement.
    assert!(stopped.stderr.contains("LINE 1: SELECT n_name FRM nation"), "{}", stopped.stderr);

    let mut go_on = args.to_vec();
    go_on.push("--continue-on-error");
    let went_on = sql(&url, &go_on, "").await?;
    assert_eq!(went_on.code, Some(1), "a failed statement still fails the run");
    assert_eq!(went_on.stdout, "one\n1\nthree\n3\n");

    let missing = sql(&url, &["-c", "SELECT * FROM no_such_table"], "").await?;
    assert_eq!(missing.code, Some(1));
    assert!(missing.stderr.contains("no_such_table"), "{}", missing.stderr);

    let unreachable = sql("grpc://127.0.0.1:1", &["-c", "SELECT 1"], "").await?;
    assert_eq!(unreachable.code, Some(2), "{}", unreachable.stderr);
    assert!(unreachable.stderr.contains("cannot connect to grpc://127.0.0.1:1"), "{}", unreachable.stderr);
    Ok(())
}

/// `dusk sql URL` in a pseudo-terminal, with its history in `history`.
pub(crate) fn prompt(url: &str, history: &std::path::Path) -> Result<PtySession> {
    let mut command = std::process::Command::new(dusk_binary());
    command
        .arg("sql")
        .arg(url)
        .env("DUSK_HISTORY", history)
        .env("TERM", "xterm")
        // `\e` runs the editor on the statement's file: this one edits without a terminal.
        .env("EDITOR", "sed -i s/41/42/")
        .env_remove("VISUAL");
    Ok(rexpect::session::spawn_command(command, Some(20_000))?)
}

/// Waits for the prompt, then types `line` and Enter. Keys typed before the line editor
/// is ready would be lost when it takes over the terminal.
pub(crate) fn enter(session: &mut PtySession, line: &str) -> Result {
    session.exp_string("dusk=> ")?;
    session.send(line)?;
    session.send("\r")?;
    session.flush()?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interactive_session_in_a_terminal() -> Result {
    let (_dir, cluster) = cluster().await?;
    let url = cluster.url();
    let home = tempfile::tempdir()?;
    let history = home.path().join("history");
    let (url_for_pty, history_for_pty) = (url.clone(), history.clone());
    tokio::task::spawn_blocking(move || -> Result {
        let mut s = prompt(&url_for_pty, &history_for_pty)?;
        enter(&mut s, "SELECT n_name FROM nation WHERE n_nationkey = 1;")?;
        s.exp_string("ARGENTINA")?;
        s.exp_string("(1 row)")?;

        // Catalog meta-commands.
        enter(&mut s, "\\dt")?;
        s.exp_string("lineitem")?;
        enter(&mut s, "\\d lineitem")?;
        s.exp_string("l_orderkey")?;
        s.exp_string("Int64")?;
        s.exp_string("l_comment")?;

        // Timing and expanded rows.
        enter(&mut s, "\\timing on")?;
        s.exp_string("Timing is on.")?;
        enter(&mut s, "SELECT 1 AS one, 2 AS two;")?;
        s.exp_string("Time: ")?;
        enter(&mut s, "\\x")?;
        s.exp_string("Expanded display is on.")?;
        enter(&mut s, "SELECT 1 AS one, 2 AS two;")?;
        s.exp_string("-[ RECORD 1 ]")?;
        s.exp_string("two | 2")?;
        enter(&mut s, "\\x off")?;
        s.exp_string("Expanded display is off.")?;

        // A bad statement's error, and the session goes on.
        enter(&mut s, "SELEC 1;")?;
        s.exp_string("ERROR:")?;
        enter(&mut s, "SELECT 40 + 2 AS answer;")?;
        s.exp_string("42")?;

        // `\e` edits the last statement in $EDITOR and runs what was saved.
        enter(&mut s, "SELECT 41 AS edited;")?;
        s.exp_string("(1 row)")?;
        enter(&mut s, "\\e")?;
        s.exp_string("SELECT 42 AS edited")?;
        s.exp_string("42")?;

        // A statement over two lines, and a table name completed with Tab.
        s.exp_string("dusk=> ")?;
        s.send("SELECT count(*) AS n\r")?;
        s.send("FROM linei\t;\r")?;
        s.flush()?;
        s.exp_string("60175")?;

        // Ctrl-D ends the session (and adds nothing to the history).
        s.send_control('d')?;
        s.exp_eof()?;
        Ok(())
    })
    .await??;

    // A new session recalls the last statement with the Up key.
    let (url_for_pty, history_for_pty) = (url.clone(), history.clone());
    tokio::task::spawn_blocking(move || -> Result {
        let mut s = prompt(&url_for_pty, &history_for_pty)?;
        s.exp_string("dusk=> ")?;
        s.send("\x1b[A")?;
        s.send("\r")?;
        s.flush()?;
        s.exp_string("60175")?;
        s.send_control('d')?;
        s.exp_eof()?;
        Ok(())
    })
    .await??;
    let saved = std::fs::read_to_string(&history)?;
    assert!(saved.contains("SELECT 40 + 2 AS answer;"), "{saved}");
    cluster.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_cancels_a_long_query_and_returns_to_the_prompt() -> Result {
    let (_dir, cluster) = cluster().await?;
    let url = cluster.url();
    let home = tempfile::tempdir()?;
    let history = home.path().join("history");
    let (url_for_pty, history_for_pty) = (url.clone(), history.clone());
    let mut session = tokio::task::spawn_blocking(move || -> Result<PtySession> {
        let mut s = prompt(&url_for_pty, &history_for_pty)?;
        // A cross join of lineitem with itself: billions of rows, minutes of work.
        enter(&mut s, "SELECT count(*) FROM lineitem a, lineitem b WHERE a.l_quantity < b.l_discount;")?;
        // The progress line tells the query's stages and tasks, from the scheduler.
        // (rexpect reads bytes as Latin-1, so `·` is matched as any non-space.)
        s.exp_regex(r"running[^ ]* [0-9.]+ s [^ ]+ stage [0-9]+/[0-9]+ [^ ]+ tasks [0-9]+/[0-9]+")?;
        Ok(s)
    })
    .await??;

    let client = cluster.client().await?;
    eventually("the query's tasks to run", || async { tasks_in(&client, "processing").await > 0 }).await;
    let mut session = tokio::task::spawn_blocking(move || -> Result<PtySession> {
        session.send_control('c')?;
        session.exp_string("cancelled")?;
        Ok(session)
    })
    .await??;
    eventually("the cancelled query's tasks to be released", || async {
        tasks_in(&client, "processing").await == 0
    })
    .await;

    tokio::task::spawn_blocking(move || -> Result {
        enter(&mut session, "SELECT 'still here' AS status;")?;
        session.exp_string("still here")?;
        // Two Ctrl-C at the prompt end the session. The prompt shows a moment before
        // the line editor reads keys: a Ctrl-C before that is not a key press.
        session.exp_string("dusk=> ")?;
        std::thread::sleep(Duration::from_millis(300));
        session.send_control('c')?;
        session.exp_string("Ctrl-C again to quit")?;
        std::thread::sleep(Duration::from_millis(300));
        session.send_control('c')?;
        session.exp_eof()?;
        Ok(())
    })
    .await??;
    cluster.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_works_with_a_flight_sql_server_that_is_not_dusk() -> Result {
    let server = crate::plain_flight_sql::start().await?;
    let run = sql(&server, &["--format", "csv", "-c", "SELECT 1 + 1 AS two, 'x' AS letter"], "").await?;
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(run.stdout, "two,letter\n2,x\n");
    let failed = sql(&server, &["-c", "SELECT * FROM nowhere"], "").await?;
    assert_eq!(failed.code, Some(1));
    assert!(failed.stderr.contains("nowhere"), "{}", failed.stderr);

    // Interactive, on a 10-line screen: a long result goes through the pager, a short
    // one does not.
    let home = tempfile::tempdir()?;
    let history = home.path().join("history");
    tokio::task::spawn_blocking(move || -> Result {
        let mut command = std::process::Command::new(dusk_binary());
        command
            .arg("sql")
            .arg(&server)
            .env("DUSK_HISTORY", &history)
            .env("TERM", "xterm")
            .env("LINES", "10")
            .env("PAGER", "sed s/^/paged:/")
            .env_remove("DUSK_PAGER");
        let mut s = rexpect::session::spawn_command(command, Some(20_000))?;
        enter(&mut s, "SELECT value AS n FROM generate_series(1, 30);")?;
        s.exp_string("paged:(30 rows)")?;
        enter(&mut s, "SELECT 'short' AS s;")?;
        s.exp_string("\r\n short\r\n(1 row)")?;
        enter(&mut s, "\\pager off")?;
        s.exp_string("Pager usage is off.")?;
        enter(&mut s, "SELECT value AS n FROM generate_series(1, 30);")?;
        s.exp_string("\r\n 30\r\n(30 rows)")?;
        s.send_control('d')?;
        s.exp_eof()?;
        Ok(())
    })
    .await??;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dusk_local_opens_the_prompt_and_stops_with_it() -> Result {
    let state = tempfile::tempdir()?;
    let state_dir = state.path().to_path_buf();
    tokio::task::spawn_blocking(move || -> Result {
        let mut command = std::process::Command::new(dusk_binary());
        command
            .args([
                "local",
                "--port",
                "0",
                "--dashboard-port",
                "0",
                "--workers",
                "1",
                "--threads-per-worker",
                "1",
                "--no-sample-data",
            ])
            .arg("--state-dir")
            .arg(&state_dir)
            .env("DUSK_HISTORY", state_dir.join("history"))
            .env("TERM", "xterm");
        let mut s = rexpect::session::spawn_command(command, Some(60_000))?;
        s.exp_string("Dusk scheduler listening on grpc://")?;
        enter(&mut s, "CREATE TABLE t AS SELECT * FROM (VALUES (1, 'one'), (2, 'two')) AS v(id, name);")?;
        s.exp_string("OK")?;
        enter(&mut s, "SELECT upper(name) AS shout FROM t WHERE id = 2;")?;
        s.exp_string("TWO")?;
        enter(&mut s, "\\q")?;
        // The prompt's end stops the workers and the scheduler.
        s.exp_string("Stopping workers and scheduler")?;
        s.exp_eof()?;
        Ok(())
    })
    .await??;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_logs_in_with_a_password() -> Result {
    use dusk::config::SchedulerConfig;
    use dusk::security::{ClusterSecret, Security, Users};
    use dusk::testing::ClusterSpec;

    let dir = tempfile::tempdir()?;
    let users = dir.path().join("users");
    dusk::security::users::set_password(&users, "alice", "wonderland")?;
    let security = Security {
        secret: Some(ClusterSecret::generate()?),
        users: Some(Users::load(&users)?),
        ..Default::default()
    };
    let mut spec = ClusterSpec::new(1, 1);
    spec.scheduler = SchedulerConfig { security, ..spec.scheduler };
    let cluster = LocalCluster::start_with(spec).await?;
    let url = cluster.url();
    let args = ["-u", "alice", "--format", "csv", "-c", "SELECT 'in' AS status"];

    let good = sql_with_env(&url, &args, "", &[("DUSK_PASSWORD", "wonderland")]).await?;
    assert_eq!(good.code, Some(0), "{}", good.stderr);
    assert_eq!(good.stdout, "status\nin\n");
    let wrong = sql_with_env(&url, &args, "", &[("DUSK_PASSWORD", "looking-glass")]).await?;
    assert_eq!(wrong.code, Some(2));
    assert!(wrong.stderr.contains("invalid user name or password"), "{}", wrong.stderr);
    let anonymous = sql(&url, &["-c", "SELECT 1"], "").await?;
    assert_eq!(anonymous.code, Some(1));
    assert!(anonymous.stderr.contains("authentication required"), "{}", anonymous.stderr);
    cluster.shutdown().await;
    Ok(())
}
