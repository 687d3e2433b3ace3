//! CopyImagesToStorage and UpdatePdfs against real PostgreSQL, the GitHub fake over a real
//! git repository, the fake-gcs-server emulator and the real asciidoctor-pdf; and the
//! `rfd-processor pdf` command.

#[path = "../../rfd-model/tests/support/fake_gcs.rs"]
mod fake_gcs;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use rfd_github_fake::{FakeGitHub, TestRepo};
use rfd_model::source::RfdSource;
use rfd_model::storage::{Blob, BlobStore, LocalDirectory, StorageConfig, StorageError, StorageKind};
use rfd_model::{JobKind, NewJob, PdfSource, Store};
use rfd_processor::pipeline::update_pdfs::PdfSettings;
use rfd_processor::pipeline::{ActionName, Pipeline, PipelineSettings, UpdateMode};
use rfd_processor::runner::JobHandler;

const OWNER: &str = "acme";
const REPO: &str = "rfd";
/// A 1×1 PNG.
const PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52, 0x00,
    0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4, 0x89, 0x00,
    0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0xf8, 0xcf, 0xc0, 0xf0, 0x1f, 0x00, 0x05,
    0x00, 0x01, 0xff, 0x89, 0x99, 0x3d, 0x1d, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42,
    0x60, 0x82,
];
const SVG: &str =
    r#"<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>"#;

fn ok<T, E: std::fmt::Display>(result: Result<T, E>, what: &str) -> T {
    result.unwrap_or_else(|err| panic!("{what}: {err}"))
}

fn adoc(title: &str, extra: &str) -> String {
    format!(
        ":authors: Ada Lovelace <ada@example.com>\n:state: published\n\n= RFD 7 {title}\n\n== Design\n\n{extra}\n\nimage::figures/arch.png[Architecture]\n\n[source,rust]\n----\nfn main() {{ println!(\"hi\"); }}\n----\n"
    )
}

/// Counts uploads and deletions, so a test can tell that unchanged files were not sent
/// again and what was removed.
#[derive(Debug)]
struct Counting {
    inner: Arc<dyn BlobStore>,
    puts: AtomicUsize,
    deletes: AtomicUsize,
}

#[async_trait]
impl BlobStore for Counting {
    fn kind(&self) -> StorageKind {
        self.inner.kind()
    }
    async fn put(&self, key: &str, bytes: Vec<u8>, content_type: &str, id: &str) -> Result<(), StorageError> {
        self.puts.fetch_add(1, Ordering::SeqCst);
        self.inner.put(key, bytes, content_type, id).await
    }
    async fn get(&self, key: &str) -> Result<Option<Blob>, StorageError> {
        self.inner.get(key).await
    }
    async fn has_same(&self, key: &str, id: &str) -> Result<bool, StorageError> {
        self.inner.has_same(key, id).await
    }
    async fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        self.inner.list(prefix).await
    }
    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        self.deletes.fetch_add(1, Ordering::SeqCst);
        self.inner.delete(key).await
    }
    fn public_url(&self, key: &str) -> String {
        self.inner.public_url(key)
    }
}

struct World {
    repo: TestRepo,
    _fake: FakeGitHub,
    source: Arc<dyn RfdSource>,
    store: Store,
    _db: rfd_devdb::TestDatabase,
}

async fn world() -> World {
    let repo = ok(TestRepo::new(), "repo");
    ok(repo.write("rfd/0007/README.adoc", adoc("Storage", "First words.")), "write");
    ok(repo.write("rfd/0007/figures/arch.png", PNG), "write");
    ok(repo.write("rfd/0007/diagram.svg", SVG), "write");
    ok(repo.commit("RFD 7"), "commit");
    let db = rfd_devdb::test_database().await;
    let store = Store::new(rfd_model::db::pool(&db.url, &rfd_model::PoolSettings::default()));
    let fake = ok(FakeGitHub::start(repo.path(), OWNER, REPO).await, "start the fake");
    let config: rfd_github::GitHubConfig = ok(
        serde_json::from_value(serde_json::json!({
            "owner": OWNER, "repository": REPO, "default_branch": "main",
            "api_url": fake.url(), "auth": { "token": "test-token" },
            "retry": { "max_attempts": 2, "backoff_base_ms": 1, "backoff_cap_ms": 5,
                       "max_rate_limit_wait_secs": 2, "request_timeout_secs": 10 }
        })),
        "github config",
    );
    let source: Arc<dyn RfdSource> = Arc::new(ok(rfd_github::GitHubSource::new(&config), "github client"));
    World { repo, _fake: fake, source, store, _db: db }
}

