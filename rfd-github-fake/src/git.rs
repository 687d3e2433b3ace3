//! The repository behind the fake: every read and write shells out to the `git` CLI, so
//! what the fake serves is exactly what git holds on disk.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use chrono::{DateTime, Utc};
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

use crate::FakeError;

/// A git repository on disk.
#[derive(Debug, Clone)]
pub(crate) struct Git {
    dir: PathBuf,
}

/// One entry of `git ls-tree -l`.
#[derive(Debug, Clone)]
pub(crate) struct TreeEntry {
    pub mode: String,
    pub kind: String,
    pub sha: String,
    pub size: Option<u64>,
    pub path: String,
}

/// A commit as `git log` reports it.
#[derive(Debug, Clone)]
pub(crate) struct Commit {
    pub sha: String,
    pub tree: String,
    pub parents: Vec<String>,
    pub author_name: String,
    pub author_email: String,
    pub author_date: DateTime<Utc>,
    pub committer_name: String,
    pub committer_email: String,
    pub committer_date: DateTime<Utc>,
    pub message: String,
}

/// The `--format` of [`Git::log`]: fields split by NUL, records by RS.
const LOG_FORMAT: &str = "--format=%H%x00%T%x00%P%x00%an%x00%ae%x00%aI%x00%cn%x00%ce%x00%cI%x00%B%x1e";

impl Git {
    pub(crate) fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    fn command(&self) -> Command {
        let mut command = Command::new("git");
        command
            .arg("-C")
            .arg(&self.dir)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_TERMINAL_PROMPT", "0")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        command
    }

    /// Runs git; `Ok(None)` when it exits non-zero (the object or ref does not exist).
    async fn try_run(
        &self,
        args: &[&str],
        envs: &[(&str, &str)],
        stdin: Option<&[u8]>,
    ) -> Result<Option<Vec<u8>>, FakeError> {
        let mut command = self.command();
        command.args(args);
        for (key, value) in envs {
            command.env(key, value);
        }
        if stdin.is_some() {
            command.stdin(Stdio::piped());
        }
        let mut child = command.spawn().map_err(|source| FakeError::Spawn { source })?;
        if let Some(input) = stdin
            && let Some(mut pipe) = child.stdin.take()
        {
            pipe.write_all(input).await.map_err(|source| FakeError::Spawn { source })?;
        }
        let output = child.wait_with_output().await.map_err(|source| FakeError::Spawn { source })?;
        if output.status.success() {
            Ok(Some(output.stdout))
        } else {
            tracing::debug!(
                git.args = ?args,
                git.stderr = %String::from_utf8_lossy(&output.stderr).trim(),
                "git exited non-zero"
            );
            Ok(None)
        }
    }

    /// Runs git and fails when it exits non-zero.
    pub(crate) async fn run(
        &self,
        args: &[&str],
        envs: &[(&str, &str)],
        stdin: Option<&[u8]>,
    ) -> Result<Vec<u8>, FakeError> {
        self.try_run(args, envs, stdin).await?.ok_or_else(|| FakeError::Git { args: args.join(" ") })
    }

    async fn run_line(&self, args: &[&str]) -> Result<Option<String>, FakeError> {
        Ok(self.try_run(args, &[], None).await?.map(|out| String::from_utf8_lossy(&out).trim().to_string()))
    }

