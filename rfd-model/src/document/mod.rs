//! RFD documents: reading the title and the attributes (`state`, `discussion`,
//! `authors`, `labels`) out of an RFD's README, and writing attributes and the body back
//! without touching anything else.
//!
//! Both formats are handled by one type, [`RfdDocument`]. Parsing never fails on content:
//! a document without a title or a state is still a document, and [`RfdDocument::problems`]
//! says what is missing, so the caller can store it and flag it instead of dropping it.
//! The only errors are bytes that are not UTF-8 and input over [`MAX_DOCUMENT_SIZE`].
//!
//! Where things are looked for:
//!
//! - **AsciiDoc** (`README.adoc`): the title is the first level-0 heading (`= Title`,
//!   or the Markdown-style `# Title` Asciidoctor also accepts); attributes are `:name: value`
//!   entries before the title (where Oxide's RFDs keep them) or in the header right after
//!   the title and its author line, up to the first blank line. Comment blocks (`////`),
//!   line comments and verbatim blocks are skipped.
//! - **Markdown** (`README.md`): the title is the first `# ` heading outside fenced code;
//!   attributes are `name: value` lines before it, either bare or inside a `---` front
//!   matter block (where a `title:` also serves when there is no heading).
//!
//! In both, the first occurrence of an attribute wins and names match case-insensitively.
//! A document without a title has as header only the attribute lines it starts with (up to
//! the first blank or other line, as Asciidoctor reads a header); its body is the rest.
//! Header and body never overlap, so an attribute write leaves the body as it was and a
//! body write leaves the attributes. Writes keep the document's line endings (`\r\n`
//! stays `\r\n`) and a leading byte order mark.
//!
//! Not supported: AsciiDoc attribute values continued over several lines (a value ending
//! in ` \` is read up to the backslash, and refused on write), YAML lists in front matter
//! (`authors:` followed by `- name` lines reads as empty), and includes inside included
//! files (expansion is one level deep).

mod asciidoc;
mod lines;
mod markdown;

use std::fmt;
use std::ops::Range;
use std::str::FromStr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::types::ContentFormat;

/// The largest document [`RfdDocument::parse`] accepts, and that writes may produce: 8 MiB.
pub const MAX_DOCUMENT_SIZE: usize = 8 * 1024 * 1024;

/// Where an RFD is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum RfdState {
    /// Being written, not yet ready for discussion.
    Prediscussion,
    /// An idea recorded without a full proposal yet.
    Ideation,
    /// Open for discussion (usually with a pull request).
    Discussion,
    /// Discussed and merged.
    Published,
    /// Published and implemented.
    Committed,
    /// No longer pursued.
    Abandoned,
}

impl RfdState {
    /// Every state, in life-cycle order.
    pub const ALL: [RfdState; 6] = [
        RfdState::Prediscussion,
        RfdState::Ideation,
        RfdState::Discussion,
        RfdState::Published,
        RfdState::Committed,
        RfdState::Abandoned,
    ];

    /// The label used in documents, JSON and the database.
    pub fn as_str(&self) -> &'static str {
        match self {
            RfdState::Prediscussion => "prediscussion",
            RfdState::Ideation => "ideation",
            RfdState::Discussion => "discussion",
            RfdState::Published => "published",
            RfdState::Committed => "committed",
            RfdState::Abandoned => "abandoned",
        }
    }
}

impl fmt::Display for RfdState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A string that is not one of the [`RfdState`]s.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown RFD state {value:?}: expected one of prediscussion, ideation, discussion, published, committed, abandoned"
)]
pub struct UnknownRfdState {
    /// The text that was given.
    pub value: String,
}

impl FromStr for RfdState {
    type Err = UnknownRfdState;

    /// Parses a state label, ignoring ASCII case and surrounding whitespace.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim();
        RfdState::ALL
            .into_iter()
            .find(|state| state.as_str().eq_ignore_ascii_case(wanted))
            .ok_or_else(|| UnknownRfdState { value: s.to_owned() })
    }
}

/// An attribute of an RFD document that can be read and written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Attribute {
    /// `state`: see [`RfdState`].
    State,
    /// `discussion`: the URL where the RFD is discussed.
    Discussion,
    /// `authors`: who wrote it, `Name <email>` separated by `;`.
    Authors,
    /// `labels`: free-form labels, usually comma separated.
    Labels,
}

