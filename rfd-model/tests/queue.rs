//! The job queue against a real PostgreSQL database.

use std::collections::HashSet;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use rfd_model::{DeliveryOutcome, JobFilter, JobKind, JobState, NewJob, Page, Store};
use uuid::Uuid;

async fn store() -> (rfd_devdb::TestDatabase, Store) {
    let db = rfd_devdb::test_database().await;
    let settings = rfd_model::PoolSettings { max_connections: 40, connect_timeout_secs: 5 };
    let store = Store::new(rfd_model::db::pool(&db.url, &settings));
    (db, store)
}

fn job(rfd: i32, sha: &str, seconds: i64) -> NewJob {
    NewJob {
        kind: JobKind::RfdUpdate,
        owner: "acme".into(),
        repository: "rfd".into(),
        branch: "main".into(),
        sha: sha.into(),
        rfd: Some(rfd),
        webhook_delivery_id: None,
        committed_at: Utc.timestamp_opt(1_700_000_000 + seconds, 0).single().unwrap_or_default(),
    }
}

const LEASE: Duration = Duration::from_secs(30);

macro_rules! ok {
    ($e:expr) => {
        $e.await.unwrap_or_else(|err| panic!("{}: {err}", stringify!($e)))
    };
}

#[tokio::test(flavor = "multi_thread")]
async fn a_delivery_is_recorded_once_even_when_sent_concurrently() {
    let (_db, store) = store().await;
    let delivery = Uuid::new_v4();
    let jobs = vec![job(1, "abc", 0), job(2, "abc", 0)];
    let mut tasks = Vec::new();
    for _ in 0..100 {
        let store = store.clone();
        let jobs = jobs.clone();
        tasks.push(tokio::spawn(async move { store.record_delivery(delivery, "push", &jobs).await }));
    }
    let mut recorded = 0;
    for task in tasks {
        match task.await.unwrap_or_else(|err| panic!("join: {err}")) {
            Ok(DeliveryOutcome::Recorded { jobs_created }) => {
                assert_eq!(jobs_created, 2);
                recorded += 1;
            }
            Ok(DeliveryOutcome::Duplicate) => {}
            Err(err) => panic!("record_delivery: {err}"),
        }
    }
    assert_eq!(recorded, 1, "exactly one of 100 concurrent deliveries is recorded");
    assert_eq!(ok!(store.list_jobs(&JobFilter::default(), Page::default())).len(), 2);
    // The same commit arriving in another delivery does not duplicate jobs either.
    let again = ok!(store.record_delivery(Uuid::new_v4(), "push", &jobs));
    assert_eq!(again, DeliveryOutcome::Recorded { jobs_created: 0 });
}

#[tokio::test(flavor = "multi_thread")]
async fn claim_complete_and_fencing() {
    let (_db, store) = store().await;
    ok!(store.enqueue(&[job(1, "a", 0)]));
    let claimed = ok!(store.claim("w1", LEASE)).expect("a job");
    assert_eq!(claimed.state, JobState::Running);
    assert_eq!(claimed.attempts, 1);
    let attempt = claimed.attempt().expect("lease");
    assert!(ok!(store.claim("w2", LEASE)).is_none(), "nothing else to claim");

    // Another worker (or an older attempt) cannot complete it.
    let mut stranger = attempt.clone();
    stranger.worker = "w2".into();
    assert!(!ok!(store.complete(&stranger)));
    let mut stale = attempt.clone();
    stale.attempt = 0;
    assert!(!ok!(store.complete(&stale)));

    assert!(ok!(store.heartbeat(&attempt, LEASE)));
    assert!(ok!(store.complete(&attempt)));
    let done = ok!(store.get_job(claimed.id)).expect("job");
    assert_eq!(done.state, JobState::Succeeded);
    assert!(done.processed);
    assert!(!ok!(store.complete(&attempt)), "completing twice is refused");
}

#[tokio::test(flavor = "multi_thread")]
async fn two_jobs_of_one_rfd_never_run_together() {
    let (_db, store) = store().await;
    ok!(store.enqueue(&[job(7, "a", 0), job(7, "b", 10), job(8, "c", 0)]));
    let first = ok!(store.claim("w1", LEASE)).expect("first");
    let second = ok!(store.claim("w2", LEASE)).expect("second");
    assert_ne!(first.rfd, second.rfd, "the second claim skips the RFD already running");
    assert!(ok!(store.claim("w3", LEASE)).is_none(), "rfd 7's other job waits");
    let seven = if first.rfd == Some(7) { first } else { second };
    assert!(ok!(store.complete(&seven.attempt().expect("lease"))));
    let next = ok!(store.claim("w3", LEASE)).expect("rfd 7's second job");
    assert_eq!(next.rfd, Some(7));
}

