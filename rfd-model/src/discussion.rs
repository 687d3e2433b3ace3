//! RFD writes' bookkeeping: reserved RFD numbers, and the discussion (pull request
//! comments) stored per revision.
//!
//! - **Reservations.** `POST /rfd` hands out numbers with [`Store::reserve_rfd_number`]:
//!   under a transaction-level advisory lock it records max(every known number) + 1, so
//!   no two callers ever get the same number, however many ask at once.
//! - **Discussions.** The pipeline stores the comments of an RFD's pull request for the
//!   revision it processes ([`Store::replace_discussion`]); the API reads them back for
//!   the latest or any historic revision ([`Store::discussion`]), within the caller's
//!   read scope.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::StoreError;
use crate::schema::{rfd_discussion, rfd_discussion_comment, rfd_reservation, rfd_revision};
use crate::source::{CommentKind, PullRequestComment};
use crate::store::{ReadScope, RevisionRef, Store, joined};

/// The advisory-lock key serialising number reservations ("RFD_RESV").
pub const RESERVATION_LOCK_KEY: i64 = 0x5246_445f_5245_5356;

/// Rows per INSERT when storing comments: far below PostgreSQL's 65,535 bind parameters.
const COMMENT_CHUNK: usize = 1000;

/// A reserved RFD number.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = rfd_reservation, check_for_backend(diesel::pg::Pg))]
pub struct RfdReservation {
    /// The number.
    pub rfd_number: i32,
    /// The title it was reserved with.
    pub title: String,
    /// The user who reserved it.
    pub reserved_by: Uuid,
    /// When.
    pub created_at: DateTime<Utc>,
}

/// The pull request an RFD revision was discussed on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RfdDiscussionPullRequest {
    /// Its number in the repository.
    pub number: i64,
    /// Where people discuss it.
    pub html_url: String,
}

/// One comment of an RFD's discussion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RfdDiscussionComment {
    /// The host's id of the comment (unique per kind).
    pub id: i64,
    /// `issue` (the conversation) or `review` (on a line of the diff).
    pub kind: CommentKind,
    /// Who wrote it (the host's login).
    pub author: String,
    /// The text as written (Markdown).
    pub body: String,
    /// Where people can read it.
    pub html_url: String,
    /// Review comments: the file commented on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Review comments: the line commented on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<i64>,
    /// Review comments: the commit commented on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commit_sha: Option<String>,
    /// Review comments: the comment this one answers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub in_reply_to: Option<i64>,
    /// When it was written.
    pub created_at: DateTime<Utc>,
    /// When it was last edited.
    pub updated_at: DateTime<Utc>,
}

/// The discussion of one revision of an RFD, as `GET /rfd/{number}/discussion` serves it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RfdDiscussion {
    /// The RFD number.
    pub rfd_number: i32,
    /// The revision the discussion was stored for.
    pub revision_id: Uuid,
    /// The revision's commit.
    pub commit: String,
    /// The pull request, when one was found for the revision (`None`: no pull request,
    /// or the revision was processed without looking for one).
    pub pull_request: Option<RfdDiscussionPullRequest>,
    /// Its comments, oldest first.
    pub comments: Vec<RfdDiscussionComment>,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = rfd_discussion_comment, check_for_backend(diesel::pg::Pg))]
