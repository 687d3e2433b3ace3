//! OAuth logins in progress (`login_attempt`): the authorization-code flow with PKCE and
//! the device flow (RFC 8628), both proxied to a remote provider (GitHub, Google).
//!
//! Every state change is one conditional `UPDATE … WHERE attempt_state = <expected>`, so
//! two requests racing with the same code or device code cannot both win: a code is used
//! at most once. Codes, device codes and the browser-binding state value we hand out
//! are stored only as SHA-256 digests; the provider's own code, PKCE verifier and device
//! code are kept only while the attempt is open (they are needed to finish it) and are
//! cleared when it ends.

use chrono::{DateTime, Utc};
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use uuid::Uuid;

use crate::error::StoreError;
use crate::schema::login_attempt;
use crate::store::Store;

/// `grant_type` of an authorization-code attempt.
pub const GRANT_AUTHORIZATION_CODE: &str = "authorization_code";
/// `grant_type` of a device-code attempt (RFC 8628).
pub const GRANT_DEVICE_CODE: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// Where an attempt is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptState {
    /// Created; the user has not come back from the provider yet (code flow), or the
    /// device has not been authorized yet (device flow).
    New,
    /// The provider sent the user back with a code; our code was handed to the client.
    RemoteAuthenticated,
    /// Refused or abandoned; can never complete.
    Failed,
    /// Done: a token was issued. Never used again.
    Complete,
}

impl AttemptState {
    /// The value stored in `attempt_state`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::New => "new",
            Self::RemoteAuthenticated => "remote_authenticated",
            Self::Failed => "failed",
            Self::Complete => "complete",
        }
    }
}

/// A login attempt as stored.
#[derive(Clone, PartialEq, Queryable, Selectable)]
#[diesel(table_name = login_attempt, check_for_backend(Pg))]
pub struct LoginAttempt {
    /// Its id (never shown to the browser).
    pub id: Uuid,
    /// `new`, `remote_authenticated`, `failed` or `complete`.
    pub attempt_state: String,
    /// [`GRANT_AUTHORIZATION_CODE`] or [`GRANT_DEVICE_CODE`].
    pub grant_type: String,
    /// Our OAuth client that started it.
    pub client_id: Uuid,
    /// The client's redirect URI (code flow), exactly as registered.
    pub redirect_uri: Option<String>,
    /// The client's opaque `state`, echoed back to it.
    pub state: Option<String>,
    /// The client's PKCE challenge (S256).
    pub pkce_challenge: Option<String>,
    /// Always `S256` when present.
    pub pkce_challenge_method: Option<String>,
    /// SHA-256 of the code we handed the client.
    pub authz_code_hash: Option<Vec<u8>>,
    /// SHA-256 of the device code we handed the client.
    pub device_code_hash: Option<Vec<u8>>,
    /// The scope the issued token will carry.
    pub scope: String,
    /// `github` or `google`.
    pub provider: String,
    /// Our PKCE verifier towards the provider (while open).
    pub provider_pkce_verifier: Option<String>,
    /// The provider's authorization code (while open).
    pub provider_authz_code: Option<String>,
    /// The provider's device code (while open).
    pub provider_device_code: Option<String>,
    /// The provider's error, if it refused.
    pub provider_error: Option<String>,
    /// Our error, if the attempt failed.
    pub error: Option<String>,
    /// After this the attempt cannot complete.
    pub expires_at: DateTime<Utc>,
    /// When created.
    pub created_at: DateTime<Utc>,
    /// When last changed.
    pub updated_at: DateTime<Utc>,
    /// SHA-256 of the `state` sent to the provider (also the browser's cookie).
    pub remote_state_hash: Option<Vec<u8>>,
    /// Who logged in, once complete.
    pub api_user_id: Option<Uuid>,
}

