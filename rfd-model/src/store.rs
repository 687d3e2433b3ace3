//! Async storage of RFDs, revisions and PDFs.
//!
//! Every read that serves an API response is one query: the RFD row carries a pointer
//! to its newest revision, maintained whenever a revision is written.

use chrono::{DateTime, Utc};
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::db::DbPool;
use crate::error::StoreError;
use crate::schema::{rfd, rfd_pdf, rfd_revision};
use crate::types::{
    ContentFormat, NewPdf, NewRevision, NewRfd, Page, Rfd, RfdMeta, RfdPdf, RfdRevision, RfdRevisionMeta,
    RfdWithRaw, Visibility,
};

/// Which RFDs a read may return: the caller's read permission, applied in the query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadScope {
    /// Every RFD (`GetRfdsAll`).
    All,
    /// Public RFDs plus these numbers (granted individually).
    PublicAnd(Vec<i32>),
}

impl ReadScope {
    /// Whether an RFD with this number and visibility is inside the scope.
    pub fn allows(&self, rfd_number: i32, visibility: Visibility) -> bool {
        match self {
            Self::All => true,
            Self::PublicAnd(numbers) => visibility == Visibility::Public || numbers.contains(&rfd_number),
        }
    }
}

/// Which revision of an RFD a read refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevisionRef {
    /// The newest revision by commit time.
    Latest,
    /// A specific (possibly historic) revision.
    Id(Uuid),
}

/// The RFD columns of a metadata row.
#[derive(Queryable, Selectable)]
#[diesel(table_name = rfd, check_for_backend(Pg))]
struct RfdHead {
    id: Uuid,
    rfd_number: i32,
    link: Option<String>,
    visibility: Visibility,
    latest_major_change_at: Option<DateTime<Utc>>,
}

/// The revision columns of a metadata row (everything but the content).
#[derive(Queryable, Selectable)]
#[diesel(table_name = rfd_revision, check_for_backend(Pg))]
struct RevisionHead {
    title: String,
    state: Option<String>,
    discussion: Option<String>,
    authors: Option<String>,
    labels: Option<String>,
    content_format: ContentFormat,
    sha: String,
    commit_sha: String,
    committed_at: DateTime<Utc>,
}

fn meta_of(head: RfdHead, rev: RevisionHead) -> RfdMeta {
    RfdMeta {
        id: head.id,
        rfd_number: head.rfd_number,
        link: head.link,
        title: Some(rev.title),
        state: rev.state,
        discussion: rev.discussion,
        authors: rev.authors,
        labels: rev.labels,
        format: Some(rev.content_format),
        sha: Some(rev.sha),
        commit: Some(rev.commit_sha),
        committed_at: Some(rev.committed_at),
        latest_major_change_at: head.latest_major_change_at,
        visibility: head.visibility,
    }
}

type RfdJoin =
    diesel::dsl::InnerJoinOn<rfd::table, rfd_revision::table, diesel::dsl::Eq<rfd_revision::rfd_id, rfd::id>>;

/// RFDs joined to one revision each, filtered by scope, revision and number.
fn joined(
    scope: &ReadScope,
    revision: RevisionRef,
    number: Option<i32>,
) -> diesel::dsl::IntoBoxed<'static, RfdJoin, Pg> {
    let mut query = rfd::table
        .inner_join(rfd_revision::table.on(rfd_revision::rfd_id.eq(rfd::id)))
        .into_boxed()
        .filter(rfd::deleted_at.is_null())
        .filter(rfd_revision::deleted_at.is_null());
    query = match revision {
        RevisionRef::Latest => query.filter(rfd_revision::id.nullable().eq(rfd::latest_revision_id)),
        RevisionRef::Id(id) => query.filter(rfd_revision::id.eq(id)),
    };
    if let Some(number) = number {
        query = query.filter(rfd::rfd_number.eq(number));
    }
    if let ReadScope::PublicAnd(numbers) = scope {
        query =
            query.filter(rfd::visibility.eq(Visibility::Public).or(rfd::rfd_number.eq_any(numbers.clone())));
    }
    query
}

/// Storage over a connection pool. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    pool: DbPool,
}

impl Store {
    /// Storage over `pool`.
    pub fn new(pool: DbPool) -> Self {
        Self { pool }
    }

