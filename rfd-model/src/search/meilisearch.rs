//! The Meilisearch backend, via `meilisearch-sdk`.
//!
//! Documents are sections with the fields the reference index used (`objectID`,
//! `hierarchy_lvl0`…`hierarchy_lvl5`, `hierarchy_radio_lvl0`…`hierarchy_radio_lvl5`,
//! `content`, `rfd_number`, `anchor`, `url`, `public`) plus `generation`, an id per
//! indexing run. Unlike the reference:
//!
//! - the settings make `rfd_number`, `public` and `generation` filterable (the reference
//!   never made `public` filterable), and rank the title, then headings, then content;
//! - re-indexing adds the new sections first, then deletes every other section of the
//!   RFD by filter (`rfd_number = n AND generation != "…"`): no gap in which the RFD is
//!   missing, and no cap on how many stale sections go (the reference deleted the first
//!   20 search hits);
//! - the read filter is `public = true OR rfd_number IN [1, 2]` (the reference joined
//!   the two without a space);
//! - every write waits for its task and fails unless the task succeeded, so a failure
//!   stops the job (retried) instead of being a log line;
//! - a visibility change rewrites `public` on every section of the RFD at once.
//!
//! The API key is held as a secret and never logged; this type has no `Debug`.

use std::time::Duration;

use async_trait::async_trait;
use meilisearch_sdk::client::Client;
use meilisearch_sdk::documents::{DocumentDeletionQuery, DocumentsQuery};
use meilisearch_sdk::indexes::Index;
use meilisearch_sdk::search::{SearchResult, Selectors};
use meilisearch_sdk::settings::Settings;
use meilisearch_sdk::task_info::TaskInfo;
use meilisearch_sdk::tasks::Task;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tokio::sync::OnceCell;

use super::{
    FormattedSearchResultHit, IndexedRfd, SearchError, SearchIndex, SearchQuery, SearchResultHit,
    SearchResults,
};
use crate::store::ReadScope;
use crate::types::Visibility;

/// How long a write waits for its task.
const TASK_TIMEOUT: Duration = Duration::from_secs(60);
/// How often a task is polled.
const TASK_POLL: Duration = Duration::from_millis(50);
/// Documents fetched per page when changing visibility.
const FETCH_PAGE: usize = 1000;

/// The fields whose order ranks matches: title, then headings, then content.
pub const SEARCHABLE_ATTRIBUTES: [&str; 13] = [
    "hierarchy_lvl0",
    "hierarchy_lvl1",
    "hierarchy_lvl2",
    "hierarchy_lvl3",
    "hierarchy_lvl4",
    "hierarchy_lvl5",
    "hierarchy_radio_lvl0",
    "hierarchy_radio_lvl1",
    "hierarchy_radio_lvl2",
    "hierarchy_radio_lvl3",
    "hierarchy_radio_lvl4",
    "hierarchy_radio_lvl5",
    "content",
];

/// The fields filters use.
pub const FILTERABLE_ATTRIBUTES: [&str; 3] = ["rfd_number", "public", "generation"];

/// One section as stored in Meilisearch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MeiliDocument {
    /// The primary key: `{rfd_number}-{position}`.
    #[serde(rename = "objectID")]
    pub object_id: String,
    /// The RFD.
    pub rfd_number: i32,
    /// The section's anchor.
    pub anchor: Option<String>,
    /// A link to the section, if known.
    pub url: Option<String>,
    /// The section's text.
    pub content: String,
    /// The section's level (0 for the preamble).
    pub level: usize,
    /// Whether anyone may read it.
    pub public: bool,
    /// The indexing run that wrote it.
    pub generation: String,
    /// `RFD n Title`.
    pub hierarchy_lvl0: Option<String>,
    /// Level-1 heading.
    pub hierarchy_lvl1: Option<String>,
    /// Level-2 heading.
    pub hierarchy_lvl2: Option<String>,
    /// Level-3 heading.
    pub hierarchy_lvl3: Option<String>,
    /// Level-4 heading.
    pub hierarchy_lvl4: Option<String>,
    /// Level-5 heading.
    pub hierarchy_lvl5: Option<String>,
    /// Set only at the section's own level.
    pub hierarchy_radio_lvl0: Option<String>,
    /// See [`MeiliDocument::hierarchy_radio_lvl0`].
    pub hierarchy_radio_lvl1: Option<String>,
    /// See [`MeiliDocument::hierarchy_radio_lvl0`].
    pub hierarchy_radio_lvl2: Option<String>,
    /// See [`MeiliDocument::hierarchy_radio_lvl0`].
    pub hierarchy_radio_lvl3: Option<String>,
    /// See [`MeiliDocument::hierarchy_radio_lvl0`].
    pub hierarchy_radio_lvl4: Option<String>,
    /// See [`MeiliDocument::hierarchy_radio_lvl0`].
    pub hierarchy_radio_lvl5: Option<String>,
}

