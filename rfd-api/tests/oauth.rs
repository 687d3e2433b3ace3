//! OAuth login end to end, over real HTTP against a real database:
//!
//! * Google is played by a real OpenID provider (the `oidc-provider` npm package, in
//!   `tests/oidc/`, started with `node` on a free port): the code flow with PKCE as a
//!   browser follows it (our callback, its login and consent), the device flow as
//!   `rfd-cli` polls it, userinfo.
//! * GitHub by `rfd_github_fake::FakeGitHubOAuth`, which keeps GitHub's quirks (errors
//!   as HTTP 200, `/user` and `/user/emails`, `slow_down` with a new interval).
//!
//! Every log line the process writes is captured, and no secret, code or token of a
//! test may appear in one.
//!
//! Needs `node` (20+) and `npm`; `tests/oidc/node_modules` is installed with `npm ci`
//! when missing (CI runs `npm ci --prefix rfd-api/tests/oidc` beforehand).

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use rfd_api::config::ApiConfig;
use rfd_github_fake::{FakeGitHubOAuth, FakeOAuthUser};
use rfd_model::Store;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use uuid::Uuid;

fn ok<T, E: std::fmt::Display>(result: Result<T, E>) -> T {
    result.unwrap_or_else(|err| panic!("{err}"))
}

// ---------------------------------------------------------------------------------------
// Captured logs
// ---------------------------------------------------------------------------------------

#[derive(Clone)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        // RFD_TEST_LOGS=1 shows them too, for debugging a failure.
        if std::env::var_os("RFD_TEST_LOGS").is_some() {
            let _ = std::io::stderr().write_all(buf);
        }
        self.0.lock().unwrap_or_else(|p| p.into_inner()).extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Every log line of this process, at `debug` and above (the server runs in it).
fn logs() -> &'static Captured {
    static LOGS: OnceLock<Captured> = OnceLock::new();
    LOGS.get_or_init(|| {
        let captured = Captured(Arc::new(Mutex::new(Vec::new())));
        let writer = captured.clone();
        let _already = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("debug"))
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .try_init();
        captured
    })
}

fn assert_not_logged(secrets: &[&str]) {
    let text = String::from_utf8_lossy(&logs().0.lock().unwrap_or_else(|p| p.into_inner())).to_string();
    assert!(text.lines().count() > 5, "logging was captured:\n{text}");
    for secret in secrets.iter().filter(|s| s.len() >= 8) {
        for line in text.lines() {
            assert!(!line.contains(secret), "a secret ({}…) appears in a log line: {line}", &secret[..4]);
        }
    }
}

// ---------------------------------------------------------------------------------------
// The OpenID provider (node)
// ---------------------------------------------------------------------------------------

const OIDC_CLIENT: &str = "rfd-test";
const OIDC_SECRET: &str = "oidc-provider-client-secret-0123456789";

struct Oidc {
    issuer: String,
    _provider: rfd_github_fake::oidc::OidcProvider,
}

impl Oidc {
    async fn start(redirect_uri: &str) -> Self {
        let provider = ok(rfd_github_fake::oidc::OidcProvider::start(&rfd_github_fake::oidc::OidcSettings {
            client_id: OIDC_CLIENT,
            client_secret: OIDC_SECRET,
            redirect_uris: redirect_uri,
            user_sub: "g-1001",
            user_email: "ada@example.com",
            user_name: "Ada Lovelace",
        })
        .await);
        Self { issuer: provider.issuer.clone(), _provider: provider }
    }

    async fn post(&self, path: &str, form: &[(&str, &str)]) {
        let response =
            ok(reqwest::Client::new().post(format!("{}{path}", self.issuer)).form(form).send().await);
        assert!(response.status().is_success(), "{path}: {}", response.status());
    }
}

// ---------------------------------------------------------------------------------------
// The API
// ---------------------------------------------------------------------------------------

/// A directory of RSA keys made with the machine's `openssl`.
struct KeyDir(PathBuf);

