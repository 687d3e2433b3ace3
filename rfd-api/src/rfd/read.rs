//! Reading RFDs: metadata, content, attributes, revisions, PDFs, visibility and search.
//!
//! Every endpoint decides readability the same way ([`readable_rfd`], or the caller's
//! [`ReadScope`] applied in SQL): an RFD the caller may not read answers exactly like
//! one that does not exist (404, same body), so numbers of private RFDs do not leak.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use dropshot::HttpError;
use rfd_model::document::RfdState;
use rfd_model::search::{SearchError, SearchIndex, SearchQuery, SearchResults};
use rfd_model::storage::{BlobStore, LocalDirectory, StorageConfig, validate_key};
use rfd_model::{
    Page, PdfSource, ReadScope, RevisionRef, Rfd, RfdAttr, RfdAttrName, RfdMeta, RfdPdf, RfdRevision,
    RfdRevisionMeta, RfdWithRaw, Store, Visibility,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::caller::Caller;
use crate::config::ApiConfig;
use crate::error::{bad_request, not_found, store_error, unavailable};
use crate::permissions::Permission;

/// What the read endpoints need besides the database: the search index and the local
/// storage directory, both from the `[search]` and `[storage]` sections the processor
/// reads too.
pub struct ReadServices {
    /// The configured search index, or why it could not be opened (search then
    /// answers 503 with that reason; nothing else is affected).
    pub search: Result<Arc<dyn SearchIndex>, String>,
    /// The local storage directory, when `[storage] backend = "local"`.
    pub storage: Option<LocalDirectory>,
}

impl ReadServices {
    /// Opens the search index and the storage directory named by `config`.
    pub fn from_config(config: &ApiConfig, store: &Store) -> Self {
        let search = config.search.open(store).map_err(|err| {
            tracing::error!(error = %err, "search index not available: GET /rfd-search answers 503");
            err.to_string()
        });
        let storage = match &config.storage {
            StorageConfig::Local { dir, public_url } => Some(LocalDirectory::new(dir.clone(), public_url)),
            StorageConfig::Gcs { .. } => None,
        };
        Self { search, storage }
    }
}

/// An RFD number in the path.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct RfdPathParams {
    /// The RFD number (examples: 1 or 123)
    pub number: String,
}

/// An RFD number and an attribute in the path.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct RfdAttrPathParams {
    /// The RFD number (examples: 1 or 123)
    pub number: String,
    /// An attribute that can be defined in an RFD document
    pub attr: RfdAttrName,
}

/// An RFD number and a revision in the path.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct RfdRevisionPathParams {
    /// The RFD number (examples: 1 or 123)
    pub number: String,
    /// The revision id of the RFD
    pub revision: Uuid,
}

/// An RFD number, a revision and an attribute in the path.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct RfdRevisionAttrPathParams {
    /// The RFD number (examples: 1 or 123)
    pub number: String,
    /// The revision id of the RFD
    pub revision: Uuid,
    /// An attribute that can be defined in an RFD document
    pub attr: RfdAttrName,
}

/// `limit` and `offset` of `GET /rfd/{number}/revision`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct PaginationQuery {
    /// At most this many (default and maximum 10,000).
    pub limit: Option<i64>,
    /// Skip this many.
    pub offset: Option<i64>,
}

/// `GET /rfd-search` parameters (as the reference API).
#[derive(Debug, Deserialize, JsonSchema)]
pub struct SearchRfdsQuery {
    /// The words to look for.
    pub q: String,
    /// Hits per page (default 20, at most 1,000).
    pub limit: Option<u32>,
    /// Hits to skip.
    pub offset: Option<u32>,
    /// Put before each highlighted word (default `<em>`).
    pub highlight_pre_tag: Option<String>,
    /// Put after each highlighted word (default `</em>`).
    pub highlight_post_tag: Option<String>,
    /// Comma-separated attributes whose highlighted value is cropped around the matches
    /// (`content`, or `*`).
    pub attributes_to_crop: Option<String>,
}

/// `PATCH /rfd/{number}/revision/{revision}` body.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct UpdateRfdAttrBody {
    /// Whether the revision counts as a major change (absent: unchanged).
    pub major_change: Option<bool>,
}

