//! Operations over real HTTP against a real database: `/metrics` moves by exactly what
//! was sent, RFD writes go through a plain git repository (`[source] kind = "git"`), and a
//! visibility change emits `rfd.visibility_changed` to the event subscribers.

mod http_common;

use std::collections::HashMap;
use std::path::Path;

use chrono::Utc;
use rfd_github::webhook::sign;
use rfd_github_fake::PushRepos;
use rfd_model::{JobFilter, JobKind, NewJob, NewRfd, Page, Visibility};
use serde_json::{Value, json};
use uuid::Uuid;

const SECRET: &str = "metrics-secret";

fn ok<T, E: std::fmt::Display>(result: Result<T, E>) -> T {
    result.unwrap_or_else(|err| panic!("{err}"))
}

type App = http_common::FreshApi;

impl App {
    /// A server on a fresh database, with `extra` appended to its config file.
    async fn start(extra: &str) -> Self {
        Self::on_fresh_database(&format!("[webhook]\nsecrets = [\"{SECRET}\"]\n{extra}")).await
    }

    /// `GET /metrics`: every sample, keyed by its name and labels as exposed.
    async fn scrape(&self) -> HashMap<String, f64> {
        let response = ok(self.client.get(format!("{}/metrics", self.base)).send().await);
        assert_eq!(response.status().as_u16(), 200);
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .to_string();
        assert!(content_type.starts_with("application/openmetrics-text"), "{content_type}");
        let text = ok(response.text().await);
        samples(&text)
    }

    async fn jobs(&self) -> Vec<rfd_model::Job> {
        ok(self.store.list_jobs(&JobFilter::default(), Page::first(1000)).await)
    }
}

/// The samples of a text exposition: `name{labels}` → value.
fn samples(text: &str) -> HashMap<String, f64> {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .filter_map(|line| {
            let (key, value) = line.rsplit_once(' ')?;
            Some((key.to_string(), value.parse().ok()?))
        })
        .collect()
}

/// How much a sample grew from `before` to `after` (absent counts as 0).
fn delta(before: &HashMap<String, f64>, after: &HashMap<String, f64>, key: &str) -> f64 {
    after.get(key).copied().unwrap_or(0.0) - before.get(key).copied().unwrap_or(0.0)
}

fn requests(operation: &str, method: &str, status: u16) -> String {
    format!(
        "rfd_api_http_requests_total{{operation=\"{operation}\",method=\"{method}\",status=\"{status}\",class=\"{}xx\"}}",
        status / 100
    )
}

