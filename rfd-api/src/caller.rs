//! Who is calling. Until the authentication issue lands, a caller is anonymous or an
//! admin holding one of the tokens whose SHA-256 digest is configured.

use dropshot::{ClientErrorStatusCode, HttpError, RequestContext};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::server::ApiContext;

/// The resolved caller of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller {
    /// No credentials.
    Anonymous,
    /// Holds an admin token.
    Admin,
}

impl Caller {
    /// Resolves the caller from `Authorization: Bearer …`. A token that is presented
    /// but unknown is a 401, never a silent downgrade to anonymous.
    pub fn of(rqctx: &RequestContext<ApiContext>) -> Result<Self, HttpError> {
        let Some(value) = rqctx.request.headers().get(http::header::AUTHORIZATION) else {
            return Ok(Self::Anonymous);
        };
        let token = value
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(unauthorized)?;
        let digest = Sha256::digest(token.as_bytes());
        let mut known = 0u8;
        for configured in &rqctx.context().config.api.admin_token_sha256 {
            if let Ok(expected) = hex::decode(configured.trim()) {
                known |= digest.as_slice().ct_eq(&expected).unwrap_u8();
            }
        }
        if known == 1 { Ok(Self::Admin) } else { Err(unauthorized()) }
    }

    /// Fails with 403 unless the caller is an admin.
    pub fn require_admin(self) -> Result<(), HttpError> {
        match self {
            Self::Admin => Ok(()),
            Self::Anonymous => Err(HttpError::for_client_error(
                Some("Forbidden".into()),
                ClientErrorStatusCode::FORBIDDEN,
                "this operation needs an admin token".into(),
            )),
        }
    }
}

fn unauthorized() -> HttpError {
    HttpError::for_client_error(
        Some("Unauthorized".into()),
        ClientErrorStatusCode::UNAUTHORIZED,
        "invalid credentials".into(),
    )
}
