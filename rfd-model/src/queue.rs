//! The durable job queue on PostgreSQL.
//!
//! A job is claimed by one statement (`FOR UPDATE SKIP LOCKED`) that also takes a lease;
//! the worker renews the lease by heartbeat while the job runs, and every later write is
//! fenced by (job, attempt, worker), so a worker whose lease expired cannot overwrite the
//! result of the worker that took the job over. A partial unique index keeps two jobs of
//! the same RFD from running at once. Enqueueing NOTIFYs [`JOB_CHANNEL`] in the same
//! transaction, so workers wake as soon as the jobs are committed.

use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;
use std::time::Duration;

use chrono::{DateTime, Utc};
use diesel::deserialize::FromSqlRow;
use diesel::dsl::now;
use diesel::expression::AsExpression;
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::db::Prepared;
use crate::error::StoreError;
use crate::schema::{job, sql_types, webhook_delivery};
use crate::store::Store;
use crate::types::{Page, pg_enum};

/// The channel `NOTIFY`d whenever jobs are enqueued.
pub const JOB_CHANNEL: &str = "rfd_job_queued";

/// Where a job is in its life.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema, AsExpression, FromSqlRow,
)]
#[diesel(sql_type = sql_types::JobState)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    /// Waiting to run (at `run_at`).
    Queued,
    /// Claimed by a worker holding a lease.
    Running,
    /// Done.
    Succeeded,
    /// Out of attempts: the dead letter, kept with its last error until retried.
    Failed,
    /// Not run: a newer commit of the same RFD and branch was already processed.
    Superseded,
}
pg_enum!(JobState, sql_types::JobState, {
    Queued => "queued",
    Running => "running",
    Succeeded => "succeeded",
    Failed => "failed",
    Superseded => "superseded",
});

impl std::str::FromStr for JobState {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "queued" => Ok(Self::Queued),
            "running" => Ok(Self::Running),
            "succeeded" => Ok(Self::Succeeded),
            "failed" => Ok(Self::Failed),
            "superseded" => Ok(Self::Superseded),
            other => Err(format!(
                "unknown job state {other:?} (expected queued, running, succeeded, failed or superseded)"
            )),
        }
    }
}

/// What a job does.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema, AsExpression, FromSqlRow,
)]
#[diesel(sql_type = sql_types::JobKind)]
#[serde(rename_all = "snake_case")]
pub enum JobKind {
    /// Process one RFD at one commit of one branch.
    RfdUpdate,
    /// Compare a whole branch with the database (a push whose commit list may be
    /// truncated cannot be trusted to name every RFD it touched).
    BranchReconcile,
    /// Deliver one outbound event to one subscriber (see [`crate::events`]); the job's
    /// `rfd` is empty, so deliveries never wait behind, or hold up, the RFD's updates.
    EventDelivery,
}
pg_enum!(JobKind, sql_types::JobKind, {
    RfdUpdate => "rfd_update",
    BranchReconcile => "branch_reconcile",
    EventDelivery => "event_delivery",
});

/// A job row. Serialises as the reference API's `Job` plus the queue's own fields.
#[derive(
    Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, Queryable, Selectable, QueryableByName,
)]
#[diesel(table_name = job, check_for_backend(Pg))]
#[schemars(rename = "QueueJob")]
pub struct Job {
    /// Job id.
    pub id: i32,
    /// What the job does.
    pub kind: JobKind,
    /// Repository owner.
    pub owner: String,
    /// Repository name.
    pub repository: String,
    /// Branch the commit was pushed to.
    pub branch: String,
    /// Commit to process.
    pub sha: String,
    /// RFD number (absent only for branch reconciles).
    pub rfd: Option<i32>,
    /// The webhook delivery that created the job, if any.
    pub webhook_delivery_id: Option<Uuid>,
    /// Commit time.
    pub committed_at: DateTime<Utc>,
    /// Whether the job has reached a final state (succeeded, failed or superseded).
    pub processed: bool,
    /// When it was enqueued.
    pub created_at: DateTime<Utc>,
    /// When it was first claimed.
    pub started_at: Option<DateTime<Utc>>,
    /// Queue state.
    pub state: JobState,
    /// Attempts started so far.
    pub attempts: i32,
    /// Attempts allowed before the job is failed.
    pub max_attempts: i32,
    /// When it may run next.
    pub run_at: DateTime<Utc>,
    /// The worker holding the lease while running.
    pub lease_owner: Option<String>,
    /// When the lease runs out unless renewed.
    pub lease_expires_at: Option<DateTime<Utc>>,
    /// The error of the last failed attempt.
    pub last_error: Option<String>,
    /// Actions completed by earlier attempts (a retry resumes after them).
    pub completed_actions: Vec<String>,
    /// When it reached a final state.
    pub finished_at: Option<DateTime<Utc>>,
    /// When the row last changed.
    pub updated_at: DateTime<Utc>,
}

