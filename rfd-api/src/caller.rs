//! Who is calling, and what they may do.
//!
//! `Authorization: Bearer <JWT | API key>` resolves to a user and its effective
//! permissions: the user's own plus those of its groups, narrowed by the token's scope
//! (JWT) or permission boundary (API key). No header is the anonymous caller, who may
//! only search (and read public RFDs). A presented credential that is malformed,
//! unknown, expired or revoked is a 401, never a silent downgrade to anonymous.

use dropshot::{HttpError, RequestContext};
use rfd_model::auth::ApiUser;
use rfd_model::{ReadScope, Store, StoreError};
use uuid::Uuid;

use crate::auth::jwt::{Keys, looks_like_jwt};
use crate::auth::secret;
use crate::error::{forbidden, store_error, unauthorized};
use crate::permissions::{Action, Permission, Permissions, Scope, Target, read_scope};
use crate::server::ApiContext;

/// The id the anonymous caller acts under (as the reference service).
pub const ANONYMOUS_ID: Uuid = Uuid::from_u128(0x0000_0000_0000_4000_8000_0000_0000_0000);

/// How the caller authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential {
    /// No credentials.
    Anonymous,
    /// A JWT access token with this `jti`.
    AccessToken {
        /// The token id.
        jti: Uuid,
        /// Whether its scope is narrower than `full`.
        scoped: bool,
    },
    /// An API key.
    ApiKey {
        /// The key id.
        id: Uuid,
        /// Whether it has a permission boundary.
        bounded: bool,
    },
}

/// The resolved caller of a request.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The user (or [`ANONYMOUS_ID`]).
    pub id: Uuid,
    /// What the caller may do in this request.
    pub permissions: Permissions,
    /// How it authenticated.
    pub credential: Credential,
}

impl Caller {
    /// The caller without credentials.
    pub fn anonymous() -> Self {
        Self {
            id: ANONYMOUS_ID,
            permissions: Permissions::from([Permission::SearchRfds]),
            credential: Credential::Anonymous,
        }
    }

    /// Resolves the caller of a request.
    pub async fn of(rqctx: &RequestContext<ApiContext>) -> Result<Self, HttpError> {
        let Some(value) = rqctx.request.headers().get(http::header::AUTHORIZATION) else {
            return Ok(Self::anonymous());
        };
        let token = value
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(unauthorized)?;
        let ctx = rqctx.context();
        Self::from_bearer(&ctx.store, &ctx.keys, token).await
    }

    /// Resolves a bearer value (JWT or API key).
    pub async fn from_bearer(store: &Store, keys: &Keys, token: &str) -> Result<Self, HttpError> {
        if looks_like_jwt(token) {
            Self::from_jwt(store, keys, token).await
        } else {
            Self::from_api_key(store, token).await
        }
    }

    async fn from_jwt(store: &Store, keys: &Keys, token: &str) -> Result<Self, HttpError> {
        let claims = keys.verify(token).map_err(|err| {
            tracing::info!(reason = %err, "access token refused");
            unauthorized()
        })?;
        if !store.access_token_is_live(claims.jti, claims.sub).await.map_err(store_error)? {
            tracing::info!(token.jti = %claims.jti, "access token revoked, expired or unknown");
            return Err(unauthorized());
        }
        let scope = Scope::parse(&claims.scp).map_err(|_| unauthorized())?;
        let user = store.get_user(claims.sub).await.map_err(store_error)?.ok_or_else(unauthorized)?;
        let all = user_permissions(store, &user).await.map_err(store_error)?;
        Ok(Self {
            id: user.id,
            permissions: scope.apply(&all),
            credential: Credential::AccessToken { jti: claims.jti, scoped: scope != Scope::Full },
        })
    }

    async fn from_api_key(store: &Store, token: &str) -> Result<Self, HttpError> {
        let digest = secret::digest(token);
        let (key, stored) =
            store.find_api_key(&digest).await.map_err(store_error)?.ok_or_else(unauthorized)?;
        if !secret::digests_equal(&stored, &digest) {
            return Err(unauthorized());
        }
        let user = store.get_user(key.api_user_id).await.map_err(store_error)?.ok_or_else(unauthorized)?;
        let all = user_permissions(store, &user).await.map_err(store_error)?;
        let permissions = match &key.permission_boundary {
            Some(boundary) => all.intersect(&Permissions::from_json(boundary).resolve(user.id, &user.groups)),
            None => all,
        };
        Ok(Self {
            id: user.id,
            permissions,
            credential: Credential::ApiKey { id: key.id, bounded: key.permission_boundary.is_some() },
        })
    }

    /// Whether this is the anonymous caller.
    pub fn is_anonymous(&self) -> bool {
        self.credential == Credential::Anonymous
    }

    /// Whether the caller's credential carries less than its user holds (a scoped
    /// token or a bounded key): what it creates must not carry more than it has.
    pub fn is_restricted(&self) -> bool {
        matches!(
            self.credential,
            Credential::AccessToken { scoped: true, .. } | Credential::ApiKey { bounded: true, .. }
        )
    }

    /// Whether the caller may do everything `permission` grants.
    pub fn can(&self, permission: &Permission) -> bool {
        self.permissions.can(permission)
    }

    /// Whether the caller holds the `*Assigned` form of `action` (applies to objects it
    /// owns, e.g. its own API keys).
    pub fn can_assigned(&self, action: Action) -> bool {
        self.permissions.allows_grant((action, Target::Assigned))
    }

    /// 403 unless the caller may do `permission`; 401 for the anonymous caller, who
    /// may get further by authenticating.
    pub fn require(&self, permission: &Permission) -> Result<(), HttpError> {
        if self.can(permission) {
            Ok(())
        } else if self.is_anonymous() {
            Err(unauthorized())
        } else {
            Err(forbidden())
        }
    }

    /// 401 for the anonymous caller.
    pub fn require_authenticated(&self) -> Result<(), HttpError> {
        if self.is_anonymous() { Err(unauthorized()) } else { Ok(()) }
    }

    /// Which RFDs the caller may read (see [`read_scope`]).
    pub fn read_scope(&self) -> ReadScope {
        read_scope(&self.permissions)
    }

    /// Whether the caller may read RFD `number` with this visibility: public, or
    /// `GetRfdsAll`, or granted by number (`GetRfd`, `GetRfds`). The one decision every
    /// RFD endpoint (and the search filter, through [`Caller::read_scope`]) uses.
    pub fn can_read_rfd(&self, number: i32, visibility: rfd_model::Visibility) -> bool {
        self.read_scope().allows(number, visibility)
    }
}

/// Everything a user holds: its own permissions plus its groups', with the relative
/// forms (`*Self`, `GetGroupsJoined`) resolved for it.
pub async fn user_permissions(store: &Store, user: &ApiUser) -> Result<Permissions, StoreError> {
    let mut all = Permissions::from_json(&user.permissions);
    if !user.groups.is_empty() {
        for group in store.get_groups(&user.groups).await? {
            all.extend(Permissions::from_json(&group.permissions).0);
        }
    }
    Ok(all.resolve(user.id, &user.groups))
}
