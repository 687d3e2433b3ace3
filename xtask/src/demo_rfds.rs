//! The RFDs the demo repository starts with, and the change it pushes through the hook.

/// (path, content) of the first commit: five RFDs in AsciiDoc and Markdown, in different
/// states, one with an image.
pub const INITIAL: &[(&str, &str)] = &[
    (
        "README.md",
        "# Requests for Discussion\n\nOne folder per RFD under `rfd/`: `rfd/NNNN/README.adoc` or `README.md`.\n",
    ),
    (
        "rfd/0001/README.adoc",
        "= RFD 1 Requests for Discussion\n\
:authors: Ada Lovelace <ada@example.com>\n\
:state: published\n\
:labels: process\n\
\n\
== Why write things down\n\
\n\
Design decisions outlive the conversations that made them. An RFD records the problem,\n\
the options considered and the decision, so that newcomers can read *why* the system is\n\
the way it is.\n\
\n\
== States\n\
\n\
An RFD moves through `prediscussion`, `ideation`, `discussion`, `published`, `committed`\n\
and, when it is dropped, `abandoned`.\n",
    ),
    (
        "rfd/0002/README.md",
        "---\n\
authors: Grace Hopper <grace@example.com>\n\
state: committed\n\
labels: api\n\
---\n\
\n\
# RFD 2 API versioning policy\n\
\n\
## Problem\n\
\n\
Clients break when endpoints change shape without warning.\n\
\n\
## Decision\n\
\n\
Every breaking change gets a new version prefix; the previous version is served for\n\
twelve months after its successor ships. Deprecation is announced in the changelog.\n",
    ),
    (
        "rfd/0003/README.adoc",
        "= RFD 3 Storage layout for RFD assets\n\
:authors: Alan Turing <alan@example.com>\n\
:state: discussion\n\
:labels: storage\n\
\n\
== Layout\n\
\n\
Images and PDFs are stored by commit, so a historic revision keeps its own figures.\n\
\n\
image::layout.svg[Storage layout]\n\
\n\
== Open questions\n\
\n\
How long should PDFs of superseded revisions be kept?\n",
    ),
    (
        "rfd/0003/layout.svg",
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"240\" height=\"80\">\
<rect x=\"5\" y=\"5\" width=\"100\" height=\"60\" fill=\"#cde\"/><text x=\"15\" y=\"40\">rfd/NNNN</text>\
<rect x=\"135\" y=\"5\" width=\"100\" height=\"60\" fill=\"#edc\"/><text x=\"145\" y=\"40\">pdf/NNNN</text></svg>\n",
    ),
    (
        "rfd/0004/README.md",
        "---\n\
authors: Barbara Liskov <barbara@example.com>\n\
state: ideation\n\
---\n\
\n\
# RFD 4 Search ranking for RFDs\n\
\n\
Titles should rank above headings, and headings above body text. Typos in queries\n\
should still find the document.\n",
    ),
    (
        "rfd/0005/README.adoc",
        "= RFD 5 Retire the legacy command line tool\n\
:authors: Edsger Dijkstra <edsger@example.com>\n\
:state: abandoned\n\
\n\
== Summary\n\
\n\
Replace the shell scripts with a single binary. Abandoned: the new CLI made this moot.\n",
    ),
];

/// The change the demo commits and pushes once the platform runs, so the flow through
/// the post-receive hook is visible: a new RFD.
pub const PUSHED: &[(&str, &str)] = &[(
    "rfd/0006/README.adoc",
    "= RFD 6 Plain git as the RFD source\n\
:authors: Ada Lovelace <ada@example.com>\n\
:state: published\n\
:labels: platform\n\
\n\
== Summary\n\
\n\
Any git server can host the RFD repository: its post-receive hook calls the platform's\n\
trigger endpoint, and the processor reads the repository directly. Pull requests are a\n\
GitHub feature; everything else works the same.\n",
)];

/// Every demo RFD (the five first and the pushed one): number and title, as the API
/// lists them (the title heading without its `RFD N` prefix).
pub const RFDS: &[(i32, &str)] = &[
    (1, "Requests for Discussion"),
    (2, "API versioning policy"),
    (3, "Storage layout for RFD assets"),
    (4, "Search ranking for RFDs"),
    (5, "Retire the legacy command line tool"),
    (6, "Plain git as the RFD source"),
];

/// The RFD that arrives through the hook.
pub const PUSHED_NUMBER: i32 = 6;

/// The title of demo RFD `number`.
pub fn title(number: i32) -> Option<&'static str> {
    RFDS.iter().find(|(n, _)| *n == number).map(|(_, title)| *title)
}

/// A word the demo searches for (in RFD 6, which arrived through the hook).
pub const SEARCH_WORD: &str = "trigger";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_title_is_the_heading_of_its_document() {
        for (number, title) in RFDS {
            let heading = format!("RFD {number} {title}\n");
            let holds = |files: &[(&str, &str)]| {
                files.iter().any(|(path, content)| {
                    path.starts_with(&format!("rfd/{number:04}/README")) && content.contains(&heading)
                })
            };
            assert!(holds(INITIAL) || holds(PUSHED), "no document of RFD {number} is titled {title:?}");
        }
        assert!(PUSHED.iter().any(|(path, content)| path.starts_with(&format!("rfd/{PUSHED_NUMBER:04}/"))
            && content.contains(SEARCH_WORD)));
    }
}
