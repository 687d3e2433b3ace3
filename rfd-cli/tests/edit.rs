//! `rfd-cli reserve` and `rfd-cli edit …` end to end: the built binary against a real
//! `rfd-api` whose RFD source is a real git repository served by the GitHub fake
//! (through the production GitHub client). Every write is checked where it lands: the
//! commit on the RFD's branch, its content, and the author it names.

mod common;

use std::process::Output;

use chrono::Utc;
use common::{Server, json_of, ok, one_line_error, run, text};
use rfd_github_fake::{FakeGitHub, TestRepo};
use rfd_model::auth::ProviderIdentity;
use rfd_model::{ContentFormat, NewRevision, NewRfd, Visibility};
use serde_json::{Value, json};

const RFD_1: &str = ":authors: Ada Lovelace <ada@example.com>\n:state: published\n\n= RFD 1 Engines\n\n== Background\n\nWhy engines matter.\n";

/// A repository whose main branch holds RFD 1, served as acme/rfd, and the API writing
/// to it; RFD 1 is in the database as the pipeline would have stored it.
struct Setup {
    repo: TestRepo,
    _fake: FakeGitHub,
    api: Server,
    home: tempfile::TempDir,
    key: String,
}

impl Setup {
    async fn start() -> Self {
        let repo = ok(TestRepo::new());
        ok(repo.write("rfd/0001/README.adoc", RFD_1));
        ok(repo.commit("RFD 1"));
        let fake = ok(FakeGitHub::start(repo.path(), "acme", "rfd").await);
        let api = Server::start(&format!(
            "[source]\nkind = \"github\"\nowner = \"acme\"\nrepository = \"rfd\"\ndefault_branch = \"main\"\napi_url = \"{}\"\n\
             auth = {{ token = \"test-token\" }}\n\
             retry = {{ max_attempts = 2, backoff_base_ms = 1, backoff_cap_ms = 5, max_rate_limit_wait_secs = 2, request_timeout_secs = 20 }}\n",
            fake.url()
        ))
        .await;
        let mut setup = Self { repo, _fake: fake, api, home: ok(tempfile::tempdir()), key: String::new() };
        setup.stored(1, Visibility::Public, RFD_1, "c0ffee01").await;
        // The writer: known by a GitHub login "Grace Hopper", with an API key.
        let identity = ProviderIdentity {
            provider: "github".into(),
            provider_id: "github-1906".into(),
            emails: vec!["grace@example.com".into()],
            display_names: vec!["Grace Hopper".into()],
        };
        let permissions = json!(["CreateRfd", "GetRfdsAll", "UpdateRfdsAll", "ManageRfdsVisibilityAll"]);
        let (user, _) = ok(setup.api.store.upsert_provider_user(&identity, &permissions).await);
        let secret = rfd_api::auth::secret::generate();
        ok(setup
            .api
            .store
            .create_api_key(user.id, &secret.hash, None, Utc::now() + chrono::Duration::hours(1))
            .await);
        setup.key = secret.value;
        setup
    }

    /// RFD `number` with one revision of `document`, as the pipeline stores a commit.
    async fn stored(&self, number: i32, visibility: Visibility, document: &str, commit: &str) {
        let store = &self.api.store;
        let rfd = ok(store.upsert_rfd(&NewRfd { rfd_number: number, link: None, visibility }).await);
        ok(store
            .insert_revision(&NewRevision {
                rfd_id: rfd.id,
                title: "Stored".into(),
                state: Some("prediscussion".into()),
                discussion: None,
                authors: None,
                labels: None,
                content: document.into(),
                content_format: ContentFormat::Asciidoc,
                sha: format!("blob-{commit}"),
                commit_sha: commit.into(),
                committed_at: Utc::now() - chrono::Duration::minutes(5),
                major_change: true,
                tree_sha: None,
                problems: Vec::new(),
            })
            .await);
    }

    /// `rfd-cli ARGS` as the writer (its key in `RFD_TOKEN`), with `format`.
    async fn cli(&self, format: &str, args: &[&str]) -> Output {
        let env = [("RFD_TOKEN", self.key.as_str()), ("RFD_FORMAT", format)];
        run(self.home.path(), &self.api.base, args, &env, None).await
    }

    async fn json(&self, args: &[&str]) -> Value {
        json_of(args, &self.cli("json", args).await)
    }

