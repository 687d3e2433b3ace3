//! Helpers shared by the client, magic-link and linking tests: a real server on a real
//! database with real RSA keys, a user factory, log capture, and a real SMTP server
//! (aiosmtpd from PyPI) that reports each message it receives.

#![allow(dead_code)]

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use uuid::Uuid;

use crate::http_common::TestApi;

pub fn ok<T, E: std::fmt::Display>(result: Result<T, E>) -> T {
    result.unwrap_or_else(|err| panic!("{err}"))
}

/// Everything logged in this test process (each nextest test is its own process).
pub fn logs() -> Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let writer = buffer.clone();
        let _ = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || LogWriter(writer.clone()))
            .try_init();
        buffer
    })
    .clone()
}

struct LogWriter(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut logs) = self.0.lock() {
            logs.extend_from_slice(buf);
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

pub fn captured_logs() -> String {
    let logs = logs();
    logs.lock().map(|l| String::from_utf8_lossy(&l).into_owned()).unwrap_or_default()
}

/// A temporary directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("rfd-clients-{}", Uuid::new_v4()));
        ok(std::fs::create_dir_all(&dir));
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap_or_default()
}

pub struct App {
    api: TestApi,
    pub database_url: String,
    _dir: TempDir,
}

impl std::ops::Deref for App {
    type Target = TestApi;

    fn deref(&self) -> &TestApi {
        &self.api
    }
}

impl App {
    /// Starts a server with a signing key and `extra` config appended.
    pub async fn start(database_url: &str, extra: &str) -> Self {
        logs();
        let dir = TempDir::new();
        let private = dir.0.join("k.pem");
        let public = dir.0.join("k.pub.pem");
        let run = |args: &[&str]| {
            let out = ok(Command::new("openssl").args(args).output());
            assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        };
        run(&["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", path(&private)]);
        run(&["pkey", "-in", path(&private), "-pubout", "-out", path(&public)]);
        let config = format!(
            "{}public_url = \"http://rfd.test\"\n[jwt]\ndefault_expiration_secs = 600\n\
             [[jwt.keys]]\nkid = \"k1\"\npublic = \"{}\"\nprivate = \"{}\"\n{extra}",
            crate::http_common::base_config(database_url),
            path(&public),
            path(&private)
        );
        let api = TestApi::start_in(&dir.0, &config, database_url);
        Self { api, database_url: database_url.to_string(), _dir: dir }
    }

    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let (status, answer) = self.api.call(method, path, token, body).await;
        // Kept for the check that no response carries a secret.
        let text = match &answer {
            Value::String(text) => text.clone(),
            json => json.to_string(),
        };
        if let Ok(mut all) = RESPONSES.lock() {
            all.push(text);
        }
        (status, answer)
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> (u16, Value) {
        self.call(reqwest::Method::GET, path, token, None).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> (u16, Value) {
        self.call(reqwest::Method::POST, path, token, Some(body)).await
    }

    pub async fn delete(&self, path: &str, token: Option<&str>) -> (u16, Value) {
        self.call(reqwest::Method::DELETE, path, token, None).await
    }

    /// A user holding `permissions`, and an API key for it.
    pub async fn user_with_key(&self, permissions: Value) -> (Uuid, String) {
        self.api.user_with_key(permissions, &[]).await
    }

    /// Runs SQL on the test database (for checks and for moving clocks).
    pub async fn sql(&self, query: &str) -> Vec<tokio_postgres::Row> {
        let client = ok(rfd_devdb::connect(&self.database_url).await);
        ok(client.query(query, &[]).await)
    }
}

/// Every response body received in this test process, to check none carries a secret.
static RESPONSES: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Every response body received so far.
pub fn responses() -> Vec<String> {
    RESPONSES.lock().map(|all| all.clone()).unwrap_or_default()
}

/// One email as the SMTP server received it.
#[derive(Debug, serde::Deserialize)]
pub struct Received {
    pub mail_from: String,
    pub rcpt_tos: Vec<String>,
    pub subject: String,
    pub body: String,
}

/// A real SMTP server (aiosmtpd) on a free local port, printing one JSON line per
/// message received.
pub struct SmtpServer {
    pub port: u16,
    child: tokio::process::Child,
    lines: tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
    _dir: TempDir,
}

const SMTP_SCRIPT: &str = r#"
import asyncio, email, email.policy, json, sys
from aiosmtpd.controller import Controller

class Handler:
    async def handle_DATA(self, server, session, envelope):
        msg = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        print(json.dumps({
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "subject": str(msg["subject"]),
            "body": msg.get_content(),
        }), flush=True)
        return "250 OK"

controller = Controller(Handler(), hostname="127.0.0.1", port=int(sys.argv[1]))
controller.start()
print("READY", flush=True)
try:
    sys.stdin.read()
finally:
    controller.stop()
"#;

pub fn free_port() -> u16 {
    let listener = ok(std::net::TcpListener::bind("127.0.0.1:0"));
    ok(listener.local_addr()).port()
}

impl SmtpServer {
    /// Starts the server. Fails (never skips) when aiosmtpd is missing.
    pub async fn start() -> Self {
        let dir = TempDir::new();
        let script = dir.0.join("smtp_sink.py");
        let mut file = ok(std::fs::File::create(&script));
        ok(file.write_all(SMTP_SCRIPT.as_bytes()));
        let port = free_port();
        let mut child = ok(tokio::process::Command::new("python3")
            .arg(&script)
            .arg(port.to_string())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn());
        let stdout = child.stdout.take().unwrap_or_else(|| panic!("no stdout"));
        let mut lines = BufReader::new(stdout).lines();
        let ready = ok(tokio::time::timeout(Duration::from_secs(30), lines.next_line()).await);
        assert_eq!(
            ok(ready).as_deref(),
            Some("READY"),
            "the SMTP server did not start: install it with `pip install aiosmtpd`"
        );
        Self { port, child, lines, _dir: dir }
    }

    /// The next message received.
    pub async fn next_message(&mut self) -> Received {
        let line = ok(tokio::time::timeout(Duration::from_secs(30), self.lines.next_line()).await);
        let line = ok(line).unwrap_or_else(|| panic!("the SMTP server stopped"));
        ok(serde_json::from_str(&line))
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}
