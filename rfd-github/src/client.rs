//! The HTTP side of the GitHub source: credentials, call counting, rate limits and retries.
//!
//! Every request goes through [`Transport::call`] (octorust calls) or the installation
//! token exchange, both of which count the call, remember the last
//! `x-ratelimit-remaining`, map the answer to a [`SourceError`], wait out a rate limit
//! (bounded) and retry server errors with jittered exponential backoff.

use std::future::Future;
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use octorust::ClientError;
use octorust::auth::Credentials;
use reqwest::header::HeaderMap;
use rfd_model::source::{SourceError, SourceResult};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use crate::GitHubError;
use crate::config::{GitHubAuth, GitHubConfig, RetryConfig};

/// Identifies us to GitHub, which requires a User-Agent.
const USER_AGENT: &str = concat!("rfd-platform/", env!("CARGO_PKG_VERSION"));

/// How long before its expiry an installation token is replaced.
const TOKEN_REFRESH_MARGIN: Duration = Duration::from_secs(5 * 60);

/// Rate-limit waits per call before giving up (each bounded by the configured maximum).
const MAX_RATE_LIMIT_WAITS: u32 = 3;

/// When GitHub says "rate limited" without saying until when.
const DEFAULT_RATE_LIMIT_WAIT: Duration = Duration::from_secs(60);

/// The longest error message kept from a GitHub answer.
const MAX_MESSAGE_CHARS: usize = 300;

/// Reads may be retried freely; writes map 422 to a conflict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Read,
    Write,
}

/// What one attempt came to.
enum Attempt {
    /// Wait this long, then try again (rate limit).
    RateLimited(Duration),
    /// Try again after a backoff.
    Transient(String),
    /// The credentials were refused: an installation token may have been revoked.
    Unauthorized(String),
    /// Give up with this error.
    Final(SourceError),
}

struct Installation {
    client: octorust::Client,
    refresh_at: Instant,
}

enum Auth {
    Token(octorust::Client),
    App {
        app_id: i64,
        installation_id: i64,
        key: jsonwebtoken::EncodingKey,
        current: tokio::sync::Mutex<Option<Installation>>,
    },
}

pub(crate) struct Transport {
    api_url: String,
    http: reqwest::Client,
    auth: Auth,
    retry: RetryConfig,
    calls: AtomicU64,
    /// The last `x-ratelimit-remaining` seen, -1 before any.
    remaining: AtomicI64,
    /// Until when (unix ms) a rate limit holds calls back; 0 when none does.
    paused_until_ms: AtomicU64,
}

#[derive(Serialize)]
struct AppClaims {
    iat: u64,
    exp: u64,
    iss: String,
}

#[derive(Deserialize)]
struct InstallationToken {
    token: SecretString,
    expires_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl Transport {
    pub(crate) fn new(config: &GitHubConfig) -> Result<Self, GitHubError> {
        let api_url = config.api_url.trim_end_matches('/').to_string();
        reqwest::Url::parse(&api_url).map_err(|_| GitHubError::InvalidApiUrl { url: api_url.clone() })?;
        let http = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(config.retry.request_timeout_secs.max(1)))
            .build()
            .map_err(|source| GitHubError::HttpClient { source })?;
        let auth = match &config.auth {
            GitHubAuth::Token { token } => {
                Auth::Token(octorust_client(&http, &api_url, token.expose_secret().to_string()))
            }
            GitHubAuth::App { app_id, installation_id, private_key_path } => {
                let pem = std::fs::read(private_key_path).map_err(|source| GitHubError::ReadPrivateKey {
                    path: private_key_path.clone(),
                    source,
                })?;
                // The error of jsonwebtoken says what is wrong with the key, not what it holds.
                let key = jsonwebtoken::EncodingKey::from_rsa_pem(&pem).map_err(|source| {
                    GitHubError::InvalidPrivateKey {
                        path: private_key_path.clone(),
                        reason: source.to_string(),
                    }
                })?;
                Auth::App {
                    app_id: *app_id,
                    installation_id: *installation_id,
                    key,
                    current: tokio::sync::Mutex::new(None),
                }
            }
        };
        Ok(Self {
            api_url,
            http,
            auth,
            retry: config.retry.clone(),
            calls: AtomicU64::new(0),
            remaining: AtomicI64::new(-1),
            paused_until_ms: AtomicU64::new(0),
        })
    }

    pub(crate) fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    pub(crate) fn rate_limit_remaining(&self) -> Option<u64> {
        u64::try_from(self.remaining.load(Ordering::Relaxed)).ok()
    }

