//! OAuth login through GitHub and Google: the authorization-code flow with PKCE
//! ([`code`]) for web clients and the device flow (RFC 8628, [`device`]) for the CLI.
//!
//! Both are proxied: our clients (rows of `oauth_client`) talk to us with our codes,
//! device codes and access tokens; we talk to the provider with our provider
//! application's credentials ([`provider`]). The provider's tokens never leave the
//! server, except to a user holding `RetrieveRemoteAccessToken` who asks for one.
//!
//! The request and response types keep the reference API's names and JSON shapes.

pub mod code;
pub mod config;
pub mod device;
pub mod provider;

use std::fmt;

use dropshot::{ClientErrorStatusCode, ErrorStatusCode, HttpError};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::server::ApiContext;
use config::OAuthProviderConfig;

/// The providers a user can log in with (the reference's names; `zendesk` is accepted
/// in paths but never configured).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OAuthProviderName {
    /// GitHub.
    Github,
    /// Google.
    Google,
    /// Zendesk (never configured here).
    Zendesk,
}

impl OAuthProviderName {
    /// The name used in paths and stored with identities.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Github => "github",
            Self::Google => "google",
            Self::Zendesk => "zendesk",
        }
    }
}

impl fmt::Display for OAuthProviderName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `{provider}` in the path.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct OAuthProviderPath {
    /// The provider.
    pub provider: OAuthProviderName,
}

/// `GET /login/oauth/{provider}/device`: where the CLI starts a device login.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct OAuthProviderDeviceInfo {
    /// The OAuth client id to send.
    pub client_id: Uuid,
    /// Where to request a device code (`POST /login/oauth/{provider}/device`).
    pub auth_url_endpoint: String,
    /// Where to poll for the token (`POST /login/oauth/{provider}/device/exchange`).
    pub token_endpoint: String,
}

/// The authorization-code endpoints of a provider.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct OAuthProviderAuthorizationCodeInfo {
    /// `GET /login/oauth/{provider}/code/authorize`.
    pub auth_url_endpoint: String,
    /// `GET /login/oauth/{provider}/code/callback`.
    pub redirect_endpoint: String,
    /// How the token endpoint takes its body.
    pub token_endpoint_content_type: String,
    /// `POST /login/oauth/{provider}/code/token`.
    pub token_endpoint: String,
}

/// `GET /login/oauth/{provider}/public-pkce`: a public client that logs in with PKCE
/// alone through a local redirect listener.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct OAuthProviderAuthorizationCodePkceInfo {
    /// The public OAuth client's id.
    pub client_id: Uuid,
    /// Where the local listener receives the code.
    pub redirect_endpoint: String,
    /// The local listener's port.
    pub proxy_port: u16,
    /// Our endpoints.
    pub web: OAuthProviderAuthorizationCodeInfo,
}

/// `POST /login/oauth/{provider}/device` (JSON).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct DeviceAuthorizationRequest {
    /// Our OAuth client.
    pub client_id: Uuid,
    /// The scope the access token should carry (space-separated; `full` for all).
    pub scope: Option<String>,
}

/// `POST /login/oauth/{provider}/device/exchange` (form).
#[derive(Clone, Serialize, Deserialize, JsonSchema)]
pub struct DeviceTokenExchangeRequest {
    /// Our OAuth client.
    pub client_id: Uuid,
    /// The device code `POST …/device` returned.
    pub device_code: String,
    /// `urn:ietf:params:oauth:grant-type:device_code`.
    pub grant_type: String,
}

impl fmt::Debug for DeviceTokenExchangeRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeviceTokenExchangeRequest")
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

/// `GET /login/oauth/{provider}/code/authorize` parameters.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct OAuthAuthzCodeQuery {
    /// Our OAuth client.
    pub client_id: Uuid,
    /// PKCE code challenge (RFC 7636). Required for all authorization code flows.
    pub code_challenge: String,
    /// PKCE code challenge method. Must be "S256".
    pub code_challenge_method: String,
    /// Where to send the user back; must be registered for the client, exactly.
    pub redirect_uri: String,
    /// Must be `code`.
    pub response_type: String,
    /// The scope the access token should carry.
    pub scope: Option<String>,
    /// The client's opaque state, echoed back to it.
    pub state: String,
}

