//! `GitHubSource` over real HTTP against `rfd-github-fake`, which serves a real git
//! repository: the production client code path, call counts included.

use std::time::{Duration, Instant};

use rfd_github::{GitHubAuth, GitHubConfig, GitHubSource, RetryConfig};
use rfd_github_fake::{FakeGitHub, TestRepo};
use rfd_model::source::{PullRequestState, RfdSource, SourceError};
use rfd_model::types::ContentFormat;
use secrecy::SecretString;

type TestResult = Result<(), Box<dyn std::error::Error>>;

const OWNER: &str = "acme";
const REPO: &str = "rfd";

fn config(fake: &FakeGitHub, auth: GitHubAuth) -> GitHubConfig {
    GitHubConfig {
        owner: OWNER.into(),
        repository: REPO.into(),
        default_branch: "main".into(),
        rfd_dir: "rfd".into(),
        api_url: fake.url(),
        auth,
        retry: RetryConfig {
            max_attempts: 3,
            backoff_base_ms: 20,
            backoff_cap_ms: 100,
            max_rate_limit_wait_secs: 5,
            request_timeout_secs: 10,
        },
    }
}

fn token(value: &str) -> GitHubAuth {
    GitHubAuth::Token { token: SecretString::from(value.to_string()) }
}

struct Setup {
    repo: TestRepo,
    fake: FakeGitHub,
    source: GitHubSource,
}

async fn setup(
    build: impl FnOnce(&TestRepo) -> Result<(), rfd_github_fake::FakeError>,
) -> Result<Setup, Box<dyn std::error::Error>> {
    let repo = TestRepo::new()?;
    build(&repo)?;
    let fake = FakeGitHub::start(repo.path(), OWNER, REPO).await?;
    let source = GitHubSource::new(&config(&fake, token("ghp_test")))?;
    Ok(Setup { repo, fake, source })
}

fn basic(repo: &TestRepo) -> Result<(), rfd_github_fake::FakeError> {
    repo.write("README.md", "the RFD repository\n")?;
    repo.write("rfd/0001/README.adoc", ":state: published\n= RFD 1 First\n")?;
    repo.write("rfd/0001/README.md", "# not this one\n")?;
    repo.write("rfd/0001/figures/a.svg", "<svg/>")?;
    repo.write("rfd/0002/README.md", "---\nstate: ideation\n---\n# RFD 2 Second\n")?;
    repo.write("rfd/0003/notes.txt", "no readme here\n")?;
    repo.write("rfd/template/README.adoc", "= RFD NNNN\n")?;
    repo.commit("initial RFDs")?;
    Ok(())
}

#[tokio::test]
async fn read_rfd_prefers_asciidoc_and_lists_the_other_files_in_two_calls() -> TestResult {
    let s = setup(basic).await?;
    let folder = s.source.read_rfd(1, "main").await?.ok_or("RFD 1 missing")?;
    assert_eq!(s.source.calls(), 2, "one tree call and one blob call");
    assert_eq!(s.fake.calls(), 2);
    assert_eq!(s.fake.calls_to("/git/trees/main:rfd/0001?recursive=1"), 1);
    assert_eq!(s.fake.calls_to("/git/blobs/"), 1);

    assert_eq!(folder.readme.format, ContentFormat::Asciidoc);
    assert_eq!(folder.readme.path, "rfd/0001/README.adoc");
    assert_eq!(folder.readme.content, b":state: published\n= RFD 1 First\n");
    assert_eq!(folder.readme.sha, s.repo.rev_parse("main:rfd/0001/README.adoc")?);
    assert_eq!(folder.tree_sha, s.repo.rev_parse("main:rfd/0001")?);
    let mut files: Vec<_> = folder.files.iter().map(|f| (f.path.as_str(), f.size)).collect();
    files.sort();
    assert_eq!(files, vec![("README.md", 15), ("figures/a.svg", 6)]);

    let md = s.source.read_rfd(2, "main").await?.ok_or("RFD 2 missing")?;
    assert_eq!(md.readme.format, ContentFormat::Markdown);
    assert!(md.files.is_empty());

    // At a commit sha, too.
    let head = s.repo.head()?;
    assert!(s.source.read_rfd(2, &head).await?.is_some());

    // A folder without a README, and no folder at all.
    assert!(s.source.read_rfd(3, "main").await?.is_none());
    assert!(s.source.read_rfd(4, "main").await?.is_none());

    // A revision that does not exist is an error, not a missing RFD.
    let missing = s.source.read_rfd(1, "no-such-branch").await;
    assert!(matches!(missing, Err(SourceError::NotFound(_))), "{missing:?}");
    Ok(())
}

