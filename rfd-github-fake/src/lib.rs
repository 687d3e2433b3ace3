//! A fake of the GitHub REST API for tests, served over real HTTP on the loopback and backed
//! by a real git repository on disk.
//!
//! [`FakeGitHub::start`] serves the endpoints the RFD platform uses (repository, branches,
//! git trees, blobs and commits, contents, commits by path, refs, pull requests, labels,
//! pull request comments (conversation and review),
//! app installation tokens) in GitHub's response shapes, Link headers for pagination and
//! rate-limit headers included. Reads and writes go to the repository through the `git`
//! CLI, so a `PUT /contents/{path}` makes a real commit on the branch. Pull requests and
//! labels live in memory.
//!
//! Tests count calls ([`FakeGitHub::calls`], [`FakeGitHub::calls_to`]), inject failures
//! ([`FakeGitHub::fail_next`], [`FakeGitHub::fail_next_writes`]) and require credentials
//! ([`FakeGitHub::require_token`], [`FakeGitHub::enable_app`]). [`TestRepo`] builds the
//! repository.
//!
//! ```no_run
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! use rfd_github_fake::{FakeGitHub, TestRepo};
//!
//! let repo = TestRepo::new()?;
//! repo.write("rfd/0001/README.adoc", "= RFD 1 Title\n:state: published\n")?;
//! repo.commit("RFD 1")?;
//! repo.branch("0001")?;
//! let github = FakeGitHub::start(repo.path(), "acme", "rfd").await?;
//! // Give `github.url()` to the client as its `api_url`; then, e.g.:
//! github.fail_next(1, 502, &[]); // the next call answers 502
//! github.fail_next_writes(1, 409); // the next write conflicts
//! // ... run the code under test ...
//! assert_eq!(github.calls_to("GET /repos/acme/rfd/git/trees/"), 0);
//! assert!(github.pull_requests().is_empty());
//! # Ok(())
//! # }
//! ```

#![recursion_limit = "256"]

mod git;
mod oauth;
pub mod oidc;
mod repo;
mod routes;

use std::collections::{BTreeSet, HashSet, VecDeque};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Utc};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

pub use oauth::{FakeGitHubOAuth, FakeOAuthUser};
pub use repo::{PushRepos, TestRepo};

/// Why the fake or a test repository failed.
#[derive(Debug, thiserror::Error)]
pub enum FakeError {
    /// The listening socket could not be opened.
    #[error("cannot listen on the loopback: {source}")]
    Bind {
        /// The cause.
        source: std::io::Error,
    },
    /// `git` could not be started or fed.
    #[error("cannot run git: {source}")]
    Spawn {
        /// The cause.
        source: std::io::Error,
    },
    /// `git` exited non-zero.
    #[error("git {args} failed")]
    Git {
        /// The arguments it was given.
        args: String,
    },
    /// A file of the test repository could not be written.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// One request the fake received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedRequest {
    /// `GET`, `PUT`, ...
    pub method: String,
    /// The path, e.g. `/repos/o/r/git/trees/main:rfd`.
    pub path: String,
    /// The query string without `?` (empty when none).
    pub query: String,
    /// The `Authorization` header, as sent (the fake's tokens are not secrets).
    pub authorization: Option<String>,
}

impl RecordedRequest {
    /// `METHOD /path?query`, what [`FakeGitHub::calls_to`] matches against.
    pub fn line(&self) -> String {
        if self.query.is_empty() {
            format!("{} {}", self.method, self.path)
        } else {
            format!("{} {}?{}", self.method, self.path, self.query)
        }
    }
}

/// A pull request held by the fake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakePullRequest {
    /// Its number (shared with issues, as on GitHub).
    pub number: i64,
    /// Title.
    pub title: String,
    /// Body.
    pub body: String,
    /// `open` or `closed`.
    pub state: String,
    /// Whether it was merged.
    pub merged: bool,
    /// The head branch.
    pub head: String,
    /// The base branch.
    pub base: String,
    /// Label names, in the order they were added.
    pub labels: Vec<String>,
    /// When it was opened.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// A comment on a pull request held by the fake: in its conversation (`review: false`,
/// GitHub's issue comments) or on a line of its diff (`review: true`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeComment {
    /// Its id (unique across both kinds, as on GitHub).
    pub id: i64,
    /// The pull request.
    pub pull: i64,
    /// Whether it is a review comment.
    pub review: bool,
    /// The author's login.
    pub author: String,
    /// Text.
    pub body: String,
    /// Review comments: the file.
    pub path: Option<String>,
    /// Review comments: the line.
    pub line: Option<i64>,
    /// Review comments: the commit.
    pub commit_id: Option<String>,
    /// Review comments: the comment answered.
    pub in_reply_to: Option<i64>,
    /// When it was written.
    pub created_at: DateTime<Utc>,
    /// When it was last edited.
    pub updated_at: DateTime<Utc>,
}