/// A job to enqueue.
#[derive(Debug, Clone, PartialEq, Eq, Insertable)]
#[diesel(table_name = job, check_for_backend(Pg))]
pub struct NewJob {
    /// What the job does.
    pub kind: JobKind,
    /// Repository owner.
    pub owner: String,
    /// Repository name.
    pub repository: String,
    /// Branch.
    pub branch: String,
    /// Commit.
    pub sha: String,
    /// RFD number (`None` for branch reconciles).
    pub rfd: Option<i32>,
    /// Originating webhook delivery.
    pub webhook_delivery_id: Option<Uuid>,
    /// Commit time.
    pub committed_at: DateTime<Utc>,
}

/// What became of a webhook delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryOutcome {
    /// First time seen: recorded with this many new jobs (jobs that already existed
    /// for the same commit are not duplicated).
    Recorded {
        /// Jobs created.
        jobs_created: usize,
    },
    /// Seen before: nothing new was queued.
    Duplicate,
}

/// One webhook delivery to record with [`Store::record_deliveries`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryRecord {
    /// GitHub's delivery id (`X-GitHub-Delivery`).
    pub id: Uuid,
    /// The event name (`X-GitHub-Event`).
    pub event: String,
    /// The jobs the delivery plans; each is linked to the delivery when recorded.
    pub jobs: Vec<NewJob>,
}

/// A job claimed by [`Store::claim_batch`].
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimedJob {
    /// The job, now running under the claimer's lease.
    pub job: Job,
    /// Whether, at the claim, a newer commit of the same RFD and branch had already been
    /// processed (what [`Store::is_superseded`] answers). While the job runs no other job
    /// of its RFD can run, so the answer cannot change before the job starts.
    pub superseded: bool,
}

/// A claimed row with its supersede check, as the claim statement returns it; in
/// [`Store::finish_and_claim`], the finished job's row comes back too (`finished`).
#[derive(QueryableByName)]
struct ClaimedRow {
    #[diesel(embed)]
    job: Job,
    #[diesel(sql_type = diesel::sql_types::Bool)]
    superseded: bool,
    #[diesel(sql_type = diesel::sql_types::Bool)]
    finished: bool,
}

/// How an attempt ended, for [`Store::finish_and_claim`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finish<'a> {
    /// The job succeeded ([`Store::complete`]).
    Succeeded,
    /// The job was not run: a newer commit was already processed ([`Store::supersede`]).
    Superseded {
        /// Why, kept as the job's last error.
        reason: &'a str,
    },
}

/// What [`Store::finish_and_claim`] did.
#[derive(Debug, Clone, PartialEq)]
pub struct FinishAndClaim {
    /// Whether the attempt was recorded; `false`: the lease was lost and the result
    /// discarded, as [`Store::complete`] answers.
    pub finished: bool,
    /// The jobs claimed in the same statement (as [`Store::claim_batch`] returns them).
    pub claimed: Vec<ClaimedJob>,
}

/// The columns of `job`, each prefixed with `job.`, for `RETURNING` clauses of statements
/// run as [`Prepared`]: named, not `*`, so a column a later migration adds cannot change
/// a cached statement's result type.
macro_rules! job_columns {
    () => {
        "job.id, job.kind, job.owner, job.repository, job.branch, job.sha, job.rfd, \
         job.webhook_delivery_id, job.committed_at, job.processed, job.created_at, job.started_at, \
         job.state, job.attempts, job.max_attempts, job.run_at, job.lease_owner, \
         job.lease_expires_at, job.last_error, job.completed_actions, job.finished_at, job.updated_at"
    };
}

/// The claim statement's common table expressions (`$1` worker, `$2` lease seconds;
/// `{limit}`, how many, is written into the text by [`limited`]), ending in `claimed`:
/// the rows claimed with their supersede check.
///
/// The candidates are locked first (SKIP LOCKED: rows another claimer holds are passed
/// over), then at most one per RFD is kept. Two claimers racing for two jobs of one
/// RFD: the unique index lets one win and fails the other's statement; that claimer
/// simply looks again.
macro_rules! claim_ctes {
    () => {
        concat!(
            "locked AS MATERIALIZED ( \
               SELECT j.id, j.rfd, j.run_at FROM job j \
               WHERE j.state = 'queued' AND j.run_at <= now() \
                 AND (j.rfd IS NULL OR NOT EXISTS ( \
                   SELECT 1 FROM job r WHERE r.rfd = j.rfd AND r.state = 'running')) \
               ORDER BY j.run_at, j.id \
               LIMIT {limit} \
               FOR UPDATE SKIP LOCKED), \
             picked AS ( \
               SELECT DISTINCT ON (coalesce(rfd, -id)) id FROM locked \
               ORDER BY coalesce(rfd, -id), run_at, id), \
             claimed AS ( \
               UPDATE job SET state = 'running', attempts = attempts + 1, lease_owner = $1, \
                 lease_expires_at = now() + make_interval(secs => $2), \
                 started_at = coalesce(started_at, now()), updated_at = now() \
               FROM picked WHERE job.id = picked.id \
               RETURNING ",
            job_columns!(),
            ", EXISTS ( \
                 SELECT 1 FROM job n \
                 WHERE n.rfd = job.rfd AND n.branch = job.branch AND n.owner = job.owner \
                   AND n.repository = job.repository AND n.state = 'succeeded' \
                   AND n.committed_at > job.committed_at) AS superseded)"
        )
    };
}

