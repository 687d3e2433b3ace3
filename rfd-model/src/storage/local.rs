//! [`LocalDirectory`]: blobs as files under one directory.

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::{Blob, BlobStore, StorageError, StorageKind, url_path, validate_key};

/// The directory (inside the storage directory) holding each object's content type and
/// content id, so the served tree holds only the objects themselves.
pub(crate) const META_DIR: &str = ".meta";

/// A directory of the platform's own, served by the API under `public_url`.
#[derive(Debug, Clone)]
pub struct LocalDirectory {
    root: PathBuf,
    public_url: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct Meta {
    content_type: String,
    content_id: String,
}

fn io<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> StorageError + 'a {
    move |source| StorageError::Io { what, path: path.to_path_buf(), source }
}

impl LocalDirectory {
    /// Storage in `root` (created on first write), linked as `{public_url}/{key}`.
    pub fn new(root: PathBuf, public_url: &str) -> Self {
        Self { root, public_url: public_url.trim_end_matches('/').to_string() }
    }

    /// The directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The file holding the object at `key` (after checking the key).
    pub fn path_of(&self, key: &str) -> Result<PathBuf, StorageError> {
        validate_key(key)?;
        Ok(self.root.join(key))
    }

    fn meta_path(&self, key: &str) -> PathBuf {
        self.root.join(META_DIR).join(format!("{key}.json"))
    }

    fn read_meta(&self, key: &str) -> Result<Option<Meta>, StorageError> {
        let path = self.meta_path(key);
        match std::fs::read(&path) {
            Ok(bytes) => Ok(serde_json::from_slice(&bytes).ok()),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(err) => Err(io("reading", &path)(err)),
        }
    }
}

/// Writes `bytes` to `path` through a temporary file and a rename, so a reader never sees
/// a half-written file.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), StorageError> {
    let parent = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(io("creating", parent))?;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = parent.join(format!(".{name}.{:08x}.tmp", rand_suffix()));
    std::fs::write(&tmp, bytes).map_err(io("writing", &tmp))?;
    std::fs::rename(&tmp, path).map_err(|err| {
        let _ = std::fs::remove_file(&tmp);
        io("renaming to", path)(err)
    })
}

fn rand_suffix() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos()),
    );
    hasher.finish() as u32
}

fn walk(root: &Path, dir: &Path, prefix: &str, out: &mut Vec<String>) -> Result<(), StorageError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(err) => return Err(io("listing", dir)(err)),
    };
    for entry in entries {
        let entry = entry.map_err(io("listing", dir))?;
        let path = entry.path();
        let Ok(relative) = path.strip_prefix(root) else { continue };
        let key = relative.to_string_lossy().replace('\\', "/");
        if key == META_DIR {
            continue;
        }
        if entry.file_type().map_err(io("listing", &path))?.is_dir() {
            // Descend only where keys under the prefix can be.
            let dir_key = format!("{key}/");
            if dir_key.starts_with(prefix) || prefix.starts_with(&dir_key) {
                walk(root, &path, prefix, out)?;
            }
        } else if key.starts_with(prefix) && !is_temporary(&path) {
            out.push(key);
        }
    }
    Ok(())
}

fn remove_if_present(path: &Path) -> Result<(), StorageError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(err) => Err(io("removing", path)(err)),
    }
}

/// Removes the empty directories above `path`, up to (not including) `root`. A directory
/// that is not empty (or cannot be removed) ends it: it holds other objects.
fn prune_empty_dirs(root: &Path, path: &Path) {
    let mut dir = path.parent();
    while let Some(current) = dir {
        if current == root || !current.starts_with(root) || std::fs::remove_dir(current).is_err() {
            break;
        }
        dir = current.parent();
    }
}

fn is_temporary(path: &Path) -> bool {
    path.file_name().is_some_and(|name| {
        let name = name.to_string_lossy();
        name.starts_with('.') && name.ends_with(".tmp")
    })
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StorageError> + Send + 'static,
) -> Result<T, StorageError> {
    tokio::task::spawn_blocking(f).await.map_err(|err| StorageError::Io {
        what: "running",
        path: PathBuf::new(),
        source: std::io::Error::other(err.to_string()),
    })?
}

#[async_trait]
impl BlobStore for LocalDirectory {
    fn kind(&self) -> StorageKind {
        StorageKind::Local
    }

    async fn put(
        &self,
        key: &str,
        bytes: Vec<u8>,
        content_type: &str,
        content_id: &str,
    ) -> Result<(), StorageError> {
        let path = self.path_of(key)?;
        let meta_path = self.meta_path(key);
        let meta =
            serde_json::to_vec(&Meta { content_type: content_type.into(), content_id: content_id.into() })
                .map_err(|err| StorageError::Io {
                    what: "encoding",
                    path: meta_path.clone(),
                    source: err.into(),
                })?;
        blocking(move || {
            write_atomically(&path, &bytes)?;
            write_atomically(&meta_path, &meta)
        })
        .await
    }

    async fn get(&self, key: &str) -> Result<Option<Blob>, StorageError> {
        let path = self.path_of(key)?;
        let this = self.clone();
        let key = key.to_string();
        blocking(move || {
            let bytes = match std::fs::read(&path) {
                Ok(bytes) => bytes,
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                Err(err) => return Err(io("reading", &path)(err)),
            };
            let meta = this.read_meta(&key)?;
            Ok(Some(Blob {
                bytes,
                content_type: meta
                    .as_ref()
                    .map_or_else(|| super::content_type_for(&key), |meta| meta.content_type.clone()),
                content_id: meta.map(|meta| meta.content_id),
            }))
        })
        .await
    }

    async fn has_same(&self, key: &str, content_id: &str) -> Result<bool, StorageError> {
        let path = self.path_of(key)?;
        let this = self.clone();
        let key = key.to_string();
        let content_id = content_id.to_string();
        blocking(move || {
            if !path.is_file() {
                return Ok(false);
            }
            Ok(this.read_meta(&key)?.is_some_and(|meta| meta.content_id == content_id))
        })
        .await
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        let root = self.root.clone();
        let prefix = prefix.to_string();
        blocking(move || {
            let mut keys = Vec::new();
            walk(&root, &root, &prefix, &mut keys)?;
            keys.sort();
            Ok(keys)
        })
        .await
    }

    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        let path = self.path_of(key)?;
        let meta_path = self.meta_path(key);
        let root = self.root.clone();
        blocking(move || {
            remove_if_present(&path)?;
            remove_if_present(&meta_path)?;
            // Directories left empty go too, so the served tree shows no trace of the file.
            prune_empty_dirs(&root, &path);
            prune_empty_dirs(&root, &meta_path);
            Ok(())
        })
        .await
    }

    fn public_url(&self, key: &str) -> String {
        format!("{}/{}", self.public_url, url_path(key))
    }
}
