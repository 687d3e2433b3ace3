//! The plain git source end to end: a `git push` to a bare repository with the shipped
//! post-receive hook installed reaches the real rfd-api (POST /trigger/{id}), becomes jobs
//! in the real queue, and the real pipeline stores the revisions; the scanner finds a
//! commit pushed while the hook could not tell anyone.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rfd_github_fake::PushRepos;
use rfd_model::source::RfdSource;
use rfd_model::{JobFilter, JobKind, Page, ReadScope, RevisionRef, Store};
use rfd_processor::pipeline::{Pipeline, PipelineSettings, UpdateMode};
use rfd_processor::runner::JobHandler;
use rfd_processor::scanner::{Scanner, ScannerSettings};

fn repos() -> PushRepos {
    ok!(PushRepos::new("Ada", "ada@example.com"), "test repositories")
}

/// Commits everything and pushes main; returns the commit and what the push printed (the
/// hook's report).
fn push(repos: &PushRepos, message: &str) -> (String, String) {
    let commit = ok!(repos.commit(message), "commit");
    (commit, ok!(repos.push("main"), "push"))
}

/// Installs the shipped hook in the bare repository, pointed at `url` with `id`.
fn install_hook(repos: &PushRepos, url: &str, id: &str) {
    let hook = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/hooks/post-receive");
    let target = repos.bare().join("hooks/post-receive");
    std::fs::copy(&hook, &target).unwrap_or_else(|err| panic!("copy the hook: {err}"));
    let mut permissions = std::fs::metadata(&target).unwrap_or_else(|err| panic!("{err}")).permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut permissions, 0o755);
    std::fs::set_permissions(&target, permissions).unwrap_or_else(|err| panic!("chmod: {err}"));
    ok!(repos.git(repos.bare(), &["config", "rfd.triggerUrl", url]), "git config");
    ok!(repos.git(repos.bare(), &["config", "rfd.triggerId", id]), "git config");
}

async fn source(repos: &PushRepos) -> Arc<dyn RfdSource> {
    let section = rfd_model::source::SourceSection {
        kind: Some(rfd_model::source::SourceKind::Git),
        path: Some(repos.bare().to_path_buf()),
        ..Default::default()
    };
    let settings = rfd_git::GitSettings::from_section(&section).unwrap_or_else(|err| panic!("{err}"));
    Arc::new(rfd_git::GitSource::open(&settings).await.unwrap_or_else(|err| panic!("open: {err}")))
}

/// Runs every due job (and the jobs they queue) to completion; returns how many ran.
async fn drain(store: &Store, pipeline: &Pipeline) -> usize {
    let mut ran = 0;
    while let Some(job) = ok!(store.claim("test-worker", Duration::from_secs(60)).await, "claim") {
        let Some(attempt) = job.attempt() else { panic!("a claimed job has an attempt") };
        let id = job.id;
        match pipeline.run(job, attempt.clone()).await {
            Ok(()) => assert!(ok!(store.complete(&attempt).await, "complete")),
            Err(err) => panic!("job {id} failed: {}", err.0),
        }
        ran += 1;
        assert!(ran < 100, "jobs keep coming");
    }
    ran
}

async fn latest_commit(store: &Store, number: i32) -> Option<String> {
    ok!(store.get_rfd_meta(&ReadScope::All, number, RevisionRef::Latest).await, "read RFD")
        .and_then(|m| m.commit)
}

const RFD_1: &str =
    "= RFD 1 Plain git\n:state: published\n:authors: Ada <ada@example.com>\n\nRead from a bare repository.\n";
const RFD_2: &str =
    "---\nauthors: Ada <ada@example.com>\nstate: discussion\n---\n\n# RFD 2 Markdown too\n\nText.\n";

