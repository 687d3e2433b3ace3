//! [`GitHubSource`]: the RFD repository on GitHub, behind [`RfdSource`] and
//! [`PullRequestHost`].
//!
//! Calls are the scarce resource (5,000 an hour per installation), so every method is
//! shaped for the fewest:
//!
//! | method | calls |
//! |---|---|
//! | `branches` | 1 per 100 branches |
//! | `rfd_tree` | 1 (`GET /git/trees/{rev}:{rfd_dir}`), +1 only when that is 404 |
//! | `read_rfd` | 2: the folder's tree (recursive) and the README's blob |
//! | `read_file` | 1 (contents), +1 (blob) for files over 1 MB |
//! | `rfd_commits` | 1 per 100 commits |
//! | `commit_file` | 2: the current file (contents) and `PUT /contents`; 1 when unchanged |
//! | `create_branch` | 1 from a sha, 2 from a branch name |
//! | pull requests, labels | 1 each (listing: 1 per 100) |
//! | `pull_request_comments` | 2 (conversation, review comments), +1 per further 100 |

use std::sync::Arc;

use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use octorust::types;
use rfd_model::source::{
    Branch, CommentKind, CommitInfo, PullRequest, PullRequestComment, PullRequestHost, PullRequestState,
    RfdFolder, RfdSource, RfdTreeEntry, SourceError, SourceFile, SourceLocation, SourceReadme, SourceResult,
};
use rfd_model::types::ContentFormat;
use sha1::{Digest, Sha1};

use crate::GitHubError;
use crate::client::{Kind, Transport};
use crate::config::GitHubConfig;

/// GitHub's largest page.
const PER_PAGE: i64 = 100;

/// A guard against a server that always says there is a next page.
const MAX_PAGES: i64 = 1000;

/// The longest run of digits accepted as an RFD number (fits an `i32`).
const MAX_RFD_DIGITS: usize = 9;

/// The RFD repository on GitHub. Cheap to clone; clones share the call counter.
#[derive(Clone)]
pub struct GitHubSource {
    location: SourceLocation,
    /// Where the web view is: `https://github.com`, or the Enterprise host.
    html_base: String,
    transport: Arc<Transport>,
}

impl std::fmt::Debug for GitHubSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitHubSource")
            .field("location", &self.location)
            .field("calls", &self.calls())
            .finish()
    }
}

impl GitHubSource {
    /// A source for the configured repository. Reads the app's private key, if any; no
    /// call is made until a method needs one.
    pub fn new(config: &GitHubConfig) -> Result<Self, GitHubError> {
        Ok(Self {
            location: config.location(),
            html_base: html_base(&config.api_url),
            transport: Arc::new(Transport::new(config)?),
        })
    }

    /// How many HTTP calls this client has made (installation token exchanges, retries and
    /// rate-limited attempts included).
    pub fn calls(&self) -> u64 {
        self.transport.calls()
    }

    /// The last `x-ratelimit-remaining` GitHub reported, if any call answered yet.
    pub fn rate_limit_remaining(&self) -> Option<u64> {
        self.transport.rate_limit_remaining()
    }

    fn owner(&self) -> &str {
        &self.location.owner
    }

    fn repo(&self) -> &str {
        &self.location.repository
    }

    fn rfd_dir(&self) -> &str {
        self.location.rfd_dir.trim_matches('/')
    }

    /// `rev:path`, the tree-ish GitHub's trees API resolves to the folder at `rev`.
    fn tree_spec(rev: &str, path: &str) -> String {
        if path.is_empty() { rev.to_string() } else { format!("{rev}:{path}") }
    }

    async fn tree(&self, spec: &str, recursive: bool) -> SourceResult<types::GitTreeData> {
        let (owner, repo) = (self.owner(), self.repo());
        let recursive = if recursive { "1" } else { "" };
        let response = self
            .transport
            .call(Kind::Read, "GET /git/trees/{sha}", |c| async move {
                c.git().get_tree(owner, repo, spec, recursive).await
            })
            .await?;
        Ok(response.body)
    }

    /// After a 404 for `rev:path`: the revision exists (so the path does not) or it does
    /// not (an error).
    async fn ensure_revision(&self, rev: &str) -> SourceResult<()> {
        match self.tree(rev, false).await {
            Ok(_) => Ok(()),
            Err(SourceError::NotFound(_)) => Err(SourceError::NotFound(format!("revision {rev}"))),
            Err(other) => Err(other),
        }
    }

