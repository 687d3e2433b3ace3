//! Push payload parsing and planning, through the crate's public API.

use chrono::{DateTime, FixedOffset, TimeZone, Utc};
use rfd_github::webhook::{
    IgnoreReason, Installation, MAX_LISTED_COMMITS, MAX_LISTED_FILES_PER_COMMIT, Owner, PushCommit,
    PushEvent, PushPlan, Reconcile, Repository, RfdUpdate, Schedule, Sender, plan_push, sign,
    verify_signature,
};

type TestResult = Result<(), Box<dyn std::error::Error>>;

const FIXTURE: &str = include_str!("fixtures/push.json");
const HEAD: &str = "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c";
const ZEROS: &str = "0000000000000000000000000000000000000000";

fn at(hour: u32, minute: u32) -> DateTime<FixedOffset> {
    FixedOffset::east_opt(3600)
        .and_then(|offset| offset.with_ymd_and_hms(2026, 11, 20, hour, minute, 0).single())
        .unwrap_or_else(|| panic!("bad test time {hour}:{minute}"))
}

fn commit(id: &str, minute: u32, added: &[&str], modified: &[&str], removed: &[&str]) -> PushCommit {
    let paths = |list: &[&str]| list.iter().map(|p| p.to_string()).collect();
    PushCommit {
        id: id.to_string(),
        tree_id: None,
        distinct: Some(true),
        message: Some(format!("commit {id}")),
        timestamp: at(10, minute),
        url: None,
        author: None,
        committer: None,
        added: paths(added),
        modified: paths(modified),
        removed: paths(removed),
    }
}

/// A push of `commits` to `branch`; the last commit is the head.
fn push(branch: &str, commits: Vec<PushCommit>) -> PushEvent {
    let head = commits.last().cloned();
    PushEvent {
        git_ref: format!("refs/heads/{branch}"),
        before: "6113728f27ae82c7b1a177c8d03f9e96e0adf246".to_string(),
        after: head.as_ref().map(|h| h.id.clone()).unwrap_or_else(|| ZEROS.to_string()),
        created: false,
        deleted: false,
        forced: false,
        commits,
        head_commit: head,
        repository: Repository {
            id: 186853002,
            name: "rfd".to_string(),
            full_name: Some("example-org/rfd".to_string()),
            owner: Owner { login: Some("example-org".to_string()), name: None },
            default_branch: "main".to_string(),
        },
        installation: Some(Installation { id: 52143987 }),
        sender: Some(Sender { login: "adalovelace".to_string() }),
    }
}

fn schedule(plan: PushPlan) -> Schedule {
    match plan {
        PushPlan::Schedule(schedule) => schedule,
        PushPlan::Ignore(reason) => panic!("expected a schedule, the push was ignored: {reason}"),
    }
}

fn schedule_of(event: &PushEvent) -> Schedule {
    schedule(plan_push(event, "rfd"))
}

fn rfds(schedule: &Schedule) -> Vec<i32> {
    schedule.updates.iter().map(|u| u.rfd).collect()
}

#[test]
fn fixture_parses_with_its_fields() -> TestResult {
    let event: PushEvent = serde_json::from_str(FIXTURE)?;
    assert_eq!(event.git_ref, "refs/heads/main");
    assert_eq!(event.branch(), Some("main"));
    assert_eq!(event.after, HEAD);
    assert!(!event.created && !event.deleted && !event.forced);
    assert_eq!(event.commits.len(), 2);
    assert_eq!(event.commits[0].added, ["rfd/0042/README.adoc", "rfd/0042/images/layout.svg"]);
    assert_eq!(event.commits[1].removed, ["rfd/0042/images/old.png"]);
    assert_eq!(event.commits[1].author.as_ref().and_then(|a| a.username.as_deref()), Some("ghopper"));
    let head = event.head_commit.as_ref().ok_or("no head commit")?;
    assert_eq!(head.id, HEAD);
    assert_eq!(head.timestamp, at(10, 11) + chrono::Duration::seconds(12));
    assert_eq!(head.timestamp.offset().local_minus_utc(), 3600);
    assert_eq!(event.repository.id, 186853002);
    assert_eq!(event.repository.name, "rfd");
    assert_eq!(event.repository.full_name.as_deref(), Some("example-org/rfd"));
    assert_eq!(event.repository.default_branch, "main");
    assert_eq!(event.repository.owner_login(), Some("example-org"));
    assert_eq!(event.installation, Some(Installation { id: 52143987 }));
    assert_eq!(event.sender, Some(Sender { login: "adalovelace".to_string() }));
    Ok(())
}

