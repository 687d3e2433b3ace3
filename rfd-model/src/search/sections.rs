//! Splitting an RFD into searchable sections: heading hierarchy, anchors, plain text.
//!
//! Each format is read as what it is. AsciiDoc sections are `==` … `======` headings
//! (and the `##` style Asciidoctor accepts), with anchors as Asciidoctor generates them
//! (`_` prefix and separator unless the document sets `:idprefix:`/`:idseparator:`,
//! explicit `[[id]]` / `[#id]` anchors win, duplicates get `_2`, `_3`, …). Markdown
//! sections are ATX headings with anchors as GitHub generates them (lower case,
//! punctuation dropped, spaces to `-`, duplicates get `-1`, `-2`, …). Headings inside
//! code blocks are text, not sections. Markup is reduced to the text a reader sees.
//!
//! The text before the first section heading is the level-0 section (the preamble).
//! Levels 1 to 5 are kept; deeper headings count as level 5.

use std::collections::HashMap;

use crate::types::ContentFormat;

/// The deepest section level kept (level 0 is the RFD itself, so six levels in all).
pub const MAX_SECTION_LEVEL: usize = 5;

/// The longest section text indexed, in bytes: beyond it text is cut, so one huge
/// section cannot exceed PostgreSQL's tsvector limit (1 MiB).
pub const MAX_SECTION_TEXT: usize = 256 * 1024;

/// One section of an RFD, as indexed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    /// 0 for the preamble, 1 to [`MAX_SECTION_LEVEL`] for sections.
    pub level: usize,
    /// The headings from the outermost section down to this one (empty for the preamble).
    pub headings: Vec<String>,
    /// The anchor of the section's heading; `None` for the preamble.
    pub anchor: Option<String>,
    /// The section's own text (not its subsections'), as plain text.
    pub content: String,
}

impl Section {
    /// The section's own heading; `None` for the preamble.
    pub fn heading(&self) -> Option<&str> {
        self.headings.last().map(String::as_str)
    }
}

/// Splits a document into sections. Never fails: odd markup is indexed as text.
pub fn split(format: ContentFormat, content: &str) -> Vec<Section> {
    match format {
        ContentFormat::Asciidoc => asciidoc(content),
        ContentFormat::Markdown => markdown(content),
    }
}

/// Collects sections while the document is read.
struct Builder {
    sections: Vec<Section>,
    path: Vec<String>,
    text: String,
}

impl Builder {
    fn new() -> Self {
        Self {
            sections: vec![Section { level: 0, headings: Vec::new(), anchor: None, content: String::new() }],
            path: Vec::new(),
            text: String::new(),
        }
    }

    fn line(&mut self, line: &str) {
        let line = line.trim();
        if line.is_empty() {
            return;
        }
        if self.text.len() >= MAX_SECTION_TEXT {
            return;
        }
        if !self.text.is_empty() {
            self.text.push(' ');
        }
        self.text.push_str(line);
        if self.text.len() > MAX_SECTION_TEXT {
            let mut cut = MAX_SECTION_TEXT;
            while !self.text.is_char_boundary(cut) {
                cut -= 1;
            }
            self.text.truncate(cut);
        }
    }

    fn flush(&mut self) {
        if let Some(last) = self.sections.last_mut() {
            last.content = clean_text(&std::mem::take(&mut self.text));
        }
    }

    fn heading(&mut self, level: usize, heading: String, anchor: String) {
        self.flush();
        let level = level.clamp(1, MAX_SECTION_LEVEL);
        // A jump (== then ====) keeps the path short: missing levels are not invented.
        self.path.truncate(level - 1);
        self.path.push(heading);
        let level = self.path.len();
        self.sections.push(Section {
            level,
            headings: self.path.clone(),
            anchor: Some(anchor),
            content: String::new(),
        });
    }

    fn finish(mut self) -> Vec<Section> {
        self.flush();
        self.sections
    }
}

