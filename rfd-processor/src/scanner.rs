//! The scanner: finds what webhooks missed and enqueues it.
//!
//! - Runs at start and every `interval_secs`; one instance at a time across processors
//!   (a PostgreSQL advisory lock on a connection of its own); it only enqueues jobs, which
//!   the queue deduplicates.
//! - A scan lists the branches (one call per hundred) and skips every branch whose head it
//!   has examined before, so a scan in which nothing moved costs one or two calls whatever
//!   the number of RFDs.
//! - A moved default branch costs one tree listing: RFD folders whose tree id matches a
//!   stored revision are unchanged. For each changed RFD (and each moved `NNNN` branch),
//!   one call lists its recent commits; every commit not yet stored as a revision is
//!   enqueued, oldest first, at most `backfill_limit` of them.
//! - One failing RFD or branch does not abort the scan; its head is not recorded as
//!   examined, so the next scan looks again.

use std::sync::Arc;
use std::time::Duration;

use rfd_model::processing::SessionLock;
use rfd_model::source::{RfdSource, SourceError, rfd_number_of_branch};
use rfd_model::{JobKind, NewJob, Store, StoreError};
use serde::Deserialize;

/// The advisory lock key of the scanner ("rfdscan").
const SCANNER_LOCK: i64 = 0x0072_6664_7363_616e;

/// `[scanner]` in the config file.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScannerSettings {
    /// Whether this processor runs the scanner.
    pub enabled: bool,
    /// Seconds between scans.
    pub interval_secs: u64,
    /// Most commits of one RFD enqueued per scan (newest first).
    pub backfill_limit: usize,
}

impl Default for ScannerSettings {
    fn default() -> Self {
        Self { enabled: true, interval_secs: 900, backfill_limit: 10 }
    }
}

/// Why a scan (or part of one) failed.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    /// The repository could not be read.
    #[error("source: {0}")]
    Source(#[from] SourceError),
    /// The database could not be read or written.
    #[error("database: {0}")]
    Store(#[from] StoreError),
}

/// What one scan did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScanReport {
    /// Whether another processor held the scanner lock (nothing was done).
    pub skipped: bool,
    /// Branches whose head moved since the last scan.
    pub branches_examined: usize,
    /// New jobs.
    pub jobs_enqueued: usize,
    /// RFDs or branches that failed (retried by the next scan).
    pub failures: usize,
}

/// What a branch needs.
struct BranchPlan {
    jobs: Vec<NewJob>,
    /// Whether every RFD of the branch was examined (else its head is not recorded).
    complete: bool,
}

/// The scanner of one processor.
pub struct Scanner {
    store: Store,
    source: Arc<dyn RfdSource>,
    settings: ScannerSettings,
    database_url: String,
    metrics: Option<Arc<crate::metrics::ProcessorMetrics>>,
}

impl Scanner {
    /// A scanner over `source`.
    pub fn new(
        store: Store,
        source: Arc<dyn RfdSource>,
        settings: ScannerSettings,
        database_url: String,
    ) -> Self {
        Self { store, source, settings, database_url, metrics: None }
    }

    /// Counts every run of [`Scanner::run`] into `metrics`.
    pub fn with_metrics(mut self, metrics: Arc<crate::metrics::ProcessorMetrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// Scans at start and then every interval until `shutdown` resolves.
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) {
        let mut shutdown = std::pin::pin!(shutdown);
        let interval = Duration::from_secs(self.settings.interval_secs.max(1));
        loop {
            let result = self.scan().await;
            if let Some(metrics) = &self.metrics {
                metrics.scan(match &result {
                    Ok(report) if report.skipped => "skipped",
                    Ok(_) => "completed",
                    Err(_) => "failed",
                });
            }
            match result {
                Ok(report) if report.skipped => tracing::debug!("another processor is scanning"),
                Ok(report) => tracing::info!(
                    scan.branches = report.branches_examined,
                    scan.jobs = report.jobs_enqueued,
                    scan.failures = report.failures,
                    "scan finished"
                ),
                Err(err) => tracing::warn!(error = %err, "scan failed; retrying at the next interval"),
            }
            tokio::select! {
                () = &mut shutdown => return,
                () = tokio::time::sleep(interval) => {}
            }
        }
    }

