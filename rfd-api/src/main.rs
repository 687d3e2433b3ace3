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
    /// Create the first administrator (every permission) and print an API key for it
    /// once. Refuses when users exist, unless --force.
    Bootstrap {
        /// Days until the key expires.
        #[arg(long, default_value_t = 90)]
        days: u32,
        /// Create another administrator even though users exist.
        #[arg(long)]
        force: bool,
    },
    /// Print the OpenAPI document (or write it to a file).
    Openapi {
        /// Write to this file instead of standard output.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// The trigger of git servers' post-receive hooks (POST /trigger/{id}).
    Trigger {
        #[command(subcommand)]
        command: TriggerCommand,
    },
}

#[derive(Subcommand)]
enum TriggerCommand {
    /// Make a new trigger id and print it once; the old id stops working at once.
    Rotate,
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
        Command::Bootstrap { days, force } => {
            let config = load(cli.config)?;
            rfd_model::config::init_logging(config.log_format);
            let url = config.database_url.expose_secret().to_string();
            rfd_model::migrations::migrate(&url).await?;
            let store = rfd_model::Store::new(rfd_model::db::pool(&url, &config.database));
            let admin =
                rfd_api::bootstrap::bootstrap(&store, chrono::Duration::days(i64::from(days.max(1))), force)
                    .await?;
            // The key goes to standard output only, once; logs never carry it.
            println!("user_id: {}", admin.user_id);
            println!("api_key_id: {}", admin.key_id);
            println!("expires_at: {}", admin.expires_at.to_rfc3339());
            println!("api_key: {}", admin.key);
            Ok(())
        }
        Command::Serve => serve(load(cli.config)?).await,
        Command::Trigger { command: TriggerCommand::Rotate } => {
            let config = load(cli.config)?;
            rfd_model::config::init_logging(config.log_format);
            let url = config.database_url.expose_secret().to_string();
            rfd_model::migrations::migrate(&url).await?;
            let store = rfd_model::Store::new(rfd_model::db::pool(&url, &config.database));
            let id = rfd_api::trigger::rotate(&store).await.context("storing the new trigger id")?;
            if !config.trigger.enabled {
                eprintln!(
                    "note: [trigger] enabled = false in this config; the endpoint answers 404 until it is true"
                );
            }
            // The id goes to standard output only, once; logs never carry it.
            println!("{}", id.value);
            Ok(())
        }
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
    let keys = rfd_api::auth::jwt::Keys::load(&config)?;
    if !keys.can_sign() {
        tracing::warn!("no [[jwt.keys]] entry with a private key: access tokens cannot be issued");
    }
    // A configured source that cannot be used is refused at start, not found on first write.
    let source = rfd_api::source::open(&config).await?;
    match &source {
        Some(source) => {
            tracing::info!(source.repository = %source.location().repository, "RFD writes enabled")
        }
        None => tracing::warn!("no RFD source is configured ([source] kind): RFD writes answer 503"),
    }
    if let Some(path) = &config.auth.mappers {
        let path = config.resolve(path);
        let store = rfd_model::Store::new(rfd_model::db::pool(&url, &config.database));
        rfd_api::auth::mappers::apply_file(&store, &path).await?;
    }
    if !config.auth.oauth_clients.is_empty() {
        let store = rfd_model::Store::new(rfd_model::db::pool(&url, &config.database));
        rfd_api::clients::ensure_configured(&store, &config).await?;
    }
    if config.trigger.enabled {
        anyhow::ensure!(
            config.source.location().is_some(),
            "[trigger] enabled needs a [source] with `kind` (and `path` or `url` for git, `owner` and `repository` for github)"
        );
        let store = rfd_model::Store::new(rfd_model::db::pool(&url, &config.database));
        match store.trigger_hash().await {
            Ok(Some(_)) => tracing::info!("trigger enabled: POST /trigger/{{id}} (git post-receive hooks)"),
            Ok(None) => tracing::warn!(
                "trigger enabled but no id is set: run `rfd-api --config FILE trigger rotate` to make one"
            ),
            Err(err) => tracing::warn!(error = %err, "trigger enabled; its id could not be checked"),
        }
    }
    let mut context = rfd_api::server::context_with_keys(config, keys);
    if let Some(source) = source {
        context.source = rfd_api::source::ApiSource::ready(&context.config, source);
    }
    let server = rfd_api::server::start(context)?;
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
