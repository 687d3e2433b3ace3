//! `rfd-github`: everything GitHub for the RFD platform.
//!
//! - [`webhook`]: webhook payload types, signature verification and push planning.
//! - [`GitHubSource`]: the RFD repository on GitHub (octorust), implementing
//!   [`rfd_model::source::RfdSource`] and [`rfd_model::source::PullRequestHost`], with
//!   call counting, rate-limit waits and retries.

mod client;
mod config;
mod source;
pub mod webhook;

use std::path::PathBuf;

pub use config::{GitHubAuth, GitHubConfig, RetryConfig};
pub use source::GitHubSource;

/// Why a [`GitHubSource`] could not be built. No message holds a secret.
#[derive(Debug, thiserror::Error)]
pub enum GitHubError {
    /// `api_url` is not a URL.
    #[error("invalid GitHub api_url {url:?}")]
    InvalidApiUrl {
        /// The configured value.
        url: String,
    },
    /// The app's private key file could not be read.
    #[error("cannot read the GitHub App private key {path}: {source}")]
    ReadPrivateKey {
        /// The configured path.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The app's private key is not an RSA key in PEM.
    #[error("the GitHub App private key {path} is not a PEM RSA key: {reason}")]
    InvalidPrivateKey {
        /// The configured path.
        path: PathBuf,
        /// What is wrong with it (never its content).
        reason: String,
    },
    /// The HTTP client could not be built (TLS set-up).
    #[error("cannot build the HTTP client: {source}")]
    HttpClient {
        /// The cause.
        source: reqwest::Error,
    },
}
