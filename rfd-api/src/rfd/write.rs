//! RFD writes: reserving a number and editing a document, each a commit through the
//! configured RFD source on the RFD's branch (`0042` for RFD 42).
//!
//! The database is not touched by an edit: the commit is queued as a job, and the RFD
//! and its new revision are stored when the pipeline processes it (as for any push). So
//! a write answers 202, and a read right after it may still show the previous revision.
//!
//! - Every commit message names who asked for it (`Submitted-by: Name <email>`).
//! - Edits read the README at the branch head and write it back guarded by that blob:
//!   if someone changed it in between, the answer is 409 and nothing is overwritten.
//! - Edits go through [`RfdDocument`], as the processor's own fixes do: setting an
//!   attribute or replacing the body changes nothing else in the document.
//! - An RFD whose branch no longer exists (merged and deleted) gets it back, from the
//!   default branch, before the edit.

use std::sync::Arc;

use dropshot::HttpError;
use rfd_model::document::{Attribute, DocumentError, RfdDocument, RfdState};
use rfd_model::source::{CommitInfo, RfdFolder, RfdSource, SourceError, rfd_number_of_branch};
use rfd_model::types::ContentFormat;
use rfd_model::{JobKind, NewJob, ReadScope, RfdAttr, RfdAttrName, Store};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::caller::Caller;
use crate::error::{bad_request, source_error, store_error};
use crate::permissions::Permission;
use crate::rfd::read::rfd_not_found;
use crate::server::ApiContext;

/// The longest title accepted when reserving an RFD.
const MAX_TITLE_CHARS: usize = 200;

/// `POST /rfd`
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ReserveRfdBody {
    /// Title of the RFD
    pub title: String,
    /// Optional contents of the RFD
    pub content: Option<String>,
}

/// The number reserved by `POST /rfd`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ReserveRfdResponse {
    /// The RFD's number (its branch is the number with four digits: `0042`).
    pub number: i32,
}

/// `POST /rfd/{number}/raw`
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct RfdUpdateBody {
    /// Full Asciidoc document to store for this RFD
    pub document: String,
    /// Optional Git commit message to send with this update (recommended)
    pub message: Option<String>,
}

/// `POST /rfd/{number}/content`
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct RfdUpdateContentBody {
    /// Asciidoc content to store for this RFD
    pub content: String,
    /// Optional Git commit message to send with this update (recommended)
    pub message: Option<String>,
}

/// `POST /rfd/{number}/attr/{attr}`
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct RfdAttrValue {
    /// Full value to set this attribute to in the existing RFD contents
    pub value: String,
    /// Optional Git commit message to send with this update (recommended)
    pub message: Option<String>,
}

/// Parses the `{number}` of a path, as every RFD endpoint does (400 when malformed).
pub fn parse_rfd_number(number: &str) -> Result<i32, HttpError> {
    crate::rfd::read::parse_number(number)
}

/// What an attribute name stands for in the document model.
fn attribute_of(name: RfdAttrName) -> Attribute {
    match name {
        RfdAttrName::Discussion => Attribute::Discussion,
        RfdAttrName::Labels => Attribute::Labels,
        RfdAttrName::State => Attribute::State,
    }
}

/// The branch an RFD is written on: its number with at least four digits.
pub fn rfd_branch(number: i32) -> String {
    format!("{number:04}")
}

/// `POST /rfd`: reserves the next free number, creates its branch from the default branch
/// and commits the initial document (`content` as its body, or a placeholder) there.
pub async fn reserve(ctx: &ApiContext, caller: &Caller, body: ReserveRfdBody) -> Result<i32, HttpError> {
    caller.require(&Permission::CreateRfd)?;
    let title = body.title.trim();
    if title.is_empty() {
        return Err(bad_request("the title is empty"));
    }
    if title.contains(['\n', '\r']) || title.chars().count() > MAX_TITLE_CHARS {
        return Err(bad_request(format!(
            "the title must be one line of at most {MAX_TITLE_CHARS} characters"
        )));
    }
    let source = ctx.source.get().await?;
    let author = author_of(&ctx.store, caller).await?;
    // Checked before a number is spent on it.
    let probe = initial_document(1, title, author.attribution.as_deref(), body.content.as_deref())?;
    drop(probe);

    let location = source.location();
    let mut floor = highest_number_in_source(source.as_ref()).await?;
    let mut attempts = 0;
    let (number, branch) = loop {
        let number = ctx.store.reserve_rfd_number(floor, title, caller.id).await.map_err(store_error)?;
        let branch = rfd_branch(number);
        match source.create_branch(&branch, &location.default_branch).await {
            Ok(()) => break (number, branch),
            // Someone made the branch by hand since the repository was listed: that number
            // is theirs, and stays reserved; take the next one.
            Err(SourceError::Conflict(_)) if attempts < 3 => {
                tracing::warn!(
                    rfd.number = number,
                    "the reserved number's branch exists already; trying the next"
                );
                attempts += 1;
                floor = number;
            }
            Err(err) => return Err(source_error(err)),
        }
    };
    tracing::info!(rfd.number = number, user = %caller.id, "RFD number reserved and its branch created");

    let document = initial_document(number, title, author.attribution.as_deref(), body.content.as_deref())?;
    let path = format!("{}/README.adoc", location.rfd_path(number));
    let message = commit_message(&format!("Reserve RFD {number}: {title}"), &author.display);
    let commit = source
        .commit_file(&branch, &path, document.content().as_bytes(), &message, None)
        .await
        .map_err(source_error)?;
    if let Some(commit) = commit {
        queue_commit(ctx, number, &branch, &commit).await;
    }
    Ok(number)
}

