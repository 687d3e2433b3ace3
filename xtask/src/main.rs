//! `cargo xtask …`: developer tasks.

mod demo_cli;
mod demo_rfds;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::{Parser, Subcommand};
use tokio::process::{Child, Command};

#[derive(Parser)]
#[command(name = "xtask")]
struct Cli {
    #[command(subcommand)]
    command: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Start the platform on its embedded defaults and show it working.
    Demo {
        /// Exit (stopping everything) once the RFDs are listed and searchable, instead of
        /// running until Ctrl-C.
        #[arg(long)]
        exit_when_ready: bool,
    },
    /// Regenerate openapi/rfd-api.json from the API description.
    Openapi,
    /// Regenerate the SDK (rfd-sdk/src/generated/sdk.rs) with progenitor.
    ///
    /// The SDK's spec (rfd-sdk/openapi.json) is --spec, plus, with --fill-from, the
    /// operations of that document that --spec lacks.
    Generate {
        /// The API's OpenAPI document.
        #[arg(long, default_value = xtask::sdk::API_SPEC_PATH)]
        spec: PathBuf,
        /// Also take the operations --spec lacks from this document (for example the
        /// reference API's, openapi/reference/rfd-api-v0.15.json), so client commands can be
        /// written before their operation is served.
        #[arg(long)]
        fill_from: Option<PathBuf>,
    },
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run(Cli::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("xtask: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    std::env::set_current_dir(workspace_root()).context("cd to the workspace root")?;
    match cli.command {
        Task::Openapi => {
            let path = Path::new("openapi/rfd-api.json");
            std::fs::write(path, rfd_api::api::openapi_document()?)?;
            println!("wrote {}", path.display());
            Ok(())
        }
        Task::Demo { exit_when_ready } => demo(exit_when_ready).await,
        Task::Generate { spec, fill_from } => generate(&spec, fill_from.as_deref()),
    }
}

fn generate(spec: &Path, fill_from: Option<&Path>) -> anyhow::Result<()> {
    use xtask::sdk;
    let read = |path: &Path| -> anyhow::Result<serde_json::Value> {
        let text = std::fs::read_to_string(path).with_context(|| format!("read {}", path.display()))?;
        serde_json::from_str(&text).with_context(|| format!("parse {}", path.display()))
    };
    let ours = read(spec)?;
    let combined = match fill_from {
        Some(fill_path) if fill_path.exists() => {
            let (combined, filled) = sdk::merge(&ours, &read(fill_path)?)?;
            println!(
                "filled {} operations and {} components from {}",
                filled.operations.len(),
                filled.components.len(),
                fill_path.display()
            );
            for operation in &filled.operations {
                println!("  {operation}");
            }
            combined
        }
        Some(fill_path) => {
            bail!(
                "{} does not exist (leave out --fill-from to generate from --spec alone)",
                fill_path.display()
            )
        }
        None => ours,
    };
    let text = sdk::spec_text(&combined)?;
    let code = sdk::generate(&text)?;
    std::fs::write(sdk::SDK_SPEC_PATH, text)?;
    std::fs::write(sdk::SDK_PATH, code)?;
    println!("wrote {} and {}", sdk::SDK_SPEC_PATH, sdk::SDK_PATH);
    Ok(())
}

/// Where the demo keeps its repository, config and storage (recreated on every run).
const DEMO_DIR: &str = "target/rfd-demo";

/// The demo's database (dropped and recreated on every run, so it starts empty).
const DEMO_DATABASE: &str = "rfd_demo";

async fn demo(exit_when_ready: bool) -> anyhow::Result<()> {
    let server = rfd_devdb::server().await?;
    server.drop_database(DEMO_DATABASE).await?;
    let database_url = server.ensure_database(DEMO_DATABASE).await?;
    println!("==> PostgreSQL: {}", rfd_devdb::redact(&database_url));

    println!("==> building rfd-api, rfd-processor and rfd-cli");
    let status = std::process::Command::new(env!("CARGO"))
        .args(["build", "--quiet", "-p", "rfd-api", "-p", "rfd-processor", "-p", "rfd-cli"])
        .status()
        .context("run cargo build")?;
    if !status.success() {
        bail!("building rfd-api, rfd-processor and rfd-cli failed");
    }
    // Canonical, so the printed rfd-cli path is short and has no `..`.
    let target = rfd_devdb::target_dir();
    let bin = std::fs::canonicalize(&target).unwrap_or(target).join("debug");

    // A git server of our own: a bare repository people push to, and a clone they push from.
    let dir = std::env::current_dir()?.join(DEMO_DIR);
    if dir.exists() {
        std::fs::remove_dir_all(&dir).with_context(|| format!("clearing {}", dir.display()))?;
    }
    std::fs::create_dir_all(&dir)?;
    let bare = dir.join("rfd.git");
    let work = dir.join("work");
    git(&dir, &["init", "--quiet", "--bare", "--initial-branch=main", "rfd.git"])?;
    git(&dir, &["clone", "--quiet", "rfd.git", "work"])?;
    git(&work, &["checkout", "--quiet", "-B", "main"])?;
    write_files(&work, demo_rfds::INITIAL)?;
    git(&work, &["add", "-A"])?;
    git(&work, &["commit", "--quiet", "-m", "Five RFDs"])?;
    git(&work, &["push", "--quiet", "origin", "main"])?;
    println!(
        "==> git repository {} with RFDs 1-5 (AsciiDoc and Markdown, one with an image)",
        bare.display()
    );

    let address = free_address()?;
    let config_path = dir.join("rfd.toml");
    std::fs::write(&config_path, demo_config(&database_url, address, &bare, &dir))?;
    println!("==> config {}", config_path.display());

    let admin =
        run_capture(&bin.join("rfd-api"), &config_path, &["bootstrap", "--force"], &database_url).await?;
    let api_key = field(&admin, "api_key").context("rfd-api bootstrap printed no api_key")?;
    let trigger_id =
        run_capture(&bin.join("rfd-api"), &config_path, &["trigger", "rotate"], &database_url).await?;
    let trigger_id = trigger_id.trim().to_string();
    let hook = bare.join("hooks/post-receive");
    std::fs::copy("deploy/hooks/post-receive", &hook).context("installing the post-receive hook")?;
    make_executable(&hook)?;
    let api_url = format!("http://{address}");
    git(&bare, &["config", "rfd.triggerUrl", &api_url])?;
    git(&bare, &["config", "rfd.triggerId", &trigger_id])?;
    println!("==> post-receive hook installed (deploy/hooks/post-receive → {})", hook.display());

    let mut api = spawn(&bin.join("rfd-api"), &config_path, &database_url, &dir.join("rfd-api.log"))?;
    let mut processor =
        spawn(&bin.join("rfd-processor"), &config_path, &database_url, &dir.join("rfd-processor.log"))?;
    println!("==> logs: {}/rfd-api.log, {}/rfd-processor.log", DEMO_DIR, DEMO_DIR);
    let result = async {
        wait_healthy(&format!("{api_url}/health"), &mut api, &mut processor).await?;
        println!("==> rfd-api listening on {api_url}; rfd-processor running (its scanner finds RFDs 1-5)");

        write_files(&work, demo_rfds::PUSHED)?;
        git(&work, &["add", "-A"])?;
        git(&work, &["commit", "--quiet", "-m", "RFD 6: plain git as the RFD source"])?;
        println!("==> git push (RFD 6); the hook tells the platform:");
        let output = std::process::Command::new("git")
            .arg("-C")
            .arg(&work)
            .args(["push", "origin", "main"])
            .output()
            .context("git push")?;
        for line in String::from_utf8_lossy(&output.stderr).lines().filter(|l| l.contains("rfd:")) {
            println!("    {line}");
        }
        if !output.status.success() {
            bail!("git push failed: {}", String::from_utf8_lossy(&output.stderr));
        }
        wait_listed_and_searchable(&api_url, &api_key, &mut api, &mut processor).await
    }
    .await;
    if let Err(err) = result {
        stop(&mut api).await;
        stop(&mut processor).await;
        return Err(err);
    }

    let cli = bin.join("rfd-cli");
    let cli = cli.strip_prefix(std::env::current_dir()?).unwrap_or(&cli).display().to_string();
    let commands = demo_cli::demo_commands(&cli, &api_url, &api_key);
    println!("==> RFDs listed and searchable");
    println!();
    println!("  API:           {api_url}");
    println!("  admin API key: {api_key}");
    println!("  repository:    git clone {}   (push to it: the hook triggers the platform)", bare.display());
    println!();
    for command in &commands {
        println!("  {}", command.line());
    }
    println!();
    let outcome = if exit_when_ready {
        // CI proves the printed commands work: each runs exactly as printed and must show
        // what it promises.
        run_printed_commands(&commands).await
    } else {
        println!("==> press Ctrl-C to stop");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            status = api.wait() => println!("rfd-api exited: {status:?}"),
            status = processor.wait() => println!("rfd-processor exited: {status:?}"),
        }
        Ok(())
    };
    stop(&mut api).await;
    stop(&mut processor).await;
    outcome
}

/// Runs the printed `rfd-cli` commands one by one; the first that fails ends the demo.
async fn run_printed_commands(commands: &[demo_cli::CliCommand]) -> anyhow::Result<()> {
    println!("==> running the rfd-cli commands above (--exit-when-ready)");
    for command in commands {
        command.run_and_check().await.context("a printed rfd-cli command does not work")?;
    }
    println!(
        "==> they listed every demo RFD, found RFD {0} and showed RFD {0}; stopping",
        demo_rfds::PUSHED_NUMBER
    );
    Ok(())
}

/// The demo's config: the embedded defaults, plus the plain git source, the trigger, and
/// storage inside the demo directory.
fn demo_config(database_url: &str, address: std::net::SocketAddr, bare: &Path, dir: &Path) -> String {
    format!(
        "# Written by `cargo xtask demo`: the embedded defaults plus what the demo needs.\n\
         database_url = \"{database_url}\"\n\n\
         [api]\naddress = \"{address}\"\n\n\
         [source]\nkind = \"git\"\npath = \"{bare}\"\ndefault_branch = \"main\"\nrfd_dir = \"rfd\"\n\n\
         [trigger]\nenabled = true\n\n\
         [scanner]\ninterval_secs = 60\n\n\
         [storage]\nbackend = \"local\"\ndir = \"{storage}\"\npublic_url = \"http://{address}/storage\"\n",
        bare = bare.display(),
        storage = dir.join("storage").display(),
    )
}

/// 127.0.0.1:8080 if it is free, else any free port (several demos may run at once).
fn free_address() -> anyhow::Result<std::net::SocketAddr> {
    let preferred = std::net::SocketAddr::from(([127, 0, 0, 1], 8080));
    if std::net::TcpListener::bind(preferred).is_ok() {
        return Ok(preferred);
    }
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0)).context("finding a free port")?;
    Ok(listener.local_addr()?)
}

