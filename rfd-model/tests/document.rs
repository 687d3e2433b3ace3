//! RFD documents: reading titles and attributes from AsciiDoc and Markdown RFDs, and
//! writing them back without disturbing anything else.

use rfd_model::ContentFormat::{self, Asciidoc, Markdown};
use rfd_model::document::{
    Attribute, DocumentError, DocumentProblem, MAX_DOCUMENT_SIZE, RfdDocument, RfdState,
};

fn doc(format: ContentFormat, text: &str) -> RfdDocument {
    match RfdDocument::parse(format, text.as_bytes()) {
        Ok(doc) => doc,
        Err(e) => panic!("a text document must parse: {e}"),
    }
}

/// The lines of `after` that are not lines of `before` at the same place: what a write
/// changed. Lines are split on `\n` only, so a `\r` that went missing shows up.
fn changed_lines(before: &str, after: &str) -> (Vec<String>, Vec<String>) {
    let old: Vec<&str> = before.split('\n').collect();
    let new: Vec<&str> = after.split('\n').collect();
    let prefix = old.iter().zip(&new).take_while(|(a, b)| a == b).count();
    let suffix =
        old[prefix..].iter().rev().zip(new[prefix..].iter().rev()).take_while(|(a, b)| a == b).count();
    let removed = old[prefix..old.len() - suffix].iter().map(|s| s.to_string()).collect();
    let added = new[prefix..new.len() - suffix].iter().map(|s| s.to_string()).collect();
    (removed, added)
}

const OXIDE_STYLE: &str = "\
:showtitle:
:toc: left
:numbered:
:icons: font
:state: published
:discussion: https://github.com/oxidecomputer/rfd/pull/1
:revremark: State: {state} | {discussion}
:authors: Jess Frazelle <jess@example.com>, Joe Bloggs <joe@example.com>
:labels: process, meta

= RFD 1 Requests for Discussion
{authors}

Writing down ideas is important.

== Background

:state: ignored-in-the-body
";

const MARKDOWN_FRONT_MATTER: &str = "\
---
authors: First Last <first@example.com>
state: discussion
discussion: https://github.com/company/repo/pull/123
labels: api, storage
---

# RFD 123: Storage of Things

Some text.

state: not-an-attribute
";

// ---------------------------------------------------------------- AsciiDoc reading

#[test]
fn asciidoc_reads_attributes_before_the_title() {
    let d = doc(Asciidoc, OXIDE_STYLE);
    assert_eq!(d.format(), Asciidoc);
    assert_eq!(d.title(), Some("Requests for Discussion"));
    assert_eq!(d.state_raw(), Some("published"));
    assert_eq!(d.state(), Some(RfdState::Published));
    assert_eq!(d.discussion(), Some("https://github.com/oxidecomputer/rfd/pull/1"));
    assert_eq!(d.authors(), Some("Jess Frazelle <jess@example.com>, Joe Bloggs <joe@example.com>"));
    assert_eq!(d.labels(), Some("process, meta"));
    assert_eq!(d.attribute(Attribute::Labels), Some("process, meta"));
    assert_eq!(
        d.body(),
        "\nWriting down ideas is important.\n\n== Background\n\n:state: ignored-in-the-body\n"
    );
    assert!(d.problems().is_empty(), "{:?}", d.problems());
    assert_eq!(d.content(), OXIDE_STYLE);
}

#[test]
fn asciidoc_reads_attributes_under_the_title_and_author_line() {
    let text = "= RFD 42: A Title\nAda Lovelace <ada@example.com>, Charles Babbage <cb@example.com>\n:state: discussion\n// a comment\n:labels: one\n\nBody.\n:discussion: https://ignored.example.com\n";
    let d = doc(Asciidoc, text);
    assert_eq!(d.title(), Some("A Title"));
    assert_eq!(d.authors(), Some("Ada Lovelace <ada@example.com>; Charles Babbage <cb@example.com>"));
    assert_eq!(d.state(), Some(RfdState::Discussion));
    assert_eq!(d.labels(), Some("one"));
    assert_eq!(d.discussion(), None, "attribute entries in the body are not the header's");
    assert_eq!(d.body(), "\nBody.\n:discussion: https://ignored.example.com\n");
}