    /// One scan.
    pub async fn scan(&self) -> Result<ScanReport, ScanError> {
        let Some(_lock) = SessionLock::try_acquire(&self.database_url, SCANNER_LOCK).await? else {
            return Ok(ScanReport { skipped: true, ..ScanReport::default() });
        };
        let location = self.source.location().clone();
        let branches = self.source.branches().await?;
        let known = self.store.scanned_heads(&location.owner, &location.repository).await?;

        let mut report = ScanReport::default();
        let mut jobs = Vec::new();
        let mut examined = Vec::new();
        for branch in branches {
            let relevant =
                branch.name == location.default_branch || rfd_number_of_branch(&branch.name).is_some();
            if !relevant || known.get(&branch.name) == Some(&branch.head) {
                continue;
            }
            report.branches_examined += 1;
            match plan_branch(
                &self.store,
                self.source.as_ref(),
                &branch.name,
                &branch.head,
                self.settings.backfill_limit,
            )
            .await
            {
                Ok(plan) => {
                    jobs.extend(plan.jobs);
                    if plan.complete {
                        examined.push((branch.name, branch.head));
                    } else {
                        report.failures += 1;
                    }
                }
                Err(err) => {
                    report.failures += 1;
                    tracing::warn!(branch = %branch.name, error = %err, "scanning a branch failed");
                }
            }
        }
        report.jobs_enqueued = self.store.enqueue(&jobs).await?;
        self.store.record_scanned_heads(&location.owner, &location.repository, &examined).await?;
        Ok(report)
    }
}

/// The jobs a branch at `head` needs: commits of its RFDs not yet stored as revisions.
/// Used by the scanner and by branch reconcile jobs.
pub async fn missing_jobs_for_branch(
    store: &Store,
    source: &dyn RfdSource,
    branch: &str,
    head: &str,
    backfill_limit: usize,
) -> Result<Vec<NewJob>, ScanError> {
    Ok(plan_branch(store, source, branch, head, backfill_limit).await?.jobs)
}

async fn plan_branch(
    store: &Store,
    source: &dyn RfdSource,
    branch: &str,
    head: &str,
    backfill_limit: usize,
) -> Result<BranchPlan, ScanError> {
    let location = source.location();
    if branch != location.default_branch {
        let Some(number) = rfd_number_of_branch(branch) else {
            return Ok(BranchPlan { jobs: Vec::new(), complete: true });
        };
        let jobs = missing_commits(store, source, number, branch, head, backfill_limit).await?;
        return Ok(BranchPlan { jobs, complete: true });
    }

    let tree = source.rfd_tree(head).await?;
    let stored = store.revision_trees().await?;
    let mut plan = BranchPlan { jobs: Vec::new(), complete: true };
    for entry in tree {
        if stored.get(&entry.rfd).is_some_and(|trees| trees.contains(&entry.tree_sha)) {
            continue;
        }
        match missing_commits(store, source, entry.rfd, branch, head, backfill_limit).await {
            Ok(jobs) => plan.jobs.extend(jobs),
            Err(err) => {
                plan.complete = false;
                tracing::warn!(rfd.number = entry.rfd, error = %err, "scanning an RFD failed");
            }
        }
    }
    Ok(plan)
}

/// Commits of RFD `number` reachable from `head` that are not stored, oldest first.
async fn missing_commits(
    store: &Store,
    source: &dyn RfdSource,
    number: i32,
    branch: &str,
    head: &str,
    limit: usize,
) -> Result<Vec<NewJob>, ScanError> {
    let commits = source.rfd_commits(number, head, limit.max(1)).await?;
    let stored = store.revision_commits(number).await?;
    let location = source.location();
    let mut jobs: Vec<NewJob> = commits
        .into_iter()
        .take_while(|commit| !stored.contains(&commit.sha))
        .map(|commit| NewJob {
            kind: JobKind::RfdUpdate,
            owner: location.owner.clone(),
            repository: location.repository.clone(),
            branch: branch.to_string(),
            sha: commit.sha,
            rfd: Some(number),
            webhook_delivery_id: None,
            committed_at: commit.committed_at,
        })
        .collect();
    // Oldest first: jobs of one RFD run in enqueue order, so history is stored in order
    // and the newest commit ends as the latest revision.
    jobs.reverse();
    Ok(jobs)
}
