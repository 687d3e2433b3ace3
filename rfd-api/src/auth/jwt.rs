//! Access tokens: RS256 JWTs signed by the configured key, verified against every
//! configured key (so keys can be rotated), published as a JWKS.
//!
//! A token names its key by `kid`; one whose algorithm is not RS256 (`none`, HS256 made
//! with the public key, …), whose key is unknown, whose `iss` or `aud` is not this
//! service, that has expired or is not yet valid is refused before anything else is
//! looked at. Whether its `jti` was revoked is checked by the caller against the
//! database.

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::config::ApiConfig;

/// Seconds of clock skew tolerated on `exp` and `nbf`.
const LEEWAY_SECS: u64 = 30;

/// The claims of our access tokens (as the reference service issues them).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Issuer: this service's public URL.
    pub iss: String,
    /// Audience: this service's public URL.
    pub aud: String,
    /// The user id.
    pub sub: Uuid,
    /// The provider identity the user logged in with, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prv: Option<Uuid>,
    /// Space-separated scopes.
    #[serde(default)]
    pub scp: String,
    /// Expiry (seconds since the epoch).
    pub exp: i64,
    /// Not before (seconds since the epoch).
    pub nbf: i64,
    /// The token id, recorded in `api_user_access_token`.
    pub jti: Uuid,
}

/// One key of the JWKS.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Jwk {
    /// Always `RSA`.
    pub kty: String,
    /// The key id.
    pub kid: String,
    /// Always `sig`.
    #[serde(rename = "use")]
    pub use_: String,
    /// The modulus, base64url.
    pub n: String,
    /// The public exponent, base64url.
    pub e: String,
}

/// `/.well-known/jwks.json`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Jwks {
    /// Every key tokens may be verified with.
    pub keys: Vec<Jwk>,
}

/// Why the keys could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// A PEM file could not be read.
    #[error("cannot read key file {path}: {reason}")]
    Unreadable {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// A key is not a usable RSA key.
    #[error("key `{kid}`: {reason}")]
    Invalid {
        /// The key id.
        kid: String,
        /// What is wrong.
        reason: String,
    },
    /// Two keys share a `kid`.
    #[error("duplicate key id `{0}` in [[jwt.keys]]")]
    DuplicateKid(String),
}

/// Why a token was refused. Deliberately coarse: the client is told only that the
/// credentials are invalid; the reason is for logs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not a JWT, or a JWT with an algorithm other than RS256.
    #[error("malformed token or unsupported algorithm")]
    Malformed,
    /// No `kid`, or a `kid` we do not know.
    #[error("unknown signing key")]
    UnknownKey,
    /// Signature, issuer, audience, expiry or not-before check failed.
    #[error("invalid token: {0}")]
    Invalid(String),
    /// No signing key is configured.
    #[error("no signing key is configured ([[jwt.keys]] with `private`)")]
    NoSigner,
}

struct Verifier {
    kid: String,
    key: DecodingKey,
    jwk: Jwk,
}

/// The service's token keys.
pub struct Keys {
    signer: Option<(String, EncodingKey)>,
    verifiers: Vec<Verifier>,
    issuer: String,
    ttl_secs: i64,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keys")
            .field("signer", &self.signer.as_ref().map(|(kid, _)| kid))
            .field("verifiers", &self.verifiers.iter().map(|v| &v.kid).collect::<Vec<_>>())
            .field("issuer", &self.issuer)
            .finish()
    }
}

/// One key as PEM text.
pub struct KeyPem {
    /// The key id.
    pub kid: String,
    /// The public key PEM.
    pub public: String,
    /// The private key PEM, for a signing key.
    pub private: Option<String>,
}

fn read(config: &ApiConfig, path: &Path) -> Result<String, KeyError> {
    let full = config.resolve(path);
    std::fs::read_to_string(&full)
        .map_err(|err| KeyError::Unreadable { path: full.display().to_string(), reason: err.to_string() })
}

impl Keys {
    /// Loads the keys named in `[jwt]`; the issuer and audience are the public URL.
    pub fn load(config: &ApiConfig) -> Result<Self, KeyError> {
        let mut pems = Vec::new();
        for key in &config.jwt.keys {
            pems.push(KeyPem {
                kid: key.kid.clone(),
                public: read(config, &key.public)?,
                private: key.private.as_deref().map(|path| read(config, path)).transpose()?,
            });
        }
        let ttl = i64::try_from(config.jwt.default_expiration_secs).unwrap_or(i64::MAX).max(1);
        Self::from_pems(&pems, &config.api.public_url(), ttl)
    }

