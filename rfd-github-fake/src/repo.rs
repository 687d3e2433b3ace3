//! A throwaway git repository for tests.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::FakeError;

/// A git repository in a temporary directory (removed on drop), on branch `main`.
///
/// Writes go to the working tree; [`TestRepo::commit`] commits everything. Writes made
/// through the fake (`PUT /contents`) move branch refs without touching the working tree,
/// so after one, [`TestRepo::reset_hard`] brings the working tree up to date before the
/// test writes again on that branch.
#[derive(Debug)]
pub struct TestRepo {
    dir: tempfile::TempDir,
}

impl TestRepo {
    /// `git init -b main` in a new temporary directory, with a user configured.
    pub fn new() -> Result<TestRepo, FakeError> {
        let dir = tempfile::Builder::new()
            .prefix("rfd-test-repo")
            .tempdir()
            .map_err(|source| FakeError::Spawn { source })?;
        let repo = TestRepo { dir };
        repo.git(&["init", "-q", "-b", "main"])?;
        repo.git(&["config", "user.name", "RFD Test"])?;
        repo.git(&["config", "user.email", "rfd-test@example.com"])?;
        repo.git(&["config", "commit.gpgsign", "false"])?;
        Ok(repo)
    }

    /// The repository directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes `content` to `path` (relative to the repository root), creating folders.
    pub fn write(&self, path: &str, content: impl AsRef<[u8]>) -> Result<(), FakeError> {
        let full: PathBuf = self.dir.path().join(path);
        if let Some(parent) = full.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|source| FakeError::Write { path: full.clone(), source })?;
        }
        std::fs::write(&full, content).map_err(|source| FakeError::Write { path: full.clone(), source })
    }

    /// Removes `path` from the working tree.
    pub fn remove(&self, path: &str) -> Result<(), FakeError> {
        let full = self.dir.path().join(path);
        let result = if full.is_dir() { std::fs::remove_dir_all(&full) } else { std::fs::remove_file(&full) };
        result.map_err(|source| FakeError::Write { path: full, source })
    }

    /// Commits every change of the working tree; returns the new commit sha.
    pub fn commit(&self, message: &str) -> Result<String, FakeError> {
        self.git(&["add", "-A"])?;
        self.git(&["commit", "-q", "--allow-empty", "-m", message])?;
        self.head()
    }

    /// The sha of `HEAD`.
    pub fn head(&self) -> Result<String, FakeError> {
        self.rev_parse("HEAD")
    }

    /// The sha `rev` names.
    pub fn rev_parse(&self, rev: &str) -> Result<String, FakeError> {
        self.git(&["rev-parse", "--verify", rev])
    }

    /// Creates `name` at `HEAD` (without switching to it).
    pub fn branch(&self, name: &str) -> Result<(), FakeError> {
        self.git(&["branch", name]).map(|_| ())
    }

    /// Switches to branch `name`.
    pub fn checkout(&self, name: &str) -> Result<(), FakeError> {
        self.git(&["checkout", "-q", name]).map(|_| ())
    }

    /// Resets the working tree and index to the current branch's head.
    pub fn reset_hard(&self) -> Result<(), FakeError> {
        self.git(&["reset", "-q", "--hard"]).map(|_| ())
    }

    /// Runs any git command in the repository; returns its trimmed standard output.
    pub fn git(&self, args: &[&str]) -> Result<String, FakeError> {
        let output = Command::new("git")
            .arg("-C")
            .arg(self.dir.path())
            .args(args)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .stdin(Stdio::null())
            .output()
            .map_err(|source| FakeError::Spawn { source })?;
        if output.status.success() {
            Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
        } else {
            Err(FakeError::Git {
                args: format!("{} ({})", args.join(" "), String::from_utf8_lossy(&output.stderr).trim()),
            })
        }
    }
}

/// A bare repository (what a git server hosts) and a work clone of it (where a person
/// writes and pushes from), in a temporary directory removed on drop, on branch `main`.
///
/// Git runs with the author given to [`PushRepos::new`] as author and committer, and
/// without `RFD_TRIGGER_URL` / `RFD_TRIGGER_ID` in its environment, so a post-receive hook
/// installed in the bare repository reads its settings from the repository's config.
/// [`PushRepos::commit`] dates commits one second apart from a fixed time, so history has
/// an unambiguous order whatever the clock does.
#[derive(Debug)]
pub struct PushRepos {
    dir: tempfile::TempDir,
    bare: PathBuf,
    work: PathBuf,
    author: (String, String),
    clock: std::cell::Cell<i64>,
}

