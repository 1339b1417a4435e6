//! `dusk sql`: a psql-like terminal client over Flight SQL.
//!
//! It is a plain Flight SQL client ([`connection`]), so it works with any Flight SQL
//! server. Interactive sessions get line editing, history across sessions, Ctrl-R
//! search and tab completion ([`editor`]); statements end with `;` and may span lines
//! ([`statements`]); lines starting with `\` are meta-commands ([`meta`]). Results print
//! as they stream in ([`format`]), through a pager when they outgrow the screen
//! ([`pager`]). Ctrl-C while a query runs drops the call, which
//! cancels the query on the server, and returns to the prompt.
//!
//! Without a terminal (`-c`, `-f`, a pipe) statements run in order and the first error
//! ends the run with exit code 1, unless `--continue-on-error`.

mod connection;
mod editor;
pub mod format;
mod meta;
mod pager;
mod session;
mod statements;

pub use connection::{ConnectOptions, ConnectionError};
pub use format::Format;
pub use session::{ReplError, ReplOptions, run};
