//! The embedded search backend: PostgreSQL full-text search in the platform's database.
//!
//! - Sections live in `search_section` (what a hit shows) and, for matching and ordering,
//!   in the narrow `search_match` (migration `2026-11-29-000080_search_speed`): one small
//!   tsvector per field (title, headings, both) plus the whole section's, each with a GIN
//!   index, and the RFD's visibility, copied from `rfd` by a trigger.
//! - Hits are ranked by tier: the RFD title (on the preamble), then headings, then title
//!   and headings together (the title on a later section), then text; inside a tier,
//!   newest RFD first, then document order. `search_hits()` finds each tier's hits either
//!   from the first sections in that order (a common word: no need to look at the
//!   thousands of other matches) or through the GIN index (a rare word), so neither kind
//!   of query reads every match. Weighing term frequencies over every match was what
//!   made a common word take most of a second.
//! - Every query word matches as a prefix (`stor` finds `storage`), and a word that is
//!   not in the index is widened with indexed words one typo away (two from nine
//!   letters, as Meilisearch), found through a trigram index on `search_word` (`search_typo_alternatives()`).
//! - Highlights come from `ts_headline`, run only on the page returned, with two control
//!   characters as markers that are then replaced by the caller's tags (tags of any
//!   text, no quoting rules).
//! - Visibility is filtered inside the indexed query: `search_match` carries it, and the
//!   trigger on `rfd` updates it in the transaction that changes the RFD, so the next
//!   query reflects it; [`SearchIndex::set_visibility`] is a no-op here.

use std::collections::{BTreeSet, HashMap};

use async_trait::async_trait;
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Bool, Int4, Nullable, Text, Varchar};
use diesel_async::{AsyncConnection, RunQueryDsl};

use super::{
    FormattedSearchResultHit, IndexedRfd, SearchError, SearchIndex, SearchQuery, SearchResultHit,
    SearchResults, edit_distance, typos_allowed,
};
use crate::error::StoreError;
use crate::schema::{search_section, search_word};
use crate::store::{ReadScope, Store};
use crate::types::Visibility;

/// Most words of a query used (the rest are ignored).
const MAX_QUERY_WORDS: usize = 10;
/// Most typo alternatives per query word.
const MAX_ALTERNATIVES: usize = 3;
/// Similar indexed words looked at per query word to find those alternatives.
const TYPO_CANDIDATES: i32 = 10;
/// Sections inserted per statement (13 parameters each, well under PostgreSQL's 65,535).
const INSERT_CHUNK: usize = 1000;
/// Sections at the top of the order a tier looks at before it asks the GIN index
/// instead: at least this many, or ten times the hits wanted (see `search_hits()`).
const WINDOW_ROWS: usize = 200;
/// The largest window, for deep pages.
const MAX_WINDOW_ROWS: usize = 2000;
/// The highlight markers `ts_headline` is given; indexed text never contains them.
const START_MARK: char = '\u{1}';
const STOP_MARK: char = '\u{2}';

/// See the module documentation.
#[derive(Clone)]
pub struct PostgresSearch {
    store: Store,
}

impl PostgresSearch {
    /// The index in the platform's database.
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    async fn conn(
        &self,
    ) -> Result<
        diesel_async::pooled_connection::bb8::PooledConnection<'_, diesel_async::AsyncPgConnection>,
        SearchError,
    > {
        Ok(self.store.pool().get().await.map_err(StoreError::from)?)
    }

