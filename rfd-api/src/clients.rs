//! OAuth and magic-link clients as the API serves them (`/oauth/client…`,
//! `/magic/client…`): the reference service's JSON shapes and the operations behind
//! its endpoints. One implementation serves both kinds ([`ClientApi`] names what
//! differs: the shapes and the permissions).
//!
//! Secrets appear only in the response that creates them ([`InitialSecretResponse`]).
//! The reference's `secret_signature` field is kept for compatibility but never holds
//! anything derived from the secret (the reference leaked its signatures there).

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use dropshot::HttpError;
use rfd_model::Store;
use rfd_model::clients::{Client, ClientKind, ClientRedirectUri, ClientSecret, CreatedClientSecret};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::caller::Caller;
use crate::error::{bad_request, not_found, store_error};
use crate::permissions::Permission;

/// A client in the path.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct ClientPath {
    /// The client.
    pub client_id: Uuid,
}

/// A client's secret in the path.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct ClientSecretPath {
    /// The client.
    pub client_id: Uuid,
    /// The secret.
    pub secret_id: Uuid,
}

/// A client's redirect URI in the path.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct ClientRedirectUriPath {
    /// The client.
    pub client_id: Uuid,
    /// The redirect URI.
    pub redirect_uri_id: Uuid,
}

/// What `secret_signature` holds: the field is required by the reference's schema, but
/// nothing about a secret is ever returned after its creation.
pub const REDACTED: &str = "redacted";

/// Defines the response shapes of one client kind, with the reference's schema names
/// and field names (`oauth_client_id` / `magic_link_client_id`).
macro_rules! client_views {
    ($kind_doc:literal, $client:ident, $secret:ident, $uri:ident, $initial:ident, $add:ident, $fk:ident) => {
        #[doc = concat!("A ", $kind_doc, " client with its live secrets (never their values) and redirect URIs.")]
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
        pub struct $client {
            /// The client's id.
            pub id: Uuid,
            /// Its live secrets.
            pub secrets: Vec<$secret>,
            /// Its live redirect URIs.
            pub redirect_uris: Vec<$uri>,
            /// When created.
            pub created_at: DateTime<Utc>,
            /// When deleted.
            pub deleted_at: Option<DateTime<Utc>>,
        }

        #[doc = concat!("A secret of a ", $kind_doc, " client: its id and dates only.")]
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
        pub struct $secret {
            /// The secret's id.
            pub id: Uuid,
            /// The client.
            pub $fk: Uuid,
            /// Always `redacted`: kept for clients of the reference API; the secret and
            /// its digest are never returned.
            pub secret_signature: String,
            /// When created.
            pub created_at: DateTime<Utc>,
            /// When deleted.
            pub deleted_at: Option<DateTime<Utc>>,
        }

        #[doc = concat!("A redirect URI of a ", $kind_doc, " client (matched exactly).")]
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
        pub struct $uri {
            /// The row's id.
            pub id: Uuid,
            /// The client.
            pub $fk: Uuid,
            /// The URI.
            pub redirect_uri: String,
            /// When created.
            pub created_at: DateTime<Utc>,
            /// When deleted.
            pub deleted_at: Option<DateTime<Utc>>,
        }

        #[doc = concat!("A new ", $kind_doc, " client secret: the only time it is shown.")]
        #[derive(Serialize, Deserialize, JsonSchema)]
        pub struct $initial {
            /// The secret's id.
            pub id: Uuid,
            /// The secret. Store it now: only its SHA-256 digest is kept.
            pub key: String,
            /// When created.
            pub created_at: DateTime<Utc>,
        }

        impl std::fmt::Debug for $initial {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($initial))
                    .field("id", &self.id)
                    .field("key", &"[redacted]")
                    .finish()
            }
        }

        #[doc = concat!("Registers a redirect URI for a ", $kind_doc, " client.")]
        #[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
        pub struct $add {
            /// An absolute URL without a fragment; matched exactly as given.
            pub redirect_uri: String,
        }

        impl From<ClientSecret> for $secret {
            fn from(s: ClientSecret) -> Self {
                Self {
                    id: s.id,
                    $fk: s.client_id,
                    secret_signature: REDACTED.into(),
                    created_at: s.created_at,
                    deleted_at: s.deleted_at,
                }
            }
        }

        impl From<ClientRedirectUri> for $uri {
            fn from(u: ClientRedirectUri) -> Self {
                Self {
                    id: u.id,
                    $fk: u.client_id,
                    redirect_uri: u.redirect_uri,
                    created_at: u.created_at,
                    deleted_at: u.deleted_at,
                }
            }
        }

        impl From<Client> for $client {
            fn from(c: Client) -> Self {
                Self {
                    id: c.id,
                    secrets: c.secrets.into_iter().map(Into::into).collect(),
                    redirect_uris: c.redirect_uris.into_iter().map(Into::into).collect(),
                    created_at: c.created_at,
                    deleted_at: c.deleted_at,
                }
            }
        }

        impl From<CreatedClientSecret> for $initial {
            fn from(c: CreatedClientSecret) -> Self {
                Self { id: c.secret.id, key: c.value.expose().to_string(), created_at: c.secret.created_at }
            }
        }
    };
}

