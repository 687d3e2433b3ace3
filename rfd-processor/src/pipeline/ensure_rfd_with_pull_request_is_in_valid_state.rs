//! `EnsureRfdWithPullRequestIsInValidState`: an RFD with an open pull request is in a
//! state that has one; otherwise it is moved to `discussion`.

use async_trait::async_trait;
use rfd_model::document::{Attribute, RfdState};

use super::{Action, ActionContext, ActionError};

/// See the module documentation.
pub struct EnsureRfdWithPullRequestIsInValidState;

#[async_trait]
impl Action for EnsureRfdWithPullRequestIsInValidState {
    fn name(&self) -> &'static str {
        "EnsureRfdWithPullRequestIsInValidState"
    }

    async fn run(&self, ctx: &mut ActionContext<'_>) -> Result<(), ActionError> {
        if ctx.open_pull_request().await?.is_none() {
            return Ok(());
        }
        let valid = matches!(
            ctx.document.state(),
            Some(
                RfdState::Discussion
                    | RfdState::Ideation
                    | RfdState::Published
                    | RfdState::Committed
                    | RfdState::Abandoned
            )
        );
        if !valid {
            ctx.fix(Attribute::State, RfdState::Discussion.as_str())?;
        }
        Ok(())
    }
}
