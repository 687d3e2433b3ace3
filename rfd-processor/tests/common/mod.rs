//! What the processor's integration tests share: a real PostgreSQL database, a real git
//! repository served by the GitHub fake, the production GitHub client over it, and a way to
//! run one attempt of the next job.

// Each test binary uses its own subset of these helpers.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use rfd_github_fake::{FakeGitHub, TestRepo};
use rfd_model::source::RfdSource;
use rfd_model::{JobKind, NewJob, Store};
use rfd_processor::runner::JobHandler;

pub const OWNER: &str = "acme";
pub const REPO: &str = "rfd";
/// Git records commit times in whole seconds: tests that order commits wait this long.
pub const GIT_SECOND: Duration = Duration::from_millis(1100);

/// Unwraps a result, panicking with what was being done and the error.
#[macro_export]
macro_rules! ok {
    ($e:expr, $what:expr) => {
        $e.map_err(|err| format!("{}: {err}", $what)).unwrap_or_else(|err| panic!("{err}"))
    };
}

/// A database, a repository, the fake serving it and the client reading it.
pub struct World {
    pub repo: TestRepo,
    pub fake: FakeGitHub,
    pub source: Arc<dyn RfdSource>,
    pub store: Store,
    pub db: rfd_devdb::TestDatabase,
}

/// Serves `repo` through the fake, with a fresh database.
pub async fn world_with(repo: TestRepo) -> World {
    let db = rfd_devdb::test_database().await;
    let store = Store::new(rfd_model::db::pool(&db.url, &rfd_model::PoolSettings::default()));
    let fake = ok!(FakeGitHub::start(repo.path(), OWNER, REPO).await, "start the fake");
    let source = source_for(&fake);
    World { repo, fake, source, store, db }
}

/// The production GitHub client, pointed at the fake, with fast retries.
pub fn source_for(fake: &FakeGitHub) -> Arc<dyn RfdSource> {
    let config: rfd_github::GitHubConfig = ok!(
        serde_json::from_value(serde_json::json!({
            "owner": OWNER, "repository": REPO, "default_branch": "main",
            "api_url": fake.url(), "auth": { "token": "test-token" },
            "retry": { "max_attempts": 2, "backoff_base_ms": 1, "backoff_cap_ms": 5,
                       "max_rate_limit_wait_secs": 2, "request_timeout_secs": 10 }
        })),
        "github config"
    );
    Arc::new(ok!(rfd_github::GitHubSource::new(&config), "github client"))
}

/// An update job for RFD `number` at `sha` on `branch`.
pub fn update(number: i32, branch: &str, sha: &str) -> NewJob {
    NewJob {
        kind: JobKind::RfdUpdate,
        owner: OWNER.into(),
        repository: REPO.into(),
        branch: branch.into(),
        sha: sha.into(),
        rfd: Some(number),
        webhook_delivery_id: None,
        committed_at: chrono::Utc::now(),
    }
}

/// Claims the next job and runs one attempt of it; returns the attempt's outcome.
pub async fn attempt(store: &Store, handler: &impl JobHandler) -> Result<(), String> {
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
