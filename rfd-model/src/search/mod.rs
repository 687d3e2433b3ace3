//! Full-text search over RFD sections, behind one trait with two backends.
//!
//! - [`postgres::PostgresSearch`] (the embedded default): a section table with weighted
//!   tsvectors (title > headings > body), a GIN index, pg_trgm for typo tolerance and
//!   `ts_headline` for highlights. Visibility is joined from `rfd` at query time, so a
//!   visibility change is reflected at once with no index write.
//! - [`meilisearch::MeilisearchIndex`]: a Meilisearch index via `meilisearch-sdk`, with
//!   `public` and `rfd_number` filterable; visibility changes are pushed to it.
//!
//! An RFD is indexed as sections ([`sections::split`]): the preamble (level 0) and one
//! record per heading, each with its heading hierarchy and anchor. Queries answer in the
//! reference API's [`SearchResults`] shape and take a [`ReadScope`]: a hit from an RFD
//! outside it is never returned.

pub mod meilisearch;
pub mod postgres;
pub mod sections;

use std::sync::Arc;

use async_trait::async_trait;
use schemars::JsonSchema;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::store::{ReadScope, Store};
use crate::types::{ContentFormat, Rfd, RfdRevision, Visibility};

pub use sections::Section;

/// The default number of hits per page (as Meilisearch).
pub const DEFAULT_LIMIT: usize = 20;
/// The most hits one query returns.
pub const MAX_LIMIT: usize = 1000;
/// The default highlight tags (as Meilisearch).
pub const DEFAULT_PRE_TAG: &str = "<em>";
/// See [`DEFAULT_PRE_TAG`].
pub const DEFAULT_POST_TAG: &str = "</em>";

/// Why a search operation failed.
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    /// The platform's database failed (PostgreSQL backend).
    #[error(transparent)]
    Store(#[from] crate::error::StoreError),
    /// The search engine failed or answered something unexpected.
    #[error("search engine: {0}")]
    Engine(String),
    /// The `[search]` configuration is incomplete or invalid; names the key.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A Meilisearch task ended without succeeding.
    #[error("search engine task {uid} {status}: {message}")]
    Task {
        /// The task's uid.
        uid: u32,
        /// `failed` or `canceled`.
        status: String,
        /// The engine's message.
        message: String,
    },
}

impl From<diesel::result::Error> for SearchError {
    fn from(err: diesel::result::Error) -> Self {
        Self::Store(err.into())
    }
}

/// A search request, as `GET /rfd-search` takes it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SearchQuery {
    /// The words to look for.
    pub q: String,
    /// Hits per page ([`DEFAULT_LIMIT`] when absent, at most [`MAX_LIMIT`]).
    pub limit: Option<usize>,
    /// Hits to skip.
    pub offset: Option<usize>,
    /// Put before each highlighted word ([`DEFAULT_PRE_TAG`] when absent).
    pub highlight_pre_tag: Option<String>,
    /// Put after each highlighted word ([`DEFAULT_POST_TAG`] when absent).
    pub highlight_post_tag: Option<String>,
    /// Attributes whose formatted value is cropped around the matches (`content`, `*`).
    #[serde(default)]
    pub attributes_to_crop: Vec<String>,
}

impl SearchQuery {
    /// A query for `q` with every option at its default.
    pub fn new(q: impl Into<String>) -> Self {
        Self { q: q.into(), ..Self::default() }
    }

    /// The page size actually used.
    pub fn effective_limit(&self) -> usize {
        self.limit.unwrap_or(DEFAULT_LIMIT).min(MAX_LIMIT)
    }

    /// The offset actually used.
    pub fn effective_offset(&self) -> usize {
        self.offset.unwrap_or(0)
    }

    /// The highlight tags actually used.
    pub fn tags(&self) -> (&str, &str) {
        (
            self.highlight_pre_tag.as_deref().unwrap_or(DEFAULT_PRE_TAG),
            self.highlight_post_tag.as_deref().unwrap_or(DEFAULT_POST_TAG),
        )
    }

    /// Whether the formatted `content` should be cropped around the matches.
    pub fn crops_content(&self) -> bool {
        self.attributes_to_crop.iter().any(|a| a == "content" || a == "*")
    }
}

/// One page of search hits (`SearchResults` in the reference API).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SearchResults {
    /// The hits, best first.
    pub hits: Vec<SearchResultHit>,
    /// The query as given.
    pub query: String,
    /// The page size used.
    pub limit: Option<usize>,
    /// The offset used.
    pub offset: Option<usize>,
}

/// One section that matched (`SearchResultHit` in the reference API).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SearchResultHit {
    /// `RFD n Title`, then the headings down to the section; `None` below its level.
    pub hierarchy: [Option<String>; 6],
    /// Only the section's own level is set: its heading (the RFD title for level 0).
    pub hierarchy_radio: [Option<String>; 6],
    /// The section's text.
    pub content: String,
    /// The record's id in the index.
    pub object_id: String,
    /// The RFD the section belongs to.
    pub rfd_number: u64,
    /// The section's anchor in the rendered document (`None` for the preamble).
    pub anchor: Option<String>,
    /// A link to the section, when the index knows one.
    pub url: Option<String>,
    /// The same fields with the matches highlighted.
    pub formatted: Option<FormattedSearchResultHit>,
}

