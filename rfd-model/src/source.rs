//! Where RFDs come from: the repository they are written in, behind one trait.
//!
//! The processor and the API only speak [`RfdSource`]; GitHub (`rfd-github`) implements
//! it, and a plain git repository can too. Pull requests are a capability of some sources
//! only ([`RfdSource::pull_requests`]): actions that need them are skipped elsewhere.
//!
//! Every method that takes a `rev` accepts a commit sha or a branch name.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::types::ContentFormat;

/// Which repository, and where the RFDs are in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceLocation {
    /// Repository owner (organisation or user).
    pub owner: String,
    /// Repository name.
    pub repository: String,
    /// The branch RFDs are merged into.
    pub default_branch: String,
    /// The folder holding one folder per RFD (`rfd`).
    pub rfd_dir: String,
}

impl SourceLocation {
    /// The folder of one RFD: `rfd/0123`.
    pub fn rfd_path(&self, rfd: i32) -> String {
        format!("{}/{rfd:04}", self.rfd_dir.trim_matches('/'))
    }
}

/// The RFD a branch or folder is for, when it is named after one (`0123` → 123): digits
/// only, at most nine of them.
pub fn rfd_number_of_branch(name: &str) -> Option<i32> {
    if name.is_empty() || name.len() > 9 || !name.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    name.parse().ok()
}

/// One commit, as far as the platform cares.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitInfo {
    /// Full commit sha.
    pub sha: String,
    /// Committer time.
    pub committed_at: DateTime<Utc>,
    /// First line of the message (empty if unknown).
    pub summary: String,
}

/// A branch and the commit at its head.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Branch {
    /// Branch name (`main`, `0123`).
    pub name: String,
    /// Sha of the head commit.
    pub head: String,
}

/// One RFD folder in the tree of a commit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RfdTreeEntry {
    /// The RFD number the folder is named after.
    pub rfd: i32,
    /// The git tree id of the folder: equal ids mean identical contents.
    pub tree_sha: String,
}

/// A file inside an RFD folder (anything but the README).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceFile {
    /// Path relative to the RFD folder (`figures/a.svg`).
    pub path: String,
    /// Git blob id: equal ids mean identical bytes.
    pub sha: String,
    /// Size in bytes.
    pub size: u64,
}

/// The README of an RFD at a commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceReadme {
    /// AsciiDoc (`README.adoc`, preferred when both exist) or Markdown (`README.md`).
    pub format: ContentFormat,
    /// Path from the repository root.
    pub path: String,
    /// Git blob id.
    pub sha: String,
    /// The raw bytes (untrusted: parse with [`crate::document`]).
    pub content: Vec<u8>,
}

/// An RFD folder at a commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RfdFolder {
    /// The README.
    pub readme: SourceReadme,
    /// Every other file of the folder, recursively.
    pub files: Vec<SourceFile>,
    /// The git tree id of the folder.
    pub tree_sha: String,
}

/// Open or closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PullRequestState {
    /// Open.
    Open,
    /// Closed (merged or not).
    Closed,
}

/// A pull request proposing a branch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PullRequest {
    /// Its number in the repository.
    pub number: i64,
    /// Title.
    pub title: String,
    /// Open or closed.
    pub state: PullRequestState,
    /// Whether it was merged.
    pub merged: bool,
    /// Where people discuss it.
    pub html_url: String,
    /// The branch it proposes.
    pub head_branch: String,
    /// The branch it targets.
    pub base_branch: String,
    /// Label names.
    pub labels: Vec<String>,
}

/// Which thread of a pull request a comment is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum CommentKind {
    /// The conversation of the pull request (GitHub's issue comments).
    Issue,
    /// A comment on a line of the diff (GitHub's review comments).
    Review,
}

impl CommentKind {
    /// The label stored in the database: `issue` or `review`.
    pub fn as_str(&self) -> &'static str {
        match self {
            CommentKind::Issue => "issue",
            CommentKind::Review => "review",
        }
    }
}