    /// The tsquery text for a query: every word as a prefix, or'ed with its typo
    /// alternatives, and the words and'ed. `None` when the query has no words.
    async fn tsquery(&self, q: &str) -> Result<Option<String>, SearchError> {
        let terms: Vec<String> = q
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .map(str::to_lowercase)
            .take(MAX_QUERY_WORDS)
            .collect();
        if terms.is_empty() {
            return Ok(None);
        }
        let fuzzy: Vec<String> = terms.iter().filter(|t| typos_allowed(t) > 0).cloned().collect();
        let mut alternatives: HashMap<String, Vec<String>> = HashMap::new();
        if !fuzzy.is_empty() {
            let mut conn = self.conn().await?;
            // Through the trigram index (migration 2026-11-30-000100_search_typo).
            let rows: Vec<Alternative> =
                diesel::sql_query("SELECT term, word FROM search_typo_alternatives($1, $2)")
                    .bind::<Array<Varchar>, _>(&fuzzy)
                    .bind::<Int4, _>(TYPO_CANDIDATES)
                    .load(&mut conn)
                    .await?;
            for row in rows {
                let allowed = typos_allowed(&row.term);
                let list = alternatives.entry(row.term.clone()).or_default();
                if list.len() < MAX_ALTERNATIVES
                    && row.word != row.term
                    && edit_distance(&row.term, &row.word, allowed) <= allowed
                {
                    list.push(row.word);
                }
            }
        }
        let groups: Vec<String> = terms
            .iter()
            .map(|term| {
                let mut options =
                    vec![if term.chars().count() >= 2 { format!("{term}:*") } else { term.clone() }];
                options.extend(alternatives.get(term).into_iter().flatten().cloned());
                format!("({})", options.join(" | "))
            })
            .collect();
        Ok(Some(groups.join(" & ")))
    }
}

#[derive(QueryableByName)]
struct Alternative {
    #[diesel(sql_type = Varchar)]
    term: String,
    #[diesel(sql_type = Varchar)]
    word: String,
}

#[derive(QueryableByName)]
struct HitRow {
    #[diesel(sql_type = Varchar)]
    object_id: String,
    #[diesel(sql_type = Int4)]
    rfd_number: i32,
    #[diesel(sql_type = Nullable<Varchar>)]
    anchor: Option<String>,
    #[diesel(sql_type = Nullable<Varchar>)]
    url: Option<String>,
    #[diesel(sql_type = Array<Nullable<Text>>)]
    hierarchy: Vec<Option<String>>,
    #[diesel(sql_type = Array<Nullable<Text>>)]
    hierarchy_radio: Vec<Option<String>>,
    #[diesel(sql_type = Text)]
    content: String,
    #[diesel(sql_type = Array<Nullable<Text>>)]
    f_hierarchy: Vec<Option<String>>,
    #[diesel(sql_type = Nullable<Text>)]
    f_content: Option<String>,
}

fn six(values: Vec<Option<String>>) -> [Option<String>; 6] {
    let mut out: [Option<String>; 6] = Default::default();
    for (slot, value) in out.iter_mut().zip(values) {
        *slot = value;
    }
    out
}

fn tag(text: String, pre: &str, post: &str) -> String {
    if text.contains([START_MARK, STOP_MARK]) {
        text.replace(START_MARK, pre).replace(STOP_MARK, post)
    } else {
        text
    }
}

impl HitRow {
    fn into_hit(self, pre: &str, post: &str) -> SearchResultHit {
        let hierarchy = six(self.hierarchy);
        let radio = six(self.hierarchy_radio);
        let f_hierarchy = six(self.f_hierarchy.into_iter().map(|h| h.map(|h| tag(h, pre, post))).collect());
        // The radio level is the section's own: the same text as in the hierarchy.
        let mut f_radio: [Option<String>; 6] = Default::default();
        for (i, value) in radio.iter().enumerate() {
            if value.is_some() {
                f_radio[i] = f_hierarchy[i].clone().or_else(|| value.clone());
            }
        }
        let rfd_number = u64::try_from(self.rfd_number).unwrap_or_default();
        SearchResultHit {
            formatted: Some(FormattedSearchResultHit {
                hierarchy: f_hierarchy,
                hierarchy_radio: f_radio,
                content: Some(
                    self.f_content.map(|c| tag(c, pre, post)).unwrap_or_else(|| self.content.clone()),
                ),
                object_id: self.object_id.clone(),
                rfd_number,
                anchor: self.anchor.clone(),
                url: self.url.clone(),
            }),
            hierarchy,
            hierarchy_radio: radio,
            content: self.content,
            object_id: self.object_id,
            rfd_number,
            anchor: self.anchor,
            url: self.url,
        }
    }
}