fn pipeline(
    world: &World,
    actions: Vec<ActionName>,
    storage: Arc<dyn BlobStore>,
    pdf: PdfSettings,
) -> Pipeline {
    let settings = PipelineSettings { mode: UpdateMode::Write, actions, ..PipelineSettings::default() };
    Pipeline::new(world.store.clone(), world.source.clone(), settings, 10).with_storage(storage, pdf)
}

/// Enqueues a job for RFD 7 at `sha` and runs one attempt of it.
async fn run_job(world: &World, pipeline: &Pipeline, sha: &str) -> (i32, Result<(), String>) {
    run_job_on(world, pipeline, sha, "main").await
}

/// [`run_job`] for a push of `sha` to `branch` (a commit already processed on `main` is
/// not queued twice there, so a rerun names another branch).
async fn run_job_on(
    world: &World,
    pipeline: &Pipeline,
    sha: &str,
    branch: &str,
) -> (i32, Result<(), String>) {
    let job = NewJob {
        kind: JobKind::RfdUpdate,
        owner: OWNER.into(),
        repository: REPO.into(),
        branch: branch.into(),
        sha: sha.into(),
        rfd: Some(7),
        webhook_delivery_id: None,
        committed_at: chrono::Utc::now(),
    };
    ok(world.store.enqueue(&[job]).await, "enqueue");
    let job = ok(world.store.claim("test-worker", Duration::from_secs(120)).await, "claim")
        .unwrap_or_else(|| panic!("no job to claim"));
    let id = job.id;
    let Some(attempt) = job.attempt() else { panic!("a claimed job has an attempt") };
    match pipeline.run(job, attempt.clone()).await {
        Ok(()) => {
            assert!(ok(world.store.complete(&attempt).await, "complete"));
            (id, Ok(()))
        }
        Err(err) => {
            ok(world.store.fail(&attempt, &err.0, Duration::ZERO).await, "fail");
            (id, Err(err.0))
        }
    }
}

