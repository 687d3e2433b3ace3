//! `GET /rfd/{number}/discussion` and `GET /rfd/{number}/revision/{revision}/discussion`:
//! the comments of the RFD's pull request as stored by the pipeline for that revision
//! (`UpdateDiscussion`). The reference service declared these and panicked.
//!
//! A caller needs to read the RFD (an unreadable RFD is a 404, exactly like a missing one)
//! and `GetDiscussion(n)`, `GetDiscussions` or `GetDiscussionsAll`.

use dropshot::HttpError;
use rfd_model::RevisionRef;
use rfd_model::discussion::RfdDiscussion;

use crate::caller::Caller;
use crate::error::store_error;
use crate::permissions::Permission;
use crate::rfd::read::{parse_number, rfd_not_found};
use crate::server::ApiContext;

/// The discussion of the latest (or a named) revision of RFD `number`.
pub async fn view(
    ctx: &ApiContext,
    caller: &Caller,
    number: &str,
    revision: RevisionRef,
) -> Result<RfdDiscussion, HttpError> {
    let number = parse_number(number)?;
    let discussion = ctx
        .store
        .discussion(&caller.read_scope(), number, revision)
        .await
        .map_err(store_error)?
        .ok_or_else(rfd_not_found)?;
    caller.require(&Permission::GetDiscussion(number))?;
    Ok(discussion)
}