client_views!(
    "OAuth",
    OAuthClient,
    OAuthClientSecret,
    OAuthClientRedirectUri,
    InitialOAuthClientSecretResponse,
    AddOAuthClientRedirectBody,
    oauth_client_id
);
client_views!(
    "magic-link",
    MagicLink,
    MagicLinkSecret,
    MagicLinkRedirectUri,
    InitialMagicLinkSecretResponse,
    AddMagicLinkRedirectBody,
    magic_link_client_id
);

/// What differs between the two kinds of client as the API serves them.
pub trait ClientApi {
    /// The stored kind.
    const KIND: ClientKind;
    /// A client.
    type Client: From<Client>;
    /// A secret (without its value).
    type Secret: From<ClientSecret>;
    /// A redirect URI.
    type RedirectUri: From<ClientRedirectUri>;
    /// A new secret, shown once.
    type InitialSecret: From<CreatedClientSecret>;
    /// Permission to create clients.
    fn create() -> Permission;
    /// Permission to see a client.
    fn get(id: Uuid) -> Permission;
    /// Permission to change a client.
    fn manage(id: Uuid) -> Permission;
}

/// The `/oauth/client` endpoints.
pub enum OAuth {}

impl ClientApi for OAuth {
    const KIND: ClientKind = ClientKind::OAuth;
    type Client = OAuthClient;
    type Secret = OAuthClientSecret;
    type RedirectUri = OAuthClientRedirectUri;
    type InitialSecret = InitialOAuthClientSecretResponse;
    fn create() -> Permission {
        Permission::CreateOAuthClient
    }
    fn get(id: Uuid) -> Permission {
        Permission::GetOAuthClient(id)
    }
    fn manage(id: Uuid) -> Permission {
        Permission::ManageOAuthClient(id)
    }
}

/// The `/magic/client` endpoints.
pub enum Magic {}

impl ClientApi for Magic {
    const KIND: ClientKind = ClientKind::MagicLink;
    type Client = MagicLink;
    type Secret = MagicLinkSecret;
    type RedirectUri = MagicLinkRedirectUri;
    type InitialSecret = InitialMagicLinkSecretResponse;
    fn create() -> Permission {
        Permission::CreateMagicLinkClient
    }
    fn get(id: Uuid) -> Permission {
        Permission::GetMagicLinkClient(id)
    }
    fn manage(id: Uuid) -> Permission {
        Permission::ManageMagicLinkClient(id)
    }
}

