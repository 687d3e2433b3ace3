//! The job runner: claims jobs, runs them with a renewed lease, and records the outcome.
//!
//! - Wake-up: LISTEN on the queue channel (reconnecting with backoff) plus a fallback
//!   poll, and whenever a running job finishes (capacity freed).
//! - At most `concurrency` jobs run at once; the free slots are filled by one claim
//!   statement, which also answers each job's supersede check. The database guarantees
//!   that two jobs of one RFD never run together.
//! - A job's future runs in its own task, so a panic is caught and counted as a failed
//!   attempt. Failures retry with capped, jittered exponential backoff; out of attempts,
//!   the job is failed with its error kept.
//! - A job older than the newest processed commit of its RFD and branch is superseded,
//!   not run.
//! - On shutdown: stop claiming, let running jobs finish within the grace period, then
//!   give the rest back to the queue.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use rfd_model::queue::ClaimedJob;
use rfd_model::{Attempt, Job, JobState, Store, StoreError};
use serde::Deserialize;
use tokio::sync::{Notify, Semaphore};
use tokio::task::JoinSet;

/// Runner settings: `[processor]` in the config file.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RunnerSettings {
    /// Jobs run at once by this process.
    pub concurrency: usize,
    /// Seconds a claim stays valid without a heartbeat (heartbeats every third of it).
    pub lease_secs: f64,
    /// Fallback poll interval when no notification arrives, in milliseconds.
    pub poll_interval_ms: u64,
    /// Seconds running jobs get to finish on shutdown before they are given back.
    pub shutdown_grace_secs: f64,
    /// First retry delay, in milliseconds; doubled per attempt.
    pub backoff_base_ms: u64,
    /// Longest retry delay, in seconds.
    pub backoff_cap_secs: f64,
}

impl Default for RunnerSettings {
    fn default() -> Self {
        Self {
            concurrency: 4,
            lease_secs: 30.0,
            poll_interval_ms: 1000,
            shutdown_grace_secs: 30.0,
            backoff_base_ms: 1000,
            backoff_cap_secs: 600.0,
        }
    }
}

impl RunnerSettings {
    fn lease(&self) -> Duration {
        Duration::from_secs_f64(self.lease_secs.max(0.1))
    }

    /// The delay before attempt `attempt + 1`: base·2^(attempt-1), capped, with "full
    /// jitter" (uniform between half and all of it) so failing jobs do not retry in step.
    pub fn backoff(&self, attempt: i32) -> Duration {
        let exponent = u32::try_from(attempt.saturating_sub(1).clamp(0, 30)).unwrap_or(30);
        let base = Duration::from_millis(self.backoff_base_ms).saturating_mul(2u32.saturating_pow(exponent));
        let capped = base.min(Duration::from_secs_f64(self.backoff_cap_secs.max(0.0)));
        capped.mul_f64(rand::random_range(0.5..=1.0))
    }
}

/// Why a job attempt failed.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct JobError(pub String);

impl From<StoreError> for JobError {
    fn from(err: StoreError) -> Self {
        Self(err.to_string())
    }
}

/// What runs a claimed job.
pub trait JobHandler: Send + Sync + 'static {
    /// Runs one attempt of `job`. An error fails the attempt (it is retried).
    fn run(&self, job: Job, attempt: Attempt) -> impl Future<Output = Result<(), JobError>> + Send;

    /// Runs instead of [`JobHandler::run`] for a job superseded by a newer commit: it may
    /// keep history, but must have no effect a newer job could be undone by. The job is
    /// then marked superseded; an error fails the attempt like one of `run`.
    fn superseded(&self, job: Job, attempt: Attempt) -> impl Future<Output = Result<(), JobError>> + Send {
        let _ = (job, attempt);
        async { Ok(()) }
    }
}

/// Why a superseded job did not run.
const SUPERSEDED: &str = "a newer commit of this RFD and branch was already processed";

/// The runner of one process.
pub struct Runner<H> {
    store: Store,
    handler: Arc<H>,
    settings: RunnerSettings,
    worker: String,
    wake: Arc<Notify>,
}

impl<H: JobHandler> Runner<H> {
    /// A runner identified as `worker` in leases.
    pub fn new(store: Store, handler: H, settings: RunnerSettings, worker: String) -> Self {
        Self { store, handler: Arc::new(handler), settings, worker, wake: Arc::new(Notify::new()) }
    }

