//! `rfd-git`: a plain git repository as the RFD platform's source.
//!
//! [`GitSource`] implements [`RfdSource`] over a repository on this machine, read with
//! `gix`: the one people push to (`[source] path`), or a local mirror of a remote one
//! (`[source] url`) that the `git` program fetches into. It has no pull requests
//! ([`RfdSource::pull_requests`] is `None`), so the pipeline skips those actions; every
//! other action works.
//!
//! Writes ([`RfdSource::commit_file`], [`RfdSource::create_branch`]) build the objects
//! with `gix` and hand them over with `git push`, to the path or the URL alike: the
//! branch only moves if it is still where the commit started (a push that is not a fast
//! forward is refused), and the repository's hooks see the platform's commits as they see
//! anyone's, so its post-receive hook triggers the platform for them too.

mod git;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use rfd_model::source::{
    Branch, CommitInfo, PullRequestHost, RfdFolder, RfdSource, RfdTreeEntry, SourceError, SourceKind,
    SourceLocation, SourceResult, SourceSection,
};

/// How long one `git` command (fetch, push) may take.
const GIT_TIMEOUT: Duration = Duration::from_secs(120);

/// How often a write is rebuilt on a branch that moved while it was being written.
const WRITE_ATTEMPTS: usize = 5;

/// Why a [`GitSource`] could not be set up. No message holds the URL's credentials.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    /// `[source]` does not describe a plain git repository.
    #[error("[source]: {0}")]
    Config(String),
    /// The repository could not be opened.
    #[error("cannot open the git repository {path}: {reason}")]
    Open {
        /// Where it was looked for.
        path: PathBuf,
        /// Why it failed.
        reason: String,
    },
    /// The mirror of a remote repository could not be created or fetched.
    #[error("cannot mirror {url}: {reason}")]
    Mirror {
        /// The URL, without credentials.
        url: String,
        /// Why it failed.
        reason: String,
    },
}

/// Where the repository is.
#[derive(Clone, PartialEq, Eq)]
pub enum Repository {
    /// On this machine: read and written in place (a bare repository, normally the one
    /// people push to).
    Path(PathBuf),
    /// Elsewhere: fetched into `mirror` (a bare repository of the platform's own) and
    /// pushed to at `url`.
    Remote {
        /// What `git` fetches from and pushes to.
        url: String,
        /// The local mirror.
        mirror: PathBuf,
    },
}

impl std::fmt::Debug for Repository {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // A URL may carry credentials: only its redacted form is ever printed.
        match self {
            Self::Path(path) => f.debug_tuple("Path").field(path).finish(),
            Self::Remote { url, mirror } => {
                f.debug_struct("Remote").field("url", &redact_url(url)).field("mirror", mirror).finish()
            }
        }
    }
}

/// A plain git source, as `[source]` describes it.
#[derive(Debug, Clone)]
pub struct GitSettings {
    /// Which repository and where the RFDs are in it.
    pub location: SourceLocation,
    /// Where the repository is.
    pub repository: Repository,
    /// Name on the platform's commits.
    pub committer_name: String,
    /// Email on the platform's commits.
    pub committer_email: String,
}

impl GitSettings {
    /// Reads `[source]` with `kind = "git"`: exactly one of `path` and `url`.
    pub fn from_section(section: &SourceSection) -> Result<Self, GitError> {
        if section.kind != Some(SourceKind::Git) {
            return Err(GitError::Config("`kind` must be \"git\" for a plain git source".into()));
        }
        if let Some(key) = section.other.keys().next() {
            return Err(GitError::Config(format!("unknown key `source.{key}` for kind = \"git\"")));
        }
        let location = section
            .location()
            .ok_or_else(|| GitError::Config("kind = \"git\" needs `path` or `url`".into()))?;
        let repository = match (&section.path, &section.url) {
            (Some(path), None) => Repository::Path(path.clone()),
            (None, Some(url)) => Repository::Remote {
                url: url.clone(),
                mirror: section.mirror_dir.clone().unwrap_or_else(|| {
                    PathBuf::from("target/rfd-git-mirror").join(format!("{}.git", location.repository))
                }),
            },
            (Some(_), Some(_)) => {
                return Err(GitError::Config("kind = \"git\" takes `path` or `url`, not both".into()));
            }
            (None, None) => return Err(GitError::Config("kind = \"git\" needs `path` or `url`".into())),
        };
        Ok(Self {
            location,
            repository,
            committer_name: section.committer_name.clone(),
            committer_email: section.committer_email.clone(),
        })
    }
}