    async fn blob(&self, sha: &str) -> SourceResult<Vec<u8>> {
        let (owner, repo) = (self.owner(), self.repo());
        let blob =
            self.transport
                .call(Kind::Read, "GET /git/blobs/{sha}", |c| async move {
                    c.git().get_blob(owner, repo, sha).await
                })
                .await?
                .body;
        decode_content(&blob.content, &blob.encoding)
            .ok_or_else(|| SourceError::Other(format!("blob {sha}: unexpected encoding {:?}", blob.encoding)))
    }

    /// The blob sha and content of `path` at `rev`, `None` when there is no such file.
    async fn current_file(&self, path: &str, rev: &str) -> SourceResult<Option<(String, Option<Vec<u8>>)>> {
        let (owner, repo) = (self.owner(), self.repo());
        let result = self
            .transport
            .call(Kind::Read, "GET /contents/{path}", |c| async move {
                c.repos().get_content_file(owner, repo, path, rev).await
            })
            .await;
        match result {
            Ok(response) => {
                let file = response.body;
                if file.type_ != "file" && !file.type_.is_empty() {
                    return Err(SourceError::Other(format!(
                        "{path} at {rev} is a {}, not a file",
                        file.type_
                    )));
                }
                // Files over 1 MB come without content ("encoding": "none").
                let content = if file.size == 0 {
                    Some(Vec::new())
                } else if file.content.is_empty() {
                    None
                } else {
                    decode_content(&file.content, &file.encoding)
                };
                Ok(Some((file.sha, content)))
            }
            Err(SourceError::NotFound(_)) => Ok(None),
            Err(other) => Err(other),
        }
    }

    async fn pull_request_page(
        &self,
        head: &str,
        page: i64,
    ) -> SourceResult<octorust::Response<Vec<types::PullRequestSimple>>> {
        let (owner, repo) = (self.owner(), self.repo());
        self.transport
            .call(Kind::Read, "GET /pulls", |c| async move {
                c.pulls()
                    .list(
                        owner,
                        repo,
                        types::IssuesListState::All,
                        head,
                        "",
                        types::PullsListSort::Created,
                        types::Order::Desc,
                        PER_PAGE,
                        page,
                    )
                    .await
            })
            .await
    }
}

#[async_trait]
impl RfdSource for GitHubSource {
    fn location(&self) -> &SourceLocation {
        &self.location
    }

    fn browse_url(&self, branch: &str, path: &str) -> Option<String> {
        // `tree`, as the reference's RFD links have it; GitHub redirects it for a file.
        Some(format!(
            "{}/{}/{}/tree/{branch}/{}",
            self.html_base,
            self.owner(),
            self.repo(),
            path.trim_start_matches('/')
        ))
    }

    #[tracing::instrument(skip(self), fields(github.repo = %self.repo()))]
    async fn branches(&self) -> SourceResult<Vec<Branch>> {
        let (owner, repo) = (self.owner(), self.repo());
        let mut branches = Vec::new();
        for page in 1..=MAX_PAGES {
            let response = self
                .transport
                .call(Kind::Read, "GET /branches", |c| async move {
                    c.repos().list_branches(owner, repo, false, PER_PAGE, page).await
                })
                .await?;
            let more = has_next_page(&response.headers) && !response.body.is_empty();
            branches.extend(response.body.into_iter().map(|b| Branch { name: b.name, head: b.commit.sha }));
            if !more {
                break;
            }
        }
        Ok(branches)
    }

    #[tracing::instrument(skip(self), fields(github.repo = %self.repo()))]
    async fn rfd_tree(&self, rev: &str) -> SourceResult<Vec<RfdTreeEntry>> {
        let spec = Self::tree_spec(rev, self.rfd_dir());
        let tree = match self.tree(&spec, false).await {
            Ok(tree) => tree,
            Err(SourceError::NotFound(_)) if !self.rfd_dir().is_empty() => {
                self.ensure_revision(rev).await?;
                return Ok(Vec::new());
            }
            Err(other) => return Err(other),
        };
        let mut entries: Vec<RfdTreeEntry> = tree
            .tree
            .into_iter()
            .filter(|e| e.type_ == "tree")
            .filter_map(|e| Some(RfdTreeEntry { rfd: parse_rfd_number(&e.path)?, tree_sha: e.sha }))
            .collect();
        entries.sort_by_key(|e| e.rfd);
        Ok(entries)
    }

