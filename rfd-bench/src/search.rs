//! The search stage: p50/p95 query latency of the embedded backend (PostgreSQL full-text
//! search) over generated RFDs of realistic size.
//!
//! Each RFD has 4–30 sections of 2–8 paragraphs drawn from a Zipf-distributed vocabulary
//! (about 8–60 KB of AsciiDoc, like real design documents); one in five is private.
//! Queries mix one and two common words, rare words, prefixes and one-typo words, run
//! one at a time as an anonymous caller granted a few private RFDs (the usual scope).

use std::time::{Duration, Instant};

use anyhow::Context as _;
use rfd_model::search::postgres::PostgresSearch;
use rfd_model::search::{IndexedRfd, SearchIndex, SearchQuery};
use rfd_model::{ContentFormat, NewRevision, NewRfd, PoolSettings, ReadScope, Store, Visibility};

/// What the stage measured.
#[derive(Debug, Clone)]
pub struct SearchBench {
    /// RFDs indexed.
    pub rfds: usize,
    /// Sections indexed.
    pub sections: usize,
    /// Time to store and index them all.
    pub index_time: Duration,
    /// Queries run.
    pub queries: usize,
    /// Median latency, ms.
    pub p50_ms: f64,
    /// 95th percentile, ms.
    pub p95_ms: f64,
    /// 99th percentile, ms.
    pub p99_ms: f64,
    /// Per query kind: (kind, p50, p95).
    pub by_kind: Vec<(&'static str, f64, f64)>,
}

impl SearchBench {
    /// Prints the stage's result.
    pub fn print(&self) {
        println!(
            "search (PostgreSQL FTS): {} RFDs, {} sections indexed in {:.1} s; {} queries: p50 {:.2} ms, p95 {:.2} ms, p99 {:.2} ms (target p95 <= 20 ms)",
            self.rfds,
            self.sections,
            self.index_time.as_secs_f64(),
            self.queries,
            self.p50_ms,
            self.p95_ms,
            self.p99_ms
        );
        for (kind, p50, p95) in &self.by_kind {
            println!("  {kind:<12} p50 {p50:.2} ms, p95 {p95:.2} ms");
        }
    }
}

/// A small deterministic generator (xorshift64*), so runs are comparable.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % n.max(1) as u64).unwrap_or(0)
    }

    fn range(&mut self, low: usize, high: usize) -> usize {
        low + self.below(high - low + 1)
    }

    /// A Zipf-like index in `0..n`: low indices are far more frequent.
    fn zipf(&mut self, n: usize) -> usize {
        let u = (self.next() >> 11) as f64 / (1u64 << 53) as f64;
        let x = (n as f64).powf(u) - 1.0;
        (x as usize).min(n - 1)
    }
}

const SYLLABLES: [&str; 24] = [
    "ra", "ten", "ko", "mi", "sal", "dor", "vek", "lu", "pri", "sto", "nar", "gen", "tra", "qui", "bel",
    "mon", "zer", "fa", "lin", "cor", "das", "ep", "ul", "tis",
];

fn vocabulary(rng: &mut Rng, size: usize) -> Vec<String> {
    let mut words: Vec<String> = [
        "storage",
        "network",
        "database",
        "replication",
        "consensus",
        "latency",
        "throughput",
        "kernel",
        "scheduler",
        "firmware",
        "telemetry",
        "instance",
        "volume",
        "snapshot",
        "migration",
        "protocol",
    ]
    .iter()
    .map(|w| w.to_string())
    .collect();
    let mut seen: std::collections::HashSet<String> = words.iter().cloned().collect();
    while words.len() < size {
        let parts = rng.range(2, 4);
        let word: String = (0..parts).map(|_| SYLLABLES[rng.below(SYLLABLES.len())]).collect();
        if seen.insert(word.clone()) {
            words.push(word);
        }
    }
    words
}

fn sentence(rng: &mut Rng, vocab: &[String]) -> String {
    let n = rng.range(6, 18);
    let words: Vec<&str> = (0..n).map(|_| vocab[rng.zipf(vocab.len())].as_str()).collect();
    let mut s = words.join(" ");
    if let Some(first) = s.get_mut(0..1) {
        first.make_ascii_uppercase();
    }
    s.push('.');
    s
}