impl KeyDir {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("rfd-oauth-{}", Uuid::new_v4()));
        ok(std::fs::create_dir_all(&dir));
        let private = dir.join("k.pem");
        let public = dir.join("k.pub.pem");
        let run = |args: &[&str]| {
            let out = ok(Command::new("openssl").args(args).output());
            assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        };
        let p = |path: &Path| path.to_string_lossy().to_string();
        run(&["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", &p(&private)]);
        run(&["pkey", "-in", &p(&private), "-pubout", "-out", &p(&public)]);
        Self(dir)
    }
}

impl Drop for KeyDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn free_port() -> u16 {
    let listener = ok(std::net::TcpListener::bind("127.0.0.1:0"));
    ok(listener.local_addr()).port()
}

/// One of our OAuth clients, as the client store keeps it.
struct Client {
    id: Uuid,
    secret: String,
    redirect_uri: String,
}

struct App {
    server: Option<dropshot::HttpServer<rfd_api::server::ApiContext>>,
    base: String,
    store: Store,
    db_url: String,
    http: reqwest::Client,
    _keys: KeyDir,
}

impl App {
    /// The API with `[auth.google]` at `oidc` and `[auth.github]` at `github`; the
    /// device and public clients are `device_client`.
    async fn start(
        db_url: &str,
        port: u16,
        oidc: &Oidc,
        github: &FakeGitHubOAuth,
        device_client: Uuid,
    ) -> Self {
        let keys = KeyDir::new();
        let iss = &oidc.issuer;
        let gh = github.url();
        let config = format!(
            "database_url = \"{db_url}\"\n\
             [api]\naddress = \"127.0.0.1:{port}\"\npublic_url = \"http://127.0.0.1:{port}\"\n\
             [database]\nconnect_timeout_secs = 2\n\
             [jwt]\ndefault_expiration_secs = 600\n\
             [[jwt.keys]]\nkid = \"k1\"\npublic = \"{keys}/k.pub.pem\"\nprivate = \"{keys}/k.pem\"\n\
             [auth.google]\nclient_id = \"{OIDC_CLIENT}\"\nclient_secret = \"{OIDC_SECRET}\"\n\
             device_client = \"{device_client}\"\n\
             authorize_url = \"{iss}/auth\"\ntoken_url = \"{iss}/token\"\ndevice_url = \"{iss}/device/auth\"\n\
             user_url = \"{iss}/me\"\n\
             [auth.google.public_pkce]\nclient = \"{device_client}\"\nredirect_uri = \"http://127.0.0.1:8765/callback\"\nproxy_port = 8765\n\
             [auth.github]\nclient_id = \"gh-client\"\nclient_secret = \"{GITHUB_SECRET}\"\n\
             device_client = \"{device_client}\"\n\
             authorize_url = \"{gh}/login/oauth/authorize\"\ntoken_url = \"{gh}/login/oauth/access_token\"\n\
             device_url = \"{gh}/login/device/code\"\nuser_url = \"{gh}\"\n",
            keys = keys.0.display(),
        );
        let file = keys.0.join("config.toml");
        ok(std::fs::write(&file, config));
        let config = ok(ApiConfig::load(&file));
        let jwt = ok(rfd_api::auth::jwt::Keys::load(&config));
        let server = ok(rfd_api::server::start(rfd_api::server::context_with_keys(config, jwt)));
        let base = format!("http://{}", server.local_addr());
        let store = Store::new(rfd_model::db::pool(db_url, &Default::default()));
        let http = ok(reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build());
        Self { server: Some(server), base, store, db_url: db_url.into(), http, _keys: keys }
    }

