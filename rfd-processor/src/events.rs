//! Outbound events in the processor: emitting them where revisions are stored and pull
//! requests opened, and delivering them (jobs of kind `event_delivery`).
//!
//! A delivery is one signed HTTP POST (see [`rfd_model::events`] for the headers and the
//! signature) or one JetStream publish. A 2xx answer, or the stream's ack, completes the
//! job; anything else fails the attempt, and the queue retries it with backoff until the
//! dead letter, so a subscriber that is down for a while gets everything once it is back.
//! Every attempt of a delivery carries the same id (`X-Rfd-Delivery`, `Nats-Msg-Id`), so a
//! receiver that got it before (its answer or ack was lost) can tell, and a JetStream
//! stream drops the copy by itself.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use rfd_model::events::{
    Change, DELIVERY_HEADER, EVENT_HEADER, Event, EventSettings, NATS_MESSAGE_ID_HEADER, PendingDelivery,
    SIGNATURE_HEADER, SubscriberConfig, SubscriberKind, TIMESTAMP_HEADER,
};
use rfd_model::source::PullRequest;
use rfd_model::{Attempt, Job, JobKind, RfdRevision, Store};
use secrecy::ExposeSecret;

use crate::metrics::ProcessorMetrics;
use crate::runner::{JobError, JobHandler};

/// The name job warnings of deliveries are recorded under.
const STEP: &str = "DeliverEvent";

/// Emits `rfd.revision_created` for a stored revision and, when its state differs from
/// the revision before it, `rfd.state_changed`. Each is keyed by the revision, so a job
/// that stores the same revision again (a retry, another branch) emits nothing new.
pub async fn revision_stored(
    store: &Store,
    job: &Job,
    number: i32,
    revision: &RfdRevision,
    previous: Option<&RfdRevision>,
) -> Result<(), JobError> {
    let created = Event {
        owner: job.owner.clone(),
        repository: job.repository.clone(),
        rfd_number: number,
        change: Change::RevisionCreated {
            revision_id: revision.id,
            commit: revision.commit_sha.clone(),
            branch: job.branch.clone(),
            committed_at: revision.committed_at,
            title: revision.title.clone(),
            state: revision.state.clone(),
        },
        dedupe_key: Some(format!("revision_created:{}", revision.id)),
    };
    emit(store, &created).await?;
    if let Some(previous) = previous
        && previous.state != revision.state
    {
        let changed = Event {
            change: Change::StateChanged {
                revision_id: revision.id,
                commit: revision.commit_sha.clone(),
                branch: job.branch.clone(),
                from: previous.state.clone(),
                to: revision.state.clone(),
            },
            dedupe_key: Some(format!("state_changed:{}", revision.id)),
            ..created
        };
        emit(store, &changed).await?;
    }
    Ok(())
}

/// Emits `rfd.pull_request_opened` once per pull request (keyed by its number).
pub async fn pull_request_opened(
    store: &Store,
    job: &Job,
    number: i32,
    pr: &PullRequest,
) -> Result<(), JobError> {
    let event = Event {
        owner: job.owner.clone(),
        repository: job.repository.clone(),
        rfd_number: number,
        change: Change::PullRequestOpened {
            number: pr.number,
            url: pr.html_url.clone(),
            branch: pr.head_branch.clone(),
            title: pr.title.clone(),
        },
        dedupe_key: Some(format!("pull_request_opened:{}/{}#{}", job.owner, job.repository, pr.number)),
    };
    emit(store, &event).await
}

async fn emit(store: &Store, event: &Event) -> Result<(), JobError> {
    match store.emit_event(event).await {
        Ok(Some(id)) => {
            tracing::info!(event.id = %id, event.kind = event.change.kind(), "event emitted");
            Ok(())
        }
        Ok(None) => Ok(()),
        Err(err) => Err(JobError(format!("emitting {}: {err}", event.change.kind()))),
    }
}

/// Sends event deliveries.
pub struct EventDeliverer {
    store: Store,
    settings: EventSettings,
    http: reqwest::Client,
    /// One JetStream context per NATS subscriber, connected at its first delivery and kept
    /// (the client reconnects by itself when the server comes back).
    nats: tokio::sync::Mutex<HashMap<String, async_nats::jetstream::Context>>,
    metrics: Option<Arc<ProcessorMetrics>>,
}

