//! `rfd-sources`: which RFD source the config file describes, and opening it.
//!
//! Both binaries read the repository from the same keys: `[source]` with `kind = "git"`
//! or `kind = "github"`, or the older layout, a `[github]` section without `[source]
//! kind`. `rfd-api` writes through the source (reserving numbers, editing documents) and
//! `rfd-processor` reads from it; both call [`choose`] and [`open`] here, so one config
//! file gives both the same source, and a contradiction in it is refused by both with
//! the same message.

use std::path::Path;
use std::sync::Arc;

use rfd_git::{GitSettings, GitSource};
use rfd_github::{GitHubAuth, GitHubConfig, GitHubSource};
use rfd_model::source::{RfdSource, SourceKind, SourceLocation, SourceSection};

/// Why the source could not be chosen or opened. No message holds a secret (tokens are
/// never printed, URLs only without credentials).
#[derive(Debug, thiserror::Error)]
pub enum SourcesError {
    /// The config file contradicts itself or misses a key; the message names the key.
    #[error("{0}")]
    Config(String),
    /// The plain git repository could not be opened (or its mirror fetched).
    #[error("opening the git source ([source]): {0}")]
    Git(#[from] rfd_git::GitError),
    /// The GitHub client could not be set up (an API URL, a key file).
    #[error("setting up the GitHub client: {0}")]
    GitHub(#[from] rfd_github::GitHubError),
}

/// The source `[source]` (or the older `[github]`) describes.
#[derive(Debug, Clone)]
pub enum SourceChoice {
    /// A plain git repository.
    Git(GitSettings),
    /// A GitHub repository.
    GitHub(Box<GitHubConfig>),
}

impl SourceChoice {
    /// Which repository, and where the RFDs are in it.
    pub fn location(&self) -> SourceLocation {
        match self {
            Self::Git(settings) => settings.location.clone(),
            Self::GitHub(github) => SourceLocation {
                owner: github.owner.clone(),
                repository: github.repository.clone(),
                default_branch: github.default_branch.clone(),
                rfd_dir: github.rfd_dir.clone(),
            },
        }
    }
}

/// Which source to build: `[source] kind`, or a `[github]` section without it; `None`
/// when neither is configured.
///
/// A contradiction (both layouts at once, `[github] rfd_dir` disagreeing with the one key
/// `[source] rfd_dir`) is an error naming the key to use. A GitHub App key path that is
/// relative is read from `config_dir`, the directory of the config file.
pub fn choose(
    section: &SourceSection,
    github: Option<&GitHubConfig>,
    config_dir: &Path,
) -> Result<Option<SourceChoice>, SourcesError> {
    let config = |message: String| SourcesError::Config(message);
    let choice = match (section.kind, github) {
        (Some(kind), Some(_)) => {
            return Err(config(format!(
                "[source] kind = {:?} and a [github] section: keep only [source] (with the GitHub keys in it for kind = \"github\")",
                format!("{kind:?}").to_lowercase()
            )));
        }
        (Some(SourceKind::Git), None) => SourceChoice::Git(GitSettings::from_section(section)?),
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
            if section.path.is_some() || section.url.is_some() || section.mirror_dir.is_some() {
                return Err(config(
                    "[source] `path`, `url` and `mirror_dir` are only for kind = \"git\"".into(),
                ));
            }
            keys.insert("default_branch".into(), section.default_branch.clone().into());
            keys.insert("rfd_dir".into(), section.rfd_dir.clone().into());
            // serde's message names the missing or wrong key; a value is never in it
            // (`auth` is parsed into a secret before anything could print it).
            let github: GitHubConfig = serde_json::from_value(serde_json::Value::Object(keys))
                .map_err(|err| config(format!("[source] (kind = \"github\"): {err}")))?;
            SourceChoice::GitHub(Box::new(github))
        }
        (None, Some(github)) => {
            if github.rfd_dir.trim_matches('/') != section.rfd_dir.trim_matches('/') {
                return Err(config(format!(
                    "`github.rfd_dir` is replaced by `source.rfd_dir`, the one key both binaries read: \
                     set [source] rfd_dir = {:?} and remove it from [github]",
                    github.rfd_dir
                )));
            }
            SourceChoice::GitHub(Box::new(github.clone()))
        }
        (None, None) => {
            if section.path.is_some() || section.url.is_some() {
                return Err(config("[source] has `path` or `url` but no `kind`: add kind = \"git\"".into()));
            }
            return Ok(None);
        }
    };
    Ok(Some(match choice {
        SourceChoice::GitHub(mut github) => {
            github.auth = resolve_key_path(&github.auth, config_dir);
            SourceChoice::GitHub(github)
        }
        git => git,
    }))
}

/// An App private key path relative to the config file is read from beside it.
fn resolve_key_path(auth: &GitHubAuth, config_dir: &Path) -> GitHubAuth {
    match auth {
        GitHubAuth::App { app_id, installation_id, private_key_path } if private_key_path.is_relative() => {
            GitHubAuth::App {
                app_id: *app_id,
                installation_id: *installation_id,
                private_key_path: config_dir.join(private_key_path),
            }
        }
        other => other.clone(),
    }
}

/// An opened source.
#[derive(Clone)]
pub struct OpenedSource {
    /// The source, as both binaries use it.
    pub source: Arc<dyn RfdSource>,
    /// The same source when it is GitHub: its call counts and rate limit go to metrics.
    pub github: Option<Arc<GitHubSource>>,
}

impl std::fmt::Debug for OpenedSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenedSource").field("location", self.source.location()).finish_non_exhaustive()
    }
}