    fn observe(&self, headers: &HeaderMap) {
        if let Some(remaining) = header_u64(headers, "x-ratelimit-remaining") {
            self.remaining.store(i64::try_from(remaining).unwrap_or(i64::MAX), Ordering::Relaxed);
        }
    }

    /// Runs one octorust call with counting, error mapping, rate-limit waits and retries.
    /// `endpoint` names the call in logs and errors (`GET /git/trees`).
    pub(crate) async fn call<T, F, Fut>(
        &self,
        kind: Kind,
        endpoint: &str,
        f: F,
    ) -> SourceResult<octorust::Response<T>>
    where
        F: Fn(octorust::Client) -> Fut,
        Fut: Future<Output = Result<octorust::Response<T>, ClientError>>,
    {
        let f = &f;
        self.retrying(endpoint, move || async move {
            let client = self.client().await.map_err(Attempt::Final)?;
            self.calls.fetch_add(1, Ordering::Relaxed);
            match f(client).await {
                Ok(response) => {
                    self.observe(&response.headers);
                    Ok(response)
                }
                Err(error) => Err(self.classify(error, kind, endpoint)),
            }
        })
        .await
    }

    async fn retrying<T, F, Fut>(&self, endpoint: &str, attempt: F) -> SourceResult<T>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, Attempt>>,
    {
        let mut failures = 0u32;
        let mut rate_waits = 0u32;
        let mut reauthenticated = false;
        let max_wait = Duration::from_secs(self.retry.max_rate_limit_wait_secs);
        loop {
            // While the limit holds, no call of this client goes out: each would be refused
            // and count against the abuse detection.
            if let Some(wait) = self.paused_for() {
                if rate_waits >= MAX_RATE_LIMIT_WAITS || wait > max_wait {
                    tracing::warn!(
                        github.endpoint = endpoint,
                        github.retry_after_ms = wait.as_millis() as u64,
                        "rate limited; giving up for now"
                    );
                    return Err(SourceError::RateLimited { retry_after: wait });
                }
                rate_waits += 1;
                tracing::info!(
                    github.endpoint = endpoint,
                    github.wait_ms = wait.as_millis() as u64,
                    "rate limited; waiting for the reset"
                );
                tokio::time::sleep(wait).await;
            }
            match attempt().await {
                Ok(value) => return Ok(value),
                Err(Attempt::Final(error)) => return Err(error),
                Err(Attempt::RateLimited(wait)) => self.pause(wait),
                Err(Attempt::Unauthorized(message)) => {
                    // An installation token can be revoked before it expires: mint a new one once.
                    if reauthenticated || !self.forget_installation_token().await {
                        return Err(SourceError::Auth(message));
                    }
                    reauthenticated = true;
                }
                Err(Attempt::Transient(message)) => {
                    failures += 1;
                    if failures >= self.retry.max_attempts.max(1) {
                        tracing::warn!(github.endpoint = endpoint, github.attempts = failures, error = %message, "giving up");
                        return Err(SourceError::Transient(message));
                    }
                    let backoff = self.retry.backoff(failures - 1, jitter());
                    tracing::info!(github.endpoint = endpoint, github.attempt = failures, github.backoff_ms = backoff.as_millis() as u64, error = %message, "retrying");
                    tokio::time::sleep(backoff).await;
                }
            }
        }
    }

    /// Holds every call of this client back for `wait`.
    fn pause(&self, wait: Duration) {
        let until = now_ms().saturating_add(u64::try_from(wait.as_millis()).unwrap_or(u64::MAX));
        self.paused_until_ms.fetch_max(until, Ordering::Relaxed);
    }

    /// How long calls are still held back, if they are.
    fn paused_for(&self) -> Option<Duration> {
        let until = self.paused_until_ms.load(Ordering::Relaxed);
        let now = now_ms();
        (until > now).then(|| Duration::from_millis(until - now))
    }

    fn classify(&self, error: ClientError, kind: Kind, endpoint: &str) -> Attempt {
        match error {
            ClientError::RateLimited { duration } => {
                self.remaining.store(0, Ordering::Relaxed);
                // The reset is a whole second; wake just after it.
                Attempt::RateLimited(Duration::from_secs(duration) + Duration::from_millis(250))
            }
            ClientError::HttpError { status, headers, error } => {
                self.observe(&headers);
                classify_status(status.as_u16(), &headers, &error, kind, endpoint)
            }
            ClientError::ReqwestError(error) => classify_reqwest(&error, endpoint),
            ClientError::SerdeJsonError(error) => Attempt::Final(SourceError::Other(format!(
                "{endpoint}: malformed answer from GitHub: {error}"
            ))),
            other => Attempt::Final(SourceError::Other(format!("{endpoint}: {other}"))),
        }
    }

