//! `POST /github` over real HTTP against a real database.

use std::time::{Duration, Instant};

use rfd_api::config::ApiConfig;
use rfd_github::webhook::sign;
use rfd_model::{JobFilter, JobKind, Page, Store};
use serde_json::{Value, json};
use uuid::Uuid;

const SECRET: &str = "current-secret";
const OLD_SECRET: &str = "previous-secret";

struct Api {
    server: Option<dropshot::HttpServer<rfd_api::server::ApiContext>>,
    url: String,
    store: Store,
    client: reqwest::Client,
}

impl Api {
    async fn start(database_url: &str) -> Self {
        let path = std::env::temp_dir().join(format!("rfd-webhook-{}.toml", Uuid::new_v4()));
        std::fs::write(
            &path,
            format!(
                "database_url = \"{database_url}\"\n[api]\naddress = \"127.0.0.1:0\"\n\
                 [database]\nconnect_timeout_secs = 1\n[webhook]\nsecrets = [\"{OLD_SECRET}\", \"{SECRET}\"]\n"
            ),
        )
        .unwrap_or_else(|err| panic!("write config: {err}"));
        let config = ApiConfig::load(&path).unwrap_or_else(|err| panic!("config: {err}"));
        let server =
            rfd_api::server::start(rfd_api::server::context(config)).unwrap_or_else(|err| panic!("{err}"));
        let url = format!("http://{}/github", server.local_addr());
        let store = Store::new(rfd_model::db::pool(database_url, &Default::default()));
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap_or_else(|err| panic!("client: {err}"));
        Self { server: Some(server), url, store, client }
    }

    async fn send(
        &self,
        event: Option<&str>,
        delivery: Option<&str>,
        signature: Option<String>,
        body: &[u8],
    ) -> (u16, Value) {
        let mut request = self.client.post(&self.url).body(body.to_vec());
        if let Some(event) = event {
            request = request.header("X-GitHub-Event", event);
        }
        if let Some(delivery) = delivery {
            request = request.header("X-GitHub-Delivery", delivery);
        }
        if let Some(signature) = signature {
            request = request.header("X-Hub-Signature-256", signature);
        }
        let response = request.send().await.unwrap_or_else(|err| panic!("POST: {err}"));
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn deliver(&self, event: &str, delivery: Uuid, payload: &Value) -> (u16, Value) {
        let body = serde_json::to_vec(payload).unwrap_or_default();
        self.send(Some(event), Some(&delivery.to_string()), Some(sign(SECRET.as_bytes(), &body)), &body).await
    }

    async fn jobs(&self) -> Vec<rfd_model::Job> {
        let mut jobs = self
            .store
            .list_jobs(&JobFilter::default(), Page::first(1000))
            .await
            .unwrap_or_else(|err| panic!("list jobs: {err}"));
        jobs.sort_by_key(|job| (job.rfd, job.id));
        jobs
    }
}

impl Drop for Api {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            tokio::spawn(async move {
                let _ = server.close().await;
            });
        }
    }
}

fn commit(id: &str, files: &[&str]) -> Value {
    json!({
        "id": id,
        "timestamp": "2026-11-20T10:11:12+01:00",
        "message": "change",
        "added": [],
        "modified": files,
        "removed": [],
    })
}

fn push(git_ref: &str, commits: Vec<Value>) -> Value {
    let head = commits.last().cloned().unwrap_or(Value::Null);
    json!({
        "ref": git_ref,
        "before": "0000000000000000000000000000000000000001",
        "after": head.get("id").cloned().unwrap_or(Value::Null),
        "created": false,
        "deleted": false,
        "forced": false,
        "commits": commits,
        "head_commit": head,
        "repository": { "id": 1, "name": "rfd", "full_name": "acme/rfd", "owner": { "login": "acme" }, "default_branch": "main" },
        "sender": { "login": "ada" },
    })
}

async fn api() -> (rfd_devdb::TestDatabase, Api) {
    let db = rfd_devdb::test_database().await;
    let api = Api::start(&db.url).await;
    (db, api)
}

