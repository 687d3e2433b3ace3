//! `rfd-api bootstrap`: the first administrator, without hand-written SQL.

use chrono::{DateTime, Duration, Utc};
use rfd_model::{Page, Store, StoreError};
use uuid::Uuid;

use crate::auth::secret;
use crate::permissions::{Permission, Permissions};

/// Everything there is to hold: every `*All` form, every `Create*`, search and the
/// token permissions. Held by the bootstrap administrator.
pub fn admin_permissions() -> Permissions {
    use Permission as P;
    Permissions::from([
        P::GetRfdsAll,
        P::CreateRfd,
        P::UpdateRfdsAll,
        P::ManageRfdsVisibilityAll,
        P::GetDiscussionsAll,
        P::SearchRfds,
        P::CreateApiUser,
        P::GetApiUsersAll,
        P::ManageApiUsersAll,
        P::CreateApiKeyAll,
        P::GetApiKeysAll,
        P::ManageApiKeysAll,
        P::CreateUserApiProviderLinkToken,
        P::CreateGroup,
        P::GetGroupsAll,
        P::ManageGroupsAll,
        P::ManageGroupMembershipsAll,
        P::CreateMapper,
        P::GetMappersAll,
        P::ManageMappersAll,
        P::CreateOAuthClient,
        P::GetOAuthClientsAll,
        P::ManageOAuthClientsAll,
        P::CreateMagicLinkClient,
        P::GetMagicLinkClientsAll,
        P::ManageMagicLinkClientsAll,
        P::CreateAccessToken,
        P::RetrieveRemoteAccessToken,
    ])
}

/// Why bootstrapping was refused.
#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    /// Users exist already and `force` was not given.
    #[error("users exist already; pass --force to create another administrator")]
    UsersExist,
    /// The database refused.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The administrator created and its API key (shown once).
pub struct Bootstrapped {
    /// The new user's id.
    pub user_id: Uuid,
    /// The key's id.
    pub key_id: Uuid,
    /// The key itself.
    pub key: String,
    /// When the key expires.
    pub expires_at: DateTime<Utc>,
}

impl std::fmt::Debug for Bootstrapped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bootstrapped").field("user_id", &self.user_id).field("key", &"[redacted]").finish()
    }
}

/// Creates an administrator holding [`admin_permissions`] and an API key for it that
/// expires after `valid_for`. Refuses when any user exists, unless `force`.
pub async fn bootstrap(
    store: &Store,
    valid_for: Duration,
    force: bool,
) -> Result<Bootstrapped, BootstrapError> {
    if !force && !store.list_users(Page::first(1)).await?.is_empty() {
        return Err(BootstrapError::UsersExist);
    }
    let user = store.create_user(Uuid::new_v4(), &admin_permissions().to_json(), &[]).await?;
    let secret = secret::generate();
    let key = store.create_api_key(user.id, &secret.hash, None, Utc::now() + valid_for).await?;
    tracing::info!(api_user.id = %user.id, api_key.id = %key.id, "administrator bootstrapped");
    Ok(Bootstrapped { user_id: user.id, key_id: key.id, key: secret.value, expires_at: key.expires_at })
}