impl EventDeliverer {
    /// A deliverer for the subscribers of `settings`.
    pub fn new(store: Store, settings: EventSettings) -> Result<Self, JobError> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("rfd-processor/", env!("CARGO_PKG_VERSION")))
            // A redirect would resend the signed body somewhere the operator did not name.
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(settings.timeout_secs.clamp(1, 10)))
            .timeout(Duration::from_secs(settings.timeout_secs.max(1)))
            .build()
            .map_err(|err| JobError(format!("building the HTTP client: {err}")))?;
        Ok(Self { store, settings, http, nats: tokio::sync::Mutex::default(), metrics: None })
    }

    /// Counts delivery outcomes into `metrics`.
    pub fn with_metrics(mut self, metrics: Arc<ProcessorMetrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    fn count(&self, subscriber: &str, outcome: &str) {
        if let Some(metrics) = &self.metrics {
            metrics.delivery(subscriber, outcome);
        }
    }

    /// Runs one attempt of a job of kind `event_delivery`.
    pub async fn deliver(&self, job: &Job, attempt: &Attempt) -> Result<(), JobError> {
        let Some(delivery) = self.store.event_delivery_for_job(job.id).await? else {
            return Err(JobError("no event delivery is recorded for this job".into()));
        };
        if delivery.delivered_at.is_some() {
            // An earlier attempt was answered 2xx but its job was not completed (crash).
            return Ok(());
        }
        let Some(subscriber) = self.settings.subscriber(&delivery.subscriber) else {
            return Err(JobError(format!(
                "subscriber {:?} is not in this processor's [events] configuration",
                delivery.subscriber
            )));
        };
        if !subscriber.enabled {
            self.count(&subscriber.name, "skipped");
            self.store
                .add_job_warning(attempt, STEP, "the subscriber was disabled after the event; not delivered")
                .await?;
            return Ok(());
        }
        match subscriber.kind {
            SubscriberKind::Webhook => {
                let (Some(url), Some(secret)) = (&subscriber.url, &subscriber.secret) else {
                    return Err(JobError(format!("subscriber {:?} has no url or secret", subscriber.name)));
                };
                let timestamp = chrono::Utc::now().timestamp();
                let signature = rfd_model::events::signature(
                    secret.expose_secret().as_bytes(),
                    timestamp,
                    delivery.body.as_bytes(),
                );
                let sent = self
                    .http
                    .post(url)
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .header(DELIVERY_HEADER, delivery.id.to_string())
                    .header(EVENT_HEADER, &delivery.kind)
                    .header(TIMESTAMP_HEADER, timestamp.to_string())
                    .header(SIGNATURE_HEADER, signature)
                    .body(delivery.body.clone())
                    .send()
                    .await;
                match sent {
                    Ok(response) if response.status().is_success() => {
                        let status = response.status().as_u16();
                        self.count(&subscriber.name, "delivered");
                        self.store.record_event_attempt(delivery.id, Some(status), true).await?;
                        tracing::info!(event.delivery = %delivery.id, subscriber = %subscriber.name, status, "event delivered");
                        Ok(())
                    }
                    Ok(response) => {
                        let status = response.status().as_u16();
                        self.count(&subscriber.name, "rejected");
                        self.store.record_event_attempt(delivery.id, Some(status), false).await?;
                        Err(JobError(format!("subscriber {:?} answered {status}", subscriber.name)))
                    }
                    Err(err) => {
                        self.count(&subscriber.name, "error");
                        self.store.record_event_attempt(delivery.id, None, false).await?;
                        // Without the URL: it may carry a token of the receiver's.
                        Err(JobError(format!(
                            "subscriber {:?} could not be reached: {}",
                            subscriber.name,
                            err.without_url()
                        )))
                    }
                }
            }
            SubscriberKind::Nats => self.publish(subscriber, &delivery).await,
        }
    }

    /// One JetStream publish of `delivery`, done only when the stream acks it. Errors name
    /// the subscriber, the server and the subject, never the token or password.
    async fn publish(
        &self,
        subscriber: &SubscriberConfig,
        delivery: &PendingDelivery,
    ) -> Result<(), JobError> {
        let (Some(url), Some(subject)) = (&subscriber.url, &subscriber.subject) else {
            return Err(JobError(format!("subscriber {:?} has no url or subject", subscriber.name)));
        };
        let context = match self.jetstream(subscriber, url).await {
            Ok(context) => context,
            Err(err) => {
                self.count(&subscriber.name, "error");
                self.store.record_event_attempt(delivery.id, None, false).await?;
                return Err(err);
            }
        };
        let mut headers = async_nats::HeaderMap::new();
        headers.insert(NATS_MESSAGE_ID_HEADER, delivery.id.to_string().as_str());
        headers.insert(EVENT_HEADER, delivery.kind.as_str());
        let acked = async {
            context
                .publish_with_headers(subject.clone(), headers, delivery.body.clone().into())
                .await
                .map_err(|err| err.to_string())?
                .await
                .map_err(|err| err.to_string())
        }
        .await;
        match acked {
            Ok(ack) => {
                self.count(&subscriber.name, "delivered");
                self.store.record_event_attempt(delivery.id, None, true).await?;
                tracing::info!(
                    event.delivery = %delivery.id,
                    subscriber = %subscriber.name,
                    nats.stream = %ack.stream,
                    nats.sequence = ack.sequence,
                    nats.duplicate = ack.duplicate,
                    "event delivered"
                );
                Ok(())
            }
            Err(err) => {
                self.count(&subscriber.name, "error");
                self.store.record_event_attempt(delivery.id, None, false).await?;
                Err(JobError(format!(
                    "subscriber {:?}: no JetStream ack for subject {subject:?} from {url}: {err}",
                    subscriber.name
                )))
            }
        }
    }

    /// The subscriber's JetStream context, connecting on first use. Connecting happens
    /// outside the lock, so a server that is down does not hold up other subscribers.
    async fn jetstream(
        &self,
        subscriber: &SubscriberConfig,
        url: &str,
    ) -> Result<async_nats::jetstream::Context, JobError> {
        if let Some(context) = self.nats.lock().await.get(&subscriber.name) {
            return Ok(context.clone());
        }
        let timeout = Duration::from_secs(self.settings.timeout_secs.max(1));
        let mut options = async_nats::ConnectOptions::new()
            .tls_client_config(nats_tls_config()?)
            .name(concat!("rfd-processor/", env!("CARGO_PKG_VERSION")))
            .connection_timeout(timeout)
            .request_timeout(Some(timeout));
        if let Some(token) = &subscriber.token {
            options = options.token(token.expose_secret().to_string());
        }
        if let (Some(user), Some(password)) = (&subscriber.user, &subscriber.password) {
            options = options.user_and_password(user.clone(), password.expose_secret().to_string());
        }
        // The URL holds no credentials (the config refuses them there), so it may be shown.
        let client = options.connect(url).await.map_err(|err| {
            JobError(format!(
                "subscriber {:?} could not be reached: connecting to the NATS server {url}: {err}",
                subscriber.name
            ))
        })?;
        let mut context = async_nats::jetstream::new(client);
        context.set_timeout(timeout);
        Ok(self.nats.lock().await.entry(subscriber.name.clone()).or_insert(context).clone())
    }
}

