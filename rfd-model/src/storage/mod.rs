//! Blob storage for the files the platform publishes: RFD images and static files, and
//! rendered PDFs.
//!
//! One trait, [`BlobStore`], with two implementations:
//! - [`LocalDirectory`]: a directory on the processor's disk, the embedded default. The API
//!   serves it under a stable URL path (`{public_url}/{key}`).
//! - [`GcsBucket`]: a Google Cloud Storage bucket (or the fake-gcs-server emulator).
//!
//! Every object carries its content type and a *content id*: an opaque label of its bytes
//! chosen by the writer (the git blob id for a file of an RFD folder, the folder's tree id
//! for a PDF). [`BlobStore::has_same`] compares it, so unchanged content is not sent again.
//!
//! Keys are relative, `/`-separated paths (`rfd/0042/<commit>/figures/a.png`); see
//! [`validate_key`] for what is refused.

mod assets;
mod gcs;
mod local;

use std::fmt::Debug;
use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use serde::Deserialize;

pub use assets::{AssetUpload, NewAssetUpload};
pub use gcs::GcsBucket;
pub use local::LocalDirectory;

/// Why a storage call failed.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The key is not a safe relative path.
    #[error("invalid storage key {key:?}: {reason}")]
    InvalidKey {
        /// The key.
        key: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The local directory could not be read or written.
    #[error("local storage, {what} {path}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The storage service refused or failed a request.
    #[error("cloud storage, {what} {key}: {message}")]
    Remote {
        /// What was being done.
        what: &'static str,
        /// The object.
        key: String,
        /// The service's error (never contains credentials).
        message: String,
    },
    /// The backend could not be set up from the configuration.
    #[error("storage configuration: {0}")]
    Config(String),
}

/// A stored object, read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blob {
    /// The bytes.
    pub bytes: Vec<u8>,
    /// Its MIME type, as stored.
    pub content_type: String,
    /// The content id it was stored with, if any.
    pub content_id: Option<String>,
}

/// Which kind of backend a [`BlobStore`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StorageKind {
    /// A directory of the platform's own: writing there is like writing to its database.
    Local,
    /// Google Cloud Storage: a system outside the platform.
    Gcs,
}

/// Where the platform keeps the files it publishes.
#[async_trait]
pub trait BlobStore: Send + Sync + Debug {
    /// Which kind of backend this is.
    fn kind(&self) -> StorageKind;

    /// Stores `bytes` at `key` with its MIME type and content id, replacing any object there.
    async fn put(
        &self,
        key: &str,
        bytes: Vec<u8>,
        content_type: &str,
        content_id: &str,
    ) -> Result<(), StorageError>;

    /// Reads the object at `key`; `None` if there is none.
    async fn get(&self, key: &str) -> Result<Option<Blob>, StorageError>;

    /// Whether an object exists at `key` and was stored with `content_id`.
    async fn has_same(&self, key: &str, content_id: &str) -> Result<bool, StorageError>;

    /// Every key that starts with `prefix`, sorted.
    async fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError>;

    /// Removes the object at `key`. Removing an object that is not there succeeds, so a
    /// retried cleanup does not fail on what it already removed.
    async fn delete(&self, key: &str) -> Result<(), StorageError>;

    /// The URL readers download `key` from.
    fn public_url(&self, key: &str) -> String;
}

/// `[storage]` in the config file.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "backend", rename_all = "lowercase", deny_unknown_fields)]
pub enum StorageConfig {
    /// A local directory, served by the API.
    Local {
        /// The directory (created when missing).
        #[serde(default = "default_dir")]
        dir: PathBuf,
        /// The base URL under which the API serves the directory.
        #[serde(default = "default_local_url")]
        public_url: String,
    },
    /// A Google Cloud Storage bucket.
    Gcs {
        /// The bucket (it must exist).
        bucket: String,
        /// The JSON API endpoint; set it for the emulator (`http://127.0.0.1:4443`).
        #[serde(default)]
        endpoint: Option<String>,
        /// No credentials (the emulator). Otherwise Application Default Credentials.
        #[serde(default)]
        anonymous: bool,
        /// The base URL objects are downloaded from (default
        /// `https://storage.googleapis.com/{bucket}`, or `{endpoint}/{bucket}`).
        #[serde(default)]
        public_url: Option<String>,
    },
}

