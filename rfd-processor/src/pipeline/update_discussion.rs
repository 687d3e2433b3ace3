//! `UpdateDiscussion`: stores the comments of the RFD's pull request for the revision the
//! job processes, so the API can serve the discussion of the latest and of any historic
//! revision (the reference service's discussion endpoints panicked instead).
//!
//! On the RFD's own branch the pull request is the branch's (the open one, else the newest);
//! on the default branch it is the one from the RFD's `NNNN` branch, usually merged by then.
//! The comments are read from the source and written only to the platform's database, so
//! this runs in `read` mode too. A revision without a pull request stores nothing.

use async_trait::async_trait;
use rfd_model::discussion::RfdDiscussionPullRequest;
use rfd_model::source::{PullRequest, PullRequestState};

use super::{Action, ActionContext, ActionError};

/// See the module documentation.
pub struct UpdateDiscussion;

/// The pull request that carries the discussion: the open one, else the newest merged
/// one, else the newest (the list is newest first).
fn discussion_pull_request(pulls: &[PullRequest]) -> Option<&PullRequest> {
    pulls
        .iter()
        .find(|pr| pr.state == PullRequestState::Open)
        .or_else(|| pulls.iter().find(|pr| pr.merged))
        .or_else(|| pulls.first())
}

#[async_trait]
impl Action for UpdateDiscussion {
    fn name(&self) -> &'static str {
        "UpdateDiscussion"
    }

    async fn run(&self, ctx: &mut ActionContext<'_>) -> Result<(), ActionError> {
        let Some(host) = ctx.source.pull_requests() else { return Ok(()) };
        let pull = if ctx.on_default_branch() {
            let branch = format!("{:04}", ctx.number);
            let pulls = host
                .pull_requests_for_branch(&branch)
                .await
                .map_err(|err| ActionError::source("listing the RFD branch's pull requests", err))?;
            discussion_pull_request(&pulls).cloned()
        } else {
            discussion_pull_request(ctx.pull_requests().await?).cloned()
        };
        let Some(pull) = pull else { return Ok(()) };
        let comments = host
            .pull_request_comments(pull.number)
            .await
            .map_err(|err| ActionError::source("listing the pull request's comments", err))?;
        let pull_request = RfdDiscussionPullRequest { number: pull.number, html_url: pull.html_url.clone() };
        ctx.store
            .replace_discussion(ctx.rfd.id, ctx.revision.id, &pull_request, &comments)
            .await
            .map_err(|err| ActionError::Stop(format!("storing the discussion: {err}")))?;
        tracing::info!(
            rfd.number = ctx.number,
            pr = pull.number,
            comments = comments.len(),
            "discussion stored for the revision"
        );
        Ok(())
    }
}
