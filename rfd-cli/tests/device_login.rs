//! `rfd-cli auth login` end to end: the built binary against a real `rfd-api` whose
//! Google login is a real OpenID provider (the `oidc-provider` npm package of rfd-api's
//! tests, `rfd-api/tests/oidc/server.mjs`, started with `node`) and whose GitHub login is
//! `rfd_github_fake::FakeGitHubOAuth` (GitHub's quirks: errors as HTTP 200, `slow_down`
//! with a new interval).
//!
//! The CLI runs as a user runs it: it prints the verification URL and the user code and
//! polls; the test plays the user while it polls (at Google through the provider's own
//! device pages over HTTP, as a browser would; at GitHub through the fake's approve and
//! deny); the CLI stores the token in its config file, and later commands use it.
//!
//! Needs `node` (20+) and `npm`; `rfd-api/tests/oidc/node_modules` is installed with
//! `npm ci` when missing (CI runs `npm ci --prefix rfd-api/tests/oidc` beforehand).

mod common;

use std::path::Path;
use std::process::{Command, ExitStatus};
use std::time::Duration;

use common::{Server, json_of, ok, one_line_error, run, stored_token, text};
use rfd_github_fake::{FakeGitHubOAuth, FakeOAuthUser};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _};

const OIDC_CLIENT: &str = "rfd-cli-test";
const OIDC_SECRET: &str = "oidc-provider-client-secret-for-the-cli-0123";
const GITHUB_CLIENT: &str = "gh-cli-client";
const GITHUB_SECRET: &str = "github-app-client-secret-for-the-cli-4567";
/// Our OAuth client the device logins are made for (`[[auth.oauth_clients]]`).
const CLI_CLIENT: &str = "3c1f0e2a-8b7d-4c6e-9f5a-2b1d0c9e8f7a";

// ---------------------------------------------------------------------------------------
// The OpenID provider (node): rfd_github_fake::oidc, as rfd-api/tests/oauth.rs uses it
// ---------------------------------------------------------------------------------------

struct Oidc {
    issuer: String,
    _provider: rfd_github_fake::oidc::OidcProvider,
}

impl Oidc {
    async fn start() -> Self {
        let provider = ok(rfd_github_fake::oidc::OidcProvider::start(&rfd_github_fake::oidc::OidcSettings {
            client_id: OIDC_CLIENT,
            client_secret: OIDC_SECRET,
            // The code flow is not used here; the client still needs a redirect URI.
            redirect_uris: "http://127.0.0.1:9/unused",
            user_sub: "g-2002",
            user_email: "grace@example.com",
            user_name: "Grace Hopper",
        })
        .await);
        Self { issuer: provider.issuer.clone(), _provider: provider }
    }
}

/// A browser at the provider: keeps its cookies, follows redirects by hand.
struct Browser(rfd_github_fake::oidc::Browser);

impl Browser {
    fn new() -> Self {
        Self(ok(rfd_github_fake::oidc::Browser::new()))
    }

    /// One request; returns the status, the redirect target (absolute) and the body.
    async fn send(&mut self, url: &str, form: Option<&[(&str, &str)]>) -> (u16, Option<String>, String) {
        let response = ok(self.0.send(url, form).await);
        let status = response.status().as_u16();
        let location = response
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(|location| ok(ok(reqwest::Url::parse(url)).join(location)).to_string());
        (status, location, ok(response.text().await))
    }

    /// Follows redirects from an answer until a page.
    async fn follow(&mut self, mut answer: (u16, Option<String>, String)) -> (u16, String) {
        for _ in 0..20 {
            match answer.1.take() {
                Some(next) => answer = self.send(&next, None).await,
                None => return (answer.0, answer.2),
            }
        }
        panic!("too many redirects at the provider");
    }
}

/// The value of the hidden form field `name` in a page.
fn hidden(page: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = page.find(&marker).unwrap_or_else(|| panic!("no {name} field in {page}")) + marker.len();
    page[start..].split('"').next().unwrap_or_default().to_string()
}

