//! Storage of the API's own clients: OAuth clients (third-party apps that log users in
//! through the authorization-code or device flows) and magic-link clients (apps that
//! send sign-in links by email).
//!
//! Both kinds have the same shape — a client, its secrets, its redirect URIs — in
//! parallel tables (`oauth_client*`, `magic_link_client*`), so there is one
//! implementation, parameterised by [`ClientKind`]. The SQL is built from the kind's
//! table and column names, which are compile-time constants, never from input.
//!
//! Secrets are random, shown once ([`CreatedClientSecret::value`]) and stored only as
//! their SHA-256 digest. A generated secret starts with its own id
//! (`hex(secret id ‖ 24 random bytes)`, 80 hex characters, the reference service's
//! format), so a secret presented without a client id (magic-link `send`) is found by
//! that id and then verified in constant time — never looked up by its digest.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Bytea, Nullable, Text, Timestamptz, Uuid as SqlUuid};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use uuid::Uuid;

use crate::error::StoreError;
use crate::store::Store;

/// Which kind of client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ClientKind {
    /// An OAuth client (`oauth_client`).
    OAuth,
    /// A magic-link client (`magic_link_client`).
    MagicLink,
}

impl ClientKind {
    /// The client table.
    const fn table(self) -> &'static str {
        match self {
            Self::OAuth => "oauth_client",
            Self::MagicLink => "magic_link_client",
        }
    }

    /// The secret table.
    const fn secret_table(self) -> &'static str {
        match self {
            Self::OAuth => "oauth_client_secret",
            Self::MagicLink => "magic_link_client_secret",
        }
    }

    /// The redirect URI table.
    const fn redirect_table(self) -> &'static str {
        match self {
            Self::OAuth => "oauth_client_redirect_uri",
            Self::MagicLink => "magic_link_client_redirect_uri",
        }
    }

    /// The column of the secret and redirect URI tables naming the client.
    const fn client_column(self) -> &'static str {
        match self {
            Self::OAuth => "oauth_client_id",
            Self::MagicLink => "magic_link_client_id",
        }
    }

    /// What a missing client is called in errors.
    const fn entity(self) -> &'static str {
        match self {
            Self::OAuth => "oauth_client",
            Self::MagicLink => "magic_link_client",
        }
    }

    const fn secret_entity(self) -> &'static str {
        match self {
            Self::OAuth => "oauth_client_secret",
            Self::MagicLink => "magic_link_client_secret",
        }
    }

    const fn redirect_entity(self) -> &'static str {
        match self {
            Self::OAuth => "oauth_client_redirect_uri",
            Self::MagicLink => "magic_link_client_redirect_uri",
        }
    }
}

/// A live client with its live secrets (without any secret material) and redirect URIs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Client {
    /// The client's id (the OAuth `client_id`).
    pub id: Uuid,
    /// Its kind.
    pub kind: ClientKind,
    /// Its live secrets, oldest first.
    pub secrets: Vec<ClientSecret>,
    /// Its live redirect URIs, oldest first.
    pub redirect_uris: Vec<ClientRedirectUri>,
    /// When created.
    pub created_at: DateTime<Utc>,
    /// When deleted, if it was.
    pub deleted_at: Option<DateTime<Utc>>,
}

/// A client secret's stored facts: never the secret, never its digest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, QueryableByName)]
pub struct ClientSecret {
    /// The secret's id.
    #[diesel(sql_type = SqlUuid)]
    pub id: Uuid,
    /// The client it belongs to.
    #[diesel(sql_type = SqlUuid)]
    pub client_id: Uuid,
    /// When created.
    #[diesel(sql_type = Timestamptz)]
    pub created_at: DateTime<Utc>,
    /// When deleted, if it was.
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub deleted_at: Option<DateTime<Utc>>,
}

/// A redirect URI registered for a client (matched exactly, as a string).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, QueryableByName)]
pub struct ClientRedirectUri {
    /// The row's id.
    #[diesel(sql_type = SqlUuid)]
    pub id: Uuid,
    /// The client it belongs to.
    #[diesel(sql_type = SqlUuid)]
    pub client_id: Uuid,
    /// The URI.
    #[diesel(sql_type = Text)]
    pub redirect_uri: String,
    /// When created.
    #[diesel(sql_type = Timestamptz)]
    pub created_at: DateTime<Utc>,
    /// When deleted, if it was.
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub deleted_at: Option<DateTime<Utc>>,
}

