//! RFD writes and discussions over real HTTP, against a real database and a real git
//! repository served by the GitHub fake (through the production GitHub client).

mod http_common;

use chrono::Utc;
use rfd_github_fake::{FakeGitHub, TestRepo};
use rfd_model::discussion::RfdDiscussionPullRequest;
use rfd_model::source::{CommentKind, PullRequestComment};
use rfd_model::types::ContentFormat;
use rfd_model::{JobFilter, NewRevision, NewRfd, Page, RfdRevision, Visibility};
use serde_json::{Value, json};

fn ok<T, E: std::fmt::Display>(result: Result<T, E>) -> T {
    result.unwrap_or_else(|err| panic!("{err}"))
}

fn adoc(number: i32, title: &str, state: &str) -> String {
    format!(
        ":authors: Grace Hopper <grace@example.com>\n:state: {state}\n\n= RFD {number} {title}\n\n== Background\n\nWhy {title} matters.\n"
    )
}

/// Main holds RFDs 1 (published, public) and 3 (published, private); branch 0005 holds
/// RFD 5 (discussion, private).
fn repo() -> TestRepo {
    let repo = ok(TestRepo::new());
    ok(repo.write("rfd/0001/README.adoc", adoc(1, "First", "published")));
    ok(repo.write("rfd/0003/README.adoc", adoc(3, "Third", "published")));
    ok(repo.commit("RFDs 1 and 3"));
    ok(repo.branch("0005"));
    ok(repo.checkout("0005"));
    ok(repo.write("rfd/0005/README.adoc", adoc(5, "Queues for everyone", "discussion")));
    ok(repo.commit("RFD 5: start"));
    ok(repo.checkout("main"));
    repo
}

type App = http_common::FreshApi;

impl App {
    /// A server with (or without) a `[github]` source pointing at `fake`.
    async fn start(fake: Option<&FakeGitHub>) -> Self {
        let github = fake.map(|fake| {
            format!(
                "[github]\nowner = \"acme\"\nrepository = \"rfd\"\ndefault_branch = \"main\"\napi_url = \"{}\"\n\
                 auth = {{ token = \"test-token\" }}\n\
                 retry = {{ max_attempts = 2, backoff_base_ms = 1, backoff_cap_ms = 5, max_rate_limit_wait_secs = 2, request_timeout_secs = 20 }}\n",
                fake.url()
            )
        });
        Self::on_fresh_database(github.as_deref().unwrap_or_default()).await
    }

    /// Stores RFD `number` with one revision at `commit`, as the pipeline would have.
    async fn seed(&self, number: i32, visibility: Visibility, commit: &str, minutes_ago: i64) -> RfdRevision {
        let rfd = ok(self.store.upsert_rfd(&NewRfd { rfd_number: number, link: None, visibility }).await);
        let content = adoc(number, "Seeded", "published");
        ok(self
            .store
            .insert_revision(&NewRevision {
                rfd_id: rfd.id,
                title: "Seeded".into(),
                state: Some("published".into()),
                discussion: None,
                authors: None,
                labels: None,
                content,
                content_format: ContentFormat::Asciidoc,
                sha: format!("blob-{commit}"),
                commit_sha: commit.into(),
                committed_at: Utc::now() - chrono::Duration::minutes(minutes_ago),
                major_change: true,
                tree_sha: None,
                problems: Vec::new(),
            })
            .await)
    }

    async fn jobs_of(&self, number: i32) -> Vec<rfd_model::Job> {
        ok(self.store.list_jobs(&JobFilter { rfd: Some(number), state: None }, Page::first(100)).await)
    }
}

fn count_commits(repo: &TestRepo, rev: &str) -> usize {
    ok(repo.git(&["rev-list", "--count", rev])).trim().parse().unwrap_or(0)
}

fn all_commits(repo: &TestRepo) -> usize {
    ok(repo.git(&["rev-list", "--all", "--count"])).trim().parse().unwrap_or(0)
}

/// The README at `rev`, without its final line break (`TestRepo::git` trims its output).
fn readme(repo: &TestRepo, rev: &str, number: i32) -> String {
    ok(repo.git(&["show", &format!("{rev}:rfd/{number:04}/README.adoc")]))
}

