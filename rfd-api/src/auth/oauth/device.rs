//! The device flow (RFC 8628) as `rfd-cli` uses it, proxied to the provider.
//!
//! `POST …/device` asks the provider for a device code, keeps it, and hands the client a
//! device code of our own (stored as a digest) with the provider's user code and
//! verification URI. `POST …/device/exchange` polls the provider once per client poll
//! and passes `authorization_pending`, `slow_down` (with its `interval`),
//! `access_denied` and `expired_token` on as RFC 8628 §3.5 errors, whatever shape the
//! provider used (GitHub answers them as HTTP 200). On success the attempt is claimed
//! atomically (so one device code yields one token) and the user logged in; the
//! provider's token is dropped.

use chrono::Utc;
use dropshot::{Body, HttpError, RequestContext};
use rfd_model::login::{AttemptState, GRANT_DEVICE_CODE, NewDeviceAttempt};
use serde_json::{Map, Value, json};

use super::code::{complete, http};
use super::provider::{DevicePoll, Provider, ProviderError};
use super::{
    DeviceAuthorizationRequest, DeviceTokenExchangeRequest, OAuthError, OAuthProviderDeviceInfo,
    OAuthProviderName, configured, json_response, login_base,
};
use crate::auth::secret;
use crate::error::not_found;
use crate::permissions::Scope;
use crate::server::ApiContext;

/// Device codes live this long when the provider does not say.
const DEFAULT_EXPIRES_IN: u64 = 600;
/// Errors after which the attempt can never complete.
const FINAL_ERRORS: [&str; 3] = ["access_denied", "expired_token", "invalid_grant"];

/// `GET /login/oauth/{provider}/device`
pub fn info(ctx: &ApiContext, provider: OAuthProviderName) -> Result<OAuthProviderDeviceInfo, HttpError> {
    let config = configured(ctx, provider)?;
    let client_id = config.device_client.ok_or_else(|| not_found("device login for this provider"))?;
    let base = login_base(ctx, provider);
    Ok(OAuthProviderDeviceInfo {
        client_id,
        auth_url_endpoint: format!("{base}/device"),
        token_endpoint: format!("{base}/device/exchange"),
    })
}

/// `POST /login/oauth/{provider}/device`
pub async fn authorize(
    rqctx: &RequestContext<ApiContext>,
    provider: OAuthProviderName,
    request: DeviceAuthorizationRequest,
) -> Result<http::Response<Body>, HttpError> {
    Ok(match start(rqctx.context(), provider, request).await {
        Ok(response) => response,
        Err(err) => err.into_response(),
    })
}

async fn start(
    ctx: &ApiContext,
    provider: OAuthProviderName,
    request: DeviceAuthorizationRequest,
) -> Result<http::Response<Body>, OAuthError> {
    let config =
        configured(ctx, provider).map_err(|_| OAuthError::invalid_request("provider not configured"))?;
    if !ctx.store.client_is_live(rfd_model::clients::ClientKind::OAuth, request.client_id).await? {
        return Err(OAuthError::invalid_client());
    }
    let scope = request.scope.unwrap_or_default().trim().to_string();
    if let Err(err) = Scope::parse(&scope) {
        return Err(OAuthError::new(400, "invalid_scope", err.to_string()));
    }
    let client = Provider::new(provider, config, http());
    let remote = client.device_authorization().await.map_err(|err| {
        tracing::warn!(error = %err, provider = %provider, "device authorization at the provider failed");
        match err {
            ProviderError::Unreachable(_) => OAuthError::unavailable("the provider is unavailable"),
            _ => OAuthError::server_error(),
        }
    })?;
    use secrecy::ExposeSecret;
    let expires_in = if remote.expires_in == 0 { DEFAULT_EXPIRES_IN } else { remote.expires_in };
    let device_code = secret::generate();
    let attempt = ctx
        .store
        .create_device_attempt(&NewDeviceAttempt {
            client_id: request.client_id,
            scope,
            provider: provider.as_str().into(),
            provider_device_code: remote.device_code.expose_secret().to_string(),
            device_code_hash: device_code.hash,
            expires_at: Utc::now() + chrono::Duration::seconds(i64::try_from(expires_in).unwrap_or(600)),
        })
        .await?;
    tracing::info!(login_attempt.id = %attempt.id, provider = %provider, "device login started");
    let mut body = json!({
        "device_code": device_code.value,
        "user_code": remote.user_code,
        "verification_uri": remote.verification_uri,
        "expires_in": expires_in,
        "interval": remote.interval,
    });
    if let Some(complete) = remote.verification_uri_complete {
        body["verification_uri_complete"] = Value::String(complete);
    }
    Ok(json_response(200, &body))
}