    #[tracing::instrument(skip(self), fields(github.repo = %self.repo(), rfd.number = rfd))]
    async fn read_rfd(&self, rfd: i32, rev: &str) -> SourceResult<Option<RfdFolder>> {
        let folder = self.location.rfd_path(rfd);
        let tree = match self.tree(&Self::tree_spec(rev, &folder), true).await {
            Ok(tree) => tree,
            Err(SourceError::NotFound(_)) => {
                self.ensure_revision(rev).await?;
                return Ok(None);
            }
            Err(other) => return Err(other),
        };
        if tree.truncated {
            tracing::warn!(rfd.folder = %folder, "GitHub truncated the tree of an RFD folder");
        }
        let blobs: Vec<&types::GitTree> = tree.tree.iter().filter(|e| e.type_ == "blob").collect();
        let readme = [("README.adoc", ContentFormat::Asciidoc), ("README.md", ContentFormat::Markdown)]
            .into_iter()
            .find_map(|(name, format)| blobs.iter().find(|e| e.path == name).map(|e| (*e, format)));
        let Some((readme, format)) = readme else {
            return Ok(None);
        };
        let content = self.blob(&readme.sha).await?;
        let files = blobs
            .iter()
            .filter(|e| e.path != readme.path)
            .map(|e| SourceFile {
                path: e.path.clone(),
                sha: e.sha.clone(),
                size: u64::try_from(e.size).unwrap_or(0),
            })
            .collect();
        Ok(Some(RfdFolder {
            readme: SourceReadme {
                format,
                path: format!("{folder}/{}", readme.path),
                sha: readme.sha.clone(),
                content,
            },
            files,
            tree_sha: tree.sha,
        }))
    }

    #[tracing::instrument(skip(self), fields(github.repo = %self.repo()))]
    async fn read_file(&self, path: &str, rev: &str) -> SourceResult<Vec<u8>> {
        match self.current_file(path.trim_start_matches('/'), rev).await? {
            Some((_, Some(content))) => Ok(content),
            Some((sha, None)) => self.blob(&sha).await,
            None => Err(SourceError::NotFound(format!("{path} at {rev}"))),
        }
    }

    #[tracing::instrument(skip(self), fields(github.repo = %self.repo(), rfd.number = rfd))]
    async fn rfd_commits(&self, rfd: i32, rev: &str, limit: usize) -> SourceResult<Vec<CommitInfo>> {
        let (owner, repo) = (self.owner(), self.repo());
        let path = self.location.rfd_path(rfd);
        let path = path.as_str();
        let per_page = i64::try_from(limit).unwrap_or(PER_PAGE).min(PER_PAGE);
        let mut commits = Vec::new();
        let mut page = 1;
        while commits.len() < limit && page <= MAX_PAGES {
            let response = self
                .transport
                .call(Kind::Read, "GET /commits", |c| async move {
                    c.repos().list_commits(owner, repo, rev, path, "", None, None, per_page, page).await
                })
                .await?;
            let more = has_next_page(&response.headers) && !response.body.is_empty();
            for commit in response.body {
                commits.push(commit_info(
                    &commit.sha,
                    commit.commit.committer.or(commit.commit.author),
                    &commit.commit.message,
                )?);
            }
            if !more {
                break;
            }
            page += 1;
        }
        commits.truncate(limit);
        Ok(commits)
    }