impl Attribute {
    /// Every attribute.
    pub const ALL: [Attribute; 4] =
        [Attribute::State, Attribute::Discussion, Attribute::Authors, Attribute::Labels];

    /// The attribute's name as written in documents.
    pub fn as_str(&self) -> &'static str {
        match self {
            Attribute::State => "state",
            Attribute::Discussion => "discussion",
            Attribute::Authors => "authors",
            Attribute::Labels => "labels",
        }
    }

    fn index(self) -> usize {
        match self {
            Attribute::State => 0,
            Attribute::Discussion => 1,
            Attribute::Authors => 2,
            Attribute::Labels => 3,
        }
    }

    fn from_name(name: &str) -> Option<Attribute> {
        Attribute::ALL.into_iter().find(|attr| attr.as_str().eq_ignore_ascii_case(name))
    }
}

impl fmt::Display for Attribute {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A string that names no [`Attribute`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown RFD attribute {value:?}: expected one of state, discussion, authors, labels")]
pub struct UnknownAttribute {
    /// The text that was given.
    pub value: String,
}

impl FromStr for Attribute {
    type Err = UnknownAttribute;

    /// Parses an attribute name, ignoring ASCII case and surrounding whitespace.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Attribute::from_name(s.trim()).ok_or_else(|| UnknownAttribute { value: s.to_owned() })
    }
}

/// Why a document could not be read or written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DocumentError {
    /// The bytes are not UTF-8.
    #[error("the document is not UTF-8 (valid up to byte {valid_up_to})")]
    NotUtf8 {
        /// How many leading bytes are valid UTF-8.
        valid_up_to: usize,
    },
    /// The document is, or a write would make it, larger than the cap.
    #[error("the document is {size} bytes, over the limit of {limit}")]
    TooLarge {
        /// The size in bytes.
        size: usize,
        /// The cap, [`MAX_DOCUMENT_SIZE`].
        limit: usize,
    },
    /// A value cannot be written.
    #[error("invalid value for {attribute}: {reason}")]
    InvalidValue {
        /// The attribute (or `body`) being written.
        attribute: &'static str,
        /// Why the value was refused.
        reason: String,
    },
}

/// Something wrong with a document that does not stop it being stored.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", tag = "kind", content = "value")]
#[non_exhaustive]
pub enum DocumentProblem {
    /// There is no title heading, or it is empty once the `RFD 123:` prefix is removed.
    MissingTitle,
    /// There is no `state` attribute, or it is empty.
    MissingState,
    /// The `state` attribute is not one of the [`RfdState`]s; holds the text as written.
    UnknownState(String),
    /// The `discussion` attribute is set but is not an http(s) URL; holds the text.
    InvalidDiscussion(String),
}

impl DocumentProblem {
    /// A stable machine-readable code: `missing_title`, `missing_state`, `unknown_state`,
    /// `invalid_discussion`.
    pub fn code(&self) -> &'static str {
        match self {
            DocumentProblem::MissingTitle => "missing_title",
            DocumentProblem::MissingState => "missing_state",
            DocumentProblem::UnknownState(_) => "unknown_state",
            DocumentProblem::InvalidDiscussion(_) => "invalid_discussion",
        }
    }
}

impl fmt::Display for DocumentProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DocumentProblem::MissingTitle => f.write_str("the document has no title"),
            DocumentProblem::MissingState => f.write_str("the document has no state attribute"),
            DocumentProblem::UnknownState(state) => write!(f, "unknown state {state:?}"),
            DocumentProblem::InvalidDiscussion(text) => {
                write!(f, "the discussion {text:?} is not an http(s) URL")
            }
        }
    }
}

/// Where an attribute is in the content.
#[derive(Debug, Clone, PartialEq, Eq)]
struct AttrEntry {
    /// Just after the name marker (`:state:` or `state:`): a write replaces from here…
    value_start: usize,
    /// …to here, the end of the line before its line ending.
    line_end: usize,
    /// The value as read: trimmed, and without quotes in YAML front matter.
    value: Range<usize>,
    /// Whether the entry is in Markdown front matter, where values may need quoting.
    front_matter: bool,
}

