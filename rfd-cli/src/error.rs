//! The CLI's errors. Each is shown as one line on standard error; none carries the token.

use std::path::PathBuf;

/// Everything that makes a command fail.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("cannot write {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
    #[error("{path} is not a valid config file: {reason}")]
    ConfigParse { path: PathBuf, reason: String },
    #[error("no config directory: set RFD_CONFIG_DIR")]
    NoConfigDir,
    #[error("no API host configured: run `rfd-cli config set host URL` or set RFD_HOST")]
    NoHost,
    #[error("invalid host {host:?}: {reason}")]
    BadHost { host: String, reason: String },
    #[error("{what}: {reason}")]
    BadInput { what: String, reason: String },
    /// The API answered with its error document.
    #[error("{message} ({}HTTP {status})", code.as_ref().map(|c| format!("{c}, ")).unwrap_or_default())]
    Api { status: u16, code: Option<String>, message: String },
    /// The API answered with an error status and something other than its error document.
    #[error("HTTP {status}: {body}")]
    Http { status: u16, body: String },
    #[error("cannot reach the API: {0}")]
    Network(String),
    #[error("unexpected answer from the API: {0}")]
    Response(String),
    #[error("login failed: {0}")]
    Login(String),
}

impl CliError {
    pub fn input(what: impl Into<String>, reason: impl std::fmt::Display) -> Self {
        Self::BadInput { what: what.into(), reason: reason.to_string() }
    }

    /// Turns an SDK error into one line: the API's message and error code when it sent its
    /// error document, otherwise the status and (the start of) the body.
    pub async fn from_sdk<E: ErrorBody>(err: rfd_sdk::Error<E>) -> Self {
        use rfd_sdk::Error;
        match err {
            Error::ErrorResponse(response) => {
                let status = response.status().as_u16();
                let text = response.into_inner().text().await;
                from_status_body(status, &text)
            }
            Error::UnexpectedResponse(response) => {
                let status = response.status().as_u16();
                let text = response.text().await.unwrap_or_default();
                from_status_body(status, &text)
            }
            Error::CommunicationError(err) | Error::ResponseBodyError(err) | Error::InvalidUpgrade(err) => {
                Self::Network(reqwest_reason(&err))
            }
            Error::InvalidResponsePayload(_, err) => Self::Response(err.to_string()),
            Error::InvalidRequest(reason) => Self::input("request", reason),
            Error::Custom(reason) => Self::Response(reason),
        }
    }
}

/// The body of an error answer, typed (the API's error document) or not (a byte stream).
pub trait ErrorBody {
    fn text(self) -> impl std::future::Future<Output = String>;
}

impl ErrorBody for rfd_sdk::types::Error {
    async fn text(self) -> String {
        serde_json::to_string(&self).unwrap_or_default()
    }
}

impl ErrorBody for rfd_sdk::ByteStream {
    async fn text(self) -> String {
        use futures::TryStreamExt as _;
        let chunks: Vec<bytes::Bytes> = self.into_inner().try_collect().await.unwrap_or_default();
        String::from_utf8_lossy(&chunks.concat()).into_owned()
    }
}

/// An error status with its body.
pub fn from_status_body(status: u16, text: &str) -> CliError {
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(body) if body.get("message").is_some() => api_error(status, &body),
        _ => {
            let mut body: String = text.trim().chars().take(200).collect();
            body = body.replace('\n', " ");
            CliError::Http { status, body }
        }
    }
}

fn api_error(status: u16, body: &serde_json::Value) -> CliError {
    let message = body.get("message").and_then(|m| m.as_str()).unwrap_or("no message").replace('\n', " ");
    let code = body.get("error_code").and_then(|c| c.as_str()).map(str::to_string);
    CliError::Api { status, code, message }
}

/// reqwest's error with its causes. The request URL never holds the token (it travels
/// in a header), so showing it is safe.
fn reqwest_reason(err: &reqwest::Error) -> String {
    let mut reason = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        reason.push_str(": ");
        reason.push_str(&cause.to_string());
        source = cause.source();
    }
    reason
}
