//! `CopyImagesToStorage`: copies every file of the RFD folder except the README (images,
//! diagrams, attachments) to blob storage, with its content type.
//!
//! - A file's bytes are uploaded once, as `rfd/NNNN/<commit>/<path>` under the commit of
//!   the first revision that had them; `rfd_asset` records for every revision which
//!   object holds each of its files, so a historic revision keeps its own images and an
//!   unchanged file is never uploaded again (compared by git blob id).
//! - The RFD's latest revision is also mirrored at `rfd/NNNN/latest/<path>`, a stable link
//!   for documents and readers; again only files whose blob changed are uploaded, and a
//!   file removed from the RFD has its `latest` object deleted. The per-commit objects
//!   stay: historic revisions still point at them.
//! - Google Cloud Storage is outside the platform: written in `write` mode only. The local
//!   directory is the platform's own storage, like its database: written in every mode.
//! - Any failure stops the attempt, so the queue retries it; nothing fails silently.

use std::collections::HashSet;
use std::sync::Arc;

use async_trait::async_trait;
use rfd_model::source::SourceFile;
use rfd_model::storage::{BlobStore, NewAssetUpload, StorageKind, content_type_for, validate_key};

use super::{Action, ActionContext, ActionError, UpdateMode};

/// See the module documentation.
pub struct CopyImagesToStorage {
    storage: Option<Arc<dyn BlobStore>>,
}

impl CopyImagesToStorage {
    /// Copies into `storage`; with `None` the action does nothing.
    pub fn new(storage: Option<Arc<dyn BlobStore>>) -> Self {
        Self { storage }
    }
}

fn stop(what: &str) -> impl FnOnce(String) -> ActionError + '_ {
    move |err| ActionError::Stop(format!("{what}: {err}"))
}

/// Whether a storage backend may be written in this mode.
pub(super) fn may_write(storage: &dyn BlobStore, mode: UpdateMode) -> bool {
    storage.kind() == StorageKind::Local || mode == UpdateMode::Write
}

/// The RFD's folder in storage: `rfd/0042`.
pub(super) fn rfd_prefix(number: i32) -> String {
    format!("rfd/{number:04}")
}

/// The file's bytes, read from the source once.
async fn bytes_of<'a>(
    ctx: &ActionContext<'_>,
    file: &SourceFile,
    cache: &'a mut Option<Vec<u8>>,
) -> Result<&'a [u8], ActionError> {
    if cache.is_none() {
        let path = format!("{}/{}", ctx.source.location().rfd_path(ctx.number), file.path);
        let bytes = ctx
            .source
            .read_file(&path, &ctx.commit.sha)
            .await
            .map_err(|err| ActionError::source(&format!("reading {}", file.path), err))?;
        *cache = Some(bytes);
    }
    Ok(cache.as_deref().unwrap_or_default())
}

#[async_trait]
impl Action for CopyImagesToStorage {
    fn name(&self) -> &'static str {
        "CopyImagesToStorage"
    }

    async fn run(&self, ctx: &mut ActionContext<'_>) -> Result<(), ActionError> {
        let Some(storage) = self.storage.as_deref() else {
            tracing::debug!("no storage configured: images not copied");
            return Ok(());
        };
        if !may_write(storage, ctx.mode) {
            tracing::info!(rfd.number = ctx.number, "read mode: images not copied to cloud storage");
            return Ok(());
        }
        let is_latest = ctx
            .store
            .get_rfd(ctx.number)
            .await
            .map_err(|err| stop("reading the RFD")(err.to_string()))?
            .is_some_and(|rfd| rfd.latest_revision_id == Some(ctx.revision.id));
        let prefix = rfd_prefix(ctx.number);
        let mut uploaded = 0usize;
        // The `latest` keys this revision has; any other object there is of a removed file.
        let mut latest_keys = HashSet::new();
        for file in ctx.folder.files.clone() {
            let key = format!("{prefix}/{}/{}", ctx.commit.sha, file.path);
            let latest_key = format!("{prefix}/latest/{}", file.path);
            if validate_key(&key).is_err() {
                tracing::warn!(path = %file.path, "a file name that cannot be a storage key; skipped");
                continue;
            }
            let content_type = content_type_for(&file.path);
            let mut bytes = None;

            // The object holding these bytes: an earlier revision's, when it is still there.
            let known = ctx
                .store
                .find_asset(ctx.rfd.id, &file.path, &file.sha)
                .await
                .map_err(|err| stop("reading rfd_asset")(err.to_string()))?;
            let mut holder = None;
            if let Some(known) = known
                && storage
                    .has_same(&known.storage_key, &file.sha)
                    .await
                    .map_err(|e| stop("storage")(e.to_string()))?
            {
                holder = Some(known.storage_key);
            }
            let holder = match holder {
                Some(key) => key,
                None => {
                    if !storage.has_same(&key, &file.sha).await.map_err(|e| stop("storage")(e.to_string()))? {
                        let data = bytes_of(ctx, &file, &mut bytes).await?.to_vec();
                        storage
                            .put(&key, data, &content_type, &file.sha)
                            .await
                            .map_err(|err| stop("uploading")(err.to_string()))?;
                        uploaded += 1;
                    }
                    key
                }
            };
            ctx.store
                .record_asset(&NewAssetUpload {
                    rfd_revision_id: ctx.revision.id,
                    rfd_id: ctx.rfd.id,
                    path: file.path.clone(),
                    blob_sha: file.sha.clone(),
                    storage_key: holder,
                    content_type: content_type.clone(),
                })
                .await
                .map_err(|err| stop("recording rfd_asset")(err.to_string()))?;

            latest_keys.insert(latest_key.clone());
            if is_latest
                && !storage
                    .has_same(&latest_key, &file.sha)
                    .await
                    .map_err(|e| stop("storage")(e.to_string()))?
            {
                let data = bytes_of(ctx, &file, &mut bytes).await?.to_vec();
                storage
                    .put(&latest_key, data, &content_type, &file.sha)
                    .await
                    .map_err(|err| stop("uploading")(err.to_string()))?;
                uploaded += 1;
            }
        }
        let mut removed = 0usize;
        if is_latest {
            // Only the job of the latest revision touches `latest/`, and no other job of
            // the RFD runs meanwhile, so nothing listed here can be a file being added.
            let listed = storage
                .list(&format!("{prefix}/latest/"))
                .await
                .map_err(|err| stop("listing storage")(err.to_string()))?;
            for key in listed.into_iter().filter(|key| !latest_keys.contains(key)) {
                storage.delete(&key).await.map_err(|err| stop("deleting")(err.to_string()))?;
                removed += 1;
            }
        }
        tracing::info!(
            rfd.number = ctx.number,
            files = ctx.folder.files.len(),
            uploaded,
            removed,
            "files copied to storage"
        );
        Ok(())
    }
}