pub use rfd_model::source::redact_url;

/// The RFD repository as a plain git repository. Cheap to clone.
#[derive(Clone)]
pub struct GitSource {
    inner: Arc<Inner>,
}

struct Inner {
    location: SourceLocation,
    /// The repository read (the path, or the mirror).
    dir: PathBuf,
    /// Where pushes go (and fetches come from, for a remote).
    push_target: String,
    /// The URL of a remote repository (the mirror is fetched from it).
    remote: Option<String>,
    committer_name: String,
    committer_email: String,
    /// One fetch at a time; concurrent callers wait for it and then see its result.
    fetch_lock: tokio::sync::Mutex<()>,
    /// One write at a time from this process: writes to one branch would otherwise refuse
    /// each other's pushes and retry.
    write_lock: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for GitSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitSource")
            .field("location", &self.inner.location)
            .field("dir", &self.inner.dir)
            .field("remote", &self.inner.remote.as_deref().map(redact_url))
            .finish()
    }
}

impl GitSource {
    /// Opens the repository; for a remote one, creates the mirror if needed and fetches it.
    pub async fn open(settings: &GitSettings) -> Result<Self, GitError> {
        let (dir, push_target, remote) = match &settings.repository {
            Repository::Path(path) => (path.clone(), path.to_string_lossy().into_owned(), None),
            Repository::Remote { url, mirror } => {
                if !mirror.join("HEAD").exists() {
                    std::fs::create_dir_all(mirror).map_err(|err| GitError::Mirror {
                        url: redact_url(url),
                        reason: format!("creating {}: {err}", mirror.display()),
                    })?;
                    git::run(mirror, &["init", "--bare", "--quiet"], None)
                        .await
                        .map_err(|reason| GitError::Mirror { url: redact_url(url), reason })?;
                }
                (mirror.clone(), url.clone(), Some(url.clone()))
            }
        };
        // Opened once here to fail early; every call opens it again (cheap: a few small
        // files), off the async threads, and so always sees the newest refs and packs.
        gix::open(&dir).map_err(|err| GitError::Open { path: dir.clone(), reason: err.to_string() })?;
        let source = Self {
            inner: Arc::new(Inner {
                location: settings.location.clone(),
                dir,
                push_target,
                remote,
                committer_name: settings.committer_name.clone(),
                committer_email: settings.committer_email.clone(),
                fetch_lock: tokio::sync::Mutex::new(()),
                write_lock: tokio::sync::Mutex::new(()),
            }),
        };
        if let Some(url) = &source.inner.remote {
            source
                .fetch()
                .await
                .map_err(|err| GitError::Mirror { url: redact_url(url), reason: err.to_string() })?;
        }
        Ok(source)
    }

    /// The repository read: the path, or the mirror of a remote.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// Brings the mirror up to date with the remote (nothing to do for a local path).
    pub async fn fetch(&self) -> SourceResult<()> {
        let Some(url) = &self.inner.remote else { return Ok(()) };
        let _guard = self.inner.fetch_lock.lock().await;
        git::run(
            &self.inner.dir,
            &["fetch", "--prune", "--quiet", url, "+refs/heads/*:refs/heads/*"],
            Some(url),
        )
        .await
        .map_err(SourceError::Transient)
    }

