//! The endpoints, in GitHub's REST response shapes.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use http::{HeaderValue, Method, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use percent_encoding::percent_decode_str;
use serde_json::{Value, json};

use crate::git::{Commit, TreeEntry};
use crate::{FakeComment, FakeError, FakePullRequest, RecordedRequest, Shared};

type Reply = Response<Full<Bytes>>;

/// Files larger than this are not inlined by the contents API (GitHub: 1 MB).
const CONTENTS_INLINE_MAX: u64 = 1024 * 1024;

/// GitHub's largest page.
const MAX_PER_PAGE: usize = 100;

struct Req {
    method: Method,
    path: String,
    query: Vec<(String, String)>,
    accept: String,
    authorization: Option<String>,
    body: Bytes,
}

impl Req {
    fn query(&self, key: &str) -> Option<&str> {
        self.query.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    fn page(&self) -> (usize, usize) {
        let per_page =
            self.query("per_page").and_then(|v| v.parse().ok()).unwrap_or(30).clamp(1, MAX_PER_PAGE);
        let page = self.query("page").and_then(|v| v.parse().ok()).unwrap_or(1).max(1);
        (page, per_page)
    }

    fn json(&self) -> Result<Value, Failed> {
        serde_json::from_slice(&self.body)
            .map_err(|_| Failed::from(error(StatusCode::BAD_REQUEST, "Problems parsing JSON")))
    }
}

fn decode(s: &str) -> String {
    percent_decode_str(s).decode_utf8_lossy().to_string()
}

fn parse_query(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(&k.replace('+', " ")), decode(&v.replace('+', " ")))
        })
        .collect()
}

pub(crate) async fn handle(shared: Arc<Shared>, request: hyper::Request<Incoming>) -> Reply {
    let method = request.method().clone();
    let raw_path = request.uri().path().to_string();
    let raw_query = request.uri().query().unwrap_or("").to_string();
    let header = |name: &str| request.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
    let authorization = header("authorization");
    let accept = header("accept").unwrap_or_default();

    let (failure, remaining, tokens) = {
        let mut state = shared.state();
        state.requests.push(RecordedRequest {
            method: method.to_string(),
            path: raw_path.clone(),
            query: raw_query.clone(),
            authorization: authorization.clone(),
        });
        let position = state.failures.iter().position(|f| !f.writes_only || method != Method::GET);
        let failure = position.and_then(|i| state.failures.remove(i));
        state.rate_limit_remaining = state.rate_limit_remaining.saturating_sub(1);
        let tokens = state.auth_required.then(|| state.tokens.clone());
        (failure, state.rate_limit_remaining, tokens)
    };
    let reset = Utc::now().timestamp() + 3600;
    let mut reply = if let Some(failure) = failure {
        let status = StatusCode::from_u16(failure.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let limited = failure.headers.iter().any(|(k, v)| {
            k.eq_ignore_ascii_case("retry-after")
                || (k.eq_ignore_ascii_case("x-ratelimit-remaining") && v == "0")
        });
        let message = match status {
            StatusCode::TOO_MANY_REQUESTS => "You have exceeded a secondary rate limit.",
            StatusCode::FORBIDDEN if limited => "API rate limit exceeded for installation.",
            StatusCode::FORBIDDEN => "Resource not accessible by integration",
            _ => "Injected failure",
        };
        let mut reply = error(status, message);
        for (key, value) in &failure.headers {
            if let (Ok(name), Ok(value)) =
                (http::HeaderName::from_bytes(key.as_bytes()), HeaderValue::from_str(value))
            {
                reply.headers_mut().insert(name, value);
            }
        }
        reply
    } else {
        let body = match request.into_body().collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(_) => return error(StatusCode::BAD_REQUEST, "unreadable body"),
        };
        let req = Req {
            method,
            path: raw_path,
            query: parse_query(&raw_query),
            accept,
            authorization: authorization.clone(),
            body,
        };
        let is_token_endpoint = req.path.starts_with("/app/");
        if !is_token_endpoint && tokens.as_ref().is_some_and(|t| !authorized(authorization.as_deref(), t)) {
            error(StatusCode::UNAUTHORIZED, "Bad credentials")
        } else {
            match route(&shared, &req).await {
                Ok(reply) => reply,
                Err(Failed::Reply(reply)) => *reply,
                Err(Failed::Fake(err)) => {
                    tracing::warn!(error = %err, "fake github: git failed");
                    error(StatusCode::INTERNAL_SERVER_ERROR, "Server Error")
                }
            }
        }
    };
    let headers = reply.headers_mut();
    for (name, value) in [
        ("x-ratelimit-limit", "5000".to_string()),
        ("x-ratelimit-remaining", remaining.to_string()),
        ("x-ratelimit-reset", reset.to_string()),
        ("x-ratelimit-used", (5000 - remaining.min(5000)).to_string()),
        ("x-ratelimit-resource", "core".to_string()),
    ] {
        if !headers.contains_key(name)
            && let Ok(value) = HeaderValue::from_str(&value)
        {
            headers.insert(name, value);
        }
    }
    reply
}

fn authorized(authorization: Option<&str>, tokens: &std::collections::HashSet<String>) -> bool {
    let Some(value) = authorization else {
        return false;
    };
    let token = value.strip_prefix("token ").or_else(|| value.strip_prefix("Bearer ")).unwrap_or("");
    tokens.contains(token)
}

