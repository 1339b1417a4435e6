//! One run of the prompt: statements and meta-commands read, run and printed, the
//! connection reopened when the server restarts.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use futures::{FutureExt, StreamExt};
use rustyline::error::ReadlineError;
use rustyline::history::DefaultHistory;
use rustyline::{Config, Editor};
use tokio::runtime::Handle;

use super::connection::{ConnectOptions, Connection, ConnectionError, Probe, ResultStream};
use super::editor::{Names, SqlHelper};
use super::format::{Format, Layout, Printer};
use super::meta::{self, Meta};
use super::{pager, statements};

/// A Ctrl-C this soon after a statement starts was meant for what came before.
const STALE_INTERRUPT: Duration = Duration::from_millis(50);
/// How long the prompt keeps trying to reach a server that went away before it gives
/// the prompt back.
const RECONNECT_FOR: Duration = Duration::from_secs(30);

/// Prompt of a new statement.
const PROMPT: &str = "dusk=> ";

/// What `dusk sql` does.
#[derive(Debug, Clone, Default)]
pub struct ReplOptions {
    /// Where and as whom to connect.
    pub connect: ConnectOptions,
    /// Statements to run (`-c`, repeatable), instead of a session.
    pub commands: Vec<String>,
    /// A file of statements to run (`-f`), instead of a session.
    pub file: Option<PathBuf>,
    /// How results print.
    pub format: Format,
    /// Go on after a failed statement when not interactive.
    pub continue_on_error: bool,
    /// Where the history is kept [default: `history` under the state directory].
    pub history: Option<PathBuf>,
}

