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
}
