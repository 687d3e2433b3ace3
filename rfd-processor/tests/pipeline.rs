//! The pipeline and the scanner against real PostgreSQL, a real git repository and the
//! local GitHub fake, through the production GitHub client.

#[macro_use]
mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use common::{GIT_SECOND, OWNER, REPO, World, attempt, update, world_with};
use rfd_github_fake::{FakeGitHub, TestRepo};
use rfd_model::source::{
    Branch, CommitInfo, PullRequest, PullRequestHost, RfdFolder, RfdSource, RfdTreeEntry, SourceLocation,
    SourceResult,
};
use rfd_model::{JobKind, JobState, NewJob, NewRevision, NewRfd, ReadScope, RevisionRef, Visibility};
use rfd_processor::pipeline::{ActionName, JobProcessor, Pipeline, PipelineSettings, UpdateMode};
use rfd_processor::runner::{Runner, RunnerSettings};
use rfd_processor::scanner::{Scanner, ScannerSettings};

fn adoc(number: i32, title: &str, state: &str) -> String {
    format!(
        ":authors: Ada Lovelace <ada@example.com>\n:state: {state}\n\n= RFD {number} {title}\n\n== Background\n\nWhy {title} matters.\n"
    )
}

/// A repository whose main holds RFD 1 (published), with branch 0042 holding RFD 42 in
/// discussion (no discussion URL yet).
fn discussion_repo() -> (TestRepo, String) {
    let repo = ok!(TestRepo::new(), "repo");
    ok!(repo.write("rfd/0001/README.adoc", adoc(1, "First", "published")), "write");
    ok!(repo.commit("RFD 1"), "commit");
    ok!(repo.branch("0042"), "branch");
    ok!(repo.checkout("0042"), "checkout");
    ok!(repo.write("rfd/0042/README.adoc", adoc(42, "Queues for everyone", "discussion")), "write");
    let head = ok!(repo.commit("RFD 42: start"), "commit");
    (repo, head)
}

fn pipeline(world: &World, source: Arc<dyn RfdSource>, mode: UpdateMode) -> Pipeline {
    let settings = PipelineSettings { mode, ..PipelineSettings::default() };
    Pipeline::new(world.store.clone(), source, settings, 10)
}

