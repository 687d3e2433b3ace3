//! The job queue against a real PostgreSQL database.

use std::collections::HashSet;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use rfd_model::queue::DeliveryRecord;
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

fn record(id: Uuid, jobs: Vec<NewJob>) -> DeliveryRecord {
    DeliveryRecord { id, event: "push".into(), jobs }
}

async fn jobs_created(db: &rfd_devdb::TestDatabase, id: Uuid) -> i32 {
    let pg = rfd_devdb::connect(&db.url).await.unwrap_or_else(|err| panic!("connect: {err}"));
    pg.query_one("SELECT jobs_created FROM webhook_delivery WHERE id::text = $1", &[&id.to_string()])
        .await
        .unwrap_or_else(|err| panic!("jobs_created of {id}: {err}"))
        .get(0)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_batch_of_deliveries_records_each_once_with_its_own_outcome() {
    let (db, store) = store().await;
    let seen_before = Uuid::new_v4();
    assert_eq!(
        ok!(store.record_delivery(seen_before, "push", &[job(1, "old", 0)])),
        DeliveryOutcome::Recorded { jobs_created: 1 }
    );
    let (a, b, c) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    let batch = vec![
        record(a, vec![job(2, "s1", 0), job(3, "s1", 0)]),
        // The same delivery again in the same batch: a duplicate, its jobs not queued twice.
        record(a, vec![job(2, "s1", 0), job(3, "s1", 0)]),
        record(seen_before, vec![job(1, "old", 0)]),
        // Another delivery of a commit `a` already queued: only its new job counts.
        record(b, vec![job(3, "s1", 0), job(4, "s1", 0)]),
        record(c, Vec::new()),
    ];
    let outcomes = ok!(store.record_deliveries(&batch));
    assert_eq!(
        outcomes,
        [
            DeliveryOutcome::Recorded { jobs_created: 2 },
            DeliveryOutcome::Duplicate,
            DeliveryOutcome::Duplicate,
            DeliveryOutcome::Recorded { jobs_created: 1 },
            DeliveryOutcome::Recorded { jobs_created: 0 },
        ]
    );
    // The recorded counts match what was created, and every job points at its delivery.
    assert_eq!(jobs_created(&db, a).await, 2);
    assert_eq!(jobs_created(&db, b).await, 1);
    assert_eq!(jobs_created(&db, c).await, 0);
    let jobs = ok!(store.list_jobs(&JobFilter::default(), Page::default()));
    let mut summary: Vec<_> = jobs.iter().map(|j| (j.rfd, j.sha.clone(), j.webhook_delivery_id)).collect();
    summary.sort();
    assert_eq!(
        summary,
        [
            (Some(1), "old".to_string(), None),
            (Some(2), "s1".to_string(), Some(a)),
            (Some(3), "s1".to_string(), Some(a)),
            (Some(4), "s1".to_string(), Some(b)),
        ]
    );
    // The whole batch again: all duplicates, nothing new.
    let again = ok!(store.record_deliveries(&batch));
    assert!(again.iter().all(|o| *o == DeliveryOutcome::Duplicate), "{again:?}");
    assert_eq!(ok!(store.list_jobs(&JobFilter::default(), Page::default())).len(), 4);
    assert!(ok!(store.record_deliveries(&[])).is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn overlapping_batches_in_flight_together_record_each_delivery_once() {
    let (_db, store) = store().await;
    let ids: Vec<Uuid> = (0..40).map(|_| Uuid::new_v4()).collect();
    let mut tasks = Vec::new();
    for t in 0..8usize {
        let store = store.clone();
        // Every task records all 40 deliveries, in a different order.
        let mut batch: Vec<DeliveryRecord> = ids
            .iter()
            .enumerate()
            .map(|(i, id)| record(*id, vec![job(i as i32, &format!("c{i}"), 0)]))
            .collect();
        batch.rotate_left(t * 5);
        tasks.push(tokio::spawn(async move { store.record_deliveries(&batch).await }));
    }
    let mut recorded = 0;
    for task in tasks {
        let outcomes = task
            .await
            .unwrap_or_else(|err| panic!("join: {err}"))
            .unwrap_or_else(|err| panic!("record_deliveries: {err}"));
        for outcome in outcomes {
            if let DeliveryOutcome::Recorded { jobs_created } = outcome {
                assert_eq!(jobs_created, 1);
                recorded += 1;
            }
        }
    }
    assert_eq!(recorded, 40, "each delivery recorded by exactly one batch");
    assert_eq!(ok!(store.list_jobs(&JobFilter::default(), Page::default())).len(), 40);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_batch_claim_takes_one_job_per_rfd_and_reports_supersession() {
    let (_db, store) = store().await;
    ok!(store.enqueue(&[job(7, "a", 0), job(7, "b", 10), job(8, "c", 0), job(9, "d", 0)]));
    let batch = ok!(store.claim_batch("w1", LEASE, 10));
    let mut rfds: Vec<_> = batch.iter().map(|c| c.job.rfd).collect();
    rfds.sort();
    assert_eq!(rfds, [Some(7), Some(8), Some(9)], "one job per RFD");
    assert!(batch.iter().all(|c| c.job.state == JobState::Running && c.job.attempts == 1 && !c.superseded));
    assert!(ok!(store.claim_batch("w2", LEASE, 10)).is_empty(), "RFD 7's other job waits");
    for claimed in &batch {
        assert!(ok!(store.complete(&claimed.job.attempt().expect("lease"))));
    }
    let next = ok!(store.claim_batch("w2", LEASE, 10));
    assert_eq!(next.iter().map(|c| (c.job.rfd, c.job.sha.as_str())).collect::<Vec<_>>(), [(Some(7), "b")]);
    assert!(!next[0].superseded);
    assert!(ok!(store.complete(&next[0].job.attempt().expect("lease"))));

    // An older commit arriving after a newer one succeeded is reported superseded, as
    // `is_superseded` says.
    ok!(store.enqueue(&[job(7, "older", 5)]));
    let older = ok!(store.claim_batch("w3", LEASE, 2));
    assert_eq!(older.len(), 1);
    assert!(older[0].superseded);
    assert!(ok!(store.is_superseded(&older[0].job)));
    assert!(ok!(store.claim_batch("w3", LEASE, 0)).is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_batch_claims_take_each_job_once_and_never_two_of_one_rfd() {
    let (_db, store) = store().await;
    // 600 jobs over 200 RFDs (three commits each).
    let jobs: Vec<NewJob> =
        (0..600).map(|i| job(i % 200, &format!("s{}", i / 200), i64::from(i / 200))).collect();
    ok!(store.enqueue(&jobs));
    let mut workers = Vec::new();
    for w in 0..6 {
        let store = store.clone();
        workers.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            let mut idle = 0;
            while idle < 50 {
                let batch = store
                    .claim_batch(&format!("w{w}"), LEASE, 4)
                    .await
                    .unwrap_or_else(|e| panic!("claim_batch: {e}"));
                if batch.is_empty() {
                    idle += 1;
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    continue;
                }
                idle = 0;
                let rfds: HashSet<_> = batch.iter().map(|c| c.job.rfd).collect();
                assert_eq!(rfds.len(), batch.len(), "two jobs of one RFD in one batch");
                for claimed in batch {
                    let attempt = claimed.job.attempt().unwrap_or_else(|| panic!("lease"));
                    assert!(store.complete(&attempt).await.unwrap_or(false));
                    mine.push(claimed.job.id);
                }
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
    assert_eq!(seen.len(), 600);
    assert_eq!(ok!(store.job_counts()), vec![(JobState::Succeeded, 600)]);
}

#[tokio::test(flavor = "multi_thread")]
async fn finishing_claims_the_next_job_in_the_same_statement_fenced_and_one_per_rfd() {
    use rfd_model::queue::Finish;

    let (_db, store) = store().await;
    ok!(store.enqueue(&[job(7, "a", 10)]));
    let first = ok!(store.claim("w1", LEASE)).expect("a job");
    let attempt = first.attempt().expect("lease");
    // Queued while RFD 7 runs: an older commit of RFD 7 and a job of RFD 8.
    ok!(store.enqueue(&[job(7, "older", 0), job(8, "c", 0)]));

    // A stranger or a stale attempt cannot finish it (it may still claim, for itself).
    let stranger = rfd_model::Attempt { worker: "w2".into(), ..attempt.clone() };
    let lost = ok!(store.finish_and_claim(&stranger, Finish::Succeeded, LEASE, 0));
    assert!(!lost.finished && lost.claimed.is_empty());
    assert_eq!(ok!(store.get_job(first.id)).expect("job").state, JobState::Running);

    // The finish and the next claim: RFD 7 still counts as running in that statement,
    // so the claim takes RFD 8's job, under the same worker's lease.
    let next = ok!(store.finish_and_claim(&attempt, Finish::Succeeded, LEASE, 1));
    assert!(next.finished);
    let done = ok!(store.get_job(first.id)).expect("job");
    assert_eq!((done.state, done.processed, done.lease_owner.clone()), (JobState::Succeeded, true, None));
    assert!(done.finished_at.is_some());
    assert_eq!(next.claimed.len(), 1);
    let eight = &next.claimed[0];
    assert_eq!((eight.job.rfd, eight.job.state, eight.job.attempts), (Some(8), JobState::Running, 1));
    assert_eq!(eight.job.lease_owner.as_deref(), Some("w1"));
    assert!(!eight.superseded);
    assert!(
        !ok!(store.finish_and_claim(&attempt, Finish::Succeeded, LEASE, 0)).finished,
        "finishing twice is refused"
    );

    // Finishing RFD 8 claims RFD 7's older commit, which now sees the newer success.
    let eight_attempt = eight.job.attempt().expect("lease");
    let after = ok!(store.finish_and_claim(&eight_attempt, Finish::Succeeded, LEASE, 4));
    assert!(after.finished);
    assert_eq!(after.claimed.len(), 1);
    let older = &after.claimed[0];
    assert_eq!((older.job.rfd, older.job.sha.as_str()), (Some(7), "older"));
    assert!(older.superseded, "the supersede check sees the finished newer commit");

    // Recording a supersede claims nothing when nothing is due.
    let older_attempt = older.job.attempt().expect("lease");
    let last = ok!(store.finish_and_claim(&older_attempt, Finish::Superseded { reason: "newer" }, LEASE, 4));
    assert!(last.finished && last.claimed.is_empty());
    let older = ok!(store.get_job(older.job.id)).expect("job");
    assert_eq!((older.state, older.last_error.as_deref()), (JobState::Superseded, Some("newer")));
}

#[tokio::test(flavor = "multi_thread")]
async fn workers_chaining_finish_and_claim_run_each_job_once_never_two_of_one_rfd() {
    use rfd_model::queue::Finish;

    let (_db, store) = store().await;
    // 300 jobs over 100 RFDs (three commits each), drained by four workers that only
    // ever claim through finish_and_claim after their first claim.
    let jobs: Vec<NewJob> = (0..300).map(|i| job(i % 100, &format!("sha-{i}"), i64::from(i))).collect();
    ok!(store.enqueue(&jobs));
    let mut workers = Vec::new();
    for w in 0..4 {
        let store = store.clone();
        workers.push(tokio::spawn(async move {
            let worker = format!("w{w}");
            let mut ran = Vec::new();
            let mut current = store.claim(&worker, LEASE).await.unwrap_or_else(|e| panic!("claim: {e}"));
            let mut idle = 0;
            while idle < 20 {
                let Some(job) = current.take() else {
                    idle += 1;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    current = store.claim(&worker, LEASE).await.unwrap_or_else(|e| panic!("claim: {e}"));
                    continue;
                };
                idle = 0;
                ran.push(job.id);
                let attempt = job.attempt().unwrap_or_else(|| panic!("lease"));
                let result = store
                    .finish_and_claim(&attempt, Finish::Succeeded, LEASE, 1)
                    .await
                    .unwrap_or_else(|e| panic!("finish_and_claim: {e}"));
                assert!(result.finished);
                current = result.claimed.into_iter().next().map(|c| c.job);
            }
            ran
        }));
    }
    let mut all = Vec::new();
    for worker in workers {
        all.extend(worker.await.unwrap_or_else(|e| panic!("worker: {e}")));
    }
    assert_eq!(all.len(), 300, "every job ran");
    assert_eq!(all.iter().collect::<HashSet<_>>().len(), 300, "each exactly once");
    let jobs = ok!(store.list_jobs(&JobFilter::default(), Page { offset: 0, limit: 1000 }));
    assert!(
        jobs.iter().all(|j| j.attempts == 1 && matches!(j.state, JobState::Succeeded | JobState::Superseded))
    );
}

/// A prepared statement's plan counters, as its own session sees them.
#[derive(diesel::QueryableByName)]
struct PlanCounts {
    #[diesel(sql_type = diesel::sql_types::Text)]
    statement: String,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    generic_plans: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    custom_plans: i64,
}

/// The hot queue statements are prepared once per connection and then run on one cached
/// (generic) plan, not planned afresh each time: planning them cost more than running
/// them. A `LIMIT $n` parameter, or arrays the planner can size, would bring back a plan
/// per execution; this test fails if one does.
#[tokio::test(flavor = "multi_thread")]
async fn hot_queue_statements_run_on_a_cached_plan() {
    use diesel_async::RunQueryDsl;
    let db = rfd_devdb::test_database().await;
    // One connection, so the session that prepared the statements is the one asked.
    let settings = rfd_model::PoolSettings { max_connections: 1, connect_timeout_secs: 5 };
    let store = Store::new(rfd_model::db::pool(&db.url, &settings));

    for round in 0..10 {
        let delivery = Uuid::new_v4();
        let jobs = vec![
            NewJob {
                webhook_delivery_id: Some(delivery),
                ..job(round + 1, &format!("s{round}"), round.into())
            },
            NewJob {
                webhook_delivery_id: Some(delivery),
                ..job(round + 100, &format!("s{round}"), round.into())
            },
        ];
        let outcomes =
            ok!(store.record_deliveries(&[DeliveryRecord { id: delivery, event: "push".into(), jobs }]));
        assert_eq!(outcomes, vec![DeliveryOutcome::Recorded { jobs_created: 2 }]);
    }
    let mut finished = 0;
    let mut current = ok!(store.claim_batch("w", LEASE, 2));
    while let Some(claimed) = current.pop() {
        let attempt = claimed.job.attempt().unwrap_or_else(|| panic!("claimed without a lease"));
        let result = ok!(store.finish_and_claim(&attempt, rfd_model::queue::Finish::Succeeded, LEASE, 1));
        assert!(result.finished);
        finished += 1;
        current.extend(result.claimed);
        if current.is_empty() {
            current = ok!(store.claim_batch("w", LEASE, 2));
        }
    }
    assert_eq!(finished, 20, "every job ran once");

    let mut conn = store.pool().get().await.unwrap_or_else(|err| panic!("connection: {err}"));
    let counts: Vec<PlanCounts> =
        diesel::sql_query("SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements")
            .load(&mut conn)
            .await
            .unwrap_or_else(|err| panic!("pg_prepared_statements: {err}"));
    for (what, marker) in
        [("record_deliveries", "INSERT INTO webhook_delivery"), ("finish_and_claim", "WITH done AS")]
    {
        let statement = counts
            .iter()
            .find(|c| c.statement.contains(marker))
            .unwrap_or_else(|| panic!("{what} is not a prepared statement of this session"));
        assert!(
            statement.generic_plans > 0 && statement.custom_plans <= 5,
            "{what} was planned per execution: {} generic, {} custom plans",
            statement.generic_plans,
            statement.custom_plans
        );
    }
}
