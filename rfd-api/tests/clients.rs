//! OAuth and magic-link clients and account linking over real HTTP against a real
//! database: every endpoint, permission denials, secrets shown once and stored only as
//! digests, configured clients created idempotently at start-up, link tokens.

mod clients_common;
mod http_common;

use clients_common::{App, ok, responses};
use rfd_model::auth::ProviderIdentity;
use rfd_model::clients::{ClientKind, secret_digest};
use serde_json::{Value, json};
use uuid::Uuid;

/// The two client kinds: path prefix, stored kind, client id field, permission names.
struct Kind {
    prefix: &'static str,
    kind: ClientKind,
    fk: &'static str,
    create: &'static str,
    get: &'static str,
    manage: &'static str,
    get_all: &'static str,
}

const KINDS: [Kind; 2] = [
    Kind {
        prefix: "/oauth/client",
        kind: ClientKind::OAuth,
        fk: "oauth_client_id",
        create: "CreateOAuthClient",
        get: "GetOAuthClient",
        manage: "ManageOAuthClient",
        get_all: "GetOAuthClientsAll",
    },
    Kind {
        prefix: "/magic/client",
        kind: ClientKind::MagicLink,
        fk: "magic_link_client_id",
        create: "CreateMagicLinkClient",
        get: "GetMagicLinkClient",
        manage: "ManageMagicLinkClient",
        get_all: "GetMagicLinkClientsAll",
    },
];

