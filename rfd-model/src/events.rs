//! Outbound events: when an RFD changes, every enabled subscriber hears of it.
//!
//! - [`emit`] records the event and enqueues one [`JobKind::EventDelivery`] job per
//!   (event, subscriber) on the caller's connection, inside the caller's transaction if
//!   there is one (a savepoint otherwise), so the change and its deliveries commit together.
//!   An event with a dedupe key is recorded once however often it is emitted: a job that
//!   is retried after a crash emits again and nothing is sent twice.
//! - Subscribers come from the config file (`[[events.subscribers]]`) and are copied into
//!   the database at every start ([`Store::sync_event_subscribers`]), so emitting needs no
//!   configuration, only a connection. Secrets are never copied: the processor that
//!   delivers reads them from its own config file.
//! - Delivery is at least once, through the job queue: a subscriber that is down makes the
//!   job retry with the queue's capped, jittered backoff until the dead letter. Every
//!   attempt of one delivery carries the same delivery id, so receivers deduplicate.
//! - HTTP deliveries are signed: `X-Rfd-Signature-256: sha256=<hex>` is HMAC-SHA256 of
//!   `<X-Rfd-Timestamp>.<raw body>` with the subscriber's secret ([`signature`]); a
//!   receiver recomputes it ([`verify_signature`]) and refuses old timestamps.
//! - NATS deliveries are JetStream publishes to the subscriber's subject, with the delivery
//!   id as `Nats-Msg-Id` (the stream drops a redelivery inside its duplicate window) and the
//!   event type as `X-Rfd-Event`; only the stream's ack completes the delivery.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use hmac::{Hmac, KeyInit, Mac};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use uuid::Uuid;

use crate::error::StoreError;
use crate::queue::{JOB_CHANNEL, JobKind};
use crate::schema::{event, event_delivery, event_subscriber, job, rfd};
use crate::store::Store;
use crate::types::{Rfd, Visibility};

/// The header carrying the delivery id (the same on every retry of one delivery).
pub const DELIVERY_HEADER: &str = "X-Rfd-Delivery";
/// The header carrying the event type, e.g. `rfd.revision_created` (HTTP and NATS).
pub const EVENT_HEADER: &str = "X-Rfd-Event";
/// The header carrying the Unix time (seconds) at which the attempt was signed.
pub const TIMESTAMP_HEADER: &str = "X-Rfd-Timestamp";
/// The header carrying `sha256=<hex>` over `<timestamp>.<body>`.
pub const SIGNATURE_HEADER: &str = "X-Rfd-Signature-256";
/// The NATS header carrying the delivery id: JetStream's message id, which the stream
/// deduplicates on.
pub const NATS_MESSAGE_ID_HEADER: &str = "Nats-Msg-Id";

type HmacSha256 = Hmac<Sha256>;

/// `[events]` in the config file.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EventSettings {
    /// Who hears of changes.
    pub subscribers: Vec<SubscriberConfig>,
    /// Seconds one delivery attempt may take before it counts as failed (an HTTP answer, a
    /// NATS connection or a JetStream ack).
    pub timeout_secs: u64,
}

impl Default for EventSettings {
    fn default() -> Self {
        Self { subscribers: Vec::new(), timeout_secs: 10 }
    }
}

/// How a subscriber is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SubscriberKind {
    /// A signed HTTP POST to `url`.
    Webhook,
    /// A JetStream publish to `subject` on the NATS server at `url`, acked by the stream.
    Nats,
}

impl SubscriberKind {
    /// The name used in the config file and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Webhook => "webhook",
            Self::Nats => "nats",
        }
    }
}

/// `[[events.subscribers]]`: one receiver of events.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubscriberConfig {
    /// A unique name (deliveries and metrics name the subscriber by it).
    pub name: String,
    /// How it is reached.
    pub kind: SubscriberKind,
    /// Whether it gets events (default true). A disabled subscriber gets no new deliveries.
    #[serde(default = "enabled_by_default")]
    pub enabled: bool,
    /// Only events of these repositories (`"owner/name"`); all when absent.
    #[serde(default)]
    pub repositories: Option<Vec<String>>,
    /// Where to POST (webhook), or the NATS server (`nats://host:port`, `tls://host:port`).
    #[serde(default)]
    pub url: Option<String>,
    /// The HMAC key of the signature (webhook). Never logged.
    #[serde(default)]
    pub secret: Option<SecretString>,
    /// The subject to publish to (nats); a JetStream stream must capture it.
    #[serde(default)]
    pub subject: Option<String>,
    /// The NATS server's auth token (nats, optional). Never logged.
    #[serde(default)]
    pub token: Option<SecretString>,
    /// The NATS user (nats, optional; with `password`).
    #[serde(default)]
    pub user: Option<String>,
    /// The NATS user's password (nats). Never logged.
    #[serde(default)]
    pub password: Option<SecretString>,
}

