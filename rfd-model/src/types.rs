//! Domain types shared by the API, the processor and the CLI, in the JSON shapes of the
//! reference API (field names, enum spellings), so they can be served as they are.

use chrono::{DateTime, Utc};
use diesel::deserialize::FromSqlRow;
use diesel::expression::AsExpression;
use diesel::pg::Pg;
use diesel::{Queryable, Selectable};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::schema::sql_types;

/// Maps a Rust enum of unit variants onto a PostgreSQL enum type, variant by label.
macro_rules! pg_enum {
    ($rust:ident, $sql:ty, { $($variant:ident => $label:literal),+ $(,)? }) => {
        impl diesel::serialize::ToSql<$sql, diesel::pg::Pg> for $rust {
            fn to_sql<'b>(
                &'b self,
                out: &mut diesel::serialize::Output<'b, '_, diesel::pg::Pg>,
            ) -> diesel::serialize::Result {
                let label: &str = match self { $(Self::$variant => $label),+ };
                std::io::Write::write_all(out, label.as_bytes())?;
                Ok(diesel::serialize::IsNull::No)
            }
        }

        impl diesel::deserialize::FromSql<$sql, diesel::pg::Pg> for $rust {
            fn from_sql(bytes: diesel::pg::PgValue<'_>) -> diesel::deserialize::Result<Self> {
                let label = std::str::from_utf8(bytes.as_bytes())?;
                match label {
                    $($label => Ok(Self::$variant),)+
                    other => Err(format!(
                        concat!("unrecognised ", stringify!($rust), " value {:?}"),
                        other
                    ).into()),
                }
            }
        }

        impl $rust {
            /// The label stored in the database and used in JSON.
            pub fn as_str(&self) -> &'static str {
                match self { $(Self::$variant => $label),+ }
            }
        }

        impl std::fmt::Display for $rust {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
pub(crate) use pg_enum;

/// Who may read an RFD without a specific grant: everyone (`public`) or nobody (`private`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema, AsExpression, FromSqlRow,
)]
#[diesel(sql_type = sql_types::RfdVisibility)]
#[serde(rename_all = "lowercase")]
pub enum Visibility {
    /// Readable by any caller, including anonymous ones.
    Public,
    /// Readable only with a grant (`GetRfd(n)`, `GetRfdsAll`, …).
    Private,
}
pg_enum!(Visibility, sql_types::RfdVisibility, { Public => "public", Private => "private" });

/// The markup an RFD is written in.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema, AsExpression, FromSqlRow,
)]
#[diesel(sql_type = sql_types::RfdContentFormat)]
#[serde(rename_all = "lowercase")]
pub enum ContentFormat {
    /// `README.adoc`
    Asciidoc,
    /// `README.md`
    Markdown,
}
pg_enum!(ContentFormat, sql_types::RfdContentFormat, { Asciidoc => "asciidoc", Markdown => "markdown" });

/// Where a rendered PDF lives.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema, AsExpression, FromSqlRow,
)]
#[diesel(sql_type = sql_types::RfdPdfSource)]
#[serde(rename_all = "lowercase")]
pub enum PdfSource {
    /// Committed to the GitHub repository.
    Github,
    /// Stored in Google (Drive or Cloud Storage).
    Google,
}
pg_enum!(PdfSource, sql_types::RfdPdfSource, { Github => "github", Google => "google" });

/// An RFD: the stable identity behind a number. Its content lives in revisions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, Queryable, Selectable)]
#[diesel(table_name = crate::schema::rfd, check_for_backend(Pg))]
pub struct Rfd {
    /// Primary key.
    pub id: Uuid,
    /// The RFD number (unique).
    pub rfd_number: i32,
    /// Where the RFD can be browsed at its source.
    pub link: Option<String>,
    /// Who may read it without a grant.
    pub visibility: Visibility,
    /// The newest revision by commit time, if any.
    pub latest_revision_id: Option<Uuid>,
    /// Commit time of the newest revision marked as a major change.
    pub latest_major_change_at: Option<DateTime<Utc>>,
    /// When the row was created.
    pub created_at: DateTime<Utc>,
    /// When the row last changed.
    pub updated_at: DateTime<Utc>,
    /// Soft deletion time.
    pub deleted_at: Option<DateTime<Utc>>,
}