    /// Registers an OAuth client with a secret and one redirect URI (as the client
    /// store would: the secret only as its SHA-256).
    async fn client(&self, id: Uuid, redirect_uri: &str) -> Client {
        let secret = rfd_api::auth::secret::generate();
        let db = ok(rfd_devdb::connect(&self.db_url).await);
        let id_text = id.to_string();
        ok(db.execute("INSERT INTO oauth_client (id) VALUES ($1::text::uuid)", &[&id_text]).await);
        ok(db
            .execute(
                "INSERT INTO oauth_client_secret (id, oauth_client_id, secret_hash) \
                 VALUES (gen_random_uuid(), $1::text::uuid, $2)",
                &[&id_text, &secret.hash.to_vec()],
            )
            .await);
        ok(db
            .execute(
                "INSERT INTO oauth_client_redirect_uri (id, oauth_client_id, redirect_uri) \
                 VALUES (gen_random_uuid(), $1::text::uuid, $2)",
                &[&id_text, &redirect_uri],
            )
            .await);
        Client { id, secret: secret.value, redirect_uri: redirect_uri.into() }
    }

    async fn sql(&self, statement: &str) -> u64 {
        let db = ok(rfd_devdb::connect(&self.db_url).await);
        ok(db.execute(statement, &[]).await)
    }

    async fn count(&self, query: &str) -> i64 {
        let db = ok(rfd_devdb::connect(&self.db_url).await);
        ok(db.query_one(query, &[]).await).get(0)
    }

    async fn json(&self, response: reqwest::Response) -> (u16, Value) {
        let status = response.status().as_u16();
        let text = ok(response.text().await);
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    async fn get(&self, path: &str, token: Option<&str>) -> (u16, Value) {
        let mut request = self.http.get(format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        self.json(ok(request.send().await)).await
    }

    async fn post_form(&self, path: &str, form: &[(&str, &str)]) -> (u16, Value) {
        self.json(ok(self.http.post(format!("{}{path}", self.base)).form(form).send().await)).await
    }

    async fn post_json(&self, path: &str, body: Value) -> (u16, Value) {
        self.json(ok(self.http.post(format!("{}{path}", self.base)).json(&body).send().await)).await
    }
}

impl Drop for App {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            tokio::spawn(async move {
                let _ = server.close().await;
            });
        }
    }
}

const GITHUB_SECRET: &str = "github-app-client-secret-abcdef0123456789";

fn github_user() -> FakeOAuthUser {
    FakeOAuthUser {
        id: 4242,
        login: "octo-ada".into(),
        emails: vec![("ada@octo.example".into(), true), ("unverified@octo.example".into(), false)],
    }
}

// ---------------------------------------------------------------------------------------
// A browser: follows redirects by hand, keeps cookies (per host, as RFC 6265 ignores ports)
// ---------------------------------------------------------------------------------------

struct Browser(rfd_github_fake::oidc::Browser);

impl Browser {
    fn new() -> Self {
        Self(ok(rfd_github_fake::oidc::Browser::new()))
    }

    async fn get(&mut self, url: &str) -> reqwest::Response {
        ok(self.0.send(url, None).await)
    }

    /// Follows redirects from `url` until one leads to a URL starting with `stop`;
    /// returns that URL.
    async fn follow_until(&mut self, url: &str, stop: &str) -> String {
        let mut next = url.to_string();
        for _ in 0..20 {
            let response = self.get(&next).await;
            let status = response.status();
            let location = response
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let Some(location) = location else {
                let body = response.text().await.unwrap_or_default();
                panic!("{next} answered {status} without a redirect: {body}");
            };
            let absolute = ok(ok(url::Url::parse(&next)).join(&location)).to_string();
            if absolute.starts_with(stop) {
                return absolute;
            }
            next = absolute;
        }
        panic!("too many redirects from {url}");
    }
}

fn query_of(url: &str) -> HashMap<String, String> {
    ok(url::Url::parse(url)).query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
}

struct Pkce {
    verifier: String,
    challenge: String,
}

fn pkce() -> Pkce {
    let verifier = rfd_api::auth::secret::generate().value;
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    Pkce { verifier, challenge }
}

fn authorize_url(app: &App, provider: &str, client: &Client, pkce: &Pkce, state: &str) -> String {
    let mut url = ok(url::Url::parse(&format!("{}/login/oauth/{provider}/code/authorize", app.base)));
    url.query_pairs_mut()
        .append_pair("client_id", &client.id.to_string())
        .append_pair("redirect_uri", &client.redirect_uri)
        .append_pair("response_type", "code")
        .append_pair("state", state)
        .append_pair("scope", "full")
        .append_pair("code_challenge", &pkce.challenge)
        .append_pair("code_challenge_method", "S256");
    url.to_string()
}