/// Where everything is in a document, found by the format's scanner.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
struct Layout {
    /// The title text, prefix stripped and trimmed; `None` when absent or empty.
    title: Option<Range<usize>>,
    /// Indexed by [`Attribute::index`].
    attrs: [Option<AttrEntry>; 4],
    /// AsciiDoc: the author line, references resolved and normalised.
    author_line: Option<String>,
    /// AsciiDoc: the author line as written.
    author_line_range: Option<Range<usize>>,
    /// Where the body begins.
    body_start: usize,
    /// Where a missing attribute's line goes: always the start of a line, or the end
    /// of a content that does not end with a line break.
    insert_at: usize,
    /// Whether `insert_at` is inside Markdown front matter.
    insert_in_front_matter: bool,
    /// AsciiDoc `include::target[]` lines.
    includes: Vec<IncludeLine>,
}

/// An `include::target[]` line.
#[derive(Debug, Clone, PartialEq, Eq)]
struct IncludeLine {
    /// The line, from its start to its end before the line ending.
    line: Range<usize>,
    /// Whether the line ends with a line break.
    terminated: bool,
    /// The target as written.
    target: Range<usize>,
}

/// An RFD's README, parsed: its content as given, and where its parts are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RfdDocument {
    format: ContentFormat,
    content: String,
    layout: Layout,
}

impl RfdDocument {
    /// Parses untrusted bytes.
    ///
    /// Errors only for input over [`MAX_DOCUMENT_SIZE`] ([`DocumentError::TooLarge`]) or
    /// not UTF-8 ([`DocumentError::NotUtf8`]); anything missing from the document is
    /// reported by [`RfdDocument::problems`] instead. Never panics.
    pub fn parse(format: ContentFormat, bytes: &[u8]) -> Result<Self, DocumentError> {
        check_size(bytes.len())?;
        let content = std::str::from_utf8(bytes)
            .map_err(|e| DocumentError::NotUtf8 { valid_up_to: e.valid_up_to() })?
            .to_owned();
        Ok(Self::from_content(format, content))
    }

    /// Parses text already known to be UTF-8. Errors only over [`MAX_DOCUMENT_SIZE`].
    pub fn from_text(format: ContentFormat, text: &str) -> Result<Self, DocumentError> {
        Self::parse(format, text.as_bytes())
    }

    fn from_content(format: ContentFormat, content: String) -> Self {
        let layout = scan(format, &content);
        Self { format, content, layout }
    }

    /// The markup the document is written in.
    pub fn format(&self) -> ContentFormat {
        self.format
    }

    /// The full text, exactly as given or as written back.
    pub fn content(&self) -> &str {
        &self.content
    }

    /// Consumes the document, returning its full text.
    pub fn into_content(self) -> String {
        self.content
    }

    /// The title without an `RFD 123:` / `RFD 123` prefix, trimmed; `None` when there is
    /// no title heading or it is empty.
    pub fn title(&self) -> Option<&str> {
        self.layout.title.clone().and_then(|r| self.content.get(r))
    }

    /// The `state` attribute's text as written (trimmed); `None` when absent or empty.
    pub fn state_raw(&self) -> Option<&str> {
        self.raw(Attribute::State)
    }

    /// The `state` attribute parsed; `None` when absent or not a known state.
    pub fn state(&self) -> Option<RfdState> {
        self.state_raw().and_then(|s| s.parse().ok())
    }

    /// The `discussion` attribute, only when it is an http(s) URL.
    pub fn discussion(&self) -> Option<&str> {
        self.raw(Attribute::Discussion).filter(|url| is_http_url(url))
    }

    /// Who wrote the RFD: the `authors` attribute as written, or else (AsciiDoc) the
    /// author line under the title, with attribute references resolved and authors
    /// separated by `; ` (`A B <a@x>, C <c@y>` reads as `A B <a@x>; C <c@y>`).
    pub fn authors(&self) -> Option<&str> {
        self.raw(Attribute::Authors).or(self.layout.author_line.as_deref())
    }