impl PushRepos {
    /// `git init --bare` and a clone of it, committing as `name <email>`.
    pub fn new(name: &str, email: &str) -> Result<PushRepos, FakeError> {
        let dir = tempfile::Builder::new()
            .prefix("rfd-push-repos")
            .tempdir()
            .map_err(|source| FakeError::Spawn { source })?;
        let bare = dir.path().join("rfd.git");
        let work = dir.path().join("work");
        let repos = PushRepos {
            bare,
            work,
            author: (name.to_string(), email.to_string()),
            clock: std::cell::Cell::new(1_700_000_000),
            dir,
        };
        repos.git(repos.dir.path(), &["init", "--quiet", "--bare", "--initial-branch=main", "rfd.git"])?;
        repos.git(repos.dir.path(), &["clone", "--quiet", "rfd.git", "work"])?;
        repos.git(&repos.work, &["checkout", "--quiet", "-B", "main"])?;
        Ok(repos)
    }

    /// The temporary directory holding both repositories (room for more, e.g. a mirror).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The bare repository.
    pub fn bare(&self) -> &Path {
        &self.bare
    }

    /// The work clone.
    pub fn work(&self) -> &Path {
        &self.work
    }

    /// Writes `content` to `path` of the work clone, creating folders.
    pub fn write(&self, path: &str, content: impl AsRef<[u8]>) -> Result<(), FakeError> {
        let full = self.work.join(path);
        if let Some(parent) = full.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|source| FakeError::Write { path: full.clone(), source })?;
        }
        std::fs::write(&full, content).map_err(|source| FakeError::Write { path: full.clone(), source })
    }

    /// Commits every change of the work clone, dated one second after the previous commit;
    /// returns the new commit.
    pub fn commit(&self, message: &str) -> Result<String, FakeError> {
        self.git(&self.work, &["add", "-A"])?;
        self.clock.set(self.clock.get() + 1);
        let date = format!("@{} +0000", self.clock.get());
        self.run(&self.work, &["commit", "--quiet", "--allow-empty", "-m", message], Some(&date))?;
        self.git(&self.work, &["rev-parse", "HEAD"])
    }

    /// Pushes the work clone's `HEAD` to `branch` of the bare repository; returns what the
    /// push printed (a hook's report goes there).
    pub fn push(&self, branch: &str) -> Result<String, FakeError> {
        let refspec = format!("HEAD:refs/heads/{branch}");
        self.run(&self.work, &["push", "origin", &refspec], None).map(|(_, printed)| printed)
    }

    /// Runs git in `dir` (either repository, or any other); returns its trimmed output.
    pub fn git(&self, dir: &Path, args: &[&str]) -> Result<String, FakeError> {
        self.run(dir, args, None).map(|(stdout, _)| stdout)
    }

    /// Runs git in `dir`, dated `date` if given; returns standard output and error.
    fn run(&self, dir: &Path, args: &[&str], date: Option<&str>) -> Result<(String, String), FakeError> {
        let (name, email) = &self.author;
        let mut command = Command::new("git");
        command
            .arg("-C")
            .arg(dir)
            .args(args)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_AUTHOR_NAME", name)
            .env("GIT_AUTHOR_EMAIL", email)
            .env("GIT_COMMITTER_NAME", name)
            .env("GIT_COMMITTER_EMAIL", email)
            .env_remove("RFD_TRIGGER_URL")
            .env_remove("RFD_TRIGGER_ID")
            .stdin(Stdio::null());
        if let Some(date) = date {
            command.env("GIT_AUTHOR_DATE", date).env("GIT_COMMITTER_DATE", date);
        }
        let output = command.output().map_err(|source| FakeError::Spawn { source })?;
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        if output.status.success() {
            Ok((String::from_utf8_lossy(&output.stdout).trim().to_string(), stderr))
        } else {
            Err(FakeError::Git { args: format!("{} ({})", args.join(" "), stderr.trim()) })
        }
    }
}