/// The clients the caller may see (`Get…Client` of each), every one of them.
pub async fn list<K: ClientApi>(store: &Store, caller: &Caller) -> Result<Vec<K::Client>, HttpError> {
    caller.require_authenticated()?;
    let clients = store.list_clients(K::KIND).await.map_err(store_error)?;
    Ok(clients.into_iter().filter(|c| caller.can(&K::get(c.id))).map(Into::into).collect())
}

/// Creates a client (`Create…Client`); its creator is granted `Get…Client` and
/// `Manage…Client` on it.
pub async fn create<K: ClientApi>(store: &Store, caller: &Caller) -> Result<K::Client, HttpError> {
    caller.require(&K::create())?;
    let client = store.create_client(K::KIND).await.map_err(store_error)?;
    let granted = [K::get(client.id), K::manage(client.id)];
    store
        .update_user_permissions(caller.id, move |current| {
            let mut held = crate::permissions::Permissions::from_json(&current);
            held.extend(granted);
            held.to_json()
        })
        .await
        .map_err(store_error)?;
    Ok(client.into())
}

/// One client (`Get…Client`).
pub async fn get<K: ClientApi>(store: &Store, caller: &Caller, id: Uuid) -> Result<K::Client, HttpError> {
    caller.require(&K::get(id))?;
    let client = store.get_client(K::KIND, id).await.map_err(store_error)?;
    client.map(Into::into).ok_or_else(|| not_found("client"))
}

/// Adds a secret (`Manage…Client`); the response is the only place it appears.
pub async fn create_secret<K: ClientApi>(
    store: &Store,
    caller: &Caller,
    id: Uuid,
) -> Result<K::InitialSecret, HttpError> {
    caller.require(&K::manage(id))?;
    let created = store.create_client_secret(K::KIND, id).await.map_err(store_error)?;
    tracing::info!(client.id = %id, secret.id = %created.secret.id, "client secret created");
    Ok(created.into())
}

/// Deletes a secret (`Manage…Client`); it stops working at once.
pub async fn delete_secret<K: ClientApi>(
    store: &Store,
    caller: &Caller,
    id: Uuid,
    secret: Uuid,
) -> Result<K::Secret, HttpError> {
    caller.require(&K::manage(id))?;
    let deleted = store.delete_client_secret(K::KIND, id, secret).await.map_err(store_error)?;
    Ok(deleted.into())
}

/// Registers a redirect URI (`Manage…Client`): an absolute URL without a fragment.
pub async fn add_redirect_uri<K: ClientApi>(
    store: &Store,
    caller: &Caller,
    id: Uuid,
    redirect_uri: &str,
) -> Result<K::RedirectUri, HttpError> {
    caller.require(&K::manage(id))?;
    validate_redirect_uri(redirect_uri).map_err(bad_request)?;
    let added = store.add_client_redirect_uri(K::KIND, id, redirect_uri).await.map_err(store_error)?;
    Ok(added.into())
}

/// Deletes a redirect URI (`Manage…Client`).
pub async fn delete_redirect_uri<K: ClientApi>(
    store: &Store,
    caller: &Caller,
    id: Uuid,
    redirect_uri_id: Uuid,
) -> Result<K::RedirectUri, HttpError> {
    caller.require(&K::manage(id))?;
    let deleted =
        store.delete_client_redirect_uri(K::KIND, id, redirect_uri_id).await.map_err(store_error)?;
    Ok(deleted.into())
}

/// Why a redirect URI cannot be registered: it must be an absolute URL with a host
/// (or a custom scheme for native apps) and no fragment (RFC 6749 §3.1.2).
pub fn validate_redirect_uri(value: &str) -> Result<(), String> {
    if value.trim() != value || value.is_empty() {
        return Err("redirect_uri must not be empty or have surrounding whitespace".into());
    }
    let url = url::Url::parse(value).map_err(|err| format!("redirect_uri is not an absolute URL: {err}"))?;
    if url.fragment().is_some() {
        return Err("redirect_uri must not have a fragment".into());
    }
    if matches!(url.scheme(), "http" | "https") && url.host_str().is_none_or(str::is_empty) {
        return Err("redirect_uri must name a host".into());
    }
    Ok(())
}

