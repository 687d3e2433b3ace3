//! `rfd-processor`'s configuration: its view of the platform's TOML file.

use std::path::Path;

use rfd_model::PoolSettings;
use rfd_model::config::{ConfigError, LogFormat};
use secrecy::SecretString;
use serde::Deserialize;

/// Everything `rfd-processor` reads from the config file (other sections are ignored).
#[derive(Debug, Deserialize)]
pub struct ProcessorConfig {
    /// PostgreSQL URL; `DATABASE_URL` overrides it.
    pub database_url: SecretString,
    /// Connection pool settings.
    #[serde(default)]
    pub database: PoolSettings,
    /// `pretty` (default) or `json`.
    #[serde(default)]
    pub log_format: LogFormat,
    /// The job runner.
    #[serde(default)]
    pub processor: crate::runner::RunnerSettings,
    /// What a job does: mode and actions.
    #[serde(default)]
    pub pipeline: crate::pipeline::PipelineSettings,
    /// The periodic scan for anything webhooks missed.
    #[serde(default)]
    pub scanner: crate::scanner::ScannerSettings,
    /// The search index `UpdateSearch` writes: PostgreSQL (default) or Meilisearch.
    #[serde(default)]
    pub search: rfd_model::search::SearchSettings,
    /// Where images and PDFs go: a local directory (default) or Google Cloud Storage.
    #[serde(default)]
    pub storage: rfd_model::storage::StorageConfig,
    /// The programs that render PDFs.
    #[serde(default)]
    pub pdf: crate::pipeline::update_pdfs::PdfSettings,
    /// The GitHub repository of the RFDs. Without it jobs cannot be processed.
    #[serde(default)]
    pub github: Option<rfd_github::GitHubConfig>,
    /// Outbound events: who hears of changes to RFDs.
    #[serde(default)]
    pub events: rfd_model::events::EventSettings,
    /// Where the processor serves its Prometheus metrics.
    #[serde(default)]
    pub metrics: crate::metrics::MetricsSettings,
}

impl ProcessorConfig {
    /// Loads the file at `path`, then environment overrides.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let config: Self = rfd_model::config::load(path)?;
        config
            .events
            .validate()
            .map_err(|reason| ConfigError::Invalid { path: path.display().to_string(), reason })?;
        Ok(config)
    }
}