#[test]
fn asciidoc_title_prefixes_are_stripped() {
    for (line, title) in [
        ("= RFD 123 Title Here", Some("Title Here")),
        ("= RFD 123: Title Here", Some("Title Here")),
        ("= RFD123: Title Here", Some("Title Here")),
        ("= rfd 7 - Dashed", Some("Dashed")),
        ("= RFD 7 \u{2014} Em dashed", Some("Em dashed")),
        ("=   Plain title  ", Some("Plain title")),
        ("= 2024 Roadmap", Some("2024 Roadmap")),
        ("= RFD 12abc", Some("RFD 12abc")),
        ("= RFDs and how to write them", Some("RFDs and how to write them")),
        ("= RFD 123", None),
        ("= RFD 123:", None),
        ("# RFD 9 Markdown-style heading", Some("Markdown-style heading")),
    ] {
        let d = doc(Asciidoc, &format!("{line}\n\nbody\n"));
        assert_eq!(d.title(), title, "{line}");
        assert_eq!(d.problems().contains(&DocumentProblem::MissingTitle), title.is_none(), "{line}");
    }
}

#[test]
fn asciidoc_title_is_the_first_level_zero_heading_outside_blocks() {
    let text = "// = Commented\n////\n= In a comment block\n////\n----\n= In a listing\n----\n== Section\n= The Title\n= Second\n";
    assert_eq!(doc(Asciidoc, text).title(), Some("The Title"));
}

#[test]
fn asciidoc_comments_are_not_attributes() {
    let text = "// :state: published\n////\n:state: committed\n////\n:state: ideation\n= T\n";
    assert_eq!(doc(Asciidoc, text).state(), Some(RfdState::Ideation));
}

#[test]
fn asciidoc_first_occurrence_wins_across_the_header() {
    let text = ":state: ideation\n= T\n:state: published\n:labels: first\n:labels: second\n";
    let d = doc(Asciidoc, text);
    assert_eq!(d.state(), Some(RfdState::Ideation));
    assert_eq!(d.labels(), Some("first"));
}

#[test]
fn asciidoc_author_line_resolves_references() {
    let d = doc(Asciidoc, ":leads: X Y <x@example.com>; Z <z@example.com>\n= T\n{leads}\n\nbody\n");
    assert_eq!(d.authors(), Some("X Y <x@example.com>; Z <z@example.com>"));
    let d = doc(Asciidoc, "= T\n{authors}\n\nbody\n");
    assert_eq!(d.authors(), None, "an unresolved reference names nobody");
    assert_eq!(d.body(), "\nbody\n", "but the author line is still the author line");
}

#[test]
fn asciidoc_author_line_must_follow_the_title() {
    let d = doc(Asciidoc, "= T\n\nNot An Author\n");
    assert_eq!(d.authors(), None);
    assert_eq!(d.body(), "\nNot An Author\n");
    let d = doc(Asciidoc, "= T\n:state: ideation\nNot An Author\n");
    assert_eq!(d.authors(), None);
    assert_eq!(d.body(), "Not An Author\n");
    let d = doc(Asciidoc, "= T\n[abstract]\nAbstract.\n");
    assert_eq!(d.authors(), None);
}

#[test]
fn asciidoc_empty_and_odd_attribute_values() {
    let text = ":state:\n:discussion:\n:labels:    \n:authors!:\n= T\n";
    let d = doc(Asciidoc, text);
    assert_eq!(d.state_raw(), None);
    assert_eq!(d.discussion(), None);
    assert_eq!(d.labels(), None);
    assert_eq!(d.authors(), None);
    assert_eq!(d.problems(), vec![DocumentProblem::MissingState]);
}

