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
}

/// The source `[source]` (or the older `[github]`) describes.
#[derive(Debug)]
pub enum SourceChoice {
    /// A plain git repository.
    Git(rfd_git::GitSettings),
    /// A GitHub repository.
    GitHub(Box<rfd_github::GitHubConfig>),
}

impl ProcessorConfig {
    /// Which source to build: `[source] kind`, or a `[github]` section without it. A
    /// contradiction (both layouts at once, `[github] rfd_dir` disagreeing with the one
    /// key `[source] rfd_dir`) is an error naming the key to use.
    pub fn source_choice(&self) -> anyhow::Result<Option<SourceChoice>> {
        use rfd_model::source::SourceKind;
        let section = &self.source;
        match (section.kind, &self.github) {
            (Some(kind), Some(_)) => anyhow::bail!(
                "[source] kind = {:?} and a [github] section: keep only [source] (with the GitHub keys in it for kind = \"github\")",
                format!("{kind:?}").to_lowercase()
            ),
            (Some(SourceKind::Git), None) => {
                Ok(Some(SourceChoice::Git(rfd_git::GitSettings::from_section(section)?)))
            }
            (Some(SourceKind::Github), None) => {
                let mut keys = serde_json::Map::new();
                for (key, value) in &section.other {
                    keys.insert(key.clone(), value.clone());
                }
                for (key, value) in [("owner", &section.owner), ("repository", &section.repository)] {
                    if let Some(value) = value {
                        keys.insert(key.into(), value.clone().into());
                    }
                }
                for key in ["path", "url", "mirror_dir"] {
                    anyhow::ensure!(!keys.contains_key(key), "[source] `{key}` is only for kind = \"git\"");
                }
                keys.insert("default_branch".into(), section.default_branch.clone().into());
                keys.insert("rfd_dir".into(), section.rfd_dir.clone().into());
                let config: rfd_github::GitHubConfig =
                    serde_json::from_value(serde_json::Value::Object(keys))
                        .map_err(|err| anyhow::anyhow!("[source] (kind = \"github\"): {err}"))?;
                Ok(Some(SourceChoice::GitHub(Box::new(config))))
            }
            (None, Some(github)) => {
                anyhow::ensure!(
                    github.rfd_dir.trim_matches('/') == section.rfd_dir.trim_matches('/'),
                    "`github.rfd_dir` is replaced by `source.rfd_dir`, the one key both binaries read: \
                     set [source] rfd_dir = {:?} and remove it from [github]",
                    github.rfd_dir
                );
                Ok(Some(SourceChoice::GitHub(Box::new(github.clone()))))
            }
            (None, None) => {
                anyhow::ensure!(
                    section.path.is_none() && section.url.is_none(),
                    "[source] has `path` or `url` but no `kind`: add kind = \"git\""
                );
                Ok(None)
            }
        }
    }

    /// Builds the configured source, if any (a git mirror is created and fetched here).
    pub async fn open_source(
        &self,
    ) -> anyhow::Result<Option<std::sync::Arc<dyn rfd_model::source::RfdSource>>> {
        use anyhow::Context as _;
        Ok(match self.source_choice()? {
            None => None,
            Some(SourceChoice::Git(settings)) => Some(std::sync::Arc::new(
                rfd_git::GitSource::open(&settings).await.context("opening the git source ([source])")?,
            )),
            Some(SourceChoice::GitHub(github)) => Some(std::sync::Arc::new(
                rfd_github::GitHubSource::new(&github).context("setting up the GitHub client")?,
            )),
        })
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn choice(text: &str) -> Result<Option<SourceChoice>, String> {
        let file = tempfile::NamedTempFile::new().map_err(|e| e.to_string())?;
        std::fs::write(file.path(), format!("database_url = \"postgres://x/y\"\n{text}"))
            .map_err(|e| e.to_string())?;
        let config = ProcessorConfig::load(file.path()).map_err(|e| e.to_string())?;
        config.source_choice().map_err(|e| e.to_string())
    }

    #[test]
    fn the_example_config_loads_without_a_source() {
        let path = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../config.example.toml"));
        let config = ProcessorConfig::load(path).map_err(|e| e.to_string());
        assert!(matches!(config.map(|c| c.source_choice().map(|s| s.is_none()).ok()), Ok(Some(true))));
    }

    #[test]
    fn source_kinds_and_the_older_layout() {
        let git = choice("[source]\nkind = \"git\"\npath = \"/srv/rfd.git\"\nrfd_dir = \"docs\"\n");
        assert!(
            matches!(&git, Ok(Some(SourceChoice::Git(s))) if s.location.rfd_dir == "docs" && s.location.repository == "rfd"),
            "{git:?}"
        );
        let github = choice(
            "[source]\nkind = \"github\"\nowner = \"acme\"\nrepository = \"rfd\"\nrfd_dir = \"docs\"\nauth = { token = \"t\" }\n",
        );
        assert!(
            matches!(&github, Ok(Some(SourceChoice::GitHub(g))) if g.rfd_dir == "docs" && g.owner == "acme"),
            "{github:?}"
        );
        let legacy = choice(
            "[github]\nowner = \"acme\"\nrepository = \"rfd\"\ndefault_branch = \"main\"\nauth = { token = \"t\" }\n",
        );
        assert!(
            matches!(&legacy, Ok(Some(SourceChoice::GitHub(_)))),
            "the older [github] still works: {legacy:?}"
        );
        assert!(matches!(choice(""), Ok(None)));
    }

    #[test]
    fn contradictions_name_the_key_to_use() {
        let moved = choice(
            "[github]\nowner = \"a\"\nrepository = \"r\"\ndefault_branch = \"main\"\nrfd_dir = \"docs\"\nauth = { token = \"t\" }\n",
        );
        assert!(moved.as_ref().err().is_some_and(|e| e.contains("`source.rfd_dir`")), "{moved:?}");
        let both = choice(
            "[source]\nkind = \"git\"\npath = \"/a\"\n[github]\nowner = \"a\"\nrepository = \"r\"\ndefault_branch = \"main\"\nauth = { token = \"t\" }\n",
        );
        assert!(both.as_ref().err().is_some_and(|e| e.contains("keep only [source]")), "{both:?}");
        let kindless = choice("[source]\npath = \"/a\"\n");
        assert!(kindless.as_ref().err().is_some_and(|e| e.contains("kind = \"git\"")), "{kindless:?}");
        let github_missing = choice("[source]\nkind = \"github\"\nowner = \"a\"\n");
        assert!(
            github_missing.as_ref().err().is_some_and(|e| e.contains("kind = \"github\"")),
            "{github_missing:?}"
        );
        let secret = choice(
            "[source]\nkind = \"github\"\nowner = \"a\"\nrepository = \"r\"\nauth = { token = \"hunter2\", app_id = 1 }\n",
        );
        assert!(secret.as_ref().err().is_some_and(|e| !e.contains("hunter2")), "{secret:?}");
    }
}