#[tokio::test]
async fn rfd_tree_costs_one_call_whatever_the_number_of_rfds() -> TestResult {
    let s = setup(|repo| {
        for n in 1..=1000 {
            repo.write(&format!("rfd/{n:04}/README.adoc"), format!("= RFD {n}\n"))?;
        }
        repo.write("rfd/template/README.adoc", "= RFD NNNN\n")?;
        repo.write("rfd/index.txt", "not a folder\n")?;
        repo.commit("a thousand RFDs")?;
        repo.branch("no-rfds-here")?;
        Ok(())
    })
    .await?;
    let tree = s.source.rfd_tree("main").await?;
    assert_eq!(tree.len(), 1000);
    assert_eq!(s.source.calls(), 1, "rfd_tree must be one call");
    assert_eq!(s.fake.calls(), 1);
    assert_eq!(tree[0].rfd, 1);
    assert_eq!(tree[999].rfd, 1000);
    assert_eq!(tree[41].tree_sha, s.repo.rev_parse("main:rfd/0042")?);

    // No rfd folder on a revision: empty, not an error (one extra call to tell it from a
    // missing revision).
    s.repo.checkout("no-rfds-here")?;
    s.repo.remove("rfd")?;
    s.repo.commit("drop the folder")?;
    s.fake.reset_calls();
    assert!(s.source.rfd_tree("no-rfds-here").await?.is_empty());
    assert_eq!(s.fake.calls(), 2);
    assert!(matches!(s.source.rfd_tree("nope").await, Err(SourceError::NotFound(_))));
    Ok(())
}

#[tokio::test]
async fn branches_paginate_a_hundred_per_call() -> TestResult {
    let s = setup(|repo| {
        basic(repo)?;
        for n in 0..250 {
            repo.branch(&format!("{n:04}"))?;
        }
        Ok(())
    })
    .await?;
    let branches = s.source.branches().await?;
    assert_eq!(branches.len(), 251);
    assert_eq!(s.fake.calls(), 3, "251 branches are three pages of 100");
    assert_eq!(s.fake.calls_to("per_page=100"), 3);
    let head = s.repo.head()?;
    assert!(branches.iter().all(|b| b.head == head));
    assert!(branches.iter().any(|b| b.name == "main"));
    assert!(branches.iter().any(|b| b.name == "0249"));
    Ok(())
}

#[tokio::test]
async fn read_file_small_large_and_missing() -> TestResult {
    let large: Vec<u8> = (0..1_500_000u32).map(|i| (i % 251) as u8).collect();
    let large_copy = large.clone();
    let s = setup(move |repo| {
        basic(repo)?;
        repo.write("rfd/0001/big.bin", &large_copy)?;
        repo.commit("a large figure")?;
        Ok(())
    })
    .await?;
    assert_eq!(
        s.source.read_file("rfd/0002/README.md", "main").await?,
        b"---\nstate: ideation\n---\n# RFD 2 Second\n"
    );
    assert_eq!(s.source.calls(), 1);

    s.fake.reset_calls();
    let bytes = s.source.read_file("rfd/0001/big.bin", "main").await?;
    assert_eq!(bytes.len(), large.len());
    assert!(bytes == large, "large file content differs");
    assert_eq!(s.fake.calls(), 2, "contents, then the blob for a file over 1 MB");
    assert_eq!(s.fake.calls_to("/git/blobs/"), 1);

    let missing = s.source.read_file("rfd/0009/README.adoc", "main").await;
    assert!(matches!(missing, Err(SourceError::NotFound(_))), "{missing:?}");
    Ok(())
}

