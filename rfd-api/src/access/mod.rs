//! Users, API keys, access tokens, groups and mappers as the API serves them: the JSON
//! shapes of the reference service, and the operations behind its endpoints (each one
//! authorizes the caller, then calls the store).
//!
//! Secrets never appear in these shapes except [`InitialApiKeyResponse::key`], shown
//! once when a key is created.

pub mod groups;
pub mod mappers;
pub mod users;

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use rfd_model::auth::{
    AccessGroup, AccessToken, ApiKey, ApiUser, ApiUserContactEmail, ApiUserProvider, Mapper,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::permissions::{Permission, Permissions};

/// A user: its direct permissions and its groups.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "ApiUser")]
pub struct ApiUserView {
    /// The user's id.
    pub id: Uuid,
    /// Direct permissions (group permissions are not listed here).
    pub permissions: Permissions,
    /// The groups the user belongs to.
    pub groups: BTreeSet<Uuid>,
    /// When created.
    pub created_at: DateTime<Utc>,
    /// When last changed.
    pub updated_at: DateTime<Utc>,
    /// When deleted.
    pub deleted_at: Option<DateTime<Utc>>,
}

impl From<ApiUser> for ApiUserView {
    fn from(user: ApiUser) -> Self {
        Self {
            id: user.id,
            permissions: Permissions::from_json(&user.permissions),
            groups: user.groups.into_iter().collect(),
            created_at: user.created_at,
            updated_at: user.updated_at,
            deleted_at: user.deleted_at,
        }
    }
}

/// An identity of a user at a login provider.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "ApiUserProvider")]
pub struct ApiUserProviderView {
    /// The identity's id.
    pub id: Uuid,
    /// The user.
    pub user_id: Uuid,
    /// `github`, `google`, …
    pub provider: String,
    /// The provider's id of the account.
    pub provider_id: String,
    /// Verified addresses.
    pub emails: Vec<String>,
    /// Display names.
    pub display_names: Vec<String>,
    /// When created.
    pub created_at: DateTime<Utc>,
    /// When last changed.
    pub updated_at: DateTime<Utc>,
    /// When deleted.
    pub deleted_at: Option<DateTime<Utc>>,
}

impl From<ApiUserProvider> for ApiUserProviderView {
    fn from(p: ApiUserProvider) -> Self {
        Self {
            id: p.id,
            user_id: p.api_user_id,
            provider: p.provider,
            provider_id: p.provider_id,
            emails: p.emails,
            display_names: p.display_names,
            created_at: p.created_at,
            updated_at: p.updated_at,
            deleted_at: p.deleted_at,
        }
    }
}

/// A user with its provider identities.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct GetUserResponse {
    /// The user.
    pub info: ApiUserView,
    /// Its identities (at most 10, newest first).
    pub providers: Vec<ApiUserProviderView>,
}

/// `POST /api-user`, `POST /api-user/{user_id}`
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
pub struct ApiUserUpdateParams {
    /// The user's direct permissions.
    pub permissions: Permissions,
    /// Groups to add a new user to (ignored on update, as in the reference service:
    /// use the group endpoints).
    #[serde(default)]
    pub group_ids: BTreeSet<Uuid>,
}

/// `POST`/`DELETE /api-user/{user_id}/permission`
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
pub struct ApiUserPermissionParams {
    /// The permission to add or remove.
    pub permission: Permission,
}

/// `PUT /api-user/{user_id}/contact/email`
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
pub struct ApiUserEmailUpdateParams {
    /// One of the user's verified provider addresses.
    pub email: String,
}

/// A user's contact address.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "ApiUserContactEmail")]
pub struct ApiUserContactEmailView {
    /// The row id.
    pub id: Uuid,
    /// The user.
    pub user_id: Uuid,
    /// The address.
    pub email: String,
    /// When created.
    pub created_at: DateTime<Utc>,
    /// When last changed.
    pub updated_at: DateTime<Utc>,
    /// When deleted.
    pub deleted_at: Option<DateTime<Utc>>,
}

impl From<ApiUserContactEmail> for ApiUserContactEmailView {
    fn from(e: ApiUserContactEmail) -> Self {
        Self {
            id: e.id,
            user_id: e.api_user_id,
            email: e.email,
            created_at: e.created_at,
            updated_at: e.updated_at,
            deleted_at: e.deleted_at,
        }
    }
}

/// `POST /api-user/{user_id}/group`
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
pub struct AddGroupBody {
    /// The group to join.
    pub group_id: Uuid,
}

/// `POST /api-user/{user_id}/token`
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
pub struct ApiKeyCreateParams {
    /// At most these permissions (intersected with the user's at every use). Without
    /// one the key carries everything its user holds (allowed for one's own keys only).
    pub permission_boundary: Option<Permissions>,
    /// When the key stops working.
    pub expires_at: DateTime<Utc>,
}