/// Claims (see [`claim_ctes`]); a template for [`limited`].
const CLAIM: &str = concat!("WITH ", claim_ctes!(), " SELECT claimed.*, false AS finished FROM claimed");

/// Records an attempt's end (`$3` job, `$4` attempt, `$5` worker, `$6` state, `$7` note)
/// and claims (see [`claim_ctes`]) in one statement; a template for [`limited`].
const FINISH_AND_CLAIM: &str = concat!(
    "WITH done AS ( \
       UPDATE job SET state = $6::job_state, processed = true, finished_at = now(), \
         updated_at = now(), lease_owner = NULL, lease_expires_at = NULL, last_error = $7 \
       WHERE id = $3 AND attempts = $4 AND lease_owner = $5 AND state = 'running' \
       RETURNING ",
    job_columns!(),
    "), ",
    claim_ctes!(),
    " SELECT done.*, false AS superseded, true AS finished FROM done \
     UNION ALL \
     SELECT claimed.*, false AS finished FROM claimed"
);

/// The most jobs one claim statement takes; a larger claim is cut to it (the runner
/// claims again while it has free slots).
pub const MAX_CLAIM: usize = 32;

/// The texts of a claim template, one per limit from 1 to [`MAX_CLAIM`], with the limit
/// written in. A `LIMIT $n` parameter made PostgreSQL plan every execution afresh: a
/// generic plan cannot know how few rows are wanted, so it never beat a custom plan and
/// the cached statement was replanned each time. With the limit in the text, each cached
/// statement keeps one plan.
fn limited(template: &str) -> Vec<String> {
    (1..=MAX_CLAIM).map(|limit| template.replace("{limit}", &limit.to_string())).collect()
}

static CLAIM_TEXTS: LazyLock<Vec<String>> = LazyLock::new(|| limited(CLAIM));
static FINISH_AND_CLAIM_TEXTS: LazyLock<Vec<String>> = LazyLock::new(|| limited(FINISH_AND_CLAIM));

/// The text of `texts` for `limit` (at least 1, at most [`MAX_CLAIM`]).
fn text_for(texts: &LazyLock<Vec<String>>, limit: usize) -> &str {
    let index = limit.clamp(1, MAX_CLAIM) - 1;
    texts.get(index).map_or("", String::as_str)
}

/// Records webhook deliveries and their jobs in one statement, so in one implicit
/// transaction and one round trip (see [`Store::record_deliveries`]). `$1`..`$2` the
/// deliveries (id, event), `$3`..`$10` their jobs, `$11` the NOTIFY channel.
///
/// The test for deliveries recorded before is a scalar subquery, not `NOT EXISTS`, on
/// purpose: PostgreSQL turns `NOT EXISTS` into an anti join, and the plan cached for this
/// prepared statement while `webhook_delivery` was still small hashed the whole table on
/// every batch (intake fell from ~9,000 to ~3,000 deliveries/s as the table grew), while a
/// scalar subquery stays one primary-key probe per delivery, whatever the statistics.
///
/// Each array parameter is read through a scalar subquery, `(SELECT $n)`, so that the
/// planner estimates every batch alike instead of from the arrays' actual lengths:
/// otherwise each custom plan (sized to its batch) looked cheaper than the generic one,
/// and PostgreSQL planned the statement afresh on every batch.
///
/// The jobs of the deliveries not recorded yet are inserted first, then the deliveries
/// with the number of jobs actually created (a job whose commit was already queued, by
/// another delivery or earlier in the batch, is skipped). The foreign key from a job to
/// its delivery is checked at the end of the statement, when both exist. Rows go in key
/// order, so concurrent batches (writers of one API, or several API processes) take
/// their locks in the same order. Two batches carrying the same new delivery: the second
/// waits on the first's job keys, skips them once the first commits, and its delivery
/// row then conflicts too, so it reports the delivery as a duplicate.
const RECORD_DELIVERIES: &str = "WITH input AS MATERIALIZED ( \
       SELECT d.id, d.event FROM unnest((SELECT $1::uuid[]), (SELECT $2::text[])) AS d(id, event) \
       WHERE (SELECT true FROM webhook_delivery w WHERE w.id = d.id) IS NULL), \
     ins AS ( \
       INSERT INTO job (kind, owner, repository, branch, sha, rfd, webhook_delivery_id, committed_at) \
       SELECT j.kind::job_kind, j.owner, j.repository, j.branch, j.sha, j.rfd, j.delivery, j.committed_at \
       FROM unnest((SELECT $3::text[]), (SELECT $4::text[]), (SELECT $5::text[]), \
                   (SELECT $6::text[]), (SELECT $7::text[]), (SELECT $8::int4[]), \
                   (SELECT $9::uuid[]), (SELECT $10::timestamptz[])) \
            WITH ORDINALITY AS j(kind, owner, repository, branch, sha, rfd, delivery, committed_at, n) \
       JOIN input ON input.id = j.delivery \
       ORDER BY j.owner, j.repository, j.branch, j.sha, j.rfd, j.n \
       ON CONFLICT DO NOTHING \
       RETURNING webhook_delivery_id), \
     counted AS (SELECT webhook_delivery_id AS id, count(*) AS jobs FROM ins GROUP BY 1), \
     fresh AS ( \
       INSERT INTO webhook_delivery (id, event, jobs_created) \
       SELECT input.id, input.event, coalesce(counted.jobs, 0) \
       FROM input LEFT JOIN counted ON counted.id = input.id \
       ORDER BY input.id \
       ON CONFLICT DO NOTHING \
       RETURNING id, jobs_created), \
     note AS MATERIALIZED (SELECT pg_notify($11, '') FROM (SELECT 1 FROM ins LIMIT 1) AS any_job) \
     SELECT fresh.id, fresh.jobs_created::int8 AS jobs FROM fresh \
     WHERE (SELECT count(*) FROM note) >= 0";