#[test]
fn only_http_urls_are_discussions() {
    for (value, url) in [
        ("https://github.com/o/r/pull/1", true),
        ("http://example.com/x", true),
        ("HTTPS://EXAMPLE.COM", true),
        ("github.com/o/r/pull/1", false),
        ("ftp://example.com", false),
        ("https://", false),
        ("javascript:alert(1)", false),
    ] {
        let d = doc(Asciidoc, &format!(":discussion: {value}\n:state: ideation\n= T\n"));
        assert_eq!(d.discussion().is_some(), url, "{value}");
        assert_eq!(
            d.problems().contains(&DocumentProblem::InvalidDiscussion(value.to_owned())),
            !url,
            "{value}"
        );
    }
}

// ---------------------------------------------------------------- Markdown reading

#[test]
fn markdown_reads_front_matter() {
    let d = doc(Markdown, MARKDOWN_FRONT_MATTER);
    assert_eq!(d.format(), Markdown);
    assert_eq!(d.title(), Some("Storage of Things"));
    assert_eq!(d.state(), Some(RfdState::Discussion));
    assert_eq!(d.discussion(), Some("https://github.com/company/repo/pull/123"));
    assert_eq!(d.authors(), Some("First Last <first@example.com>"));
    assert_eq!(d.labels(), Some("api, storage"));
    assert_eq!(d.body(), "\nSome text.\n\nstate: not-an-attribute\n");
    assert!(d.problems().is_empty());
}

#[test]
fn markdown_reads_bare_attribute_lines_before_the_title() {
    let text = "authors: A <a@example.com>\nstate: Published\nlabels: x\n\n# RFD 5 Title\n\nauthors: nope\n";
    let d = doc(Markdown, text);
    assert_eq!(d.title(), Some("Title"));
    assert_eq!(d.state_raw(), Some("Published"));
    assert_eq!(d.state(), Some(RfdState::Published));
    assert_eq!(d.authors(), Some("A <a@example.com>"));
    assert_eq!(d.labels(), Some("x"));
    assert_eq!(d.discussion(), None);
}

#[test]
fn markdown_unquotes_front_matter_values() {
    let text =
        "---\nstate: \"published\"\nlabels: 'a: b'\ntitle: ignored when there is a heading\n---\n# Real\n";
    let d = doc(Markdown, text);
    assert_eq!(d.state(), Some(RfdState::Published));
    assert_eq!(d.labels(), Some("a: b"));
    assert_eq!(d.title(), Some("Real"));
}

#[test]
fn markdown_front_matter_title_when_there_is_no_heading() {
    let d = doc(Markdown, "---\ntitle: RFD 9: From Front Matter\nstate: ideation\n---\nText.\n");
    assert_eq!(d.title(), Some("From Front Matter"));
    assert_eq!(d.body(), "Text.\n");
}

#[test]
fn markdown_title_skips_code_and_other_levels() {
    let text =
        "state: ideation\n```\n# not a title\n```\n## Section\n#hashtag\n# RFD 3 The Title #\n# Later\n";
    assert_eq!(doc(Markdown, text).title(), Some("The Title"));
    assert_eq!(
        doc(Markdown, "no heading at all\n").problems(),
        vec![DocumentProblem::MissingTitle, DocumentProblem::MissingState]
    );
}

#[test]
fn markdown_ignores_asciidoc_syntax_and_vice_versa() {
    let text = ":state: published\n= Title\n";
    let d = doc(Markdown, text);
    assert_eq!((d.state_raw(), d.title()), (None, None));
    let d = doc(Asciidoc, "state: published\n# Title\n");
    assert_eq!((d.state_raw(), d.title()), (None, Some("Title")));
}

// ---------------------------------------------------------------- states and attributes