/// `POST /rfd/{number}/raw`: replaces the whole README.
pub async fn set_document(
    ctx: &ApiContext,
    caller: &Caller,
    number: &str,
    body: RfdUpdateBody,
) -> Result<(), HttpError> {
    let number = parse_rfd_number(number)?;
    let mut edit = Edit::begin(ctx, caller, number).await?;
    let document = RfdDocument::from_text(edit.document.format(), &body.document).map_err(document_error)?;
    edit.document = document;
    let summary = body.message.unwrap_or_else(|| format!("Update the document of RFD {number}"));
    edit.commit(ctx, &summary).await
}

/// `POST /rfd/{number}/content`: replaces the body, keeping the title and the header
/// attributes as they are.
pub async fn set_content(
    ctx: &ApiContext,
    caller: &Caller,
    number: &str,
    body: RfdUpdateContentBody,
) -> Result<(), HttpError> {
    let number = parse_rfd_number(number)?;
    let mut edit = Edit::begin(ctx, caller, number).await?;
    edit.document.set_body(&body.content).map_err(document_error)?;
    let summary = body.message.unwrap_or_else(|| format!("Update the content of RFD {number}"));
    edit.commit(ctx, &summary).await
}

/// `POST /rfd/{number}/attr/{attr}`: sets one attribute; returns it as written.
pub async fn set_attr(
    ctx: &ApiContext,
    caller: &Caller,
    number: &str,
    attr: RfdAttrName,
    body: RfdAttrValue,
) -> Result<RfdAttr, HttpError> {
    let number = parse_rfd_number(number)?;
    let value = body.value.trim().to_string();
    // Validated before anything is read, so a bad value costs no call to the source.
    let result = match attr {
        RfdAttrName::State => {
            RfdAttr::State(value.parse::<RfdState>().map_err(|err| bad_request(err.to_string()))?)
        }
        RfdAttrName::Discussion => RfdAttr::Discussion(value.clone()),
        RfdAttrName::Labels => RfdAttr::Labels(value.clone()),
    };
    let summary = body.message.unwrap_or_else(|| format!("Set the {} of RFD {number}", attribute_of(attr)));
    set_attribute(ctx, caller, number, attribute_of(attr), &value, &summary).await?;
    Ok(result)
}

/// `POST /rfd/{number}/state/discuss` and `…/publish`: sets the state.
pub async fn set_state(
    ctx: &ApiContext,
    caller: &Caller,
    number: &str,
    state: RfdState,
) -> Result<RfdAttr, HttpError> {
    let number = parse_rfd_number(number)?;
    let summary = match state {
        RfdState::Discussion => "Move to discussion".to_string(),
        RfdState::Published => "Publish".to_string(),
        other => format!("Move to {other}"),
    };
    set_attribute(ctx, caller, number, Attribute::State, state.as_str(), &summary).await?;
    Ok(RfdAttr::State(state))
}

async fn set_attribute(
    ctx: &ApiContext,
    caller: &Caller,
    number: i32,
    attribute: Attribute,
    value: &str,
    summary: &str,
) -> Result<(), HttpError> {
    let mut edit = Edit::begin(ctx, caller, number).await?;
    edit.document.set_attribute(attribute, value).map_err(document_error)?;
    edit.commit(ctx, summary).await
}

/// An edit of an RFD's README on its branch: authorised, read, then committed.
struct Edit {
    number: i32,
    source: Arc<dyn RfdSource>,
    branch: String,
    folder: RfdFolder,
    document: RfdDocument,
    author: String,
}

