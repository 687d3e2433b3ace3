//! The processor starts against a real database, migrates it, waits for work, and stops
//! cleanly on SIGTERM.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread")]
async fn starts_migrates_waits_and_stops_on_sigterm() {
    let db = rfd_devdb::empty_database().await;
    let config = std::env::temp_dir().join(format!("rfd-processor-{}.toml", std::process::id()));
    std::fs::write(&config, format!("database_url = \"{}\"\nlog_format = \"json\"\n", db.url))
        .unwrap_or_else(|err| panic!("write config: {err}"));

    let mut child = Command::new(env!("CARGO_BIN_EXE_rfd-processor"))
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
    loop {
        let line =
            rx.recv_timeout(Duration::from_secs(60)).unwrap_or_else(|err| panic!("never ready: {err}"));
        if line.contains("waiting for work") {
            break;
        }
    }
    // It applied the migrations to the empty database before saying so.
    let client = rfd_devdb::connect(&db.url).await.unwrap_or_else(|err| panic!("connect: {err}"));
    let migrated = client
        .query_opt("SELECT 1 FROM information_schema.tables WHERE table_name = 'rfd_revision'", &[])
        .await
        .unwrap_or_else(|err| panic!("query: {err}"));
    assert!(migrated.is_some());

    let sent = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
    assert!(sent.is_ok_and(|s| s.success()));
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap_or_else(|err| panic!("wait: {err}")) {
            break status;
        }
        assert!(Instant::now() < deadline, "rfd-processor did not stop within 15 s of SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "exit status {status}");
}