#[test]
fn states_parse_loosely_and_print_canonically() {
    for state in RfdState::ALL {
        assert_eq!(state.as_str().parse::<RfdState>(), Ok(state));
        assert_eq!(format!("  {}\t", state.as_str().to_uppercase()).parse::<RfdState>(), Ok(state));
        assert_eq!(state.to_string(), state.as_str());
        assert_eq!(serde_json::to_string(&state).ok(), Some(format!("\"{}\"", state.as_str())));
    }
    let Err(e) = "pre-discussion".parse::<RfdState>() else { panic!("not a state") };
    let message = e.to_string();
    for state in RfdState::ALL {
        assert!(message.contains(state.as_str()), "{message}");
    }
    assert_eq!(serde_json::from_str::<RfdState>("\"committed\"").ok(), Some(RfdState::Committed));
}

#[test]
fn attributes_have_names() {
    let names: Vec<&str> = Attribute::ALL.iter().map(Attribute::as_str).collect();
    assert_eq!(names, ["state", "discussion", "authors", "labels"]);
    for attr in Attribute::ALL {
        assert_eq!(attr.as_str().to_uppercase().parse::<Attribute>(), Ok(attr));
        assert_eq!(attr.to_string(), attr.as_str());
    }
    assert!("title".parse::<Attribute>().is_err());
}

#[test]
fn unknown_and_missing_states_are_problems_not_errors() {
    let d = doc(Asciidoc, ":state: pondering\n= T\n");
    assert_eq!(d.state_raw(), Some("pondering"));
    assert_eq!(d.state(), None);
    assert_eq!(d.problems(), vec![DocumentProblem::UnknownState("pondering".to_owned())]);
    let d = doc(Asciidoc, "");
    assert_eq!(d.problems(), vec![DocumentProblem::MissingTitle, DocumentProblem::MissingState]);
    assert_eq!(d.body(), "");
}

// ---------------------------------------------------------------- parse errors

#[test]
fn parse_refuses_only_non_utf8_and_oversized_input() {
    assert_eq!(
        RfdDocument::parse(Asciidoc, b"= T\n\xff\xfe"),
        Err(DocumentError::NotUtf8 { valid_up_to: 4 })
    );
    let big = vec![b'a'; MAX_DOCUMENT_SIZE + 1];
    assert_eq!(
        RfdDocument::parse(Markdown, &big),
        Err(DocumentError::TooLarge { size: MAX_DOCUMENT_SIZE + 1, limit: 8 * 1024 * 1024 })
    );
    assert!(RfdDocument::parse(Markdown, &big[1..]).is_ok());
}

#[test]
fn a_byte_order_mark_is_kept_and_skipped() {
    let mut d = doc(Asciidoc, "\u{feff}= Title\n\nbody\n");
    assert_eq!(d.title(), Some("Title"));
    assert_eq!(d.set_attribute(Attribute::State, "ideation"), Ok(true));
    assert_eq!(d.content(), "\u{feff}= Title\n:state: ideation\n\nbody\n");
    let mut d = doc(Markdown, "\u{feff}plain\n");
    assert_eq!(d.set_attribute(Attribute::State, "ideation"), Ok(true));
    assert_eq!(d.content(), "\u{feff}state: ideation\nplain\n");
}

// ---------------------------------------------------------------- set_attribute

#[test]
fn set_attribute_replaces_only_the_value() {
    let mut d = doc(Asciidoc, OXIDE_STYLE);
    assert_eq!(d.set_attribute(Attribute::State, "committed"), Ok(true));
    assert_eq!(d.state(), Some(RfdState::Committed));
    assert_eq!(
        changed_lines(OXIDE_STYLE, d.content()),
        (vec![":state: published".to_owned()], vec![":state: committed".to_owned()])
    );
    let before = d.content().to_owned();
    assert_eq!(d.set_attribute(Attribute::State, "committed"), Ok(false), "idempotent");
    assert_eq!(d.content(), before);
}

