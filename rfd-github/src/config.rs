//! How to reach the RFD repository on GitHub.

use std::path::PathBuf;
use std::time::Duration;

use rfd_model::source::SourceLocation;
use secrecy::SecretString;
use serde::Deserialize;

/// The GitHub source: which repository, how to authenticate, how patient to be.
///
/// ```toml
/// owner = "oxidecomputer"
/// repository = "rfd"
/// default_branch = "main"
/// auth = { app_id = 1, installation_id = 2, private_key_path = "/etc/rfd/app.pem" }
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GitHubConfig {
    /// Repository owner (organisation or user).
    pub owner: String,
    /// Repository name.
    pub repository: String,
    /// The branch RFDs are merged into.
    pub default_branch: String,
    /// The folder holding one folder per RFD.
    #[serde(default = "default_rfd_dir")]
    pub rfd_dir: String,
    /// The REST API base URL (GitHub Enterprise, or a fake in tests).
    #[serde(default = "default_api_url")]
    pub api_url: String,
    /// The credentials.
    pub auth: GitHubAuth,
    /// Retries and waits.
    #[serde(default)]
    pub retry: RetryConfig,
}

/// GitHub credentials: a GitHub App installation (preferred: 5,000 calls an hour per
/// installation, tokens that expire) or a token.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "AuthFields")]
pub enum GitHubAuth {
    /// A GitHub App installation; installation tokens are minted and refreshed as needed.
    App {
        /// The app id.
        app_id: i64,
        /// The installation id on the RFD repository's owner.
        installation_id: i64,
        /// The app's private key (PEM, PKCS#1 or PKCS#8).
        private_key_path: PathBuf,
    },
    /// A personal access token or another fixed token.
    Token {
        /// The token (never logged).
        token: SecretString,
    },
}

/// The keys `auth` may have; which of them are present decides the kind of credentials,
/// so a missing one is reported by name (an untagged enum would only say "no variant").
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AuthFields {
    app_id: Option<i64>,
    installation_id: Option<i64>,
    private_key_path: Option<PathBuf>,
    token: Option<SecretString>,
}

impl TryFrom<AuthFields> for GitHubAuth {
    type Error = String;

    fn try_from(fields: AuthFields) -> Result<Self, Self::Error> {
        let AuthFields { app_id, installation_id, private_key_path, token } = fields;
        let any_app = app_id.is_some() || installation_id.is_some() || private_key_path.is_some();
        match (token, any_app) {
            (Some(_), true) => Err(
                "auth takes either `token` or `app_id`, `installation_id` and `private_key_path`, not both"
                    .to_string(),
            ),
            (Some(token), false) => Ok(GitHubAuth::Token { token }),
            (None, false) => Err(
                "auth needs `token`, or `app_id`, `installation_id` and `private_key_path` for a GitHub App"
                    .to_string(),
            ),
            (None, true) => match (app_id, installation_id, private_key_path) {
                (Some(app_id), Some(installation_id), Some(private_key_path)) => {
                    Ok(GitHubAuth::App { app_id, installation_id, private_key_path })
                }
                (app_id, installation_id, key) => {
                    let missing = [
                        app_id.is_none().then_some("`app_id`"),
                        installation_id.is_none().then_some("`installation_id`"),
                        key.is_none().then_some("`private_key_path`"),
                    ];
                    let missing: Vec<&str> = missing.into_iter().flatten().collect();
                    Err(format!("GitHub App auth is missing {}", missing.join(", ")))
                }
            },
        }
    }
}

/// How hard the client tries before giving up.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetryConfig {
    /// Attempts per call for server errors and network failures (1 = no retry).
    pub max_attempts: u32,
    /// The first backoff; doubled per attempt, with jitter.
    pub backoff_base_ms: u64,
    /// The longest backoff between two attempts.
    pub backoff_cap_ms: u64,
    /// The longest the client sleeps for a rate limit to reset before it gives up with
    /// `SourceError::RateLimited` (so a job can be rescheduled instead).
    pub max_rate_limit_wait_secs: u64,
    /// Timeout of one HTTP request.
    pub request_timeout_secs: u64,
}

