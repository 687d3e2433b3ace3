//! The client side towards GitHub and Google, through the `oauth2` crate: the
//! authorization URL with PKCE, the code exchange, the device authorization request,
//! one poll of the device token endpoint, and who the user is.
//!
//! GitHub answers OAuth errors from its token endpoints as HTTP 200 with an `error`
//! field (`authorization_pending`, `slow_down`, `bad_verification_code`, …) instead of
//! RFC 6749's 400. Every response goes through [`normalise`], which turns such an answer
//! into the 400 it should have been, so the rest of the code (and `oauth2`) sees one
//! shape.

use std::time::Duration;

use oauth2::basic::BasicClient;
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, DeviceAuthorizationUrl,
    PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RequestTokenError, Scope,
    StandardDeviceAuthorizationResponse, TokenResponse, TokenUrl,
};
use rfd_model::auth::ProviderIdentity;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::Value;

use super::OAuthProviderName;
use super::config::{Endpoints, OAuthProviderConfig};

/// How long one call to a provider may take.
const PROVIDER_TIMEOUT: Duration = Duration::from_secs(15);

/// Why a provider call failed. Messages never carry tokens, codes or secrets.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// The provider could not be reached or did not answer in time.
    #[error("the provider could not be reached: {0}")]
    Unreachable(String),
    /// The provider refused, with an OAuth error code.
    #[error("the provider refused: {error}")]
    Refused {
        /// The OAuth error code (`invalid_grant`, `access_denied`, …).
        error: String,
        /// Its description, if any.
        description: Option<String>,
    },
    /// The provider answered something we do not understand.
    #[error("unexpected answer from the provider: {0}")]
    Malformed(String),
    /// A configured URL is not a URL.
    #[error("misconfigured provider: {0}")]
    Config(String),
}

/// A provider's access token. Never printed.
pub struct RemoteToken {
    /// The token.
    pub access_token: SecretString,
}

impl std::fmt::Debug for RemoteToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RemoteToken([redacted])")
    }
}

/// What the provider's device authorization endpoint answered.
pub struct DeviceAuthorization {
    /// The provider's device code (kept server-side only).
    pub device_code: SecretString,
    /// The code the user types.
    pub user_code: String,
    /// Where the user types it.
    pub verification_uri: String,
    /// The same with the code filled in, if the provider offers it.
    pub verification_uri_complete: Option<String>,
    /// Seconds until the device code expires.
    pub expires_in: u64,
    /// Seconds to wait between polls.
    pub interval: u64,
}

/// One poll of the device token endpoint.
#[derive(Debug)]
pub enum DevicePoll {
    /// The user approved: the provider's token.
    Token(RemoteToken),
    /// An OAuth error to pass on (`authorization_pending`, `slow_down`, `access_denied`,
    /// `expired_token`, …), with the provider's body so fields like `interval` survive.
    Error {
        /// The error code.
        error: String,
        /// The provider's JSON body.
        body: Value,
    },
}

/// A configured provider, ready to call.
pub struct Provider<'a> {
    name: OAuthProviderName,
    config: &'a OAuthProviderConfig,
    endpoints: Endpoints,
    http: &'a reqwest::Client,
}

/// The HTTP client for provider calls: rustls, no redirects (an OAuth endpoint that
/// redirects is misconfigured, and following would resend credentials elsewhere), and
/// no idle connections kept: a login makes a handful of calls minutes apart, and a
/// pooled connection the provider has closed in the meantime fails the next POST
/// (which cannot be retried blindly: a code may only be redeemed once).
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(PROVIDER_TIMEOUT)
        .pool_max_idle_per_host(0)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("rfd-api/", env!("CARGO_PKG_VERSION")))
        .build()
        .unwrap_or_else(|err| {
            tracing::error!(error = %err, "cannot build the provider HTTP client; using defaults");
            reqwest::Client::new()
        })
}