enum Failed {
    Reply(Box<Reply>),
    Fake(FakeError),
}

impl From<FakeError> for Failed {
    fn from(err: FakeError) -> Self {
        Failed::Fake(err)
    }
}

impl From<Reply> for Failed {
    fn from(reply: Reply) -> Self {
        Failed::Reply(Box::new(reply))
    }
}

type Routed = Result<Reply, Failed>;

async fn route(shared: &Shared, req: &Req) -> Routed {
    let segments: Vec<&str> = req.path.trim_start_matches('/').split('/').collect();
    match segments.as_slice() {
        ["app", "installations", id, "access_tokens"] if req.method == Method::POST => {
            access_token(shared, req, id)
        }
        ["repos", owner, repo, rest @ ..] => {
            if decode(owner) != shared.owner || decode(repo) != shared.repo {
                return Ok(not_found());
            }
            let m = &req.method;
            match rest {
                [] if m == Method::GET => Ok(ok(repository(shared))),
                ["branches"] if m == Method::GET => branches(shared, req).await,
                ["git", "trees", tree @ ..] if m == Method::GET && !tree.is_empty() => {
                    tree_of(shared, req, &decode(&tree.join("/"))).await
                }
                ["git", "blobs", sha] if m == Method::GET => blob(shared, req, &decode(sha)).await,
                ["git", "commits", sha] if m == Method::GET => git_commit(shared, &decode(sha)).await,
                ["git", "refs"] if m == Method::POST => create_ref(shared, req).await,
                ["git", "ref", reference @ ..] if m == Method::GET && !reference.is_empty() => {
                    get_ref(shared, &decode(&reference.join("/"))).await
                }
                ["contents", path @ ..] if m == Method::GET => {
                    contents(shared, req, &decode(&path.join("/"))).await
                }
                ["contents", path @ ..] if m == Method::PUT && !path.is_empty() => {
                    put_contents(shared, req, &decode(&path.join("/"))).await
                }
                ["commits"] if m == Method::GET => commits(shared, req).await,
                ["pulls"] if m == Method::GET => list_pulls(shared, req),
                ["pulls"] if m == Method::POST => create_pull(shared, req).await,
                ["pulls", number] if m == Method::GET => {
                    with_pull(shared, number, |shared, pull| Ok(ok(pull_json(shared, pull, true))))
                }
                ["pulls", number] if m == Method::PATCH => update_pull(shared, req, number),
                ["issues", number, "labels"] if m == Method::POST => add_labels(shared, req, number),
                ["issues", number, "comments"] if m == Method::GET => {
                    list_comments(shared, req, number, false)
                }
                ["issues", number, "comments"] if m == Method::POST => {
                    create_comment(shared, req, number, false)
                }
                ["pulls", number, "comments"] if m == Method::GET => list_comments(shared, req, number, true),
                ["pulls", number, "comments"] if m == Method::POST => {
                    create_comment(shared, req, number, true)
                }
                ["issues", number, "labels", name] if m == Method::DELETE => {
                    remove_label(shared, number, &decode(name))
                }
                _ => Ok(not_found()),
            }
        }
        _ => Ok(not_found()),
    }
}

// ---------------------------------------------------------------------------------------
// Replies
// ---------------------------------------------------------------------------------------

fn reply(status: StatusCode, body: Bytes, content_type: &str) -> Reply {
    let mut reply = Response::new(Full::new(body));
    *reply.status_mut() = status;
    if let Ok(value) = HeaderValue::from_str(content_type) {
        reply.headers_mut().insert(http::header::CONTENT_TYPE, value);
    }
    reply
}

fn with_status(status: StatusCode, value: Value) -> Reply {
    reply(status, Bytes::from(value.to_string()), "application/json; charset=utf-8")
}

fn ok(value: Value) -> Reply {
    with_status(StatusCode::OK, value)
}

fn error(status: StatusCode, message: &str) -> Reply {
    with_status(
        status,
        json!({
            "message": message,
            "documentation_url": "https://docs.github.com/rest",
            "status": status.as_u16().to_string(),
        }),
    )
}

fn not_found() -> Reply {
    error(StatusCode::NOT_FOUND, "Not Found")
}

fn validation_failed(message: &str) -> Reply {
    with_status(
        StatusCode::UNPROCESSABLE_ENTITY,
        json!({
            "message": "Validation Failed",
            "errors": [{ "resource": "Issue", "code": "custom", "message": message }],
            "documentation_url": "https://docs.github.com/rest",
            "status": "422",
        }),
    )
}

/// Adds a `Link` header for page `page` of `total` items.
fn paginate(
    reply: &mut Reply,
    base: &str,
    req: &Req,
    page: usize,
    per_page: usize,
    has_next: bool,
    last: Option<usize>,
) {
    let link_for = |p: usize| {
        let mut query: Vec<String> = req
            .query
            .iter()
            .filter(|(k, _)| k != "page" && k != "per_page")
            .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
            .collect();
        query.push(format!("per_page={per_page}"));
        query.push(format!("page={p}"));
        format!("<{base}{}?{}>", req.path, query.join("&"))
    };
    let mut links = Vec::new();
    if has_next {
        links.push(format!("{}; rel=\"next\"", link_for(page + 1)));
        if let Some(last) = last {
            links.push(format!("{}; rel=\"last\"", link_for(last)));
        }
    }
    if page > 1 {
        links.push(format!("{}; rel=\"prev\"", link_for(page - 1)));
        links.push(format!("{}; rel=\"first\"", link_for(1)));
    }
    if !links.is_empty()
        && let Ok(value) = HeaderValue::from_str(&links.join(", "))
    {
        reply.headers_mut().insert(http::header::LINK, value);
    }
}

