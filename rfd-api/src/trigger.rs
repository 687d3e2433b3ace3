//! `POST /trigger/{trigger_id}`: any git server's post-receive hook tells the platform
//! which refs moved, and the platform queues the work like a GitHub push.
//!
//! - Each updated branch that can hold RFDs (the default branch, `NNNN` branches) becomes
//!   a `branch_reconcile` job at its new head: the processor reads the branch and queues
//!   one update per RFD commit it has not stored, oldest first (the hook cannot list the
//!   changed files, the repository can). The lines of one hook run are one delivery,
//!   recorded through the same intake as webhooks (group commit, one transaction), under
//!   an id derived from the lines, so running the hook again queues nothing twice.
//! - The trigger id is 256 random bits, shown once by `rfd-api trigger rotate` and stored
//!   only as its SHA-256. Checking it is a hash and a constant-time compare; rotating
//!   replaces the stored hash, so the old id stops working at once.
//! - A wrong id, an id while none is set, and a disabled trigger all answer the same
//!   404 as an unknown path. An address that sends `max_failures` wrong ids in a row is
//!   locked out (every request from it is answered that 404 without being checked) for
//!   `backoff_base_ms`, doubling with every further failure up to `backoff_cap_secs`.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use dropshot::{ClientErrorStatusCode, HttpError, HttpResponseAccepted, RequestContext, TypedBody};
use rfd_model::queue::DeliveryRecord;
use rfd_model::source::rfd_number_of_branch;
use rfd_model::{DeliveryOutcome, JobKind, NewJob};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tracing::Instrument;

use crate::api::WebhookOutcome;
use crate::error::store_error;
use crate::server::ApiContext;

/// Random bytes in a trigger id (256 bits).
const TRIGGER_ID_BYTES: usize = 32;

/// Addresses remembered by the backoff at most; beyond it, entries no longer locked out
/// are forgotten first.
const MAX_TRACKED_ADDRESSES: usize = 10_000;

/// The most ref lines one request may carry.
pub const MAX_LINES: usize = 1000;

/// `[trigger]` in the config file.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TriggerSection {
    /// Serve `POST /trigger/{id}`. Off by default: the endpoint then answers 404.
    pub enabled: bool,
    /// Wrong ids in a row from one address before it is locked out.
    pub max_failures: u32,
    /// The first lock-out, doubled per further wrong id.
    pub backoff_base_ms: u64,
    /// The longest lock-out.
    pub backoff_cap_secs: u64,
}

impl Default for TriggerSection {
    fn default() -> Self {
        Self { enabled: false, max_failures: 5, backoff_base_ms: 1000, backoff_cap_secs: 900 }
    }
}

/// One moved ref, as a post-receive hook reads it from standard input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TriggerRef {
    /// The full ref name (`refs/heads/main`).
    #[serde(rename = "ref")]
    pub ref_name: String,
    /// The old object id (all zeros when the ref was created).
    pub before: String,
    /// The new object id (all zeros when the ref was deleted).
    pub after: String,
}

/// The body of `POST /trigger/{trigger_id}`: one moved ref or a list of them.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum TriggerRequest {
    /// One ref.
    One(TriggerRef),
    /// Every ref one push moved.
    Many(Vec<TriggerRef>),
}

/// The trigger id in the path.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct TriggerPath {
    /// The id printed by `rfd-api trigger rotate`.
    pub trigger_id: String,
}

/// A new trigger id: the value to show once and the digest to store.
pub struct NewTriggerId {
    /// 64 hex characters. Never logged, never stored.
    pub value: String,
    /// Its SHA-256.
    pub hash: [u8; 32],
}

impl std::fmt::Debug for NewTriggerId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewTriggerId").field("value", &"[redacted]").finish_non_exhaustive()
    }
}

/// Generates a trigger id (the thread's CSPRNG, seeded by the operating system).
pub fn generate() -> NewTriggerId {
    let mut bytes = [0u8; TRIGGER_ID_BYTES];
    rand::fill(&mut bytes);
    let value = hex::encode(bytes);
    let hash = crate::auth::secret::digest(&value);
    NewTriggerId { value, hash }
}