/// A newly recorded delivery and the jobs it created.
#[derive(QueryableByName)]
struct RecordedRow {
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    id: Uuid,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    jobs: i64,
}

/// A job's id, as a statement returns it.
#[derive(QueryableByName)]
struct JobId {
    #[diesel(sql_type = diesel::sql_types::Integer)]
    id: i32,
}

/// Which jobs to list.
#[derive(Debug, Clone, Default)]
pub struct JobFilter {
    /// Only jobs of this RFD.
    pub rfd: Option<i32>,
    /// Only jobs in this state.
    pub state: Option<JobState>,
}

/// The identity of one attempt at a job; every write after the claim is fenced by it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// Job id.
    pub job_id: i32,
    /// Attempt number (1 for the first).
    pub attempt: i32,
    /// The worker that claimed it.
    pub worker: String,
}

impl Job {
    /// The fencing token of the current attempt.
    pub fn attempt(&self) -> Option<Attempt> {
        self.lease_owner.as_ref().map(|worker| Attempt {
            job_id: self.id,
            attempt: self.attempts,
            worker: worker.clone(),
        })
    }
}

fn secs(duration: Duration) -> f64 {
    duration.as_secs_f64()
}

/// Matches the current attempt of a running job.
macro_rules! fenced {
    ($attempt:expr) => {
        job::table
            .filter(job::id.eq($attempt.job_id))
            .filter(job::attempts.eq($attempt.attempt))
            .filter(job::lease_owner.eq(&$attempt.worker))
            .filter(job::state.eq(JobState::Running))
    };
}

async fn insert_jobs(conn: &mut AsyncPgConnection, jobs: &[NewJob]) -> Result<usize, StoreError> {
    if jobs.is_empty() {
        return Ok(0);
    }
    let inserted =
        diesel::insert_into(job::table).values(jobs).on_conflict_do_nothing().execute(conn).await?;
    if inserted > 0 {
        diesel::sql_query("SELECT pg_notify($1, '')")
            .bind::<diesel::sql_types::Text, _>(JOB_CHANNEL)
            .execute(conn)
            .await?;
    }
    Ok(inserted)
}

impl Store {
    /// Records a webhook delivery and its jobs in one transaction. A delivery id seen
    /// before queues nothing; concurrent deliveries of one id create one set of jobs.
    pub async fn record_delivery(
        &self,
        delivery_id: Uuid,
        event: &str,
        jobs: &[NewJob],
    ) -> Result<DeliveryOutcome, StoreError> {
        let mut conn = self.pool().get().await?;
        let event = event.to_string();
        let jobs = jobs.to_vec();
        conn.transaction::<_, StoreError, _>(async move |conn| {
            let fresh = diesel::insert_into(webhook_delivery::table)
                .values((webhook_delivery::id.eq(delivery_id), webhook_delivery::event.eq(&event)))
                .on_conflict_do_nothing()
                .execute(conn)
                .await?;
            if fresh == 0 {
                return Ok(DeliveryOutcome::Duplicate);
            }
            let jobs_created = insert_jobs(conn, &jobs).await?;
            diesel::update(webhook_delivery::table.find(delivery_id))
                .set(webhook_delivery::jobs_created.eq(i32::try_from(jobs_created).unwrap_or(i32::MAX)))
                .execute(conn)
                .await?;
            Ok(DeliveryOutcome::Recorded { jobs_created })
        })
        .await
    }