    /// A client carrying valid credentials: for an app, a fresh installation token.
    async fn client(&self) -> SourceResult<octorust::Client> {
        let current = match &self.auth {
            Auth::Token(client) => return Ok(client.clone()),
            Auth::App { current, .. } => current,
        };
        let mut current = current.lock().await;
        if let Some(installation) = current.as_ref().filter(|i| i.refresh_at > Instant::now()) {
            return Ok(installation.client.clone());
        }
        let token = self.mint_installation_token().await?;
        let lifetime = token
            .expires_at
            .and_then(|at| (at - chrono::Utc::now()).to_std().ok())
            .unwrap_or(Duration::from_secs(55 * 60));
        let client = octorust_client(&self.http, &self.api_url, token.token.expose_secret().to_string());
        *current = Some(Installation {
            client: client.clone(),
            refresh_at: Instant::now() + lifetime.saturating_sub(TOKEN_REFRESH_MARGIN),
        });
        Ok(client)
    }

    /// Drops the installation token so the next call mints one; `false` for a fixed token.
    async fn forget_installation_token(&self) -> bool {
        match &self.auth {
            Auth::App { current, .. } => {
                *current.lock().await = None;
                true
            }
            Auth::Token(_) => false,
        }
    }

    /// `POST /app/installations/{id}/access_tokens` with an app JWT. octorust would do this
    /// by itself, but uncounted, unretried and with a panic on a key that stops signing.
    async fn mint_installation_token(&self) -> SourceResult<InstallationToken> {
        let Auth::App { app_id, installation_id, key, .. } = &self.auth else {
            return Err(SourceError::Other("not a GitHub App".into()));
        };
        let endpoint = "POST /app/installations/{id}/access_tokens";
        let url = format!("{}/app/installations/{installation_id}/access_tokens", self.api_url);
        self.retrying(endpoint, || async {
            let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
            // Backdated for clock drift, and under GitHub's ten-minute maximum.
            let claims =
                AppClaims { iat: now.saturating_sub(60), exp: now + 9 * 60, iss: app_id.to_string() };
            let jwt = jsonwebtoken::encode(
                &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256),
                &claims,
                key,
            )
            .map_err(|e| Attempt::Final(SourceError::Auth(format!("cannot sign the app JWT: {e}"))))?;
            self.calls.fetch_add(1, Ordering::Relaxed);
            let response = self
                .http
                .post(&url)
                .bearer_auth(jwt)
                .header(reqwest::header::ACCEPT, "application/vnd.github+json")
                .send()
                .await
                .map_err(|e| classify_reqwest(&e, endpoint))?;
            let status = response.status().as_u16();
            let headers = response.headers().clone();
            self.observe(&headers);
            let body = response.bytes().await.map_err(|e| classify_reqwest(&e, endpoint))?;
            if !(200..300).contains(&status) {
                return Err(
                    match classify_status(
                        status,
                        &headers,
                        &String::from_utf8_lossy(&body),
                        Kind::Read,
                        endpoint,
                    ) {
                        // A refused app JWT is not cured by minting again.
                        Attempt::Unauthorized(message) => Attempt::Final(SourceError::Auth(message)),
                        other => other,
                    },
                );
            }
            serde_json::from_slice::<InstallationToken>(&body).map_err(|e| {
                Attempt::Final(SourceError::Other(format!(
                    "{endpoint}: malformed installation token answer: {e}"
                )))
            })
        })
        .await
        .inspect(|_| tracing::debug!(github.installation_id = installation_id, "installation token minted"))
    }
}

fn octorust_client(http: &reqwest::Client, api_url: &str, token: String) -> octorust::Client {
    let mut client = octorust::Client::custom(USER_AGENT, Credentials::Token(token), http.clone());
    client.with_host_override(api_url);
    client
}

fn header_u64(headers: &HeaderMap, name: &str) -> Option<u64> {
    headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

/// The `message` of a GitHub error body, or the start of the body.
fn github_message(body: &str) -> String {
    let message = serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("message").and_then(|m| m.as_str()).map(str::to_string))
        .unwrap_or_else(|| body.to_string());
    message.chars().take(MAX_MESSAGE_CHARS).collect()
}

