//! The repository operations themselves: synchronous `gix` calls (run off the async
//! threads by the caller) and the `git` program for fetch and push.

use std::collections::HashMap;
use std::path::Path;
use std::process::Stdio;

use chrono::{DateTime, Utc};
use gix::ObjectId;
use gix::bstr::ByteSlice;
use rfd_model::source::{
    Branch, CommitInfo, RfdFolder, RfdTreeEntry, SourceError, SourceFile, SourceLocation, SourceReadme,
    SourceResult, rfd_number_of_branch,
};
use rfd_model::types::ContentFormat;

fn other(what: &str, err: impl std::fmt::Display) -> SourceError {
    SourceError::Other(format!("{what}: {err}"))
}

/// The error of a revision that does not exist (the mirror may fetch and look again).
pub(crate) fn missing_revision(rev: &str) -> SourceError {
    SourceError::NotFound(format!("revision {rev}"))
}

fn is_full_sha(rev: &str) -> bool {
    rev.len() == 40 && rev.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The head of `branch`, if it exists.
pub(crate) fn resolve_branch(repo: &gix::Repository, branch: &str) -> SourceResult<Option<ObjectId>> {
    let name = format!("refs/heads/{branch}");
    match repo.try_find_reference(name.as_str()) {
        Ok(Some(mut reference)) => {
            Ok(Some(reference.peel_to_id().map_err(|err| other(&format!("reading {name}"), err))?.detach()))
        }
        Ok(None) => Ok(None),
        // An invalid branch name is a branch that does not exist.
        Err(_) => Ok(None),
    }
}

/// A commit sha (present in the repository) or a branch name, to a commit id.
pub(crate) fn resolve(repo: &gix::Repository, rev: &str) -> SourceResult<Option<ObjectId>> {
    if is_full_sha(rev) {
        let id = ObjectId::from_hex(rev.as_bytes()).map_err(|err| other("parsing a sha", err))?;
        return Ok(repo.has_object(id).then_some(id));
    }
    resolve_branch(repo, rev)
}

fn commit_at<'r>(repo: &'r gix::Repository, rev: &str) -> SourceResult<gix::Commit<'r>> {
    let id = resolve(repo, rev)?.ok_or_else(|| missing_revision(rev))?;
    repo.find_commit(id).map_err(|err| other(&format!("{rev} is not a commit"), err))
}

fn commit_info(commit: &gix::Commit<'_>) -> SourceResult<CommitInfo> {
    let time = commit.time().map_err(|err| other("reading a commit time", err))?;
    let committed_at = DateTime::<Utc>::from_timestamp(time.seconds, 0)
        .ok_or_else(|| SourceError::Other(format!("commit {} has an impossible time", commit.id)))?;
    let summary = commit.message().map(|m| m.summary().to_str_lossy().into_owned()).unwrap_or_default();
    Ok(CommitInfo { sha: commit.id.to_string(), committed_at, summary })
}

/// The entry at `path` (from the root tree of `commit`): its id and whether it is a tree.
fn entry_at(repo: &gix::Repository, tree_id: ObjectId, path: &str) -> SourceResult<Option<(ObjectId, bool)>> {
    let tree = repo.find_tree(tree_id).map_err(|err| other("reading a tree", err))?;
    if path.is_empty() {
        return Ok(Some((tree_id, true)));
    }
    let entry = tree.lookup_entry_by_path(path).map_err(|err| other(&format!("looking up {path}"), err))?;
    Ok(entry.map(|e| (e.object_id(), e.mode().is_tree())))
}

fn tree_id(commit: &gix::Commit<'_>) -> SourceResult<ObjectId> {
    Ok(commit.tree_id().map_err(|err| other("reading a commit's tree", err))?.detach())
}

pub(crate) fn branches(repo: &gix::Repository) -> SourceResult<Vec<Branch>> {
    let references = repo.references().map_err(|err| other("listing branches", err))?;
    let mut branches = Vec::new();
    for reference in references.local_branches().map_err(|err| other("listing branches", err))? {
        let mut reference = reference.map_err(|err| other("reading a branch", err))?;
        let name = reference.name().shorten().to_str_lossy().into_owned();
        // A branch pointing at something that is not a commit is not a branch of RFDs.
        let Ok(id) = reference.peel_to_id() else { continue };
        branches.push(Branch { name, head: id.to_string() });
    }
    branches.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(branches)
}