    /// Records many webhook deliveries in one transaction (group commit): what
    /// [`Store::record_delivery`] does for one, with one round trip for all of them and
    /// one NOTIFY. Each job is linked to its delivery. Returns one outcome per delivery,
    /// in order; an id seen before, or earlier in the same slice, is a duplicate. Either
    /// everything commits or nothing does.
    pub async fn record_deliveries(
        &self,
        deliveries: &[DeliveryRecord],
    ) -> Result<Vec<DeliveryOutcome>, StoreError> {
        // Later repeats of an id within the batch are duplicates of the first.
        let mut first: HashSet<Uuid> = HashSet::with_capacity(deliveries.len());
        let unique: Vec<&DeliveryRecord> =
            deliveries.iter().filter(|delivery| first.insert(delivery.id)).collect();
        if unique.is_empty() {
            return Ok(Vec::new());
        }

        let ids: Vec<Uuid> = unique.iter().map(|d| d.id).collect();
        let events: Vec<String> = unique.iter().map(|d| d.event.clone()).collect();
        let rows = unique.iter().map(|d| d.jobs.len()).sum();
        let mut kinds = Vec::with_capacity(rows);
        let mut owners = Vec::with_capacity(rows);
        let mut repositories = Vec::with_capacity(rows);
        let mut branches = Vec::with_capacity(rows);
        let mut shas = Vec::with_capacity(rows);
        let mut rfds = Vec::with_capacity(rows);
        let mut links = Vec::with_capacity(rows);
        let mut committed = Vec::with_capacity(rows);
        for delivery in &unique {
            for job in &delivery.jobs {
                kinds.push(job.kind.as_str());
                owners.push(job.owner.as_str());
                repositories.push(job.repository.as_str());
                branches.push(job.branch.as_str());
                shas.push(job.sha.as_str());
                rfds.push(job.rfd);
                links.push(delivery.id);
                committed.push(job.committed_at);
            }
        }

        use diesel::sql_types::{Array, Integer, Nullable, Text, Timestamptz};
        let mut conn = self.pool().get().await?;
        let rows = Prepared(
            diesel::sql_query(RECORD_DELIVERIES)
                .bind::<Array<diesel::sql_types::Uuid>, _>(ids)
                .bind::<Array<Text>, _>(events)
                .bind::<Array<Text>, _>(kinds)
                .bind::<Array<Text>, _>(owners)
                .bind::<Array<Text>, _>(repositories)
                .bind::<Array<Text>, _>(branches)
                .bind::<Array<Text>, _>(shas)
                .bind::<Array<Nullable<Integer>>, _>(rfds)
                .bind::<Array<diesel::sql_types::Uuid>, _>(links)
                .bind::<Array<Timestamptz>, _>(committed)
                .bind::<Text, _>(JOB_CHANNEL),
        )
        .load::<RecordedRow>(&mut conn)
        .await?;
        let mut recorded: HashMap<Uuid, usize> =
            rows.into_iter().map(|row| (row.id, usize::try_from(row.jobs).unwrap_or(0))).collect();

        // The first occurrence of a new id is recorded (and taken out of `recorded`);
        // everything else is a duplicate.
        Ok(deliveries
            .iter()
            .map(|delivery| match recorded.remove(&delivery.id) {
                Some(jobs_created) => DeliveryOutcome::Recorded { jobs_created },
                None => DeliveryOutcome::Duplicate,
            })
            .collect())
    }

    /// Enqueues jobs that did not come from a webhook (the scanner, API commits).
    /// Jobs that already exist for the same commit are skipped; returns how many were new.
    pub async fn enqueue(&self, jobs: &[NewJob]) -> Result<usize, StoreError> {
        let mut conn = self.pool().get().await?;
        let jobs = jobs.to_vec();
        conn.transaction::<_, StoreError, _>(async move |conn| insert_jobs(conn, &jobs).await).await
    }

    /// Claims the next due job for `worker`, with a lease of `lease`. Never returns a
    /// job whose RFD has another job running.
    pub async fn claim(&self, worker: &str, lease: Duration) -> Result<Option<Job>, StoreError> {
        Ok(self.claim_batch(worker, lease, 1).await?.pop().map(|claimed| claimed.job))
    }