#[test]
fn fixture_plans_one_update_per_rfd_sorted() -> TestResult {
    let event: PushEvent = serde_json::from_str(FIXTURE)?;
    let committed_at = Utc.with_ymd_and_hms(2026, 11, 20, 9, 11, 12).single().ok_or("bad time")?;
    let update = |rfd| RfdUpdate { rfd, branch: "main".to_string(), sha: HEAD.to_string(), committed_at };
    assert_eq!(
        plan_push(&event, "rfd"),
        PushPlan::Schedule(Schedule {
            owner: "example-org".to_string(),
            repository: "rfd".to_string(),
            updates: vec![update(7), update(42)],
            reconcile: None,
        })
    );
    Ok(())
}

#[test]
fn fixture_signature_round_trip() -> TestResult {
    let header = sign(b"webhook secret", FIXTURE.as_bytes());
    verify_signature(&["webhook secret"], FIXTURE.as_bytes(), Some(&header))?;
    // One byte changed in the body: the signature no longer holds.
    let altered = FIXTURE.replacen("rfd/0042", "rfd/0043", 1);
    assert!(verify_signature(&["webhook secret"], altered.as_bytes(), Some(&header)).is_err());
    Ok(())
}

#[test]
fn payload_without_installation_or_optional_fields_parses() -> TestResult {
    // A plain repository webhook: no `installation`, a minimal owner with only `name`,
    // no `created`/`deleted`/`forced`, and `null` file lists.
    let json = r#"{
        "ref": "refs/heads/0123",
        "before": "6113728f27ae82c7b1a177c8d03f9e96e0adf246",
        "after": "9c1e3a7d2b54f0e8a6c4d2b0f9e8d7c6b5a49382",
        "commits": [{
            "id": "9c1e3a7d2b54f0e8a6c4d2b0f9e8d7c6b5a49382",
            "timestamp": "2026-11-20T09:11:12Z",
            "added": null,
            "modified": ["rfd/0123/README.md"]
        }],
        "head_commit": {
            "id": "9c1e3a7d2b54f0e8a6c4d2b0f9e8d7c6b5a49382",
            "timestamp": "2026-11-20T09:11:12Z",
            "modified": ["rfd/0123/README.md"]
        },
        "repository": {
            "id": 1,
            "name": "rfd",
            "owner": {"name": "example-org"},
            "default_branch": "main"
        }
    }"#;
    let event: PushEvent = serde_json::from_str(json)?;
    assert_eq!(event.installation, None);
    assert_eq!(event.sender, None);
    assert!(event.commits[0].added.is_empty());
    assert_eq!(event.repository.owner_login(), Some("example-org"));

    let schedule = schedule(plan_push(&event, "rfd"));
    assert_eq!(schedule.owner, "example-org");
    assert_eq!(rfds(&schedule), [123]);
    assert_eq!(
        schedule.updates[0].committed_at,
        Utc.with_ymd_and_hms(2026, 11, 20, 9, 11, 12).single().ok_or("bad time")?
    );
    Ok(())
}

#[test]
fn payload_missing_a_required_field_is_an_error() {
    let json = r#"{"ref": "refs/heads/main", "before": "a", "after": "b"}"#;
    assert!(serde_json::from_str::<PushEvent>(json).is_err());
}