fn git(dir: &Path, args: &[&str]) -> anyhow::Result<()> {
    let output = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_AUTHOR_NAME", "RFD demo")
        .env("GIT_AUTHOR_EMAIL", "demo@example.com")
        .env("GIT_COMMITTER_NAME", "RFD demo")
        .env("GIT_COMMITTER_EMAIL", "demo@example.com")
        .output()
        .context("run git (is it installed?)")?;
    if !output.status.success() {
        bail!("git {}: {}", args.join(" "), String::from_utf8_lossy(&output.stderr).trim());
    }
    Ok(())
}

fn write_files(root: &Path, files: &[(&str, &str)]) -> anyhow::Result<()> {
    for (path, content) in files {
        let path = root.join(path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&path, content).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

fn make_executable(path: &Path) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mut permissions = std::fs::metadata(path)?.permissions();
        permissions.set_mode(0o755);
        std::fs::set_permissions(path, permissions)?;
    }
    Ok(())
}

/// Runs `binary --config CONFIG ARGS…` to completion and returns its standard output.
async fn run_capture(
    binary: &Path,
    config: &Path,
    args: &[&str],
    database_url: &str,
) -> anyhow::Result<String> {
    let output = Command::new(binary)
        .arg("--config")
        .arg(config)
        .args(args)
        .env("DATABASE_URL", database_url)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .output()
        .await
        .with_context(|| format!("run {} {}", binary.display(), args.join(" ")))?;
    if !output.status.success() {
        bail!(
            "{} {} failed: {}",
            binary.display(),
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// The value of a `key: value` line.
fn field(text: &str, key: &str) -> Option<String> {
    text.lines().find_map(|line| line.strip_prefix(&format!("{key}: ")).map(|v| v.trim().to_string()))
}

/// Waits until every demo RFD is listed by `GET /rfd` and the search word finds RFD 6
/// through `GET /rfd-search`, both with the admin key.
async fn wait_listed_and_searchable(
    api_url: &str,
    api_key: &str,
    api: &mut Child,
    processor: &mut Child,
) -> anyhow::Result<()> {
    let client = reqwest::Client::builder().timeout(Duration::from_secs(5)).build()?;
    let deadline = Instant::now() + Duration::from_secs(180);
    let mut last = String::from("nothing yet");
    loop {
        if let Some(status) = api.try_wait()? {
            bail!("rfd-api exited early: {status}");
        }
        if let Some(status) = processor.try_wait()? {
            bail!("rfd-processor exited early: {status}");
        }
        match listed_and_found(&client, api_url, api_key).await {
            Ok(true) => return Ok(()),
            Ok(false) => {}
            Err(err) => last = format!("{err:#}"),
        }
        if Instant::now() > deadline {
            bail!("the RFDs were not listed and searchable within 180 s (last: {last})");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn listed_and_found(client: &reqwest::Client, api_url: &str, api_key: &str) -> anyhow::Result<bool> {
    let listed = client.get(format!("{api_url}/rfd")).bearer_auth(api_key).send().await?;
    if listed.status() == reqwest::StatusCode::NOT_FOUND {
        // A build without the RFD endpoints yet: every RFD's job has succeeded instead.
        return all_jobs_succeeded(client, api_url, api_key).await;
    }
    let listed: serde_json::Value = listed.error_for_status()?.json().await?;
    let numbers: Vec<i64> = listed
        .as_array()
        .map(|rfds| rfds.iter().filter_map(|rfd| rfd["rfd_number"].as_i64()).collect())
        .unwrap_or_default();
    if !demo_rfds::RFDS.iter().all(|(n, _)| numbers.contains(&i64::from(*n))) {
        return Ok(false);
    }
    let found = client
        .get(format!("{api_url}/rfd-search"))
        .query(&[("q", demo_rfds::SEARCH_WORD)])
        .bearer_auth(api_key)
        .send()
        .await?;
    if found.status() == reqwest::StatusCode::NOT_FOUND {
        println!("==> (GET /rfd-search is not served by this build; the RFDs are indexed by the processor)");
        return Ok(true);
    }
    let found: serde_json::Value = found.error_for_status()?.json().await?;
    let hits = found["hits"].as_array().map(Vec::len).unwrap_or(0);
    Ok(hits > 0)
}

/// Whether every demo RFD has a job that succeeded (`GET /job?rfd=N`).
async fn all_jobs_succeeded(client: &reqwest::Client, api_url: &str, api_key: &str) -> anyhow::Result<bool> {
    for (number, _) in demo_rfds::RFDS {
        let jobs: serde_json::Value = client
            .get(format!("{api_url}/job"))
            .query(&[("rfd", number.to_string())])
            .bearer_auth(api_key)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let done = jobs.as_array().is_some_and(|jobs| {
            jobs.iter()
                .any(|job| job["processed"] == serde_json::Value::Bool(true) || job["state"] == "succeeded")
        });
        if !done {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Starts `binary --config CONFIG`, its log going to `log` (the demo's output stays readable).
fn spawn(binary: &Path, config: &Path, database_url: &str, log: &Path) -> anyhow::Result<Child> {
    let file = std::fs::File::create(log).with_context(|| format!("create {}", log.display()))?;
    Command::new(binary)
        .arg("--config")
        .arg(config)
        .env("DATABASE_URL", database_url)
        .stdin(Stdio::null())
        .stdout(file.try_clone()?)
        .stderr(file)
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("start {}", binary.display()))
}

async fn wait_healthy(url: &str, api: &mut Child, processor: &mut Child) -> anyhow::Result<()> {
    let client = reqwest::Client::builder().timeout(Duration::from_secs(3)).build()?;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = api.try_wait()? {
            bail!("rfd-api exited early: {status}");
        }
        if let Some(status) = processor.try_wait()? {
            bail!("rfd-processor exited early: {status}");
        }
        if let Ok(response) = client.get(url).send().await
            && response.status().is_success()
        {
            let body: serde_json::Value = response.json().await.unwrap_or_default();
            if body["status"] == "ok" {
                return Ok(());
            }
        }
        if Instant::now() > deadline {
            bail!("{url} did not answer 200 within 60 s");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Asks a child to stop (SIGTERM, so it shuts down cleanly), then waits for it.
async fn stop(child: &mut Child) {
    if let Some(pid) = child.id() {
        let _sent = Command::new("kill").arg("-TERM").arg(pid.to_string()).status().await;
    }
    if tokio::time::timeout(Duration::from_secs(10), child.wait()).await.is_err() {
        let _killed = child.kill().await;
    }
}