/// A whole browser login up to the client's redirect: returns the redirect's query.
async fn browser_login(
    app: &App,
    provider: &str,
    client: &Client,
    pkce: &Pkce,
    state: &str,
) -> HashMap<String, String> {
    let mut browser = Browser::new();
    let back =
        browser.follow_until(&authorize_url(app, provider, client, pkce, state), &client.redirect_uri).await;
    query_of(&back)
}

async fn exchange(
    app: &App,
    provider: &str,
    client: &Client,
    code: &str,
    verifier: &str,
    redirect: &str,
) -> (u16, Value) {
    let id = client.id.to_string();
    app.post_form(
        &format!("/login/oauth/{provider}/code/token"),
        &[
            ("client_id", &id),
            ("client_secret", &client.secret),
            ("grant_type", "authorization_code"),
            ("code", code),
            ("code_verifier", verifier),
            ("redirect_uri", redirect),
        ],
    )
    .await
}

// ---------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn code_flow_with_pkce_against_a_real_openid_provider() {
    logs();
    let db = rfd_devdb::test_database().await;
    let port = free_port();
    let callback = format!("http://127.0.0.1:{port}/login/oauth/google/code/callback");
    let oidc = Oidc::start(&callback).await;
    let github = ok(FakeGitHubOAuth::start("gh-client", GITHUB_SECRET, github_user()).await);
    let app = App::start(&db.url, port, &oidc, &github, Uuid::new_v4()).await;
    let client = app.client(Uuid::new_v4(), "http://app.example/cb").await;
    let mut secrets: Vec<String> = vec![client.secret.clone(), OIDC_SECRET.into()];

    // A mapper gives every example.com address a group.
    ok(app.store.create_group("staff", &json!(["GetRfdsAll"])).await);
    let rule = json!({"rule": "email_domain", "domain": "example.com", "groups": ["staff"]});
    ok(app.store.create_mapper("staff-by-domain", &rule, None).await);

    // The happy path, client credentials as HTTP Basic.
    let first = pkce();
    let back = browser_login(&app, "google", &client, &first, "client-state-1").await;
    assert_eq!(back.get("state").map(String::as_str), Some("client-state-1"));
    let code = back.get("code").cloned().unwrap_or_else(|| panic!("no code in {back:?}"));
    let basic = STANDARD.encode(format!("{}:{}", client.id, client.secret));
    let response = ok(app
        .http
        .post(format!("{}/login/oauth/google/code/token", app.base))
        .header(reqwest::header::AUTHORIZATION, format!("Basic {basic}"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("code_verifier", first.verifier.as_str()),
            ("redirect_uri", client.redirect_uri.as_str()),
        ])
        .send()
        .await);
    let (status, token) = app.json(response).await;
    assert_eq!(status, 200, "{token}");
    assert_eq!(token["token_type"], "Bearer");
    assert_eq!(token["scope"], "full");
    assert_eq!(token["idp_token"], Value::Null, "the provider's token is not handed out");
    let jwt = token["access_token"].as_str().unwrap_or_default().to_string();
    let (status, me) = app.get("/self", Some(&jwt)).await;
    assert_eq!(status, 200, "{me}");
    let user_id = me["info"]["id"].clone();
    assert_eq!(me["providers"][0]["provider"], "google");
    assert_eq!(me["providers"][0]["provider_id"], "google-g-1001");
    assert_eq!(me["providers"][0]["emails"], json!(["ada@example.com"]));
    assert_eq!(me["providers"][0]["display_names"], json!(["Ada Lovelace"]));
    assert_eq!(me["info"]["groups"].as_array().map(Vec::len), Some(1), "the mapper applied: {me}");
    secrets.extend([code.clone(), first.verifier.clone(), jwt.clone()]);

    // The same code again: refused, whatever else is right.
    let (status, body) =
        exchange(&app, "google", &client, &code, &first.verifier, &client.redirect_uri).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "{body}");

    // A wrong verifier is refused, and burns the code: the right one fails after it.
    let second = pkce();
    let back = browser_login(&app, "google", &client, &second, "s2").await;
    let code2 = back["code"].clone();
    let wrong = pkce();
    let (status, body) =
        exchange(&app, "google", &client, &code2, &wrong.verifier, &client.redirect_uri).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "{body}");
    let (status, _) = exchange(&app, "google", &client, &code2, &second.verifier, &client.redirect_uri).await;
    assert_eq!(status, 400);

    // A redirect URI other than the code's is refused.
    let third = pkce();
    let code3 = browser_login(&app, "google", &client, &third, "s3").await["code"].clone();
    let (status, body) =
        exchange(&app, "google", &client, &code3, &third.verifier, "http://app.example/other").await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "{body}");

    // A wrong client secret: invalid_client, 401.
    let fourth = pkce();
    let code4 = browser_login(&app, "google", &client, &fourth, "s4").await["code"].clone();
    let impostor =
        Client { id: client.id, secret: "0".repeat(80), redirect_uri: client.redirect_uri.clone() };
    let (status, body) =
        exchange(&app, "google", &impostor, &code4, &fourth.verifier, &client.redirect_uri).await;
    assert_eq!((status, body["error"].as_str()), (401, Some("invalid_client")), "{body}");

    // The same person logs in again: the same user, no second identity.
    let fifth = pkce();
    let code5 = browser_login(&app, "google", &client, &fifth, "s5").await["code"].clone();
    let (status, token) =
        exchange(&app, "google", &client, &code5, &fifth.verifier, &client.redirect_uri).await;
    assert_eq!(status, 200, "{token}");
    let (_, me) = app.get("/self", token["access_token"].as_str()).await;
    assert_eq!(me["info"]["id"], user_id);
    assert_eq!(app.count("SELECT count(*) FROM api_user_provider WHERE provider = 'google'").await, 1);
    assert_eq!(app.count("SELECT count(*) FROM api_user").await, 1);
    secrets.extend([code2, code3, code4, code5, token["access_token"].as_str().unwrap_or_default().into()]);

    // Forged state: a callback this browser did not start is refused, the real one works.
    let sixth = pkce();
    let mut victim = Browser::new();
    let callback_url =
        victim.follow_until(&authorize_url(&app, "google", &client, &sixth, "s6"), &callback).await;
    let mut attacker = Browser::new();
    let response = attacker.get(&callback_url).await;
    assert_eq!(response.status().as_u16(), 400, "a callback without the login cookie is refused");
    assert!(response.headers().get(reqwest::header::LOCATION).is_none());
    let forged = ok(reqwest::Client::new()
        .get(format!("{callback}?code=x&state=forged"))
        .header(reqwest::header::COOKIE, "__v_login=not-the-state")
        .send()
        .await);
    assert_eq!(forged.status().as_u16(), 400);
    let cookie = victim.0.cookie("__v_login").unwrap_or_default().to_string();
    assert_eq!(cookie.len(), 80, "the login cookie is set");
    let response = victim.get(&callback_url).await;
    assert_eq!(response.status().as_u16(), 307);
    let location =
        response.headers().get(reqwest::header::LOCATION).and_then(|v| v.to_str().ok()).unwrap_or_default();
    assert!(location.starts_with("http://app.example/cb?code="), "{location}");
    // Replaying the callback (even from the right browser) does not mint another code.
    let mut replay = Browser::new();
    replay.0.set_cookie("__v_login", &cookie);
    assert_eq!(replay.get(&callback_url).await.status().as_u16(), 400);
    secrets.extend([cookie, query_of(location)["code"].clone()]);

    // The user declines at the provider: the client hears access_denied, with its state.
    oidc.post("/test/deny-next", &[]).await;
    let back = browser_login(&app, "google", &client, &pkce(), "s7").await;
    assert_eq!(back.get("error").map(String::as_str), Some("access_denied"));
    assert_eq!(back.get("state").map(String::as_str), Some("s7"));
    assert!(!back.contains_key("code"));

    // Refused before any redirect: an unregistered redirect URI, plain PKCE, a bad scope.
    let other =
        Client { id: client.id, secret: String::new(), redirect_uri: "http://evil.example/cb".into() };
    let response = Browser::new().get(&authorize_url(&app, "google", &other, &pkce(), "x")).await;
    assert_eq!(response.status().as_u16(), 400);
    assert!(response.headers().get(reqwest::header::LOCATION).is_none());
    let plain = authorize_url(&app, "google", &client, &pkce(), "x").replace("S256", "plain");
    assert_eq!(Browser::new().get(&plain).await.status().as_u16(), 400);
    let bad_scope =
        authorize_url(&app, "google", &client, &pkce(), "x").replace("scope=full", "scope=everything");
    assert_eq!(Browser::new().get(&bad_scope).await.status().as_u16(), 400);
    let (status, _) = app.get("/login/oauth/zendesk/code/authorize?x=1", None).await;
    assert!(status == 400 || status == 404);

    // The attempts store no code, only digests; completed ones keep no provider secret.
    assert_eq!(
        app.count("SELECT count(*) FROM login_attempt WHERE attempt_state = 'complete' AND (provider_authz_code IS NOT NULL OR provider_pkce_verifier IS NOT NULL)").await,
        0
    );
    let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
    assert_not_logged(&secrets);
}