    /// Claims up to `limit` due jobs for `worker` in one statement, each with a lease of
    /// `lease`, oldest first. Never two jobs of one RFD, and never a job whose RFD has
    /// another job running. Each comes with its supersede check, computed in the same
    /// statement. Fewer than `limit` (or none) when fewer are due and unlocked; never more
    /// than [`MAX_CLAIM`].
    pub async fn claim_batch(
        &self,
        worker: &str,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<ClaimedJob>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let sql = text_for(&CLAIM_TEXTS, limit);
        let mut conn = self.pool().get().await?;
        // See claim_ctes! for how claimers share the queue.
        for _ in 0..3 {
            let claimed = Prepared(
                diesel::sql_query(sql)
                    .bind::<diesel::sql_types::Text, _>(worker)
                    .bind::<diesel::sql_types::Double, _>(secs(lease)),
            )
            .load::<ClaimedRow>(&mut conn)
            .await;
            match claimed.map_err(StoreError::from) {
                Ok(rows) => {
                    let mut claimed: Vec<ClaimedJob> = rows
                        .into_iter()
                        .map(|row| ClaimedJob { job: row.job, superseded: row.superseded })
                        .collect();
                    claimed.sort_by_key(|c| (c.job.run_at, c.job.id));
                    return Ok(claimed);
                }
                Err(StoreError::Conflict { constraint }) if constraint == "job_one_running_per_rfd" => {
                    continue;
                }
                Err(err) => return Err(err),
            }
        }
        Ok(Vec::new())
    }

    /// Renews the lease of a running attempt. `false`: the lease was lost (it expired and
    /// the job was taken back), so the worker must stop working on it.
    pub async fn heartbeat(&self, attempt: &Attempt, lease: Duration) -> Result<bool, StoreError> {
        let mut conn = self.pool().get().await?;
        let updated = Prepared(
            diesel::sql_query(
                "UPDATE job SET lease_expires_at = now() + make_interval(secs => $4), updated_at = now() \
                 WHERE id = $1 AND attempts = $2 AND lease_owner = $3 AND state = 'running'",
            )
            .bind::<diesel::sql_types::Integer, _>(attempt.job_id)
            .bind::<diesel::sql_types::Integer, _>(attempt.attempt)
            .bind::<diesel::sql_types::Text, _>(&attempt.worker)
            .bind::<diesel::sql_types::Double, _>(secs(lease)),
        )
        .execute(&mut conn)
        .await?;
        Ok(updated == 1)
    }

    /// Records that an action of the current attempt completed, so a later attempt can
    /// skip it. `false`: the lease was lost.
    pub async fn record_action(&self, attempt: &Attempt, action: &str) -> Result<bool, StoreError> {
        let mut conn = self.pool().get().await?;
        let updated = diesel::update(fenced!(attempt))
            .set(
                job::completed_actions.eq(diesel::dsl::sql::<
                    diesel::sql_types::Array<diesel::sql_types::Text>,
                >("array_append(completed_actions, ")
                .bind::<diesel::sql_types::Text, _>(action.to_string())
                .sql(")")),
            )
            .execute(&mut conn)
            .await?;
        Ok(updated == 1)
    }

    /// Marks the current attempt succeeded. `false`: the lease was lost and the result
    /// is discarded (another worker owns the job now).
    pub async fn complete(&self, attempt: &Attempt) -> Result<bool, StoreError> {
        self.finish(attempt, JobState::Succeeded, None).await
    }

    /// Records how an attempt ended and claims up to `limit` (at most [`MAX_CLAIM`]) more
    /// jobs for the same worker, in one statement (one round trip where [`Store::complete`] and
    /// [`Store::claim_batch`] take two). The finish is fenced exactly like
    /// [`Store::complete`]; the claim follows every rule of [`Store::claim_batch`].
    ///
    /// Both parts see the queue as it was before the statement, so the finished job still
    /// counts as running: the next job of the same RFD is not claimed here, but by the
    /// next claim (which therefore also sees the finished job in its supersede check).
    pub async fn finish_and_claim(
        &self,
        attempt: &Attempt,
        finish: Finish<'_>,
        lease: Duration,
        limit: usize,
    ) -> Result<FinishAndClaim, StoreError> {
        let (state, note) = match finish {
            Finish::Succeeded => (JobState::Succeeded, None),
            Finish::Superseded { reason } => (JobState::Superseded, Some(reason)),
        };
        if limit == 0 {
            let finished = self.finish(attempt, state, note).await?;
            return Ok(FinishAndClaim { finished, claimed: Vec::new() });
        }
        let sql = text_for(&FINISH_AND_CLAIM_TEXTS, limit);
        let mut conn = self.pool().get().await?;
        for _ in 0..3 {
            let rows = Prepared(
                diesel::sql_query(sql)
                    .bind::<diesel::sql_types::Text, _>(&attempt.worker)
                    .bind::<diesel::sql_types::Double, _>(secs(lease))
                    .bind::<diesel::sql_types::Integer, _>(attempt.job_id)
                    .bind::<diesel::sql_types::Integer, _>(attempt.attempt)
                    .bind::<diesel::sql_types::Text, _>(&attempt.worker)
                    .bind::<diesel::sql_types::Text, _>(state.as_str())
                    .bind::<diesel::sql_types::Nullable<diesel::sql_types::Text>, _>(note),
            )
            .load::<ClaimedRow>(&mut conn)
            .await;
            match rows.map_err(StoreError::from) {
                Ok(rows) => {
                    let mut finished = false;
                    let mut claimed = Vec::with_capacity(rows.len());
                    for row in rows {
                        if row.finished {
                            finished = true;
                        } else {
                            claimed.push(ClaimedJob { job: row.job, superseded: row.superseded });
                        }
                    }
                    claimed.sort_by_key(|c| (c.job.run_at, c.job.id));
                    return Ok(FinishAndClaim { finished, claimed });
                }
                // The claim lost a race (the whole statement rolled back, the finish
                // too): try again.
                Err(StoreError::Conflict { constraint }) if constraint == "job_one_running_per_rfd" => {
                    continue;
                }
                Err(err) => return Err(err),
            }
        }
        // Still losing races: record the result alone; the runner claims later.
        let finished = self.finish(attempt, state, note).await?;
        Ok(FinishAndClaim { finished, claimed: Vec::new() })
    }