/// A hit's fields with matches between the highlight tags (`FormattedSearchResultHit`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct FormattedSearchResultHit {
    /// See [`SearchResultHit::hierarchy`].
    pub hierarchy: [Option<String>; 6],
    /// See [`SearchResultHit::hierarchy_radio`].
    pub hierarchy_radio: [Option<String>; 6],
    /// The content, highlighted (and cropped when asked).
    pub content: Option<String>,
    /// See [`SearchResultHit::object_id`].
    pub object_id: String,
    /// See [`SearchResultHit::rfd_number`].
    pub rfd_number: u64,
    /// See [`SearchResultHit::anchor`].
    pub anchor: Option<String>,
    /// See [`SearchResultHit::url`].
    pub url: Option<String>,
}

/// One RFD revision ready for indexing: its identity and its sections.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexedRfd {
    /// The RFD's id.
    pub rfd_id: Uuid,
    /// The RFD's number.
    pub rfd_number: i32,
    /// The revision the sections come from.
    pub revision_id: Uuid,
    /// The RFD's title (without the `RFD n` prefix).
    pub title: String,
    /// Who may read it when indexed (backends that filter at query time ignore it).
    pub visibility: Visibility,
    /// The sections, in document order; the first is the preamble.
    pub sections: Vec<Section>,
}

impl IndexedRfd {
    /// Splits a stored revision into sections.
    pub fn from_revision(rfd: &Rfd, revision: &RfdRevision) -> Self {
        Self::from_content(
            rfd.id,
            rfd.rfd_number,
            revision.id,
            &revision.title,
            rfd.visibility,
            revision.content_format,
            &revision.content,
        )
    }

    /// Splits a document's content into sections.
    pub fn from_content(
        rfd_id: Uuid,
        rfd_number: i32,
        revision_id: Uuid,
        title: &str,
        visibility: Visibility,
        format: ContentFormat,
        content: &str,
    ) -> Self {
        Self {
            rfd_id,
            rfd_number,
            revision_id,
            title: title.to_string(),
            visibility,
            sections: sections::split(format, content),
        }
    }

    /// The level-0 hierarchy entry: `RFD n Title`.
    pub fn lvl0(&self) -> String {
        format!("RFD {} {}", self.rfd_number, self.title).trim_end().to_string()
    }

    /// The record id of the section at `position` (letters, digits and `-` only, as
    /// Meilisearch requires).
    pub fn object_id(&self, position: usize) -> String {
        format!("{}-{}", self.rfd_number, position)
    }

    /// The hierarchy and the radio hierarchy of a section.
    pub fn hierarchy(&self, section: &Section) -> ([Option<String>; 6], [Option<String>; 6]) {
        let mut hierarchy: [Option<String>; 6] = Default::default();
        let mut radio: [Option<String>; 6] = Default::default();
        hierarchy[0] = Some(self.lvl0());
        for (level, heading) in section.headings.iter().enumerate().take(5) {
            hierarchy[level + 1] = Some(heading.clone());
        }
        let own = section.level.min(5);
        radio[own] = hierarchy[own].clone();
        (hierarchy, radio)
    }
}

/// A search index of RFD sections.
#[async_trait]
pub trait SearchIndex: Send + Sync {
    /// A short name for logs: `postgres` or `meilisearch`.
    fn backend(&self) -> &'static str;

    /// Whether the index lives outside the platform's database (so `read` mode, which
    /// writes nothing outside it, must leave it alone).
    fn is_external(&self) -> bool;

    /// Replaces everything indexed for the RFD with these sections. No section of an
    /// earlier revision survives, however many there were.
    async fn index_rfd(&self, rfd: &IndexedRfd) -> Result<(), SearchError>;

    /// Removes every section of an RFD.
    async fn delete_rfd(&self, rfd_number: i32) -> Result<(), SearchError>;

    /// Makes the index reflect an RFD's new visibility at once.
    async fn set_visibility(&self, rfd_number: i32, visibility: Visibility) -> Result<(), SearchError>;

    /// Searches the sections of RFDs inside `scope`.
    async fn search(&self, scope: &ReadScope, query: &SearchQuery) -> Result<SearchResults, SearchError>;
}

/// Which search backend to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SearchBackend {
    /// PostgreSQL full-text search in the platform's database (the default).
    #[default]
    Postgres,
    /// A Meilisearch server.
    Meilisearch,
}

/// `[search]` in the config file.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SearchSettings {
    /// `postgres` (default) or `meilisearch`.
    pub backend: SearchBackend,
    /// Meilisearch: the server's URL, e.g. `http://127.0.0.1:7700`.
    pub host: Option<String>,
    /// Meilisearch: an API key allowed to write documents and settings, and search.
    pub key: Option<SecretString>,
    /// Meilisearch: the index name.
    pub index: String,
}

