//! The RFD source the API writes through (reserving numbers, editing documents): built
//! once from the configuration.
//!
//! Today that is the `[github]` section (a GitHub repository, `rfd-github`); other kinds of
//! source are added in [`rfd_source`]. Without a source the write endpoints answer 503 with
//! a message saying so, never 500; reads never need one.

use std::sync::Arc;

use dropshot::HttpError;
use rfd_model::source::RfdSource;

use crate::config::ApiConfig;
use crate::error::unavailable;

/// Why the configured source could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SourceSetupError {
    /// The `[github]` section names something unusable (an API URL, a key file).
    #[error("the [github] section cannot be used: {0}")]
    GitHub(#[from] rfd_github::GitHubError),
}

/// The source configured in `config`, `None` when there is none.
pub fn rfd_source(config: &ApiConfig) -> Result<Option<Arc<dyn RfdSource>>, SourceSetupError> {
    match &config.github {
        Some(github) => {
            let github =
                rfd_github::GitHubConfig { auth: resolve_key_path(config, &github.auth), ..github.clone() };
            Ok(Some(Arc::new(rfd_github::GitHubSource::new(&github)?)))
        }
        None => Ok(None),
    }
}

/// An App private key path relative to the config file is read from beside it.
fn resolve_key_path(config: &ApiConfig, auth: &rfd_github::GitHubAuth) -> rfd_github::GitHubAuth {
    match auth {
        rfd_github::GitHubAuth::App { app_id, installation_id, private_key_path } => {
            rfd_github::GitHubAuth::App {
                app_id: *app_id,
                installation_id: *installation_id,
                private_key_path: config.resolve(private_key_path),
            }
        }
        token => token.clone(),
    }
}

/// The API's source: ready, or the reason writes are unavailable.
#[derive(Clone)]
pub enum ApiSource {
    /// Writes go here.
    Ready(Arc<dyn RfdSource>),
    /// Writes answer 503 with this message.
    Unavailable(String),
}

impl ApiSource {
    /// Builds the source from `config`. A source that cannot be set up is logged and
    /// leaves writes unavailable (reads keep working); `rfd-api serve` checks it first.
    pub fn from_config(config: &ApiConfig) -> Self {
        match rfd_source(config) {
            Ok(Some(source)) => Self::Ready(source),
            Ok(None) => Self::Unavailable(
                "no RFD source is configured: RFD writes need a [github] section in the config file".into(),
            ),
            Err(err) => {
                tracing::error!(error = %err, "the RFD source is not usable; RFD writes answer 503");
                Self::Unavailable("the RFD source is misconfigured: RFD writes are unavailable".into())
            }
        }
    }

    /// The source, or 503 saying why there is none.
    pub fn get(&self) -> Result<&Arc<dyn RfdSource>, HttpError> {
        match self {
            Self::Ready(source) => Ok(source),
            Self::Unavailable(reason) => Err(unavailable(reason)),
        }
    }
}