fn enabled_by_default() -> bool {
    true
}

impl EventSettings {
    /// Checks what serde cannot: names unique, webhook subscribers with a URL and a secret.
    /// The message names the key, never a secret.
    pub fn validate(&self) -> Result<(), String> {
        let mut seen = std::collections::HashSet::new();
        for (i, subscriber) in self.subscribers.iter().enumerate() {
            let at = format!("events.subscribers[{i}]");
            if subscriber.name.trim().is_empty() {
                return Err(format!("`{at}.name` is empty"));
            }
            if !seen.insert(subscriber.name.as_str()) {
                return Err(format!("`{at}.name`: another subscriber is named {:?}", subscriber.name));
            }
            match subscriber.kind {
                SubscriberKind::Webhook => {
                    let Some(url) = &subscriber.url else {
                        return Err(format!("missing required key `{at}.url` (kind = \"webhook\")"));
                    };
                    if !(url.starts_with("http://") || url.starts_with("https://")) {
                        return Err(format!("`{at}.url` must be an http:// or https:// URL"));
                    }
                    if subscriber.secret.is_none() {
                        return Err(format!("missing required key `{at}.secret` (kind = \"webhook\")"));
                    }
                }
                SubscriberKind::Nats => validate_nats(subscriber, &at)?,
            }
        }
        Ok(())
    }

    /// The subscriber named `name`, if this config file has it.
    pub fn subscriber(&self, name: &str) -> Option<&SubscriberConfig> {
        self.subscribers.iter().find(|s| s.name == name)
    }
}

/// A NATS subscriber: a server URL without credentials in it (they go in `token` or
/// `user`/`password`, which are kept out of logs), a concrete subject, one way to log in.
fn validate_nats(subscriber: &SubscriberConfig, at: &str) -> Result<(), String> {
    let Some(url) = &subscriber.url else {
        return Err(format!("missing required key `{at}.url` (kind = \"nats\")"));
    };
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(format!("`{at}.url` must be a nats:// or tls:// URL"));
    };
    if !["nats", "tls"].contains(&scheme) {
        return Err(format!("`{at}.url` must be a nats:// or tls:// URL"));
    }
    if rest.split(['/', '?']).next().is_some_and(|authority| authority.contains('@')) {
        return Err(format!(
            "`{at}.url` must not hold credentials: put them in `{at}.token` or `{at}.user`/`{at}.password`"
        ));
    }
    let Some(subject) = &subscriber.subject else {
        return Err(format!("missing required key `{at}.subject` (kind = \"nats\")"));
    };
    let tokens_ok = !subject.is_empty()
        && subject.split('.').all(|token| !token.is_empty() && token != "*" && token != ">")
        && !subject.contains(|c: char| c.is_whitespace());
    if !tokens_ok {
        return Err(format!("`{at}.subject` must be a subject without wildcards, such as \"rfd.events\""));
    }
    if subscriber.token.is_some() && (subscriber.user.is_some() || subscriber.password.is_some()) {
        return Err(format!("`{at}`: set `token` or `user`/`password`, not both"));
    }
    if subscriber.user.is_some() != subscriber.password.is_some() {
        return Err(format!("`{at}.user` and `{at}.password` go together"));
    }
    if subscriber.secret.is_some() {
        return Err(format!("`{at}.secret` is for webhooks (NATS messages are not signed)"));
    }
    Ok(())
}