impl Edit {
    /// Checks that the caller may edit RFD `number` (404 when it may not read it, exactly
    /// as for a missing RFD; 403 when it may read but not update it), then reads the
    /// README at the head of the RFD's branch.
    async fn begin(ctx: &ApiContext, caller: &Caller, number: i32) -> Result<Self, HttpError> {
        if !can_read(&ctx.store, caller, number).await? {
            return Err(rfd_not_found());
        }
        caller.require(&Permission::UpdateRfd(number))?;
        let source = ctx.source.get().await?.clone();
        let author = author_of(&ctx.store, caller).await?.display;
        let branch = rfd_branch(number);
        let folder = match source.read_rfd(number, &branch).await {
            Ok(folder) => folder,
            // The branch is gone (merged and deleted): the RFD is edited on a new one.
            Err(SourceError::NotFound(_)) => {
                let default_branch = source.location().default_branch.clone();
                match source.create_branch(&branch, &default_branch).await {
                    // Created meanwhile by a concurrent edit: use it.
                    Ok(()) | Err(SourceError::Conflict(_)) => {}
                    Err(err) => return Err(source_error(err)),
                }
                source.read_rfd(number, &branch).await.map_err(source_error)?
            }
            Err(err) => return Err(source_error(err)),
        };
        let folder = folder.ok_or_else(rfd_not_found)?;
        let document = RfdDocument::parse(folder.readme.format, &folder.readme.content).map_err(|err| {
            HttpError::for_client_error(
                Some(crate::error::codes::CONFLICT.into()),
                dropshot::ClientErrorStatusCode::CONFLICT,
                format!("the RFD's README in the repository cannot be edited: {err}"),
            )
        })?;
        Ok(Self { number, source, branch, folder, document, author })
    }

    /// Commits the edited document on the branch, unless it is unchanged; guarded by the
    /// README blob that was read.
    async fn commit(self, ctx: &ApiContext, summary: &str) -> Result<(), HttpError> {
        let message = commit_message(summary, &self.author);
        let commit = self
            .source
            .commit_file(
                &self.branch,
                &self.folder.readme.path,
                self.document.content().as_bytes(),
                &message,
                Some(&self.folder.readme.sha),
            )
            .await
            .map_err(source_error)?;
        match commit {
            Some(commit) => {
                tracing::info!(rfd.number = self.number, commit = %commit.sha, "RFD edit committed");
                queue_commit(ctx, self.number, &self.branch, &commit).await;
            }
            None => tracing::info!(rfd.number = self.number, "RFD edit changes nothing; no commit"),
        }
        Ok(())
    }
}

/// Whether the caller may read RFD `number`: the one read decision
/// ([`Caller::can_read_rfd`]) for a stored RFD; an RFD reserved through the API and not yet
/// processed is readable by whoever reserved it (and by readers of every RFD).
pub async fn can_read(store: &Store, caller: &Caller, number: i32) -> Result<bool, HttpError> {
    let scope = caller.read_scope();
    if let Some(rfd) = store.get_rfd(number).await.map_err(store_error)? {
        return Ok(caller.can_read_rfd(rfd.rfd_number, rfd.visibility));
    }
    Ok(match store.reservation(number).await.map_err(store_error)? {
        Some(reservation) => reservation.reserved_by == caller.id || scope == ReadScope::All,
        None => false,
    })
}

/// Queues the job of a commit the API made, so the pipeline stores it even when no
/// webhook arrives (a webhook for it later is deduplicated). A failure is logged: the
/// scanner finds the commit anyway.
async fn queue_commit(ctx: &ApiContext, number: i32, branch: &str, commit: &CommitInfo) {
    let Some(location) = ctx.source.location() else { return };
    let job = NewJob {
        kind: JobKind::RfdUpdate,
        owner: location.owner,
        repository: location.repository,
        branch: branch.to_string(),
        sha: commit.sha.clone(),
        rfd: Some(number),
        webhook_delivery_id: None,
        committed_at: commit.committed_at,
    };
    if let Err(err) = ctx.store.enqueue(&[job]).await {
        tracing::warn!(rfd.number = number, error = %err, "the commit's job was not queued; the scanner will find it");
    }
}

/// The highest RFD number the repository knows: folders on the default branch and
/// branches named after a number.
async fn highest_number_in_source(source: &dyn RfdSource) -> Result<i32, HttpError> {
    let default_branch = source.location().default_branch.clone();
    let folders = source.rfd_tree(&default_branch).await.map_err(source_error)?;
    let branches = source.branches().await.map_err(source_error)?;
    let highest_folder = folders.iter().map(|entry| entry.rfd).max().unwrap_or(0);
    let highest_branch = branches.iter().filter_map(|b| rfd_number_of_branch(&b.name)).max().unwrap_or(0);
    Ok(highest_folder.max(highest_branch))
}

/// Who a commit is made for.
struct Author {
    /// `Name <email>`, `Name`, or the user id: named in every commit message.
    display: String,
    /// For the `authors` attribute of a new RFD, when a name is known.
    attribution: Option<String>,
}