/// Turns GitHub's "200 with an `error` field" into a 400, leaving anything else alone.
fn normalise(status: reqwest::StatusCode, body: &[u8]) -> reqwest::StatusCode {
    if status.is_success()
        && let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(body)
        && map.get("error").is_some_and(Value::is_string)
        && !map.contains_key("access_token")
    {
        return reqwest::StatusCode::BAD_REQUEST;
    }
    status
}

/// A transport error, without the URL's query (which may carry codes).
fn transport(err: &reqwest::Error) -> String {
    let mut err_text = err.to_string();
    if let Some(url) = err.url() {
        let mut shown = url.clone();
        shown.set_query(None);
        err_text = err_text.replace(url.as_str(), shown.as_str());
    }
    err_text
}

/// The HTTP error type `oauth2` needs from our client.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct HttpFailure(String);

/// Sends one request for `oauth2`, normalising the answer.
async fn send(
    http: &reqwest::Client,
    request: oauth2::HttpRequest,
) -> Result<oauth2::HttpResponse, HttpFailure> {
    let request = reqwest::Request::try_from(request).map_err(|err| HttpFailure(transport(&err)))?;
    let response = http.execute(request).await.map_err(|err| HttpFailure(transport(&err)))?;
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.bytes().await.map_err(|err| HttpFailure(transport(&err)))?.to_vec();
    let mut out = http::Response::new(Vec::new());
    *out.status_mut() = normalise(status, &body);
    *out.headers_mut() = headers;
    *out.body_mut() = body;
    Ok(out)
}

fn refused<RE: std::error::Error + 'static, T: oauth2::ErrorResponse + 'static>(
    err: RequestTokenError<RE, T>,
) -> ProviderError {
    match err {
        RequestTokenError::ServerResponse(response) => {
            let value = serde_json::to_value(&response).unwrap_or(Value::Null);
            ProviderError::Refused {
                error: value.get("error").and_then(Value::as_str).unwrap_or("unknown_error").to_string(),
                description: value.get("error_description").and_then(Value::as_str).map(str::to_string),
            }
        }
        RequestTokenError::Request(err) => ProviderError::Unreachable(err.to_string()),
        RequestTokenError::Parse(err, _body) => ProviderError::Malformed(err.to_string()),
        RequestTokenError::Other(other) => ProviderError::Malformed(other),
    }
}

fn url_error(what: &str) -> impl Fn(url::ParseError) -> ProviderError + '_ {
    move |err| ProviderError::Config(format!("{what}: {err}"))
}

impl<'a> Provider<'a> {
    /// The provider `name` configured by `config`.
    pub fn new(name: OAuthProviderName, config: &'a OAuthProviderConfig, http: &'a reqwest::Client) -> Self {
        Self { name, endpoints: config.endpoints(name), config, http }
    }

    /// The HTTP client as `oauth2` takes it. Its futures own a handle to the client, so
    /// they live as long as the request handler needs (and are `Send`).
    fn oauth_http(
        &self,
    ) -> impl Fn(
        oauth2::HttpRequest,
    ) -> std::pin::Pin<
        Box<dyn Future<Output = Result<oauth2::HttpResponse, HttpFailure>> + Send + 'static>,
    > + use<> {
        let client = self.http.clone();
        move |request| {
            let client = client.clone();
            Box::pin(async move { send(&client, request).await })
        }
    }

    /// The provider's name.
    pub fn name(&self) -> OAuthProviderName {
        self.name
    }

    fn scopes(&self) -> Vec<Scope> {
        self.config.scopes(self.name).into_iter().map(Scope::new).collect()
    }