/// What changed, with its details: the `type` and `data` of the event body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum Change {
    /// A revision was stored for a commit not seen before.
    #[serde(rename = "rfd.revision_created")]
    RevisionCreated {
        /// The revision's id.
        revision_id: Uuid,
        /// The commit it was read at.
        commit: String,
        /// The branch of the job that stored it.
        branch: String,
        /// Commit time.
        committed_at: DateTime<Utc>,
        /// The RFD's title at that commit.
        title: String,
        /// The `state` attribute at that commit.
        state: Option<String>,
    },
    /// A revision's `state` differs from the revision before it.
    #[serde(rename = "rfd.state_changed")]
    StateChanged {
        /// The revision with the new state.
        revision_id: Uuid,
        /// Its commit.
        commit: String,
        /// The branch of the job that stored it.
        branch: String,
        /// The state before.
        from: Option<String>,
        /// The state now.
        to: Option<String>,
    },
    /// The RFD's visibility was changed through the API.
    #[serde(rename = "rfd.visibility_changed")]
    VisibilityChanged {
        /// Before.
        from: Visibility,
        /// Now.
        to: Visibility,
    },
    /// A pull request was opened for the RFD.
    #[serde(rename = "rfd.pull_request_opened")]
    PullRequestOpened {
        /// Its number.
        number: i64,
        /// Where to see it.
        url: String,
        /// Its head branch.
        branch: String,
        /// Its title.
        title: String,
    },
}

impl Change {
    /// The event type, as in the body's `type` and the `X-Rfd-Event` header.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::RevisionCreated { .. } => "rfd.revision_created",
            Self::StateChanged { .. } => "rfd.state_changed",
            Self::VisibilityChanged { .. } => "rfd.visibility_changed",
            Self::PullRequestOpened { .. } => "rfd.pull_request_opened",
        }
    }

    fn branch_and_commit(&self) -> (&str, &str) {
        match self {
            Self::RevisionCreated { branch, commit, .. } | Self::StateChanged { branch, commit, .. } => {
                (branch, commit)
            }
            Self::PullRequestOpened { branch, .. } => (branch, ""),
            Self::VisibilityChanged { .. } => ("", ""),
        }
    }
}

/// An event to emit.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Repository owner.
    pub owner: String,
    /// Repository name.
    pub repository: String,
    /// The RFD that changed.
    pub rfd_number: i32,
    /// What changed.
    pub change: Change,
    /// Identifies the change itself (e.g. `revision:<id>`): a second emit with the same
    /// key records nothing. `None`: every emit is a new event.
    pub dedupe_key: Option<String>,
}

/// The JSON body every subscriber receives.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventBody {
    /// The event id (the same for every subscriber).
    pub id: Uuid,
    /// When it was emitted.
    pub occurred_at: DateTime<Utc>,
    /// Repository owner.
    pub owner: String,
    /// Repository name.
    pub repository: String,
    /// The RFD that changed.
    pub rfd_number: i32,
    /// `type` and `data`.
    #[serde(flatten)]
    pub change: Change,
}

/// A delivery waiting to be sent: what the job of kind `event_delivery` sends.
#[derive(Debug, Clone, PartialEq, Queryable)]
pub struct PendingDelivery {
    /// The delivery id (`X-Rfd-Delivery`).
    pub id: Uuid,
    /// The event.
    pub event_id: Uuid,
    /// The subscriber's name.
    pub subscriber: String,
    /// When a previous attempt got a 2xx answer, if one did.
    pub delivered_at: Option<DateTime<Utc>>,
    /// The event type.
    pub kind: String,
    /// The exact body to send.
    pub body: String,
}

/// Records `event` and enqueues one delivery job per enabled subscriber whose repository
/// filter matches, all in one transaction on `conn` (a savepoint when `conn` is already
/// in a transaction, so the caller's change and the deliveries commit together).
///
/// Returns the new event's id, or `None` when an event with the same dedupe key was
/// recorded before (nothing is enqueued then).
pub async fn emit(conn: &mut AsyncPgConnection, event: &Event) -> Result<Option<Uuid>, StoreError> {
    let event = event.clone();
    conn.transaction::<_, StoreError, _>(async move |conn| emit_in(conn, &event).await).await
}

