//! `POST /trigger/{id}` over real HTTP against a real database: right, wrong, rotated
//! and disabled ids, the lock-out of an address that keeps guessing, and what is queued.

use std::time::Duration;

use rfd_api::config::ApiConfig;
use rfd_model::{JobFilter, JobKind, Page, Store};
use serde_json::{Value, json};
use uuid::Uuid;

struct Api {
    _server: dropshot::HttpServer<rfd_api::server::ApiContext>,
    base: String,
    store: Store,
    client: reqwest::Client,
}

impl Api {
    async fn start(database_url: &str, trigger: &str) -> Self {
        let path = std::env::temp_dir().join(format!("rfd-trigger-{}.toml", Uuid::new_v4()));
        std::fs::write(
            &path,
            format!(
                "database_url = \"{database_url}\"\n[api]\naddress = \"127.0.0.1:0\"\n\
                 [source]\nkind = \"git\"\npath = \"/srv/git/rfd.git\"\n[trigger]\n{trigger}\n"
            ),
        )
        .unwrap_or_else(|err| panic!("write config: {err}"));
        let mut config = ApiConfig::load(&path).unwrap_or_else(|err| panic!("config: {err}"));
        // DATABASE_URL in the environment must not point the server elsewhere.
        config.database_url = database_url.to_string().into();
        let server =
            rfd_api::server::start(rfd_api::server::context(config)).unwrap_or_else(|err| panic!("{err}"));
        let base = format!("http://{}", server.local_addr());
        let store = Store::new(rfd_model::db::pool(database_url, &Default::default()));
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap_or_else(|err| panic!("client: {err}"));
        Self { _server: server, base, store, client }
    }

    async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        let response = self
            .client
            .post(format!("{}{path}", self.base))
            .json(body)
            .send()
            .await
            .unwrap_or_else(|err| panic!("POST {path}: {err}"));
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn trigger(&self, id: &str, body: &Value) -> (u16, Value) {
        self.post(&format!("/trigger/{id}"), body).await
    }

    async fn jobs(&self) -> Vec<rfd_model::Job> {
        self.store
            .list_jobs(&JobFilter::default(), Page::first(100))
            .await
            .unwrap_or_else(|err| panic!("list jobs: {err}"))
    }
}

fn push(branch: &str, after: &str) -> Value {
    json!({ "ref": format!("refs/heads/{branch}"), "before": "0".repeat(40), "after": after })
}

/// The parts of an error answer that do not vary per request (the request id does).
fn shape(answer: &(u16, Value)) -> (u16, Value, Value) {
    (answer.0, answer.1["error_code"].clone(), answer.1["message"].clone())
}

