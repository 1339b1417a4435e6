//! Line editing: tab completion of SQL keywords and of table and column names, and
//! multi-line statements that end at `;`.
//!
//! rustyline does the editing, history and Ctrl-R search; this is its helper. The names
//! come from the server's catalog calls and are refreshed after statements that change
//! the catalog.

use std::sync::{Arc, RwLock};

use rustyline::completion::{Completer, Pair};
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::validate::{ValidationContext, ValidationResult, Validator};
use rustyline::{Context, Helper};

use super::statements;

/// SQL keywords offered for completion.
const KEYWORDS: &[&str] = &[
    "ALL",
    "ALTER",
    "AND",
    "AS",
    "ASC",
    "BETWEEN",
    "BY",
    "CASE",
    "CAST",
    "COPY",
    "COUNT",
    "CREATE",
    "CROSS",
    "DATE",
    "DELETE",
    "DESC",
    "DESCRIBE",
    "DISTINCT",
    "DROP",
    "ELSE",
    "END",
    "EXCEPT",
    "EXISTS",
    "EXPLAIN",
    "EXTERNAL",
    "FALSE",
    "FROM",
    "FULL",
    "GROUP",
    "HAVING",
    "IF",
    "IN",
    "INNER",
    "INSERT",
    "INTERSECT",
    "INTERVAL",
    "INTO",
    "IS",
    "JOIN",
    "LEFT",
    "LIKE",
    "LIMIT",
    "LOCATION",
    "NOT",
    "NULL",
    "OFFSET",
    "ON",
    "OR",
    "ORDER",
    "OUTER",
    "OVER",
    "PARTITION",
    "REPLACE",
    "RIGHT",
    "SELECT",
    "SET",
    "SHOW",
    "STORED",
    "TABLE",
    "TABLES",
    "THEN",
    "TRUE",
    "UNION",
    "UPDATE",
    "USING",
    "VALUES",
    "VIEW",
    "WHEN",
    "WHERE",
    "WITH",
];

/// Table and column names the completer offers, shared with the REPL that refreshes them.
pub(crate) type Names = Arc<RwLock<Vec<String>>>;

/// The REPL's rustyline helper.
pub(crate) struct SqlHelper {
    names: Names,
}

impl SqlHelper {
    pub(crate) fn new(names: Names) -> Self {
        SqlHelper { names }
    }
}

impl Completer for SqlHelper {
    type Candidate = Pair;

    fn complete(&self, line: &str, pos: usize, _ctx: &Context<'_>) -> rustyline::Result<(usize, Vec<Pair>)> {
        let before = &line[..pos];
        let start = before
            .char_indices()
            .rev()
            .find(|(_, c)| !(c.is_alphanumeric() || *c == '_'))
            .map_or(0, |(i, c)| i + c.len_utf8());
        let word = &before[start..];
        if word.is_empty() {
            return Ok((start, Vec::new()));
        }
        let lower = word.to_lowercase();
        let upper_typed = word.chars().all(|c| !c.is_lowercase());
        let mut candidates: Vec<String> = Vec::new();
        if let Ok(names) = self.names.read() {
            candidates.extend(names.iter().filter(|n| n.to_lowercase().starts_with(&lower)).cloned());
        }
        candidates.extend(
            KEYWORDS
                .iter()
                .filter(|k| k.to_lowercase().starts_with(&lower))
                .map(|k| if upper_typed { k.to_string() } else { k.to_lowercase() }),
        );
        candidates.sort();
        candidates.dedup();
        let pairs = candidates.into_iter().map(|c| Pair { display: c.clone(), replacement: c }).collect();
        Ok((start, pairs))
    }
}

impl Validator for SqlHelper {
    fn validate(&self, ctx: &mut ValidationContext<'_>) -> rustyline::Result<ValidationResult> {
        Ok(if complete(ctx.input()) { ValidationResult::Valid(None) } else { ValidationResult::Incomplete })
    }
}

/// Whether Enter should run `input` rather than start a new line: a meta-command, an
/// empty line, or SQL whose last statement ends with `;`.
pub(crate) fn complete(input: &str) -> bool {
    let trimmed = input.trim();
    if trimmed.is_empty() || trimmed.starts_with('\\') {
        return true;
    }
    let (_, rest) = statements::split(input);
    statements::is_blank(rest)
}

impl Hinter for SqlHelper {
    type Hint = String;
}

impl Highlighter for SqlHelper {}

impl Helper for SqlHelper {}

#[cfg(test)]
mod tests {
    use rustyline::history::DefaultHistory;

    use super::*;

    fn complete_at_end(helper: &SqlHelper, line: &str) -> Vec<String> {
        let history = DefaultHistory::new();
        let ctx = Context::new(&history);
        let (_, pairs) = helper.complete(line, line.len(), &ctx).unwrap();
        pairs.into_iter().map(|p| p.replacement).collect()
    }

    #[test]
    fn completes_keywords_in_the_typed_case_and_catalog_names() {
        let helper = SqlHelper::new(Arc::new(RwLock::new(vec!["lineitem".into(), "l_orderkey".into()])));
        assert_eq!(complete_at_end(&helper, "SEL"), vec!["SELECT"]);
        assert_eq!(complete_at_end(&helper, "sel"), vec!["select"]);
        assert_eq!(complete_at_end(&helper, "SELECT * FROM linei"), vec!["lineitem"]);
        assert_eq!(complete_at_end(&helper, "select l_o"), vec!["l_orderkey"]);
    }

    #[test]
    fn enter_runs_only_finished_statements() {
        assert!(complete("SELECT 1;"));
        assert!(complete("\\dt"));
        assert!(complete(""));
        assert!(!complete("SELECT 1"));
        assert!(!complete("SELECT ';'"));
        assert!(complete("SELECT 1; -- done"));
    }
}