/// The user at Google: opens the URL the CLI printed, confirms the code on the
/// provider's page, logs in and consents (the provider's interactions, scripted by
/// server.mjs to log the test user in), and sees the success page.
async fn approve_at_the_provider(url: &str, user_code: &str) {
    let mut browser = Browser::new();
    let answer = browser.send(url, None).await;
    let (status, page) = browser.follow(answer).await;
    assert_eq!(status, 200, "{page}");
    // The page carries the form (with the code when the URL had it); submit it.
    let action = ok(ok(reqwest::Url::parse(url)).join("/device")).to_string();
    let xsrf = hidden(&page, "xsrf");
    let answer = browser.send(&action, Some(&[("xsrf", &xsrf), ("user_code", user_code)])).await;
    let (status, confirm) = browser.follow(answer).await;
    assert_eq!(status, 200, "{confirm}");
    assert!(confirm.contains("deviceConfirmForm"), "no confirmation form: {confirm}");
    let xsrf = hidden(&confirm, "xsrf");
    let answer =
        browser.send(&action, Some(&[("xsrf", &xsrf), ("user_code", user_code), ("confirm", "yes")])).await;
    let (status, done) = browser.follow(answer).await;
    assert_eq!(status, 200, "{done}");
    assert!(done.contains("Sign-in Success"), "the provider did not confirm the sign-in: {done}");
}

// ---------------------------------------------------------------------------------------
// The API, and the CLI logging in
// ---------------------------------------------------------------------------------------

/// Makes an RSA key pair with the machine's `openssl` for the API's access tokens.
fn jwt_keys(dir: &Path) {
    let private = dir.join("jwt.pem");
    let public = dir.join("jwt.pub.pem");
    let run = |args: &[&str]| {
        let out = ok(Command::new("openssl").args(args).output());
        assert!(out.status.success(), "openssl {args:?}: {}", text(&out.stderr));
    };
    let path = |path: &Path| path.to_string_lossy().to_string();
    run(&["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", &path(&private)]);
    run(&["pkey", "-in", &path(&private), "-pubout", "-out", &path(&public)]);
}

struct Setup {
    api: Server,
    github: FakeGitHubOAuth,
    oidc: Option<Oidc>,
    home: tempfile::TempDir,
}

impl Setup {
    /// The API with `[auth.github]` at the GitHub fake and, when `google`, `[auth.google]`
    /// at a real OpenID provider; device logins for `CLI_CLIENT`. A default mapper gives
    /// everyone who logs in what the CLI needs: their own user, creating and seeing API
    /// keys for themselves, reading RFDs.
    async fn start(google: bool) -> Self {
        let user = FakeOAuthUser {
            id: 7070,
            login: "octo-grace".into(),
            emails: vec![("grace@octo.example".into(), true)],
        };
        let github = ok(FakeGitHubOAuth::start(GITHUB_CLIENT, GITHUB_SECRET, user).await);
        let oidc = if google { Some(Oidc::start().await) } else { None };
        let dir = ok(tempfile::tempdir());
        jwt_keys(dir.path());
        let gh = github.url();
        let mut sections = format!(
            "[jwt]\ndefault_expiration_secs = 600\n\
             [[jwt.keys]]\nkid = \"k1\"\npublic = \"jwt.pub.pem\"\nprivate = \"jwt.pem\"\n\
             [[auth.oauth_clients]]\nid = \"{CLI_CLIENT}\"\n\
             [auth.github]\nclient_id = \"{GITHUB_CLIENT}\"\nclient_secret = \"{GITHUB_SECRET}\"\n\
             device_client = \"{CLI_CLIENT}\"\n\
             authorize_url = \"{gh}/login/oauth/authorize\"\ntoken_url = \"{gh}/login/oauth/access_token\"\n\
             device_url = \"{gh}/login/device/code\"\nuser_url = \"{gh}\"\n"
        );
        if let Some(oidc) = &oidc {
            let iss = &oidc.issuer;
            sections.push_str(&format!(
                "[auth.google]\nclient_id = \"{OIDC_CLIENT}\"\nclient_secret = \"{OIDC_SECRET}\"\n\
                 device_client = \"{CLI_CLIENT}\"\n\
                 authorize_url = \"{iss}/auth\"\ntoken_url = \"{iss}/token\"\n\
                 device_url = \"{iss}/device/auth\"\nuser_url = \"{iss}/me\"\n"
            ));
        }
        let api = Server::start_in(dir, &sections).await;
        let permissions = ["GetApiUserSelf", "CreateApiKeySelf", "GetApiKeysAssigned", "GetRfdsAll"];
        let rule = json!({"rule": "default", "permissions": permissions});
        ok(api.store.create_mapper("everyone", &rule, None).await);
        Self { api, github, oidc, home: ok(tempfile::tempdir()) }
    }

    fn issuer(&self) -> &str {
        self.oidc.as_ref().map(|o| o.issuer.as_str()).unwrap_or_default()
    }