#[tokio::test]
async fn rfd_commits_is_one_call_newest_first() -> TestResult {
    let s = setup(|repo| {
        basic(repo)?;
        repo.write("rfd/0001/README.adoc", "= RFD 1 Second draft\n")?;
        repo.commit("RFD 1: second draft\n\nWith a body.")?;
        repo.write("rfd/0002/README.md", "# RFD 2 changed\n")?;
        repo.commit("RFD 2 only")?;
        repo.write("rfd/0001/figures/b.svg", "<svg/>")?;
        repo.commit("RFD 1: a figure")?;
        Ok(())
    })
    .await?;
    let commits = s.source.rfd_commits(1, "main", 10).await?;
    assert_eq!(s.fake.calls(), 1);
    assert_eq!(s.fake.calls_to("path=rfd%2F0001"), 1);
    let summaries: Vec<&str> = commits.iter().map(|c| c.summary.as_str()).collect();
    assert_eq!(summaries, vec!["RFD 1: a figure", "RFD 1: second draft", "initial RFDs"]);
    assert_eq!(commits[0].sha, s.repo.head()?);
    assert!(commits[0].committed_at >= commits[2].committed_at);

    let two = s.source.rfd_commits(1, "main", 2).await?;
    assert_eq!(two.len(), 2);
    assert_eq!(s.fake.calls_to("per_page=2"), 1);
    Ok(())
}

#[tokio::test]
async fn rfd_commits_pages_past_a_hundred() -> TestResult {
    let s = setup(|repo| {
        basic(repo)?;
        for n in 0..130 {
            repo.write("rfd/0002/README.md", format!("# RFD 2 v{n}\n"))?;
            repo.commit(&format!("RFD 2 v{n}"))?;
        }
        Ok(())
    })
    .await?;
    let commits = s.source.rfd_commits(2, "main", 1000).await?;
    assert_eq!(commits.len(), 131);
    assert_eq!(s.fake.calls(), 2, "two pages of 100");
    assert_eq!(commits[0].summary, "RFD 2 v129");
    assert_eq!(commits[130].summary, "initial RFDs");
    s.fake.reset_calls();
    assert_eq!(s.source.rfd_commits(2, "main", 120).await?.len(), 120);
    assert_eq!(s.fake.calls(), 2);
    Ok(())
}