/// An answer to give instead of serving a request.
#[derive(Debug, Clone)]
pub(crate) struct Failure {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub writes_only: bool,
}

#[derive(Debug, Default)]
pub(crate) struct State {
    pub requests: Vec<RecordedRequest>,
    pub failures: VecDeque<Failure>,
    pub pulls: Vec<FakePullRequest>,
    pub next_number: i64,
    /// Tokens accepted in `Authorization`.
    pub tokens: HashSet<String>,
    /// Whether calls must carry one of `tokens` (set by `require_token`/`enable_app`).
    pub auth_required: bool,
    /// (app id, installation id) whose access_tokens endpoint is enabled.
    pub app: Option<(i64, i64)>,
    pub minted: u64,
    pub minted_tokens: Vec<String>,
    pub rate_limit_remaining: u64,
    pub labels_seen: BTreeSet<String>,
    pub comments: Vec<FakeComment>,
    pub next_comment_id: i64,
}

pub(crate) struct Shared {
    pub git: git::Git,
    pub owner: String,
    pub repo: String,
    pub default_branch: String,
    pub base_url: String,
    pub state: Mutex<State>,
    /// Serialises writes to the repository, as GitHub serialises pushes to a branch.
    pub write_lock: tokio::sync::Mutex<()>,
}

impl Shared {
    /// Stores a comment under a fresh id; returns the id.
    pub(crate) fn add_comment(&self, mut comment: FakeComment) -> i64 {
        let mut state = self.state();
        comment.id = state.next_comment_id;
        state.next_comment_id += 1;
        let id = comment.id;
        state.comments.push(comment);
        id
    }

    pub(crate) fn state(&self) -> MutexGuard<'_, State> {
        // A test that panicked while holding the lock must not poison the others' view.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A running fake GitHub. Dropping it stops the server.
pub struct FakeGitHub {
    shared: Arc<Shared>,
    addr: SocketAddr,
    server: JoinHandle<()>,
}

impl std::fmt::Debug for FakeGitHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeGitHub").field("addr", &self.addr).field("repo", &self.shared.git.dir()).finish()
    }
}

impl FakeGitHub {
    /// Serves the repository at `repo_dir` as `owner/repo` on a free loopback port. The
    /// default branch is the one checked out in `repo_dir` (`main` if that cannot be told).
    pub async fn start(
        repo_dir: impl AsRef<Path>,
        owner: impl Into<String>,
        repo: impl Into<String>,
    ) -> Result<FakeGitHub, FakeError> {
        let git = git::Git::new(repo_dir.as_ref());
        let default_branch = git
            .run(&["symbolic-ref", "--short", "HEAD"], &[], None)
            .await
            .map(|out| String::from_utf8_lossy(&out).trim().to_string())
            .unwrap_or_else(|_| "main".to_string());
        let listener = TcpListener::bind("127.0.0.1:0").await.map_err(|source| FakeError::Bind { source })?;
        let addr = listener.local_addr().map_err(|source| FakeError::Bind { source })?;
        let shared = Arc::new(Shared {
            git,
            owner: owner.into(),
            repo: repo.into(),
            default_branch,
            base_url: format!("http://{addr}"),
            state: Mutex::new(State {
                next_number: 1,
                rate_limit_remaining: 5000,
                next_comment_id: 1001,
                ..State::default()
            }),
            write_lock: tokio::sync::Mutex::new(()),
        });
        let server = tokio::spawn(serve(listener, shared.clone()));
        Ok(FakeGitHub { shared, addr, server })
    }

    /// The base URL to give a client as its API URL (`http://127.0.0.1:PORT`).
    pub fn url(&self) -> String {
        self.shared.base_url.clone()
    }

    /// The repository on disk.
    pub fn repo_dir(&self) -> &Path {
        self.shared.git.dir()
    }

    /// The branch the repository reports as default.
    pub fn default_branch(&self) -> String {
        self.shared.default_branch.clone()
    }

    /// How many requests arrived since the start or the last [`FakeGitHub::reset_calls`],
    /// injected failures included.
    pub fn calls(&self) -> usize {
        self.shared.state().requests.len()
    }

    /// How many requests matched `pattern`: a substring of `METHOD /path?query`, e.g.
    /// `"/git/trees/"`, `"GET /repos/o/r/branches"` or `"POST /repos/o/r/pulls"`.
    pub fn calls_to(&self, pattern: &str) -> usize {
        self.shared.state().requests.iter().filter(|r| r.line().contains(pattern)).count()
    }