/// `[[auth.oauth_clients]]`: an OAuth client that must exist (created at start-up,
/// idempotently, with this id).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfiguredOAuthClient {
    /// The client id.
    pub id: Uuid,
    /// Redirect URIs registered for it (added if missing; others are kept).
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    /// A file holding the hex SHA-256 digest of the client's secret (relative to
    /// the config file).
    pub secret_hash_file: Option<PathBuf>,
    /// An environment variable holding the hex SHA-256 digest of the client's secret.
    pub secret_hash_env: Option<String>,
}

/// Why the configured clients could not be created.
#[derive(Debug, thiserror::Error)]
pub enum ConfiguredClientError {
    /// A secret digest could not be read.
    #[error("[[auth.oauth_clients]] {id}: {reason}")]
    Invalid {
        /// The client.
        id: Uuid,
        /// What is wrong (never the digest itself).
        reason: String,
    },
    /// The database refused.
    #[error("[[auth.oauth_clients]]: {0}")]
    Store(#[from] rfd_model::StoreError),
}

fn parse_digest(text: &str) -> Option<[u8; 32]> {
    let bytes = hex::decode(text.trim()).ok()?;
    bytes.try_into().ok()
}

/// Makes sure every `[[auth.oauth_clients]]` entry exists with its redirect URIs and
/// secret digests. Idempotent: run at every start.
pub async fn ensure_configured(
    store: &Store,
    config: &crate::config::ApiConfig,
) -> Result<(), ConfiguredClientError> {
    ensure_configured_with(store, config, |name| std::env::var(name).ok()).await
}

/// [`ensure_configured`] with the environment given as a function (for tests).
pub async fn ensure_configured_with(
    store: &Store,
    config: &crate::config::ApiConfig,
    env: impl Fn(&str) -> Option<String>,
) -> Result<(), ConfiguredClientError> {
    for entry in &config.auth.oauth_clients {
        let invalid = |reason: String| ConfiguredClientError::Invalid { id: entry.id, reason };
        let mut digests = Vec::new();
        if let Some(path) = &entry.secret_hash_file {
            let full = config.resolve(path);
            let text = std::fs::read_to_string(&full)
                .map_err(|err| invalid(format!("cannot read {}: {err}", full.display())))?;
            digests.push(parse_digest(&text).ok_or_else(|| {
                invalid(format!("{} does not hold a hex SHA-256 digest (64 hex digits)", full.display()))
            })?);
        }
        if let Some(var) = &entry.secret_hash_env {
            let text = env(var).ok_or_else(|| invalid(format!("environment variable {var} is not set")))?;
            digests.push(parse_digest(&text).ok_or_else(|| {
                invalid(format!("{var} does not hold a hex SHA-256 digest (64 hex digits)"))
            })?);
        }
        for uri in &entry.redirect_uris {
            validate_redirect_uri(uri).map_err(invalid)?;
        }
        store.ensure_client(ClientKind::OAuth, entry.id).await?;
        for digest in &digests {
            store.add_client_secret_hash(ClientKind::OAuth, entry.id, digest).await?;
        }
        for uri in &entry.redirect_uris {
            store.add_client_redirect_uri(ClientKind::OAuth, entry.id, uri).await?;
        }
        tracing::info!(client.id = %entry.id, "configured OAuth client present");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_uris_must_be_absolute_without_fragment() {
        assert!(validate_redirect_uri("https://app.example/callback").is_ok());
        assert!(validate_redirect_uri("http://127.0.0.1:8765/cb?x=1").is_ok());
        assert!(validate_redirect_uri("com.example.app:/oauth").is_ok());
        assert!(validate_redirect_uri("/relative").is_err());
        assert!(validate_redirect_uri("https://app.example/cb#frag").is_err());
        assert!(validate_redirect_uri(" https://app.example/cb").is_err());
        assert!(validate_redirect_uri("").is_err());
    }
}
