//! Printing query results: aligned tables that fit the terminal (and expanded records),
//! CSV, JSON, newline-delimited JSON and Markdown.
//!
//! Results are printed as they stream in. Table output is laid out a page of
//! [`PAGE_ROWS`] rows at a time, its column widths taken from the first page, so a
//! large result never has to be held whole. A value with line breaks (an `EXPLAIN`
//! plan) prints on as many lines, each continued line marked with `+` as psql does.

use std::io::{self, Write};

use arrow::array::RecordBatch;
use arrow::datatypes::{DataType, SchemaRef};
use arrow::error::ArrowError;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

/// Rows laid out together in table output.
pub(crate) const PAGE_ROWS: usize = 1000;

/// Narrowest a column is squeezed to when the table is wider than the terminal.
const MIN_COLUMN_WIDTH: usize = 4;

/// How results are printed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Aligned columns with a header and a row count, fitted to the terminal.
    #[default]
    Table,
    /// Comma-separated values with a header line.
    Csv,
    /// One JSON array of objects.
    Json,
    /// One JSON object per line.
    Ndjson,
    /// A Markdown (GitHub) table.
    Markdown,
}

impl Format {
    /// Parses a name as typed after `\format`.
    pub(crate) fn parse(name: &str) -> Option<Self> {
        <Format as clap::ValueEnum>::from_str(name, true).ok()
    }

    /// The name `\format` takes.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Format::Table => "table",
            Format::Csv => "csv",
            Format::Json => "json",
            Format::Ndjson => "ndjson",
            Format::Markdown => "markdown",
        }
    }
}

/// How a result is laid out besides its format.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Layout {
    /// Each row as a record of `column | value` lines (psql's `\x`).
    pub(crate) expanded: bool,
    /// Width to fit tables in; `None` leaves cells whole.
    pub(crate) width: Option<usize>,
}

/// Prints one result as its batches arrive.
pub(crate) struct Printer<'a> {
    out: &'a mut dyn Write,
    format: Format,
    layout: Layout,
    schema: SchemaRef,
    rows: usize,
    /// Table output: rows of the current page, as cell text.
    page: Vec<Vec<String>>,
    /// Table output: widths fixed by the first page.
    widths: Option<Vec<usize>>,
}

impl<'a> Printer<'a> {
    pub(crate) fn new(out: &'a mut dyn Write, format: Format, layout: Layout, schema: SchemaRef) -> Self {
        Printer { out, format, layout, schema, rows: 0, page: Vec::new(), widths: None }
    }

