//! Magic-link login (`POST /login/magic/{channel}/send` and `…/exchange`).
//!
//! `send`: the magic-link client is found by the id its secret carries and the secret
//! verified in constant time; the redirect URI must be registered exactly; the attempt
//! (nonce digest, recipient, expiry of at most 15 minutes, scope) is stored before the
//! email is sent, and marked `sent` or `failed` after. The email goes through SMTP
//! (`[magic_link.smtp]`, lettre over rustls); without SMTP (development) the link is
//! written to the log instead.
//!
//! `exchange`: one locked state transition (single use) that checks the nonce, the
//! expiry and the recipient; the user is found or created as provider `magic-link`
//! (address verified by the click), mappers are applied, and an access token issued.

use std::time::Duration;

use chrono::Utc;
use dropshot::HttpError;
use lettre::message::{Mailbox, header::ContentType};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use rfd_model::auth::ProviderIdentity;
use rfd_model::clients::{ClientKind, secret_digest};
use rfd_model::magic_link::{ExchangeRefusal, NewMagicLinkAttempt};
use schemars::JsonSchema;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::auth::login::{LoginError, issue_access_token, register_login};
use crate::error::{bad_request, not_found, store_error, unauthorized, unavailable};
use crate::permissions::Scope;
use crate::server::ApiContext;

/// The provider name magic-link users are registered under.
pub const PROVIDER: &str = "magic-link";

/// The longest a link may live (the reference's cap, kept).
pub const MAX_EXPIRES_IN_SECS: i64 = 15 * 60;

const DEFAULT_FROM: &str = "RFD <rfd@localhost>";
const DEFAULT_SUBJECT: &str = "Your sign-in link";
const DEFAULT_TEXT: &str = "Use this link to sign in:\n\n{url}\n\nIt works once, for {minutes} minutes. If you did not ask for it, ignore this email.\n";

/// `[magic_link]`
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MagicLinkSection {
    /// The mail server. Without it (development) links are written to the log.
    pub smtp: Option<SmtpConfig>,
    /// One template per channel (`{channel}` in the path). Without any, every channel
    /// uses the built-in template.
    pub templates: Vec<MagicLinkTemplate>,
}

/// `[[magic_link.templates]]`: the email of one channel.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MagicLinkTemplate {
    /// The channel name.
    pub channel: String,
    /// The sender (`Name <address>`).
    #[serde(default = "default_from")]
    pub from: String,
    /// The subject.
    #[serde(default = "default_subject")]
    pub subject: String,
    /// The plain-text body; `{url}` is replaced by the link, `{minutes}` by its lifetime.
    #[serde(default = "default_text")]
    pub text: String,
}

fn default_from() -> String {
    DEFAULT_FROM.into()
}
fn default_subject() -> String {
    DEFAULT_SUBJECT.into()
}
fn default_text() -> String {
    DEFAULT_TEXT.into()
}

/// How to talk TLS to the mail server.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// Plain text (a local relay only).
    None,
    /// STARTTLS, required (port 587).
    #[default]
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
}

/// `[magic_link.smtp]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    /// The server's host name.
    pub host: String,
    /// The port (default: 25 for `none`, 587 for `starttls`, 465 for `tls`).
    pub port: Option<u16>,
    /// `none`, `starttls` (default) or `tls`.
    #[serde(default)]
    pub tls: SmtpTls,
    /// User name, if the server wants one.
    pub username: Option<String>,
    /// Password (prefer `password_env`); never logged.
    pub password: Option<SecretString>,
    /// An environment variable holding the password.
    pub password_env: Option<String>,
    /// Seconds to wait for the server.
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
}

fn default_timeout() -> u64 {
    10
}

impl MagicLinkSection {
    /// The template for `channel`: the configured one, or the built-in one when none
    /// is configured at all.
    pub fn template(&self, channel: &str) -> Option<MagicLinkTemplate> {
        if self.templates.is_empty() {
            return Some(MagicLinkTemplate {
                channel: channel.to_string(),
                from: default_from(),
                subject: default_subject(),
                text: default_text(),
            });
        }
        self.templates.iter().find(|t| t.channel == channel).cloned()
    }
}

/// How the link is delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum MagicLinkMedium {
    /// Email.
    Email,
}