#[test]
fn set_attribute_inserts_next_to_attributes_before_the_title() {
    let text = ":showtitle:\n:state: ideation\n\n= RFD 2 T\nAuthor <a@example.com>\n\nbody\n";
    let mut d = doc(Asciidoc, text);
    assert_eq!(d.set_attribute(Attribute::Discussion, "https://github.com/o/r/pull/2"), Ok(true));
    assert_eq!(
        d.content(),
        ":showtitle:\n:state: ideation\n:discussion: https://github.com/o/r/pull/2\n\n= RFD 2 T\nAuthor <a@example.com>\n\nbody\n"
    );
    assert_eq!(d.discussion(), Some("https://github.com/o/r/pull/2"));
    assert_eq!(d.authors(), Some("Author <a@example.com>"));
}

#[test]
fn set_attribute_inserts_under_the_title_and_author_line() {
    let text = "= RFD 2 T\nAuthor <a@example.com>\n:labels: x\n\nbody\n";
    let mut d = doc(Asciidoc, text);
    assert_eq!(d.set_attribute(Attribute::State, "discussion"), Ok(true));
    assert_eq!(d.content(), "= RFD 2 T\nAuthor <a@example.com>\n:labels: x\n:state: discussion\n\nbody\n");
    assert_eq!(d.body(), "\nbody\n");

    let mut d = doc(Asciidoc, "= T");
    assert_eq!(d.set_attribute(Attribute::State, "ideation"), Ok(true));
    assert_eq!(d.content(), "= T\n:state: ideation");
    assert_eq!(d.state(), Some(RfdState::Ideation));

    let mut d = doc(Asciidoc, "");
    assert_eq!(d.set_attribute(Attribute::Labels, "a"), Ok(true));
    assert_eq!(d.content(), ":labels: a\n");
}

#[test]
fn set_attribute_fills_an_empty_entry() {
    let mut d = doc(Asciidoc, ":state: ideation\n:discussion:\n= T\n");
    assert_eq!(d.set_attribute(Attribute::Discussion, "https://x.example.com/1"), Ok(true));
    assert_eq!(d.content(), ":state: ideation\n:discussion: https://x.example.com/1\n= T\n");
}

#[test]
fn set_attribute_markdown_front_matter() {
    let mut d = doc(Markdown, MARKDOWN_FRONT_MATTER);
    assert_eq!(d.set_attribute(Attribute::State, "published"), Ok(true));
    assert_eq!(
        changed_lines(MARKDOWN_FRONT_MATTER, d.content()),
        (vec!["state: discussion".to_owned()], vec!["state: published".to_owned()])
    );
    let mut d = doc(Markdown, "---\nstate: ideation\n---\n# T\n");
    assert_eq!(d.set_attribute(Attribute::Labels, "a: b"), Ok(true));
    assert_eq!(d.content(), "---\nstate: ideation\nlabels: 'a: b'\n---\n# T\n");
    assert_eq!(d.labels(), Some("a: b"));
    assert_eq!(d.set_attribute(Attribute::Labels, "'quoted'"), Ok(true));
    assert_eq!(d.labels(), Some("'quoted'"));
    assert_eq!(d.set_attribute(Attribute::Labels, "'quoted'"), Ok(false));
}

#[test]
fn set_attribute_markdown_without_front_matter() {
    let mut d = doc(Markdown, "# RFD 1 T\n\nbody\n");
    assert_eq!(d.set_attribute(Attribute::State, "ideation"), Ok(true));
    assert_eq!(d.content(), "state: ideation\n# RFD 1 T\n\nbody\n");
    assert_eq!(d.set_attribute(Attribute::Authors, "A <a@example.com>"), Ok(true));
    assert_eq!(d.content(), "state: ideation\nauthors: A <a@example.com>\n# RFD 1 T\n\nbody\n");
    assert_eq!(d.title(), Some("T"));
    assert_eq!(d.body(), "\nbody\n");
}

