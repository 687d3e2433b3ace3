//! The trigger id of `POST /trigger/{id}`: only its SHA-256 is stored, in one row.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::upsert::excluded;
use diesel_async::RunQueryDsl;

use crate::error::StoreError;
use crate::schema::trigger_secret;
use crate::store::Store;

impl Store {
    /// The SHA-256 of the current trigger id and when it was set, if one was ever set.
    pub async fn trigger_hash(&self) -> Result<Option<(Vec<u8>, DateTime<Utc>)>, StoreError> {
        let mut conn = self.pool().get().await?;
        Ok(trigger_secret::table
            .select((trigger_secret::hash, trigger_secret::rotated_at))
            .first(&mut conn)
            .await
            .optional()?)
    }

    /// Replaces the trigger id's hash: the previous id stops working with this commit.
    pub async fn set_trigger_hash(&self, hash: &[u8; 32]) -> Result<(), StoreError> {
        let mut conn = self.pool().get().await?;
        diesel::insert_into(trigger_secret::table)
            .values((trigger_secret::id.eq(1i16), trigger_secret::hash.eq(hash.as_slice())))
            .on_conflict(trigger_secret::id)
            .do_update()
            .set((
                trigger_secret::hash.eq(excluded(trigger_secret::hash)),
                trigger_secret::rotated_at.eq(diesel::dsl::now),
            ))
            .execute(&mut conn)
            .await?;
        Ok(())
    }
}
