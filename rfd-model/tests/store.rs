//! Storage round trips against a real PostgreSQL database (one database per test).

use chrono::{DateTime, TimeZone, Utc};
use rfd_model::{
    ContentFormat, NewPdf, NewRevision, NewRfd, Page, PdfSource, ReadScope, RevisionRef, Store, StoreError,
    Visibility,
};
use uuid::Uuid;

async fn store() -> (rfd_devdb::TestDatabase, Store) {
    let db = rfd_devdb::test_database().await;
    let store = Store::new(rfd_model::db::pool(&db.url, &Default::default()));
    (db, store)
}

fn at(seconds: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_700_000_000 + seconds, 0).single().unwrap_or_default()
}

fn revision(rfd_id: Uuid, commit: &str, committed_at: DateTime<Utc>, state: &str) -> NewRevision {
    NewRevision {
        rfd_id,
        title: format!("Title at {commit}"),
        state: Some(state.into()),
        discussion: None,
        authors: Some("Ada Lovelace <ada@example.com>".into()),
        labels: Some("storage".into()),
        content: format!(":state: {state}\n\n= RFD 1 Title at {commit}\n\nBody at {commit}.\n"),
        content_format: ContentFormat::Asciidoc,
        sha: format!("blob-{commit}"),
        commit_sha: commit.into(),
        committed_at,
        major_change: true,
        tree_sha: None,
        problems: Vec::new(),
    }
}

fn new_rfd(number: i32, visibility: Visibility) -> NewRfd {
    NewRfd { rfd_number: number, link: Some(format!("https://example.com/rfd/{number:04}")), visibility }
}

macro_rules! ok {
    ($e:expr) => {
        $e.await.unwrap_or_else(|err| panic!("{}: {err}", stringify!($e)))
    };
}

