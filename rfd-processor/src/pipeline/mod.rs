//! The action pipeline: what a job does to one RFD at one commit.
//!
//! A job reads the RFD folder at its commit, stores the RFD and the revision of the commit
//! that last changed the folder, then runs the configured actions in the configured order.
//!
//! - Each action lives in its own file behind [`Action`]. An action either succeeds, asks
//!   to continue despite an error ([`ActionError::Continue`], kept as a job warning), or
//!   stops the attempt ([`ActionError::Stop`], retried by the queue).
//! - Completion is recorded per job, so a retry resumes after the last completed action.
//!   Actions whose only effect is a content fix are recorded once the fix is committed:
//!   a retry recomputes the fix, and the commit is a no-op if it already landed.
//! - Content fixes (discussion URL, state) from all actions go back as one commit on the
//!   RFD's branch, guarded by the README blob the job read, so a stale job never
//!   overwrites newer content. The commit's own job finds nothing to fix: no loop.
//! - In `read` mode nothing is written outside the platform's database, and the stored
//!   content is the source's.

mod copy_images_to_storage;
mod create_pull_request;
mod ensure_rfd_on_default_is_in_valid_state;
mod ensure_rfd_with_pull_request_is_in_valid_state;
mod process_includes;
mod update_discussion;
mod update_discussion_url;
pub mod update_pdfs;
mod update_pull_request;
mod update_search;

use std::sync::Arc;

use async_trait::async_trait;
use rfd_model::document::{Attribute, RfdDocument};
use rfd_model::source::{CommitInfo, PullRequest, PullRequestState, RfdFolder, RfdSource, SourceError};
use rfd_model::{Attempt, Job, JobKind, NewRevision, NewRfd, Rfd, RfdRevision, Store, Visibility};
use serde::Deserialize;

use crate::runner::{JobError, JobHandler};

/// What the processor does with a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UpdateMode {
    /// Store RFDs and revisions only: no pull request, label or commit anywhere.
    Read,
    /// Do everything.
    #[default]
    Write,
    /// Mark jobs succeeded without reading or writing anything: only for draining a
    /// backlog on purpose or exercising the queue. Logged as a warning at start.
    Skip,
}

/// The actions, by the names used in the config file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum ActionName {
    /// Expand `include::file[]` lines in the stored content.
    ProcessIncludes,
    /// Open a pull request for an RFD in discussion or ideation.
    CreatePullRequest,
    /// Keep the pull request's title and state label in step with the RFD.
    UpdatePullRequest,
    /// Point the `discussion` attribute at the open pull request.
    UpdateDiscussionUrl,
    /// An RFD with an open pull request must be in a state that has one.
    EnsureRfdWithPullRequestIsInValidState,
    /// An RFD on the default branch should be published, committed or abandoned.
    EnsureRfdOnDefaultIsInValidState,
    /// Index the latest revision's sections for search.
    UpdateSearch,
    /// Copy the RFD folder's images and other files (not the README) to storage.
    CopyImagesToStorage,
    /// Render the revision's PDF into storage and record it.
    UpdatePdfs,
    /// Store the pull request's comments for the revision (read mode too).
    UpdateDiscussion,
}

impl ActionName {
    /// Every action, in the order they run by default.
    pub const ALL: [ActionName; 10] = [
        Self::ProcessIncludes,
        Self::UpdateSearch,
        Self::CreatePullRequest,
        Self::UpdatePullRequest,
        Self::UpdateDiscussionUrl,
        Self::EnsureRfdWithPullRequestIsInValidState,
        Self::EnsureRfdOnDefaultIsInValidState,
        Self::UpdateDiscussion,
        Self::CopyImagesToStorage,
        Self::UpdatePdfs,
    ];

