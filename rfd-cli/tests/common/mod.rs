//! What the CLI's end-to-end tests share: the built `rfd-cli` run as a user runs it
//! (arguments, environment, standard input; its standard output, standard error and exit
//! status read back), and a real `rfd-api` in this process on a real PostgreSQL,
//! configured by TOML as in production.

// Each test file uses its own part of this module.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Output, Stdio};

use rfd_model::Store;
use tokio::io::AsyncWriteExt as _;

pub const CLI: &str = env!("CARGO_BIN_EXE_rfd-cli");

pub fn ok<T, E: std::fmt::Display>(result: Result<T, E>) -> T {
    result.unwrap_or_else(|err| panic!("{err}"))
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A running `rfd-api` with a database of its own.
pub struct Server {
    server: Option<dropshot::HttpServer<rfd_api::server::ApiContext>>,
    pub base: String,
    pub store: Store,
    pub db: rfd_devdb::TestDatabase,
    /// Holds the config file (and whatever the caller put next to it).
    pub dir: tempfile::TempDir,
}

impl Server {
    /// `rfd-api` with `sections` (TOML) after its database and address; `[[jwt.keys]]`,
    /// `[[auth.oauth_clients]]` and the rest are honoured as `rfd-api serve` honours them.
    pub async fn start(sections: &str) -> Self {
        Self::start_in(ok(tempfile::tempdir()), sections).await
    }

    /// The same, with the config file written into `dir` (for keys made beforehand).
    pub async fn start_in(dir: tempfile::TempDir, sections: &str) -> Self {
        let db = rfd_devdb::test_database().await;
        let file = dir.path().join("rfd-api.toml");
        ok(std::fs::write(
            &file,
            format!(
                "database_url = \"{}\"\n[api]\naddress = \"127.0.0.1:0\"\n[database]\nconnect_timeout_secs = 2\n{sections}",
                db.url
            ),
        ));
        let mut config = ok(rfd_api::config::ApiConfig::load(&file));
        // `DATABASE_URL` overrides the file; the test's own database is the one to use.
        config.database_url = db.url.clone().into();
        let store = Store::new(rfd_model::db::pool(&db.url, &Default::default()));
        ok(rfd_api::clients::ensure_configured(&store, &config).await);
        let context = if config.jwt.keys.is_empty() {
            rfd_api::server::context(config)
        } else {
            // Keys that do not load fail the test here, not at the first login.
            let keys = ok(rfd_api::auth::jwt::Keys::load(&config));
            rfd_api::server::context_with_keys(config, keys)
        };
        let server = ok(rfd_api::server::start(context));
        let base = format!("http://{}", server.local_addr());
        Self { server: Some(server), base, store, db, dir }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            // Stop it in the background; the test's runtime is ending.
            drop(tokio::spawn(server.close()));
        }
    }
}

/// The CLI with its config in `home`, `host` as `RFD_HOST`, no `RFD_TOKEN` or
/// `RFD_FORMAT` from the environment unless `env` sets them.
pub fn command(home: &Path, host: &str, args: &[&str], env: &[(&str, &str)]) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(CLI);
    command
        .args(args)
        .env("RFD_CONFIG_DIR", home)
        .env("RFD_HOST", host)
        .env_remove("RFD_TOKEN")
        .env_remove("RFD_FORMAT")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for (key, value) in env {
        command.env(key, value);
    }
    command
}

/// Runs the CLI to its end (see [`command`]), feeding `stdin` when given.
pub async fn run(
    home: &Path,
    host: &str,
    args: &[&str],
    env: &[(&str, &str)],
    stdin: Option<&str>,
) -> Output {
    let mut command = command(home, host, args, env);
    if stdin.is_some() {
        command.stdin(Stdio::piped());
    }
    let mut child = ok(command.spawn());
    if let Some(input) = stdin
        && let Some(mut pipe) = child.stdin.take()
    {
        ok(pipe.write_all(input.as_bytes()).await);
        drop(pipe);
    }
    ok(child.wait_with_output().await)
}

/// The JSON a successful command printed.
pub fn json_of(args: &[&str], output: &Output) -> serde_json::Value {
    assert!(output.status.success(), "rfd-cli {args:?} failed: {}", text(&output.stderr));
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|err| panic!("rfd-cli {args:?} printed no JSON ({err}): {}", text(&output.stdout)))
}

/// A failed command: non-zero exit, nothing on stdout, exactly one line on stderr.
pub fn one_line_error(output: &Output) -> String {
    assert!(!output.status.success(), "expected a failure, got: {}", text(&output.stdout));
    assert!(output.stdout.is_empty(), "stdout of a failure: {}", text(&output.stdout));
    let stderr = text(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "not one line: {stderr:?}");
    assert!(stderr.starts_with("rfd-cli: "), "{stderr}");
    stderr
}

/// The token the CLI stored in `home/config.toml`.
pub fn stored_token(home: &Path) -> Option<String> {
    let text = std::fs::read_to_string(home.join("config.toml")).ok()?;
    let value: toml::Value = toml::from_str(&text).ok()?;
    value.get("token")?.as_str().map(str::to_string)
}