    /// Prints (or lays out) one batch.
    pub(crate) fn batch(&mut self, batch: &RecordBatch) -> io::Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let first = self.rows == 0;
        self.rows += batch.num_rows();
        match self.format {
            Format::Table => {
                let cells = cells(batch).map_err(io::Error::other)?;
                for row in cells {
                    self.page.push(row);
                    if self.page.len() >= PAGE_ROWS {
                        self.flush_page()?;
                    }
                }
                Ok(())
            }
            Format::Markdown => {
                if first {
                    self.markdown_header()?;
                }
                for row in cells(batch).map_err(io::Error::other)? {
                    let row: Vec<String> =
                        row.iter().map(|c| c.replace('|', "\\|").replace('\n', "<br>")).collect();
                    writeln!(self.out, "| {} |", row.join(" | "))?;
                }
                Ok(())
            }
            Format::Csv => {
                let mut writer = arrow::csv::WriterBuilder::new().with_header(first).build(&mut *self.out);
                writer.write(batch).map_err(io::Error::other)
            }
            Format::Ndjson => {
                let mut writer = arrow::json::LineDelimitedWriter::new(&mut *self.out);
                writer.write(batch).map_err(io::Error::other)?;
                writer.finish().map_err(io::Error::other)
            }
            Format::Json => {
                let mut array = arrow::json::ArrayWriter::new(Vec::new());
                array.write(batch).map_err(io::Error::other)?;
                array.finish().map_err(io::Error::other)?;
                let text = array.into_inner();
                // Each batch is its own `[...]`: splice them into one array.
                let inner = text.strip_prefix(b"[").and_then(|t| t.strip_suffix(b"]")).unwrap_or(&text);
                self.out.write_all(if first { b"[" } else { b"," })?;
                self.out.write_all(inner)
            }
        }
    }

    /// Prints what is still laid out and the closing lines; returns the row count.
    pub(crate) fn finish(mut self) -> io::Result<usize> {
        match self.format {
            Format::Table => {
                if self.rows == 0 && !self.layout.expanded {
                    let widths = self.header_widths();
                    self.table_header(&widths)?;
                } else {
                    self.flush_page()?;
                }
                let plural = if self.rows == 1 { "" } else { "s" };
                writeln!(self.out, "({} row{plural})", self.rows)?;
            }
            Format::Markdown if self.rows == 0 => self.markdown_header()?,
            Format::Json if self.rows == 0 => writeln!(self.out, "[]")?,
            Format::Json => writeln!(self.out, "]")?,
            Format::Csv if self.rows == 0 => {
                let names: Vec<&str> = self.schema.fields().iter().map(|f| f.name().as_str()).collect();
                writeln!(self.out, "{}", names.join(","))?;
            }
            _ => {}
        }
        self.out.flush()?;
        Ok(self.rows)
    }

    fn markdown_header(&mut self) -> io::Result<()> {
        let names: Vec<String> = self.schema.fields().iter().map(|f| f.name().replace('|', "\\|")).collect();
        writeln!(self.out, "| {} |", names.join(" | "))?;
        let rules: Vec<&str> = self
            .schema
            .fields()
            .iter()
            .map(|f| if numeric(f.data_type()) { "---:" } else { "---" })
            .collect();
        writeln!(self.out, "|{}|", rules.join("|"))
    }

    fn header_widths(&self) -> Vec<usize> {
        self.schema.fields().iter().map(|f| text_width(f.name())).collect()
    }

    fn flush_page(&mut self) -> io::Result<()> {
        let page = std::mem::take(&mut self.page);
        if page.is_empty() {
            return Ok(());
        }
        if self.layout.expanded {
            let first_record = self.rows - page.len() + 1;
            return self.expanded(&page, first_record);
        }
        let widths = match &self.widths {
            Some(widths) => widths.clone(),
            None => {
                let mut widths = self.header_widths();
                for row in &page {
                    for (w, cell) in widths.iter_mut().zip(row) {
                        *w = (*w).max(text_width(cell));
                    }
                }
                let widths = fit(widths, self.layout.width);
                self.table_header(&widths)?;
                self.widths = Some(widths.clone());
                widths
            }
        };
        let right: Vec<bool> = self.schema.fields().iter().map(|f| numeric(f.data_type())).collect();
        for row in &page {
            let lines: Vec<Vec<&str>> = row.iter().map(|cell| cell.split('\n').collect()).collect();
            let height = lines.iter().map(Vec::len).max().unwrap_or(1);
            for i in 0..height {
                let mut text = String::from(" ");
                for (c, ((cell, &w), &right)) in lines.iter().zip(&widths).zip(&right).enumerate() {
                    let line = cell.get(i).copied().unwrap_or("");
                    text.push_str(&pad(&truncate(line, w), w, right));
                    // psql's mark for a value that goes on on the next line: `+` in
                    // place of the space before the separator.
                    let goes_on = i + 1 < cell.len();
                    if c + 1 < lines.len() {
                        text.push_str(if goes_on { "+| " } else { " | " });
                    } else if goes_on {
                        text.push('+');
                    }
                }
                writeln!(self.out, "{}", text.trim_end())?;
            }
        }
        Ok(())
    }

    fn table_header(&mut self, widths: &[usize]) -> io::Result<()> {
        let names: Vec<String> = self
            .schema
            .fields()
            .iter()
            .zip(widths)
            .map(|(f, &w)| center(&truncate(f.name(), w), w))
            .collect();
        writeln!(self.out, " {}", names.join(" | ").trim_end())?;
        let rules: Vec<String> = widths.iter().map(|&w| "-".repeat(w + 2)).collect();
        writeln!(self.out, "{}", rules.join("+"))
    }

    fn expanded(&mut self, page: &[Vec<String>], first_record: usize) -> io::Result<()> {
        let names: Vec<&str> = self.schema.fields().iter().map(|f| f.name().as_str()).collect();
        let name_width = names.iter().map(|n| text_width(n)).max().unwrap_or(0);
        let value_width = self.layout.width.map(|w| w.saturating_sub(name_width + 3).max(MIN_COLUMN_WIDTH));
        for (i, row) in page.iter().enumerate() {
            let title = format!("-[ RECORD {} ]", first_record + i);
            let rule_width = self.layout.width.unwrap_or(name_width + 3 + 20).min(name_width + 3 + 40);
            writeln!(self.out, "{title}{}", "-".repeat(rule_width.saturating_sub(text_width(&title))))?;
            for (name, cell) in names.iter().zip(row) {
                let mut label = pad(name, name_width, false);
                for line in cell.split('\n') {
                    let line = value_width.map_or_else(|| line.to_string(), |w| truncate(line, w));
                    writeln!(self.out, "{label} | {line}")?;
                    label = " ".repeat(name_width);
                }
            }
        }
        Ok(())
    }
}

