//! The one mapping from domain errors to HTTP answers, with stable `error_code`s.

use dropshot::{ClientErrorStatusCode, ErrorStatusCode, HttpError};
use rfd_model::StoreError;

/// Stable error codes clients may match on.
pub mod codes {
    /// The named resource does not exist (or the caller may not see it).
    pub const NOT_FOUND: &str = "NotFound";
    /// The request conflicts with existing state.
    pub const CONFLICT: &str = "Conflict";
    /// A dependency (the database) is unavailable; retry later.
    pub const UNAVAILABLE: &str = "ServiceUnavailable";
    /// An unexpected failure on our side.
    pub const INTERNAL: &str = "Internal";
    /// The request is malformed.
    pub const BAD_REQUEST: &str = "BadRequest";
    /// The RFD repository (the source writes go through) failed in an unexpected way.
    pub const SOURCE_FAILED: &str = "SourceFailed";
}

/// Converts a storage error into the answer a client should see. Internal details are
/// logged, not returned.
pub fn store_error(err: StoreError) -> HttpError {
    match err {
        StoreError::NotFound { entity } => HttpError::for_client_error(
            Some(codes::NOT_FOUND.into()),
            ClientErrorStatusCode::NOT_FOUND,
            format!("{entity} not found"),
        ),
        StoreError::Conflict { constraint } => HttpError::for_client_error(
            Some(codes::CONFLICT.into()),
            ClientErrorStatusCode::CONFLICT,
            format!("conflicts with an existing resource ({constraint})"),
        ),
        StoreError::Invalid { constraint } => HttpError::for_client_error(
            Some(codes::BAD_REQUEST.into()),
            ClientErrorStatusCode::BAD_REQUEST,
            format!("invalid reference or value ({constraint})"),
        ),
        StoreError::Unavailable(reason) => {
            tracing::warn!(error = %reason, "database unavailable");
            unavailable("the database is unavailable; retry later")
        }
        other => {
            tracing::error!(error = %other, "storage error");
            HttpError {
                status_code: ErrorStatusCode::INTERNAL_SERVER_ERROR,
                error_code: Some(codes::INTERNAL.into()),
                external_message: "internal error".into(),
                internal_message: other.to_string(),
                headers: None,
            }
        }
    }
}

/// A 503 with a message for the client.
pub fn unavailable(message: &str) -> HttpError {
    HttpError {
        status_code: ErrorStatusCode::SERVICE_UNAVAILABLE,
        error_code: Some(codes::UNAVAILABLE.into()),
        external_message: message.into(),
        internal_message: message.into(),
        headers: None,
    }
}

/// 401: the presented credentials are missing where required, unknown, expired or
/// revoked. The reason is never given to the client.
pub fn unauthorized() -> HttpError {
    HttpError::for_client_error(
        Some("Unauthorized".into()),
        ClientErrorStatusCode::UNAUTHORIZED,
        "invalid credentials".into(),
    )
}

/// 403: the caller is known but lacks a permission.
pub fn forbidden() -> HttpError {
    HttpError::for_client_error(
        Some("Forbidden".into()),
        ClientErrorStatusCode::FORBIDDEN,
        "the caller does not have the permission this operation needs".into(),
    )
}

/// 404 for `entity`.
pub fn not_found(entity: &str) -> HttpError {
    HttpError::for_client_error(
        Some(codes::NOT_FOUND.into()),
        ClientErrorStatusCode::NOT_FOUND,
        format!("{entity} not found"),
    )
}

/// 400 with a reason.
pub fn bad_request(message: impl Into<String>) -> HttpError {
    HttpError::for_client_error(
        Some(codes::BAD_REQUEST.into()),
        ClientErrorStatusCode::BAD_REQUEST,
        message.into(),
    )
}

/// 409 with a reason.
pub fn conflict(message: impl Into<String>) -> HttpError {
    HttpError::for_client_error(Some(codes::CONFLICT.into()), ClientErrorStatusCode::CONFLICT, message.into())
}

/// Converts a failure of the RFD source (the repository writes go to) into the answer a
/// client should see: 404 for what the repository does not have, 409 when the RFD changed
/// underneath the write, 503 when the repository is unreachable, rate limited or refuses
/// the platform's credentials (the details are logged, never returned).
pub fn source_error(err: rfd_model::source::SourceError) -> HttpError {
    use rfd_model::source::SourceError;
    match err {
        SourceError::NotFound(what) => not_found(&what),
        SourceError::Conflict(reason) => {
            tracing::info!(reason = %reason, "write lost a race in the RFD source");
            conflict("the RFD changed in the repository while it was being written; read it again and retry")
        }
        SourceError::Auth(reason) => {
            tracing::error!(reason = %reason, "the RFD source refused the platform's credentials");
            unavailable("the RFD repository refused the platform's credentials; retry later")
        }
        SourceError::RateLimited { retry_after } => {
            tracing::warn!(?retry_after, "the RFD source is rate limiting");
            unavailable("the RFD repository is rate limiting the platform; retry later")
        }
        SourceError::Transient(reason) => {
            tracing::warn!(reason = %reason, "the RFD source is unavailable");
            unavailable("the RFD repository is unavailable; retry later")
        }
        SourceError::Other(reason) => {
            tracing::error!(reason = %reason, "the RFD source failed");
            HttpError {
                status_code: ErrorStatusCode::BAD_GATEWAY,
                error_code: Some(codes::SOURCE_FAILED.into()),
                external_message: "the RFD repository answered unexpectedly".into(),
                internal_message: reason,
                headers: None,
            }
        }
    }
}