/// Why `dusk sql` could not run at all.
#[derive(Debug, thiserror::Error)]
pub enum ReplError {
    /// The server could not be reached, or refused the login.
    #[error(transparent)]
    Connect(#[from] ConnectionError),
    /// A script could not be read.
    #[error("cannot read {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The terminal could not be set up for line editing.
    #[error("line editor: {0}")]
    Editor(#[from] ReadlineError),
}

/// Runs `dusk sql` on this (blocking) thread, calling into `runtime` for network work.
/// Returns whether every statement succeeded.
pub fn run(options: ReplOptions, runtime: Handle) -> Result<bool, ReplError> {
    let connection = runtime.block_on(Connection::open(options.connect.clone()))?;
    let interactive = options.commands.is_empty() && options.file.is_none() && std::io::stdin().is_terminal();
    let mut session = Session {
        connection,
        runtime,
        format: options.format,
        expanded: false,
        timing: false,
        output: None,
        names: Arc::new(RwLock::new(Vec::new())),
        last: None,
        stop_on_error: !options.continue_on_error && !interactive,
        interactive,
        interrupts: None,
        pager: true,
    };
    if !options.commands.is_empty() {
        let mut ok = true;
        for command in &options.commands {
            ok &= session.run_text(command);
            if !ok && session.stop_on_error {
                break;
            }
        }
        return Ok(ok);
    }
    if let Some(path) = &options.file {
        let text =
            std::fs::read_to_string(path).map_err(|source| ReplError::Read { path: path.clone(), source })?;
        return Ok(session.run_text(&text));
    }
    if !interactive {
        return Ok(session.run_lines(std::io::stdin().lock()));
    }
    session.interact(options.history.unwrap_or_else(|| crate::config::default_state_dir().join("history")))
}

/// What the loop does after a meta-command.
enum Next {
    Continue,
    Quit,
}

struct Session {
    connection: Connection,
    runtime: Handle,
    format: Format,
    expanded: bool,
    timing: bool,
    /// Results go here instead of standard output (`\o FILE`).
    output: Option<std::fs::File>,
    names: Names,
    /// The last statement run, for `\e`.
    last: Option<String>,
    stop_on_error: bool,
    interactive: bool,
    /// Long results go through a pager (`\pager`).
    pager: bool,
    /// Ctrl-C while a statement runs, watched from the first statement on.
    interrupts: Option<tokio::signal::unix::Signal>,
}

impl Session {
    fn interact(&mut self, history: PathBuf) -> Result<bool, ReplError> {
        let config = Config::builder().auto_add_history(false).max_history_size(10_000)?.build();
        let mut editor: Editor<SqlHelper, DefaultHistory> = Editor::with_config(config)?;
        editor.set_helper(Some(SqlHelper::new(self.names.clone())));
        if let Some(dir) = history.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let _ = editor.load_history(&history);
        self.refresh_names();
        let server = self.runtime.block_on(self.connection.server()).unwrap_or_default();
        let server = if server.is_empty() { String::new() } else { format!(" ({server})") };
        println!("Connected to {}{server}. Type \\? for help, \\q to quit.", self.connection.url());
        let mut interrupted = false;
        loop {
            let line = match editor.readline(PROMPT) {
                Ok(line) => line,
                Err(ReadlineError::Interrupted) if interrupted => break,
                Err(ReadlineError::Interrupted) => {
                    interrupted = true;
                    eprintln!("(Ctrl-C again to quit, or \\q)");
                    continue;
                }
                Err(ReadlineError::Eof) => break,
                Err(e) => return Err(e.into()),
            };
            interrupted = false;
            if line.trim().is_empty() {
                continue;
            }
            let _ = editor.add_history_entry(line.trim_end());
            if let Err(e) = editor.save_history(&history) {
                eprintln!("dusk sql: cannot save history to {}: {e}", history.display());
            }
            if let Next::Quit = self.run_input(&line) {
                break;
            }
        }
        Ok(true)
    }

    /// Runs what was typed at the prompt: one meta-command or statements.
    fn run_input(&mut self, input: &str) -> Next {
        if input.trim_start().starts_with('\\') {
            return self.meta_line(input).0;
        }
        self.run_text(input);
        Next::Continue
    }

    /// Runs statements from lines read one by one (a pipe), meta-commands included.
    fn run_lines(&mut self, lines: impl BufRead) -> bool {
        let mut ok = true;
        let mut buffer = String::new();
        for line in lines.lines() {
            let Ok(line) = line else { break };
            if statements::is_blank(&buffer) && line.trim_start().starts_with('\\') {
                buffer.clear();
                let (next, good) = self.meta_line(&line);
                ok &= good;
                if matches!(next, Next::Quit) || (!ok && self.stop_on_error) {
                    return ok;
                }
                continue;
            }
            buffer.push_str(&line);
            buffer.push('\n');
            let (done, rest) = statements::split(&buffer);
            let rest = rest.to_string();
            for statement in done {
                ok &= self.statement(&statement);
                if !ok && self.stop_on_error {
                    return ok;
                }
            }
            buffer = rest;
        }
        if !statements::is_blank(&buffer) {
            ok &= self.statement(buffer.trim());
        }
        ok
    }

    /// Runs every statement (and meta-command line) in `text`; the last statement may
    /// lack its `;`.
    fn run_text(&mut self, text: &str) -> bool {
        self.run_lines(std::io::Cursor::new(text.as_bytes()))
    }

    /// Runs a `\` line; returns what to do next and whether it succeeded.
    fn meta_line(&mut self, line: &str) -> (Next, bool) {
        match meta::parse(line) {
            Ok(meta) => match self.meta(meta) {
                Ok(next) => (next, true),
                Err(message) => {
                    eprintln!("ERROR: {message}");
                    (Next::Continue, false)
                }
            },
            Err(message) => {
                eprintln!("{message}");
                (Next::Continue, false)
            }
        }
    }

    fn meta(&mut self, meta: Meta) -> Result<Next, String> {
        match meta {
            Meta::Help => print!("{}", meta::HELP),
            Meta::Quit => return Ok(Next::Quit),
            Meta::ConnInfo => {
                let server = self.runtime.block_on(self.connection.server()).map_err(|e| e.to_string())?;
                let user = self.connection.user().unwrap_or("(none)");
                println!("Connected to {} as user {user}; server: {server}", self.connection.url());
            }
            Meta::Tables { pattern, views } => {
                let tables = self
                    .runtime
                    .block_on(self.connection.tables(pattern.as_deref(), false))
                    .map_err(|e| e.to_string())?;
                let rows: Vec<Vec<String>> = tables
                    .into_iter()
                    .filter(|t| t.kind.to_uppercase().contains("VIEW") == views)
                    .filter(|t| t.schema != "information_schema")
                    .map(|t| vec![t.catalog, t.schema, t.name, t.kind])
                    .collect();
                self.print_listing(&["catalog", "schema", "name", "type"], rows)?;
            }
            Meta::Describe(name) => {
                let tables = self
                    .runtime
                    .block_on(self.connection.tables(Some(&name), true))
                    .map_err(|e| e.to_string())?;
                let table = tables
                    .into_iter()
                    .find(|t| t.schema != "information_schema")
                    .ok_or_else(|| format!("did not find any relation named {name:?}"))?;
                let columns =
                    table.columns.ok_or_else(|| format!("the server sent no columns for {name}"))?;
                println!("Table \"{}.{}.{}\"", table.catalog, table.schema, table.name);
                let rows = columns
                    .fields()
                    .iter()
                    .map(|f| {
                        let nullable = if f.is_nullable() { "YES" } else { "NO" };
                        vec![f.name().clone(), f.data_type().to_string(), nullable.to_string()]
                    })
                    .collect();
                self.print_listing(&["column", "type", "nullable"], rows)?;
            }
            Meta::Catalogs => {
                let catalogs =
                    self.runtime.block_on(self.connection.catalogs()).map_err(|e| e.to_string())?;
                self.print_listing(&["catalog"], catalogs.into_iter().map(|c| vec![c]).collect())?;
            }
            Meta::Schemas => {
                let schemas = self.runtime.block_on(self.connection.schemas()).map_err(|e| e.to_string())?;
                let rows = schemas.into_iter().map(|(c, s)| vec![c, s]).collect();
                self.print_listing(&["catalog", "schema"], rows)?;
            }
            Meta::Expanded(on) => {
                self.expanded = on.unwrap_or(!self.expanded);
                println!("Expanded display is {}.", if self.expanded { "on" } else { "off" });
            }
            Meta::Pager(on) => {
                self.pager = on.unwrap_or(!self.pager);
                println!("Pager usage is {}.", if self.pager { "on" } else { "off" });
            }
            Meta::Timing(on) => {
                self.timing = on.unwrap_or(!self.timing);
                println!("Timing is {}.", if self.timing { "on" } else { "off" });
            }
            Meta::Format(None) => println!("Output format is {}.", self.format.name()),
            Meta::Format(Some(format)) => {
                self.format = format;
                println!("Output format is {}.", format.name());
            }
            Meta::Output(None) => self.output = None,
            Meta::Output(Some(path)) => {
                let file = std::fs::File::create(&path)
                    .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
                self.output = Some(file);
            }
            Meta::Include(path) => {
                let text = std::fs::read_to_string(&path)
                    .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                if !self.run_text(&text) {
                    return Err(format!("{} did not run to the end", path.display()));
                }
            }
            Meta::Edit => {
                let edited = edit(self.last.as_deref().unwrap_or_default())?;
                if !statements::is_blank(&edited) {
                    println!("{}", edited.trim_end());
                    self.run_text(&edited);
                }
            }
        }
        Ok(Next::Continue)
    }

    /// Prints catalog rows as a result in the current format.
    fn print_listing(&mut self, names: &[&str], rows: Vec<Vec<String>>) -> Result<(), String> {
        use arrow::array::{ArrayRef, RecordBatch, StringArray};
        use arrow::datatypes::{DataType, Field, Schema};
        let fields: Vec<Field> = names.iter().map(|n| Field::new(*n, DataType::Utf8, false)).collect();
        let schema = Arc::new(Schema::new(fields));
        let columns: Vec<ArrayRef> = (0..names.len())
            .map(|i| Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r[i].as_str()))) as ArrayRef)
            .collect();
        let batch = RecordBatch::try_new(schema.clone(), columns).map_err(|e| e.to_string())?;
        let (format, layout) = (self.format, self.layout());
        let mut out = self.out();
        let mut printer = Printer::new(&mut *out, format, layout, schema);
        printer.batch(&batch).map_err(|e| e.to_string())?;
        printer.finish().map_err(|e| e.to_string())?;
        Ok(())
    }

    /// Runs one statement and prints its result or its error; returns whether it ran.
    fn statement(&mut self, sql: &str) -> bool {
        self.last = Some(sql.to_string());
        let started = Instant::now();
        let (format, layout, interactive) = (self.format, self.layout(), self.interactive);
        let mut out = self.out();
        let probe = self.connection.probe();
        let interrupts = match &mut self.interrupts {
            Some(interrupts) => interrupts,
            None => {
                let _runtime = self.runtime.enter();
                match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt()) {
                    Ok(signal) => self.interrupts.insert(signal),
                    Err(e) => {
                        eprintln!("ERROR: cannot watch for Ctrl-C: {e}");
                        return false;
                    }
                }
            }
        };
        let connection = &mut self.connection;
        let outcome = self.runtime.block_on(async {
            // A Ctrl-C that came while no statement ran is not for this one. rustyline
            // swaps the SIGINT handler while it reads a line, and a signal from then can
            // surface just as the next statement starts: those first moments are ignored.
            while interrupts.recv().now_or_never().is_some() {}
            let cancelled = async {
                loop {
                    interrupts.recv().await;
                    if started.elapsed() >= STALE_INTERRUPT {
                        break;
                    }
                }
            };
            let run = async {
                let result = connection.query(sql).await?;
                print_result(result, &mut *out, format, layout).await
            };
            let progress = progress(started, interactive, probe);
            tokio::select! {
                outcome = run => outcome.map(Some),
                () = cancelled => Ok(None),
                never = progress => match never {},
            }
        });
        drop(out);
        clear_progress(interactive);
        let ok = match outcome {
            Ok(Some(_rows)) => true,
            Ok(None) => {
                eprintln!("Cancel request sent: the query was cancelled.");
                false
            }
            Err(e) => {
                report(sql, &e.to_string());
                if e.is_connection_lost() {
                    self.reconnect();
                }
                false
            }
        };
        if self.timing {
            println!("Time: {:.3} ms", started.elapsed().as_secs_f64() * 1e3);
        }
        if ok && changes_catalog(sql) {
            self.refresh_names();
        }
        ok
    }

    /// The server went away (stopped or restarted): connect again, saying so, for up to
    /// [`RECONNECT_FOR`]; if it stays away the next statement tries again.
    fn reconnect(&mut self) {
        let url = self.connection.url().to_string();
        eprintln!("Lost the connection to {url} (the server stopped or restarted); reconnecting…");
        let started = Instant::now();
        loop {
            match self.runtime.block_on(self.connection.reopen()) {
                Ok(connection) => {
                    self.connection = connection;
                    eprintln!("Reconnected to {url}.");
                    self.refresh_names();
                    return;
                }
                Err(e) if started.elapsed() >= RECONNECT_FOR => {
                    eprintln!("Still cannot reach {url} ({e}); the next statement tries again.");
                    return;
                }
                Err(_) => std::thread::sleep(Duration::from_millis(250)),
            }
        }
    }

    fn layout(&self) -> Layout {
        let terminal = self.output.is_none() && std::io::stdout().is_terminal();
        let width = terminal.then(terminal_width).flatten();
        Layout { expanded: self.expanded, width }
    }

    /// Where results go: the `\o` file, the terminal through the pager when they
    /// outgrow the screen, or standard output.
    fn out(&self) -> Box<dyn Write> {
        if let Some(file) = self.output.as_ref().and_then(|f| f.try_clone().ok()) {
            return Box::new(file);
        }
        let screen = (self.interactive && self.pager && std::io::stdout().is_terminal())
            .then(terminal_height)
            .flatten();
        match screen {
            // Room for the prompt under the page.
            Some(height) => Box::new(pager::Paged::new(height.saturating_sub(1).max(1))),
            None => Box::new(std::io::stdout().lock()),
        }
    }

    /// Reloads the table and column names tab completion offers.
    fn refresh_names(&mut self) {
        if !self.interactive {
            return;
        }
        let Ok(tables) = self.runtime.block_on(self.connection.tables(None, true)) else { return };
        let mut names: Vec<String> = Vec::new();
        for table in tables.into_iter().filter(|t| t.schema != "information_schema") {
            if let Some(columns) = &table.columns {
                names.extend(columns.fields().iter().map(|f| f.name().clone()));
            }
            names.push(table.name);
        }
        names.sort();
        names.dedup();
        if let Ok(mut shared) = self.names.write() {
            *shared = names;
        }
    }
}