async fn emit_in(conn: &mut AsyncPgConnection, new: &Event) -> Result<Option<Uuid>, StoreError> {
    let id = Uuid::new_v4();
    let body = EventBody {
        id,
        occurred_at: Utc::now(),
        owner: new.owner.clone(),
        repository: new.repository.clone(),
        rfd_number: new.rfd_number,
        change: new.change.clone(),
    };
    let body = serde_json::to_string(&body)
        .map_err(|err| StoreError::Query(diesel::result::Error::SerializationError(Box::new(err))))?;
    let inserted = diesel::insert_into(event::table)
        .values((
            event::id.eq(id),
            event::kind.eq(new.change.kind()),
            event::owner.eq(&new.owner),
            event::repository.eq(&new.repository),
            event::rfd_number.eq(new.rfd_number),
            event::dedupe_key.eq(&new.dedupe_key),
            event::body.eq(&body),
        ))
        .on_conflict_do_nothing()
        .execute(conn)
        .await?;
    if inserted == 0 {
        return Ok(None);
    }

    let full_name = format!("{}/{}", new.owner, new.repository);
    // Few rows (one per configured subscriber): the repository filter is applied here.
    let enabled: Vec<(String, Option<Vec<String>>)> = event_subscriber::table
        .filter(event_subscriber::enabled.eq(true))
        .select((event_subscriber::name, event_subscriber::repositories))
        .order(event_subscriber::name)
        .load(conn)
        .await?;
    let subscribers: Vec<String> = enabled
        .into_iter()
        .filter(|(_, repositories)| {
            repositories.as_ref().is_none_or(|only| only.iter().any(|r| r.eq_ignore_ascii_case(&full_name)))
        })
        .map(|(name, _)| name)
        .collect();
    let (branch, commit) = new.change.branch_and_commit();
    for subscriber in &subscribers {
        let job_id: i32 = diesel::insert_into(job::table)
            .values((
                job::kind.eq(JobKind::EventDelivery),
                job::owner.eq(&new.owner),
                job::repository.eq(&new.repository),
                job::branch.eq(branch),
                job::sha.eq(commit),
                job::committed_at.eq(body_time(&new.change)),
            ))
            .returning(job::id)
            .get_result(conn)
            .await?;
        diesel::insert_into(event_delivery::table)
            .values((
                event_delivery::id.eq(Uuid::new_v4()),
                event_delivery::event_id.eq(id),
                event_delivery::subscriber.eq(subscriber),
                event_delivery::job_id.eq(job_id),
            ))
            .execute(conn)
            .await?;
    }
    if !subscribers.is_empty() {
        diesel::sql_query("SELECT pg_notify($1, '')")
            .bind::<diesel::sql_types::Text, _>(JOB_CHANNEL)
            .execute(conn)
            .await?;
    }
    Ok(Some(id))
}

/// The job's `committed_at`: the commit's time when the change has one, else now.
fn body_time(change: &Change) -> DateTime<Utc> {
    match change {
        Change::RevisionCreated { committed_at, .. } => *committed_at,
        _ => Utc::now(),
    }
}