/// Opens `choice`: a git repository is opened (a remote one mirrored and fetched here),
/// a GitHub client set up (no call is made).
pub async fn open(choice: &SourceChoice) -> Result<OpenedSource, SourcesError> {
    Ok(match choice {
        SourceChoice::Git(settings) => {
            OpenedSource { source: Arc::new(GitSource::open(settings).await?), github: None }
        }
        SourceChoice::GitHub(github) => {
            let github = Arc::new(GitHubSource::new(github)?);
            OpenedSource { source: github.clone(), github: Some(github) }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize)]
    struct File {
        #[serde(default)]
        source: SourceSection,
        #[serde(default)]
        github: Option<GitHubConfig>,
    }

    fn choice(text: &str) -> Result<Option<SourceChoice>, String> {
        let file: File = toml::from_str(text).map_err(|e| e.to_string())?;
        choose(&file.source, file.github.as_ref(), Path::new("/etc/rfd")).map_err(|e| e.to_string())
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
    fn app_keys_are_read_beside_the_config_file() {
        let app = choice(
            "[source]\nkind = \"github\"\nowner = \"acme\"\nrepository = \"rfd\"\n\
             auth = { app_id = 1, installation_id = 2, private_key_path = \"keys/app.pem\" }\n",
        );
        let path = match &app {
            Ok(Some(SourceChoice::GitHub(github))) => match &github.auth {
                GitHubAuth::App { private_key_path, .. } => private_key_path.clone(),
                other => panic!("{other:?}"),
            },
            other => panic!("{other:?}"),
        };
        assert_eq!(path, Path::new("/etc/rfd/keys/app.pem"));
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
        let github_with_path = choice(
            "[source]\nkind = \"github\"\nowner = \"a\"\nrepository = \"r\"\npath = \"/a\"\nauth = { token = \"t\" }\n",
        );
        assert!(
            github_with_path.as_ref().err().is_some_and(|e| e.contains("only for kind = \"git\"")),
            "{github_with_path:?}"
        );
        let secret = choice(
            "[source]\nkind = \"github\"\nowner = \"a\"\nrepository = \"r\"\nauth = { token = \"hunter2\", app_id = 1 }\n",
        );
        assert!(secret.as_ref().err().is_some_and(|e| !e.contains("hunter2")), "{secret:?}");
    }

    #[tokio::test]
    async fn a_missing_git_repository_is_refused_at_open() {
        let dir = tempfile::tempdir().map_err(|e| e.to_string());
        let Ok(dir) = dir else { panic!("tempdir") };
        let missing = dir.path().join("missing.git");
        let text = format!("[source]\nkind = \"git\"\npath = {:?}\n", missing.display().to_string());
        let chosen = choice(&text);
        let Ok(Some(chosen)) = chosen else { panic!("{chosen:?}") };
        let opened = open(&chosen).await;
        assert!(matches!(opened, Err(SourcesError::Git(_))), "{opened:?}");
    }
}
