//! `UpdateDiscussionUrl`: the `discussion` attribute points at the open pull request.

use async_trait::async_trait;
use rfd_model::document::Attribute;

use super::{Action, ActionContext, ActionError};

/// See the module documentation.
pub struct UpdateDiscussionUrl;

#[async_trait]
impl Action for UpdateDiscussionUrl {
    fn name(&self) -> &'static str {
        "UpdateDiscussionUrl"
    }

    async fn run(&self, ctx: &mut ActionContext<'_>) -> Result<(), ActionError> {
        let Some(pr) = ctx.open_pull_request().await? else { return Ok(()) };
        if ctx.document.discussion() != Some(pr.html_url.as_str()) {
            ctx.fix(Attribute::Discussion, &pr.html_url)?;
        }
        Ok(())
    }
}
