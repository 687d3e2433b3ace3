//! The `rfd-processor` binary.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Parser;
use rfd_processor::config::ProcessorConfig;
use secrecy::ExposeSecret;

#[derive(Parser)]
#[command(name = "rfd-processor", version, about = "The RFD platform's worker")]
struct Cli {
    /// The platform's config file (see config.example.toml).
    #[arg(long, value_name = "PATH")]
    config: PathBuf,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run(Cli::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("rfd-processor: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let config = ProcessorConfig::load(&cli.config).context("loading configuration")?;
    rfd_model::config::init_logging(config.log_format);
    let url = config.database_url.expose_secret().to_string();
    tokio::select! {
        result = rfd_model::migrations::migrate_when_ready(&url) => result?,
        () = rfd_model::config::shutdown_signal() => return Ok(()),
    }
    let store = rfd_model::Store::new(rfd_model::db::pool(&url, &config.database));
    store.ping().await.context("checking the database")?;
    tracing::info!("rfd-processor ready, waiting for work");
    rfd_model::config::shutdown_signal().await;
    tracing::info!("shutting down");
    Ok(())
}