/// A secret value handed out once. Its `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretValue(String);

impl SecretValue {
    /// The secret, to show to its owner once. Never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretValue([redacted])")
    }
}

/// A newly created client secret: the only time its value exists outside its owner.
#[derive(Debug, Clone)]
pub struct CreatedClientSecret {
    /// The stored facts.
    pub secret: ClientSecret,
    /// The secret itself.
    pub value: SecretValue,
}

/// Random bytes after the id in a keyed secret.
const KEYED_RANDOM_BYTES: usize = 24;

/// A new keyed secret `hex(id ‖ 24 random bytes)` and its SHA-256 digest. Used for
/// client secrets and any other secret that must be found by the id it carries.
pub fn generate_keyed_secret(id: Uuid) -> (SecretValue, [u8; 32]) {
    let mut random = [0u8; KEYED_RANDOM_BYTES];
    rand::fill(&mut random);
    let mut value = hex::encode(id.as_bytes());
    value.push_str(&hex::encode(random));
    let hash = secret_digest(&value);
    (SecretValue(value), hash)
}

/// The id a keyed secret starts with, if it is shaped like one.
pub fn keyed_secret_id(value: &str) -> Option<Uuid> {
    if value.len() != 2 * (16 + KEYED_RANDOM_BYTES) || !value.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let bytes = hex::decode(value.get(..32)?).ok()?;
    Uuid::from_slice(&bytes).ok()
}

/// The SHA-256 digest stored for a secret.
pub fn secret_digest(value: &str) -> [u8; 32] {
    Sha256::digest(value.as_bytes()).into()
}

/// Compares two digests in constant time.
pub fn digests_equal(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

#[derive(QueryableByName)]
struct ClientRow {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
    #[diesel(sql_type = Timestamptz)]
    created_at: DateTime<Utc>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    deleted_at: Option<DateTime<Utc>>,
}

#[derive(QueryableByName)]
struct HashRow {
    #[diesel(sql_type = SqlUuid)]
    client_id: Uuid,
    #[diesel(sql_type = Bytea)]
    secret_hash: Vec<u8>,
}

#[derive(QueryableByName)]
struct Found {
    #[diesel(sql_type = SqlUuid)]
    #[allow(dead_code)]
    id: Uuid,
}

type Conn = AsyncPgConnection;

async fn client_rows(
    conn: &mut Conn,
    kind: ClientKind,
    id: Option<Uuid>,
) -> Result<Vec<ClientRow>, StoreError> {
    let sql = format!(
        "SELECT id, created_at, deleted_at FROM {t} WHERE deleted_at IS NULL \
         AND ($1::uuid IS NULL OR id = $1) ORDER BY created_at, id",
        t = kind.table()
    );
    Ok(diesel::sql_query(sql).bind::<Nullable<SqlUuid>, _>(id).load(conn).await?)
}

/// The live secrets and redirect URIs of `rows`, assembled into clients.
async fn assemble(
    conn: &mut Conn,
    kind: ClientKind,
    rows: Vec<ClientRow>,
) -> Result<Vec<Client>, StoreError> {
    let ids: Vec<Uuid> = rows.iter().map(|row| row.id).collect();
    let secrets: Vec<ClientSecret> = diesel::sql_query(format!(
        "SELECT id, {c} AS client_id, created_at, deleted_at FROM {t} \
         WHERE {c} = ANY($1) AND deleted_at IS NULL ORDER BY created_at, id",
        c = kind.client_column(),
        t = kind.secret_table()
    ))
    .bind::<diesel::sql_types::Array<SqlUuid>, _>(&ids)
    .load(conn)
    .await?;
    let uris: Vec<ClientRedirectUri> = diesel::sql_query(format!(
        "SELECT id, {c} AS client_id, redirect_uri, created_at, deleted_at FROM {t} \
         WHERE {c} = ANY($1) AND deleted_at IS NULL ORDER BY created_at, id",
        c = kind.client_column(),
        t = kind.redirect_table()
    ))
    .bind::<diesel::sql_types::Array<SqlUuid>, _>(&ids)
    .load(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| Client {
            id: row.id,
            kind,
            secrets: secrets.iter().filter(|s| s.client_id == row.id).cloned().collect(),
            redirect_uris: uris.iter().filter(|u| u.client_id == row.id).cloned().collect(),
            created_at: row.created_at,
            deleted_at: row.deleted_at,
        })
        .collect())
}