#[tokio::test]
async fn commit_file_makes_a_real_commit_and_is_a_no_op_for_identical_content() -> TestResult {
    let s = setup(basic).await?;
    let before = s.repo.rev_parse("main")?;
    let readme_sha = s.repo.rev_parse("main:rfd/0002/README.md")?;
    let new_content = b"---\nstate: discussion\n---\n# RFD 2 Second\n";

    let commit = s
        .source
        .commit_file("main", "rfd/0002/README.md", new_content, "RFD 2: discussion", Some(&readme_sha))
        .await?
        .ok_or("expected a commit")?;
    assert_eq!(s.fake.calls(), 2, "read the current file, then PUT");
    assert_eq!(commit.summary, "RFD 2: discussion");
    assert_eq!(s.repo.rev_parse("main")?, commit.sha);
    assert_eq!(s.repo.git(&["rev-parse", "main^"])?, before);
    assert_eq!(
        s.repo.git(&["log", "-1", "--format=%s", "main", "--", "rfd/0002/README.md"])?,
        "RFD 2: discussion"
    );
    assert_eq!(s.repo.git(&["show", "main:rfd/0002/README.md"])?.as_bytes(), new_content.trim_ascii_end());
    // Only that file changed.
    assert_eq!(s.repo.git(&["diff", "--name-only", &before, "main"])?, "rfd/0002/README.md");

    // The same content again: nothing to do, one call.
    s.fake.reset_calls();
    let again = s.source.commit_file("main", "rfd/0002/README.md", new_content, "again", None).await?;
    assert!(again.is_none());
    assert_eq!(s.fake.calls(), 1);
    assert_eq!(s.repo.rev_parse("main")?, commit.sha);

    // A stale expected blob is refused, and nothing is written.
    let stale =
        s.source.commit_file("main", "rfd/0002/README.md", b"older\n", "stale", Some(&readme_sha)).await;
    assert!(matches!(stale, Err(SourceError::Conflict(_))), "{stale:?}");
    assert_eq!(s.repo.rev_parse("main")?, commit.sha);

    // A new file.
    let created = s.source.commit_file("main", "rfd/0005/README.adoc", b"= RFD 5\n", "RFD 5", None).await?;
    assert!(created.is_some());
    assert_eq!(s.repo.git(&["show", "main:rfd/0005/README.adoc"])?, "= RFD 5");

    // GitHub refusing the write (the file moved under us) is a conflict.
    s.fake.fail_next_writes(1, 409);
    let refused = s.source.commit_file("main", "rfd/0005/README.adoc", b"= RFD 5 v2\n", "v2", None).await;
    assert!(matches!(refused, Err(SourceError::Conflict(_))), "{refused:?}");

    // A missing branch.
    let nowhere = s.source.commit_file("nope", "rfd/0001/x.txt", b"x", "x", None).await;
    assert!(matches!(nowhere, Err(SourceError::NotFound(_))), "{nowhere:?}");
    Ok(())
}

#[tokio::test]
async fn create_branch_from_a_name_or_a_sha() -> TestResult {
    let s = setup(basic).await?;
    let head = s.repo.head()?;
    s.source.create_branch("0007", "main").await?;
    assert_eq!(s.repo.rev_parse("refs/heads/0007")?, head);
    s.fake.reset_calls();
    s.source.create_branch("0008", &head).await?;
    assert_eq!(s.fake.calls(), 1, "from a sha no lookup is needed");
    assert_eq!(s.repo.rev_parse("refs/heads/0008")?, head);
    let exists = s.source.create_branch("0008", &head).await;
    assert!(matches!(exists, Err(SourceError::Conflict(_))), "{exists:?}");
    Ok(())
}

