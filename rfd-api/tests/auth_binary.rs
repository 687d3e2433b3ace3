//! `rfd-api bootstrap` and mappers.toml as an operator meets them: the first admin
//! without SQL, and an edited mappers file taking effect on the next start. The
//! process's logs are captured and scanned for the secret.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_rfd-api");

fn ok<T, E: std::fmt::Display>(result: Result<T, E>) -> T {
    result.unwrap_or_else(|err| panic!("{err}"))
}

struct Running {
    child: Child,
    address: String,
    lines: Receiver<String>,
    seen: Vec<String>,
}

impl Running {
    fn start(config: &Path) -> Self {
        let mut child = ok(Command::new(BIN)
            .arg("--config")
            .arg(config)
            .env_remove("DATABASE_URL")
            .env("RUST_LOG", "debug,slog=info")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn());
        let (tx, lines) = std::sync::mpsc::channel();
        for stream in [
            child.stderr.take().map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
            child.stdout.take().map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    let _ = tx.send(line);
                }
            });
        }
        let mut seen = Vec::new();
        let address = loop {
            let line = lines
                .recv_timeout(Duration::from_secs(60))
                .unwrap_or_else(|err| panic!("no listen line: {err}; output so far:\n{}", seen.join("\n")));
            seen.push(line.clone());
            let Ok(event) = serde_json::from_str::<Value>(&line) else { continue };
            if event["message"] == "rfd-api listening" {
                break event["address"].as_str().unwrap_or_default().to_string();
            }
        };
        Self { child, address, lines, seen }
    }

    fn stop(mut self) -> Vec<String> {
        let sent = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        assert!(sent.is_ok_and(|s| s.success()));
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if ok(self.child.try_wait()).is_some() {
                break;
            }
            assert!(Instant::now() < deadline, "rfd-api did not stop");
            std::thread::sleep(Duration::from_millis(50));
        }
        // Give the reader threads a moment to drain.
        std::thread::sleep(Duration::from_millis(100));
        self.seen.extend(self.lines.try_iter());
        self.seen
    }
}

async fn get(address: &str, path: &str, key: &str) -> (u16, Value) {
    let client = reqwest::Client::new();
    let response = ok(client.get(format!("http://{address}{path}")).bearer_auth(key).send().await);
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn mappers(domain: &str) -> String {
    format!(
        "[[groups]]\nname = \"staff\"\npermissions = [\"GetRfdsAll\"]\n\n\
         [[mappers]]\nname = \"staff\"\nrule = \"email_domain\"\ndomain = \"{domain}\"\ngroups = [\"staff\"]\n"
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn bootstrap_then_mappers_file_edits_apply_on_restart() {
    let db = rfd_devdb::test_database().await;
    let dir: PathBuf = std::env::temp_dir().join(format!("rfd-auth-bin-{}", uuid::Uuid::new_v4()));
    ok(std::fs::create_dir_all(&dir));
    let config = dir.join("config.toml");
    // The mappers path is relative: it is resolved against the config file's directory.
    ok(std::fs::write(
        &config,
        format!(
            "database_url = \"{}\"\nlog_format = \"json\"\n[api]\naddress = \"127.0.0.1:0\"\n[auth]\nmappers = \"mappers.toml\"\n",
            db.url
        ),
    ));
    ok(std::fs::write(dir.join("mappers.toml"), mappers("example.com")));

    // Bootstrap prints the key once, on standard output only.
    let output = ok(Command::new(BIN)
        .arg("--config")
        .arg(&config)
        .arg("bootstrap")
        .env_remove("DATABASE_URL")
        .output());
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    let key = stdout
        .lines()
        .find_map(|line| line.strip_prefix("api_key: "))
        .unwrap_or_else(|| panic!("no key in {stdout}"))
        .to_string();
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    assert!(!stderr.contains(&key), "the key was logged");

    // A second bootstrap is refused (users exist) unless forced.
    let again = ok(Command::new(BIN)
        .arg("--config")
        .arg(&config)
        .arg("bootstrap")
        .env_remove("DATABASE_URL")
        .output());
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("--force"));

    let running = Running::start(&config);
    let (status, me) = get(&running.address, "/self", &key).await;
    assert_eq!(status, 200, "{me}");
    assert!(me["info"]["permissions"].as_array().is_some_and(|p| p.contains(&Value::from("GetRfdsAll"))));
    let (status, listed) = get(&running.address, "/mapper", &key).await;
    assert_eq!(status, 200);
    assert_eq!(listed[0]["rule"]["domain"], "example.com");
    let first_id = listed[0]["id"].clone();
    let mut logs = running.stop();

    ok(std::fs::write(dir.join("mappers.toml"), mappers("example.org")));
    let running = Running::start(&config);
    let (_, listed) = get(&running.address, "/mapper", &key).await;
    assert_eq!(listed.as_array().map(Vec::len), Some(1));
    assert_eq!(listed[0]["rule"]["domain"], "example.org");
    assert_eq!(listed[0]["id"], first_id);
    assert_eq!(listed[0]["source"], "preset");
    logs.extend(running.stop());

    // A broken mappers file stops the start-up with its name.
    ok(std::fs::write(dir.join("mappers.toml"), "[[mappers]]\nname = \"x\"\nrule = \"nope\"\n"));
    let failed = ok(Command::new(BIN).arg("--config").arg(&config).env_remove("DATABASE_URL").output());
    assert!(!failed.status.success());
    assert!(String::from_utf8_lossy(&failed.stderr).contains("mappers.toml"));

    // Nothing the processes logged carries the key or its digest.
    use sha2::Digest as _;
    let digest = hex::encode(sha2::Sha256::digest(key.as_bytes()));
    for line in &logs {
        assert!(!line.contains(&key) && !line.contains(&digest), "secret in a log line: {line}");
    }
    assert!(logs.iter().any(|line| line.contains("mappers file applied")), "logs were not captured");
    let _ = std::fs::remove_dir_all(&dir);
}