/// Drops control characters (the highlighter uses two as markers) and squeezes spaces.
fn clean_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut space = false;
    for ch in text.chars() {
        if ch.is_whitespace() || ch.is_control() {
            space = !out.is_empty();
        } else {
            if space {
                out.push(' ');
                space = false;
            }
            out.push(ch);
        }
    }
    out
}

/// Appends `_2`, `-1`, … to an anchor already used in the document.
struct Anchors {
    seen: HashMap<String, usize>,
}

impl Anchors {
    fn new() -> Self {
        Self { seen: HashMap::new() }
    }

    /// Asciidoctor: the first duplicate gets `{sep}2`.
    fn asciidoc(&mut self, id: String, sep: &str) -> String {
        if !self.seen.contains_key(&id) {
            self.seen.insert(id.clone(), 1);
            return id;
        }
        let mut n = 2;
        loop {
            let candidate = format!("{id}{sep}{n}");
            if !self.seen.contains_key(&candidate) {
                self.seen.insert(candidate.clone(), 1);
                return candidate;
            }
            n += 1;
        }
    }

    /// GitHub: the first duplicate gets `-1`.
    fn github(&mut self, slug: String) -> String {
        let mut candidate = slug.clone();
        while let Some(count) = self.seen.get_mut(&candidate) {
            candidate = format!("{slug}-{count}");
            *count += 1;
        }
        self.seen.insert(candidate.clone(), 1);
        candidate
    }
}

// ---------------------------------------------------------------------------------------
// AsciiDoc

/// Delimited blocks whose content is verbatim (no headings inside).
fn verbatim_delimiter(line: &str) -> bool {
    is_delimiter(line, '-') && line.len() >= 4
        || is_delimiter(line, '.') && line.len() >= 4
        || is_delimiter(line, '+') && line.len() >= 4
        || line.starts_with("```")
}

fn is_delimiter(line: &str, ch: char) -> bool {
    !line.is_empty() && line.chars().all(|c| c == ch)
}

/// `== Title` / `## Title`: the level (number of markers − 1) and the text.
fn asciidoc_heading(line: &str) -> Option<(usize, &str)> {
    let marker = line.chars().next().filter(|c| *c == '=' || *c == '#')?;
    let count = line.chars().take_while(|c| *c == marker).count();
    let rest = &line[count..];
    if count > 6 || !rest.starts_with(' ') || rest.trim().is_empty() {
        return None;
    }
    Some((count - 1, rest.trim().trim_end_matches([' ', marker]).trim()))
}

/// `:name: value` attribute entries.
fn attribute_entry(line: &str) -> Option<(&str, &str)> {
    let rest = line.strip_prefix(':')?;
    let end = rest.find(':')?;
    let name = &rest[..end];
    if name.is_empty() || !name.chars().all(|c| c.is_alphanumeric() || c == '-' || c == '_' || c == '!') {
        return None;
    }
    Some((name, rest[end + 1..].trim()))
}

/// `[[id]]`, `[[id,reftext]]` or `[#id]` / `[#id.role]` on its own line.
fn block_anchor(line: &str) -> Option<String> {
    if let Some(inner) = line.strip_prefix("[[").and_then(|l| l.strip_suffix("]]")) {
        let id = inner.split(',').next().unwrap_or_default().trim();
        return (!id.is_empty()).then(|| id.to_string());
    }
    if let Some(inner) = line.strip_prefix("[#").and_then(|l| l.strip_suffix(']')) {
        let id = inner.split(['.', '%', ',']).next().unwrap_or_default().trim();
        return (!id.is_empty()).then(|| id.to_string());
    }
    None
}