/// `POST /rfd/{number}/visibility` body.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct RfdVisibility {
    /// Who may read the RFD without a grant.
    pub visibility: Visibility,
}

/// An RFD with the metadata of one revision and every PDF of that revision.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct RfdWithPdf {
    /// The metadata.
    #[serde(flatten)]
    pub meta: RfdMeta,
    /// Every PDF rendered from the revision (empty when none was).
    pub content: Vec<RfdPdf>,
}

/// An RFD with its latest revision (`Rfd` in the reference API).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "Rfd")]
pub struct RfdView {
    /// RFD id.
    pub id: Uuid,
    /// RFD number.
    pub rfd_number: i32,
    /// Where the RFD can be browsed at its source.
    pub link: Option<String>,
    /// The latest revision, if any.
    pub content: Option<RfdRevision>,
    /// Commit time of the newest major change.
    pub latest_major_change_at: Option<DateTime<Utc>>,
    /// Who may read it without a grant.
    pub visibility: Visibility,
    /// When the row was created.
    pub created_at: DateTime<Utc>,
    /// When the row last changed.
    pub updated_at: DateTime<Utc>,
    /// Soft deletion time.
    pub deleted_at: Option<DateTime<Utc>>,
}

/// The `{number}` path parameter: an `i32`, else 400 (as the reference).
pub fn parse_number(number: &str) -> Result<i32, HttpError> {
    number.trim().parse().map_err(|_| bad_request("Malformed RFD number"))
}

/// The one answer for an RFD that is missing or that the caller may not read.
pub fn rfd_not_found() -> HttpError {
    not_found("rfd")
}

/// The RFD `number` if it exists and the caller may read it; otherwise the same 404
/// whichever of the two it is.
pub async fn readable_rfd(store: &Store, caller: &Caller, number: i32) -> Result<Rfd, HttpError> {
    match store.get_rfd(number).await.map_err(store_error)? {
        Some(rfd) if caller.can_read_rfd(number, rfd.visibility) => Ok(rfd),
        _ => Err(rfd_not_found()),
    }
}

fn revision_ref(revision: Option<Uuid>) -> RevisionRef {
    revision.map_or(RevisionRef::Latest, RevisionRef::Id)
}

/// `GET /rfd`: every RFD the caller may read with its latest metadata, highest number
/// first (one indexed query; RFDs without a revision are left out).
pub async fn list_rfds(store: &Store, caller: &Caller) -> Result<Vec<RfdMeta>, HttpError> {
    store.list_rfd_meta(&caller.read_scope(), Page::new(0, Page::MAX_LIMIT)).await.map_err(store_error)
}

/// `GET /rfd/{number}` and `GET /rfd/{number}/revision/{revision}`: the metadata of the
/// latest or of a named (possibly historic) revision.
pub async fn view_meta(
    store: &Store,
    caller: &Caller,
    number: &str,
    revision: Option<Uuid>,
) -> Result<RfdMeta, HttpError> {
    let number = parse_number(number)?;
    store
        .get_rfd_meta(&caller.read_scope(), number, revision_ref(revision))
        .await
        .map_err(store_error)?
        .ok_or_else(|| if revision.is_some() { revision_not_found() } else { rfd_not_found() })
}

/// `GET /rfd/{number}/raw` and `GET /rfd/{number}/revision/{revision}/raw`.
pub async fn view_raw(
    store: &Store,
    caller: &Caller,
    number: &str,
    revision: Option<Uuid>,
) -> Result<RfdWithRaw, HttpError> {
    let number = parse_number(number)?;
    store
        .get_rfd_raw(&caller.read_scope(), number, revision_ref(revision))
        .await
        .map_err(store_error)?
        .ok_or_else(|| if revision.is_some() { revision_not_found() } else { rfd_not_found() })
}

/// A revision that does not exist, belongs to another RFD, or belongs to an RFD the
/// caller may not read (the same answer for all three).
fn revision_not_found() -> HttpError {
    not_found("rfd revision")
}

