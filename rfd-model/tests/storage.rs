//! The blob store backends: a local directory and Google Cloud Storage (the real
//! fake-gcs-server emulator), held to the same contract.

#[path = "support/fake_gcs.rs"]
mod fake_gcs;

use std::sync::Arc;

use rfd_model::storage::{BlobStore, LocalDirectory, StorageConfig, StorageKind};

fn ok<T, E: std::fmt::Display>(result: Result<T, E>, what: &str) -> T {
    result.unwrap_or_else(|err| panic!("{what}: {err}"))
}

/// What every backend must do.
async fn contract(store: &dyn BlobStore) {
    let png = vec![0x89, b'P', b'N', b'G', 1, 2, 3];
    assert!(ok(store.get("rfd/0001/c1/a.png").await, "get missing").is_none());
    assert!(!ok(store.has_same("rfd/0001/c1/a.png", "blob1").await, "has_same missing"));

    ok(store.put("rfd/0001/c1/a.png", png.clone(), "image/png", "blob1").await, "put");
    ok(store.put("rfd/0001/c1/figures/b.svg", b"<svg/>".to_vec(), "image/svg+xml", "blob2").await, "put");
    ok(store.put("rfd/0002/c9/x.txt", b"x".to_vec(), "text/plain", "blob3").await, "put");

    let blob = ok(store.get("rfd/0001/c1/a.png").await, "get").unwrap_or_else(|| panic!("stored"));
    assert_eq!(blob.bytes, png);
    assert_eq!(blob.content_type, "image/png");
    assert_eq!(blob.content_id.as_deref(), Some("blob1"));
    assert!(ok(store.has_same("rfd/0001/c1/a.png", "blob1").await, "has_same"));
    assert!(!ok(store.has_same("rfd/0001/c1/a.png", "other").await, "has_same other"));

    assert_eq!(
        ok(store.list("rfd/0001/").await, "list"),
        vec!["rfd/0001/c1/a.png".to_string(), "rfd/0001/c1/figures/b.svg".to_string()]
    );
    assert_eq!(ok(store.list("rfd/0001/c1/fig").await, "list").len(), 1);
    assert!(ok(store.list("rfd/0003/").await, "list").is_empty());

    // Replacing an object replaces its bytes, type and content id.
    ok(store.put("rfd/0001/c1/a.png", b"new".to_vec(), "image/png", "blob9").await, "put again");
    let blob = ok(store.get("rfd/0001/c1/a.png").await, "get").unwrap_or_else(|| panic!("stored"));
    assert_eq!((blob.bytes.as_slice(), blob.content_id.as_deref()), (&b"new"[..], Some("blob9")));

    // Deleting removes that object only; deleting it again, or a key never used, succeeds.
    ok(store.delete("rfd/0001/c1/figures/b.svg").await, "delete");
    assert!(ok(store.get("rfd/0001/c1/figures/b.svg").await, "get deleted").is_none());
    assert!(!ok(store.has_same("rfd/0001/c1/figures/b.svg", "blob2").await, "has_same deleted"));
    assert_eq!(ok(store.list("rfd/0001/").await, "list"), vec!["rfd/0001/c1/a.png".to_string()]);
    assert_eq!(ok(store.list("rfd/0002/").await, "list").len(), 1, "other RFDs untouched");
    ok(store.delete("rfd/0001/c1/figures/b.svg").await, "delete again");
    ok(store.delete("rfd/0009/never.png").await, "delete a missing object");

    // Keys that could leave the store are refused before anything is written or removed.
    for bad in ["../escape.txt", "/abs", "a//b", ".meta/x"] {
        assert!(store.put(bad, b"x".to_vec(), "text/plain", "x").await.is_err(), "{bad} refused");
        assert!(store.delete(bad).await.is_err(), "deleting {bad} refused");
    }
    assert!(store.public_url("rfd/0001/c1/a b.png").ends_with("/rfd/0001/c1/a%20b.png"));
}

#[tokio::test]
async fn a_local_directory_keeps_bytes_types_and_content_ids() {
    let dir = ok(tempfile::tempdir(), "temp dir");
    let store = LocalDirectory::new(dir.path().join("storage"), "http://127.0.0.1:8080/storage/");
    contract(&store).await;
    assert_eq!(store.kind(), StorageKind::Local);
    // The served tree holds only the objects; nothing escaped the directory.
    assert!(dir.path().join("storage/rfd/0001/c1/a.png").is_file());
    assert!(!dir.path().join("escape.txt").exists());
    // A deleted object leaves no empty directory behind in the served tree.
    assert!(!dir.path().join("storage/rfd/0001/c1/figures").exists());
    assert!(dir.path().join("storage/rfd/0001/c1").is_dir());
    assert_eq!(store.public_url("rfd/0001/x.pdf"), "http://127.0.0.1:8080/storage/rfd/0001/x.pdf");
}

#[tokio::test]
async fn a_gcs_bucket_on_the_emulator_keeps_bytes_types_and_content_ids() {
    let gcs = fake_gcs::FakeGcs::start("rfd-assets").await;
    let config = StorageConfig::Gcs {
        bucket: gcs.bucket.clone(),
        endpoint: Some(gcs.endpoint.clone()),
        anonymous: true,
        public_url: None,
    };
    let store: Arc<dyn BlobStore> = ok(config.open().await, "open the bucket");
    contract(store.as_ref()).await;
    assert_eq!(store.kind(), StorageKind::Gcs);
    assert_eq!(store.public_url("rfd/0001/x.pdf"), format!("{}/rfd-assets/rfd/0001/x.pdf", gcs.endpoint));

    // Listing pages through more objects than one response holds.
    for i in 0..5 {
        ok(store.put(&format!("many/{i}.txt"), vec![b'x'], "text/plain", "x").await, "put");
    }
    assert_eq!(ok(store.list("many/").await, "list").len(), 5);
}

#[tokio::test]
async fn a_missing_bucket_is_an_error_not_an_empty_answer() {
    let gcs = fake_gcs::FakeGcs::start("present").await;
    let config = StorageConfig::Gcs {
        bucket: "absent".into(),
        endpoint: Some(gcs.endpoint.clone()),
        anonymous: true,
        public_url: None,
    };
    let store = ok(config.open().await, "open");
    let err = store.put("a.txt", b"x".to_vec(), "text/plain", "x").await;
    assert!(err.is_err(), "uploading to a missing bucket fails: {err:?}");
}
