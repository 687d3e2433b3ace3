//! Secrets we hand out once (API keys, client secrets, link tokens): random, shown to
//! their owner once, stored only as a SHA-256 digest. They carry 320 bits of entropy,
//! so a digest cannot be searched backwards and no slow hash is needed.

/// Random bytes in a secret.
const SECRET_BYTES: usize = 40;

/// A newly generated secret: the value to show once, and the digest to store.
pub struct NewSecret {
    /// The secret, hex (80 characters). Never logged, never stored.
    pub value: String,
    /// Its SHA-256 digest.
    pub hash: [u8; 32],
}

impl std::fmt::Debug for NewSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewSecret").field("value", &"[redacted]").finish_non_exhaustive()
    }
}

/// Generates a secret from the operating system's random source.
pub fn generate() -> NewSecret {
    let mut bytes = [0u8; SECRET_BYTES];
    rand::fill(&mut bytes);
    let value = hex::encode(bytes);
    let hash = digest(&value);
    NewSecret { value, hash }
}

/// The SHA-256 digest a presented secret is looked up by, and constant-time comparison
/// of digests: one definition, shared with the client store in rfd-model.
pub use rfd_model::clients::{digests_equal, secret_digest as digest};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_unique_and_hashed() {
        let a = generate();
        let b = generate();
        assert_ne!(a.value, b.value);
        assert_eq!(a.value.len(), 80);
        assert_eq!(a.hash, digest(&a.value));
        assert!(digests_equal(&a.hash, &digest(&a.value)));
        assert!(!digests_equal(&a.hash, &b.hash));
        assert!(!format!("{a:?}").contains(&a.value));
    }
}