/// Asciidoctor's generated section id.
fn asciidoc_id(title: &str, prefix: &str, sep: &str) -> String {
    let lower = title.to_lowercase();
    // Characters other than word characters, spaces, `-` and `.` are dropped.
    let kept: String = lower
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == '_' || *c == ' ' || *c == '-' || *c == '.')
        .collect();
    let mut id = String::from(prefix);
    if sep.is_empty() {
        id.extend(kept.chars().filter(|c| !matches!(c, ' ' | '.' | '-')));
        return id;
    }
    let mut last_sep = false;
    for ch in kept.chars() {
        if matches!(ch, ' ' | '.' | '-') {
            if !last_sep {
                id.push_str(sep);
                last_sep = true;
            }
        } else {
            id.push(ch);
            last_sep = false;
        }
    }
    if let Some(stripped) = id.strip_suffix(sep) {
        id = stripped.to_string();
    }
    if prefix.is_empty()
        && let Some(stripped) = id.strip_prefix(sep)
    {
        id = stripped.to_string();
    }
    id
}

fn asciidoc(content: &str) -> Vec<Section> {
    let mut out = Builder::new();
    let mut anchors = Anchors::new();
    let mut prefix = "_".to_string();
    let mut sep = "_".to_string();
    let mut seen_title = false;
    let mut in_header = false;
    let mut comment_block = false;
    let mut verbatim: Option<String> = None;
    let mut pending_anchor: Option<String> = None;

    for raw in content.lines() {
        let line = raw.trim_end();
        if comment_block {
            if is_delimiter(line, '/') && line.len() >= 4 {
                comment_block = false;
            }
            continue;
        }
        if let Some(delimiter) = &verbatim {
            if line == delimiter {
                verbatim = None;
            } else if delimiter.starts_with('+') {
                out.line(&strip_html(line));
            } else {
                out.line(line);
            }
            continue;
        }
        if is_delimiter(line, '/') && line.len() >= 4 {
            comment_block = true;
            continue;
        }
        if line.starts_with("//") {
            continue;
        }
        if verbatim_delimiter(line) {
            verbatim = Some(line.to_string());
            continue;
        }
        if let Some((name, value)) = attribute_entry(line) {
            match name {
                "idprefix" => prefix = value.to_string(),
                "idseparator" => sep = value.to_string(),
                _ => {}
            }
            continue;
        }
        if !seen_title {
            // Everything before the title is the header: attributes and comments.
            if let Some((0, _)) = asciidoc_heading(line) {
                seen_title = true;
                in_header = true;
            }
            continue;
        }
        if in_header {
            // The author and revision lines, up to the first blank line.
            if line.is_empty() {
                in_header = false;
            }
            continue;
        }
        if let Some(id) = block_anchor(line) {
            pending_anchor = Some(id);
            continue;
        }
        if let Some((level, text)) = asciidoc_heading(line).filter(|(level, _)| *level >= 1) {
            let (inline_id, text) = match text.strip_prefix("[[").and_then(|t| t.split_once("]]")) {
                Some((id, rest)) => (Some(id.split(',').next().unwrap_or_default().trim().to_string()), rest),
                None => (None, text),
            };
            let heading = asciidoc_inline(text);
            let anchor = match pending_anchor.take().or(inline_id) {
                Some(explicit) => {
                    anchors.seen.insert(explicit.clone(), 1);
                    explicit
                }
                None => anchors.asciidoc(asciidoc_id(&heading, &prefix, &sep), &sep),
            };
            out.heading(level, heading, anchor);
            continue;
        }
        pending_anchor = None;
        if let Some(text) = asciidoc_block_line(line) {
            out.line(&text);
        }
    }
    if !seen_title {
        // No title: the whole document is read again as body, so nothing is lost.
        return asciidoc_untitled(content);
    }
    out.finish()
}

/// A document without a `= Title`: index every line as the preamble's text.
fn asciidoc_untitled(content: &str) -> Vec<Section> {
    let mut out = Builder::new();
    for line in content.lines() {
        if let Some(text) = asciidoc_block_line(line.trim_end()) {
            out.line(&text);
        }
    }
    out.finish()
}

