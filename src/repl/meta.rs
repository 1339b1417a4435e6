//! psql-style meta-commands: a line starting with `\`.

use std::path::PathBuf;

use super::format::Format;

/// What `\?` prints.
pub(crate) const HELP: &str = "\
General
  \\q                 quit (also Ctrl-D, or Ctrl-C twice at an empty prompt)
  \\?                 this help
  \\conninfo          the server and user of this connection
Catalog
  \\dt [PATTERN]      tables (PATTERN as in LIKE: % and _)
  \\dv [PATTERN]      views
  \\d NAME            columns of a table: name, type, nullability
  \\l                 catalogs
  \\dn                schemas
Output
  \\x [on|off]        expanded rows (one record per row)
  \\timing [on|off]   print how long each statement took
  \\pager [on|off]    page results longer than the screen ($PAGER, else less)
  \\format NAME       table, csv, json, ndjson or markdown
  \\o [FILE]          send results to FILE (no FILE: back to the terminal)
Input
  \\i FILE            run the statements in FILE
  \\e                 edit the last statement in $EDITOR, then run it
Statements end with ';' and may span lines. Ctrl-C cancels a running query.
";

/// One meta-command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Meta {
    Help,
    Quit,
    ConnInfo,
    /// `\dt` (views: false) or `\dv` (views: true).
    Tables {
        pattern: Option<String>,
        views: bool,
    },
    Describe(String),
    Catalogs,
    Schemas,
    /// `None` toggles.
    Expanded(Option<bool>),
    Timing(Option<bool>),
    Pager(Option<bool>),
    /// `None` shows the current format.
    Format(Option<Format>),
    /// `None` goes back to standard output.
    Output(Option<PathBuf>),
    Include(PathBuf),
    Edit,
}

/// Parses a `\` line; the error says what is wrong with it.
pub(crate) fn parse(line: &str) -> Result<Meta, String> {
    let line = line.trim().trim_end_matches(';').trim();
    let mut words = line.split_whitespace();
    let command = words.next().unwrap_or_default();
    let arg = words.next().map(str::to_string);
    if let Some(extra) = words.next() {
        return Err(format!("{command}: unexpected argument {extra:?}"));
    }
    let on_off = |arg: &Option<String>| -> Result<Option<bool>, String> {
        match arg.as_deref().map(str::to_ascii_lowercase).as_deref() {
            None => Ok(None),
            Some("on") => Ok(Some(true)),
            Some("off") => Ok(Some(false)),
            Some(other) => Err(format!("{command}: expected on or off, got {other:?}")),
        }
    };
    let needs = |what: &str| format!("{command} needs {what}");
    Ok(match command {
        "\\?" | "\\h" | "\\help" => Meta::Help,
        "\\q" | "\\quit" => Meta::Quit,
        "\\conninfo" => Meta::ConnInfo,
        "\\dt" => Meta::Tables { pattern: arg, views: false },
        "\\dv" => Meta::Tables { pattern: arg, views: true },
        "\\d" => match arg {
            Some(name) => Meta::Describe(name),
            None => Meta::Tables { pattern: None, views: false },
        },
        "\\l" | "\\list" => Meta::Catalogs,
        "\\dn" => Meta::Schemas,
        "\\x" => Meta::Expanded(on_off(&arg)?),
        "\\timing" => Meta::Timing(on_off(&arg)?),
        "\\pager" => Meta::Pager(on_off(&arg)?),
        "\\format" | "\\pset" => match arg {
            None => Meta::Format(None),
            Some(name) => Meta::Format(Some(Format::parse(&name).ok_or_else(|| {
                format!("{command}: unknown format {name:?} (table, csv, json, ndjson, markdown)")
            })?)),
        },
        "\\o" | "\\out" => Meta::Output(arg.map(PathBuf::from)),
        "\\i" | "\\include" => Meta::Include(arg.map(PathBuf::from).ok_or_else(|| needs("a file"))?),
        "\\e" | "\\edit" => Meta::Edit,
        other => return Err(format!("invalid command {other}: try \\? for help")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_parse_with_their_arguments() {
        assert_eq!(parse("\\dt line%"), Ok(Meta::Tables { pattern: Some("line%".into()), views: false }));
        assert_eq!(parse("\\d lineitem"), Ok(Meta::Describe("lineitem".into())));
        assert_eq!(parse("\\timing on"), Ok(Meta::Timing(Some(true))));
        assert_eq!(parse("\\x"), Ok(Meta::Expanded(None)));
        assert_eq!(parse("\\format CSV"), Ok(Meta::Format(Some(Format::Csv))));
        assert_eq!(parse("\\q;"), Ok(Meta::Quit));
    }

    #[test]
    fn mistakes_are_named() {
        assert!(parse("\\timing maybe").unwrap_err().contains("expected on or off"));
        assert!(parse("\\format xml").unwrap_err().contains("unknown format"));
        assert!(parse("\\zz").unwrap_err().contains("invalid command \\zz"));
        assert!(parse("\\i").unwrap_err().contains("needs a file"));
    }
}