impl Default for RetryConfig {
    fn default() -> Self {
        Self {
            max_attempts: 4,
            backoff_base_ms: 500,
            backoff_cap_ms: 10_000,
            max_rate_limit_wait_secs: 90,
            request_timeout_secs: 30,
        }
    }
}

impl RetryConfig {
    pub(crate) fn backoff(&self, attempt: u32, jitter: f64) -> Duration {
        let exp = self.backoff_base_ms.saturating_mul(1u64 << attempt.min(16));
        let capped = exp.min(self.backoff_cap_ms.max(1));
        // Full jitter in [capped/2, capped]: spreads retries of many workers.
        Duration::from_millis(capped / 2 + (capped as f64 / 2.0 * jitter) as u64)
    }
}

fn default_rfd_dir() -> String {
    "rfd".to_string()
}

fn default_api_url() -> String {
    "https://api.github.com".to_string()
}

impl GitHubConfig {
    /// The repository as the RFD source trait describes it.
    pub fn location(&self) -> SourceLocation {
        SourceLocation {
            owner: self.owner.clone(),
            repository: self.repository.clone(),
            default_branch: self.default_branch.clone(),
            rfd_dir: self.rfd_dir.trim_matches('/').to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;

    #[test]
    fn token_config_with_defaults() -> Result<(), serde_json::Error> {
        let config: GitHubConfig = serde_json::from_value(serde_json::json!({
            "owner": "o", "repository": "r", "default_branch": "main",
            "auth": { "token": "ghp_secret" }
        }))?;
        assert_eq!(config.rfd_dir, "rfd");
        assert_eq!(config.api_url, "https://api.github.com");
        assert!(matches!(&config.auth, GitHubAuth::Token { token } if token.expose_secret() == "ghp_secret"));
        assert!(!format!("{config:?}").contains("ghp_secret"), "the token must not be printed");
        Ok(())
    }

    #[test]
    fn app_config_and_unknown_fields() -> Result<(), serde_json::Error> {
        let config: GitHubConfig = serde_json::from_value(serde_json::json!({
            "owner": "o", "repository": "r", "default_branch": "main", "rfd_dir": "docs/rfd",
            "api_url": "http://127.0.0.1:1",
            "auth": { "app_id": 1, "installation_id": 2, "private_key_path": "/k.pem" }
        }))?;
        assert!(matches!(config.auth, GitHubAuth::App { app_id: 1, installation_id: 2, .. }));
        let unknown = serde_json::from_value::<GitHubConfig>(serde_json::json!({
            "owner": "o", "repository": "r", "default_branch": "main", "colour": "blue",
            "auth": { "token": "t" }
        }));
        assert!(unknown.is_err());
        Ok(())
    }

    #[test]
    fn auth_errors_name_what_is_missing() {
        let auth = |value: serde_json::Value| {
            serde_json::from_value::<GitHubAuth>(value).map_err(|e| e.to_string()).err().unwrap_or_default()
        };
        let missing = auth(serde_json::json!({ "app_id": 1, "installation_id": 2 }));
        assert!(missing.contains("`private_key_path`"), "{missing}");
        let missing = auth(serde_json::json!({ "app_id": 1, "private_key_path": "/k" }));
        assert!(missing.contains("`installation_id`") && !missing.contains("`app_id`"), "{missing}");
        let both = auth(serde_json::json!({ "app_id": 1, "token": "secret-value" }));
        assert!(both.contains("not both") && !both.contains("secret-value"), "{both}");
        assert!(auth(serde_json::json!({})).contains("needs `token`"));
        assert!(auth(serde_json::json!({ "token": "t", "colour": 1 })).contains("colour"));
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let retry = RetryConfig { backoff_base_ms: 100, backoff_cap_ms: 1000, ..RetryConfig::default() };
        assert_eq!(retry.backoff(0, 1.0), Duration::from_millis(100));
        assert_eq!(retry.backoff(1, 0.0), Duration::from_millis(100));
        assert_eq!(retry.backoff(10, 1.0), Duration::from_millis(1000));
    }
}
