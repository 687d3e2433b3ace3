//! The authorization-code flow with PKCE, for web clients (and a public PKCE client).
//!
//! 1. `GET …/code/authorize`: the client's redirect URI must be registered exactly and
//!    its PKCE challenge be S256. We record a login attempt (10 minutes), set a fresh
//!    random value as both the `state` we send to the provider and an HttpOnly cookie,
//!    and redirect the browser to the provider with our own PKCE challenge.
//! 2. `GET …/code/callback`: the cookie must equal `state` (so a callback not started in
//!    this browser, e.g. a forged link, is refused); the attempt moves from `new` to
//!    `remote_authenticated` once, and the browser goes back to the client with our code.
//! 3. `POST …/code/token`: the client authenticates (secret, or none for the public PKCE
//!    client), and code, client, redirect URI and verifier must all match; any mismatch
//!    burns the code. The attempt is claimed atomically, so a code is used once. Only
//!    then is the provider's code exchanged and the user found or created.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chrono::Utc;
use dropshot::{
    ClientErrorStatusCode, HttpError, HttpResponseOk, HttpResponseTemporaryRedirect, RequestContext,
};
use rfd_model::clients::ClientKind;
use rfd_model::login::{AttemptState, LoginAttempt, NewCodeAttempt};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::provider::{Provider, RemoteToken};
use super::{
    OAuthAuthzCodeExchangeBody, OAuthAuthzCodeExchangeQuery, OAuthAuthzCodeExchangeResponse,
    OAuthAuthzCodeQuery, OAuthAuthzCodeReturnQuery, OAuthError, OAuthProviderAuthorizationCodeInfo,
    OAuthProviderAuthorizationCodePkceInfo, OAuthProviderName, configured, login_base,
};
use crate::auth::login::{issue_access_token, register_login};
use crate::auth::secret;
use crate::caller::user_permissions;
use crate::error::{bad_request, store_error};
use crate::permissions::{Permission, Scope};
use crate::server::ApiContext;

/// The cookie binding a login to the browser that started it (the reference's name).
pub const LOGIN_COOKIE: &str = "__v_login";
/// How long a login may take from authorize to token exchange.
const ATTEMPT_TTL_SECS: i64 = 600;

/// The shared HTTP client for provider calls.
pub(super) fn http() -> &'static reqwest::Client {
    static CLIENT: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
    CLIENT.get_or_init(super::provider::http_client)
}

fn callback_url(ctx: &ApiContext, provider: OAuthProviderName) -> String {
    format!("{}/code/callback", login_base(ctx, provider))
}

fn cookie(ctx: &ApiContext, value: &str, max_age: i64) -> String {
    let secure = if ctx.config.api.public_url().starts_with("https://") { "; Secure" } else { "" };
    format!("{LOGIN_COOKIE}={value}; Path=/login/oauth/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}")
}

/// The value of our login cookie in the request, if any.
fn login_cookie(headers: &http::HeaderMap) -> Option<String> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == LOGIN_COOKIE)
        .map(|(_, value)| value.trim().to_string())
}

