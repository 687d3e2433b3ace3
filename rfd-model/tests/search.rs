//! Search against a real PostgreSQL (the embedded backend), and the Meilisearch adapter
//! against a local server that checks requests against Meilisearch's documented API.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use chrono::Utc;
use rfd_model::search::meilisearch::MeilisearchIndex;
use rfd_model::search::postgres::PostgresSearch;
use rfd_model::search::{IndexedRfd, SearchIndex, SearchQuery, SearchResults};
use rfd_model::{ContentFormat, NewRevision, NewRfd, ReadScope, Rfd, RfdRevision, Store, Visibility};
use secrecy::SecretString;

macro_rules! ok {
    ($e:expr) => {
        $e.await.unwrap_or_else(|err| panic!("{}: {err}", stringify!($e)))
    };
}

async fn store() -> (rfd_devdb::TestDatabase, Store) {
    let db = rfd_devdb::test_database().await;
    let store = Store::new(rfd_model::db::pool(&db.url, &Default::default()));
    (db, store)
}

/// Stores an RFD with one revision and indexes it; returns the stored rows.
async fn put(
    store: &Store,
    index: &dyn SearchIndex,
    number: i32,
    visibility: Visibility,
    format: ContentFormat,
    title: &str,
    content: &str,
) -> (Rfd, RfdRevision) {
    let rfd = match ok!(store.get_rfd(number)) {
        Some(rfd) => rfd,
        None => ok!(store.insert_rfd(&NewRfd { rfd_number: number, link: None, visibility })),
    };
    let revision = ok!(store.upsert_revision(&NewRevision {
        rfd_id: rfd.id,
        title: title.into(),
        state: Some("published".into()),
        discussion: None,
        authors: None,
        labels: None,
        content: content.into(),
        content_format: format,
        sha: format!("blob-{number}-{}", content.len()),
        commit_sha: format!("commit-{number}-{}", content.len()),
        committed_at: Utc::now(),
        major_change: true,
        tree_sha: None,
        problems: Vec::new(),
    }));
    ok!(index.index_rfd(&IndexedRfd::from_revision(&rfd, &revision)));
    (rfd, revision)
}

fn adoc(number: i32, title: &str, body: &str) -> String {
    format!(":state: published\n\n= RFD {number} {title}\nAda <ada@example.com>\n\n{body}\n")
}

async fn search(index: &dyn SearchIndex, scope: &ReadScope, q: &str) -> SearchResults {
    ok!(index.search(scope, &SearchQuery::new(q)))
}

