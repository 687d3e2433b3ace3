//! The job runner: claims jobs, runs them with a renewed lease, and records the outcome.
//!
//! - Wake-up: LISTEN on the queue channel (reconnecting with backoff) plus a fallback
//!   poll, and whenever a running job finishes (capacity freed).
//! - At most `concurrency` jobs run at once; the free slots are filled by one claim
//!   statement, which also answers each job's supersede check. A finished job is
//!   recorded and the next one claimed into its slot by one statement (one round trip
//!   per job). The database guarantees that two jobs of one RFD never run together.
//! - A job's future runs in its own task, so a panic is caught and counted as a failed
//!   attempt. Failures retry with capped, jittered exponential backoff; out of attempts,
//!   the job is failed with its error kept.
//! - A job older than the newest processed commit of its RFD and branch is superseded,
//!   not run.
//! - On shutdown: stop claiming, let running jobs finish within the grace period, then
//!   give the rest back to the queue.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rfd_model::queue::{ClaimedJob, Finish};
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
    /// Set at shutdown: a finishing job claims no successor.
    stopping: AtomicBool,
    /// The attempt each job task is running, so jobs of tasks aborted at shutdown can
    /// be given back (a task runs one job after another in its slot).
    current: Mutex<HashMap<tokio::task::Id, Attempt>>,
}

impl<H: JobHandler> Runner<H> {
    /// A runner identified as `worker` in leases.
    pub fn new(store: Store, handler: H, settings: RunnerSettings, worker: String) -> Self {
        Self {
            store,
            handler: Arc::new(handler),
            settings,
            worker,
            wake: Arc::new(Notify::new()),
            stopping: AtomicBool::new(false),
            current: Mutex::new(HashMap::new()),
        }
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
                                // Each finished job may hand over the next one claimed for
                                // this slot in the same statement.
                                let mut next = Some((job, claimed, superseded));
                                while let Some((job, attempt, superseded)) = next.take() {
                                    next = runner.clone().run_job(job, attempt, Some(superseded)).await;
                                }
                                runner.set_current(None);
                                drop(permit);
                                // Capacity freed: the main loop looks for more work.
                                runner.wake.notify_one();
                            });
                            this.lock_current().insert(handle.id(), attempt);
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
                    this.lock_current().remove(&task_id(done));
                }
            }
        }
        this.stopping.store(true, Ordering::SeqCst);

        tracing::info!(running = running.len(), "stopping: no new claims; waiting for running jobs");
        let grace = Duration::from_secs_f64(this.settings.shutdown_grace_secs.max(0.0));
        let drained = tokio::time::timeout(grace, async {
            while let Some(done) = running.join_next_with_id().await {
                this.lock_current().remove(&task_id(done));
            }
        })
        .await;
        if drained.is_err() {
            running.abort_all();
            while running.join_next().await.is_some() {}
            let attempts: Vec<Attempt> = this.lock_current().drain().map(|(_, attempt)| attempt).collect();
            for attempt in &attempts {
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

    fn lock_current(&self) -> std::sync::MutexGuard<'_, HashMap<tokio::task::Id, Attempt>> {
        // The map stays consistent whatever panicked while it was held.
        self.current.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Records which attempt the calling job task runs (`None`: none any more).
    fn set_current(&self, attempt: Option<Attempt>) {
        if let Some(id) = tokio::task::try_id() {
            let mut current = self.lock_current();
            match attempt {
                Some(attempt) => current.insert(id, attempt),
                None => current.remove(&id),
            };
        }
    }

    /// Runs one attempt and records its outcome. Returns the job claimed for this slot
    /// in the statement that recorded a success or supersede, if any.
    #[tracing::instrument(skip_all, fields(job.id = job.id, job.attempt = attempt.attempt, rfd.number = ?job.rfd))]
    async fn run_job(
        self: Arc<Self>,
        job: Job,
        attempt: Attempt,
        superseded: Option<bool>,
    ) -> Option<(Job, Attempt, bool)> {
        self.set_current(Some(attempt.clone()));
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
                return None;
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
        // The first beat is due a third of the lease from now. (An interval's immediate
        // first tick still waits for the timer wheel's next turn, up to a millisecond: that
        // wait was most of a short job's time.)
        let beat = lease / 3;
        let mut heartbeat = tokio::time::interval_at(tokio::time::Instant::now() + beat, beat);
        let outcome = loop {
            tokio::select! {
                result = &mut work => break result,
                _ = heartbeat.tick() => match self.store.heartbeat(&attempt, lease).await {
                    Ok(true) => {}
                    Ok(false) => {
                        work.abort();
                        tracing::warn!("lease lost; abandoning the attempt");
                        return None;
                    }
                    // A blip: keep working; the lease has slack for two missed beats.
                    Err(err) => tracing::warn!(error = %err, "heartbeat failed"),
                },
            }
        };
        match outcome {
            Ok(Ok(())) => {
                let finish =
                    if superseded { Finish::Superseded { reason: SUPERSEDED } } else { Finish::Succeeded };
                // This slot is free from now on: claim its next job in the same statement,
                // unless the runner is stopping.
                let want = usize::from(!self.stopping.load(Ordering::SeqCst));
                let lease = self.settings.lease();
                match self.with_retries(|| self.store.finish_and_claim(&attempt, finish, lease, want)).await {
                    Some(result) => {
                        match (result.finished, superseded) {
                            (true, true) => tracing::info!("superseded by a newer commit"),
                            (true, false) => tracing::debug!("succeeded"),
                            (false, _) => {
                                tracing::warn!("finished after the lease was lost; result discarded")
                            }
                        }
                        // At most one was asked for; more would be a bug, and their leases
                        // would expire and return them to the queue.
                        return result.claimed.into_iter().find_map(|ClaimedJob { job, superseded }| {
                            job.attempt().map(|attempt| (job, attempt, superseded))
                        });
                    }
                    None => tracing::warn!(
                        "could not record the outcome; the lease will expire and the job rerun"
                    ),
                }
            }
            Ok(Err(err)) => self.record_failure(&attempt, &err.0).await,
            Err(join) if join.is_panic() => {
                let message = panic_message(join.into_panic());
                self.record_failure(&attempt, &format!("panicked: {message}")).await;
            }
            Err(_cancelled) => {}
        }
        None
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