#[tokio::test(flavor = "multi_thread")]
async fn rfd_and_revisions_round_trip_including_history() {
    let (_db, store) = store().await;
    let rfd = ok!(store.insert_rfd(&new_rfd(42, Visibility::Public)));
    let old = ok!(store.insert_revision(&revision(rfd.id, "c1", at(0), "ideation")));
    let new = ok!(store.insert_revision(&revision(rfd.id, "c2", at(60), "discussion")));

    let latest = ok!(store.get_rfd_meta(&ReadScope::All, 42, RevisionRef::Latest)).expect("latest meta");
    assert_eq!(latest.commit.as_deref(), Some("c2"));
    assert_eq!(latest.state.as_deref(), Some("discussion"));
    assert_eq!(latest.title.as_deref(), Some("Title at c2"));
    assert_eq!(latest.format, Some(ContentFormat::Asciidoc));
    assert_eq!(latest.latest_major_change_at, Some(at(60)));
    assert_eq!(latest.link.as_deref(), Some("https://example.com/rfd/0042"));

    // Any historic revision can be read, meta and content alike.
    let historic =
        ok!(store.get_rfd_meta(&ReadScope::All, 42, RevisionRef::Id(old.id))).expect("historic meta");
    assert_eq!(historic.commit.as_deref(), Some("c1"));
    assert_eq!(historic.state.as_deref(), Some("ideation"));
    let raw = ok!(store.get_rfd_raw(&ReadScope::All, 42, RevisionRef::Id(old.id))).expect("historic raw");
    assert!(raw.content.as_deref().is_some_and(|c| c.contains("Body at c1")));
    let full = ok!(store.get_revision(rfd.id, new.id)).expect("full revision");
    assert_eq!(full.content, revision(rfd.id, "c2", at(60), "discussion").content);

    // A revision of another RFD is not found under this one.
    let other = ok!(store.insert_rfd(&new_rfd(43, Visibility::Public)));
    assert!(ok!(store.get_revision(other.id, new.id)).is_none());
    assert!(ok!(store.get_rfd_meta(&ReadScope::All, 43, RevisionRef::Id(new.id))).is_none());

    let history = ok!(store.list_revisions(rfd.id, Page::default()));
    let commits: Vec<_> = history.iter().map(|r| r.commit_sha.as_str()).collect();
    assert_eq!(commits, ["c2", "c1"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_older_commit_stored_later_does_not_become_latest() {
    let (_db, store) = store().await;
    let rfd = ok!(store.insert_rfd(&new_rfd(7, Visibility::Private)));
    ok!(store.insert_revision(&revision(rfd.id, "newer", at(100), "published")));
    let mut older = revision(rfd.id, "older", at(10), "discussion");
    older.major_change = false;
    ok!(store.insert_revision(&older));

    let latest = ok!(store.get_rfd_meta(&ReadScope::All, 7, RevisionRef::Latest)).expect("meta");
    assert_eq!(latest.commit.as_deref(), Some("newer"));
    assert_eq!(latest.latest_major_change_at, Some(at(100)));
}

#[tokio::test(flavor = "multi_thread")]
async fn unique_constraints_answer_as_typed_conflicts() {
    let (_db, store) = store().await;
    let rfd = ok!(store.insert_rfd(&new_rfd(1, Visibility::Private)));
    match store.insert_rfd(&new_rfd(1, Visibility::Public)).await {
        Err(StoreError::Conflict { constraint }) => assert_eq!(constraint, "rfd_number_unique"),
        other => panic!("expected a conflict on the number, got {other:?}"),
    }
    ok!(store.insert_revision(&revision(rfd.id, "c1", at(0), "ideation")));
    match store.insert_revision(&revision(rfd.id, "c1", at(5), "discussion")).await {
        Err(StoreError::Conflict { constraint }) => assert_eq!(constraint, "rfd_revision_commit_unique"),
        other => panic!("expected a conflict on the commit, got {other:?}"),
    }
    match store.insert_revision(&revision(Uuid::new_v4(), "c9", at(0), "ideation")).await {
        Err(StoreError::Invalid { .. }) => {}
        other => panic!("expected an invalid reference, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn upserts_replace_the_same_commit_and_keep_visibility() {
    let (_db, store) = store().await;
    let created = ok!(store.upsert_rfd(&new_rfd(5, Visibility::Private)));
    ok!(store.set_visibility(5, Visibility::Public));
    // A job refreshing the RFD later must not undo the visibility change.
    let refreshed = ok!(store
        .upsert_rfd(&NewRfd { link: Some("https://elsewhere/5".into()), ..new_rfd(5, Visibility::Private) }));
    assert_eq!(refreshed.id, created.id);
    assert_eq!(refreshed.visibility, Visibility::Public);
    assert_eq!(refreshed.link.as_deref(), Some("https://elsewhere/5"));

    let first = ok!(store.upsert_revision(&revision(created.id, "c1", at(0), "ideation")));
    let again = ok!(store.upsert_revision(&revision(created.id, "c1", at(0), "discussion")));
    assert_eq!(first.id, again.id, "one revision per (rfd, commit)");
    assert_eq!(again.state.as_deref(), Some("discussion"));
    assert_eq!(ok!(store.list_revisions(created.id, Page::default())).len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn listing_is_paginated_newest_number_first_and_scoped() {
    let (_db, store) = store().await;
    for number in 1..=25 {
        let visibility = if number % 2 == 0 { Visibility::Public } else { Visibility::Private };
        let rfd = ok!(store.insert_rfd(&new_rfd(number, visibility)));
        ok!(store.insert_revision(&revision(
            rfd.id,
            &format!("c{number}"),
            at(i64::from(number)),
            "published"
        )));
    }
    // An RFD without revisions has nothing to show yet.
    ok!(store.insert_rfd(&new_rfd(99, Visibility::Public)));

    let first = ok!(store.list_rfd_meta(&ReadScope::All, Page::new(0, 10)));
    let numbers: Vec<i32> = first.iter().map(|r| r.rfd_number).collect();
    assert_eq!(numbers, (16..=25).rev().collect::<Vec<_>>());
    let last = ok!(store.list_rfd_meta(&ReadScope::All, Page::new(20, 10)));
    assert_eq!(last.iter().map(|r| r.rfd_number).collect::<Vec<_>>(), [5, 4, 3, 2, 1]);

    let scope = ReadScope::PublicAnd(vec![3]);
    let visible = ok!(store.list_rfd_meta(&scope, Page::new(0, 100)));
    assert!(visible.iter().all(|r| r.visibility == Visibility::Public || r.rfd_number == 3));
    assert_eq!(visible.len(), 12 + 1);
    assert!(ok!(store.get_rfd_meta(&scope, 5, RevisionRef::Latest)).is_none(), "private and not granted");
    assert!(ok!(store.get_rfd_meta(&scope, 3, RevisionRef::Latest)).is_some(), "private but granted");
}

#[tokio::test(flavor = "multi_thread")]
async fn every_pdf_of_a_revision_is_listed() {
    let (_db, store) = store().await;
    let rfd = ok!(store.insert_rfd(&new_rfd(9, Visibility::Public)));
    let rev = ok!(store.insert_revision(&revision(rfd.id, "c1", at(0), "published")));
    let pdf = |link: &str| NewPdf {
        rfd_revision_id: rev.id,
        rfd_id: rfd.id,
        source: PdfSource::Google,
        link: link.into(),
        external_id: format!("ext-{link}"),
    };
    let a = ok!(store.upsert_pdf(&pdf("a")));
    let b = ok!(store.upsert_pdf(&pdf("b")));
    let a_again = ok!(store.upsert_pdf(&pdf("a")));
    assert_eq!(a.id, a_again.id);
    let mut listed: Vec<_> = ok!(store.list_pdfs(rev.id)).into_iter().map(|p| p.id).collect();
    listed.sort();
    let mut expected = vec![a.id, b.id];
    expected.sort();
    assert_eq!(listed, expected);
}
