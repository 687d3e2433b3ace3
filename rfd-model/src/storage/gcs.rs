//! [`GcsBucket`]: blobs in a Google Cloud Storage bucket, through the JSON API
//! (`gcloud-storage`; see the README for why not the official SDK).

use std::collections::HashMap;

use async_trait::async_trait;
use gcloud_storage::client::{Client, ClientConfig};
use gcloud_storage::http::Error as GcsError;
use gcloud_storage::http::objects::Object;
use gcloud_storage::http::objects::delete::DeleteObjectRequest;
use gcloud_storage::http::objects::download::Range;
use gcloud_storage::http::objects::get::GetObjectRequest;
use gcloud_storage::http::objects::list::ListObjectsRequest;
use gcloud_storage::http::objects::patch::PatchObjectRequest;
use gcloud_storage::http::objects::upload::{UploadObjectRequest, UploadType};

use super::{Blob, BlobStore, StorageError, StorageKind, url_path, validate_key};

/// The object metadata key holding the content id.
const CONTENT_ID: &str = "rfd-content-id";

/// A bucket. Writes need `storage.objects.create`, and `storage.objects.delete` to replace
/// objects and to remove those of files removed from an RFD.
pub struct GcsBucket {
    client: Client,
    bucket: String,
    public_base: String,
}

impl std::fmt::Debug for GcsBucket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GcsBucket")
            .field("bucket", &self.bucket)
            .field("public_base", &self.public_base)
            .finish()
    }
}

fn remote<'a>(what: &'static str, key: &'a str) -> impl FnOnce(GcsError) -> StorageError + 'a {
    move |err| StorageError::Remote { what, key: key.to_string(), message: err.to_string() }
}

fn is_not_found(err: &GcsError) -> bool {
    match err {
        GcsError::Response(response) => response.code == 404,
        GcsError::HttpClient(err) | GcsError::RawResponse(err, _) => {
            err.status().is_some_and(|status| status.as_u16() == 404)
        }
        _ => false,
    }
}

impl GcsBucket {
    /// Connects to `bucket`. `endpoint` overrides the JSON API endpoint (the emulator);
    /// `anonymous` sends no credentials, otherwise Application Default Credentials are
    /// loaded (`GOOGLE_APPLICATION_CREDENTIALS`, or the metadata server on Google Cloud).
    pub async fn connect(
        bucket: &str,
        endpoint: Option<&str>,
        anonymous: bool,
        public_url: Option<&str>,
    ) -> Result<Self, StorageError> {
        if bucket.is_empty() {
            return Err(StorageError::Config("[storage] bucket is empty".into()));
        }
        let mut config = ClientConfig::default();
        if let Some(endpoint) = endpoint {
            config.storage_endpoint = endpoint.trim_end_matches('/').to_string();
        }
        let config = if anonymous {
            config.anonymous()
        } else {
            config
                .with_auth()
                .await
                .map_err(|err| StorageError::Config(format!("Google Cloud credentials: {err}")))?
        };
        let public_base = match public_url {
            Some(url) => url.trim_end_matches('/').to_string(),
            None => format!("{}/{bucket}", config.storage_endpoint),
        };
        Ok(Self { client: Client::new(config), bucket: bucket.to_string(), public_base })
    }

    async fn metadata(&self, key: &str) -> Result<Option<Object>, StorageError> {
        let request =
            GetObjectRequest { bucket: self.bucket.clone(), object: key.to_string(), ..Default::default() };
        match self.client.get_object(&request).await {
            Ok(object) => Ok(Some(object)),
            Err(err) if is_not_found(&err) => Ok(None),
            Err(err) => Err(remote("reading metadata of", key)(err)),
        }
    }
}

#[async_trait]
impl BlobStore for GcsBucket {
    fn kind(&self) -> StorageKind {
        StorageKind::Gcs
    }

    async fn put(
        &self,
        key: &str,
        bytes: Vec<u8>,
        content_type: &str,
        content_id: &str,
    ) -> Result<(), StorageError> {
        validate_key(key)?;
        let object = Object {
            name: key.to_string(),
            content_type: Some(content_type.to_string()),
            metadata: Some(HashMap::from([(CONTENT_ID.to_string(), content_id.to_string())])),
            ..Default::default()
        };
        let request = UploadObjectRequest { bucket: self.bucket.clone(), ..Default::default() };
        let stored = self
            .client
            .upload_object(&request, bytes, &UploadType::Multipart(Box::new(object.clone())))
            .await
            .map_err(remote("uploading", key))?;
        // GCS takes the type from the metadata part; some servers (the emulator) take it
        // from the untyped media part instead. Correct it then, so readers get the right type.
        if stored.content_type.as_deref() != Some(content_type) {
            let patch = PatchObjectRequest {
                bucket: self.bucket.clone(),
                object: key.to_string(),
                metadata: Some(object),
                ..Default::default()
            };
            if let Err(err) = self.client.patch_object(&patch).await {
                // The emulator answers a PATCH in a shape of its own that does not decode;
                // what counts is the stored metadata, so read it back.
                let now = self.metadata(key).await?;
                if now.and_then(|object| object.content_type).as_deref() != Some(content_type) {
                    return Err(remote("setting the content type of", key)(err));
                }
            }
        }
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Option<Blob>, StorageError> {
        validate_key(key)?;
        let Some(object) = self.metadata(key).await? else { return Ok(None) };
        let request =
            GetObjectRequest { bucket: self.bucket.clone(), object: key.to_string(), ..Default::default() };
        let bytes = match self.client.download_object(&request, &Range::default()).await {
            Ok(bytes) => bytes,
            Err(err) if is_not_found(&err) => return Ok(None),
            Err(err) => return Err(remote("downloading", key)(err)),
        };
        Ok(Some(Blob {
            bytes,
            content_type: object.content_type.unwrap_or_else(|| "application/octet-stream".into()),
            content_id: object.metadata.and_then(|mut metadata| metadata.remove(CONTENT_ID)),
        }))
    }

    async fn has_same(&self, key: &str, content_id: &str) -> Result<bool, StorageError> {
        validate_key(key)?;
        Ok(self.metadata(key).await?.is_some_and(|object| {
            object
                .metadata
                .as_ref()
                .and_then(|metadata| metadata.get(CONTENT_ID))
                .is_some_and(|id| id == content_id)
        }))
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        let mut keys = Vec::new();
        let mut page_token = None;
        loop {
            let request = ListObjectsRequest {
                bucket: self.bucket.clone(),
                prefix: Some(prefix.to_string()),
                page_token: page_token.take(),
                ..Default::default()
            };
            let response = self.client.list_objects(&request).await.map_err(remote("listing", prefix))?;
            keys.extend(response.items.unwrap_or_default().into_iter().map(|object| object.name));
            match response.next_page_token {
                Some(token) if !token.is_empty() => page_token = Some(token),
                _ => break,
            }
        }
        keys.sort();
        Ok(keys)
    }

    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        validate_key(key)?;
        let request = DeleteObjectRequest {
            bucket: self.bucket.clone(),
            object: key.to_string(),
            ..Default::default()
        };
        match self.client.delete_object(&request).await {
            Ok(()) => Ok(()),
            Err(err) if is_not_found(&err) => Ok(()),
            Err(err) => Err(remote("deleting", key)(err)),
        }
    }

    fn public_url(&self, key: &str) -> String {
        format!("{}/{}", self.public_base, url_path(key))
    }
}
