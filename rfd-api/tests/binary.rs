//! The `rfd-api` binary as an operator meets it: configuration errors, migrations from
//! several processes at once, and a clean stop on SIGTERM.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_rfd-api");

fn write_config(contents: &str) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!(
        "rfd-api-bin-{}-{}.toml",
        std::process::id(),
        Instant::now().elapsed().as_nanos()
    ));
    std::fs::write(&path, contents).unwrap_or_else(|err| panic!("write config: {err}"));
    path
}

#[test]
fn missing_database_url_is_named_and_fails() {
    let config = write_config("[api]\naddress = \"127.0.0.1:0\"\n");
    let output = Command::new(BIN)
        .arg("--config")
        .arg(&config)
        .env_remove("DATABASE_URL")
        .output()
        .unwrap_or_else(|err| panic!("run rfd-api: {err}"));
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("database_url"), "stderr: {stderr}");
}

#[test]
fn invalid_value_is_named_without_printing_secrets() {
    let config = write_config(
        "database_url = \"postgres://u:s3cr3t-value@127.0.0.1/db\"\n[api]\naddress = \"not an address\"\n",
    );
    let output = Command::new(BIN)
        .arg("--config")
        .arg(&config)
        .env_remove("DATABASE_URL")
        .output()
        .unwrap_or_else(|err| panic!("run rfd-api: {err}"));
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("api.address"), "stderr: {stderr}");
    assert!(!stderr.contains("s3cr3t-value"), "stderr: {stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn two_processes_migrating_at_once_both_succeed() {
    let db = rfd_devdb::empty_database().await;
    let config = write_config(&format!("database_url = \"{}\"\n", db.url));
    let spawn = || {
        Command::new(BIN)
            .arg("--config")
            .arg(&config)
            .arg("migrate")
            .env_remove("DATABASE_URL")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|err| panic!("spawn: {err}"))
    };
    let (a, b) = (spawn(), spawn());
    for child in [a, b] {
        let output = child.wait_with_output().unwrap_or_else(|err| panic!("wait: {err}"));
        assert!(output.status.success(), "migrate failed: {}", String::from_utf8_lossy(&output.stderr));
    }
    let client = rfd_devdb::connect(&db.url).await.unwrap_or_else(|err| panic!("connect: {err}"));
    let tables: i64 = client
        .query_one(
            "SELECT count(*) FROM information_schema.tables WHERE table_name IN ('rfd', 'rfd_revision', 'rfd_pdf')",
            &[],
        )
        .await
        .unwrap_or_else(|err| panic!("count: {err}"))
        .get(0);
    assert_eq!(tables, 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn serves_and_stops_cleanly_on_sigterm() {
    let db = rfd_devdb::test_database().await;
    let config = write_config(&format!(
        "database_url = \"{}\"\nlog_format = \"json\"\n[api]\naddress = \"127.0.0.1:0\"\n",
        db.url
    ));
    let mut child = Command::new(BIN)
        .arg("--config")
        .arg(&config)
        .env_remove("DATABASE_URL")
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|err| panic!("spawn: {err}"));
    let stderr = child.stderr.take().unwrap_or_else(|| panic!("no stderr"));
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let address = loop {
        let line =
            rx.recv_timeout(Duration::from_secs(60)).unwrap_or_else(|err| panic!("no listen line: {err}"));
        let Ok(event) = serde_json::from_str::<serde_json::Value>(&line) else { continue };
        if event["message"] == "rfd-api listening" {
            break event["address"].as_str().unwrap_or_default().to_string();
        }
    };
    let body = reqwest::get(format!("http://{address}/health")).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(body.status().as_u16(), 200);

    let sent = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
    assert!(sent.is_ok_and(|s| s.success()));
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap_or_else(|err| panic!("wait: {err}")) {
            break status;
        }
        assert!(Instant::now() < deadline, "rfd-api did not stop within 15 s of SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "exit status {status}");
}
