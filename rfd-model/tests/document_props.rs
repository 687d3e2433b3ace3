//! Properties of RFD document parsing and writing, over generated input: parsing never
//! panics, and a write changes exactly the line it is about.

use proptest::prelude::*;
use rfd_model::ContentFormat::{self, Asciidoc, Markdown};
use rfd_model::document::{Attribute, DocumentError, RfdDocument, RfdState};

fn format() -> impl Strategy<Value = ContentFormat> {
    prop_oneof![Just(Asciidoc), Just(Markdown)]
}

fn attribute() -> impl Strategy<Value = Attribute> {
    prop::sample::select(Attribute::ALL.to_vec())
}

/// Lines that look like structure in one format or the other, mixed with free text.
fn line() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-zA-Z0-9 .,;:=#*/{}<>'\"\\\\-]{0,30}",
        2 => "[^\r\n]{0,20}",
        1 => prop::sample::select(vec![
            "", " ", "---", "...", "----", "////", "```", "~~~", "// comment", "= Title", "= RFD 12: Title",
            "# Title", "# RFD 3 Title", "== Section", ":state: published", ":state:", ":discussion: https://x.example.com",
            ":authors: A <a@example.com>", ":labels: a, b", "state: ideation", "labels:", "authors: B",
            "discussion: http://d.example.com", "title: Front", "{authors}", "A Person <a@example.com>, B <b@example.com>",
            "include::a.adoc[]", "include::../up.adoc[]", ":toc: left", "[abstract]", "\u{feff}", ":tc:\r", "{labels}",
        ]).prop_map(str::to_owned),
    ]
}

/// A document: lines, a line ending, and whether the last line has one.
fn document() -> impl Strategy<Value = (ContentFormat, String)> {
    (format(), prop::collection::vec(line(), 0..24), prop::bool::ANY, prop::bool::ANY).prop_map(
        |(format, lines, crlf, trailing)| {
            let eol = if crlf { "\r\n" } else { "\n" };
            let mut text = lines.join(eol);
            if trailing && !text.is_empty() {
                text.push_str(eol);
            }
            (format, text)
        },
    )
}

/// A single-line value fit for `attr`.
fn value(attr: Attribute) -> BoxedStrategy<String> {
    match attr {
        Attribute::State => (prop::sample::select(RfdState::ALL.to_vec()), " {0,2}", prop::bool::ANY)
            .prop_map(|(state, pad, upper)| {
                let label = if upper { state.as_str().to_uppercase() } else { state.as_str().to_owned() };
                format!("{pad}{label}{pad}")
            })
            .boxed(),
        Attribute::Discussion => {
            ("https?://", "[^\r\n\\s]{1,30}").prop_map(|(s, rest)| format!("{s}{rest}")).boxed()
        }
        _ => "[^\r\n]{0,40}".boxed(),
    }
}

fn parse(format: ContentFormat, text: &str) -> RfdDocument {
    match RfdDocument::parse(format, text.as_bytes()) {
        Ok(doc) => doc,
        Err(e) => panic!("text must parse: {e}"),
    }
}

/// Whether `after` is `before` with one line replaced or inserted, and everything else,
/// line endings included, byte for byte the same. Returns the new line.
/// (A line added after a last line without a line ending gives that line one: so both
/// texts are compared with one more line ending.)
fn one_line_changed(before: &str, after: &str) -> Option<String> {
    // A byte order mark stays in front; a line inserted first goes after it.
    let (before, after) = match (before.strip_prefix('\u{feff}'), after.strip_prefix('\u{feff}')) {
        (Some(before), Some(after)) => (before, after),
        (None, None) => (before, after),
        _ => return None,
    };
    let eol = if before.contains("\r\n") { "\r\n" } else { "\n" };
    let (before, after) = if before.ends_with('\n') || before.is_empty() {
        (before.to_owned(), after.to_owned())
    } else {
        (format!("{before}{eol}"), format!("{after}{eol}"))
    };
    let old: Vec<&str> = before.split('\n').collect();
    let new: Vec<&str> = after.split('\n').collect();
    let prefix = old.iter().zip(&new).take_while(|(a, b)| a == b).count();
    let suffix =
        old[prefix..].iter().rev().zip(new[prefix..].iter().rev()).take_while(|(a, b)| a == b).count();
    let removed = &old[prefix..old.len() - suffix];
    let added = &new[prefix..new.len() - suffix];
    (removed.len() <= 1 && added.len() == 1).then(|| added[0].to_owned())
}