    /// Keys from PEM text. Each signing key is checked against its public key by
    /// signing and verifying a probe, so a mismatched pair fails at start-up.
    pub fn from_pems(pems: &[KeyPem], issuer: &str, ttl_secs: i64) -> Result<Self, KeyError> {
        let mut keys = Self { signer: None, verifiers: Vec::new(), issuer: issuer.to_string(), ttl_secs };
        for pem in pems {
            if keys.verifiers.iter().any(|v| v.kid == pem.kid) {
                return Err(KeyError::DuplicateKid(pem.kid.clone()));
            }
            let invalid = |reason: String| KeyError::Invalid { kid: pem.kid.clone(), reason };
            let (n, e) = rsa_public_components(&pem.public).map_err(invalid)?;
            if n.len() < 256 {
                return Err(invalid("RSA keys must have at least 2048 bits".into()));
            }
            keys.verifiers.push(Verifier {
                kid: pem.kid.clone(),
                key: DecodingKey::from_rsa_raw_components(&n, &e),
                jwk: Jwk {
                    kty: "RSA".into(),
                    kid: pem.kid.clone(),
                    use_: "sig".into(),
                    n: URL_SAFE_NO_PAD.encode(&n),
                    e: URL_SAFE_NO_PAD.encode(&e),
                },
            });
            if let Some(private) = &pem.private
                && keys.signer.is_none()
            {
                let key = EncodingKey::from_rsa_pem(private.as_bytes())
                    .map_err(|err| invalid(format!("private key: {err}")))?;
                keys.signer = Some((pem.kid.clone(), key));
                let probe = keys.issue_claims(Uuid::nil(), None, "", Uuid::nil(), Utc::now());
                let token = keys.sign(&probe).map_err(|err| invalid(err.to_string()))?;
                keys.verify(&token)
                    .map_err(|_| invalid("the private key does not match the public key".into()))?;
            }
        }
        Ok(keys)
    }

    /// No keys: every JWT is refused and none can be issued.
    pub fn none(issuer: &str) -> Self {
        Self { signer: None, verifiers: Vec::new(), issuer: issuer.to_string(), ttl_secs: 3600 }
    }

    /// Whether tokens can be issued.
    pub fn can_sign(&self) -> bool {
        self.signer.is_some()
    }

    /// How long issued tokens live, in seconds.
    pub fn ttl_secs(&self) -> i64 {
        self.ttl_secs
    }

    /// The claims of a token for `user`, valid from `now` for the configured lifetime.
    pub fn issue_claims(
        &self,
        user: Uuid,
        provider: Option<Uuid>,
        scope: &str,
        jti: Uuid,
        now: DateTime<Utc>,
    ) -> Claims {
        Claims {
            iss: self.issuer.clone(),
            aud: self.issuer.clone(),
            sub: user,
            prv: provider,
            scp: scope.to_string(),
            exp: now.timestamp().saturating_add(self.ttl_secs),
            nbf: now.timestamp(),
            jti,
        }
    }

    /// Signs claims with the signing key.
    pub fn sign(&self, claims: &Claims) -> Result<String, TokenError> {
        let (kid, key) = self.signer.as_ref().ok_or(TokenError::NoSigner)?;
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(kid.clone());
        jsonwebtoken::encode(&header, claims, key).map_err(|err| TokenError::Invalid(err.to_string()))
    }

    /// Verifies a token's algorithm, key, signature, issuer, audience and validity
    /// period, and returns its claims.
    pub fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Malformed)?;
        if header.alg != Algorithm::RS256 {
            return Err(TokenError::Malformed);
        }
        let kid = header.kid.ok_or(TokenError::UnknownKey)?;
        let verifier = self.verifiers.iter().find(|v| v.kid == kid).ok_or(TokenError::UnknownKey)?;
        let mut validation = Validation::new(Algorithm::RS256);
        validation.algorithms = vec![Algorithm::RS256];
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.issuer]);
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.leeway = LEEWAY_SECS;
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        jsonwebtoken::decode::<Claims>(token, &verifier.key, &validation)
            .map(|data| data.claims)
            .map_err(|err| TokenError::Invalid(err.to_string()))
    }

    /// The public keys, as `/.well-known/jwks.json` serves them.
    pub fn jwks(&self) -> Jwks {
        Jwks { keys: self.verifiers.iter().map(|v| v.jwk.clone()).collect() }
    }
}