/// `rfd-api trigger rotate`: stores a new id's hash (the old id stops working with this
/// commit) and returns the id, for the caller to print once.
pub async fn rotate(store: &rfd_model::Store) -> Result<NewTriggerId, rfd_model::StoreError> {
    let id = generate();
    store.set_trigger_hash(&id.hash).await?;
    Ok(id)
}

#[derive(Debug, Clone, Copy, Default)]
struct Failures {
    count: u32,
    locked_until: Option<Instant>,
}

/// Wrong ids per address, and the lock-outs they earned.
pub struct Backoff {
    max_failures: u32,
    base: Duration,
    cap: Duration,
    addresses: Mutex<HashMap<IpAddr, Failures>>,
}

impl Backoff {
    /// A backoff with the configured limits.
    pub fn new(settings: &TriggerSection) -> Self {
        Self {
            max_failures: settings.max_failures.max(1),
            base: Duration::from_millis(settings.backoff_base_ms.max(1)),
            cap: Duration::from_secs(settings.backoff_cap_secs.max(1)),
            addresses: Mutex::new(HashMap::new()),
        }
    }

    fn table(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, Failures>> {
        // The table holds no invariant a panic could break half-way.
        self.addresses.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Whether `address` is locked out at `now`.
    pub fn locked(&self, address: IpAddr, now: Instant) -> bool {
        self.table().get(&address).and_then(|f| f.locked_until).is_some_and(|until| until > now)
    }

    /// Records a wrong id from `address`; returns the lock-out it earned, if any.
    pub fn failure(&self, address: IpAddr, now: Instant) -> Option<Duration> {
        let mut table = self.table();
        if table.len() >= MAX_TRACKED_ADDRESSES && !table.contains_key(&address) {
            table.retain(|_, f| f.locked_until.is_some_and(|until| until > now));
            if table.len() >= MAX_TRACKED_ADDRESSES {
                // Flooded from very many addresses: forget the oldest half of the memory
                // rather than grow without bound (those addresses start counting again).
                tracing::warn!(addresses = table.len(), "trigger backoff table full; forgetting addresses");
                let mut ends: Vec<Instant> = table.values().filter_map(|f| f.locked_until).collect();
                ends.sort();
                let median = ends.get(ends.len() / 2).copied();
                table.retain(|_, f| f.locked_until > median);
            }
        }
        let entry = table.entry(address).or_default();
        entry.count = entry.count.saturating_add(1);
        if entry.count < self.max_failures {
            return None;
        }
        let doublings = (entry.count - self.max_failures).min(20);
        let lock = self.base.saturating_mul(1u32 << doublings).min(self.cap);
        entry.locked_until = Some(now + lock);
        Some(lock)
    }

    /// A right id from `address`: its count starts again.
    pub fn success(&self, address: IpAddr) {
        self.table().remove(&address);
    }
}

/// The answer to every refused trigger, identical to an unknown path's.
fn not_found() -> HttpError {
    HttpError::for_not_found(None, "no such trigger".into())
}

fn bad_request(message: String) -> HttpError {
    HttpError::for_client_error(Some("BadRequest".into()), ClientErrorStatusCode::BAD_REQUEST, message)
}

fn is_object_id(value: &str) -> bool {
    matches!(value.len(), 40 | 64) && value.bytes().all(|b| b.is_ascii_hexdigit())
}

fn is_zero(value: &str) -> bool {
    value.bytes().all(|b| b == b'0')
}

/// The delivery id of a hook run: the same lines give the same id, so a repeated run is
/// a duplicate delivery.
fn delivery_id(lines: &[TriggerRef]) -> uuid::Uuid {
    let mut hasher = Sha256::new();
    hasher.update(b"rfd-trigger\n");
    for line in lines {
        hasher.update(format!("{} {} {}\n", line.ref_name, line.before, line.after).as_bytes());
    }
    let digest = hasher.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_random_bytes(bytes).into_uuid()
}

/// The jobs of a hook run's lines, and why lines queue nothing.
fn plan(
    lines: &[TriggerRef],
    location: &rfd_model::source::SourceLocation,
    delivery: uuid::Uuid,
) -> Result<(Vec<NewJob>, Vec<String>), HttpError> {
    let mut jobs = Vec::new();
    let mut ignored = Vec::new();
    for line in lines {
        if !line.ref_name.starts_with("refs/") {
            return Err(bad_request(format!(
                "`ref` must be a full ref name (refs/heads/…), got {:?}",
                line.ref_name
            )));
        }
        for (key, value) in [("before", &line.before), ("after", &line.after)] {
            if !is_object_id(value) {
                return Err(bad_request(format!("`{key}` of {} must be an object id (hex)", line.ref_name)));
            }
        }
        let Some(branch) = line.ref_name.strip_prefix("refs/heads/") else {
            ignored.push(format!("{}: not a branch", line.ref_name));
            continue;
        };
        if is_zero(&line.after) {
            ignored.push(format!("{}: deleted", line.ref_name));
            continue;
        }
        if branch != location.default_branch && rfd_number_of_branch(branch).is_none() {
            ignored.push(format!("{}: neither the default branch nor an RFD branch", line.ref_name));
            continue;
        }
        jobs.push(NewJob {
            kind: JobKind::BranchReconcile,
            owner: location.owner.clone(),
            repository: location.repository.clone(),
            branch: branch.to_string(),
            sha: line.after.to_ascii_lowercase(),
            rfd: None,
            webhook_delivery_id: Some(delivery),
            committed_at: chrono::Utc::now(),
        });
    }
    Ok((jobs, ignored))
}

/// Whether `presented` is the current trigger id: its hash against the stored hash, in
/// constant time. `Ok(false)` when no id was ever set.
async fn check(ctx: &ApiContext, presented: &str) -> Result<bool, HttpError> {
    let Some((stored, _)) = ctx.store.trigger_hash().await.map_err(store_error)? else {
        return Ok(false);
    };
    let hash = crate::auth::secret::digest(presented);
    Ok(crate::auth::secret::digests_equal(&hash, &stored))
}

/// Handles one hook run.
pub async fn receive(
    rqctx: RequestContext<ApiContext>,
    trigger_id: String,
    body: TypedBody<TriggerRequest>,
) -> Result<HttpResponseAccepted<WebhookOutcome>, HttpError> {
    let ctx = rqctx.context();
    if !ctx.config.trigger.enabled {
        return Err(not_found());
    }
    let address = rqctx.request.remote_addr().ip();
    if ctx.trigger_backoff.locked(address, Instant::now()) {
        return Err(not_found());
    }
    if !check(ctx, &trigger_id).await? {
        if let Some(lock) = ctx.trigger_backoff.failure(address, Instant::now()) {
            tracing::warn!(%address, lock_secs = lock.as_secs_f64(), "wrong trigger ids; address locked out");
        } else {
            tracing::info!(%address, "wrong trigger id");
        }
        return Err(not_found());
    }
    ctx.trigger_backoff.success(address);
    let lines = match body.into_inner() {
        TriggerRequest::One(line) => vec![line],
        TriggerRequest::Many(lines) => lines,
    };
    if lines.len() > MAX_LINES {
        return Err(bad_request(format!("at most {MAX_LINES} refs per request")));
    }
    let location = ctx.config.source.location().ok_or_else(|| {
        HttpError::for_internal_error("the trigger is enabled without a [source] kind".into())
    })?;
    let delivery = delivery_id(&lines);
    let span = tracing::info_span!("trigger", delivery = %delivery, refs = lines.len());
    async move {
        let (jobs, ignored) = plan(&lines, &location, delivery)?;
        if jobs.is_empty() {
            tracing::debug!(?ignored, "trigger ignored");
            return Ok(HttpResponseAccepted(WebhookOutcome {
                outcome: "ignored".into(),
                jobs_queued: 0,
                reason: Some(ignored.join("; ")),
            }));
        }
        let record = DeliveryRecord { id: delivery, event: "trigger".into(), jobs };
        let outcome = match ctx.intake.record(record).await.map_err(store_error)? {
            DeliveryOutcome::Recorded { jobs_created } => {
                tracing::info!(jobs = jobs_created, "trigger recorded");
                WebhookOutcome { outcome: "queued".into(), jobs_queued: jobs_created, reason: None }
            }
            DeliveryOutcome::Duplicate => {
                tracing::info!("repeated trigger; nothing queued");
                WebhookOutcome { outcome: "duplicate".into(), jobs_queued: 0, reason: None }
            }
        };
        Ok(HttpResponseAccepted(outcome))
    }
    .instrument(span)
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(max_failures: u32) -> TriggerSection {
        TriggerSection { enabled: true, max_failures, backoff_base_ms: 1000, backoff_cap_secs: 8 }
    }

    #[test]
    fn lockouts_start_after_max_failures_and_double_up_to_the_cap() {
        let backoff = Backoff::new(&settings(3));
        let (a, b): (IpAddr, IpAddr) = ([10, 0, 0, 1].into(), [10, 0, 0, 2].into());
        let t0 = Instant::now();
        assert_eq!(backoff.failure(a, t0), None);
        assert_eq!(backoff.failure(a, t0), None);
        assert!(!backoff.locked(a, t0));
        assert_eq!(backoff.failure(a, t0), Some(Duration::from_secs(1)));
        assert!(backoff.locked(a, t0));
        assert!(!backoff.locked(b, t0), "other addresses are not affected");
        assert!(!backoff.locked(a, t0 + Duration::from_secs(2)), "the lock-out ends");
        assert_eq!(backoff.failure(a, t0), Some(Duration::from_secs(2)));
        assert_eq!(backoff.failure(a, t0), Some(Duration::from_secs(4)));
        assert_eq!(backoff.failure(a, t0), Some(Duration::from_secs(8)));
        assert_eq!(backoff.failure(a, t0), Some(Duration::from_secs(8)), "capped");
        backoff.success(a);
        assert!(!backoff.locked(a, t0));
        assert_eq!(backoff.failure(a, t0), None, "a right id starts the count again");
    }

    #[test]
    fn the_table_stays_bounded() {
        let backoff = Backoff::new(&settings(1));
        let t0 = Instant::now();
        for i in 0..(MAX_TRACKED_ADDRESSES as u32 + 10) {
            let _ = backoff.failure(IpAddr::from(i.to_be_bytes()), t0 + Duration::from_millis(u64::from(i)));
        }
        assert!(backoff.table().len() <= MAX_TRACKED_ADDRESSES);
    }

    #[test]
    fn ids_are_256_random_bits_and_stored_as_their_hash() {
        let (a, b) = (generate(), generate());
        assert_eq!(a.value.len(), 64);
        assert_ne!(a.value, b.value);
        assert_eq!(a.hash, crate::auth::secret::digest(&a.value));
        assert!(!format!("{a:?}").contains(&a.value));
    }

    #[test]
    fn lines_become_reconcile_jobs_of_rfd_branches() {
        let location = rfd_model::source::SourceLocation {
            owner: "git".into(),
            repository: "rfd".into(),
            default_branch: "main".into(),
            rfd_dir: "rfd".into(),
        };
        let sha = "a".repeat(40);
        let zero = "0".repeat(40);
        let line = |r: &str, before: &str, after: &str| TriggerRef {
            ref_name: r.into(),
            before: before.into(),
            after: after.into(),
        };
        let lines = [
            line("refs/heads/main", &zero, &sha),
            line("refs/heads/0042", &sha, &sha),
            line("refs/heads/feature", &zero, &sha),
            line("refs/tags/v1", &zero, &sha),
            line("refs/heads/0007", &sha, &zero),
        ];
        let delivery = delivery_id(&lines);
        assert_eq!(delivery, delivery_id(&lines), "the same lines, the same delivery");
        let (jobs, ignored) = plan(&lines, &location, delivery).unwrap_or_else(|e| panic!("{e:?}"));
        let branches: Vec<&str> = jobs.iter().map(|j| j.branch.as_str()).collect();
        assert_eq!(branches, ["main", "0042"]);
        assert!(jobs.iter().all(|j| j.kind == JobKind::BranchReconcile && j.rfd.is_none()));
        assert_eq!(ignored.len(), 3, "{ignored:?}");
        assert!(plan(&[line("main", &zero, &sha)], &location, delivery).is_err());
        assert!(plan(&[line("refs/heads/main", &zero, "HEAD")], &location, delivery).is_err());
    }
}
