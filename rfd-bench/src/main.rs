//! `rfd-bench`: loopback benchmarks of the RFD platform against a real PostgreSQL.
//!
//! Run with `cargo run --release -p rfd-bench` (see BENCHMARKS.md). Every stage gets a
//! fresh database from `rfd-devdb` and an in-process `rfd-api` (and, where needed, an
//! in-process job runner), so the stages do not disturb each other. The run is bounded:
//! every stage has a time limit, and the process stops by itself.
//!
//! 1. Webhook intake: signed push deliveries over concurrent keep-alive connections;
//!    afterwards every accepted delivery must have its jobs in the database.
//! 2. Webhook-to-job-start latency: deliveries sent one at a time to an API with a runner
//!    woken by LISTEN/NOTIFY; the time from just before the request to the job's
//!    `started_at`.
//! 3. Queue throughput: no-op jobs drained by workers looping claim → complete on the
//!    store, and by the runner itself.
//!
//! Targets are printed next to the figures with PASS/MISS; a MISS never fails the
//! process, a failed correctness check does.

mod list;
mod search;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail, ensure};
use chrono::{DateTime, Utc};
use clap::Parser;
use rfd_api::config::ApiConfig;
use rfd_api::server::ApiContext;
use rfd_devdb::TestDatabase;
use rfd_github::webhook::{Owner, PushCommit, PushEvent, Repository};
use rfd_model::{JobFilter, JobKind, JobState, NewJob, Page, PoolSettings, Store};
use rfd_processor::pipeline::JobProcessor;
use rfd_processor::runner::{Runner, RunnerSettings, listen};
use uuid::Uuid;

/// The webhook secret the in-process API is configured with.
const SECRET: &str = "bench-secret";

/// The longest any one stage may take before the run is abandoned.
const STAGE_LIMIT: Duration = Duration::from_secs(300);