/// One stored revision of an RFD: its document at one commit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, Queryable, Selectable)]
#[diesel(table_name = crate::schema::rfd_revision, check_for_backend(Pg))]
pub struct RfdRevision {
    /// Primary key.
    pub id: Uuid,
    /// The RFD this revision belongs to.
    pub rfd_id: Uuid,
    /// Title without the `RFD n:` prefix.
    pub title: String,
    /// The `state` attribute as written in the document.
    pub state: Option<String>,
    /// The `discussion` attribute (usually a pull-request URL).
    pub discussion: Option<String>,
    /// The authors line.
    pub authors: Option<String>,
    /// The `labels` attribute.
    pub labels: Option<String>,
    /// The whole document.
    pub content: String,
    /// The markup of `content`.
    pub content_format: ContentFormat,
    /// Blob sha of the README file.
    pub sha: String,
    /// The commit this revision was read at.
    #[serde(rename = "commit")]
    pub commit_sha: String,
    /// Commit time.
    pub committed_at: DateTime<Utc>,
    /// Whether this revision counts as a major change (body or state changed).
    pub major_change: bool,
    /// When the row was created.
    pub created_at: DateTime<Utc>,
    /// When the row last changed.
    pub updated_at: DateTime<Utc>,
    /// Soft deletion time.
    pub deleted_at: Option<DateTime<Utc>>,
}

/// A revision without its content (`RfdRevisionMeta` in the reference API).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, Queryable, Selectable)]
#[diesel(table_name = crate::schema::rfd_revision, check_for_backend(Pg))]
pub struct RfdRevisionMeta {
    /// Revision id.
    pub id: Uuid,
    /// The commit the revision was read at.
    pub commit_sha: String,
    /// Commit time.
    pub committed_at: DateTime<Utc>,
    /// Whether this revision counts as a major change.
    pub major_change: bool,
}

/// An RFD with the metadata of one revision, without content (`RfdWithoutContent`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "RfdWithoutContent")]
pub struct RfdMeta {
    /// RFD id.
    pub id: Uuid,
    /// RFD number.
    pub rfd_number: i32,
    /// Where the RFD can be browsed at its source.
    pub link: Option<String>,
    /// Title at the revision.
    pub title: Option<String>,
    /// State at the revision.
    pub state: Option<String>,
    /// Discussion URL at the revision.
    pub discussion: Option<String>,
    /// Authors at the revision.
    pub authors: Option<String>,
    /// Labels at the revision.
    pub labels: Option<String>,
    /// Markup of the revision.
    pub format: Option<ContentFormat>,
    /// Blob sha of the README at the revision.
    pub sha: Option<String>,
    /// Commit of the revision.
    pub commit: Option<String>,
    /// Commit time of the revision.
    pub committed_at: Option<DateTime<Utc>>,
    /// Commit time of the newest major change.
    pub latest_major_change_at: Option<DateTime<Utc>>,
    /// Who may read it without a grant.
    pub visibility: Visibility,
}

/// An RFD with the metadata and content of one revision (`RfdWithRaw`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RfdWithRaw {
    /// The metadata.
    #[serde(flatten)]
    pub meta: RfdMeta,
    /// The document at the revision.
    pub content: Option<String>,
}

/// A PDF rendered for one revision (`RfdPdf`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, Queryable, Selectable)]
#[diesel(table_name = crate::schema::rfd_pdf, check_for_backend(Pg))]
pub struct RfdPdf {
    /// Primary key.
    pub id: Uuid,
    /// The revision it was rendered from.
    pub rfd_revision_id: Uuid,
    /// The RFD.
    pub rfd_id: Uuid,
    /// Where it is stored.
    pub source: PdfSource,
    /// Where it can be downloaded.
    pub link: String,
    /// The storage system's id for it.
    pub external_id: String,
    /// When the row was created.
    pub created_at: DateTime<Utc>,
    /// When the row last changed.
    pub updated_at: DateTime<Utc>,
    /// Soft deletion time.
    pub deleted_at: Option<DateTime<Utc>>,
}

/// What is needed to create or refresh an RFD row.
#[derive(Debug, Clone)]
pub struct NewRfd {
    /// RFD number.
    pub rfd_number: i32,
    /// Source link.
    pub link: Option<String>,
    /// Visibility for a new RFD; an existing RFD keeps its own (it is changed only
    /// through [`crate::Store::set_visibility`], so a job never overwrites it).
    pub visibility: Visibility,
}