    /// Runs `f` on a thread-local handle of the repository, off the async threads.
    async fn with_repo<T, F>(&self, f: F) -> SourceResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&gix::Repository, &SourceLocation) -> SourceResult<T> + Send + 'static,
    {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let repo = gix::open(&inner.dir)
                .map_err(|err| SourceError::Other(format!("opening {}: {err}", inner.dir.display())))?;
            f(&repo, &inner.location)
        })
        .await
        .map_err(|err| SourceError::Other(format!("a git read panicked or was cancelled: {err}")))?
    }

    /// Like [`Self::with_repo`], but when `rev` is not in a mirror yet, fetches once and
    /// tries again (a push the mirror has not seen).
    async fn read<T, F>(&self, rev: &str, f: F) -> SourceResult<T>
    where
        T: Send + 'static,
        F: Fn(&gix::Repository, &SourceLocation) -> SourceResult<T> + Send + Sync + 'static,
    {
        let f = Arc::new(f);
        let first = {
            let f = f.clone();
            self.with_repo(move |repo, location| f(repo, location)).await
        };
        match first {
            Err(SourceError::NotFound(what))
                if self.inner.remote.is_some() && what.starts_with("revision") =>
            {
                tracing::debug!(rev, "not in the mirror yet; fetching");
                self.fetch().await?;
                self.with_repo(move |repo, location| f(repo, location)).await
            }
            other => other,
        }
    }

    async fn push(&self, sha: &str, branch: &str) -> Result<(), String> {
        let refspec = format!("{sha}:refs/heads/{branch}");
        git::run(
            &self.inner.dir,
            &["push", "--quiet", "--porcelain", &self.inner.push_target, &refspec],
            self.inner.remote.as_deref(),
        )
        .await
    }
}

#[async_trait]
impl RfdSource for GitSource {
    fn location(&self) -> &SourceLocation {
        &self.inner.location
    }

    async fn branches(&self) -> SourceResult<Vec<Branch>> {
        // The scanner starts here: a mirror is brought up to date first.
        self.fetch().await?;
        self.with_repo(|repo, _| git::branches(repo)).await
    }

    async fn rfd_tree(&self, rev: &str) -> SourceResult<Vec<RfdTreeEntry>> {
        let rev = rev.to_string();
        self.read(&rev.clone(), move |repo, location| git::rfd_tree(repo, location, &rev)).await
    }

    async fn read_rfd(&self, rfd: i32, rev: &str) -> SourceResult<Option<RfdFolder>> {
        let rev = rev.to_string();
        self.read(&rev.clone(), move |repo, location| git::read_rfd(repo, location, rfd, &rev)).await
    }

    async fn read_file(&self, path: &str, rev: &str) -> SourceResult<Vec<u8>> {
        let (path, rev) = (path.trim_start_matches('/').to_string(), rev.to_string());
        self.read(&rev.clone(), move |repo, _| git::read_file(repo, &path, &rev)).await
    }

    async fn rfd_commits(&self, rfd: i32, rev: &str, limit: usize) -> SourceResult<Vec<CommitInfo>> {
        let rev = rev.to_string();
        self.read(&rev.clone(), move |repo, location| {
            git::rfd_commits(repo, &location.rfd_path(rfd), &rev, limit)
        })
        .await
    }