    /// Wakes the runner to look for work now (the queue listener calls this).
    pub fn waker(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    /// Runs until `shutdown` resolves, then drains as described in the module docs.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let this = Arc::new(self);
        let permits = Arc::new(Semaphore::new(this.settings.concurrency.max(1)));
        let mut running: JoinSet<()> = JoinSet::new();
        let mut attempts: HashMap<tokio::task::Id, Attempt> = HashMap::new();
        let poll = Duration::from_millis(this.settings.poll_interval_ms.max(10));
        let mut shutdown = std::pin::pin!(shutdown);
        let mut last_reap = tokio::time::Instant::now() - poll;

        loop {
            if last_reap.elapsed() >= poll {
                last_reap = tokio::time::Instant::now();
                match this.store.reap_expired_leases().await {
                    Ok(ids) if !ids.is_empty() => {
                        tracing::warn!(job.ids = ?ids, "took back jobs with expired leases")
                    }
                    Ok(_) => {}
                    Err(err) => tracing::warn!(error = %err, "reaping expired leases failed"),
                }
            }
            // Claim while there is capacity and work: as many jobs as there are free
            // permits, in one statement.
            loop {
                let mut free = Vec::new();
                while let Ok(permit) = permits.clone().try_acquire_owned() {
                    free.push(permit);
                }
                if free.is_empty() {
                    break;
                }
                match this.store.claim_batch(&this.worker, this.settings.lease(), free.len()).await {
                    Ok(claimed) => {
                        let got = claimed.len();
                        for ClaimedJob { job, superseded } in claimed {
                            let (Some(attempt), Some(permit)) = (job.attempt(), free.pop()) else { continue };
                            let runner = this.clone();
                            let claimed = attempt.clone();
                            let handle = running.spawn(async move {
                                runner.run_job(job, claimed, Some(superseded)).await;
                                drop(permit);
                            });
                            attempts.insert(handle.id(), attempt);
                        }
                        // None: nothing is due (or the rest is locked or waits behind a
                        // running job of its RFD) until something changes. Fewer than
                        // asked may only mean two candidates shared an RFD: look again.
                        if got == 0 {
                            break;
                        }
                    }
                    Err(err) => {
                        tracing::warn!(error = %err, "claiming jobs failed");
                        break;
                    }
                }
            }
            tokio::select! {
                () = &mut shutdown => break,
                () = this.wake.notified() => {}
                () = tokio::time::sleep(poll) => {}
                Some(done) = running.join_next_with_id(), if !running.is_empty() => {
                    attempts.remove(&task_id(done));
                }
            }
        }

        tracing::info!(running = running.len(), "stopping: no new claims; waiting for running jobs");
        let grace = Duration::from_secs_f64(this.settings.shutdown_grace_secs.max(0.0));
        let drained = tokio::time::timeout(grace, async {
            while let Some(done) = running.join_next_with_id().await {
                attempts.remove(&task_id(done));
            }
        })
        .await;
        if drained.is_err() {
            running.abort_all();
            while running.join_next().await.is_some() {}
            for attempt in attempts.values() {
                match this.store.release(attempt).await {
                    Ok(true) => tracing::info!(job.id = attempt.job_id, "gave the job back to the queue"),
                    Ok(false) => {}
                    Err(err) => {
                        tracing::warn!(job.id = attempt.job_id, error = %err, "could not give the job back; its lease will expire")
                    }
                }
            }
        }
    }

    #[tracing::instrument(skip_all, fields(job.id = job.id, job.attempt = attempt.attempt, rfd.number = ?job.rfd))]
    async fn run_job(self: Arc<Self>, job: Job, attempt: Attempt, superseded: Option<bool>) {
        // The claim usually answered already (in the same statement); no other job of the
        // RFD can finish while this one holds it, so that answer is still current.
        let superseded = match superseded {
            Some(known) => Ok(known),
            None => self.store.is_superseded(&job).await,
        };
        let superseded = match superseded {
            Ok(superseded) => superseded,
            Err(err) => {
                self.record_failure(&attempt, &format!("checking for newer commits: {err}")).await;
                return;
            }
        };

        let handler = self.handler.clone();
        let mut work = tokio::spawn({
            let job = job.clone();
            let attempt = attempt.clone();
            async move {
                if superseded {
                    handler.superseded(job, attempt).await
                } else {
                    handler.run(job, attempt).await
                }
            }
        });
        let lease = self.settings.lease();
        let mut heartbeat = tokio::time::interval(lease / 3);
        heartbeat.tick().await;
        let outcome = loop {
            tokio::select! {
                result = &mut work => break result,
                _ = heartbeat.tick() => match self.store.heartbeat(&attempt, lease).await {
                    Ok(true) => {}
                    Ok(false) => {
                        work.abort();
                        tracing::warn!("lease lost; abandoning the attempt");
                        return;
                    }
                    // A blip: keep working; the lease has slack for two missed beats.
                    Err(err) => tracing::warn!(error = %err, "heartbeat failed"),
                },
            }
        };
        match outcome {
            Ok(Ok(())) if superseded => {
                match self.with_retries(|| self.store.supersede(&attempt, SUPERSEDED)).await {
                    Some(true) => tracing::info!("superseded by a newer commit"),
                    Some(false) => tracing::warn!("finished after the lease was lost; result discarded"),
                    None => tracing::warn!(
                        "could not record the supersede; the lease will expire and the job rerun"
                    ),
                }
            }
            Ok(Ok(())) => match self.with_retries(|| self.store.complete(&attempt)).await {
                Some(true) => tracing::debug!("succeeded"),
                Some(false) => tracing::warn!("finished after the lease was lost; result discarded"),
                None => tracing::warn!("could not record success; the lease will expire and the job rerun"),
            },
            Ok(Err(err)) => self.record_failure(&attempt, &err.0).await,
            Err(join) if join.is_panic() => {
                let message = panic_message(join.into_panic());
                self.record_failure(&attempt, &format!("panicked: {message}")).await;
            }
            Err(_cancelled) => {}
        }
        self.wake.notify_one();
    }