    /// Starts `rfd-cli ARGS` and reads standard error until it shows the user code.
    async fn login(&self, args: &[&str]) -> Login {
        let mut child = ok(common::command(self.home.path(), &self.api.base, args, &[]).spawn());
        let stderr = child.stderr.take().unwrap_or_else(|| panic!("no stderr"));
        let mut reader = tokio::io::BufReader::new(stderr);
        let mut shown = String::new();
        let (mut url, mut code) = (None, None);
        while code.is_none() {
            let mut line = String::new();
            // A guard against a CLI that hangs, not a timing assertion.
            let read = ok(tokio::time::timeout(Duration::from_secs(60), reader.read_line(&mut line)).await);
            if ok(read) == 0 {
                let output = ok(child.wait_with_output().await);
                panic!("rfd-cli {args:?} ended before showing a code ({:?}): {shown}", output.status);
            }
            shown.push_str(&line);
            if let Some(rest) = line.trim().strip_prefix("To log in, open ") {
                url = Some(rest.to_string());
            }
            if let Some(rest) = line.trim().strip_prefix("and enter the code ") {
                code = Some(rest.to_string());
            }
        }
        let rest = tokio::spawn(async move {
            let mut rest = String::new();
            let _ = reader.read_to_string(&mut rest).await;
            rest
        });
        Login {
            child,
            url: url.unwrap_or_else(|| panic!("no verification URL shown: {shown}")),
            code: code.unwrap_or_default(),
            shown,
            rest,
        }
    }

    async fn cli(&self, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
        run(self.home.path(), &self.api.base, args, env, None).await
    }

    /// `rfd-cli sys user self` with the stored token, as JSON.
    async fn me(&self) -> Value {
        let args = ["sys", "user", "self"];
        json_of(&args, &self.cli(&args, &[("RFD_FORMAT", "json")]).await)
    }
}

/// A login in progress: what the CLI showed so far, and the rest of its standard error.
struct Login {
    child: tokio::process::Child,
    url: String,
    code: String,
    shown: String,
    rest: tokio::task::JoinHandle<String>,
}

impl Login {
    /// Waits for the CLI to end: its exit status, standard output and whole standard error.
    async fn finish(self) -> (ExitStatus, String, String) {
        let output = ok(tokio::time::timeout(Duration::from_secs(120), self.child.wait_with_output()).await);
        let output = ok(output);
        let stderr = format!("{}{}", self.shown, ok(self.rest.await));
        (output.status, text(&output.stdout), stderr)
    }
}

/// The last line of standard error (progress is drawn with carriage returns).
fn last_line(stderr: &str) -> &str {
    stderr.lines().rev().find(|line| !line.trim().is_empty()).unwrap_or_default()
}

// ---------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn google_login_stores_a_session_token_and_with_m_token_a_long_lived_api_key() {
    let setup = Setup::start(true).await;

    // `auth login google`: the URL is the provider's, the user approves there while the
    // CLI polls, and the CLI stores the access token (a JWT of ours) it was given.
    let login = setup.login(&["auth", "login", "google"]).await;
    assert!(login.url.starts_with(&format!("{}/device", setup.issuer())), "{}", login.url);
    assert!(!login.code.is_empty());
    approve_at_the_provider(&login.url, &login.code).await;
    let (status, stdout, stderr) = login.finish().await;
    assert!(status.success(), "{stderr}");
    assert!(last_line(&stderr).starts_with("Logged in; the token is stored in"), "{stderr}");
    let session = stored_token(setup.home.path()).unwrap_or_else(|| panic!("no token stored: {stderr}"));
    assert!(rfd_api::auth::jwt::looks_like_jwt(&session), "a session token is a JWT");
    assert!(!stdout.contains(&session) && !stderr.contains(&session), "the token was printed");

    // The next commands use it: who am I (the Google identity), and the RFD list.
    let me = setup.me().await;
    assert_eq!(me["providers"][0]["provider"], "google", "{me}");
    assert_eq!(me["providers"][0]["emails"], json!(["grace@example.com"]), "{me}");
    assert_eq!(me["providers"][0]["display_names"], json!(["Grace Hopper"]), "{me}");
    let user_id = me["info"]["id"].as_str().unwrap_or_default().to_string();
    let list = setup.cli(&["list"], &[("RFD_FORMAT", "json")]).await;
    assert_eq!(json_of(&["list"], &list), json!([]));

    // `-m token`: the same login, then a long-lived API key of the same user is stored.
    let login = setup.login(&["auth", "login", "google", "-m", "token"]).await;
    approve_at_the_provider(&login.url, &login.code).await;
    let (status, stdout, stderr) = login.finish().await;
    assert!(status.success(), "{stderr}");
    let key = stored_token(setup.home.path()).unwrap_or_default();
    assert!(key.len() >= 32 && key != session, "a new token is stored");
    assert!(!rfd_api::auth::jwt::looks_like_jwt(&key), "-m token stores an API key, not a JWT");
    assert!(!stdout.contains(&key) && !stderr.contains(&key), "the key was printed");
    let me = setup.me().await;
    assert_eq!(me["info"]["id"], user_id.as_str(), "the same user: {me}");
    let args = ["sys", "user", "token", "list", &user_id];
    let keys = json_of(&args, &setup.cli(&args, &[("RFD_FORMAT", "json")]).await);
    let keys = keys.as_array().cloned().unwrap_or_default();
    assert_eq!(keys.len(), 1, "{keys:?}");
    let expires = keys[0]["expires_at"].as_str().unwrap_or_default();
    let expires = ok(chrono::DateTime::parse_from_rfc3339(expires));
    assert!(expires > chrono::Utc::now() + chrono::Duration::days(300), "long-lived: {expires}");
}

