//! `?` parameter markers, as JDBC and many tools write them, turned into the `$1, $2, ...`
//! that DataFusion binds.
//!
//! The statement is read with sqlparser's tokenizer (the one DataFusion parses with, in
//! its default dialect), so only markers in SQL text count: a `?` inside any string
//! literal (`'…'`, `E'\''`, `$$…$$`), a quoted identifier or a comment is left alone.
//! The text around the markers is kept byte for byte. A statement the tokenizer cannot
//! read passes through unchanged, for DataFusion to report what is wrong with it.

use std::borrow::Cow;

use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};

/// `sql` with every `?` marker outside literals and comments replaced by `$1`, `$2`, ...
/// in order of appearance.
pub(crate) fn number_question_marks(sql: &str) -> Cow<'_, str> {
    if !sql.contains('?') {
        return Cow::Borrowed(sql);
    }
    let Ok(tokens) = Tokenizer::new(&GenericDialect {}, sql).tokenize_with_location() else {
        return Cow::Borrowed(sql);
    };
    let markers: Vec<usize> = tokens
        .iter()
        .filter(|t| matches!(&t.token, Token::Placeholder(p) if p == "?"))
        .filter_map(|t| byte_offset(sql, t.span.start.line, t.span.start.column))
        .collect();
    if markers.is_empty() {
        return Cow::Borrowed(sql);
    }
    let mut out = String::with_capacity(sql.len() + 2 * markers.len());
    let mut copied = 0;
    for (n, at) in markers.into_iter().enumerate() {
        out.push_str(&sql[copied..at]);
        out.push('$');
        out.push_str(&(n + 1).to_string());
        copied = at + 1;
    }
    out.push_str(&sql[copied..]);
    Cow::Owned(out)
}

/// The byte offset of the tokenizer's `line` and `column` (1-based, in characters).
fn byte_offset(sql: &str, line: u64, column: u64) -> Option<usize> {
    let line_start: usize =
        sql.split_inclusive('\n').take(usize::try_from(line).ok()?.checked_sub(1)?).map(str::len).sum();
    let column = usize::try_from(column).ok()?.checked_sub(1)?;
    let rest = sql.get(line_start..)?;
    let offset = rest.char_indices().nth(column).map(|(i, _)| line_start + i)?;
    (sql.as_bytes().get(offset) == Some(&b'?')).then_some(offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_are_numbered_outside_literals_and_comments() {
        let cases = [
            ("SELECT 1", "SELECT 1"),
            ("SELECT ?, ?", "SELECT $1, $2"),
            ("SELECT 'it''s ?', ?", "SELECT 'it''s ?', $1"),
            ("SELECT \"a?\" FROM t WHERE x = ?", "SELECT \"a?\" FROM t WHERE x = $1"),
            ("SELECT /* ? */ ? -- ?", "SELECT /* ? */ $1 -- ?"),
            ("SELECT $1 + 1", "SELECT $1 + 1"),
            ("SELECT E'\\'?', ?", "SELECT E'\\'?', $1"),
            ("SELECT $$ ? $$, ?", "SELECT $$ ? $$, $1"),
            ("SELECT 'é?',\n  ? -- ünïcode ?\n, ?", "SELECT 'é?',\n  $1 -- ünïcode ?\n, $2"),
            (
                "SELECT * FROM t WHERE a = ? AND b = '?' -- ?\n AND c > ?",
                "SELECT * FROM t WHERE a = $1 AND b = '?' -- ?\n AND c > $2",
            ),
            // Unreadable SQL is DataFusion's to report.
            ("SELECT 'unterminated ?", "SELECT 'unterminated ?"),
        ];
        for (sql, want) in cases {
            assert_eq!(number_question_marks(sql), want, "{sql}");
        }
    }
}