/// Runs the real runner over the pipeline until every job is processed.
async fn drain(world: &World, mode: UpdateMode) {
    let processor = JobProcessor::Pipeline(pipeline(world, world.source.clone(), mode));
    let settings = RunnerSettings { poll_interval_ms: 50, ..RunnerSettings::default() };
    let runner = Runner::new(world.store.clone(), processor, settings, "test-runner".into());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(runner.run(async move {
        let _ = stopped.await;
    }));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let jobs = ok!(
            world.store.list_jobs(&rfd_model::JobFilter::default(), rfd_model::Page::first(100)).await,
            "jobs"
        );
        if jobs.iter().all(|j| j.processed) {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "jobs did not finish: {jobs:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = stop.send(());
    let _ = running.await;
}

fn file_at(repo: &TestRepo, rev: &str, path: &str) -> String {
    ok!(repo.git(&["show", &format!("{rev}:{path}")]), "git show")
}

fn commits_on(repo: &TestRepo, branch: &str) -> usize {
    ok!(repo.git(&["rev-list", "--count", branch]), "rev-list").trim().parse().unwrap_or(0)
}

fn writes(fake: &FakeGitHub) -> Vec<String> {
    fake.requests().into_iter().filter(|r| r.method != "GET").map(|r| r.line()).collect()
}

#[tokio::test]
async fn a_discussion_branch_gets_its_pull_request_label_and_url_in_one_commit() {
    let (repo, head) = discussion_repo();
    let world = world_with(repo).await;
    let before = commits_on(&world.repo, "0042");
    let pipeline = pipeline(&world, world.source.clone(), UpdateMode::Write);
    ok!(world.store.enqueue(&[update(42, "0042", &head)]).await, "enqueue");
    ok!(attempt(&world.store, &pipeline).await, "the job");

    let prs = world.fake.pull_requests();
    assert_eq!(prs.len(), 1, "one pull request: {prs:?}");
    let pr = &prs[0];
    assert_eq!((pr.head.as_str(), pr.base.as_str(), pr.state.as_str()), ("0042", "main", "open"));
    assert_eq!(pr.title, "RFD 42 Queues for everyone");
    assert_eq!(pr.labels, vec![":thought_balloon: discussion".to_string()]);

    assert_eq!(commits_on(&world.repo, "0042"), before + 1, "exactly one fix commit");
    let readme = file_at(&world.repo, "0042", "rfd/0042/README.adoc");
    let url = format!("/{OWNER}/{REPO}/pull/{}", pr.number);
    assert!(
        readme.lines().any(|line| line.starts_with(":discussion: ") && line.ends_with(&url)),
        "the discussion URL is written back: {readme}"
    );
    assert!(readme.contains(":state: discussion") && readme.contains("Why Queues for everyone matters."));

    let meta = ok!(world.store.get_rfd_meta(&ReadScope::All, 42, RevisionRef::Latest).await, "meta")
        .unwrap_or_else(|| panic!("RFD 42 stored"));
    assert_eq!(meta.title.as_deref(), Some("Queues for everyone"));
    assert_eq!(meta.state.as_deref(), Some("discussion"));
    assert_eq!(meta.commit.as_deref(), Some(head.as_str()));
    assert_eq!(meta.authors.as_deref(), Some("Ada Lovelace <ada@example.com>"));

    // The platform's own commit comes back as a push: its job changes nothing more.
    let fixed = ok!(world.repo.rev_parse("0042"), "rev-parse");
    world.fake.reset_calls();
    ok!(world.store.enqueue(&[update(42, "0042", &fixed)]).await, "enqueue");
    ok!(attempt(&world.store, &pipeline).await, "the fix commit's job");
    assert_eq!(writes(&world.fake), Vec::<String>::new(), "no loop: the second job writes nothing");
    assert_eq!(commits_on(&world.repo, "0042"), before + 1);
    let meta = ok!(world.store.get_rfd_meta(&ReadScope::All, 42, RevisionRef::Latest).await, "meta")
        .unwrap_or_else(|| panic!("RFD 42 stored"));
    assert_eq!(meta.commit.as_deref(), Some(fixed.as_str()), "the fix commit is the latest revision");
    assert!(meta.discussion.as_deref().is_some_and(|d| d.ends_with(&url)));
}

/// Lets writes through until the `crash_after`-th one has happened, then fails the attempt
/// as a crash right after that write would (the write landed; the job never recorded it).
struct CrashAfter {
    inner: Arc<dyn RfdSource>,
    crash_after: usize,
    writes: AtomicUsize,
}

impl CrashAfter {
    fn write_done<T>(&self, result: SourceResult<T>) -> SourceResult<T> {
        let value = result?;
        if self.writes.fetch_add(1, Ordering::SeqCst) + 1 == self.crash_after {
            return Err(rfd_model::source::SourceError::Transient("simulated crash after the write".into()));
        }
        Ok(value)
    }
}

#[async_trait]
impl RfdSource for CrashAfter {
    fn location(&self) -> &SourceLocation {
        self.inner.location()
    }
    async fn branches(&self) -> SourceResult<Vec<Branch>> {
        self.inner.branches().await
    }
    async fn rfd_tree(&self, rev: &str) -> SourceResult<Vec<RfdTreeEntry>> {
        self.inner.rfd_tree(rev).await
    }
    async fn read_rfd(&self, rfd: i32, rev: &str) -> SourceResult<Option<RfdFolder>> {
        self.inner.read_rfd(rfd, rev).await
    }
    async fn read_file(&self, path: &str, rev: &str) -> SourceResult<Vec<u8>> {
        self.inner.read_file(path, rev).await
    }
    async fn rfd_commits(&self, rfd: i32, rev: &str, limit: usize) -> SourceResult<Vec<CommitInfo>> {
        self.inner.rfd_commits(rfd, rev, limit).await
    }
    async fn commit_file(
        &self,
        branch: &str,
        path: &str,
        content: &[u8],
        message: &str,
        expected_sha: Option<&str>,
    ) -> SourceResult<Option<CommitInfo>> {
        self.write_done(self.inner.commit_file(branch, path, content, message, expected_sha).await)
    }
    async fn create_branch(&self, branch: &str, from: &str) -> SourceResult<()> {
        self.write_done(self.inner.create_branch(branch, from).await)
    }
    fn pull_requests(&self) -> Option<&dyn PullRequestHost> {
        Some(self)
    }
}

#[async_trait]
impl PullRequestHost for CrashAfter {
    async fn pull_requests_for_branch(&self, branch: &str) -> SourceResult<Vec<PullRequest>> {
        let host = self
            .inner
            .pull_requests()
            .ok_or_else(|| rfd_model::source::SourceError::Other("no PRs".into()))?;
        host.pull_requests_for_branch(branch).await
    }
    async fn create_pull_request(&self, branch: &str, title: &str, body: &str) -> SourceResult<PullRequest> {
        let host = self
            .inner
            .pull_requests()
            .ok_or_else(|| rfd_model::source::SourceError::Other("no PRs".into()))?;
        self.write_done(host.create_pull_request(branch, title, body).await)
    }
    async fn update_pull_request_title(&self, number: i64, title: &str) -> SourceResult<()> {
        let host = self
            .inner
            .pull_requests()
            .ok_or_else(|| rfd_model::source::SourceError::Other("no PRs".into()))?;
        self.write_done(host.update_pull_request_title(number, title).await)
    }
    async fn add_labels(&self, number: i64, labels: &[String]) -> SourceResult<()> {
        let host = self
            .inner
            .pull_requests()
            .ok_or_else(|| rfd_model::source::SourceError::Other("no PRs".into()))?;
        self.write_done(host.add_labels(number, labels).await)
    }
    async fn remove_label(&self, number: i64, label: &str) -> SourceResult<()> {
        let host = self
            .inner
            .pull_requests()
            .ok_or_else(|| rfd_model::source::SourceError::Other("no PRs".into()))?;
        self.write_done(host.remove_label(number, label).await)
    }
    async fn pull_request_comments(
        &self,
        number: i64,
    ) -> SourceResult<Vec<rfd_model::source::PullRequestComment>> {
        let host = self
            .inner
            .pull_requests()
            .ok_or_else(|| rfd_model::source::SourceError::Other("no PRs".into()))?;
        host.pull_request_comments(number).await
    }
}

#[tokio::test]
async fn a_job_retried_after_a_crash_at_each_action_makes_no_duplicates() {
    // The job makes three writes: open the PR, label it, commit the discussion URL.
    for crash_after in 1..=3 {
        let (repo, head) = discussion_repo();
        let world = world_with(repo).await;
        let before = commits_on(&world.repo, "0042");
        let crashing: Arc<dyn RfdSource> =
            Arc::new(CrashAfter { inner: world.source.clone(), crash_after, writes: AtomicUsize::new(0) });
        ok!(world.store.enqueue(&[update(42, "0042", &head)]).await, "enqueue");

        let first = attempt(&world.store, &pipeline(&world, crashing, UpdateMode::Write)).await;
        assert!(first.is_err(), "crash after write {crash_after}: the attempt fails");
        ok!(
            attempt(&world.store, &pipeline(&world, world.source.clone(), UpdateMode::Write)).await,
            "the retry"
        );

        let prs = world.fake.pull_requests();
        assert_eq!(prs.len(), 1, "crash after write {crash_after}: one pull request");
        assert_eq!(prs[0].labels, vec![":thought_balloon: discussion".to_string()], "labelled once");
        assert_eq!(
            commits_on(&world.repo, "0042"),
            before + 1,
            "crash after write {crash_after}: one commit"
        );
        let jobs = ok!(
            world.store.list_jobs(&rfd_model::JobFilter::default(), rfd_model::Page::first(10)).await,
            "jobs"
        );
        assert_eq!(jobs[0].state, JobState::Succeeded);
        assert_eq!(jobs[0].attempts, 2);
    }
}

#[tokio::test]
async fn read_mode_writes_nothing_outside_and_stores_the_source_content() {
    let (repo, head) = discussion_repo();
    let world = world_with(repo).await;
    let before = commits_on(&world.repo, "0042");
    ok!(world.store.enqueue(&[update(42, "0042", &head)]).await, "enqueue");
    ok!(attempt(&world.store, &pipeline(&world, world.source.clone(), UpdateMode::Read)).await, "the job");

    assert_eq!(writes(&world.fake), Vec::<String>::new(), "read mode makes no write call");
    assert!(world.fake.pull_requests().is_empty());
    assert_eq!(commits_on(&world.repo, "0042"), before);
    let raw = ok!(world.store.get_rfd_raw(&ReadScope::All, 42, RevisionRef::Latest).await, "raw")
        .unwrap_or_else(|| panic!("RFD 42 stored"));
    // (git show's output comes back trimmed.)
    assert_eq!(
        raw.content.as_deref().map(str::trim_end),
        Some(file_at(&world.repo, &head, "rfd/0042/README.adoc").as_str())
    );
    assert_eq!(raw.meta.discussion, None, "the stored content is the source's, unfixed");
}

#[tokio::test]
async fn out_of_order_jobs_keep_the_newest_revision() {
    let repo = ok!(TestRepo::new(), "repo");
    ok!(repo.write("rfd/0005/README.adoc", adoc(5, "Ordering", "discussion")), "write");
    let older = ok!(repo.commit("older"), "commit");
    tokio::time::sleep(GIT_SECOND).await;
    ok!(repo.write("rfd/0005/README.adoc", adoc(5, "Ordering", "published")), "write");
    let newer = ok!(repo.commit("newer"), "commit");
    let world = world_with(repo).await;
    let settings = PipelineSettings { mode: UpdateMode::Read, ..PipelineSettings::default() };

    // Processed directly in the wrong order: history has both, the newest stays latest.
    let pipeline = Pipeline::new(world.store.clone(), world.source.clone(), settings.clone(), 10);
    ok!(world.store.enqueue(&[update(5, "main", &newer)]).await, "enqueue");
    ok!(attempt(&world.store, &pipeline).await, "newer");
    ok!(world.store.enqueue(&[update(5, "main", &older)]).await, "enqueue");
    ok!(attempt(&world.store, &pipeline).await, "older");
    let meta = ok!(world.store.get_rfd_meta(&ReadScope::All, 5, RevisionRef::Latest).await, "meta")
        .unwrap_or_else(|| panic!("stored"));
    assert_eq!(meta.commit.as_deref(), Some(newer.as_str()));
    assert_eq!(meta.state.as_deref(), Some("published"));
    let rfd = ok!(world.store.get_rfd(5).await, "rfd").unwrap_or_else(|| panic!("rfd"));
    let revisions = ok!(world.store.list_revisions(rfd.id, rfd_model::Page::first(10)).await, "revisions");
    assert_eq!(revisions.iter().map(|r| r.commit_sha.as_str()).collect::<Vec<_>>(), vec![&newer, &older]);
}

#[tokio::test]
async fn a_visibility_set_through_the_api_survives_the_job() {
    let (repo, head) = discussion_repo();
    let world = world_with(repo).await;
    ok!(
        world.store.insert_rfd(&NewRfd { rfd_number: 42, link: None, visibility: Visibility::Private }).await,
        "rfd"
    );
    ok!(world.store.set_visibility(42, Visibility::Public).await, "visibility");
    ok!(world.store.enqueue(&[update(42, "0042", &head)]).await, "enqueue");
    ok!(attempt(&world.store, &pipeline(&world, world.source.clone(), UpdateMode::Read)).await, "the job");
    let rfd = ok!(world.store.get_rfd(42).await, "rfd").unwrap_or_else(|| panic!("rfd"));
    assert_eq!(rfd.visibility, Visibility::Public);
    assert!(rfd.link.is_some_and(|link| link.contains("0042")), "the link points at the branch");
}

#[tokio::test]
async fn markdown_and_flawed_documents_are_stored_and_flagged() {
    let repo = ok!(TestRepo::new(), "repo");
    ok!(
        repo.write(
            "rfd/0007/README.md",
            "---\nstate: published\nauthors: Grace Hopper\n---\n# RFD 7 Markdown works\n\nBody.\n"
        ),
        "write"
    );
    ok!(repo.write("rfd/0008/README.adoc", "Just some text without a title or a state.\n"), "write");
    let head = ok!(repo.commit("two RFDs"), "commit");
    let world = world_with(repo).await;
    let pipeline = pipeline(&world, world.source.clone(), UpdateMode::Read);
    ok!(world.store.enqueue(&[update(7, "main", &head), update(8, "main", &head)]).await, "enqueue");
    ok!(attempt(&world.store, &pipeline).await, "RFD 7");
    ok!(attempt(&world.store, &pipeline).await, "RFD 8");

    let md = ok!(world.store.get_rfd_meta(&ReadScope::All, 7, RevisionRef::Latest).await, "meta")
        .unwrap_or_else(|| panic!("RFD 7 stored"));
    assert_eq!(md.title.as_deref(), Some("Markdown works"));
    assert_eq!(md.format, Some(rfd_model::ContentFormat::Markdown));
    assert_eq!(md.state.as_deref(), Some("published"));
    let flawed = ok!(world.store.get_rfd_meta(&ReadScope::All, 8, RevisionRef::Latest).await, "meta");
    assert!(flawed.is_some(), "a document without title or state is still stored");
    let problems = ok!(tokio_postgres_problems(&world.db.url, 8).await, "problems");
    assert!(
        problems.contains(&"missing_title".to_string()) && problems.contains(&"missing_state".to_string()),
        "{problems:?}"
    );
    // On the default branch, an RFD not yet published is kept as a job warning.
    let jobs = ok!(
        world
            .store
            .list_jobs(&rfd_model::JobFilter { rfd: Some(8), state: None }, rfd_model::Page::first(1))
            .await,
        "jobs"
    );
    let warnings = ok!(world.store.job_warnings(jobs[0].id).await, "warnings");
    assert!(warnings.iter().any(|w| w.action == "EnsureRfdOnDefaultIsInValidState"), "{warnings:?}");
}

async fn tokio_postgres_problems(url: &str, number: i32) -> Result<Vec<String>, String> {
    use diesel::prelude::*;
    use diesel_async::{AsyncConnection, RunQueryDsl};
    let mut conn = diesel_async::AsyncPgConnection::establish(url).await.map_err(|e| e.to_string())?;
    use rfd_model::schema::{rfd, rfd_revision};
    rfd_revision::table
        .inner_join(rfd::table)
        .filter(rfd::rfd_number.eq(number))
        .select(rfd_revision::problems)
        .first::<Vec<String>>(&mut conn)
        .await
        .map_err(|e| e.to_string())
}

#[tokio::test]
async fn includes_are_expanded_in_the_stored_content_only() {
    let repo = ok!(TestRepo::new(), "repo");
    ok!(repo.write("rfd/0003/README.adoc", ":state: published\n\n= RFD 3 Includes\n\ninclude::part.adoc[]\n\ninclude::../0001/secret.adoc[]\n"), "write");
    ok!(repo.write("rfd/0003/part.adoc", "The included part.\n"), "write");
    let head = ok!(repo.commit("includes"), "commit");
    let world = world_with(repo).await;
    ok!(world.store.enqueue(&[update(3, "main", &head)]).await, "enqueue");
    ok!(attempt(&world.store, &pipeline(&world, world.source.clone(), UpdateMode::Write)).await, "the job");
    let raw = ok!(world.store.get_rfd_raw(&ReadScope::All, 3, RevisionRef::Latest).await, "raw")
        .unwrap_or_else(|| panic!("stored"));
    let content = raw.content.unwrap_or_default();
    assert!(content.contains("The included part.") && !content.contains("include::part.adoc[]"), "{content}");
    assert!(content.contains("include::../0001/secret.adoc[]"), "paths outside the folder are left alone");
    assert!(writes(&world.fake).is_empty(), "includes are not committed back");

    // Read mode stores the repository's content exactly: nothing is expanded.
    let world = world_with(ok!(TestRepo::new(), "repo")).await;
    ok!(
        world
            .repo
            .write("rfd/0003/README.adoc", ":state: published\n\n= RFD 3 Includes\n\ninclude::part.adoc[]\n"),
        "write"
    );
    ok!(world.repo.write("rfd/0003/part.adoc", "The included part.\n"), "write");
    let head = ok!(world.repo.commit("includes"), "commit");
    ok!(world.store.enqueue(&[update(3, "main", &head)]).await, "enqueue");
    ok!(attempt(&world.store, &pipeline(&world, world.source.clone(), UpdateMode::Read)).await, "the job");
    let raw = ok!(world.store.get_rfd_raw(&ReadScope::All, 3, RevisionRef::Latest).await, "raw")
        .unwrap_or_else(|| panic!("stored"));
    assert!(
        raw.content.is_some_and(|c| c.contains("include::part.adoc[]")),
        "read mode leaves includes as written"
    );
}

#[tokio::test]
async fn the_scanner_finds_missed_work_and_a_quiet_scan_costs_few_calls() {
    let repo = ok!(TestRepo::new(), "repo");
    for number in 1..=1000 {
        ok!(repo.write(&format!("rfd/{number:04}/README.adoc"), adoc(number, "Bulk", "published")), "write");
    }
    let head = ok!(repo.commit("a thousand RFDs"), "commit");
    ok!(repo.branch("0042"), "branch");
    ok!(repo.checkout("0042"), "checkout");
    ok!(repo.write("rfd/0042/README.adoc", adoc(42, "Missed webhook", "discussion")), "write");
    let branch_head = ok!(repo.commit("RFD 42 on its branch"), "commit");
    ok!(repo.checkout("main"), "checkout");
    let world = world_with(repo).await;

    // Everything on main was processed before (stored with its folder tree), but the push
    // to 0042 never arrived.
    for entry in ok!(world.source.rfd_tree(&head).await, "tree") {
        let rfd = ok!(
            world
                .store
                .insert_rfd(&NewRfd { rfd_number: entry.rfd, link: None, visibility: Visibility::Public })
                .await,
            "rfd"
        );
        ok!(
            world
                .store
                .insert_revision(&NewRevision {
                    rfd_id: rfd.id,
                    title: "Bulk".into(),
                    state: Some("published".into()),
                    discussion: None,
                    authors: None,
                    labels: None,
                    content: adoc(entry.rfd, "Bulk", "published"),
                    content_format: rfd_model::ContentFormat::Asciidoc,
                    sha: "blob".into(),
                    commit_sha: head.clone(),
                    committed_at: chrono::Utc::now(),
                    major_change: true,
                    tree_sha: Some(entry.tree_sha),
                    problems: Vec::new(),
                })
                .await,
            "revision"
        );
    }
    let scanner = Scanner::new(
        world.store.clone(),
        world.source.clone(),
        ScannerSettings::default(),
        world.db.url.clone(),
    );
    world.fake.reset_calls();
    let first = ok!(scanner.scan().await, "first scan");
    assert_eq!(first.jobs_enqueued, 1, "only the missed branch commit: {first:?}");
    assert!(world.fake.calls() <= 5, "first scan over 1,000 stored RFDs: {} calls", world.fake.calls());
    let jobs = ok!(
        world.store.list_jobs(&rfd_model::JobFilter::default(), rfd_model::Page::first(10)).await,
        "jobs"
    );
    assert_eq!(
        (jobs[0].rfd, jobs[0].branch.as_str(), jobs[0].sha.as_str()),
        (Some(42), "0042", branch_head.as_str())
    );

    world.fake.reset_calls();
    let quiet = ok!(scanner.scan().await, "quiet scan");
    assert_eq!(quiet.jobs_enqueued, 0);
    assert!(world.fake.calls() <= 5, "a scan with no change: {} calls", world.fake.calls());

    // One RFD changes on main without a webhook: one tree listing and one commit listing.
    ok!(world.repo.write("rfd/0007/README.adoc", adoc(7, "Bulk, revised", "published")), "write");
    let changed = ok!(world.repo.commit("revise RFD 7"), "commit");
    world.fake.reset_calls();
    let after_change = ok!(scanner.scan().await, "scan after a change");
    assert_eq!(after_change.jobs_enqueued, 1);
    assert!(world.fake.calls() <= 5, "a scan with one change: {} calls", world.fake.calls());
    let jobs = ok!(
        world
            .store
            .list_jobs(&rfd_model::JobFilter { rfd: Some(7), state: None }, rfd_model::Page::first(10))
            .await,
        "jobs"
    );
    assert_eq!(jobs[0].sha, changed);
}

#[tokio::test]
async fn the_scanner_backfills_missed_commits_oldest_first_and_runs_alone() {
    let repo = ok!(TestRepo::new(), "repo");
    let mut commits = Vec::new();
    for state in ["prediscussion", "discussion", "published"] {
        ok!(repo.write("rfd/0009/README.adoc", adoc(9, "History", state)), "write");
        commits.push(ok!(repo.commit(state), "commit"));
        tokio::time::sleep(GIT_SECOND).await;
    }
    let world = world_with(repo).await;
    let scanner = || {
        Scanner::new(
            world.store.clone(),
            world.source.clone(),
            ScannerSettings::default(),
            world.db.url.clone(),
        )
    };
    // Two scanners at once: one scans, the other sees the lock taken and skips.
    let (first, second) = (scanner(), scanner());
    let (a, b) = tokio::join!(first.scan(), second.scan());
    let (a, b) = (ok!(a, "scan a"), ok!(b, "scan b"));
    assert_eq!(a.jobs_enqueued + b.jobs_enqueued, 3, "{a:?} {b:?}");

    let mut jobs = ok!(
        world.store.list_jobs(&rfd_model::JobFilter::default(), rfd_model::Page::first(10)).await,
        "jobs"
    );
    jobs.sort_by_key(|job| job.id);
    assert_eq!(jobs.iter().map(|j| j.sha.clone()).collect::<Vec<_>>(), commits, "enqueued oldest first");

    // The real runner drains them in order: history complete, newest latest.
    drain(&world, UpdateMode::Read).await;
    let jobs = ok!(
        world.store.list_jobs(&rfd_model::JobFilter::default(), rfd_model::Page::first(10)).await,
        "jobs"
    );
    assert!(jobs.iter().all(|j| j.state == JobState::Succeeded), "{jobs:?}");
    let rfd = ok!(world.store.get_rfd(9).await, "rfd").unwrap_or_else(|| panic!("rfd"));
    let revisions = ok!(world.store.list_revisions(rfd.id, rfd_model::Page::first(10)).await, "revisions");
    assert_eq!(revisions.len(), 3);
    let meta = ok!(world.store.get_rfd_meta(&ReadScope::All, 9, RevisionRef::Latest).await, "meta")
        .unwrap_or_else(|| panic!("stored"));
    assert_eq!(meta.state.as_deref(), Some("published"));
}

#[tokio::test]
async fn a_branch_reconcile_job_enqueues_what_the_push_did_not_list() {
    let repo = ok!(TestRepo::new(), "repo");
    ok!(repo.write("rfd/0011/README.adoc", adoc(11, "Eleven", "published")), "write");
    ok!(repo.write("rfd/0012/README.adoc", adoc(12, "Twelve", "published")), "write");
    let head = ok!(repo.commit("two"), "commit");
    let world = world_with(repo).await;
    let reconcile = NewJob { kind: JobKind::BranchReconcile, rfd: None, ..update(0, "main", &head) };
    ok!(world.store.enqueue(&[reconcile]).await, "enqueue");
    ok!(attempt(&world.store, &pipeline(&world, world.source.clone(), UpdateMode::Read)).await, "reconcile");
    let jobs = ok!(
        world
            .store
            .list_jobs(
                &rfd_model::JobFilter { rfd: None, state: Some(JobState::Queued) },
                rfd_model::Page::first(10)
            )
            .await,
        "jobs"
    );
    let mut numbers: Vec<_> = jobs.iter().filter_map(|j| j.rfd).collect();
    numbers.sort_unstable();
    assert_eq!(numbers, vec![11, 12]);
}

#[tokio::test]
async fn action_names_come_from_the_config_in_order() {
    let settings: PipelineSettings = ok!(
        serde_json::from_value(serde_json::json!({
            "mode": "read", "actions": ["UpdateDiscussionUrl", "CreatePullRequest"]
        })),
        "settings"
    );
    assert_eq!(settings.actions, vec![ActionName::UpdateDiscussionUrl, ActionName::CreatePullRequest]);
    let unknown =
        serde_json::from_value::<PipelineSettings>(serde_json::json!({ "actions": ["Frobnicate"] }));
    assert!(unknown.is_err_and(|err| err.to_string().contains("Frobnicate")));
}

#[tokio::test]
async fn ideation_gets_a_pull_request_an_old_closed_one_does_not_block_and_labels_follow_the_state() {
    let repo = ok!(TestRepo::new(), "repo");
    ok!(repo.write("rfd/0001/README.adoc", adoc(1, "First", "published")), "write");
    ok!(repo.commit("RFD 1"), "commit");
    ok!(repo.branch("0050"), "branch");
    ok!(repo.checkout("0050"), "checkout");
    ok!(repo.write("rfd/0050/README.adoc", adoc(50, "Early idea", "ideation")), "write");
    let ideation = ok!(repo.commit("RFD 50: ideation"), "commit");
    let world = world_with(repo).await;
    // An earlier attempt at this RFD was closed without merging.
    let old = world.fake.add_pull_request("0050", "main", "RFD 50 An abandoned first try");
    assert!(world.fake.close_pull_request(old, false));
    let pipeline = pipeline(&world, world.source.clone(), UpdateMode::Write);

    ok!(world.store.enqueue(&[update(50, "0050", &ideation)]).await, "enqueue");
    ok!(attempt(&world.store, &pipeline).await, "ideation job");
    let open: Vec<_> = world.fake.pull_requests().into_iter().filter(|pr| pr.state == "open").collect();
    assert_eq!(open.len(), 1, "a new pull request despite the closed one");
    assert_eq!(open[0].labels, vec![":hatching_chick: ideation".to_string()]);

    // The author moves it to discussion (on top of the platform's fix commit).
    ok!(world.repo.reset_hard(), "reset");
    let content = file_at(&world.repo, "0050", "rfd/0050/README.adoc")
        .replace(":state: ideation", ":state: discussion");
    ok!(world.repo.write("rfd/0050/README.adoc", format!("{content}\n")), "write");
    let discussion = ok!(world.repo.commit("RFD 50: discussion"), "commit");
    ok!(world.store.enqueue(&[update(50, "0050", &discussion)]).await, "enqueue");
    ok!(attempt(&world.store, &pipeline).await, "discussion job");
    let open: Vec<_> = world.fake.pull_requests().into_iter().filter(|pr| pr.state == "open").collect();
    assert_eq!(open.len(), 1, "still one open pull request");
    assert_eq!(open[0].labels, vec![":thought_balloon: discussion".to_string()], "the stale label went");
}

#[tokio::test]
async fn an_older_commit_arriving_late_is_superseded_but_kept_as_history() {
    let repo = ok!(TestRepo::new(), "repo");
    ok!(repo.write("rfd/0006/README.adoc", adoc(6, "Late", "discussion")), "write");
    let older = ok!(repo.commit("older"), "commit");
    tokio::time::sleep(GIT_SECOND).await;
    ok!(repo.write("rfd/0006/README.adoc", adoc(6, "Late", "published")), "write");
    let newer = ok!(repo.commit("newer"), "commit");
    let world = world_with(repo).await;
    let committed_at = |sha: &str| {
        let seconds: i64 =
            ok!(world.repo.git(&["show", "-s", "--format=%ct", sha]), "git show").trim().parse().unwrap_or(0);
        chrono::DateTime::from_timestamp(seconds, 0).unwrap_or_default()
    };

    ok!(
        world
            .store
            .enqueue(&[NewJob { committed_at: committed_at(&newer), ..update(6, "main", &newer) }])
            .await,
        "enqueue"
    );
    drain(&world, UpdateMode::Read).await;
    ok!(
        world
            .store
            .enqueue(&[NewJob { committed_at: committed_at(&older), ..update(6, "main", &older) }])
            .await,
        "enqueue"
    );
    drain(&world, UpdateMode::Read).await;

    let jobs = ok!(
        world.store.list_jobs(&rfd_model::JobFilter::default(), rfd_model::Page::first(10)).await,
        "jobs"
    );
    let late = jobs.iter().find(|j| j.sha == older).unwrap_or_else(|| panic!("the older job"));
    assert_eq!(late.state, JobState::Superseded);
    assert!(late.completed_actions.is_empty(), "no action ran for the superseded job");
    let rfd = ok!(world.store.get_rfd(6).await, "rfd").unwrap_or_else(|| panic!("rfd"));
    let revisions = ok!(world.store.list_revisions(rfd.id, rfd_model::Page::first(10)).await, "revisions");
    assert_eq!(revisions.iter().map(|r| r.commit_sha.as_str()).collect::<Vec<_>>(), vec![&newer, &older]);
    let meta = ok!(world.store.get_rfd_meta(&ReadScope::All, 6, RevisionRef::Latest).await, "meta")
        .unwrap_or_else(|| panic!("stored"));
    assert_eq!(meta.commit.as_deref(), Some(newer.as_str()), "the newer revision stays latest");
}