async fn client_in(conn: &mut Conn, kind: ClientKind, id: Uuid) -> Result<Option<Client>, StoreError> {
    let rows = client_rows(conn, kind, Some(id)).await?;
    Ok(assemble(conn, kind, rows).await?.pop())
}

/// Locks a live client row (so a secret or URI is never added to a client being
/// deleted) or fails with NotFound.
async fn lock_live_client(conn: &mut Conn, kind: ClientKind, id: Uuid) -> Result<(), StoreError> {
    let found: Option<Found> = diesel::sql_query(format!(
        "SELECT id FROM {t} WHERE id = $1 AND deleted_at IS NULL FOR SHARE",
        t = kind.table()
    ))
    .bind::<SqlUuid, _>(id)
    .get_result(conn)
    .await
    .optional()?;
    found.map(|_| ()).ok_or(StoreError::NotFound { entity: kind.entity() })
}

async fn insert_secret(
    conn: &mut Conn,
    kind: ClientKind,
    client: Uuid,
    id: Uuid,
    hash: &[u8; 32],
) -> Result<ClientSecret, StoreError> {
    Ok(diesel::sql_query(format!(
        "INSERT INTO {t} (id, {c}, secret_hash) VALUES ($1, $2, $3) \
         RETURNING id, {c} AS client_id, created_at, deleted_at",
        t = kind.secret_table(),
        c = kind.client_column()
    ))
    .bind::<SqlUuid, _>(id)
    .bind::<SqlUuid, _>(client)
    .bind::<Bytea, _>(hash.as_slice())
    .get_result(conn)
    .await?)
}

