//! `UpdateSearch` through the pipeline: real PostgreSQL, a real git repository and the
//! local GitHub fake.

#[macro_use]
mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use common::{GIT_SECOND, World, attempt, update, world_with};
use rfd_github_fake::TestRepo;
use rfd_model::search::postgres::PostgresSearch;
use rfd_model::search::{IndexedRfd, SearchError, SearchIndex, SearchQuery, SearchResults};
use rfd_model::{ReadScope, Store, Visibility};
use rfd_processor::pipeline::{Pipeline, PipelineSettings, UpdateMode};

fn readme(number: i32, title: &str, body: &str) -> String {
    format!(
        ":authors: Ada Lovelace <ada@example.com>\n:state: published\n\n= RFD {number} {title}\n\n{body}\n"
    )
}

fn pipeline(world: &World, mode: UpdateMode) -> Pipeline {
    Pipeline::new(
        world.store.clone(),
        world.source.clone(),
        PipelineSettings { mode, ..Default::default() },
        10,
    )
}

async fn hits(store: &Store, q: &str) -> SearchResults {
    ok!(PostgresSearch::new(store.clone()).search(&ReadScope::All, &SearchQuery::new(q)).await, "search")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_job_indexes_the_rfd_in_both_modes_and_an_older_commit_never_replaces_it() {
    let repo = ok!(TestRepo::new(), "repo");
    ok!(
        repo.write(
            "rfd/0007/README.adoc",
            readme(7, "Indexing", "== Old design\n\nThe obsolete approach.\n")
        ),
        "w"
    );
    let older = ok!(repo.commit("older"), "commit");
    tokio::time::sleep(GIT_SECOND).await;
    ok!(
        repo.write("rfd/0007/README.adoc", readme(7, "Indexing", "== New design\n\nThe current approach.\n")),
        "w"
    );
    let newer = ok!(repo.commit("newer"), "commit");
    let world = world_with(repo).await;

    // Read mode: the index is the platform's own database, so it is updated.
    ok!(world.store.enqueue(&[update(7, "main", &newer)]).await, "enqueue");
    ok!(attempt(&world.store, &pipeline(&world, UpdateMode::Read)).await, "newer");
    let found = hits(&world.store, "current").await;
    assert_eq!(found.hits.len(), 1, "{found:#?}");
    assert_eq!(found.hits[0].anchor.as_deref(), Some("_new_design"));
    assert_eq!(found.hits[0].hierarchy[0].as_deref(), Some("RFD 7 Indexing"));

    // The older commit processed late is stored as history but leaves the index alone.
    ok!(world.store.enqueue(&[update(7, "main", &older)]).await, "enqueue");
    ok!(attempt(&world.store, &pipeline(&world, UpdateMode::Write)).await, "older");
    assert_eq!(hits(&world.store, "current").await.hits.len(), 1);
    assert!(hits(&world.store, "obsolete").await.hits.is_empty(), "the historic revision is not indexed");
}

/// A search index that counts writes and can fail, reporting itself as external.
struct Recording {
    external: bool,
    fail: bool,
    indexed: AtomicUsize,
}

#[async_trait]
impl SearchIndex for Recording {
    fn backend(&self) -> &'static str {
        "recording"
    }
    fn is_external(&self) -> bool {
        self.external
    }
    async fn index_rfd(&self, rfd: &IndexedRfd) -> Result<(), SearchError> {
        assert_eq!(rfd.visibility, Visibility::Private, "a new RFD is private");
        self.indexed.fetch_add(1, Ordering::SeqCst);
        if self.fail { Err(SearchError::Engine("engine down".into())) } else { Ok(()) }
    }
    async fn delete_rfd(&self, _rfd_number: i32) -> Result<(), SearchError> {
        Ok(())
    }
    async fn set_visibility(&self, _rfd_number: i32, _visibility: Visibility) -> Result<(), SearchError> {
        Ok(())
    }
    async fn search(&self, _scope: &ReadScope, query: &SearchQuery) -> Result<SearchResults, SearchError> {
        Ok(SearchResults { hits: Vec::new(), query: query.q.clone(), limit: None, offset: None })
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_external_index_is_skipped_in_read_mode_and_its_failure_fails_the_attempt() {
    let repo = ok!(TestRepo::new(), "repo");
    ok!(repo.write("rfd/0003/README.adoc", readme(3, "External", "Text.\n")), "write");
    let head = ok!(repo.commit("rfd 3"), "commit");
    let world = world_with(repo).await;

    let skipped = Arc::new(Recording { external: true, fail: false, indexed: AtomicUsize::new(0) });
    ok!(world.store.enqueue(&[update(3, "main", &head)]).await, "enqueue");
    ok!(
        attempt(&world.store, &pipeline(&world, UpdateMode::Read).with_search(skipped.clone())).await,
        "read"
    );
    assert_eq!(skipped.indexed.load(Ordering::SeqCst), 0, "read mode writes nothing outside the database");

    tokio::time::sleep(GIT_SECOND).await;
    ok!(world.repo.write("rfd/0003/README.adoc", readme(3, "External", "More text.\n")), "write");
    let next = ok!(world.repo.commit("rfd 3 again"), "commit");
    let failing = Arc::new(Recording { external: true, fail: true, indexed: AtomicUsize::new(0) });
    let write = pipeline(&world, UpdateMode::Write).with_search(failing.clone());
    ok!(world.store.enqueue(&[update(3, "main", &next)]).await, "enqueue");
    let err = attempt(&world.store, &write).await.err().unwrap_or_default();
    assert!(err.contains("UpdateSearch") && err.contains("engine down"), "{err}");
    assert_eq!(failing.indexed.load(Ordering::SeqCst), 1);
}