#[test]
fn serialized_event_parses_back_identically() -> TestResult {
    let event = push("main", vec![commit("a1", 1, &["rfd/0001/README.adoc"], &[], &[])]);
    let json = serde_json::to_string(&event)?;
    assert!(json.contains(r#""ref":"refs/heads/main""#));
    assert_eq!(serde_json::from_str::<PushEvent>(&json)?, event);
    Ok(())
}

#[test]
fn default_branch_schedules_every_touched_rfd_once() {
    let event = push(
        "main",
        vec![
            commit("c1", 1, &["rfd/0200/README.adoc", "rfd/0200/images/a.png"], &[], &[]),
            commit("c2", 2, &[], &["rfd/0003/README.md", "rfd/0200/README.adoc"], &[]),
            commit("c3", 3, &[], &["README.md"], &["rfd/0050/old.svg", "rfd/0003/figure.png"]),
        ],
    );
    let schedule = schedule(plan_push(&event, "rfd"));
    assert_eq!(schedule.owner, "example-org");
    assert_eq!(schedule.repository, "rfd");
    assert_eq!(rfds(&schedule), [3, 50, 200]);
    assert_eq!(schedule.reconcile, None);
    for update in &schedule.updates {
        assert_eq!(update.branch, "main");
        assert_eq!(update.sha, "c3");
        assert_eq!(update.committed_at, at(10, 3).with_timezone(&Utc));
    }
}

#[test]
fn head_commit_files_count_too() {
    let mut event = push("main", vec![commit("c1", 1, &[], &["README.md"], &[])]);
    event.head_commit = Some(commit("c1", 1, &[], &["README.md", "rfd/0009/README.md"], &[]));
    assert_eq!(rfds(&schedule(plan_push(&event, "rfd"))), [9]);
}

#[test]
fn numbered_branch_schedules_only_its_own_rfd() {
    let event = push(
        "0123",
        vec![
            commit("c1", 1, &["rfd/0123/README.adoc"], &[], &[]),
            commit("c2", 2, &[], &["rfd/0200/README.adoc"], &[]),
        ],
    );
    let schedule = schedule(plan_push(&event, "rfd"));
    assert_eq!(
        schedule.updates,
        [RfdUpdate {
            rfd: 123,
            branch: "0123".to_string(),
            sha: "c2".to_string(),
            committed_at: at(10, 2).with_timezone(&Utc),
        }]
    );
    assert_eq!(schedule.reconcile, None);

    // Without leading zeros too.
    let event = push("123", vec![commit("c1", 1, &[], &["rfd/0123/README.adoc"], &[])]);
    assert_eq!(rfds(&schedule_of(&event)), [123]);
}

#[test]
fn numbered_branch_not_touching_its_rfd_is_ignored() {
    let event = push("0123", vec![commit("c1", 1, &[], &["rfd/0200/README.adoc", "README.md"], &[])]);
    assert_eq!(plan_push(&event, "rfd"), PushPlan::Ignore(IgnoreReason::NoRfdChanges));
}

#[test]
fn other_branches_are_ignored() {
    for branch in ["feature/rfd-123", "rfd-0123", "0123-draft", "12a", "1234567890", "Main"] {
        let event = push(branch, vec![commit("c1", 1, &["rfd/0123/README.adoc"], &[], &[])]);
        assert_eq!(plan_push(&event, "rfd"), PushPlan::Ignore(IgnoreReason::OtherBranch), "{branch}");
    }
}

#[test]
fn tag_pushes_are_ignored() {
    let mut event = push("main", vec![commit("c1", 1, &["rfd/0001/README.adoc"], &[], &[])]);
    event.git_ref = "refs/tags/v1.0".to_string();
    assert_eq!(plan_push(&event, "rfd"), PushPlan::Ignore(IgnoreReason::Tag));
    // Deleting a tag is still a tag push.
    event.deleted = true;
    event.head_commit = None;
    assert_eq!(plan_push(&event, "rfd"), PushPlan::Ignore(IgnoreReason::Tag));

    event.git_ref = "refs/notes/commits".to_string();
    assert_eq!(plan_push(&event, "rfd"), PushPlan::Ignore(IgnoreReason::NotABranch));
}

#[test]
fn branch_deletions_are_ignored() -> TestResult {
    // The shape GitHub sends when a branch is deleted.
    let json = format!(
        r#"{{
            "ref": "refs/heads/0123", "before": "{HEAD}", "after": "{ZEROS}",
            "created": false, "deleted": true, "forced": false, "base_ref": null,
            "compare": "https://github.com/example-org/rfd/compare/0d1a26e67d8f...000000000000",
            "commits": [], "head_commit": null,
            "repository": {{"id": 1, "name": "rfd", "owner": {{"login": "example-org"}}, "default_branch": "main"}},
            "pusher": {{"name": "adalovelace", "email": "ada@example.com"}},
            "sender": {{"login": "adalovelace"}}
        }}"#
    );
    let event: PushEvent = serde_json::from_str(&json)?;
    assert_eq!(plan_push(&event, "rfd"), PushPlan::Ignore(IgnoreReason::BranchDeleted));

    // Each signal of a deletion is enough on its own.
    let live = push("main", vec![commit("c1", 1, &["rfd/0001/README.adoc"], &[], &[])]);
    assert!(matches!(plan_push(&live, "rfd"), PushPlan::Schedule(_)));

    let mut deleted = live.clone();
    deleted.deleted = true;
    assert_eq!(plan_push(&deleted, "rfd"), PushPlan::Ignore(IgnoreReason::BranchDeleted));

    let mut headless = live.clone();
    headless.head_commit = None;
    assert_eq!(plan_push(&headless, "rfd"), PushPlan::Ignore(IgnoreReason::BranchDeleted));

    let mut zeroed = live;
    zeroed.after = ZEROS.to_string();
    assert_eq!(plan_push(&zeroed, "rfd"), PushPlan::Ignore(IgnoreReason::BranchDeleted));
    Ok(())
}