/// Whether `value` is a PKCE verifier (RFC 7636 §4.1) or an S256 challenge's shape.
fn pkce_chars(value: &str) -> bool {
    value.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// Whether `verifier` hashes to `challenge` (S256), compared in constant time.
fn pkce_matches(verifier: &str, challenge: &str) -> bool {
    if !(43..=128).contains(&verifier.len()) || !pkce_chars(verifier) {
        return false;
    }
    let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    secret::digests_equal(computed.as_bytes(), challenge.as_bytes())
}

/// `GET /login/oauth/{provider}/code/authorize`
pub async fn authorize(
    rqctx: &RequestContext<ApiContext>,
    provider: OAuthProviderName,
    query: OAuthAuthzCodeQuery,
) -> Result<HttpResponseTemporaryRedirect, HttpError> {
    let ctx = rqctx.context();
    let config = configured(ctx, provider)?;
    // Nothing is redirected until the redirect URI is known to be the client's: an
    // unchecked one would make us an open redirector (RFC 6749 §4.1.2.1).
    if !ctx.store.client_is_live(ClientKind::OAuth, query.client_id).await.map_err(store_error)? {
        return Err(bad_request("unknown client_id"));
    }
    if !ctx
        .store
        .redirect_uri_is_registered(ClientKind::OAuth, query.client_id, &query.redirect_uri)
        .await
        .map_err(store_error)?
    {
        return Err(bad_request("redirect_uri is not registered for this client"));
    }
    if query.response_type != "code" {
        return Err(bad_request("response_type must be `code`"));
    }
    if query.code_challenge_method != "S256" {
        return Err(bad_request("code_challenge_method must be `S256`"));
    }
    if query.code_challenge.len() != 43 || !pkce_chars(&query.code_challenge) {
        return Err(bad_request("code_challenge must be the 43-character base64url SHA-256 of the verifier"));
    }
    let scope = query.scope.unwrap_or_default().trim().to_string();
    Scope::parse(&scope).map_err(|err| bad_request(format!("invalid scope: {err}")))?;

    let remote_state = secret::generate();
    let client = Provider::new(provider, config, http());
    let (url, verifier) = client.authorize_url(&callback_url(ctx, provider), &remote_state.value).map_err(|err| {
        tracing::error!(error = %err, provider = %provider, "cannot build the provider's authorization URL");
        crate::error::unavailable("login with this provider is misconfigured")
    })?;
    let attempt = ctx
        .store
        .create_code_attempt(&NewCodeAttempt {
            client_id: query.client_id,
            redirect_uri: query.redirect_uri,
            state: query.state,
            pkce_challenge: query.code_challenge,
            scope,
            provider: provider.as_str().into(),
            provider_pkce_verifier: verifier,
            remote_state_hash: remote_state.hash,
            expires_at: Utc::now() + chrono::Duration::seconds(ATTEMPT_TTL_SECS),
        })
        .await
        .map_err(store_error)?;
    tracing::info!(login_attempt.id = %attempt.id, provider = %provider, "code login started");
    let mut response = dropshot::http_response_temporary_redirect(url.to_string())?;
    let set_cookie = http::HeaderValue::from_str(&cookie(ctx, &remote_state.value, ATTEMPT_TTL_SECS))
        .map_err(|_| bad_request("cannot set the login cookie"))?;
    response.headers_mut().insert(http::header::SET_COOKIE, set_cookie);
    Ok(response)
}

/// The client's redirect URI with `params` added.
fn back_to_client(redirect_uri: &str, params: &[(&str, &str)]) -> Result<String, HttpError> {
    let mut url =
        url::Url::parse(redirect_uri).map_err(|_| bad_request("the registered redirect_uri is not a URL"))?;
    {
        let mut pairs = url.query_pairs_mut();
        for (key, value) in params {
            pairs.append_pair(key, value);
        }
    }
    Ok(url.to_string())
}

fn csrf_refused() -> HttpError {
    HttpError::for_client_error(
        Some("InvalidLoginState".into()),
        ClientErrorStatusCode::BAD_REQUEST,
        "this login was not started in this browser, has expired or was already used".into(),
    )
}

fn redirect_clearing_cookie(
    ctx: &ApiContext,
    location: &str,
) -> Result<HttpResponseTemporaryRedirect, HttpError> {
    let mut response = dropshot::http_response_temporary_redirect(location.to_string())?;
    if let Ok(clear) = http::HeaderValue::from_str(&cookie(ctx, "", 0)) {
        response.headers_mut().insert(http::header::SET_COOKIE, clear);
    }
    Ok(response)
}

/// `GET /login/oauth/{provider}/code/callback`
pub async fn callback(
    rqctx: &RequestContext<ApiContext>,
    provider: OAuthProviderName,
    query: OAuthAuthzCodeReturnQuery,
) -> Result<HttpResponseTemporaryRedirect, HttpError> {
    let ctx = rqctx.context();
    configured(ctx, provider)?;
    let state = query.state.filter(|s| !s.is_empty()).ok_or_else(|| bad_request("missing state"))?;
    // CSRF: the state must be the one this browser's cookie holds. Compared as digests
    // in constant time.
    let cookie = login_cookie(rqctx.request.headers()).ok_or_else(csrf_refused)?;
    let state_hash = secret::digest(&state);
    if !secret::digests_equal(&state_hash, &secret::digest(&cookie)) {
        tracing::info!(provider = %provider, "login callback refused: state does not match the cookie");
        return Err(csrf_refused());
    }
    let attempt =
        ctx.store.login_attempt_by_remote_state(provider.as_str(), &state_hash).await.map_err(store_error)?;
    let Some(attempt) = attempt else {
        return Err(csrf_refused());
    };
    if attempt.attempt_state != AttemptState::New.as_str() || attempt.is_expired(Utc::now()) {
        return Err(csrf_refused());
    }
    let redirect_uri = attempt.redirect_uri.clone().unwrap_or_default();
    let client_state = attempt.state.clone().unwrap_or_default();
    // The client may have removed the URI since the login started.
    if !ctx
        .store
        .redirect_uri_is_registered(ClientKind::OAuth, attempt.client_id, &redirect_uri)
        .await
        .map_err(store_error)?
    {
        ctx.store.fail_login_attempt(attempt.id, "redirect_uri removed", None).await.map_err(store_error)?;
        return Err(bad_request("redirect_uri is no longer registered for this client"));
    }
    let provider_code = match (query.error, query.code) {
        (Some(error), _) => {
            // The user declined (or the provider failed): tell the client, as RFC 6749
            // §4.1.2.1 does, without the provider's details.
            let sent = if error == "access_denied" { "access_denied" } else { "server_error" };
            ctx.store.fail_login_attempt(attempt.id, sent, Some(&error)).await.map_err(store_error)?;
            tracing::info!(login_attempt.id = %attempt.id, provider.error = %error, "provider refused the login");
            let location = back_to_client(&redirect_uri, &[("error", sent), ("state", &client_state)])?;
            return redirect_clearing_cookie(ctx, &location);
        }
        (None, Some(code)) if !code.is_empty() => code,
        (None, _) => {
            ctx.store
                .fail_login_attempt(attempt.id, "server_error", Some("no code"))
                .await
                .map_err(store_error)?;
            let location =
                back_to_client(&redirect_uri, &[("error", "server_error"), ("state", &client_state)])?;
            return redirect_clearing_cookie(ctx, &location);
        }
    };
    let our_code = secret::generate();
    let updated = ctx
        .store
        .remote_authenticated(attempt.id, &provider_code, &our_code.hash)
        .await
        .map_err(store_error)?;
    if updated.is_none() {
        // A concurrent callback with the same state won, or time ran out just now.
        return Err(csrf_refused());
    }
    let location = back_to_client(&redirect_uri, &[("code", &our_code.value), ("state", &client_state)])?;
    redirect_clearing_cookie(ctx, &location)
}

/// Client credentials from the form or HTTP Basic (RFC 6749 §2.3.1), not both.
fn client_credentials(
    headers: &http::HeaderMap,
    body: &OAuthAuthzCodeExchangeBody,
) -> Result<(Uuid, Option<String>), OAuthError> {
    use secrecy::ExposeSecret;
    let basic = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Basic "));
    match basic {
        Some(encoded) => {
            if body.client_secret.is_some() {
                return Err(OAuthError::invalid_request(
                    "client credentials given both in the body and as Basic",
                ));
            }
            let decoded = STANDARD.decode(encoded.trim()).map_err(|_| OAuthError::invalid_client())?;
            let text = String::from_utf8(decoded).map_err(|_| OAuthError::invalid_client())?;
            let (id, secret) = text.split_once(':').ok_or_else(OAuthError::invalid_client)?;
            let decode = |s: &str| percent_decode(s).ok_or_else(OAuthError::invalid_client);
            let id: Uuid = decode(id)?.parse().map_err(|_| OAuthError::invalid_client())?;
            if body.client_id.is_some_and(|form_id| form_id != id) {
                return Err(OAuthError::invalid_request("client_id differs between the body and Basic"));
            }
            Ok((id, Some(decode(secret)?)))
        }
        None => {
            let id = body.client_id.ok_or_else(OAuthError::invalid_client)?;
            Ok((id, body.client_secret.as_ref().map(|s| s.0.expose_secret().to_string())))
        }
    }
}

/// `application/x-www-form-urlencoded` decoding of one Basic component.
fn percent_decode(value: &str) -> Option<String> {
    url::form_urlencoded::parse(format!("v={value}").as_bytes()).next().map(|(_, v)| v.into_owned())
}

/// Whether the client is who it says: one of its secrets, or no secret for the
/// provider's public PKCE client.
async fn authenticate_client(
    ctx: &ApiContext,
    provider: OAuthProviderName,
    client: Uuid,
    presented: Option<String>,
) -> Result<(), OAuthError> {
    let config = configured(ctx, provider).map_err(|_| OAuthError::invalid_client())?;
    match presented {
        Some(presented) => {
            // Every live secret's digest is compared, so timing says nothing about which matched.
            let matched = ctx.store.verify_client_secret(ClientKind::OAuth, client, &presented).await?;
            if matched { Ok(()) } else { Err(OAuthError::invalid_client()) }
        }
        None => {
            let public = config.public_pkce.as_ref().is_some_and(|public| public.client == client);
            if public && ctx.store.client_is_live(ClientKind::OAuth, client).await? {
                Ok(())
            } else {
                Err(OAuthError::invalid_client())
            }
        }
    }
}

/// `POST /login/oauth/{provider}/code/token`
pub async fn token(
    rqctx: &RequestContext<ApiContext>,
    provider: OAuthProviderName,
    query: OAuthAuthzCodeExchangeQuery,
    body: OAuthAuthzCodeExchangeBody,
) -> Result<HttpResponseOk<OAuthAuthzCodeExchangeResponse>, OAuthError> {
    let ctx = rqctx.context();
    let config =
        configured(ctx, provider).map_err(|_| OAuthError::invalid_request("provider not configured"))?;
    if body.grant_type != "authorization_code" {
        return Err(OAuthError::unsupported_grant_type("authorization_code"));
    }
    let (client_id, presented) = client_credentials(rqctx.request.headers(), &body)?;
    authenticate_client(ctx, provider, client_id, presented).await?;

    let code_hash = secret::digest(&body.code);
    let attempt = ctx.store.login_attempt_by_code(provider.as_str(), &code_hash).await?;
    let Some(attempt) = attempt else {
        return Err(OAuthError::invalid_grant());
    };
    let stored_hash = attempt.authz_code_hash.clone().unwrap_or_default();
    let challenge = attempt.pkce_challenge.clone().unwrap_or_default();
    let mismatch = if !secret::digests_equal(&stored_hash, &code_hash) {
        Some("code")
    } else if attempt.client_id != client_id {
        Some("client_id")
    } else if attempt.redirect_uri.as_deref() != Some(body.redirect_uri.as_str()) {
        Some("redirect_uri")
    } else if !pkce_matches(&body.code_verifier, &challenge) {
        Some("code_verifier")
    } else if attempt.is_expired(Utc::now()) {
        Some("expired")
    } else {
        None
    };
    if let Some(reason) = mismatch {
        // A code presented wrongly is burned: whoever holds it gets one try.
        if attempt.attempt_state == AttemptState::RemoteAuthenticated.as_str() {
            ctx.store
                .fail_login_attempt(attempt.id, &format!("token request refused: {reason}"), None)
                .await?;
        }
        tracing::info!(login_attempt.id = %attempt.id, reason, "code exchange refused");
        return Err(OAuthError::invalid_grant());
    }
    // The one atomic step: of concurrent exchanges of one code, one wins.
    let Some(claimed) = ctx.store.claim_login_attempt(attempt.id, AttemptState::RemoteAuthenticated).await?
    else {
        tracing::info!(login_attempt.id = %attempt.id, "code exchange refused: already used or expired");
        return Err(OAuthError::invalid_grant());
    };
    let client = Provider::new(provider, config, http());
    let remote = client
        .exchange_code(
            &callback_url(ctx, provider),
            claimed.provider_authz_code.as_deref().unwrap_or_default(),
            claimed.provider_pkce_verifier.as_deref().unwrap_or_default(),
        )
        .await;
    let remote = match remote {
        Ok(remote) => remote,
        Err(err) => {
            tracing::warn!(login_attempt.id = %claimed.id, error = %err, "provider code exchange failed");
            ctx.store.finish_login_attempt(claimed.id, None, Some("provider exchange failed"), None).await?;
            return Err(match err {
                super::provider::ProviderError::Refused { .. } => OAuthError::invalid_grant(),
                super::provider::ProviderError::Unreachable(_) => {
                    OAuthError::unavailable("the provider is unavailable")
                }
                _ => OAuthError::server_error(),
            });
        }
    };
    let response = complete(ctx, &client, &claimed, remote, query.request_idp_token.unwrap_or(false)).await?;
    Ok(HttpResponseOk(response))
}

/// The end of every successful login: who the provider says the user is, the user
/// found or created with mappers applied, and our access token. The provider's token
/// is dropped unless the user may retrieve it and asked.
pub(super) async fn complete(
    ctx: &ApiContext,
    client: &Provider<'_>,
    attempt: &LoginAttempt,
    remote: RemoteToken,
    want_idp_token: bool,
) -> Result<OAuthAuthzCodeExchangeResponse, OAuthError> {
    let identity = match client.identity(&remote).await {
        Ok(identity) => identity,
        Err(err) => {
            tracing::warn!(login_attempt.id = %attempt.id, error = %err, "provider user information failed");
            ctx.store
                .finish_login_attempt(attempt.id, None, Some("user information unavailable"), None)
                .await?;
            return Err(OAuthError::unavailable("the provider's user information is unavailable"));
        }
    };
    let user = match register_login(&ctx.store, &identity).await {
        Ok(user) => user,
        Err(crate::auth::login::LoginError::Store(err)) => return Err(err.into()),
        Err(err) => {
            tracing::error!(error = %err, "login registration failed");
            return Err(OAuthError::server_error());
        }
    };
    let provider_row = ctx
        .store
        .user_providers(user.id, i64::from(i32::MAX))
        .await?
        .into_iter()
        .find(|p| p.provider == identity.provider && p.provider_id == identity.provider_id)
        .map(|p| p.id);
    let issued = issue_access_token(&ctx.store, &ctx.keys, user.id, provider_row, &attempt.scope)
        .await
        .map_err(|err| {
            tracing::error!(error = %err, "cannot issue an access token");
            OAuthError::server_error()
        })?;
    let idp_token = if want_idp_token
        && user_permissions(&ctx.store, &user).await?.can(&Permission::RetrieveRemoteAccessToken)
    {
        use secrecy::ExposeSecret;
        Some(remote.access_token.expose_secret().to_string())
    } else {
        None
    };
    ctx.store.finish_login_attempt(attempt.id, Some(user.id), None, None).await?;
    tracing::info!(login_attempt.id = %attempt.id, api_user.id = %user.id, token.jti = %issued.jti, "login complete");
    Ok(OAuthAuthzCodeExchangeResponse {
        token_type: "Bearer".into(),
        access_token: issued.token,
        expires_in: issued.expires_in,
        scope: attempt.scope.clone(),
        idp_token,
    })
}

/// `GET /login/oauth/{provider}/public-pkce`: 400 unless a public PKCE client is
/// configured for the provider (as the reference).
pub fn public_pkce_info(
    ctx: &ApiContext,
    provider: OAuthProviderName,
) -> Result<OAuthProviderAuthorizationCodePkceInfo, HttpError> {
    let config = configured(ctx, provider)?;
    let public = config
        .public_pkce
        .as_ref()
        .ok_or_else(|| bad_request(format!("no public PKCE client is configured for {provider}")))?;
    let base = login_base(ctx, provider);
    Ok(OAuthProviderAuthorizationCodePkceInfo {
        client_id: public.client,
        redirect_endpoint: public.redirect_uri.clone(),
        proxy_port: public.proxy_port,
        web: OAuthProviderAuthorizationCodeInfo {
            auth_url_endpoint: format!("{base}/code/authorize"),
            redirect_endpoint: format!("{base}/code/callback"),
            token_endpoint_content_type: "application/x-www-form-urlencoded".into(),
            token_endpoint: format!("{base}/code/token"),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_s256_as_rfc_7636_appendix_b() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert!(pkce_matches(verifier, challenge));
        assert!(!pkce_matches("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXj", challenge));
        assert!(!pkce_matches("short", challenge));
        assert!(!pkce_matches(&format!("{verifier} "), challenge));
    }

    #[test]
    fn the_login_cookie_is_found_among_others() {
        let mut headers = http::HeaderMap::new();
        headers.insert(http::header::COOKIE, http::HeaderValue::from_static("a=1; __v_login=abc; b=2"));
        assert_eq!(login_cookie(&headers).as_deref(), Some("abc"));
        assert_eq!(login_cookie(&http::HeaderMap::new()), None);
    }
}