pub(crate) fn rfd_tree(
    repo: &gix::Repository,
    location: &SourceLocation,
    rev: &str,
) -> SourceResult<Vec<RfdTreeEntry>> {
    let commit = commit_at(repo, rev)?;
    let Some((dir, true)) = entry_at(repo, tree_id(&commit)?, location.rfd_dir.trim_matches('/'))? else {
        return Ok(Vec::new());
    };
    let tree = repo.find_tree(dir).map_err(|err| other("reading the RFD folder", err))?;
    let mut entries = Vec::new();
    for entry in tree.iter() {
        let entry = entry.map_err(|err| other("reading the RFD folder", err))?;
        if !entry.mode().is_tree() {
            continue;
        }
        if let Some(rfd) = rfd_number_of_branch(&entry.filename().to_str_lossy()) {
            entries.push(RfdTreeEntry { rfd, tree_sha: entry.oid().to_string() });
        }
    }
    entries.sort_by_key(|e| e.rfd);
    Ok(entries)
}

/// Every blob under `tree`, recursively: (path relative to it, id).
fn walk(
    repo: &gix::Repository,
    tree: ObjectId,
    prefix: &str,
    out: &mut Vec<(String, ObjectId)>,
) -> SourceResult<()> {
    let tree = repo.find_tree(tree).map_err(|err| other("reading a tree", err))?;
    for entry in tree.iter() {
        let entry = entry.map_err(|err| other("reading a tree", err))?;
        let name = entry.filename().to_str_lossy();
        let path = if prefix.is_empty() { name.into_owned() } else { format!("{prefix}/{name}") };
        let mode = entry.mode();
        if mode.is_tree() {
            walk(repo, entry.oid().to_owned(), &path, out)?;
        } else if mode.is_blob() {
            // Plain and executable files; links and submodules are not RFD files.
            out.push((path, entry.oid().to_owned()));
        }
    }
    Ok(())
}

fn blob(repo: &gix::Repository, id: ObjectId) -> SourceResult<Vec<u8>> {
    let mut blob = repo.find_blob(id).map_err(|err| other(&format!("reading blob {id}"), err))?;
    Ok(blob.take_data())
}

pub(crate) fn read_rfd(
    repo: &gix::Repository,
    location: &SourceLocation,
    rfd: i32,
    rev: &str,
) -> SourceResult<Option<RfdFolder>> {
    let commit = commit_at(repo, rev)?;
    let folder = location.rfd_path(rfd);
    let Some((folder_id, true)) = entry_at(repo, tree_id(&commit)?, &folder)? else {
        return Ok(None);
    };
    let mut files = Vec::new();
    walk(repo, folder_id, "", &mut files)?;
    let readme = [("README.adoc", ContentFormat::Asciidoc), ("README.md", ContentFormat::Markdown)]
        .into_iter()
        .find_map(|(name, format)| {
            files.iter().find(|(path, _)| path == name).map(|(p, id)| (p.clone(), *id, format))
        });
    let Some((readme_path, readme_id, format)) = readme else {
        return Ok(None);
    };
    let content = blob(repo, readme_id)?;
    let mut others = Vec::new();
    for (path, id) in files.into_iter().filter(|(path, _)| *path != readme_path) {
        let header = repo.find_header(id).map_err(|err| other(&format!("reading {path}"), err))?;
        others.push(SourceFile { path, sha: id.to_string(), size: header.size() });
    }
    Ok(Some(RfdFolder {
        readme: SourceReadme {
            format,
            path: format!("{folder}/{readme_path}"),
            sha: readme_id.to_string(),
            content,
        },
        files: others,
        tree_sha: folder_id.to_string(),
    }))
}

pub(crate) fn read_file(repo: &gix::Repository, path: &str, rev: &str) -> SourceResult<Vec<u8>> {
    let commit = commit_at(repo, rev)?;
    match entry_at(repo, tree_id(&commit)?, path)? {
        Some((id, false)) => blob(repo, id),
        _ => Err(SourceError::NotFound(format!("{path} at {rev}"))),
    }
}

/// Commits reachable from `rev` whose `path` differs from every parent's (git's default
/// history simplification: a merge that took the folder from one side is not listed),
/// newest first by committer time.
pub(crate) fn rfd_commits(
    repo: &gix::Repository,
    path: &str,
    rev: &str,
    limit: usize,
) -> SourceResult<Vec<CommitInfo>> {
    let start = commit_at(repo, rev)?.id;
    let walk = repo
        .rev_walk([start])
        .sorting(gix::revision::walk::Sorting::ByCommitTime(Default::default()))
        .all()
        .map_err(|err| other("walking history", err))?;
    let mut folder_ids: HashMap<ObjectId, Option<ObjectId>> = HashMap::new();
    let mut folder_of = |id: ObjectId| -> SourceResult<Option<ObjectId>> {
        if let Some(known) = folder_ids.get(&id) {
            return Ok(*known);
        }
        let commit = repo.find_commit(id).map_err(|err| other("reading a commit", err))?;
        let found = entry_at(repo, tree_id(&commit)?, path)?.map(|(id, _)| id);
        folder_ids.insert(id, found);
        Ok(found)
    };
    let mut commits = Vec::new();
    for info in walk {
        if commits.len() >= limit {
            break;
        }
        let info = info.map_err(|err| other("walking history", err))?;
        let mine = folder_of(info.id)?;
        let parents: Vec<ObjectId> = info.parent_ids.iter().copied().collect();
        let changed = if parents.is_empty() {
            mine.is_some()
        } else {
            let mut changed = true;
            for parent in parents {
                if folder_of(parent)? == mine {
                    changed = false;
                    break;
                }
            }
            changed
        };
        if changed {
            let commit = repo.find_commit(info.id).map_err(|err| other("reading a commit", err))?;
            commits.push(commit_info(&commit)?);
        }
    }
    Ok(commits)
}