    async fn commit_file(
        &self,
        branch: &str,
        path: &str,
        content: &[u8],
        message: &str,
        expected_sha: Option<&str>,
    ) -> SourceResult<Option<CommitInfo>> {
        let _guard = self.inner.write_lock.lock().await;
        let path = path.trim_start_matches('/').to_string();
        for attempt in 1..=WRITE_ATTEMPTS {
            self.fetch().await?;
            let prepared = {
                let (branch, path, content, message, expected) = (
                    branch.to_string(),
                    path.clone(),
                    content.to_vec(),
                    message.to_string(),
                    expected_sha.map(str::to_string),
                );
                let committer = (self.inner.committer_name.clone(), self.inner.committer_email.clone());
                self.with_repo(move |repo, _| {
                    git::prepare_commit(
                        repo,
                        &branch,
                        &path,
                        &content,
                        &message,
                        expected.as_deref(),
                        &committer,
                    )
                })
                .await?
            };
            let Some(commit) = prepared else {
                tracing::debug!(branch, path, "content unchanged; no commit");
                return Ok(None);
            };
            match self.push(&commit.sha, branch).await {
                Ok(()) => {
                    // A mirror learns its own commit from the remote, like any other.
                    self.fetch().await?;
                    tracing::info!(branch, path, commit = %commit.sha, "committed");
                    return Ok(Some(commit));
                }
                Err(reason) => {
                    // Most likely the branch moved since it was read: rebuild on its new
                    // head (the expected blob is checked again there).
                    tracing::info!(branch, attempt, reason = %reason, "push refused; rebuilding the commit");
                }
            }
        }
        Err(SourceError::Conflict(format!("{branch} kept moving; {WRITE_ATTEMPTS} pushes were refused")))
    }

    async fn create_branch(&self, branch: &str, from: &str) -> SourceResult<()> {
        let _guard = self.inner.write_lock.lock().await;
        self.fetch().await?;
        let (branch_name, from_rev) = (branch.to_string(), from.to_string());
        let (existing, sha) = self
            .with_repo(move |repo, _| {
                let sha = git::resolve(repo, &from_rev)?.ok_or_else(|| git::missing_revision(&from_rev))?;
                let existing = git::resolve_branch(repo, &branch_name)?;
                Ok((existing, sha))
            })
            .await?;
        match existing {
            Some(head) if head == sha => return Ok(()),
            Some(head) => {
                return Err(SourceError::Conflict(format!("branch {branch} exists at {head}")));
            }
            None => {}
        }
        self.push(&sha.to_string(), branch).await.map_err(SourceError::Conflict)?;
        self.fetch().await
    }

    fn pull_requests(&self) -> Option<&dyn PullRequestHost> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_their_credentials() {
        assert_eq!(
            redact_url("https://user:tok@git.example.com/acme/rfd.git"),
            "https://git.example.com/acme/rfd.git"
        );
        assert_eq!(redact_url("https://git.example.com/rfd.git"), "https://git.example.com/rfd.git");
        assert_eq!(redact_url("/srv/git/rfd.git"), "/srv/git/rfd.git");
        assert_eq!(redact_url("https://user:tok@host"), "https://host");
    }

    #[test]
    fn sections_choose_path_or_url() {
        let section = |path: Option<&str>, url: Option<&str>| SourceSection {
            kind: Some(SourceKind::Git),
            path: path.map(PathBuf::from),
            url: url.map(str::to_string),
            ..SourceSection::default()
        };
        let local = GitSettings::from_section(&section(Some("/srv/rfd.git"), None));
        assert!(
            matches!(&local, Ok(s) if s.repository == Repository::Path("/srv/rfd.git".into())),
            "{local:?}"
        );
        let remote = GitSettings::from_section(&section(None, Some("https://h/acme/designs.git")));
        assert!(
            matches!(&remote, Ok(GitSettings { repository: Repository::Remote { mirror, .. }, .. })
                if mirror == Path::new("target/rfd-git-mirror/designs.git")),
            "{remote:?}"
        );
        let both =
            GitSettings::from_section(&section(Some("/a"), Some("https://h/b"))).err().map(|e| e.to_string());
        assert!(both.as_deref().is_some_and(|e| e.contains("not both")), "{both:?}");
        let neither = GitSettings::from_section(&section(None, None)).err().map(|e| e.to_string());
        assert!(neither.as_deref().is_some_and(|e| e.contains("`path` or `url`")), "{neither:?}");
        let mut unknown = section(Some("/a"), None);
        unknown.other.insert("auth".into(), serde_json::Value::Null);
        let unknown = GitSettings::from_section(&unknown).err().map(|e| e.to_string());
        assert!(unknown.as_deref().is_some_and(|e| e.contains("`source.auth`")), "{unknown:?}");
    }
}