#[derive(Debug, Parser)]
#[command(name = "rfd-bench", about = "Loopback benchmarks of the RFD platform (needs a local PostgreSQL)")]
struct Args {
    /// Measured webhook deliveries in the intake benchmark.
    #[arg(long, default_value_t = 2000)]
    deliveries: usize,
    /// Concurrent keep-alive connections in the intake benchmark.
    #[arg(long, default_value_t = 16)]
    connections: usize,
    /// Unmeasured deliveries sent before the intake benchmark.
    #[arg(long, default_value_t = 200)]
    warmup: usize,
    /// RFDs touched by each push in the intake benchmark (one job each); the stage runs
    /// once per value. One is the common push (a commit to an RFD's branch, or the merge
    /// of its pull request); three is a push touching several RFDs at once.
    #[arg(long, value_delimiter = ',', default_values_t = [1, 3])]
    rfds_per_push: Vec<usize>,
    /// Deliveries sent one at a time in the webhook-to-job-start benchmark.
    #[arg(long, default_value_t = 200)]
    latency_deliveries: usize,
    /// Pause between two deliveries of the webhook-to-job-start benchmark, in milliseconds.
    #[arg(long, default_value_t = 5)]
    latency_spacing_ms: u64,
    /// No-op jobs in each queue throughput benchmark.
    #[arg(long, default_value_t = 10_000)]
    jobs: usize,
    /// Worker tasks (and runner concurrency) in the queue benchmarks.
    #[arg(long, default_value_t = 4)]
    workers: usize,
    /// Diagnostic: run with `synchronous_commit = off` on the benchmark databases, to see
    /// how much of each figure is waiting for the WAL flush at commit. Not a production
    /// setting: a crash could lose acknowledged deliveries.
    #[arg(long)]
    no_sync_commit: bool,
    /// RFDs generated for the search stage (0 skips it).
    #[arg(long, default_value_t = 5000)]
    search_rfds: usize,
    /// Queries timed in the search stage.
    #[arg(long, default_value_t = 1000)]
    search_queries: usize,
    /// Diagnostic: keep the search stage's database (its URL is printed) to study
    /// queries with psql afterwards; drop it by hand.
    #[arg(long)]
    keep_search_db: bool,
    /// The GET /rfd stage: stored RFD counts to measure (`0` skips the stage).
    #[arg(long, value_delimiter = ',', default_values_t = [200, 5000])]
    list_rfds: Vec<usize>,
    /// The GET /rfd stage: most requests per run (each run also stops after 20 s).
    #[arg(long, default_value_t = 30_000)]
    list_requests: usize,
    /// Run only the GET /rfd stage.
    #[arg(long)]
    only_list: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // Quiet whatever RUST_LOG says: only warnings and errors reach stderr.
    let _already_set = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("warn"))
        .with_writer(std::io::stderr)
        .try_init();

    let args = Args::parse();
    ensure!(args.connections >= 1 && args.workers >= 1, "--connections and --workers must be at least 1");
    ensure!(
        !args.rfds_per_push.is_empty() && args.rfds_per_push.iter().all(|&n| n >= 1),
        "--rfds-per-push must be at least 1"
    );

    println!("rfd-bench: loopback benchmarks of the RFD platform");
    println!(
        "  machine: {} CPUs available to this process; PostgreSQL from rfd-devdb (DATABASE_URL or local default)",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
    );
    if args.no_sync_commit {
        println!("  DIAGNOSTIC: synchronous_commit = off (commits do not wait for the WAL flush)");
    }
    if cfg!(debug_assertions) {
        println!("  WARNING: this is a debug build; figures are meaningful only with --release");
    }
    println!();

    let list_rfds: Vec<usize> = args.list_rfds.iter().copied().filter(|&n| n > 0).collect();
    if args.only_list {
        println!("GET /rfd with {list_rfds:?} RFDs ...");
        list::run(&list_rfds, args.list_requests, Duration::from_secs(20)).await?.print();
        return Ok(());
    }

    let mut report = Report::default();

    for &rfds_per_push in &args.rfds_per_push {
        println!(
            "[1/5] webhook intake: {} deliveries over {} connections, {rfds_per_push} RFD(s) per push ...",
            args.deliveries, args.connections
        );
        let intake = tokio::time::timeout(STAGE_LIMIT, intake(&args, rfds_per_push))
            .await
            .map_err(|_| anyhow!("the intake benchmark did not finish within {STAGE_LIMIT:?}"))??;
        report.intake.push(intake);
    }

    println!("[2/5] webhook-to-job-start: {} deliveries one at a time ...", args.latency_deliveries);
    let start = tokio::time::timeout(STAGE_LIMIT, webhook_to_start(&args))
        .await
        .map_err(|_| anyhow!("the webhook-to-job-start benchmark did not finish within {STAGE_LIMIT:?}"))??;
    report.to_start = Some(start);

    println!("[3/5] queue throughput, store loop: {} jobs, {} workers ...", args.jobs, args.workers);
    let store_loop = tokio::time::timeout(STAGE_LIMIT, queue_store_loop(&args))
        .await
        .map_err(|_| anyhow!("the store-loop queue benchmark did not finish within {STAGE_LIMIT:?}"))??;
    report.store_loop = Some(store_loop);

    println!("[4/5] queue throughput, runner: {} jobs, concurrency {} ...", args.jobs, args.workers);
    let runner = tokio::time::timeout(STAGE_LIMIT, queue_runner(&args))
        .await
        .map_err(|_| anyhow!("the runner queue benchmark did not finish within {STAGE_LIMIT:?}"))??;
    report.runner = Some(runner);

    report.print(&args);

    if args.search_rfds > 0 {
        println!("[5/5] search: {} generated RFDs, {} queries ...", args.search_rfds, args.search_queries);
        search::run(args.search_rfds, args.search_queries, args.keep_search_db).await?.print();
    }
    if !list_rfds.is_empty() {
        println!("GET /rfd with {list_rfds:?} RFDs ...");
        list::run(&list_rfds, args.list_requests, Duration::from_secs(20)).await?.print();
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Statistics
// ---------------------------------------------------------------------------------------

/// Latency percentiles (nearest rank), in milliseconds.
#[derive(Debug, Clone, Copy, Default)]
struct Stats {
    count: usize,
    p50: f64,
    p90: f64,
    p99: f64,
    max: f64,
    mean: f64,
}

impl Stats {
    fn of(mut samples_ms: Vec<f64>) -> Self {
        samples_ms.sort_by(f64::total_cmp);
        let n = samples_ms.len();
        if n == 0 {
            return Self::default();
        }
        let rank = |q: f64| samples_ms[((q * n as f64).ceil() as usize).clamp(1, n) - 1];
        Self {
            count: n,
            p50: rank(0.50),
            p90: rank(0.90),
            p99: rank(0.99),
            max: samples_ms[n - 1],
            mean: samples_ms.iter().sum::<f64>() / n as f64,
        }
    }

    fn of_durations(samples: &[Duration]) -> Self {
        Self::of(samples.iter().map(|d| d.as_secs_f64() * 1000.0).collect())
    }
}

/// CPU time counters (Linux `/proc`, in clock ticks), to tell how busy the machine was.
#[derive(Debug, Clone, Copy)]
struct CpuSample {
    /// Busy ticks of all CPUs.
    busy: u64,
    /// All ticks of all CPUs (busy, idle and I/O wait).
    all: u64,
    /// User and system ticks of this process.
    process: u64,
}

impl CpuSample {
    fn now() -> Option<Self> {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        let cpu: Vec<u64> =
            stat.lines().next()?.split_whitespace().skip(1).map(|v| v.parse().unwrap_or(0)).collect();
        // user nice system idle iowait irq softirq steal (guest time is part of user).
        let field = |i: usize| cpu.get(i).copied().unwrap_or(0);
        let busy = field(0) + field(1) + field(2) + field(5) + field(6) + field(7);
        let all = busy + field(3) + field(4);
        let own = std::fs::read_to_string("/proc/self/stat").ok()?;
        let after_name: Vec<&str> = own.rsplit_once(')')?.1.split_whitespace().collect();
        // Fields 14 and 15 of the file (utime, stime) are 11 and 12 after the name.
        let process = after_name.get(11)?.parse::<u64>().ok()? + after_name.get(12)?.parse::<u64>().ok()?;
        Some(Self { busy, all, process })
    }
}

/// How busy the machine was between two samples, as percentages of all CPUs.
#[derive(Debug, Clone, Copy)]
struct CpuUse {
    /// All processes.
    busy: f64,
    /// This process (client, API and runner together).
    process: f64,
}

impl CpuUse {
    fn between(before: Option<CpuSample>, after: Option<CpuSample>) -> Option<Self> {
        let (before, after) = (before?, after?);
        let all = after.all.checked_sub(before.all).filter(|&t| t > 0)? as f64;
        Some(Self {
            busy: after.busy.saturating_sub(before.busy) as f64 * 100.0 / all,
            process: after.process.saturating_sub(before.process) as f64 * 100.0 / all,
        })
    }

    fn describe(cpu: Option<Self>) -> String {
        match cpu {
            Some(cpu) => format!(
                "{:.0}% busy (rfd-bench {:.0}%, rest {:.0}%)",
                cpu.busy,
                cpu.process,
                (cpu.busy - cpu.process).max(0.0)
            ),
            None => "n/a".into(),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Fixtures: database, API, deliveries
// ---------------------------------------------------------------------------------------

/// A fresh migrated database.
async fn database(args: &Args) -> anyhow::Result<TestDatabase> {
    let db =
        rfd_devdb::try_test_database().await.context("cannot get a PostgreSQL database from rfd-devdb")?;
    if args.no_sync_commit {
        // Applies to every session opened afterwards; the pools connect lazily.
        let pg = rfd_devdb::connect(&db.url).await?;
        pg.batch_execute(&format!("ALTER DATABASE \"{}\" SET synchronous_commit = off", db.name)).await?;
    }
    Ok(db)
}

/// An in-process `rfd-api` on a loopback port, on a runtime of its own.
///
/// The API gets its own worker threads, as the `rfd-api` process has, instead of sharing
/// the benchmark's runtime with the load generator: on one runtime every answer from
/// PostgreSQL and every response waited in the same task queue as the client's 16
/// connections, which measured the scheduler of a combined process, not the server.
struct Api {
    server: dropshot::HttpServer<ApiContext>,
    runtime: tokio::runtime::Runtime,
}

impl Api {
    fn local_addr(&self) -> std::net::SocketAddr {
        self.server.local_addr()
    }
}

/// Starts an [`Api`] serving `database_url`.
async fn start_api(database_url: &str) -> anyhow::Result<Api> {
    let path: PathBuf = std::env::temp_dir().join(format!("rfd-bench-{}.toml", Uuid::new_v4().simple()));
    let toml = format!(
        "database_url = {url:?}\n\n[api]\naddress = \"127.0.0.1:0\"\n\n[webhook]\nsecrets = [{SECRET:?}]\n\n\
         [database]\nmax_connections = 32\n",
        url = database_url
    );
    std::fs::write(&path, toml).with_context(|| format!("cannot write {}", path.display()))?;
    let loaded = ApiConfig::load(&path);
    let _removed = std::fs::remove_file(&path);
    let mut config = loaded.context("cannot load the benchmark's API configuration")?;
    // `DATABASE_URL` overrides the file, but here it names the server rfd-devdb created
    // the database on, not the database itself.
    config.database_url = secrecy::SecretString::from(database_url.to_string());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .thread_name("rfd-api")
        .enable_all()
        .build()
        .context("cannot build the API's runtime")?;
    let server = {
        let _inside = runtime.enter();
        rfd_api::server::start(rfd_api::server::context(config))?
    };
    Ok(Api { server, runtime })
}

async fn stop_api(api: Api) -> anyhow::Result<()> {
    let closed = api.server.close().await.map_err(|err| anyhow!("closing the API server failed: {err}"));
    // Dropping a runtime may block, which an async context must not do.
    api.runtime.shutdown_background();
    closed
}

/// A keep-alive HTTP/1.1 client for loopback (no proxy).
fn http_client(connections: usize) -> anyhow::Result<reqwest::Client> {
    reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(connections)
        .pool_idle_timeout(Duration::from_secs(90))
        .tcp_nodelay(true)
        .timeout(Duration::from_secs(30))
        .build()
        .context("cannot build the HTTP client")
}

/// One signed push delivery, ready to send.
struct Delivery {
    id: Uuid,
    body: Vec<u8>,
    signature: String,
}

/// A push of one commit to `main` touching `rfd/NNNN/README.adoc` for each of `rfds`.
/// `sha` must be unique per delivery, so every delivery creates new jobs.
fn delivery(sha: &str, rfds: &[i32]) -> anyhow::Result<Delivery> {
    let timestamp = Utc::now().fixed_offset();
    let commit = PushCommit {
        id: sha.to_string(),
        tree_id: None,
        distinct: Some(true),
        message: Some("Update RFDs".into()),
        timestamp,
        url: None,
        author: None,
        committer: None,
        added: Vec::new(),
        modified: rfds.iter().map(|n| format!("rfd/{n:04}/README.adoc")).collect(),
        removed: Vec::new(),
    };
    let event = PushEvent {
        git_ref: "refs/heads/main".into(),
        before: "1".repeat(40),
        after: sha.to_string(),
        created: false,
        deleted: false,
        forced: false,
        commits: vec![commit.clone()],
        head_commit: Some(commit),
        repository: Repository {
            id: 1,
            name: "rfd".into(),
            full_name: Some("bench/rfd".into()),
            owner: Owner { login: Some("bench".into()), name: None },
            default_branch: "main".into(),
        },
        installation: None,
        sender: None,
    };
    let body = serde_json::to_vec(&event)?;
    let signature = rfd_github::webhook::sign(SECRET.as_bytes(), &body);
    Ok(Delivery { id: Uuid::new_v4(), body, signature })
}

/// A 40-hex-digit commit id unique to (`run`, `index`).
fn sha(run: &Uuid, index: usize) -> String {
    format!("{}{index:08x}", run.simple())
}

/// Sends one delivery; `Ok(jobs_queued)` when it was accepted and queued.
async fn send(client: &reqwest::Client, url: &str, delivery: &Delivery) -> anyhow::Result<usize> {
    let response = client
        .post(url)
        .header("X-GitHub-Event", "push")
        .header("X-GitHub-Delivery", delivery.id.to_string())
        .header("X-Hub-Signature-256", &delivery.signature)
        .header("Content-Type", "application/json")
        .body(delivery.body.clone())
        .send()
        .await?;
    let status = response.status();
    let body = response.bytes().await?;
    if status != reqwest::StatusCode::ACCEPTED {
        bail!("delivery {} answered {status}: {}", delivery.id, String::from_utf8_lossy(&body));
    }
    let outcome: serde_json::Value = serde_json::from_slice(&body)?;
    if outcome["outcome"] != "queued" {
        bail!("delivery {} was not queued: {outcome}", delivery.id);
    }
    outcome["jobs_queued"]
        .as_u64()
        .and_then(|n| usize::try_from(n).ok())
        .ok_or_else(|| anyhow!("delivery {}: no jobs_queued in {outcome}", delivery.id))
}

// ---------------------------------------------------------------------------------------
// 1. Webhook intake
// ---------------------------------------------------------------------------------------

struct IntakeResult {
    deliveries: usize,
    connections: usize,
    rfds_per_push: usize,
    elapsed: Duration,
    latency: Stats,
    jobs_checked: usize,
    cpu: Option<CpuUse>,
}

impl IntakeResult {
    fn rate(&self) -> f64 {
        self.deliveries as f64 / self.elapsed.as_secs_f64()
    }
}

/// Sends `deliveries` over `connections` concurrent tasks; returns each one's latency
/// and the wall time of the whole batch.
async fn blast(
    client: &reqwest::Client,
    url: &str,
    deliveries: Vec<Delivery>,
    connections: usize,
    rfds_per_push: usize,
) -> anyhow::Result<(Vec<(Uuid, Duration)>, Duration)> {
    let mut lanes: Vec<Vec<Delivery>> = (0..connections).map(|_| Vec::new()).collect();
    for (i, delivery) in deliveries.into_iter().enumerate() {
        lanes[i % connections].push(delivery);
    }
    let start = Arc::new(tokio::sync::Barrier::new(connections + 1));
    let mut tasks = tokio::task::JoinSet::new();
    for lane in lanes {
        let client = client.clone();
        let url = url.to_string();
        let start = start.clone();
        tasks.spawn(async move {
            start.wait().await;
            let mut timings = Vec::with_capacity(lane.len());
            for delivery in &lane {
                let sent = Instant::now();
                let jobs = send(&client, &url, delivery).await?;
                timings.push((delivery.id, sent.elapsed()));
                ensure!(
                    jobs == rfds_per_push,
                    "delivery {} queued {jobs} jobs, expected {rfds_per_push}",
                    delivery.id
                );
            }
            Ok::<_, anyhow::Error>(timings)
        });
    }
    start.wait().await;
    let began = Instant::now();
    let mut timings = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        timings.extend(joined.context("a sender task panicked")??);
    }
    Ok((timings, began.elapsed()))
}

async fn intake(args: &Args, rfds_per_push: usize) -> anyhow::Result<IntakeResult> {
    let db = database(args).await?;
    let server = start_api(&db.url).await?;
    let url = format!("http://{}/github", server.local_addr());
    let client = http_client(args.connections)?;
    let run = Uuid::new_v4();

    // Each push touches `rfds_per_push` RFDs, spread over 1..=999.
    let rfds_of = |i: usize| -> Vec<i32> {
        (0..rfds_per_push).map(|k| ((i * rfds_per_push + k) % 999 + 1) as i32).collect()
    };
    let build = |range: std::ops::Range<usize>| -> anyhow::Result<Vec<Delivery>> {
        range.map(|i| delivery(&sha(&run, i), &rfds_of(i))).collect()
    };

    // Warm-up (not measured): opens the keep-alive connections and the pool.
    let warmup = build(0..args.warmup)?;
    let (warm_timings, _) = blast(&client, &url, warmup, args.connections, rfds_per_push).await?;

    let measured = build(args.warmup..args.warmup + args.deliveries)?;
    let cpu_before = CpuSample::now();
    let (timings, elapsed) = blast(&client, &url, measured, args.connections, rfds_per_push).await?;
    let cpu = CpuUse::between(cpu_before, CpuSample::now());
    let latency = Stats::of_durations(&timings.iter().map(|(_, d)| *d).collect::<Vec<_>>());

    // Every accepted delivery must have exactly its jobs in the database.
    let pg = rfd_devdb::connect(&db.url).await?;
    let rows = pg
        .query(
            "SELECT webhook_delivery_id::text, count(*) FROM job \
             WHERE kind = 'rfd_update' GROUP BY webhook_delivery_id",
            &[],
        )
        .await?;
    let mut per_delivery: HashMap<String, i64> = HashMap::with_capacity(rows.len());
    for row in rows {
        let id: Option<String> = row.get(0);
        per_delivery.insert(id.unwrap_or_default(), row.get(1));
    }
    let accepted: Vec<Uuid> = warm_timings.iter().chain(&timings).map(|(id, _)| *id).collect();
    let missing: Vec<String> = accepted
        .iter()
        .filter(|id| per_delivery.get(&id.to_string()).copied() != Some(rfds_per_push as i64))
        .map(Uuid::to_string)
        .collect();
    if !missing.is_empty() {
        bail!(
            "CHECK FAILED: {} of {} accepted deliveries do not have exactly {} jobs in the database (first: {:?})",
            missing.len(),
            accepted.len(),
            rfds_per_push,
            missing.iter().take(5).collect::<Vec<_>>()
        );
    }
    let total_jobs: i64 = pg.query_one("SELECT count(*) FROM job", &[]).await?.get(0);
    let expected = accepted.len() * rfds_per_push;
    if total_jobs != expected as i64 {
        bail!("CHECK FAILED: {total_jobs} jobs in the database, expected {expected}");
    }
    let recorded: i64 = pg.query_one("SELECT count(*) FROM webhook_delivery", &[]).await?.get(0);
    if recorded != accepted.len() as i64 {
        bail!("CHECK FAILED: {recorded} webhook deliveries recorded, expected {}", accepted.len());
    }
    drop(pg);

    stop_api(server).await?;
    drop(db);
    Ok(IntakeResult {
        deliveries: args.deliveries,
        connections: args.connections,
        rfds_per_push,
        elapsed,
        latency,
        jobs_checked: expected,
        cpu,
    })
}

// ---------------------------------------------------------------------------------------
// 2. Webhook-to-job-start latency
// ---------------------------------------------------------------------------------------

struct ToStartResult {
    deliveries: usize,
    spacing_ms: u64,
    to_start: Stats,
    request: Stats,
}

/// Waits until no job is queued or running (or `limit` passes).
async fn wait_drained(store: &Store, expected_done: usize, limit: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + limit;
    loop {
        let counts = store.job_counts().await?;
        let count = |state: JobState| counts.iter().find(|(s, _)| *s == state).map_or(0, |(_, n)| *n);
        let done = count(JobState::Succeeded);
        if count(JobState::Queued) == 0 && count(JobState::Running) == 0 && done >= expected_done as i64 {
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!("the queue did not drain within {limit:?}: {counts:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn webhook_to_start(args: &Args) -> anyhow::Result<ToStartResult> {
    let db = database(args).await?;
    let server = start_api(&db.url).await?;
    let url = format!("http://{}/github", server.local_addr());
    let client = http_client(1)?;

    let store = Store::new(rfd_model::db::pool(
        &db.url,
        &PoolSettings { max_connections: 8, connect_timeout_secs: 3 },
    ));
    let settings = RunnerSettings {
        concurrency: args.workers,
        // Long enough that only NOTIFY (or a finished job) wakes the runner in time.
        poll_interval_ms: 5000,
        ..Default::default()
    };
    let runner = Runner::new(store.clone(), JobProcessor::Skip, settings, "bench-latency".into());
    let listener = tokio::spawn(listen(db.url.clone(), runner.waker()));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(runner.run(async move {
        let _ = stopped.await;
    }));

    let run = Uuid::new_v4();
    let warmup = 20usize;
    let total = warmup + args.latency_deliveries;
    // One RFD per push, each a different one, so no job waits behind another of its RFD.
    let deliveries: Vec<Delivery> =
        (0..total).map(|i| delivery(&sha(&run, i), &[i as i32 + 1])).collect::<anyhow::Result<_>>()?;

    // Let the listener connect, then warm the connections and pools up (not measured).
    tokio::time::sleep(Duration::from_millis(500)).await;
    for delivery in &deliveries[..warmup] {
        send(&client, &url, delivery).await?;
        tokio::time::sleep(Duration::from_millis(args.latency_spacing_ms)).await;
    }
    wait_drained(&store, warmup, Duration::from_secs(30)).await?;

    let mut sent_at: HashMap<Uuid, DateTime<Utc>> = HashMap::with_capacity(args.latency_deliveries);
    let mut request_times = Vec::with_capacity(args.latency_deliveries);
    for delivery in &deliveries[warmup..] {
        let wall = Utc::now();
        let began = Instant::now();
        let jobs = send(&client, &url, delivery).await?;
        request_times.push(began.elapsed());
        ensure!(jobs == 1, "delivery {} queued {jobs} jobs, expected 1", delivery.id);
        sent_at.insert(delivery.id, wall);
        tokio::time::sleep(Duration::from_millis(args.latency_spacing_ms)).await;
    }
    wait_drained(&store, total, Duration::from_secs(60)).await?;

    let _ = stop.send(());
    tokio::time::timeout(Duration::from_secs(30), running)
        .await
        .map_err(|_| anyhow!("the runner did not stop"))?
        .context("the runner panicked")?;
    listener.abort();

    let jobs = store.list_jobs(&JobFilter::default(), Page::first(Page::MAX_LIMIT)).await?;
    let mut to_start = Vec::with_capacity(sent_at.len());
    for job in &jobs {
        let Some(sent) = job.webhook_delivery_id.and_then(|id| sent_at.get(&id)) else { continue };
        ensure!(job.state == JobState::Succeeded, "CHECK FAILED: job {} ended {:?}", job.id, job.state);
        let started =
            job.started_at.ok_or_else(|| anyhow!("CHECK FAILED: job {} has no started_at", job.id))?;
        let micros = (started - *sent).num_microseconds().unwrap_or(i64::MAX);
        to_start.push(micros as f64 / 1000.0);
    }
    ensure!(
        to_start.len() == sent_at.len(),
        "CHECK FAILED: {} of {} measured deliveries have a job",
        to_start.len(),
        sent_at.len()
    );

    stop_api(server).await?;
    drop(store);
    drop(db);
    Ok(ToStartResult {
        deliveries: args.latency_deliveries,
        spacing_ms: args.latency_spacing_ms,
        to_start: Stats::of(to_start),
        request: Stats::of_durations(&request_times),
    })
}

// ---------------------------------------------------------------------------------------
// 3. Queue throughput
// ---------------------------------------------------------------------------------------

struct QueueResult {
    jobs: usize,
    workers: usize,
    enqueue_elapsed: Duration,
    elapsed: Duration,
    cpu: Option<CpuUse>,
}

impl QueueResult {
    fn rate(&self) -> f64 {
        self.jobs as f64 / self.elapsed.as_secs_f64()
    }
    fn enqueue_rate(&self) -> f64 {
        self.jobs as f64 / self.enqueue_elapsed.as_secs_f64()
    }
}

/// Enqueues `n` jobs for RFDs 1..=n (distinct, so none waits behind another) in batches.
async fn enqueue_jobs(store: &Store, n: usize) -> anyhow::Result<Duration> {
    let run = Uuid::new_v4();
    let committed_at = Utc::now();
    let jobs: Vec<NewJob> = (0..n)
        .map(|i| NewJob {
            kind: JobKind::RfdUpdate,
            owner: "bench".into(),
            repository: "rfd".into(),
            branch: "main".into(),
            sha: sha(&run, i),
            rfd: Some(i as i32 + 1),
            webhook_delivery_id: None,
            committed_at,
        })
        .collect();
    let began = Instant::now();
    let mut inserted = 0;
    // 8 bound parameters per row; PostgreSQL allows 65,535 per statement.
    for batch in jobs.chunks(1000) {
        inserted += store.enqueue(batch).await?;
    }
    let elapsed = began.elapsed();
    ensure!(inserted == n, "CHECK FAILED: enqueued {inserted} of {n} jobs");
    Ok(elapsed)
}

/// Every job succeeded, after exactly one attempt.
async fn check_all_succeeded_once(url: &str, n: usize) -> anyhow::Result<()> {
    let pg = rfd_devdb::connect(url).await?;
    let row = pg
        .query_one(
            "SELECT count(*), count(*) FILTER (WHERE state = 'succeeded' AND attempts = 1 \
               AND started_at IS NOT NULL AND finished_at IS NOT NULL) FROM job",
            &[],
        )
        .await?;
    let (total, good): (i64, i64) = (row.get(0), row.get(1));
    ensure!(
        total == n as i64 && good == n as i64,
        "CHECK FAILED: {good} of {total} jobs succeeded after exactly one attempt (expected {n})"
    );
    Ok(())
}

async fn queue_store_loop(args: &Args) -> anyhow::Result<QueueResult> {
    let db = database(args).await?;
    let store = Store::new(rfd_model::db::pool(
        &db.url,
        &PoolSettings { max_connections: args.workers as u32 * 2, connect_timeout_secs: 3 },
    ));
    let enqueue_elapsed = enqueue_jobs(&store, args.jobs).await?;

    let n = args.jobs;
    let completed = Arc::new(AtomicUsize::new(0));
    let lease = Duration::from_secs(30);
    let deadline = Instant::now() + STAGE_LIMIT;
    let cpu_before = CpuSample::now();
    let began = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for w in 0..args.workers {
        let store = store.clone();
        let completed = completed.clone();
        let worker = format!("bench-worker-{w}");
        tasks.spawn(async move {
            let mut claimed = Vec::new();
            loop {
                match store.claim(&worker, lease).await? {
                    Some(job) => {
                        let attempt =
                            job.attempt().ok_or_else(|| anyhow!("claimed job {} has no lease", job.id))?;
                        ensure!(
                            store.complete(&attempt).await?,
                            "CHECK FAILED: lost the lease of job {}",
                            job.id
                        );
                        claimed.push(job.id);
                        completed.fetch_add(1, Ordering::Relaxed);
                    }
                    // The rest may be locked by the other workers for an instant.
                    None if completed.load(Ordering::Relaxed) < n => {
                        ensure!(Instant::now() < deadline, "the queue did not drain in time");
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                    None => break,
                }
            }
            Ok::<_, anyhow::Error>(claimed)
        });
    }
    let mut claimed = Vec::with_capacity(n);
    while let Some(joined) = tasks.join_next().await {
        claimed.extend(joined.context("a worker task panicked")??);
    }
    let elapsed = began.elapsed();
    let cpu = CpuUse::between(cpu_before, CpuSample::now());

    let distinct: HashSet<i32> = claimed.iter().copied().collect();
    ensure!(
        claimed.len() == n && distinct.len() == n,
        "CHECK FAILED: {} claims of {} distinct jobs, expected {n} of {n}",
        claimed.len(),
        distinct.len()
    );
    check_all_succeeded_once(&db.url, n).await?;

    drop(store);
    drop(db);
    Ok(QueueResult { jobs: n, workers: args.workers, enqueue_elapsed, elapsed, cpu })
}

async fn queue_runner(args: &Args) -> anyhow::Result<QueueResult> {
    let db = database(args).await?;
    let store = Store::new(rfd_model::db::pool(
        &db.url,
        &PoolSettings { max_connections: args.workers as u32 * 2 + 2, connect_timeout_secs: 3 },
    ));
    let enqueue_elapsed = enqueue_jobs(&store, args.jobs).await?;

    let settings = RunnerSettings { concurrency: args.workers, poll_interval_ms: 5000, ..Default::default() };
    let runner = Runner::new(store.clone(), JobProcessor::Skip, settings, "bench-runner".into());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let cpu_before = CpuSample::now();
    let running = tokio::spawn(runner.run(async move {
        let _ = stopped.await;
    }));
    wait_drained(&store, args.jobs, STAGE_LIMIT).await?;
    let cpu = CpuUse::between(cpu_before, CpuSample::now());
    let _ = stop.send(());
    tokio::time::timeout(Duration::from_secs(30), running)
        .await
        .map_err(|_| anyhow!("the runner did not stop"))?
        .context("the runner panicked")?;

    check_all_succeeded_once(&db.url, args.jobs).await?;
    // From the first claim to the last completion, as the database recorded them.
    let pg = rfd_devdb::connect(&db.url).await?;
    let secs: f64 = pg
        .query_one("SELECT extract(epoch FROM max(finished_at) - min(started_at))::float8 FROM job", &[])
        .await?
        .get(0);
    drop(pg);

    drop(store);
    drop(db);
    Ok(QueueResult {
        jobs: args.jobs,
        workers: args.workers,
        enqueue_elapsed,
        elapsed: Duration::from_secs_f64(secs.max(1e-6)),
        cpu,
    })
}

// ---------------------------------------------------------------------------------------
// Report
// ---------------------------------------------------------------------------------------

#[derive(Default)]
struct Report {
    intake: Vec<IntakeResult>,
    to_start: Option<ToStartResult>,
    store_loop: Option<QueueResult>,
    runner: Option<QueueResult>,
}

fn verdict(pass: bool) -> &'static str {
    if pass { "PASS" } else { "MISS" }
}

fn row(what: &str, figure: &str, target: &str, result: &str) {
    println!("| {what:<50} | {figure:>16} | {target:>14} | {result:<6} |");
}

fn ms(value: f64) -> String {
    format!("{value:.2} ms")
}

impl Report {
    fn print(&self, args: &Args) {
        println!();
        println!(
            "All correctness checks passed. Results (targets from the issue; a MISS does not fail the run):"
        );
        println!();
        row("measurement", "figure", "target", "result");
        println!("|{}|{}|{}|{}|", "-".repeat(52), "-".repeat(18), "-".repeat(16), "-".repeat(8));
        for r in &self.intake {
            let name = format!("1. webhook intake, {} conns, {} RFD/push", r.connections, r.rfds_per_push);
            row(&name, &format!("{:.0} /s", r.rate()), ">= 10000 /s", verdict(r.rate() >= 10_000.0));
            row("   request latency p50", &ms(r.latency.p50), "", "");
            row("   request latency p90", &ms(r.latency.p90), "", "");
            row("   request latency p99", &ms(r.latency.p99), "<= 5 ms", verdict(r.latency.p99 <= 5.0));
            row("   request latency max", &ms(r.latency.max), "", "");
            row(
                &format!(
                    "   jobs in DB: {} accepted x {} RFDs",
                    r.jobs_checked / r.rfds_per_push,
                    r.rfds_per_push
                ),
                &format!("{} ok", r.jobs_checked),
                "every one",
                "OK",
            );
        }
        if let Some(r) = &self.to_start {
            row(
                &format!("2. webhook -> job start ({} sent, {} ms apart)", r.deliveries, r.spacing_ms),
                "",
                "",
                "",
            );
            row("   p50", &ms(r.to_start.p50), "<= 50 ms", verdict(r.to_start.p50 <= 50.0));
            row("   p90", &ms(r.to_start.p90), "", "");
            row("   p99", &ms(r.to_start.p99), "", "");
            row("   max", &ms(r.to_start.max), "", "");
            row(
                "   (request alone, p50 / p99)",
                &format!("{:.2} / {:.2} ms", r.request.p50, r.request.p99),
                "",
                "",
            );
        }
        for (name, result) in [
            ("3a. no-op jobs, store claim+complete", &self.store_loop),
            ("3b. no-op jobs, Runner", &self.runner),
        ] {
            if let Some(r) = result {
                row(
                    &format!("{name}, {} workers", r.workers),
                    &format!("{:.0} jobs/s", r.rate()),
                    ">= 2000 /s",
                    verdict(r.rate() >= 2000.0),
                );
                row(
                    &format!("    {} jobs: drained in", r.jobs),
                    &format!("{:.2} s", r.elapsed.as_secs_f64()),
                    "",
                    "",
                );
                row("    (enqueue, batches of 1000)", &format!("{:.0} jobs/s", r.enqueue_rate()), "", "");
            }
        }
        println!();
        for r in &self.intake {
            println!(
                "intake, {} RFD/push: {} deliveries in {:.3} s (after {} warm-up), mean latency {:.2} ms over {} samples",
                r.rfds_per_push,
                r.deliveries,
                r.elapsed.as_secs_f64(),
                args.warmup,
                r.latency.mean,
                r.latency.count
            );
            println!("  CPU while measuring intake: {}", CpuUse::describe(r.cpu));
        }
        if let Some(r) = &self.to_start {
            println!(
                "webhook -> start: mean {:.2} ms over {} samples (client Utc::now() before send vs job.started_at)",
                r.to_start.mean, r.to_start.count
            );
        }
        for (name, result) in [("store claim+complete", &self.store_loop), ("Runner", &self.runner)] {
            if let Some(r) = result {
                println!("queue ({name}): CPU while draining: {}", CpuUse::describe(r.cpu));
            }
        }
    }
}