/// Streams a result into `out`; returns its row count.
async fn print_result(
    result: ResultStream,
    out: &mut dyn Write,
    format: Format,
    layout: Layout,
) -> Result<usize, ConnectionError> {
    let ResultStream { schema, mut batches } = result;
    if schema.fields().is_empty() {
        // DDL and the like answer with no columns: say it went through.
        while let Some(batch) = batches.next().await {
            batch?;
        }
        if format == Format::Table {
            writeln!(out, "OK").map_err(|e| ConnectionError::Decode(e.to_string()))?;
        }
        return Ok(0);
    }
    let mut printer = Printer::new(out, format, layout, schema);
    let mut first = true;
    while let Some(batch) = batches.next().await {
        let batch = batch?;
        if first {
            clear_progress(layout.width.is_some());
            first = false;
        }
        printer.batch(&batch).map_err(|e| ConnectionError::Decode(e.to_string()))?;
    }
    printer.finish().map_err(|e| ConnectionError::Decode(e.to_string()))
}

/// Shows on standard error how long the statement has run and, from a Dusk scheduler,
/// how the cluster's tasks stand, once it takes a moment.
async fn progress(started: Instant, interactive: bool, mut probe: Probe) -> std::convert::Infallible {
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    let mut tasks: Option<String> = None;
    let mut asked = Instant::now();
    loop {
        tick.tick().await;
        let elapsed = started.elapsed();
        if !interactive || elapsed < Duration::from_millis(500) {
            continue;
        }
        if tasks.is_none() || asked.elapsed() >= Duration::from_millis(500) {
            tasks = probe.poll().await;
            asked = Instant::now();
        }
        let tasks = tasks.as_deref().map(|t| format!(" · {t}")).unwrap_or_default();
        eprint!("\r\x1b[2Krunning… {:.1} s{tasks} (Ctrl-C cancels)", elapsed.as_secs_f64());
        let _ = std::io::stderr().flush();
    }
}