fn last_message(repo: &TestRepo, rev: &str) -> String {
    ok(repo.git(&["log", "-1", "--format=%B", rev]))
}

#[tokio::test]
async fn twenty_concurrent_reservations_get_twenty_distinct_numbers() {
    let repo = repo();
    let fake = ok(FakeGitHub::start(repo.path(), "acme", "rfd").await);
    let app = App::start(Some(&fake)).await;
    // Stored RFDs count too: 7 is in the database only.
    app.seed(7, Visibility::Private, "aaaa", 5).await;
    let token = app.github_user(json!(["CreateRfd"])).await;

    let calls = (0..20).map(|i| {
        let (app, token) = (&app, &token);
        async move { app.post("/rfd", Some(token), json!({ "title": format!("Idea {i}") })).await }
    });
    let answers = futures::future::join_all(calls).await;
    let mut numbers: Vec<i64> = answers
        .iter()
        .map(|(status, body)| {
            assert_eq!(*status, 202, "{body}");
            body["number"].as_i64().unwrap_or_else(|| panic!("a number: {body}"))
        })
        .collect();
    numbers.sort_unstable();
    assert_eq!(numbers, (8..=27).collect::<Vec<i64>>(), "distinct numbers after every known one");

    for (status, body) in &answers {
        assert_eq!(*status, 202);
        let number = body["number"].as_i64().unwrap_or_default() as i32;
        let branch = format!("{number:04}");
        let text = readme(&repo, &branch, number);
        assert!(text.contains(":state: prediscussion"), "{text}");
        assert!(text.contains(&format!("= RFD {number} Idea ")), "{text}");
        assert!(text.contains(":authors: Ada Lovelace <ada@example.com>"), "{text}");
        let message = last_message(&repo, &branch);
        assert!(message.contains("Submitted-by: Ada Lovelace <ada@example.com>"), "{message}");
        assert_eq!(
            count_commits(&repo, &branch),
            count_commits(&repo, "main") + 1,
            "one commit on the branch"
        );
        assert_eq!(app.jobs_of(number).await.len(), 1, "the commit is queued for the pipeline");
    }
}

