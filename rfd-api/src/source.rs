//! The RFD source the API writes through (reserving numbers, editing documents).
//!
//! It is the one `rfd-processor` reads: `[source]` with `kind = "git"` or `"github"`, or
//! the older `[github]` section, chosen and opened by `rfd-sources` for both binaries.
//! Without a source the write endpoints answer 503 with a message saying so, never 500;
//! reads never need one.

use std::sync::Arc;

use dropshot::HttpError;
use rfd_model::source::{RfdSource, SourceLocation};
use rfd_sources::{SourceChoice, SourcesError};

use crate::config::ApiConfig;
use crate::error::unavailable;

/// Opens the source configured in `config`, `None` when there is none. `rfd-api serve`
/// calls it at start, so a source that cannot be used is refused there and not found on
/// the first write.
pub async fn open(config: &ApiConfig) -> Result<Option<Arc<dyn RfdSource>>, SourcesError> {
    match config.source_choice()? {
        Some(choice) => Ok(Some(rfd_sources::open(&choice).await?.source)),
        None => Ok(None),
    }
}

/// The API's source: opened on first use (or given ready), or the reason writes are
/// unavailable.
pub struct ApiSource {
    /// What the config file describes, or why it cannot be used.
    choice: Result<Option<SourceChoice>, String>,
    /// The source once opened. A failed opening is not kept: the next write tries again
    /// (a remote git repository may be back).
    opened: tokio::sync::OnceCell<Arc<dyn RfdSource>>,
}

impl ApiSource {
    /// The source `config` describes, opened on the first write (building the context
    /// needs no runtime). A config that cannot be used is logged and leaves writes
    /// unavailable; reads keep working.
    pub fn from_config(config: &ApiConfig) -> Self {
        let choice = config.source_choice().map_err(|err| {
            tracing::error!(error = %err, "the RFD source is not usable; RFD writes answer 503");
            "the RFD source is misconfigured: RFD writes are unavailable".to_string()
        });
        Self { choice, opened: tokio::sync::OnceCell::new() }
    }

    /// A source opened already (`rfd-api serve` opens it at start).
    pub fn ready(config: &ApiConfig, source: Arc<dyn RfdSource>) -> Self {
        let mut api_source = Self::from_config(config);
        api_source.opened = tokio::sync::OnceCell::new_with(Some(source));
        api_source
    }

    /// Which repository holds the RFDs, without opening it; `None` without a usable source.
    pub fn location(&self) -> Option<SourceLocation> {
        match &self.choice {
            Ok(Some(choice)) => Some(choice.location()),
            _ => None,
        }
    }

    /// The source, opened if it was not yet, or 503 saying why there is none.
    pub async fn get(&self) -> Result<&Arc<dyn RfdSource>, HttpError> {
        if let Some(source) = self.opened.get() {
            return Ok(source);
        }
        let choice = match &self.choice {
            Ok(Some(choice)) => choice,
            Ok(None) => {
                return Err(unavailable(
                    "no RFD source is configured: RFD writes need a [source] section (kind = \"git\" or \"github\") in the config file",
                ));
            }
            Err(reason) => return Err(unavailable(reason)),
        };
        self.opened
            .get_or_try_init(|| async { rfd_sources::open(choice).await.map(|opened| opened.source) })
            .await
            .map_err(|err| {
                tracing::error!(error = %err, "the RFD source could not be opened; RFD writes answer 503");
                unavailable("the RFD source could not be opened: RFD writes are unavailable for now")
            })
    }
}