/// The text of one body line, or `None` for lines that carry only markup.
fn asciidoc_block_line(line: &str) -> Option<String> {
    let trimmed = line.trim();
    if trimmed.is_empty() {
        return None;
    }
    // Block attribute lines (`[source,rust]`, `[NOTE]`), open/example/sidebar/quote
    // delimiters, table fences, breaks.
    if (trimmed.starts_with('[') && trimmed.ends_with(']') && !trimmed.contains("]["))
        || ["--", "====", "****", "____", "|===", "'''", "<<<", "toc::[]"].contains(&trimmed)
        || is_delimiter(trimmed, '=') && trimmed.len() >= 4
        || is_delimiter(trimmed, '*') && trimmed.len() >= 4
        || is_delimiter(trimmed, '_') && trimmed.len() >= 4
        || trimmed.starts_with("include::")
        || trimmed.starts_with("ifdef::")
        || trimmed.starts_with("ifndef::")
        || trimmed.starts_with("endif::")
    {
        return None;
    }
    // `image::path[alt]`: the alt text.
    if let Some(rest) = trimmed.strip_prefix("image::") {
        let alt = rest.split_once('[').map(|(_, a)| a.trim_end_matches(']')).unwrap_or_default();
        let alt = alt.split(',').next().unwrap_or_default();
        return (!alt.is_empty()).then(|| alt.to_string());
    }
    // A block title `.Title`.
    let mut text = trimmed;
    if let Some(rest) = text.strip_prefix('.')
        && rest.chars().next().is_some_and(|c| !c.is_whitespace() && c != '.')
    {
        text = rest;
    }
    // List markers and admonition labels.
    text = strip_list_marker(text, &['*', '-', '.']);
    for label in ["NOTE: ", "TIP: ", "IMPORTANT: ", "WARNING: ", "CAUTION: "] {
        if let Some(rest) = text.strip_prefix(label) {
            text = rest;
        }
    }
    let text = text.trim_end_matches(" +").replace('|', " ");
    Some(asciidoc_inline(&text))
}

/// `* item`, `** item`, `. item`, `1. item`, `- item`.
fn strip_list_marker<'a>(line: &'a str, markers: &[char]) -> &'a str {
    let first = line.chars().next();
    if let Some(marker) = first.filter(|c| markers.contains(c)) {
        let count = line.chars().take_while(|c| *c == marker).count();
        if line[count..].starts_with(' ') {
            return line[count..].trim_start();
        }
    }
    let digits = line.chars().take_while(char::is_ascii_digit).count();
    if digits > 0 && line[digits..].starts_with(". ") {
        return line[digits + 2..].trim_start();
    }
    line
}

/// Inline AsciiDoc to plain text: links and cross references to their text, macros to
/// their content, formatting marks dropped.
fn asciidoc_inline(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while !rest.is_empty() {
        // `<<id,text>>` / `<<id>>`
        if let Some(after) = rest.strip_prefix("<<")
            && let Some(end) = after.find(">>")
        {
            let inner = &after[..end];
            out.push_str(inner.split_once(',').map(|(_, t)| t.trim()).unwrap_or(inner));
            rest = &after[end + 2..];
            continue;
        }
        // `name:target[text]` macros and `https://url[text]` links.
        if let Some((consumed, replacement)) = inline_macro(rest) {
            out.push_str(&replacement);
            rest = &rest[consumed..];
            continue;
        }
        let Some(ch) = rest.chars().next() else { break };
        let prev = out.chars().last();
        let next = rest[ch.len_utf8()..].chars().next();
        let at_boundary =
            prev.is_none_or(|p| !p.is_alphanumeric()) || next.is_none_or(|n| !n.is_alphanumeric());
        match ch {
            '*' | '`' => {}
            '_' | '#' | '^' | '~' if at_boundary => {}
            '+' if rest.starts_with("++") || at_boundary && next.is_some_and(|n| !n.is_whitespace()) => {}
            _ => out.push(ch),
        }
        rest = &rest[ch.len_utf8()..];
    }
    out.trim().to_string()
}

