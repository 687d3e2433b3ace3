//! The fake's answers, checked over raw HTTP against GitHub's REST shapes.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rfd_github_fake::{FakeGitHub, TestRepo};
use serde_json::{Value, json};

type TestResult = Result<(), Box<dyn std::error::Error>>;

struct Env {
    repo: TestRepo,
    fake: FakeGitHub,
    http: reqwest::Client,
}

impl Env {
    async fn new() -> Result<Env, Box<dyn std::error::Error>> {
        let repo = TestRepo::new()?;
        repo.write("rfd/0001/README.adoc", "= RFD 1\n")?;
        repo.write("rfd/0001/img/a.png", [0u8, 1, 2, 3])?;
        repo.write("rfd/0002/README.md", "# RFD 2\n")?;
        repo.commit("first")?;
        repo.write("rfd/0002/README.md", "# RFD 2 v2\n")?;
        repo.commit("second")?;
        repo.branch("0002")?;
        let fake = FakeGitHub::start(repo.path(), "acme", "rfd").await?;
        Ok(Env { repo, fake, http: reqwest::Client::new() })
    }

    fn url(&self, path: &str) -> String {
        format!("{}/repos/acme/rfd{path}", self.fake.url())
    }

    async fn get(&self, path: &str) -> Result<(u16, reqwest::header::HeaderMap, Value), reqwest::Error> {
        let response = self.http.get(self.url(path)).send().await?;
        let (status, headers) = (response.status().as_u16(), response.headers().clone());
        Ok((status, headers, response.json().await?))
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Value,
    ) -> Result<(u16, Value), reqwest::Error> {
        let response = self.http.request(method, self.url(path)).json(&body).send().await?;
        let status = response.status().as_u16();
        let text = response.text().await?;
        Ok((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
    }
}

fn link(headers: &reqwest::header::HeaderMap) -> String {
    headers.get("link").and_then(|v| v.to_str().ok()).unwrap_or("").to_string()
}

#[tokio::test]
async fn repository_branches_and_pagination() -> TestResult {
    let env = Env::new().await?;
    let (status, headers, repo) = env.get("").await?;
    assert_eq!(status, 200);
    assert_eq!(repo["full_name"], "acme/rfd");
    assert_eq!(repo["default_branch"], "main");
    assert_eq!(repo["owner"]["login"], "acme");
    assert!(headers.contains_key("x-ratelimit-remaining"));

    let (_, headers, page1) = env.get("/branches?per_page=1&page=1").await?;
    assert_eq!(page1[0]["name"], "0002");
    assert_eq!(page1[0]["commit"]["sha"], env.repo.head()?.as_str());
    assert_eq!(page1[0]["protected"], false);
    let link = link(&headers);
    assert!(link.contains("page=2>; rel=\"next\""), "{link}");
    assert!(link.contains("rel=\"last\""), "{link}");
    let (_, headers, page2) = env.get("/branches?per_page=1&page=2").await?;
    assert_eq!(page2[0]["name"], "main");
    assert!(!self::link(&headers).contains("rel=\"next\""));
    Ok(())
}

#[tokio::test]
async fn trees_blobs_contents_and_commits() -> TestResult {
    let env = Env::new().await?;
    let (status, _, tree) = env.get("/git/trees/main:rfd/0001?recursive=1").await?;
    assert_eq!(status, 200);
    assert_eq!(tree["sha"], env.repo.rev_parse("main:rfd/0001")?.as_str());
    assert_eq!(tree["truncated"], false);
    let entries = tree["tree"].as_array().ok_or("tree")?;
    let paths: Vec<&str> = entries.iter().filter_map(|e| e["path"].as_str()).collect();
    assert_eq!(paths, vec!["README.adoc", "img", "img/a.png"]);
    let img = &entries[1];
    assert_eq!((img["type"].as_str(), img["mode"].as_str()), (Some("tree"), Some("040000")));
    assert!(img.get("size").is_none(), "trees have no size");
    assert_eq!(entries[2]["size"], 4);

    let (status, _, missing) = env.get("/git/trees/main:rfd/0009").await?;
    assert_eq!(status, 404);
    assert_eq!(missing["message"], "Not Found");

    let blob_sha = entries[0]["sha"].as_str().ok_or("sha")?;
    let (_, _, blob) = env.get(&format!("/git/blobs/{blob_sha}")).await?;
    assert_eq!(blob["encoding"], "base64");
    let content: String = blob["content"].as_str().ok_or("content")?.split_whitespace().collect();
    assert_eq!(STANDARD.decode(content)?, b"= RFD 1\n");

    let (_, _, file) = env.get("/contents/rfd/0002/README.md?ref=0002").await?;
    assert_eq!(file["type"], "file");
    assert_eq!(file["name"], "README.md");
    assert_eq!(file["path"], "rfd/0002/README.md");
    assert!(file["_links"]["git"].as_str().is_some());
    let content: String = file["content"].as_str().ok_or("content")?.split_whitespace().collect();
    assert_eq!(STANDARD.decode(content)?, b"# RFD 2 v2\n");
    let (_, _, dir) = env.get("/contents/rfd?ref=main").await?;
    assert_eq!(dir.as_array().map(Vec::len), Some(2));
    assert_eq!(dir[0]["type"], "dir");
    let raw = env
        .http
        .get(env.url("/contents/rfd/0001/README.adoc"))
        .header("accept", "application/vnd.github.raw+json")
        .send()
        .await?
        .bytes()
        .await?;
    assert_eq!(&raw[..], b"= RFD 1\n");

    let head = env.repo.head()?;
    let (_, _, commit) = env.get(&format!("/git/commits/{head}")).await?;
    assert_eq!(commit["sha"], head.as_str());
    assert_eq!(commit["message"], "second");
    assert_eq!(commit["tree"]["sha"], env.repo.rev_parse("HEAD^{tree}")?.as_str());
    assert_eq!(commit["parents"][0]["sha"], env.repo.rev_parse("HEAD^")?.as_str());
    assert!(commit["committer"]["date"].as_str().is_some_and(|d| d.ends_with('Z')));

    let (_, headers, commits) = env.get("/commits?sha=main&path=rfd%2F0002&per_page=1").await?;
    assert_eq!(commits[0]["sha"], head.as_str());
    assert_eq!(commits[0]["commit"]["message"], "second");
    assert!(link(&headers).contains("rel=\"next\""));
    let (_, headers, commits) = env.get("/commits?sha=main&path=rfd%2F0001&per_page=1").await?;
    assert_eq!(commits[0]["commit"]["message"], "first");
    assert!(!link(&headers).contains("rel=\"next\""));
    Ok(())
}

#[tokio::test]
async fn put_contents_commits_on_the_branch_with_github_checks() -> TestResult {
    let env = Env::new().await?;
    let put = |content: &str, sha: Option<&str>| {
        let mut body =
            json!({ "message": "RFD 2: edit", "content": STANDARD.encode(content), "branch": "0002" });
        if let Some(sha) = sha {
            body["sha"] = json!(sha);
        }
        body
    };
    let path = "/contents/rfd/0002/README.md";
    let (status, _) = env.send(reqwest::Method::PUT, path, put("new\n", None)).await?;
    assert_eq!(status, 422, "an update needs the sha");
    let (status, _) = env.send(reqwest::Method::PUT, path, put("new\n", Some(&"0".repeat(40)))).await?;
    assert_eq!(status, 409, "a stale sha conflicts");

    let current = env.repo.rev_parse("0002:rfd/0002/README.md")?;
    let (status, answer) = env.send(reqwest::Method::PUT, path, put("new\n", Some(&current))).await?;
    assert_eq!(status, 200);
    let commit = answer["commit"]["sha"].as_str().ok_or("commit sha")?;
    assert_eq!(env.repo.rev_parse("0002")?, commit);
    assert_eq!(env.repo.git(&["log", "-1", "--format=%s", "0002"])?, "RFD 2: edit");
    assert_eq!(env.repo.git(&["show", "0002:rfd/0002/README.md"])?, "new");
    assert_eq!(answer["content"]["sha"], env.repo.rev_parse("0002:rfd/0002/README.md")?.as_str());
    // main did not move.
    assert_ne!(env.repo.rev_parse("main")?, commit);

    let (status, created) =
        env.send(reqwest::Method::PUT, "/contents/rfd/0003/README.adoc", put("= RFD 3\n", None)).await?;
    assert_eq!(status, 201);
    assert_eq!(created["content"]["path"], "rfd/0003/README.adoc");

    let head = env.repo.rev_parse("main")?;
    let (status, made) = env
        .send(reqwest::Method::POST, "/git/refs", json!({ "ref": "refs/heads/0004", "sha": head }))
        .await?;
    assert_eq!(status, 201);
    assert_eq!(made["object"]["sha"], head.as_str());
    let (status, _) = env
        .send(reqwest::Method::POST, "/git/refs", json!({ "ref": "refs/heads/0004", "sha": head }))
        .await?;
    assert_eq!(status, 422);
    Ok(())
}

#[tokio::test]
async fn pulls_and_labels() -> TestResult {
    let env = Env::new().await?;
    let (status, pr) = env
        .send(
            reqwest::Method::POST,
            "/pulls",
            json!({ "title": "RFD 2", "head": "0002", "base": "main", "body": "b" }),
        )
        .await?;
    assert_eq!(status, 201);
    let number = pr["number"].as_i64().ok_or("number")?;
    assert_eq!(pr["head"]["ref"], "0002");
    assert_eq!(pr["base"]["ref"], "main");
    assert_eq!(pr["state"], "open");
    assert_eq!(pr["merged"], false);
    assert!(pr["_links"]["html"]["href"].as_str().is_some());

    let (_, _, listed) = env.get("/pulls?state=all&head=acme:0002").await?;
    assert_eq!(listed.as_array().map(Vec::len), Some(1));
    assert!(listed[0].get("merged").is_none(), "list items are the simple shape");
    let (_, _, none) = env.get("/pulls?state=all&head=0002").await?;
    assert_eq!(none.as_array().map(Vec::len), Some(0), "head must be owner:branch");

    let (status, patched) = env
        .send(reqwest::Method::PATCH, &format!("/pulls/{number}"), json!({ "title": "RFD 2 renamed" }))
        .await?;
    assert_eq!(status, 200);
    assert_eq!((patched["title"].as_str(), patched["body"].as_str()), (Some("RFD 2 renamed"), Some("b")));

    let labels = format!("/issues/{number}/labels");
    let (status, all) = env.send(reqwest::Method::POST, &labels, json!({ "labels": ["rfd", "rfd"] })).await?;
    assert_eq!(status, 200);
    assert_eq!(all.as_array().map(Vec::len), Some(1));
    assert_eq!(all[0]["name"], "rfd");
    let (status, _) = env.send(reqwest::Method::DELETE, &format!("{labels}/rfd"), Value::Null).await?;
    assert_eq!(status, 200);
    let (status, gone) = env.send(reqwest::Method::DELETE, &format!("{labels}/rfd"), Value::Null).await?;
    assert_eq!(status, 404);
    assert_eq!(gone["message"], "Label does not exist");
    assert_eq!(env.fake.pull_requests()[0].title, "RFD 2 renamed");
    Ok(())
}

#[tokio::test]
async fn counters_failures_and_tokens() -> TestResult {
    let env = Env::new().await?;
    env.fake.fail_next(1, 403, &[("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", "123")]);
    let (status, headers, body) = env.get("/branches").await?;
    assert_eq!(status, 403);
    assert_eq!(headers.get("x-ratelimit-remaining").and_then(|v| v.to_str().ok()), Some("0"));
    assert!(body["message"].as_str().is_some_and(|m| m.contains("rate limit")));
    let (status, _, _) = env.get("/branches").await?;
    assert_eq!(status, 200);

    env.fake.fail_next_writes(1, 500);
    let (status, _, _) = env.get("/branches").await?;
    assert_eq!(status, 200, "reads pass while a write failure waits");
    let (status, _) = env.send(reqwest::Method::POST, "/git/refs", json!({})).await?;
    assert_eq!(status, 500);

    assert_eq!(env.fake.calls(), 4);
    assert_eq!(env.fake.calls_to("GET /repos/acme/rfd/branches"), 3);
    env.fake.reset_calls();
    assert_eq!(env.fake.calls(), 0);

    env.fake.require_token("sesame");
    let (status, _, _) = env.get("/branches").await?;
    assert_eq!(status, 401);
    let ok = env.http.get(env.url("/branches")).header("authorization", "token sesame").send().await?;
    assert_eq!(ok.status().as_u16(), 200);
    Ok(())
}
