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
    /// The GitHub repository of the RFDs: the older layout, still read when `[source]`
    /// has no `kind`.
    #[serde(default)]
    pub github: Option<rfd_github::GitHubConfig>,
    // ---- gitsource ----
    /// The repository of the RFDs (`kind = "git"` or `"github"`). Without a source jobs
    /// cannot be processed.
    #[serde(default)]
    pub source: rfd_model::source::SourceSection,
    /// Outbound events: who hears of changes to RFDs.
    #[serde(default)]
    pub events: rfd_model::events::EventSettings,
    /// Where the processor serves its Prometheus metrics.
    #[serde(default)]
    pub metrics: crate::metrics::MetricsSettings,
    /// The directory of the config file: a relative GitHub App key path is read from it.
    #[serde(skip)]
    pub config_dir: std::path::PathBuf,
}

pub use rfd_sources::SourceChoice;

impl ProcessorConfig {
    /// Which source to build: `[source] kind`, or a `[github]` section without it, chosen
    /// by [`rfd_sources::choose`] exactly as `rfd-api` chooses it.
    pub fn source_choice(&self) -> anyhow::Result<Option<SourceChoice>> {
        Ok(rfd_sources::choose(&self.source, self.github.as_ref(), &self.config_dir)?)
    }

    /// Builds the configured source, if any (a git mirror is created and fetched here).
    pub async fn open_source(&self) -> anyhow::Result<Option<rfd_sources::OpenedSource>> {
        Ok(match self.source_choice()? {
            Some(choice) => Some(rfd_sources::open(&choice).await?),
            None => None,
        })
    }
}

impl ProcessorConfig {
    /// Loads the file at `path`, then environment overrides.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let mut config: Self = rfd_model::config::load(path)?;
        config.config_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        config
            .events
            .validate()
            .map_err(|reason| ConfigError::Invalid { path: path.display().to_string(), reason })?;
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_config_loads_without_a_source() {
        let path = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../config.example.toml"));
        let config = ProcessorConfig::load(path).map_err(|e| e.to_string());
        assert!(matches!(config.map(|c| c.source_choice().map(|s| s.is_none()).ok()), Ok(Some(true))));
    }

    #[test]
    fn a_contradiction_is_refused_with_the_key_to_use() {
        // The cases are tested in rfd-sources; this checks the processor goes through it.
        let file = tempfile::NamedTempFile::new().map_err(|e| e.to_string());
        let Ok(file) = file else { panic!("temp file") };
        let text = "database_url = \"postgres://x/y\"\n[source]\npath = \"/a\"\n";
        assert!(std::fs::write(file.path(), text).is_ok());
        let config = ProcessorConfig::load(file.path()).map_err(|e| e.to_string());
        let Ok(config) = config else { panic!("{config:?}") };
        let choice = config.source_choice().map_err(|e| e.to_string());
        assert!(choice.as_ref().err().is_some_and(|e| e.contains("kind = \"git\"")), "{choice:?}");
    }
}
