//! What the processor keeps beside the queue: the revision history it compares against,
//! warnings of actions that let a job continue, and the branch heads the scanner has seen.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::upsert::excluded;
use diesel_async::RunQueryDsl;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::StoreError;
use crate::queue::Attempt;
use crate::schema::{job_warning, rfd, rfd_revision, scanned_branch};
use crate::store::Store;
use crate::types::RfdRevision;

/// An action error that did not stop its job, kept with the job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Queryable, Selectable)]
#[diesel(table_name = job_warning, check_for_backend(diesel::pg::Pg))]
pub struct JobWarning {
    /// The job.
    pub job_id: i32,
    /// The attempt that hit it.
    pub attempt: i32,
    /// The action that reported it.
    pub action: String,
    /// What went wrong.
    pub message: String,
    /// When.
    pub created_at: DateTime<Utc>,
}

impl Store {
    /// The newest revision of RFD `rfd_id` committed before `before`, other than the one
    /// for `commit_sha`: what a new revision is compared with to decide whether it is a
    /// major change.
    pub async fn revision_before(
        &self,
        rfd_id: Uuid,
        before: DateTime<Utc>,
        commit_sha: &str,
    ) -> Result<Option<RfdRevision>, StoreError> {
        let mut conn = self.pool().get().await?;
        Ok(rfd_revision::table
            .filter(rfd_revision::rfd_id.eq(rfd_id))
            .filter(rfd_revision::deleted_at.is_null())
            .filter(rfd_revision::committed_at.le(before))
            .filter(rfd_revision::commit_sha.ne(commit_sha))
            .order((rfd_revision::committed_at.desc(), rfd_revision::created_at.desc()))
            .select(RfdRevision::as_select())
            .first(&mut conn)
            .await
            .optional()?)
    }

    /// The commits already stored as revisions of RFD `rfd_number`.
    pub async fn revision_commits(&self, rfd_number: i32) -> Result<HashSet<String>, StoreError> {
        let mut conn = self.pool().get().await?;
        let commits: Vec<String> = rfd_revision::table
            .inner_join(rfd::table)
            .filter(rfd::rfd_number.eq(rfd_number))
            .filter(rfd_revision::deleted_at.is_null())
            .select(rfd_revision::commit_sha)
            .load(&mut conn)
            .await?;
        Ok(commits.into_iter().collect())
    }

    /// For every RFD, the folder tree ids its stored revisions were read at.
    pub async fn revision_trees(&self) -> Result<HashMap<i32, HashSet<String>>, StoreError> {
        let mut conn = self.pool().get().await?;
        let rows: Vec<(i32, Option<String>)> = rfd_revision::table
            .inner_join(rfd::table)
            .filter(rfd_revision::deleted_at.is_null())
            .filter(rfd_revision::tree_sha.is_not_null())
            .select((rfd::rfd_number, rfd_revision::tree_sha))
            .distinct()
            .load(&mut conn)
            .await?;
        let mut trees: HashMap<i32, HashSet<String>> = HashMap::new();
        for (number, tree) in rows {
            if let Some(tree) = tree {
                trees.entry(number).or_default().insert(tree);
            }
        }
        Ok(trees)
    }

    /// Replaces the stored content of a revision (e.g. with its includes expanded).
    pub async fn set_revision_content(&self, revision_id: Uuid, content: &str) -> Result<(), StoreError> {
        let mut conn = self.pool().get().await?;
        diesel::update(rfd_revision::table.find(revision_id))
            .set((rfd_revision::content.eq(content), rfd_revision::updated_at.eq(diesel::dsl::now)))
            .execute(&mut conn)
            .await?;
        Ok(())
    }

    /// Keeps an action error that let the job continue.
    pub async fn add_job_warning(
        &self,
        attempt: &Attempt,
        action: &str,
        message: &str,
    ) -> Result<(), StoreError> {
        let mut conn = self.pool().get().await?;
        diesel::insert_into(job_warning::table)
            .values((
                job_warning::job_id.eq(attempt.job_id),
                job_warning::attempt.eq(attempt.attempt),
                job_warning::action.eq(action),
                job_warning::message.eq(message),
            ))
            .execute(&mut conn)
            .await?;
        Ok(())
    }

    /// The warnings of a job, oldest first.
    pub async fn job_warnings(&self, job_id: i32) -> Result<Vec<JobWarning>, StoreError> {
        let mut conn = self.pool().get().await?;
        Ok(job_warning::table
            .filter(job_warning::job_id.eq(job_id))
            .order(job_warning::id)
            .select(JobWarning::as_select())
            .load(&mut conn)
            .await?)
    }

    /// The branch heads the scanner has examined in a repository.
    pub async fn scanned_heads(
        &self,
        owner: &str,
        repository: &str,
    ) -> Result<HashMap<String, String>, StoreError> {
        let mut conn = self.pool().get().await?;
        let rows: Vec<(String, String)> = scanned_branch::table
            .filter(scanned_branch::owner.eq(owner))
            .filter(scanned_branch::repository.eq(repository))
            .select((scanned_branch::branch, scanned_branch::head_sha))
            .load(&mut conn)
            .await?;
        Ok(rows.into_iter().collect())
    }

    /// Records that the scanner examined these branch heads (after it enqueued what they
    /// need: a crash in between only means the next scan looks again).
    pub async fn record_scanned_heads(
        &self,
        owner: &str,
        repository: &str,
        heads: &[(String, String)],
    ) -> Result<(), StoreError> {
        if heads.is_empty() {
            return Ok(());
        }
        let mut conn = self.pool().get().await?;
        let rows: Vec<_> = heads
            .iter()
            .map(|(branch, head)| {
                (
                    scanned_branch::owner.eq(owner),
                    scanned_branch::repository.eq(repository),
                    scanned_branch::branch.eq(branch),
                    scanned_branch::head_sha.eq(head),
                )
            })
            .collect();
        diesel::insert_into(scanned_branch::table)
            .values(rows)
            .on_conflict((scanned_branch::owner, scanned_branch::repository, scanned_branch::branch))
            .do_update()
            .set((
                scanned_branch::head_sha.eq(excluded(scanned_branch::head_sha)),
                scanned_branch::scanned_at.eq(diesel::dsl::now),
            ))
            .execute(&mut conn)
            .await?;
        Ok(())
    }
}

/// A PostgreSQL session-level advisory lock held on a connection of its own: released
/// when dropped, and by the server if the process dies, so it never outlives its holder.
pub struct SessionLock {
    _conn: diesel_async::AsyncPgConnection,
}

impl SessionLock {
    /// Takes the lock `key` if nobody holds it; `None` if someone does.
    pub async fn try_acquire(database_url: &str, key: i64) -> Result<Option<Self>, StoreError> {
        use diesel_async::AsyncConnection;
        let mut conn = diesel_async::AsyncPgConnection::establish(database_url)
            .await
            .map_err(|err| StoreError::Unavailable(err.to_string()))?;
        let taken: bool = diesel::select(
            diesel::dsl::sql::<diesel::sql_types::Bool>("pg_try_advisory_lock(")
                .bind::<diesel::sql_types::BigInt, _>(key)
                .sql(")"),
        )
        .get_result(&mut conn)
        .await?;
        Ok(taken.then_some(Self { _conn: conn }))
    }
}