#[tokio::test(flavor = "multi_thread")]
async fn device_flow_as_the_cli_uses_it_against_a_real_openid_provider() {
    logs();
    let db = rfd_devdb::test_database().await;
    let port = free_port();
    let oidc = Oidc::start(&format!("http://127.0.0.1:{port}/login/oauth/google/code/callback")).await;
    let github = ok(FakeGitHubOAuth::start("gh-client", GITHUB_SECRET, github_user()).await);
    let cli = Uuid::new_v4();
    let app = &App::start(&db.url, port, &oidc, &github, cli).await;
    app.client(cli, "http://127.0.0.1:8765/callback").await;
    ok(app.store.create_group("readers", &json!(["SearchRfds"])).await);
    let rule = json!({"rule": "email_address", "email": "ada@example.com", "groups": ["readers"], "permissions": ["GetRfdsAll"]});
    ok(app.store.create_mapper("ada", &rule, Some(1)).await);

    // Discovery, as rfd-cli does it: public PKCE first, then the device endpoints.
    let (status, pkce_info) = app.get("/login/oauth/google/public-pkce", None).await;
    assert_eq!(status, 200, "{pkce_info}");
    assert_eq!(pkce_info["client_id"], cli.to_string());
    assert_eq!(pkce_info["proxy_port"], 8765);
    let (status, info) = app.get("/login/oauth/google/device", None).await;
    assert_eq!(status, 200, "{info}");
    assert_eq!(info["client_id"], cli.to_string());
    let auth_url = info["auth_url_endpoint"].as_str().unwrap_or_default().to_string();
    let token_url = info["token_endpoint"].as_str().unwrap_or_default().to_string();
    assert_eq!(auth_url, format!("{}/login/oauth/google/device", app.base));

    let start = |scope: &str| {
        let body = json!({"client_id": cli, "scope": scope});
        let request = app.http.post(&auth_url).json(&body);
        async move { app.json(ok(request.send().await)).await }
    };
    let poll = |device_code: String| {
        let cli = cli.to_string();
        let request = app.http.post(&token_url).form(&[
            ("client_id", cli.as_str()),
            ("device_code", device_code.as_str()),
            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
        ]);
        async move { app.json(ok(request.send().await)).await }
    };

    let (status, device) = start("full").await;
    assert_eq!(status, 200, "{device}");
    let device_code = device["device_code"].as_str().unwrap_or_default().to_string();
    let user_code = device["user_code"].as_str().unwrap_or_default().to_string();
    assert_eq!(device_code.len(), 80, "our own device code, not the provider's");
    assert!(device["verification_uri"].as_str().is_some_and(|u| u.starts_with(&oidc.issuer)));
    assert_eq!(device["interval"], 5);

    let (status, body) = poll(device_code.clone()).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("authorization_pending")), "{body}");

    oidc.post("/test/device/approve", &[("user_code", &user_code)]).await;
    let (status, token) = poll(device_code.clone()).await;
    assert_eq!(status, 200, "{token}");
    assert_eq!(token["token_type"], "Bearer");
    assert_eq!(token["scope"], "full");
    assert!(token["expires_in"].as_i64().is_some_and(|s| s > 0));
    let jwt = token["access_token"].as_str().unwrap_or_default().to_string();
    let (status, me) = app.get("/self", Some(&jwt)).await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["info"]["permissions"], json!(["GetRfdsAll"]), "the mapper's grant: {me}");
    assert_eq!(me["info"]["groups"].as_array().map(Vec::len), Some(1));
    // The device code is single-use.
    let (status, body) = poll(device_code.clone()).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "{body}");

    // Declined: access_denied, and it stays so.
    let (_, denied) = start("").await;
    let denied_code = denied["device_code"].as_str().unwrap_or_default().to_string();
    oidc.post("/test/device/deny", &[("user_code", denied["user_code"].as_str().unwrap_or_default())]).await;
    for _ in 0..2 {
        let (status, body) = poll(denied_code.clone()).await;
        assert_eq!((status, body["error"].as_str()), (400, Some("access_denied")), "{body}");
    }

    // Expired (our record of it): expired_token, without asking the provider.
    let (_, late) = start("").await;
    let late_code = late["device_code"].as_str().unwrap_or_default().to_string();
    app.sql("UPDATE login_attempt SET expires_at = now() - interval '1 second' WHERE attempt_state = 'new'")
        .await;
    let (status, body) = poll(late_code.clone()).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("expired_token")), "{body}");

    // Malformed: wrong grant type, unknown code, unknown client, bad scope.
    let cli_s = cli.to_string();
    let (status, body) = app
        .post_form(
            "/login/oauth/google/device/exchange",
            &[("client_id", &cli_s), ("device_code", &late_code), ("grant_type", "password")],
        )
        .await;
    assert_eq!((status, body["error"].as_str()), (400, Some("unsupported_grant_type")), "{body}");
    let (status, body) = poll("not-a-device-code".into()).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")));
    let (status, body) =
        app.post_json("/login/oauth/google/device", json!({"client_id": Uuid::new_v4()})).await;
    assert_eq!((status, body["error"].as_str()), (401, Some("invalid_client")), "{body}");
    let (status, body) = start("full search").await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_scope")), "{body}");

    // The mapper had one activation: a second person gets nothing from it (covered in
    // auth.rs); the same person logging in again is the same user.
    let (_, again) = start("full").await;
    let again_code = again["device_code"].as_str().unwrap_or_default().to_string();
    oidc.post("/test/device/approve", &[("user_code", again["user_code"].as_str().unwrap_or_default())])
        .await;
    let (status, token2) = poll(again_code.clone()).await;
    assert_eq!(status, 200, "{token2}");
    let (_, me2) = app.get("/self", token2["access_token"].as_str()).await;
    assert_eq!(me2["info"]["id"], me["info"]["id"]);
    assert_eq!(app.count("SELECT count(*) FROM api_user").await, 1);

    assert_not_logged(&[
        &device_code,
        &denied_code,
        &late_code,
        &again_code,
        &jwt,
        token2["access_token"].as_str().unwrap_or_default(),
        OIDC_SECRET,
    ]);
}

