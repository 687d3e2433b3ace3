//! `CreatePullRequest`: an RFD in discussion or ideation on its own branch gets a pull
//! request, unless one is open already. A closed pull request does not block a new one.

use async_trait::async_trait;
use rfd_model::document::RfdState;
use rfd_model::source::PullRequestState;

use super::{Action, ActionContext, ActionError, UpdateMode};

/// See the module documentation.
pub struct CreatePullRequest;

#[async_trait]
impl Action for CreatePullRequest {
    fn name(&self) -> &'static str {
        "CreatePullRequest"
    }

    async fn run(&self, ctx: &mut ActionContext<'_>) -> Result<(), ActionError> {
        let wants_one = matches!(ctx.document.state(), Some(RfdState::Discussion | RfdState::Ideation));
        if !wants_one || ctx.on_default_branch() {
            return Ok(());
        }
        let Some(host) = ctx.source.pull_requests() else { return Ok(()) };
        let open = ctx.pull_requests().await?.iter().find(|pr| pr.state == PullRequestState::Open).cloned();
        if let Some(pr) = open {
            // Once per pull request: also covers a retry after opening it but before emitting.
            return opened(ctx, &pr).await;
        }
        if ctx.mode != UpdateMode::Write {
            tracing::info!(rfd.number = ctx.number, "read mode: pull request not created");
            return Ok(());
        }
        let title = ctx.pull_request_title();
        let body = format!(
            "Discussion of RFD {} ({}).\n\nOpened by the RFD processor because the RFD is in `{}`.",
            ctx.number,
            ctx.job.branch,
            ctx.document.state_raw().unwrap_or_default()
        );
        let pr = host
            .create_pull_request(&ctx.job.branch, &title, &body)
            .await
            .map_err(|err| ActionError::source("creating the pull request", err))?;
        tracing::info!(rfd.number = ctx.number, pr = pr.number, "pull request opened");
        opened(ctx, &pr).await?;
        ctx.add_pull_request(pr);
        Ok(())
    }
}

async fn opened(ctx: &ActionContext<'_>, pr: &rfd_model::source::PullRequest) -> Result<(), ActionError> {
    crate::events::pull_request_opened(ctx.store, ctx.job, ctx.number, pr)
        .await
        .map_err(|err| ActionError::Stop(err.0))
}
