//! Feeds arbitrary bytes to `RfdDocument` and checks what must hold for any input:
//! nothing panics, and a write changes only what it says it changes.
#![no_main]

use libfuzzer_sys::fuzz_target;

use document::{Attribute, RfdDocument};
use types::ContentFormat;

// rfd-model's document module, compiled here from its source so the fuzzer builds without
// rfd-model's storage stack; `types` stands in for the one item it uses from the crate.
#[allow(dead_code)]
#[path = "../../src/document/mod.rs"]
mod document;

mod types {
    /// rfd-model's `ContentFormat`, without its database and JSON mappings.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum ContentFormat {
        Asciidoc,
        Markdown,
    }
}

fuzz_target!(|data: &[u8]| {
    // First byte: format and attribute; then a value line; the rest is the document.
    let Some((&control, rest)) = data.split_first() else {
        return;
    };
    let format = if control & 1 == 0 { ContentFormat::Asciidoc } else { ContentFormat::Markdown };
    let attr = Attribute::ALL[usize::from(control >> 1) % Attribute::ALL.len()];
    let split = rest.iter().position(|b| *b == b'\n').unwrap_or(rest.len());
    let (value, document) = rest.split_at(split);
    let value = String::from_utf8_lossy(value);
    let Ok(doc) = RfdDocument::parse(format, document) else {
        return;
    };

    // Every reader on any document.
    let _ = (doc.title(), doc.state(), doc.discussion(), doc.authors(), doc.labels(), doc.problems());
    let includes = doc.includes();
    let mut asked = Vec::new();
    let expanded = doc.expand_includes(|path| {
        asked.push(path.to_owned());
        Some(String::new())
    });
    let inside = |path: &String| !path.starts_with('/') && !path.split('/').any(|part| part == "..");
    assert!(asked.iter().all(|path| includes.contains(path) && inside(path)));
    assert!(expanded.len() <= doc.content().len());
    assert!(doc.content().ends_with(doc.body()));

    // Writing an attribute: reads back, and nothing else moves.
    let mut written = doc.clone();
    if let Ok(changed) = written.set_attribute(attr, &value) {
        let expected = value.trim();
        match attr {
            Attribute::State => assert_eq!(written.state(), expected.parse().ok()),
            Attribute::Authors if expected.is_empty() => {}
            _ => assert_eq!(written.attribute(attr).unwrap_or_default(), expected),
        }
        // (An AsciiDoc author line may refer to the attribute, any case: `{Labels}`.)
        let reference = format!("{{{attr}}}");
        for other in Attribute::ALL.into_iter().filter(|other| *other != attr) {
            if other == Attribute::Authors && doc.content().to_ascii_lowercase().contains(&reference) {
                continue;
            }
            assert_eq!(written.attribute(other), doc.attribute(other), "{other} moved");
        }
        assert_eq!(written.title(), doc.title());
        if !changed {
            assert_eq!(written.content(), doc.content());
        }
        let mut again = written.clone();
        assert_eq!(again.set_attribute(attr, &value), Ok(false), "not idempotent");
        let reparsed = RfdDocument::parse(format, written.content().as_bytes());
        assert_eq!(reparsed.as_ref().map(RfdDocument::content), Ok(written.content()));
    }

    // Replacing the body keeps the header.
    let mut rewritten = doc.clone();
    if rewritten.set_body(&value).is_ok() {
        assert_eq!(rewritten.title(), doc.title().or(rewritten.title()));
        for attr in Attribute::ALL {
            assert_eq!(rewritten.attribute(attr), doc.attribute(attr));
        }
        assert!(rewritten.body().ends_with(value.as_ref()));
    }
});