/// Every cell of `batch` as display text, row by row. Nulls print as `NULL`; a value's
/// line breaks are kept (a cell may span lines), carriage returns and tabs become spaces.
fn cells(batch: &RecordBatch) -> Result<Vec<Vec<String>>, ArrowError> {
    let options = FormatOptions::default().with_null("NULL");
    let formatters = batch
        .columns()
        .iter()
        .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((0..batch.num_rows())
        .map(|row| {
            formatters
                .iter()
                .map(|f| {
                    let text = f.value(row).to_string();
                    if text.contains(['\r', '\t']) {
                        text.replace("\r\n", "\n").replace(['\r', '\t'], " ")
                    } else {
                        text
                    }
                })
                .collect()
        })
        .collect())
}

fn numeric(data_type: &DataType) -> bool {
    data_type.is_numeric()
}

/// Terminal columns `text` takes (wide CJK characters take two), for its widest line.
fn text_width(text: &str) -> usize {
    text.split('\n').map(UnicodeWidthStr::width).max().unwrap_or(0)
}

/// Narrows the widest columns until the table (with its ` | ` separators) fits `width`.
fn fit(mut widths: Vec<usize>, width: Option<usize>) -> Vec<usize> {
    let Some(width) = width else {
        return widths;
    };
    let total = |w: &[usize]| w.iter().sum::<usize>() + 3 * w.len().saturating_sub(1) + 2;
    while total(&widths) > width {
        let Some((widest, &w)) = widths.iter().enumerate().max_by_key(|(_, w)| **w) else {
            break;
        };
        if w <= MIN_COLUMN_WIDTH {
            break;
        }
        widths[widest] = w - 1;
    }
    widths
}

/// One line of text cut to `width` columns, ending in `…` when cut.
fn truncate(text: &str, width: usize) -> String {
    if text_width(text) <= width {
        return text.to_string();
    }
    let mut cut = String::new();
    let mut used = 0;
    for c in text.chars() {
        let w = c.width().unwrap_or(0);
        if used + w + 1 > width {
            break;
        }
        cut.push(c);
        used += w;
    }
    cut.push('…');
    cut
}

fn pad(text: &str, width: usize, right: bool) -> String {
    let fill = " ".repeat(width.saturating_sub(text_width(text)));
    if right { format!("{fill}{text}") } else { format!("{text}{fill}") }
}