/// An API key, without its secret.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ApiKeyResponse {
    /// The key's id.
    pub id: Uuid,
    /// Its permission boundary.
    pub permission_boundary: Option<Permissions>,
    /// When created.
    pub created_at: DateTime<Utc>,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
}

impl From<ApiKey> for ApiKeyResponse {
    fn from(key: ApiKey) -> Self {
        Self {
            id: key.id,
            permission_boundary: key.permission_boundary.as_ref().map(Permissions::from_json),
            created_at: key.created_at,
            expires_at: key.expires_at,
        }
    }
}

/// A newly created API key: the only time its secret is shown.
#[derive(Serialize, Deserialize, JsonSchema)]
pub struct InitialApiKeyResponse {
    /// The key's id.
    pub id: Uuid,
    /// The key. Store it now: only its SHA-256 digest is kept.
    pub key: String,
    /// Its permission boundary.
    pub permission_boundary: Option<Permissions>,
    /// When created.
    pub created_at: DateTime<Utc>,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
}

impl std::fmt::Debug for InitialApiKeyResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InitialApiKeyResponse").field("id", &self.id).field("key", &"[redacted]").finish()
    }
}

/// An issued access token (JWT), without the token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "AccessToken")]
pub struct AccessTokenView {
    /// The token's `jti`.
    pub id: Uuid,
    /// The user it was issued to.
    pub user_id: Uuid,
    /// When issued.
    pub created_at: DateTime<Utc>,
    /// When it expires.
    pub expires_at: DateTime<Utc>,
    /// When revoked.
    pub revoked_at: Option<DateTime<Utc>>,
}

impl From<AccessToken> for AccessTokenView {
    fn from(t: AccessToken) -> Self {
        Self {
            id: t.id,
            user_id: t.api_user_id,
            created_at: t.created_at,
            expires_at: t.expires_at,
            revoked_at: t.revoked_at,
        }
    }
}

/// What `POST /api-user/{user_id}/revoke` revoked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RevokeAllResponse {
    /// Access tokens revoked.
    pub access_tokens_revoked: usize,
    /// API keys deleted.
    pub api_keys_revoked: usize,
}

/// A group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "AccessGroup")]
pub struct AccessGroupView {
    /// The group's id.
    pub id: Uuid,
    /// Its name.
    pub name: String,
    /// What members get.
    pub permissions: Permissions,
    /// When created.
    pub created_at: DateTime<Utc>,
    /// When last changed.
    pub updated_at: DateTime<Utc>,
    /// When deleted.
    pub deleted_at: Option<DateTime<Utc>>,
}

impl From<AccessGroup> for AccessGroupView {
    fn from(g: AccessGroup) -> Self {
        Self {
            id: g.id,
            name: g.name,
            permissions: Permissions::from_json(&g.permissions),
            created_at: g.created_at,
            updated_at: g.updated_at,
            deleted_at: g.deleted_at,
        }
    }
}

/// `POST /group`, `PUT /group/{group_id}`
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
pub struct AccessGroupUpdateParams {
    /// The group's name (unique).
    pub name: String,
    /// What members get.
    pub permissions: Permissions,
}

/// Where a mapper comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum MapperSource {
    /// Created through the API.
    Dynamic,
    /// Owned by mappers.toml (changed by editing the file; not deletable via the API).
    Preset,
}

/// A login mapper.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "Mapper")]
pub struct MapperView {
    /// The mapper's id.
    pub id: Uuid,
    /// Its unique name.
    pub name: String,
    /// The rule (`{"rule": "email_domain", "domain": …, "groups": […]}`, …).
    pub rule: serde_json::Value,
    /// Distinct users it has been applied to, when it has a maximum.
    pub activations: Option<i32>,
    /// At most this many users.
    pub max_activations: Option<i32>,
    /// Where it comes from.
    pub source: MapperSource,
    /// When it reached its maximum.
    pub depleted_at: Option<DateTime<Utc>>,
    /// When created.
    pub created_at: DateTime<Utc>,
    /// When last changed.
    pub updated_at: DateTime<Utc>,
    /// When deleted.
    pub deleted_at: Option<DateTime<Utc>>,
}

impl From<Mapper> for MapperView {
    fn from(m: Mapper) -> Self {
        Self {
            id: m.id,
            name: m.name,
            rule: m.rule,
            activations: m.max_activations.map(|_| m.activations),
            max_activations: m.max_activations,
            source: if m.source == "preset" { MapperSource::Preset } else { MapperSource::Dynamic },
            depleted_at: m.depleted_at,
            created_at: m.created_at,
            updated_at: m.updated_at,
            deleted_at: m.deleted_at,
        }
    }
}

/// `POST /mapper`
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
pub struct CreateMapper {
    /// A unique name.
    pub name: String,
    /// The rule.
    pub rule: serde_json::Value,
    /// At most this many users.
    pub max_activations: Option<i32>,
}

/// `/.well-known/openid-configuration`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct OpenIdConfiguration {
    /// Where the token keys are published.
    pub jwks_uri: String,
}
