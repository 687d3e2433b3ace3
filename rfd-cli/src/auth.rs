//! `auth login`: the OAuth device flow and magic links, storing the token in the config.
//!
//! Device flow (RFC 8628, through the API as the reference does): ask the API for the
//! provider's client id, start the flow, show the verification URL and the user code,
//! then poll the exchange endpoint at the interval given, five seconds slower after each
//! `slow_down`, until the user has approved, refused, or the code expired.

use std::io::Write as _;
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::json;

use crate::cli::{LoginArgs, LoginMode, LoginVia, Provider};
use crate::commands::{Context, http_client};
use crate::error::{CliError, from_status_body};
use crate::names;

const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// The provider's answer to the start of a device flow.
#[derive(Debug, Deserialize)]
struct DeviceAuthorization {
    device_code: String,
    user_code: String,
    verification_uri: String,
    #[serde(default)]
    verification_uri_complete: Option<String>,
    #[serde(default)]
    expires_in: Option<u64>,
    #[serde(default)]
    interval: Option<u64>,
}

/// The exchange endpoint's answer: a token, or an RFC 8628 error.
#[derive(Debug, Deserialize)]
struct Exchange {
    #[serde(default)]
    access_token: Option<String>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    error_description: Option<String>,
}

pub async fn login(ctx: &mut Context, args: LoginArgs) -> Result<(), CliError> {
    let token = match &args.via {
        LoginVia::Google => device(ctx, Provider::Google, &args.scope).await?,
        LoginVia::Github => device(ctx, Provider::Github, &args.scope).await?,
        LoginVia::Oauth { provider } => device(ctx, *provider, &args.scope).await?,
        LoginVia::Mlink { email, channel } => magic_link(ctx, email, channel, &args.scope).await?,
    };
    let stored = match args.mode {
        LoginMode::Id => token,
        LoginMode::Token => api_token(ctx, &token, args.days).await?,
    };
    ctx.config.file.token = Some(stored);
    ctx.config.save()?;
    eprintln!("Logged in; the token is stored in {}", ctx.config.path.display());
    Ok(())
}

/// A client for the login calls: the API's, without any stored token.
fn anonymous(ctx: &Context) -> Result<rfd_sdk::Client, CliError> {
    let (host, _) = ctx.config.host();
    let host = crate::config::normalize_host(&host.ok_or(CliError::NoHost)?)?;
    Ok(rfd_sdk::Client::new_with_client(&host, http_client(None)?))
}

macro_rules! call {
    ($request:expr) => {
        match $request.send().await {
            Ok(response) => response,
            Err(err) => return Err(CliError::from_sdk(err).await),
        }
    };
}

async fn device(ctx: &Context, provider: Provider, scope: &str) -> Result<String, CliError> {
    let client = anonymous(ctx)?;
    let info = call!(client.get_device_provider().provider(provider.name())).into_inner();
    let info = serde_json::to_value(info).map_err(|err| CliError::Response(err.to_string()))?;
    let client_id = info.get("client_id").cloned().unwrap_or_default();

    let body: names::DeviceAuthorizationRequest =
        serde_json::from_value(json!({"client_id": client_id, "scope": scope}))
            .map_err(|err| CliError::Response(format!("device provider: {err}")))?;
    let (status, text) = raw(client.device_authz().provider(provider.name()).body(body).send().await).await?;
    if !(200..300).contains(&status) {
        return Err(from_status_body(status, &text));
    }
    let start: DeviceAuthorization = serde_json::from_str(&text)
        .map_err(|err| CliError::Response(format!("device authorization: {err}")))?;

    eprintln!(
        "To log in, open {}",
        start.verification_uri_complete.as_deref().unwrap_or(&start.verification_uri)
    );
    eprintln!("and enter the code {}", start.user_code);
    let mut interval = Duration::from_secs(start.interval.unwrap_or(5).max(1));
    let deadline = Instant::now() + Duration::from_secs(start.expires_in.unwrap_or(600));
    let mut waited = 0u32;
    loop {
        if Instant::now() > deadline {
            eprintln!();
            return Err(CliError::Login(
                "the code expired before it was approved; run the login again".into(),
            ));
        }
        tokio::time::sleep(interval).await;
        waited += 1;
        eprint!("\rWaiting for approval{:<3}", ".".repeat((waited % 4) as usize));
        let _ = std::io::stderr().flush();
        let form: names::DeviceTokenExchangeRequest = serde_json::from_value(json!({
            "client_id": client_id, "device_code": start.device_code, "grant_type": DEVICE_GRANT
        }))
        .map_err(|err| CliError::Response(format!("device exchange: {err}")))?;
        let (status, text) =
            raw(client.exchange_device_token().provider(provider.name()).body(form).send().await).await?;
        let answer: Exchange = match serde_json::from_str(&text) {
            Ok(answer) => answer,
            Err(_) => {
                eprintln!();
                return Err(from_status_body(status, &text));
            }
        };
        if let Some(token) = answer.access_token.filter(|_| (200..300).contains(&status)) {
            eprintln!();
            return Ok(token);
        }
        match answer.error.as_deref() {
            Some("authorization_pending") => {}
            Some("slow_down") => interval += Duration::from_secs(5),
            Some(error) => {
                eprintln!();
                let reason = match answer.error_description {
                    Some(description) => format!("{error}: {description}"),
                    None => error.to_string(),
                };
                return Err(CliError::Login(reason));
            }
            None => {
                eprintln!();
                return Err(from_status_body(status, &text));
            }
        }
    }
}

