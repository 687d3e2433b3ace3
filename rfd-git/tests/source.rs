//! The git source against real repositories made with the `git` program: a bare
//! repository people push to and a work clone they push from.

use rfd_git::{GitSettings, GitSource, Repository};
use rfd_github_fake::{FakeError, PushRepos};
use rfd_model::source::{RfdSource, SourceError, SourceLocation};
use rfd_model::types::ContentFormat;

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn repos() -> Result<PushRepos, FakeError> {
    PushRepos::new("Ada", "ada@example.com")
}

/// Commits everything and pushes `branch`; returns the commit.
fn commit_and_push(repos: &PushRepos, message: &str, branch: &str) -> Result<String, FakeError> {
    let sha = repos.commit(message)?;
    repos.push(branch)?;
    Ok(sha)
}

fn location() -> SourceLocation {
    SourceLocation {
        owner: "git".into(),
        repository: "rfd".into(),
        default_branch: "main".into(),
        rfd_dir: "rfd".into(),
    }
}

async fn source(repos: &PushRepos) -> GitSource {
    let settings = GitSettings {
        location: location(),
        repository: Repository::Path(repos.bare().to_path_buf()),
        committer_name: "rfd-processor".into(),
        committer_email: "rfd@example.com".into(),
    };
    GitSource::open(&settings).await.unwrap_or_else(|err| panic!("open: {err}"))
}

const ADOC: &str = "= RFD 1 Hello\n:state: discussion\n:authors: Ada <ada@example.com>\n\nBody.\n";

#[tokio::test]
async fn reads_branches_trees_folders_files_and_history() -> TestResult {
    let repos = repos()?;
    repos.write("rfd/0001/README.adoc", ADOC)?;
    repos.write("rfd/0001/figures/arch.svg", "<svg/>")?;
    repos.write("rfd/0002/README.md", "---\nstate: ideation\n---\n# RFD 2 Markdown\n")?;
    repos.write("rfd/notes/README.md", "not an RFD")?;
    repos.write("README.md", "the repository")?;
    let first = commit_and_push(&repos, "two RFDs", "main")?;
    repos.write("README.md", "the repository, edited")?;
    let unrelated = commit_and_push(&repos, "outside the RFDs", "main")?;
    repos.write("rfd/0001/README.adoc", ADOC.replace("Body.", "Body, revised."))?;
    let second = commit_and_push(&repos, "revise RFD 1", "main")?;
    commit_and_push(&repos, "an RFD branch", "0002")?;

    let source = source(&repos).await;
    let branches = source.branches().await?;
    let names: Vec<(&str, &str)> = branches.iter().map(|b| (b.name.as_str(), b.head.as_str())).collect();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(names.contains(&("main", second.as_str())), "{names:?}");

    let tree = source.rfd_tree("main").await?;
    assert_eq!(
        tree.iter().map(|e| e.rfd).collect::<Vec<_>>(),
        [1, 2],
        "folders that are not numbers are left out"
    );
    let old_tree = source.rfd_tree(&first).await?;
    assert_ne!(tree[0].tree_sha, old_tree[0].tree_sha, "RFD 1 changed");
    assert_eq!(tree[1].tree_sha, old_tree[1].tree_sha, "RFD 2 did not");

    let folder = source.read_rfd(1, &second).await?.ok_or("RFD 1 missing")?;
    assert_eq!(folder.readme.format, ContentFormat::Asciidoc);
    assert_eq!(folder.readme.path, "rfd/0001/README.adoc");
    assert!(String::from_utf8_lossy(&folder.readme.content).contains("Body, revised."));
    assert_eq!(folder.tree_sha, tree[0].tree_sha);
    assert_eq!(folder.files.len(), 1);
    assert_eq!(folder.files[0].path, "figures/arch.svg");
    assert_eq!(folder.files[0].size, 6);
    assert_eq!(
        folder.files[0].sha,
        repos.git(repos.work(), &["rev-parse", "HEAD:rfd/0001/figures/arch.svg"])?
    );
    assert_eq!(folder.readme.sha, repos.git(repos.work(), &["rev-parse", "HEAD:rfd/0001/README.adoc"])?);
    let markdown = source.read_rfd(2, "main").await?.ok_or("RFD 2 missing")?;
    assert_eq!(markdown.readme.format, ContentFormat::Markdown);
    assert!(source.read_rfd(3, "main").await?.is_none(), "no such RFD");

    assert_eq!(source.read_file("rfd/0001/figures/arch.svg", &first).await?, b"<svg/>");
    assert!(matches!(source.read_file("rfd/0001/nope", "main").await, Err(SourceError::NotFound(_))));
    assert!(matches!(source.read_rfd(1, &"f".repeat(40)).await, Err(SourceError::NotFound(_))));
    assert!(matches!(source.rfd_tree("no-such-branch").await, Err(SourceError::NotFound(_))));

    let commits = source.rfd_commits(1, "main", 10).await?;
    let shas: Vec<&str> = commits.iter().map(|c| c.sha.as_str()).collect();
    assert_eq!(shas, [second.as_str(), first.as_str()], "newest first, only commits that changed the folder");
    assert!(!shas.contains(&unrelated.as_str()));
    assert_eq!(commits[0].summary, "revise RFD 1");
    assert_eq!(source.rfd_commits(1, "main", 1).await?.len(), 1, "the limit holds");
    assert_eq!(source.rfd_commits(2, "main", 10).await?.len(), 1);
    assert!(source.pull_requests().is_none(), "plain git has no pull requests");
    Ok(())
}