/// One comment of a pull request's discussion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PullRequestComment {
    /// The host's id of the comment (unique per kind).
    pub id: i64,
    /// Conversation or review comment.
    pub kind: CommentKind,
    /// Who wrote it (the host's login; empty for a deleted account).
    pub author: String,
    /// The text as written (Markdown on GitHub).
    pub body: String,
    /// Where people can read it.
    pub html_url: String,
    /// Review comments: the file commented on.
    pub path: Option<String>,
    /// Review comments: the line of the file (`None` when the line is gone from the diff).
    pub line: Option<i64>,
    /// Review comments: the commit the comment was made on.
    pub commit_sha: Option<String>,
    /// Review comments: the comment this one answers.
    pub in_reply_to: Option<i64>,
    /// When it was written.
    pub created_at: DateTime<Utc>,
    /// When it was last edited.
    pub updated_at: DateTime<Utc>,
}

/// Why a source call failed. [`SourceError::is_transient`] tells whether a retry later can
/// succeed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SourceError {
    /// The file, commit, branch or pull request does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// The credentials were refused or lack a permission.
    #[error("not authorised: {0}")]
    Auth(String),
    /// Rate limited; `retry_after` says when the limit resets.
    #[error("rate limited; retry in {retry_after:?}")]
    RateLimited {
        /// How long until calls succeed again.
        retry_after: Duration,
    },
    /// The write lost a race (the branch moved, the file changed underneath).
    #[error("conflict: {0}")]
    Conflict(String),
    /// A network failure or a server error that may pass.
    #[error("transient failure: {0}")]
    Transient(String),
    /// Anything else (malformed answers, refused input).
    #[error("{0}")]
    Other(String),
}

impl SourceError {
    /// Whether retrying later can succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::RateLimited { .. } | Self::Transient(_) | Self::Conflict(_))
    }
}

/// Result of a source call.
pub type SourceResult<T> = Result<T, SourceError>;

/// A repository of RFDs that can be read at any commit and written back to.
#[async_trait]
pub trait RfdSource: Send + Sync {
    /// Which repository this is.
    fn location(&self) -> &SourceLocation;

    /// Where people can browse `path` on `branch` (the RFD's `link`), if the source has a
    /// web view.
    fn browse_url(&self, branch: &str, path: &str) -> Option<String> {
        let _ = (branch, path);
        None
    }

    /// Every branch with its head commit (one call per hundred branches on GitHub).
    async fn branches(&self) -> SourceResult<Vec<Branch>>;

    /// The RFD folders in the tree of `rev` (one call on GitHub whatever their number).
    /// Entries whose name is not a number are left out. A missing RFD folder is `[]`.
    async fn rfd_tree(&self, rev: &str) -> SourceResult<Vec<RfdTreeEntry>>;

    /// The RFD folder at `rev`: `None` when the folder or its README does not exist.
    async fn read_rfd(&self, rfd: i32, rev: &str) -> SourceResult<Option<RfdFolder>>;

    /// One file at `rev`, by path from the repository root.
    async fn read_file(&self, path: &str, rev: &str) -> SourceResult<Vec<u8>>;

    /// Commits reachable from `rev` that changed the folder of `rfd`, newest first, at
    /// most `limit`.
    async fn rfd_commits(&self, rfd: i32, rev: &str, limit: usize) -> SourceResult<Vec<CommitInfo>>;

    /// Creates or replaces the file at `path` on `branch` with `content` in one new commit.
    ///
    /// - `None` (and no commit) when the file at the branch head already has that content,
    ///   so a retried write is a no-op;
    /// - [`SourceError::Conflict`] when `expected_sha` is given and the file at the branch
    ///   head is no longer that blob (someone changed it since it was read): nothing newer
    ///   is ever overwritten.
    async fn commit_file(
        &self,
        branch: &str,
        path: &str,
        content: &[u8],
        message: &str,
        expected_sha: Option<&str>,
    ) -> SourceResult<Option<CommitInfo>>;

    /// Creates `branch` at commit `from`.
    async fn create_branch(&self, branch: &str, from: &str) -> SourceResult<()>;

    /// Pull requests, if this source has them.
    fn pull_requests(&self) -> Option<&dyn PullRequestHost>;
}

