//! `?` parameter markers, as JDBC and many tools write them, turned into the `$1, $2, ...`
//! that DataFusion binds.
//!
//! Only markers in SQL text count: a `?` inside a string literal, a quoted identifier or
//! a comment is left alone. Statements that already use `$n` pass through unchanged.
//!
//! ```
//! use dusk_flight::placeholders::number_question_marks;
//!
//! let sql = "SELECT * FROM t WHERE a = ? AND b = '?' -- ?\n AND c > ?";
//! assert_eq!(number_question_marks(sql), "SELECT * FROM t WHERE a = $1 AND b = '?' -- ?\n AND c > $2");
//! ```

use std::borrow::Cow;

/// `sql` with every `?` marker outside literals and comments replaced by `$1`, `$2`, ...
/// in order of appearance.
pub fn number_question_marks(sql: &str) -> Cow<'_, str> {
    if !sql.contains('?') {
        return Cow::Borrowed(sql);
    }
    let mut out = String::with_capacity(sql.len() + 8);
    let mut next = 1;
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' | '"' | '`' => {
                out.push(c);
                // A doubled quote inside the literal is an escaped quote: the loop sees it
                // as the literal ending and a new one starting, which copies it unchanged.
                for d in chars.by_ref() {
                    out.push(d);
                    if d == c {
                        break;
                    }
                }
            }
            '-' if chars.peek() == Some(&'-') => {
                out.push(c);
                for d in chars.by_ref() {
                    out.push(d);
                    if d == '\n' {
                        break;
                    }
                }
            }
            '/' if chars.peek() == Some(&'*') => {
                out.push(c);
                let mut prev = '\0';
                for d in chars.by_ref() {
                    out.push(d);
                    if prev == '*' && d == '/' {
                        break;
                    }
                    prev = d;
                }
            }
            '?' => {
                out.push('$');
                out.push_str(&next.to_string());
                next += 1;
            }
            _ => out.push(c),
        }
    }
    Cow::Owned(out)
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
        ];
        for (sql, want) in cases {
            assert_eq!(number_question_marks(sql), want, "{sql}");
        }
    }
}