/// Writes the objects of a commit on `branch` that sets `path` to `content`, without
/// moving the branch (the caller pushes it). `None` when the file already has that
/// content; [`SourceError::Conflict`] when it is not the `expected` blob.
pub(crate) fn prepare_commit(
    repo: &gix::Repository,
    branch: &str,
    path: &str,
    content: &[u8],
    message: &str,
    expected: Option<&str>,
    committer: &(String, String),
) -> SourceResult<Option<CommitInfo>> {
    let head =
        resolve_branch(repo, branch)?.ok_or_else(|| SourceError::NotFound(format!("branch {branch}")))?;
    let head_commit = repo.find_commit(head).map_err(|err| other("reading the branch head", err))?;
    let root = tree_id(&head_commit)?;
    let current = match entry_at(repo, root, path)? {
        Some((id, false)) => Some(id),
        Some((_, true)) => return Err(SourceError::Other(format!("{path} on {branch} is a folder"))),
        None => None,
    };
    let new_blob = gix::objs::compute_hash(repo.object_hash(), gix::objs::Kind::Blob, content)
        .map_err(|err| other("hashing the content", err))?;
    if current == Some(new_blob) {
        return Ok(None);
    }
    if let Some(expected) = expected
        && current.map(|id| id.to_string()).as_deref() != Some(expected)
    {
        return Err(SourceError::Conflict(format!(
            "{path} on {branch} is {} now, not the expected {expected}",
            current.map_or_else(|| "absent".to_string(), |id| id.to_string())
        )));
    }
    let blob = repo.write_blob(content).map_err(|err| other("writing the blob", err))?.detach();
    let mut editor = repo.edit_tree(root).map_err(|err| other("editing the tree", err))?;
    editor
        .upsert(path, gix::object::tree::EntryKind::Blob, blob)
        .map_err(|err| other("editing the tree", err))?;
    let tree = editor.write().map_err(|err| other("writing the tree", err))?.detach();
    let now = Utc::now();
    let signature = gix::actor::Signature {
        name: committer.0.as_str().into(),
        email: committer.1.as_str().into(),
        time: gix::date::Time::new(now.timestamp(), 0),
    };
    let commit = gix::objs::Commit {
        tree,
        parents: [head].into_iter().collect(),
        author: signature.clone(),
        committer: signature,
        encoding: None,
        message: message.into(),
        extra_headers: Vec::new(),
    };
    let id = repo.write_object(&commit).map_err(|err| other("writing the commit", err))?.detach();
    let summary = message.lines().next().unwrap_or_default().to_string();
    let committed_at = DateTime::<Utc>::from_timestamp(now.timestamp(), 0).unwrap_or(now);
    Ok(Some(CommitInfo { sha: id.to_string(), committed_at, summary }))
}

/// Runs `git` in `dir` with `args`; `secret` (a URL that may hold credentials) is
/// removed from whatever it reports.
pub(crate) async fn run(dir: &Path, args: &[&str], secret: Option<&str>) -> Result<(), String> {
    let command = tokio::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        // Never wait for a password on a terminal nobody watches.
        .env("GIT_TERMINAL_PROMPT", "0")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .output();
    let what = args.first().copied().unwrap_or("git");
    let output = match tokio::time::timeout(crate::GIT_TIMEOUT, command).await {
        Ok(Ok(output)) => output,
        Ok(Err(err)) => return Err(format!("cannot run git {what} (is git installed?): {err}")),
        Err(_) => return Err(format!("git {what} took longer than {:?}", crate::GIT_TIMEOUT)),
    };
    if output.status.success() {
        return Ok(());
    }
    let mut report = String::from_utf8_lossy(&output.stderr).into_owned();
    report.push_str(&String::from_utf8_lossy(&output.stdout));
    if let Some(secret) = secret {
        report = report.replace(secret, &crate::redact_url(secret));
    }
    Err(format!("git {what} failed ({}): {}", output.status, report.trim()))
}
