//! The `rfd-processor` binary.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use rfd_model::{JobFilter, JobState, Page, Store};
use rfd_processor::config::ProcessorConfig;
use rfd_processor::events::{EventDeliverer, WithEvents};
use rfd_processor::metrics::{GitHubStats, Measured, ProcessorMetrics};
use rfd_processor::pipeline::{JobProcessor, Pipeline, UpdateMode};
use rfd_processor::runner::Runner;
use rfd_processor::scanner::Scanner;
use secrecy::ExposeSecret;

#[derive(Parser)]
#[command(name = "rfd-processor", version, about = "The RFD platform's worker")]
struct Cli {
    /// The platform's config file (see config.example.toml).
    #[arg(long, global = true, value_name = "PATH")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the worker (the default).
    Run,
    /// Scan the repository once for anything webhooks missed, enqueue it, and exit.
    Scan,
    /// Rebuild the search index from the database (the latest revision of every RFD).
    Reindex,
    /// Render one RFD folder (README.adoc or README.md with its files) to a PDF, locally.
    Pdf {
        /// The RFD folder.
        dir: PathBuf,
        /// Where to write the PDF.
        #[arg(short, long, value_name = "FILE")]
        output: PathBuf,
    },
    /// Inspect and manage the job queue.
    Jobs {
        #[command(subcommand)]
        command: JobsCommand,
    },
}

