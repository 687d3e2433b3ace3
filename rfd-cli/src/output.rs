//! Printing results: the API's JSON as it came (`json`), or aligned tables (`tab`).

use comfy_table::{Cell, ContentArrangement, Table, presets};
use serde_json::Value;

use crate::config::Format;

/// How a result reads as a table.
#[derive(Debug, Clone, Copy)]
pub enum Shape {
    /// A list: one row per item with these columns (dotted paths into each item).
    Rows(&'static [&'static str]),
    /// One object: a field per line.
    Record,
    /// One object whose `content` is a document: its fields, then the document as it is.
    Document,
}

/// Widest cell in a table; longer values are cut (the JSON output has them whole).
const MAX_CELL: usize = 72;

pub fn print(format: Format, value: &Value, shape: Shape) {
    match format {
        Format::Json => println!("{}", serde_json::to_string_pretty(value).unwrap_or_default()),
        Format::Tab => print!("{}", render_tab(value, shape)),
    }
}

/// The `tab` rendering of a value.
pub fn render_tab(value: &Value, shape: Shape) -> String {
    match (value, shape) {
        (Value::Array(items), Shape::Rows(columns)) => rows(items, columns),
        (Value::Array(items), _) => rows(items, &[]),
        (Value::Object(_), Shape::Document) => {
            let mut meta = value.clone();
            let content = meta.as_object_mut().and_then(|m| m.remove("content"));
            let mut out = record(&meta);
            match content {
                Some(Value::String(text)) => {
                    out.push('\n');
                    out.push_str(&text);
                    if !text.ends_with('\n') {
                        out.push('\n');
                    }
                }
                Some(other @ (Value::Array(_) | Value::Object(_))) => {
                    out.push('\n');
                    out.push_str(&render_tab(&other, Shape::Rows(&[])));
                }
                _ => {}
            }
            out
        }
        (Value::Object(_), _) => record(value),
        (Value::Null, _) => "done\n".to_string(),
        (other, _) => format!("{}\n", cell(other, usize::MAX)),
    }
}

fn table() -> Table {
    let mut table = Table::new();
    table.load_preset(presets::NOTHING).set_content_arrangement(ContentArrangement::Disabled);
    table
}

fn rows(items: &[Value], columns: &[&str]) -> String {
    if items.is_empty() {
        return "(none)\n".to_string();
    }
    let columns: Vec<String> = if columns.is_empty() {
        items[0].as_object().map(|m| m.keys().cloned().collect()).unwrap_or_else(|| vec![String::new()])
    } else {
        columns.iter().map(|c| c.to_string()).collect()
    };
    let mut table = table();
    table.set_header(columns.iter().map(|c| Cell::new(c.rsplit('.').next().unwrap_or(c).to_uppercase())));
    for item in items {
        table.add_row(columns.iter().map(|column| {
            let value = if column.is_empty() { Some(item) } else { lookup(item, column) };
            Cell::new(value.map(|v| cell(v, MAX_CELL)).unwrap_or_default())
        }));
    }
    flush_left(&mut table);
    trim_lines(&table.to_string())
}

/// No padding on the left, two spaces between columns.
fn flush_left(table: &mut Table) {
    for column in table.column_iter_mut() {
        column.set_padding((0, 2));
    }
}

fn record(value: &Value) -> String {
    let Some(map) = value.as_object() else { return format!("{}\n", cell(value, usize::MAX)) };
    let mut table = table();
    for (key, value) in map {
        table.add_row(vec![Cell::new(key), Cell::new(cell(value, usize::MAX))]);
    }
    flush_left(&mut table);
    trim_lines(&table.to_string())
}

/// comfy-table pads every line to the table's width; trailing blanks help nobody.
fn trim_lines(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// A dotted path (`info.id`) into an object.
fn lookup<'a>(value: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(value, |value, key| value.get(key))
}

/// One value as a cell: dates as dates, lists joined, objects as compact JSON.
fn cell(value: &Value, max: usize) -> String {
    let text = match value {
        Value::Null => String::new(),
        Value::String(text) => date(text).unwrap_or_else(|| text.replace('\n', " ")),
        Value::Array(items) if items.iter().all(|i| !i.is_object() && !i.is_array()) => {
            items.iter().map(|i| cell(i, usize::MAX)).collect::<Vec<_>>().join(", ")
        }
        other => other.to_string(),
    };
    if text.chars().count() > max {
        let cut: String = text.chars().take(max.saturating_sub(1)).collect();
        format!("{cut}…")
    } else {
        text
    }
}

/// An RFC 3339 timestamp as `YYYY-MM-DD HH:MM` (UTC).
fn date(text: &str) -> Option<String> {
    let parsed = chrono::DateTime::parse_from_rfc3339(text).ok()?;
    Some(parsed.with_timezone(&chrono::Utc).format("%Y-%m-%d %H:%M").to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rows_show_chosen_columns_dates_and_cut_long_values() {
        let items = json!([
            {"rfd_number": 12, "title": "x".repeat(100), "committed_at": "2026-11-29T20:41:07.123Z", "n": {"a": 1}},
            {"rfd_number": 3, "title": "Short", "committed_at": null}
        ]);
        let out = render_tab(&items, Shape::Rows(&["rfd_number", "title", "committed_at"]));
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 3, "{out}");
        assert!(lines[0].starts_with("RFD_NUMBER"), "{out}");
        assert!(lines[1].contains("2026-11-29 20:41"), "{out}");
        assert!(lines[1].contains('…') && !lines[1].contains(&"x".repeat(72)), "{out}");
        assert!(!out.contains("\"a\""), "unchosen column shown: {out}");
        // Columns line up: the titles start at the same offset.
        assert_eq!(lines[1].find('x'), lines[2].find("Short"));
    }

    #[test]
    fn records_and_documents() {
        let doc = json!({"rfd_number": 1, "labels": ["a", "b"], "content": "= Title\n\nBody"});
        let out = render_tab(&doc, Shape::Document);
        assert!(out.contains("labels") && out.contains("a, b"), "{out}");
        assert!(out.ends_with("= Title\n\nBody\n"), "{out}");
        assert_eq!(render_tab(&json!([]), Shape::Rows(&["id"])), "(none)\n");
        assert_eq!(render_tab(&Value::Null, Shape::Record), "done\n");
    }
}
