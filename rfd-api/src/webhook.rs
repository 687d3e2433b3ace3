//! GitHub webhook intake: verify, plan, record. No network call, nothing slow.

use dropshot::{Body, ClientErrorStatusCode, HttpError, RequestContext, StreamingBody};
use futures::StreamExt;
use rfd_github::webhook::{PushEvent, PushPlan, SignatureError, plan_push, verify_signature};
use rfd_model::queue::DeliveryRecord;
use rfd_model::{DeliveryOutcome, JobKind, NewJob};
use secrecy::ExposeSecret;
use tracing::Instrument;
use uuid::Uuid;

use crate::api::{WEBHOOK_BODY_MAX_BYTES, WebhookOutcome};
use crate::error::store_error;
use crate::server::ApiContext;

fn bad_request(message: impl Into<String>) -> HttpError {
    HttpError::for_client_error(Some("BadRequest".into()), ClientErrorStatusCode::BAD_REQUEST, message.into())
}

fn header<'a>(rqctx: &'a RequestContext<ApiContext>, name: &str) -> Option<&'a str> {
    rqctx.request.headers().get(name).and_then(|value| value.to_str().ok())
}

fn respond(status: http::StatusCode, outcome: &WebhookOutcome) -> Result<http::Response<Body>, HttpError> {
    let body = serde_json::to_vec(outcome).map_err(|err| HttpError::for_internal_error(err.to_string()))?;
    http::Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(Body::from(body))
        .map_err(|err| HttpError::for_internal_error(err.to_string()))
}

fn too_large() -> HttpError {
    HttpError::for_client_error(
        Some("PayloadTooLarge".into()),
        ClientErrorStatusCode::PAYLOAD_TOO_LARGE,
        format!("webhook bodies are limited to {WEBHOOK_BODY_MAX_BYTES} bytes"),
    )
}

