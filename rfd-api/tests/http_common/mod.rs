//! What the API's integration tests share: a running `rfd-api` on a test database
//! ([`TestApi`]) and one HTTP call as the tests make it (optional bearer token and JSON
//! body; the answer's status and body, JSON or the text as a JSON string).
//!
//! Each test binary uses part of it.
#![allow(dead_code)]

use std::path::Path;
use std::time::Duration;

use chrono::Utc;
use rfd_api::auth::jwt::Keys;
use rfd_api::config::ApiConfig;
use rfd_api::server::ApiContext;
use rfd_model::Store;
use serde_json::Value;
use uuid::Uuid;

pub async fn call(
    client: &reqwest::Client,
    base: &str,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = client.request(method, format!("{base}{path}"));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap_or_else(|err| panic!("{path}: {err}"));
    let status = response.status().as_u16();
    let text = response.text().await.unwrap_or_else(|err| panic!("{path}: {err}"));
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

fn ok<T, E: std::fmt::Display>(result: Result<T, E>) -> T {
    result.unwrap_or_else(|err| panic!("{err}"))
}

/// The first lines of a test server's config file: the database with a short connect
/// timeout (tests stop the database on purpose), and a free loopback port. The `[api]`
/// table comes last, so a caller may append more of its keys.
pub fn base_config(database_url: &str) -> String {
    format!(
        "database_url = \"{database_url}\"\n[database]\nconnect_timeout_secs = 2\n\
         [api]\naddress = \"127.0.0.1:0\"\n"
    )
}

/// Loads `config` (TOML text) as `rfd-api` loads its file. `DATABASE_URL` in the
/// environment overrides the file's database, so the test's own is set again.
pub fn load_config(config: &str, database_url: &str) -> ApiConfig {
    let file = std::env::temp_dir().join(format!("rfd-api-test-{}.toml", Uuid::new_v4()));
    ok(std::fs::write(&file, config));
    let loaded = ApiConfig::load(&file);
    let _ = std::fs::remove_file(&file);
    let mut config = ok(loaded);
    config.database_url = secrecy::SecretString::from(database_url.to_string());
    config
}

/// A [`TestApi`] on a fresh test database of its own, dropped with it; derefs to the API.
pub struct FreshApi {
    api: TestApi,
    _db: rfd_devdb::TestDatabase,
}

impl FreshApi {
    /// Starts the API on a fresh database; its config is [`base_config`] followed by
    /// `extra` (TOML).
    pub async fn on_fresh_database(extra: &str) -> Self {
        let db = rfd_devdb::test_database().await;
        let config = format!("{}{extra}", base_config(&db.url));
        let api = TestApi::start(load_config(&config, &db.url), &db.url);
        Self { api, _db: db }
    }
}

impl std::ops::Deref for FreshApi {
    type Target = TestApi;

    fn deref(&self) -> &TestApi {
        &self.api
    }
}

/// A running `rfd-api` (stopped when dropped), its base URL, a store on its database
/// and an HTTP client.
pub struct TestApi {
    server: Option<dropshot::HttpServer<ApiContext>>,
    pub base: String,
    pub store: Store,
    pub client: reqwest::Client,
    /// The server's signing and verification keys.
    pub keys: std::sync::Arc<Keys>,
}

impl TestApi {
    /// Starts the API from `config`, with its keys loaded from the config (or generated
    /// for the session when it names none).
    pub fn start(config: ApiConfig, database_url: &str) -> Self {
        Self::start_context(rfd_api::server::context(config), database_url)
    }

    /// Starts the API with these signing keys.
    pub fn start_with_keys(config: ApiConfig, keys: Keys, database_url: &str) -> Self {
        Self::start_context(rfd_api::server::context_with_keys(config, keys), database_url)
    }

    /// Starts the API from config text written to a file in `dir` (relative paths in it
    /// resolve there), keys as the config names them.
    pub fn start_in(dir: &Path, config: &str, database_url: &str) -> Self {
        let file = dir.join("config.toml");
        ok(std::fs::write(&file, config));
        let mut config = ok(ApiConfig::load(&file));
        config.database_url = secrecy::SecretString::from(database_url.to_string());
        let keys = ok(Keys::load(&config));
        Self::start_with_keys(config, keys, database_url)
    }

    fn start_context(ctx: ApiContext, database_url: &str) -> Self {
        let keys = ctx.keys.clone();
        let server = ok(rfd_api::server::start(ctx));
        let base = format!("http://{}", server.local_addr());
        let store = Store::new(rfd_model::db::pool(database_url, &Default::default()));
        let client = ok(reqwest::Client::builder().timeout(Duration::from_secs(60)).build());
        Self { server: Some(server), base, store, client, keys }
    }

    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        call(&self.client, &self.base, method, path, token, body).await
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> (u16, Value) {
        self.call(reqwest::Method::GET, path, token, None).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> (u16, Value) {
        self.call(reqwest::Method::POST, path, token, Some(body)).await
    }

    /// A new API key of `user`, valid for an hour.
    pub async fn api_key(&self, user: Uuid) -> String {
        let secret = rfd_api::auth::secret::generate();
        ok(self
            .store
            .create_api_key(user, &secret.hash, None, Utc::now() + chrono::Duration::hours(1))
            .await);
        secret.value
    }

    /// A user holding `permissions`, signed in with GitHub as "Ada Lovelace
    /// <ada@example.com>", and an API key of it.
    pub async fn github_user(&self, permissions: Value) -> String {
        let identity = rfd_model::auth::ProviderIdentity {
            provider: "github".into(),
            provider_id: Uuid::new_v4().to_string(),
            emails: vec!["ada@example.com".into()],
            display_names: vec!["Ada Lovelace".into()],
        };
        let (user, _) = ok(self.store.upsert_provider_user(&identity, &permissions).await);
        self.api_key(user.id).await
    }

    /// A new user holding `permissions` and in `groups`, and an API key of it.
    pub async fn user_with_key(&self, permissions: Value, groups: &[Uuid]) -> (Uuid, String) {
        let user = ok(self.store.create_user(Uuid::new_v4(), &permissions, groups).await);
        (user.id, self.api_key(user.id).await)
    }

    /// The administrator `rfd-api bootstrap` creates, and its API key.
    pub async fn admin(&self) -> String {
        ok(rfd_api::bootstrap::bootstrap(&self.store, chrono::Duration::days(1), true).await).key
    }
}

impl Drop for TestApi {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            tokio::spawn(async move {
                let _ = server.close().await;
            });
        }
    }
}