/// The status and body of an untyped answer, success or not: the device endpoints answer
/// `authorization_pending` and `slow_down` with an error status, and those are not failures.
async fn raw(
    result: Result<rfd_sdk::ResponseValue<rfd_sdk::ByteStream>, rfd_sdk::Error<rfd_sdk::ByteStream>>,
) -> Result<(u16, String), CliError> {
    use crate::error::ErrorBody as _;
    let response = match result {
        Ok(response) | Err(rfd_sdk::Error::ErrorResponse(response)) => response,
        Err(err) => return Err(CliError::from_sdk(err).await),
    };
    let status = response.status().as_u16();
    Ok((status, response.into_inner().text().await))
}

async fn magic_link(ctx: &Context, email: &str, channel: &str, scope: &str) -> Result<String, CliError> {
    let missing =
        |key: &str| CliError::Login(format!("set the magic-link client first: rfd-cli config set {key} …"));
    let redirect = ctx.config.file.mlink_redirect.clone().ok_or_else(|| missing("mlink-redirect"))?;
    let secret = ctx.config.file.mlink_secret.clone().ok_or_else(|| missing("mlink-secret"))?;
    let client = anonymous(ctx)?;
    let body: names::MagicLinkSendRequest = serde_json::from_value(json!({
        "medium": "email", "secret": secret, "recipient": email, "redirect_uri": redirect,
        "expires_in": 600, "scope": scope
    }))
    .map_err(|err| CliError::input("magic link", err))?;
    let sent = call!(client.magic_link_send().channel(channel).body(body)).into_inner();
    let attempt_id =
        serde_json::to_value(sent).unwrap_or_default().get("attempt_id").cloned().unwrap_or_default();
    eprint!("A link was sent to {email}. Paste the code it carries: ");
    let _ = std::io::stderr().flush();
    let mut code = String::new();
    std::io::stdin()
        .read_line(&mut code)
        .map_err(|source| CliError::Read { path: "standard input".into(), source })?;
    let code = code.trim();
    // The link is `redirect_uri?code=…`; accept the whole link as well as the code.
    let code = code.rsplit("code=").next().unwrap_or(code).split('&').next().unwrap_or(code);
    let body: names::MagicLinkExchangeRequest =
        serde_json::from_value(json!({"attempt_id": attempt_id, "recipient": email, "secret": code}))
            .map_err(|err| CliError::input("magic link", err))?;
    let answer = call!(client.magic_link_exchange().channel(channel).body(body)).into_inner();
    serde_json::to_value(answer)
        .ok()
        .and_then(|value| value.get("access_token").and_then(|t| t.as_str()).map(str::to_string))
        .ok_or_else(|| CliError::Response("the exchange answered without an access token".into()))
}

/// `-m token`: with the fresh access token, create a long-lived API token for oneself.
async fn api_token(ctx: &Context, access_token: &str, days: i64) -> Result<String, CliError> {
    let (host, _) = ctx.config.host();
    let host = crate::config::normalize_host(&host.ok_or(CliError::NoHost)?)?;
    let client = rfd_sdk::Client::new_with_client(&host, http_client(Some(access_token))?);
    let me = serde_json::to_value(call!(client.get_self()).into_inner()).unwrap_or_default();
    let user_id = me
        .pointer("/info/id")
        .and_then(|id| id.as_str())
        .and_then(|id| uuid::Uuid::parse_str(id).ok())
        .ok_or_else(|| CliError::Response("GET /self answered without a user id".into()))?;
    let body: names::ApiKeyCreateParams =
        serde_json::from_value(json!({"expires_at": chrono::Utc::now() + chrono::Duration::days(days)}))
            .map_err(|err| CliError::input("token", err))?;
    let created = call!(client.create_api_user_token().user_id(user_id).body(body)).into_inner();
    serde_json::to_value(created)
        .ok()
        .and_then(|value| value.get("key").and_then(|k| k.as_str()).map(str::to_string))
        .ok_or_else(|| CliError::Response("the API answered without the new token".into()))
}