impl std::fmt::Debug for LoginAttempt {
    // The provider's code, verifier and device code are credentials: never printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginAttempt")
            .field("id", &self.id)
            .field("attempt_state", &self.attempt_state)
            .field("grant_type", &self.grant_type)
            .field("client_id", &self.client_id)
            .field("provider", &self.provider)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

impl LoginAttempt {
    /// Whether it can no longer complete because time ran out.
    pub fn is_expired(&self, now: DateTime<Utc>) -> bool {
        self.expires_at <= now
    }
}

/// A new authorization-code attempt (`GET …/code/authorize`).
#[derive(Clone)]
pub struct NewCodeAttempt {
    /// The client.
    pub client_id: Uuid,
    /// Its redirect URI (already checked to be registered).
    pub redirect_uri: String,
    /// The client's `state`.
    pub state: String,
    /// The client's S256 challenge.
    pub pkce_challenge: String,
    /// The scope asked for (already validated).
    pub scope: String,
    /// The provider.
    pub provider: String,
    /// Our verifier towards the provider.
    pub provider_pkce_verifier: String,
    /// SHA-256 of the state value sent to the provider and set as the cookie.
    pub remote_state_hash: [u8; 32],
    /// When it expires.
    pub expires_at: DateTime<Utc>,
}

/// A new device-code attempt (`POST …/device`).
#[derive(Clone)]
pub struct NewDeviceAttempt {
    /// The client.
    pub client_id: Uuid,
    /// The scope asked for (already validated).
    pub scope: String,
    /// The provider.
    pub provider: String,
    /// The provider's device code.
    pub provider_device_code: String,
    /// SHA-256 of the device code handed to the client.
    pub device_code_hash: [u8; 32],
    /// When it expires (the provider's `expires_in`).
    pub expires_at: DateTime<Utc>,
}

impl Store {
    /// Records a new authorization-code attempt.
    pub async fn create_code_attempt(&self, new: &NewCodeAttempt) -> Result<LoginAttempt, StoreError> {
        let mut conn = self.pool().get().await?;
        Ok(diesel::insert_into(login_attempt::table)
            .values((
                login_attempt::id.eq(Uuid::new_v4()),
                login_attempt::grant_type.eq(GRANT_AUTHORIZATION_CODE),
                login_attempt::client_id.eq(new.client_id),
                login_attempt::redirect_uri.eq(&new.redirect_uri),
                login_attempt::state.eq(&new.state),
                login_attempt::pkce_challenge.eq(&new.pkce_challenge),
                login_attempt::pkce_challenge_method.eq("S256"),
                login_attempt::scope.eq(&new.scope),
                login_attempt::provider.eq(&new.provider),
                login_attempt::provider_pkce_verifier.eq(&new.provider_pkce_verifier),
                login_attempt::remote_state_hash.eq(new.remote_state_hash.as_slice()),
                login_attempt::expires_at.eq(new.expires_at),
            ))
            .returning(LoginAttempt::as_returning())
            .get_result(&mut conn)
            .await?)
    }

    /// Records a new device-code attempt.
    pub async fn create_device_attempt(&self, new: &NewDeviceAttempt) -> Result<LoginAttempt, StoreError> {
        let mut conn = self.pool().get().await?;
        Ok(diesel::insert_into(login_attempt::table)
            .values((
                login_attempt::id.eq(Uuid::new_v4()),
                login_attempt::grant_type.eq(GRANT_DEVICE_CODE),
                login_attempt::client_id.eq(new.client_id),
                login_attempt::scope.eq(&new.scope),
                login_attempt::provider.eq(&new.provider),
                login_attempt::provider_device_code.eq(&new.provider_device_code),
                login_attempt::device_code_hash.eq(new.device_code_hash.as_slice()),
                login_attempt::expires_at.eq(new.expires_at),
            ))
            .returning(LoginAttempt::as_returning())
            .get_result(&mut conn)
            .await?)
    }

    /// The attempt whose provider-side `state` has this digest.
    pub async fn login_attempt_by_remote_state(
        &self,
        provider: &str,
        remote_state_hash: &[u8; 32],
    ) -> Result<Option<LoginAttempt>, StoreError> {
        let mut conn = self.pool().get().await?;
        Ok(login_attempt::table
            .filter(login_attempt::remote_state_hash.eq(remote_state_hash.as_slice()))
            .filter(login_attempt::provider.eq(provider))
            .select(LoginAttempt::as_select())
            .first(&mut conn)
            .await
            .optional()?)
    }

    /// The code-flow attempt whose code (handed to the client) has this digest.
    pub async fn login_attempt_by_code(
        &self,
        provider: &str,
        code_hash: &[u8; 32],
    ) -> Result<Option<LoginAttempt>, StoreError> {
        let mut conn = self.pool().get().await?;
        Ok(login_attempt::table
            .filter(login_attempt::authz_code_hash.eq(code_hash.as_slice()))
            .filter(login_attempt::provider.eq(provider))
            .filter(login_attempt::grant_type.eq(GRANT_AUTHORIZATION_CODE))
            .select(LoginAttempt::as_select())
            .first(&mut conn)
            .await
            .optional()?)
    }

    /// The device-flow attempt whose device code (handed to the client) has this digest.
    pub async fn login_attempt_by_device_code(
        &self,
        provider: &str,
        device_code_hash: &[u8; 32],
    ) -> Result<Option<LoginAttempt>, StoreError> {
        let mut conn = self.pool().get().await?;
        Ok(login_attempt::table
            .filter(login_attempt::device_code_hash.eq(device_code_hash.as_slice()))
            .filter(login_attempt::provider.eq(provider))
            .filter(login_attempt::grant_type.eq(GRANT_DEVICE_CODE))
            .select(LoginAttempt::as_select())
            .first(&mut conn)
            .await
            .optional()?)
    }

