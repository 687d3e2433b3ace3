//! The `rfd-api` binary.

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use rfd_api::config::ApiConfig;
use secrecy::ExposeSecret;
use std::path::PathBuf;

#[derive(Parser)]
#[command(name = "rfd-api", version, about = "The RFD platform's HTTP API")]
struct Cli {
    /// The platform's config file (see config.example.toml).
    #[arg(long, global = true, value_name = "PATH")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API (the default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Print the OpenAPI document (or write it to a file).
    Openapi {
        /// Write to this file instead of standard output.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run(Cli::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("rfd-api: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command.unwrap_or(Command::Serve) {
        Command::Openapi { output } => {
            let document = rfd_api::api::openapi_document()?;
            match output {
                Some(path) => {
                    std::fs::write(&path, document).with_context(|| format!("write {}", path.display()))?
                }
                None => print!("{document}"),
            }
            Ok(())
        }
        Command::Migrate => {
            let config = load(cli.config)?;
            rfd_model::config::init_logging(config.log_format);
            let applied = rfd_model::migrations::migrate(config.database_url.expose_secret()).await?;
            tracing::info!(count = applied.len(), "migrations applied");
            Ok(())
        }
        Command::Serve => serve(load(cli.config)?).await,
    }
}

fn load(path: Option<PathBuf>) -> anyhow::Result<ApiConfig> {
    let path = path.context("--config PATH is required (see config.example.toml)")?;
    Ok(ApiConfig::load(&path)?)
}

async fn serve(config: ApiConfig) -> anyhow::Result<()> {
    rfd_model::config::init_logging(config.log_format);
    let shutdown = rfd_model::config::Shutdown::install();
    let url = config.database_url.expose_secret().to_string();
    tokio::select! {
        result = rfd_model::migrations::migrate_when_ready(&url) => result?,
        () = shutdown.clone().requested() => return Ok(()),
    }
    let server = rfd_api::server::start(rfd_api::server::context(config))?;
    tracing::info!(address = %server.local_addr(), "rfd-api listening");
    tokio::select! {
        () = shutdown.requested() => {
            tracing::info!("shutting down");
            server.close().await.map_err(|err| anyhow::anyhow!(err))?;
        }
        result = server.wait_for_shutdown() => result.map_err(|err| anyhow::anyhow!(err))?,
    }
    Ok(())
}
