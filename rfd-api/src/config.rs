//! `rfd-api`'s configuration: its view of the platform's TOML file.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

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
    /// The RFD repository (`[source]`, shared with the processor).
    #[serde(default)]
    pub source: SourceSection,
    /// Access tokens (JWTs) and their keys.
    #[serde(default)]
    pub jwt: JwtSection,
    /// Users, groups and mappers.
    #[serde(default)]
    pub auth: AuthSection,
    /// The older layout of the GitHub repository (`[source] kind = "github"` is the newer):
    /// still read when `[source]` has no `kind` (see [`crate::source`]).
    #[serde(default)]
    pub github: Option<rfd_github::GitHubConfig>,
    /// Magic-link login: the mail server and the email of each channel.
    #[serde(default)]
    pub magic_link: crate::magic_link::MagicLinkSection,
    /// The search index `GET /rfd-search` queries: the same `[search]` keys, and the same
    /// struct, as `rfd-processor` (which writes the index).
    #[serde(default)]
    pub search: rfd_model::search::SearchSettings,
    /// Where the processor puts images and PDFs: the same `[storage]` keys and struct as
    /// `rfd-processor`. A local directory is served under `/storage/…`.
    #[serde(default)]
    pub storage: rfd_model::storage::StorageConfig,
    /// The directory of the config file: relative paths in it are relative to this.
    #[serde(skip)]
    pub config_dir: PathBuf,
    // ---- gitsource ----
    /// `POST /trigger/{id}` for git servers' post-receive hooks.
    #[serde(default)]
    pub trigger: crate::trigger::TriggerSection,
}

/// `[jwt]`
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JwtSection {
    /// Seconds an access token stays valid.
    pub default_expiration_secs: u64,
    /// Signing and verification keys. Every key verifies and is published in
    /// `/.well-known/jwks.json`; the first key with a `private` PEM signs. To rotate,
    /// add the new key first (with its private PEM), keep the old one without it until
    /// its tokens have expired, then remove it.
    pub keys: Vec<JwtKeyConfig>,
}

impl Default for JwtSection {
    fn default() -> Self {
        Self { default_expiration_secs: 3600, keys: Vec::new() }
    }
}

/// `[[jwt.keys]]`: one RSA key pair (or public key only).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtKeyConfig {
    /// The key id (`kid`) tokens name it by.
    pub kid: String,
    /// Path of the public key (SPKI `PUBLIC KEY` or PKCS#1 `RSA PUBLIC KEY` PEM).
    pub public: PathBuf,
    /// Path of the private key (PKCS#8 or PKCS#1 PEM), for the key that signs.
    pub private: Option<PathBuf>,
}

/// `[auth]`
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthSection {
    /// A mappers.toml (groups and login mappers) applied at every start.
    pub mappers: Option<PathBuf>,
    /// OAuth clients that must exist (`[[auth.oauth_clients]]`), created at every
    /// start if missing.
    pub oauth_clients: Vec<crate::clients::ConfiguredOAuthClient>,
    /// `[auth.github]`: login with GitHub (absent: GitHub login is off).
    pub github: Option<crate::auth::oauth::config::OAuthProviderConfig>,
    /// `[auth.google]`: login with Google (absent: Google login is off).
    pub google: Option<crate::auth::oauth::config::OAuthProviderConfig>,
}

/// `[source]`: the one section both binaries read the repository from (`rfd_dir` is
/// the one key for the RFD folder).
pub use rfd_model::source::SourceSection;

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
}

impl Default for ApiSection {
    fn default() -> Self {
        Self {
            address: SocketAddr::from(([127, 0, 0, 1], 8080)),
            public_url: None,
            request_body_max_bytes: 1024 * 1024,
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
        let mut config: Self = rfd_model::config::load(path)?;
        config.config_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Ok(config)
    }

    /// The source RFD writes go through: `[source] kind`, or a `[github]` section without
    /// it, chosen by [`rfd_sources::choose`] exactly as `rfd-processor` chooses it.
    pub fn source_choice(&self) -> Result<Option<rfd_sources::SourceChoice>, rfd_sources::SourcesError> {
        rfd_sources::choose(&self.source, self.github.as_ref(), &self.config_dir)
    }

    /// A path from the config file, resolved against the file's directory.
    pub fn resolve(&self, path: &Path) -> PathBuf {
        if path.is_absolute() { path.to_path_buf() } else { self.config_dir.join(path) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_config_loads() {
        let path = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../config.example.toml"));
        let config = ApiConfig::load(path);
        assert!(config.as_ref().is_ok_and(|c| c.jwt.default_expiration_secs == 3600), "{:?}", config.err());
    }

    #[test]
    fn relative_paths_follow_the_config_file() {
        let config = ApiConfig {
            config_dir: PathBuf::from("/etc/rfd"),
            ..toml_config("database_url = \"postgres://x\"\n")
        };
        assert_eq!(config.resolve(Path::new("mappers.toml")), PathBuf::from("/etc/rfd/mappers.toml"));
        assert_eq!(config.resolve(Path::new("/abs/k.pem")), PathBuf::from("/abs/k.pem"));
    }

    fn toml_config(text: &str) -> ApiConfig {
        toml::from_str(text).unwrap_or_else(|err| panic!("{err}"))
    }
}