fn id_of(value: &Value) -> String {
    value["id"].as_str().unwrap_or_else(|| panic!("no id in {value}")).to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_client_endpoint_for_both_kinds() {
    let db = rfd_devdb::test_database().await;
    let app = App::start(&db.url, "").await;
    for k in &KINDS {
        let (creator, key) = app.user_with_key(json!([k.create])).await;

        let (status, created) = app.post(k.prefix, Some(&key), json!(null)).await;
        assert_eq!(status, 201, "{created}");
        let id = id_of(&created);
        assert_eq!(created["secrets"], json!([]));
        assert_eq!(created["redirect_uris"], json!([]));

        // The creator is granted Get and Manage on what it created, and nothing else.
        let user = ok(app.store.get_user(creator).await).unwrap_or_else(|| panic!("creator gone"));
        let held = user.permissions.as_array().cloned().unwrap_or_default();
        assert!(held.contains(&json!({ k.get: id })), "{held:?}");
        assert!(held.contains(&json!({ k.manage: id })), "{held:?}");
        assert_eq!(held.len(), 3);

        let (status, list) = app.get(k.prefix, Some(&key)).await;
        assert_eq!(status, 200);
        assert_eq!(list.as_array().map(Vec::len), Some(1), "{list}");
        let (status, got) = app.get(&format!("{}/{id}", k.prefix), Some(&key)).await;
        assert_eq!((status, id_of(&got)), (200, id.clone()));

        // A secret: shown once, in the creation response only.
        let (status, secret) = app.post(&format!("{}/{id}/secret", k.prefix), Some(&key), json!(null)).await;
        assert_eq!(status, 200, "{secret}");
        let value = secret["key"].as_str().unwrap_or_default().to_string();
        assert_eq!(value.len(), 80);
        let secret_id = id_of(&secret);
        let client_id = Uuid::parse_str(&id).unwrap_or_else(|err| panic!("{err}"));
        assert!(ok(app.store.verify_client_secret(k.kind, client_id, &value).await));

        let (_, got) = app.get(&format!("{}/{id}", k.prefix), Some(&key)).await;
        assert_eq!(got["secrets"][0]["id"], json!(secret_id));
        assert_eq!(got["secrets"][0][k.fk], json!(id));
        assert_eq!(got["secrets"][0]["secret_signature"], json!("redacted"));

        // Stored as its digest only; the stored value is not usable as a secret.
        let rows = app
            .sql(&format!(
                "SELECT encode(secret_hash, 'hex') FROM {} WHERE id = '{secret_id}'",
                if k.kind == ClientKind::OAuth { "oauth_client_secret" } else { "magic_link_client_secret" }
            ))
            .await;
        let stored: String = rows[0].get(0);
        assert_eq!(stored, hex::encode(secret_digest(&value)));
        assert!(!ok(app.store.verify_client_secret(k.kind, client_id, &stored).await));

        // Redirect URIs: validated, exact, deletable.
        let uris = format!("{}/{id}/redirect_uri", k.prefix);
        let (status, uri) =
            app.post(&uris, Some(&key), json!({"redirect_uri": "https://app.example/cb"})).await;
        assert_eq!(status, 200, "{uri}");
        assert_eq!(uri[k.fk], json!(id));
        assert_eq!(uri["redirect_uri"], json!("https://app.example/cb"));
        for bad in ["https://app.example/cb#x", "/relative", "not a url", ""] {
            let (status, body) = app.post(&uris, Some(&key), json!({"redirect_uri": bad})).await;
            assert_eq!(status, 400, "{bad}: {body}");
            assert!(body["message"].as_str().is_some_and(|m| m.contains("redirect_uri")), "{body}");
        }
        let (_, got) = app.get(&format!("{}/{id}", k.prefix), Some(&key)).await;
        assert_eq!(got["redirect_uris"].as_array().map(Vec::len), Some(1));
        let uri_path = format!("{uris}/{}", id_of(&uri));
        let (status, deleted) = app.delete(&uri_path, Some(&key)).await;
        assert_eq!(status, 200);
        assert!(deleted["deleted_at"].is_string(), "{deleted}");
        assert_eq!(app.delete(&uri_path, Some(&key)).await.0, 404);

        // Deleting the secret stops it at once; it cannot be deleted twice.
        let secret_path = format!("{}/{id}/secret/{secret_id}", k.prefix);
        let (status, deleted) = app.delete(&secret_path, Some(&key)).await;
        assert_eq!(status, 200);
        assert_eq!(deleted["secret_signature"], json!("redacted"));
        assert!(!ok(app.store.verify_client_secret(k.kind, client_id, &value).await));
        assert_eq!(app.delete(&secret_path, Some(&key)).await.0, 404);
        let (_, got) = app.get(&format!("{}/{id}", k.prefix), Some(&key)).await;
        assert_eq!(got["secrets"], json!([]));

        // A missing client is a 404 for a caller that could see it.
        let (_, admin) = app.user_with_key(json!([k.get_all])).await;
        assert_eq!(app.get(&format!("{}/{}", k.prefix, Uuid::new_v4()), Some(&admin)).await.0, 404);

        // The secret appeared in exactly one response, and its digest in none.
        let bodies = responses();
        assert_eq!(bodies.iter().filter(|b| b.contains(&value)).count(), 1);
        assert!(!bodies.iter().any(|b| b.contains(&stored)));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn client_permissions_are_enforced() {
    let db = rfd_devdb::test_database().await;
    let app = App::start(&db.url, "").await;
    for k in &KINDS {
        let (_, owner) = app.user_with_key(json!([k.create])).await;
        let (_, first) = app.post(k.prefix, Some(&owner), json!(null)).await;
        let (_, second) = app.post(k.prefix, Some(&owner), json!(null)).await;
        let (id, other_id) = (id_of(&first), id_of(&second));

        // Anonymous: 401 everywhere.
        assert_eq!(app.get(k.prefix, None).await.0, 401);
        assert_eq!(app.post(k.prefix, None, json!(null)).await.0, 401);
        assert_eq!(app.get(&format!("{}/{id}", k.prefix), None).await.0, 401);
        assert_eq!(app.post(&format!("{}/{id}/secret", k.prefix), None, json!(null)).await.0, 401);

        // A user without permissions: lists nothing, may do nothing.
        let (_, nobody) = app.user_with_key(json!([])).await;
        assert_eq!(app.get(k.prefix, Some(&nobody)).await, (200, json!([])));
        assert_eq!(app.post(k.prefix, Some(&nobody), json!(null)).await.0, 403);
        assert_eq!(app.get(&format!("{}/{id}", k.prefix), Some(&nobody)).await.0, 403);
        assert_eq!(app.post(&format!("{}/{id}/secret", k.prefix), Some(&nobody), json!(null)).await.0, 403);
        let body = json!({"redirect_uri": "https://x.example/"});
        assert_eq!(
            app.post(&format!("{}/{id}/redirect_uri", k.prefix), Some(&nobody), body.clone()).await.0,
            403
        );
        let (_, secret) = app.post(&format!("{}/{id}/secret", k.prefix), Some(&owner), json!(null)).await;
        let (_, uri) = app.post(&format!("{}/{id}/redirect_uri", k.prefix), Some(&owner), body.clone()).await;
        let secret_path = format!("{}/{id}/secret/{}", k.prefix, id_of(&secret));
        let uri_path = format!("{}/{id}/redirect_uri/{}", k.prefix, id_of(&uri));
        assert_eq!(app.delete(&secret_path, Some(&nobody)).await.0, 403);
        assert_eq!(app.delete(&uri_path, Some(&nobody)).await.0, 403);

        // Get on one client: sees that one only, and may not change it.
        let (_, reader) = app.user_with_key(json!([{ k.get: id }])).await;
        let (_, list) = app.get(k.prefix, Some(&reader)).await;
        let listed: Vec<String> = list.as_array().into_iter().flatten().map(id_of).collect();
        assert_eq!(listed, vec![id.clone()]);
        assert_eq!(app.get(&format!("{}/{id}", k.prefix), Some(&reader)).await.0, 200);
        assert_eq!(app.get(&format!("{}/{other_id}", k.prefix), Some(&reader)).await.0, 403);
        assert_eq!(app.post(&format!("{}/{id}/secret", k.prefix), Some(&reader), json!(null)).await.0, 403);
        assert_eq!(app.delete(&secret_path, Some(&reader)).await.0, 403);

        // Manage on one client does not reach another.
        let (_, manager) = app.user_with_key(json!([{ k.manage: id }])).await;
        assert_eq!(
            app.post(&format!("{}/{id}/redirect_uri", k.prefix), Some(&manager), body.clone()).await.0,
            200
        );
        assert_eq!(
            app.post(&format!("{}/{other_id}/redirect_uri", k.prefix), Some(&manager), body.clone()).await.0,
            403
        );

        // *All sees every client.
        let (_, all) = app.user_with_key(json!([k.get_all])).await;
        let (_, list) = app.get(k.prefix, Some(&all)).await;
        assert_eq!(list.as_array().map(Vec::len), Some(2));

        // The owner's deletions work; nobody else's did anything.
        assert_eq!(app.delete(&secret_path, Some(&owner)).await.0, 200);
        assert_eq!(app.delete(&uri_path, Some(&owner)).await.0, 200);
    }

    // An OAuth permission does not reach magic-link clients.
    let (_, oauth_admin) = app.user_with_key(json!(["GetOAuthClientsAll", "ManageOAuthClientsAll"])).await;
    let (_, magic) = app.user_with_key(json!(["CreateMagicLinkClient"])).await;
    let (_, ml) = app.post("/magic/client", Some(&magic), json!(null)).await;
    assert_eq!(app.get(&format!("/magic/client/{}", id_of(&ml)), Some(&oauth_admin)).await.0, 403);
    assert_eq!(app.get(&format!("/oauth/client/{}", id_of(&ml)), Some(&oauth_admin)).await.0, 404);
}

#[tokio::test(flavor = "multi_thread")]
async fn configured_oauth_clients_exist_at_start_idempotently() {
    let db = rfd_devdb::test_database().await;
    let dir = clients_common::TempDir::new();
    let id = Uuid::new_v4();
    let file_secret = "secret kept by the operator";
    let env_secret = "another secret from the environment";
    let var = format!("RFD_TEST_CLIENT_HASH_{}", id.simple());
    ok(std::fs::write(dir.0.join("client.sha256"), format!("{}\n", hex::encode(secret_digest(file_secret)))));
    let env_digest = hex::encode(secret_digest(env_secret));
    let env = |name: &str| (name == var).then(|| env_digest.clone());
    let text = format!(
        "database_url = \"{}\"\n[[auth.oauth_clients]]\nid = \"{id}\"\n\
         redirect_uris = [\"http://127.0.0.1:9876/callback\"]\nsecret_hash_file = \"client.sha256\"\n\
         secret_hash_env = \"{var}\"\n",
        db.url
    );
    let path = dir.0.join("config.toml");
    ok(std::fs::write(&path, text));
    let config = ok(rfd_api::config::ApiConfig::load(&path));
    let store = rfd_model::Store::new(rfd_model::db::pool(&db.url, &Default::default()));
    ok(rfd_api::clients::ensure_configured_with(&store, &config, env).await);
    ok(rfd_api::clients::ensure_configured_with(&store, &config, env).await);
    let client = ok(store.get_client(ClientKind::OAuth, id).await).unwrap_or_else(|| panic!("not created"));
    assert_eq!(client.secrets.len(), 2);
    assert_eq!(client.redirect_uris.len(), 1);
    assert!(ok(store.verify_client_secret(ClientKind::OAuth, id, file_secret).await));
    assert!(ok(store.verify_client_secret(ClientKind::OAuth, id, env_secret).await));
    assert!(ok(store
        .redirect_uri_is_registered(ClientKind::OAuth, id, "http://127.0.0.1:9876/callback")
        .await));

    // A file without a digest is refused with the key named and the content not shown.
    ok(std::fs::write(dir.0.join("client.sha256"), "not-a-digest-but-maybe-a-secret"));
    let err =
        rfd_api::clients::ensure_configured_with(&store, &config, env).await.err().map(|e| e.to_string());
    let err = err.unwrap_or_else(|| panic!("a bad digest was accepted"));
    assert!(err.contains("[[auth.oauth_clients]]") && err.contains("hex SHA-256"), "{err}");
    assert!(!err.contains("not-a-digest-but-maybe-a-secret"), "{err}");
}

async fn provider_of(app: &App, user: Uuid, provider_id: &str) -> Uuid {
    let identity = ProviderIdentity {
        provider: "github".into(),
        provider_id: provider_id.into(),
        emails: vec![format!("{provider_id}@example.com")],
        display_names: vec![provider_id.into()],
    };
    let (owner, _) = ok(app.store.upsert_provider_user(&identity, &json!([])).await);
    let provider = ok(app.store.user_providers(owner.id, 10).await)[0].id;
    app.sql(&format!("UPDATE api_user_provider SET api_user_id = '{user}' WHERE id = '{provider}'")).await;
    provider
}

#[tokio::test(flavor = "multi_thread")]
async fn link_tokens_move_an_identity_once() {
    let db = rfd_devdb::test_database().await;
    let app = App::start(&db.url, "").await;
    let (source, source_key) = app.user_with_key(json!(["CreateUserApiProviderLinkToken"])).await;
    let provider = provider_of(&app, source, "octocat").await;
    let (target, target_key) = app.user_with_key(json!([{ "ManageApiUser": source }])).await;

    // Making a token needs the permission and the caller's own identity.
    let (_, plain) = app.user_with_key(json!([])).await;
    let path = format!("/api-user-provider/{provider}/link-token");
    assert_eq!(app.post(&path, Some(&plain), json!({"user_id": target})).await.0, 403);
    assert_eq!(app.post(&path, None, json!({"user_id": target})).await.0, 401);
    let (_, stranger) = app.user_with_key(json!(["CreateUserApiProviderLinkToken"])).await;
    assert_eq!(app.post(&path, Some(&stranger), json!({"user_id": target})).await.0, 404);
    assert_eq!(app.post(&path, Some(&source_key), json!({"user_id": Uuid::new_v4()})).await.0, 404);
    assert_eq!(app.post(&path, Some(&source_key), json!({"user_id": source})).await.0, 400);

    let (status, body) = app.post(&path, Some(&source_key), json!({"user_id": target})).await;
    assert_eq!(status, 200, "{body}");
    let token = body["token"].as_str().unwrap_or_default().to_string();
    assert_eq!(token.len(), 80);
    let rows = app.sql("SELECT encode(secret_hash, 'hex'), expires_at - created_at <= interval '15 minutes' FROM link_request WHERE completed_at IS NULL").await;
    assert_eq!(rows.len(), 1);
    let stored: String = rows[0].get(0);
    assert_eq!(stored, hex::encode(secret_digest(&token)));
    assert!(rows[0].get::<_, bool>(1));

    // Redeeming: only the target, on its own path, holding ManageApiUser(source).
    let link = |user: Uuid| format!("/api-user/{user}/link");
    assert_eq!(app.post(&link(source), Some(&target_key), json!({"token": token})).await.0, 403);
    let (third, third_key) = app.user_with_key(json!([{ "ManageApiUser": source }])).await;
    assert_eq!(app.post(&link(third), Some(&third_key), json!({"token": token})).await.0, 403);
    let (weak, weak_key) = app.user_with_key(json!([])).await;
    assert_eq!(app.post(&link(weak), Some(&weak_key), json!({"token": token})).await.0, 403);
    assert_eq!(app.post(&link(target), Some(&target_key), json!({"token": stored})).await.0, 400);
    let forged = format!("{}{}", &token[..32], "0".repeat(48));
    assert_eq!(app.post(&link(target), Some(&target_key), json!({"token": forged})).await.0, 400);

    let (status, body) = app.post(&link(target), Some(&target_key), json!({"token": token})).await;
    assert_eq!(status, 204, "{body}");
    assert!(ok(app.store.user_providers(target, 10).await).iter().any(|p| p.id == provider));
    assert!(ok(app.store.user_providers(source, 10).await).is_empty());

    // Single use.
    let (status, body) = app.post(&link(target), Some(&target_key), json!({"token": token})).await;
    assert_eq!(status, 400);
    assert!(body["message"].as_str().is_some_and(|m| m.contains("already been used")), "{body}");

    // Expired tokens are refused.
    let (other_source, other_key) = app.user_with_key(json!(["CreateUserApiProviderLinkToken"])).await;
    let other_provider = provider_of(&app, other_source, "hubot").await;
    let (target2, target2_key) = app.user_with_key(json!([{ "ManageApiUser": other_source }])).await;
    let (_, body) = app
        .post(
            &format!("/api-user-provider/{other_provider}/link-token"),
            Some(&other_key),
            json!({"user_id": target2}),
        )
        .await;
    let token2 = body["token"].as_str().unwrap_or_default().to_string();
    app.sql("UPDATE link_request SET expires_at = now() - interval '1 second' WHERE completed_at IS NULL")
        .await;
    let (status, body) = app.post(&link(target2), Some(&target2_key), json!({"token": token2})).await;
    assert_eq!(status, 400);
    assert!(body["message"].as_str().is_some_and(|m| m.contains("expired")), "{body}");
    assert!(ok(app.store.user_providers(other_source, 10).await).iter().any(|p| p.id == other_provider));

    // Each token appeared in its creation response only.
    let bodies = responses();
    assert_eq!(bodies.iter().filter(|b| b.contains(&token)).count(), 1);
    assert!(!bodies.iter().any(|b| b.contains(&stored)));
}
