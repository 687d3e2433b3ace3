//! The RFD read API over real HTTP against a real PostgreSQL: every read endpoint on the
//! latest and historic revisions, revision pagination, `major_change`, visibility (a
//! matrix of callers × public/private RFDs × endpoints, with zero leaks), search through
//! the PostgreSQL index, and the local storage directory served under `/storage`.

mod http_common;

use http_common::TestApi;

use std::path::PathBuf;

use chrono::{DateTime, TimeZone, Utc};
use rfd_model::search::postgres::PostgresSearch;
use rfd_model::search::{IndexedRfd, SearchIndex};
use rfd_model::storage::{BlobStore, LocalDirectory};
use rfd_model::{ContentFormat, NewPdf, NewRevision, NewRfd, PdfSource, Rfd, RfdRevision, Visibility};
use serde_json::{Value, json};
use uuid::Uuid;

fn ok<T, E: std::fmt::Display>(result: Result<T, E>) -> T {
    result.unwrap_or_else(|err| panic!("{err}"))
}

/// Where links to the storage directory point (the test asks the real server for the
/// path part).
const STORAGE_URL: &str = "http://rfd.test/storage";

struct App {
    api: http_common::FreshApi,
    storage: LocalDirectory,
    storage_dir: PathBuf,
}

impl std::ops::Deref for App {
    type Target = TestApi;

    fn deref(&self) -> &TestApi {
        &self.api
    }
}

impl App {
    async fn start() -> Self {
        let storage_dir = std::env::temp_dir().join(format!("rfd-read-storage-{}", Uuid::new_v4()));
        let api = http_common::FreshApi::on_fresh_database(&format!(
            "[search]\nbackend = \"postgres\"\n\
             [storage]\nbackend = \"local\"\ndir = \"{}\"\npublic_url = \"{STORAGE_URL}\"\n",
            storage_dir.display()
        ))
        .await;
        let storage = LocalDirectory::new(storage_dir.clone(), STORAGE_URL);
        Self { api, storage, storage_dir }
    }

    /// GET that must answer 200.
    async fn get_ok(&self, path: &str, token: Option<&str>) -> Value {
        let (status, body) = self.get(path, token).await;
        assert_eq!(status, 200, "GET {path}: {body}");
        body
    }

    /// A raw GET: status, content type and bytes.
    async fn fetch(&self, path: &str, token: Option<&str>) -> (u16, String, Vec<u8>) {
        let mut request = self.client.get(format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = ok(request.send().await);
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        (status, content_type, ok(response.bytes().await).to_vec())
    }

    /// A user holding `permissions` (and the groups) and an API key for it.
    async fn user(&self, permissions: Value, groups: &[Uuid]) -> String {
        self.user_with_key(permissions, groups).await.1
    }

    async fn rfd(&self, number: i32, visibility: Visibility) -> Rfd {
        let link = Some(format!("https://github.com/acme/rfd/tree/{number:04}"));
        ok(self.store.insert_rfd(&NewRfd { rfd_number: number, link, visibility }).await)
    }

    async fn revision(&self, rfd: &Rfd, commit: &str, at: DateTime<Utc>, doc: &Doc<'_>) -> RfdRevision {
        ok(self
            .store
            .insert_revision(&NewRevision {
                rfd_id: rfd.id,
                title: doc.title.into(),
                state: doc.state.map(str::to_string),
                discussion: doc.discussion.map(str::to_string),
                authors: Some("Ada <ada@acme.test>".into()),
                labels: doc.labels.map(str::to_string),
                content: doc.content.into(),
                content_format: ContentFormat::Asciidoc,
                sha: format!("blob-{commit}"),
                commit_sha: commit.into(),
                committed_at: at,
                major_change: true,
                tree_sha: None,
                problems: Vec::new(),
            })
            .await)
    }

    async fn index(&self, rfd: &Rfd, revision: &RfdRevision) {
        ok(PostgresSearch::new(self.store.clone())
            .index_rfd(&IndexedRfd::from_revision(rfd, revision))
            .await);
    }

    async fn pdf(&self, rfd: &Rfd, revision: &RfdRevision, key: &str, source: PdfSource) {
        ok(self
            .store
            .upsert_pdf(&NewPdf {
                rfd_revision_id: revision.id,
                rfd_id: rfd.id,
                source,
                link: format!("https://stale.example/{key}"),
                external_id: key.into(),
            })
            .await);
    }

    async fn put(&self, key: &str, bytes: &[u8], content_type: &str) {
        ok(self.storage.put(key, bytes.to_vec(), content_type, "id").await);
    }
}

impl Drop for App {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.storage_dir);
    }
}