#[test]
fn set_attribute_keeps_windows_line_endings() {
    let text = OXIDE_STYLE.replace('\n', "\r\n");
    let mut d = doc(Asciidoc, &text);
    assert_eq!(d.title(), Some("Requests for Discussion"));
    assert_eq!(d.state(), Some(RfdState::Published));
    assert_eq!(d.set_attribute(Attribute::State, "abandoned"), Ok(true));
    assert_eq!(d.content(), text.replace(":state: published", ":state: abandoned"));

    let text = "= T\r\nA <a@example.com>\r\n\r\nbody\r\n";
    let mut d = doc(Asciidoc, text);
    assert_eq!(d.authors(), Some("A <a@example.com>"));
    assert_eq!(d.set_attribute(Attribute::Labels, "x"), Ok(true));
    assert_eq!(d.content(), "= T\r\nA <a@example.com>\r\n:labels: x\r\n\r\nbody\r\n");

    let text = "---\r\nstate: ideation\r\n---\r\n# T\r\n";
    let mut d = doc(Markdown, text);
    assert_eq!(d.set_attribute(Attribute::Discussion, "https://x.example.com"), Ok(true));
    assert_eq!(d.content(), "---\r\nstate: ideation\r\ndiscussion: https://x.example.com\r\n---\r\n# T\r\n");
    assert_eq!(d.set_body("new\r\n"), Ok(true));
    assert_eq!(
        d.content(),
        "---\r\nstate: ideation\r\ndiscussion: https://x.example.com\r\n---\r\n# T\r\nnew\r\n"
    );
}

#[test]
fn set_attribute_refuses_bad_values() {
    let mut d = doc(Asciidoc, OXIDE_STYLE);
    for (attr, value) in [
        (Attribute::Labels, "a\nb"),
        (Attribute::Labels, "a\r"),
        (Attribute::State, "pondering"),
        (Attribute::Discussion, "not a url"),
        (Attribute::Authors, "continues \\"),
    ] {
        let result = d.set_attribute(attr, value);
        assert!(
            matches!(&result, Err(DocumentError::InvalidValue { attribute, .. }) if *attribute == attr.as_str()),
            "{attr} {value:?}: {result:?}"
        );
    }
    assert_eq!(d.content(), OXIDE_STYLE, "a refused write changes nothing");
    let mut md = doc(Markdown, "# T\n");
    assert_eq!(md.set_attribute(Attribute::Authors, "ends with \\"), Ok(true), "fine in Markdown");
}

#[test]
fn set_attribute_trims_and_canonicalises() {
    let mut d = doc(Asciidoc, ":state: Published\n= T\n");
    assert_eq!(d.set_attribute(Attribute::State, "  PUBLISHED "), Ok(true));
    assert_eq!(d.content(), ":state: published\n= T\n");
    assert_eq!(d.set_attribute(Attribute::Labels, "  a, b  "), Ok(true));
    assert_eq!(d.labels(), Some("a, b"));
    assert_eq!(d.set_attribute(Attribute::Labels, ""), Ok(true));
    assert_eq!(d.labels(), None);
    assert_eq!(d.content(), ":state: published\n:labels:\n= T\n");
    assert_eq!(d.set_attribute(Attribute::Discussion, " "), Ok(false), "clearing an absent attribute");
}

#[test]
fn every_attribute_round_trips_in_both_formats() {
    let values = [
        (Attribute::State, "committed"),
        (Attribute::Discussion, "https://github.com/o/r/pull/9"),
        (Attribute::Authors, "A B <a@example.com>; C <c@example.com>"),
        (Attribute::Labels, "one, two"),
    ];
    for (format, text) in [
        (Asciidoc, OXIDE_STYLE),
        (Asciidoc, "= T\n\nbody\n"),
        (Markdown, MARKDOWN_FRONT_MATTER),
        (Markdown, "# T\n\nbody\n"),
    ] {
        let mut d = doc(format, text);
        for (attr, value) in values {
            assert!(d.set_attribute(attr, value).is_ok(), "{format} {attr}");
            let reparsed = doc(format, d.content());
            assert_eq!(reparsed.attribute(attr), Some(value), "{format} {attr}");
            assert_eq!(reparsed, d);
        }
        assert_eq!(d.body(), doc(format, text).body(), "{format}: attributes are not the body");
        assert_eq!(d.title(), doc(format, text).title());
    }
}