/// `sha256=<hex>`: HMAC-SHA256 with `secret` over `<timestamp>.<body>`.
pub fn signature(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let mut mac = match HmacSha256::new_from_slice(secret) {
        Ok(mac) => mac,
        // HMAC takes keys of any length; this cannot happen.
        Err(_) => return String::new(),
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Whether `header` (`sha256=<hex>`) is the signature of `<timestamp>.<body>` under any of
/// `secrets`, compared in constant time. The receiver's side of [`signature`]; it should
/// also refuse timestamps far from its own clock (replays).
pub fn verify_signature(secrets: &[&[u8]], header: &str, timestamp: &str, body: &[u8]) -> bool {
    let Some(digest) = header.strip_prefix("sha256=").and_then(|hex| hex::decode(hex).ok()) else {
        return false;
    };
    let mut matched = false;
    for secret in secrets {
        if let Ok(mut mac) = HmacSha256::new_from_slice(secret) {
            mac.update(timestamp.as_bytes());
            mac.update(b".");
            mac.update(body);
            matched |= mac.verify_slice(&digest).is_ok();
        }
    }
    matched
}

impl Store {
    /// Sets the visibility of RFD `rfd_number` and, when it changes, emits
    /// `rfd.visibility_changed` for the RFD in `owner/repository`, in one transaction: the
    /// change and its event deliveries commit together, or neither does. Returns the RFD
    /// and its visibility before. Setting the visibility it has emits nothing.
    pub async fn change_visibility(
        &self,
        rfd_number: i32,
        visibility: Visibility,
        owner: &str,
        repository: &str,
    ) -> Result<(Rfd, Visibility), StoreError> {
        let mut conn = self.pool().get().await?;
        let (owner, repository) = (owner.to_string(), repository.to_string());
        conn.transaction::<_, StoreError, _>(async move |conn| {
            let live = rfd::table.filter(rfd::rfd_number.eq(rfd_number)).filter(rfd::deleted_at.is_null());
            // Locked, so two concurrent changes each see the visibility the other left.
            let before: Visibility = live
                .select(rfd::visibility)
                .for_update()
                .first(conn)
                .await
                .optional()?
                .ok_or(StoreError::NotFound { entity: "rfd" })?;
            let updated: Rfd = diesel::update(live)
                .set((rfd::visibility.eq(visibility), rfd::updated_at.eq(diesel::dsl::now)))
                .returning(Rfd::as_returning())
                .get_result(conn)
                .await?;
            if before != visibility {
                let event = Event {
                    owner,
                    repository,
                    rfd_number,
                    change: Change::VisibilityChanged { from: before, to: visibility },
                    dedupe_key: None,
                };
                emit_in(conn, &event).await?;
            }
            Ok((updated, before))
        })
        .await
    }

    /// Makes the database's subscribers those of the config file: adds and updates them
    /// by name, removes the others. Pending deliveries of a removed subscriber stay in
    /// the queue (and fail until it is configured again, or reach the dead letter).
    pub async fn sync_event_subscribers(&self, settings: &EventSettings) -> Result<(), StoreError> {
        let mut conn = self.pool().get().await?;
        let rows: Vec<(String, String, bool, Option<Vec<String>>)> = settings
            .subscribers
            .iter()
            .map(|s| (s.name.clone(), s.kind.as_str().to_string(), s.enabled, s.repositories.clone()))
            .collect();
        conn.transaction::<_, StoreError, _>(async move |conn| {
            let names: Vec<String> = rows.iter().map(|row| row.0.clone()).collect();
            diesel::delete(event_subscriber::table.filter(event_subscriber::name.ne_all(names)))
                .execute(conn)
                .await?;
            for (name, kind, enabled, repositories) in rows {
                diesel::insert_into(event_subscriber::table)
                    .values((
                        event_subscriber::name.eq(&name),
                        event_subscriber::kind.eq(&kind),
                        event_subscriber::enabled.eq(enabled),
                        event_subscriber::repositories.eq(&repositories),
                    ))
                    .on_conflict(event_subscriber::name)
                    .do_update()
                    .set((
                        event_subscriber::kind.eq(&kind),
                        event_subscriber::enabled.eq(enabled),
                        event_subscriber::repositories.eq(&repositories),
                        event_subscriber::updated_at.eq(diesel::dsl::now),
                    ))
                    .execute(conn)
                    .await?;
            }
            Ok(())
        })
        .await
    }

    /// [`emit`] on a connection of the pool, in a transaction of its own.
    pub async fn emit_event(&self, event: &Event) -> Result<Option<Uuid>, StoreError> {
        let mut conn = self.pool().get().await?;
        emit(&mut conn, event).await
    }

    /// The delivery a job of kind `event_delivery` sends.
    pub async fn event_delivery_for_job(&self, job_id: i32) -> Result<Option<PendingDelivery>, StoreError> {
        let mut conn = self.pool().get().await?;
        Ok(event_delivery::table
            .inner_join(event::table)
            .filter(event_delivery::job_id.eq(job_id))
            .select((
                event_delivery::id,
                event_delivery::event_id,
                event_delivery::subscriber,
                event_delivery::delivered_at,
                event::kind,
                event::body,
            ))
            .first(&mut conn)
            .await
            .optional()?)
    }

    /// Records the answer of one attempt: the status, and, for a 2xx, the delivery time
    /// (a retry of the job after a crash then does not send it again).
    pub async fn record_event_attempt(
        &self,
        delivery_id: Uuid,
        status: Option<u16>,
        delivered: bool,
    ) -> Result<(), StoreError> {
        let mut conn = self.pool().get().await?;
        let delivered_at = delivered.then(Utc::now);
        diesel::update(event_delivery::table.find(delivery_id))
            .set((
                event_delivery::last_status.eq(status.map(i32::from)),
                event_delivery::delivered_at.eq(delivered_at),
            ))
            .execute(&mut conn)
            .await?;
        Ok(())
    }

    /// The events of an RFD, newest first, as (type, body).
    pub async fn events_of_rfd(&self, rfd_number: i32) -> Result<Vec<(String, String)>, StoreError> {
        let mut conn = self.pool().get().await?;
        Ok(event::table
            .filter(event::rfd_number.eq(rfd_number))
            .order((event::created_at.desc(), event::id))
            .select((event::kind, event::body))
            .load(&mut conn)
            .await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_with_its_secret_and_timestamp_only() {
        let body = br#"{"id":"x"}"#;
        let header = signature(b"s3cret", 1_700_000_000, body);
        assert!(header.starts_with("sha256=") && header.len() == 7 + 64, "{header}");
        assert!(verify_signature(&[b"old", b"s3cret"], &header, "1700000000", body));
        assert!(!verify_signature(&[b"other"], &header, "1700000000", body));
        assert!(!verify_signature(&[b"s3cret"], &header, "1700000001", body));
        assert!(!verify_signature(&[b"s3cret"], &header, "1700000000", b"{}"));
        assert!(!verify_signature(&[b"s3cret"], "sha1=00", "1700000000", body));
    }

    #[test]
    fn the_body_carries_type_and_data() {
        let body = EventBody {
            id: Uuid::nil(),
            occurred_at: DateTime::<Utc>::UNIX_EPOCH,
            owner: "acme".into(),
            repository: "rfd".into(),
            rfd_number: 7,
            change: Change::VisibilityChanged { from: Visibility::Private, to: Visibility::Public },
        };
        let json = serde_json::to_value(&body).unwrap_or_default();
        assert_eq!(json["type"], "rfd.visibility_changed");
        assert_eq!(json["data"]["to"], "public");
        assert_eq!(json["rfd_number"], 7);
        let back: EventBody = serde_json::from_value(json).unwrap_or_else(|err| panic!("{err}"));
        assert_eq!(back, body);
    }

    #[test]
    fn webhook_subscribers_need_a_url_and_a_secret() {
        let settings: EventSettings = toml_like(r#"{"subscribers":[{"name":"a","kind":"webhook"}]}"#);
        assert!(settings.validate().is_err_and(|reason| reason.contains("events.subscribers[0].url")));
    }

    #[test]
    fn nats_subscribers_need_a_plain_url_and_a_concrete_subject() {
        let check = |subscriber: &str| toml_like(&format!(r#"{{"subscribers":[{subscriber}]}}"#)).validate();
        assert_eq!(
            check(
                r#"{"name":"bus","kind":"nats","url":"nats://127.0.0.1:4222","subject":"rfd.events","token":"t"}"#
            ),
            Ok(())
        );
        let failing = [
            (r#"{"name":"bus","kind":"nats","subject":"rfd.events"}"#, "events.subscribers[0].url"),
            (r#"{"name":"bus","kind":"nats","url":"http://h:4222","subject":"a"}"#, "nats://"),
            (r#"{"name":"bus","kind":"nats","url":"nats://me:pw@h:4222","subject":"a"}"#, "credentials"),
            (r#"{"name":"bus","kind":"nats","url":"nats://h:4222"}"#, "events.subscribers[0].subject"),
            (r#"{"name":"bus","kind":"nats","url":"nats://h:4222","subject":"rfd.>"}"#, "wildcards"),
            (r#"{"name":"bus","kind":"nats","url":"nats://h:4222","subject":"a","user":"me"}"#, "together"),
            (
                r#"{"name":"bus","kind":"nats","url":"nats://h:4222","subject":"a","token":"t","user":"u","password":"p"}"#,
                "not both",
            ),
        ];
        for (subscriber, reason) in failing {
            let outcome = check(subscriber);
            assert!(outcome.as_ref().is_err_and(|e| e.contains(reason)), "{subscriber}: {outcome:?}");
            assert!(outcome.is_err_and(|e| !e.contains("pw")), "no credential in the message");
        }
    }

    fn toml_like(json: &str) -> EventSettings {
        serde_json::from_str(json).unwrap_or_else(|err| panic!("{err}"))
    }
}