    /// Where to send the user: the provider's authorization URL with our `state` and a
    /// fresh PKCE challenge. Returns the URL and the verifier to keep.
    pub fn authorize_url(&self, callback: &str, state: &str) -> Result<(url::Url, String), ProviderError> {
        let client = BasicClient::new(ClientId::new(self.config.client_id.clone()))
            .set_auth_uri(AuthUrl::new(self.endpoints.authorize.clone()).map_err(url_error("authorize_url"))?)
            .set_redirect_uri(RedirectUrl::new(callback.to_string()).map_err(url_error("public_url"))?);
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let state = state.to_string();
        let (url, _state) = client
            .authorize_url(move || CsrfToken::new(state))
            .add_scopes(self.scopes())
            .set_pkce_challenge(challenge)
            .url();
        Ok((url, verifier.secret().clone()))
    }

    /// Exchanges the provider's code (with our verifier) for its token.
    pub async fn exchange_code(
        &self,
        callback: &str,
        code: &str,
        verifier: &str,
    ) -> Result<RemoteToken, ProviderError> {
        let client = BasicClient::new(ClientId::new(self.config.client_id.clone()))
            .set_client_secret(ClientSecret::new(self.config.client_secret.expose_secret().to_string()))
            .set_auth_type(AuthType::RequestBody)
            .set_token_uri(TokenUrl::new(self.endpoints.token.clone()).map_err(url_error("token_url"))?)
            .set_redirect_uri(RedirectUrl::new(callback.to_string()).map_err(url_error("public_url"))?);
        let http = self.oauth_http();
        let token = client
            .exchange_code(AuthorizationCode::new(code.to_string()))
            .set_pkce_verifier(PkceCodeVerifier::new(verifier.to_string()))
            .request_async(&http)
            .await
            .map_err(refused)?;
        Ok(RemoteToken { access_token: SecretString::from(token.access_token().secret().clone()) })
    }

    fn device_credentials(&self) -> (String, String) {
        let id = self.config.device_client_id.clone().unwrap_or_else(|| self.config.client_id.clone());
        let secret = self
            .config
            .device_client_secret
            .as_ref()
            .unwrap_or(&self.config.client_secret)
            .expose_secret()
            .to_string();
        (id, secret)
    }

    /// Asks the provider for a device code.
    pub async fn device_authorization(&self) -> Result<DeviceAuthorization, ProviderError> {
        let (id, secret) = self.device_credentials();
        let client = BasicClient::new(ClientId::new(id))
            .set_client_secret(ClientSecret::new(secret))
            .set_auth_type(AuthType::RequestBody)
            .set_device_authorization_url(
                DeviceAuthorizationUrl::new(self.endpoints.device.clone())
                    .map_err(url_error("device_url"))?,
            );
        let http = self.oauth_http();
        let details: StandardDeviceAuthorizationResponse = client
            .exchange_device_code()
            .add_scopes(self.scopes())
            .request_async(&http)
            .await
            .map_err(refused)?;
        Ok(DeviceAuthorization {
            device_code: SecretString::from(details.device_code().secret().clone()),
            user_code: details.user_code().secret().clone(),
            verification_uri: details.verification_uri().to_string(),
            verification_uri_complete: details.verification_uri_complete().map(|uri| uri.secret().clone()),
            expires_in: details.expires_in().as_secs(),
            interval: details.interval().as_secs(),
        })
    }