impl MeiliDocument {
    /// The documents of an RFD for one indexing run.
    pub fn of(rfd: &IndexedRfd, generation: &str) -> Vec<Self> {
        rfd.sections
            .iter()
            .enumerate()
            .map(|(position, section)| {
                let ([h0, h1, h2, h3, h4, h5], [r0, r1, r2, r3, r4, r5]) = rfd.hierarchy(section);
                Self {
                    object_id: rfd.object_id(position),
                    rfd_number: rfd.rfd_number,
                    anchor: section.anchor.clone(),
                    url: None,
                    content: section.content.clone(),
                    level: section.level,
                    public: rfd.visibility == Visibility::Public,
                    generation: generation.to_string(),
                    hierarchy_lvl0: h0,
                    hierarchy_lvl1: h1,
                    hierarchy_lvl2: h2,
                    hierarchy_lvl3: h3,
                    hierarchy_lvl4: h4,
                    hierarchy_lvl5: h5,
                    hierarchy_radio_lvl0: r0,
                    hierarchy_radio_lvl1: r1,
                    hierarchy_radio_lvl2: r2,
                    hierarchy_radio_lvl3: r3,
                    hierarchy_radio_lvl4: r4,
                    hierarchy_radio_lvl5: r5,
                }
            })
            .collect()
    }

    fn into_hit(self, formatted: Option<Map<String, Value>>) -> SearchResultHit {
        let rfd_number = u64::try_from(self.rfd_number).unwrap_or_default();
        let formatted = formatted.map(|f| {
            let get = |key: &str| f.get(key).and_then(Value::as_str).map(str::to_string);
            FormattedSearchResultHit {
                hierarchy: std::array::from_fn(|i| get(&format!("hierarchy_lvl{i}"))),
                hierarchy_radio: std::array::from_fn(|i| get(&format!("hierarchy_radio_lvl{i}"))),
                content: get("content"),
                object_id: self.object_id.clone(),
                rfd_number,
                anchor: get("anchor"),
                url: get("url"),
            }
        });
        SearchResultHit {
            hierarchy: [
                self.hierarchy_lvl0,
                self.hierarchy_lvl1,
                self.hierarchy_lvl2,
                self.hierarchy_lvl3,
                self.hierarchy_lvl4,
                self.hierarchy_lvl5,
            ],
            hierarchy_radio: [
                self.hierarchy_radio_lvl0,
                self.hierarchy_radio_lvl1,
                self.hierarchy_radio_lvl2,
                self.hierarchy_radio_lvl3,
                self.hierarchy_radio_lvl4,
                self.hierarchy_radio_lvl5,
            ],
            content: self.content,
            object_id: self.object_id,
            rfd_number,
            anchor: self.anchor,
            url: self.url,
            formatted,
        }
    }
}

/// The `public` flag of a document, for partial updates.
#[derive(Debug, Serialize, Deserialize)]
struct PublicFlag {
    #[serde(rename = "objectID")]
    object_id: String,
    public: bool,
}

/// The read filter for a scope; `None` for every RFD.
pub fn scope_filter(scope: &ReadScope) -> Option<String> {
    match scope {
        ReadScope::All => None,
        ReadScope::PublicAnd(numbers) if numbers.is_empty() => Some("public = true".into()),
        ReadScope::PublicAnd(numbers) => {
            let list: Vec<String> = numbers.iter().map(i32::to_string).collect();
            Some(format!("public = true OR rfd_number IN [{}]", list.join(", ")))
        }
    }
}

/// See the module documentation.
pub struct MeilisearchIndex {
    client: Client,
    index: String,
    settings: OnceCell<()>,
}

impl MeilisearchIndex {
    /// An index named `index` on the server at `host`. Nothing is sent until first use.
    pub fn new(host: &str, key: Option<SecretString>, index: &str) -> Result<Self, SearchError> {
        let host = host.trim_end_matches('/');
        if !(host.starts_with("http://") || host.starts_with("https://")) {
            return Err(SearchError::Config(format!("`search.host` must be an http(s) URL, not {host:?}")));
        }
        if index.is_empty() || !index.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
            return Err(SearchError::Config(format!("`search.index` is not a valid index name: {index:?}")));
        }
        let key = key.as_ref().map(|key| key.expose_secret().to_string());
        let client = Client::new(host, key).map_err(|err| SearchError::Engine(err.to_string()))?;
        Ok(Self { client, index: index.to_string(), settings: OnceCell::new() })
    }

    fn index(&self) -> Index {
        self.client.index(&self.index)
    }

    /// Applies the index settings once per process (creating the index if needed).
    async fn ensure_settings(&self) -> Result<(), SearchError> {
        self.settings
            .get_or_try_init(|| async {
                let settings = Settings::new()
                    .with_filterable_attributes(FILTERABLE_ATTRIBUTES)
                    .with_searchable_attributes(SEARCHABLE_ATTRIBUTES);
                let task = self.index().set_settings(&settings).await.map_err(engine)?;
                self.wait(task).await
            })
            .await
            .map(|_| ())
    }

    async fn wait(&self, task: TaskInfo) -> Result<(), SearchError> {
        let uid = task.task_uid;
        match self.client.wait_for_task(task, Some(TASK_POLL), Some(TASK_TIMEOUT)).await.map_err(engine)? {
            Task::Succeeded { .. } => Ok(()),
            Task::Failed { content } => {
                Err(SearchError::Task { uid, status: "failed".into(), message: content.error.error_message })
            }
            Task::Enqueued { .. } | Task::Processing { .. } => Err(SearchError::Task {
                uid,
                status: "unfinished".into(),
                message: "the task did not finish in time".into(),
            }),
        }
    }
}

