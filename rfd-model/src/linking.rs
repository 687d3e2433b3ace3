//! Account linking: a request to move a provider identity from one user to another,
//! redeemed once with a secret token (stored only as its SHA-256 digest).

use chrono::{DateTime, Utc};
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};
use uuid::Uuid;

use crate::clients::digests_equal;
use crate::error::StoreError;
use crate::schema::{api_user_provider, link_request};
use crate::store::Store;

/// A stored link request (without its token's digest).
#[derive(Debug, Clone, PartialEq, Queryable, Selectable)]
#[diesel(table_name = link_request, check_for_backend(Pg))]
pub struct LinkRequest {
    /// The request id (carried at the start of the token).
    pub id: Uuid,
    /// The provider identity to move.
    pub source_provider_id: Uuid,
    /// The user it belongs to now.
    pub source_api_user_id: Uuid,
    /// The user it moves to.
    pub target_api_user_id: Uuid,
    /// When the token stops working.
    pub expires_at: DateTime<Utc>,
    /// When redeemed, if it was.
    pub completed_at: Option<DateTime<Utc>>,
    /// When created.
    pub created_at: DateTime<Utc>,
}

/// Why a redemption was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LinkRefusal {
    /// No such request, or the token does not match (indistinguishable on purpose).
    #[error("unknown or invalid link token")]
    Invalid,
    /// Already redeemed.
    #[error("this link token has already been used")]
    Used,
    /// Past its expiry.
    #[error("this link token has expired")]
    Expired,
    /// The token was made for another user.
    #[error("this link token is for another user")]
    WrongTarget,
    /// The identity no longer belongs to the user that asked to move it.
    #[error("the provider identity has changed owner or was deleted")]
    ProviderGone,
}

impl Store {
    /// Records a link request by the digest of its token.
    pub async fn create_link_request(
        &self,
        id: Uuid,
        source_provider_id: Uuid,
        source_user: Uuid,
        target_user: Uuid,
        token_hash: &[u8; 32],
        expires_at: DateTime<Utc>,
    ) -> Result<LinkRequest, StoreError> {
        let mut conn = self.pool().get().await?;
        Ok(diesel::insert_into(link_request::table)
            .values((
                link_request::id.eq(id),
                link_request::source_provider_id.eq(source_provider_id),
                link_request::source_api_user_id.eq(source_user),
                link_request::target_api_user_id.eq(target_user),
                link_request::secret_hash.eq(token_hash.as_slice()),
                link_request::expires_at.eq(expires_at),
            ))
            .returning(LinkRequest::as_returning())
            .get_result(&mut conn)
            .await?)
    }

    /// A link request by id.
    pub async fn get_link_request(&self, id: Uuid) -> Result<Option<LinkRequest>, StoreError> {
        let mut conn = self.pool().get().await?;
        Ok(link_request::table
            .filter(link_request::id.eq(id))
            .select(LinkRequest::as_select())
            .first(&mut conn)
            .await
            .optional()?)
    }

    /// Redeems a link request for `target_user`, at most once: under a lock on the
    /// request, checks the token digest (constant time), that it is unused, unexpired
    /// and meant for `target_user`, then marks it complete and moves the identity, in
    /// one transaction.
    pub async fn redeem_link_request(
        &self,
        id: Uuid,
        token_hash: &[u8; 32],
        target_user: Uuid,
    ) -> Result<Result<LinkRequest, LinkRefusal>, StoreError> {
        let mut conn = self.pool().get().await?;
        let token_hash = *token_hash;
        conn.transaction::<_, StoreError, _>(async move |conn| {
            let found: Option<(LinkRequest, Vec<u8>)> = link_request::table
                .filter(link_request::id.eq(id))
                .select((LinkRequest::as_select(), link_request::secret_hash))
                .for_update()
                .first(conn)
                .await
                .optional()?;
            let Some((request, stored)) = found else {
                return Ok(Err(LinkRefusal::Invalid));
            };
            if !digests_equal(&stored, &token_hash) {
                return Ok(Err(LinkRefusal::Invalid));
            }
            if request.completed_at.is_some() {
                return Ok(Err(LinkRefusal::Used));
            }
            if request.expires_at <= Utc::now() {
                return Ok(Err(LinkRefusal::Expired));
            }
            if request.target_api_user_id != target_user {
                return Ok(Err(LinkRefusal::WrongTarget));
            }
            let moved = diesel::update(
                api_user_provider::table
                    .filter(api_user_provider::id.eq(request.source_provider_id))
                    .filter(api_user_provider::api_user_id.eq(request.source_api_user_id))
                    .filter(api_user_provider::deleted_at.is_null()),
            )
            .set((
                api_user_provider::api_user_id.eq(target_user),
                api_user_provider::updated_at.eq(diesel::dsl::now),
            ))
            .execute(conn)
            .await?;
            if moved == 0 {
                return Ok(Err(LinkRefusal::ProviderGone));
            }
            let done = diesel::update(link_request::table.filter(link_request::id.eq(id)))
                .set(link_request::completed_at.eq(diesel::dsl::now))
                .returning(LinkRequest::as_returning())
                .get_result(conn)
                .await?;
            Ok(Ok(done))
        })
        .await
    }
}
