//! A fake of GitHub's OAuth endpoints and user API, for login tests: the web flow
//! (`/login/oauth/authorize`, `/login/oauth/access_token` with PKCE), the device flow
//! (`/login/device/code`, polling `/login/oauth/access_token`) and `/user`,
//! `/user/emails`.
//!
//! It keeps GitHub's quirks, which a client must cope with: OAuth errors from the token
//! endpoint are HTTP **200** with an `error` field (`authorization_pending`,
//! `slow_down` with a new `interval`, `access_denied`, `expired_token`,
//! `bad_verification_code`, `incorrect_client_credentials`), and answers are
//! form-encoded unless the request's `Accept` asks for JSON.
//!
//! The "user" is scripted by the test: the authorization endpoint approves at once as
//! the configured [`FakeOAuthUser`] (or denies, [`FakeGitHubOAuth::deny_next`]); device
//! codes stay pending until [`FakeGitHubOAuth::approve`], [`FakeGitHubOAuth::deny`] or
//! [`FakeGitHubOAuth::expire`], and [`FakeGitHubOAuth::slow_down`] makes the next polls
//! answer `slow_down`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use http::{HeaderValue, Method, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use percent_encoding::percent_decode_str;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::FakeError;

type Reply = Response<Full<Bytes>>;

/// The GitHub account that logs in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeOAuthUser {
    /// Numeric account id.
    pub id: i64,
    /// Login (user name).
    pub login: String,
    /// Addresses and whether each is verified.
    pub emails: Vec<(String, bool)>,
}

#[derive(Debug, Clone)]
struct Grant {
    client_id: String,
    redirect_uri: Option<String>,
    challenge: Option<String>,
    user: FakeOAuthUser,
    used: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DeviceState {
    Pending,
    Approved,
    Denied,
    Expired,
    Used,
}

#[derive(Debug, Clone)]
struct Device {
    user_code: String,
    state: DeviceState,
    interval: u64,
}

#[derive(Debug, Default)]
struct State {
    user: Option<FakeOAuthUser>,
    deny_next: bool,
    codes: HashMap<String, Grant>,
    devices: HashMap<String, Device>,
    tokens: HashMap<String, FakeOAuthUser>,
    slow_downs: usize,
    counter: u64,
    polls: usize,
    calls: Vec<String>,
}

struct Shared {
    client_id: String,
    client_secret: String,
    base_url: String,
    state: Mutex<State>,
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A running fake of GitHub's OAuth endpoints. Dropping it stops the server.
pub struct FakeGitHubOAuth {
    shared: Arc<Shared>,
    server: JoinHandle<()>,
}

impl std::fmt::Debug for FakeGitHubOAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeGitHubOAuth").field("url", &self.shared.base_url).finish()
    }
}

impl Drop for FakeGitHubOAuth {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl FakeGitHubOAuth {
    /// Serves an OAuth App with these credentials on a free loopback port; `user` logs
    /// in.
    pub async fn start(
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
        user: FakeOAuthUser,
    ) -> Result<Self, FakeError> {
        let listener = TcpListener::bind("127.0.0.1:0").await.map_err(|source| FakeError::Bind { source })?;
        let addr: SocketAddr = listener.local_addr().map_err(|source| FakeError::Bind { source })?;
        let shared = Arc::new(Shared {
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            base_url: format!("http://{addr}"),
            state: Mutex::new(State { user: Some(user), ..State::default() }),
        });
        let server = tokio::spawn(serve(listener, shared.clone()));
        Ok(Self { shared, server })
    }

    /// The base URL (`http://127.0.0.1:PORT`): the web host and the API host at once,
    /// so `…/login/oauth/authorize`, `…/login/device/code` and `…/user` all live here.
    pub fn url(&self) -> String {
        self.shared.base_url.clone()
    }

    /// Who logs in from now on.
    pub fn set_user(&self, user: FakeOAuthUser) {
        self.shared.state().user = Some(user);
    }