    fn action(self) -> Box<dyn Action> {
        match self {
            Self::ProcessIncludes => Box::new(process_includes::ProcessIncludes),
            Self::UpdateSearch => Box::new(update_search::UpdateSearch::default()),
            Self::CopyImagesToStorage => Box::new(copy_images_to_storage::CopyImagesToStorage::new(None)),
            Self::UpdatePdfs => {
                Box::new(update_pdfs::UpdatePdfs::new(None, update_pdfs::PdfSettings::default()))
            }
            Self::CreatePullRequest => Box::new(create_pull_request::CreatePullRequest),
            Self::UpdatePullRequest => Box::new(update_pull_request::UpdatePullRequest),
            Self::UpdateDiscussionUrl => Box::new(update_discussion_url::UpdateDiscussionUrl),
            Self::EnsureRfdWithPullRequestIsInValidState => Box::new(
                ensure_rfd_with_pull_request_is_in_valid_state::EnsureRfdWithPullRequestIsInValidState,
            ),
            Self::EnsureRfdOnDefaultIsInValidState => {
                Box::new(ensure_rfd_on_default_is_in_valid_state::EnsureRfdOnDefaultIsInValidState)
            }
            Self::UpdateDiscussion => Box::new(update_discussion::UpdateDiscussion),
        }
    }
}

/// `[pipeline]` in the config file.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PipelineSettings {
    /// `read` or `write` (default).
    pub mode: UpdateMode,
    /// The actions to run, in order.
    pub actions: Vec<ActionName>,
    /// The message of the commit carrying content fixes.
    pub commit_message: String,
}

impl Default for PipelineSettings {
    fn default() -> Self {
        Self {
            mode: UpdateMode::Write,
            actions: ActionName::ALL.to_vec(),
            commit_message: "Keep the RFD's attributes in step with its pull request".into(),
        }
    }
}

/// Why an action failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ActionError {
    /// The job goes on; the error is kept as a warning on the job.
    #[error("{0}")]
    Continue(String),
    /// The attempt fails here and is retried later, resuming at this action.
    #[error("{0}")]
    Stop(String),
}

impl ActionError {
    /// A source failure stops the attempt: the queue retries it with backoff.
    pub fn source(what: &str, err: SourceError) -> Self {
        Self::Stop(format!("{what}: {err}"))
    }
}

/// One step of the pipeline.
#[async_trait]
pub trait Action: Send + Sync {
    /// The name recorded in the job when the action completes.
    fn name(&self) -> &'static str;

    /// Runs the action. It must be idempotent: a retried job may run it again.
    async fn run(&self, ctx: &mut ActionContext<'_>) -> Result<(), ActionError>;
}

/// A change to one attribute of the README, committed together with the others.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentFix {
    /// Which attribute.
    pub attribute: Attribute,
    /// Its new value.
    pub value: String,
}

/// What an action sees and may change.
pub struct ActionContext<'a> {
    /// The job.
    pub job: &'a Job,
    /// The RFD number.
    pub number: i32,
    /// The database.
    pub store: &'a Store,
    /// The repository.
    pub source: &'a dyn RfdSource,
    /// Read or write.
    pub mode: UpdateMode,
    /// The stored RFD.
    pub rfd: Rfd,
    /// The stored revision.
    pub revision: RfdRevision,
    /// The README as read at the commit.
    pub folder: RfdFolder,
    /// The commit that last changed the RFD folder (the revision's commit).
    pub commit: CommitInfo,
    /// The document with the fixes so far applied: later actions see fixed values.
    pub document: RfdDocument,
    /// Fixes to commit back, in order.
    pub fixes: Vec<ContentFix>,
    pull_requests: Option<Vec<PullRequest>>,
}

impl ActionContext<'_> {
    /// Whether the job's branch is the repository's default branch.
    pub fn on_default_branch(&self) -> bool {
        self.job.branch == self.source.location().default_branch
    }

    /// The pull requests whose head is the job's branch (fetched once per job). Empty on
    /// the default branch and for sources without pull requests.
    pub async fn pull_requests(&mut self) -> Result<&[PullRequest], ActionError> {
        if self.pull_requests.is_none() {
            let found = match self.source.pull_requests() {
                Some(host) if !self.on_default_branch() => host
                    .pull_requests_for_branch(&self.job.branch)
                    .await
                    .map_err(|err| ActionError::source("listing pull requests", err))?,
                _ => Vec::new(),
            };
            self.pull_requests = Some(found);
        }
        Ok(self.pull_requests.as_deref().unwrap_or_default())
    }

    /// The one open pull request of the branch, if there is exactly one.
    pub async fn open_pull_request(&mut self) -> Result<Option<PullRequest>, ActionError> {
        let open: Vec<&PullRequest> =
            self.pull_requests().await?.iter().filter(|pr| pr.state == PullRequestState::Open).collect();
        Ok(match open.as_slice() {
            [one] => Some((*one).clone()),
            _ => None,
        })
    }

    /// Remembers a pull request an action opened, so later actions see it.
    pub fn add_pull_request(&mut self, pr: PullRequest) {
        self.pull_requests.get_or_insert_with(Vec::new).insert(0, pr);
    }

    /// Changes an attribute in the document to commit back.
    pub fn fix(&mut self, attribute: Attribute, value: &str) -> Result<(), ActionError> {
        let changed = self
            .document
            .set_attribute(attribute, value)
            .map_err(|err| ActionError::Stop(format!("cannot set {}: {err}", attribute.as_str())))?;
        if changed {
            self.fixes.push(ContentFix { attribute, value: value.to_string() });
        }
        Ok(())
    }

    /// The pull request title for this RFD.
    pub fn pull_request_title(&self) -> String {
        format!("RFD {} {}", self.number, self.document.title().unwrap_or_default()).trim_end().to_string()
    }
}

