//! Storage of users, their provider identities, credentials (API keys and issued access
//! tokens), groups and mappers.
//!
//! Permissions are stored as JSON (`serde_json::Value` arrays in the API's encoding);
//! their meaning belongs to `rfd-api`. Secrets are never stored: callers pass their
//! SHA-256 digests.

use chrono::{DateTime, Utc};
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::error::StoreError;
use crate::schema::{
    access_group, access_group_membership, api_key, api_user, api_user_access_token, api_user_contact_email,
    api_user_provider, mapper, mapper_event,
};
use crate::store::Store;
use crate::types::Page;

/// A user row: direct permissions only (see [`ApiUser`] for the groups).
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = api_user, check_for_backend(Pg))]
struct ApiUserRow {
    id: Uuid,
    permissions: Value,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    deleted_at: Option<DateTime<Utc>>,
}

/// A user of the API with its direct permissions and the groups it belongs to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiUser {
    /// The user's id.
    pub id: Uuid,
    /// Direct permissions (a JSON array in the API's encoding).
    pub permissions: Value,
    /// Ids of the live groups the user is a member of.
    pub groups: Vec<Uuid>,
    /// When created.
    pub created_at: DateTime<Utc>,
    /// When last changed.
    pub updated_at: DateTime<Utc>,
    /// When deleted, if it was.
    pub deleted_at: Option<DateTime<Utc>>,
}

/// An identity of a user at a login provider (GitHub, Google, magic link).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Queryable, Selectable)]
#[diesel(table_name = api_user_provider, check_for_backend(Pg))]
pub struct ApiUserProvider {
    /// The identity's id.
    pub id: Uuid,
    /// The user it belongs to.
    #[serde(rename = "user_id")]
    pub api_user_id: Uuid,
    /// `github`, `google`, `magic-link`, …
    pub provider: String,
    /// The provider's id for the account (`github-123`).
    pub provider_id: String,
    /// Verified addresses the provider reported.
    pub emails: Vec<String>,
    /// Display names the provider reported.
    pub display_names: Vec<String>,
    /// When created.
    pub created_at: DateTime<Utc>,
    /// When last changed.
    pub updated_at: DateTime<Utc>,
    /// When deleted, if it was.
    pub deleted_at: Option<DateTime<Utc>>,
}

/// A user's contact address (one of its providers' verified addresses).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Queryable, Selectable)]
#[diesel(table_name = api_user_contact_email, check_for_backend(Pg))]
pub struct ApiUserContactEmail {
    /// The row id.
    pub id: Uuid,
    /// The user.
    #[serde(rename = "user_id")]
    pub api_user_id: Uuid,
    /// The address.
    pub email: String,
    /// When created.
    pub created_at: DateTime<Utc>,
    /// When last changed.
    pub updated_at: DateTime<Utc>,
    /// When deleted, if it was.
    pub deleted_at: Option<DateTime<Utc>>,
}

/// An API key's stored form: never the key, only facts about it.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable)]
#[diesel(table_name = api_key, check_for_backend(Pg))]
pub struct ApiKey {
    /// The key's id.
    pub id: Uuid,
    /// Its owner.
    pub api_user_id: Uuid,
    /// Optional upper bound of what the key may do (JSON array).
    pub permission_boundary: Option<Value>,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
    /// When created.
    pub created_at: DateTime<Utc>,
    /// When deleted (revoked), if it was.
    pub deleted_at: Option<DateTime<Utc>>,
}

/// A named set of permissions; members hold them in addition to their own.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Queryable, Selectable)]
#[diesel(table_name = access_group, check_for_backend(Pg))]
pub struct AccessGroup {
    /// The group's id.
    pub id: Uuid,
    /// Unique among live groups.
    pub name: String,
    /// The permissions members get (JSON array).
    pub permissions: Value,
    /// When created.
    pub created_at: DateTime<Utc>,
    /// When last changed.
    pub updated_at: DateTime<Utc>,
    /// When deleted, if it was.
    pub deleted_at: Option<DateTime<Utc>>,
}

/// A rule that grants permissions or groups at login.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Queryable, Selectable)]
#[diesel(table_name = mapper, check_for_backend(Pg))]
pub struct Mapper {
    /// The mapper's id.
    pub id: Uuid,
    /// Unique among live mappers.
    pub name: String,
    /// The rule (JSON, tagged by `rule`).
    pub rule: Value,
    /// `dynamic` (created through the API) or `preset` (owned by mappers.toml).
    pub source: String,
    /// How often it has been applied (counted only when it has a maximum).
    pub activations: i32,
    /// At most this many applications.
    pub max_activations: Option<i32>,
    /// When it reached its maximum.
    pub depleted_at: Option<DateTime<Utc>>,
    /// When created.
    pub created_at: DateTime<Utc>,
    /// When last changed.
    pub updated_at: DateTime<Utc>,
    /// When deleted, if it was.
    pub deleted_at: Option<DateTime<Utc>>,
}