/// `GET /rfd/{number}/attr/{attr}` and its revision form: the attribute's value at that
/// revision; 404 when it is not set (or, for `state`, not one of the known states).
pub async fn view_attr(
    store: &Store,
    caller: &Caller,
    number: &str,
    revision: Option<Uuid>,
    attr: RfdAttrName,
) -> Result<RfdAttr, HttpError> {
    let meta = view_meta(store, caller, number, revision).await?;
    let missing = |name: &str| not_found(&format!("attribute {name}"));
    let present = |value: Option<String>| value.filter(|v| !v.trim().is_empty());
    match attr {
        RfdAttrName::Discussion => {
            present(meta.discussion).map(RfdAttr::Discussion).ok_or_else(|| missing("discussion"))
        }
        RfdAttrName::Labels => present(meta.labels).map(RfdAttr::Labels).ok_or_else(|| missing("labels")),
        RfdAttrName::State => present(meta.state)
            .and_then(|state| state.parse::<RfdState>().ok())
            .map(RfdAttr::State)
            .ok_or_else(|| missing("state")),
    }
}

/// `GET /rfd/{number}/revision`: the revisions of a readable RFD, newest first.
pub async fn list_revisions(
    store: &Store,
    caller: &Caller,
    number: &str,
    query: PaginationQuery,
) -> Result<Vec<RfdRevisionMeta>, HttpError> {
    let rfd = readable_rfd(store, caller, parse_number(number)?).await?;
    let page = Page::new(query.offset.unwrap_or(0), query.limit.unwrap_or(Page::MAX_LIMIT));
    store.list_revisions(rfd.id, page).await.map_err(store_error)
}

/// `GET /rfd/{number}/pdf` and `GET /rfd/{number}/revision/{revision}/pdf`: every PDF of
/// the latest (or the named) revision, an empty list when none was rendered.
pub async fn view_pdf(
    services: &ReadServices,
    store: &Store,
    caller: &Caller,
    number: &str,
    revision: Option<Uuid>,
) -> Result<RfdWithPdf, HttpError> {
    let number = parse_number(number)?;
    let rfd = readable_rfd(store, caller, number).await?;
    let revision_id = match revision {
        Some(id) => id,
        None => rfd.latest_revision_id.ok_or_else(rfd_not_found)?,
    };
    let meta = store
        .get_rfd_meta(&caller.read_scope(), number, RevisionRef::Id(revision_id))
        .await
        .map_err(store_error)?
        .ok_or_else(revision_not_found)?;
    let pdfs = store.list_pdfs(revision_id).await.map_err(store_error)?;
    Ok(RfdWithPdf { meta, content: pdfs.into_iter().map(|pdf| services.pdf_link(pdf)).collect() })
}

impl ReadServices {
    /// A PDF kept in the local storage directory links to where this API serves it
    /// (`{[storage] public_url}/{key}`), whatever link was recorded when it was stored.
    fn pdf_link(&self, mut pdf: RfdPdf) -> RfdPdf {
        if let Some(storage) = &self.storage
            && pdf.source == PdfSource::Github
            && validate_key(&pdf.external_id).is_ok()
        {
            pdf.link = storage.public_url(&pdf.external_id);
        }
        pdf
    }
}

/// `PATCH /rfd/{number}/revision/{revision}`: sets `major_change` (the RFD's
/// `latest_major_change_at` follows). Needs read and `UpdateRfd(n)` (or the set or
/// `All` forms).
pub async fn update_revision(
    store: &Store,
    caller: &Caller,
    number: &str,
    revision: Uuid,
    body: UpdateRfdAttrBody,
) -> Result<RfdRevisionMeta, HttpError> {
    let number = parse_number(number)?;
    let rfd = readable_rfd(store, caller, number).await?;
    caller.require(&Permission::UpdateRfd(number))?;
    let meta = match body.major_change {
        Some(major_change) => store.set_major_change(rfd.id, revision, major_change).await,
        None => store.get_revision(rfd.id, revision).await.map(|rev| {
            rev.map(|rev| RfdRevisionMeta {
                id: rev.id,
                commit_sha: rev.commit_sha,
                committed_at: rev.committed_at,
                major_change: rev.major_change,
            })
        }),
    };
    meta.map_err(store_error)?.ok_or_else(revision_not_found)
}

