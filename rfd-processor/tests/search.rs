//! `UpdateSearch` through the pipeline: real PostgreSQL, a real git repository and the
//! local GitHub fake.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use rfd_github_fake::{FakeGitHub, TestRepo};
use rfd_model::search::postgres::PostgresSearch;
use rfd_model::search::{IndexedRfd, SearchError, SearchIndex, SearchQuery, SearchResults};
use rfd_model::source::RfdSource;
use rfd_model::{JobKind, NewJob, ReadScope, Store, Visibility};
use rfd_processor::pipeline::{Pipeline, PipelineSettings, UpdateMode};
use rfd_processor::runner::JobHandler;

const OWNER: &str = "acme";
const REPO: &str = "rfd";
const GIT_SECOND: Duration = Duration::from_millis(1100);

macro_rules! ok {
    ($e:expr, $what:expr) => {
        $e.map_err(|err| format!("{}: {err}", $what)).unwrap_or_else(|err| panic!("{err}"))
    };
}

struct World {
    repo: TestRepo,
    _fake: FakeGitHub,
    source: Arc<dyn RfdSource>,
    store: Store,
    _db: rfd_devdb::TestDatabase,
}

async fn world(repo: TestRepo) -> World {
    let db = rfd_devdb::test_database().await;
    let store = Store::new(rfd_model::db::pool(&db.url, &rfd_model::PoolSettings::default()));
    let fake = ok!(FakeGitHub::start(repo.path(), OWNER, REPO).await, "start the fake");
    let config: rfd_github::GitHubConfig = ok!(
        serde_json::from_value(serde_json::json!({
            "owner": OWNER, "repository": REPO, "default_branch": "main",
            "api_url": fake.url(), "auth": { "token": "test-token" },
            "retry": { "max_attempts": 2, "backoff_base_ms": 1, "backoff_cap_ms": 5,
                       "max_rate_limit_wait_secs": 2, "request_timeout_secs": 10 }
        })),
        "github config"
    );
    let source: Arc<dyn RfdSource> = Arc::new(ok!(rfd_github::GitHubSource::new(&config), "github client"));
    World { repo, _fake: fake, source, store, _db: db }
}

fn readme(number: i32, title: &str, body: &str) -> String {
    format!(
        ":authors: Ada Lovelace <ada@example.com>\n:state: published\n\n= RFD {number} {title}\n\n{body}\n"
    )
}

fn update(number: i32, sha: &str) -> NewJob {
    NewJob {
        kind: JobKind::RfdUpdate,
        owner: OWNER.into(),
        repository: REPO.into(),
        branch: "main".into(),
        sha: sha.into(),
        rfd: Some(number),
        webhook_delivery_id: None,
        committed_at: chrono::Utc::now(),
    }
}

fn pipeline(world: &World, mode: UpdateMode) -> Pipeline {
    Pipeline::new(
        world.store.clone(),
        world.source.clone(),
        PipelineSettings { mode, ..Default::default() },
        10,
    )
}

async fn attempt(store: &Store, handler: &impl JobHandler) -> Result<(), String> {
    let job = ok!(store.claim("test-worker", Duration::from_secs(60)).await, "claim")
        .unwrap_or_else(|| panic!("no job to claim"));
    let Some(attempt) = job.attempt() else { panic!("a claimed job has an attempt") };
    match handler.run(job, attempt.clone()).await {
        Ok(()) => {
            assert!(ok!(store.complete(&attempt).await, "complete"));
            Ok(())
        }
        Err(err) => {
            ok!(store.fail(&attempt, &err.0, Duration::ZERO).await, "fail");
            Err(err.0)
        }
    }
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
    let world = world(repo).await;

    // Read mode: the index is the platform's own database, so it is updated.
    ok!(world.store.enqueue(&[update(7, &newer)]).await, "enqueue");
    ok!(attempt(&world.store, &pipeline(&world, UpdateMode::Read)).await, "newer");
    let found = hits(&world.store, "current").await;
    assert_eq!(found.hits.len(), 1, "{found:#?}");
    assert_eq!(found.hits[0].anchor.as_deref(), Some("_new_design"));
    assert_eq!(found.hits[0].hierarchy[0].as_deref(), Some("RFD 7 Indexing"));

    // The older commit processed late is stored as history but leaves the index alone.
    ok!(world.store.enqueue(&[update(7, &older)]).await, "enqueue");
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
    let world = world(repo).await;

    let skipped = Arc::new(Recording { external: true, fail: false, indexed: AtomicUsize::new(0) });
    ok!(world.store.enqueue(&[update(3, &head)]).await, "enqueue");
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
    ok!(world.store.enqueue(&[update(3, &next)]).await, "enqueue");
    let err = attempt(&world.store, &write).await.err().unwrap_or_default();
    assert!(err.contains("UpdateSearch") && err.contains("engine down"), "{err}");
    assert_eq!(failing.indexed.load(Ordering::SeqCst), 1);
}