    /// Marks a job superseded (not run: a newer commit was already processed).
    pub async fn supersede(&self, attempt: &Attempt, reason: &str) -> Result<bool, StoreError> {
        self.finish(attempt, JobState::Superseded, Some(reason)).await
    }

    async fn finish(
        &self,
        attempt: &Attempt,
        state: JobState,
        note: Option<&str>,
    ) -> Result<bool, StoreError> {
        let mut conn = self.pool().get().await?;
        let updated = diesel::update(fenced!(attempt))
            .set((
                job::state.eq(state),
                job::processed.eq(true),
                job::finished_at.eq(now),
                job::updated_at.eq(now),
                job::lease_owner.eq(None::<String>),
                job::lease_expires_at.eq(None::<DateTime<Utc>>),
                job::last_error.eq(note),
            ))
            .execute(&mut conn)
            .await?;
        Ok(updated == 1)
    }

    /// Records a failed attempt: the job is queued again after `retry_in`, or, out of
    /// attempts, becomes `failed` with its error kept. Returns the new state, or `None`
    /// if the lease was lost.
    pub async fn fail(
        &self,
        attempt: &Attempt,
        error: &str,
        retry_in: Duration,
    ) -> Result<Option<JobState>, StoreError> {
        let mut conn = self.pool().get().await?;
        let state = Prepared(
            diesel::sql_query(concat!(
                "UPDATE job SET \
                   state = CASE WHEN attempts >= max_attempts THEN 'failed'::job_state ELSE 'queued'::job_state END, \
                   processed = attempts >= max_attempts, \
                   finished_at = CASE WHEN attempts >= max_attempts THEN now() END, \
                   run_at = now() + make_interval(secs => $5), \
                   last_error = $4, lease_owner = NULL, lease_expires_at = NULL, updated_at = now() \
                 WHERE id = $1 AND attempts = $2 AND lease_owner = $3 AND state = 'running' \
                 RETURNING ",
                job_columns!()
            ))
            .bind::<diesel::sql_types::Integer, _>(attempt.job_id)
            .bind::<diesel::sql_types::Integer, _>(attempt.attempt)
            .bind::<diesel::sql_types::Text, _>(&attempt.worker)
            .bind::<diesel::sql_types::Text, _>(error)
            .bind::<diesel::sql_types::Double, _>(secs(retry_in)),
        )
        .get_result::<Job>(&mut conn)
        .await
        .optional()?;
        Ok(state.map(|job| job.state))
    }

    /// Gives a claimed job back without counting the attempt (a worker shutting down).
    pub async fn release(&self, attempt: &Attempt) -> Result<bool, StoreError> {
        let mut conn = self.pool().get().await?;
        let updated = diesel::update(fenced!(attempt))
            .set((
                job::state.eq(JobState::Queued),
                job::attempts.eq(job::attempts - 1),
                job::run_at.eq(now),
                job::updated_at.eq(now),
                job::lease_owner.eq(None::<String>),
                job::lease_expires_at.eq(None::<DateTime<Utc>>),
            ))
            .execute(&mut conn)
            .await?;
        Ok(updated == 1)
    }

    /// Takes back jobs whose lease expired (their worker crashed or hung): each counts
    /// as a failed attempt. Returns the ids taken back.
    pub async fn reap_expired_leases(&self) -> Result<Vec<i32>, StoreError> {
        let mut conn = self.pool().get().await?;
        let jobs = Prepared(diesel::sql_query(
            "UPDATE job SET \
               state = CASE WHEN attempts >= max_attempts THEN 'failed'::job_state ELSE 'queued'::job_state END, \
               processed = attempts >= max_attempts, \
               finished_at = CASE WHEN attempts >= max_attempts THEN now() END, \
               last_error = 'lease expired: the worker ' || coalesce(lease_owner, '?') || ' stopped renewing it', \
               run_at = now(), lease_owner = NULL, lease_expires_at = NULL, updated_at = now() \
             WHERE state = 'running' AND lease_expires_at < now() \
             RETURNING id",
        ))
        .load::<JobId>(&mut conn)
        .await?;
        Ok(jobs.into_iter().map(|job| job.id).collect())
    }

