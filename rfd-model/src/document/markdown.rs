//! Finding the parts of a Markdown RFD.

use super::lines::{Line, content_start, lines};
use super::{AttrEntry, Attribute, Layout, range_in, strip_rfd_prefix};

/// A `name: value` line: its name and where its value starts in `text`.
fn attribute_line(text: &str) -> Option<(&str, usize)> {
    let close = text.find(':')?;
    let name = text.get(..close)?;
    let mut chars = name.chars();
    let first = chars.next()?;
    if !(first.is_ascii_alphanumeric() || first == '_')
        || !chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return None;
    }
    let after = text.get(close + 1..)?;
    if !after.is_empty() && !after.starts_with([' ', '\t']) {
        return None;
    }
    Some((name, close + 1))
}

/// The text of a level-1 ATX heading (`# Title`, up to three spaces of indentation,
/// an optional closing `#` sequence), trimmed; `Some("")` for an empty heading.
fn level_one_heading(text: &str) -> Option<&str> {
    let indent = text.len() - text.trim_start_matches(' ').len();
    if indent > 3 {
        return None;
    }
    let rest = text.get(indent..)?.strip_prefix('#')?;
    if !(rest.is_empty() || rest.starts_with([' ', '\t'])) {
        return None;
    }
    let mut title = rest.trim();
    let without_closing = title.trim_end_matches('#');
    if without_closing.is_empty() || without_closing.ends_with([' ', '\t']) {
        title = without_closing.trim_end();
    }
    Some(title)
}

/// Tracks fenced code blocks (```` ``` ```` or `~~~`), whose lines are not structure.
#[derive(Default)]
struct Fences {
    open: Option<(char, usize)>,
}

impl Fences {
    /// Feeds a line; returns whether it is a fence or inside one.
    fn skip(&mut self, text: &str) -> bool {
        let indent = text.len() - text.trim_start_matches(' ').len();
        let fence = text.get(indent..).filter(|_| indent <= 3).and_then(|rest| {
            let marker = rest.chars().next().filter(|c| *c == '`' || *c == '~')?;
            let run = rest.len() - rest.trim_start_matches(marker).len();
            (run >= 3).then_some((marker, run, rest.get(run..).unwrap_or_default()))
        });
        match (self.open, fence) {
            (Some((marker, len)), Some((m, run, info)))
                if m == marker && run >= len && info.trim().is_empty() =>
            {
                self.open = None;
                true
            }
            (Some(_), _) => true,
            (None, Some((marker, run, _))) => {
                self.open = Some((marker, run));
                true
            }
            (None, None) => false,
        }
    }
}

/// Whether a line is a YAML front matter delimiter.
fn is_front_matter_end(text: &str) -> bool {
    matches!(text.trim_end(), "---" | "...")
}

/// A value with one pair of matching surrounding quotes taken off, as YAML would.
fn unquote(value: &str) -> &str {
    for quote in ['"', '\''] {
        if value.len() >= 2
            && value.starts_with(quote)
            && value.ends_with(quote)
            && let Some(inner) = value.get(1..value.len() - 1)
        {
            return inner;
        }
    }
    value
}

/// Whether YAML would read `value` as something other than this plain string, or
/// [`unquote`] would change it.
pub(super) fn needs_yaml_quotes(value: &str) -> bool {
    value.starts_with([
        '"', '\'', '[', ']', '{', '}', '&', '*', '!', '|', '>', '%', '@', '`', '#', ',', '?', ':', '-',
    ]) || value.contains(": ")
        || value.contains(" #")
        || value.ends_with(':')
        || value.contains('\t')
}

struct Entries<'a> {
    content: &'a str,
    wanted: [Option<AttrEntry>; 4],
    title: Option<&'a str>,
    last_line_next: Option<usize>,
}

impl<'a> Entries<'a> {
    fn record(&mut self, line: &Line<'a>, front_matter: bool) -> bool {
        let Some((name, value_start)) = attribute_line(line.text) else {
            return false;
        };
        let mut value = line.text.get(value_start..).unwrap_or_default().trim();
        if front_matter {
            value = unquote(value);
            if name.eq_ignore_ascii_case("title") && self.title.is_none() {
                self.title = Some(value);
            }
        }
        self.last_line_next = Some(line.next);
        if let Some(attr) = Attribute::from_name(name)
            && self.wanted[attr.index()].is_none()
        {
            self.wanted[attr.index()] = Some(AttrEntry {
                value_start: line.start + value_start,
                line_end: line.end,
                value: range_in(self.content, value),
                front_matter,
            });
        }
        true
    }
}

