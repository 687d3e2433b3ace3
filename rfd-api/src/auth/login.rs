//! What a successful login does, whatever the flow (OAuth code, device code, magic
//! link): find or create the user of the provider identity, apply the mappers that
//! match it, and issue an access token.

use std::collections::BTreeSet;

use chrono::Utc;
use rfd_model::auth::{ApiUser, ProviderIdentity};
use rfd_model::{Store, StoreError};
use uuid::Uuid;

use crate::auth::jwt::{Keys, TokenError};
use crate::auth::mappers::MappingRule;
use crate::permissions::Permissions;

/// Why a login could not be completed.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// The database refused.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The token could not be issued.
    #[error(transparent)]
    Token(#[from] TokenError),
}

/// Finds or creates the user of `identity` and applies every live mapper whose rule
/// matches. A mapper with `max_activations` counts distinct users: its activation is
/// one atomic conditional update, so concurrent logins can never exceed the maximum.
/// Mappers only add; nothing is taken away.
pub async fn register_login(store: &Store, identity: &ProviderIdentity) -> Result<ApiUser, LoginError> {
    let (user, created) = store.upsert_provider_user(identity, &serde_json::json!([])).await?;
    if created {
        tracing::info!(api_user.id = %user.id, provider = %identity.provider, "user created at first login");
    }
    let mut permissions = Permissions::default();
    let mut group_names = BTreeSet::new();
    for mapper in store.list_mappers(false).await? {
        let rule: MappingRule = match serde_json::from_value(mapper.rule.clone()) {
            Ok(rule) => rule,
            Err(err) => {
                tracing::warn!(mapper.id = %mapper.id, error = %err, "mapper rule unreadable; skipped");
                continue;
            }
        };
        if !rule.matches(identity) {
            continue;
        }
        if !store.activate_mapper(mapper.id, user.id).await? {
            tracing::info!(mapper.id = %mapper.id, "mapper depleted; not applied");
            continue;
        }
        permissions.extend(rule.permissions().0.iter().cloned());
        group_names.extend(rule.groups().iter().cloned());
    }
    if permissions.0.is_empty() && group_names.is_empty() {
        return Ok(user);
    }
    let groups: Vec<Uuid> = store
        .list_groups()
        .await?
        .into_iter()
        .filter(|g| group_names.contains(&g.name))
        .map(|g| g.id)
        .collect();
    let values: Vec<serde_json::Value> = permissions.to_json().as_array().cloned().unwrap_or_default();
    Ok(store.grant_to_user(user.id, &values, &groups).await?)
}

/// An access token issued to a user.
pub struct IssuedToken {
    /// The JWT. Shown to its owner only.
    pub token: String,
    /// Its `jti`.
    pub jti: Uuid,
    /// Seconds until it expires.
    pub expires_in: i64,
}

impl std::fmt::Debug for IssuedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedToken").field("jti", &self.jti).field("token", &"[redacted]").finish()
    }
}

/// Signs an access token for `user` with `scope` and records its `jti`, so it can be
/// revoked. The scope must already be valid ([`crate::permissions::Scope::parse`]).
pub async fn issue_access_token(
    store: &Store,
    keys: &Keys,
    user: Uuid,
    provider: Option<Uuid>,
    scope: &str,
) -> Result<IssuedToken, LoginError> {
    let jti = Uuid::new_v4();
    let claims = keys.issue_claims(user, provider, scope, jti, Utc::now());
    let token = keys.sign(&claims)?;
    let expires_at = chrono::DateTime::from_timestamp(claims.exp, 0).unwrap_or_else(Utc::now);
    store.record_access_token(jti, user, expires_at).await?;
    Ok(IssuedToken { token, jti, expires_in: keys.ttl_secs() })
}