    #[tracing::instrument(skip(self, content, message), fields(github.repo = %self.repo(), github.branch = branch, github.path = path))]
    async fn commit_file(
        &self,
        branch: &str,
        path: &str,
        content: &[u8],
        message: &str,
        expected_sha: Option<&str>,
    ) -> SourceResult<Option<CommitInfo>> {
        let path = path.trim_start_matches('/');
        let current = self.current_file(path, branch).await?;
        let current_sha = current.as_ref().map(|(sha, _)| sha.as_str());
        // The blob id is a hash of the content: equal ids, equal bytes, whatever the size.
        if current_sha == Some(git_blob_sha(content).as_str()) {
            tracing::debug!("content unchanged; no commit");
            return Ok(None);
        }
        if let Some(expected) = expected_sha
            && current_sha != Some(expected)
        {
            return Err(SourceError::Conflict(format!(
                "{path} on {branch} is {} now, not the expected {expected}",
                current_sha.unwrap_or("absent")
            )));
        }
        // The sha of what was read makes GitHub refuse (409) if the file changed meanwhile.
        let body = types::ReposCreateUpdateFileContentsRequest {
            author: None,
            branch: branch.to_string(),
            committer: None,
            content: STANDARD.encode(content),
            message: message.to_string(),
            sha: current.map(|(sha, _)| sha).unwrap_or_default(),
        };
        let (owner, repo, body) = (self.owner(), self.repo(), &body);
        let response = self
            .transport
            .call(Kind::Write, "PUT /contents/{path}", |c| async move {
                c.repos().create_or_update_file_contents(owner, repo, path, body).await
            })
            .await?;
        let commit = response.body.commit;
        let info = commit_info(&commit.sha, commit.committer.or(commit.author), &commit.message)?;
        tracing::info!(github.commit = %info.sha, "committed");
        Ok(Some(info))
    }

    #[tracing::instrument(skip(self), fields(github.repo = %self.repo()))]
    async fn create_branch(&self, branch: &str, from: &str) -> SourceResult<()> {
        let (owner, repo) = (self.owner(), self.repo());
        let sha = if is_full_sha(from) {
            from.to_string()
        } else {
            let reference = format!("heads/{from}");
            let reference = reference.as_str();
            self.transport
                .call(Kind::Read, "GET /git/ref/{ref}", |c| async move {
                    c.git().get_ref(owner, repo, reference).await
                })
                .await?
                .body
                .object
                .sha
        };
        let body =
            types::GitCreateRefRequest { key: String::new(), ref_: format!("refs/heads/{branch}"), sha };
        let body = &body;
        self.transport
            .call(
                Kind::Write,
                "POST /git/refs",
                |c| async move { c.git().create_ref(owner, repo, body).await },
            )
            .await?;
        Ok(())
    }

    fn pull_requests(&self) -> Option<&dyn PullRequestHost> {
        Some(self)
    }
}

#[async_trait]
impl PullRequestHost for GitHubSource {
    #[tracing::instrument(skip(self), fields(github.repo = %self.repo()))]
    async fn pull_requests_for_branch(&self, branch: &str) -> SourceResult<Vec<PullRequest>> {
        // GitHub filters by head only as `owner:branch`.
        let head = format!("{}:{branch}", self.owner());
        let mut pulls = Vec::new();
        for page in 1..=MAX_PAGES {
            let response = self.pull_request_page(&head, page).await?;
            let more = has_next_page(&response.headers) && !response.body.is_empty();
            pulls.extend(response.body.into_iter().map(|p| PullRequest {
                number: p.number,
                title: p.title,
                state: pull_state(&p.state),
                merged: p.merged_at.is_some(),
                html_url: p.html_url,
                head_branch: p.head.ref_,
                base_branch: p.base.ref_,
                labels: p.labels.into_iter().map(|l| l.name).collect(),
            }));
            if !more {
                break;
            }
        }
        Ok(pulls)
    }

    #[tracing::instrument(skip(self, body), fields(github.repo = %self.repo()))]
    async fn create_pull_request(&self, branch: &str, title: &str, body: &str) -> SourceResult<PullRequest> {
        let (owner, repo) = (self.owner(), self.repo());
        let request = types::PullsCreateRequest {
            base: self.location.default_branch.clone(),
            body: body.to_string(),
            draft: None,
            head: branch.to_string(),
            issue: 0,
            maintainer_can_modify: None,
            title: title.to_string(),
        };
        let request = &request;
        let p = self
            .transport
            .call(Kind::Write, "POST /pulls", |c| async move { c.pulls().create(owner, repo, request).await })
            .await?
            .body;
        tracing::info!(github.pull = p.number, "pull request opened");
        Ok(PullRequest {
            number: p.number,
            title: p.title,
            state: if p.closed_at.is_some() { PullRequestState::Closed } else { PullRequestState::Open },
            merged: p.merged || p.merged_at.is_some(),
            html_url: p.html_url,
            head_branch: p.head.ref_,
            base_branch: p.base.ref_,
            labels: p.labels.into_iter().map(|l| l.name).collect(),
        })
    }