// ---------------------------------------------------------------- set_body

#[test]
fn set_body_keeps_the_asciidoc_header() {
    let mut d = doc(Asciidoc, OXIDE_STYLE);
    assert_eq!(d.set_body("\nNew body.\n"), Ok(true));
    assert!(d.content().starts_with(":showtitle:\n"));
    assert!(d.content().ends_with("= RFD 1 Requests for Discussion\n{authors}\n\nNew body.\n"));
    assert_eq!(d.body(), "\nNew body.\n");
    assert_eq!(d.state(), Some(RfdState::Published));
    assert_eq!(d.set_body("\nNew body.\n"), Ok(false));

    let mut d = doc(Asciidoc, "= T\nA <a@example.com>\n:state: ideation\n\nold\n");
    assert_eq!(d.set_body("\nnew\n"), Ok(true));
    assert_eq!(d.content(), "= T\nA <a@example.com>\n:state: ideation\n\nnew\n");
}

#[test]
fn set_body_keeps_the_markdown_title() {
    let mut d = doc(Markdown, MARKDOWN_FRONT_MATTER);
    assert_eq!(d.set_body("\nReplaced.\n"), Ok(true));
    assert!(d.content().ends_with("---\n\n# RFD 123: Storage of Things\n\nReplaced.\n"));
    assert_eq!(d.title(), Some("Storage of Things"));
    assert_eq!(d.body(), "\nReplaced.\n");
}

#[test]
fn set_body_separates_a_body_that_would_join_the_header() {
    let mut d = doc(Asciidoc, "= T\n");
    assert_eq!(d.set_body("Jane Doe\n"), Ok(true));
    assert_eq!(d.content(), "= T\n\nJane Doe\n");
    assert_eq!(d.authors(), None);

    let mut d = doc(Asciidoc, "= T");
    assert_eq!(d.set_body("text"), Ok(true));
    assert_eq!(d.title(), Some("T"));
    assert!(d.body().ends_with("text"));
}

// ---------------------------------------------------------------- includes

const WITH_INCLUDES: &str = "\
:state: published
= T

include::section-one.adoc[]
----
include::code/example.rs[lines=1..5]
----
// include::commented.adoc[]
////
include::in-comment-block.adoc[]
////
include::../secrets.adoc[]
include::/etc/passwd[]
include::https://example.com/x.adoc[]
include::missing.adoc[]
 include::indented.adoc[]
include::last.adoc[]";

#[test]
fn includes_are_listed_in_order() {
    let d = doc(Asciidoc, WITH_INCLUDES);
    assert_eq!(
        d.includes(),
        [
            "section-one.adoc",
            "code/example.rs",
            "../secrets.adoc",
            "/etc/passwd",
            "https://example.com/x.adoc",
            "missing.adoc",
            "last.adoc"
        ]
    );
    assert!(doc(Markdown, "include::x.adoc[]\n").includes().is_empty());
}

#[test]
fn include_expansion_reads_only_inside_the_folder() {
    let d = doc(Asciidoc, WITH_INCLUDES);
    let mut asked = Vec::new();
    let expanded = d.expand_includes(|path| {
        asked.push(path.to_owned());
        match path {
            "section-one.adoc" => Some("== One\n\nText.\n".to_owned()),
            "code/example.rs" => Some("fn main() {}".to_owned()),
            "last.adoc" => Some("Last.".to_owned()),
            _ => None,
        }
    });
    assert_eq!(asked, ["section-one.adoc", "code/example.rs", "missing.adoc", "last.adoc"]);
    assert_eq!(
        expanded,
        "\
:state: published
= T

== One

Text.
----
fn main() {}
----
// include::commented.adoc[]
////
include::in-comment-block.adoc[]
////
include::../secrets.adoc[]
include::/etc/passwd[]
include::https://example.com/x.adoc[]
include::missing.adoc[]
 include::indented.adoc[]
Last."
    );
    assert_eq!(d.content(), WITH_INCLUDES, "expansion does not change the document");
}