fn numbers(results: &SearchResults) -> Vec<u64> {
    results.hits.iter().map(|hit| hit.rfd_number).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn finds_a_word_in_a_section_with_its_hierarchy_and_anchor() {
    let (_db, store) = store().await;
    let index = PostgresSearch::new(store.clone());
    let body =
        "Intro text.\n\n== Design\n\nOverview.\n\n=== Consensus protocol\n\nWe use Raft for replication.\n";
    put(
        &store,
        &index,
        12,
        Visibility::Public,
        ContentFormat::Asciidoc,
        "Storage",
        &adoc(12, "Storage", body),
    )
    .await;

    let results = search(&index, &ReadScope::All, "raft").await;
    assert_eq!(results.query, "raft");
    assert_eq!((results.limit, results.offset), (Some(20), Some(0)));
    assert_eq!(results.hits.len(), 1, "{results:#?}");
    let hit = &results.hits[0];
    assert_eq!(hit.rfd_number, 12);
    assert_eq!(hit.anchor.as_deref(), Some("_consensus_protocol"));
    assert_eq!(
        hit.hierarchy,
        [
            Some("RFD 12 Storage".into()),
            Some("Design".into()),
            Some("Consensus protocol".into()),
            None,
            None,
            None
        ]
    );
    assert_eq!(hit.hierarchy_radio, [None, None, Some("Consensus protocol".into()), None, None, None]);
    assert_eq!(hit.content, "We use Raft for replication.");
    let formatted = hit.formatted.as_ref().unwrap_or_else(|| panic!("formatted"));
    assert_eq!(formatted.content.as_deref(), Some("We use <em>Raft</em> for replication."));
    assert_eq!(formatted.object_id, hit.object_id);

    // The JSON is the reference's SearchResults shape.
    let json = serde_json::to_value(&results).unwrap_or_default();
    for key in
        ["hierarchy", "hierarchy_radio", "content", "object_id", "rfd_number", "anchor", "url", "formatted"]
    {
        assert!(json["hits"][0].get(key).is_some(), "hit has {key}: {json}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn markdown_is_indexed_as_markdown_with_github_anchors() {
    let (_db, store) = store().await;
    let index = PostgresSearch::new(store.clone());
    let md = "state: published\n\n# RFD 5 Notes\n\n## Why it matters\n\nThe **quorum** rule, see [docs](https://x.y).\n";
    put(&store, &index, 5, Visibility::Public, ContentFormat::Markdown, "Notes", md).await;
    let results = search(&index, &ReadScope::All, "quorum").await;
    assert_eq!(results.hits.len(), 1);
    assert_eq!(results.hits[0].anchor.as_deref(), Some("why-it-matters"));
    assert_eq!(results.hits[0].content, "The quorum rule, see docs.");
}

#[tokio::test(flavor = "multi_thread")]
async fn title_matches_rank_first_then_headings_then_text() {
    let (_db, store) = store().await;
    let index = PostgresSearch::new(store.clone());
    let text_only =
        adoc(1, "Networking", "== Links\n\nThe telemetry pipeline is mentioned here, telemetry twice.\n");
    let heading = adoc(2, "Observability", "== Telemetry\n\nSome words.\n");
    let title = adoc(3, "Telemetry", "Nothing else.\n");
    put(&store, &index, 1, Visibility::Public, ContentFormat::Asciidoc, "Networking", &text_only).await;
    put(&store, &index, 2, Visibility::Public, ContentFormat::Asciidoc, "Observability", &heading).await;
    put(&store, &index, 3, Visibility::Public, ContentFormat::Asciidoc, "Telemetry", &title).await;

    let results = search(&index, &ReadScope::All, "telemetry").await;
    assert_eq!(numbers(&results), vec![3, 2, 1], "{results:#?}");
    assert_eq!(results.hits[0].anchor, None, "the title hit is the RFD's preamble");
}

#[tokio::test(flavor = "multi_thread")]
async fn one_typo_is_tolerated_and_words_match_as_prefixes() {
    let (_db, store) = store().await;
    let index = PostgresSearch::new(store.clone());
    let body = "== Persistence\n\nThe database keeps every replication log.\n";
    put(
        &store,
        &index,
        7,
        Visibility::Public,
        ContentFormat::Asciidoc,
        "Durability",
        &adoc(7, "Durability", body),
    )
    .await;

    assert_eq!(numbers(&search(&index, &ReadScope::All, "databse").await), vec![7], "one typo");
    assert_eq!(numbers(&search(&index, &ReadScope::All, "replicaiton").await), vec![7], "a transposition");
    assert_eq!(numbers(&search(&index, &ReadScope::All, "replic").await), vec![7], "a prefix");
    assert_eq!(numbers(&search(&index, &ReadScope::All, "persist databse").await), vec![7], "both");
    assert!(search(&index, &ReadScope::All, "zebra").await.hits.is_empty());
    assert!(search(&index, &ReadScope::All, "dtbse").await.hits.is_empty(), "three typos are too many");
}

#[tokio::test(flavor = "multi_thread")]
async fn highlights_use_the_callers_tags_and_pages_work() {
    let (_db, store) = store().await;
    let index = PostgresSearch::new(store.clone());
    for n in 1..=3 {
        let body = format!("== Section {n}\n\nA shared word: scheduler, in RFD {n}.\n");
        put(&store, &index, n, Visibility::Public, ContentFormat::Asciidoc, "Jobs", &adoc(n, "Jobs", &body))
            .await;
    }
    let query = SearchQuery {
        q: "schedul".into(),
        highlight_pre_tag: Some("<mark class=\"a, b\">".into()),
        highlight_post_tag: Some("</mark>".into()),
        limit: Some(2),
        offset: Some(1),
        ..SearchQuery::default()
    };
    let results = ok!(index.search(&ReadScope::All, &query));
    assert_eq!((results.limit, results.offset), (Some(2), Some(1)));
    assert_eq!(results.hits.len(), 2);
    let formatted = results.hits[0].formatted.clone().unwrap_or_else(|| panic!("formatted"));
    let content = formatted.content.unwrap_or_default();
    assert!(content.contains("<mark class=\"a, b\">scheduler</mark>"), "{content}");
    // Every RFD once: sorted by rank, then number descending.
    let all = ok!(index.search(&ReadScope::All, &SearchQuery { limit: Some(10), ..query.clone() }));
    assert_eq!(all.hits.len(), 2, "offset 1 of 3");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_private_rfd_is_seen_only_inside_the_scope_and_a_flip_shows_at_once() {
    let (_db, store) = store().await;
    let index = PostgresSearch::new(store.clone());
    let body = "== Secret plan\n\nThe classified roadmap.\n";
    put(&store, &index, 9, Visibility::Private, ContentFormat::Asciidoc, "Plans", &adoc(9, "Plans", body))
        .await;
    put(
        &store,
        &index,
        10,
        Visibility::Public,
        ContentFormat::Asciidoc,
        "Open",
        &adoc(10, "Open", "A roadmap.\n"),
    )
    .await;

    let anonymous = ReadScope::PublicAnd(vec![]);
    assert_eq!(numbers(&search(&index, &anonymous, "roadmap").await), vec![10]);
    assert!(search(&index, &anonymous, "classified").await.hits.is_empty());
    assert!(
        search(&index, &anonymous, "").await.hits.iter().all(|hit| hit.rfd_number != 9),
        "empty query too"
    );
    assert_eq!(numbers(&search(&index, &ReadScope::PublicAnd(vec![9]), "classified").await), vec![9]);
    assert_eq!(numbers(&search(&index, &ReadScope::All, "classified").await), vec![9]);

    // Visibility is changed through the store (as the API does); the index follows at once.
    ok!(store.set_visibility(9, Visibility::Public));
    ok!(index.set_visibility(9, Visibility::Public));
    assert_eq!(numbers(&search(&index, &anonymous, "classified").await), vec![9]);
    ok!(store.set_visibility(9, Visibility::Private));
    assert!(search(&index, &anonymous, "classified").await.hits.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn reindexing_leaves_no_stale_sections_and_reindex_rebuilds_everything() {
    let (db, store) = store().await;
    let index = PostgresSearch::new(store.clone());
    let many: String =
        (0..30).map(|i| format!("== Part {i}\n\nObsolete paragraph number {i}.\n\n")).collect();
    put(&store, &index, 4, Visibility::Public, ContentFormat::Asciidoc, "Big", &adoc(4, "Big", &many)).await;
    let all = SearchQuery { limit: Some(100), ..SearchQuery::new("obsolete") };
    assert_eq!(ok!(index.search(&ReadScope::All, &all)).hits.len(), 30);

    put(
        &store,
        &index,
        4,
        Visibility::Public,
        ContentFormat::Asciidoc,
        "Big",
        &adoc(4, "Big", "== Only\n\nFresh.\n"),
    )
    .await;
    assert!(ok!(index.search(&ReadScope::All, &all)).hits.is_empty(), "all 30 old sections are gone");
    assert_eq!(section_count(&db.url, 4).await, 2, "preamble and one section");

    // Rebuild from the database after losing the index.
    ok!(index.delete_rfd(4));
    assert_eq!(section_count(&db.url, 4).await, 0);
    let report = ok!(rfd_model::search::reindex(&store, &index));
    assert_eq!((report.rfds, report.sections), (1, 2));
    assert_eq!(numbers(&search(&index, &ReadScope::All, "fresh").await), vec![4]);
}

#[tokio::test(flavor = "multi_thread")]
async fn tiers_order_title_then_headings_then_title_on_a_section_then_text_newest_first() {
    let (_db, store) = store().await;
    let index = PostgresSearch::new(store.clone());
    let rfds = [
        (1, "Notes", "== Aside\n\nA quasar is mentioned in passing.\n"),
        (2, "Astronomy", "== Quasar survey\n\nSome words.\n"),
        (3, "Quasar", "Intro.\n\n== Other\n\nUnrelated text.\n"),
        (4, "Later notes", "== Aside\n\nAnother quasar in passing.\n"),
        (5, "Optics", "== Quasar optics\n\nMore words.\n"),
    ];
    for (n, title, body) in rfds {
        put(&store, &index, n, Visibility::Public, ContentFormat::Asciidoc, title, &adoc(n, title, body))
            .await;
    }
    let results = search(&index, &ReadScope::All, "quasar").await;
    let hits: Vec<(u64, Option<&str>)> =
        results.hits.iter().map(|hit| (hit.rfd_number, hit.anchor.as_deref())).collect();
    assert_eq!(
        hits,
        vec![
            (3, None),                   // the title, on the preamble
            (5, Some("_quasar_optics")), // headings, newest RFD first
            (2, Some("_quasar_survey")),
            (3, Some("_other")), // the title on a later section
            (4, Some("_aside")), // text, newest RFD first
            (1, Some("_aside")),
        ],
        "{results:#?}"
    );
}

/// More sections than a tier looks at before asking the GIN index, so both ways of
/// finding a tier's hits run, and pages taken one after another agree with one big page.
#[tokio::test(flavor = "multi_thread")]
async fn common_and_rare_words_page_the_same_way_over_many_sections() {
    let (_db, store) = store().await;
    let index = PostgresSearch::new(store.clone());
    for n in 1..=60 {
        let mut body = String::new();
        for part in 0..5 {
            // Every section says "common"; "scarce" only in a few old and a few new RFDs.
            let scarce = if (n <= 3 || n >= 59) && part == 2 { " scarce" } else { "" };
            body.push_str(&format!("== Part {part}\n\nCommon filler{scarce}.\n\n"));
        }
        put(&store, &index, n, Visibility::Public, ContentFormat::Asciidoc, "Doc", &adoc(n, "Doc", &body))
            .await;
    }

    // Common: the first page is the newest sections, in document order.
    let page =
        ok!(index.search(&ReadScope::All, &SearchQuery { limit: Some(6), ..SearchQuery::new("common") }));
    let got: Vec<(u64, String)> = page.hits.iter().map(|h| (h.rfd_number, h.object_id.clone())).collect();
    let want: Vec<(u64, String)> = [(60, 1), (60, 2), (60, 3), (60, 4), (60, 5), (59, 1)]
        .iter()
        .map(|(n, p)| (*n, format!("{n}-{p}")))
        .collect();
    assert_eq!(got, want);

    for q in ["common", "scarce"] {
        let all =
            ok!(index.search(&ReadScope::All, &SearchQuery { limit: Some(1000), ..SearchQuery::new(q) }));
        let expected = if q == "common" { 300 } else { 5 };
        assert_eq!(all.hits.len(), expected, "{q}: every matching section once");
        let mut paged = Vec::new();
        for offset in (0..expected).step_by(7) {
            let query = SearchQuery { limit: Some(7), offset: Some(offset), ..SearchQuery::new(q) };
            paged.extend(ok!(index.search(&ReadScope::All, &query)).hits.into_iter().map(|h| h.object_id));
        }
        let whole: Vec<String> = all.hits.into_iter().map(|h| h.object_id).collect();
        assert_eq!(paged, whole, "{q}: pages of 7 follow the one big page");
    }
    let scarce = ok!(index.search(&ReadScope::All, &SearchQuery::new("scarce")));
    assert_eq!(numbers(&scarce), vec![60, 59, 3, 2, 1], "the old ones too, found beyond the newest sections");
    let formatted = scarce.hits[4].formatted.as_ref().and_then(|f| f.content.clone()).unwrap_or_default();
    assert_eq!(formatted, "Common filler <em>scarce</em>.");

    // Outside the scope nothing shows, however the hits are found.
    for n in [60, 1] {
        ok!(store.set_visibility(n, Visibility::Private));
    }
    let anonymous = ReadScope::PublicAnd(vec![]);
    assert_eq!(numbers(&search(&index, &anonymous, "scarce").await), vec![59, 3, 2]);
    let page = ok!(index.search(&anonymous, &SearchQuery { limit: Some(100), ..SearchQuery::new("common") }));
    assert!(page.hits.iter().all(|h| h.rfd_number != 60 && h.rfd_number != 1), "private RFDs never show");
    assert_eq!(page.hits.first().map(|h| h.rfd_number), Some(59));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_deleted_rfd_is_not_found() {
    let (db, store) = store().await;
    let index = PostgresSearch::new(store.clone());
    put(
        &store,
        &index,
        8,
        Visibility::Public,
        ContentFormat::Asciidoc,
        "Gone",
        &adoc(8, "Gone", "Vanishing act.\n"),
    )
    .await;
    assert_eq!(numbers(&search(&index, &ReadScope::All, "vanishing").await), vec![8]);
    let (client, conn) = tokio_postgres::connect(&db.url, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|err| panic!("connect: {err}"));
    tokio::spawn(conn);
    client
        .execute("UPDATE rfd SET deleted_at = now() WHERE rfd_number = 8", &[])
        .await
        .unwrap_or_else(|err| panic!("delete: {err}"));
    assert!(search(&index, &ReadScope::All, "vanishing").await.hits.is_empty());
    assert!(search(&index, &ReadScope::All, "").await.hits.is_empty(), "nor with an empty query");
}

async fn section_count(url: &str, number: i32) -> i64 {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|err| panic!("connect: {err}"));
    tokio::spawn(conn);
    let row = client
        .query_one("SELECT count(*) FROM search_section WHERE rfd_number = $1", &[&number])
        .await
        .unwrap_or_else(|err| panic!("count: {err}"));
    row.get(0)
}

// ---------------------------------------------------------------------------------------
// Meilisearch, against a local server speaking its documented API.

#[derive(Debug, Clone)]
struct Recorded {
    method: String,
    path: String,
    authorization: Option<String>,
    body: serde_json::Value,
}

#[derive(Default)]
struct MeiliState {
    requests: Vec<Recorded>,
    next_task: u32,
    /// Task uid → its type.
    tasks: Vec<(u32, String)>,
    /// Task uids to report as failed.
    fail_tasks: bool,
    /// Answers to `documents/fetch`, one page each.
    fetch_pages: VecDeque<serde_json::Value>,
    search_answer: Option<serde_json::Value>,
}

type Shared = Arc<Mutex<MeiliState>>;

const KEY: &str = "meili-secret-key";
const NOW: &str = "2026-11-24T07:00:00.000000Z";

fn json_response(
    status: u16,
    body: serde_json::Value,
) -> hyper::Response<http_body_util::Full<bytes::Bytes>> {
    let mut response = hyper::Response::new(http_body_util::Full::new(bytes::Bytes::from(body.to_string())));
    *response.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::OK);
    response
        .headers_mut()
        .insert(hyper::header::CONTENT_TYPE, hyper::header::HeaderValue::from_static("application/json"));
    response
}

fn meili_error(
    status: u16,
    code: &str,
    message: &str,
) -> hyper::Response<http_body_util::Full<bytes::Bytes>> {
    json_response(
        status,
        serde_json::json!({
            "message": message, "code": code, "type": "invalid_request",
            "link": format!("https://docs.meilisearch.com/errors#{code}")
        }),
    )
}

fn enqueue(state: &mut MeiliState, kind: &str) -> hyper::Response<http_body_util::Full<bytes::Bytes>> {
    state.next_task += 1;
    let uid = state.next_task;
    state.tasks.push((uid, kind.to_string()));
    json_response(
        202,
        serde_json::json!({
            "taskUid": uid, "indexUid": "rfd", "status": "enqueued", "type": kind, "enqueuedAt": NOW
        }),
    )
}

async fn handle(
    request: hyper::Request<hyper::body::Incoming>,
    shared: Shared,
) -> Result<hyper::Response<http_body_util::Full<bytes::Bytes>>, std::convert::Infallible> {
    use http_body_util::BodyExt;
    let method = request.method().to_string();
    let path = request.uri().path_and_query().map(|p| p.to_string()).unwrap_or_default();
    let authorization =
        request.headers().get(hyper::header::AUTHORIZATION).and_then(|v| v.to_str().ok()).map(str::to_string);
    let content_type =
        request.headers().get(hyper::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_string);
    let bytes = request.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let body: serde_json::Value = if bytes.is_empty() {
        serde_json::Value::Null
    } else {
        match serde_json::from_slice(&bytes) {
            Ok(body) => body,
            Err(_) => return Ok(meili_error(400, "malformed_payload", "the body is not JSON")),
        }
    };
    if !bytes.is_empty() && content_type.as_deref() != Some("application/json") {
        return Ok(meili_error(415, "invalid_content_type", "expected application/json"));
    }
    if authorization.as_deref() != Some(&format!("Bearer {KEY}")) {
        return Ok(meili_error(401, "missing_authorization_header", "no or wrong API key"));
    }
    let mut state = shared.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    state.requests.push(Recorded {
        method: method.clone(),
        path: path.clone(),
        authorization,
        body: body.clone(),
    });
    let response = match (method.as_str(), path.as_str()) {
        ("PATCH", "/indexes/rfd/settings") => {
            if !body.is_object() {
                meili_error(400, "bad_request", "settings must be an object")
            } else {
                enqueue(&mut state, "settingsUpdate")
            }
        }
        ("POST", "/indexes/rfd/documents?primaryKey=objectID")
        | ("PUT", "/indexes/rfd/documents?primaryKey=objectID") => {
            let valid = body.as_array().is_some_and(|docs| {
                docs.iter().all(|doc| {
                    doc["objectID"].as_str().is_some_and(|id| {
                        !id.is_empty()
                            && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
                    })
                })
            });
            if valid {
                enqueue(&mut state, "documentAdditionOrUpdate")
            } else {
                meili_error(400, "invalid_document_id", "every document needs a valid objectID")
            }
        }
        ("POST", "/indexes/rfd/documents/delete") => {
            if body["filter"].is_string() {
                enqueue(&mut state, "documentDeletion")
            } else {
                meili_error(400, "invalid_document_filter", "filter must be a string")
            }
        }
        ("POST", "/indexes/rfd/documents/fetch") => {
            let page = state.fetch_pages.pop_front().unwrap_or_else(
                || serde_json::json!({ "results": [], "offset": body["offset"], "limit": body["limit"], "total": 0 }),
            );
            json_response(200, page)
        }
        ("POST", "/indexes/rfd/search") => {
            json_response(200, state.search_answer.clone().unwrap_or(serde_json::Value::Null))
        }
        ("GET", task) if task.starts_with("/tasks/") => {
            let uid: u32 = task.trim_start_matches("/tasks/").parse().unwrap_or(0);
            match state.tasks.iter().find(|(id, _)| *id == uid).cloned() {
                Some((uid, kind)) => {
                    let failed = state.fail_tasks;
                    let details = match kind.as_str() {
                        "documentAdditionOrUpdate" => {
                            serde_json::json!({ "receivedDocuments": 1, "indexedDocuments": if failed { 0 } else { 1 } })
                        }
                        "documentDeletion" => serde_json::json!({
                            "providedIds": 0, "deletedDocuments": 0, "originalFilter": "\"rfd_number = 1\""
                        }),
                        _ => serde_json::json!({}),
                    };
                    let error = if failed {
                        serde_json::json!({
                            "message": "Index `rfd`: disk full.", "code": "no_space_left_on_device",
                            "type": "system", "link": "https://docs.meilisearch.com/errors#no_space_left_on_device"
                        })
                    } else {
                        serde_json::Value::Null
                    };
                    json_response(
                        200,
                        serde_json::json!({
                            "uid": uid, "indexUid": "rfd", "status": if failed { "failed" } else { "succeeded" },
                            "type": kind, "canceledBy": null, "details": details, "error": error,
                            "duration": "PT0.004S", "enqueuedAt": NOW, "startedAt": NOW, "finishedAt": NOW
                        }),
                    )
                }
                None => meili_error(404, "task_not_found", "no such task"),
            }
        }
        _ => meili_error(404, "not_found", "no such route"),
    };
    Ok(response)
}

async fn meili_server() -> (String, Shared) {
    let shared: Shared = Arc::default();
    let listener =
        tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap_or_else(|err| panic!("bind: {err}"));
    let addr = listener.local_addr().unwrap_or_else(|err| panic!("addr: {err}"));
    let state = shared.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let state = state.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |request| handle(request, state.clone()));
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (format!("http://{addr}"), shared)
}

fn recorded(shared: &Shared) -> Vec<Recorded> {
    shared.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).requests.clone()
}

fn writes(shared: &Shared) -> Vec<Recorded> {
    recorded(shared).into_iter().filter(|r| r.method != "GET").collect()
}

fn meili(host: &str) -> MeilisearchIndex {
    MeilisearchIndex::new(host, Some(SecretString::from(KEY)), "rfd")
        .unwrap_or_else(|err| panic!("client: {err}"))
}

fn sample(visibility: Visibility) -> IndexedRfd {
    let body = (0..25).map(|i| format!("== Part {i}\n\nText {i}.\n\n")).collect::<String>();
    IndexedRfd::from_content(
        uuid::Uuid::new_v4(),
        42,
        uuid::Uuid::new_v4(),
        "Queues",
        visibility,
        ContentFormat::Asciidoc,
        &adoc(42, "Queues", &body),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn meilisearch_indexing_sends_settings_documents_and_a_complete_delete() {
    let (host, shared) = meili_server().await;
    let index = meili(&host);
    ok!(index.index_rfd(&sample(Visibility::Private)));

    let writes = writes(&shared);
    let lines: Vec<(&str, &str)> = writes.iter().map(|r| (r.method.as_str(), r.path.as_str())).collect();
    assert_eq!(
        lines,
        vec![
            ("PATCH", "/indexes/rfd/settings"),
            ("POST", "/indexes/rfd/documents?primaryKey=objectID"),
            ("POST", "/indexes/rfd/documents/delete"),
        ]
    );
    assert!(writes.iter().all(|r| r.authorization.as_deref() == Some("Bearer meili-secret-key")));

    let settings = &writes[0].body;
    let filterable: Vec<&str> = settings["filterableAttributes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str())
        .collect();
    assert!(filterable.contains(&"rfd_number") && filterable.contains(&"public"), "{settings}");
    assert_eq!(settings["searchableAttributes"][0], "hierarchy_lvl0", "the title ranks first");
    assert_eq!(settings["searchableAttributes"].as_array().and_then(|a| a.last()), Some(&"content".into()));

    let docs = writes[1].body.as_array().cloned().unwrap_or_default();
    assert_eq!(docs.len(), 26, "the preamble and 25 sections");
    let generation = docs[0]["generation"].as_str().unwrap_or_default().to_string();
    for doc in &docs {
        assert_eq!(doc["rfd_number"], 42);
        assert_eq!(doc["public"], false);
        assert_eq!(doc["generation"], generation.as_str());
        assert_eq!(doc["hierarchy_lvl0"], "RFD 42 Queues");
    }
    assert_eq!(docs[3]["objectID"], "42-3");
    assert_eq!(docs[3]["anchor"], "_part_2");
    assert_eq!(docs[3]["hierarchy_lvl1"], "Part 2");
    assert_eq!(docs[3]["hierarchy_radio_lvl1"], "Part 2");
    assert_eq!(docs[3]["content"], "Text 2.");

    // Every older section of the RFD goes, by filter: no cap on how many.
    assert_eq!(
        writes[2].body,
        serde_json::json!({ "filter": format!("rfd_number = 42 AND generation != \"{generation}\"") })
    );
    // Each write waited for its task.
    let polls =
        recorded(&shared).iter().filter(|r| r.method == "GET" && r.path.starts_with("/tasks/")).count();
    assert!(polls >= 3, "tasks polled: {polls}");

    // Settings go once per process.
    ok!(index.index_rfd(&sample(Visibility::Public)));
    let settings_calls = recorded(&shared).iter().filter(|r| r.path == "/indexes/rfd/settings").count();
    assert_eq!(settings_calls, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn meilisearch_search_sends_a_correct_filter_and_maps_the_answer() {
    let (host, shared) = meili_server().await;
    let hit = serde_json::json!({
        "objectID": "42-3", "rfd_number": 42, "anchor": "_part_2", "url": null, "content": "Text 2.",
        "level": 1, "public": false, "generation": "g",
        "hierarchy_lvl0": "RFD 42 Queues", "hierarchy_lvl1": "Part 2", "hierarchy_lvl2": null,
        "hierarchy_lvl3": null, "hierarchy_lvl4": null, "hierarchy_lvl5": null,
        "hierarchy_radio_lvl0": null, "hierarchy_radio_lvl1": "Part 2", "hierarchy_radio_lvl2": null,
        "hierarchy_radio_lvl3": null, "hierarchy_radio_lvl4": null, "hierarchy_radio_lvl5": null,
        "_formatted": {
            "objectID": "42-3", "rfd_number": "42", "anchor": "_part_2", "content": "<b>Text</b> 2.",
            "hierarchy_lvl0": "RFD 42 Queues", "hierarchy_lvl1": "Part 2", "hierarchy_radio_lvl1": "Part 2"
        }
    });
    shared.lock().unwrap_or_else(|p| p.into_inner()).search_answer = Some(serde_json::json!({
        "hits": [hit], "query": "text", "processingTimeMs": 1, "limit": 5, "offset": 0, "estimatedTotalHits": 1
    }));
    let index = meili(&host);
    let query = SearchQuery {
        q: "text".into(),
        limit: Some(5),
        highlight_pre_tag: Some("<b>".into()),
        highlight_post_tag: Some("</b>".into()),
        attributes_to_crop: vec!["content".into()],
        ..SearchQuery::default()
    };
    let results = ok!(index.search(&ReadScope::PublicAnd(vec![1, 42]), &query));
    assert_eq!(results.hits.len(), 1);
    let hit = &results.hits[0];
    assert_eq!(
        (hit.rfd_number, hit.object_id.as_str(), hit.anchor.as_deref()),
        (42, "42-3", Some("_part_2"))
    );
    assert_eq!(hit.hierarchy[1].as_deref(), Some("Part 2"));
    assert_eq!(hit.formatted.as_ref().and_then(|f| f.content.as_deref()), Some("<b>Text</b> 2."));
    assert_eq!((results.limit, results.offset), (Some(5), Some(0)));

    ok!(index.search(&ReadScope::PublicAnd(vec![]), &SearchQuery::new("x")));
    ok!(index.search(&ReadScope::All, &SearchQuery::new("x")));
    let searches: Vec<serde_json::Value> =
        recorded(&shared).into_iter().filter(|r| r.path == "/indexes/rfd/search").map(|r| r.body).collect();
    assert_eq!(searches[0]["q"], "text");
    assert_eq!(searches[0]["filter"], "public = true OR rfd_number IN [1, 42]");
    assert_eq!(searches[0]["limit"], 5);
    assert_eq!(searches[0]["offset"], 0);
    assert_eq!(searches[0]["attributesToHighlight"], serde_json::json!(["*"]));
    assert_eq!(searches[0]["highlightPreTag"], "<b>");
    assert_eq!(searches[0]["highlightPostTag"], "</b>");
    assert_eq!(searches[0]["attributesToCrop"], serde_json::json!(["content"]));
    assert_eq!(searches[1]["filter"], "public = true");
    assert!(searches[2].get("filter").is_none(), "no filter for a caller who reads everything");
    assert!(searches[2].get("attributesToCrop").is_none(), "no empty crop list (the reference sent [\"\"])");
}

#[tokio::test(flavor = "multi_thread")]
async fn meilisearch_visibility_flip_rewrites_every_section_and_failures_surface() {
    let (host, shared) = meili_server().await;
    {
        let mut state = shared.lock().unwrap_or_else(|p| p.into_inner());
        let page = |ids: std::ops::Range<usize>, offset: usize| {
            let results: Vec<serde_json::Value> =
                ids.map(|i| serde_json::json!({ "objectID": format!("42-{i}") })).collect();
            serde_json::json!({ "results": results, "offset": offset, "limit": 1000, "total": 1500 })
        };
        state.fetch_pages.push_back(page(0..1000, 0));
        state.fetch_pages.push_back(page(1000..1500, 1000));
    }
    let index = meili(&host);
    ok!(index.set_visibility(42, Visibility::Public));
    let writes = writes(&shared);
    let fetches: Vec<&Recorded> =
        writes.iter().filter(|r| r.path == "/indexes/rfd/documents/fetch").collect();
    assert_eq!(fetches.len(), 2);
    assert_eq!(fetches[0].body["filter"], "rfd_number = 42");
    assert_eq!(fetches[1].body["offset"], 1000);
    let update =
        writes.iter().find(|r| r.method == "PUT").unwrap_or_else(|| panic!("a partial update: {writes:?}"));
    assert_eq!(update.path, "/indexes/rfd/documents?primaryKey=objectID");
    let docs = update.body.as_array().cloned().unwrap_or_default();
    assert_eq!(docs.len(), 1500);
    assert!(docs.iter().all(|d| d["public"] == true && d.as_object().is_some_and(|o| o.len() == 2)));

    // Deleting an RFD is one delete by filter.
    ok!(index.delete_rfd(42));
    let last = writes_last(&shared);
    assert_eq!((last.method.as_str(), last.path.as_str()), ("POST", "/indexes/rfd/documents/delete"));
    assert_eq!(last.body, serde_json::json!({ "filter": "rfd_number = 42" }));

    // A failed task is an error, not a log line.
    shared.lock().unwrap_or_else(|p| p.into_inner()).fail_tasks = true;
    let err =
        index.index_rfd(&sample(Visibility::Public)).await.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(err.contains("failed") && err.contains("disk full"), "{err}");
    assert!(!err.contains(KEY), "the key never shows in errors");

    // A wrong key is refused by the server and reported.
    let wrong = MeilisearchIndex::new(&host, Some(SecretString::from("nope")), "rfd")
        .unwrap_or_else(|err| panic!("client: {err}"));
    let err = wrong.delete_rfd(1).await.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(!err.is_empty() && !err.contains("nope"), "{err}");
}

fn writes_last(shared: &Shared) -> Recorded {
    writes(shared).pop().unwrap_or_else(|| panic!("no write"))
}

#[tokio::test(flavor = "multi_thread")]
async fn meilisearch_config_is_checked() {
    assert!(MeilisearchIndex::new("localhost:7700", None, "rfd").is_err());
    assert!(MeilisearchIndex::new("http://localhost:7700", None, "bad index").is_err());
    let settings: rfd_model::search::SearchSettings =
        serde_json::from_value(serde_json::json!({ "backend": "meilisearch" })).unwrap_or_default();
    let (_db, store) = store().await;
    let err = settings.open(&store).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(err.contains("search.host"), "{err}");
    let default = rfd_model::search::SearchSettings::default();
    assert_eq!(default.open(&store).map(|index| index.backend()).unwrap_or_default(), "postgres");
}