#[tokio::test]
async fn pull_requests_labels_and_titles() -> TestResult {
    let s = setup(|repo| {
        basic(repo)?;
        repo.branch("0001")?;
        Ok(())
    })
    .await?;
    let host = s.source.pull_requests().ok_or("GitHub has pull requests")?;
    assert!(host.pull_requests_for_branch("0001").await?.is_empty());

    let pr = host.create_pull_request("0001", "RFD 1 First", "Discussion of RFD 1").await?;
    assert_eq!(pr.state, PullRequestState::Open);
    assert!(!pr.merged);
    assert_eq!((pr.head_branch.as_str(), pr.base_branch.as_str()), ("0001", "main"));
    assert!(pr.html_url.ends_with(&format!("/pull/{}", pr.number)));

    // A second one for the same branch is refused while the first is open.
    let duplicate = host.create_pull_request("0001", "again", "").await;
    assert!(matches!(duplicate, Err(SourceError::Conflict(_))), "{duplicate:?}");

    s.fake.reset_calls();
    host.update_pull_request_title(pr.number, "RFD 1 First (renamed)").await?;
    host.add_labels(pr.number, &["rfd".to_string(), "discussion".to_string()]).await?;
    host.add_labels(pr.number, &["discussion".to_string()]).await?;
    host.add_labels(pr.number, &[]).await?;
    host.remove_label(pr.number, "rfd").await?;
    host.remove_label(pr.number, "never-there").await?;
    assert_eq!(s.fake.calls(), 5, "one call each; no call for no labels");

    let fake_pr = s.fake.pull_requests().into_iter().find(|p| p.number == pr.number).ok_or("missing")?;
    assert_eq!(fake_pr.title, "RFD 1 First (renamed)");
    assert_eq!(fake_pr.body, "Discussion of RFD 1", "the body is kept");
    assert_eq!(fake_pr.labels, vec!["discussion".to_string()]);

    // Closed and merged, then a newer one: newest first.
    assert!(s.fake.close_pull_request(pr.number, true));
    let newer = host.create_pull_request("0001", "RFD 1 again", "").await?;
    s.fake.add_pull_request("other", "main", "unrelated");
    let listed = host.pull_requests_for_branch("0001").await?;
    let numbers: Vec<i64> = listed.iter().map(|p| p.number).collect();
    assert_eq!(numbers, vec![newer.number, pr.number]);
    assert_eq!(listed[1].state, PullRequestState::Closed);
    assert!(listed[1].merged);
    assert_eq!(listed[1].labels, vec!["discussion".to_string()]);
    assert_eq!(listed[1].title, "RFD 1 First (renamed)");

    let missing = host.remove_label(999, "rfd").await;
    assert!(matches!(missing, Err(SourceError::NotFound(_))), "{missing:?}");
    let missing = host.update_pull_request_title(999, "x").await;
    assert!(matches!(missing, Err(SourceError::NotFound(_))), "{missing:?}");
    Ok(())
}

#[tokio::test]
async fn rate_limit_waits_for_the_reset_instead_of_hammering() -> TestResult {
    let s = setup(basic).await?;
    let reset = (chrono::Utc::now().timestamp() + 2).to_string();
    s.fake.fail_next(1, 403, &[("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", &reset)]);
    let started = Instant::now();
    let tree = s.source.rfd_tree("main").await?;
    assert_eq!(tree.len(), 3);
    assert_eq!(s.fake.calls(), 2, "one refused call, one after the reset");
    assert_eq!(s.source.calls(), 2);
    assert!(started.elapsed() >= Duration::from_millis(1000), "it must wait for the reset");
    assert_eq!(s.source.rate_limit_remaining(), Some(4998), "the last remaining count is kept");

    // Concurrent calls wait for the same reset instead of each being refused.
    s.fake.reset_calls();
    let reset = (chrono::Utc::now().timestamp() + 1).to_string();
    s.fake.fail_next(1, 403, &[("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", &reset)]);
    s.source.rfd_tree("main").await?;
    let (a, b, c) =
        tokio::join!(s.source.rfd_tree("main"), s.source.branches(), s.source.read_rfd(2, "main"));
    assert!(a.is_ok() && b.is_ok() && c.is_ok());
    assert_eq!(s.fake.calls(), 6, "1 refused + 1 retried + 4 for the three calls");

    // Secondary limits say Retry-After.
    s.fake.reset_calls();
    s.fake.fail_next(1, 429, &[("retry-after", "1")]);
    let started = Instant::now();
    s.source.branches().await?;
    assert_eq!(s.fake.calls(), 2);
    assert!(started.elapsed() >= Duration::from_secs(1));

    // A reset further away than the client may wait: RateLimited at once, one call.
    s.fake.reset_calls();
    let far = (chrono::Utc::now().timestamp() + 3600).to_string();
    s.fake.fail_next(1, 403, &[("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", &far)]);
    let started = Instant::now();
    let limited = s.source.branches().await;
    match limited {
        Err(SourceError::RateLimited { retry_after }) => assert!(retry_after > Duration::from_secs(3000)),
        other => return Err(format!("expected RateLimited, got {other:?}").into()),
    }
    assert_eq!(s.fake.calls(), 1);
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(s.source.rate_limit_remaining(), Some(0));

    // Until the reset, the client does not call GitHub at all, from any method.
    let before = s.source.calls();
    let held = s.source.read_rfd(1, "main").await;
    assert!(matches!(held, Err(SourceError::RateLimited { .. })), "{held:?}");
    let held = s.source.pull_requests().ok_or("pull requests")?.pull_requests_for_branch("0001").await;
    assert!(matches!(held, Err(SourceError::RateLimited { .. })), "{held:?}");
    assert_eq!(s.fake.calls(), 1, "no call while the limit holds");
    assert_eq!(s.source.calls(), before);
    Ok(())
}

