//! `EnsureRfdOnDefaultIsInValidState`: an RFD on the default branch should be published,
//! committed or abandoned. Anything else is kept as a warning on the job (the document is
//! not rewritten: merging an RFD early is a choice people make).

use async_trait::async_trait;
use rfd_model::document::RfdState;

use super::{Action, ActionContext, ActionError};

/// See the module documentation.
pub struct EnsureRfdOnDefaultIsInValidState;

#[async_trait]
impl Action for EnsureRfdOnDefaultIsInValidState {
    fn name(&self) -> &'static str {
        "EnsureRfdOnDefaultIsInValidState"
    }

    async fn run(&self, ctx: &mut ActionContext<'_>) -> Result<(), ActionError> {
        if !ctx.on_default_branch() {
            return Ok(());
        }
        match ctx.document.state() {
            Some(RfdState::Published | RfdState::Committed | RfdState::Abandoned) => Ok(()),
            _ => Err(ActionError::Continue(format!(
                "RFD {} is on {} in state {:?}; expected published, committed or abandoned",
                ctx.number,
                ctx.job.branch,
                ctx.document.state_raw().unwrap_or("(none)")
            ))),
        }
    }
}