/// `POST /rfd/{number}/visibility`: needs read and `ManageRfdVisibility(n)` (or the set
/// or `All` forms). The search index reflects the change before the answer (PostgreSQL
/// search reads visibility at query time; Meilisearch is updated and waited for). A
/// change emits `rfd.visibility_changed` to the event subscribers, in the same transaction.
pub async fn update_visibility(
    services: &ReadServices,
    store: &Store,
    caller: &Caller,
    number: &str,
    body: RfdVisibility,
    location: Option<rfd_model::source::SourceLocation>,
) -> Result<RfdView, HttpError> {
    let number = parse_number(number)?;
    readable_rfd(store, caller, number).await?;
    caller.require(&Permission::ManageRfdVisibility(number))?;
    // The event names the repository the RFD is kept in (empty without a configured source).
    let (owner, repository) = location.map(|l| (l.owner, l.repository)).unwrap_or_default();
    let (rfd, before) =
        store.change_visibility(number, body.visibility, &owner, &repository).await.map_err(store_error)?;
    if before != rfd.visibility {
        tracing::info!(rfd.number = number, from = ?before, to = ?rfd.visibility, "visibility changed");
    }
    if let Ok(index) = &services.search
        && let Err(err) = index.set_visibility(number, body.visibility).await
    {
        // The database holds the new visibility, and search results are checked against
        // it, so nothing leaks; the caller retries to bring the index in step.
        tracing::warn!(rfd.number = number, error = %err, "search index not updated with the visibility");
        return Err(unavailable("the visibility was changed but the search index was not updated; retry"));
    }
    let content = match rfd.latest_revision_id {
        Some(id) => store.get_revision(rfd.id, id).await.map_err(store_error)?,
        None => None,
    };
    Ok(RfdView {
        id: rfd.id,
        rfd_number: rfd.rfd_number,
        link: rfd.link,
        content,
        latest_major_change_at: rfd.latest_major_change_at,
        visibility: rfd.visibility,
        created_at: rfd.created_at,
        updated_at: rfd.updated_at,
        deleted_at: rfd.deleted_at,
    })
}

/// `GET /rfd-search`: needs `SearchRfds` (the anonymous caller has it); hits come only
/// from RFDs the caller may read.
pub async fn search(
    services: &ReadServices,
    store: &Store,
    caller: &Caller,
    query: SearchRfdsQuery,
) -> Result<SearchResults, HttpError> {
    caller.require(&Permission::SearchRfds)?;
    let index = services.search.as_ref().map_err(|reason| unavailable(&format!("search: {reason}")))?;
    let scope = caller.read_scope();
    let request = SearchQuery {
        q: query.q,
        limit: query.limit.map(|l| l as usize),
        offset: query.offset.map(|o| o as usize),
        highlight_pre_tag: query.highlight_pre_tag,
        highlight_post_tag: query.highlight_post_tag,
        attributes_to_crop: query
            .attributes_to_crop
            .iter()
            .flat_map(|list| list.split(','))
            .map(|a| a.trim().to_string())
            .filter(|a| !a.is_empty())
            .collect(),
    };
    let mut results = index.search(&scope, &request).await.map_err(search_error)?;
    if index.is_external() {
        keep_readable(store, &scope, &mut results).await?;
    }
    Ok(results)
}

/// An external index learns of visibility changes by a write that can fail or lag:
/// its hits are checked against the database, so a stale index never shows a hit the
/// caller may not read.
async fn keep_readable(
    store: &Store,
    scope: &ReadScope,
    results: &mut SearchResults,
) -> Result<(), HttpError> {
    if *scope == ReadScope::All {
        return Ok(());
    }
    let mut numbers: Vec<i32> =
        results.hits.iter().filter_map(|hit| i32::try_from(hit.rfd_number).ok()).collect();
    numbers.sort_unstable();
    numbers.dedup();
    let visibility: HashMap<i32, Visibility> =
        store.visibilities(&numbers).await.map_err(store_error)?.into_iter().collect();
    results.hits.retain(|hit| {
        i32::try_from(hit.rfd_number)
            .ok()
            .and_then(|n| visibility.get(&n).map(|v| scope.allows(n, *v)))
            .unwrap_or(false)
    });
    Ok(())
}

fn search_error(err: SearchError) -> HttpError {
    match err {
        SearchError::Store(err) => store_error(err),
        other => {
            tracing::warn!(error = %other, "search failed");
            unavailable("the search engine is unavailable; retry later")
        }
    }
}
