//! Finding the parts of an AsciiDoc RFD.

use super::lines::{Line, content_start, lines};
use super::{AttrEntry, Attribute, IncludeLine, Layout, range_in, strip_rfd_prefix};

/// Tracks delimited blocks whose lines are not document structure: comment blocks
/// (`////`) and verbatim ones (listing `----`, literal `....`, passthrough `++++`,
/// fenced ```` ``` ````).
#[derive(Default)]
struct Blocks<'a> {
    open: Option<&'a str>,
}

impl<'a> Blocks<'a> {
    /// Feeds a line; returns whether it is a delimiter or inside a block, and so not
    /// structure. With `comments_only`, only comment blocks count.
    fn skip(&mut self, text: &'a str, comments_only: bool) -> bool {
        let trimmed = text.trim_end();
        if let Some(open) = self.open {
            if trimmed == open {
                self.open = None;
            }
            return true;
        }
        if let Some(delimiter) = delimiter(trimmed)
            && (!comments_only || delimiter.starts_with('/'))
        {
            self.open = Some(delimiter);
            return true;
        }
        false
    }
}

/// The block delimiter `text` is, if any: the closing line must be the same.
fn delimiter(text: &str) -> Option<&str> {
    if text.starts_with("```") {
        return text.get(..text.len() - text.trim_start_matches('`').len());
    }
    let first = text.chars().next()?;
    (matches!(first, '/' | '-' | '.' | '+') && text.len() >= 4 && text.chars().all(|c| c == first))
        .then_some(text)
}

/// Whether a line is a single-line comment (`// …`, but not a `////` block delimiter).
fn is_line_comment(text: &str) -> bool {
    text.starts_with("//") && delimiter(text.trim_end()).is_none()
}

/// An attribute entry `:name: value`: its name and where its value starts in `text`.
/// Unsetting entries (`:name!:`, `:!name:`) are not entries for our purpose.
fn attribute_entry(text: &str) -> Option<(&str, usize)> {
    let rest = text.strip_prefix(':')?;
    let close = rest.find(':')?;
    let name = rest.get(..close)?;
    let mut chars = name.chars();
    let first = chars.next()?;
    if !(first.is_ascii_alphanumeric() || first == '_')
        || !chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return None;
    }
    let value_start = 1 + close + 1;
    let after = text.get(value_start..)?;
    if !after.is_empty() && !after.starts_with([' ', '\t']) {
        return None;
    }
    Some((name, value_start))
}

/// The text of a level-0 heading (`= Title`, or `# Title`), trimmed.
fn level_zero_heading(text: &str) -> Option<&str> {
    let rest = text.strip_prefix('=').or_else(|| text.strip_prefix('#'))?;
    if !rest.starts_with([' ', '\t']) {
        return None;
    }
    let title = rest.trim();
    (!title.is_empty()).then_some(title)
}

/// Whether a line under the title can be the author line.
fn can_be_author_line(text: &str) -> bool {
    !text.trim().is_empty()
        && attribute_entry(text).is_none()
        && delimiter(text.trim_end()).is_none()
        && !text.starts_with(['[', '.', '=', '#', '*', '|', '<', '-'])
        && !["include::", "ifdef::", "ifndef::", "ifeval::", "endif::", "image::", "toc::"]
            .iter()
            .any(|directive| text.starts_with(directive))
}

/// Attribute entries seen so far, first occurrence first.
struct Entries<'a> {
    content: &'a str,
    all: Vec<(&'a str, &'a str)>,
    wanted: [Option<AttrEntry>; 4],
    last_line_next: Option<usize>,
}

impl<'a> Entries<'a> {
    /// Records `line` if it is an attribute entry; returns whether it was.
    fn record(&mut self, line: &Line<'a>) -> bool {
        let Some((name, value_start)) = attribute_entry(line.text) else {
            return false;
        };
        let value = line.text.get(value_start..).unwrap_or_default().trim();
        self.all.push((name, value));
        self.last_line_next = Some(line.next);
        if let Some(attr) = Attribute::from_name(name)
            && self.wanted[attr.index()].is_none()
        {
            self.wanted[attr.index()] = Some(AttrEntry {
                value_start: line.start + value_start,
                line_end: line.end,
                value: range_in(self.content, value),
                front_matter: false,
            });
        }
        true
    }

    /// The value of the first entry named `name` (any attribute), for references.
    fn value_of(&self, name: &str) -> Option<&'a str> {
        self.all.iter().find(|(entry, _)| entry.eq_ignore_ascii_case(name)).map(|(_, value)| *value)
    }
}

