//! `UpdateSearch`: indexes the RFD's sections for search.
//!
//! - Only the RFD's latest revision is indexed: a job storing a historic revision (an
//!   older commit processed late) leaves the index alone.
//! - The index replaces every section of the RFD, however many there were.
//! - The PostgreSQL backend lives in the platform's database, so it is updated in `read`
//!   mode too; an external backend (Meilisearch) is written in `write` mode only.
//! - A failure stops the attempt; the queue retries it.

use std::sync::Arc;

use async_trait::async_trait;
use rfd_model::search::postgres::PostgresSearch;
use rfd_model::search::{IndexedRfd, SearchIndex};

use super::{Action, ActionContext, ActionError, UpdateMode};

/// See the module documentation.
#[derive(Default)]
pub struct UpdateSearch {
    /// The configured index; `None` means the embedded default, PostgreSQL over the
    /// pipeline's own store.
    index: Option<Arc<dyn SearchIndex>>,
}

impl UpdateSearch {
    /// Indexes into `index`.
    pub fn new(index: Arc<dyn SearchIndex>) -> Self {
        Self { index: Some(index) }
    }
}

#[async_trait]
impl Action for UpdateSearch {
    fn name(&self) -> &'static str {
        "UpdateSearch"
    }

    async fn run(&self, ctx: &mut ActionContext<'_>) -> Result<(), ActionError> {
        let index: Arc<dyn SearchIndex> = match &self.index {
            Some(index) => index.clone(),
            None => Arc::new(PostgresSearch::new(ctx.store.clone())),
        };
        if index.is_external() && ctx.mode != UpdateMode::Write {
            tracing::info!(
                rfd.number = ctx.number,
                backend = index.backend(),
                "read mode: search index not updated"
            );
            return Ok(());
        }
        // Read again: the RFD row loaded before the revision was written may not point
        // at it yet, and visibility may have changed since.
        let rfd = ctx
            .store
            .get_rfd(ctx.number)
            .await
            .map_err(|err| ActionError::Stop(format!("reading RFD {}: {err}", ctx.number)))?
            .ok_or_else(|| ActionError::Stop(format!("RFD {} is no longer stored", ctx.number)))?;
        if rfd.latest_revision_id != Some(ctx.revision.id) {
            tracing::info!(
                rfd.number = ctx.number,
                revision = %ctx.revision.id,
                "not the latest revision: search index left as it is"
            );
            return Ok(());
        }
        let indexed = IndexedRfd::from_revision(&rfd, &ctx.revision);
        index.index_rfd(&indexed).await.map_err(|err| {
            ActionError::Stop(format!("indexing RFD {} ({}): {err}", ctx.number, index.backend()))
        })?;
        tracing::info!(
            rfd.number = ctx.number,
            backend = index.backend(),
            sections = indexed.sections.len(),
            "search index updated"
        );
        Ok(())
    }
}