fn classify_status(status: u16, headers: &HeaderMap, body: &str, kind: Kind, endpoint: &str) -> Attempt {
    let message = format!("{endpoint}: GitHub answered {status}: {}", github_message(body));
    let retry_after = header_u64(headers, "retry-after").map(Duration::from_secs);
    let exhausted = header_u64(headers, "x-ratelimit-remaining") == Some(0);
    let until_reset = header_u64(headers, "x-ratelimit-reset").map(|reset| {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
        Duration::from_secs(reset.saturating_sub(now)) + Duration::from_millis(250)
    });
    match status {
        403 | 429 if retry_after.is_some() || exhausted || status == 429 || body.contains("rate limit") => {
            Attempt::RateLimited(
                retry_after.or(until_reset.filter(|_| exhausted)).unwrap_or(DEFAULT_RATE_LIMIT_WAIT),
            )
        }
        401 => Attempt::Unauthorized(message),
        403 => Attempt::Final(SourceError::Auth(message)),
        404 | 410 => Attempt::Final(SourceError::NotFound(message)),
        409 => Attempt::Final(SourceError::Conflict(message)),
        422 if kind == Kind::Write => Attempt::Final(SourceError::Conflict(message)),
        408 | 500..=599 => Attempt::Transient(message),
        _ => Attempt::Final(SourceError::Other(message)),
    }
}

fn classify_reqwest(error: &reqwest::Error, endpoint: &str) -> Attempt {
    // The URL in reqwest's message carries no credentials (they travel in a header).
    let message = format!("{endpoint}: {error}");
    if error.is_timeout() || error.is_connect() || error.is_request() || error.is_body() {
        Attempt::Transient(message)
    } else if error.is_decode() {
        Attempt::Final(SourceError::Other(message))
    } else {
        Attempt::Transient(message)
    }
}

fn now_ms() -> u64 {
    let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    u64::try_from(since_epoch.as_millis()).unwrap_or(u64::MAX)
}

/// A number in [0, 1) that differs between calls and processes.
fn jitter() -> f64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let hash = RandomState::new().hash_one(n);
    (hash >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            if let Ok(value) = v.parse() {
                map.insert(*k, value);
            }
        }
        map
    }

    #[test]
    fn statuses_map_to_source_errors() {
        let none = HeaderMap::new();
        let is = |a: Attempt, f: fn(&SourceError) -> bool| matches!(a, Attempt::Final(ref e) if f(e));
        assert!(is(classify_status(404, &none, "{}", Kind::Read, "x"), |e| matches!(
            e,
            SourceError::NotFound(_)
        )));
        assert!(is(
            classify_status(403, &none, r#"{"message":"Resource not accessible"}"#, Kind::Read, "x"),
            |e| { matches!(e, SourceError::Auth(_)) }
        ));
        assert!(is(classify_status(409, &none, "", Kind::Write, "x"), |e| matches!(
            e,
            SourceError::Conflict(_)
        )));
        assert!(is(classify_status(422, &none, "", Kind::Write, "x"), |e| matches!(
            e,
            SourceError::Conflict(_)
        )));
        assert!(is(classify_status(422, &none, "", Kind::Read, "x"), |e| matches!(e, SourceError::Other(_))));
        assert!(matches!(classify_status(502, &none, "", Kind::Read, "x"), Attempt::Transient(_)));
        assert!(matches!(classify_status(401, &none, "", Kind::Read, "x"), Attempt::Unauthorized(_)));
        assert!(matches!(
            classify_status(403, &headers(&[("retry-after", "7")]), "", Kind::Read, "x"),
            Attempt::RateLimited(d) if d == Duration::from_secs(7)
        ));
        assert!(matches!(
            classify_status(429, &none, "", Kind::Read, "x"),
            Attempt::RateLimited(d) if d == DEFAULT_RATE_LIMIT_WAIT
        ));
        assert!(matches!(
            classify_status(403, &headers(&[("x-ratelimit-remaining", "0")]), "", Kind::Read, "x"),
            Attempt::RateLimited(_)
        ));
    }

    #[test]
    fn messages_are_bounded() {
        let long = "x".repeat(10_000);
        assert_eq!(github_message(&long).len(), MAX_MESSAGE_CHARS);
        assert_eq!(github_message(r#"{"message":"Not Found"}"#), "Not Found");
    }

    #[test]
    fn jitter_is_in_range() {
        for _ in 0..100 {
            let j = jitter();
            assert!((0.0..1.0).contains(&j));
        }
    }
}
