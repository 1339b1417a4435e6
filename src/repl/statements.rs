//! Splitting typed input into SQL statements at the `;` that end them.
//!
//! A `;` inside a string literal, a quoted identifier or a comment does not end a
//! statement, so `SELECT ';' AS semi;` is one statement and a `-- comment;` is part of
//! whatever follows it.

/// The complete statements in `input` (each without its `;`, trimmed, empty ones
/// dropped) and the text after the last `;`, which is an unfinished statement.
pub(crate) fn split(input: &str) -> (Vec<String>, &str) {
    let mut statements = Vec::new();
    let mut start = 0;
    let mut state = State::Code;
    let bytes = input.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        let next = bytes.get(i + 1).copied();
        state = match (state, c) {
            (State::Code, b'\'') => State::Quoted(b'\''),
            (State::Code, b'"') => State::Quoted(b'"'),
            (State::Code, b'-') if next == Some(b'-') => State::LineComment,
            (State::Code, b'/') if next == Some(b'*') => {
                i += 1;
                State::BlockComment
            }
            (State::Code, b';') => {
                let statement = input[start..i].trim();
                if !is_blank(statement) {
                    statements.push(statement.to_string());
                }
                start = i + 1;
                State::Code
            }
            // A doubled quote inside a quoted run is an escaped quote.
            (State::Quoted(q), c) if c == q && next == Some(q) => {
                i += 1;
                State::Quoted(q)
            }
            (State::Quoted(q), c) if c == q => State::Code,
            (State::LineComment, b'\n') => State::Code,
            (State::BlockComment, b'*') if next == Some(b'/') => {
                i += 1;
                State::Code
            }
            (state, _) => state,
        };
        i += 1;
    }
    (statements, &input[start..])
}

/// Whether `text` holds nothing but whitespace and comments.
pub(crate) fn is_blank(text: &str) -> bool {
    let mut rest = text.trim_start();
    loop {
        if let Some(after) = rest.strip_prefix("--") {
            rest = after.split_once('\n').map_or("", |(_, tail)| tail).trim_start();
        } else if let Some(after) = rest.strip_prefix("/*") {
            rest = after.split_once("*/").map_or("", |(_, tail)| tail).trim_start();
        } else {
            return rest.is_empty();
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Code,
    Quoted(u8),
    LineComment,
    BlockComment,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn semicolons_in_strings_and_comments_do_not_split() {
        let (done, rest) =
            split("SELECT ';' AS s; -- a; comment\nSELECT \"a;b\" FROM t /* ; */;\nSELECT 'it''s;");
        assert_eq!(done, vec!["SELECT ';' AS s", "-- a; comment\nSELECT \"a;b\" FROM t /* ; */"]);
        assert_eq!(rest, "\nSELECT 'it''s;");
    }

    #[test]
    fn empty_statements_and_comment_only_text_are_dropped() {
        let (done, rest) = split(" ; ;SELECT 1;\n-- only a comment\n");
        assert_eq!(done, vec!["SELECT 1"]);
        assert!(is_blank(rest));
        assert!(!is_blank("/* c */ SELECT"));
    }
}
