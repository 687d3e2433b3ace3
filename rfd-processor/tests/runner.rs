//! The job runner against a real database, including real processes that drain the
//! queue together and one that is killed with SIGKILL in the middle of a job.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use chrono::Utc;
use rfd_model::{Attempt, Job, JobFilter, JobKind, JobState, NewJob, Page, Store};
use rfd_processor::pipeline::JobProcessor;
use rfd_processor::runner::{JobError, JobHandler, Runner, RunnerSettings};

fn job(rfd: i32) -> NewJob {
    NewJob {
        kind: JobKind::RfdUpdate,
        owner: "acme".into(),
        repository: "rfd".into(),
        branch: "main".into(),
        sha: format!("sha-{rfd}"),
        rfd: Some(rfd),
        webhook_delivery_id: None,
        committed_at: Utc::now(),
    }
}

fn store_for(url: &str) -> Store {
    Store::new(rfd_model::db::pool(
        url,
        &rfd_model::PoolSettings { max_connections: 10, connect_timeout_secs: 5 },
    ))
}

fn fast() -> RunnerSettings {
    RunnerSettings {
        concurrency: 4,
        lease_secs: 1.0,
        poll_interval_ms: 100,
        shutdown_grace_secs: 5.0,
        backoff_base_ms: 10,
        backoff_cap_secs: 0.05,
    }
}

async fn wait_until<F, Fut>(what: &str, timeout: Duration, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    while !done().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn jobs(store: &Store) -> Vec<Job> {
    store
        .list_jobs(&JobFilter::default(), Page::first(10_000))
        .await
        .unwrap_or_else(|err| panic!("list: {err}"))
}

fn spawn_processor(config: &std::path::Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_rfd-processor"))
        .arg("--config")
        .arg(config)
        .env_remove("DATABASE_URL")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|err| panic!("spawn: {err}"))
}

fn terminate(child: &mut Child) {
    let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
    let _ = child.wait();
}

#[tokio::test(flavor = "multi_thread")]
async fn two_processors_drain_a_thousand_jobs_each_exactly_once() {
    let db = rfd_devdb::test_database().await;
    let config = std::env::temp_dir().join(format!("rfd-drain-{}.toml", uuid::Uuid::new_v4()));
    std::fs::write(
        &config,
        format!("database_url = \"{}\"\n[processor]\nconcurrency = 4\n[pipeline]\nmode = \"skip\"\n", db.url),
    )
    .unwrap_or_else(|err| panic!("config: {err}"));
    let store = store_for(&db.url);
    let mut a = spawn_processor(&config);
    let mut b = spawn_processor(&config);
    let batch: Vec<NewJob> = (1..=1000).map(job).collect();
    for chunk in batch.chunks(100) {
        store.enqueue(chunk).await.unwrap_or_else(|err| panic!("enqueue: {err}"));
    }
    wait_until("1,000 jobs to succeed", Duration::from_secs(120), || async {
        store.job_counts().await.unwrap_or_default() == vec![(JobState::Succeeded, 1000)]
    })
    .await;
    terminate(&mut a);
    terminate(&mut b);
    let all = jobs(&store).await;
    assert_eq!(all.len(), 1000);
    assert!(all.iter().all(|j| j.attempts == 1 && j.processed), "every job ran exactly once");
    let workers: std::collections::HashSet<_> =
        all.iter().filter_map(|j| j.started_at.map(|_| j.id)).collect::<std::collections::HashSet<_>>();
    assert_eq!(workers.len(), 1000);
}

/// Never finishes: the job stays claimed until the process dies.
struct Hang;

impl JobHandler for Hang {
    async fn run(&self, _job: Job, _attempt: Attempt) -> Result<(), JobError> {
        std::future::pending::<()>().await;
        Ok(())
    }
}

const CHILD_ENV: &str = "RFD_TEST_HANGING_WORKER_DB";

