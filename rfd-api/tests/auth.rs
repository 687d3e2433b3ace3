//! Authentication and authorization over real HTTP against a real database: every JWT
//! rejection, key rotation, API keys stored only as digests, the grant rule, groups,
//! mappers under concurrent logins, revocation, and no secret in any response.

mod http_common;

use http_common::TestApi;

use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Utc;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rfd_api::auth::jwt::Keys;
use rfd_api::auth::login::{issue_access_token, register_login};
use rfd_api::config::ApiConfig;
use rfd_model::auth::ProviderIdentity;
use rfd_model::{JobKind, NewJob, Store};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use uuid::Uuid;

fn ok<T, E: std::fmt::Display>(result: Result<T, E>) -> T {
    result.unwrap_or_else(|err| panic!("{err}"))
}

/// A directory of RSA key pairs made with the machine's `openssl`.
struct KeyDir {
    dir: PathBuf,
}

impl KeyDir {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("rfd-auth-{}", Uuid::new_v4()));
        ok(std::fs::create_dir_all(&dir));
        Self { dir }
    }

    /// Makes `{name}.pem` (private, PKCS#8) and `{name}.pub.pem` (SPKI).
    fn pair(&self, name: &str) -> (PathBuf, PathBuf) {
        let private = self.dir.join(format!("{name}.pem"));
        let public = self.dir.join(format!("{name}.pub.pem"));
        let run = |args: &[&str]| {
            let status = ok(Command::new("openssl").args(args).output());
            assert!(status.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&status.stderr));
        };
        run(&["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", path(&private)]);
        run(&["pkey", "-in", path(&private), "-pubout", "-out", path(&public)]);
        (private, public)
    }
}

impl Drop for KeyDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap_or_default()
}

struct App {
    api: TestApi,
}

impl std::ops::Deref for App {
    type Target = TestApi;

    fn deref(&self) -> &TestApi {
        &self.api
    }
}

impl App {
    /// Starts a server whose `[jwt] keys` are `keys` (kid, public path, private path).
    async fn start(database_url: &str, keys: &[(&str, &Path, Option<&Path>)]) -> Self {
        let mut config = format!(
            "{}public_url = \"http://rfd.test\"\n[jwt]\ndefault_expiration_secs = 600\n",
            http_common::base_config(database_url)
        );
        for (kid, public, private) in keys {
            config.push_str(&format!("[[jwt.keys]]\nkid = \"{kid}\"\npublic = \"{}\"\n", path(public)));
            if let Some(private) = private {
                config.push_str(&format!("private = \"{}\"\n", path(private)));
            }
        }
        let config = http_common::load_config(&config, database_url);
        let keys = ok(Keys::load(&config));
        Self { api: TestApi::start_with_keys(config, keys, database_url) }
    }

    async fn admin(&self) -> (Uuid, String) {
        let admin = ok(rfd_api::bootstrap::bootstrap(&self.store, chrono::Duration::days(1), true).await);
        (admin.user_id, admin.key)
    }

    async fn jwt(&self, user: Uuid, scope: &str) -> String {
        ok(issue_access_token(&self.store, &self.keys, user, None, scope).await).token
    }
}

fn sign(claims: &Value, kid: Option<&str>, private: &Path) -> String {
    let key = ok(EncodingKey::from_rsa_pem(&ok(std::fs::read(private))));
    let mut header = Header::new(Algorithm::RS256);
    header.kid = kid.map(str::to_string);
    ok(jsonwebtoken::encode(&header, claims, &key))
}

fn claims(user: Uuid, jti: Uuid) -> Value {
    let now = Utc::now().timestamp();
    json!({"iss": "http://rfd.test", "aud": "http://rfd.test", "sub": user, "scp": "full",
           "exp": now + 300, "nbf": now, "jti": jti})
}