#[tokio::test]
async fn a_reservation_with_content_uses_it_as_the_body() {
    let repo = repo();
    let fake = ok(FakeGitHub::start(repo.path(), "acme", "rfd").await);
    let app = App::start(Some(&fake)).await;
    let token = app.github_user(json!(["CreateRfd"])).await;
    let (status, body) =
        app.post("/rfd", Some(&token), json!({ "title": "Wires", "content": "== Wires\n\nCopper.\n" })).await;
    assert_eq!((status, body["number"].as_i64()), (202, Some(6)), "{body}");
    let text = readme(&repo, "0006", 6);
    assert!(text.contains("= RFD 6 Wires\n") && text.ends_with("== Wires\n\nCopper."), "{text}");

    let (status, body) = app.post("/rfd", Some(&token), json!({ "title": "two\nlines" })).await;
    assert_eq!(status, 400, "{body}");
    let (status, _) = app.post("/rfd", Some(&token), json!({ "title": "  " })).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn each_edit_is_one_commit_on_the_rfd_branch_naming_its_author() {
    let repo = repo();
    let fake = ok(FakeGitHub::start(repo.path(), "acme", "rfd").await);
    let app = App::start(Some(&fake)).await;
    app.seed(5, Visibility::Private, "seed5", 5).await;
    let token = app.github_user(json!([{ "GetRfd": 5 }, { "UpdateRfd": 5 }])).await;
    let mut commits = count_commits(&repo, "0005");

    // Content: the body is replaced, the title and header attributes stay.
    let (status, body) = app
        .post(
            "/rfd/5/content",
            Some(&token),
            json!({ "content": "== Design\n\nA new body.\n", "message": "Rewrite the body" }),
        )
        .await;
    assert_eq!((status, &body), (202, &Value::Null));
    commits += 1;
    assert_eq!(count_commits(&repo, "0005"), commits);
    let text = readme(&repo, "0005", 5);
    assert!(
        text.starts_with(
            ":authors: Grace Hopper <grace@example.com>\n:state: discussion\n\n= RFD 5 Queues for everyone\n"
        ),
        "{text}"
    );
    assert!(text.contains("A new body.") && !text.contains("Why Queues for everyone matters."), "{text}");
    let message = last_message(&repo, "0005");
    assert!(message.starts_with("Rewrite the body\n"), "{message}");
    assert!(message.contains("Submitted-by: Ada Lovelace <ada@example.com>"), "{message}");

    // An attribute.
    let (status, body) =
        app.post("/rfd/5/attr/labels", Some(&token), json!({ "value": "queues, infra" })).await;
    assert_eq!((status, &body), (202, &json!({ "labels": "queues, infra" })));
    commits += 1;
    assert_eq!(count_commits(&repo, "0005"), commits);
    assert!(readme(&repo, "0005", 5).contains(":labels: queues, infra\n"));

    // A state that is not one: 400, and nothing is committed.
    let (status, body) = app.post("/rfd/5/attr/state", Some(&token), json!({ "value": "finished" })).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["message"].as_str().unwrap_or_default().contains("finished"), "{body}");
    assert_eq!(count_commits(&repo, "0005"), commits);

    // Publish, then back to discussion.
    let (status, body) = app.post("/rfd/5/state/publish", Some(&token), json!(null)).await;
    assert_eq!((status, &body), (202, &json!({ "state": "published" })));
    commits += 1;
    assert_eq!(count_commits(&repo, "0005"), commits);
    assert!(readme(&repo, "0005", 5).contains(":state: published\n"));
    assert!(last_message(&repo, "0005").starts_with("Publish\n"));
    let (status, body) = app.post("/rfd/5/state/discuss", Some(&token), json!(null)).await;
    assert_eq!((status, &body), (202, &json!({ "state": "discussion" })));
    commits += 1;
    assert_eq!(count_commits(&repo, "0005"), commits);
    assert!(readme(&repo, "0005", 5).contains(":state: discussion\n"));
    assert!(last_message(&repo, "0005").starts_with("Move to discussion\n"));

    // The whole document.
    let document = adoc(5, "Queues for some", "ideation");
    let (status, body) = app.post("/rfd/5/raw", Some(&token), json!({ "document": document })).await;
    assert_eq!((status, &body), (202, &Value::Null));
    commits += 1;
    assert_eq!(count_commits(&repo, "0005"), commits);
    assert_eq!(readme(&repo, "0005", 5), document.trim_end());
    // The same document again changes nothing: no empty commit.
    let (status, _) = app.post("/rfd/5/raw", Some(&token), json!({ "document": document })).await;
    assert_eq!(status, 202);
    assert_eq!(count_commits(&repo, "0005"), commits);
    assert_eq!(app.jobs_of(5).await.len(), 5, "every commit is queued for the pipeline");
    assert_eq!(count_commits(&repo, "main"), 1, "nothing went to the default branch");
}

#[tokio::test]
async fn an_rfd_without_a_branch_is_edited_on_a_new_one() {
    let repo = repo();
    let fake = ok(FakeGitHub::start(repo.path(), "acme", "rfd").await);
    let app = App::start(Some(&fake)).await;
    app.seed(1, Visibility::Public, "seed1", 5).await;
    let token = app.github_user(json!(["GetRfdsAll", "UpdateRfdsAll"])).await;
    let (status, body) = app.post("/rfd/1/attr/labels", Some(&token), json!({ "value": "history" })).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(count_commits(&repo, "0001"), count_commits(&repo, "main") + 1);
    assert!(readme(&repo, "0001", 1).contains(":labels: history\n"));
    assert!(!readme(&repo, "main", 1).contains(":labels:"), "the default branch is untouched");
}

