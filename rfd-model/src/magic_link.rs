//! Magic-link sign-in attempts: recorded before the email goes out, exchanged at most
//! once.
//!
//! The nonce in the link is never stored: the attempt keeps its SHA-256 digest, and an
//! exchange compares the presented nonce's digest in constant time with the row found
//! by the attempt id, under a row lock, in the same transaction that marks the attempt
//! complete.

use chrono::{DateTime, Utc};
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};
use uuid::Uuid;

use crate::clients::digests_equal;
use crate::error::StoreError;
use crate::schema::magic_link_attempt;
use crate::store::Store;

/// The state of an attempt.
pub mod state {
    /// Recorded; the email is being sent.
    pub const NEW: &str = "new";
    /// The email was handed to the mail server.
    pub const SENT: &str = "sent";
    /// The email could not be sent; the attempt cannot be exchanged.
    pub const FAILED: &str = "failed";
    /// Exchanged for an access token (single use).
    pub const COMPLETE: &str = "complete";
}

/// A stored attempt (the nonce's digest is not part of it).
#[derive(Debug, Clone, PartialEq, Queryable, Selectable)]
#[diesel(table_name = magic_link_attempt, check_for_backend(Pg))]
pub struct MagicLinkAttempt {
    /// The attempt id (`attempt_id` in the API).
    pub id: Uuid,
    /// `new`, `sent`, `failed` or `complete` (see [`state`]).
    pub attempt_state: String,
    /// The client that asked for it.
    pub magic_link_client_id: Uuid,
    /// `email`.
    pub medium: String,
    /// The channel (template) it was sent through.
    pub channel: String,
    /// The address the link was sent to.
    pub recipient: String,
    /// Where the link points.
    pub redirect_uri: String,
    /// The scope the access token will carry.
    pub scope: String,
    /// Why sending failed.
    pub error: Option<String>,
    /// When the link stops working.
    pub expires_at: DateTime<Utc>,
    /// When created.
    pub created_at: DateTime<Utc>,
    /// When last changed.
    pub updated_at: DateTime<Utc>,
}

/// A new attempt, as [`Store::create_magic_link_attempt`] records it.
#[derive(Debug, Clone)]
pub struct NewMagicLinkAttempt {
    /// The attempt id.
    pub id: Uuid,
    /// The client.
    pub client_id: Uuid,
    /// `email`.
    pub medium: String,
    /// The channel.
    pub channel: String,
    /// The recipient's address.
    pub recipient: String,
    /// The (registered) redirect URI.
    pub redirect_uri: String,
    /// The scope.
    pub scope: String,
    /// SHA-256 of the nonce.
    pub nonce_hash: [u8; 32],
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
}

/// Why an exchange was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ExchangeRefusal {
    /// No such attempt, or the nonce does not match (indistinguishable on purpose).
    #[error("unknown attempt or wrong code")]
    Invalid,
    /// Already exchanged.
    #[error("this link has already been used")]
    Used,
    /// Sending failed, so no link exists.
    #[error("this link was never sent")]
    NotSent,
    /// Past its expiry.
    #[error("this link has expired")]
    Expired,
    /// The recipient given is not the one the link was sent to.
    #[error("the recipient does not match")]
    WrongRecipient,
    /// The attempt was made through another channel.
    #[error("the channel does not match")]
    WrongChannel,
}

impl Store {
    /// Records an attempt in state `new` (before anything is sent).
    pub async fn create_magic_link_attempt(
        &self,
        attempt: &NewMagicLinkAttempt,
    ) -> Result<MagicLinkAttempt, StoreError> {
        let mut conn = self.pool().get().await?;
        Ok(diesel::insert_into(magic_link_attempt::table)
            .values((
                magic_link_attempt::id.eq(attempt.id),
                magic_link_attempt::attempt_state.eq(state::NEW),
                magic_link_attempt::magic_link_client_id.eq(attempt.client_id),
                magic_link_attempt::medium.eq(&attempt.medium),
                magic_link_attempt::channel.eq(&attempt.channel),
                magic_link_attempt::recipient.eq(&attempt.recipient),
                magic_link_attempt::redirect_uri.eq(&attempt.redirect_uri),
                magic_link_attempt::scope.eq(&attempt.scope),
                magic_link_attempt::nonce_hash.eq(attempt.nonce_hash.as_slice()),
                magic_link_attempt::expires_at.eq(attempt.expires_at),
            ))
            .returning(MagicLinkAttempt::as_returning())
            .get_result(&mut conn)
            .await?)
    }

