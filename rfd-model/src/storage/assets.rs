//! Which stored object holds each file of a revision (`rfd_asset`).

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use uuid::Uuid;

use crate::schema::rfd_asset;
use crate::{Store, StoreError};

/// A file of a revision's folder and the object holding its bytes.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = rfd_asset, check_for_backend(diesel::pg::Pg))]
pub struct AssetUpload {
    /// The revision.
    pub rfd_revision_id: Uuid,
    /// The RFD.
    pub rfd_id: Uuid,
    /// Path relative to the RFD folder.
    pub path: String,
    /// Git blob id of the file.
    pub blob_sha: String,
    /// The storage key of the object.
    pub storage_key: String,
    /// Its MIME type.
    pub content_type: String,
    /// When the row was written.
    pub created_at: DateTime<Utc>,
}

/// A file of a revision to record.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = rfd_asset)]
pub struct NewAssetUpload {
    /// The revision.
    pub rfd_revision_id: Uuid,
    /// The RFD.
    pub rfd_id: Uuid,
    /// Path relative to the RFD folder.
    pub path: String,
    /// Git blob id of the file.
    pub blob_sha: String,
    /// The storage key of the object.
    pub storage_key: String,
    /// Its MIME type.
    pub content_type: String,
}

impl Store {
    /// The object already holding this content of this file of the RFD, if any
    /// (the oldest record wins, so every revision points at the same object).
    pub async fn find_asset(
        &self,
        rfd_id: Uuid,
        path: &str,
        blob_sha: &str,
    ) -> Result<Option<AssetUpload>, StoreError> {
        let mut conn = self.pool().get().await?;
        Ok(rfd_asset::table
            .filter(rfd_asset::rfd_id.eq(rfd_id))
            .filter(rfd_asset::path.eq(path))
            .filter(rfd_asset::blob_sha.eq(blob_sha))
            .order(rfd_asset::created_at.asc())
            .select(AssetUpload::as_select())
            .first(&mut conn)
            .await
            .optional()?)
    }

    /// Records which object holds a file of a revision (replacing an earlier record).
    pub async fn record_asset(&self, new: &NewAssetUpload) -> Result<(), StoreError> {
        let mut conn = self.pool().get().await?;
        diesel::insert_into(rfd_asset::table)
            .values(new)
            .on_conflict((rfd_asset::rfd_revision_id, rfd_asset::path))
            .do_update()
            .set((
                rfd_asset::blob_sha.eq(&new.blob_sha),
                rfd_asset::storage_key.eq(&new.storage_key),
                rfd_asset::content_type.eq(&new.content_type),
            ))
            .execute(&mut conn)
            .await?;
        Ok(())
    }

    /// Every recorded file of a revision, by path.
    pub async fn list_assets(&self, rfd_revision_id: Uuid) -> Result<Vec<AssetUpload>, StoreError> {
        let mut conn = self.pool().get().await?;
        Ok(rfd_asset::table
            .filter(rfd_asset::rfd_revision_id.eq(rfd_revision_id))
            .order(rfd_asset::path)
            .select(AssetUpload::as_select())
            .load(&mut conn)
            .await?)
    }
}