/// Reads the body, refusing (413) anything over GitHub's cap without buffering it.
async fn read_body(rqctx: &RequestContext<ApiContext>, body: StreamingBody) -> Result<Vec<u8>, HttpError> {
    let declared = header(rqctx, "content-length").and_then(|len| len.parse::<usize>().ok());
    if declared.is_some_and(|len| len > WEBHOOK_BODY_MAX_BYTES) {
        return Err(too_large());
    }
    let mut bytes = Vec::with_capacity(declared.unwrap_or(0));
    let mut stream = std::pin::pin!(body.into_stream());
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        if bytes.len() + chunk.len() > WEBHOOK_BODY_MAX_BYTES {
            return Err(too_large());
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

/// Handles one delivery, counting its outcome for `/metrics`.
pub async fn receive(
    rqctx: RequestContext<ApiContext>,
    body: StreamingBody,
) -> Result<http::Response<Body>, HttpError> {
    let result = verify_and_dispatch(&rqctx, body).await;
    let ctx = rqctx.context();
    match result {
        Ok((status, outcome)) => {
            ctx.metrics.webhook(&outcome.outcome);
            respond(status, &outcome)
        }
        Err(err) => {
            ctx.metrics.webhook(crate::metrics::refusal(err.status_code.as_status()));
            Err(err)
        }
    }
}

/// What a delivery is answered: a status and an outcome, or an error.
type Answer = Result<(http::StatusCode, WebhookOutcome), HttpError>;

async fn verify_and_dispatch(rqctx: &RequestContext<ApiContext>, body: StreamingBody) -> Answer {
    let ctx = rqctx.context();
    let body = read_body(rqctx, body).await?;
    let secrets: Vec<&[u8]> =
        ctx.config.webhook.secrets.iter().map(|s| s.expose_secret().as_bytes()).collect();
    match verify_signature(&secrets, &body, header(rqctx, "x-hub-signature-256")) {
        Ok(()) => {}
        Err(SignatureError::NoSecretsConfigured) => {
            tracing::error!("a webhook arrived but [webhook] secrets is empty; refusing it");
            return Err(HttpError::for_client_error(
                Some("Unauthorized".into()),
                ClientErrorStatusCode::UNAUTHORIZED,
                "webhooks are not configured on this server".into(),
            ));
        }
        Err(err) => {
            tracing::warn!(reason = %err, "webhook signature rejected");
            return Err(HttpError::for_client_error(
                Some("Unauthorized".into()),
                ClientErrorStatusCode::UNAUTHORIZED,
                format!("signature rejected: {err}"),
            ));
        }
    }
    let event =
        header(rqctx, "x-github-event").ok_or_else(|| bad_request("missing X-GitHub-Event header"))?;
    let delivery =
        header(rqctx, "x-github-delivery").ok_or_else(|| bad_request("missing X-GitHub-Delivery header"))?;
    let delivery: Uuid =
        delivery.parse().map_err(|_| bad_request("X-GitHub-Delivery is not a UUID (GitHub sends a UUID)"))?;
    let span = tracing::info_span!("webhook", github.delivery = %delivery, github.event = event);
    dispatch(ctx, event, delivery, &body).instrument(span).await
}

/// Answers a verified delivery.
async fn dispatch(ctx: &ApiContext, event: &str, delivery: Uuid, body: &[u8]) -> Answer {
    match event {
        "ping" => Ok((
            http::StatusCode::OK,
            WebhookOutcome { outcome: "pong".into(), jobs_queued: 0, reason: None },
        )),
        "push" => {
            let push: PushEvent = serde_json::from_slice(body)
                .map_err(|err| bad_request(format!("malformed push payload: {err}")))?;
            let schedule = match plan_push(&push, &ctx.config.source.rfd_dir) {
                PushPlan::Ignore(reason) => {
                    tracing::debug!(%reason, "push ignored");
                    return Ok((
                        http::StatusCode::ACCEPTED,
                        WebhookOutcome {
                            outcome: "ignored".into(),
                            jobs_queued: 0,
                            reason: Some(reason.to_string()),
                        },
                    ));
                }
                PushPlan::Schedule(schedule) => schedule,
            };
            let mut jobs: Vec<NewJob> = schedule
                .updates
                .iter()
                .map(|update| NewJob {
                    kind: JobKind::RfdUpdate,
                    owner: schedule.owner.clone(),
                    repository: schedule.repository.clone(),
                    branch: update.branch.clone(),
                    sha: update.sha.clone(),
                    rfd: Some(update.rfd),
                    webhook_delivery_id: Some(delivery),
                    committed_at: update.committed_at,
                })
                .collect();
            if let Some(reconcile) = &schedule.reconcile {
                jobs.push(NewJob {
                    kind: JobKind::BranchReconcile,
                    owner: schedule.owner.clone(),
                    repository: schedule.repository.clone(),
                    branch: reconcile.branch.clone(),
                    sha: reconcile.sha.clone(),
                    rfd: None,
                    webhook_delivery_id: Some(delivery),
                    committed_at: reconcile.committed_at,
                });
            }
            let record = DeliveryRecord { id: delivery, event: event.to_string(), jobs };
            let outcome = match ctx.intake.record(record).await.map_err(store_error)? {
                DeliveryOutcome::Recorded { jobs_created } => {
                    tracing::info!(jobs = jobs_created, "push recorded");
                    WebhookOutcome { outcome: "queued".into(), jobs_queued: jobs_created, reason: None }
                }
                DeliveryOutcome::Duplicate => {
                    tracing::info!("redelivery of a recorded delivery; nothing queued");
                    WebhookOutcome { outcome: "duplicate".into(), jobs_queued: 0, reason: None }
                }
            };
            Ok((http::StatusCode::ACCEPTED, outcome))
        }
        other => Ok((
            http::StatusCode::ACCEPTED,
            WebhookOutcome {
                outcome: "ignored".into(),
                jobs_queued: 0,
                reason: Some(format!("event {other:?} is not handled")),
            },
        )),
    }
}