impl Default for SearchSettings {
    fn default() -> Self {
        Self { backend: SearchBackend::Postgres, host: None, key: None, index: "rfd".into() }
    }
}

impl SearchSettings {
    /// The configured index over the platform's `store`. Fails, naming the key, when the
    /// Meilisearch backend lacks its host.
    pub fn open(&self, store: &Store) -> Result<Arc<dyn SearchIndex>, SearchError> {
        Ok(match self.backend {
            SearchBackend::Postgres => Arc::new(postgres::PostgresSearch::new(store.clone())),
            SearchBackend::Meilisearch => {
                let host = self
                    .host
                    .as_deref()
                    .ok_or_else(|| SearchError::Config("missing required key `search.host`".into()))?;
                Arc::new(meilisearch::MeilisearchIndex::new(host, self.key.clone(), &self.index)?)
            }
        })
    }
}

/// What [`reindex`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReindexReport {
    /// RFDs indexed.
    pub rfds: usize,
    /// Sections indexed.
    pub sections: usize,
}

/// Rebuilds the index from the database: the latest revision of every RFD, in number
/// order, a page at a time. Stops at the first failure (re-running it is safe).
pub async fn reindex(store: &Store, index: &dyn SearchIndex) -> Result<ReindexReport, SearchError> {
    use diesel::prelude::*;
    use diesel_async::RunQueryDsl;

    use crate::schema::{rfd, rfd_revision};

    const PAGE: i64 = 100;
    let mut report = ReindexReport::default();
    let mut after = i32::MIN;
    loop {
        let page: Vec<(Rfd, RfdRevision)> = {
            let mut conn = store.pool().get().await.map_err(crate::error::StoreError::from)?;
            rfd::table
                .inner_join(rfd_revision::table.on(rfd_revision::id.nullable().eq(rfd::latest_revision_id)))
                .filter(rfd::deleted_at.is_null())
                .filter(rfd_revision::deleted_at.is_null())
                .filter(rfd::rfd_number.gt(after))
                .order(rfd::rfd_number)
                .limit(PAGE)
                .select((Rfd::as_select(), RfdRevision::as_select()))
                .load(&mut conn)
                .await?
        };
        let Some((last, _)) = page.last() else { break };
        after = last.rfd_number;
        for (rfd, revision) in &page {
            let indexed = IndexedRfd::from_revision(rfd, revision);
            index.index_rfd(&indexed).await?;
            report.rfds += 1;
            report.sections += indexed.sections.len();
        }
        if page.len() < PAGE as usize {
            break;
        }
    }
    Ok(report)
}

/// Damerau (optimal string alignment) distance, capped: above `max` it returns `max + 1`.
pub(crate) fn edit_distance(a: &str, b: &str, max: usize) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    if a.len().abs_diff(b.len()) > max {
        return max + 1;
    }
    let width = b.len() + 1;
    let mut rows = vec![vec![0usize; width]; a.len() + 1];
    for (j, cell) in rows[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        rows[i][0] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (rows[i - 1][j] + 1).min(rows[i][j - 1] + 1).min(rows[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(rows[i - 2][j - 2] + 1);
            }
            rows[i][j] = best;
        }
    }
    rows[a.len()][b.len()].min(max + 1)
}

/// How many typos a query word may have, as Meilisearch allows by default: none below
/// five letters, one up to eight, two from nine.
pub(crate) fn typos_allowed(word: &str) -> usize {
    match word.chars().count() {
        0..=4 => 0,
        5..=8 => 1,
        _ => 2,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distance_counts_one_typo() {
        assert_eq!(edit_distance("database", "databse", 2), 1);
        assert_eq!(edit_distance("database", "datbaase", 2), 1);
        assert_eq!(edit_distance("storage", "storage", 2), 0);
        assert_eq!(edit_distance("abc", "xyz", 1), 2);
        assert_eq!(typos_allowed("ceph"), 0);
        assert_eq!(typos_allowed("databse"), 1);
    }

    #[test]
    fn hierarchy_sets_radio_at_the_sections_level() {
        let rfd = IndexedRfd::from_content(
            Uuid::nil(),
            7,
            Uuid::nil(),
            "Title",
            Visibility::Public,
            ContentFormat::Asciidoc,
            "= Title\n\nIntro\n\n== A\n\n=== B\n\ntext\n",
        );
        let (h, r) = rfd.hierarchy(&rfd.sections[2]);
        assert_eq!(h[0].as_deref(), Some("RFD 7 Title"));
        assert_eq!(h[1].as_deref(), Some("A"));
        assert_eq!(h[2].as_deref(), Some("B"));
        assert_eq!(r, [None, None, Some("B".into()), None, None, None]);
        let (_, r0) = rfd.hierarchy(&rfd.sections[0]);
        assert_eq!(r0[0].as_deref(), Some("RFD 7 Title"));
    }
}