fn long_push(branch: &str, count: usize, touch: &str) -> PushEvent {
    let commits = (0..count)
        .map(|i| {
            let minute = u32::try_from(i % 60).unwrap_or(0);
            let file = if i == 0 { touch } else { "notes.txt" };
            commit(&format!("c{i}"), minute, &[], &[file], &[])
        })
        .collect();
    push(branch, commits)
}

#[test]
fn long_push_to_default_branch_asks_for_a_reconcile() {
    let event = long_push("main", MAX_LISTED_COMMITS + 1, "rfd/0005/README.adoc");
    assert_eq!(event.commits.len(), 21);
    let schedule = schedule_of(&event);
    assert_eq!(rfds(&schedule), [5]);
    assert_eq!(
        schedule.reconcile,
        Some(Reconcile {
            branch: "main".to_string(),
            sha: "c20".to_string(),
            committed_at: at(10, 20).with_timezone(&Utc)
        })
    );

    // Even when the listed commits touch no RFD, the unlisted ones may.
    let event = long_push("main", MAX_LISTED_COMMITS, "notes.txt");
    let schedule = schedule_of(&event);
    assert!(schedule.updates.is_empty());
    assert!(schedule.reconcile.is_some());

    // One commit fewer is a complete list.
    let event = long_push("main", MAX_LISTED_COMMITS - 1, "notes.txt");
    assert_eq!(plan_push(&event, "rfd"), PushPlan::Ignore(IgnoreReason::NoRfdChanges));
}

#[test]
fn long_push_to_numbered_branch_schedules_its_rfd_anyway() {
    let event = long_push("0123", 21, "notes.txt");
    let schedule = schedule_of(&event);
    assert_eq!(rfds(&schedule), [123]);
    assert_eq!(schedule.updates[0].sha, "c20");
    assert_eq!(schedule.reconcile.as_ref().map(|r| r.branch.as_str()), Some("0123"));

    // Other RFDs on the numbered branch still are not scheduled.
    let event = long_push("0123", 21, "rfd/0200/README.adoc");
    assert_eq!(rfds(&schedule_of(&event)), [123]);

    // A long push to an unrelated branch is still ignored.
    let event = long_push("feature", 21, "rfd/0123/README.adoc");
    assert_eq!(plan_push(&event, "rfd"), PushPlan::Ignore(IgnoreReason::OtherBranch));
}

#[test]
fn commit_listing_the_most_files_github_reports_asks_for_a_reconcile() {
    let mut big = commit("c1", 1, &["rfd/0001/README.adoc"], &[], &[]);
    big.modified = (0..MAX_LISTED_FILES_PER_COMMIT - 1).map(|i| format!("assets/{i}.txt")).collect();
    let event = push("main", vec![big.clone()]);
    let schedule = schedule_of(&event);
    assert_eq!(rfds(&schedule), [1]);
    assert!(schedule.reconcile.is_some());

    big.modified.pop();
    let event = push("main", vec![big]);
    assert_eq!(schedule_of(&event).reconcile, None);
}

#[test]
fn paths_outside_rfd_directories_affect_no_rfd() {
    let event = push(
        "main",
        vec![commit(
            "c1",
            1,
            &["rfd/README.md", "rfd/abc/x", "rfdx/0001/a", "docs/rfd/0002/README.md"],
            &["rfd/0003", "src/0004/main.rs"],
            &["rfd/12345678901/README.md"],
        )],
    );
    assert_eq!(plan_push(&event, "rfd"), PushPlan::Ignore(IgnoreReason::NoRfdChanges));
}

#[test]
fn nested_rfd_directory() {
    let event = push(
        "main",
        vec![commit(
            "c1",
            1,
            &["docs/rfd/0002/README.md", "rfd/0001/README.md", "docs/rfd/README.md"],
            &[],
            &[],
        )],
    );
    assert_eq!(rfds(&schedule(plan_push(&event, "docs/rfd"))), [2]);
    assert_eq!(rfds(&schedule(plan_push(&event, "/docs/rfd/"))), [2]);
    assert_eq!(rfds(&schedule(plan_push(&event, "rfd"))), [1]);
}

#[test]
fn owner_falls_back_to_name_then_full_name() {
    let mut event = push("main", vec![commit("c1", 1, &["rfd/0001/README.adoc"], &[], &[])]);
    event.repository.owner = Owner { login: None, name: Some("named-org".to_string()) };
    assert_eq!(schedule_of(&event).owner, "named-org");

    event.repository.owner = Owner { login: Some(String::new()), name: None };
    assert_eq!(schedule_of(&event).owner, "example-org");

    event.repository.full_name = None;
    assert_eq!(plan_push(&event, "rfd"), PushPlan::Ignore(IgnoreReason::UnknownOwner));
}