    /// Every request received since the start or the last reset.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.state().requests.clone()
    }

    /// Forgets the requests received so far.
    pub fn reset_calls(&self) {
        self.shared.state().requests.clear();
    }

    /// Answers the next `n` requests with `status` and `headers` (and a GitHub error body)
    /// instead of serving them, e.g. `403` with `x-ratelimit-remaining: 0`.
    pub fn fail_next(&self, n: usize, status: u16, headers: &[(&str, &str)]) {
        self.push_failures(n, status, headers, false);
    }

    /// Answers the next `n` writing requests (anything but GET) with `status`; reads are
    /// served meanwhile.
    pub fn fail_next_writes(&self, n: usize, status: u16) {
        self.push_failures(n, status, &[], true);
    }

    fn push_failures(&self, n: usize, status: u16, headers: &[(&str, &str)], writes_only: bool) {
        let failure = Failure {
            status,
            headers: headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            writes_only,
        };
        let mut state = self.shared.state();
        state.failures.extend(std::iter::repeat_n(failure, n));
    }

    /// Requires `Authorization: token <token>` (or `Bearer <token>`) on every API call;
    /// others get 401.
    pub fn require_token(&self, token: &str) {
        let mut state = self.shared.state();
        state.auth_required = true;
        state.tokens.insert(token.to_string());
    }

    /// Enables `POST /app/installations/{installation_id}/access_tokens` for an app JWT
    /// whose issuer is `app_id`; the tokens it mints are then required on every other call.
    pub fn enable_app(&self, app_id: i64, installation_id: i64) {
        let mut state = self.shared.state();
        state.auth_required = true;
        state.app = Some((app_id, installation_id));
    }

    /// Revokes every installation token minted so far (as GitHub does when an app is
    /// reinstalled): calls carrying one get 401 until a new token is minted.
    pub fn revoke_installation_tokens(&self) {
        let mut state = self.shared.state();
        let minted = std::mem::take(&mut state.minted_tokens);
        for token in minted {
            state.tokens.remove(&token);
        }
    }

    /// How many installation tokens were minted.
    pub fn tokens_minted(&self) -> u64 {
        self.shared.state().minted
    }

    /// The pull requests, in the order they were opened.
    pub fn pull_requests(&self) -> Vec<FakePullRequest> {
        self.shared.state().pulls.clone()
    }

    /// Opens a pull request directly (as if someone opened it on GitHub); returns its number.
    pub fn add_pull_request(&self, head: &str, base: &str, title: &str) -> i64 {
        let mut state = self.shared.state();
        let number = state.next_number;
        state.next_number += 1;
        let now = Utc::now();
        state.pulls.push(FakePullRequest {
            number,
            title: title.to_string(),
            body: String::new(),
            state: "open".to_string(),
            merged: false,
            head: head.to_string(),
            base: base.to_string(),
            labels: Vec::new(),
            created_at: now,
            updated_at: now,
        });
        number
    }

    /// Adds a comment to the conversation of pull request `pull` (as if `author` wrote it
    /// on GitHub); returns its id.
    pub fn add_issue_comment(&self, pull: i64, author: &str, body: &str) -> i64 {
        self.shared.add_comment(FakeComment {
            id: 0,
            pull,
            review: false,
            author: author.to_string(),
            body: body.to_string(),
            path: None,
            line: None,
            commit_id: None,
            in_reply_to: None,
            created_at: Utc::now(),
            updated_at: Utc::now(),
        })
    }

    /// Adds a review comment on `path` line `line` at `commit` to pull request `pull`;
    /// returns its id.
    pub fn add_review_comment(
        &self,
        pull: i64,
        author: &str,
        body: &str,
        path: &str,
        line: i64,
        commit: &str,
    ) -> i64 {
        self.shared.add_comment(FakeComment {
            id: 0,
            pull,
            review: true,
            author: author.to_string(),
            body: body.to_string(),
            path: Some(path.to_string()),
            line: Some(line),
            commit_id: Some(commit.to_string()),
            in_reply_to: None,
            created_at: Utc::now(),
            updated_at: Utc::now(),
        })
    }

    /// Every comment, in the order they were written.
    pub fn comments(&self) -> Vec<FakeComment> {
        self.shared.state().comments.clone()
    }

    /// Closes pull request `number`, merged or not. `false` when there is none.
    pub fn close_pull_request(&self, number: i64, merged: bool) -> bool {
        let mut state = self.shared.state();
        match state.pulls.iter_mut().find(|p| p.number == number) {
            Some(pull) => {
                pull.state = "closed".to_string();
                pull.merged = merged;
                pull.updated_at = Utc::now();
                true
            }
            None => false,
        }
    }
}

impl Drop for FakeGitHub {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(error) => {
                tracing::warn!(error = %error, "fake github: accept failed");
                continue;
            }
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let shared = shared.clone();
                async move { Ok::<_, std::convert::Infallible>(routes::handle(shared, request).await) }
            });
            if let Err(error) = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await {
                tracing::debug!(error = %error, "fake github: connection ended with an error");
            }
        });
    }
}