/// `POST /login/magic/{channel}/send`
#[derive(Deserialize, Serialize, JsonSchema)]
pub struct MagicLinkSendRequest {
    /// A secret of the magic-link client.
    pub secret: String,
    /// `email`.
    pub medium: MagicLinkMedium,
    /// The address to send the link to.
    pub recipient: String,
    /// Where the link points (`?code=…` is added); must be registered for the client.
    #[schemars(url)]
    pub redirect_uri: String,
    /// Seconds the link works (at most 900).
    pub expires_in: i64,
    /// The scope of the access token the link is exchanged for.
    pub scope: Option<String>,
}

impl std::fmt::Debug for MagicLinkSendRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MagicLinkSendRequest")
            .field("secret", &"[redacted]")
            .field("recipient", &self.recipient)
            .field("redirect_uri", &self.redirect_uri)
            .finish_non_exhaustive()
    }
}

/// What `send` answers.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct MagicLinkSendResponse {
    /// The attempt, to be named at exchange.
    pub attempt_id: Uuid,
}

/// `POST /login/magic/{channel}/exchange`
#[derive(Deserialize, Serialize, JsonSchema)]
pub struct MagicLinkExchangeRequest {
    /// The attempt `send` answered with.
    pub attempt_id: Uuid,
    /// The address the link was sent to.
    pub recipient: String,
    /// The `code` from the link.
    pub secret: String,
}

impl std::fmt::Debug for MagicLinkExchangeRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MagicLinkExchangeRequest")
            .field("attempt_id", &self.attempt_id)
            .field("secret", &"[redacted]")
            .finish_non_exhaustive()
    }
}

/// An access token for the magic link.
#[derive(Serialize, Deserialize, JsonSchema)]
pub struct MagicLinkExchangeResponse {
    /// `Bearer`.
    pub token_type: String,
    /// The access token (JWT).
    pub access_token: String,
    /// Seconds until it expires.
    pub expires_in: i64,
}

impl std::fmt::Debug for MagicLinkExchangeResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MagicLinkExchangeResponse")
            .field("access_token", &"[redacted]")
            .finish_non_exhaustive()
    }
}

/// A `{channel}` in the path.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct ChannelPath {
    /// The channel (template) name.
    pub channel: String,
}

fn login_error(err: LoginError) -> HttpError {
    match err {
        LoginError::Store(err) => store_error(err),
        LoginError::Token(err) => {
            tracing::error!(error = %err, "access token could not be issued");
            unavailable("access tokens cannot be issued right now")
        }
    }
}

/// Sends a magic link.
pub async fn send(
    ctx: &ApiContext,
    channel: &str,
    request: MagicLinkSendRequest,
) -> Result<MagicLinkSendResponse, HttpError> {
    let section = &ctx.config.magic_link;
    let template = section.template(channel).ok_or_else(|| not_found("magic-link channel"))?;
    let address: lettre::Address =
        request.recipient.trim().parse().map_err(|_| bad_request("recipient is not an email address"))?;
    if request.expires_in <= 0 {
        return Err(bad_request("expires_in must be a positive number of seconds"));
    }
    let expires_in = request.expires_in.min(MAX_EXPIRES_IN_SECS);
    let scope = request.scope.unwrap_or_default();
    Scope::parse(&scope).map_err(|err| bad_request(format!("invalid scope: {err}")))?;
    let store = &ctx.store;
    let client = store
        .find_client_by_secret(ClientKind::MagicLink, &request.secret)
        .await
        .map_err(store_error)?
        .ok_or_else(unauthorized)?;
    if !store
        .redirect_uri_is_registered(ClientKind::MagicLink, client, &request.redirect_uri)
        .await
        .map_err(store_error)?
    {
        return Err(bad_request("redirect_uri is not registered for this client"));
    }
    let mut link = url::Url::parse(&request.redirect_uri)
        .map_err(|_| bad_request("redirect_uri is not an absolute URL"))?;
    let mut nonce_bytes = [0u8; 32];
    rand::fill(&mut nonce_bytes);
    let nonce = hex::encode(nonce_bytes);
    link.query_pairs_mut().append_pair("code", &nonce);

    // The attempt exists before anything leaves the platform.
    let attempt = store
        .create_magic_link_attempt(&NewMagicLinkAttempt {
            id: Uuid::new_v4(),
            client_id: client,
            medium: "email".into(),
            channel: channel.to_string(),
            recipient: address.to_string(),
            redirect_uri: request.redirect_uri.clone(),
            scope,
            nonce_hash: secret_digest(&nonce),
            expires_at: Utc::now() + chrono::Duration::seconds(expires_in),
        })
        .await
        .map_err(store_error)?;
    let outcome = deliver(section, &template, &address, link.as_str(), expires_in).await;
    store
        .finish_magic_link_send(attempt.id, outcome.as_ref().err().map(String::as_str))
        .await
        .map_err(store_error)?;
    match outcome {
        Ok(()) => {
            tracing::info!(attempt.id = %attempt.id, client.id = %client, "magic link sent");
            Ok(MagicLinkSendResponse { attempt_id: attempt.id })
        }
        Err(reason) => {
            tracing::warn!(attempt.id = %attempt.id, error = %reason, "magic link could not be sent");
            Err(unavailable("the sign-in link could not be sent; try again later"))
        }
    }
}