/// The name under which the fix commit is recorded in the job.
const COMMIT_STEP: &str = "CommitContentFixes";

/// Runs jobs through the configured actions.
pub struct Pipeline {
    store: Store,
    source: Arc<dyn RfdSource>,
    settings: PipelineSettings,
    actions: Vec<Box<dyn Action>>,
    backfill_limit: usize,
}

impl Pipeline {
    /// A pipeline reading from `source`.
    pub fn new(
        store: Store,
        source: Arc<dyn RfdSource>,
        settings: PipelineSettings,
        backfill_limit: usize,
    ) -> Self {
        let actions = settings.actions.iter().map(|name| name.action()).collect();
        Self { store, source, settings, actions, backfill_limit }
    }

    /// Indexes into `index` instead of the embedded default (PostgreSQL over `store`).
    pub fn with_search(mut self, index: Arc<dyn rfd_model::search::SearchIndex>) -> Self {
        for (action, name) in self.actions.iter_mut().zip(&self.settings.actions) {
            if *name == ActionName::UpdateSearch {
                *action = Box::new(update_search::UpdateSearch::new(index.clone()));
            }
        }
        self
    }

    /// Gives `CopyImagesToStorage` and `UpdatePdfs` their storage (and the renderer's
    /// settings). Without it those two actions do nothing.
    pub fn with_storage(
        mut self,
        storage: Arc<dyn rfd_model::storage::BlobStore>,
        pdf: update_pdfs::PdfSettings,
    ) -> Self {
        for (action, name) in self.actions.iter_mut().zip(&self.settings.actions) {
            match name {
                ActionName::CopyImagesToStorage => {
                    *action =
                        Box::new(copy_images_to_storage::CopyImagesToStorage::new(Some(storage.clone())))
                }
                ActionName::UpdatePdfs => {
                    *action = Box::new(update_pdfs::UpdatePdfs::new(Some(storage.clone()), pdf.clone()))
                }
                _ => {}
            }
        }
        self
    }

    /// Processes one RFD at one commit.
    async fn update(&self, job: &Job, attempt: &Attempt) -> Result<(), JobError> {
        let number = job.rfd.ok_or_else(|| JobError("an RFD update without an RFD number".into()))?;
        let Some(stored) = self.store_revision(job, number).await? else {
            let message = format!("RFD {number} has no README at {}; nothing to store", job.sha);
            tracing::warn!(rfd.number = number, "{message}");
            self.store.add_job_warning(attempt, "ReadRfd", &message).await?;
            return Ok(());
        };
        let StoredRevision { rfd, revision, folder, commit, document } = stored;

        let mut ctx = ActionContext {
            job,
            number,
            store: &self.store,
            source: self.source.as_ref(),
            mode: self.settings.mode,
            rfd,
            revision,
            folder,
            commit,
            document,
            fixes: Vec::new(),
            pull_requests: None,
        };
        // Actions whose only effect so far is a content fix: recorded after the commit.
        let mut awaiting_commit: Vec<&'static str> = Vec::new();
        for action in &self.actions {
            let name = action.name();
            if job.completed_actions.iter().any(|done| done == name) {
                tracing::debug!(action = name, "completed by an earlier attempt");
                continue;
            }
            let fixes_before = ctx.fixes.len();
            match action.run(&mut ctx).await {
                Ok(()) => {}
                Err(ActionError::Continue(message)) => {
                    tracing::warn!(action = name, error = %message, "action failed; continuing");
                    self.store.add_job_warning(attempt, name, &message).await?;
                }
                Err(ActionError::Stop(message)) => {
                    return Err(JobError(format!("{name}: {message}")));
                }
            }
            if ctx.fixes.len() > fixes_before {
                awaiting_commit.push(name);
            } else {
                self.record(attempt, name).await?;
            }
        }

        if !ctx.fixes.is_empty() && !job.completed_actions.iter().any(|done| done == COMMIT_STEP) {
            self.commit_fixes(&ctx, attempt).await?;
        }
        for name in awaiting_commit {
            self.record(attempt, name).await?;
        }
        Ok(())
    }