/// Copies RFD 7's files into `inner`, checks them, and checks that re-runs upload nothing.
async fn images_are_copied_once(inner: Arc<dyn BlobStore>) {
    let world = world().await;
    let head = ok(world.repo.rev_parse("main"), "rev-parse");
    let counting =
        Arc::new(Counting { inner: inner.clone(), puts: AtomicUsize::new(0), deletes: AtomicUsize::new(0) });
    let pipeline =
        pipeline(&world, vec![ActionName::CopyImagesToStorage], counting.clone(), PdfSettings::default());

    let (_, result) = run_job(&world, &pipeline, &head).await;
    ok(result, "the job");
    assert_eq!(counting.puts.load(Ordering::SeqCst), 4, "two files, under the commit and under latest");
    let keys = ok(inner.list("rfd/0007/").await, "list");
    assert_eq!(
        keys,
        vec![
            format!("rfd/0007/{head}/diagram.svg"),
            format!("rfd/0007/{head}/figures/arch.png"),
            "rfd/0007/latest/diagram.svg".to_string(),
            "rfd/0007/latest/figures/arch.png".to_string(),
        ],
        "every file but the README"
    );
    let png = ok(inner.get("rfd/0007/latest/figures/arch.png").await, "get").unwrap_or_else(|| panic!("png"));
    assert_eq!((png.bytes.as_slice(), png.content_type.as_str()), (PNG, "image/png"));
    let svg =
        ok(inner.get(&format!("rfd/0007/{head}/diagram.svg")).await, "get").unwrap_or_else(|| panic!("svg"));
    assert_eq!((svg.bytes.as_slice(), svg.content_type.as_str()), (SVG.as_bytes(), "image/svg+xml"));

    // A push that does not touch the RFD: the same revision, nothing uploaded.
    ok(world.repo.write("NOTES.md", "unrelated"), "write");
    let unrelated = ok(world.repo.commit("notes"), "commit");
    ok(run_job(&world, &pipeline, &unrelated).await.1, "the identical re-run");
    assert_eq!(counting.puts.load(Ordering::SeqCst), 4, "an identical re-run uploads nothing");

    // A new revision that changes only the README: its files are the stored ones.
    ok(world.repo.write("rfd/0007/README.adoc", adoc("Storage", "Second words.")), "write");
    let second = ok(world.repo.commit("RFD 7: words"), "commit");
    ok(run_job(&world, &pipeline, &second).await.1, "the second revision");
    assert_eq!(counting.puts.load(Ordering::SeqCst), 4, "unchanged images are not uploaded again");
    let rfd = ok(world.store.get_rfd(7).await, "rfd").unwrap_or_else(|| panic!("RFD 7"));
    let revision = ok(world.store.get_revision_by_commit(rfd.id, &second).await, "revision")
        .unwrap_or_else(|| panic!("the second revision"));
    let assets = ok(world.store.list_assets(revision.id).await, "assets");
    assert_eq!(assets.len(), 2);
    assert!(assets.iter().all(|asset| asset.storage_key.starts_with(&format!("rfd/0007/{head}/"))));

    // A changed image is uploaded under its new commit and as the latest.
    ok(world.repo.write("rfd/0007/diagram.svg", SVG.replace("10", "20")), "write");
    let third = ok(world.repo.commit("RFD 7: bigger"), "commit");
    ok(run_job(&world, &pipeline, &third).await.1, "the third revision");
    assert_eq!(counting.puts.load(Ordering::SeqCst), 6);
    let latest = ok(inner.get("rfd/0007/latest/diagram.svg").await, "get").unwrap_or_else(|| panic!("svg"));
    assert_eq!(latest.bytes, SVG.replace("10", "20").into_bytes());
    assert_eq!(counting.deletes.load(Ordering::SeqCst), 0, "nothing was removed so far");

    // A file removed from the RFD: its latest object goes, the per-commit objects of the
    // revisions that had it stay (they still point at them).
    ok(world.repo.remove("rfd/0007/diagram.svg"), "remove");
    let fourth = ok(world.repo.commit("RFD 7: no diagram"), "commit");
    ok(run_job(&world, &pipeline, &fourth).await.1, "the fourth revision");
    assert_eq!(counting.puts.load(Ordering::SeqCst), 6, "nothing new to upload");
    assert_eq!(counting.deletes.load(Ordering::SeqCst), 1);
    let mut expected = vec![
        format!("rfd/0007/{head}/diagram.svg"),
        format!("rfd/0007/{head}/figures/arch.png"),
        format!("rfd/0007/{third}/diagram.svg"),
        "rfd/0007/latest/figures/arch.png".to_string(),
    ];
    expected.sort();
    assert_eq!(
        ok(inner.list("rfd/0007/").await, "list"),
        expected,
        "latest/diagram.svg is gone; history is kept"
    );
    let revision = ok(world.store.get_revision_by_commit(rfd.id, &third).await, "revision")
        .unwrap_or_else(|| panic!("the third revision"));
    for asset in ok(world.store.list_assets(revision.id).await, "assets") {
        assert!(
            ok(inner.get(&asset.storage_key).await, "get").is_some(),
            "the third revision still finds {}",
            asset.path
        );
    }

    // Running the latest revision's job again removes nothing more.
    ok(run_job_on(&world, &pipeline, &fourth, "rerun-1").await.1, "the fourth revision again");
    assert_eq!(counting.deletes.load(Ordering::SeqCst), 1);

    // An older revision processed late (not the latest) leaves `latest/` alone.
    ok(run_job_on(&world, &pipeline, &third, "rerun-2").await.1, "the third revision again");
    assert!(ok(inner.get("rfd/0007/latest/diagram.svg").await, "get").is_none());
    assert_eq!(counting.deletes.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn images_are_copied_to_the_gcs_emulator_once() {
    let gcs = fake_gcs::FakeGcs::start("rfd-assets").await;
    let config = StorageConfig::Gcs {
        bucket: gcs.bucket.clone(),
        endpoint: Some(gcs.endpoint.clone()),
        anonymous: true,
        public_url: None,
    };
    images_are_copied_once(ok(config.open().await, "open the bucket")).await;
}

#[tokio::test]
async fn images_are_copied_to_the_local_directory_once() {
    let dir = ok(tempfile::tempdir(), "temp dir");
    images_are_copied_once(Arc::new(LocalDirectory::new(
        dir.path().to_path_buf(),
        "http://127.0.0.1:8080/storage",
    )))
    .await;
}

#[tokio::test]
async fn a_failed_upload_fails_the_attempt() {
    let world = world().await;
    let head = ok(world.repo.rev_parse("main"), "rev-parse");
    let gcs = fake_gcs::FakeGcs::start("present").await;
    let config = StorageConfig::Gcs {
        bucket: "absent".into(),
        endpoint: Some(gcs.endpoint.clone()),
        anonymous: true,
        public_url: None,
    };
    let storage = ok(config.open().await, "open");
    let pipeline = pipeline(&world, vec![ActionName::CopyImagesToStorage], storage, PdfSettings::default());
    let (_, result) = run_job(&world, &pipeline, &head).await;
    let err = result.err().unwrap_or_else(|| panic!("the attempt fails"));
    assert!(err.contains("CopyImagesToStorage"), "{err}");
}

#[tokio::test]
async fn each_revision_keeps_its_own_pdf() {
    let world = world().await;
    let dir = ok(tempfile::tempdir(), "temp dir");
    let storage: Arc<dyn BlobStore> =
        Arc::new(LocalDirectory::new(dir.path().to_path_buf(), "http://127.0.0.1:8080/storage"));
    let pipeline = pipeline(&world, vec![ActionName::UpdatePdfs], storage.clone(), PdfSettings::default());

    let first = ok(world.repo.rev_parse("main"), "rev-parse");
    let (job, result) = run_job(&world, &pipeline, &first).await;
    ok(result, "the first job");
    assert_eq!(ok(world.store.job_warnings(job).await, "warnings"), vec![], "rendered without warnings");
    ok(world.repo.write("rfd/0007/README.adoc", adoc("Storage", "Second, rather different words.")), "write");
    let second = ok(world.repo.commit("RFD 7: words"), "commit");
    ok(run_job(&world, &pipeline, &second).await.1, "the second job");

    let rfd = ok(world.store.get_rfd(7).await, "rfd").unwrap_or_else(|| panic!("RFD 7"));
    let mut pdfs = Vec::new();
    for commit in [&first, &second] {
        let revision = ok(world.store.get_revision_by_commit(rfd.id, commit).await, "revision")
            .unwrap_or_else(|| panic!("revision"));
        let listed = ok(world.store.list_pdfs(revision.id).await, "list pdfs");
        assert_eq!(listed.len(), 1, "one PDF for the revision at {commit}");
        let pdf = &listed[0];
        assert_eq!(pdf.source, PdfSource::Github, "the platform's own storage");
        assert_eq!(pdf.link, format!("http://127.0.0.1:8080/storage/pdf/0007/{commit}.pdf"));
        let blob = ok(storage.get(&pdf.external_id).await, "download").unwrap_or_else(|| panic!("stored"));
        assert!(blob.bytes.starts_with(b"%PDF"), "a PDF");
        assert_eq!(blob.content_type, "application/pdf");
        pdfs.push(blob.bytes);
    }
    assert_ne!(pdfs[0], pdfs[1], "each revision has its own PDF");

    // Running the first revision's job again renders nothing new and keeps one row.
    let revision = ok(world.store.get_revision_by_commit(rfd.id, &first).await, "revision")
        .unwrap_or_else(|| panic!("revision"));
    assert_eq!(ok(world.store.list_pdfs(revision.id).await, "list").len(), 1);
}

#[tokio::test]
async fn a_missing_renderer_is_a_warning_naming_what_to_install() {
    let world = world().await;
    let dir = ok(tempfile::tempdir(), "temp dir");
    let storage: Arc<dyn BlobStore> =
        Arc::new(LocalDirectory::new(dir.path().to_path_buf(), "http://x/storage"));
    let settings =
        PdfSettings { asciidoctor_pdf: "/nonexistent/asciidoctor-pdf".into(), ..PdfSettings::default() };
    let pipeline = pipeline(
        &world,
        vec![ActionName::UpdatePdfs, ActionName::CopyImagesToStorage],
        storage.clone(),
        settings,
    );
    let head = ok(world.repo.rev_parse("main"), "rev-parse");
    let (job, result) = run_job(&world, &pipeline, &head).await;
    ok(result, "the job still succeeds");
    let warnings = ok(world.store.job_warnings(job).await, "warnings");
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert_eq!(warnings[0].action, "UpdatePdfs");
    assert!(
        warnings[0].message.contains("was not found") && warnings[0].message.contains("ruby-asciidoctor-pdf"),
        "{}",
        warnings[0].message
    );
    assert_eq!(ok(storage.list("rfd/0007/latest/").await, "list").len(), 2, "the next action still ran");
}

#[test]
fn the_pdf_command_renders_a_folder() {
    let dir = ok(tempfile::tempdir(), "temp dir");
    let rfd = dir.path().join("0007");
    ok(std::fs::create_dir_all(rfd.join("figures")), "mkdir");
    ok(std::fs::write(rfd.join("README.adoc"), adoc("Local", "Rendered here.")), "write");
    ok(std::fs::write(rfd.join("figures/arch.png"), PNG), "write");
    let out = dir.path().join("out.pdf");
    let status = ok(
        std::process::Command::new(env!("CARGO_BIN_EXE_rfd-processor"))
            .arg("pdf")
            .arg(&rfd)
            .arg("-o")
            .arg(&out)
            .output(),
        "run",
    );
    assert!(status.status.success(), "{}", String::from_utf8_lossy(&status.stderr));
    assert!(ok(std::fs::read(&out), "read").starts_with(b"%PDF"));
    assert!(!rfd.join(".rfd-render.pdf").exists(), "no work files in the RFD folder");

    // Markdown goes through pandoc.
    let md = dir.path().join("0008");
    ok(std::fs::create_dir_all(&md), "mkdir");
    ok(
        std::fs::write(
            md.join("README.md"),
            "# RFD 8 Markdown\n\nSome *text*.\n\n```rust\nfn main() {}\n```\n",
        ),
        "write",
    );
    let out_md = dir.path().join("md.pdf");
    let status = ok(
        std::process::Command::new(env!("CARGO_BIN_EXE_rfd-processor"))
            .arg("pdf")
            .arg(&md)
            .arg("-o")
            .arg(&out_md)
            .output(),
        "run",
    );
    assert!(status.status.success(), "{}", String::from_utf8_lossy(&status.stderr));
    assert!(ok(std::fs::read(&out_md), "read").starts_with(b"%PDF"));

    // Without the renderer on PATH: a clear failure naming the packages.
    let empty = ok(tempfile::tempdir(), "temp dir");
    let status = ok(
        std::process::Command::new(env!("CARGO_BIN_EXE_rfd-processor"))
            .env("PATH", empty.path())
            .arg("pdf")
            .arg(&rfd)
            .arg("-o")
            .arg(dir.path().join("none.pdf"))
            .output(),
        "run",
    );
    assert!(!status.status.success());
    let stderr = String::from_utf8_lossy(&status.stderr);
    assert!(
        stderr.contains("asciidoctor-pdf was not found") && stderr.contains("ruby-asciidoctor-pdf"),
        "{stderr}"
    );
}