#[tokio::test]
async fn right_ids_queue_reconciles_and_wrong_rotated_or_unset_ids_look_unknown() {
    let db = rfd_devdb::test_database().await;
    let api = Api::start(&db.url, "enabled = true").await;
    let sha = "1".repeat(40);

    // No id set yet: nothing can match.
    let unset = api.trigger(&"a".repeat(64), &push("main", &sha)).await;
    assert_eq!(unset.0, 404);

    let first = rfd_api::trigger::rotate(&api.store).await.unwrap_or_else(|err| panic!("rotate: {err}"));
    let stored = api.store.trigger_hash().await.unwrap_or_else(|err| panic!("{err}")).map(|(hash, _)| hash);
    assert_eq!(stored.as_deref(), Some(first.hash.as_slice()), "only the hash is stored");
    assert_ne!(stored.as_deref(), Some(first.value.as_bytes()));

    let (status, body) = api
        .trigger(&first.value, &json!([push("main", &sha), push("0042", &sha), push("feature", &sha)]))
        .await;
    assert_eq!((status, body["outcome"].as_str()), (202, Some("queued")), "{body}");
    assert_eq!(body["jobs_queued"], 2);
    let jobs = api.jobs().await;
    assert!(jobs.iter().all(|j| j.kind == JobKind::BranchReconcile && j.rfd.is_none()));
    let mut queued: Vec<(&str, &str, &str)> =
        jobs.iter().map(|j| (j.branch.as_str(), j.sha.as_str(), j.repository.as_str())).collect();
    queued.sort();
    assert_eq!(queued, [("0042", sha.as_str(), "rfd"), ("main", sha.as_str(), "rfd")]);

    // The hook run again: the same delivery, nothing queued twice.
    let (status, body) = api
        .trigger(&first.value, &json!([push("main", &sha), push("0042", &sha), push("feature", &sha)]))
        .await;
    assert_eq!((status, body["outcome"].as_str()), (202, Some("duplicate")), "{body}");
    assert_eq!(api.jobs().await.len(), 2);

    // One line alone, a tag, a deletion.
    let (status, body) = api.trigger(&first.value, &push("main", &"2".repeat(40))).await;
    assert_eq!((status, body["jobs_queued"].as_u64()), (202, Some(1)), "{body}");
    let tag = json!({ "ref": "refs/tags/v1", "before": "0".repeat(40), "after": sha });
    let (status, body) = api.trigger(&first.value, &tag).await;
    assert_eq!((status, body["outcome"].as_str()), (202, Some("ignored")), "{body}");

    // Malformed lines: 400 with the reason.
    let (status, body) =
        api.trigger(&first.value, &json!({ "ref": "main", "before": sha, "after": sha })).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["message"].as_str().is_some_and(|m| m.contains("full ref name")), "{body}");
    let (status, _) = api.trigger(&first.value, &json!({ "branch": "main" })).await;
    assert_eq!(status, 400);

    // Wrong and rotated ids answer exactly like an id nobody ever had.
    let wrong = api.trigger(&"b".repeat(64), &push("main", &"3".repeat(40))).await;
    let second = rfd_api::trigger::rotate(&api.store).await.unwrap_or_else(|err| panic!("rotate: {err}"));
    let rotated = api.trigger(&first.value, &push("main", &"3".repeat(40))).await;
    let garbage = api.trigger("not-even-hex", &push("main", &"3".repeat(40))).await;
    assert_eq!(wrong.0, 404);
    assert_eq!(shape(&rotated), shape(&wrong));
    assert_eq!(shape(&garbage), shape(&wrong));
    assert_eq!(shape(&unset), shape(&wrong));
    assert!(!wrong.1.to_string().contains(&first.value));
    let (status, body) = api.trigger(&second.value, &push("main", &"3".repeat(40))).await;
    assert_eq!((status, body["jobs_queued"].as_u64()), (202, Some(1)), "the new id works at once: {body}");
    assert_eq!(api.jobs().await.len(), 4, "refused triggers queued nothing");

    // A disabled trigger: the same 404, even for the right id.
    let disabled = Api::start(&db.url, "enabled = false").await;
    let off = disabled.trigger(&second.value, &push("main", &"4".repeat(40))).await;
    assert_eq!(shape(&off), shape(&wrong));
    assert_eq!(api.jobs().await.len(), 4);
}

#[tokio::test]
async fn an_address_that_keeps_guessing_is_locked_out_even_with_the_right_id() {
    let db = rfd_devdb::test_database().await;
    // A lock-out far longer than the test: nothing here depends on timing.
    let api = Api::start(&db.url, "enabled = true\nmax_failures = 3\nbackoff_base_ms = 600000").await;
    let id = rfd_api::trigger::rotate(&api.store).await.unwrap_or_else(|err| panic!("rotate: {err}"));
    let sha = "5".repeat(40);

    // Fewer wrong ids than the limit, then the right one: accepted, and the count resets.
    for _ in 0..2 {
        assert_eq!(api.trigger(&"c".repeat(64), &push("main", &sha)).await.0, 404);
    }
    let (status, _) = api.trigger(&id.value, &push("main", &sha)).await;
    assert_eq!(status, 202);
    for _ in 0..2 {
        assert_eq!(api.trigger(&"c".repeat(64), &push("main", &sha)).await.0, 404);
    }
    let (status, _) = api.trigger(&id.value, &push("0001", &sha)).await;
    assert_eq!(status, 202, "two wrong ids after a right one do not lock the address");

    // Three in a row: the address is locked out; the right id gets the same 404 and
    // queues nothing.
    let wrong = {
        let mut last = (0, Value::Null);
        for _ in 0..3 {
            last = api.trigger(&"c".repeat(64), &push("main", &sha)).await;
        }
        last
    };
    let before = api.jobs().await.len();
    let locked = api.trigger(&id.value, &push("0002", &sha)).await;
    assert_eq!(shape(&locked), shape(&wrong));
    assert_eq!(api.jobs().await.len(), before);
}
