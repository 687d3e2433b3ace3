//! Splitting a document into lines while keeping byte offsets, so writes can splice the
//! original text.

/// One line of a document.
#[derive(Debug, Clone, Copy)]
pub(super) struct Line<'a> {
    /// Where the line's text starts (after a byte order mark on the first line).
    pub start: usize,
    /// Where the line's text ends, before `\n`, `\r\n` or any run of `\r`.
    pub end: usize,
    /// Where the next line starts (the content's length after the last line).
    pub next: usize,
    /// The text, without its line ending.
    pub text: &'a str,
}

impl Line<'_> {
    /// Whether the line is empty or only whitespace.
    pub fn is_blank(&self) -> bool {
        self.text.trim().is_empty()
    }
}

/// The lines of `content`. A final line ending does not start another line.
pub(super) fn lines(content: &str) -> Vec<Line<'_>> {
    let mut lines = Vec::new();
    let mut start = 0;
    while start < content.len() {
        let rest = content.get(start..).unwrap_or_default();
        let (text_len, next) = match rest.find('\n') {
            Some(nl) => (nl, start + nl + 1),
            None => (rest.len(), content.len()),
        };
        // Carriage returns ending a line are line ending, not text, wherever they are: so a
        // last line `a\r` reads the same once a line is written after it.
        let text_len = rest.get(..text_len).unwrap_or_default().trim_end_matches('\r').len();
        let mut text = rest.get(..text_len).unwrap_or_default();
        let mut text_start = start;
        if start == 0
            && let Some(stripped) = text.strip_prefix('\u{feff}')
        {
            text = stripped;
            text_start = '\u{feff}'.len_utf8();
        }
        lines.push(Line { start: text_start, end: start + text_len, next, text });
        start = next;
    }
    lines
}

/// The line ending the document uses: that of its first line, `\n` when it has none.
pub(super) fn line_ending(content: &str) -> &'static str {
    match content.find('\n') {
        Some(nl) if nl > 0 && content.as_bytes().get(nl - 1) == Some(&b'\r') => "\r\n",
        _ => "\n",
    }
}

/// Where text may be inserted at the very start: after a byte order mark.
pub(super) fn content_start(content: &str) -> usize {
    if content.starts_with('\u{feff}') { '\u{feff}'.len_utf8() } else { 0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_keeping_offsets() {
        let content = "a\r\nbc\n\nd";
        let lines = lines(content);
        let texts: Vec<_> = lines.iter().map(|l| l.text).collect();
        assert_eq!(texts, ["a", "bc", "", "d"]);
        assert_eq!((lines[0].start, lines[0].end, lines[0].next), (0, 1, 3));
        assert_eq!((lines[3].start, lines[3].end, lines[3].next), (7, 8, 8));
    }

    #[test]
    fn carriage_returns_ending_a_line_are_not_text() {
        let texts: Vec<_> = lines("a\r\r\nb\rc\r").iter().map(|l| (l.text, l.end)).collect();
        assert_eq!(texts, [("a", 1), ("b\rc", 7)]);
    }

    #[test]
    fn skips_a_byte_order_mark() {
        let lines = lines("\u{feff}= T\n");
        assert_eq!(lines[0].text, "= T");
        assert_eq!(lines[0].start, 3);
    }

    #[test]
    fn finds_the_line_ending() {
        assert_eq!(line_ending("a\r\nb\n"), "\r\n");
        assert_eq!(line_ending("a\nb\r\n"), "\n");
        assert_eq!(line_ending("ab"), "\n");
        assert_eq!(line_ending("\n"), "\n");
    }
}