    /// The `labels` attribute as written (trimmed).
    pub fn labels(&self) -> Option<&str> {
        self.raw(Attribute::Labels)
    }

    /// The value of `attr`, as its own accessor gives it.
    pub fn attribute(&self, attr: Attribute) -> Option<&str> {
        match attr {
            Attribute::State => self.state_raw(),
            Attribute::Discussion => self.discussion(),
            Attribute::Authors => self.authors(),
            Attribute::Labels => self.labels(),
        }
    }

    /// The text after the header: after the title line (and, in AsciiDoc, the author line
    /// and the attribute entries under the title). Comparing bodies tells a major change
    /// from an attribute-only edit.
    pub fn body(&self) -> &str {
        self.content.get(self.layout.body_start..).unwrap_or_default()
    }

    /// What is wrong with the document; empty when nothing is.
    pub fn problems(&self) -> Vec<DocumentProblem> {
        let mut problems = Vec::new();
        if self.title().is_none() {
            problems.push(DocumentProblem::MissingTitle);
        }
        match self.state_raw() {
            None => problems.push(DocumentProblem::MissingState),
            Some(raw) if raw.parse::<RfdState>().is_err() => {
                problems.push(DocumentProblem::UnknownState(raw.to_owned()))
            }
            Some(_) => {}
        }
        if let Some(raw) = self.raw(Attribute::Discussion).filter(|url| !is_http_url(url)) {
            problems.push(DocumentProblem::InvalidDiscussion(raw.to_owned()));
        }
        problems
    }

    /// Sets an attribute: replaces the value on its line, or inserts a line for it in the
    /// header (AsciiDoc: next to the other attribute entries, or under the title and author
    /// line; Markdown: at the end of the front matter, or before the title), changing
    /// nothing else. Returns whether the content changed.
    ///
    /// The value is trimmed; an empty value leaves the attribute empty (read as absent).
    /// Refused with [`DocumentError::InvalidValue`]: a value with a line break, a state
    /// that is not an [`RfdState`] (states are written in their canonical spelling), a
    /// discussion that is not an http(s) URL, an AsciiDoc value ending in `\` (a line
    /// continuation), and any value that would not read back as written.
    pub fn set_attribute(&mut self, attr: Attribute, value: &str) -> Result<bool, DocumentError> {
        let value = self.validate(attr, value)?;
        let value = value.as_str();
        let index = attr.index();
        if self.raw(attr).unwrap_or_default() == value {
            return Ok(false);
        }
        let name = attr.as_str();
        let mut content = String::with_capacity(self.content.len() + name.len() + value.len() + 4);
        match &self.layout.attrs[index] {
            Some(entry) => {
                content.push_str(self.content.get(..entry.value_start).unwrap_or_default());
                if !value.is_empty() {
                    content.push(' ');
                    content.push_str(&encode_value(value, entry.front_matter));
                }
                content.push_str(self.content.get(entry.line_end..).unwrap_or_default());
            }
            None => {
                let front_matter = self.layout.insert_in_front_matter;
                let line = match self.format {
                    ContentFormat::Asciidoc => format!(":{name}: {value}"),
                    ContentFormat::Markdown => format!("{name}: {}", encode_value(value, front_matter)),
                };
                let at = self.layout.insert_at.min(self.content.len());
                let head = self.content.get(..at).unwrap_or_default();
                let tail = self.content.get(at..).unwrap_or_default();
                let eol = lines::line_ending(&self.content);
                content.push_str(head);
                if tail.is_empty() && at > lines::content_start(&self.content) && !head.ends_with('\n') {
                    content.push_str(eol);
                    content.push_str(line.trim_end());
                } else {
                    content.push_str(line.trim_end());
                    content.push_str(eol);
                }
                content.push_str(tail);
            }
        }
        let updated = Self::from_content(self.format, content);
        check_size(updated.content.len())?;
        // Nothing but this attribute may change; if the new line would be read otherwise
        // (an unforeseen interaction with the surrounding text), refuse rather than corrupt.
        // (An author line may change with `authors` when it refers to `{authors}`.)
        let reads_back = updated.raw(attr).unwrap_or_default() == value;
        let others_kept = Attribute::ALL
            .into_iter()
            .filter(|other| *other != attr)
            .all(|other| updated.raw(other) == self.raw(other))
            && updated.title() == self.title()
            && updated.author_line_text() == self.author_line_text()
            && updated.body() == self.body();
        if !reads_back || !others_kept {
            return Err(DocumentError::InvalidValue {
                attribute: name,
                reason: "the value would not read back as written in this document".to_owned(),
            });
        }
        *self = updated;
        Ok(true)
    }