/// A macro at the start of `text`: how many bytes it spans and its text.
fn inline_macro(text: &str) -> Option<(usize, String)> {
    let colon = text.find(':')?;
    let name = &text[..colon];
    if name.is_empty() || name.len() > 12 || !name.chars().all(|c| c.is_ascii_alphabetic()) {
        return None;
    }
    let after = &text[colon + 1..];
    let url = matches!(name, "http" | "https" | "mailto" | "ftp");
    let known = matches!(
        name,
        "link" | "xref" | "footnote" | "kbd" | "btn" | "menu" | "pass" | "image" | "icon" | "anchor" | "stem"
    );
    if !url && !known {
        return None;
    }
    let target_end = after.find(|c: char| c == '[' || c.is_whitespace()).unwrap_or(after.len());
    let target = &after[..target_end];
    let bracket = after[target_end..].strip_prefix('[');
    match bracket {
        Some(inner) => {
            let close = inner.find(']')?;
            let label = inner[..close].trim().trim_matches('"');
            let label = label.split(",role=").next().unwrap_or(label);
            let consumed = colon + 1 + target_end + 1 + close + 1;
            let shown = match name {
                "image" | "icon" | "anchor" => label.split(',').next().unwrap_or_default().to_string(),
                _ if label.is_empty() && url => format!("{name}:{target}"),
                _ if label.is_empty() => target.to_string(),
                _ => label.to_string(),
            };
            Some((consumed, shown))
        }
        // A bare URL is text as it is.
        None if url => Some((colon + 1 + target_end, format!("{name}:{target}"))),
        None => None,
    }
}

// ---------------------------------------------------------------------------------------
// Markdown

/// `## Title`: the level (number of `#` − 1) and the text without closing `#`s.
fn markdown_heading(line: &str) -> Option<(usize, &str)> {
    let indent = line.len() - line.trim_start_matches(' ').len();
    if indent > 3 {
        return None;
    }
    let line = &line[indent..];
    let count = line.chars().take_while(|c| *c == '#').count();
    if count == 0 || count > 6 {
        return None;
    }
    let rest = &line[count..];
    if !rest.is_empty() && !rest.starts_with([' ', '\t']) {
        return None;
    }
    let mut text = rest.trim();
    let without_closing = text.trim_end_matches('#');
    if without_closing.is_empty() || without_closing.ends_with([' ', '\t']) {
        text = without_closing.trim_end();
    }
    Some((count - 1, text))
}

/// GitHub's heading anchor.
fn github_slug(text: &str) -> String {
    text.to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            '-' | '_' => Some(c),
            c if c.is_alphanumeric() => Some(c),
            _ => None,
        })
        .collect()
}

fn fence_of(line: &str) -> Option<&str> {
    let trimmed = line.trim_start();
    if line.len() - trimmed.len() > 3 {
        return None;
    }
    for marker in ['`', '~'] {
        let count = trimmed.chars().take_while(|c| *c == marker).count();
        if count >= 3 {
            return Some(&trimmed[..count]);
        }
    }
    None
}

fn markdown(content: &str) -> Vec<Section> {
    let mut out = Builder::new();
    let mut anchors = Anchors::new();
    let mut fence: Option<String> = None;
    let mut seen_title = false;
    let mut front_matter = false;
    let has_title = has_markdown_title(content);

    for (index, raw) in content.lines().enumerate() {
        let line = raw.trim_end();
        if index == 0 && line == "---" {
            front_matter = true;
            continue;
        }
        if front_matter {
            if line == "---" || line == "..." {
                front_matter = false;
            }
            continue;
        }
        if let Some(open) = &fence {
            let closes =
                fence_of(line).is_some_and(|f| f.starts_with(open.as_str()) && line.trim().len() == f.len());
            if closes {
                fence = None;
            } else {
                out.line(line);
            }
            continue;
        }
        if let Some(f) = fence_of(line) {
            fence = Some(f.to_string());
            continue;
        }
        if !seen_title && has_title {
            // Before the title: `name: value` attributes and blank lines.
            if let Some((0, _)) = markdown_heading(line) {
                seen_title = true;
            }
            continue;
        }
        if let Some((level, text)) = markdown_heading(line) {
            let heading = markdown_inline(text);
            let anchor = anchors.github(github_slug(&heading));
            // A second `# ` heading counts as a top-level section.
            out.heading(level.max(1), heading, anchor);
            continue;
        }
        if let Some(text) = markdown_block_line(line) {
            out.line(&text);
        }
    }
    out.finish()
}