    #[tracing::instrument(skip(self), fields(github.repo = %self.repo(), github.pull = number))]
    async fn update_pull_request_title(&self, number: i64, title: &str) -> SourceResult<()> {
        let (owner, repo) = (self.owner(), self.repo());
        // Empty fields are left out of the request, so the body is kept.
        let request = types::PullsUpdateRequest {
            base: String::new(),
            body: String::new(),
            maintainer_can_modify: None,
            state: None,
            title: title.to_string(),
        };
        let request = &request;
        self.transport
            .call(Kind::Write, "PATCH /pulls/{number}", |c| async move {
                c.pulls().update(owner, repo, number, request).await
            })
            .await?;
        Ok(())
    }

    #[tracing::instrument(skip(self), fields(github.repo = %self.repo(), github.pull = number))]
    async fn add_labels(&self, number: i64, labels: &[String]) -> SourceResult<()> {
        if labels.is_empty() {
            return Ok(());
        }
        let (owner, repo) = (self.owner(), self.repo());
        let request =
            types::IssuesAddLabelsRequestOneOf::IssuesAddLabelsRequest(types::IssuesAddLabelsRequest {
                labels: labels.to_vec(),
            });
        let request = &request;
        self.transport
            .call(Kind::Write, "POST /issues/{number}/labels", |c| async move {
                c.issues().add_labels(owner, repo, number, request).await
            })
            .await?;
        Ok(())
    }

    #[tracing::instrument(skip(self), fields(github.repo = %self.repo(), github.pull = number))]
    async fn remove_label(&self, number: i64, label: &str) -> SourceResult<()> {
        let (owner, repo) = (self.owner(), self.repo());
        let result = self
            .transport
            .call(Kind::Write, "DELETE /issues/{number}/labels/{name}", |c| async move {
                c.issues().remove_label(owner, repo, number, label).await
            })
            .await;
        match result {
            Ok(_) => Ok(()),
            // GitHub answers 404 "Label does not exist" for a label the issue does not have.
            Err(SourceError::NotFound(message)) if message.contains("Label does not exist") => Ok(()),
            Err(other) => Err(other),
        }
    }

    #[tracing::instrument(skip(self), fields(github.repo = %self.repo(), github.pull = number))]
    async fn pull_request_comments(&self, number: i64) -> SourceResult<Vec<PullRequestComment>> {
        let (owner, repo) = (self.owner(), self.repo());
        let mut comments = Vec::new();
        for page in 1..=MAX_PAGES {
            let response = self
                .transport
                .call(Kind::Read, "GET /issues/{number}/comments", |c| async move {
                    c.issues().list_comments(owner, repo, number, None, PER_PAGE, page).await
                })
                .await?;
            let more = has_next_page(&response.headers) && !response.body.is_empty();
            comments.extend(response.body.into_iter().map(|c| PullRequestComment {
                id: c.id,
                kind: CommentKind::Issue,
                author: c.user.map(|u| u.login).unwrap_or_default(),
                body: c.body,
                html_url: c.html_url,
                path: None,
                line: None,
                commit_sha: None,
                in_reply_to: None,
                created_at: c.created_at.unwrap_or_default(),
                updated_at: c.updated_at.or(c.created_at).unwrap_or_default(),
            }));
            if !more {
                break;
            }
        }
        for page in 1..=MAX_PAGES {
            let response = self
                .transport
                .call(Kind::Read, "GET /pulls/{number}/comments", |c| async move {
                    c.pulls()
                        .list_review_comments(
                            owner,
                            repo,
                            number,
                            types::Sort::Created,
                            types::Order::Asc,
                            None,
                            PER_PAGE,
                            page,
                        )
                        .await
                })
                .await?;
            let more = has_next_page(&response.headers) && !response.body.is_empty();
            comments.extend(response.body.into_iter().map(|c| PullRequestComment {
                id: c.id,
                kind: CommentKind::Review,
                author: c.user.map(|u| u.login).unwrap_or_default(),
                body: c.body,
                html_url: c.html_url,
                path: Some(c.path).filter(|p| !p.is_empty()),
                // GitHub sends `null` for a line no longer in the diff; octorust reads 0.
                line: Some(c.line).filter(|l| *l > 0),
                commit_sha: Some(c.commit_id).filter(|s| !s.is_empty()),
                in_reply_to: Some(c.in_reply_to_id).filter(|id| *id > 0),
                created_at: c.created_at.unwrap_or_default(),
                updated_at: c.updated_at.or(c.created_at).unwrap_or_default(),
            }));
            if !more {
                break;
            }
        }
        comments.sort_by_key(|c| (c.created_at, c.kind == CommentKind::Review, c.id));
        Ok(comments)
    }
}