/// The caller as a commit names it: the display name of its login identity (GitHub's
/// first) and its email, or the user id when it has none (an API-key-only user).
async fn author_of(store: &Store, caller: &Caller) -> Result<Author, HttpError> {
    let mut providers = store.user_providers(caller.id, 10).await.map_err(store_error)?;
    providers.sort_by_key(|p| p.provider != "github");
    let clean = |s: &str| s.replace(['\n', '\r', '<', '>'], " ").trim().to_string();
    let name =
        providers.iter().flat_map(|p| p.display_names.iter()).map(|n| clean(n)).find(|n| !n.is_empty());
    let email = providers.iter().flat_map(|p| p.emails.iter()).map(|e| clean(e)).find(|e| !e.is_empty());
    let attribution = match (&name, &email) {
        (Some(name), Some(email)) => Some(format!("{name} <{email}>")),
        (Some(name), None) => Some(name.clone()),
        (None, Some(email)) => Some(format!("<{email}>")),
        (None, None) => None,
    };
    let display = attribution.clone().unwrap_or_else(|| format!("API user {}", caller.id));
    Ok(Author { display, attribution })
}

/// `summary`, then who asked for the change and through what.
fn commit_message(summary: &str, author: &str) -> String {
    let summary = summary.trim();
    let summary = if summary.is_empty() { "Update the RFD" } else { summary };
    format!("{summary}\n\nSubmitted-by: {author}\nCommitted-via: rfd-api")
}

/// The README of a newly reserved RFD (AsciiDoc): the reference's header attributes, the
/// state `prediscussion`, the title, and `content` as the body (or a placeholder).
fn initial_document(
    number: i32,
    title: &str,
    authors: Option<&str>,
    content: Option<&str>,
) -> Result<RfdDocument, HttpError> {
    let mut text = String::from(":showtitle:\n:toc: left\n:numbered:\n:icons: font\n:state: prediscussion\n");
    text.push_str(":discussion:\n:revremark: State: {state}\n");
    if let Some(authors) = authors {
        text.push_str(&format!(":authors: {authors}\n"));
    }
    text.push_str(&format!("\n= RFD {number} {title}\n\n"));
    let mut document = RfdDocument::from_text(ContentFormat::Asciidoc, &text).map_err(document_error)?;
    let body = match content.map(str::trim).filter(|c| !c.is_empty()) {
        Some(content) => format!("{content}\n"),
        None => "== Determinations\n\nWhat this RFD proposes, and why.\n".to_string(),
    };
    document.set_body(&body).map_err(document_error)?;
    if document.title() != Some(title) || document.state() != Some(RfdState::Prediscussion) {
        return Err(bad_request("the title cannot be written as the RFD's heading"));
    }
    Ok(document)
}

fn document_error(err: DocumentError) -> HttpError {
    bad_request(err.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_branches() {
        assert_eq!(parse_rfd_number("0042").ok(), Some(42));
        assert_eq!(parse_rfd_number(" 7 ").ok(), Some(7));
        assert!(parse_rfd_number("abc").is_err());
        assert_eq!(rfd_branch(42), "0042");
        assert_eq!(rfd_branch(12345), "12345");
    }

    #[test]
    fn the_initial_document_reads_back() {
        let doc = initial_document(12, "Queues for everyone", Some("Ada <ada@example.com>"), None)
            .unwrap_or_else(|err| panic!("{err:?}"));
        assert_eq!(doc.title(), Some("Queues for everyone"));
        assert_eq!(doc.state(), Some(RfdState::Prediscussion));
        assert_eq!(doc.authors(), Some("Ada <ada@example.com>"));
        assert!(doc.content().contains("= RFD 12 Queues for everyone\n"));
        let with_body = initial_document(12, "T", None, Some("== Background\n\nBecause."))
            .unwrap_or_else(|err| panic!("{err:?}"));
        assert_eq!(with_body.body().trim(), "== Background\n\nBecause.");
        assert_eq!(with_body.state(), Some(RfdState::Prediscussion));
    }

    #[test]
    fn attributes_serialise_as_the_reference() {
        let json = serde_json::to_value(RfdAttr::State(RfdState::Published)).unwrap_or_default();
        assert_eq!(json, serde_json::json!({ "state": "published" }));
        let json = serde_json::to_value(RfdAttr::Labels("a, b".into())).unwrap_or_default();
        assert_eq!(json, serde_json::json!({ "labels": "a, b" }));
    }

    #[test]
    fn commit_messages_name_the_author() {
        let message = commit_message("  ", "Ada <ada@example.com>");
        assert!(message.starts_with("Update the RFD\n\n"));
        assert!(message.contains("Submitted-by: Ada <ada@example.com>"));
    }
}