#[tokio::test]
async fn commit_file_writes_once_and_never_over_newer_content() -> TestResult {
    let repos = repos()?;
    repos.write("rfd/0001/README.adoc", ADOC)?;
    repos.write("rfd/0002/README.adoc", ADOC.replace("RFD 1", "RFD 2"))?;
    commit_and_push(&repos, "RFD 1", "main")?;
    let source = source(&repos).await;
    let read = source.read_rfd(1, "main").await?.ok_or("RFD 1 missing")?;

    let fixed = ADOC.replace("discussion", "published");
    let commit = source
        .commit_file("main", &read.readme.path, fixed.as_bytes(), "publish RFD 1", Some(&read.readme.sha))
        .await?
        .ok_or("expected a commit")?;
    assert_eq!(
        repos.git(repos.bare(), &["rev-parse", "refs/heads/main"])?,
        commit.sha,
        "the branch moved to it"
    );
    assert_eq!(repos.git(repos.bare(), &["show", "main:rfd/0001/README.adoc"])?, fixed.trim_end());
    assert_eq!(
        repos.git(repos.bare(), &["log", "-1", "--format=%an <%ae>|%s", "main"])?,
        "rfd-processor <rfd@example.com>|publish RFD 1"
    );
    assert_eq!(
        repos.git(repos.bare(), &["show", "main:rfd/0002/README.adoc"])?,
        ADOC.replace("RFD 1", "RFD 2").trim_end(),
        "other files kept"
    );

    // The same content again: no commit (a retried job is a no-op).
    let again = source
        .commit_file("main", &read.readme.path, fixed.as_bytes(), "publish RFD 1", Some(&read.readme.sha))
        .await?;
    assert!(again.is_none());

    // The README changed since it was read: nothing newer is overwritten.
    let stale = source
        .commit_file("main", &read.readme.path, b"= RFD 1 Stale\n", "stale", Some(&read.readme.sha))
        .await;
    assert!(matches!(stale, Err(SourceError::Conflict(_))), "{stale:?}");
    assert_eq!(repos.git(repos.bare(), &["rev-parse", "refs/heads/main"])?, commit.sha);

    // Someone pushed another file meanwhile: the commit is built on their head.
    repos.git(repos.work(), &["pull", "--quiet", "--ff-only", "origin", "main"])?;
    repos.write("rfd/0002/README.adoc", "= RFD 2 Changed\n")?;
    let theirs = commit_and_push(&repos, "someone else", "main")?;
    let read = source.read_rfd(1, "main").await?.ok_or("RFD 1 missing")?;
    let ours = source
        .commit_file("main", &read.readme.path, ADOC.as_bytes(), "back to discussion", Some(&read.readme.sha))
        .await?
        .ok_or("expected a commit")?;
    assert_eq!(repos.git(repos.bare(), &["rev-parse", &format!("{}^", ours.sha)])?, theirs);
    assert_eq!(repos.git(repos.bare(), &["show", "main:rfd/0002/README.adoc"])?, "= RFD 2 Changed");

    // A missing branch is not found; a new file needs no expected blob.
    assert!(matches!(source.commit_file("9999", "x", b"x", "m", None).await, Err(SourceError::NotFound(_))));
    assert!(source.commit_file("main", "rfd/0003/README.md", b"# RFD 3 New\n", "new", None).await?.is_some());
    assert!(source.read_rfd(3, "main").await?.is_some());

    source.create_branch("0003", "main").await?;
    assert_eq!(
        repos.git(repos.bare(), &["rev-parse", "refs/heads/0003"])?,
        repos.git(repos.bare(), &["rev-parse", "refs/heads/main"])?
    );
    source.create_branch("0003", "main").await?;
    Ok(())
}

#[tokio::test]
async fn a_remote_is_read_through_a_mirror_that_fetches_new_pushes() -> TestResult {
    let repos = repos()?;
    repos.write("rfd/0001/README.adoc", ADOC)?;
    commit_and_push(&repos, "RFD 1", "main")?;
    let mirror = repos.dir().join("mirror.git");
    let url = format!("file://{}", repos.bare().display());
    let settings = GitSettings {
        location: location(),
        repository: Repository::Remote { url, mirror: mirror.clone() },
        committer_name: "rfd-processor".into(),
        committer_email: "rfd@example.com".into(),
    };
    let source = GitSource::open(&settings).await?;
    assert_eq!(source.dir(), mirror);
    assert!(source.read_rfd(1, "main").await?.is_some());

    // A push the mirror has not seen: reading its commit fetches it.
    repos.write("rfd/0002/README.adoc", ADOC.replace("RFD 1", "RFD 2"))?;
    let pushed = commit_and_push(&repos, "RFD 2", "main")?;
    let folder = source.read_rfd(2, &pushed).await?.ok_or("RFD 2 missing after fetch")?;
    assert!(String::from_utf8_lossy(&folder.readme.content).contains("RFD 2"));

    // Writes go to the remote, and the mirror follows.
    let read = source.read_rfd(1, &pushed).await?.ok_or("RFD 1 missing")?;
    let commit = source
        .commit_file("main", &read.readme.path, b"= RFD 1 Remote\n", "via the mirror", Some(&read.readme.sha))
        .await?
        .ok_or("expected a commit")?;
    assert_eq!(repos.git(repos.bare(), &["rev-parse", "refs/heads/main"])?, commit.sha);
    assert_eq!(repos.git(&mirror, &["rev-parse", "refs/heads/main"])?, commit.sha);
    Ok(())
}