/// The web host of an API URL: `https://api.github.com` → `https://github.com`,
/// `https://ghe.example.com/api/v3` → `https://ghe.example.com`.
fn html_base(api_url: &str) -> String {
    let api_url = api_url.trim_end_matches('/');
    if let Some(host) = api_url.strip_prefix("https://api.") {
        return format!("https://{host}");
    }
    api_url.strip_suffix("/api/v3").unwrap_or(api_url).to_string()
}

/// Whether a `Link` header announces a next page.
fn has_next_page(headers: &reqwest::header::HeaderMap) -> bool {
    headers
        .get_all(reqwest::header::LINK)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.split(',').any(|link| link.contains("rel=\"next\"")))
}

/// Content as the contents and blobs APIs send it: base64 wrapped in lines, or UTF-8.
fn decode_content(content: &str, encoding: &str) -> Option<Vec<u8>> {
    match encoding {
        "base64" => {
            let compact: String = content.chars().filter(|c| !c.is_ascii_whitespace()).collect();
            STANDARD.decode(compact).ok()
        }
        "utf-8" | "utf8" => Some(content.as_bytes().to_vec()),
        _ => None,
    }
}

/// The git blob id of `content`: sha1 over `blob <len>\0<content>`.
fn git_blob_sha(content: &[u8]) -> String {
    let mut hasher = Sha1::new();
    hasher.update(format!("blob {}\0", content.len()).as_bytes());
    hasher.update(content);
    hex::encode(hasher.finalize())
}

fn is_full_sha(s: &str) -> bool {
    (s.len() == 40 || s.len() == 64) && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn parse_rfd_number(name: &str) -> Option<i32> {
    if name.is_empty() || name.len() > MAX_RFD_DIGITS || !name.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    name.parse().ok()
}

fn pull_state(state: &str) -> PullRequestState {
    if state.eq_ignore_ascii_case("open") { PullRequestState::Open } else { PullRequestState::Closed }
}

fn commit_info(sha: &str, who: Option<types::Tagger>, message: &str) -> SourceResult<CommitInfo> {
    let date = who.map(|t| t.date).unwrap_or_default();
    let committed_at = DateTime::parse_from_rfc3339(&date)
        .map(|d| d.with_timezone(&Utc))
        .map_err(|_| SourceError::Other(format!("commit {sha}: unreadable date {date:?}")))?;
    Ok(CommitInfo {
        sha: sha.to_string(),
        committed_at,
        summary: message.lines().next().unwrap_or("").to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blob_sha_matches_git() {
        // `printf 'hello\n' | git hash-object --stdin`
        assert_eq!(git_blob_sha(b"hello\n"), "ce013625030ba8dba906f756967f9e9ca394464a");
        assert_eq!(git_blob_sha(b""), "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391");
    }

    #[test]
    fn web_hosts() {
        assert_eq!(html_base("https://api.github.com"), "https://github.com");
        assert_eq!(html_base("https://ghe.example.com/api/v3/"), "https://ghe.example.com");
    }

    #[test]
    fn rfd_numbers() {
        assert_eq!(parse_rfd_number("0123"), Some(123));
        assert_eq!(parse_rfd_number("abc"), None);
        assert_eq!(parse_rfd_number(""), None);
        assert_eq!(parse_rfd_number("1234567890"), None);
    }

    #[test]
    fn content_decoding() {
        assert_eq!(decode_content("aGVs\nbG8=\n", "base64").as_deref(), Some(&b"hello"[..]));
        assert_eq!(decode_content("", "none"), None);
    }

    #[test]
    fn next_links() {
        let mut headers = reqwest::header::HeaderMap::new();
        assert!(!has_next_page(&headers));
        headers.insert(
            reqwest::header::LINK,
            reqwest::header::HeaderValue::from_static(
                "<http://x/branches?page=2>; rel=\"next\", <http://x/branches?page=3>; rel=\"last\"",
            ),
        );
        assert!(has_next_page(&headers));
    }
}