#[tokio::test]
async fn writes_need_their_permissions_and_unreadable_rfds_are_missing() {
    let repo = repo();
    let fake = ok(FakeGitHub::start(repo.path(), "acme", "rfd").await);
    let app = App::start(Some(&fake)).await;
    app.seed(1, Visibility::Public, "seed1", 5).await;
    app.seed(3, Visibility::Private, "seed3", 5).await;
    app.seed(5, Visibility::Private, "seed5", 5).await;
    let before = all_commits(&repo);
    let content = json!({ "content": "nope\n" });

    // Reserving needs CreateRfd.
    let (status, _) = app.post("/rfd", None, json!({ "title": "Anon" })).await;
    assert_eq!(status, 401);
    let reader = app.github_user(json!(["GetRfdsAll"])).await;
    let (status, _) = app.post("/rfd", Some(&reader), json!({ "title": "Reader" })).await;
    assert_eq!(status, 403);

    // Readable but not updatable: 403. Anonymous on a public RFD: 401.
    let (status, _) = app.post("/rfd/5/content", Some(&reader), content.clone()).await;
    assert_eq!(status, 403);
    let (status, _) = app.post("/rfd/1/state/publish", None, json!(null)).await;
    assert_eq!(status, 401);

    // Updatable but not readable (private): exactly like a missing RFD.
    let writer = app.github_user(json!([{ "UpdateRfds": [3, 5, 99] }])).await;
    let (status, unreadable) = app.post("/rfd/5/content", Some(&writer), content.clone()).await;
    assert_eq!(status, 404);
    let (status, missing) = app.post("/rfd/99/content", Some(&writer), content.clone()).await;
    assert_eq!(status, 404);
    assert_eq!(unreadable["message"], missing["message"]);
    assert_eq!(unreadable["error_code"], missing["error_code"]);
    let (status, _) = app.post("/rfd/3/attr/labels", Some(&writer), json!({ "value": "x" })).await;
    assert_eq!(status, 404);
    let (status, _) = app.post("/rfd/5/attr/labels", None, json!({ "value": "x" })).await;
    assert_eq!(status, 404, "anonymous callers cannot see private RFDs either");

    // Update on another RFD does not cover this one.
    let other = app.github_user(json!(["GetRfdsAll", { "UpdateRfd": 3 }])).await;
    let (status, _) = app.post("/rfd/5/state/discuss", Some(&other), json!(null)).await;
    assert_eq!(status, 403);

    let (status, body) = app.post("/rfd/abc/content", Some(&other), content).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(all_commits(&repo), before, "nothing was committed");

    // The set form works.
    let (status, body) = app
        .post(
            "/rfd/3/attr/labels",
            Some(&app.github_user(json!([{ "GetRfds": [3] }, { "UpdateRfds": [3] }])).await),
            json!({ "value": "x" }),
        )
        .await;
    assert_eq!(status, 202, "{body}");
}

#[tokio::test]
async fn without_a_source_writes_answer_503() {
    let app = App::start(None).await;
    app.seed(1, Visibility::Public, "seed1", 5).await;
    let admin = app.github_user(json!(["CreateRfd", "GetRfdsAll", "UpdateRfdsAll"])).await;
    let (status, body) = app.post("/rfd", Some(&admin), json!({ "title": "Nowhere" })).await;
    assert_eq!(status, 503, "{body}");
    assert!(body["message"].as_str().unwrap_or_default().contains("no RFD source is configured"), "{body}");
    let (status, body) = app.post("/rfd/1/content", Some(&admin), json!({ "content": "x\n" })).await;
    assert_eq!(status, 503, "{body}");
    let (status, _) = app.post("/rfd/1/state/publish", Some(&admin), json!(null)).await;
    assert_eq!(status, 503);
    assert!(ok(app.store.reservation(1).await).is_none(), "no number is spent without a source");
}

fn comment(id: i64, kind: CommentKind, author: &str, body: &str) -> PullRequestComment {
    let review = kind == CommentKind::Review;
    PullRequestComment {
        id,
        kind,
        author: author.into(),
        body: body.into(),
        html_url: format!("https://github.com/acme/rfd/pull/9#c{id}"),
        path: review.then(|| "rfd/0005/README.adoc".to_string()),
        line: review.then_some(12),
        commit_sha: review.then(|| "abc123".to_string()),
        in_reply_to: None,
        created_at: Utc::now() - chrono::Duration::minutes(100 - id),
        updated_at: Utc::now() - chrono::Duration::minutes(100 - id),
    }
}