/// A revision to store: the document of an RFD at one commit.
#[derive(Debug, Clone)]
pub struct NewRevision {
    /// The RFD it belongs to.
    pub rfd_id: Uuid,
    /// Title.
    pub title: String,
    /// State attribute.
    pub state: Option<String>,
    /// Discussion attribute.
    pub discussion: Option<String>,
    /// Authors.
    pub authors: Option<String>,
    /// Labels.
    pub labels: Option<String>,
    /// The document.
    pub content: String,
    /// Markup.
    pub content_format: ContentFormat,
    /// Blob sha of the README.
    pub sha: String,
    /// Commit.
    pub commit_sha: String,
    /// Commit time.
    pub committed_at: DateTime<Utc>,
    /// Major change flag.
    pub major_change: bool,
    /// Git tree id of the RFD folder at the commit, when the source knows it.
    pub tree_sha: Option<String>,
    /// What is wrong with the document (stored and flagged, never dropped).
    pub problems: Vec<String>,
}

/// A PDF to record for a revision.
#[derive(Debug, Clone)]
pub struct NewPdf {
    /// The revision it was rendered from.
    pub rfd_revision_id: Uuid,
    /// The RFD.
    pub rfd_id: Uuid,
    /// Where it is stored.
    pub source: PdfSource,
    /// Download link.
    pub link: String,
    /// Storage id.
    pub external_id: String,
}

/// Offset pagination, bounded so no query can ask for an unbounded result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    /// Rows to skip.
    pub offset: i64,
    /// Rows to return at most.
    pub limit: i64,
}

impl Page {
    /// The largest page any query returns.
    pub const MAX_LIMIT: i64 = 10_000;

    /// A page, with `limit` clamped to `1..=MAX_LIMIT` and `offset` to `>= 0`.
    pub fn new(offset: i64, limit: i64) -> Self {
        Self { offset: offset.max(0), limit: limit.clamp(1, Self::MAX_LIMIT) }
    }

    /// The first `limit` rows.
    pub fn first(limit: i64) -> Self {
        Self::new(0, limit)
    }
}

impl Default for Page {
    fn default() -> Self {
        Self::new(0, 100)
    }
}

// ---- RFD attributes (read API; the write API sets them) ----

/// An attribute that can be defined in an RFD document.
// The variants carry no doc comments so the schema is a plain string enum, as the
// reference's `RfdAttrName`: `discussion` (where the RFD is discussed), `labels`
// (free-form labels), `state` (see [`crate::document::RfdState`]). The texts match the
// write API's definition, so both produce the same `RfdAttrName` schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum RfdAttrName {
    Discussion,
    Labels,
    State,
}

/// An attribute with its value, as the reference API encodes it (`{"state": "published"}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum RfdAttr {
    /// The URL where the RFD is discussed.
    Discussion(String),
    /// Free-form labels.
    Labels(String),
    /// The RFD's state.
    State(crate::document::RfdState),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_use_reference_shapes() {
        let state = RfdAttr::State(crate::document::RfdState::Published);
        assert_eq!(serde_json::to_value(&state).ok(), Some(serde_json::json!({"state": "published"})));
        let name: Result<RfdAttrName, _> = serde_json::from_str("\"labels\"");
        assert_eq!(name.ok(), Some(RfdAttrName::Labels));
    }

    #[test]
    fn page_is_clamped() {
        assert_eq!(Page::new(-5, 0), Page { offset: 0, limit: 1 });
        assert_eq!(Page::new(3, 1_000_000), Page { offset: 3, limit: Page::MAX_LIMIT });
    }

    #[test]
    fn enums_use_reference_spellings() {
        assert_eq!(serde_json::to_string(&Visibility::Public).ok().as_deref(), Some("\"public\""));
        assert_eq!(serde_json::to_string(&ContentFormat::Asciidoc).ok().as_deref(), Some("\"asciidoc\""));
        assert_eq!(PdfSource::Google.as_str(), "google");
    }

    #[test]
    fn revision_serialises_commit_under_reference_name() {
        let json = serde_json::to_value(RfdRevisionMeta {
            id: Uuid::nil(),
            commit_sha: "abc".into(),
            committed_at: DateTime::<Utc>::UNIX_EPOCH,
            major_change: true,
        });
        let json = json.unwrap_or_default();
        assert_eq!(json["commit_sha"], "abc");
    }
}