#[tokio::test(flavor = "multi_thread")]
async fn a_worker_killed_mid_job_loses_it_to_another() {
    // In the child process: claim the job and hang until killed.
    if let Ok(url) = std::env::var(CHILD_ENV) {
        let runner = Runner::new(store_for(&url), Hang, fast(), "doomed".into());
        runner.run(std::future::pending()).await;
        return;
    }
    let db = rfd_devdb::test_database().await;
    let store = store_for(&db.url);
    store.enqueue(&[job(42)]).await.unwrap_or_else(|err| panic!("enqueue: {err}"));

    let exe = std::env::current_exe().unwrap_or_else(|err| panic!("current exe: {err}"));
    let mut child = Command::new(exe)
        .args(["a_worker_killed_mid_job_loses_it_to_another", "--exact", "--nocapture"])
        .env(CHILD_ENV, &db.url)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|err| panic!("spawn child: {err}"));
    wait_until("the child to claim the job", Duration::from_secs(60), || async {
        jobs(&store)
            .await
            .first()
            .is_some_and(|j| j.state == JobState::Running && j.lease_owner.as_deref() == Some("doomed"))
    })
    .await;
    let killed = Command::new("kill").arg("-KILL").arg(child.id().to_string()).status();
    assert!(killed.is_ok_and(|s| s.success()));
    let _ = child.wait();

    let runner = Runner::new(store.clone(), JobProcessor::Skip, fast(), "survivor".into());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(runner.run(async move {
        let _ = stopped.await;
    }));
    wait_until("the job to be re-claimed and succeed", Duration::from_secs(30), || async {
        jobs(&store).await.first().is_some_and(|j| j.state == JobState::Succeeded)
    })
    .await;
    let _ = stop.send(());
    let _ = running.await;
    let done = &jobs(&store).await[0];
    assert_eq!(done.attempts, 2, "the killed attempt counted, the second completed");
}

/// Fails (or panics) every attempt, counting them.
struct Broken {
    panic: bool,
    calls: Arc<AtomicUsize>,
}

impl JobHandler for Broken {
    async fn run(&self, _job: Job, _attempt: Attempt) -> Result<(), JobError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if self.panic {
            panic!("the action blew up");
        }
        Err(JobError("the source is unreachable".into()))
    }
}

async fn run_until_dead(panic: bool) -> (rfd_devdb::TestDatabase, Store, Job, usize) {
    let db = rfd_devdb::test_database().await;
    let store = store_for(&db.url);
    store.enqueue(&[job(7)]).await.unwrap_or_else(|err| panic!("enqueue: {err}"));
    let calls = Arc::new(AtomicUsize::new(0));
    let runner = Runner::new(store.clone(), Broken { panic, calls: calls.clone() }, fast(), "w".into());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(runner.run(async move {
        let _ = stopped.await;
    }));
    wait_until("the job to fail for good", Duration::from_secs(30), || async {
        jobs(&store).await.first().is_some_and(|j| j.state == JobState::Failed)
    })
    .await;
    let _ = stop.send(());
    let _ = running.await;
    let dead = jobs(&store).await.remove(0);
    (db, store, dead, calls.load(Ordering::SeqCst))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_job_ends_failed_and_is_retried_from_the_command_line() {
    let (db, store, dead, calls) = run_until_dead(false).await;
    assert_eq!(calls, 8, "every attempt ran");
    assert_eq!(dead.attempts, dead.max_attempts);
    assert_eq!(dead.last_error.as_deref(), Some("the source is unreachable"));

    let config = std::env::temp_dir().join(format!("rfd-retry-{}.toml", uuid::Uuid::new_v4()));
    std::fs::write(&config, format!("database_url = \"{}\"\n", db.url)).unwrap_or_else(|err| panic!("{err}"));
    let output = Command::new(env!("CARGO_BIN_EXE_rfd-processor"))
        .arg("--config")
        .arg(&config)
        .args(["jobs", "retry", &dead.id.to_string()])
        .env_remove("DATABASE_URL")
        .output()
        .unwrap_or_else(|err| panic!("run: {err}"));
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let retried = store.get_job(dead.id).await.ok().flatten().unwrap_or_else(|| panic!("job gone"));
    assert_eq!((retried.state, retried.attempts), (JobState::Queued, 0));

    let runner = Runner::new(store.clone(), JobProcessor::Skip, fast(), "w2".into());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(runner.run(async move {
        let _ = stopped.await;
    }));
    wait_until("the retried job to succeed", Duration::from_secs(30), || async {
        jobs(&store).await.first().is_some_and(|j| j.state == JobState::Succeeded)
    })
    .await;
    let _ = stop.send(());
    let _ = running.await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_panicking_job_counts_as_a_failed_attempt() {
    let (_db, _store, dead, calls) = run_until_dead(true).await;
    assert_eq!(calls, 8);
    assert!(
        dead.last_error.as_deref().is_some_and(|e| e.contains("panicked: the action blew up")),
        "{dead:?}"
    );
}