    /// The next authorization is declined by the user (`error=access_denied`).
    pub fn deny_next(&self) {
        self.shared.state().deny_next = true;
    }

    /// The user enters `user_code` and approves.
    pub fn approve(&self, user_code: &str) -> bool {
        self.set_device(user_code, DeviceState::Approved)
    }

    /// The user enters `user_code` and declines.
    pub fn deny(&self, user_code: &str) -> bool {
        self.set_device(user_code, DeviceState::Denied)
    }

    /// The device code of `user_code` expires.
    pub fn expire(&self, user_code: &str) -> bool {
        self.set_device(user_code, DeviceState::Expired)
    }

    /// The next `n` device polls answer `slow_down` (and raise the interval by 5 s).
    pub fn slow_down(&self, n: usize) {
        self.shared.state().slow_downs = n;
    }

    /// Device token polls received.
    pub fn device_polls(&self) -> usize {
        self.shared.state().polls
    }

    /// Every access token issued (to check none shows up where it must not).
    pub fn issued_tokens(&self) -> Vec<String> {
        self.shared.state().tokens.keys().cloned().collect()
    }

    /// `METHOD /path` of every request received.
    pub fn calls(&self) -> Vec<String> {
        self.shared.state().calls.clone()
    }

    fn set_device(&self, user_code: &str, to: DeviceState) -> bool {
        let mut state = self.shared.state();
        let found = state.devices.values_mut().find(|d| d.user_code == user_code);
        match found {
            Some(device) => {
                device.state = to;
                true
            }
            None => false,
        }
    }
}

async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else { continue };
        let shared = shared.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let shared = shared.clone();
                async move { Ok::<_, std::convert::Infallible>(handle(&shared, request).await) }
            });
            let _ended = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
        });
    }
}

fn decode(s: &str) -> String {
    percent_decode_str(&s.replace('+', " ")).decode_utf8_lossy().to_string()
}

fn form(text: &str) -> HashMap<String, String> {
    text.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn encode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

fn reply(status: StatusCode, body: String, content_type: &str) -> Reply {
    let mut reply = Response::new(Full::new(Bytes::from(body)));
    *reply.status_mut() = status;
    if let Ok(value) = HeaderValue::from_str(content_type) {
        reply.headers_mut().insert(http::header::CONTENT_TYPE, value);
    }
    reply
}

/// An OAuth answer as GitHub gives it: JSON when asked for, form-encoded otherwise.
fn oauth_reply(json_wanted: bool, value: Value) -> Reply {
    if json_wanted {
        return reply(StatusCode::OK, value.to_string(), "application/json; charset=utf-8");
    }
    let text = value
        .as_object()
        .map(|map| {
            map.iter()
                .map(|(k, v)| {
                    format!(
                        "{}={}",
                        encode(k),
                        encode(&v.as_str().map_or_else(|| v.to_string(), str::to_string))
                    )
                })
                .collect::<Vec<_>>()
                .join("&")
        })
        .unwrap_or_default();
    reply(StatusCode::OK, text, "application/x-www-form-urlencoded; charset=utf-8")
}

/// GitHub's error: HTTP 200 with an `error` field.
fn oauth_error(json_wanted: bool, error: &str, description: &str) -> Reply {
    oauth_reply(json_wanted, json!({"error": error, "error_description": description}))
}

fn api_error(status: StatusCode, message: &str) -> Reply {
    reply(status, json!({"message": message}).to_string(), "application/json; charset=utf-8")
}

fn next_value(state: &mut State, prefix: &str) -> String {
    state.counter += 1;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    format!("{prefix}{:08x}{:08x}", state.counter, nanos)
}

async fn handle(shared: &Shared, request: hyper::Request<Incoming>) -> Reply {
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let query = form(request.uri().query().unwrap_or(""));
    let json_wanted = request
        .headers()
        .get(http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"));
    let bearer = request
        .headers()
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("token ")))
        .map(str::to_string);
    let body = match request.into_body().collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => Bytes::new(),
    };
    let body = form(&String::from_utf8_lossy(&body));
    shared.state().calls.push(format!("{method} {path}"));
    match (method, path.as_str()) {
        (Method::GET, "/login/oauth/authorize") => authorize(shared, &query),
        (Method::POST, "/login/oauth/access_token") => access_token(shared, &body, json_wanted),
        (Method::POST, "/login/device/code") => device_code(shared, &body, json_wanted),
        (Method::GET, "/user") => match user_of(shared, bearer.as_deref()) {
            Some(user) => reply(
                StatusCode::OK,
                json!({"id": user.id, "login": user.login, "type": "User", "name": null}).to_string(),
                "application/json; charset=utf-8",
            ),
            None => api_error(StatusCode::UNAUTHORIZED, "Bad credentials"),
        },
        (Method::GET, "/user/emails") => match user_of(shared, bearer.as_deref()) {
            Some(user) => {
                let emails: Vec<Value> = user
                    .emails
                    .iter()
                    .enumerate()
                    .map(|(i, (email, verified))| {
                        json!({"email": email, "verified": verified, "primary": i == 0, "visibility": null})
                    })
                    .collect();
                reply(StatusCode::OK, Value::Array(emails).to_string(), "application/json; charset=utf-8")
            }
            None => api_error(StatusCode::UNAUTHORIZED, "Bad credentials"),
        },
        _ => api_error(StatusCode::NOT_FOUND, "Not Found"),
    }
}