fn push_payload() -> Value {
    let commit = json!({
        "id": "c0ffee0000000000000000000000000000000001",
        "timestamp": "2026-11-20T10:11:12+01:00",
        "message": "change",
        "added": [],
        "modified": ["rfd/0001/README.adoc", "rfd/0002/README.adoc"],
        "removed": [],
    });
    json!({
        "ref": "refs/heads/main",
        "before": "0000000000000000000000000000000000000001",
        "after": commit["id"],
        "created": false,
        "deleted": false,
        "forced": false,
        "commits": [commit],
        "head_commit": commit,
        "repository": { "id": 1, "name": "rfd", "full_name": "acme/rfd", "owner": { "login": "acme" }, "default_branch": "main" },
        "sender": { "login": "ada" },
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_move_by_exactly_what_was_sent() {
    let app = App::start("").await;
    let before = app.scrape().await;

    // One signed push (queued) and one with a wrong signature.
    let body = ok(serde_json::to_vec(&push_payload()));
    let url = format!("{}/github", app.base);
    let send = |signature: String| {
        app.client
            .post(&url)
            .header("X-GitHub-Event", "push")
            .header("X-GitHub-Delivery", Uuid::new_v4().to_string())
            .header("X-Hub-Signature-256", signature)
            .body(body.clone())
            .send()
    };
    let queued = ok(send(sign(SECRET.as_bytes(), &body)).await);
    assert_eq!(queued.status().as_u16(), 202);
    let outcome: Value = ok(queued.json().await);
    assert_eq!(outcome["outcome"], "queued", "{outcome}");
    let from_webhook = outcome["jobs_queued"].as_i64().unwrap_or_default();
    assert!(from_webhook >= 2, "{outcome}");
    let refused = ok(send(sign(b"not-the-secret", &body)).await);
    assert_eq!(refused.status().as_u16(), 401);

    // A route with a path parameter counts under its operation, never its raw path; a path
    // no endpoint serves counts as unmatched.
    let (missing, _) = app.call(reqwest::Method::GET, "/rfd/4242", None, None).await;
    assert!(missing == 404 || missing == 401, "{missing}");
    let (status, _) = app.call(reqwest::Method::GET, "/no/such/thing", None, None).await;
    assert_eq!(status, 404);
    // The trigger is not enabled: refused.
    let (status, _) = app.call(reqwest::Method::POST, "/trigger/abc", None, Some(json!([]))).await;
    assert_eq!(status, 404);

    // Three more jobs in the queue.
    let jobs: Vec<NewJob> = (0..3)
        .map(|i| NewJob {
            kind: JobKind::RfdUpdate,
            owner: "acme".into(),
            repository: "rfd".into(),
            branch: "main".into(),
            sha: format!("{i:040x}"),
            rfd: Some(10 + i),
            webhook_delivery_id: None,
            committed_at: Utc::now(),
        })
        .collect();
    ok(app.store.enqueue(&jobs).await);

    let after = app.scrape().await;
    let d = |key: &str| delta(&before, &after, key);
    assert_eq!(d("rfd_api_webhook_deliveries_total{outcome=\"queued\"}"), 1.0, "{after:#?}");
    assert_eq!(d("rfd_api_webhook_deliveries_total{outcome=\"bad_signature\"}"), 1.0);
    assert_eq!(d("rfd_api_webhook_deliveries_total{outcome=\"duplicate\"}"), 0.0);
    assert_eq!(d(&requests("github_webhook", "POST", 202)), 1.0);
    assert_eq!(d(&requests("github_webhook", "POST", 401)), 1.0);
    assert_eq!(d("rfd_api_http_request_duration_seconds_count{operation=\"github_webhook\"}"), 2.0);
    assert_eq!(d(&requests("view_rfd_meta", "GET", missing)), 1.0);
    assert_eq!(d(&requests("unmatched", "GET", 404)), 1.0);
    assert_eq!(d("rfd_api_trigger_requests_total{outcome=\"refused\"}"), 1.0);
    assert_eq!(d(&requests("trigger", "POST", 404)), 1.0);
    // The first scrape is counted by the second.
    assert_eq!(d(&requests("metrics", "GET", 200)), 1.0);
    assert!(after.keys().all(|key| !key.contains("4242")), "no raw path is a label");

    assert_eq!(after.get("rfd_queue_jobs{state=\"queued\"}").copied(), Some((from_webhook + 3) as f64));
    assert_eq!(after.get("rfd_queue_jobs{state=\"running\"}").copied(), Some(0.0));
    assert_eq!(after.get("rfd_queue_jobs{state=\"failed\"}").copied(), Some(0.0));
}

/// A bare repository whose main branch holds RFD 1, and the clone it was pushed from.
fn bare_repository() -> PushRepos {
    let repos = ok(PushRepos::new("Grace", "grace@example.com"));
    ok(repos.write(
        "rfd/0001/README.adoc",
        ":authors: Grace Hopper <grace@example.com>\n:state: published\n\n= RFD 1 First\n\n== Background\n\nWhy.\n",
    ));
    ok(repos.commit("RFD 1"));
    ok(repos.push("main"));
    repos
}

fn git_source(bare: &Path) -> String {
    format!(
        "[source]\nkind = \"git\"\npath = {:?}\ncommitter_name = \"RFD Platform\"\ncommitter_email = \"rfd@example.com\"\n",
        bare.display().to_string()
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn writes_go_through_a_plain_git_repository() {
    let repos = bare_repository();
    let bare = repos.bare();
    let app = App::start(&git_source(bare)).await;
    let token = app.github_user(json!(["CreateRfd", "UpdateRfdsAll"])).await;
    let main = ok(repos.git(bare, &["rev-parse", "main"]));

    let (status, body) = app
        .call(reqwest::Method::POST, "/rfd", Some(&token), Some(json!({"title": "Plain git writes"})))
        .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["number"], 2, "the next number after the repository's RFD 1");
    let log = ok(repos.git(bare, &["log", "--format=%cn <%ce>%n%B%n--", "0002"]));
    assert!(log.contains("Reserve RFD 2: Plain git writes"), "{log}");
    assert!(log.contains("Submitted-by: Ada Lovelace <ada@example.com>"), "the author is named: {log}");
    assert!(log.contains("RFD Platform <rfd@example.com>"), "committed as the configured committer: {log}");
    let document = ok(repos.git(bare, &["show", "0002:rfd/0002/README.adoc"]));
    assert!(document.contains("Plain git writes"), "{document}");

    let (status, body) = app
        .call(
            reqwest::Method::POST,
            "/rfd/2/content",
            Some(&token),
            Some(json!({"content": "== Background\n\nNew words from the API.\n", "message": "Write the background"})),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let head = ok(repos.git(bare, &["rev-parse", "0002"]));
    let message = ok(repos.git(bare, &["log", "-1", "--format=%B", "0002"]));
    assert!(message.starts_with("Write the background"), "{message}");
    assert!(message.contains("Submitted-by: Ada Lovelace <ada@example.com>"), "{message}");
    assert_eq!(
        ok(repos.git(bare, &["rev-list", "--count", "main..0002"])),
        "2",
        "reserve and edit, one commit each"
    );
    let document = ok(repos.git(bare, &["show", "0002:rfd/0002/README.adoc"]));
    assert!(document.contains("New words from the API."), "{document}");
    assert!(document.contains("Plain git writes"), "the title is kept: {document}");
    assert_eq!(ok(repos.git(bare, &["rev-parse", "main"])), main, "main is untouched");

    // The commits are queued for the pipeline under the repository the processor reads.
    let jobs = app.jobs().await;
    assert!(
        jobs.iter().any(|job| job.sha == head
            && job.branch == "0002"
            && job.rfd == Some(2)
            && job.owner == "git"
            && job.repository == "rfd"),
        "{jobs:#?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_visibility_change_emits_an_event() {
    let repos = bare_repository();
    let bare = repos.bare();
    let app = App::start(&git_source(bare)).await;
    let events: rfd_model::events::EventSettings = ok(toml::from_str(
        "[[subscribers]]\nname = \"audit\"\nkind = \"webhook\"\nurl = \"http://127.0.0.1:9/hook\"\nsecret = \"s\"\n\
         [[subscribers]]\nname = \"off\"\nkind = \"webhook\"\nenabled = false\nurl = \"http://127.0.0.1:9/off\"\nsecret = \"s\"\n",
    ));
    ok(app.store.sync_event_subscribers(&events).await);
    ok(app.store.upsert_rfd(&NewRfd { rfd_number: 7, link: None, visibility: Visibility::Private }).await);
    let manager = app.github_user(json!(["GetRfdsAll", {"ManageRfdVisibility": 7}])).await;
    let deliveries = async || {
        let jobs = app.jobs().await;
        jobs.into_iter().filter(|job| job.kind == JobKind::EventDelivery).collect::<Vec<_>>()
    };
    let set = async |visibility: &str| {
        let (status, body) = app
            .call(
                reqwest::Method::POST,
                "/rfd/7/visibility",
                Some(&manager),
                Some(json!({"visibility": visibility})),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["visibility"], visibility);
    };

    // Unchanged: nothing is emitted.
    set("private").await;
    assert!(deliveries().await.is_empty());

    set("public").await;
    let jobs = deliveries().await;
    assert_eq!(jobs.len(), 1, "one delivery, for the enabled subscriber: {jobs:#?}");
    let delivery = ok(app.store.event_delivery_for_job(jobs[0].id).await);
    let delivery = delivery.unwrap_or_else(|| panic!("no delivery for job {}", jobs[0].id));
    assert_eq!(delivery.subscriber, "audit");
    assert_eq!(delivery.kind, "rfd.visibility_changed");
    let body: Value = ok(serde_json::from_str(&delivery.body));
    assert_eq!(body["type"], "rfd.visibility_changed", "{body}");
    assert_eq!(body["data"], json!({"from": "private", "to": "public"}), "{body}");
    assert_eq!(body["rfd_number"], 7);
    assert_eq!((body["owner"].as_str(), body["repository"].as_str()), (Some("git"), Some("rfd")), "{body}");

    // Setting it again changes nothing and emits nothing; flipping back emits again.
    set("public").await;
    assert_eq!(deliveries().await.len(), 1);
    set("private").await;
    let jobs = deliveries().await;
    assert_eq!(jobs.len(), 2);
    let bodies: Vec<Value> = {
        let mut bodies = Vec::new();
        for job in &jobs {
            let delivery = ok(app.store.event_delivery_for_job(job.id).await);
            bodies.push(ok(serde_json::from_str(&delivery.map(|d| d.body).unwrap_or_default())));
        }
        bodies
    };
    assert!(bodies.iter().any(|b| b["data"] == json!({"from": "public", "to": "private"})), "{bodies:#?}");
}