#[tokio::test(flavor = "multi_thread")]
async fn failures_back_off_then_dead_letter_and_can_be_retried() {
    let (_db, store) = store().await;
    ok!(store.enqueue(&[job(3, "x", 0)]));
    let id = ok!(store.list_jobs(&JobFilter::default(), Page::default()))[0].id;
    // max_attempts defaults to 8; fail every one.
    for attempt_no in 1..=8 {
        let claimed =
            ok!(store.claim("w", LEASE)).unwrap_or_else(|| panic!("attempt {attempt_no} claimable"));
        let state = ok!(store.fail(
            &claimed.attempt().expect("lease"),
            &format!("boom {attempt_no}"),
            Duration::ZERO
        ));
        let expected = if attempt_no == 8 { JobState::Failed } else { JobState::Queued };
        assert_eq!(state, Some(expected));
    }
    let dead = ok!(store.get_job(id)).expect("job");
    assert_eq!(dead.state, JobState::Failed);
    assert_eq!(dead.last_error.as_deref(), Some("boom 8"));
    assert!(dead.processed);
    assert!(ok!(store.claim("w", LEASE)).is_none(), "a dead letter is not claimed");
    let failed =
        ok!(store.list_jobs(&JobFilter { state: Some(JobState::Failed), rfd: None }, Page::default()));
    assert_eq!(failed.iter().map(|j| j.id).collect::<Vec<_>>(), [id]);

    let retried = ok!(store.retry_job(id));
    assert_eq!((retried.state, retried.attempts), (JobState::Queued, 0));
    let again = ok!(store.claim("w", LEASE)).expect("claimable after retry");
    assert!(ok!(store.complete(&again.attempt().expect("lease"))));
    assert!(matches!(store.retry_job(id).await, Err(rfd_model::StoreError::Conflict { .. })));
    assert!(matches!(store.retry_job(999_999).await, Err(rfd_model::StoreError::NotFound { .. })));

    // A failure is retried only after its backoff.
    ok!(store.enqueue(&[job(4, "y", 0)]));
    let claimed = ok!(store.claim("w", LEASE)).expect("job 4");
    ok!(store.fail(&claimed.attempt().expect("lease"), "later", Duration::from_secs(3600)));
    assert!(ok!(store.claim("w", LEASE)).is_none(), "not due for an hour");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_expired_lease_is_taken_back() {
    let (_db, store) = store().await;
    ok!(store.enqueue(&[job(5, "z", 0)]));
    let lost = ok!(store.claim("crashed", Duration::from_millis(200))).expect("claim");
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(ok!(store.reap_expired_leases()), [lost.id]);
    let requeued = ok!(store.get_job(lost.id)).expect("job");
    assert_eq!(requeued.state, JobState::Queued);
    assert!(requeued.last_error.as_deref().is_some_and(|e| e.contains("lease expired")));
    let retaken = ok!(store.claim("healthy", LEASE)).expect("re-claim");
    assert_eq!(retaken.attempts, 2);
    // The crashed worker, should it come back, cannot overwrite the new owner's result.
    assert!(!ok!(store.complete(&lost.attempt().expect("lease"))));
    assert!(!ok!(store.heartbeat(&lost.attempt().expect("lease"), LEASE)));
    assert!(ok!(store.complete(&retaken.attempt().expect("lease"))));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_older_commit_is_superseded_after_a_newer_one() {
    let (_db, store) = store().await;
    ok!(store.enqueue(&[job(9, "new", 100)]));
    let newer = ok!(store.claim("w", LEASE)).expect("newer");
    assert!(ok!(store.complete(&newer.attempt().expect("lease"))));
    ok!(store.enqueue(&[job(9, "old", 10)]));
    let older = ok!(store.claim("w", LEASE)).expect("older");
    assert!(ok!(store.is_superseded(&older)));
    assert!(ok!(store.supersede(&older.attempt().expect("lease"), "newer commit processed")));
    assert_eq!(ok!(store.get_job(older.id)).map(|j| j.state), Some(JobState::Superseded));
    // A newer commit on another branch is not a reason to skip.
    let mut branch = job(9, "old", 10);
    branch.branch = "0009".into();
    ok!(store.enqueue(&[branch]));
    let on_branch = ok!(store.claim("w", LEASE)).expect("branch job");
    assert!(!ok!(store.is_superseded(&on_branch)));
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_workers_claim_each_job_once() {
    let (_db, store) = store().await;
    let jobs: Vec<NewJob> = (0..300).map(|i| job(i, "s", 0)).collect();
    ok!(store.enqueue(&jobs));
    let mut workers = Vec::new();
    for w in 0..6 {
        let store = store.clone();
        workers.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            while let Some(job) =
                store.claim(&format!("w{w}"), LEASE).await.unwrap_or_else(|e| panic!("claim: {e}"))
            {
                assert!(
                    store.complete(&job.attempt().unwrap_or_else(|| panic!("lease"))).await.unwrap_or(false)
                );
                mine.push(job.id);
            }
            mine
        }));
    }
    let mut seen = HashSet::new();
    for worker in workers {
        for id in worker.await.unwrap_or_else(|e| panic!("join: {e}")) {
            assert!(seen.insert(id), "job {id} ran twice");
        }
    }
    assert_eq!(seen.len(), 300);
    let counts = ok!(store.job_counts());
    assert_eq!(counts, vec![(JobState::Succeeded, 300)]);
}