/// Hands the email to the mail server, or logs the link when none is configured. The
/// error never contains the link.
async fn deliver(
    section: &MagicLinkSection,
    template: &MagicLinkTemplate,
    to: &lettre::Address,
    link: &str,
    expires_in: i64,
) -> Result<(), String> {
    let Some(smtp) = &section.smtp else {
        // Development only: there is no mail server, so the link goes to the log.
        tracing::info!(recipient = %to, link = %link, "magic link (no [magic_link.smtp] configured)");
        return Ok(());
    };
    let from: Mailbox = template
        .from
        .parse()
        .map_err(|err| format!("invalid `from` of channel {}: {err}", template.channel))?;
    let body =
        template.text.replace("{url}", link).replace("{minutes}", &((expires_in + 59) / 60).to_string());
    let message = Message::builder()
        .from(from)
        .to(Mailbox::new(None, to.clone()))
        .subject(template.subject.clone())
        .header(ContentType::TEXT_PLAIN)
        .body(body)
        .map_err(|err| format!("cannot build the message: {err}"))?;
    let builder = match smtp.tls {
        SmtpTls::None => {
            AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&smtp.host).port(smtp.port.unwrap_or(25))
        }
        SmtpTls::Starttls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&smtp.host)
            .map_err(|err| format!("smtp: {err}"))?
            .port(smtp.port.unwrap_or(587)),
        SmtpTls::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&smtp.host)
            .map_err(|err| format!("smtp: {err}"))?
            .port(smtp.port.unwrap_or(465)),
    };
    let mut builder = builder.timeout(Some(Duration::from_secs(smtp.timeout_secs.max(1))));
    if let Some(username) = &smtp.username {
        let password = match (&smtp.password, &smtp.password_env) {
            (Some(password), _) => password.expose_secret().to_string(),
            (None, Some(var)) => {
                std::env::var(var).map_err(|_| format!("environment variable {var} is not set"))?
            }
            (None, None) => String::new(),
        };
        builder = builder.credentials(Credentials::new(username.clone(), password));
    }
    builder.build().send(message).await.map(|_| ()).map_err(|err| format!("smtp: {err}"))
}

/// Exchanges a magic link's code for an access token.
pub async fn exchange(
    ctx: &ApiContext,
    channel: &str,
    request: MagicLinkExchangeRequest,
) -> Result<MagicLinkExchangeResponse, HttpError> {
    // Refuse before the link is used up if no token could be issued anyway.
    if !ctx.keys.can_sign() {
        return Err(unavailable("access tokens cannot be issued right now"));
    }
    let store = &ctx.store;
    let attempt = store
        .exchange_magic_link_attempt(
            request.attempt_id,
            channel,
            &secret_digest(&request.secret),
            &request.recipient,
        )
        .await
        .map_err(store_error)?
        .map_err(|refusal| match refusal {
            ExchangeRefusal::Invalid => unauthorized(),
            other => bad_request(other.to_string()),
        })?;
    let address = attempt.recipient.to_ascii_lowercase();
    let identity = ProviderIdentity {
        provider: PROVIDER.into(),
        provider_id: address.clone(),
        emails: vec![address.clone()],
        display_names: Vec::new(),
    };
    let user = register_login(store, &identity).await.map_err(login_error)?;
    let provider = store
        .user_providers(user.id, 100)
        .await
        .map_err(store_error)?
        .into_iter()
        .find(|p| p.provider == PROVIDER && p.provider_id == address)
        .map(|p| p.id);
    let issued =
        issue_access_token(store, &ctx.keys, user.id, provider, &attempt.scope).await.map_err(login_error)?;
    tracing::info!(attempt.id = %attempt.id, api_user.id = %user.id, token.jti = %issued.jti, "magic link exchanged");
    Ok(MagicLinkExchangeResponse {
        token_type: "Bearer".into(),
        access_token: issued.token,
        expires_in: issued.expires_in,
    })
}
