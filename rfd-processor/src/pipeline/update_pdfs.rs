//! `UpdatePdfs`: renders the revision's PDF with asciidoctor-pdf and keeps it in storage.
//!
//! - AsciiDoc RFDs render directly, with the folder's images and `include::` files (the
//!   folder is written to a temporary directory; safe mode keeps includes inside it) and
//!   code highlighted by Rouge. Markdown RFDs are first converted to AsciiDoc by pandoc.
//! - One PDF per revision, at `pdf/NNNN/<commit>.pdf`: a historic revision keeps its own
//!   file, never overwritten by a later one. Its content id is the folder's git tree id,
//!   so a retried or repeated job renders nothing when the PDF is already stored.
//! - Every PDF gets an `rfd_pdf` row (source `google` for Cloud Storage, `github` for the
//!   platform's own directory: the reference's enum has only these two values and clients
//!   generated from it reject any other).
//! - A missing renderer or a document it cannot render does not stop the job: the action
//!   ends with a warning on the job saying what to install or what failed. Storage and
//!   database failures stop the attempt, so the queue retries it.
//! - Cloud Storage is written in `write` mode only; the local directory in every mode.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use rfd_model::storage::{BlobStore, StorageKind, validate_key};
use rfd_model::{NewPdf, PdfSource};
use serde::Deserialize;

use super::copy_images_to_storage::may_write;
use super::{Action, ActionContext, ActionError};

/// What to install when the renderer is missing.
pub const INSTALL_HINT: &str = "install the Debian packages asciidoctor ruby-asciidoctor-pdf ruby-rouge \
     (and pandoc for Markdown RFDs): apt-get install asciidoctor ruby-asciidoctor-pdf ruby-rouge pandoc";

/// `[pdf]` in the config file: the programs that render PDFs.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PdfSettings {
    /// The asciidoctor-pdf command (a name on PATH or a path).
    pub asciidoctor_pdf: String,
    /// The pandoc command, for Markdown RFDs.
    pub pandoc: String,
    /// Longest a render may take, in seconds.
    pub timeout_secs: u64,
}

impl Default for PdfSettings {
    fn default() -> Self {
        Self { asciidoctor_pdf: "asciidoctor-pdf".into(), pandoc: "pandoc".into(), timeout_secs: 120 }
    }
}

/// Why a PDF could not be rendered.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// The program is not installed.
    #[error("{program} was not found: {INSTALL_HINT}")]
    Missing {
        /// The command.
        program: String,
    },
    /// The program ran and failed.
    #[error("{program} failed: {message}")]
    Failed {
        /// The command.
        program: String,
        /// Its error output (last lines).
        message: String,
    },
    /// The folder has no README.adoc or README.md.
    #[error("no README.adoc or README.md in {0}")]
    NoReadme(PathBuf),
    /// Reading or writing the work files failed.
    #[error("{0}")]
    Io(String),
}

async fn run_tool(program: &str, args: &[&str], dir: &Path, timeout: Duration) -> Result<(), RenderError> {
    let mut command = tokio::process::Command::new(program);
    command.args(args).current_dir(dir).kill_on_drop(true).stdin(std::process::Stdio::null());
    let output = match tokio::time::timeout(timeout, command.output()).await {
        Err(_) => {
            return Err(RenderError::Failed {
                program: program.into(),
                message: format!("no result within {} s", timeout.as_secs()),
            });
        }
        Ok(Err(err)) if err.kind() == std::io::ErrorKind::NotFound => {
            return Err(RenderError::Missing { program: program.into() });
        }
        Ok(Err(err)) => {
            return Err(RenderError::Failed { program: program.into(), message: err.to_string() });
        }
        Ok(Ok(output)) => output,
    };
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let tail: Vec<&str> = stderr.lines().rev().take(5).collect();
    Err(RenderError::Failed {
        program: program.into(),
        message: format!("{} {}", output.status, tail.into_iter().rev().collect::<Vec<_>>().join(" / ")),
    })
}

/// Renders the RFD folder at `dir` (README.adoc, or README.md, with its other files) and
/// returns the PDF's bytes. Work files are written into `dir`.
pub async fn render_dir(dir: &Path, settings: &PdfSettings) -> Result<Vec<u8>, RenderError> {
    let timeout = Duration::from_secs(settings.timeout_secs.max(1));
    let input = if dir.join("README.adoc").is_file() {
        "README.adoc"
    } else if dir.join("README.md").is_file() {
        run_tool(
            &settings.pandoc,
            &[
                "--from=gfm",
                "--to=asciidoc",
                "--standalone",
                "--shift-heading-level-by=-1",
                "--output=.rfd-converted.adoc",
                "README.md",
            ],
            dir,
            timeout,
        )
        .await?;
        ".rfd-converted.adoc"
    } else {
        return Err(RenderError::NoReadme(dir.to_path_buf()));
    };
    let output = ".rfd-render.pdf";
    run_tool(
        &settings.asciidoctor_pdf,
        &[
            // Includes and images only from inside the folder; nothing fetched from the network.
            "--safe-mode=safe",
            "-a",
            "source-highlighter=rouge",
            "-a",
            "reproducible",
            "-o",
            output,
            input,
        ],
        dir,
        timeout,
    )
    .await?;
    tokio::fs::read(dir.join(output)).await.map_err(|err| RenderError::Io(format!("reading the PDF: {err}")))
}

