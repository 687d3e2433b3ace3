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