struct CommentRow {
    kind: String,
    comment_id: i64,
    author: String,
    body: String,
    html_url: String,
    path: Option<String>,
    line: Option<i64>,
    commit_sha: Option<String>,
    in_reply_to: Option<i64>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl CommentRow {
    fn into_comment(self) -> RfdDiscussionComment {
        RfdDiscussionComment {
            id: self.comment_id,
            kind: if self.kind == "review" { CommentKind::Review } else { CommentKind::Issue },
            author: self.author,
            body: self.body,
            html_url: self.html_url,
            path: self.path,
            line: self.line,
            commit_sha: self.commit_sha,
            in_reply_to: self.in_reply_to,
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }
}

impl Store {
    /// Reserves the next free RFD number: one more than the highest of `floor` (the
    /// highest number the repository knows, folders and branches), every stored RFD and
    /// every earlier reservation. Concurrent callers are serialised by an advisory lock
    /// held to the end of the transaction, and the number's primary key backs it up, so
    /// no two callers ever get the same number.
    pub async fn reserve_rfd_number(
        &self,
        floor: i32,
        title: &str,
        reserved_by: Uuid,
    ) -> Result<i32, StoreError> {
        let mut conn = self.pool().get().await?;
        let title = title.to_string();
        conn.transaction::<_, StoreError, _>(async move |conn| {
            diesel::sql_query("SELECT pg_advisory_xact_lock($1)")
                .bind::<diesel::sql_types::BigInt, _>(RESERVATION_LOCK_KEY)
                .execute(conn)
                .await?;
            // A statement after the lock: under READ COMMITTED its snapshot includes every
            // reservation committed by the transactions that held the lock before.
            #[derive(QueryableByName)]
            struct Reserved {
                #[diesel(sql_type = diesel::sql_types::Integer)]
                rfd_number: i32,
            }
            let reserved: Reserved = diesel::sql_query(
                "INSERT INTO rfd_reservation (rfd_number, title, reserved_by) \
                 SELECT GREATEST($1, \
                     COALESCE((SELECT max(rfd_number) FROM rfd), 0), \
                     COALESCE((SELECT max(rfd_number) FROM rfd_reservation), 0)) + 1, $2, $3 \
                 RETURNING rfd_number",
            )
            .bind::<diesel::sql_types::Integer, _>(floor.max(0))
            .bind::<diesel::sql_types::Text, _>(&title)
            .bind::<diesel::sql_types::Uuid, _>(reserved_by)
            .get_result(conn)
            .await?;
            Ok(reserved.rfd_number)
        })
        .await
    }

    /// The reservation of an RFD number, if it was reserved through the API.
    pub async fn reservation(&self, rfd_number: i32) -> Result<Option<RfdReservation>, StoreError> {
        let mut conn = self.pool().get().await?;
        Ok(rfd_reservation::table
            .find(rfd_number)
            .select(RfdReservation::as_select())
            .first(&mut conn)
            .await
            .optional()?)
    }

    /// Stores the discussion of a revision: its pull request and every comment, replacing
    /// what was stored for that revision before (comments edited or deleted since are
    /// updated or gone).
    pub async fn replace_discussion(
        &self,
        rfd_id: Uuid,
        revision_id: Uuid,
        pull_request: &RfdDiscussionPullRequest,
        comments: &[PullRequestComment],
    ) -> Result<(), StoreError> {
        let mut conn = self.pool().get().await?;
        let pull_request = pull_request.clone();
        let comments = comments.to_vec();
        conn.transaction::<_, StoreError, _>(async move |conn| {
            diesel::insert_into(rfd_discussion::table)
                .values((
                    rfd_discussion::rfd_revision_id.eq(revision_id),
                    rfd_discussion::rfd_id.eq(rfd_id),
                    rfd_discussion::pull_request_number.eq(pull_request.number),
                    rfd_discussion::pull_request_url.eq(&pull_request.html_url),
                ))
                .on_conflict(rfd_discussion::rfd_revision_id)
                .do_update()
                .set((
                    rfd_discussion::pull_request_number.eq(pull_request.number),
                    rfd_discussion::pull_request_url.eq(&pull_request.html_url),
                    rfd_discussion::fetched_at.eq(diesel::dsl::now),
                ))
                .execute(conn)
                .await?;
            diesel::delete(
                rfd_discussion_comment::table.filter(rfd_discussion_comment::rfd_revision_id.eq(revision_id)),
            )
            .execute(conn)
            .await?;
            for chunk in comments.chunks(COMMENT_CHUNK) {
                let rows: Vec<_> = chunk
                    .iter()
                    .map(|c| {
                        (
                            rfd_discussion_comment::rfd_revision_id.eq(revision_id),
                            rfd_discussion_comment::kind.eq(c.kind.as_str()),
                            rfd_discussion_comment::comment_id.eq(c.id),
                            rfd_discussion_comment::author.eq(&c.author),
                            rfd_discussion_comment::body.eq(&c.body),
                            rfd_discussion_comment::html_url.eq(&c.html_url),
                            rfd_discussion_comment::path.eq(&c.path),
                            rfd_discussion_comment::line.eq(c.line),
                            rfd_discussion_comment::commit_sha.eq(&c.commit_sha),
                            rfd_discussion_comment::in_reply_to.eq(c.in_reply_to),
                            rfd_discussion_comment::created_at.eq(c.created_at),
                            rfd_discussion_comment::updated_at.eq(c.updated_at),
                        )
                    })
                    .collect();
                // A host that lists one comment twice (pages shifting under a new comment)
                // must not fail the job.
                diesel::insert_into(rfd_discussion_comment::table)
                    .values(rows)
                    .on_conflict_do_nothing()
                    .execute(conn)
                    .await?;
            }
            Ok(())
        })
        .await
    }

    /// The discussion stored for the latest (or a named) revision of RFD `rfd_number`;
    /// `None` when the RFD or the revision does not exist or is outside `scope` (the
    /// caller cannot tell which). A revision processed without a pull request has an
    /// empty discussion.
    pub async fn discussion(
        &self,
        scope: &ReadScope,
        rfd_number: i32,
        revision: RevisionRef,
    ) -> Result<Option<RfdDiscussion>, StoreError> {
        let mut conn = self.pool().get().await?;
        let Some((revision_id, commit)) = joined(scope, revision, Some(rfd_number))
            .select((rfd_revision::id, rfd_revision::commit_sha))
            .first::<(Uuid, String)>(&mut conn)
            .await
            .optional()?
        else {
            return Ok(None);
        };
        let pull_request = rfd_discussion::table
            .find(revision_id)
            .select((rfd_discussion::pull_request_number, rfd_discussion::pull_request_url))
            .first::<(i64, String)>(&mut conn)
            .await
            .optional()?
            .map(|(number, html_url)| RfdDiscussionPullRequest { number, html_url });
        let comments = rfd_discussion_comment::table
            .filter(rfd_discussion_comment::rfd_revision_id.eq(revision_id))
            .order((
                rfd_discussion_comment::created_at.asc(),
                rfd_discussion_comment::kind.asc(),
                rfd_discussion_comment::comment_id.asc(),
            ))
            .select(CommentRow::as_select())
            .load(&mut conn)
            .await?
            .into_iter()
            .map(CommentRow::into_comment)
            .collect();
        Ok(Some(RfdDiscussion { rfd_number, revision_id, commit, pull_request, comments }))
    }
}