#[tokio::test]
async fn server_errors_are_retried_then_reported_as_transient() -> TestResult {
    let s = setup(basic).await?;
    s.fake.fail_next(2, 502, &[]);
    assert_eq!(s.source.read_file("README.md", "main").await?, b"the RFD repository\n");
    assert_eq!(s.fake.calls(), 3);

    s.fake.reset_calls();
    s.fake.fail_next(10, 500, &[]);
    let failed = s.source.read_file("README.md", "main").await;
    assert!(matches!(&failed, Err(e @ SourceError::Transient(_)) if e.is_transient()), "{failed:?}");
    assert_eq!(s.fake.calls(), 3, "max_attempts bounds the retries");
    Ok(())
}

#[tokio::test]
async fn refused_credentials_are_auth_errors() -> TestResult {
    let s = setup(basic).await?;
    s.fake.require_token("the-right-one");
    let refused = s.source.branches().await;
    assert!(matches!(refused, Err(SourceError::Auth(_))), "{refused:?}");
    assert_eq!(s.fake.calls(), 1, "a refused token is not retried");

    s.fake.fail_next(1, 403, &[]);
    let forbidden = GitHubSource::new(&config(&s.fake, token("the-right-one")))?.branches().await;
    assert!(matches!(forbidden, Err(SourceError::Auth(_))), "{forbidden:?}");
    Ok(())
}

#[tokio::test]
async fn token_auth_sends_the_token_on_every_call() -> TestResult {
    let s = setup(basic).await?;
    s.fake.require_token("ghp_test");
    s.source.rfd_tree("main").await?;
    s.source.read_rfd(1, "main").await?;
    let requests = s.fake.requests();
    assert_eq!(requests.len(), 3);
    assert!(requests.iter().all(|r| r.authorization.as_deref() == Some("token ghp_test")));
    // The token never appears in the client's Debug output.
    assert!(!format!("{:?}", s.source).contains("ghp_test"));
    Ok(())
}