    /// Replaces the body (see [`RfdDocument::body`]), keeping the header, the title and, in
    /// AsciiDoc, the author line and attributes unchanged. Returns whether the content
    /// changed. When the body's first lines would otherwise be read as part of the header,
    /// a blank line is put between them. Errors when the result would be over the size cap.
    pub fn set_body(&mut self, body: &str) -> Result<bool, DocumentError> {
        if self.body() == body {
            return Ok(false);
        }
        let head = self.content.get(..self.layout.body_start).unwrap_or_default();
        let eol = lines::line_ending(&self.content);
        check_size(head.len() + eol.len() * 2 + body.len())?;
        let mut separator = String::new();
        if !head.is_empty() && !head.ends_with('\n') && !body.is_empty() {
            separator.push_str(eol);
        }
        for attempt in 0..2 {
            if attempt == 1 {
                separator.push_str(eol);
            }
            let content = format!("{head}{separator}{body}");
            let updated = Self::from_content(self.format, content);
            let header_kept = Attribute::ALL.into_iter().all(|attr| updated.raw(attr) == self.raw(attr))
                && updated.author_line_text() == self.author_line_text()
                && (self.title().is_none() || updated.title() == self.title())
                && updated.body().ends_with(body);
            if header_kept {
                *self = updated;
                return Ok(true);
            }
        }
        Err(DocumentError::InvalidValue {
            attribute: "body",
            reason: "the body would change the document's header".to_owned(),
        })
    }

    /// The targets of `include::target[]` lines (AsciiDoc), in order, as written.
    pub fn includes(&self) -> Vec<String> {
        self.layout
            .includes
            .iter()
            .filter_map(|include| self.content.get(include.target.clone()))
            .map(str::to_owned)
            .collect()
    }

    /// The content with each `include::target[]` line replaced by what `read` returns for
    /// its target, a path relative to the RFD's folder. Targets that could leave the folder
    /// (absolute, `..`, a URL, a drive letter, a backslash, an attribute reference) are not
    /// read, and their lines, like those `read` returns `None` for, are left as they are.
    /// Included text is not searched for further includes.
    pub fn expand_includes(&self, mut read: impl FnMut(&str) -> Option<String>) -> String {
        let mut out = String::with_capacity(self.content.len());
        let mut copied = 0;
        for include in &self.layout.includes {
            let Some(target) = self.content.get(include.target.clone()) else {
                continue;
            };
            if !is_safe_include_target(target) {
                continue;
            }
            let Some(text) = read(target) else {
                continue;
            };
            out.push_str(self.content.get(copied..include.line.start).unwrap_or_default());
            out.push_str(&text);
            let line_break_end = if include.terminated {
                // Keep the include line's own line break unless the text brings one.
                let rest = self.content.get(include.line.end..).unwrap_or_default();
                let len = if rest.starts_with("\r\n") { 2 } else { 1 };
                if !text.is_empty() && !text.ends_with('\n') {
                    out.push_str(rest.get(..len).unwrap_or_default());
                }
                include.line.end + len
            } else {
                include.line.end
            };
            copied = line_break_end;
        }
        out.push_str(self.content.get(copied..).unwrap_or_default());
        out
    }

    /// The raw value of an attribute entry; `None` when absent or empty.
    fn raw(&self, attr: Attribute) -> Option<&str> {
        self.layout.attrs[attr.index()]
            .as_ref()
            .and_then(|entry| self.content.get(entry.value.clone()))
            .filter(|value| !value.is_empty())
    }

    /// The AsciiDoc author line as written.
    fn author_line_text(&self) -> Option<&str> {
        self.layout.author_line_range.clone().and_then(|range| self.content.get(range))
    }