/// `GET /login/oauth/{provider}/code/callback` parameters (from the provider).
#[derive(Clone, Deserialize, JsonSchema)]
pub struct OAuthAuthzCodeReturnQuery {
    /// The provider's code.
    pub code: Option<String>,
    /// The provider's error (`access_denied`, …).
    pub error: Option<String>,
    /// The state we sent.
    pub state: Option<String>,
}

/// `POST /login/oauth/{provider}/code/token` query.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct OAuthAuthzCodeExchangeQuery {
    /// Also return the provider's access token (only to users holding
    /// `RetrieveRemoteAccessToken`).
    pub request_idp_token: Option<bool>,
}

/// A secret sent by a client; never printed.
#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub struct SecretString(pub secrecy::SecretString);

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl Serialize for SecretString {
    // Only ever serialized for schema purposes; the value is not written out.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str("[redacted]")
    }
}

impl JsonSchema for SecretString {
    fn schema_name() -> String {
        "SecretString".into()
    }

    fn json_schema(generator: &mut schemars::r#gen::SchemaGenerator) -> schemars::schema::Schema {
        String::json_schema(generator)
    }
}

/// `POST /login/oauth/{provider}/code/token` (form). Client credentials come in the
/// body or as HTTP Basic, not both.
#[derive(Clone, Deserialize, Serialize, JsonSchema)]
pub struct OAuthAuthzCodeExchangeBody {
    /// Our OAuth client (or in the `Authorization` header).
    pub client_id: Option<Uuid>,
    /// Its secret (or in the `Authorization` header; none for the public PKCE client).
    pub client_secret: Option<SecretString>,
    /// The code from the redirect.
    pub code: String,
    /// PKCE code verifier (RFC 7636). Required for all authorization code exchanges.
    pub code_verifier: String,
    /// `authorization_code`.
    pub grant_type: String,
    /// The redirect URI the code was issued for.
    pub redirect_uri: String,
}

impl fmt::Debug for OAuthAuthzCodeExchangeBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuthAuthzCodeExchangeBody")
            .field("client_id", &self.client_id)
            .field("redirect_uri", &self.redirect_uri)
            .finish_non_exhaustive()
    }
}

/// An access token issued at the end of a login (RFC 6749 §5.1).
#[derive(Clone, Serialize, Deserialize, JsonSchema)]
pub struct OAuthAuthzCodeExchangeResponse {
    /// `Bearer`.
    pub token_type: String,
    /// Our access token (a JWT).
    pub access_token: String,
    /// Seconds until it expires.
    pub expires_in: i64,
    /// The scope granted to the access token per RFC 6749 §5.1. An empty string
    /// indicates no permissions. Use "full" for all permissions.
    pub scope: String,
    /// The provider's access token, only when asked for and allowed.
    pub idp_token: Option<String>,
}

impl fmt::Debug for OAuthAuthzCodeExchangeResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuthAuthzCodeExchangeResponse").field("scope", &self.scope).finish_non_exhaustive()
    }
}

/// An OAuth error (RFC 6749 §5.2, RFC 8628 §3.5): what token endpoints answer, so
/// OAuth client libraries understand it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct OAuthError {
    /// `invalid_request`, `invalid_client`, `invalid_grant`, `unsupported_grant_type`,
    /// `invalid_scope`, `authorization_pending`, `slow_down`, `access_denied`,
    /// `expired_token`, `server_error`, `temporarily_unavailable`.
    pub error: String,
    /// A human-readable reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_description: Option<String>,
    /// The HTTP status (not part of the body).
    #[serde(skip)]
    #[schemars(skip)]
    pub status: u16,
}

impl OAuthError {
    /// An error with a status and reason.
    pub fn new(status: u16, error: &str, description: impl Into<String>) -> Self {
        Self { error: error.into(), error_description: Some(description.into()), status }
    }