/// One row of `search_section` as inserted.
type SectionRow = (
    diesel::dsl::Eq<search_section::object_id, String>,
    diesel::dsl::Eq<search_section::rfd_id, uuid::Uuid>,
    diesel::dsl::Eq<search_section::rfd_number, i32>,
    diesel::dsl::Eq<search_section::revision_id, uuid::Uuid>,
    diesel::dsl::Eq<search_section::position, i32>,
    diesel::dsl::Eq<search_section::level, i16>,
    diesel::dsl::Eq<search_section::anchor, Option<String>>,
    diesel::dsl::Eq<search_section::hierarchy, Vec<Option<String>>>,
    diesel::dsl::Eq<search_section::hierarchy_radio, Vec<Option<String>>>,
    diesel::dsl::Eq<search_section::title, String>,
    diesel::dsl::Eq<search_section::headings, String>,
    diesel::dsl::Eq<search_section::content, String>,
);

fn rows(rfd: &IndexedRfd) -> Vec<SectionRow> {
    let lvl0 = rfd.lvl0();
    rfd.sections
        .iter()
        .enumerate()
        .map(|(position, section)| {
            let (hierarchy, radio) = rfd.hierarchy(section);
            (
                search_section::object_id.eq(rfd.object_id(position)),
                search_section::rfd_id.eq(rfd.rfd_id),
                search_section::rfd_number.eq(rfd.rfd_number),
                search_section::revision_id.eq(rfd.revision_id),
                search_section::position.eq(i32::try_from(position).unwrap_or(i32::MAX)),
                search_section::level.eq(i16::try_from(section.level).unwrap_or(5)),
                search_section::anchor.eq(section.anchor.clone()),
                search_section::hierarchy.eq(hierarchy.to_vec()),
                search_section::hierarchy_radio.eq(radio.to_vec()),
                search_section::title.eq(lvl0.clone()),
                search_section::headings.eq(section.headings.join(" ")),
                search_section::content.eq(section.content.clone()),
            )
        })
        .collect()
}

#[async_trait]
impl SearchIndex for PostgresSearch {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    fn is_external(&self) -> bool {
        false
    }

    async fn index_rfd(&self, rfd: &IndexedRfd) -> Result<(), SearchError> {
        let rows = rows(rfd);
        let words: BTreeSet<String> = std::iter::once(rfd.lvl0())
            .chain(rfd.sections.iter().flat_map(|s| s.headings.iter().cloned().chain([s.content.clone()])))
            .flat_map(|text| super::sections::words(&text).collect::<Vec<_>>())
            .collect();
        let words: Vec<String> = words.into_iter().collect();
        let (rfd_id, rfd_number) = (rfd.rfd_id, rfd.rfd_number);
        let mut conn = self.conn().await?;
        // Sorted words: concurrent indexers take row locks in one order, never deadlock.
        for chunk in words.chunks(10_000) {
            diesel::insert_into(search_word::table)
                .values(chunk.iter().map(|w| search_word::word.eq(w)).collect::<Vec<_>>())
                .on_conflict_do_nothing()
                .execute(&mut conn)
                .await?;
        }
        conn.transaction::<_, SearchError, _>(async move |conn| {
            diesel::delete(
                search_section::table
                    .filter(search_section::rfd_id.eq(rfd_id).or(search_section::rfd_number.eq(rfd_number))),
            )
            .execute(conn)
            .await?;
            for chunk in rows.chunks(INSERT_CHUNK) {
                diesel::insert_into(search_section::table).values(chunk.to_vec()).execute(conn).await?;
            }
            // The narrow rows queries match on (their tsvectors are computed in SQL).
            diesel::sql_query("SELECT search_match_index($1)")
                .bind::<diesel::sql_types::Uuid, _>(rfd_id)
                .execute(conn)
                .await?;
            Ok(())
        })
        .await
    }

    async fn delete_rfd(&self, rfd_number: i32) -> Result<(), SearchError> {
        let mut conn = self.conn().await?;
        diesel::delete(search_section::table.filter(search_section::rfd_number.eq(rfd_number)))
            .execute(&mut conn)
            .await?;
        Ok(())
    }

    async fn set_visibility(&self, _rfd_number: i32, _visibility: Visibility) -> Result<(), SearchError> {
        // A trigger on `rfd` copies the visibility into `search_match` in the same
        // transaction: the change is already visible.
        Ok(())
    }