    async fn record(&self, attempt: &Attempt, action: &str) -> Result<(), JobError> {
        if self.store.record_action(attempt, action).await? {
            Ok(())
        } else {
            Err(JobError("the lease was lost; another worker owns the job now".into()))
        }
    }

    /// Reads the RFD at the job's commit and stores it with its revision.
    async fn store_revision(&self, job: &Job, number: i32) -> Result<Option<StoredRevision>, JobError> {
        let source = self.source.as_ref();
        let Some(folder) = source.read_rfd(number, &job.sha).await.map_err(|err| read_error(number, err))?
        else {
            return Ok(None);
        };
        let document = RfdDocument::parse(folder.readme.format, &folder.readme.content)
            .map_err(|err| JobError(format!("RFD {number} at {}: {err}", job.sha)))?;
        // The revision belongs to the commit that last changed the folder, not to the
        // head of the push: several pushes that do not touch the RFD make no revision.
        let commit = source
            .rfd_commits(number, &job.sha, 1)
            .await
            .map_err(|err| read_error(number, err))?
            .into_iter()
            .next()
            .unwrap_or_else(|| CommitInfo {
                sha: job.sha.clone(),
                committed_at: job.committed_at,
                summary: String::new(),
            });

        let path = source.location().rfd_path(number);
        let rfd = self
            .store
            .upsert_rfd(&NewRfd {
                rfd_number: number,
                link: source.browse_url(&job.branch, &path),
                // Only for a new RFD: an existing one keeps the visibility set through the API.
                visibility: Visibility::Private,
            })
            .await?;
        let previous = self.store.revision_before(rfd.id, commit.committed_at, &commit.sha).await?;
        let major_change = previous.as_ref().is_none_or(|previous| {
            match RfdDocument::parse(previous.content_format, previous.content.as_bytes()) {
                Ok(before) => before.body() != document.body() || before.state_raw() != document.state_raw(),
                Err(_) => true,
            }
        });
        let revision = self
            .store
            .upsert_revision(&NewRevision {
                rfd_id: rfd.id,
                title: document.title().unwrap_or_default().to_string(),
                state: document.state_raw().map(str::to_string),
                discussion: document.discussion().map(str::to_string),
                authors: document.authors().map(str::to_string),
                labels: document.labels().map(str::to_string),
                content: document.content().to_string(),
                content_format: document.format(),
                sha: folder.readme.sha.clone(),
                commit_sha: commit.sha.clone(),
                committed_at: commit.committed_at,
                major_change,
                tree_sha: Some(folder.tree_sha.clone()),
                // Stable codes; the offending text is in the revision's own columns.
                problems: document.problems().iter().map(|p| p.code().to_string()).collect(),
            })
            .await?;
        tracing::info!(rfd.number = number, commit = %commit.sha, major_change, "revision stored");
        crate::events::revision_stored(&self.store, job, number, &revision, previous.as_ref()).await?;
        Ok(Some(StoredRevision { rfd, revision, folder, commit, document }))
    }

