//! `GET /job`: the jobs of one RFD in the reference API's `Job` shape.
//!
//! The queue's own row ([`rfd_model::Job`], served by `/queue/jobs`) also holds branch
//! reconciles, which have no RFD; the reference's `Job` requires `rfd`. Jobs listed per
//! RFD always have one, so this view makes it required again and keeps the queue fields
//! as optional extras a reference client ignores.

use chrono::{DateTime, Utc};
use rfd_model::{Job, JobState};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A job of one RFD: the reference's `Job` plus the queue's state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "Job")]
pub struct RfdJob {
    /// Job id.
    pub id: i32,
    /// Repository owner.
    pub owner: String,
    /// Repository name.
    pub repository: String,
    /// Branch the commit was pushed to.
    pub branch: String,
    /// Commit to process.
    pub sha: String,
    /// The RFD.
    pub rfd: i32,
    /// The webhook delivery that created the job, if any.
    pub webhook_delivery_id: Option<Uuid>,
    /// Commit time.
    pub committed_at: DateTime<Utc>,
    /// Whether the job has reached a final state.
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
    /// The error of the last failed attempt.
    pub last_error: Option<String>,
    /// When it reached a final state.
    pub finished_at: Option<DateTime<Utc>>,
}

impl RfdJob {
    /// The view of a queue row, for jobs that belong to an RFD (others have no view).
    pub fn of(job: Job) -> Option<Self> {
        Some(Self {
            rfd: job.rfd?,
            id: job.id,
            owner: job.owner,
            repository: job.repository,
            branch: job.branch,
            sha: job.sha,
            webhook_delivery_id: job.webhook_delivery_id,
            committed_at: job.committed_at,
            processed: job.processed,
            created_at: job.created_at,
            started_at: job.started_at,
            state: job.state,
            attempts: job.attempts,
            max_attempts: job.max_attempts,
            last_error: job.last_error,
            finished_at: job.finished_at,
        })
    }
}