#[tokio::test(flavor = "multi_thread")]
async fn github_login_polls_through_slow_down_and_pending_then_with_m_token_and_refused() {
    let setup = Setup::start(false).await;
    let github = &setup.github;

    // The first poll is told to slow down, the second that the user has not approved
    // yet; then the user approves and the third gets the token.
    github.slow_down(1);
    let login = setup.login(&["auth", "login", "github"]).await;
    assert_eq!(login.url, format!("{}/login/device", github.url()));
    for _ in 0..1200 {
        if github.device_polls() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(github.device_polls(), 2, "the CLI polled twice before the approval");
    assert!(github.approve(&login.code), "the fake knows the code the CLI showed");
    let (status, _, stderr) = login.finish().await;
    assert!(status.success(), "{stderr}");
    assert!(stderr.contains("Waiting for approval"), "progress shown: {stderr}");
    assert_eq!(
        github.calls(),
        [
            "POST /login/device/code",
            "POST /login/oauth/access_token",
            "POST /login/oauth/access_token",
            "POST /login/oauth/access_token",
            "GET /user",
            "GET /user/emails",
        ],
        "one device code, three polls (slow_down, pending, token), then the user"
    );
    let session = stored_token(setup.home.path()).unwrap_or_default();
    assert!(rfd_api::auth::jwt::looks_like_jwt(&session), "{stderr}");
    let me = setup.me().await;
    assert_eq!(me["providers"][0]["provider"], "github", "{me}");
    assert_eq!(me["providers"][0]["display_names"], json!(["octo-grace"]), "{me}");

    // The reference CLI's longer form, storing an API key.
    let login = setup.login(&["auth", "login", "-m", "token", "oauth", "github"]).await;
    assert!(github.approve(&login.code));
    let (status, _, stderr) = login.finish().await;
    assert!(status.success(), "{stderr}");
    let key = stored_token(setup.home.path()).unwrap_or_default();
    assert!(key != session && !rfd_api::auth::jwt::looks_like_jwt(&key), "an API key is stored");
    assert_eq!(setup.me().await["info"]["id"], me["info"]["id"]);

    // The user declines: one clear line, a non-zero exit, the stored key kept.
    let login = setup.login(&["auth", "login", "github"]).await;
    assert!(github.deny(&login.code));
    let (status, stdout, stderr) = login.finish().await;
    assert!(!status.success(), "{stderr}");
    assert!(stdout.is_empty(), "{stdout}");
    let line = last_line(&stderr);
    assert!(line.starts_with("rfd-cli: login failed: access_denied"), "{stderr}");
    assert_eq!(stored_token(setup.home.path()).as_deref(), Some(key.as_str()));
}

#[tokio::test(flavor = "multi_thread")]
async fn login_with_a_provider_the_api_does_not_offer_fails_on_one_line() {
    let setup = Setup::start(false).await;
    let output = setup.cli(&["auth", "login", "google"], &[]).await;
    let line = one_line_error(&output);
    assert!(line.contains("login with google is not configured") && line.contains("HTTP 404"), "{line}");
    assert_eq!(stored_token(setup.home.path()), None);
    assert!(setup.github.calls().is_empty());
}