fn user_of(shared: &Shared, token: Option<&str>) -> Option<FakeOAuthUser> {
    shared.state().tokens.get(token?).cloned()
}

fn authorize(shared: &Shared, query: &HashMap<String, String>) -> Reply {
    let get = |key: &str| query.get(key).cloned();
    let (Some(client_id), Some(redirect_uri)) = (get("client_id"), get("redirect_uri")) else {
        return api_error(StatusCode::BAD_REQUEST, "client_id and redirect_uri are required");
    };
    if client_id != shared.client_id {
        return api_error(StatusCode::NOT_FOUND, "unknown client_id");
    }
    let state_param = get("state").unwrap_or_default();
    let mut state = shared.state();
    let location = if std::mem::take(&mut state.deny_next) {
        format!(
            "{redirect_uri}?error=access_denied&error_description={}&state={}",
            encode("The user has denied your application access."),
            encode(&state_param)
        )
    } else {
        if get("code_challenge").is_some() && get("code_challenge_method").as_deref() != Some("S256") {
            return api_error(StatusCode::BAD_REQUEST, "code_challenge_method must be S256");
        }
        let Some(user) = state.user.clone() else {
            return api_error(StatusCode::INTERNAL_SERVER_ERROR, "no user configured");
        };
        let code = next_value(&mut state, "fakecode_");
        state.codes.insert(
            code.clone(),
            Grant {
                client_id,
                redirect_uri: Some(redirect_uri.clone()),
                challenge: get("code_challenge"),
                user,
                used: false,
            },
        );
        format!("{redirect_uri}?code={}&state={}", encode(&code), encode(&state_param))
    };
    let mut reply = reply(StatusCode::FOUND, String::new(), "text/html; charset=utf-8");
    if let Ok(value) = HeaderValue::from_str(&location) {
        reply.headers_mut().insert(http::header::LOCATION, value);
    }
    reply
}