fn center(text: &str, width: usize) -> String {
    let space = width.saturating_sub(text_width(text));
    format!("{}{text}{}", " ".repeat(space / 2), " ".repeat(space - space / 2))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Int64Array, StringArray};
    use arrow::datatypes::{Field, Schema};

    use super::*;

    fn batch() -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("name", DataType::Utf8, true),
        ]));
        let ids = Arc::new(Int64Array::from(vec![1, 22]));
        let names = Arc::new(StringArray::from(vec![Some("a long name that goes on"), None]));
        RecordBatch::try_new(schema, vec![ids, names]).unwrap()
    }

    fn print(format: Format, layout: Layout) -> String {
        let batch = batch();
        let mut out = Vec::new();
        let mut printer = Printer::new(&mut out, format, layout, batch.schema());
        printer.batch(&batch).unwrap();
        printer.finish().unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn tables_align_and_fit_the_width() {
        let whole = print(Format::Table, Layout { expanded: false, width: None });
        assert_eq!(
            whole,
            " id |           name\n----+--------------------------\n  1 | a long name that goes on\n 22 | NULL\n(2 rows)\n"
        );
        let narrow = print(Format::Table, Layout { expanded: false, width: Some(20) });
        assert!(narrow.lines().all(|l| l.chars().count() <= 20), "{narrow}");
        assert!(narrow.contains('…'), "{narrow}");
    }

    #[test]
    fn expanded_rows_are_records() {
        let text = print(Format::Table, Layout { expanded: true, width: None });
        assert!(text.starts_with("-[ RECORD 1 ]"), "{text}");
        assert!(text.contains("name | a long name that goes on\n"), "{text}");
        assert!(text.contains("-[ RECORD 2 ]") && text.ends_with("(2 rows)\n"), "{text}");
    }

    #[test]
    fn machine_formats_are_valid() {
        let layout = Layout { expanded: false, width: None };
        assert_eq!(print(Format::Csv, layout), "id,name\n1,a long name that goes on\n22,\n");
        assert_eq!(
            print(Format::Json, layout),
            "[{\"id\":1,\"name\":\"a long name that goes on\"},{\"id\":22}]\n"
        );
        assert_eq!(print(Format::Ndjson, layout).lines().count(), 2);
        assert!(print(Format::Markdown, layout).starts_with("| id | name |\n|---:|---|\n| 1 |"));
    }

    fn print_plan(layout: Layout) -> String {
        let schema = Arc::new(Schema::new(vec![
            Field::new("plan_type", DataType::Utf8, false),
            Field::new("plan", DataType::Utf8, false),
        ]));
        let plan = "Projection: a\n  Filter: a > 1\n    TableScan: t";
        let batch = RecordBatch::try_new(
            schema,
            vec![Arc::new(StringArray::from(vec!["logical_plan"])), Arc::new(StringArray::from(vec![plan]))],
        )
        .unwrap();
        let mut out = Vec::new();
        let mut printer = Printer::new(&mut out, Format::Table, layout, batch.schema());
        printer.batch(&batch).unwrap();
        printer.finish().unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn values_with_line_breaks_print_on_as_many_lines() {
        let table = print_plan(Layout { expanded: false, width: None });
        let want = [
            "  plan_type   |       plan",
            "--------------+------------------",
            " logical_plan | Projection: a   +",
            "              |   Filter: a > 1 +",
            "              |     TableScan: t",
            "(1 row)",
        ];
        assert_eq!(table.lines().collect::<Vec<_>>(), want, "{table}");
        let narrow = print_plan(Layout { expanded: false, width: Some(26) });
        assert!(narrow.lines().all(|l| UnicodeWidthStr::width(l) <= 26), "{narrow}");
        assert_eq!(narrow.lines().count(), 6, "each line cut on its own: {narrow}");
        let expanded = print_plan(Layout { expanded: true, width: None });
        assert!(expanded.contains("plan      | Projection: a\n          |   Filter: a > 1\n"), "{expanded}");
    }

    #[test]
    fn wide_characters_take_two_columns() {
        assert_eq!(text_width("日本"), 4);
        assert_eq!(truncate("日本語です", 6), "日本…");
        assert_eq!(text_width("ab\nabcd"), 4);
    }
}
