//! `cargo xtask …`: developer tasks.

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
        /// Exit (stopping everything) once the platform is up, instead of running until Ctrl-C.
        #[arg(long)]
        exit_when_ready: bool,
        /// Config file to run with.
        #[arg(long, default_value = "config.example.toml")]
        config: PathBuf,
    },
    /// Regenerate openapi/rfd-api.json from the API description.
    Openapi,
    /// Regenerate the SDK (rfd-sdk/src/generated/sdk.rs) with progenitor.
    ///
    /// The SDK's spec (rfd-sdk/openapi.json) is --spec plus the operations of --fill-from
    /// (by default the reference API's document) that --spec lacks.
    Generate {
        /// The API's OpenAPI document.
        #[arg(long, default_value = xtask::sdk::API_SPEC_PATH)]
        spec: PathBuf,
        /// Take the operations --spec lacks from this document.
        #[arg(long, default_value = xtask::sdk::REFERENCE_SPEC_PATH, conflicts_with = "no_fill")]
        fill_from: PathBuf,
        /// Generate from --spec alone.
        #[arg(long)]
        no_fill: bool,
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
        Task::Demo { exit_when_ready, config } => demo(&config, exit_when_ready).await,
        Task::Generate { spec, fill_from, no_fill } => generate(&spec, (!no_fill).then_some(&*fill_from)),
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
            bail!("{} does not exist (use --no-fill to generate from --spec alone)", fill_path.display())
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

async fn demo(config_path: &Path, exit_when_ready: bool) -> anyhow::Result<()> {
    let server = rfd_devdb::server().await?;
    let database_url = server.ensure_database("rfd").await?;
    println!("==> PostgreSQL: {}", rfd_devdb::redact(&database_url));

    let status = std::process::Command::new(env!("CARGO"))
        .args(["build", "--quiet", "-p", "rfd-api", "-p", "rfd-processor"])
        .status()
        .context("run cargo build")?;
    if !status.success() {
        bail!("building rfd-api and rfd-processor failed");
    }
    // SAFETY of the environment: DATABASE_URL reaches only the children we start.
    let api_config = {
        // The config is read the way rfd-api reads it, with our database in place.
        let mut config = rfd_api::config::ApiConfig::load(config_path)?;
        config.database_url = database_url.clone().into();
        config
    };
    let address = api_config.api.address;
    let bin = rfd_devdb::target_dir().join("debug");
    let mut api = spawn(&bin.join("rfd-api"), config_path, &database_url)?;
    let mut processor = spawn(&bin.join("rfd-processor"), config_path, &database_url)?;

    let health_url = format!("http://{address}/health");
    let result = wait_healthy(&health_url, &mut api, &mut processor).await;
    if let Err(err) = result {
        stop(&mut api).await;
        stop(&mut processor).await;
        return Err(err);
    }
    println!("==> rfd-api listening on http://{address}");
    println!("==> rfd-processor running and waiting for work");
    println!("==> GET {health_url}: 200 (database up)");
    if exit_when_ready {
        println!("==> stopping (--exit-when-ready)");
    } else {
        println!("==> press Ctrl-C to stop");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            status = api.wait() => println!("rfd-api exited: {status:?}"),
            status = processor.wait() => println!("rfd-processor exited: {status:?}"),
        }
    }
    stop(&mut api).await;
    stop(&mut processor).await;
    Ok(())
}

fn spawn(binary: &Path, config: &Path, database_url: &str) -> anyhow::Result<Child> {
    Command::new(binary)
        .arg("--config")
        .arg(config)
        .env("DATABASE_URL", database_url)
        .stdin(Stdio::null())
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