/// The default local storage directory, relative to the working directory.
pub const DEFAULT_DIR: &str = "target/rfd-storage";
/// The default base URL of the local directory: the API's `/storage` path.
pub const DEFAULT_LOCAL_URL: &str = "http://127.0.0.1:8080/storage";

fn default_dir() -> PathBuf {
    PathBuf::from(DEFAULT_DIR)
}

fn default_local_url() -> String {
    DEFAULT_LOCAL_URL.to_string()
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self::Local { dir: default_dir(), public_url: default_local_url() }
    }
}

impl StorageConfig {
    /// Builds the configured backend (for GCS, loads credentials unless anonymous).
    pub async fn open(&self) -> Result<Arc<dyn BlobStore>, StorageError> {
        Ok(match self {
            Self::Local { dir, public_url } => Arc::new(LocalDirectory::new(dir.clone(), public_url)),
            Self::Gcs { bucket, endpoint, anonymous, public_url } => Arc::new(
                GcsBucket::connect(bucket, endpoint.as_deref(), *anonymous, public_url.as_deref()).await?,
            ),
        })
    }
}

/// Checks that `key` is a relative path that cannot leave its directory: not empty, no
/// leading `/`, no `\`, no empty, `.` or `..` segment, no control character, and not under
/// the local backend's reserved `.meta/`.
pub fn validate_key(key: &str) -> Result<(), StorageError> {
    let invalid = |reason| Err(StorageError::InvalidKey { key: key.to_string(), reason });
    if key.is_empty() {
        return invalid("empty");
    }
    if key.starts_with('/') || key.contains('\\') {
        return invalid("not a relative path");
    }
    if key.chars().any(char::is_control) {
        return invalid("control character");
    }
    if key.split('/').any(|part| part.is_empty() || part == "." || part == "..") {
        return invalid("empty, . or .. segment");
    }
    if key == local::META_DIR || key.starts_with(&format!("{}/", local::META_DIR)) {
        return invalid("reserved");
    }
    Ok(())
}

/// Percent-encodes each segment of a key for use in a URL path.
pub(crate) fn url_path(key: &str) -> String {
    const SEGMENT: &percent_encoding::AsciiSet =
        &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');
    key.split('/')
        .map(|part| percent_encoding::utf8_percent_encode(part, SEGMENT).to_string())
        .collect::<Vec<_>>()
        .join("/")
}

/// The MIME type of a file, from its name (`application/octet-stream` when unknown).
pub fn content_type_for(path: &str) -> String {
    mime_guess::from_path(path).first_or_octet_stream().essence_str().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_stay_inside_the_store() {
        assert!(validate_key("rfd/0001/abc/figures/a.png").is_ok());
        assert!(validate_key("rfd/0001/latest/.gitkeep").is_ok());
        for bad in ["", "/etc/passwd", "a/../b", "a//b", "./a", "a\\b", ".meta/x", ".meta", "a\nb"] {
            assert!(validate_key(bad).is_err(), "{bad:?} refused");
        }
    }

    #[test]
    fn content_types_come_from_the_name() {
        assert_eq!(content_type_for("figures/a.png"), "image/png");
        assert_eq!(content_type_for("a.svg"), "image/svg+xml");
        assert_eq!(content_type_for("x.pdf"), "application/pdf");
        assert_eq!(content_type_for("noext"), "application/octet-stream");
    }

    #[test]
    fn url_paths_are_encoded_per_segment() {
        assert_eq!(url_path("rfd/0001/a b/c#d.png"), "rfd/0001/a%20b/c%23d.png");
    }

    #[test]
    fn the_default_is_a_local_directory() {
        let config: StorageConfig = serde_json::from_value(serde_json::json!({"backend": "local"}))
            .unwrap_or_else(|err| panic!("{err}"));
        assert_eq!(config, StorageConfig::default());
        let gcs: StorageConfig = serde_json::from_value(
            serde_json::json!({"backend": "gcs", "bucket": "b", "endpoint": "http://127.0.0.1:1", "anonymous": true}),
        )
        .unwrap_or_else(|err| panic!("{err}"));
        assert!(matches!(gcs, StorageConfig::Gcs { anonymous: true, .. }));
    }
}