#[tokio::test(flavor = "multi_thread")]
async fn github_device_and_code_flows_cope_with_githubs_quirks() {
    logs();
    let db = rfd_devdb::test_database().await;
    let port = free_port();
    let oidc = Oidc::start(&format!("http://127.0.0.1:{port}/login/oauth/google/code/callback")).await;
    let github = ok(FakeGitHubOAuth::start("gh-client", GITHUB_SECRET, github_user()).await);
    let cli = Uuid::new_v4();
    let app = &App::start(&db.url, port, &oidc, &github, cli).await;
    app.client(cli, "http://127.0.0.1:8765/callback").await;
    let rule =
        json!({"rule": "github_username", "github_username": "octo-ada", "permissions": ["CreateRfd"]});
    ok(app.store.create_mapper("octo", &rule, None).await);
    let (status, _) = app.get("/login/oauth/github/public-pkce", None).await;
    assert_eq!(status, 400, "no public PKCE client for GitHub");

    let cli_s = cli.to_string();
    let poll = |device_code: String| {
        let cli = cli_s.clone();
        async move {
            app.post_form(
                "/login/oauth/github/device/exchange",
                &[
                    ("client_id", cli.as_str()),
                    ("device_code", device_code.as_str()),
                    ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
                ],
            )
            .await
        }
    };
    let (status, device) =
        app.post_json("/login/oauth/github/device", json!({"client_id": cli, "scope": "full"})).await;
    assert_eq!(status, 200, "{device}");
    let device_code = device["device_code"].as_str().unwrap_or_default().to_string();
    let user_code = device["user_code"].as_str().unwrap_or_default().to_string();

    // GitHub says "pending" and "slow down" with HTTP 200; the CLI hears RFC 8628.
    let (status, body) = poll(device_code.clone()).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("authorization_pending")), "{body}");
    github.slow_down(1);
    let (status, body) = poll(device_code.clone()).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("slow_down")), "{body}");
    assert_eq!(body["interval"], 10, "the new interval is passed on");
    assert!(github.approve(&user_code));
    let (status, token) = poll(device_code.clone()).await;
    assert_eq!(status, 200, "{token}");
    let jwt = token["access_token"].as_str().unwrap_or_default().to_string();
    let (_, me) = app.get("/self", Some(&jwt)).await;
    assert_eq!(me["providers"][0]["provider"], "github");
    assert_eq!(me["providers"][0]["provider_id"], "github-4242");
    assert_eq!(me["providers"][0]["emails"], json!(["ada@octo.example"]), "verified addresses only");
    assert_eq!(me["providers"][0]["display_names"], json!(["octo-ada"]));
    assert_eq!(me["info"]["permissions"], json!(["CreateRfd"]), "github_username mapper: {me}");
    assert_eq!(github.device_polls(), 3);

    // Expired at GitHub.
    let (_, late) = app.post_json("/login/oauth/github/device", json!({"client_id": cli})).await;
    let late_code = late["device_code"].as_str().unwrap_or_default().to_string();
    assert!(github.expire(late["user_code"].as_str().unwrap_or_default()));
    let (status, body) = poll(late_code.clone()).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("expired_token")), "{body}");

    // The web flow with GitHub (its PKCE checked by the fake), then the same user found.
    let client = app.client(Uuid::new_v4(), "http://app.example/gh").await;
    let verifier = pkce();
    let back = browser_login(app, "github", &client, &verifier, "gh-state").await;
    assert_eq!(back.get("state").map(String::as_str), Some("gh-state"));
    let code = back["code"].clone();
    let (status, token2) =
        exchange(app, "github", &client, &code, &verifier.verifier, &client.redirect_uri).await;
    assert_eq!(status, 200, "{token2}");
    let (_, me2) = app.get("/self", token2["access_token"].as_str()).await;
    assert_eq!(me2["info"]["id"], me["info"]["id"], "the same GitHub account is the same user");
    assert_eq!(app.count("SELECT count(*) FROM api_user_provider").await, 1);

    // Declined at GitHub.
    github.deny_next();
    let back = browser_login(app, "github", &client, &pkce(), "no").await;
    assert_eq!(back.get("error").map(String::as_str), Some("access_denied"));

    let mut secrets: Vec<String> = github.issued_tokens();
    assert_eq!(secrets.len(), 2, "two GitHub tokens were issued (and discarded)");
    secrets.extend([device_code, late_code, jwt, code, client.secret.clone(), GITHUB_SECRET.into()]);
    secrets.push(token2["access_token"].as_str().unwrap_or_default().into());
    let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
    assert_not_logged(&secrets);
}
