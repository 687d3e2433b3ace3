//! Storage operations the RFD read API needs beyond [`crate::store`]: flagging a
//! revision as a major change, and checking visibility of search hits.

use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};
use uuid::Uuid;

use crate::error::StoreError;
use crate::schema::{rfd, rfd_revision};
use crate::store::{Store, refresh_latest};
use crate::types::{RfdRevisionMeta, Visibility};

impl Store {
    /// Sets whether a revision of an RFD counts as a major change, and recomputes the
    /// RFD's `latest_major_change_at` in the same transaction. `None` when the revision
    /// does not exist or belongs to another RFD.
    pub async fn set_major_change(
        &self,
        rfd_id: Uuid,
        revision_id: Uuid,
        major_change: bool,
    ) -> Result<Option<RfdRevisionMeta>, StoreError> {
        let mut conn = self.pool().get().await?;
        conn.transaction::<_, StoreError, _>(async move |conn| {
            let updated = diesel::update(
                rfd_revision::table
                    .filter(rfd_revision::id.eq(revision_id))
                    .filter(rfd_revision::rfd_id.eq(rfd_id))
                    .filter(rfd_revision::deleted_at.is_null()),
            )
            .set((rfd_revision::major_change.eq(major_change), rfd_revision::updated_at.eq(diesel::dsl::now)))
            .returning(RfdRevisionMeta::as_returning())
            .get_result(conn)
            .await
            .optional()?;
            if updated.is_some() {
                refresh_latest(conn, rfd_id).await?;
            }
            Ok(updated)
        })
        .await
    }

    /// The visibility of each live RFD among `numbers` (missing numbers are left out).
    pub async fn visibilities(&self, numbers: &[i32]) -> Result<Vec<(i32, Visibility)>, StoreError> {
        if numbers.is_empty() {
            return Ok(Vec::new());
        }
        let mut conn = self.pool().get().await?;
        Ok(rfd::table
            .filter(rfd::rfd_number.eq_any(numbers))
            .filter(rfd::deleted_at.is_null())
            .select((rfd::rfd_number, rfd::visibility))
            .load(&mut conn)
            .await?)
    }
}