fn clear_progress(interactive: bool) {
    if interactive {
        eprint!("\r\x1b[2K");
        let _ = std::io::stderr().flush();
    }
}

/// Prints a statement's error; when the message names a line and column, the line
/// with a caret under the column.
fn report(sql: &str, message: &str) {
    eprintln!("ERROR: {message}");
    if let Some((line, column)) = position(message)
        && let Some(text) = sql.lines().nth(line.saturating_sub(1))
    {
        let prefix = format!("LINE {line}: ");
        eprintln!("{prefix}{text}");
        eprintln!("{}^", " ".repeat(prefix.len() + column.saturating_sub(1)));
    }
}

/// The `Line: L, Column: C` a parser error names.
fn position(message: &str) -> Option<(usize, usize)> {
    let at = message.rfind("Line: ")?;
    let rest = &message[at + "Line: ".len()..];
    let (line, rest) = rest.split_once(',')?;
    let column = rest.trim_start().strip_prefix("Column: ")?;
    let column: String = column.chars().take_while(char::is_ascii_digit).collect();
    Some((line.trim().parse().ok()?, column.parse().ok()?))
}

/// Whether a statement may add or drop names tab completion should know.
fn changes_catalog(sql: &str) -> bool {
    let first = sql.split_whitespace().next().unwrap_or_default().to_ascii_uppercase();
    matches!(first.as_str(), "CREATE" | "DROP" | "ALTER")
}