    /// Marks a `new` attempt `sent`, or `failed` with a reason (which must not contain
    /// the link).
    pub async fn finish_magic_link_send(
        &self,
        id: Uuid,
        error: Option<&str>,
    ) -> Result<MagicLinkAttempt, StoreError> {
        let mut conn = self.pool().get().await?;
        let next = if error.is_some() { state::FAILED } else { state::SENT };
        diesel::update(
            magic_link_attempt::table
                .filter(magic_link_attempt::id.eq(id))
                .filter(magic_link_attempt::attempt_state.eq(state::NEW)),
        )
        .set((
            magic_link_attempt::attempt_state.eq(next),
            magic_link_attempt::error.eq(error),
            magic_link_attempt::updated_at.eq(diesel::dsl::now),
        ))
        .returning(MagicLinkAttempt::as_returning())
        .get_result(&mut conn)
        .await
        .optional()?
        .ok_or(StoreError::NotFound { entity: "magic_link_attempt" })
    }

    /// An attempt by id.
    pub async fn get_magic_link_attempt(&self, id: Uuid) -> Result<Option<MagicLinkAttempt>, StoreError> {
        let mut conn = self.pool().get().await?;
        Ok(magic_link_attempt::table
            .filter(magic_link_attempt::id.eq(id))
            .select(MagicLinkAttempt::as_select())
            .first(&mut conn)
            .await
            .optional()?)
    }

    /// Exchanges an attempt, at most once: under a lock on the row, checks the nonce
    /// (constant time), the channel, the state, the expiry and the recipient (ASCII
    /// case-insensitive), then marks it `complete`. Only a fully valid exchange changes
    /// anything, so a wrong guess does not burn someone else's link.
    pub async fn exchange_magic_link_attempt(
        &self,
        id: Uuid,
        channel: &str,
        nonce_hash: &[u8; 32],
        recipient: &str,
    ) -> Result<Result<MagicLinkAttempt, ExchangeRefusal>, StoreError> {
        let mut conn = self.pool().get().await?;
        let channel = channel.to_string();
        let recipient = recipient.trim().to_string();
        let nonce_hash = *nonce_hash;
        conn.transaction::<_, StoreError, _>(async move |conn| {
            let found: Option<(MagicLinkAttempt, Vec<u8>)> = magic_link_attempt::table
                .filter(magic_link_attempt::id.eq(id))
                .select((MagicLinkAttempt::as_select(), magic_link_attempt::nonce_hash))
                .for_update()
                .first(conn)
                .await
                .optional()?;
            let Some((attempt, stored)) = found else {
                return Ok(Err(ExchangeRefusal::Invalid));
            };
            if !digests_equal(&stored, &nonce_hash) {
                return Ok(Err(ExchangeRefusal::Invalid));
            }
            let refusal = match attempt.attempt_state.as_str() {
                state::COMPLETE => Some(ExchangeRefusal::Used),
                state::SENT => None,
                _ => Some(ExchangeRefusal::NotSent),
            }
            .or_else(|| (attempt.channel != channel).then_some(ExchangeRefusal::WrongChannel))
            .or_else(|| (attempt.expires_at <= Utc::now()).then_some(ExchangeRefusal::Expired))
            .or_else(|| {
                (!attempt.recipient.eq_ignore_ascii_case(&recipient))
                    .then_some(ExchangeRefusal::WrongRecipient)
            });
            if let Some(refusal) = refusal {
                return Ok(Err(refusal));
            }
            let done = diesel::update(magic_link_attempt::table.filter(magic_link_attempt::id.eq(id)))
                .set((
                    magic_link_attempt::attempt_state.eq(state::COMPLETE),
                    magic_link_attempt::updated_at.eq(diesel::dsl::now),
                ))
                .returning(MagicLinkAttempt::as_returning())
                .get_result(conn)
                .await?;
            Ok(Ok(done))
        })
        .await
    }
}