fn document(rng: &mut Rng, vocab: &[String], number: usize, title: &str) -> String {
    let mut doc =
        format!(":state: published\n:authors: Ada Lovelace <ada@example.com>\n\n= RFD {number} {title}\n\n");
    let sections = rng.range(4, 30);
    for s in 0..sections {
        let depth = if s == 0 { 1 } else { rng.range(1, 3) };
        let heading: Vec<&str> =
            (0..rng.range(1, 4)).map(|_| vocab[rng.zipf(vocab.len())].as_str()).collect();
        doc.push_str(&format!("{} {}\n\n", "=".repeat(depth + 1), heading.join(" ")));
        for _ in 0..rng.range(2, 8) {
            let paragraph: Vec<String> = (0..rng.range(2, 6)).map(|_| sentence(rng, vocab)).collect();
            doc.push_str(&paragraph.join(" "));
            doc.push_str("\n\n");
        }
    }
    doc
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Generates `rfds` RFDs in a fresh database, indexes them and times `queries` queries.
pub async fn run(rfds: usize, queries: usize, keep_db: bool) -> anyhow::Result<SearchBench> {
    let db =
        rfd_devdb::try_test_database().await.context("cannot get a PostgreSQL database from rfd-devdb")?;
    let store =
        Store::new(rfd_model::db::pool(&db.url, &PoolSettings { max_connections: 16, ..Default::default() }));
    let index = PostgresSearch::new(store.clone());
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let vocab = vocabulary(&mut rng, 20_000);

    let started = Instant::now();
    let mut sections = 0;
    let mut pending = Vec::new();
    for number in 1..=rfds {
        let title: Vec<&str> = (0..rng.range(2, 5)).map(|_| vocab[rng.zipf(vocab.len())].as_str()).collect();
        let title = title.join(" ");
        let content = document(&mut rng, &vocab, number, &title);
        let visibility = if rng.below(5) == 0 { Visibility::Private } else { Visibility::Public };
        pending.push((i32::try_from(number)?, title, content, visibility));
        if pending.len() == 32 || number == rfds {
            let batch = std::mem::take(&mut pending);
            let results = futures_join(batch.into_iter().map(|(number, title, content, visibility)| {
                let store = store.clone();
                let index = index.clone();
                async move { store_and_index(&store, &index, number, &title, &content, visibility).await }
            }))
            .await;
            for result in results {
                sections += result?;
            }
        }
    }
    let index_time = started.elapsed();
    // Fresh statistics, as autovacuum would have after a bulk load.
    rfd_devdb::connect(&db.url).await?.batch_execute("ANALYZE").await?;

    let granted: Vec<i32> = (0..5).map(|_| i32::try_from(rng.range(1, rfds)).unwrap_or(1)).collect();
    let scope = ReadScope::PublicAnd(granted);
    let kinds = ["common", "two words", "rare", "prefix", "typo"];
    let mut samples: Vec<Vec<f64>> = vec![Vec::new(); kinds.len()];
    // Warm the cache as a running service would be.
    for _ in 0..50 {
        index.search(&scope, &SearchQuery::new(vocab[rng.zipf(200)].clone())).await?;
    }
    for i in 0..queries {
        let kind = i % kinds.len();
        let q = match kind {
            0 => vocab[rng.zipf(300)].clone(),
            1 => format!("{} {}", vocab[rng.zipf(2000)], vocab[rng.zipf(2000)]),
            2 => vocab[rng.range(2000, vocab.len() - 1)].clone(),
            3 => vocab[rng.zipf(3000)].chars().take(4).collect(),
            _ => {
                let mut chars: Vec<char> = vocab[rng.zipf(3000)].chars().collect();
                if chars.len() >= 6 {
                    chars.swap(2, 3);
                }
                chars.into_iter().collect()
            }
        };
        let start = Instant::now();
        let results = index.search(&scope, &SearchQuery::new(q)).await?;
        samples[kind].push(start.elapsed().as_secs_f64() * 1000.0);
        std::hint::black_box(results);
    }
    if keep_db {
        println!("  search database kept: {}", rfd_devdb::redact(&db.url));
        std::mem::forget(db);
    }
    let mut all: Vec<f64> = samples.iter().flatten().copied().collect();
    all.sort_by(f64::total_cmp);
    let by_kind = kinds
        .iter()
        .zip(samples.iter_mut())
        .map(|(kind, s)| {
            s.sort_by(f64::total_cmp);
            (*kind, percentile(s, 50.0), percentile(s, 95.0))
        })
        .collect();
    Ok(SearchBench {
        rfds,
        sections,
        index_time,
        queries,
        p50_ms: percentile(&all, 50.0),
        p95_ms: percentile(&all, 95.0),
        p99_ms: percentile(&all, 99.0),
        by_kind,
    })
}

async fn futures_join<F: std::future::Future<Output = anyhow::Result<usize>> + Send + 'static>(
    futures: impl Iterator<Item = F>,
) -> Vec<anyhow::Result<usize>> {
    let handles: Vec<_> = futures.map(tokio::spawn).collect();
    let mut out = Vec::with_capacity(handles.len());
    for handle in handles {
        out.push(handle.await.unwrap_or_else(|err| Err(anyhow::anyhow!("indexing task failed: {err}"))));
    }
    out
}

async fn store_and_index(
    store: &Store,
    index: &PostgresSearch,
    number: i32,
    title: &str,
    content: &str,
    visibility: Visibility,
) -> anyhow::Result<usize> {
    let rfd = store.insert_rfd(&NewRfd { rfd_number: number, link: None, visibility }).await?;
    let revision = store
        .insert_revision(&NewRevision {
            rfd_id: rfd.id,
            title: title.to_string(),
            state: Some("published".into()),
            discussion: None,
            authors: Some("Ada Lovelace <ada@example.com>".into()),
            labels: None,
            content: content.to_string(),
            content_format: ContentFormat::Asciidoc,
            sha: format!("blob-{number}"),
            commit_sha: format!("commit-{number}"),
            committed_at: chrono::Utc::now(),
            major_change: true,
            tree_sha: None,
            problems: Vec::new(),
        })
        .await?;
    let indexed = IndexedRfd::from_revision(&rfd, &revision);
    index.index_rfd(&indexed).await?;
    Ok(indexed.sections.len())
}