    /// Commits every content fix in one commit on the job's branch.
    async fn commit_fixes(&self, ctx: &ActionContext<'_>, attempt: &Attempt) -> Result<(), JobError> {
        let summary: Vec<String> =
            ctx.fixes.iter().map(|fix| format!("{} = {}", fix.attribute.as_str(), fix.value)).collect();
        if ctx.mode != UpdateMode::Write {
            tracing::info!(fixes = ?summary, "read mode: content fixes not committed");
            return self.record(attempt, COMMIT_STEP).await;
        }
        let message = format!(
            "{}\n\nRFD {}: {}\n\nCommitted-by: rfd-processor",
            self.settings.commit_message,
            ctx.number,
            summary.join(", ")
        );
        let result = ctx
            .source
            .commit_file(
                &ctx.job.branch,
                &ctx.folder.readme.path,
                ctx.document.content().as_bytes(),
                &message,
                Some(&ctx.folder.readme.sha),
            )
            .await;
        match result {
            Ok(Some(commit)) => {
                tracing::info!(commit = %commit.sha, fixes = ?summary, "content fixes committed")
            }
            Ok(None) => tracing::info!("content fixes already on the branch"),
            Err(SourceError::Conflict(reason)) => {
                // The README changed on the branch after this commit: the newer commit's
                // job sees the newer content and makes the fixes it still needs.
                let note = format!("fixes not committed, the README changed on the branch since: {reason}");
                tracing::info!("{note}");
                self.store.add_job_warning(attempt, COMMIT_STEP, &note).await?;
            }
            Err(err) => return Err(JobError(format!("committing content fixes: {err}"))),
        }
        self.record(attempt, COMMIT_STEP).await
    }

    /// Enqueues what a branch needs when its push could not be trusted to list every RFD.
    async fn reconcile(&self, job: &Job) -> Result<(), JobError> {
        let jobs = crate::scanner::missing_jobs_for_branch(
            &self.store,
            self.source.as_ref(),
            &job.branch,
            &job.sha,
            self.backfill_limit,
        )
        .await
        .map_err(|err| JobError(format!("reconciling {}: {err}", job.branch)))?;
        let created = self.store.enqueue(&jobs).await?;
        tracing::info!(branch = %job.branch, jobs = created, "branch reconciled");
        Ok(())
    }
}

struct StoredRevision {
    rfd: Rfd,
    revision: RfdRevision,
    folder: RfdFolder,
    commit: CommitInfo,
    document: RfdDocument,
}

fn read_error(number: i32, err: SourceError) -> JobError {
    JobError(format!("reading RFD {number}: {err}"))
}

impl JobHandler for Pipeline {
    async fn run(&self, job: Job, attempt: Attempt) -> Result<(), JobError> {
        match job.kind {
            JobKind::RfdUpdate => self.update(&job, &attempt).await,
            JobKind::BranchReconcile => self.reconcile(&job).await,
            // Sent by crate::events::WithEvents, which wraps the pipeline.
            JobKind::EventDelivery => Err(JobError("event deliveries are not pipeline jobs".into())),
        }
    }

    /// An older commit that arrived after a newer one: its revision is history worth
    /// keeping (it never becomes the latest), but no action runs for it.
    async fn superseded(&self, job: Job, _attempt: Attempt) -> Result<(), JobError> {
        if let (JobKind::RfdUpdate, Some(number)) = (job.kind, job.rfd) {
            self.store_revision(&job, number).await?;
        }
        Ok(())
    }
}

/// What the processor runs jobs with, chosen from the config file.
pub enum JobProcessor {
    /// The pipeline over a configured source.
    Pipeline(Pipeline),
    /// `[pipeline] mode = "skip"`: jobs succeed without being processed. Also the no-op
    /// handler of the queue's tests and benchmark (there is no separate one).
    Skip,
    /// No source is configured: every attempt fails with that reason, so the jobs wait
    /// in the queue (and then the dead letter) until the configuration is fixed.
    Unconfigured,
}

impl JobHandler for JobProcessor {
    async fn run(&self, job: Job, attempt: Attempt) -> Result<(), JobError> {
        match self {
            Self::Pipeline(pipeline) => pipeline.run(job, attempt).await,
            Self::Skip => Ok(()),
            Self::Unconfigured => Err(unconfigured()),
        }
    }

    async fn superseded(&self, job: Job, attempt: Attempt) -> Result<(), JobError> {
        match self {
            Self::Pipeline(pipeline) => pipeline.superseded(job, attempt).await,
            Self::Skip => Ok(()),
            Self::Unconfigured => Err(unconfigured()),
        }
    }
}

fn unconfigured() -> JobError {
    JobError("no RFD source is configured: add a [source] section with `kind` to the config file".into())
}