proptest! {
    // 2000 cases by default; `PROPTEST_CASES=100000` for a longer search.
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(2000),
        ..ProptestConfig::default()
    })]

    #[test]
    fn parsing_arbitrary_bytes_never_panics(format in format(), bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        if let Ok(doc) = RfdDocument::parse(format, &bytes) {
            prop_assert_eq!(doc.content().as_bytes(), &bytes[..]);
            let _ = (doc.title(), doc.state(), doc.discussion(), doc.authors(), doc.labels(), doc.problems());
            prop_assert!(doc.content().ends_with(doc.body()));
            let _ = doc.expand_includes(|path| Some(path.to_owned()));
        }
    }

    #[test]
    fn parsing_generated_documents_never_panics((format, text) in document()) {
        let doc = parse(format, &text);
        prop_assert!(text.ends_with(doc.body()));
        if let Some(title) = doc.title() {
            prop_assert!(!title.is_empty() && title == title.trim());
        }
        for attr in Attribute::ALL {
            if let Some(value) = doc.attribute(attr) {
                prop_assert!(!value.is_empty() && !value.contains('\n'));
            }
        }
    }

    #[test]
    fn set_attribute_reads_back_and_changes_one_line(
        (format, text) in document(),
        (attr, value) in attribute().prop_flat_map(|attr| (Just(attr), value(attr))),
    ) {
        let before = parse(format, &text);
        let mut doc = before.clone();
        match doc.set_attribute(attr, &value) {
            Ok(changed) => {
                let expected = value.trim();
                let reparsed = parse(format, doc.content());
                prop_assert_eq!(&reparsed, &doc);
                match attr {
                    Attribute::State => prop_assert_eq!(reparsed.state(), expected.parse().ok()),
                    // An emptied `authors` falls back to the AsciiDoc author line.
                    Attribute::Authors if expected.is_empty() => {}
                    _ => prop_assert_eq!(reparsed.attribute(attr).unwrap_or_default(), expected),
                }
                // (An AsciiDoc author line may refer to the attribute, any case: `{Labels}`.)
                let reference = format!("{{{attr}}}");
                for other in Attribute::ALL.into_iter().filter(|other| *other != attr) {
                    if other == Attribute::Authors && text.to_ascii_lowercase().contains(&reference) {
                        continue;
                    }
                    prop_assert_eq!(reparsed.attribute(other), before.attribute(other), "{} moved", other);
                }
                prop_assert_eq!(reparsed.title(), before.title());
                prop_assert_eq!(reparsed.body(), before.body());
                if changed {
                    let line = one_line_changed(&text, doc.content());
                    prop_assert!(line.is_some(), "more than one line changed:\n{:?}\n{:?}", text, doc.content());
                    let line = line.unwrap_or_default();
                    prop_assert!(line.to_ascii_lowercase().contains(attr.as_str()), "{:?}", line);
                    if text.contains("\r\n") && !text.replace("\r\n", "").contains('\n') {
                        prop_assert!(!doc.content().replace("\r\n", "").contains('\n'), "a bare line feed was written");
                    }
                } else {
                    prop_assert_eq!(doc.content(), text.as_str());
                }
                // Setting it again changes nothing.
                let once = doc.content().to_owned();
                prop_assert_eq!(doc.set_attribute(attr, &value), Ok(false));
                prop_assert_eq!(doc.content(), once.as_str());
            }
            Err(DocumentError::InvalidValue { attribute, .. }) => {
                prop_assert_eq!(attribute, attr.as_str());
                prop_assert_eq!(doc.content(), text.as_str());
                // Refused only where the format cannot hold the value.
                let trimmed = value.trim();
                let refusable = match format {
                    Asciidoc => trimmed.ends_with('\\'),
                    Markdown => trimmed.contains('\'') && trimmed.contains(['"', '\\']),
                };
                prop_assert!(refusable, "refused {:?} in {:?}", value, text);
            }
            Err(e) => prop_assert!(false, "unexpected error {}", e),
        }
    }

    #[test]
    fn set_body_keeps_the_header(
        (format, text) in document(),
        body in prop::collection::vec(line(), 0..6).prop_map(|lines| lines.join("\n")),
    ) {
        let before = parse(format, &text);
        let head_len = text.len() - before.body().len();
        let mut doc = before.clone();
        match doc.set_body(&body) {
            Ok(_) => {
                prop_assert!(doc.content().starts_with(&text[..head_len]));
                prop_assert!(doc.body().ends_with(&body));
                for attr in Attribute::ALL {
                    prop_assert_eq!(doc.attribute(attr), before.attribute(attr));
                }
                if before.title().is_some() {
                    prop_assert_eq!(doc.title(), before.title());
                }
                prop_assert_eq!(&parse(format, doc.content()), &doc);
            }
            Err(e) => {
                let refused = matches!(e, DocumentError::InvalidValue { attribute: "body", .. });
                prop_assert!(refused, "unexpected error {}", e);
                prop_assert_eq!(doc.content(), text.as_str());
            }
        }
    }
}