pub(super) fn scan(content: &str) -> Layout {
    let lines = lines(content);
    let mut entries = Entries { content, all: Vec::new(), wanted: Default::default(), last_line_next: None };

    // The title: the first level-0 heading outside comments and verbatim blocks.
    let mut blocks = Blocks::default();
    let title_line = lines.iter().position(|line| {
        !(blocks.skip(line.text, false) || is_line_comment(line.text))
            && level_zero_heading(line.text).is_some()
    });
    let title = title_line
        .and_then(|index| lines.get(index))
        .and_then(|line| level_zero_heading(line.text))
        .map(strip_rfd_prefix)
        .filter(|title| !title.is_empty())
        .map(|title| range_in(content, title));

    let body_start;
    let insert_at;
    let mut author_line = None;
    match title_line {
        Some(title_index) => {
            // Everything before the title is header: record its attribute entries.
            let mut blocks = Blocks::default();
            for line in lines.get(..title_index).unwrap_or_default() {
                if !(blocks.skip(line.text, false) || is_line_comment(line.text)) {
                    entries.record(line);
                }
            }
            let last_entry_before_title = entries.last_line_next;
            // Under the title: the author line, then attribute entries and comments up
            // to the first blank line or anything else.
            let mut index = title_index + 1;
            while lines.get(index).is_some_and(|line| is_line_comment(line.text)) {
                index += 1;
            }
            if let Some(line) = lines.get(index)
                && can_be_author_line(line.text)
            {
                author_line = Some(line.text);
                index += 1;
            }
            while let Some(line) = lines.get(index) {
                if line.is_blank() || !(is_line_comment(line.text) || entries.record(line)) {
                    break;
                }
                index += 1;
            }
            body_start = lines.get(index).map_or(content.len(), |line| line.start);
            // Next to the attributes above the title if there are any, else under it.
            insert_at = last_entry_before_title.unwrap_or(body_start);
        }
        None => {
            // No title: the header is the run of attribute entries and comments the
            // document starts with, up to the first blank or other line, as in Asciidoctor.
            // New entries go after the last line of it outside a comment block, so that
            // one left open does not swallow them.
            let mut blocks = Blocks::default();
            let mut after_header = None;
            let first_body_line = lines.iter().find(|line| {
                let was_open = blocks.open.is_some();
                if blocks.skip(line.text, true) {
                    if was_open && blocks.open.is_none() {
                        after_header = Some(line.next);
                    }
                    return false;
                }
                if is_line_comment(line.text) || entries.record(line) {
                    after_header = Some(line.next);
                    return false;
                }
                true
            });
            body_start = first_body_line.map_or(content.len(), |line| line.start);
            insert_at = after_header.unwrap_or(content_start(content));
        }
    }

    let author_line_range = author_line.map(|line| range_in(content, line));
    let author_line = author_line.and_then(|line| normalise_authors(&resolve_references(line, &entries)));

    let mut includes = Vec::new();
    let mut blocks = Blocks::default();
    for line in &lines {
        if blocks.skip(line.text, true) {
            continue;
        }
        if let Some(target) = include_target(line.text) {
            includes.push(IncludeLine {
                line: line.start..line.end,
                terminated: line.next > line.end,
                target: range_in(content, target),
            });
        }
    }

    Layout {
        title,
        attrs: entries.wanted,
        author_line,
        author_line_range,
        body_start,
        insert_at,
        insert_in_front_matter: false,
        includes,
    }
}

/// Replaces `{name}` references with the values of attribute entries; references to
/// attributes the document does not set are dropped.
fn resolve_references(line: &str, entries: &Entries<'_>) -> String {
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(open) = rest.find('{') {
        out.push_str(rest.get(..open).unwrap_or_default());
        let after = rest.get(open + 1..).unwrap_or_default();
        let name_len =
            after.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-')).unwrap_or(after.len());
        if name_len > 0 && after.get(name_len..).is_some_and(|tail| tail.starts_with('}')) {
            let name = after.get(..name_len).unwrap_or_default();
            out.push_str(entries.value_of(name).unwrap_or_default());
            rest = after.get(name_len + 1..).unwrap_or_default();
        } else {
            out.push('{');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// Authors separated by `;` or `,`, rejoined with `; `.
fn normalise_authors(line: &str) -> Option<String> {
    let authors: Vec<&str> = line.split([';', ',']).map(str::trim).filter(|a| !a.is_empty()).collect();
    (!authors.is_empty()).then(|| authors.join("; "))
}

/// The target of an `include::target[attributes]` line.
fn include_target(text: &str) -> Option<&str> {
    let rest = text.strip_prefix("include::")?;
    let open = rest.find('[')?;
    if !rest.trim_end().ends_with(']') {
        return None;
    }
    let target = rest.get(..open)?;
    (!target.is_empty() && !target.contains(char::is_whitespace)).then_some(target)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_attribute_entries() {
        assert_eq!(attribute_entry(":state: published"), Some(("state", 7)));
        assert_eq!(attribute_entry(":state:"), Some(("state", 7)));
        assert_eq!(attribute_entry(":state:published"), None);
        assert_eq!(attribute_entry(":state!:"), None);
        assert_eq!(attribute_entry(":!state:"), None);
        assert_eq!(attribute_entry(": x"), None);
        assert_eq!(attribute_entry("state: x"), None);
    }

    #[test]
    fn recognises_level_zero_headings() {
        assert_eq!(level_zero_heading("= Title "), Some("Title"));
        assert_eq!(level_zero_heading("# Title"), Some("Title"));
        assert_eq!(level_zero_heading("== Section"), None);
        assert_eq!(level_zero_heading("====="), None);
        assert_eq!(level_zero_heading("=Title"), None);
        assert_eq!(level_zero_heading("= "), None);
    }

    #[test]
    fn recognises_delimiters() {
        assert_eq!(delimiter("////"), Some("////"));
        assert_eq!(delimiter("----"), Some("----"));
        assert_eq!(delimiter("```rust"), Some("```"));
        assert_eq!(delimiter("---"), None);
        assert_eq!(delimiter("--x-"), None);
        assert!(is_line_comment("// x"));
        assert!(!is_line_comment("////"));
    }

    #[test]
    fn finds_include_targets() {
        assert_eq!(include_target("include::a.adoc[]"), Some("a.adoc"));
        assert_eq!(include_target("include::dir/a.adoc[lines=1..2] "), Some("dir/a.adoc"));
        assert_eq!(include_target("include::a.adoc"), None);
        assert_eq!(include_target(" include::a.adoc[]"), None);
        assert_eq!(include_target("include::[]"), None);
    }

    #[test]
    fn normalises_author_lines() {
        assert_eq!(normalise_authors("A B <a@x>, C <c@y>").as_deref(), Some("A B <a@x>; C <c@y>"));
        assert_eq!(normalise_authors(" ; , ").as_deref(), None);
    }
}