/// See the module documentation.
pub struct UpdatePdfs {
    storage: Option<Arc<dyn BlobStore>>,
    settings: PdfSettings,
}

impl UpdatePdfs {
    /// Renders into `storage`; with `None` the action does nothing.
    pub fn new(storage: Option<Arc<dyn BlobStore>>, settings: PdfSettings) -> Self {
        Self { storage, settings }
    }
}

/// Where the PDF of RFD `number` at `commit` is kept.
pub fn pdf_key(number: i32, commit: &str) -> String {
    format!("pdf/{number:04}/{commit}.pdf")
}

fn stop(what: &'static str) -> impl FnOnce(String) -> ActionError {
    move |err| ActionError::Stop(format!("{what}: {err}"))
}

impl UpdatePdfs {
    /// Writes the revision's folder into `dir`.
    async fn write_folder(ctx: &ActionContext<'_>, dir: &Path) -> Result<(), ActionError> {
        let readme = if ctx.folder.readme.path.ends_with(".md") { "README.md" } else { "README.adoc" };
        tokio::fs::write(dir.join(readme), &ctx.folder.readme.content)
            .await
            .map_err(|err| stop("writing the README")(err.to_string()))?;
        let folder = ctx.source.location().rfd_path(ctx.number);
        for file in &ctx.folder.files {
            if validate_key(&file.path).is_err() {
                continue;
            }
            let bytes = ctx
                .source
                .read_file(&format!("{folder}/{}", file.path), &ctx.commit.sha)
                .await
                .map_err(|err| ActionError::source("reading a file of the RFD", err))?;
            let path = dir.join(&file.path);
            if let Some(parent) = path.parent() {
                tokio::fs::create_dir_all(parent)
                    .await
                    .map_err(|err| stop("writing files")(err.to_string()))?;
            }
            tokio::fs::write(&path, bytes).await.map_err(|err| stop("writing files")(err.to_string()))?;
        }
        Ok(())
    }
}

#[async_trait]
impl Action for UpdatePdfs {
    fn name(&self) -> &'static str {
        "UpdatePdfs"
    }

    async fn run(&self, ctx: &mut ActionContext<'_>) -> Result<(), ActionError> {
        let Some(storage) = self.storage.as_deref() else {
            tracing::debug!("no storage configured: no PDF");
            return Ok(());
        };
        if !may_write(storage, ctx.mode) {
            tracing::info!(rfd.number = ctx.number, "read mode: no PDF written to cloud storage");
            return Ok(());
        }
        let key = pdf_key(ctx.number, &ctx.commit.sha);
        let content_id = ctx.folder.tree_sha.clone();
        let stored =
            storage.has_same(&key, &content_id).await.map_err(|err| stop("storage")(err.to_string()))?;
        if !stored {
            let work = tempfile::Builder::new()
                .prefix("rfd-render-")
                .tempdir()
                .map_err(|err| stop("making a work directory")(err.to_string()))?;
            Self::write_folder(ctx, work.path()).await?;
            let pdf = match render_dir(work.path(), &self.settings).await {
                Ok(pdf) => pdf,
                Err(
                    err @ (RenderError::Missing { .. }
                    | RenderError::Failed { .. }
                    | RenderError::NoReadme(_)),
                ) => {
                    return Err(ActionError::Continue(format!("no PDF for RFD {}: {err}", ctx.number)));
                }
                Err(err) => return Err(stop("rendering")(err.to_string())),
            };
            storage
                .put(&key, pdf, "application/pdf", &content_id)
                .await
                .map_err(|err| stop("storing the PDF")(err.to_string()))?;
        }
        let source = match storage.kind() {
            StorageKind::Gcs => PdfSource::Google,
            StorageKind::Local => PdfSource::Github,
        };
        ctx.store
            .upsert_pdf(&NewPdf {
                rfd_revision_id: ctx.revision.id,
                rfd_id: ctx.rfd.id,
                source,
                link: storage.public_url(&key),
                external_id: key.clone(),
            })
            .await
            .map_err(|err| stop("recording the PDF")(err.to_string()))?;
        tracing::info!(rfd.number = ctx.number, key = %key, rendered = !stored, "PDF stored");
        Ok(())
    }
}