impl Store {
    async fn clients_conn(
        &self,
    ) -> Result<diesel_async::pooled_connection::bb8::PooledConnection<'_, Conn>, StoreError> {
        Ok(self.pool().get().await?)
    }

    /// Creates a client with a new random id (no secrets, no redirect URIs).
    pub async fn create_client(&self, kind: ClientKind) -> Result<Client, StoreError> {
        self.ensure_client(kind, Uuid::new_v4()).await
    }

    /// Makes sure the client `id` exists (creating it if missing; idempotent, safe
    /// under concurrent calls) and returns it. Used for clients named in the config.
    /// A client that was deleted stays deleted: [`StoreError::NotFound`].
    pub async fn ensure_client(&self, kind: ClientKind, id: Uuid) -> Result<Client, StoreError> {
        let mut conn = self.clients_conn().await?;
        diesel::sql_query(format!(
            "INSERT INTO {t} (id) VALUES ($1) ON CONFLICT (id) DO NOTHING",
            t = kind.table()
        ))
        .bind::<SqlUuid, _>(id)
        .execute(&mut conn)
        .await?;
        client_in(&mut conn, kind, id).await?.ok_or(StoreError::NotFound { entity: kind.entity() })
    }

    /// A live client with its live secrets and redirect URIs.
    pub async fn get_client(&self, kind: ClientKind, id: Uuid) -> Result<Option<Client>, StoreError> {
        let mut conn = self.clients_conn().await?;
        client_in(&mut conn, kind, id).await
    }

    /// Whether a live client of this kind has this id (one indexed lookup; nothing else
    /// is loaded).
    pub async fn client_is_live(&self, kind: ClientKind, id: Uuid) -> Result<bool, StoreError> {
        let mut conn = self.clients_conn().await?;
        let found: Option<Found> = diesel::sql_query(format!(
            "SELECT id FROM {t} WHERE id = $1 AND deleted_at IS NULL",
            t = kind.table()
        ))
        .bind::<SqlUuid, _>(id)
        .get_result(&mut conn)
        .await
        .optional()?;
        Ok(found.is_some())
    }

    /// Every live client of a kind, oldest first (callers filter by permission; there
    /// is no hidden page size).
    pub async fn list_clients(&self, kind: ClientKind) -> Result<Vec<Client>, StoreError> {
        let mut conn = self.clients_conn().await?;
        let rows = client_rows(&mut conn, kind, None).await?;
        assemble(&mut conn, kind, rows).await
    }

    /// Adds a random secret to a live client. The value is in the result only; the
    /// database keeps its SHA-256 digest.
    pub async fn create_client_secret(
        &self,
        kind: ClientKind,
        client: Uuid,
    ) -> Result<CreatedClientSecret, StoreError> {
        let mut conn = self.clients_conn().await?;
        let id = Uuid::new_v4();
        let (value, hash) = generate_keyed_secret(id);
        let secret = conn
            .transaction::<_, StoreError, _>(async move |conn| {
                lock_live_client(conn, kind, client).await?;
                insert_secret(conn, kind, client, id, &hash).await
            })
            .await?;
        Ok(CreatedClientSecret { secret, value })
    }

    /// Adds a secret known only by its SHA-256 digest (a secret from the config) to a
    /// live client; idempotent: a digest the client already has is returned as it is.
    pub async fn add_client_secret_hash(
        &self,
        kind: ClientKind,
        client: Uuid,
        hash: &[u8; 32],
    ) -> Result<ClientSecret, StoreError> {
        let mut conn = self.clients_conn().await?;
        let hash = *hash;
        conn.transaction::<_, StoreError, _>(async move |conn| {
            lock_live_client(conn, kind, client).await?;
            let existing: Option<ClientSecret> = diesel::sql_query(format!(
                "SELECT id, {c} AS client_id, created_at, deleted_at FROM {t} \
                 WHERE {c} = $1 AND secret_hash = $2 AND deleted_at IS NULL",
                t = kind.secret_table(),
                c = kind.client_column()
            ))
            .bind::<SqlUuid, _>(client)
            .bind::<Bytea, _>(hash.as_slice())
            .get_result(conn)
            .await
            .optional()?;
            match existing {
                Some(secret) => Ok(secret),
                None => insert_secret(conn, kind, client, Uuid::new_v4(), &hash).await,
            }
        })
        .await
    }

    /// Deletes one of a client's secrets (it stops verifying at once) and returns it.
    pub async fn delete_client_secret(
        &self,
        kind: ClientKind,
        client: Uuid,
        secret: Uuid,
    ) -> Result<ClientSecret, StoreError> {
        let mut conn = self.clients_conn().await?;
        diesel::sql_query(format!(
            "UPDATE {t} SET deleted_at = now() WHERE id = $1 AND {c} = $2 AND deleted_at IS NULL \
             RETURNING id, {c} AS client_id, created_at, deleted_at",
            t = kind.secret_table(),
            c = kind.client_column()
        ))
        .bind::<SqlUuid, _>(secret)
        .bind::<SqlUuid, _>(client)
        .get_result(&mut conn)
        .await
        .optional()?
        .ok_or(StoreError::NotFound { entity: kind.secret_entity() })
    }

    /// Registers a redirect URI for a live client (stored as given: matching is exact).
    /// Registering a URI the client already has returns the existing row.
    pub async fn add_client_redirect_uri(
        &self,
        kind: ClientKind,
        client: Uuid,
        redirect_uri: &str,
    ) -> Result<ClientRedirectUri, StoreError> {
        let mut conn = self.clients_conn().await?;
        let redirect_uri = redirect_uri.to_string();
        conn.transaction::<_, StoreError, _>(async move |conn| {
            lock_live_client(conn, kind, client).await?;
            let existing: Option<ClientRedirectUri> = diesel::sql_query(format!(
                "SELECT id, {c} AS client_id, redirect_uri, created_at, deleted_at FROM {t} \
                 WHERE {c} = $1 AND redirect_uri = $2 AND deleted_at IS NULL \
                 ORDER BY created_at LIMIT 1",
                t = kind.redirect_table(),
                c = kind.client_column()
            ))
            .bind::<SqlUuid, _>(client)
            .bind::<Text, _>(&redirect_uri)
            .get_result(conn)
            .await
            .optional()?;
            if let Some(row) = existing {
                return Ok(row);
            }
            Ok(diesel::sql_query(format!(
                "INSERT INTO {t} (id, {c}, redirect_uri) VALUES ($1, $2, $3) \
                 RETURNING id, {c} AS client_id, redirect_uri, created_at, deleted_at",
                t = kind.redirect_table(),
                c = kind.client_column()
            ))
            .bind::<SqlUuid, _>(Uuid::new_v4())
            .bind::<SqlUuid, _>(client)
            .bind::<Text, _>(&redirect_uri)
            .get_result(conn)
            .await?)
        })
        .await
    }

    /// Deletes one of a client's redirect URIs and returns it.
    pub async fn delete_client_redirect_uri(
        &self,
        kind: ClientKind,
        client: Uuid,
        redirect_uri_id: Uuid,
    ) -> Result<ClientRedirectUri, StoreError> {
        let mut conn = self.clients_conn().await?;
        diesel::sql_query(format!(
            "UPDATE {t} SET deleted_at = now() WHERE id = $1 AND {c} = $2 AND deleted_at IS NULL \
             RETURNING id, {c} AS client_id, redirect_uri, created_at, deleted_at",
            t = kind.redirect_table(),
            c = kind.client_column()
        ))
        .bind::<SqlUuid, _>(redirect_uri_id)
        .bind::<SqlUuid, _>(client)
        .get_result(&mut conn)
        .await
        .optional()?
        .ok_or(StoreError::NotFound { entity: kind.redirect_entity() })
    }

    /// Whether `secret` is a live secret of the live client `client`. Every live
    /// secret of the client is compared in constant time (no early exit), so neither
    /// the answer's timing nor a lookup by digest reveals anything about the secret.
    pub async fn verify_client_secret(
        &self,
        kind: ClientKind,
        client: Uuid,
        secret: &str,
    ) -> Result<bool, StoreError> {
        let mut conn = self.clients_conn().await?;
        let rows: Vec<HashRow> = diesel::sql_query(format!(
            "SELECT s.{c} AS client_id, s.secret_hash FROM {st} s JOIN {t} c ON c.id = s.{c} \
             WHERE s.{c} = $1 AND s.deleted_at IS NULL AND c.deleted_at IS NULL",
            st = kind.secret_table(),
            t = kind.table(),
            c = kind.client_column()
        ))
        .bind::<SqlUuid, _>(client)
        .load(&mut conn)
        .await?;
        let presented = secret_digest(secret);
        let mut matched = false;
        for row in &rows {
            matched |= digests_equal(&row.secret_hash, &presented);
        }
        Ok(matched)
    }

    /// The live client a generated secret belongs to: the secret's id is read from
    /// the secret itself, its row found by that id, and its digest compared in
    /// constant time. `None` for anything else (malformed, unknown, deleted, wrong).
    pub async fn find_client_by_secret(
        &self,
        kind: ClientKind,
        secret: &str,
    ) -> Result<Option<Uuid>, StoreError> {
        let Some(secret_id) = keyed_secret_id(secret) else {
            return Ok(None);
        };
        let mut conn = self.clients_conn().await?;
        let row: Option<HashRow> = diesel::sql_query(format!(
            "SELECT s.{c} AS client_id, s.secret_hash FROM {st} s JOIN {t} c ON c.id = s.{c} \
             WHERE s.id = $1 AND s.deleted_at IS NULL AND c.deleted_at IS NULL",
            st = kind.secret_table(),
            t = kind.table(),
            c = kind.client_column()
        ))
        .bind::<SqlUuid, _>(secret_id)
        .get_result(&mut conn)
        .await
        .optional()?;
        let presented = secret_digest(secret);
        Ok(row.filter(|row| digests_equal(&row.secret_hash, &presented)).map(|row| row.client_id))
    }

    /// Whether `redirect_uri` is registered, exactly as given, for the live client.
    pub async fn redirect_uri_is_registered(
        &self,
        kind: ClientKind,
        client: Uuid,
        redirect_uri: &str,
    ) -> Result<bool, StoreError> {
        let mut conn = self.clients_conn().await?;
        let found: Option<Found> = diesel::sql_query(format!(
            "SELECT r.id FROM {rt} r JOIN {t} c ON c.id = r.{c} \
             WHERE r.{c} = $1 AND r.redirect_uri = $2 AND r.deleted_at IS NULL AND c.deleted_at IS NULL \
             LIMIT 1",
            rt = kind.redirect_table(),
            t = kind.table(),
            c = kind.client_column()
        ))
        .bind::<SqlUuid, _>(client)
        .bind::<Text, _>(redirect_uri)
        .get_result(&mut conn)
        .await
        .optional()?;
        Ok(found.is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyed_secrets_carry_their_id() {
        let id = Uuid::new_v4();
        let (value, hash) = generate_keyed_secret(id);
        assert_eq!(value.expose().len(), 80);
        assert_eq!(keyed_secret_id(value.expose()), Some(id));
        assert_eq!(hash, secret_digest(value.expose()));
        assert!(!format!("{value:?}").contains(value.expose()));
        let (other, _) = generate_keyed_secret(id);
        assert_ne!(value, other);
        assert_eq!(keyed_secret_id("not-a-secret"), None);
        assert_eq!(keyed_secret_id(&"g".repeat(80)), None);
    }
}