    /// What a successful `--format tab` command printed.
    async fn tab(&self, args: &[&str]) -> String {
        let output = self.cli("tab", args).await;
        assert!(output.status.success(), "rfd-cli {args:?}: {}", text(&output.stderr));
        text(&output.stdout)
    }

    /// A file in the CLI's home for `--content`, `edit content` and `edit document`.
    fn file(&self, name: &str, content: &str) -> String {
        let path = self.home.path().join(name);
        ok(std::fs::write(&path, content));
        path.to_string_lossy().into_owned()
    }

    fn readme(&self, branch: &str, number: i32) -> String {
        ok(self.repo.git(&["show", &format!("{branch}:rfd/{number:04}/README.adoc")]))
    }

    fn last_message(&self, branch: &str) -> String {
        ok(self.repo.git(&["log", "-1", "--format=%B", branch]))
    }

    fn commits(&self) -> usize {
        ok(self.repo.git(&["rev-list", "--all", "--count"])).trim().parse().unwrap_or(0)
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn reserve_and_every_edit_commit_to_the_rfd_branch_naming_the_author() {
    let setup = Setup::start().await;
    let author = "Submitted-by: Grace Hopper <grace@example.com>";

    // reserve: the next number, its branch with the title, the body given and the author.
    let body = setup.file("body.adoc", "== Wires\n\nCopper, mostly.\n");
    let reserved = setup.json(&["reserve", "--title", "Wires", "--content", &body]).await;
    assert_eq!(reserved, json!({"number": 2}));
    let readme = setup.readme("0002", 2);
    assert!(readme.contains("= RFD 2 Wires\n") && readme.contains(":state: prediscussion\n"), "{readme}");
    assert!(readme.contains(":authors: Grace Hopper <grace@example.com>\n"), "{readme}");
    assert!(readme.ends_with("== Wires\n\nCopper, mostly."), "{readme}");
    assert!(setup.last_message("0002").contains(author), "{}", setup.last_message("0002"));
    // The same as a table: one field per line.
    let table = setup.tab(&["reserve", "--title", "Pipes"]).await;
    assert_eq!(table, "number  3\n");
    assert!(setup.readme("0003", 3).contains("= RFD 3 Pipes\n"));

    // The pipeline stores RFD 2 from its commit; from then on it can be edited.
    setup.stored(2, Visibility::Private, &setup.readme("0002", 2), "c0ffee02").await;

    // edit content: the body is replaced; the header attributes and the title stay.
    let new_body = setup.file("new-body.adoc", "== Design\n\nSilver, after all.\n");
    let args = ["edit", "content", "2", &new_body, "--message", "Rewrite the body"];
    assert_eq!(setup.json(&args).await, Value::Null);
    let readme = setup.readme("0002", 2);
    let header = ":state: prediscussion\n:discussion:\n:revremark: State: {state}\n:authors: Grace Hopper <grace@example.com>\n\n= RFD 2 Wires\n";
    assert!(readme.starts_with(":showtitle:\n") && readme.contains(header), "header lost: {readme}");
    assert!(readme.ends_with("== Design\n\nSilver, after all.") && !readme.contains("Copper"), "{readme}");
    let message = setup.last_message("0002");
    assert!(message.starts_with("Rewrite the body\n") && message.contains(author), "{message}");
    // As a table, an answer without a body reads "done".
    let again = setup.file("again.adoc", "== Design\n\nGold, in the end.\n");
    assert_eq!(setup.tab(&["edit", "content", "2", &again]).await, "done\n");
    assert!(setup.readme("0002", 2).ends_with("Gold, in the end."));

    // edit attr: one attribute; the answer names it, in both formats.
    let labels = setup.json(&["edit", "attr", "2", "labels", "wires, metals"]).await;
    assert_eq!(labels, json!({"labels": "wires, metals"}));
    assert!(setup.readme("0002", 2).contains(":labels: wires, metals\n"));
    assert_eq!(setup.tab(&["edit", "attr", "2", "state", "ideation"]).await, "state  ideation\n");
    assert!(setup.readme("0002", 2).contains(":state: ideation\n"));

    // publish and discuss: the state, each its own commit with its own message.
    assert_eq!(setup.json(&["edit", "publish", "2"]).await, json!({"state": "published"}));
    assert!(setup.readme("0002", 2).contains(":state: published\n"));
    assert!(setup.last_message("0002").starts_with("Publish\n"));
    assert_eq!(setup.tab(&["edit", "discuss", "2"]).await, "state  discussion\n");
    assert!(setup.readme("0002", 2).contains(":state: discussion\n"));
    assert!(setup.last_message("0002").starts_with("Move to discussion\n"));

    // edit document (also called raw): the whole file, as given.
    let whole = ":authors: Grace Hopper <grace@example.com>\n:state: discussion\n\n= RFD 2 Wires and fibres\n\n== Fibre\n\nGlass.\n";
    let whole_file = setup.file("whole.adoc", whole);
    assert_eq!(setup.json(&["edit", "raw", "2", &whole_file, "--message", "Fibre"]).await, Value::Null);
    assert_eq!(setup.readme("0002", 2), whole.trim_end());
    assert!(setup.last_message("0002").contains(author));

    // Every edit was one commit on branch 0002, queued for the pipeline; main is untouched.
    let on_branch: usize =
        ok(setup.repo.git(&["rev-list", "--count", "main..0002"])).trim().parse().unwrap_or(0);
    assert_eq!(on_branch, 8, "reserve, two content edits, two attributes, publish, discuss, raw");
    assert_eq!(setup.readme("main", 1), RFD_1.trim_end());
    let jobs = setup.json(&["job", "list", "--rfd", "2"]).await;
    assert_eq!(jobs.as_array().map(Vec::len), Some(8), "{jobs}");

    // visibility: a database change; the private RFD becomes readable by anyone.
    let anonymous =
        run(setup.home.path(), &setup.api.base, &["view", "2"], &[("RFD_FORMAT", "json")], None).await;
    assert!(one_line_error(&anonymous).contains("HTTP 404"));
    let shown = setup.json(&["edit", "visibility", "2", "public"]).await;
    assert_eq!(shown["visibility"], "public", "{shown}");
    assert_eq!(shown["rfd_number"], 2, "{shown}");
    let table = setup.tab(&["edit", "visibility", "2", "public"]).await;
    assert!(
        table.lines().any(|l| l.starts_with("visibility") && l.trim_end().ends_with("public")),
        "{table}"
    );
    let anonymous =
        run(setup.home.path(), &setup.api.base, &["view", "2"], &[("RFD_FORMAT", "json")], None).await;
    assert_eq!(json_of(&["view", "2"], &anonymous)["rfd_number"], 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn failed_edits_are_one_line_with_a_non_zero_exit_and_commit_nothing() {
    let setup = Setup::start().await;
    let body = setup.file("body.adoc", "== Nothing\n");
    let before = setup.commits();

    // An RFD that does not exist: the API's 404, in either format.
    for format in ["json", "tab"] {
        let line = one_line_error(&setup.cli(format, &["edit", "content", "99", &body]).await);
        assert!(line.contains("HTTP 404"), "{line}");
    }
    // A state that is not one: 400, naming it.
    let line = one_line_error(&setup.cli("json", &["edit", "attr", "1", "state", "finished"]).await);
    assert!(line.contains("HTTP 400") && line.contains("finished"), "{line}");
    // No token: the API's 401, for an edit and for a reservation.
    let home = setup.home.path();
    let anonymous = run(home, &setup.api.base, &["edit", "publish", "1"], &[], None).await;
    assert!(one_line_error(&anonymous).contains("HTTP 401"));
    let anonymous = run(home, &setup.api.base, &["reserve", "--title", "Nobody"], &[], None).await;
    assert!(one_line_error(&anonymous).contains("HTTP 401"));
    // A file that cannot be read: said before anything is sent.
    let line = one_line_error(&setup.cli("json", &["edit", "content", "1", "/nonexistent/body.adoc"]).await);
    assert!(line.contains("cannot read /nonexistent/body.adoc"), "{line}");
    // A token the API does not know, which the message does not repeat.
    let bogus = "not-a-key-0123456789abcdef0123456789abcdef";
    let output = run(home, &setup.api.base, &["edit", "publish", "1"], &[("RFD_TOKEN", bogus)], None).await;
    let line = one_line_error(&output);
    assert!(line.contains("HTTP 401") && !line.contains(bogus), "{line}");

    assert_eq!(setup.commits(), before, "nothing was committed");
}