#[derive(Subcommand)]
enum JobsCommand {
    /// List jobs, newest first.
    List {
        /// Only jobs in this state (queued, running, succeeded, failed, superseded).
        #[arg(long)]
        state: Option<JobState>,
        /// Only jobs of this RFD.
        #[arg(long)]
        rfd: Option<i32>,
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
    /// Put a failed job back in the queue with fresh attempts.
    Retry {
        /// The job id.
        id: i32,
    },
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
    if let Some(Command::Pdf { dir, output }) = &cli.command {
        // Needs no config file: only the renderer.
        return render_pdf(dir, output).await;
    }
    let path = cli.config.context("--config PATH is required (see config.example.toml)")?;
    let config = ProcessorConfig::load(&path)?;
    match cli.command.unwrap_or(Command::Run) {
        Command::Run => work(config).await,
        Command::Jobs { command } => jobs(config, command).await,
        Command::Scan => scan_once(config).await,
        Command::Pdf { .. } => Ok(()),
        Command::Reindex => reindex(config).await,
    }
}

async fn jobs(config: ProcessorConfig, command: JobsCommand) -> anyhow::Result<()> {
    let store = Store::new(rfd_model::db::pool(config.database_url.expose_secret(), &config.database));
    match command {
        JobsCommand::List { state, rfd, limit } => {
            let jobs = store.list_jobs(&JobFilter { rfd, state }, Page::first(limit)).await?;
            println!(
                "{:>8}  {:<10}  {:>5}  {:<12}  {:<10}  {:>8}  last error",
                "id", "state", "rfd", "branch", "sha", "attempts"
            );
            for job in jobs {
                println!(
                    "{:>8}  {:<10}  {:>5}  {:<12}  {:<10}  {:>8}  {}",
                    job.id,
                    job.state.as_str(),
                    job.rfd.map(|n| n.to_string()).unwrap_or_else(|| "-".into()),
                    job.branch,
                    job.sha.chars().take(10).collect::<String>(),
                    format!("{}/{}", job.attempts, job.max_attempts),
                    job.last_error.unwrap_or_default().lines().next().unwrap_or_default(),
                );
            }
            Ok(())
        }
        JobsCommand::Retry { id } => {
            let job = store.retry_job(id).await.with_context(|| format!("retrying job {id}"))?;
            println!("job {} queued again (state {})", job.id, job.state);
            Ok(())
        }
    }
}

async fn work(config: ProcessorConfig) -> anyhow::Result<()> {
    rfd_model::config::init_logging(config.log_format);
    let shutdown = rfd_model::config::Shutdown::install();
    let url = config.database_url.expose_secret().to_string();
    tokio::select! {
        result = rfd_model::migrations::migrate_when_ready(&url) => result?,
        () = shutdown.clone().requested() => return Ok(()),
    }
    let store = Store::new(rfd_model::db::pool(&url, &config.database));
    let search = config.search.open(&store).context("setting up search ([search])")?;
    // GitHub call counts and the rate limit go to the metrics when the source is GitHub.
    let (source, github) = match config.open_source().await? {
        Some(opened) => (Some(opened.source), opened.github),
        None => (None, None),
    };
    let metrics = Arc::new(ProcessorMetrics::new(github.map(|github| github as Arc<dyn GitHubStats>)));
    let metrics_server = match config.metrics.processor_address {
        Some(address) => {
            let listener = tokio::net::TcpListener::bind(address).await.with_context(|| {
                format!("listening for metrics on {address} ([metrics] processor_address)")
            })?;
            tracing::info!(%address, "serving metrics at /metrics");
            Some(tokio::spawn(rfd_processor::metrics::serve(listener, metrics.clone())))
        }
        None => None,
    };
    store
        .sync_event_subscribers(&config.events)
        .await
        .context("copying the [events] subscribers to the database")?;
    let storage = config.storage.open().await.context("setting up storage ([storage])")?;
    let processor = match (&source, config.pipeline.mode) {
        (_, UpdateMode::Skip) => {
            tracing::warn!("[pipeline] mode = \"skip\": jobs are marked succeeded without being processed");
            JobProcessor::Skip
        }
        (Some(source), mode) => {
            tracing::info!(
                mode = ?mode,
                actions = ?config.pipeline.actions,
                repository = %format!("{}/{}", source.location().owner, source.location().repository),
                "pipeline ready"
            );
            JobProcessor::Pipeline(
                Pipeline::new(
                    store.clone(),
                    source.clone(),
                    config.pipeline.clone(),
                    config.scanner.backfill_limit,
                )
                .with_search(search)
                .with_storage(storage.clone(), config.pdf.clone()),
            )
        }
        (None, _) => {
            tracing::error!(
                "no RFD source is configured ([source] kind): jobs will fail and wait in the queue until it is"
            );
            JobProcessor::Unconfigured
        }
    };
    let scanner = match (&source, config.scanner.enabled, config.pipeline.mode) {
        (Some(source), true, mode) if mode != UpdateMode::Skip => Some(tokio::spawn(
            Scanner::new(store.clone(), source.clone(), config.scanner.clone(), url.clone())
                .with_metrics(metrics.clone())
                .run(shutdown.clone().requested()),
        )),
        _ => None,
    };
    let worker = format!("rfd-processor-{}-{}", std::process::id(), &worker_suffix());
    let events = EventDeliverer::new(store.clone(), config.events.clone())
        .map_err(|err| anyhow::anyhow!("{err}"))?
        .with_metrics(metrics.clone());
    let handler = Measured::new(WithEvents::new(processor, events), metrics);
    let runner = Runner::new(store, handler, config.processor.clone(), worker.clone());
    let listener = tokio::spawn(rfd_processor::runner::listen(url, runner.waker()));
    tracing::info!(
        worker,
        concurrency = config.processor.concurrency,
        "rfd-processor ready, waiting for work"
    );
    runner.run(shutdown.requested()).await;
    listener.abort();
    if let Some(scanner) = scanner {
        scanner.abort();
    }
    if let Some(metrics_server) = metrics_server {
        metrics_server.abort();
    }
    tracing::info!("shut down");
    Ok(())
}

async fn scan_once(config: ProcessorConfig) -> anyhow::Result<()> {
    let source = config.open_source().await?.context("scanning needs a [source] section with `kind`")?.source;
    let url = config.database_url.expose_secret().to_string();
    rfd_model::migrations::migrate_when_ready(&url).await?;
    let store = Store::new(rfd_model::db::pool(&url, &config.database));
    let report = Scanner::new(store, source, config.scanner.clone(), url).scan().await?;
    if report.skipped {
        println!("another processor is scanning right now; nothing done");
    } else {
        println!(
            "scanned {} moved branches: {} jobs enqueued, {} failures (retried by the next scan)",
            report.branches_examined, report.jobs_enqueued, report.failures
        );
    }
    Ok(())
}

async fn render_pdf(dir: &std::path::Path, output: &std::path::Path) -> anyhow::Result<()> {
    use rfd_processor::pipeline::update_pdfs::{PdfSettings, render_dir};
    anyhow::ensure!(dir.is_dir(), "{} is not a directory", dir.display());
    // Render in a copy, so the RFD folder gets no work files.
    let work = tempfile::Builder::new().prefix("rfd-render-").tempdir()?;
    copy_dir(dir, work.path()).with_context(|| format!("copying {}", dir.display()))?;
    let pdf = render_dir(work.path(), &PdfSettings::default()).await?;
    std::fs::write(output, &pdf).with_context(|| format!("writing {}", output.display()))?;
    println!("{} ({} bytes)", output.display(), pdf.len());
    Ok(())
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) -> std::io::Result<()> {
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            std::fs::create_dir_all(&target)?;
            copy_dir(&entry.path(), &target)?;
        } else if entry.file_type()?.is_file() {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

fn worker_suffix() -> String {
    let random: u32 = rand::random();
    format!("{random:08x}")
}

async fn reindex(config: ProcessorConfig) -> anyhow::Result<()> {
    let url = config.database_url.expose_secret().to_string();
    rfd_model::migrations::migrate_when_ready(&url).await?;
    let store = Store::new(rfd_model::db::pool(&url, &config.database));
    let search = config.search.open(&store).context("setting up search ([search])")?;
    let report = rfd_model::search::reindex(&store, search.as_ref()).await.context("reindexing")?;
    println!("indexed {} RFDs ({} sections) into {}", report.rfds, report.sections, search.backend());
    Ok(())
}