/// Columns of the terminal, else `$COLUMNS`.
fn terminal_width() -> Option<usize> {
    terminal_size::terminal_size().map(|(w, _)| w.0 as usize).or_else(|| env_size("COLUMNS"))
}

/// Lines of the terminal, else `$LINES`.
fn terminal_height() -> Option<usize> {
    terminal_size::terminal_size().map(|(_, h)| h.0 as usize).or_else(|| env_size("LINES"))
}

fn env_size(name: &str) -> Option<usize> {
    std::env::var(name).ok()?.parse().ok().filter(|n| *n > 0)
}

/// Opens `text` in `$VISUAL`/`$EDITOR` (default `vi`) and returns what was saved.
fn edit(text: &str) -> Result<String, String> {
    let editor =
        std::env::var("VISUAL").or_else(|_| std::env::var("EDITOR")).unwrap_or_else(|_| "vi".to_string());
    let file = tempfile::Builder::new().suffix(".sql").tempfile().map_err(|e| e.to_string())?;
    std::fs::write(file.path(), format!("{}\n", text.trim_end())).map_err(|e| e.to_string())?;
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("{editor} \"$1\""))
        .arg("sh")
        .arg(file.path())
        .status()
        .map_err(|e| format!("cannot start {editor}: {e}"))?;
    if !status.success() {
        return Err(format!("{editor} exited with {status}"));
    }
    read(file.path())
}

fn read(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parser_positions_are_found() {
        let message = "sql parser error: Expected: an expression, found: FROM at Line: 2, Column: 8";
        assert_eq!(position(message), Some((2, 8)));
        assert_eq!(position("table 'x' not found"), None);
    }
}