fn has_markdown_title(content: &str) -> bool {
    let mut fence = false;
    for line in content.lines() {
        if fence_of(line).is_some() {
            fence = !fence;
            continue;
        }
        if !fence && matches!(markdown_heading(line), Some((0, _))) {
            return true;
        }
    }
    false
}

fn markdown_block_line(line: &str) -> Option<String> {
    let mut text = line.trim();
    if text.is_empty() {
        return None;
    }
    // Setext underlines, thematic breaks, table separator rows, reference definitions.
    let marks_only = text.chars().all(|c| matches!(c, '=' | '-' | '*' | '_' | ' ' | '|' | ':'));
    if marks_only {
        return None;
    }
    if text.starts_with('[') && text.contains("]:") && !text.contains("](") {
        return None;
    }
    while let Some(rest) = text.strip_prefix('>') {
        text = rest.trim_start();
    }
    text = strip_list_marker(text, &['*', '-', '+']);
    if let Some(rest) = text.strip_prefix("[ ] ").or_else(|| text.strip_prefix("[x] ")) {
        text = rest;
    }
    let text = text.replace('|', " ");
    Some(markdown_inline(&strip_html(&text)))
}

/// Inline Markdown to plain text: images to their alt text, links to their text,
/// emphasis and code marks dropped.
fn markdown_inline(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while !rest.is_empty() {
        let image = rest.starts_with("![");
        if image || rest.starts_with('[') {
            let open = if image { 2 } else { 1 };
            if let Some(close) = rest[open..].find(']') {
                let label = &rest[open..open + close];
                let after = &rest[open + close + 1..];
                let skip = if after.starts_with('(') {
                    after.find(')').map(|end| end + 1)
                } else if after.starts_with('[') {
                    after.find(']').map(|end| end + 1)
                } else {
                    Some(0)
                };
                if let Some(skip) = skip {
                    out.push_str(&markdown_inline(label));
                    rest = &after[skip..];
                    continue;
                }
            }
        }
        if let Some(after) = rest.strip_prefix('<')
            && let Some(end) = after.find('>')
            && after[..end].contains("://")
        {
            out.push_str(&after[..end]);
            rest = &after[end + 1..];
            continue;
        }
        let Some(ch) = rest.chars().next() else { break };
        let prev = out.chars().last();
        let next = rest[ch.len_utf8()..].chars().next();
        let at_boundary =
            prev.is_none_or(|p| !p.is_alphanumeric()) || next.is_none_or(|n| !n.is_alphanumeric());
        match ch {
            '*' | '`' => {}
            '~' if rest.starts_with("~~") || prev == Some('~') => {}
            '_' if at_boundary => {}
            '\\' => {
                if let Some(n) = next {
                    out.push(n);
                    rest = &rest[ch.len_utf8() + n.len_utf8()..];
                    continue;
                }
            }
            _ => out.push(ch),
        }
        rest = &rest[ch.len_utf8()..];
    }
    out.trim().to_string()
}