    /// 400 `invalid_request`.
    pub fn invalid_request(description: impl Into<String>) -> Self {
        Self::new(400, "invalid_request", description)
    }

    /// 401 `invalid_client`: unknown client or wrong secret (which one is not said).
    pub fn invalid_client() -> Self {
        Self::new(401, "invalid_client", "client authentication failed")
    }

    /// 400 `invalid_grant`: the code is unknown, used, expired, or issued to another
    /// client, redirect URI or verifier (which one is not said).
    pub fn invalid_grant() -> Self {
        Self::new(400, "invalid_grant", "the code is invalid, expired or already used")
    }

    /// 400 `unsupported_grant_type`.
    pub fn unsupported_grant_type(expected: &str) -> Self {
        Self::new(400, "unsupported_grant_type", format!("grant_type must be `{expected}`"))
    }

    /// 503 `temporarily_unavailable`.
    pub fn unavailable(description: impl Into<String>) -> Self {
        Self::new(503, "temporarily_unavailable", description)
    }

    /// 500 `server_error` (details are logged by the caller, not returned).
    pub fn server_error() -> Self {
        Self::new(500, "server_error", "the login could not be completed")
    }

    /// The error as an HTTP response, for handlers that answer raw responses.
    pub fn into_response(self) -> http::Response<dropshot::Body> {
        json_response(self.status, &self)
    }
}

impl fmt::Display for OAuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.error_description {
            Some(description) => write!(f, "{}: {description}", self.error),
            None => f.write_str(&self.error),
        }
    }
}

impl From<HttpError> for OAuthError {
    // Dropshot's own refusals (a malformed form, a missing field) become
    // `invalid_request` with the reason, in the OAuth shape.
    fn from(err: HttpError) -> Self {
        let status = err.status_code.as_u16();
        if status == 503 {
            Self::unavailable(err.external_message)
        } else if status >= 500 {
            Self::new(status, "server_error", err.external_message)
        } else {
            Self::new(400, "invalid_request", err.external_message)
        }
    }
}

impl dropshot::HttpResponseError for OAuthError {
    fn status_code(&self) -> ErrorStatusCode {
        ErrorStatusCode::from_u16(self.status).unwrap_or(ErrorStatusCode::INTERNAL_SERVER_ERROR)
    }
}

impl From<rfd_model::StoreError> for OAuthError {
    fn from(err: rfd_model::StoreError) -> Self {
        if err.is_transient() {
            tracing::warn!(error = %err, "database unavailable during login");
            Self::unavailable("the database is unavailable; retry later")
        } else {
            tracing::error!(error = %err, "storage error during login");
            Self::server_error()
        }
    }
}

/// A JSON response with `status` and no caching (RFC 6749 §5.1 asks for `no-store` on
/// anything carrying tokens).
pub fn json_response<T: Serialize>(status: u16, body: &T) -> http::Response<dropshot::Body> {
    let text = serde_json::to_vec(body).unwrap_or_else(|_| b"{}".to_vec());
    let mut response = http::Response::new(dropshot::Body::from(text));
    *response.status_mut() = http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::OK);
    let headers = response.headers_mut();
    headers.insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
    headers.insert(http::header::CACHE_CONTROL, http::HeaderValue::from_static("no-store"));
    response
}

/// A configured provider, or 404 for one that is not.
pub fn configured(ctx: &ApiContext, provider: OAuthProviderName) -> Result<&OAuthProviderConfig, HttpError> {
    let config = match provider {
        OAuthProviderName::Github => ctx.config.auth.github.as_ref(),
        OAuthProviderName::Google => ctx.config.auth.google.as_ref(),
        OAuthProviderName::Zendesk => None,
    };
    config.ok_or_else(|| {
        HttpError::for_client_error(
            Some(crate::error::codes::NOT_FOUND.into()),
            ClientErrorStatusCode::NOT_FOUND,
            format!("login with {provider} is not configured"),
        )
    })
}

/// Our base URL for a provider's login endpoints.
pub fn login_base(ctx: &ApiContext, provider: OAuthProviderName) -> String {
    format!("{}/login/oauth/{provider}", ctx.config.api.public_url())
}