fn enc(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// Base64 wrapped at 60 columns with a trailing newline, as GitHub sends file contents.
fn wrapped_base64(bytes: &[u8]) -> String {
    let encoded = STANDARD.encode(bytes);
    let mut out = String::with_capacity(encoded.len() + encoded.len() / 60 + 1);
    for chunk in encoded.as_bytes().chunks(60) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out
}

fn timestamp(t: &DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn repo_url(shared: &Shared) -> String {
    format!("{}/repos/{}/{}", shared.base_url, shared.owner, shared.repo)
}

fn html_url(shared: &Shared) -> String {
    format!("https://github.com/{}/{}", shared.owner, shared.repo)
}

fn user(shared: &Shared, login: &str) -> Value {
    json!({
        "login": login,
        "id": 1,
        "node_id": "MDQ6VXNlcjE=",
        "avatar_url": "https://avatars.githubusercontent.com/u/1?v=4",
        "gravatar_id": "",
        "url": format!("{}/users/{login}", shared.base_url),
        "html_url": format!("https://github.com/{login}"),
        "type": "Organization",
        "site_admin": false,
    })
}

fn repository(shared: &Shared) -> Value {
    json!({
        "id": 1296269,
        "node_id": "MDEwOlJlcG9zaXRvcnkxMjk2MjY5",
        "name": shared.repo,
        "full_name": format!("{}/{}", shared.owner, shared.repo),
        "owner": user(shared, &shared.owner),
        "private": true,
        "html_url": html_url(shared),
        "description": "Requests for Discussion",
        "fork": false,
        "url": repo_url(shared),
        "default_branch": shared.default_branch,
        "visibility": "private",
        "archived": false,
        "disabled": false,
    })
}

// ---------------------------------------------------------------------------------------
// Git data
// ---------------------------------------------------------------------------------------

async fn branches(shared: &Shared, req: &Req) -> Routed {
    let all = shared.git.branches().await?;
    let (page, per_page) = req.page();
    let start = (page - 1) * per_page;
    let items: Vec<Value> = all
        .iter()
        .skip(start)
        .take(per_page)
        .map(|(name, sha)| {
            json!({
                "name": name,
                "commit": { "sha": sha, "url": format!("{}/commits/{sha}", repo_url(shared)) },
                "protected": false,
            })
        })
        .collect();
    let last = all.len().div_ceil(per_page).max(1);
    let mut reply = ok(Value::Array(items));
    paginate(&mut reply, &shared.base_url, req, page, per_page, start + per_page < all.len(), Some(last));
    Ok(reply)
}

fn tree_entry_json(shared: &Shared, entry: &TreeEntry) -> Value {
    let kind = if entry.kind == "tree" { "trees" } else { "blobs" };
    let mut value = json!({
        "path": entry.path,
        "mode": entry.mode,
        "type": entry.kind,
        "sha": entry.sha,
        "url": format!("{}/git/{kind}/{}", repo_url(shared), entry.sha),
    });
    if let (Some(size), Some(map)) = (entry.size, value.as_object_mut())
        && entry.kind == "blob"
    {
        map.insert("size".to_string(), json!(size));
    }
    value
}

async fn tree_of(shared: &Shared, req: &Req, spec: &str) -> Routed {
    let Some(tree) = shared.git.resolve(spec, "tree").await? else {
        return Ok(not_found());
    };
    let recursive = req.query("recursive").is_some_and(|v| !v.is_empty() && v != "0" && v != "false");
    let entries = shared.git.ls_tree(&tree, recursive).await?;
    Ok(ok(json!({
        "sha": tree,
        "url": format!("{}/git/trees/{tree}", repo_url(shared)),
        "tree": entries.iter().map(|e| tree_entry_json(shared, e)).collect::<Vec<_>>(),
        "truncated": false,
    })))
}

async fn blob(shared: &Shared, req: &Req, sha: &str) -> Routed {
    let Some(bytes) = shared.git.blob(sha).await? else {
        return Ok(not_found());
    };
    if req.accept.contains("vnd.github.raw") {
        return Ok(reply(StatusCode::OK, Bytes::from(bytes), "application/vnd.github.raw"));
    }
    Ok(ok(json!({
        "sha": sha,
        "node_id": "B_fake",
        "size": bytes.len(),
        "url": format!("{}/git/blobs/{sha}", repo_url(shared)),
        "content": wrapped_base64(&bytes),
        "encoding": "base64",
    })))
}

fn person(name: &str, email: &str, date: &DateTime<Utc>) -> Value {
    json!({ "name": name, "email": email, "date": timestamp(date) })
}

fn verification() -> Value {
    json!({ "verified": false, "reason": "unsigned", "signature": null, "payload": null })
}

fn git_commit_json(shared: &Shared, commit: &Commit) -> Value {
    json!({
        "sha": commit.sha,
        "node_id": "C_fake",
        "url": format!("{}/git/commits/{}", repo_url(shared), commit.sha),
        "html_url": format!("{}/commit/{}", html_url(shared), commit.sha),
        "author": person(&commit.author_name, &commit.author_email, &commit.author_date),
        "committer": person(&commit.committer_name, &commit.committer_email, &commit.committer_date),
        "message": commit.message,
        "tree": { "sha": commit.tree, "url": format!("{}/git/trees/{}", repo_url(shared), commit.tree) },
        "parents": commit.parents.iter().map(|p| json!({
            "sha": p,
            "url": format!("{}/git/commits/{p}", repo_url(shared)),
            "html_url": format!("{}/commit/{p}", html_url(shared)),
        })).collect::<Vec<_>>(),
        "verification": verification(),
    })
}

async fn git_commit(shared: &Shared, sha: &str) -> Routed {
    match shared.git.commit(sha).await? {
        Some(commit) => Ok(ok(git_commit_json(shared, &commit))),
        None => Ok(not_found()),
    }
}

fn commit_json(shared: &Shared, commit: &Commit) -> Value {
    json!({
        "sha": commit.sha,
        "node_id": "C_fake",
        "url": format!("{}/commits/{}", repo_url(shared), commit.sha),
        "html_url": format!("{}/commit/{}", html_url(shared), commit.sha),
        "comments_url": format!("{}/commits/{}/comments", repo_url(shared), commit.sha),
        "commit": {
            "url": format!("{}/git/commits/{}", repo_url(shared), commit.sha),
            "author": person(&commit.author_name, &commit.author_email, &commit.author_date),
            "committer": person(&commit.committer_name, &commit.committer_email, &commit.committer_date),
            "message": commit.message,
            "tree": { "sha": commit.tree, "url": format!("{}/git/trees/{}", repo_url(shared), commit.tree) },
            "comment_count": 0,
            "verification": verification(),
        },
        "author": null,
        "committer": null,
        "parents": commit.parents.iter().map(|p| json!({
            "sha": p,
            "url": format!("{}/commits/{p}", repo_url(shared)),
            "html_url": format!("{}/commit/{p}", html_url(shared)),
        })).collect::<Vec<_>>(),
    })
}

async fn commits(shared: &Shared, req: &Req) -> Routed {
    let rev = req.query("sha").filter(|s| !s.is_empty()).unwrap_or(&shared.default_branch).to_string();
    if shared.git.resolve(&rev, "commit").await?.is_none() {
        return Ok(not_found());
    }
    let path = req.query("path").filter(|p| !p.is_empty());
    let (page, per_page) = req.page();
    // One more than a page tells whether there is a next one.
    let mut found = shared.git.log(&rev, path, (page - 1) * per_page, per_page + 1).await?;
    let has_next = found.len() > per_page;
    found.truncate(per_page);
    let mut reply = ok(Value::Array(found.iter().map(|c| commit_json(shared, c)).collect()));
    paginate(&mut reply, &shared.base_url, req, page, per_page, has_next, None);
    Ok(reply)
}

fn content_links(shared: &Shared, path: &str, sha: &str, rev: &str) -> (String, String, String, Value) {
    let url = format!("{}/contents/{path}?ref={}", repo_url(shared), enc(rev));
    let git_url = format!("{}/git/blobs/{sha}", repo_url(shared));
    let html = format!("{}/blob/{rev}/{path}", html_url(shared));
    let links = json!({ "self": url, "git": git_url, "html": html });
    (url, git_url, html, links)
}

fn file_json(shared: &Shared, path: &str, sha: &str, size: u64, rev: &str) -> Value {
    let (url, git_url, html, links) = content_links(shared, path, sha, rev);
    json!({
        "type": "file",
        "name": path.rsplit('/').next().unwrap_or(path),
        "path": path,
        "sha": sha,
        "size": size,
        "url": url,
        "html_url": html,
        "git_url": git_url,
        "download_url": format!("https://raw.githubusercontent.com/{}/{}/{rev}/{path}", shared.owner, shared.repo),
        "_links": links,
    })
}

async fn contents(shared: &Shared, req: &Req, path: &str) -> Routed {
    let rev = req.query("ref").filter(|s| !s.is_empty()).unwrap_or(&shared.default_branch).to_string();
    let path = path.trim_matches('/');
    if let Some((sha, size)) = shared.git.file_at(&rev, path).await? {
        let mut value = file_json(shared, path, &sha, size, &rev);
        if req.accept.contains("vnd.github.raw") {
            let bytes = shared.git.blob(&sha).await?.unwrap_or_default();
            return Ok(reply(StatusCode::OK, Bytes::from(bytes), "application/vnd.github.raw"));
        }
        let (content, encoding) = if size > CONTENTS_INLINE_MAX {
            (String::new(), "none")
        } else {
            (wrapped_base64(&shared.git.blob(&sha).await?.unwrap_or_default()), "base64")
        };
        if let Some(map) = value.as_object_mut() {
            map.insert("content".to_string(), json!(content));
            map.insert("encoding".to_string(), json!(encoding));
        }
        return Ok(ok(value));
    }
    let spec = if path.is_empty() { rev.clone() } else { format!("{rev}:{path}") };
    let Some(tree) = shared.git.resolve(&spec, "tree").await? else {
        return Ok(not_found());
    };
    let entries = shared.git.ls_tree(&tree, false).await?;
    let listing: Vec<Value> = entries
        .iter()
        .map(|e| {
            let full = if path.is_empty() { e.path.clone() } else { format!("{path}/{}", e.path) };
            let mut value = file_json(shared, &full, &e.sha, e.size.unwrap_or(0), &rev);
            if let Some(map) = value.as_object_mut()
                && e.kind == "tree"
            {
                map.insert("type".to_string(), json!("dir"));
                map.insert("download_url".to_string(), Value::Null);
            }
            value
        })
        .collect();
    Ok(ok(Value::Array(listing)))
}

async fn put_contents(shared: &Shared, req: &Req, path: &str) -> Routed {
    let body = req.json()?;
    let path = path.trim_matches('/').to_string();
    let message = body.get("message").and_then(Value::as_str).unwrap_or("").to_string();
    let Some(content) = body.get("content").and_then(Value::as_str) else {
        return Ok(validation_failed("content wasn't supplied."));
    };
    if message.is_empty() {
        return Ok(validation_failed("message wasn't supplied."));
    }
    let Ok(content) = STANDARD.decode(content.replace(['\n', '\r'], "")) else {
        return Ok(validation_failed("content is not valid Base64"));
    };
    let branch = body.get("branch").and_then(Value::as_str).unwrap_or(&shared.default_branch).to_string();
    let given_sha = body.get("sha").and_then(Value::as_str).filter(|s| !s.is_empty());
    let (name, email) = body
        .get("committer")
        .and_then(|c| Some((c.get("name")?.as_str()?.to_string(), c.get("email")?.as_str()?.to_string())))
        .unwrap_or_else(|| ("rfd-bot[bot]".to_string(), "rfd-bot@users.noreply.github.com".to_string()));

    let _writing = shared.write_lock.lock().await;
    let Some(head) = shared.git.branch_head(&branch).await? else {
        return Ok(error(StatusCode::NOT_FOUND, &format!("Branch {branch} not found")));
    };
    let current = shared.git.file_at(&head, &path).await?;
    match (&current, given_sha) {
        (Some(_), None) => return Ok(validation_failed("Invalid request.\n\n\"sha\" wasn't supplied.")),
        (Some((sha, _)), Some(given)) if sha != given => {
            return Ok(error(StatusCode::CONFLICT, &format!("{path} does not match {given}")));
        }
        (None, Some(given)) => {
            return Ok(error(StatusCode::CONFLICT, &format!("{path} does not match {given}")));
        }
        _ => {}
    }
    let Some(commit_sha) =
        shared.git.commit_file(&branch, &head, &path, &content, &message, (&name, &email)).await?
    else {
        return Ok(error(StatusCode::CONFLICT, "Reference update failed"));
    };
    let Some(commit) = shared.git.commit(&commit_sha).await? else {
        return Ok(error(StatusCode::INTERNAL_SERVER_ERROR, "Server Error"));
    };
    let Some((blob_sha, size)) = shared.git.file_at(&commit_sha, &path).await? else {
        return Ok(error(StatusCode::INTERNAL_SERVER_ERROR, "Server Error"));
    };
    let status = if current.is_some() { StatusCode::OK } else { StatusCode::CREATED };
    Ok(with_status(
        status,
        json!({
            "content": file_json(shared, &path, &blob_sha, size, &branch),
            "commit": git_commit_json(shared, &commit),
        }),
    ))
}

fn ref_json(shared: &Shared, reference: &str, sha: &str) -> Value {
    json!({
        "ref": reference,
        "node_id": "REF_fake",
        "url": format!("{}/git/{reference}", repo_url(shared)),
        "object": { "type": "commit", "sha": sha, "url": format!("{}/git/commits/{sha}", repo_url(shared)) },
    })
}

async fn get_ref(shared: &Shared, reference: &str) -> Routed {
    let Some(branch) = reference.strip_prefix("heads/") else {
        return Ok(not_found());
    };
    match shared.git.branch_head(branch).await? {
        Some(sha) => Ok(ok(ref_json(shared, &format!("refs/{reference}"), &sha))),
        None => Ok(not_found()),
    }
}

async fn create_ref(shared: &Shared, req: &Req) -> Routed {
    let body = req.json()?;
    let (Some(reference), Some(sha)) =
        (body.get("ref").and_then(Value::as_str), body.get("sha").and_then(Value::as_str))
    else {
        return Ok(validation_failed("ref and sha are required"));
    };
    if !reference.starts_with("refs/") || reference.matches('/').count() < 2 {
        return Ok(validation_failed("Reference name must start with 'refs/' and have at least two slashes"));
    }
    if shared.git.object_type(sha).await?.as_deref() != Some("commit") {
        return Ok(validation_failed("Object does not exist"));
    }
    let _writing = shared.write_lock.lock().await;
    if !shared.git.create_ref(reference, sha).await? {
        return Ok(validation_failed("Reference already exists"));
    }
    Ok(with_status(StatusCode::CREATED, ref_json(shared, reference, sha)))
}

// ---------------------------------------------------------------------------------------
// Pull requests and labels
// ---------------------------------------------------------------------------------------

fn label_json(shared: &Shared, name: &str) -> Value {
    json!({
        "id": 208045946,
        "node_id": "MDU6TGFiZWwyMDgwNDU5NDY=",
        "url": format!("{}/labels/{}", repo_url(shared), enc(name)),
        "name": name,
        "description": null,
        "color": "ededed",
        "default": false,
    })
}

fn pull_json(shared: &Shared, pull: &FakePullRequest, full: bool) -> Value {
    let url = format!("{}/pulls/{}", repo_url(shared), pull.number);
    let issue_url = format!("{}/issues/{}", repo_url(shared), pull.number);
    let html = format!("{}/pull/{}", html_url(shared), pull.number);
    let branch = |name: &str| {
        json!({
            "label": format!("{}:{name}", shared.owner),
            "ref": name,
            "sha": "",
            "user": user(shared, &shared.owner),
            "repo": repository(shared),
        })
    };
    let closed_at = (pull.state == "closed").then(|| timestamp(&pull.updated_at));
    let merged_at = pull.merged.then(|| timestamp(&pull.updated_at));
    let href = |h: String| json!({ "href": h });
    let mut value = json!({
        "url": url,
        "id": 1000 + pull.number,
        "node_id": format!("PR_fake{}", pull.number),
        "html_url": html,
        "diff_url": format!("{html}.diff"),
        "patch_url": format!("{html}.patch"),
        "issue_url": issue_url,
        "commits_url": format!("{url}/commits"),
        "review_comments_url": format!("{url}/comments"),
        "review_comment_url": format!("{}/pulls/comments{{/number}}", repo_url(shared)),
        "comments_url": format!("{issue_url}/comments"),
        "statuses_url": format!("{}/statuses/", repo_url(shared)),
        "number": pull.number,
        "state": pull.state,
        "locked": false,
        "title": pull.title,
        "user": user(shared, "rfd-bot[bot]"),
        "body": pull.body,
        "labels": pull.labels.iter().map(|l| label_json(shared, l)).collect::<Vec<_>>(),
        "milestone": null,
        "active_lock_reason": null,
        "created_at": timestamp(&pull.created_at),
        "updated_at": timestamp(&pull.updated_at),
        "closed_at": closed_at,
        "merged_at": merged_at,
        "merge_commit_sha": null,
        "assignee": null,
        "assignees": [],
        "requested_reviewers": [],
        "requested_teams": [],
        "head": branch(&pull.head),
        "base": branch(&pull.base),
        "_links": {
            "self": href(url.clone()),
            "html": href(html.clone()),
            "issue": href(issue_url.clone()),
            "comments": href(format!("{issue_url}/comments")),
            "review_comments": href(format!("{url}/comments")),
            "review_comment": href(format!("{}/pulls/comments{{/number}}", repo_url(shared))),
            "commits": href(format!("{url}/commits")),
            "statuses": href(format!("{}/statuses/", repo_url(shared))),
        },
        "author_association": "CONTRIBUTOR",
        "auto_merge": null,
        "draft": false,
    });
    if full && let Some(map) = value.as_object_mut() {
        {
            for (key, field) in [
                ("merged", json!(pull.merged)),
                ("mergeable", Value::Null),
                ("rebaseable", Value::Null),
                ("mergeable_state", json!("unknown")),
                ("merged_by", Value::Null),
                ("comments", json!(0)),
                ("review_comments", json!(0)),
                ("maintainer_can_modify", json!(false)),
                ("commits", json!(1)),
                ("additions", json!(0)),
                ("deletions", json!(0)),
                ("changed_files", json!(0)),
            ] {
                map.insert(key.to_string(), field);
            }
        }
    }
    value
}

fn list_pulls(shared: &Shared, req: &Req) -> Routed {
    let state_filter = req.query("state").unwrap_or("open").to_string();
    // `head` is `owner:branch` on GitHub; a bare branch name matches nothing there.
    let head = req.query("head").map(|h| h.split_once(':').map(|(_, b)| b.to_string()));
    let base = req.query("base").map(str::to_string);
    let (page, per_page) = req.page();
    let mut pulls: Vec<FakePullRequest> = shared
        .state()
        .pulls
        .iter()
        .filter(|p| state_filter == "all" || p.state == state_filter)
        .filter(|p| match &head {
            None => true,
            Some(Some(branch)) => &p.head == branch,
            Some(None) => false,
        })
        .filter(|p| base.as_ref().is_none_or(|b| &p.base == b))
        .cloned()
        .collect();
    // Default order: newest first.
    if req.query("direction") == Some("asc") {
        pulls.sort_by_key(|p| (p.created_at, p.number));
    } else {
        pulls.sort_by_key(|p| std::cmp::Reverse((p.created_at, p.number)));
    }
    let start = (page - 1) * per_page;
    let items: Vec<Value> =
        pulls.iter().skip(start).take(per_page).map(|p| pull_json(shared, p, false)).collect();
    let mut reply = ok(Value::Array(items));
    let last = pulls.len().div_ceil(per_page).max(1);
    paginate(&mut reply, &shared.base_url, req, page, per_page, start + per_page < pulls.len(), Some(last));
    Ok(reply)
}

async fn create_pull(shared: &Shared, req: &Req) -> Routed {
    let body = req.json()?;
    let field = |key: &str| body.get(key).and_then(Value::as_str).unwrap_or("").to_string();
    let (title, head, base, text) = (field("title"), field("head"), field("base"), field("body"));
    if title.is_empty() || head.is_empty() || base.is_empty() {
        return Ok(validation_failed("title, head and base are required"));
    }
    let head = head.split_once(':').map(|(_, b)| b.to_string()).unwrap_or(head);
    if shared.git.branch_head(&head).await?.is_none() || shared.git.branch_head(&base).await?.is_none() {
        return Ok(validation_failed("head or base does not exist"));
    }
    let mut state = shared.state();
    if state.pulls.iter().any(|p| p.head == head && p.base == base && p.state == "open") {
        return Ok(validation_failed(&format!("A pull request already exists for {}:{head}.", shared.owner)));
    }
    let number = state.next_number;
    state.next_number += 1;
    let now = Utc::now();
    let pull = FakePullRequest {
        number,
        title,
        body: text,
        state: "open".to_string(),
        merged: false,
        head,
        base,
        labels: Vec::new(),
        created_at: now,
        updated_at: now,
    };
    let value = pull_json(shared, &pull, true);
    state.pulls.push(pull);
    Ok(with_status(StatusCode::CREATED, value))
}

fn with_pull(
    shared: &Shared,
    number: &str,
    f: impl FnOnce(&Shared, &mut FakePullRequest) -> Routed,
) -> Routed {
    let Ok(number) = number.parse::<i64>() else {
        return Ok(not_found());
    };
    let mut state = shared.state();
    match state.pulls.iter_mut().find(|p| p.number == number) {
        Some(pull) => f(shared, pull),
        None => Ok(not_found()),
    }
}

fn update_pull(shared: &Shared, req: &Req, number: &str) -> Routed {
    let body = req.json()?;
    with_pull(shared, number, |shared, pull| {
        if let Some(title) = body.get("title").and_then(Value::as_str) {
            pull.title = title.to_string();
        }
        if let Some(text) = body.get("body").and_then(Value::as_str) {
            pull.body = text.to_string();
        }
        if let Some(state) = body.get("state").and_then(Value::as_str) {
            if state != "open" && state != "closed" {
                return Ok(validation_failed("state must be open or closed"));
            }
            pull.state = state.to_string();
        }
        if let Some(base) = body.get("base").and_then(Value::as_str) {
            pull.base = base.to_string();
        }
        pull.updated_at = Utc::now();
        Ok(ok(pull_json(shared, pull, true)))
    })
}

fn add_labels(shared: &Shared, req: &Req, number: &str) -> Routed {
    let body = req.json()?;
    // GitHub takes `{"labels": [...]}`, a bare array, or a single string.
    let names: Vec<String> = match &body {
        Value::Object(map) => map.get("labels").cloned().unwrap_or(Value::Null),
        other => other.clone(),
    }
    .as_array()
    .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
    .or_else(|| body.as_str().map(|s| vec![s.to_string()]))
    .unwrap_or_default();
    if names.is_empty() {
        return Ok(validation_failed("labels are required"));
    }
    let labels = with_pull(shared, number, |shared, pull| {
        for name in &names {
            if !pull.labels.contains(name) {
                pull.labels.push(name.clone());
            }
        }
        pull.updated_at = Utc::now();
        Ok(ok(Value::Array(pull.labels.iter().map(|l| label_json(shared, l)).collect())))
    })?;
    shared.state().labels_seen.extend(names);
    Ok(labels)
}

fn remove_label(shared: &Shared, number: &str, name: &str) -> Routed {
    with_pull(shared, number, |shared, pull| {
        let before = pull.labels.len();
        pull.labels.retain(|l| l != name);
        if pull.labels.len() == before {
            return Ok(error(StatusCode::NOT_FOUND, "Label does not exist"));
        }
        pull.updated_at = Utc::now();
        Ok(ok(Value::Array(pull.labels.iter().map(|l| label_json(shared, l)).collect())))
    })
}

// ---------------------------------------------------------------------------------------
// Comments
// ---------------------------------------------------------------------------------------

fn comment_json(shared: &Shared, comment: &FakeComment) -> Value {
    let pull_html = format!("{}/pull/{}", html_url(shared), comment.pull);
    if !comment.review {
        let url = format!("{}/issues/comments/{}", repo_url(shared), comment.id);
        return json!({
            "id": comment.id,
            "node_id": format!("IC_fake{}", comment.id),
            "url": url,
            "html_url": format!("{pull_html}#issuecomment-{}", comment.id),
            "body": comment.body,
            "user": user(shared, &comment.author),
            "created_at": timestamp(&comment.created_at),
            "updated_at": timestamp(&comment.updated_at),
            "issue_url": format!("{}/issues/{}", repo_url(shared), comment.pull),
            "author_association": "MEMBER",
            "performed_via_github_app": null,
        });
    }
    let url = format!("{}/pulls/comments/{}", repo_url(shared), comment.id);
    let html = format!("{pull_html}#discussion_r{}", comment.id);
    let pull_url = format!("{}/pulls/{}", repo_url(shared), comment.pull);
    let href = |h: &str| json!({ "href": h });
    json!({
        "url": url,
        "pull_request_review_id": comment.id + 50_000,
        "id": comment.id,
        "node_id": format!("PRRC_fake{}", comment.id),
        "diff_hunk": "@@ -1,1 +1,1 @@",
        "path": comment.path,
        "position": comment.line,
        "original_position": comment.line,
        "commit_id": comment.commit_id,
        "original_commit_id": comment.commit_id,
        "in_reply_to_id": comment.in_reply_to,
        "user": user(shared, &comment.author),
        "body": comment.body,
        "created_at": timestamp(&comment.created_at),
        "updated_at": timestamp(&comment.updated_at),
        "html_url": html,
        "pull_request_url": pull_url,
        "author_association": "MEMBER",
        "_links": { "self": href(&url), "html": href(&html), "pull_request": href(&pull_url) },
        "start_line": null,
        "original_start_line": null,
        "start_side": null,
        "line": comment.line,
        "original_line": comment.line,
        "side": "RIGHT",
        "subject_type": "line",
    })
}

fn pull_exists(shared: &Shared, number: &str) -> Option<i64> {
    let number = number.parse::<i64>().ok()?;
    shared.state().pulls.iter().any(|p| p.number == number).then_some(number)
}

/// `GET /issues/{n}/comments` (the conversation) or `GET /pulls/{n}/comments` (review
/// comments), oldest first, paginated.
fn list_comments(shared: &Shared, req: &Req, number: &str, review: bool) -> Routed {
    let Some(number) = pull_exists(shared, number) else {
        return Ok(not_found());
    };
    let (page, per_page) = req.page();
    let comments: Vec<FakeComment> =
        shared.state().comments.iter().filter(|c| c.pull == number && c.review == review).cloned().collect();
    let start = (page - 1) * per_page;
    let items: Vec<Value> =
        comments.iter().skip(start).take(per_page).map(|c| comment_json(shared, c)).collect();
    let mut reply = ok(Value::Array(items));
    let last = comments.len().div_ceil(per_page).max(1);
    let has_next = start + per_page < comments.len();
    paginate(&mut reply, &shared.base_url, req, page, per_page, has_next, Some(last));
    Ok(reply)
}

/// `POST /issues/{n}/comments` `{body}` or `POST /pulls/{n}/comments`
/// `{body, commit_id, path, line}` / `{body, in_reply_to}`; the author is `octocat`.
fn create_comment(shared: &Shared, req: &Req, number: &str, review: bool) -> Routed {
    let body = req.json()?;
    let Some(number) = pull_exists(shared, number) else {
        return Ok(not_found());
    };
    let field = |key: &str| body.get(key).and_then(Value::as_str).map(str::to_string);
    let Some(text) = field("body").filter(|b| !b.is_empty()) else {
        return Ok(validation_failed("body wasn't supplied."));
    };
    let in_reply_to = body.get("in_reply_to").and_then(Value::as_i64);
    let (path, line, commit_id) = if review {
        match in_reply_to {
            Some(parent) => {
                let state = shared.state();
                let Some(parent) = state.comments.iter().find(|c| c.id == parent && c.review) else {
                    return Ok(not_found());
                };
                (parent.path.clone(), parent.line, parent.commit_id.clone())
            }
            None => {
                let (Some(path), Some(line), Some(commit)) =
                    (field("path"), body.get("line").and_then(Value::as_i64), field("commit_id"))
                else {
                    return Ok(validation_failed("path, line and commit_id are required"));
                };
                (Some(path), Some(line), Some(commit))
            }
        }
    } else {
        (None, None, None)
    };
    let now = Utc::now();
    let id = shared.add_comment(FakeComment {
        id: 0,
        pull: number,
        review,
        author: "octocat".to_string(),
        body: text,
        path,
        line,
        commit_id,
        in_reply_to: if review { in_reply_to } else { None },
        created_at: now,
        updated_at: now,
    });
    let state = shared.state();
    let Some(comment) = state.comments.iter().find(|c| c.id == id) else {
        return Ok(error(StatusCode::INTERNAL_SERVER_ERROR, "Server Error"));
    };
    Ok(with_status(StatusCode::CREATED, comment_json(shared, comment)))
}

// ---------------------------------------------------------------------------------------
// App authentication
// ---------------------------------------------------------------------------------------

/// Checks the shape of the app JWT (three base64url parts, RS256, issuer = app id) and
/// mints an installation token that later calls must carry. The signature is not checked:
/// the fake holds no public key.
fn access_token(shared: &Shared, req: &Req, installation: &str) -> Routed {
    let Some((app_id, installation_id)) = shared.state().app else {
        return Ok(not_found());
    };
    if installation.parse::<i64>().ok() != Some(installation_id) {
        return Ok(not_found());
    }
    let Some(jwt) = req.authorization.as_deref().and_then(|a| a.strip_prefix("Bearer ")) else {
        return Ok(error(StatusCode::UNAUTHORIZED, "A JSON web token could not be decoded"));
    };
    let parts: Vec<&str> = jwt.split('.').collect();
    let decode_part = |p: &str| -> Option<Value> {
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(p).ok()?;
        serde_json::from_slice(&bytes).ok()
    };
    let valid = parts.len() == 3
        && decode_part(parts[0]).is_some_and(|h| h.get("alg").and_then(Value::as_str) == Some("RS256"))
        && decode_part(parts[1]).is_some_and(|claims| {
            let iss = claims.get("iss").and_then(|i| i.as_i64().or_else(|| i.as_str()?.parse().ok()));
            iss == Some(app_id)
                && claims.get("exp").and_then(Value::as_i64).is_some_and(|e| e > Utc::now().timestamp())
        });
    if !valid {
        return Ok(error(StatusCode::UNAUTHORIZED, "A JSON web token could not be decoded"));
    }
    let mut state = shared.state();
    state.minted += 1;
    let token = format!("ghs_fake{:04}{}", state.minted, "x".repeat(28));
    state.tokens.insert(token.clone());
    state.minted_tokens.push(token.clone());
    let expires_at = Utc::now() + chrono::Duration::hours(1);
    Ok(with_status(
        StatusCode::CREATED,
        json!({
            "token": token,
            "expires_at": timestamp(&expires_at),
            "permissions": { "contents": "write", "pull_requests": "write", "issues": "write", "metadata": "read" },
            "repository_selection": "all",
        }),
    ))
}