#[tokio::test]
async fn discussions_are_served_for_the_latest_and_a_historic_revision() {
    let app = App::start(None).await;
    let old = app.seed(5, Visibility::Private, "c0ffee01", 60).await;
    let new = app.seed(5, Visibility::Private, "c0ffee02", 10).await;
    let without = app.seed(1, Visibility::Public, "c0ffee03", 10).await;
    let pr = RfdDiscussionPullRequest { number: 9, html_url: "https://github.com/acme/rfd/pull/9".into() };
    ok(app
        .store
        .replace_discussion(old.rfd_id, old.id, &pr, &[comment(1, CommentKind::Issue, "grace", "First!")])
        .await);
    let newer = [
        comment(1, CommentKind::Issue, "grace", "First!"),
        comment(2, CommentKind::Review, "alan", "This line is wrong."),
        comment(3, CommentKind::Issue, "ada", "Fixed, thanks."),
    ];
    ok(app.store.replace_discussion(new.rfd_id, new.id, &pr, &newer).await);

    let reader = app.github_user(json!([{ "GetRfd": 5 }, { "GetDiscussion": 5 }])).await;
    let (status, latest) = app.get("/rfd/5/discussion", Some(&reader)).await;
    assert_eq!(status, 200, "{latest}");
    assert_eq!(latest["revision_id"], json!(new.id));
    assert_eq!(latest["commit"], json!("c0ffee02"));
    assert_eq!(
        latest["pull_request"],
        json!({ "number": 9, "html_url": "https://github.com/acme/rfd/pull/9" })
    );
    let comments = latest["comments"].as_array().cloned().unwrap_or_default();
    let summary: Vec<(i64, &str, &str)> = comments
        .iter()
        .map(|c| {
            (
                c["id"].as_i64().unwrap_or_default(),
                c["kind"].as_str().unwrap_or_default(),
                c["author"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(summary, vec![(1, "issue", "grace"), (2, "review", "alan"), (3, "issue", "ada")]);
    assert_eq!(comments[1]["path"], json!("rfd/0005/README.adoc"));
    assert_eq!(comments[1]["line"], json!(12));
    assert_eq!(comments[1]["body"], json!("This line is wrong."));

    let (status, historic) = app.get(&format!("/rfd/5/revision/{}/discussion", old.id), Some(&reader)).await;
    assert_eq!(status, 200, "{historic}");
    assert_eq!(historic["revision_id"], json!(old.id));
    assert_eq!(historic["comments"].as_array().map(Vec::len), Some(1));

    // A revision of another RFD is not one of this RFD's.
    let (status, _) = app.get(&format!("/rfd/1/revision/{}/discussion", old.id), Some(&reader)).await;
    assert_eq!(status, 404);
    // A revision processed without a pull request: an empty discussion.
    let everyone = app.github_user(json!(["GetDiscussionsAll"])).await;
    let (status, empty) =
        app.get(&format!("/rfd/1/revision/{}/discussion", without.id), Some(&everyone)).await;
    assert_eq!(status, 200, "{empty}");
    assert_eq!((empty["pull_request"].clone(), empty["comments"].clone()), (Value::Null, json!([])));

    // Permissions: read access and GetDiscussion.
    let no_discussion = app.github_user(json!([{ "GetRfd": 5 }])).await;
    let (status, _) = app.get("/rfd/5/discussion", Some(&no_discussion)).await;
    assert_eq!(status, 403);
    let (status, unreadable) = app.get("/rfd/5/discussion", Some(&everyone)).await;
    assert_eq!(status, 404, "GetDiscussionsAll does not make a private RFD readable");
    let (_, missing) = app.get("/rfd/77/discussion", Some(&everyone)).await;
    assert_eq!(unreadable["message"], missing["message"]);
    let (status, _) = app.get("/rfd/5/discussion", None).await;
    assert_eq!(status, 404);
    let (status, _) = app.get("/rfd/1/discussion", None).await;
    assert_eq!(status, 401, "a public RFD's discussion still needs GetDiscussion");
}