    /// Whether a newer commit of the same RFD and branch was already processed, so this
    /// job would replace a newer revision with an older one.
    pub async fn is_superseded(&self, job: &Job) -> Result<bool, StoreError> {
        let Some(rfd) = job.rfd else { return Ok(false) };
        let mut conn = self.pool().get().await?;
        let newer: i64 = job::table
            .filter(job::rfd.eq(rfd))
            .filter(job::branch.eq(&job.branch))
            .filter(job::owner.eq(&job.owner))
            .filter(job::repository.eq(&job.repository))
            .filter(job::state.eq(JobState::Succeeded))
            .filter(job::committed_at.gt(job.committed_at))
            .count()
            .get_result(&mut conn)
            .await?;
        Ok(newer > 0)
    }

    /// Puts a failed job back in the queue with fresh attempts.
    pub async fn retry_job(&self, id: i32) -> Result<Job, StoreError> {
        let mut conn = self.pool().get().await?;
        let retried =
            diesel::update(job::table.filter(job::id.eq(id)).filter(job::state.eq(JobState::Failed)))
                .set((
                    job::state.eq(JobState::Queued),
                    job::attempts.eq(0),
                    job::processed.eq(false),
                    job::run_at.eq(now),
                    job::finished_at.eq(None::<DateTime<Utc>>),
                    job::updated_at.eq(now),
                ))
                .returning(Job::as_returning())
                .get_result(&mut conn)
                .await
                .optional()?;
        match retried {
            Some(job) => {
                diesel::sql_query("SELECT pg_notify($1, '')")
                    .bind::<diesel::sql_types::Text, _>(JOB_CHANNEL)
                    .execute(&mut conn)
                    .await?;
                Ok(job)
            }
            None => match self.get_job(id).await? {
                Some(_) => Err(StoreError::Conflict { constraint: "job_not_failed".into() }),
                None => Err(StoreError::NotFound { entity: "job" }),
            },
        }
    }

    /// One job by id.
    pub async fn get_job(&self, id: i32) -> Result<Option<Job>, StoreError> {
        let mut conn = self.pool().get().await?;
        Ok(job::table.find(id).select(Job::as_select()).first(&mut conn).await.optional()?)
    }

    /// Jobs, newest first.
    pub async fn list_jobs(&self, filter: &JobFilter, page: Page) -> Result<Vec<Job>, StoreError> {
        let mut conn = self.pool().get().await?;
        let mut query = job::table.select(Job::as_select()).into_boxed();
        if let Some(rfd) = filter.rfd {
            query = query.filter(job::rfd.eq(rfd));
        }
        if let Some(state) = filter.state {
            query = query.filter(job::state.eq(state));
        }
        Ok(query
            .order((job::created_at.desc(), job::id.desc()))
            .offset(page.offset)
            .limit(page.limit)
            .load(&mut conn)
            .await?)
    }

    /// How many jobs are in each state.
    pub async fn job_counts(&self) -> Result<Vec<(JobState, i64)>, StoreError> {
        let mut conn = self.pool().get().await?;
        Ok(job::table
            .group_by(job::state)
            .select((job::state, diesel::dsl::count_star()))
            .load(&mut conn)
            .await?)
    }
}

/// Waits for [`JOB_CHANNEL`] notifications on a dedicated connection.
pub struct JobListener {
    conn: AsyncPgConnection,
}

impl JobListener {
    /// Connects and subscribes.
    pub async fn connect(database_url: &str) -> Result<Self, StoreError> {
        let mut conn = AsyncPgConnection::establish(database_url)
            .await
            .map_err(|err| StoreError::Unavailable(err.to_string()))?;
        diesel::sql_query(format!("LISTEN {JOB_CHANNEL}")).execute(&mut conn).await?;
        Ok(Self { conn })
    }

    /// Resolves at the next notification; an error means the connection is gone and a
    /// new listener is needed.
    pub async fn next(&mut self) -> Result<(), StoreError> {
        use futures::StreamExt;
        let mut stream = std::pin::pin!(self.conn.notifications_stream());
        match stream.next().await {
            Some(Ok(_)) => Ok(()),
            Some(Err(err)) => Err(StoreError::Unavailable(err.to_string())),
            None => Err(StoreError::Unavailable("notification stream ended".into())),
        }
    }

    /// Checks the connection is alive (notifications never arrive on a dead one).
    pub async fn ping(&mut self) -> Result<(), StoreError> {
        diesel::sql_query("SELECT 1").execute(&mut self.conn).await?;
        Ok(())
    }
}