/// TLS for NATS (`tls://`, or a server that asks for it): rustls with ring, named here
/// because the build also holds rustls's other provider, and the system's trust store.
fn nats_tls_config() -> Result<async_nats::rustls::ClientConfig, JobError> {
    use async_nats::rustls;
    let mut roots = rustls::RootCertStore::empty();
    // Unreadable certificates are skipped; an empty store fails the handshake, clearly.
    let (added, _ignored) = roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
    tracing::debug!(nats.trust_anchors = added, "NATS TLS trust store loaded");
    Ok(rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|err| JobError(format!("configuring TLS for NATS: {err}")))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// Runs event deliveries itself and every other job through `inner` (the pipeline), so
/// deliveries go on whatever the pipeline's mode or configuration.
pub struct WithEvents<H> {
    inner: H,
    events: EventDeliverer,
}

impl<H> WithEvents<H> {
    /// `inner` for RFD jobs, `events` for deliveries.
    pub fn new(inner: H, events: EventDeliverer) -> Self {
        Self { inner, events }
    }
}

impl<H: JobHandler> JobHandler for WithEvents<H> {
    async fn run(&self, job: Job, attempt: Attempt) -> Result<(), JobError> {
        if job.kind == JobKind::EventDelivery {
            self.events.deliver(&job, &attempt).await
        } else {
            self.inner.run(job, attempt).await
        }
    }

    async fn superseded(&self, job: Job, attempt: Attempt) -> Result<(), JobError> {
        // Deliveries have no RFD, so they are never superseded; RFD jobs go to the pipeline.
        self.inner.superseded(job, attempt).await
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_nats_tls_config_builds_with_ring_whatever_else_rustls_was_built_with() {
        // `ClientConfig::builder()` would panic here: the build holds two rustls providers.
        let config = super::nats_tls_config().unwrap_or_else(|err| panic!("{}", err.0));
        assert!(
            config
                .crypto_provider()
                .cipher_suites
                .iter()
                .any(|suite| suite.version().version == async_nats::rustls::ProtocolVersion::TLSv1_3)
        );
    }
}
