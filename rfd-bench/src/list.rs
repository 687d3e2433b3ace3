//! The list stage: `GET /rfd` (every readable RFD with its latest metadata) against an
//! in-process `rfd-api`, with a given number of stored RFDs, over 16 keep-alive
//! connections and over one connection (serially).
//!
//! One in five generated RFDs is private; the caller is anonymous, so each response lists
//! the public ones (checked on the first response). Each run is bounded by a request count
//! and by time.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, ensure};
use chrono::{TimeZone, Utc};
use rfd_model::{ContentFormat, NewRevision, NewRfd, PoolSettings, Store, Visibility};

use crate::{CpuSample, CpuUse, Stats};

/// The target at 16 connections with 200 RFDs.
const TARGET_RPS: f64 = 1500.0;

/// One measured run.
#[derive(Debug, Clone)]
pub struct ListRun {
    /// RFDs stored.
    pub rfds: usize,
    /// RFDs in each response.
    pub listed: usize,
    /// Bytes of one response.
    pub bytes: usize,
    /// Connections used.
    pub connections: usize,
    /// Latency per request.
    stats: Stats,
    /// Requests per second.
    pub rps: f64,
    cpu: Option<CpuUse>,
}

/// Every run of the stage.
#[derive(Debug, Clone, Default)]
pub struct ListBench {
    /// The runs, in order.
    pub runs: Vec<ListRun>,
}

impl ListBench {
    /// Prints the stage's result.
    pub fn print(&self) {
        println!("GET /rfd (anonymous caller, 1 in 5 RFDs private):");
        for run in &self.runs {
            let target = if run.rfds == 200 && run.connections == 16 {
                format!(
                    " (target >= {TARGET_RPS:.0} req/s: {})",
                    if run.rps >= TARGET_RPS { "PASS" } else { "MISS" }
                )
            } else {
                String::new()
            };
            println!(
                "  {:>5} RFDs ({} listed, {} KB), {:>2} connection(s): {} requests, {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms{target}; CPU {}",
                run.rfds,
                run.listed,
                run.bytes / 1024,
                run.connections,
                run.stats.count,
                run.rps,
                run.stats.p50,
                run.stats.p99,
                CpuUse::describe(run.cpu),
            );
        }
    }
}

/// Runs the stage for each RFD count: `requests` at most per run, `limit` at most long.
pub async fn run(rfd_counts: &[usize], requests: usize, limit: Duration) -> anyhow::Result<ListBench> {
    let mut bench = ListBench::default();
    for &count in rfd_counts {
        let db = rfd_devdb::try_test_database().await.context("cannot get a PostgreSQL database")?;
        let store = Store::new(rfd_model::db::pool(&db.url, &PoolSettings::default()));
        seed(&store, count).await?;
        let server = crate::start_api(&db.url).await?;
        let url = format!("http://{}/rfd", server.local_addr());
        let public = count - count.div_ceil(5);
        for connections in [16, 1] {
            let client = crate::http_client(connections)?;
            // Warm-up: opens the connections and the pool, and checks the answer.
            let first = client.get(&url).send().await?.error_for_status()?.bytes().await?;
            let listed: Vec<serde_json::Value> = serde_json::from_slice(&first)?;
            ensure!(listed.len() == public, "GET /rfd listed {} RFDs, expected {public}", listed.len());
            blast(&client, &url, connections, (connections * 20).min(requests), limit).await?;
            let before = CpuSample::now();
            let (timings, elapsed) = blast(&client, &url, connections, requests, limit).await?;
            let cpu = CpuUse::between(before, CpuSample::now());
            let rps = timings.len() as f64 / elapsed.as_secs_f64().max(f64::EPSILON);
            bench.runs.push(ListRun {
                rfds: count,
                listed: listed.len(),
                bytes: first.len(),
                connections,
                stats: Stats::of_durations(&timings),
                rps,
                cpu,
            });
        }
        crate::stop_api(server).await?;
    }
    Ok(bench)
}

/// Stores `count` RFDs with one revision each (one in five private).
async fn seed(store: &Store, count: usize) -> anyhow::Result<()> {
    let mut tasks = tokio::task::JoinSet::new();
    let next = Arc::new(AtomicUsize::new(1));
    for _ in 0..8 {
        let store = store.clone();
        let next = next.clone();
        tasks.spawn(async move {
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n > count {
                    return Ok::<(), anyhow::Error>(());
                }
                let number = i32::try_from(n)?;
                let visibility = if n.is_multiple_of(5) { Visibility::Private } else { Visibility::Public };
                let link = Some(format!("https://github.com/acme/rfd/tree/{number:04}"));
                let rfd = store.insert_rfd(&NewRfd { rfd_number: number, link, visibility }).await?;
                let at = Utc
                    .timestamp_opt(1_700_000_000 + i64::from(number) * 3600, 0)
                    .single()
                    .unwrap_or_default();
                store
                    .insert_revision(&NewRevision {
                        rfd_id: rfd.id,
                        title: format!("Design of subsystem {number} and its interfaces"),
                        state: Some("published".into()),
                        discussion: Some(format!("https://github.com/acme/rfd/pull/{number}")),
                        authors: Some("Ada Lovelace <ada@acme.test>, Grace Hopper <grace@acme.test>".into()),
                        labels: Some("storage, networking".into()),
                        content: format!("= RFD {number} Design\n\nBody.\n"),
                        content_format: ContentFormat::Asciidoc,
                        sha: format!("{:040x}", n),
                        commit_sha: format!("{:040x}", n + 1_000_000),
                        committed_at: at,
                        major_change: true,
                        tree_sha: None,
                        problems: Vec::new(),
                    })
                    .await?;
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    Ok(())
}

/// `requests` GETs over `connections` concurrent loops, stopping early at `limit`.
async fn blast(
    client: &reqwest::Client,
    url: &str,
    connections: usize,
    requests: usize,
    limit: Duration,
) -> anyhow::Result<(Vec<Duration>, Duration)> {
    let issued = Arc::new(AtomicUsize::new(0));
    let deadline = Instant::now() + limit;
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..connections {
        let client = client.clone();
        let url = url.to_string();
        let issued = issued.clone();
        tasks.spawn(async move {
            let mut timings = Vec::new();
            while issued.fetch_add(1, Ordering::Relaxed) < requests && Instant::now() < deadline {
                let t0 = Instant::now();
                let response = client.get(&url).send().await?;
                let status = response.status();
                let _body = response.bytes().await?;
                if !status.is_success() {
                    return Err(anyhow!("GET /rfd answered {status}"));
                }
                timings.push(t0.elapsed());
            }
            Ok(timings)
        });
    }
    let mut all = Vec::with_capacity(requests);
    while let Some(done) = tasks.join_next().await {
        all.extend(done??);
    }
    Ok((all, started.elapsed()))
}