/// What a provider says about an account at login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderIdentity {
    /// `github`, `google`, `magic-link`, …
    pub provider: String,
    /// The provider's id for the account.
    pub provider_id: String,
    /// Verified addresses.
    pub emails: Vec<String>,
    /// Display names.
    pub display_names: Vec<String>,
}

/// An access token (JWT) as recorded when issued.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable)]
#[diesel(table_name = api_user_access_token, check_for_backend(Pg))]
pub struct AccessToken {
    /// The token's `jti`.
    pub id: Uuid,
    /// The user it was issued to.
    pub api_user_id: Uuid,
    /// When it expires.
    pub expires_at: DateTime<Utc>,
    /// When revoked, if it was.
    pub revoked_at: Option<DateTime<Utc>>,
    /// When issued.
    pub created_at: DateTime<Utc>,
}

type Conn = diesel_async::AsyncPgConnection;

async fn groups_of(conn: &mut Conn, user_ids: &[Uuid]) -> Result<Vec<(Uuid, Uuid)>, StoreError> {
    Ok(access_group_membership::table
        .inner_join(access_group::table)
        .filter(access_group_membership::api_user_id.eq_any(user_ids))
        .filter(access_group::deleted_at.is_null())
        .order((access_group_membership::api_user_id, access_group::name))
        .select((access_group_membership::api_user_id, access_group::id))
        .load(conn)
        .await?)
}

async fn with_groups(conn: &mut Conn, rows: Vec<ApiUserRow>) -> Result<Vec<ApiUser>, StoreError> {
    let ids: Vec<Uuid> = rows.iter().map(|row| row.id).collect();
    let memberships = groups_of(conn, &ids).await?;
    Ok(rows
        .into_iter()
        .map(|row| ApiUser {
            groups: memberships.iter().filter(|(user, _)| *user == row.id).map(|(_, group)| *group).collect(),
            id: row.id,
            permissions: row.permissions,
            created_at: row.created_at,
            updated_at: row.updated_at,
            deleted_at: row.deleted_at,
        })
        .collect())
}

async fn user_in(conn: &mut Conn, id: Uuid) -> Result<Option<ApiUser>, StoreError> {
    let row = api_user::table
        .filter(api_user::id.eq(id))
        .filter(api_user::deleted_at.is_null())
        .select(ApiUserRow::as_select())
        .first(conn)
        .await
        .optional()?;
    match row {
        Some(row) => Ok(with_groups(conn, vec![row]).await?.pop()),
        None => Ok(None),
    }
}

async fn add_memberships(conn: &mut Conn, user: Uuid, groups: &[Uuid]) -> Result<(), StoreError> {
    for group in groups {
        diesel::insert_into(access_group_membership::table)
            .values((
                access_group_membership::access_group_id.eq(group),
                access_group_membership::api_user_id.eq(user),
            ))
            .on_conflict_do_nothing()
            .execute(conn)
            .await?;
    }
    Ok(())
}