    /// Polls the provider's token endpoint once for a device code. (`oauth2` polls in a
    /// loop until done; we proxy each poll of our client instead, so the client keeps
    /// control of its pace and sees `slow_down` itself.)
    pub async fn poll_device(&self, device_code: &str) -> Result<DevicePoll, ProviderError> {
        let (id, secret) = self.device_credentials();
        let form = [
            ("grant_type", rfd_model::login::GRANT_DEVICE_CODE),
            ("device_code", device_code),
            ("client_id", id.as_str()),
            ("client_secret", secret.as_str()),
        ];
        let response = self
            .http
            .post(&self.endpoints.token)
            .header(http::header::ACCEPT, "application/json")
            .form(&form)
            .send()
            .await
            .map_err(|err| ProviderError::Unreachable(transport(&err)))?;
        let status = response.status();
        let body = response.bytes().await.map_err(|err| ProviderError::Unreachable(transport(&err)))?;
        let status = normalise(status, &body);
        let value: Value = serde_json::from_slice(&body).map_err(|_| {
            ProviderError::Malformed(format!("token endpoint answered {status} without JSON"))
        })?;
        if status.is_success() {
            let token = value
                .get("access_token")
                .and_then(Value::as_str)
                .ok_or_else(|| ProviderError::Malformed("token response without access_token".into()))?;
            return Ok(DevicePoll::Token(RemoteToken {
                access_token: SecretString::from(token.to_string()),
            }));
        }
        match value.get("error").and_then(Value::as_str) {
            Some(error) => Ok(DevicePoll::Error { error: error.to_string(), body: value.clone() }),
            None => {
                Err(ProviderError::Malformed(format!("token endpoint answered {status} without an error")))
            }
        }
    }

    /// Who the token's user is: GitHub's `/user` and verified `/user/emails`, or
    /// Google's OpenID Connect userinfo (verified address only).
    pub async fn identity(&self, token: &RemoteToken) -> Result<ProviderIdentity, ProviderError> {
        match self.name {
            OAuthProviderName::Github => self.github_identity(token).await,
            _ => self.oidc_identity(token).await,
        }
    }

    async fn get_json<T: for<'de> Deserialize<'de>>(
        &self,
        url: &str,
        token: &RemoteToken,
    ) -> Result<T, ProviderError> {
        let response = self
            .http
            .get(url)
            .bearer_auth(token.access_token.expose_secret())
            .header(http::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|err| ProviderError::Unreachable(transport(&err)))?;
        let status = response.status();
        if !status.is_success() {
            return Err(ProviderError::Malformed(format!("user information answered {status}")));
        }
        response.json().await.map_err(|err| ProviderError::Malformed(format!("user information: {err}")))
    }

    async fn github_identity(&self, token: &RemoteToken) -> Result<ProviderIdentity, ProviderError> {
        #[derive(Deserialize)]
        struct User {
            id: i64,
            login: String,
        }
        #[derive(Deserialize)]
        struct Email {
            email: String,
            verified: bool,
        }
        let user: User = self.get_json(&format!("{}/user", self.endpoints.user), token).await?;
        let emails: Vec<Email> =
            self.get_json(&format!("{}/user/emails", self.endpoints.user), token).await?;
        Ok(ProviderIdentity {
            provider: self.name.as_str().into(),
            // The reference's external id form, so identities carry over.
            provider_id: format!("github-{}", user.id),
            emails: emails.into_iter().filter(|e| e.verified).map(|e| e.email).collect(),
            display_names: vec![user.login],
        })
    }

    async fn oidc_identity(&self, token: &RemoteToken) -> Result<ProviderIdentity, ProviderError> {
        #[derive(Deserialize)]
        struct UserInfo {
            sub: String,
            email: Option<String>,
            #[serde(default)]
            email_verified: bool,
            name: Option<String>,
        }
        let info: UserInfo = self.get_json(&self.endpoints.user, token).await?;
        Ok(ProviderIdentity {
            provider: self.name.as_str().into(),
            provider_id: format!("{}-{}", self.name, info.sub),
            emails: info.email.filter(|_| info.email_verified).into_iter().collect(),
            display_names: info.name.into_iter().collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn github_errors_in_a_200_become_400() {
        let ok = reqwest::StatusCode::OK;
        assert_eq!(normalise(ok, br#"{"error":"authorization_pending"}"#), reqwest::StatusCode::BAD_REQUEST);
        assert_eq!(normalise(ok, br#"{"access_token":"t","token_type":"bearer"}"#), ok);
        assert_eq!(normalise(ok, b"not json"), ok);
        let bad = reqwest::StatusCode::UNAUTHORIZED;
        assert_eq!(normalise(bad, br#"{"error":"invalid_client"}"#), bad);
    }
}