fn access_token(shared: &Shared, body: &HashMap<String, String>, json_wanted: bool) -> Reply {
    let get = |key: &str| body.get(key).cloned().unwrap_or_default();
    if get("client_id") != shared.client_id {
        return oauth_error(
            json_wanted,
            "incorrect_client_credentials",
            "The client_id and/or client_secret passed are incorrect.",
        );
    }
    let mut state = shared.state();
    if get("grant_type") == "urn:ietf:params:oauth:grant-type:device_code" {
        state.polls += 1;
        let device_code = get("device_code");
        let Some(device) = state.devices.get(&device_code).cloned() else {
            return oauth_error(
                json_wanted,
                "incorrect_device_code",
                "The device_code provided is not valid.",
            );
        };
        if state.slow_downs > 0 {
            state.slow_downs -= 1;
            let interval = device.interval + 5;
            if let Some(d) = state.devices.get_mut(&device_code) {
                d.interval = interval;
            }
            return oauth_reply(
                json_wanted,
                json!({"error": "slow_down", "error_description": "Too many requests have been made in the same timeframe.", "interval": interval}),
            );
        }
        return match device.state {
            DeviceState::Pending => oauth_error(
                json_wanted,
                "authorization_pending",
                "The authorization request is still pending.",
            ),
            DeviceState::Denied => {
                oauth_error(json_wanted, "access_denied", "The authorization request was denied.")
            }
            DeviceState::Expired => oauth_error(json_wanted, "expired_token", "The device_code has expired."),
            DeviceState::Used => {
                oauth_error(json_wanted, "incorrect_device_code", "The device_code provided is not valid.")
            }
            DeviceState::Approved => {
                let Some(user) = state.user.clone() else {
                    return oauth_error(json_wanted, "server_error", "no user configured");
                };
                if let Some(d) = state.devices.get_mut(&device_code) {
                    d.state = DeviceState::Used;
                }
                let token = next_value(&mut state, "gho_fake_");
                state.tokens.insert(token.clone(), user);
                oauth_reply(
                    json_wanted,
                    json!({"access_token": token, "token_type": "bearer", "scope": "user:email"}),
                )
            }
        };
    }
    // The web flow. GitHub wants the secret here.
    if get("client_secret") != shared.client_secret {
        return oauth_error(
            json_wanted,
            "incorrect_client_credentials",
            "The client_id and/or client_secret passed are incorrect.",
        );
    }
    let code = get("code");
    let Some(grant) = state.codes.get(&code).cloned().filter(|g| !g.used && g.client_id == shared.client_id)
    else {
        return oauth_error(json_wanted, "bad_verification_code", "The code passed is incorrect or expired.");
    };
    if let Some(sent) = body.get("redirect_uri")
        && grant.redirect_uri.as_deref() != Some(sent.as_str())
    {
        return oauth_error(
            json_wanted,
            "redirect_uri_mismatch",
            "The redirect_uri MUST match the registered callback URL for this application.",
        );
    }
    if let Some(challenge) = &grant.challenge {
        let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(get("code_verifier").as_bytes()));
        if &computed != challenge {
            return oauth_error(
                json_wanted,
                "bad_verification_code",
                "The code_verifier does not match the code_challenge.",
            );
        }
    }
    if let Some(g) = state.codes.get_mut(&code) {
        g.used = true;
    }
    let token = next_value(&mut state, "gho_fake_");
    state.tokens.insert(token.clone(), grant.user);
    oauth_reply(json_wanted, json!({"access_token": token, "token_type": "bearer", "scope": "user:email"}))
}

fn device_code(shared: &Shared, body: &HashMap<String, String>, json_wanted: bool) -> Reply {
    if body.get("client_id").map(String::as_str) != Some(shared.client_id.as_str()) {
        return oauth_error(json_wanted, "incorrect_client_credentials", "The client_id is not valid.");
    }
    let mut state = shared.state();
    let device_code = next_value(&mut state, "fakedevice_");
    state.counter += 1;
    let user_code = format!("{:04X}-{:04X}", state.counter % 0x10000, (state.counter * 7919) % 0x10000);
    state.devices.insert(
        device_code.clone(),
        Device { user_code: user_code.clone(), state: DeviceState::Pending, interval: 5 },
    );
    oauth_reply(
        json_wanted,
        json!({
            "device_code": device_code,
            "user_code": user_code,
            "verification_uri": format!("{}/login/device", shared.base_url),
            "expires_in": 899,
            "interval": 5,
        }),
    )
}