    async fn record_failure(&self, attempt: &Attempt, error: &str) {
        let retry_in = self.settings.backoff(attempt.attempt);
        match self.with_retries(|| self.store.fail(attempt, error, retry_in)).await {
            Some(Some(JobState::Failed)) => tracing::error!(error, "job failed for good (dead letter)"),
            Some(Some(_)) => {
                tracing::warn!(error, retry_in_ms = retry_in.as_millis() as u64, "attempt failed; will retry")
            }
            Some(None) => tracing::warn!(error, "attempt failed after the lease was lost"),
            None => tracing::warn!(error, "could not record the failure; the lease will expire"),
        }
    }

    /// Retries a bookkeeping write through a short database blip.
    async fn with_retries<T, F, Fut>(&self, mut write: F) -> Option<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, StoreError>>,
    {
        let mut delay = Duration::from_millis(100);
        for _ in 0..5 {
            match write().await {
                Ok(value) => return Some(value),
                Err(err) => {
                    tracing::warn!(error = %err, "queue write failed; retrying");
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                }
            }
        }
        None
    }
}

fn task_id(done: Result<(tokio::task::Id, ()), tokio::task::JoinError>) -> tokio::task::Id {
    match done {
        Ok((id, ())) => id,
        Err(err) => err.id(),
    }
}

fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    match payload.downcast::<String>() {
        Ok(message) => *message,
        Err(payload) => match payload.downcast::<&'static str>() {
            Ok(message) => (*message).to_string(),
            Err(_) => "a panic without a message".to_string(),
        },
    }
}

/// Keeps a LISTEN connection open and wakes the runner on every notification;
/// reconnects with backoff when the connection drops.
pub async fn listen(database_url: String, wake: Arc<Notify>) {
    let mut delay = Duration::from_millis(200);
    loop {
        match rfd_model::queue::JobListener::connect(&database_url).await {
            Ok(mut listener) => {
                delay = Duration::from_millis(200);
                // Anything enqueued while we were not listening is picked up now.
                wake.notify_one();
                loop {
                    let event = tokio::time::timeout(Duration::from_secs(30), listener.next()).await;
                    match event {
                        Ok(Ok(())) => wake.notify_one(),
                        Ok(Err(err)) => {
                            tracing::warn!(error = %err, "queue listener lost its connection");
                            break;
                        }
                        Err(_idle) => {
                            if let Err(err) = listener.ping().await {
                                tracing::warn!(error = %err, "queue listener connection is dead");
                                break;
                            }
                        }
                    }
                }
            }
            Err(err) => {
                tracing::warn!(error = %err, retry_in_ms = delay.as_millis() as u64, "cannot listen for jobs")
            }
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(10));
    }
}

/// Runs a job's actions. Until the pipeline lands, the action list is empty, so a job
/// succeeds as soon as it is claimed: the whole queue path is real and testable.
#[derive(Debug, Default)]
pub struct EmptyPipeline;

impl JobHandler for EmptyPipeline {
    async fn run(&self, _job: Job, _attempt: Attempt) -> Result<(), JobError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_is_capped_and_jittered() {
        let settings = RunnerSettings { backoff_base_ms: 100, backoff_cap_secs: 1.0, ..Default::default() };
        for _ in 0..50 {
            let first = settings.backoff(1);
            assert!(first >= Duration::from_millis(50) && first <= Duration::from_millis(100), "{first:?}");
            let third = settings.backoff(3);
            assert!(third >= Duration::from_millis(200) && third <= Duration::from_millis(400), "{third:?}");
            let late = settings.backoff(40);
            assert!(late >= Duration::from_millis(500) && late <= Duration::from_secs(1), "{late:?}");
        }
    }
}