    /// The provider sent the user back with `provider_code`: moves a live attempt from
    /// `new` to `remote_authenticated` and records the digest of the code handed to the
    /// client. `None` when the attempt is not `new` or has expired (the callback was
    /// replayed or came too late).
    pub async fn remote_authenticated(
        &self,
        id: Uuid,
        provider_code: &str,
        code_hash: &[u8; 32],
    ) -> Result<Option<LoginAttempt>, StoreError> {
        let mut conn = self.pool().get().await?;
        Ok(diesel::update(
            login_attempt::table
                .filter(login_attempt::id.eq(id))
                .filter(login_attempt::attempt_state.eq(AttemptState::New.as_str()))
                .filter(login_attempt::expires_at.gt(diesel::dsl::now)),
        )
        .set((
            login_attempt::attempt_state.eq(AttemptState::RemoteAuthenticated.as_str()),
            login_attempt::provider_authz_code.eq(provider_code),
            login_attempt::authz_code_hash.eq(code_hash.as_slice()),
            login_attempt::updated_at.eq(diesel::dsl::now),
        ))
        .returning(LoginAttempt::as_returning())
        .get_result(&mut conn)
        .await
        .optional()?)
    }

    /// Claims a live attempt in state `from` for completion: the one atomic step that
    /// makes codes single-use. Returns the attempt as it was (with the provider's code,
    /// verifier or device code, which the caller needs once more), or `None` when
    /// another request claimed it first, it is in another state, or it has expired.
    /// The caller finishes with [`Store::finish_login_attempt`].
    pub async fn claim_login_attempt(
        &self,
        id: Uuid,
        from: AttemptState,
    ) -> Result<Option<LoginAttempt>, StoreError> {
        let mut conn = self.pool().get().await?;
        Ok(diesel::update(
            login_attempt::table
                .filter(login_attempt::id.eq(id))
                .filter(login_attempt::attempt_state.eq(from.as_str()))
                .filter(login_attempt::expires_at.gt(diesel::dsl::now)),
        )
        .set((
            login_attempt::attempt_state.eq(AttemptState::Complete.as_str()),
            login_attempt::updated_at.eq(diesel::dsl::now),
        ))
        .returning(LoginAttempt::as_returning())
        .get_result(&mut conn)
        .await
        .optional()?)
    }

    /// Ends an attempt: records who logged in (or why it failed) and forgets the
    /// provider's code, verifier and device code. A failure also moves an attempt that
    /// is not complete yet to `failed`, so it can never complete.
    pub async fn finish_login_attempt(
        &self,
        id: Uuid,
        user: Option<Uuid>,
        error: Option<&str>,
        provider_error: Option<&str>,
    ) -> Result<(), StoreError> {
        let mut conn = self.pool().get().await?;
        let target = login_attempt::table.filter(login_attempt::id.eq(id));
        diesel::update(target)
            .set((
                login_attempt::api_user_id.eq(user),
                login_attempt::error.eq(error),
                login_attempt::provider_error.eq(provider_error),
                login_attempt::provider_authz_code.eq(None::<String>),
                login_attempt::provider_pkce_verifier.eq(None::<String>),
                login_attempt::provider_device_code.eq(None::<String>),
                login_attempt::updated_at.eq(diesel::dsl::now),
            ))
            .execute(&mut conn)
            .await?;
        if error.is_some() {
            diesel::update(
                login_attempt::table
                    .filter(login_attempt::id.eq(id))
                    .filter(login_attempt::attempt_state.ne(AttemptState::Complete.as_str())),
            )
            .set(login_attempt::attempt_state.eq(AttemptState::Failed.as_str()))
            .execute(&mut conn)
            .await?;
        }
        Ok(())
    }

    /// Moves an attempt that has not completed to `failed` (refused at the token step,
    /// denied at the provider, or expired), so its code can never be used.
    pub async fn fail_login_attempt(
        &self,
        id: Uuid,
        error: &str,
        provider_error: Option<&str>,
    ) -> Result<(), StoreError> {
        self.finish_login_attempt(id, None, Some(error), provider_error).await
    }

    /// Deletes attempts that expired more than a day ago.
    pub async fn purge_login_attempts(&self) -> Result<usize, StoreError> {
        let mut conn = self.pool().get().await?;
        Ok(diesel::sql_query("DELETE FROM login_attempt WHERE expires_at < now() - interval '1 day'")
            .execute(&mut conn)
            .await?)
    }
}