    /// The pool, for callers that compose their own transactions.
    pub fn pool(&self) -> &DbPool {
        &self.pool
    }

    /// Checks that the database answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        crate::db::ping(&self.pool).await
    }

    async fn conn(
        &self,
    ) -> Result<diesel_async::pooled_connection::bb8::PooledConnection<'_, AsyncPgConnection>, StoreError>
    {
        Ok(self.pool.get().await?)
    }

    /// Creates an RFD; fails with [`StoreError::Conflict`] if the number is taken.
    pub async fn insert_rfd(&self, new: &NewRfd) -> Result<Rfd, StoreError> {
        let mut conn = self.conn().await?;
        Ok(diesel::insert_into(rfd::table)
            .values((
                rfd::id.eq(Uuid::new_v4()),
                rfd::rfd_number.eq(new.rfd_number),
                rfd::link.eq(&new.link),
                rfd::visibility.eq(new.visibility),
            ))
            .returning(Rfd::as_returning())
            .get_result(&mut conn)
            .await?)
    }

    /// Creates an RFD or refreshes its link. An existing RFD keeps its visibility: only
    /// [`Store::set_visibility`] changes it, so a job can never undo an API change.
    pub async fn upsert_rfd(&self, new: &NewRfd) -> Result<Rfd, StoreError> {
        let mut conn = self.conn().await?;
        Ok(diesel::insert_into(rfd::table)
            .values((
                rfd::id.eq(Uuid::new_v4()),
                rfd::rfd_number.eq(new.rfd_number),
                rfd::link.eq(&new.link),
                rfd::visibility.eq(new.visibility),
            ))
            .on_conflict(rfd::rfd_number)
            .do_update()
            .set((rfd::link.eq(&new.link), rfd::updated_at.eq(diesel::dsl::now)))
            .returning(Rfd::as_returning())
            .get_result(&mut conn)
            .await?)
    }

    /// The RFD with this number, if any (whatever its visibility).
    pub async fn get_rfd(&self, rfd_number: i32) -> Result<Option<Rfd>, StoreError> {
        let mut conn = self.conn().await?;
        Ok(rfd::table
            .filter(rfd::rfd_number.eq(rfd_number))
            .filter(rfd::deleted_at.is_null())
            .select(Rfd::as_select())
            .first(&mut conn)
            .await
            .optional()?)
    }

    /// Sets who may read an RFD.
    pub async fn set_visibility(&self, rfd_number: i32, visibility: Visibility) -> Result<Rfd, StoreError> {
        let mut conn = self.conn().await?;
        diesel::update(rfd::table.filter(rfd::rfd_number.eq(rfd_number)).filter(rfd::deleted_at.is_null()))
            .set((rfd::visibility.eq(visibility), rfd::updated_at.eq(diesel::dsl::now)))
            .returning(Rfd::as_returning())
            .get_result(&mut conn)
            .await
            .optional()?
            .ok_or(StoreError::NotFound { entity: "rfd" })
    }

    /// Stores a new revision; fails with [`StoreError::Conflict`] if the RFD already has
    /// a revision for that commit.
    pub async fn insert_revision(&self, new: &NewRevision) -> Result<RfdRevision, StoreError> {
        self.write_revision(new, false).await
    }

    /// Stores the revision of an RFD at a commit, replacing the stored one for the same
    /// commit (a re-run of the same job reads the same document).
    pub async fn upsert_revision(&self, new: &NewRevision) -> Result<RfdRevision, StoreError> {
        self.write_revision(new, true).await
    }

    async fn write_revision(&self, new: &NewRevision, replace: bool) -> Result<RfdRevision, StoreError> {
        let mut conn = self.conn().await?;
        let new = new.clone();
        conn.transaction::<_, StoreError, _>(async move |conn| {
            let insert = diesel::insert_into(rfd_revision::table).values((
                rfd_revision::id.eq(Uuid::new_v4()),
                rfd_revision::rfd_id.eq(new.rfd_id),
                rfd_revision::title.eq(&new.title),
                rfd_revision::state.eq(&new.state),
                rfd_revision::discussion.eq(&new.discussion),
                rfd_revision::authors.eq(&new.authors),
                rfd_revision::labels.eq(&new.labels),
                rfd_revision::content.eq(&new.content),
                rfd_revision::content_format.eq(new.content_format),
                rfd_revision::sha.eq(&new.sha),
                rfd_revision::commit_sha.eq(&new.commit_sha),
                rfd_revision::committed_at.eq(new.committed_at),
                rfd_revision::major_change.eq(new.major_change),
                rfd_revision::tree_sha.eq(&new.tree_sha),
                rfd_revision::problems.eq(&new.problems),
            ));
            let revision = if replace {
                insert
                    .on_conflict((rfd_revision::rfd_id, rfd_revision::commit_sha))
                    .do_update()
                    .set((
                        rfd_revision::title.eq(&new.title),
                        rfd_revision::state.eq(&new.state),
                        rfd_revision::discussion.eq(&new.discussion),
                        rfd_revision::authors.eq(&new.authors),
                        rfd_revision::labels.eq(&new.labels),
                        rfd_revision::content.eq(&new.content),
                        rfd_revision::content_format.eq(new.content_format),
                        rfd_revision::sha.eq(&new.sha),
                        rfd_revision::committed_at.eq(new.committed_at),
                        rfd_revision::major_change.eq(new.major_change),
                        rfd_revision::tree_sha.eq(&new.tree_sha),
                        rfd_revision::problems.eq(&new.problems),
                        rfd_revision::updated_at.eq(diesel::dsl::now),
                        rfd_revision::deleted_at.eq(None::<DateTime<Utc>>),
                    ))
                    .returning(RfdRevision::as_returning())
                    .get_result(conn)
                    .await?
            } else {
                insert.returning(RfdRevision::as_returning()).get_result(conn).await?
            };
            refresh_latest(conn, new.rfd_id).await?;
            Ok(revision)
        })
        .await
    }

    /// One RFD with the metadata of its latest (or a named) revision, if it exists and
    /// is inside `scope`. Outside the scope it is indistinguishable from a missing RFD.
    pub async fn get_rfd_meta(
        &self,
        scope: &ReadScope,
        rfd_number: i32,
        revision: RevisionRef,
    ) -> Result<Option<RfdMeta>, StoreError> {
        let mut conn = self.conn().await?;
        let row = joined(scope, revision, Some(rfd_number))
            .select((RfdHead::as_select(), RevisionHead::as_select()))
            .first::<(RfdHead, RevisionHead)>(&mut conn)
            .await
            .optional()?;
        Ok(row.map(|(head, rev)| meta_of(head, rev)))
    }

    /// One RFD with the content of its latest (or a named) revision.
    pub async fn get_rfd_raw(
        &self,
        scope: &ReadScope,
        rfd_number: i32,
        revision: RevisionRef,
    ) -> Result<Option<RfdWithRaw>, StoreError> {
        let mut conn = self.conn().await?;
        let row = joined(scope, revision, Some(rfd_number))
            .select((RfdHead::as_select(), RevisionHead::as_select(), rfd_revision::content))
            .first::<(RfdHead, RevisionHead, String)>(&mut conn)
            .await
            .optional()?;
        Ok(row.map(|(head, rev, content)| RfdWithRaw { meta: meta_of(head, rev), content: Some(content) }))
    }

    /// RFDs with the metadata of their latest revision, highest number first. RFDs
    /// without any revision are left out (there is nothing to show for them yet).
    pub async fn list_rfd_meta(&self, scope: &ReadScope, page: Page) -> Result<Vec<RfdMeta>, StoreError> {
        let mut conn = self.conn().await?;
        let rows = joined(scope, RevisionRef::Latest, None)
            .select((RfdHead::as_select(), RevisionHead::as_select()))
            .order(rfd::rfd_number.desc())
            .offset(page.offset)
            .limit(page.limit)
            .load::<(RfdHead, RevisionHead)>(&mut conn)
            .await?;
        Ok(rows.into_iter().map(|(head, rev)| meta_of(head, rev)).collect())
    }

    /// The revisions of an RFD, newest first.
    pub async fn list_revisions(&self, rfd_id: Uuid, page: Page) -> Result<Vec<RfdRevisionMeta>, StoreError> {
        let mut conn = self.conn().await?;
        Ok(rfd_revision::table
            .filter(rfd_revision::rfd_id.eq(rfd_id))
            .filter(rfd_revision::deleted_at.is_null())
            .order((
                rfd_revision::committed_at.desc(),
                rfd_revision::created_at.desc(),
                rfd_revision::id.desc(),
            ))
            .offset(page.offset)
            .limit(page.limit)
            .select(RfdRevisionMeta::as_select())
            .load(&mut conn)
            .await?)
    }

    /// A revision of an RFD by id; `None` if it does not exist or belongs to another RFD.
    pub async fn get_revision(
        &self,
        rfd_id: Uuid,
        revision_id: Uuid,
    ) -> Result<Option<RfdRevision>, StoreError> {
        let mut conn = self.conn().await?;
        Ok(rfd_revision::table
            .filter(rfd_revision::id.eq(revision_id))
            .filter(rfd_revision::rfd_id.eq(rfd_id))
            .filter(rfd_revision::deleted_at.is_null())
            .select(RfdRevision::as_select())
            .first(&mut conn)
            .await
            .optional()?)
    }

    /// The revision of an RFD at a commit, if stored.
    pub async fn get_revision_by_commit(
        &self,
        rfd_id: Uuid,
        commit_sha: &str,
    ) -> Result<Option<RfdRevision>, StoreError> {
        let mut conn = self.conn().await?;
        Ok(rfd_revision::table
            .filter(rfd_revision::rfd_id.eq(rfd_id))
            .filter(rfd_revision::commit_sha.eq(commit_sha))
            .filter(rfd_revision::deleted_at.is_null())
            .select(RfdRevision::as_select())
            .first(&mut conn)
            .await
            .optional()?)
    }

    /// Records a PDF for a revision; recording the same (revision, source, link) again
    /// returns the existing row.
    pub async fn upsert_pdf(&self, new: &NewPdf) -> Result<RfdPdf, StoreError> {
        let mut conn = self.conn().await?;
        Ok(diesel::insert_into(rfd_pdf::table)
            .values((
                rfd_pdf::id.eq(Uuid::new_v4()),
                rfd_pdf::rfd_revision_id.eq(new.rfd_revision_id),
                rfd_pdf::rfd_id.eq(new.rfd_id),
                rfd_pdf::source.eq(new.source),
                rfd_pdf::link.eq(&new.link),
                rfd_pdf::external_id.eq(&new.external_id),
            ))
            .on_conflict((rfd_pdf::rfd_revision_id, rfd_pdf::source, rfd_pdf::link))
            .do_update()
            .set((rfd_pdf::external_id.eq(&new.external_id), rfd_pdf::updated_at.eq(diesel::dsl::now)))
            .returning(RfdPdf::as_returning())
            .get_result(&mut conn)
            .await?)
    }

    /// Every PDF of one revision, newest first.
    pub async fn list_pdfs(&self, rfd_revision_id: Uuid) -> Result<Vec<RfdPdf>, StoreError> {
        let mut conn = self.conn().await?;
        Ok(rfd_pdf::table
            .filter(rfd_pdf::rfd_revision_id.eq(rfd_revision_id))
            .filter(rfd_pdf::deleted_at.is_null())
            .order((rfd_pdf::created_at.desc(), rfd_pdf::id))
            .select(RfdPdf::as_select())
            .load(&mut conn)
            .await?)
    }
}

/// Points the RFD at its newest revision and recomputes its newest major change.
pub(crate) async fn refresh_latest(conn: &mut AsyncPgConnection, rfd_id: Uuid) -> Result<(), StoreError> {
    diesel::sql_query(
        "UPDATE rfd SET \
           latest_revision_id = (SELECT id FROM rfd_revision \
               WHERE rfd_id = $1 AND deleted_at IS NULL \
               ORDER BY committed_at DESC, created_at DESC, id DESC LIMIT 1), \
           latest_major_change_at = (SELECT max(committed_at) FROM rfd_revision \
               WHERE rfd_id = $1 AND major_change AND deleted_at IS NULL), \
           updated_at = now() \
         WHERE id = $1",
    )
    .bind::<diesel::sql_types::Uuid, _>(rfd_id)
    .execute(conn)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_allows_public_and_granted() {
        let scope = ReadScope::PublicAnd(vec![7]);
        assert!(scope.allows(1, Visibility::Public));
        assert!(scope.allows(7, Visibility::Private));
        assert!(!scope.allows(8, Visibility::Private));
        assert!(ReadScope::All.allows(8, Visibility::Private));
    }
}