// Several threads: `git push` blocks this one while the hook calls the API served here.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_through_the_shipped_hook_ends_as_stored_revisions() {
    let db = rfd_devdb::test_database().await;
    let store = Store::new(rfd_model::db::pool(&db.url, &rfd_model::PoolSettings::default()));
    let repos = repos();

    // The real API, with the trigger on and the git source configured.
    let config_path = repos.dir().join("rfd.toml");
    std::fs::write(
        &config_path,
        format!(
            "database_url = \"{}\"\n[api]\naddress = \"127.0.0.1:0\"\n[trigger]\nenabled = true\n\
             [source]\nkind = \"git\"\npath = \"{}\"\n",
            db.url,
            repos.bare().display()
        ),
    )
    .unwrap_or_else(|err| panic!("write config: {err}"));
    let mut config = ok!(rfd_api::config::ApiConfig::load(&config_path), "load config");
    config.database_url = db.url.clone().into();
    let server = ok!(rfd_api::server::start(rfd_api::server::context(config)), "start rfd-api");
    let id = ok!(rfd_api::trigger::rotate(&store).await, "rotate");
    install_hook(&repos, &format!("http://{}", server.local_addr()), &id.value);

    ok!(repos.write("rfd/0001/README.adoc", RFD_1), "write");
    ok!(repos.write("rfd/0001/diagram.svg", "<svg xmlns=\"http://www.w3.org/2000/svg\"/>"), "write");
    let (first, report) = push(&repos, "RFD 1");
    assert!(report.contains("rfd: platform notified"), "the hook reported: {report}");
    assert!(!report.contains(&id.value), "the hook never prints the id: {report}");

    let jobs = ok!(store.list_jobs(&JobFilter::default(), Page::first(10)).await, "jobs");
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    assert_eq!(
        (jobs[0].kind, jobs[0].branch.as_str(), jobs[0].sha.as_str()),
        (JobKind::BranchReconcile, "main", first.as_str())
    );

    let source = source(&repos).await;
    let settings = PipelineSettings { mode: UpdateMode::Read, ..PipelineSettings::default() };
    let pipeline = Pipeline::new(store.clone(), source.clone(), settings, 10);
    assert_eq!(drain(&store, &pipeline).await, 2, "the reconcile, then RFD 1's update");
    assert_eq!(latest_commit(&store, 1).await.as_deref(), Some(first.as_str()));
    let meta = ok!(store.get_rfd_meta(&ReadScope::All, 1, RevisionRef::Latest).await, "meta");
    assert_eq!(meta.and_then(|m| m.title).as_deref(), Some("Plain git"));

    // A second push: RFD 1 revised, RFD 2 added; each gets its revision.
    ok!(
        repos.write("rfd/0001/README.adoc", RFD_1.replace("a bare repository", "a bare repository, revised")),
        "write"
    );
    ok!(repos.write("rfd/0002/README.md", RFD_2), "write");
    let (second, report) = push(&repos, "revise 1, add 2");
    assert!(report.contains("rfd: platform notified"), "{report}");
    assert_eq!(drain(&store, &pipeline).await, 3);
    assert_eq!(latest_commit(&store, 1).await.as_deref(), Some(second.as_str()));
    assert_eq!(latest_commit(&store, 2).await.as_deref(), Some(second.as_str()));
    let raw = ok!(store.get_rfd_raw(&ReadScope::All, 1, RevisionRef::Latest).await, "raw");
    let content = raw.and_then(|r| r.content).unwrap_or_default();
    assert!(
        content.contains("a bare repository, revised"),
        "the stored content is the pushed one: {content}"
    );
    drop(server);
}

#[tokio::test]
async fn the_scanner_finds_a_commit_the_hook_could_not_report() {
    let db = rfd_devdb::test_database().await;
    let store = Store::new(rfd_model::db::pool(&db.url, &rfd_model::PoolSettings::default()));
    let repos = repos();
    // The hook is installed, but nothing answers at its URL.
    install_hook(&repos, "http://127.0.0.1:9", &"d".repeat(64));
    ok!(repos.write("rfd/0001/README.adoc", RFD_1), "write");
    let (first, report) = push(&repos, "RFD 1");
    assert!(report.contains("could not notify"), "the push succeeds and says so: {report}");
    let source = source(&repos).await;
    let settings = PipelineSettings { mode: UpdateMode::Read, ..PipelineSettings::default() };
    let pipeline = Pipeline::new(store.clone(), source.clone(), settings, 10);
    let scanner = Scanner::new(store.clone(), source.clone(), ScannerSettings::default(), db.url.clone());

    let report = ok!(scanner.scan().await, "scan");
    assert_eq!(report.jobs_enqueued, 1, "{report:?}");
    assert_eq!(drain(&store, &pipeline).await, 1);
    assert_eq!(latest_commit(&store, 1).await.as_deref(), Some(first.as_str()));

    // Nothing moved: nothing to do. Then a missed commit on top: found.
    assert_eq!(ok!(scanner.scan().await, "scan").jobs_enqueued, 0);
    ok!(repos.write("rfd/0001/README.adoc", RFD_1.replace("Read from", "Scanned from")), "write");
    let (second, _) = push(&repos, "missed by the hook");
    let report = ok!(scanner.scan().await, "scan");
    assert_eq!(report.jobs_enqueued, 1, "{report:?}");
    assert_eq!(drain(&store, &pipeline).await, 1);
    assert_eq!(latest_commit(&store, 1).await.as_deref(), Some(second.as_str()));
}
