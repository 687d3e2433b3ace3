//! A real OpenID provider for login tests: the `oidc-provider` npm package, run with `node`
//! from `rfd-api/tests/oidc/server.mjs` on a free port (it prints its issuer when ready).
//! Not a fake: it plays Google in the tests of rfd-api and rfd-cli. Needs Node.js 20+ and
//! npm; `node_modules` is installed with `npm ci` when missing (CI does it beforehand).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use tokio::io::AsyncBufReadExt as _;

/// The client the provider knows and the one user it signs in.
#[derive(Debug, Clone)]
pub struct OidcSettings<'a> {
    /// Its OAuth client id.
    pub client_id: &'a str,
    /// Its client secret.
    pub client_secret: &'a str,
    /// The client's redirect URIs, space-separated.
    pub redirect_uris: &'a str,
    /// The user's `sub`.
    pub user_sub: &'a str,
    /// The user's verified email.
    pub user_email: &'a str,
    /// The user's name.
    pub user_name: &'a str,
}

/// The running provider; stopped when dropped.
pub struct OidcProvider {
    /// Its issuer URL (`http://127.0.0.1:PORT`).
    pub issuer: String,
    _child: tokio::process::Child,
}

/// Where the provider's node project is.
pub fn oidc_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../rfd-api/tests/oidc")
}

/// `npm ci` once, if `node_modules` is missing; concurrent test processes wait for the
/// one that installs.
fn ensure_node_modules() -> Result<(), String> {
    let dir = oidc_dir();
    let done = dir.join("node_modules/.package-lock.json");
    if done.exists() {
        return Ok(());
    }
    let lock = dir.join(".npm-ci.lock");
    if std::fs::create_dir(&lock).is_ok() {
        let output = Command::new("npm").args(["ci", "--no-audit", "--no-fund"]).current_dir(&dir).output();
        let _ = std::fs::remove_dir(&lock);
        let output = output.map_err(|err| format!("cannot run npm (install Node.js 20+ and npm): {err}"))?;
        if !output.status.success() {
            return Err(format!("npm ci failed: {}", String::from_utf8_lossy(&output.stderr)));
        }
        return Ok(());
    }
    for _ in 0..600 {
        if done.exists() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    Err(format!("another test's `npm ci` in {} did not finish (remove .npm-ci.lock if stale)", dir.display()))
}

impl OidcProvider {
    /// Starts the provider and waits until it is ready.
    pub async fn start(settings: &OidcSettings<'_>) -> Result<Self, String> {
        ensure_node_modules()?;
        let mut child = tokio::process::Command::new("node")
            .arg("server.mjs")
            .current_dir(oidc_dir())
            .env("OIDC_CLIENT_ID", settings.client_id)
            .env("OIDC_CLIENT_SECRET", settings.client_secret)
            .env("OIDC_REDIRECT_URIS", settings.redirect_uris)
            .env("OIDC_USER_SUB", settings.user_sub)
            .env("OIDC_USER_EMAIL", settings.user_email)
            .env("OIDC_USER_NAME", settings.user_name)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .map_err(|err| format!("cannot start node (install Node.js 20+): {err}"))?;
        let stdout = child.stdout.take().ok_or("node's stdout is not piped")?;
        let mut lines = tokio::io::BufReader::new(stdout).lines();
        let line = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
            .await
            .map_err(|_| "oidc-provider was not ready within 60 s".to_string())?
            .map_err(|err| format!("reading oidc-provider's output: {err}"))?
            .ok_or("oidc-provider exited before it was ready")?;
        let ready: serde_json::Value =
            serde_json::from_str(&line).map_err(|err| format!("oidc-provider said {line:?}: {err}"))?;
        let issuer = ready["issuer"].as_str().ok_or_else(|| format!("no issuer in {line}"))?.to_string();
        // Keep reading: a closed pipe would kill node at its next write.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(Self { issuer, _child: child })
    }
}

/// A browser for login tests: sends what it is told (it follows no redirect by itself, so
/// a test sees each one) and keeps the cookies the sites set, by name (a test talks to
/// one provider and one API on one host; RFC 6265 cookies ignore ports).
pub struct Browser {
    http: reqwest::Client,
    jar: HashMap<String, String>,
}

impl Browser {
    /// A browser with no cookies.
    pub fn new() -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build()?;
        Ok(Self { http, jar: HashMap::new() })
    }

    /// The value of a cookie kept.
    pub fn cookie(&self, name: &str) -> Option<&str> {
        self.jar.get(name).map(String::as_str)
    }

    /// Keeps a cookie, as if a site had set it.
    pub fn set_cookie(&mut self, name: &str, value: &str) {
        self.jar.insert(name.to_string(), value.to_string());
    }

    /// A GET of `url`, or a POST of the form, with the cookies kept so far; keeps the
    /// cookies the answer sets and forgets those it expires.
    pub async fn send(
        &mut self,
        url: &str,
        form: Option<&[(&str, &str)]>,
    ) -> Result<reqwest::Response, reqwest::Error> {
        let mut request = match form {
            Some(form) => self.http.post(url).form(form),
            None => self.http.get(url),
        };
        if !self.jar.is_empty() {
            let cookies: Vec<String> = self.jar.iter().map(|(k, v)| format!("{k}={v}")).collect();
            request = request.header(reqwest::header::COOKIE, cookies.join("; "));
        }
        let response = request.send().await?;
        for value in response.headers().get_all(reqwest::header::SET_COOKIE) {
            let cookie = value.to_str().unwrap_or_default();
            let (pair, attributes) = cookie.split_once(';').unwrap_or((cookie, ""));
            let Some((name, value)) = pair.split_once('=') else { continue };
            let attributes = attributes.to_ascii_lowercase();
            if value.is_empty() || attributes.contains("max-age=0") || attributes.contains("1970") {
                self.jar.remove(name.trim());
            } else {
                self.jar.insert(name.trim().to_string(), value.trim().to_string());
            }
        }
        Ok(response)
    }
}
