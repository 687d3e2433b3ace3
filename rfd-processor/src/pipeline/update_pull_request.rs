//! `UpdatePullRequest`: the open pull request's title follows the RFD title, and its state
//! label follows the RFD state (the label of a state the RFD left is removed).

use async_trait::async_trait;
use rfd_model::document::RfdState;

use super::{Action, ActionContext, ActionError, UpdateMode};

/// See the module documentation.
pub struct UpdatePullRequest;

/// The label that marks a pull request of an RFD in `state`.
pub(crate) fn state_label(state: RfdState) -> Option<&'static str> {
    match state {
        RfdState::Discussion => Some(":thought_balloon: discussion"),
        RfdState::Ideation => Some(":hatching_chick: ideation"),
        _ => None,
    }
}

const STATE_LABELS: [&str; 2] = [":thought_balloon: discussion", ":hatching_chick: ideation"];

#[async_trait]
impl Action for UpdatePullRequest {
    fn name(&self) -> &'static str {
        "UpdatePullRequest"
    }

    async fn run(&self, ctx: &mut ActionContext<'_>) -> Result<(), ActionError> {
        let Some(host) = ctx.source.pull_requests() else { return Ok(()) };
        let Some(pr) = ctx.open_pull_request().await? else { return Ok(()) };
        let title = ctx.pull_request_title();
        let wanted = ctx.document.state().and_then(state_label);
        let stale: Vec<&str> = STATE_LABELS
            .into_iter()
            .filter(|label| Some(*label) != wanted && pr.labels.iter().any(|have| have == label))
            .collect();
        let missing = wanted.filter(|label| !pr.labels.iter().any(|have| have == label));
        if pr.title == title && stale.is_empty() && missing.is_none() {
            return Ok(());
        }
        if ctx.mode != UpdateMode::Write {
            tracing::info!(pr = pr.number, "read mode: pull request not updated");
            return Ok(());
        }
        if pr.title != title {
            host.update_pull_request_title(pr.number, &title)
                .await
                .map_err(|err| ActionError::source("updating the pull request title", err))?;
        }
        if let Some(label) = missing {
            host.add_labels(pr.number, &[label.to_string()])
                .await
                .map_err(|err| ActionError::source("labelling the pull request", err))?;
        }
        for label in stale {
            host.remove_label(pr.number, label)
                .await
                .map_err(|err| ActionError::source("removing a stale label", err))?;
        }
        Ok(())
    }
}
