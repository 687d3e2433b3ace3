//! OAuth and magic-link clients against a real PostgreSQL database: one implementation
//! serves both kinds, so every test runs for each.

use rfd_model::clients::{ClientKind, secret_digest};
use rfd_model::{Store, StoreError};
use uuid::Uuid;

const KINDS: [ClientKind; 2] = [ClientKind::OAuth, ClientKind::MagicLink];

async fn store() -> (rfd_devdb::TestDatabase, Store) {
    let db = rfd_devdb::test_database().await;
    let store = Store::new(rfd_model::db::pool(&db.url, &Default::default()));
    (db, store)
}

fn ok<T, E: std::fmt::Display>(result: Result<T, E>) -> T {
    result.unwrap_or_else(|err| panic!("{err}"))
}

#[tokio::test]
async fn clients_secrets_and_redirect_uris() {
    let (db, store) = store().await;
    for kind in KINDS {
        let client = ok(store.create_client(kind).await);
        assert!(client.secrets.is_empty() && client.redirect_uris.is_empty());

        let created = ok(store.create_client_secret(kind, client.id).await);
        assert_eq!(created.secret.client_id, client.id);
        let value = created.value.expose().to_string();
        assert!(ok(store.verify_client_secret(kind, client.id, &value).await));
        assert!(!ok(store.verify_client_secret(kind, client.id, "wrong").await));
        assert!(!ok(store.verify_client_secret(kind, Uuid::new_v4(), &value).await));
        assert_eq!(ok(store.find_client_by_secret(kind, &value).await), Some(client.id));
        // The same id with other random bytes is refused.
        let forged = format!("{}{}", &value[..32], "0".repeat(48));
        assert_eq!(ok(store.find_client_by_secret(kind, &forged).await), None);

        let uri = ok(store.add_client_redirect_uri(kind, client.id, "https://app.example/cb").await);
        let again = ok(store.add_client_redirect_uri(kind, client.id, "https://app.example/cb").await);
        assert_eq!(uri.id, again.id, "registering a URI twice keeps one row");
        assert!(ok(store.redirect_uri_is_registered(kind, client.id, "https://app.example/cb").await));
        assert!(!ok(store.redirect_uri_is_registered(kind, client.id, "https://app.example/cb/").await));
        assert!(!ok(store.redirect_uri_is_registered(kind, client.id, "https://APP.example/cb").await));

        let got = ok(store.get_client(kind, client.id).await).unwrap_or_else(|| panic!("client missing"));
        assert_eq!(got.secrets.len(), 1);
        assert_eq!(got.redirect_uris, vec![uri.clone()]);
        assert!(ok(store.list_clients(kind).await).iter().any(|c| c.id == client.id));

        // Deleting stops verification and matching at once; a second delete is a 404.
        ok(store.delete_client_secret(kind, client.id, created.secret.id).await);
        assert!(!ok(store.verify_client_secret(kind, client.id, &value).await));
        assert_eq!(ok(store.find_client_by_secret(kind, &value).await), None);
        assert!(matches!(
            store.delete_client_secret(kind, client.id, created.secret.id).await,
            Err(StoreError::NotFound { .. })
        ));
        ok(store.delete_client_redirect_uri(kind, client.id, uri.id).await);
        assert!(!ok(store.redirect_uri_is_registered(kind, client.id, "https://app.example/cb").await));
        assert!(matches!(
            store.delete_client_redirect_uri(kind, Uuid::new_v4(), uri.id).await,
            Err(StoreError::NotFound { .. })
        ));

        // Nothing can be added to a client that does not exist.
        assert!(matches!(
            store.create_client_secret(kind, Uuid::new_v4()).await,
            Err(StoreError::NotFound { .. })
        ));
        assert!(matches!(
            store.add_client_redirect_uri(kind, Uuid::new_v4(), "https://x.example/").await,
            Err(StoreError::NotFound { .. })
        ));
    }

    // The kinds are separate: an OAuth secret is not a magic-link secret.
    let oauth = ok(store.create_client(ClientKind::OAuth).await);
    let secret = ok(store.create_client_secret(ClientKind::OAuth, oauth.id).await);
    assert_eq!(ok(store.find_client_by_secret(ClientKind::MagicLink, secret.value.expose()).await), None);
    assert!(ok(store.get_client(ClientKind::MagicLink, oauth.id).await).is_none());

    // The database holds only the digest: the stored value is not the secret and
    // does not verify as one.
    let client = ok(rfd_devdb::connect(&db.url).await);
    let row = ok(client
        .query_one(
            "SELECT secret_hash FROM oauth_client_secret WHERE id::text = $1",
            &[&secret.secret.id.to_string()],
        )
        .await);
    let stored: Vec<u8> = row.get(0);
    assert_eq!(stored, secret_digest(secret.value.expose()).to_vec());
    assert!(!ok(store.verify_client_secret(ClientKind::OAuth, oauth.id, &hex::encode(&stored)).await));
}

#[tokio::test]
async fn configured_clients_are_idempotent() {
    let (_db, store) = store().await;
    let id = Uuid::new_v4();
    let hash = secret_digest("operator-chosen secret");
    for _ in 0..2 {
        let client = ok(store.ensure_client(ClientKind::OAuth, id).await);
        assert_eq!(client.id, id);
        ok(store.add_client_secret_hash(ClientKind::OAuth, id, &hash).await);
        ok(store.add_client_redirect_uri(ClientKind::OAuth, id, "http://127.0.0.1:9000/cb").await);
    }
    let client = ok(store.get_client(ClientKind::OAuth, id).await).unwrap_or_else(|| panic!("missing"));
    assert_eq!(client.secrets.len(), 1);
    assert_eq!(client.redirect_uris.len(), 1);
    assert!(ok(store.verify_client_secret(ClientKind::OAuth, id, "operator-chosen secret").await));
}
