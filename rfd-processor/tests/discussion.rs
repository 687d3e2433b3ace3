//! `UpdateDiscussion`: a pull request's comments are stored per revision, against real
//! PostgreSQL, a real git repository and the GitHub fake (through the production client).

#[macro_use]
mod common;

use common::{GIT_SECOND, attempt, update, world_with};
use rfd_github_fake::TestRepo;
use rfd_model::source::CommentKind;
use rfd_model::{ReadScope, RevisionRef};
use rfd_processor::pipeline::{ActionName, Pipeline, PipelineSettings, UpdateMode};

fn adoc(number: i32, title: &str, state: &str, body: &str) -> String {
    format!(":state: {state}\n\n= RFD {number} {title}\n\n{body}\n")
}

#[tokio::test]
async fn comments_are_stored_for_each_revision_in_read_mode_too() {
    let repo = ok!(TestRepo::new(), "repo");
    ok!(repo.write("rfd/0001/README.adoc", adoc(1, "First", "published", "Done.")), "write");
    ok!(repo.commit("RFD 1"), "commit");
    ok!(repo.branch("0042"), "branch");
    ok!(repo.checkout("0042"), "checkout");
    ok!(repo.write("rfd/0042/README.adoc", adoc(42, "Queues", "discussion", "Version one.")), "write");
    let first = ok!(repo.commit("RFD 42: start"), "commit");
    let world = world_with(repo).await;

    let pr = world.fake.add_pull_request("0042", "main", "RFD 42 Queues");
    let opening = world.fake.add_issue_comment(pr, "grace", "Why queues?");
    let review = world.fake.add_review_comment(pr, "alan", "Off by one.", "rfd/0042/README.adoc", 5, &first);

    // Only this action, in read mode: it writes to the database alone.
    let settings = PipelineSettings {
        mode: UpdateMode::Read,
        actions: vec![ActionName::UpdateDiscussion],
        ..PipelineSettings::default()
    };
    let pipeline = Pipeline::new(world.store.clone(), world.source.clone(), settings, 10);
    ok!(world.store.enqueue(&[update(42, "0042", &first)]).await, "enqueue");
    ok!(attempt(&world.store, &pipeline).await, "the first job");
    assert!(world.fake.requests().iter().all(|r| r.method == "GET"), "read mode writes nothing to GitHub");

    let stored = ok!(world.store.discussion(&ReadScope::All, 42, RevisionRef::Latest).await, "discussion")
        .unwrap_or_else(|| panic!("RFD 42 has a discussion"));
    assert_eq!(stored.commit, first);
    let pull = stored.pull_request.clone().unwrap_or_else(|| panic!("the pull request is recorded"));
    assert_eq!(pull.number, pr);
    assert!(pull.html_url.ends_with(&format!("/pull/{pr}")), "{}", pull.html_url);
    let ids: Vec<(i64, CommentKind)> = stored.comments.iter().map(|c| (c.id, c.kind)).collect();
    assert_eq!(ids, vec![(opening, CommentKind::Issue), (review, CommentKind::Review)]);
    assert_eq!(stored.comments[0].author, "grace");
    assert_eq!(stored.comments[0].body, "Why queues?");
    assert_eq!(stored.comments[1].path.as_deref(), Some("rfd/0042/README.adoc"));
    assert_eq!(stored.comments[1].line, Some(5));
    assert_eq!(stored.comments[1].commit_sha.as_deref(), Some(first.as_str()));
    let first_revision = stored.revision_id;

    // The discussion goes on; a new commit makes a new revision with the newer comments,
    // and the first revision keeps its own.
    // GitHub's timestamps have whole seconds; comments of one second are ordered by kind
    // then id, so the answer must come a second later to be listed last.
    tokio::time::sleep(GIT_SECOND).await;
    let answer = world.fake.add_issue_comment(pr, "ada", "Because everyone waits.");
    tokio::time::sleep(GIT_SECOND).await;
    ok!(world.repo.write("rfd/0042/README.adoc", adoc(42, "Queues", "discussion", "Version two.")), "write");
    let second = ok!(world.repo.commit("RFD 42: second"), "commit");
    ok!(world.store.enqueue(&[update(42, "0042", &second)]).await, "enqueue");
    ok!(attempt(&world.store, &pipeline).await, "the second job");

    let latest = ok!(world.store.discussion(&ReadScope::All, 42, RevisionRef::Latest).await, "latest")
        .unwrap_or_else(|| panic!("latest discussion"));
    assert_eq!(latest.commit, second);
    assert_ne!(latest.revision_id, first_revision);
    assert_eq!(latest.comments.iter().map(|c| c.id).collect::<Vec<_>>(), vec![opening, review, answer]);
    let historic =
        ok!(world.store.discussion(&ReadScope::All, 42, RevisionRef::Id(first_revision)).await, "historic")
            .unwrap_or_else(|| panic!("historic discussion"));
    assert_eq!(historic.comments.iter().map(|c| c.id).collect::<Vec<_>>(), vec![opening, review]);

    // Outside the read scope the discussion is not there at all.
    let hidden =
        ok!(world.store.discussion(&ReadScope::PublicAnd(vec![]), 42, RevisionRef::Latest).await, "hidden");
    assert!(hidden.is_none());
}

#[tokio::test]
async fn on_the_default_branch_the_merged_pull_request_of_the_rfd_branch_is_used() {
    let repo = ok!(TestRepo::new(), "repo");
    ok!(repo.write("rfd/0007/README.adoc", adoc(7, "Merged", "published", "Final.")), "write");
    let head = ok!(repo.commit("RFD 7"), "commit");
    ok!(repo.branch("0007"), "branch");
    let world = world_with(repo).await;
    let old = world.fake.add_pull_request("0007", "main", "RFD 7 first try");
    assert!(world.fake.close_pull_request(old, false));
    let merged = world.fake.add_pull_request("0007", "main", "RFD 7 Merged");
    assert!(world.fake.close_pull_request(merged, true));
    world.fake.add_issue_comment(old, "grace", "Abandoned attempt.");
    let kept = world.fake.add_issue_comment(merged, "grace", "Ship it.");

    let settings = PipelineSettings {
        mode: UpdateMode::Write,
        actions: vec![ActionName::UpdateDiscussion],
        ..PipelineSettings::default()
    };
    let pipeline = Pipeline::new(world.store.clone(), world.source.clone(), settings, 10);
    ok!(world.store.enqueue(&[update(7, "main", &head)]).await, "enqueue");
    ok!(attempt(&world.store, &pipeline).await, "the job");
    let stored = ok!(world.store.discussion(&ReadScope::All, 7, RevisionRef::Latest).await, "discussion")
        .unwrap_or_else(|| panic!("RFD 7 stored"));
    assert_eq!(stored.pull_request.map(|p| p.number), Some(merged));
    assert_eq!(stored.comments.iter().map(|c| c.id).collect::<Vec<_>>(), vec![kept]);
}