struct Doc<'a> {
    title: &'a str,
    state: Option<&'a str>,
    discussion: Option<&'a str>,
    labels: Option<&'a str>,
    content: &'a str,
}

fn doc<'a>(title: &'a str, state: &'a str, content: &'a str) -> Doc<'a> {
    Doc { title, state: Some(state), discussion: None, labels: None, content }
}

fn at(day: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, day, 12, 0, 0).single().unwrap_or_default()
}

fn numbers(list: &Value) -> Vec<i64> {
    list.as_array().map(|a| a.iter().filter_map(|r| r["rfd_number"].as_i64()).collect()).unwrap_or_default()
}

/// The parts of an error body that must not differ between "missing" and "unreadable".
fn error_shape(body: &Value) -> (Value, Value) {
    (body["error_code"].clone(), body["message"].clone())
}

#[tokio::test(flavor = "multi_thread")]
async fn every_read_endpoint_serves_latest_and_historic_revisions() {
    let app = App::start().await;
    let rfd = app.rfd(1, Visibility::Public).await;
    let first = app
        .revision(&rfd, "c1", at(1), &doc("Early Title", "ideation", "= RFD 1 Early Title\n\nFirst.\n"))
        .await;
    let second = app
        .revision(
            &rfd,
            "c2",
            at(2),
            &Doc {
                title: "Middle",
                state: Some("discussion"),
                discussion: Some("https://github.com/acme/rfd/pull/7"),
                labels: None,
                content: "= RFD 1 Middle\n\nSecond.\n",
            },
        )
        .await;
    let latest = app
        .revision(
            &rfd,
            "c3",
            at(3),
            &Doc {
                title: "Final Title",
                state: Some("published"),
                discussion: Some("https://github.com/acme/rfd/pull/7"),
                labels: Some("api, storage"),
                content: "= RFD 1 Final Title\n\nThird.\n",
            },
        )
        .await;
    // Another RFD, so list order and cross-RFD revision ids can be checked.
    let other = app.rfd(2, Visibility::Public).await;
    let other_rev = app.revision(&other, "d1", at(4), &doc("Other", "bogus-state", "= RFD 2 Other\n")).await;
    // An RFD without any revision is not listed.
    app.rfd(3, Visibility::Public).await;

    let list = app.get_ok("/rfd", None).await;
    assert_eq!(numbers(&list), vec![2, 1]);
    assert_eq!(list[1]["title"], "Final Title");
    assert_eq!(list[1]["commit"], "c3");
    assert_eq!(list[1]["format"], "asciidoc");
    assert!(list[1].get("content").is_none(), "list carries no content");

    let meta = app.get_ok("/rfd/1", None).await;
    assert_eq!(meta["title"], "Final Title");
    assert_eq!(meta["state"], "published");
    assert_eq!(meta["visibility"], "public");
    assert_eq!(meta["id"], json!(rfd.id));
    // Leading zeros, as RFD numbers are written, are the same RFD.
    assert_eq!(app.get_ok("/rfd/0001", None).await["id"], json!(rfd.id));

    let raw = app.get_ok("/rfd/1/raw", None).await;
    assert_eq!(raw["content"], "= RFD 1 Final Title\n\nThird.\n");
    assert_eq!(raw["sha"], "blob-c3");

    assert_eq!(app.get_ok("/rfd/1/attr/state", None).await, json!({"state": "published"}));
    assert_eq!(app.get_ok("/rfd/1/attr/labels", None).await, json!({"labels": "api, storage"}));
    assert_eq!(
        app.get_ok("/rfd/1/attr/discussion", None).await,
        json!({"discussion": "https://github.com/acme/rfd/pull/7"})
    );
    // Historic attributes are the revision's own (the reference returned the latest).
    let path = format!("/rfd/1/revision/{}/attr/state", first.id);
    assert_eq!(app.get_ok(&path, None).await, json!({"state": "ideation"}));
    let (status, _) = app.get(&format!("/rfd/1/revision/{}/attr/labels", second.id), None).await;
    assert_eq!(status, 404, "an attribute not set at that revision");
    let (status, body) = app.get("/rfd/2/attr/state", None).await;
    assert_eq!(status, 404, "a state that is not a known state: {body}");
    let (status, _) = app.get("/rfd/1/attr/authors", None).await;
    assert_eq!(status, 400, "not an attribute name of the API");

    // Historic revisions: metadata and content of that revision (the reference 404'd).
    let historic = app.get_ok(&format!("/rfd/1/revision/{}", first.id), None).await;
    assert_eq!(historic["title"], "Early Title");
    assert_eq!(historic["commit"], "c1");
    let historic_raw = app.get_ok(&format!("/rfd/1/revision/{}/raw", second.id), None).await;
    assert_eq!(historic_raw["content"], "= RFD 1 Middle\n\nSecond.\n");
    assert_eq!(app.get_ok(&format!("/rfd/1/revision/{}", latest.id), None).await["title"], "Final Title");
    // A revision of another RFD, or none at all, is not found under this number.
    for path in [
        format!("/rfd/1/revision/{}", other_rev.id),
        format!("/rfd/1/revision/{}/raw", other_rev.id),
        format!("/rfd/1/revision/{}/pdf", other_rev.id),
        format!("/rfd/1/revision/{}", Uuid::new_v4()),
    ] {
        assert_eq!(app.get(&path, None).await.0, 404, "{path}");
    }
    let (status, body) = app.get("/rfd/1/revision/not-a-uuid", None).await;
    assert_eq!(status, 400, "{body}");

    // Revisions, newest first, paginated.
    let all = app.get_ok("/rfd/1/revision", None).await;
    let ids: Vec<Value> =
        all.as_array().map(|a| a.iter().map(|r| r["id"].clone()).collect()).unwrap_or_default();
    assert_eq!(ids, vec![json!(latest.id), json!(second.id), json!(first.id)]);
    assert_eq!(all[0]["commit_sha"], "c3");
    assert_eq!(all[0]["major_change"], true);
    let page1 = app.get_ok("/rfd/1/revision?limit=2", None).await;
    let page2 = app.get_ok("/rfd/1/revision?limit=2&offset=2", None).await;
    assert_eq!(page1.as_array().map(Vec::len), Some(2));
    assert_eq!(page2.as_array().map(Vec::len), Some(1));
    assert_eq!(page2[0]["id"], json!(first.id));

    // PDFs: every PDF of the latest revision, links at the storage URL; a historic
    // revision lists its own; none is an empty list, not a 404.
    app.pdf(&rfd, &latest, "pdf/0001/c3.pdf", PdfSource::Github).await;
    app.pdf(&rfd, &latest, "rfd-0001-c3.pdf", PdfSource::Google).await;
    app.pdf(&rfd, &first, "pdf/0001/c1.pdf", PdfSource::Github).await;
    let pdf = app.get_ok("/rfd/1/pdf", None).await;
    assert_eq!(pdf["title"], "Final Title");
    let mut links: Vec<String> = pdf["content"]
        .as_array()
        .map(|a| a.iter().filter_map(|p| p["link"].as_str().map(str::to_string)).collect())
        .unwrap_or_default();
    links.sort();
    assert_eq!(
        links,
        vec![format!("{STORAGE_URL}/pdf/0001/c3.pdf"), "https://stale.example/rfd-0001-c3.pdf".to_string()]
    );
    let old_pdf = app.get_ok(&format!("/rfd/1/revision/{}/pdf", first.id), None).await;
    assert_eq!(old_pdf["content"].as_array().map(Vec::len), Some(1));
    assert_eq!(old_pdf["content"][0]["link"], format!("{STORAGE_URL}/pdf/0001/c1.pdf"));
    assert_eq!(old_pdf["content"][0]["rfd_revision_id"], json!(first.id));
    let none = app.get_ok(&format!("/rfd/1/revision/{}/pdf", second.id), None).await;
    assert_eq!(none["content"], json!([]));

    // Malformed and missing numbers.
    let (status, body) = app.get("/rfd/abc", None).await;
    assert_eq!(status, 400);
    assert_eq!(body["message"], "Malformed RFD number");
    for path in
        ["/rfd/99", "/rfd/99/raw", "/rfd/99/attr/state", "/rfd/99/revision", "/rfd/99/pdf", "/rfd/3/pdf"]
    {
        assert_eq!(app.get(path, None).await.0, 404, "{path}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn major_change_is_set_per_revision_with_update_permission() {
    let app = App::start().await;
    let rfd = app.rfd(5, Visibility::Public).await;
    let old = app.revision(&rfd, "a1", at(1), &doc("Five", "discussion", "= RFD 5 Five\n")).await;
    let new =
        app.revision(&rfd, "a2", at(2), &doc("Five", "discussion", "= RFD 5 Five\n\nTypo fixed.\n")).await;
    let secret = app.rfd(6, Visibility::Private).await;
    let secret_rev = app.revision(&secret, "b1", at(1), &doc("Six", "ideation", "= RFD 6 Six\n")).await;
    let editor = app.user(json!([{"UpdateRfd": 5}]), &[]).await;
    let reader = app.user(json!(["SearchRfds"]), &[]).await;
    let blind_editor = app.user(json!([{"UpdateRfd": 6}]), &[]).await;

    assert_eq!(app.get_ok("/rfd/5", None).await["latest_major_change_at"], json!(at(2)));
    let path = format!("/rfd/5/revision/{}", new.id);
    let (status, body) =
        app.call(reqwest::Method::PATCH, &path, Some(&editor), Some(json!({"major_change": false}))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({"id": new.id, "commit_sha": "a2", "committed_at": at(2), "major_change": false}));
    // The RFD's newest major change is now the older revision.
    assert_eq!(app.get_ok("/rfd/5", None).await["latest_major_change_at"], json!(at(1)));
    let revisions = app.get_ok("/rfd/5/revision", None).await;
    assert_eq!(revisions[0]["major_change"], false);
    assert_eq!(revisions[1]["major_change"], true);
    // An empty body changes nothing and answers the revision.
    let (status, body) = app.call(reqwest::Method::PATCH, &path, Some(&editor), Some(json!({}))).await;
    assert_eq!((status, body["major_change"].clone()), (200, json!(false)));

    // Readable but not editable: 403 (401 anonymous); unreadable: 404 like missing.
    let (status, _) =
        app.call(reqwest::Method::PATCH, &path, Some(&reader), Some(json!({"major_change": true}))).await;
    assert_eq!(status, 403);
    let (status, _) =
        app.call(reqwest::Method::PATCH, &path, None, Some(json!({"major_change": true}))).await;
    assert_eq!(status, 401);
    let secret_path = format!("/rfd/6/revision/{}", secret_rev.id);
    let (status, _) = app
        .call(reqwest::Method::PATCH, &secret_path, Some(&blind_editor), Some(json!({"major_change": false})))
        .await;
    assert_eq!(status, 404);
    // A revision of another RFD is not found under this number.
    let cross = format!("/rfd/5/revision/{}", secret_rev.id);
    let (status, _) =
        app.call(reqwest::Method::PATCH, &cross, Some(&editor), Some(json!({"major_change": false}))).await;
    assert_eq!(status, 404);
    assert_eq!(app.get_ok(&format!("/rfd/5/revision/{}", old.id), None).await["title"], "Five");
}

/// The same seeded platform for the matrix and the visibility flip: RFD 10 public,
/// RFD 20 private, each with a PDF, an image in storage and a search section.
struct Seeded {
    app: App,
    private_rev: Uuid,
    public_rev: Uuid,
}

async fn seeded() -> Seeded {
    let app = App::start().await;
    let public = app.rfd(10, Visibility::Public).await;
    let public_rev = app
        .revision(
            &public,
            "p1",
            at(1),
            &doc("Open Heron", "published", "= RFD 10 Open Heron\n\nA heron wades.\n"),
        )
        .await;
    let private = app.rfd(20, Visibility::Private).await;
    let private_rev = app
        .revision(
            &private,
            "s1",
            at(1),
            &Doc {
                title: "Secret Pelican",
                state: Some("discussion"),
                discussion: Some("https://github.com/acme/rfd/pull/20"),
                labels: Some("hush"),
                content: "= RFD 20 Secret Pelican\n\nIntro.\n\n== Plans\n\nThe pelican migrates.\n",
            },
        )
        .await;
    app.index(&public, &public_rev).await;
    app.index(&private, &private_rev).await;
    app.pdf(&public, &public_rev, "pdf/0010/p1.pdf", PdfSource::Github).await;
    app.pdf(&private, &private_rev, "pdf/0020/s1.pdf", PdfSource::Github).await;
    app.put("pdf/0010/p1.pdf", b"%PDF-1.7 public", "application/pdf").await;
    app.put("pdf/0020/s1.pdf", b"%PDF-1.7 private", "application/pdf").await;
    app.put("rfd/0010/p1/figures/heron.png", b"\x89PNG public", "image/png").await;
    app.put("rfd/0020/s1/figures/pelican.png", b"\x89PNG private", "image/png").await;
    app.put("rfd/0020/latest/figures/pelican.png", b"\x89PNG private", "image/png").await;
    let job = |rfd: i32| rfd_model::NewJob {
        kind: rfd_model::JobKind::RfdUpdate,
        owner: "acme".into(),
        repository: "rfd".into(),
        branch: format!("{rfd:04}"),
        sha: format!("{rfd:040}"),
        rfd: Some(rfd),
        webhook_delivery_id: None,
        committed_at: at(1),
    };
    ok(app.store.enqueue(&[job(10), job(20)]).await);
    Seeded { app, private_rev: private_rev.id, public_rev: public_rev.id }
}

#[tokio::test(flavor = "multi_thread")]
async fn visibility_matrix_leaks_nothing() {
    let Seeded { app, private_rev, public_rev } = seeded().await;
    let group = ok(app.store.create_group("pelican-readers", &json!([{"GetRfd": 20}])).await);
    let plain = app.user(json!(["SearchRfds"]), &[]).await;
    let member = app.user(json!(["SearchRfds"]), &[group.id]).await;
    let set_holder = app.user(json!(["SearchRfds", {"GetRfds": [20, 30]}]), &[]).await;
    let admin = app.admin().await;

    // Everything a reader of RFD n can ask for.
    let paths = |n: i32, rev: Uuid, file: &str| {
        vec![
            format!("/rfd/{n}"),
            format!("/rfd/{n}/raw"),
            format!("/rfd/{n}/attr/state"),
            format!("/rfd/{n}/pdf"),
            format!("/rfd/{n}/revision"),
            format!("/rfd/{n}/revision/{rev}"),
            format!("/rfd/{n}/revision/{rev}/raw"),
            format!("/rfd/{n}/revision/{rev}/attr/state"),
            format!("/rfd/{n}/revision/{rev}/pdf"),
            format!("/storage/pdf/{n:04}/{}.pdf", if n == 10 { "p1" } else { "s1" }),
            format!("/storage/rfd/{n:04}/{file}"),
        ]
    };
    let public_paths = paths(10, public_rev, "p1/figures/heron.png");
    let private_paths = paths(20, private_rev, "s1/figures/pelican.png");
    // What a missing RFD answers, per endpoint, to compare the bodies with.
    let missing_paths = paths(99, private_rev, "s1/figures/pelican.png");

    let callers: [(&str, Option<&str>, bool); 5] = [
        ("anonymous", None, false),
        ("plain user", Some(&plain), false),
        ("group member with GetRfd(20)", Some(&member), true),
        ("holder of GetRfds [20, 30]", Some(&set_holder), true),
        ("admin", Some(&admin), true),
    ];
    for (who, token, reads_private) in callers {
        for path in &public_paths {
            let (status, _, _) = app.fetch(path, token).await;
            assert_eq!(status, 200, "{who}: {path}");
        }
        for (path, missing) in private_paths.iter().zip(&missing_paths) {
            let (status, _, bytes) = app.fetch(path, token).await;
            if reads_private {
                assert_eq!(status, 200, "{who}: {path}");
            } else {
                assert_eq!(status, 404, "{who}: {path}");
                let (missing_status, missing_body) = app.get(missing, token).await;
                assert_eq!(missing_status, 404, "{who}: {missing}");
                let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
                assert_eq!(
                    error_shape(&body),
                    error_shape(&missing_body),
                    "{who}: {path} looks unlike {missing}"
                );
                let text = String::from_utf8_lossy(&bytes);
                assert!(
                    !text.contains("Pelican") && !text.contains("pelican"),
                    "{who}: {path} leaks: {text}"
                );
            }
        }
        // Jobs, as the reference: shown to whoever may read the RFD by grant (GetRfd(n),
        // GetRfds, GetRfdsAll); a private RFD's jobs never to anyone else.
        let jobs = app.get_ok("/job?rfd=20", token).await;
        let listed = jobs.as_array().map_or(0, Vec::len);
        assert_eq!(listed, usize::from(reads_private), "{who}: jobs of RFD 20: {jobs}");
        let list = app.get_ok("/rfd", token).await;
        let expected = if reads_private { vec![20, 10] } else { vec![10] };
        assert_eq!(numbers(&list), expected, "{who}: list");
        let hits = app.get_ok("/rfd-search?q=pelican", token).await;
        let found = numbers(&hits["hits"]);
        if reads_private {
            assert!(!found.is_empty() && found.iter().all(|n| *n == 20), "{who}: {hits}");
        } else {
            assert_eq!(found, Vec::<i64>::new(), "{who}: search leaks {hits}");
        }
        // A placeholder (empty) query lists sections in scope only.
        let everything = app.get_ok("/rfd-search?q=", token).await;
        assert_eq!(numbers(&everything["hits"]).contains(&20), reads_private, "{who}: {everything}");
        let heron = app.get_ok("/rfd-search?q=heron", token).await;
        assert_eq!(numbers(&heron["hits"]).first(), Some(&10), "{who}: {heron}");
    }

    // Search needs SearchRfds: a user without it is refused, and nothing is returned.
    let nothing = app.user(json!([]), &[]).await;
    assert_eq!(app.get("/rfd-search?q=heron", Some(&nothing)).await.0, 403);
    // A bad credential is a 401, never anonymous access.
    assert_eq!(app.get("/rfd/10", Some("not-a-key")).await.0, 401);
    assert_eq!(app.fetch("/storage/pdf/0010/p1.pdf", Some("not-a-key")).await.0, 401);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_visibility_flip_shows_in_reads_and_search_at_once() {
    let Seeded { app, .. } = seeded().await;
    let admin = app.admin().await;
    let plain = app.user(json!(["SearchRfds"]), &[]).await;
    let manager =
        app.user(json!(["SearchRfds", {"ManageRfdVisibility": 20}, {"ManageRfdVisibility": 10}]), &[]).await;

    // Publishing RFD 20: the anonymous caller finds and reads it at once.
    assert_eq!(numbers(&app.get_ok("/rfd-search?q=pelican", None).await["hits"]), Vec::<i64>::new());
    let (status, body) = app
        .call(
            reqwest::Method::POST,
            "/rfd/20/visibility",
            Some(&admin),
            Some(json!({"visibility": "public"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["visibility"], "public");
    assert_eq!(body["rfd_number"], 20);
    assert_eq!(body["content"]["title"], "Secret Pelican", "the full RFD with its latest revision");
    assert_eq!(body["content"]["commit"], "s1");
    let hits = app.get_ok("/rfd-search?q=pelican", None).await;
    assert!(numbers(&hits["hits"]).contains(&20), "{hits}");
    assert_eq!(app.get_ok("/rfd/20", None).await["visibility"], "public");
    assert_eq!(app.fetch("/storage/rfd/0020/latest/figures/pelican.png", None).await.0, 200);

    // Hiding RFD 10 again removes it from anonymous search and reads at once.
    let (status, body) = app
        .call(
            reqwest::Method::POST,
            "/rfd/10/visibility",
            Some(&manager),
            Some(json!({"visibility": "private"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(numbers(&app.get_ok("/rfd-search?q=heron", None).await["hits"]), Vec::<i64>::new());
    assert_eq!(app.get("/rfd/10", None).await.0, 404);
    assert_eq!(app.fetch("/storage/pdf/0010/p1.pdf", None).await.0, 404);
    // The manager of RFD 10 cannot read it any more (it holds no GetRfd), so it can no
    // longer change its visibility either: 404, as for a missing RFD.
    let (status, _) = app
        .call(
            reqwest::Method::POST,
            "/rfd/10/visibility",
            Some(&manager),
            Some(json!({"visibility": "public"})),
        )
        .await;
    assert_eq!(status, 404);
    // Readable without the permission: 403; anonymous: 401; bad value: 400.
    let (status, _) = app
        .call(
            reqwest::Method::POST,
            "/rfd/20/visibility",
            Some(&plain),
            Some(json!({"visibility": "private"})),
        )
        .await;
    assert_eq!(status, 403);
    let (status, _) = app
        .call(reqwest::Method::POST, "/rfd/20/visibility", None, Some(json!({"visibility": "private"})))
        .await;
    assert_eq!(status, 401);
    let (status, _) = app
        .call(
            reqwest::Method::POST,
            "/rfd/20/visibility",
            Some(&admin),
            Some(json!({"visibility": "secret"})),
        )
        .await;
    assert_eq!(status, 400);
    let (status, _) = app
        .call(
            reqwest::Method::POST,
            "/rfd/99/visibility",
            Some(&admin),
            Some(json!({"visibility": "public"})),
        )
        .await;
    assert_eq!(status, 404);
    assert_eq!(
        app.get_ok("/rfd/20", None).await["visibility"],
        "public",
        "the refused calls changed nothing"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn search_finds_sections_ranks_titles_first_highlights_and_pages() {
    let app = App::start().await;
    let mut rfds = Vec::new();
    // RFD 31 has the word in its title; the others only in a section's body.
    let docs = [
        (
            30,
            "Network Design",
            "= RFD 30 Network Design\n\nIntro.\n\n== Routing\n\nEvery router keeps a \
          gossamer table of peers.\n",
        ),
        (31, "Gossamer Threads", "= RFD 31 Gossamer Threads\n\nHow threads are spun.\n"),
        (32, "Storage", "= RFD 32 Storage\n\nDisks.\n\n== Caching\n\nA gossamer cache sits in front.\n"),
        (33, "Unrelated", "= RFD 33 Unrelated\n\nNothing to see.\n"),
    ];
    for (number, title, content) in docs {
        let rfd = app.rfd(number, Visibility::Public).await;
        let revision =
            app.revision(&rfd, &format!("g{number}"), at(1), &doc(title, "published", content)).await;
        app.index(&rfd, &revision).await;
        rfds.push(rfd);
    }

    let results = app.get_ok("/rfd-search?q=gossamer", None).await;
    assert_eq!(results["query"], "gossamer");
    assert_eq!(results["limit"], 20);
    assert_eq!(results["offset"], 0);
    let hits = results["hits"].as_array().cloned().unwrap_or_default();
    let found: Vec<i64> = hits.iter().filter_map(|h| h["rfd_number"].as_i64()).collect();
    assert_eq!(found.first(), Some(&31), "the title match ranks first: {found:?}");
    assert!(found.contains(&30) && found.contains(&32) && !found.contains(&33), "{found:?}");
    // The section hit carries its heading path and anchor, and the word highlighted.
    let routing = hits.iter().find(|h| h["rfd_number"] == 30).cloned().unwrap_or_default();
    assert_eq!(routing["hierarchy"][0], "RFD 30 Network Design");
    assert_eq!(routing["hierarchy"][1], "Routing");
    assert_eq!(routing["hierarchy_radio"][1], "Routing");
    assert_eq!(routing["anchor"], "_routing");
    assert!(routing["content"].as_str().is_some_and(|c| c.contains("gossamer table")), "{routing}");
    let formatted = routing["formatted"]["content"].as_str().unwrap_or_default();
    assert!(formatted.contains("<em>gossamer</em>"), "{formatted}");

    // Caller's highlight tags, cropping, a prefix and a typo.
    let tagged =
        app.get_ok("/rfd-search?q=gossamer&highlight_pre_tag=%5B&highlight_post_tag=%5D", None).await;
    let title_hit = tagged["hits"][0]["formatted"]["hierarchy"][0].as_str().unwrap_or_default().to_string();
    assert!(title_hit.contains("[Gossamer]"), "{title_hit}");
    assert!(!tagged.to_string().contains("<em>"), "default tags replaced: {tagged}");
    let cropped = app.get_ok("/rfd-search?q=gossamer&attributes_to_crop=content", None).await;
    assert!(!cropped["hits"].as_array().is_none_or(Vec::is_empty));
    let prefix = app.get_ok("/rfd-search?q=gossa", None).await;
    assert_eq!(numbers(&prefix["hits"]).first(), Some(&31), "{prefix}");
    let typo = app.get_ok("/rfd-search?q=gossamr", None).await;
    assert!(numbers(&typo["hits"]).contains(&31), "{typo}");

    // limit and offset page through the same ranking.
    let first = app.get_ok("/rfd-search?q=gossamer&limit=1", None).await;
    let second = app.get_ok("/rfd-search?q=gossamer&limit=1&offset=1", None).await;
    assert_eq!(first["hits"].as_array().map(Vec::len), Some(1));
    assert_eq!(first["limit"], 1);
    assert_eq!(second["offset"], 1);
    assert_eq!(first["hits"][0]["object_id"], hits[0]["object_id"]);
    assert_eq!(second["hits"][0]["object_id"], hits[1]["object_id"]);
    let beyond = app.get_ok("/rfd-search?q=gossamer&offset=50", None).await;
    assert_eq!(beyond["hits"], json!([]));
    // Malformed parameters are a 400 with the reason; q is required.
    let (status, body) = app.get("/rfd-search?q=x&limit=-1", None).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(app.get("/rfd-search", None).await.0, 400);
}

#[tokio::test(flavor = "multi_thread")]
async fn storage_files_are_served_with_their_content_types() {
    let app = App::start().await;
    let rfd = app.rfd(42, Visibility::Public).await;
    app.revision(&rfd, "f1", at(1), &doc("Figures", "published", "= RFD 42 Figures\n")).await;
    app.put(
        "rfd/0042/f1/figures/diagram.svg",
        b"<svg xmlns=\"http://www.w3.org/2000/svg\"/>",
        "image/svg+xml",
    )
    .await;
    app.put("rfd/0042/latest/figures/photo.jpg", b"\xff\xd8\xff jpeg", "image/jpeg").await;
    app.put("rfd/0042/latest/data/table.csv", b"a,b\n1,2\n", "text/csv").await;
    app.put("rfd/0042/latest/a b.png", b"\x89PNG spaced", "image/png").await;
    app.put("pdf/0042/f1.pdf", b"%PDF-1.7 figures", "application/pdf").await;
    // A file written without metadata gets its type from its name.
    ok(std::fs::create_dir_all(app.storage_dir.join("rfd/0042/latest/raw")));
    ok(std::fs::write(app.storage_dir.join("rfd/0042/latest/raw/notes.txt"), b"plain notes"));

    for (path, content_type, bytes) in [
        (
            "/storage/rfd/0042/f1/figures/diagram.svg",
            "image/svg+xml",
            &b"<svg xmlns=\"http://www.w3.org/2000/svg\"/>"[..],
        ),
        ("/storage/rfd/0042/latest/figures/photo.jpg", "image/jpeg", b"\xff\xd8\xff jpeg"),
        ("/storage/rfd/0042/latest/data/table.csv", "text/csv", b"a,b\n1,2\n"),
        ("/storage/rfd/0042/latest/a%20b.png", "image/png", b"\x89PNG spaced"),
        ("/storage/pdf/0042/f1.pdf", "application/pdf", b"%PDF-1.7 figures"),
        ("/storage/rfd/0042/latest/raw/notes.txt", "text/plain", b"plain notes"),
    ] {
        let (status, got_type, got) = app.fetch(path, None).await;
        assert_eq!(status, 200, "{path}");
        assert_eq!(got_type, content_type, "{path}");
        assert_eq!(got, bytes, "{path}");
    }
    let response =
        ok(app.client.get(format!("{}/storage/rfd/0042/f1/figures/diagram.svg", app.base)).send().await);
    assert_eq!(
        response.headers().get("x-content-type-options").and_then(|v| v.to_str().ok()),
        Some("nosniff")
    );
    assert!(
        response
            .headers()
            .get("content-security-policy")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|csp| csp.contains("sandbox")),
        "an SVG cannot run scripts in the API's origin"
    );

    // Missing files, keys outside the processor's shapes, the metadata directory and
    // paths that try to leave the directory are all plain 404s.
    for path in [
        "/storage/rfd/0042/latest/figures/missing.png",
        "/storage/rfd/0043/latest/figures/photo.jpg",
        "/storage/.meta/rfd/0042/latest/figures/photo.jpg.json",
        "/storage/rfd/0042/..%2F..%2F..%2Fetc/passwd",
        "/storage/rfd/0042/latest/..%2F..%2F..%2F.meta/x.json",
        "/storage/pdf/0042",
        "/storage/other/0042/x/y",
        "/storage/",
    ] {
        let (status, _, _) = app.fetch(path, None).await;
        assert_eq!(status, 404, "{path}");
    }
}