fn engine(err: meilisearch_sdk::errors::Error) -> SearchError {
    SearchError::Engine(err.to_string())
}

#[async_trait]
impl SearchIndex for MeilisearchIndex {
    fn backend(&self) -> &'static str {
        "meilisearch"
    }

    fn is_external(&self) -> bool {
        true
    }

    async fn index_rfd(&self, rfd: &IndexedRfd) -> Result<(), SearchError> {
        self.ensure_settings().await?;
        let generation = uuid::Uuid::new_v4().simple().to_string();
        let documents = MeiliDocument::of(rfd, &generation);
        let index = self.index();
        let task = index.add_documents(&documents, Some("objectID")).await.map_err(engine)?;
        self.wait(task).await?;
        let filter = format!("rfd_number = {} AND generation != \"{generation}\"", rfd.rfd_number);
        let task = index
            .delete_documents_with(DocumentDeletionQuery::new(&index).with_filter(&filter))
            .await
            .map_err(engine)?;
        self.wait(task).await
    }

    async fn delete_rfd(&self, rfd_number: i32) -> Result<(), SearchError> {
        self.ensure_settings().await?;
        let index = self.index();
        let filter = format!("rfd_number = {rfd_number}");
        let task = index
            .delete_documents_with(DocumentDeletionQuery::new(&index).with_filter(&filter))
            .await
            .map_err(engine)?;
        self.wait(task).await
    }

    async fn set_visibility(&self, rfd_number: i32, visibility: Visibility) -> Result<(), SearchError> {
        self.ensure_settings().await?;
        let index = self.index();
        let filter = format!("rfd_number = {rfd_number}");
        let public = visibility == Visibility::Public;
        let mut updates = Vec::new();
        let mut offset = 0;
        loop {
            let page = DocumentsQuery::new(&index)
                .with_filter(&filter)
                .with_fields(["objectID"])
                .with_limit(FETCH_PAGE)
                .with_offset(offset)
                .execute::<ObjectId>()
                .await
                .map_err(engine)?;
            let count = page.results.len();
            updates
                .extend(page.results.into_iter().map(|doc| PublicFlag { object_id: doc.object_id, public }));
            offset += count;
            if count == 0 || offset >= usize::try_from(page.total).unwrap_or(usize::MAX) {
                break;
            }
        }
        if updates.is_empty() {
            return Ok(());
        }
        let task = index.add_or_update(&updates, Some("objectID")).await.map_err(engine)?;
        self.wait(task).await
    }

    async fn search(&self, scope: &ReadScope, query: &SearchQuery) -> Result<SearchResults, SearchError> {
        let limit = query.effective_limit();
        let offset = query.effective_offset();
        let (pre, post) = query.tags();
        let filter = scope_filter(scope);
        let index = self.index();
        let crop: Vec<(&str, Option<usize>)> =
            query.attributes_to_crop.iter().filter(|a| !a.is_empty()).map(|a| (a.as_str(), None)).collect();
        let mut request = index.search();
        request
            .with_query(&query.q)
            .with_limit(limit)
            .with_offset(offset)
            .with_attributes_to_highlight(Selectors::All)
            .with_highlight_pre_tag(pre)
            .with_highlight_post_tag(post);
        if let Some(filter) = &filter {
            request.with_filter(filter);
        }
        if !crop.is_empty() {
            request.with_attributes_to_crop(Selectors::Some(&crop));
        }
        let results = request.execute::<MeiliDocument>().await.map_err(engine)?;
        Ok(SearchResults {
            hits: results
                .hits
                .into_iter()
                .map(|SearchResult { result, formatted_result, .. }| result.into_hit(formatted_result))
                .collect(),
            query: query.q.clone(),
            limit: Some(results.limit.unwrap_or(limit)),
            offset: Some(results.offset.unwrap_or(offset)),
        })
    }
}

#[derive(Debug, Deserialize)]
struct ObjectId {
    #[serde(rename = "objectID")]
    object_id: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_filters_are_well_formed() {
        assert_eq!(scope_filter(&ReadScope::All), None);
        assert_eq!(scope_filter(&ReadScope::PublicAnd(vec![])).as_deref(), Some("public = true"));
        assert_eq!(
            scope_filter(&ReadScope::PublicAnd(vec![1, 2])).as_deref(),
            Some("public = true OR rfd_number IN [1, 2]")
        );
    }
}