/// Drops HTML tags (`<br>`, `<a href=…>`), keeping the text between them.
fn strip_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find('<') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        let is_tag = after.starts_with(|c: char| c.is_ascii_alphabetic() || c == '/' || c == '!');
        match after.find('>') {
            Some(end) if is_tag && (after.starts_with('a') || !after[..end].contains("://")) => {
                out.push(' ');
                rest = &after[end + 1..];
            }
            _ => {
                out.push('<');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// The words of a text as the typo index keeps them: lower case, letters and digits.
pub fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| (3..=40).contains(&w.chars().count()))
        .map(str::to_lowercase)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ADOC: &str = "\
:state: published
:discussion: https://github.com/o/r/pull/1
:authors: Ada <ada@example.com>

= RFD 12 Storage engine
Ada Lovelace <ada@example.com>
:toc: left

We need a *durable* store. See <<goals,the goals>>.

== Goals

The storage must survive `fsync` failures.

[[custom-id]]
=== Write-ahead log (WAL)

----
== not a heading
----

==== Deeper: details, more.

== Goals

https://example.com[the site] and link:other.adoc[Other doc].
";

    #[test]
    fn asciidoc_sections_have_hierarchy_and_anchors() {
        let sections = split(ContentFormat::Asciidoc, ADOC);
        let summary: Vec<(usize, Option<&str>, Vec<&str>)> = sections
            .iter()
            .map(|s| (s.level, s.anchor.as_deref(), s.headings.iter().map(String::as_str).collect()))
            .collect();
        assert_eq!(
            summary,
            vec![
                (0, None, vec![]),
                (1, Some("_goals"), vec!["Goals"]),
                (2, Some("custom-id"), vec!["Goals", "Write-ahead log (WAL)"]),
                (
                    3,
                    Some("_deeper_details_more"),
                    vec!["Goals", "Write-ahead log (WAL)", "Deeper: details, more."]
                ),
                (1, Some("_goals_2"), vec!["Goals"]),
            ]
        );
        assert_eq!(sections[0].content, "We need a durable store. See the goals.");
        assert_eq!(sections[1].content, "The storage must survive fsync failures.");
        assert_eq!(sections[2].content, "== not a heading");
        assert_eq!(sections[4].content, "the site and Other doc.");
    }

    #[test]
    fn asciidoc_honours_idprefix_and_idseparator() {
        let doc = "= T\n:idprefix:\n:idseparator: -\n\n== Hello World\n";
        let sections = split(ContentFormat::Asciidoc, doc);
        assert_eq!(sections[1].anchor.as_deref(), Some("hello-world"));
    }

    #[test]
    fn markdown_sections_use_github_anchors() {
        let doc = "\
state: published
discussion: https://github.com/o/r/pull/2

# RFD 3 Markdown things

Intro with **bold** and [a link](https://x.y).

## Why? (really)

```
## not a heading
```

### Sub_part `code`

## Why? (really)
";
        let sections = split(ContentFormat::Markdown, doc);
        let anchors: Vec<Option<&str>> = sections.iter().map(|s| s.anchor.as_deref()).collect();
        assert_eq!(anchors, vec![None, Some("why-really"), Some("sub_part-code"), Some("why-really-1")]);
        assert_eq!(sections[0].content, "Intro with bold and a link.");
        assert_eq!(sections[1].content, "## not a heading");
        assert_eq!(sections[2].headings, vec!["Why? (really)", "Sub_part code"]);
        assert_eq!(sections[2].level, 2);
    }

    #[test]
    fn markdown_is_not_read_as_asciidoc() {
        // `== x` is text in Markdown, and `*` marks emphasis.
        let doc = "# T\n\n== not a section\n\n* item *one*\n";
        let sections = split(ContentFormat::Markdown, doc);
        assert_eq!(sections.len(), 1);
        assert_eq!(sections[0].content, "== not a section item one");
    }

    #[test]
    fn odd_input_never_panics() {
        for doc in
            ["", "=", "= ", "==", "#", "[[", "<<", "https:[", "link:x[", "\u{1}= T\n== \u{2}", "# é\n## ü_ñ"]
        {
            let _ = split(ContentFormat::Asciidoc, doc);
            let _ = split(ContentFormat::Markdown, doc);
        }
    }
}