impl Store {
    async fn auth_conn(
        &self,
    ) -> Result<diesel_async::pooled_connection::bb8::PooledConnection<'_, Conn>, StoreError> {
        Ok(self.pool().get().await?)
    }

    /// Creates a user with direct permissions and group memberships, in one transaction.
    pub async fn create_user(
        &self,
        id: Uuid,
        permissions: &Value,
        groups: &[Uuid],
    ) -> Result<ApiUser, StoreError> {
        let mut conn = self.auth_conn().await?;
        let permissions = permissions.clone();
        let groups = groups.to_vec();
        conn.transaction::<_, StoreError, _>(async move |conn| {
            diesel::insert_into(api_user::table)
                .values((api_user::id.eq(id), api_user::permissions.eq(&permissions)))
                .execute(conn)
                .await?;
            add_memberships(conn, id, &groups).await?;
            user_in(conn, id).await?.ok_or(StoreError::NotFound { entity: "api_user" })
        })
        .await
    }

    /// A live user with its groups.
    pub async fn get_user(&self, id: Uuid) -> Result<Option<ApiUser>, StoreError> {
        let mut conn = self.auth_conn().await?;
        user_in(&mut conn, id).await
    }

    /// Live users, oldest first.
    pub async fn list_users(&self, page: Page) -> Result<Vec<ApiUser>, StoreError> {
        let mut conn = self.auth_conn().await?;
        let rows = api_user::table
            .filter(api_user::deleted_at.is_null())
            .order((api_user::created_at, api_user::id))
            .offset(page.offset)
            .limit(page.limit)
            .select(ApiUserRow::as_select())
            .load(&mut conn)
            .await?;
        with_groups(&mut conn, rows).await
    }

    /// Live members of a group.
    pub async fn group_members(&self, group: Uuid) -> Result<Vec<ApiUser>, StoreError> {
        let mut conn = self.auth_conn().await?;
        let rows = api_user::table
            .inner_join(access_group_membership::table)
            .filter(access_group_membership::access_group_id.eq(group))
            .filter(api_user::deleted_at.is_null())
            .order((api_user::created_at, api_user::id))
            .select(ApiUserRow::as_select())
            .load(&mut conn)
            .await?;
        with_groups(&mut conn, rows).await
    }

    /// Replaces a user's direct permissions.
    pub async fn set_user_permissions(&self, id: Uuid, permissions: &Value) -> Result<ApiUser, StoreError> {
        let mut conn = self.auth_conn().await?;
        let updated = diesel::update(
            api_user::table.filter(api_user::id.eq(id)).filter(api_user::deleted_at.is_null()),
        )
        .set((api_user::permissions.eq(permissions), api_user::updated_at.eq(diesel::dsl::now)))
        .execute(&mut conn)
        .await?;
        if updated == 0 {
            return Err(StoreError::NotFound { entity: "api_user" });
        }
        user_in(&mut conn, id).await?.ok_or(StoreError::NotFound { entity: "api_user" })
    }

    /// Changes a user's direct permissions under a row lock: `change` gets the current
    /// array and returns the new one, so concurrent additions are never lost.
    pub async fn update_user_permissions<F>(&self, id: Uuid, change: F) -> Result<ApiUser, StoreError>
    where
        F: FnOnce(Value) -> Value + Send + 'static,
    {
        let mut conn = self.auth_conn().await?;
        conn.transaction::<_, StoreError, _>(async move |conn| {
            let current: Value = api_user::table
                .filter(api_user::id.eq(id))
                .filter(api_user::deleted_at.is_null())
                .select(api_user::permissions)
                .for_update()
                .first(conn)
                .await
                .optional()?
                .ok_or(StoreError::NotFound { entity: "api_user" })?;
            diesel::update(api_user::table.filter(api_user::id.eq(id)))
                .set((api_user::permissions.eq(change(current)), api_user::updated_at.eq(diesel::dsl::now)))
                .execute(conn)
                .await?;
            user_in(conn, id).await?.ok_or(StoreError::NotFound { entity: "api_user" })
        })
        .await
    }

    /// Adds a user to a group (idempotent). Fails with [`StoreError::NotFound`] if either
    /// is missing or deleted.
    pub async fn add_user_to_group(&self, user: Uuid, group: Uuid) -> Result<ApiUser, StoreError> {
        let mut conn = self.auth_conn().await?;
        conn.transaction::<_, StoreError, _>(async move |conn| {
            let group_live = access_group::table
                .filter(access_group::id.eq(group))
                .filter(access_group::deleted_at.is_null())
                .select(access_group::id)
                .first::<Uuid>(conn)
                .await
                .optional()?;
            if group_live.is_none() {
                return Err(StoreError::NotFound { entity: "access_group" });
            }
            if user_in(conn, user).await?.is_none() {
                return Err(StoreError::NotFound { entity: "api_user" });
            }
            add_memberships(conn, user, &[group]).await?;
            user_in(conn, user).await?.ok_or(StoreError::NotFound { entity: "api_user" })
        })
        .await
    }

    /// Removes a user from a group (idempotent).
    pub async fn remove_user_from_group(&self, user: Uuid, group: Uuid) -> Result<ApiUser, StoreError> {
        let mut conn = self.auth_conn().await?;
        diesel::delete(
            access_group_membership::table
                .filter(access_group_membership::api_user_id.eq(user))
                .filter(access_group_membership::access_group_id.eq(group)),
        )
        .execute(&mut conn)
        .await?;
        user_in(&mut conn, user).await?.ok_or(StoreError::NotFound { entity: "api_user" })
    }

    /// The live identities of a user, newest first, at most `limit`.
    pub async fn user_providers(&self, user: Uuid, limit: i64) -> Result<Vec<ApiUserProvider>, StoreError> {
        let mut conn = self.auth_conn().await?;
        Ok(api_user_provider::table
            .filter(api_user_provider::api_user_id.eq(user))
            .filter(api_user_provider::deleted_at.is_null())
            .order((api_user_provider::created_at.desc(), api_user_provider::id))
            .limit(limit)
            .select(ApiUserProvider::as_select())
            .load(&mut conn)
            .await?)
    }

    /// Finds the user of a provider identity, or creates one with `initial_permissions`;
    /// refreshes the identity's addresses and names. Returns the user and whether it was
    /// created. Safe under concurrent logins of the same identity (the unique constraint
    /// on (provider, provider_id) decides; the loser reads the winner's row).
    pub async fn upsert_provider_user(
        &self,
        identity: &ProviderIdentity,
        initial_permissions: &Value,
    ) -> Result<(ApiUser, bool), StoreError> {
        let mut conn = self.auth_conn().await?;
        let identity = identity.clone();
        let initial_permissions = initial_permissions.clone();
        conn.transaction::<_, StoreError, _>(async move |conn| {
            let new_user = Uuid::new_v4();
            diesel::insert_into(api_user::table)
                .values((api_user::id.eq(new_user), api_user::permissions.eq(&initial_permissions)))
                .execute(conn)
                .await?;
            let owner: Uuid = diesel::insert_into(api_user_provider::table)
                .values((
                    api_user_provider::id.eq(Uuid::new_v4()),
                    api_user_provider::api_user_id.eq(new_user),
                    api_user_provider::provider.eq(&identity.provider),
                    api_user_provider::provider_id.eq(&identity.provider_id),
                    api_user_provider::emails.eq(&identity.emails),
                    api_user_provider::display_names.eq(&identity.display_names),
                ))
                .on_conflict((api_user_provider::provider, api_user_provider::provider_id))
                .do_update()
                .set((
                    api_user_provider::emails.eq(&identity.emails),
                    api_user_provider::display_names.eq(&identity.display_names),
                    api_user_provider::updated_at.eq(diesel::dsl::now),
                ))
                .returning(api_user_provider::api_user_id)
                .get_result(conn)
                .await?;
            let created = owner == new_user;
            if !created {
                diesel::delete(api_user::table.filter(api_user::id.eq(new_user))).execute(conn).await?;
            }
            let user = user_in(conn, owner).await?.ok_or(StoreError::NotFound { entity: "api_user" })?;
            Ok((user, created))
        })
        .await
    }

    /// Sets a user's contact address (replacing any previous one).
    pub async fn set_contact_email(
        &self,
        user: Uuid,
        email: &str,
    ) -> Result<ApiUserContactEmail, StoreError> {
        let mut conn = self.auth_conn().await?;
        Ok(diesel::insert_into(api_user_contact_email::table)
            .values((
                api_user_contact_email::id.eq(Uuid::new_v4()),
                api_user_contact_email::api_user_id.eq(user),
                api_user_contact_email::email.eq(email),
            ))
            .on_conflict(api_user_contact_email::api_user_id)
            .do_update()
            .set((
                api_user_contact_email::email.eq(email),
                api_user_contact_email::updated_at.eq(diesel::dsl::now),
                api_user_contact_email::deleted_at.eq(None::<DateTime<Utc>>),
            ))
            .returning(ApiUserContactEmail::as_returning())
            .get_result(&mut conn)
            .await?)
    }

    /// Records a new API key by the SHA-256 of its secret.
    pub async fn create_api_key(
        &self,
        user: Uuid,
        key_hash: &[u8; 32],
        permission_boundary: Option<&Value>,
        expires_at: DateTime<Utc>,
    ) -> Result<ApiKey, StoreError> {
        let mut conn = self.auth_conn().await?;
        Ok(diesel::insert_into(api_key::table)
            .values((
                api_key::id.eq(Uuid::new_v4()),
                api_key::api_user_id.eq(user),
                api_key::key_hash.eq(key_hash.as_slice()),
                api_key::permission_boundary.eq(permission_boundary),
                api_key::expires_at.eq(expires_at),
            ))
            .returning(ApiKey::as_returning())
            .get_result(&mut conn)
            .await?)
    }

    /// A user's keys that are not deleted (expired ones included), newest first.
    pub async fn list_api_keys(&self, user: Uuid, page: Page) -> Result<Vec<ApiKey>, StoreError> {
        let mut conn = self.auth_conn().await?;
        Ok(api_key::table
            .filter(api_key::api_user_id.eq(user))
            .filter(api_key::deleted_at.is_null())
            .order((api_key::created_at.desc(), api_key::id))
            .offset(page.offset)
            .limit(page.limit)
            .select(ApiKey::as_select())
            .load(&mut conn)
            .await?)
    }

    /// One of a user's keys, unless deleted.
    pub async fn get_api_key(&self, user: Uuid, id: Uuid) -> Result<Option<ApiKey>, StoreError> {
        let mut conn = self.auth_conn().await?;
        Ok(api_key::table
            .filter(api_key::id.eq(id))
            .filter(api_key::api_user_id.eq(user))
            .filter(api_key::deleted_at.is_null())
            .select(ApiKey::as_select())
            .first(&mut conn)
            .await
            .optional()?)
    }

    /// Deletes (revokes) one of a user's keys and returns it.
    pub async fn delete_api_key(&self, user: Uuid, id: Uuid) -> Result<ApiKey, StoreError> {
        let mut conn = self.auth_conn().await?;
        diesel::update(
            api_key::table
                .filter(api_key::id.eq(id))
                .filter(api_key::api_user_id.eq(user))
                .filter(api_key::deleted_at.is_null()),
        )
        .set((api_key::deleted_at.eq(diesel::dsl::now), api_key::updated_at.eq(diesel::dsl::now)))
        .returning(ApiKey::as_returning())
        .get_result(&mut conn)
        .await
        .optional()?
        .ok_or(StoreError::NotFound { entity: "api_key" })
    }

    /// The live, unexpired key with this digest, and the digest stored for it (so the
    /// caller can compare in constant time).
    pub async fn find_api_key(&self, key_hash: &[u8; 32]) -> Result<Option<(ApiKey, Vec<u8>)>, StoreError> {
        let mut conn = self.auth_conn().await?;
        Ok(api_key::table
            .inner_join(api_user::table)
            .filter(api_key::key_hash.eq(key_hash.as_slice()))
            .filter(api_key::deleted_at.is_null())
            .filter(api_key::expires_at.gt(diesel::dsl::now))
            .filter(api_user::deleted_at.is_null())
            .select((ApiKey::as_select(), api_key::key_hash))
            .first(&mut conn)
            .await
            .optional()?)
    }

    /// Records an issued access token (its `jti`).
    pub async fn record_access_token(
        &self,
        jti: Uuid,
        user: Uuid,
        expires_at: DateTime<Utc>,
    ) -> Result<AccessToken, StoreError> {
        let mut conn = self.auth_conn().await?;
        Ok(diesel::insert_into(api_user_access_token::table)
            .values((
                api_user_access_token::id.eq(jti),
                api_user_access_token::api_user_id.eq(user),
                api_user_access_token::expires_at.eq(expires_at),
            ))
            .returning(AccessToken::as_returning())
            .get_result(&mut conn)
            .await?)
    }

    /// Whether the access token `jti` was issued to `user` (a live user), is unexpired and
    /// not revoked.
    pub async fn access_token_is_live(&self, jti: Uuid, user: Uuid) -> Result<bool, StoreError> {
        let mut conn = self.auth_conn().await?;
        let found = api_user_access_token::table
            .inner_join(api_user::table)
            .filter(api_user_access_token::id.eq(jti))
            .filter(api_user_access_token::api_user_id.eq(user))
            .filter(api_user_access_token::revoked_at.is_null())
            .filter(api_user_access_token::expires_at.gt(diesel::dsl::now))
            .filter(api_user::deleted_at.is_null())
            .select(api_user_access_token::id)
            .first::<Uuid>(&mut conn)
            .await
            .optional()?;
        Ok(found.is_some())
    }

    /// A user's access tokens that are neither revoked nor expired, newest first.
    pub async fn list_access_tokens(&self, user: Uuid, page: Page) -> Result<Vec<AccessToken>, StoreError> {
        let mut conn = self.auth_conn().await?;
        Ok(api_user_access_token::table
            .filter(api_user_access_token::api_user_id.eq(user))
            .filter(api_user_access_token::revoked_at.is_null())
            .filter(api_user_access_token::expires_at.gt(diesel::dsl::now))
            .order((api_user_access_token::created_at.desc(), api_user_access_token::id))
            .offset(page.offset)
            .limit(page.limit)
            .select(AccessToken::as_select())
            .load(&mut conn)
            .await?)
    }

    /// Revokes one of a user's access tokens (idempotent) and returns it.
    pub async fn revoke_access_token(&self, user: Uuid, jti: Uuid) -> Result<AccessToken, StoreError> {
        let mut conn = self.auth_conn().await?;
        diesel::update(
            api_user_access_token::table
                .filter(api_user_access_token::id.eq(jti))
                .filter(api_user_access_token::api_user_id.eq(user)),
        )
        .set((
            api_user_access_token::revoked_at.eq(diesel::dsl::sql::<
                diesel::sql_types::Nullable<diesel::sql_types::Timestamptz>,
            >("coalesce(revoked_at, now())")),
            api_user_access_token::updated_at.eq(diesel::dsl::now),
        ))
        .returning(AccessToken::as_returning())
        .get_result(&mut conn)
        .await
        .optional()?
        .ok_or(StoreError::NotFound { entity: "access_token" })
    }

    /// Revokes every access token of a user and deletes every API key, in one
    /// transaction. Returns how many tokens and keys were revoked.
    pub async fn revoke_all_credentials(&self, user: Uuid) -> Result<(usize, usize), StoreError> {
        let mut conn = self.auth_conn().await?;
        conn.transaction::<_, StoreError, _>(async move |conn| {
            let tokens = diesel::update(
                api_user_access_token::table
                    .filter(api_user_access_token::api_user_id.eq(user))
                    .filter(api_user_access_token::revoked_at.is_null()),
            )
            .set((
                api_user_access_token::revoked_at.eq(diesel::dsl::now),
                api_user_access_token::updated_at.eq(diesel::dsl::now),
            ))
            .execute(conn)
            .await?;
            let keys = diesel::update(
                api_key::table.filter(api_key::api_user_id.eq(user)).filter(api_key::deleted_at.is_null()),
            )
            .set((api_key::deleted_at.eq(diesel::dsl::now), api_key::updated_at.eq(diesel::dsl::now)))
            .execute(conn)
            .await?;
            Ok((tokens, keys))
        })
        .await
    }

    /// Creates a group; [`StoreError::Conflict`] if a live group has the name.
    pub async fn create_group(&self, name: &str, permissions: &Value) -> Result<AccessGroup, StoreError> {
        let mut conn = self.auth_conn().await?;
        Ok(diesel::insert_into(access_group::table)
            .values((
                access_group::id.eq(Uuid::new_v4()),
                access_group::name.eq(name),
                access_group::permissions.eq(permissions),
            ))
            .returning(AccessGroup::as_returning())
            .get_result(&mut conn)
            .await?)
    }

    /// Creates the group `name` or replaces its permissions (used for groups owned by
    /// mappers.toml).
    pub async fn upsert_group(&self, name: &str, permissions: &Value) -> Result<AccessGroup, StoreError> {
        let mut conn = self.auth_conn().await?;
        let name = name.to_string();
        let permissions = permissions.clone();
        conn.transaction::<_, StoreError, _>(async move |conn| {
            let existing = access_group::table
                .filter(access_group::name.eq(&name))
                .filter(access_group::deleted_at.is_null())
                .select(access_group::id)
                .for_update()
                .first::<Uuid>(conn)
                .await
                .optional()?;
            Ok(match existing {
                Some(id) => {
                    diesel::update(access_group::table.filter(access_group::id.eq(id)))
                        .set((
                            access_group::permissions.eq(&permissions),
                            access_group::updated_at.eq(diesel::dsl::now),
                        ))
                        .returning(AccessGroup::as_returning())
                        .get_result(conn)
                        .await?
                }
                None => {
                    diesel::insert_into(access_group::table)
                        .values((
                            access_group::id.eq(Uuid::new_v4()),
                            access_group::name.eq(&name),
                            access_group::permissions.eq(&permissions),
                        ))
                        .returning(AccessGroup::as_returning())
                        .get_result(conn)
                        .await?
                }
            })
        })
        .await
    }

    /// Live groups by name.
    pub async fn list_groups(&self) -> Result<Vec<AccessGroup>, StoreError> {
        let mut conn = self.auth_conn().await?;
        Ok(access_group::table
            .filter(access_group::deleted_at.is_null())
            .order((access_group::name, access_group::id))
            .select(AccessGroup::as_select())
            .load(&mut conn)
            .await?)
    }

    /// A live group.
    pub async fn get_group(&self, id: Uuid) -> Result<Option<AccessGroup>, StoreError> {
        let mut conn = self.auth_conn().await?;
        Ok(access_group::table
            .filter(access_group::id.eq(id))
            .filter(access_group::deleted_at.is_null())
            .select(AccessGroup::as_select())
            .first(&mut conn)
            .await
            .optional()?)
    }

    /// Live groups among `ids`.
    pub async fn get_groups(&self, ids: &[Uuid]) -> Result<Vec<AccessGroup>, StoreError> {
        let mut conn = self.auth_conn().await?;
        Ok(access_group::table
            .filter(access_group::id.eq_any(ids))
            .filter(access_group::deleted_at.is_null())
            .order((access_group::name, access_group::id))
            .select(AccessGroup::as_select())
            .load(&mut conn)
            .await?)
    }

    /// Renames a group and replaces its permissions.
    pub async fn update_group(
        &self,
        id: Uuid,
        name: &str,
        permissions: &Value,
    ) -> Result<AccessGroup, StoreError> {
        let mut conn = self.auth_conn().await?;
        diesel::update(
            access_group::table.filter(access_group::id.eq(id)).filter(access_group::deleted_at.is_null()),
        )
        .set((
            access_group::name.eq(name),
            access_group::permissions.eq(permissions),
            access_group::updated_at.eq(diesel::dsl::now),
        ))
        .returning(AccessGroup::as_returning())
        .get_result(&mut conn)
        .await
        .optional()?
        .ok_or(StoreError::NotFound { entity: "access_group" })
    }

    /// Soft-deletes a group; its members lose its permissions at once.
    pub async fn delete_group(&self, id: Uuid) -> Result<AccessGroup, StoreError> {
        let mut conn = self.auth_conn().await?;
        diesel::update(
            access_group::table.filter(access_group::id.eq(id)).filter(access_group::deleted_at.is_null()),
        )
        .set((access_group::deleted_at.eq(diesel::dsl::now), access_group::updated_at.eq(diesel::dsl::now)))
        .returning(AccessGroup::as_returning())
        .get_result(&mut conn)
        .await
        .optional()?
        .ok_or(StoreError::NotFound { entity: "access_group" })
    }

    /// Live mappers by name; depleted ones only when asked.
    pub async fn list_mappers(&self, include_depleted: bool) -> Result<Vec<Mapper>, StoreError> {
        let mut conn = self.auth_conn().await?;
        let mut query = mapper::table.filter(mapper::deleted_at.is_null()).into_boxed();
        if !include_depleted {
            query = query.filter(mapper::depleted_at.is_null());
        }
        Ok(query.order((mapper::name, mapper::id)).select(Mapper::as_select()).load(&mut conn).await?)
    }

    /// A live mapper.
    pub async fn get_mapper(&self, id: Uuid) -> Result<Option<Mapper>, StoreError> {
        let mut conn = self.auth_conn().await?;
        Ok(mapper::table
            .filter(mapper::id.eq(id))
            .filter(mapper::deleted_at.is_null())
            .select(Mapper::as_select())
            .first(&mut conn)
            .await
            .optional()?)
    }

    /// Creates a mapper through the API (`dynamic`); [`StoreError::Conflict`] if a live
    /// mapper has the name.
    pub async fn create_mapper(
        &self,
        name: &str,
        rule: &Value,
        max_activations: Option<i32>,
    ) -> Result<Mapper, StoreError> {
        let mut conn = self.auth_conn().await?;
        Ok(diesel::insert_into(mapper::table)
            .values((
                mapper::id.eq(Uuid::new_v4()),
                mapper::name.eq(name),
                mapper::rule.eq(rule),
                mapper::source.eq("dynamic"),
                mapper::max_activations.eq(max_activations),
            ))
            .returning(Mapper::as_returning())
            .get_result(&mut conn)
            .await?)
    }

    /// Soft-deletes a mapper.
    pub async fn delete_mapper(&self, id: Uuid) -> Result<Mapper, StoreError> {
        let mut conn = self.auth_conn().await?;
        diesel::update(mapper::table.filter(mapper::id.eq(id)).filter(mapper::deleted_at.is_null()))
            .set((mapper::deleted_at.eq(diesel::dsl::now), mapper::updated_at.eq(diesel::dsl::now)))
            .returning(Mapper::as_returning())
            .get_result(&mut conn)
            .await
            .optional()?
            .ok_or(StoreError::NotFound { entity: "mapper" })
    }

    /// Makes the `preset` mappers exactly `presets` (name, rule, max_activations):
    /// creates missing ones, updates changed ones (keeping their activation count) and
    /// deletes presets no longer listed, in one transaction. A live `dynamic` mapper with
    /// the same name is a [`StoreError::Conflict`].
    pub async fn sync_preset_mappers(
        &self,
        presets: &[(String, Value, Option<i32>)],
    ) -> Result<Vec<Mapper>, StoreError> {
        let mut conn = self.auth_conn().await?;
        let presets = presets.to_vec();
        conn.transaction::<_, StoreError, _>(async move |conn| {
            let names: Vec<&String> = presets.iter().map(|(name, _, _)| name).collect();
            diesel::update(
                mapper::table
                    .filter(mapper::source.eq("preset"))
                    .filter(mapper::deleted_at.is_null())
                    .filter(mapper::name.ne_all(names)),
            )
            .set((mapper::deleted_at.eq(diesel::dsl::now), mapper::updated_at.eq(diesel::dsl::now)))
            .execute(conn)
            .await?;
            let mut out = Vec::with_capacity(presets.len());
            for (name, rule, max_activations) in presets {
                let existing = mapper::table
                    .filter(mapper::name.eq(&name))
                    .filter(mapper::deleted_at.is_null())
                    .select(Mapper::as_select())
                    .for_update()
                    .first(conn)
                    .await
                    .optional()?;
                let row = match existing {
                    Some(found) if found.source != "preset" => {
                        return Err(StoreError::Conflict {
                            constraint: format!("mapper_name_live_idx ({name})"),
                        });
                    }
                    Some(found) => {
                        // A lowered maximum depletes the mapper; a raised one revives it.
                        let activations = match max_activations {
                            Some(max) => found.activations.min(max),
                            None => found.activations,
                        };
                        let depleted = max_activations.is_some_and(|max| activations >= max);
                        let depleted_at =
                            if depleted { found.depleted_at.or_else(|| Some(Utc::now())) } else { None };
                        diesel::update(mapper::table.filter(mapper::id.eq(found.id)))
                            .set((
                                mapper::rule.eq(&rule),
                                mapper::max_activations.eq(max_activations),
                                mapper::activations.eq(activations),
                                mapper::depleted_at.eq(depleted_at),
                                mapper::updated_at.eq(diesel::dsl::now),
                            ))
                            .returning(Mapper::as_returning())
                            .get_result(conn)
                            .await?
                    }
                    None => {
                        diesel::insert_into(mapper::table)
                            .values((
                                mapper::id.eq(Uuid::new_v4()),
                                mapper::name.eq(&name),
                                mapper::rule.eq(&rule),
                                mapper::source.eq("preset"),
                                mapper::max_activations.eq(max_activations),
                                mapper::depleted_at.eq(if max_activations == Some(0) {
                                    Some(Utc::now())
                                } else {
                                    None
                                }),
                            ))
                            .returning(Mapper::as_returning())
                            .get_result(conn)
                            .await?
                    }
                };
                out.push(row);
            }
            Ok(out)
        })
        .await
    }

    /// Counts the application of a mapper to `user`, atomically: the mapper row is
    /// locked, so concurrent logins are serialised; a user it was already applied to
    /// passes without counting again; otherwise it succeeds only while the mapper is
    /// live and below its maximum, and marks it depleted on reaching it. The
    /// `mapper_event` is recorded in the same transaction. Returns whether the mapper
    /// may be applied.
    pub async fn activate_mapper(&self, id: Uuid, user: Uuid) -> Result<bool, StoreError> {
        let mut conn = self.auth_conn().await?;
        conn.transaction::<_, StoreError, _>(async move |conn| {
            let live = mapper::table
                .filter(mapper::id.eq(id))
                .filter(mapper::deleted_at.is_null())
                .select(mapper::id)
                .for_update()
                .first::<Uuid>(conn)
                .await
                .optional()?;
            if live.is_none() {
                return Ok(false);
            }
            let already = mapper_event::table
                .filter(mapper_event::mapper_id.eq(id))
                .filter(mapper_event::api_user_id.eq(user))
                .select(mapper_event::id)
                .first::<Uuid>(conn)
                .await
                .optional()?;
            if already.is_some() {
                return Ok(true);
            }
            let activated = diesel::sql_query(
                "UPDATE mapper SET activations = activations + 1, updated_at = now(), \
                   depleted_at = CASE WHEN max_activations IS NOT NULL AND activations + 1 >= max_activations \
                                      THEN now() ELSE depleted_at END \
                 WHERE id = $1 AND deleted_at IS NULL AND depleted_at IS NULL \
                   AND (max_activations IS NULL OR activations < max_activations)",
            )
            .bind::<diesel::sql_types::Uuid, _>(id)
            .execute(conn)
            .await?;
            if activated == 0 {
                return Ok(false);
            }
            diesel::sql_query(
                "INSERT INTO mapper_event (id, mapper_id, mapper_name, api_user_id, rule) \
                 SELECT $1, id, name, $2, rule FROM mapper WHERE id = $3",
            )
            .bind::<diesel::sql_types::Uuid, _>(Uuid::new_v4())
            .bind::<diesel::sql_types::Uuid, _>(user)
            .bind::<diesel::sql_types::Uuid, _>(id)
            .execute(conn)
            .await?;
            Ok(true)
        })
        .await
    }

    /// How many users a mapper has been applied to.
    pub async fn mapper_event_count(&self, id: Uuid) -> Result<i64, StoreError> {
        let mut conn = self.auth_conn().await?;
        Ok(mapper_event::table.filter(mapper_event::mapper_id.eq(id)).count().get_result(&mut conn).await?)
    }

    /// Grants permissions and groups to a user after a login, in one transaction:
    /// permissions not yet held are appended, memberships added.
    pub async fn grant_to_user(
        &self,
        user: Uuid,
        permissions: &[Value],
        groups: &[Uuid],
    ) -> Result<ApiUser, StoreError> {
        let mut conn = self.auth_conn().await?;
        let permissions = permissions.to_vec();
        let groups = groups.to_vec();
        conn.transaction::<_, StoreError, _>(async move |conn| {
            let current: Value = api_user::table
                .filter(api_user::id.eq(user))
                .filter(api_user::deleted_at.is_null())
                .select(api_user::permissions)
                .for_update()
                .first(conn)
                .await
                .optional()?
                .ok_or(StoreError::NotFound { entity: "api_user" })?;
            let mut list = match current {
                Value::Array(list) => list,
                _ => Vec::new(),
            };
            let before = list.len();
            for permission in permissions {
                if !list.contains(&permission) {
                    list.push(permission);
                }
            }
            if list.len() != before {
                diesel::update(api_user::table.filter(api_user::id.eq(user)))
                    .set((
                        api_user::permissions.eq(Value::Array(list)),
                        api_user::updated_at.eq(diesel::dsl::now),
                    ))
                    .execute(conn)
                    .await?;
            }
            let live_groups: Vec<Uuid> = access_group::table
                .filter(access_group::id.eq_any(&groups))
                .filter(access_group::deleted_at.is_null())
                .select(access_group::id)
                .load(conn)
                .await?;
            add_memberships(conn, user, &live_groups).await?;
            user_in(conn, user).await?.ok_or(StoreError::NotFound { entity: "api_user" })
        })
        .await
    }
}