    async fn search(&self, scope: &ReadScope, query: &SearchQuery) -> Result<SearchResults, SearchError> {
        let limit = query.effective_limit();
        let offset = query.effective_offset();
        let (pre, post) = query.tags();
        let (all, numbers) = match scope {
            ReadScope::All => (true, Vec::new()),
            ReadScope::PublicAnd(numbers) => (false, numbers.clone()),
        };
        let tsquery = self.tsquery(&query.q).await?;
        let highlight = format!("StartSel={START_MARK}, StopSel={STOP_MARK}, HighlightAll=true");
        let content_options = if query.crops_content() {
            format!("StartSel={START_MARK}, StopSel={STOP_MARK}, MaxWords=20, MinWords=8")
        } else {
            highlight.clone()
        };
        let mut conn = self.conn().await?;
        let rows: Vec<HitRow> = match tsquery {
            Some(tsquery) => {
                let wanted = limit.saturating_add(offset);
                let window = wanted.saturating_mul(10).clamp(WINDOW_ROWS, MAX_WINDOW_ROWS);
                // search_hits() returns the best `wanted` hits in order; only the page
                // asked for is joined to its display fields and highlighted.
                let sql = "WITH q AS MATERIALIZED (SELECT to_tsquery('english', $3) AS query), \
                     hits AS ( \
                       SELECT h.object_id, h.tier, h.rfd_number, h.position \
                       FROM q, search_hits(q.query, $1, $2, $4 + $5, $6) AS h \
                       ORDER BY h.tier DESC, h.rfd_number DESC, h.position \
                       LIMIT $4 OFFSET $5) \
                     SELECT s.object_id, s.rfd_number, s.anchor, s.url, s.hierarchy, s.hierarchy_radio, \
                       s.content, \
                       ARRAY(SELECT ts_headline('english', h, q.query, $7) \
                             FROM unnest(s.hierarchy) WITH ORDINALITY AS u(h, i) ORDER BY i) AS f_hierarchy, \
                       ts_headline('english', s.content, q.query, $8) AS f_content \
                     FROM hits JOIN search_section s ON s.object_id = hits.object_id, q \
                     ORDER BY hits.tier DESC, hits.rfd_number DESC, hits.position";
                diesel::sql_query(sql)
                    .bind::<Bool, _>(all)
                    .bind::<Array<Int4>, _>(&numbers)
                    .bind::<Text, _>(&tsquery)
                    .bind::<BigInt, _>(i64::try_from(limit).unwrap_or(i64::MAX))
                    .bind::<BigInt, _>(i64::try_from(offset).unwrap_or(i64::MAX))
                    .bind::<Int4, _>(i32::try_from(window).unwrap_or(i32::MAX))
                    .bind::<Text, _>(&highlight)
                    .bind::<Text, _>(&content_options)
                    .load(&mut conn)
                    .await?
            }
            None => {
                // No words: every section in scope, newest RFDs first (a placeholder
                // search, as Meilisearch answers an empty query).
                let sql = "SELECT s.object_id, s.rfd_number, s.anchor, s.url, s.hierarchy, s.hierarchy_radio, \
                       s.content, s.hierarchy AS f_hierarchy, NULL::text AS f_content \
                     FROM (SELECT m.object_id, m.rfd_number, m.position FROM search_match m \
                           WHERE NOT m.deleted AND ($1 OR m.public OR m.rfd_number = ANY($2)) \
                           ORDER BY m.rfd_number DESC, m.position LIMIT $3 OFFSET $4) AS page \
                     JOIN search_section s ON s.object_id = page.object_id \
                     ORDER BY page.rfd_number DESC, page.position";
                diesel::sql_query(sql)
                    .bind::<Bool, _>(all)
                    .bind::<Array<Int4>, _>(&numbers)
                    .bind::<BigInt, _>(i64::try_from(limit).unwrap_or(i64::MAX))
                    .bind::<BigInt, _>(i64::try_from(offset).unwrap_or(i64::MAX))
                    .load(&mut conn)
                    .await?
            }
        };
        Ok(SearchResults {
            hits: rows.into_iter().map(|row| row.into_hit(pre, post)).collect(),
            query: query.q.clone(),
            limit: Some(limit),
            offset: Some(offset),
        })
    }
}