/// Whether a bearer value is shaped like a JWT (three base64url parts); anything else
/// is treated as an API key.
pub fn looks_like_jwt(token: &str) -> bool {
    let parts: Vec<&str> = token.split('.').collect();
    parts.len() == 3
        && parts.iter().take(2).all(|p| !p.is_empty())
        && parts.iter().all(|p| p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
}

/// The modulus and exponent (big-endian, without leading zeros) of an RSA public key
/// PEM: SPKI (`PUBLIC KEY`) or PKCS#1 (`RSA PUBLIC KEY`).
fn rsa_public_components(pem: &str) -> Result<(Vec<u8>, Vec<u8>), String> {
    let (label, der) = pem_body(pem)?;
    let pkcs1 = match label.as_str() {
        "RSA PUBLIC KEY" => der,
        "PUBLIC KEY" => {
            let mut spki = Der::new(&der).sequence()?;
            let mut algorithm = spki.sequence()?;
            let oid = algorithm.element(0x06)?;
            // 1.2.840.113549.1.1.1 (rsaEncryption)
            if oid != [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01] {
                return Err("not an RSA public key".into());
            }
            let bits = spki.element(0x03)?;
            match bits.split_first() {
                Some((0, rest)) => rest.to_vec(),
                _ => return Err("malformed public key bit string".into()),
            }
        }
        other => return Err(format!("expected a PUBLIC KEY or RSA PUBLIC KEY PEM, found {other}")),
    };
    let mut key = Der::new(&pkcs1).sequence()?;
    let n = strip_zeros(key.element(0x02)?);
    let e = strip_zeros(key.element(0x02)?);
    if n.is_empty() || e.is_empty() {
        return Err("empty modulus or exponent".into());
    }
    Ok((n, e))
}

fn strip_zeros(bytes: &[u8]) -> Vec<u8> {
    let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    bytes[start..].to_vec()
}

fn pem_body(pem: &str) -> Result<(String, Vec<u8>), String> {
    let mut label = None;
    let mut body = String::new();
    for line in pem.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("-----BEGIN ") {
            label = Some(rest.trim_end_matches('-').to_string());
        } else if line.starts_with("-----END ") {
            break;
        } else if label.is_some() {
            body.push_str(line);
        }
    }
    let label = label.ok_or("not a PEM file")?;
    let der = STANDARD.decode(body).map_err(|_| "PEM body is not base64".to_string())?;
    Ok((label, der))
}

/// A minimal DER reader: enough for the two public key structures above.
struct Der<'a> {
    rest: &'a [u8],
}

impl<'a> Der<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Self { rest: bytes }
    }

    fn element(&mut self, tag: u8) -> Result<&'a [u8], String> {
        let (&found, rest) = self.rest.split_first().ok_or("truncated DER")?;
        if found != tag {
            return Err(format!("expected DER tag {tag:#x}, found {found:#x}"));
        }
        let (&first, mut rest) = rest.split_first().ok_or("truncated DER")?;
        let len = if first < 0x80 {
            usize::from(first)
        } else {
            let count = usize::from(first & 0x7f);
            if count == 0 || count > 4 || rest.len() < count {
                return Err("unsupported DER length".into());
            }
            let (digits, after) = rest.split_at(count);
            rest = after;
            digits.iter().fold(0usize, |acc, b| (acc << 8) | usize::from(*b))
        };
        if rest.len() < len {
            return Err("truncated DER".into());
        }
        let (content, after) = rest.split_at(len);
        self.rest = after;
        Ok(content)
    }

    fn sequence(&mut self) -> Result<Der<'a>, String> {
        Ok(Der::new(self.element(0x30)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jwt_shape() {
        assert!(looks_like_jwt("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln"));
        assert!(looks_like_jwt("eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0."));
        assert!(!looks_like_jwt("0123456789abcdef"));
        assert!(!looks_like_jwt("a.b"));
        assert!(!looks_like_jwt("a b.c.d"));
    }

    #[test]
    fn der_rejects_garbage() {
        assert!(rsa_public_components("not a pem").is_err());
        assert!(
            rsa_public_components("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n").is_err()
        );
        assert!(
            rsa_public_components("-----BEGIN PUBLIC KEY-----\nMAMCAQA=\n-----END PUBLIC KEY-----\n")
                .is_err()
        );
    }
}