#[tokio::test(flavor = "multi_thread")]
async fn signatures_are_checked_before_anything_else() {
    let (_db, api) = api().await;
    let body = serde_json::to_vec(&push("refs/heads/main", vec![commit("c1", &["rfd/0001/README.adoc"])]))
        .unwrap_or_default();
    let delivery = Uuid::new_v4().to_string();

    let (status, error) = api.send(Some("push"), Some(&delivery), None, &body).await;
    assert_eq!(status, 401, "missing signature: {error}");
    let (status, _) = api.send(Some("push"), Some(&delivery), Some(sign(b"wrong", &body)), &body).await;
    assert_eq!(status, 401, "wrong secret");
    let (status, _) = api.send(Some("push"), Some(&delivery), Some("sha256=zz".into()), &body).await;
    assert_eq!(status, 401, "malformed signature");
    // A signature over other bytes does not verify this body.
    let (status, _) =
        api.send(Some("push"), Some(&delivery), Some(sign(SECRET.as_bytes(), b"{}")), &body).await;
    assert_eq!(status, 401);
    assert!(api.jobs().await.is_empty(), "nothing queued by rejected deliveries");
    // Bad signatures are refused even when the headers are missing too.
    let (status, _) = api.send(None, None, Some(sign(b"wrong", &body)), &body).await;
    assert_eq!(status, 401);
    let (status, error) = api.send(Some("push"), Some(&delivery), Some(sign(b"wrong", &body)), &body).await;
    assert!(!error.to_string().contains(SECRET), "no secret in errors");
    assert_eq!(status, 401);

    // Both configured secrets verify (rotation).
    let (status, _) =
        api.send(Some("push"), Some(&delivery), Some(sign(OLD_SECRET.as_bytes(), &body)), &body).await;
    assert_eq!(status, 202);
    let (status, outcome) = api
        .send(Some("push"), Some(&Uuid::new_v4().to_string()), Some(sign(SECRET.as_bytes(), &body)), &body)
        .await;
    assert_eq!(status, 202, "{outcome}");
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_requests_get_a_reason() {
    let (_db, api) = api().await;
    let body = br#"{"ref": 42}"#;
    let signature = Some(sign(SECRET.as_bytes(), body));
    let (status, error) = api.send(None, Some(&Uuid::new_v4().to_string()), signature.clone(), body).await;
    assert_eq!(status, 400);
    assert!(error["message"].as_str().unwrap_or_default().contains("X-GitHub-Event"), "{error}");
    let (status, error) = api.send(Some("push"), None, signature.clone(), body).await;
    assert_eq!(status, 400);
    assert!(error["message"].as_str().unwrap_or_default().contains("X-GitHub-Delivery"), "{error}");
    let (status, error) = api.send(Some("push"), Some("not-a-uuid"), signature.clone(), body).await;
    assert_eq!(status, 400, "{error}");
    let (status, error) = api.send(Some("push"), Some(&Uuid::new_v4().to_string()), signature, body).await;
    assert_eq!(status, 400);
    assert!(error["message"].as_str().unwrap_or_default().contains("malformed push payload"), "{error}");
}

#[tokio::test(flavor = "multi_thread")]
async fn ping_and_other_events() {
    let (_db, api) = api().await;
    let (status, body) =
        api.deliver("ping", Uuid::new_v4(), &json!({"zen": "Keep it logically awesome."})).await;
    assert_eq!((status, body["outcome"].as_str()), (200, Some("pong")));
    let (status, body) = api.deliver("issues", Uuid::new_v4(), &json!({"action": "opened"})).await;
    assert_eq!((status, body["jobs_queued"].as_u64()), (202, Some(0)));
    assert!(api.jobs().await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_push_to_the_default_branch_queues_one_job_per_rfd() {
    let (_db, api) = api().await;
    let delivery = Uuid::new_v4();
    let payload = push(
        "refs/heads/main",
        vec![
            commit("c1", &["rfd/0001/README.adoc", "rfd/0001/diagram.svg"]),
            commit("c2", &["rfd/0002/README.md", "rfd/0001/README.adoc", "README.md"]),
        ],
    );
    let (status, body) = api.deliver("push", delivery, &payload).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["jobs_queued"], 2);
    let jobs = api.jobs().await;
    let summary: Vec<_> = jobs.iter().map(|j| (j.rfd, j.branch.as_str(), j.sha.as_str(), j.kind)).collect();
    assert_eq!(
        summary,
        [(Some(1), "main", "c2", JobKind::RfdUpdate), (Some(2), "main", "c2", JobKind::RfdUpdate)]
    );
    assert!(
        jobs.iter()
            .all(|j| j.webhook_delivery_id == Some(delivery) && j.owner == "acme" && j.repository == "rfd")
    );

    // The same delivery again: 202, nothing new.
    let (status, body) = api.deliver("push", delivery, &payload).await;
    assert_eq!((status, body["outcome"].as_str()), (202, Some("duplicate")));
    assert_eq!(api.jobs().await.len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn branches_tags_and_deletions() {
    let (_db, api) = api().await;
    // A push to branch 0123 schedules only RFD 123, whatever else it touches.
    let payload =
        push("refs/heads/0123", vec![commit("b1", &["rfd/0123/README.adoc", "rfd/0200/README.adoc"])]);
    let (status, body) = api.deliver("push", Uuid::new_v4(), &payload).await;
    assert_eq!((status, body["jobs_queued"].as_u64()), (202, Some(1)));
    // Other branches and tags queue nothing.
    let feature = push("refs/heads/feature", vec![commit("f1", &["rfd/0005/README.adoc"])]);
    let (status, body) = api.deliver("push", Uuid::new_v4(), &feature).await;
    assert_eq!((status, body["jobs_queued"].as_u64()), (202, Some(0)));
    let tag = push("refs/tags/v1", vec![commit("t1", &["rfd/0005/README.adoc"])]);
    let (status, body) = api.deliver("push", Uuid::new_v4(), &tag).await;
    assert_eq!((status, body["outcome"].as_str()), (202, Some("ignored")));
    let mut deletion = push("refs/heads/0123", vec![]);
    deletion["deleted"] = json!(true);
    deletion["after"] = json!("0000000000000000000000000000000000000000");
    let (status, body) = api.deliver("push", Uuid::new_v4(), &deletion).await;
    assert_eq!((status, body["jobs_queued"].as_u64()), (202, Some(0)));

    let jobs = api.jobs().await;
    assert_eq!(jobs.iter().map(|j| (j.rfd, j.branch.as_str())).collect::<Vec<_>>(), [(Some(123), "0123")]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_possibly_truncated_push_schedules_a_reconcile() {
    let (_db, api) = api().await;
    let commits: Vec<Value> = (0..21)
        .map(|i| commit(&format!("c{i:02}"), &[&format!("rfd/{:04}/README.adoc", 1 + i % 3)]))
        .collect();
    let (status, body) = api.deliver("push", Uuid::new_v4(), &push("refs/heads/main", commits)).await;
    assert_eq!(status, 202, "{body}");
    let jobs = api.jobs().await;
    let reconciles: Vec<_> = jobs.iter().filter(|j| j.kind == JobKind::BranchReconcile).collect();
    assert_eq!(reconciles.len(), 1);
    assert_eq!(
        (reconciles[0].branch.as_str(), reconciles[0].sha.as_str(), reconciles[0].rfd),
        ("main", "c20", None)
    );
    assert_eq!(jobs.iter().filter(|j| j.kind == JobKind::RfdUpdate).count(), 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_body_over_25_mib_is_refused() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (_db, api) = api().await;
    // The server refuses on the declared length, before reading the body. Only the headers
    // are sent: a client still uploading when the server closes may see a reset instead of
    // the answer, which would make the test depend on timing.
    let address = api.url.trim_start_matches("http://").trim_end_matches("/github").to_string();
    let mut stream =
        tokio::net::TcpStream::connect(&address).await.unwrap_or_else(|err| panic!("connect: {err}"));
    let request = format!(
        "POST /github HTTP/1.1\r\nHost: {address}\r\nX-GitHub-Event: push\r\nX-GitHub-Delivery: {}\r\n\
         X-Hub-Signature-256: sha256=00\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        Uuid::new_v4(),
        26 * 1024 * 1024
    );
    stream.write_all(request.as_bytes()).await.unwrap_or_else(|err| panic!("write: {err}"));
    let mut answer = vec![0u8; 4096];
    let read = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut answer))
        .await
        .unwrap_or_else(|_| panic!("no answer within 10 s"))
        .unwrap_or_else(|err| panic!("read: {err}"));
    let answer = String::from_utf8_lossy(&answer[..read]);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
}

#[tokio::test(flavor = "multi_thread")]
async fn database_down_answers_503_and_recovers_without_restart() {
    let cluster = rfd_devdb::Cluster::start_private().unwrap_or_else(|err| panic!("cluster: {err}"));
    let url = cluster.url("postgres");
    rfd_model::migrations::migrate(&url).await.unwrap_or_else(|err| panic!("migrate: {err}"));
    let api = Api::start(&url).await;
    let payload = push("refs/heads/main", vec![commit("c1", &["rfd/0001/README.adoc"])]);
    assert_eq!(api.deliver("push", Uuid::new_v4(), &payload).await.0, 202);

    cluster.stop().unwrap_or_else(|err| panic!("stop: {err}"));
    let delivery = Uuid::new_v4();
    let started = Instant::now();
    let (status, body) = api.deliver("push", delivery, &payload).await;
    assert_eq!(status, 503, "{body}");
    assert!(started.elapsed() < Duration::from_secs(8), "answered in {:?}", started.elapsed());

    cluster.start().unwrap_or_else(|err| panic!("start: {err}"));
    // GitHub redelivers the same delivery: it is recorded now (nothing was recorded before).
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, body) = api.deliver("push", delivery, &payload).await;
        if status == 202 {
            assert_eq!(body["outcome"], "queued", "{body}");
            break;
        }
        assert!(Instant::now() < deadline, "still {status} after the database returned");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_deliveries_share_commits_but_each_gets_its_own_outcome() {
    let (_db, api) = api().await;
    let api = std::sync::Arc::new(api);
    // 20 copies of one delivery and 20 distinct ones, all at once: they are recorded
    // together (group commit), yet the copy is queued once and every other is a duplicate.
    let repeated = Uuid::new_v4();
    let mut tasks = Vec::new();
    for i in 0..40 {
        let api = api.clone();
        tasks.push(tokio::spawn(async move {
            let (delivery, sha, rfd) = if i % 2 == 0 {
                (repeated, "shared".to_string(), 1)
            } else {
                (Uuid::new_v4(), format!("c{i}"), 100 + i)
            };
            let payload =
                push("refs/heads/main", vec![commit(&sha, &[&format!("rfd/{rfd:04}/README.adoc")])]);
            let (status, body) = api.deliver("push", delivery, &payload).await;
            (delivery == repeated, status, body)
        }));
    }
    let (mut repeated_queued, mut repeated_duplicate, mut distinct_queued) = (0, 0, 0);
    for task in tasks {
        let (is_repeated, status, body) = task.await.unwrap_or_else(|err| panic!("join: {err}"));
        assert_eq!(status, 202, "{body}");
        match (is_repeated, body["outcome"].as_str(), body["jobs_queued"].as_u64()) {
            (true, Some("queued"), Some(1)) => repeated_queued += 1,
            (true, Some("duplicate"), Some(0)) => repeated_duplicate += 1,
            (false, Some("queued"), Some(1)) => distinct_queued += 1,
            other => panic!("unexpected outcome {other:?}: {body}"),
        }
    }
    assert_eq!((repeated_queued, repeated_duplicate, distinct_queued), (1, 19, 20));
    let jobs = api.jobs().await;
    assert_eq!(jobs.len(), 21);
    assert_eq!(jobs.iter().filter(|j| j.webhook_delivery_id == Some(repeated)).count(), 1);
}