pub(super) fn scan(content: &str) -> Layout {
    let lines = lines(content);
    let mut entries = Entries { content, wanted: Default::default(), title: None, last_line_next: None };

    // Front matter: `---` on the first non-blank line, up to the next `---` (or `...`).
    let first = lines.iter().position(|line| !line.is_blank());
    let front_matter = first
        .filter(|first| lines.get(*first).is_some_and(|line| line.text.trim_end() == "---"))
        .and_then(|first| {
            let end = lines.iter().skip(first + 1).position(|line| is_front_matter_end(line.text))?;
            Some((first, first + 1 + end))
        });
    let after_front_matter = match front_matter {
        Some((open, close)) => {
            for line in lines.get(open + 1..close).unwrap_or_default() {
                entries.record(line, true);
            }
            close + 1
        }
        None => 0,
    };
    let rest = lines.get(after_front_matter..).unwrap_or_default();

    // The title: the first level-1 heading outside fenced code.
    let mut fences = Fences::default();
    let title_line = rest
        .iter()
        .position(|line| !fences.skip(line.text) && level_one_heading(line.text).is_some())
        .map(|offset| after_front_matter + offset);

    let (title, body_start, insert_at) = match title_line.and_then(|index| lines.get(index)) {
        Some(title) => {
            // Everything between the front matter and the title is header.
            let mut fences = Fences::default();
            for line in rest.iter().take_while(|line| line.start < title.start) {
                if !fences.skip(line.text) {
                    entries.record(line, false);
                }
            }
            let text = level_one_heading(title.text).map(strip_rfd_prefix).filter(|t| !t.is_empty());
            (text, title.next, entries.last_line_next.unwrap_or(title.start))
        }
        None => {
            // No heading: the header is the front matter and the attribute lines right
            // after it (or at the very start), up to the first blank or other line; a front
            // matter `title:` serves as the title.
            let body_start = rest
                .iter()
                .find(|line| !entries.record(line, false))
                .map_or(content.len(), |line| line.start);
            let text = entries.title.map(strip_rfd_prefix).filter(|t| !t.is_empty());
            (text, body_start, body_start.max(content_start(content)))
        }
    };

    // In front matter, new attributes go just before its closing line.
    let (insert_at, insert_in_front_matter) = match front_matter.and_then(|(_, close)| lines.get(close)) {
        Some(close) => (close.start, true),
        None => (insert_at, false),
    };

    Layout {
        title: title.map(|t| range_in(content, t)),
        attrs: entries.wanted,
        author_line: None,
        author_line_range: None,
        body_start,
        insert_at,
        insert_in_front_matter,
        includes: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_attribute_lines() {
        assert_eq!(attribute_line("state: published"), Some(("state", 6)));
        assert_eq!(attribute_line("state:"), Some(("state", 6)));
        assert_eq!(attribute_line("state:x"), None);
        assert_eq!(attribute_line(" state: x"), None);
        assert_eq!(attribute_line("a b: x"), None);
    }

    #[test]
    fn recognises_headings() {
        assert_eq!(level_one_heading("# Title"), Some("Title"));
        assert_eq!(level_one_heading("   # Title #"), Some("Title"));
        assert_eq!(level_one_heading("# C#"), Some("C#"));
        assert_eq!(level_one_heading("#"), Some(""));
        assert_eq!(level_one_heading("    # code"), None);
        assert_eq!(level_one_heading("## Section"), None);
        assert_eq!(level_one_heading("#hashtag"), None);
    }

    #[test]
    fn tracks_fences() {
        let mut fences = Fences::default();
        let skipped: Vec<bool> = ["a", "```rust", "# x", "```", "b", "~~~~", "~~~", "~~~~"]
            .iter()
            .map(|line| fences.skip(line))
            .collect();
        assert_eq!(skipped, [false, true, true, true, false, true, true, true]);
    }

    #[test]
    fn unquotes_like_yaml() {
        assert_eq!(unquote("\"a\""), "a");
        assert_eq!(unquote("'a'"), "a");
        assert_eq!(unquote("'a\""), "'a\"");
        assert_eq!(unquote("\""), "\"");
    }
}