    fn validate(&self, attr: Attribute, value: &str) -> Result<String, DocumentError> {
        let invalid = |reason: &str| DocumentError::InvalidValue {
            attribute: attr.as_str(),
            reason: reason.to_owned(),
        };
        if value.contains(['\n', '\r']) {
            return Err(invalid("values are single-line: it contains a line break"));
        }
        let value = value.trim();
        if value.is_empty() {
            return Ok(String::new());
        }
        match attr {
            Attribute::State => {
                let state: RfdState = value.parse().map_err(|e: UnknownRfdState| invalid(&e.to_string()))?;
                return Ok(state.as_str().to_owned());
            }
            Attribute::Discussion if !is_http_url(value) => {
                return Err(invalid("a discussion must be an http(s) URL"));
            }
            _ => {}
        }
        if self.format == ContentFormat::Asciidoc && value.ends_with('\\') {
            return Err(invalid("an AsciiDoc value ending in `\\` would continue onto the next line"));
        }
        Ok(value.to_owned())
    }
}

fn scan(format: ContentFormat, content: &str) -> Layout {
    match format {
        ContentFormat::Asciidoc => asciidoc::scan(content),
        ContentFormat::Markdown => markdown::scan(content),
    }
}

fn check_size(size: usize) -> Result<(), DocumentError> {
    if size > MAX_DOCUMENT_SIZE {
        return Err(DocumentError::TooLarge { size, limit: MAX_DOCUMENT_SIZE });
    }
    Ok(())
}

/// Whether `url` is an http(s) URL with something after the scheme.
fn is_http_url(url: &str) -> bool {
    let lower_prefix = |prefix: &str| {
        url.get(..prefix.len()).is_some_and(|head| head.eq_ignore_ascii_case(prefix))
            && url.len() > prefix.len()
    };
    (lower_prefix("https://") || lower_prefix("http://")) && !url.contains(char::is_whitespace)
}

/// Whether an include target stays inside the RFD's folder.
pub fn is_safe_include_target(target: &str) -> bool {
    !target.is_empty()
        && !target.starts_with('/')
        && !target.starts_with('~')
        && !target.contains(['\\', '{', '}', '\0'])
        && !target.contains(':')
        && !target.split('/').any(|part| part == "..")
}

/// Writes a value for a Markdown front matter line: quoted when YAML would read it as
/// something else, or when its own quotes would be taken off on reading.
fn encode_value(value: &str, front_matter: bool) -> std::borrow::Cow<'_, str> {
    if !front_matter || !markdown::needs_yaml_quotes(value) {
        return value.into();
    }
    if !value.contains('\'') {
        format!("'{value}'").into()
    } else if !value.contains(['"', '\\']) {
        format!("\"{value}\"").into()
    } else {
        value.into()
    }
}

/// Strips an `RFD 123:` / `RFD 123` / `RFD 123 -` prefix from a title and trims it.
fn strip_rfd_prefix(title: &str) -> &str {
    let title = title.trim();
    let Some(rest) =
        title.get(..3).filter(|head| head.eq_ignore_ascii_case("rfd")).and_then(|_| title.get(3..))
    else {
        return title;
    };
    let rest = rest.trim_start();
    let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    if digits == 0 {
        return title;
    }
    let after = rest.get(digits..).unwrap_or_default();
    if after.is_empty() {
        return "";
    }
    if let Some(tail) = after.strip_prefix(':') {
        return tail.trim();
    }
    if !after.starts_with(char::is_whitespace) {
        // `RFD 12abc` is not a numbered prefix.
        return title;
    }
    let after = after.trim_start();
    for separator in [":", "-", "\u{2013}", "\u{2014}"] {
        if let Some(tail) = after.strip_prefix(separator)
            && (tail.is_empty() || tail.starts_with(char::is_whitespace))
        {
            return tail.trim();
        }
    }
    after.trim()
}

/// Where `inner`, a slice of `outer`, starts within it.
fn offset_in(outer: &str, inner: &str) -> usize {
    (inner.as_ptr() as usize).saturating_sub(outer.as_ptr() as usize)
}

/// The byte range of `inner`, a slice of `outer`, within it.
fn range_in(outer: &str, inner: &str) -> Range<usize> {
    let start = offset_in(outer, inner);
    start..start + inner.len()
}