#[test]
fn include_targets_that_escape_are_refused() {
    for target in
        ["..", "../x", "a/../../x", "a/..", "/abs", "~/x", "C:/x", "a\\..\\x", "{docdir}/x", "http://x"]
    {
        let d = doc(Asciidoc, &format!("= T\n\ninclude::{target}[]\n"));
        let expanded = d.expand_includes(|path| panic!("must not read {path}"));
        assert_eq!(expanded, d.content(), "{target}");
    }
    let d = doc(Asciidoc, "= T\r\n\r\ninclude::./a.adoc[]\r\nafter\r\n");
    assert_eq!(d.expand_includes(|_| Some("A".to_owned())), "= T\r\n\r\nA\r\nafter\r\n");
}

// ---------------------------------------------------------------- documents without a title

#[test]
fn without_a_title_the_header_is_the_leading_attribute_lines() {
    let d =
        doc(Asciidoc, ":state: ideation\n// note\n:labels: x\n\nText.\n:discussion: https://x.example.com\n");
    assert_eq!((d.state(), d.labels(), d.discussion()), (Some(RfdState::Ideation), Some("x"), None));
    assert_eq!(d.body(), "\nText.\n:discussion: https://x.example.com\n");
    assert_eq!(d.problems(), vec![DocumentProblem::MissingTitle]);

    let mut d = doc(Markdown, "state: ideation\nText.\nlabels: not-header\n");
    assert_eq!((d.state(), d.labels()), (Some(RfdState::Ideation), None));
    assert_eq!(d.set_attribute(Attribute::Labels, "y"), Ok(true));
    assert_eq!(d.content(), "state: ideation\nlabels: y\nText.\nlabels: not-header\n");
    assert_eq!(d.body(), "Text.\nlabels: not-header\n");
}

#[test]
fn an_unclosed_comment_block_does_not_swallow_a_new_attribute() {
    let mut d = doc(Asciidoc, ":labels: x\n////\nnever closed\n");
    assert_eq!(d.set_attribute(Attribute::State, "ideation"), Ok(true));
    assert_eq!(d.content(), ":labels: x\n:state: ideation\n////\nnever closed\n");
    assert_eq!(d.state(), Some(RfdState::Ideation));
}

#[test]
fn problems_have_codes_and_messages() {
    let problems = [
        DocumentProblem::MissingTitle,
        DocumentProblem::MissingState,
        DocumentProblem::UnknownState("x".to_owned()),
        DocumentProblem::InvalidDiscussion("y".to_owned()),
    ];
    let codes: Vec<&str> = problems.iter().map(DocumentProblem::code).collect();
    assert_eq!(codes, ["missing_title", "missing_state", "unknown_state", "invalid_discussion"]);
    assert_eq!(problems[2].to_string(), "unknown state \"x\"");
    assert!(problems[3].to_string().contains("\"y\""));
}

#[test]
fn a_last_line_ending_in_a_carriage_return_reads_the_same_after_a_write() {
    // Found by the fuzzer: `:tc:\r` was an author line until a line was added after it.
    let mut d = doc(Asciidoc, "\n= R\n:tc:\r");
    assert_eq!(d.authors(), None);
    assert_eq!(d.set_attribute(Attribute::Labels, "o"), Ok(true));
    assert_eq!(d.content(), "\n= R\n:tc:\r\n:labels: o");
    assert_eq!((d.authors(), d.labels()), (None, Some("o")));
}