#[tokio::test]
async fn app_auth_mints_an_installation_token_and_uses_it() -> TestResult {
    let s = setup(basic).await?;
    let key_dir = tempfile::tempdir()?;
    let key_path = key_dir.path().join("app.pem");
    let status = std::process::Command::new("openssl")
        .args(["genrsa", "-out"])
        .arg(&key_path)
        .arg("2048")
        .stderr(std::process::Stdio::null())
        .status()?;
    assert!(status.success(), "openssl genrsa failed");
    // GitHub hands out PKCS#1 keys (`BEGIN RSA PRIVATE KEY`); openssl 3 writes PKCS#8.
    let pkcs1_path = key_dir.path().join("app-pkcs1.pem");
    let status = std::process::Command::new("openssl")
        .args(["rsa", "-traditional", "-in"])
        .arg(&key_path)
        .arg("-out")
        .arg(&pkcs1_path)
        .stderr(std::process::Stdio::null())
        .status()?;
    assert!(status.success(), "openssl rsa -traditional failed");
    assert!(std::fs::read_to_string(&pkcs1_path)?.starts_with("-----BEGIN RSA PRIVATE KEY-----"));

    s.fake.enable_app(4242, 77);
    let app = GitHubSource::new(&config(
        &s.fake,
        GitHubAuth::App { app_id: 4242, installation_id: 77, private_key_path: key_path.clone() },
    ))?;
    app.rfd_tree("main").await?;
    app.read_rfd(1, "main").await?;
    assert_eq!(s.fake.tokens_minted(), 1, "one token serves many calls");
    assert_eq!(app.calls(), 4, "the token exchange counts as a call");
    let requests = s.fake.requests();
    assert_eq!(requests[0].path, "/app/installations/77/access_tokens");
    assert!(requests[0].authorization.as_deref().is_some_and(|a| a.starts_with("Bearer ")));
    assert!(
        requests[1..]
            .iter()
            .all(|r| r.authorization.as_deref().is_some_and(|a| a.starts_with("token ghs_fake")))
    );

    // A PKCS#1 key works the same.
    let pkcs1 = GitHubSource::new(&config(
        &s.fake,
        GitHubAuth::App { app_id: 4242, installation_id: 77, private_key_path: pkcs1_path },
    ))?;
    assert_eq!(pkcs1.branches().await?.len(), 1);
    assert_eq!(s.fake.tokens_minted(), 2);
    s.fake.revoke_installation_tokens();
    assert!(pkcs1.branches().await.is_ok(), "a revoked token is replaced");

    // A revoked token (the app was reinstalled): one 401, a new token, the call succeeds.
    s.fake.reset_calls();
    s.fake.revoke_installation_tokens();
    assert_eq!(app.branches().await?.len(), 1);
    assert_eq!(s.fake.tokens_minted(), 4);
    assert_eq!(s.fake.calls(), 3, "401, token exchange, retried call");

    // A wrong installation is an auth or not-found error, not a retry loop.
    s.fake.reset_calls();
    let wrong = GitHubSource::new(&config(
        &s.fake,
        GitHubAuth::App { app_id: 4242, installation_id: 78, private_key_path: key_path },
    ))?;
    let refused = wrong.branches().await;
    assert!(matches!(refused, Err(SourceError::NotFound(_) | SourceError::Auth(_))), "{refused:?}");
    assert_eq!(s.fake.calls(), 1);

    // A key file that is not a key is refused when the source is built.
    let bad_path = key_dir.path().join("bad.pem");
    std::fs::write(&bad_path, "not a key")?;
    let bad = GitHubSource::new(&config(
        &s.fake,
        GitHubAuth::App { app_id: 1, installation_id: 1, private_key_path: bad_path },
    ));
    assert!(matches!(bad, Err(rfd_github::GitHubError::InvalidPrivateKey { .. })));
    Ok(())
}

#[tokio::test]
async fn browse_urls_point_at_the_web_view() -> TestResult {
    let s = setup(basic).await?;
    let mut github = config(&s.fake, token("t"));
    github.api_url = "https://api.github.com".into();
    let source = GitHubSource::new(&github)?;
    assert_eq!(
        source.browse_url("0001", "rfd/0001").as_deref(),
        Some("https://github.com/acme/rfd/tree/0001/rfd/0001")
    );
    Ok(())
}

#[tokio::test]
async fn a_nested_rfd_dir_works() -> TestResult {
    let repo = TestRepo::new()?;
    repo.write("docs/rfd/0010/README.md", "# RFD 10 Nested\n")?;
    repo.write("docs/rfd/0011/README.adoc", "= RFD 11 Nested\n")?;
    repo.commit("nested")?;
    let fake = FakeGitHub::start(repo.path(), OWNER, REPO).await?;
    let mut nested = config(&fake, token("t"));
    nested.rfd_dir = "/docs/rfd/".into();
    let source = GitHubSource::new(&nested)?;
    let tree = source.rfd_tree("main").await?;
    assert_eq!(tree.iter().map(|e| e.rfd).collect::<Vec<_>>(), vec![10, 11]);
    let folder = source.read_rfd(10, "main").await?.ok_or("RFD 10 missing")?;
    assert_eq!(folder.readme.path, "docs/rfd/0010/README.md");
    assert_eq!(source.rfd_commits(11, "main", 5).await?.len(), 1);
    Ok(())
}