    /// A branch or tag name, or a sha, as git should read it: branch names like `0123`
    /// would otherwise be taken for abbreviated object ids.
    async fn qualify(&self, rev: &str) -> Result<String, FakeError> {
        if rev.len() == 40 && rev.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(rev.to_string());
        }
        for prefix in ["refs/heads/", "refs/tags/"] {
            let full = format!("{prefix}{rev}");
            if self.run_line(&["rev-parse", "--verify", "--quiet", &full]).await?.is_some() {
                return Ok(full);
            }
        }
        Ok(rev.to_string())
    }

    /// Resolves `rev` or `rev:path` to an object of `kind` (`commit`, `tree`).
    pub(crate) async fn resolve(&self, spec: &str, kind: &str) -> Result<Option<String>, FakeError> {
        match spec.split_once(':') {
            Some((rev, path)) => {
                // `rev:path^{tree}` would read `^{tree}` as part of the path: check the type.
                let spec = format!("{}:{path}", self.qualify(rev).await?);
                let Some(sha) = self.run_line(&["rev-parse", "--verify", "--quiet", &spec]).await? else {
                    return Ok(None);
                };
                Ok((self.object_type(&sha).await?.as_deref() == Some(kind)).then_some(sha))
            }
            None => {
                let spec = self.qualify(spec).await?;
                self.run_line(&["rev-parse", "--verify", "--quiet", &format!("{spec}^{{{kind}}}")]).await
            }
        }
    }

    /// The type of an object (`blob`, `tree`, `commit`), if it exists.
    pub(crate) async fn object_type(&self, sha: &str) -> Result<Option<String>, FakeError> {
        self.run_line(&["cat-file", "-t", sha]).await
    }

    /// The bytes of a blob.
    pub(crate) async fn blob(&self, sha: &str) -> Result<Option<Vec<u8>>, FakeError> {
        if self.object_type(sha).await?.as_deref() != Some("blob") {
            return Ok(None);
        }
        self.try_run(&["cat-file", "blob", sha], &[], None).await
    }

    /// The entries of a tree, recursively (with the trees themselves) when asked.
    pub(crate) async fn ls_tree(&self, tree: &str, recursive: bool) -> Result<Vec<TreeEntry>, FakeError> {
        let mut args = vec!["ls-tree", "-l", "-z"];
        if recursive {
            args.extend(["-r", "-t"]);
        }
        args.push(tree);
        let out = self.run(&args, &[], None).await?;
        let mut entries = Vec::new();
        for record in out.split(|b| *b == 0).filter(|r| !r.is_empty()) {
            let record = String::from_utf8_lossy(record);
            let Some((meta, path)) = record.split_once('\t') else {
                continue;
            };
            let mut fields = meta.split_whitespace();
            let (Some(mode), Some(kind), Some(sha), Some(size)) =
                (fields.next(), fields.next(), fields.next(), fields.next())
            else {
                continue;
            };
            entries.push(TreeEntry {
                mode: mode.to_string(),
                kind: kind.to_string(),
                sha: sha.to_string(),
                size: size.parse().ok(),
                path: path.to_string(),
            });
        }
        Ok(entries)
    }

    /// The blob at `path` in commit `rev`, with its size.
    pub(crate) async fn file_at(&self, rev: &str, path: &str) -> Result<Option<(String, u64)>, FakeError> {
        let Some(commit) = self.resolve(rev, "commit").await? else {
            return Ok(None);
        };
        let out = self.run(&["ls-tree", "-l", "-z", &commit, "--", path], &[], None).await?;
        let record = String::from_utf8_lossy(&out);
        let Some((meta, _)) = record.split_once('\t') else {
            return Ok(None);
        };
        let fields: Vec<&str> = meta.split_whitespace().collect();
        match fields.as_slice() {
            [_, "blob", sha, size] => Ok(Some((sha.to_string(), size.parse().unwrap_or(0)))),
            _ => Ok(None),
        }
    }

    /// Commits reachable from `rev` (touching `path` when given), newest first.
    pub(crate) async fn log(
        &self,
        rev: &str,
        path: Option<&str>,
        skip: usize,
        max: usize,
    ) -> Result<Vec<Commit>, FakeError> {
        let rev = self.qualify(rev).await?;
        let skip = format!("--skip={skip}");
        let max = format!("--max-count={max}");
        let mut args = vec!["log", LOG_FORMAT, &skip, &max, &rev, "--"];
        if let Some(path) = path {
            args.push(path);
        }
        let out = self.run(&args, &[], None).await?;
        Ok(parse_log(&out))
    }

    /// One commit.
    pub(crate) async fn commit(&self, sha: &str) -> Result<Option<Commit>, FakeError> {
        if self.object_type(sha).await?.as_deref() != Some("commit") {
            return Ok(None);
        }
        Ok(self
            .try_run(&["log", LOG_FORMAT, "-1", sha, "--"], &[], None)
            .await?
            .and_then(|out| parse_log(&out).into_iter().next()))
    }

    /// Every branch and its head, sorted by name as GitHub lists them.
    pub(crate) async fn branches(&self) -> Result<Vec<(String, String)>, FakeError> {
        let out = self
            .run(
                &[
                    "for-each-ref",
                    "--sort=refname",
                    "--format=%(refname:strip=2) %(objectname)",
                    "refs/heads",
                ],
                &[],
                None,
            )
            .await?;
        Ok(String::from_utf8_lossy(&out)
            .lines()
            .filter_map(|l| l.rsplit_once(' '))
            .map(|(name, sha)| (name.to_string(), sha.to_string()))
            .collect())
    }

    /// The head of a branch.
    pub(crate) async fn branch_head(&self, branch: &str) -> Result<Option<String>, FakeError> {
        self.run_line(&["rev-parse", "--verify", "--quiet", &format!("refs/heads/{branch}^{{commit}}")]).await
    }

    /// Writes `content` at `path` on `branch` in one new commit, through plumbing so the
    /// working tree and index of the repository are left alone. `None` when the branch
    /// moved away from `expected_head` meanwhile.
    pub(crate) async fn commit_file(
        &self,
        branch: &str,
        expected_head: &str,
        path: &str,
        content: &[u8],
        message: &str,
        (name, email): (&str, &str),
    ) -> Result<Option<String>, FakeError> {
        let blob = self.run(&["hash-object", "-w", "--stdin"], &[], Some(content)).await?;
        let blob = String::from_utf8_lossy(&blob).trim().to_string();
        let index = tempfile::Builder::new()
            .prefix("fake-github-index")
            .tempfile()
            .map_err(|source| FakeError::Spawn { source })?;
        let index_path = index.path().to_string_lossy().to_string();
        // git refuses an empty file as an index; let read-tree create it.
        let _ = std::fs::remove_file(index.path());
        let env = [("GIT_INDEX_FILE", index_path.as_str())];
        self.run(&["read-tree", expected_head], &env, None).await?;
        let cacheinfo = format!("100644,{blob},{path}");
        self.run(&["update-index", "--add", "--cacheinfo", &cacheinfo], &env, None).await?;
        let tree = self.run(&["write-tree"], &env, None).await?;
        let tree = String::from_utf8_lossy(&tree).trim().to_string();
        let ident = [
            ("GIT_AUTHOR_NAME", name),
            ("GIT_AUTHOR_EMAIL", email),
            ("GIT_COMMITTER_NAME", name),
            ("GIT_COMMITTER_EMAIL", email),
        ];
        let commit = self
            .run(&["commit-tree", &tree, "-p", expected_head, "-F", "-"], &ident, Some(message.as_bytes()))
            .await?;
        let commit = String::from_utf8_lossy(&commit).trim().to_string();
        let reference = format!("refs/heads/{branch}");
        let moved = self.try_run(&["update-ref", &reference, &commit, expected_head], &[], None).await?;
        Ok(moved.map(|_| commit))
    }

    /// Creates `refs/...` at `sha`; `false` when it already exists.
    pub(crate) async fn create_ref(&self, reference: &str, sha: &str) -> Result<bool, FakeError> {
        // The all-zero old value makes update-ref refuse an existing ref.
        let zero = "0".repeat(40);
        Ok(self.try_run(&["update-ref", reference, sha, &zero], &[], None).await?.is_some())
    }
}

fn parse_log(out: &[u8]) -> Vec<Commit> {
    let text = String::from_utf8_lossy(out);
    text.split('\u{1e}')
        .filter_map(|record| {
            let record = record.trim_start_matches('\n');
            if record.is_empty() {
                return None;
            }
            let fields: Vec<&str> = record.splitn(10, '\0').collect();
            let [sha, tree, parents, an, ae, ad, cn, ce, cd, message] = fields.as_slice() else {
                return None;
            };
            let date = |d: &str| DateTime::parse_from_rfc3339(d).map(|d| d.with_timezone(&Utc)).ok();
            Some(Commit {
                sha: sha.to_string(),
                tree: tree.to_string(),
                parents: parents.split_whitespace().map(str::to_string).collect(),
                author_name: an.to_string(),
                author_email: ae.to_string(),
                author_date: date(ad)?,
                committer_name: cn.to_string(),
                committer_email: ce.to_string(),
                committer_date: date(cd)?,
                message: message.trim_end_matches('\n').to_string(),
            })
        })
        .collect()
}
