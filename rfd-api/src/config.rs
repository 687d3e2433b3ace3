//! `rfd-api`'s configuration: its view of the platform's TOML file.

use std::net::SocketAddr;
use std::path::Path;

use rfd_model::PoolSettings;
use rfd_model::config::{ConfigError, LogFormat};
use secrecy::SecretString;
use serde::Deserialize;

/// Everything `rfd-api` reads from the config file (other sections are ignored).
#[derive(Debug, Deserialize)]
pub struct ApiConfig {
    /// PostgreSQL URL; `DATABASE_URL` overrides it.
    pub database_url: SecretString,
    /// Connection pool settings.
    #[serde(default)]
    pub database: PoolSettings,
    /// `pretty` (default) or `json`.
    #[serde(default)]
    pub log_format: LogFormat,
    /// The HTTP server.
    #[serde(default)]
    pub api: ApiSection,
    /// GitHub webhook verification.
    #[serde(default)]
    pub webhook: WebhookSection,
    /// The RFD repository.
    #[serde(default)]
    pub source: SourceSection,
}

/// `[source]`
#[derive(Debug, Deserialize)]
#[serde(default)]
pub struct SourceSection {
    /// The directory of the repository holding one folder per RFD (`rfd/0123/…`).
    pub rfd_dir: String,
}

impl Default for SourceSection {
    fn default() -> Self {
        Self { rfd_dir: "rfd".into() }
    }
}

/// `[api]`
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApiSection {
    /// Where to listen.
    pub address: SocketAddr,
    /// The externally visible base URL (defaults to `http://{address}`).
    pub public_url: Option<String>,
    /// Largest request body accepted, in bytes (the webhook endpoint has its own limit).
    pub request_body_max_bytes: usize,
    /// SHA-256 digests (hex) of bearer tokens allowed to manage the job queue. A
    /// placeholder for the permission model of the authentication issue: the tokens
    /// themselves are never stored.
    pub admin_token_sha256: Vec<String>,
}

impl Default for ApiSection {
    fn default() -> Self {
        Self {
            address: SocketAddr::from(([127, 0, 0, 1], 8080)),
            public_url: None,
            request_body_max_bytes: 1024 * 1024,
            admin_token_sha256: Vec::new(),
        }
    }
}

impl ApiSection {
    /// The public base URL, without a trailing slash.
    pub fn public_url(&self) -> String {
        match &self.public_url {
            Some(url) => url.trim_end_matches('/').to_string(),
            None => format!("http://{}", self.address),
        }
    }
}

/// `[webhook]`
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebhookSection {
    /// HMAC secrets; a delivery signed with any one of them is accepted, so a secret
    /// can be rotated by adding the new one before removing the old.
    pub secrets: Vec<SecretString>,
}

impl ApiConfig {
    /// Loads the file at `path`, then environment overrides.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        rfd_model::config::load(path)
    }
}