/// A source with pull requests (GitHub).
#[async_trait]
pub trait PullRequestHost: Send + Sync {
    /// Pull requests (open and closed) whose head is `branch`, newest first.
    async fn pull_requests_for_branch(&self, branch: &str) -> SourceResult<Vec<PullRequest>>;

    /// Opens a pull request from `branch` into the default branch.
    async fn create_pull_request(&self, branch: &str, title: &str, body: &str) -> SourceResult<PullRequest>;

    /// Changes the title of pull request `number` (the body is kept).
    async fn update_pull_request_title(&self, number: i64, title: &str) -> SourceResult<()>;

    /// Adds labels to pull request `number` (labels it already has are kept once).
    async fn add_labels(&self, number: i64, labels: &[String]) -> SourceResult<()>;

    /// Removes one label from pull request `number`; absent labels are not an error.
    async fn remove_label(&self, number: i64, label: &str) -> SourceResult<()>;

    /// Every comment of pull request `number`: its conversation and its review comments,
    /// oldest first.
    async fn pull_request_comments(&self, number: i64) -> SourceResult<Vec<PullRequestComment>>;
}

// ---- The `[source]` section (gitsource) ----

/// Which kind of repository holds the RFDs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    /// A plain git repository: a local path, or a URL `git` can fetch into a local mirror.
    Git,
    /// A repository on GitHub (or GitHub Enterprise), with pull requests.
    Github,
}

/// A URL with any `user:password@` removed, for messages and logs.
pub fn redact_url(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) = rest.split_once('/').map_or((rest, None), |(a, p)| (a, Some(p)));
            let host = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
            match path {
                Some(path) => format!("{scheme}://{host}/{path}"),
                None => format!("{scheme}://{host}"),
            }
        }
        None => url.to_string(),
    }
}

/// `[source]` in the config file, read by both binaries: which repository holds the RFDs
/// and where in it they are. `rfd_dir` is the one key for the RFD folder (the API plans
/// webhook pushes with it, the processor reads with it).
///
/// ```toml
/// [source]
/// kind = "git"
/// path = "/srv/git/rfd.git"      # or: url = "https://git.example.com/rfd.git"
/// default_branch = "main"
/// rfd_dir = "rfd"
/// ```
///
/// `kind = "github"` takes the keys of the GitHub source (`owner`, `repository`,
/// `api_url`, `auth`, `retry`) in this same section; they are kept in [`Self::other`] and
/// checked by the processor, which builds the source.
#[derive(Clone, Deserialize)]
#[serde(default)]
pub struct SourceSection {
    /// `git` or `github`; unset keeps the older layout (a `[github]` section) working.
    pub kind: Option<SourceKind>,
    /// The folder holding one folder per RFD (`rfd/0123/README.adoc`).
    pub rfd_dir: String,
    /// The branch RFDs are merged into.
    pub default_branch: String,
    /// Who owns the repository: the organisation on GitHub; for plain git a label kept
    /// with every job (`git` unless set).
    pub owner: Option<String>,
    /// The repository's name: required on GitHub; for plain git the last part of `path`
    /// or `url` without `.git` unless set.
    pub repository: Option<String>,
    /// Plain git: the repository on this machine (bare or not), read and written in place.
    pub path: Option<std::path::PathBuf>,
    /// Plain git: a URL `git` can fetch from and push to; read through a local mirror.
    /// Put credentials in a git credential helper, not here: it is never logged, but it is
    /// passed to `git` on its command line.
    pub url: Option<String>,
    /// Plain git with `url`: where the local mirror lives (`target/rfd-git-mirror/<repository>.git`).
    pub mirror_dir: Option<std::path::PathBuf>,
    /// Plain git: the name and email of commits the platform writes.
    pub committer_name: String,
    /// See `committer_name`.
    pub committer_email: String,
    /// Every other key (the GitHub source's), checked by whoever uses it.
    #[serde(flatten)]
    pub other: std::collections::BTreeMap<String, serde_json::Value>,
}