/// `POST /login/oauth/{provider}/device/exchange`
pub async fn exchange(
    rqctx: &RequestContext<ApiContext>,
    provider: OAuthProviderName,
    request: DeviceTokenExchangeRequest,
) -> Result<http::Response<Body>, HttpError> {
    Ok(match poll(rqctx.context(), provider, request).await {
        Ok(response) => response,
        Err(err) => err.into_response(),
    })
}

/// The provider's error body, reduced to what RFC 8628 §3.5 clients read.
fn passed_on(error: &str, body: &Value) -> OAuthErrorBody {
    let mut out = Map::new();
    out.insert("error".into(), Value::String(error.to_string()));
    for key in ["error_description", "error_uri", "interval"] {
        if let Some(value) = body.get(key) {
            out.insert(key.into(), value.clone());
        }
    }
    OAuthErrorBody(Value::Object(out))
}

struct OAuthErrorBody(Value);

async fn poll(
    ctx: &ApiContext,
    provider: OAuthProviderName,
    request: DeviceTokenExchangeRequest,
) -> Result<http::Response<Body>, OAuthError> {
    let config =
        configured(ctx, provider).map_err(|_| OAuthError::invalid_request("provider not configured"))?;
    if request.grant_type != GRANT_DEVICE_CODE {
        return Err(OAuthError::unsupported_grant_type(GRANT_DEVICE_CODE));
    }
    let hash = secret::digest(&request.device_code);
    let attempt = ctx.store.login_attempt_by_device_code(provider.as_str(), &hash).await?;
    let Some(attempt) = attempt.filter(|a| a.client_id == request.client_id) else {
        return Err(OAuthError::invalid_grant());
    };
    if attempt.attempt_state != AttemptState::New.as_str() {
        // A finished attempt keeps answering with why it ended.
        let error = attempt.error.as_deref().filter(|e| FINAL_ERRORS.contains(e)).unwrap_or("invalid_grant");
        return Err(OAuthError::new(400, error, "this device code can no longer be used"));
    }
    if attempt.is_expired(Utc::now()) {
        ctx.store.fail_login_attempt(attempt.id, "expired_token", None).await?;
        return Err(OAuthError::new(400, "expired_token", "the device code has expired; start again"));
    }
    let client = Provider::new(provider, config, http());
    let polled = client.poll_device(attempt.provider_device_code.as_deref().unwrap_or_default()).await;
    match polled {
        Ok(DevicePoll::Token(remote)) => {
            let Some(claimed) = ctx.store.claim_login_attempt(attempt.id, AttemptState::New).await? else {
                // A concurrent poll finished this attempt.
                return Err(OAuthError::invalid_grant());
            };
            let response = complete(ctx, &client, &claimed, remote, false).await?;
            Ok(json_response(200, &response))
        }
        Ok(DevicePoll::Error { error, body }) => {
            let stored = match error.as_str() {
                "authorization_pending" | "slow_down" => None,
                "access_denied" | "expired_token" => Some(error.clone()),
                // GitHub's names for codes it no longer knows.
                "incorrect_device_code" | "device_flow_disabled" | "invalid_grant" => {
                    Some("invalid_grant".into())
                }
                other => {
                    tracing::warn!(provider = %provider, provider.error = %other, "device token poll refused");
                    Some("invalid_grant".into())
                }
            };
            let shown = stored.clone().unwrap_or(error);
            if let Some(stored) = &stored {
                ctx.store.fail_login_attempt(attempt.id, stored, Some(&shown)).await?;
            }
            Ok(json_response(400, &passed_on(&shown, &body).0))
        }
        Err(err) => {
            tracing::warn!(provider = %provider, error = %err, "device token poll failed");
            Err(match err {
                ProviderError::Unreachable(_) => {
                    OAuthError::unavailable("the provider is unavailable; poll again")
                }
                _ => OAuthError::server_error(),
            })
        }
    }
}