#[tokio::test(flavor = "multi_thread")]
async fn every_bad_jwt_is_refused() {
    let db = rfd_devdb::test_database().await;
    let keys = KeyDir::new();
    let (private, public) = keys.pair("k1");
    let (other_private, _) = keys.pair("other");
    let app = App::start(&db.url, &[("k1", &public, Some(&private))]).await;
    let (user, _) = app.user_with_key(json!(["GetApiUserSelf"]), &[]).await;

    // The real thing works.
    let good = app.jwt(user, "full").await;
    let (status, body) = app.get("/self", Some(&good)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["info"]["id"], json!(user));

    // A token we signed ourselves but never recorded (unknown jti) and the recorded one.
    let jti = Uuid::new_v4();
    ok(app.store.record_access_token(jti, user, Utc::now() + chrono::Duration::minutes(5)).await);
    let valid = sign(&claims(user, jti), Some("k1"), &private);
    assert_eq!(app.get("/self", Some(&valid)).await.0, 200);

    let now = Utc::now().timestamp();
    let with = |field: &str, value: Value| {
        let mut c = claims(user, jti);
        c[field] = value;
        c
    };
    let encode_unsigned = |header: Value, body: &Value| {
        format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(body.to_string())
        )
    };
    let public_pem = ok(std::fs::read(&public));
    let hs256 = {
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some("k1".into());
        ok(jsonwebtoken::encode(&header, &claims(user, jti), &EncodingKey::from_secret(&public_pem)))
    };
    let cases: Vec<(&str, String)> = vec![
        ("alg none", encode_unsigned(json!({"alg": "none", "typ": "JWT", "kid": "k1"}), &claims(user, jti))),
        ("alg none without kid", encode_unsigned(json!({"alg": "none"}), &claims(user, jti))),
        ("HS256 keyed with the public key", hs256),
        ("wrong issuer", sign(&with("iss", json!("http://evil.test")), Some("k1"), &private)),
        ("wrong audience", sign(&with("aud", json!("http://evil.test")), Some("k1"), &private)),
        ("expired", sign(&with("exp", json!(now - 3600)), Some("k1"), &private)),
        ("not yet valid", sign(&with("nbf", json!(now + 3600)), Some("k1"), &private)),
        ("no exp", {
            let mut c = claims(user, jti);
            c.as_object_mut().map(|o| o.remove("exp"));
            sign(&c, Some("k1"), &private)
        }),
        ("unknown kid", sign(&claims(user, jti), Some("k9"), &other_private)),
        ("no kid", sign(&claims(user, jti), None, &private)),
        ("known kid, other key", sign(&claims(user, jti), Some("k1"), &other_private)),
        ("unrecorded jti", sign(&claims(user, Uuid::new_v4()), Some("k1"), &private)),
        ("jti of another user", sign(&claims(Uuid::new_v4(), jti), Some("k1"), &private)),
        ("unknown scope", sign(&with("scp", json!("root")), Some("k1"), &private)),
        ("tampered payload", {
            let parts: Vec<&str> = valid.split('.').collect();
            let forged = URL_SAFE_NO_PAD.encode(with("sub", json!(Uuid::new_v4())).to_string());
            format!("{}.{}.{}", parts[0], forged, parts[2])
        }),
        ("garbage", "not-a-token".into()),
    ];
    for (name, token) in &cases {
        let (status, body) = app.get("/self", Some(token)).await;
        assert_eq!(status, 401, "{name}: {body}");
    }
    // An empty or non-Bearer header is refused too, not treated as anonymous.
    let response =
        ok(app.client.get(format!("{}/self", app.base)).header("Authorization", "Basic eDp5").send().await);
    assert_eq!(response.status().as_u16(), 401);

    // Revoking the jti refuses the token from the next request on.
    let (status, _) = app
        .call(reqwest::Method::DELETE, &format!("/api-user/{user}/access-token/{jti}"), Some(&valid), None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(app.get("/self", Some(&valid)).await.0, 401);
    assert_eq!(app.get("/self", Some(&good)).await.0, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn keys_rotate_without_logging_anyone_out() {
    let db = rfd_devdb::test_database().await;
    let keys = KeyDir::new();
    let (old_private, old_public) = keys.pair("old");
    let (new_private, new_public) = keys.pair("new");
    let user = {
        let app = App::start(&db.url, &[("old", &old_public, Some(&old_private))]).await;
        app.user_with_key(json!([]), &[]).await.0
    };
    let app = App::start(&db.url, &[("old", &old_public, Some(&old_private))]).await;
    let old_token = app.jwt(user, "").await;
    assert_eq!(ok(jsonwebtoken::decode_header(&old_token)).kid.as_deref(), Some("old"));
    drop(app);

    // Step 1: the new key signs; the old one only verifies.
    let app =
        App::start(&db.url, &[("new", &new_public, Some(&new_private)), ("old", &old_public, None)]).await;
    let new_token = app.jwt(user, "").await;
    assert_eq!(ok(jsonwebtoken::decode_header(&new_token)).kid.as_deref(), Some("new"));
    assert_eq!(app.get("/self", Some(&old_token)).await.0, 200);
    assert_eq!(app.get("/self", Some(&new_token)).await.0, 200);
    let (status, jwks) = app.get("/.well-known/jwks.json", None).await;
    assert_eq!(status, 200);
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .map(|k| k.iter().filter_map(|k| k["kid"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(kids, vec!["new", "old"]);
    for key in jwks["keys"].as_array().into_iter().flatten() {
        assert_eq!(key["kty"], "RSA");
        assert_eq!(key["use"], "sig");
        assert_eq!(key["e"], "AQAB");
        assert!(key["n"].as_str().is_some_and(|n| n.len() > 300));
        assert!(key.get("d").is_none() && key.get("p").is_none(), "private material in the JWKS");
    }
    let (status, oidc) = app.get("/.well-known/openid-configuration", None).await;
    assert_eq!(status, 200);
    assert_eq!(oidc, json!({"jwks_uri": "http://rfd.test/.well-known/jwks.json"}));
    drop(app);

    // Step 2: the old key is gone; its tokens are refused.
    let app = App::start(&db.url, &[("new", &new_public, Some(&new_private))]).await;
    assert_eq!(app.get("/self", Some(&old_token)).await.0, 401);
    assert_eq!(app.get("/self", Some(&new_token)).await.0, 200);

    // A private key that does not match its public key is refused at load.
    let mismatched = format!(
        "database_url = \"{}\"\n[[jwt.keys]]\nkid = \"x\"\npublic = \"{}\"\nprivate = \"{}\"\n",
        db.url,
        path(&old_public),
        path(&new_private)
    );
    let file = std::env::temp_dir().join(format!("rfd-auth-{}.toml", Uuid::new_v4()));
    ok(std::fs::write(&file, mismatched));
    assert!(Keys::load(&ok(ApiConfig::load(&file))).is_err());
}

#[tokio::test(flavor = "multi_thread")]
async fn api_keys_are_stored_only_as_digests_and_never_shown_again() {
    let db = rfd_devdb::test_database().await;
    let app = App::start(&db.url, &[]).await;
    let (admin, admin_key) = app.admin().await;
    let mut seen = Vec::new();

    let expires = (Utc::now() + chrono::Duration::days(1)).to_rfc3339();
    let (status, created) = app
        .post(
            &format!("/api-user/{admin}/token"),
            Some(&admin_key),
            json!({"expires_at": expires, "permission_boundary": ["SearchRfds"]}),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let key = created["key"].as_str().unwrap_or_default().to_string();
    let key_id = created["id"].as_str().unwrap_or_default().to_string();
    assert_eq!(key.len(), 80);
    assert_eq!(created["permission_boundary"], json!(["SearchRfds"]));

    // The database holds the digest and nothing usable.
    let client = ok(rfd_devdb::connect(&db.url).await);
    let rows = ok(client
        .query("SELECT row_to_json(api_key)::text, encode(key_hash, 'hex') FROM api_key", &[])
        .await);
    let expected_digest = hex::encode(Sha256::digest(key.as_bytes()));
    let mut digests = Vec::new();
    for row in &rows {
        let whole: String = row.get(0);
        let digest: String = row.get(1);
        assert!(!whole.contains(&key), "a row holds the key itself");
        digests.push(digest);
    }
    assert!(digests.contains(&expected_digest));
    for digest in &digests {
        // The stored value (and its base64 cousin) cannot be used as a credential.
        assert_eq!(app.get("/self", Some(digest)).await.0, 401);
    }

    // The key works, bounded: SearchRfds only, so it cannot read users.
    let (status, me) = app.get("/self", Some(&key)).await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(app.get("/api-user", Some(&key)).await.1, json!([]));
    seen.push(me);

    // Listing and reading never show it.
    for path in [
        format!("/api-user/{admin}/token"),
        format!("/api-user/{admin}/token/{key_id}"),
        "/api-user".into(),
        "/self".into(),
    ] {
        let (status, body) = app.get(&path, Some(&admin_key)).await;
        assert_eq!(status, 200, "{path}: {body}");
        seen.push(body);
    }
    let (status, listed) = app.get(&format!("/api-user/{admin}/token"), Some(&admin_key)).await;
    assert_eq!(status, 200);
    assert!(listed.as_array().is_some_and(|keys| keys.iter().all(|k| k.get("key").is_none())));

    // Deleting it revokes it at once.
    let (status, deleted) = app
        .call(reqwest::Method::DELETE, &format!("/api-user/{admin}/token/{key_id}"), Some(&admin_key), None)
        .await;
    assert_eq!(status, 200);
    seen.push(deleted);
    assert_eq!(app.get("/self", Some(&key)).await.0, 401);

    for body in &seen {
        let text = body.to_string();
        assert!(!text.contains(&key) && !text.contains(&admin_key), "a secret in a response: {text}");
        assert!(!text.contains(&expected_digest), "a digest in a response: {text}");
    }

    // An expired key is refused.
    let secret = rfd_api::auth::secret::generate();
    ok(app.store.create_api_key(admin, &secret.hash, None, Utc::now() - chrono::Duration::seconds(1)).await);
    assert_eq!(app.get("/self", Some(&secret.value)).await.0, 401);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_caller_grants_only_what_it_holds() {
    let db = rfd_devdb::test_database().await;
    let app = App::start(&db.url, &[]).await;
    let (_, manager_key) =
        app.user_with_key(json!(["CreateApiUser", {"GetRfds": [1, 2]}, "GetApiUsersAll"]), &[]).await;

    let create =
        |permissions: Value| app.post("/api-user", Some(&manager_key), json!({"permissions": permissions}));
    assert_eq!(create(json!([{"GetRfd": 2}])).await.0, 201);
    assert_eq!(create(json!([{"GetRfds": [1, 2]}])).await.0, 201);
    assert_eq!(create(json!([{"GetRfd": 3}])).await.0, 403);
    assert_eq!(create(json!(["GetRfdsAll"])).await.0, 403);
    assert_eq!(create(json!(["CreateApiUser"])).await.0, 201);
    assert_eq!(create(json!(["CreateGroup"])).await.0, 403);
    assert_eq!(create(json!(["NoSuchPermission"])).await.0, 400);

    // Anonymous callers are asked to authenticate; users without the permission are refused.
    assert_eq!(app.post("/api-user", None, json!({"permissions": []})).await.0, 401);
    let (_, nobody) = app.user_with_key(json!([]), &[]).await;
    assert_eq!(app.post("/api-user", Some(&nobody), json!({"permissions": []})).await.0, 403);

    // Adding a permission follows the same rule.
    let (admin, admin_key) = app.admin().await;
    let (target, _) = app.user_with_key(json!([]), &[]).await;
    let (_, limited_key) = app.user_with_key(json!([{"ManageApiUser": target}, {"GetRfd": 5}]), &[]).await;
    let add = |key: String, permission: Value| {
        let app = &app;
        async move {
            app.post(&format!("/api-user/{target}/permission"), Some(&key), json!({"permission": permission}))
                .await
        }
    };
    assert_eq!(add(limited_key.clone(), json!({"GetRfd": 5})).await.0, 200);
    assert_eq!(add(limited_key.clone(), json!({"GetRfd": 6})).await.0, 403);
    assert_eq!(add(limited_key.clone(), json!("GetRfdsAll")).await.0, 403);
    let (status, user) = add(admin_key.clone(), json!("GetRfdsAll")).await;
    assert_eq!(status, 200);
    assert_eq!(user["info"]["permissions"], json!([{"GetRfd": 5}, "GetRfdsAll"]));
    let (status, user) = app
        .call(
            reqwest::Method::DELETE,
            &format!("/api-user/{target}/permission"),
            Some(&admin_key),
            Some(json!({"permission": {"GetRfd": 5}})),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(user["info"]["permissions"], json!(["GetRfdsAll"]));

    // A key for another user needs a boundary, and the boundary must be grantable.
    let expires = (Utc::now() + chrono::Duration::days(1)).to_rfc3339();
    let (status, _) = app
        .post(&format!("/api-user/{target}/token"), Some(&admin_key), json!({"expires_at": expires}))
        .await;
    assert_eq!(status, 400);
    let (status, _) = app
        .post(
            &format!("/api-user/{target}/token"),
            Some(&admin_key),
            json!({"expires_at": expires, "permission_boundary": ["GetRfdsAll"]}),
        )
        .await;
    assert_eq!(status, 201);
    let _ = admin;
}

#[tokio::test(flavor = "multi_thread")]
async fn scoped_and_bounded_credentials_cannot_climb_out() {
    let db = rfd_devdb::test_database().await;
    let keys = KeyDir::new();
    let (private, public) = keys.pair("k1");
    let app = App::start(&db.url, &[("k1", &public, Some(&private))]).await;
    let (admin, _) = app.admin().await;

    // A read-only token may not create users or unbounded keys.
    let read_only = app.jwt(admin, "rfd:content:r user:info:r user:token:w").await;
    assert_eq!(app.post("/api-user", Some(&read_only), json!({"permissions": []})).await.0, 403);
    let expires = (Utc::now() + chrono::Duration::days(1)).to_rfc3339();
    let (status, created) =
        app.post(&format!("/api-user/{admin}/token"), Some(&read_only), json!({"expires_at": expires})).await;
    assert_eq!(status, 201, "{created}");
    // The key it got is bounded by the token's own permissions.
    let boundary = created["permission_boundary"].as_array().cloned().unwrap_or_default();
    assert!(boundary.contains(&json!("GetRfdsAll")));
    assert!(!boundary.contains(&json!("CreateApiUser")));
    let key = created["key"].as_str().unwrap_or_default();
    assert_eq!(app.post("/api-user", Some(key), json!({"permissions": []})).await.0, 403);

    // Empty scope: nothing but reading oneself.
    let nothing = app.jwt(admin, "").await;
    assert_eq!(app.get("/self", Some(&nothing)).await.0, 200);
    assert_eq!(app.get("/group", Some(&nothing)).await.1, json!([]));
}

async fn job(store: &Store, rfd: i32) {
    let new = NewJob {
        kind: JobKind::RfdUpdate,
        owner: "acme".into(),
        repository: "rfd".into(),
        branch: "main".into(),
        sha: format!("{rfd:040}"),
        rfd: Some(rfd),
        webhook_delivery_id: None,
        committed_at: Utc::now(),
    };
    ok(store.enqueue(&[new]).await);
}

#[tokio::test(flavor = "multi_thread")]
async fn groups_grant_and_jobs_follow_read_permission() {
    let db = rfd_devdb::test_database().await;
    let app = App::start(&db.url, &[]).await;
    let (_, admin_key) = app.admin().await;
    job(&app.store, 7).await;
    job(&app.store, 8).await;
    let (user, user_key) = app.user_with_key(json!([{"GetRfd": 8}]), &[]).await;

    let jobs = |key: Option<String>, rfd: i32| {
        let app = &app;
        async move {
            let (status, body) = app.get(&format!("/job?rfd={rfd}"), key.as_deref()).await;
            assert_eq!(status, 200, "{body}");
            body.as_array().map(Vec::len).unwrap_or_default()
        }
    };
    assert_eq!(jobs(None, 7).await, 0);
    assert_eq!(jobs(Some(user_key.clone()), 7).await, 0);
    assert_eq!(jobs(Some(user_key.clone()), 8).await, 1);
    assert_eq!(jobs(Some(admin_key.clone()), 7).await, 1);

    let (status, group) =
        app.post("/group", Some(&admin_key), json!({"name": "readers", "permissions": ["GetRfdsAll"]})).await;
    assert_eq!(status, 201, "{group}");
    let group_id = group["id"].as_str().unwrap_or_default().to_string();
    let (status, member) =
        app.post(&format!("/api-user/{user}/group"), Some(&admin_key), json!({"group_id": group_id})).await;
    assert_eq!(status, 200, "{member}");
    assert_eq!(member["info"]["groups"], json!([group_id]));
    assert_eq!(jobs(Some(user_key.clone()), 7).await, 1);

    let (status, members) = app.get(&format!("/group-membership/{group_id}"), Some(&admin_key)).await;
    assert_eq!(status, 200);
    assert_eq!(members.as_array().map(Vec::len), Some(1));
    let (status, listed) = app.get("/group", Some(&admin_key)).await;
    assert_eq!(status, 200);
    assert_eq!(listed[0]["name"], "readers");
    // A member without GetGroup does not see the group.
    assert_eq!(app.get("/group", Some(&user_key)).await.1, json!([]));

    // Renaming keeps members; deleting the group takes its permissions away at once.
    let (status, _) = app
        .call(
            reqwest::Method::PUT,
            &format!("/group/{group_id}"),
            Some(&admin_key),
            Some(json!({"name": "all-readers", "permissions": ["GetRfdsAll"]})),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(jobs(Some(user_key.clone()), 7).await, 1);
    let (status, _) = app
        .call(reqwest::Method::DELETE, &format!("/api-user/{user}/group/{group_id}"), Some(&admin_key), None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(jobs(Some(user_key.clone()), 7).await, 0);
    app.post(&format!("/api-user/{user}/group"), Some(&admin_key), json!({"group_id": group_id})).await;
    assert_eq!(jobs(Some(user_key.clone()), 7).await, 1);
    let (status, _) =
        app.call(reqwest::Method::DELETE, &format!("/group/{group_id}"), Some(&admin_key), None).await;
    assert_eq!(status, 200);
    assert_eq!(jobs(Some(user_key.clone()), 7).await, 0);

    // A group may not give what its creator does not hold.
    let (_, creator) = app.user_with_key(json!(["CreateGroup", "SearchRfds"]), &[]).await;
    assert_eq!(
        app.post("/group", Some(&creator), json!({"name": "x", "permissions": ["SearchRfds"]})).await.0,
        201
    );
    assert_eq!(
        app.post("/group", Some(&creator), json!({"name": "y", "permissions": ["GetRfdsAll"]})).await.0,
        403
    );

    // The queue: GetRfdsAll to list, UpdateRfdsAll to retry.
    assert_eq!(app.get("/queue/jobs", None).await.0, 401);
    assert_eq!(app.get("/queue/jobs", Some(&user_key)).await.0, 403);
    let (status, all) = app.get("/queue/jobs", Some(&admin_key)).await;
    assert_eq!(status, 200);
    assert_eq!(all.as_array().map(Vec::len), Some(2));
    assert_eq!(app.post("/queue/jobs/1/retry", Some(&user_key), json!({})).await.0, 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mapper_max_activations_holds_under_concurrent_logins() {
    let db = rfd_devdb::test_database().await;
    let app = App::start(&db.url, &[]).await;
    let (_, admin_key) = app.admin().await;
    let (status, _) =
        app.post("/group", Some(&admin_key), json!({"name": "early", "permissions": ["GetRfdsAll"]})).await;
    assert_eq!(status, 201);
    let (status, mapper) = app
        .post(
            "/mapper",
            Some(&admin_key),
            json!({"name": "first-three", "rule": {"rule": "email_domain", "domain": "example.com", "groups": ["early"], "permissions": ["SearchRfds"]}, "max_activations": 3}),
        )
        .await;
    assert_eq!(status, 201, "{mapper}");
    assert_eq!(mapper["activations"], 0);
    assert_eq!(mapper["source"], "dynamic");

    let logins: Vec<_> = (0..10)
        .map(|i| {
            let store = app.store.clone();
            tokio::spawn(async move {
                let identity = ProviderIdentity {
                    provider: "github".into(),
                    provider_id: format!("github-{i}"),
                    emails: vec![format!("user{i}@example.com")],
                    display_names: vec![format!("user{i}")],
                };
                register_login(&store, &identity).await
            })
        })
        .collect();
    let mut in_group = 0;
    for login in logins {
        let user = ok(ok(login.await));
        if !user.groups.is_empty() {
            in_group += 1;
            assert_eq!(user.permissions, json!(["SearchRfds"]));
        }
    }
    assert_eq!(in_group, 3);
    let (_, listed) = app.get("/mapper", Some(&admin_key)).await;
    assert_eq!(listed, json!([]), "a depleted mapper is hidden by default");
    let (_, listed) = app.get("/mapper?include_depleted=true", Some(&admin_key)).await;
    assert_eq!(listed[0]["activations"], 3);
    assert!(listed[0]["depleted_at"].is_string());

    // A login of another domain matches nothing; a mapper that would give more than its
    // creator holds is refused; rules must parse.
    let (_, limited) = app.user_with_key(json!(["CreateMapper"]), &[]).await;
    let rule = json!({"name": "m", "rule": {"rule": "default", "permissions": ["GetRfdsAll"]}});
    assert_eq!(app.post("/mapper", Some(&limited), rule).await.0, 403);
    let bad = json!({"name": "m", "rule": {"rule": "email_domian", "domain": "x"}});
    assert_eq!(app.post("/mapper", Some(&admin_key), bad).await.0, 400);
    let mapper_id = mapper["id"].as_str().unwrap_or_default();
    let (status, deleted) =
        app.call(reqwest::Method::DELETE, &format!("/mapper/{mapper_id}"), Some(&admin_key), None).await;
    assert_eq!(status, 200);
    assert!(deleted["deleted_at"].is_string());
}

#[tokio::test(flavor = "multi_thread")]
async fn mappers_file_is_applied_idempotently_and_edits_take_effect() {
    let db = rfd_devdb::test_database().await;
    let app = App::start(&db.url, &[]).await;
    let (_, admin_key) = app.admin().await;
    let file = std::env::temp_dir().join(format!("mappers-{}.toml", Uuid::new_v4()));
    let write = |domain: &str, max: u32| {
        ok(std::fs::write(
            &file,
            format!(
                "[[groups]]\nname = \"staff\"\npermissions = [\"GetRfdsAll\"]\n\n\
                 [[mappers]]\nname = \"staff-by-domain\"\nrule = \"email_domain\"\ndomain = \"{domain}\"\n\
                 groups = [\"staff\"]\nmax_activations = {max}\n\n\
                 [[mappers]]\nname = \"everyone\"\nrule = \"default\"\npermissions = [\"SearchRfds\"]\n"
            ),
        ))
    };
    write("example.com", 5);
    ok(rfd_api::auth::mappers::apply_file(&app.store, &file).await);
    ok(rfd_api::auth::mappers::apply_file(&app.store, &file).await);
    let (_, first) = app.get("/mapper", Some(&admin_key)).await;
    assert_eq!(first.as_array().map(Vec::len), Some(2), "{first}");
    let staff = first
        .as_array()
        .into_iter()
        .flatten()
        .find(|m| m["name"] == "staff-by-domain")
        .cloned()
        .unwrap_or_default();
    assert_eq!(staff["source"], "preset");
    assert_eq!(staff["rule"]["domain"], "example.com");
    let (_, groups) = app.get("/group", Some(&admin_key)).await;
    assert_eq!(groups.as_array().map(Vec::len), Some(1));

    // Presets are owned by the file.
    let id = staff["id"].as_str().unwrap_or_default();
    assert_eq!(
        app.call(reqwest::Method::DELETE, &format!("/mapper/{id}"), Some(&admin_key), None).await.0,
        409
    );

    // Edit the file: the same mapper (same id) now matches the new domain.
    write("example.org", 2);
    ok(rfd_api::auth::mappers::apply_file(&app.store, &file).await);
    let (_, second) = app.get("/mapper", Some(&admin_key)).await;
    let edited = second
        .as_array()
        .into_iter()
        .flatten()
        .find(|m| m["name"] == "staff-by-domain")
        .cloned()
        .unwrap_or_default();
    assert_eq!(edited["id"], staff["id"]);
    assert_eq!(edited["rule"]["domain"], "example.org");
    assert_eq!(edited["max_activations"], 2);
    let identity = |email: &str| ProviderIdentity {
        provider: "google".into(),
        provider_id: email.into(),
        emails: vec![email.into()],
        display_names: vec![],
    };
    let old_domain = ok(register_login(&app.store, &identity("a@example.com")).await);
    assert!(old_domain.groups.is_empty());
    assert_eq!(old_domain.permissions, json!(["SearchRfds"]));
    let new_domain = ok(register_login(&app.store, &identity("b@example.org")).await);
    assert_eq!(new_domain.groups.len(), 1);

    // Removing a mapper from the file deletes it; an invalid file is refused whole.
    ok(std::fs::write(&file, "[[mappers]]\nname = \"everyone\"\nrule = \"default\"\n"));
    ok(rfd_api::auth::mappers::apply_file(&app.store, &file).await);
    let (_, third) = app.get("/mapper", Some(&admin_key)).await;
    assert_eq!(third.as_array().map(|m| m.len()), Some(1));
    ok(std::fs::write(&file, "[[mappers]]\nname = \"x\"\nrule = \"no_such_rule\"\n"));
    assert!(rfd_api::auth::mappers::apply_file(&app.store, &file).await.is_err());
    let _ = std::fs::remove_file(&file);
}

#[tokio::test(flavor = "multi_thread")]
async fn revoking_everything_logs_a_user_out() {
    let db = rfd_devdb::test_database().await;
    let keys = KeyDir::new();
    let (private, public) = keys.pair("k1");
    let app = App::start(&db.url, &[("k1", &public, Some(&private))]).await;
    let (user, key) = app.user_with_key(json!([]), &[]).await;
    let a = app.jwt(user, "full").await;
    let b = app.jwt(user, "full").await;
    let (status, tokens) = app.get(&format!("/api-user/{user}/access-token"), Some(&a)).await;
    assert_eq!(status, 200);
    assert_eq!(tokens.as_array().map(Vec::len), Some(2));
    assert!(!tokens.to_string().contains(&a));

    // Another user may not revoke them.
    let (_, stranger) = app.user_with_key(json!([]), &[]).await;
    assert_eq!(app.post(&format!("/api-user/{user}/revoke"), Some(&stranger), json!({})).await.0, 403);

    let (status, revoked) = app.post(&format!("/api-user/{user}/revoke"), Some(&a), json!({})).await;
    assert_eq!(status, 200, "{revoked}");
    assert_eq!(revoked, json!({"access_tokens_revoked": 2, "api_keys_revoked": 1}));
    for token in [&a, &b, &key] {
        assert_eq!(app.get("/self", Some(token)).await.0, 401);
    }
    // Fresh credentials work again.
    let c = app.jwt(user, "full").await;
    assert_eq!(app.get("/self", Some(&c)).await.0, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn users_are_visible_only_with_permission() {
    let db = rfd_devdb::test_database().await;
    let app = App::start(&db.url, &[]).await;
    let (admin, admin_key) = app.admin().await;
    let (user, user_key) = app.user_with_key(json!(["GetApiUserSelf"]), &[]).await;
    assert_eq!(app.get(&format!("/api-user/{user}"), Some(&user_key)).await.0, 200);
    assert_eq!(app.get(&format!("/api-user/{admin}"), Some(&user_key)).await.0, 403);
    assert_eq!(app.get(&format!("/api-user/{admin}"), None).await.0, 401);
    let (_, listed) = app.get("/api-user", Some(&user_key)).await;
    assert_eq!(listed.as_array().map(Vec::len), Some(1));
    let (_, listed) = app.get("/api-user", Some(&admin_key)).await;
    assert_eq!(listed.as_array().map(Vec::len), Some(2));
    assert_eq!(app.get(&format!("/api-user/{}", Uuid::new_v4()), Some(&admin_key)).await.0, 404);
    assert_eq!(app.get("/self", None).await.0, 401);

    // Contact email must be a verified provider address.
    let (linked, _) = ok(app
        .store
        .upsert_provider_user(
            &ProviderIdentity {
                provider: "github".into(),
                provider_id: "github-9".into(),
                emails: vec!["ada@example.com".into()],
                display_names: vec!["ada".into()],
            },
            &json!([]),
        )
        .await);
    let contact_path = format!("/api-user/{}/contact/email", linked.id);
    let put = |email: &str| {
        app.call(reqwest::Method::PUT, &contact_path, Some(&admin_key), Some(json!({"email": email})))
    };
    assert_eq!(put("eve@example.com").await.0, 400);
    let (status, contact) = put("ada@example.com").await;
    assert_eq!(status, 200);
    assert_eq!(contact["email"], "ada@example.com");
    let (_, shown) = app.get(&format!("/api-user/{}", linked.id), Some(&admin_key)).await;
    assert_eq!(shown["providers"][0]["provider_id"], "github-9");

    // Replacing permissions: only what is added must be held by the caller.
    let (_, manager) = app.user_with_key(json!([{"ManageApiUser": user}, "SearchRfds"]), &[]).await;
    let user_path = format!("/api-user/{user}");
    let update = |permissions: Value| {
        app.post(&user_path, Some(&manager), json!({"permissions": permissions, "group_ids": []}))
    };
    assert_eq!(update(json!(["GetApiUserSelf", "SearchRfds"])).await.0, 200);
    assert_eq!(update(json!(["GetApiUserSelf", "GetRfdsAll"])).await.0, 403);
    let (status, body) = update(json!([])).await;
    assert_eq!(status, 200);
    assert_eq!(body["info"]["permissions"], json!([]));
}