impl Default for SourceSection {
    fn default() -> Self {
        Self {
            kind: None,
            rfd_dir: "rfd".into(),
            default_branch: "main".into(),
            owner: None,
            repository: None,
            path: None,
            url: None,
            mirror_dir: None,
            committer_name: "rfd-processor".into(),
            committer_email: "rfd-processor@localhost".into(),
            other: std::collections::BTreeMap::new(),
        }
    }
}

impl std::fmt::Debug for SourceSection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // `url` may carry credentials, and the GitHub keys a token: neither is printed.
        f.debug_struct("SourceSection")
            .field("kind", &self.kind)
            .field("rfd_dir", &self.rfd_dir)
            .field("default_branch", &self.default_branch)
            .field("owner", &self.owner)
            .field("repository", &self.repository)
            .field("path", &self.path)
            .field("url", &self.url.as_deref().map(redact_url))
            .field("mirror_dir", &self.mirror_dir)
            .field("other_keys", &self.other.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl SourceSection {
    /// The repository as jobs name it, for a configured `kind`; `None` without one. The
    /// API names the jobs of a trigger with it, the processor reads with it.
    pub fn location(&self) -> Option<SourceLocation> {
        let (owner, repository) = match self.kind? {
            SourceKind::Github => (self.owner.clone()?, self.repository.clone()?),
            SourceKind::Git => {
                let owner = self.owner.clone().unwrap_or_else(|| "git".into());
                let repository = match &self.repository {
                    Some(name) => name.clone(),
                    None => repository_name(
                        self.path
                            .as_ref()
                            .map(|p| p.to_string_lossy().into_owned())
                            .or(self.url.clone())?
                            .as_str(),
                    ),
                };
                (owner, repository)
            }
        };
        Some(SourceLocation {
            owner,
            repository,
            default_branch: self.default_branch.clone(),
            rfd_dir: self.rfd_dir.trim_matches('/').to_string(),
        })
    }
}

/// The name of a repository from its path or URL: the last segment without `.git`
/// (`/srv/git/rfd.git` → `rfd`, `https://h/acme/rfd` → `rfd`).
pub fn repository_name(path_or_url: &str) -> String {
    let trimmed = path_or_url.trim_end_matches(['/', '\\']);
    let last = trimmed.rsplit(['/', '\\', ':']).next().unwrap_or(trimmed);
    let name = last.strip_suffix(".git").unwrap_or(last);
    if name.is_empty() { "rfd".into() } else { name.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfd_branches_are_four_or_more_digits() {
        assert_eq!(rfd_number_of_branch("0123"), Some(123));
        assert_eq!(rfd_number_of_branch("12345"), Some(12345));
        assert_eq!(rfd_number_of_branch("7"), Some(7));
        assert_eq!(rfd_number_of_branch(""), None);
        assert_eq!(rfd_number_of_branch("main"), None);
        assert_eq!(rfd_number_of_branch("01a3"), None);
        assert_eq!(rfd_number_of_branch("99999999999"), None);
    }

    #[test]
    fn rfd_paths_are_zero_padded() {
        let location = SourceLocation {
            owner: "o".into(),
            repository: "r".into(),
            default_branch: "main".into(),
            rfd_dir: "rfd/".into(),
        };
        assert_eq!(location.rfd_path(7), "rfd/0007");
        assert_eq!(location.rfd_path(12345), "rfd/12345");
    }

    #[test]
    fn git_sections_name_their_repository() {
        assert_eq!(repository_name("/srv/git/rfd.git"), "rfd");
        assert_eq!(repository_name("https://git.example.com/acme/designs.git/"), "designs");
        assert_eq!(repository_name("git@host:acme/rfd"), "rfd");
        let section = SourceSection {
            kind: Some(SourceKind::Git),
            path: Some("/srv/git/docs.git".into()),
            ..SourceSection::default()
        };
        let location = section.location();
        assert_eq!(
            location.as_ref().map(|l| (l.owner.as_str(), l.repository.as_str())),
            Some(("git", "docs"))
        );
        assert!(SourceSection::default().location().is_none(), "no kind, no location");
        let github = SourceSection { kind: Some(SourceKind::Github), ..SourceSection::default() };
        assert!(github.location().is_none(), "GitHub needs owner and repository");
    }
}
