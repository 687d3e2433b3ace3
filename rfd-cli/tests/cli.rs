//! The built `rfd-cli` binary against a running `rfd-api` (the real server, in this
//! process, on a real PostgreSQL), with an administrator made by `rfd-api bootstrap`'s
//! own function. Every command runs as a user would run it: arguments, environment,
//! standard input; we read its standard output, standard error and exit status.

mod common;

use std::path::PathBuf;
use std::process::Output;

use common::{CLI, Server, json_of, ok, one_line_error, run, text};
use rfd_model::search::postgres::PostgresSearch;
use rfd_model::search::{IndexedRfd, SearchIndex as _};
use rfd_model::{ContentFormat, JobKind, NewJob, NewRevision, NewRfd, Visibility};
use serde_json::{Value, json};

/// A running API with an administrator's key, and a config directory of its own.
struct Api {
    server: Server,
    admin_id: String,
    admin_key: String,
    home: tempfile::TempDir,
}

impl Api {
    async fn start() -> Self {
        let server = Server::start("[search]\nbackend = \"postgres\"\n").await;
        let admin = ok(rfd_api::bootstrap::bootstrap(&server.store, chrono::Duration::days(1), false).await);
        Self {
            server,
            admin_id: admin.user_id.to_string(),
            admin_key: admin.key,
            home: ok(tempfile::tempdir()),
        }
    }

    /// `rfd-cli ARGS` as the administrator, with the API's host, JSON output.
    async fn admin(&self, args: &[&str]) -> Output {
        self.run(args, &[("RFD_TOKEN", &self.admin_key), ("RFD_FORMAT", "json")], None).await
    }

    async fn run(&self, args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> Output {
        run(self.home.path(), &self.server.base, args, env, stdin).await
    }

    /// Runs a command that must succeed and prints JSON; returns the JSON.
    async fn json(&self, args: &[&str]) -> Value {
        json_of(args, &self.admin(args).await)
    }
}

#[tokio::test]
async fn config_set_and_get_round_trip_and_environment_overrides() {
    let home = ok(tempfile::tempdir());
    let cli = |args: &'static [&'static str], env: &'static [(&'static str, &'static str)]| {
        let home: PathBuf = home.path().to_path_buf();
        async move {
            let mut command = tokio::process::Command::new(CLI);
            command.args(args).env("RFD_CONFIG_DIR", &home);
            for var in ["RFD_HOST", "RFD_TOKEN", "RFD_FORMAT"] {
                command.env_remove(var);
            }
            for (key, value) in env {
                command.env(key, value);
            }
            ok(command.output().await)
        }
    };
    let stdout = |output: &Output| {
        assert!(output.status.success(), "{}", text(&output.stderr));
        text(&output.stdout).trim_end().to_string()
    };

    // Nothing set yet: a clear failure, not an empty line.
    let unset = one_line_error(&cli(&["config", "get", "host"], &[]).await);
    assert!(unset.contains("not set"), "{unset}");

    stdout(&cli(&["config", "set", "host", "http://rfd.example.com:8080/"], &[]).await);
    stdout(&cli(&["config", "set", "format", "tab"], &[]).await);
    assert_eq!(stdout(&cli(&["config", "get", "host"], &[]).await), "http://rfd.example.com:8080");
    assert_eq!(stdout(&cli(&["config", "get", "format"], &[]).await), "tab");
    assert_eq!(stdout(&cli(&["config", "get", "format"], &[]).await), "tab");

    // The file is where RFD_CONFIG_DIR says, TOML with the keys host and format.
    let file = home.path().join("config.toml");
    let stored: toml::Value = ok(toml::from_str(&ok(std::fs::read_to_string(&file))));
    assert_eq!(stored.get("host").and_then(|v| v.as_str()), Some("http://rfd.example.com:8080"));
    assert_eq!(stored.get("format").and_then(|v| v.as_str()), Some("tab"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(ok(std::fs::metadata(&file)).permissions().mode() & 0o777, 0o600);
    }

    // The environment wins over the file.
    let env = &[("RFD_HOST", "http://other.example.com"), ("RFD_FORMAT", "json")];
    assert_eq!(stdout(&cli(&["config", "get", "host"], env).await), "http://other.example.com");
    assert_eq!(stdout(&cli(&["config", "get", "format"], env).await), "json");

    // The token is never printed, only recognisable by its end.
    let secret = "0123456789abcdef0123456789abcdefSECRET42";
    let mut with_token = ok(std::fs::read_to_string(&file));
    with_token.push_str(&format!("token = \"{secret}\"\n"));
    ok(std::fs::write(&file, with_token));
    let shown = stdout(&cli(&["config", "get", "token"], &[]).await);
    assert!(!shown.contains(secret) && shown.contains("ET42"), "{shown}");
    // Setting another key keeps the token.
    stdout(&cli(&["config", "set", "format", "json"], &[]).await);
    assert!(ok(std::fs::read_to_string(&file)).contains(secret));

    // Bad values are refused with the reason, and change nothing.
    let bad = cli(&["config", "set", "host", "not a url"], &[]).await;
    assert!(!bad.status.success());
    assert!(text(&bad.stderr).contains("invalid host"), "{}", text(&bad.stderr));
    let bad = cli(&["config", "set", "format", "xml"], &[]).await;
    assert!(!bad.status.success());
    assert_eq!(stdout(&cli(&["config", "get", "host"], &[]).await), "http://rfd.example.com:8080");
    assert_eq!(stdout(&cli(&["config", "get", "format"], &[]).await), "json");

    // A config file that is not TOML is reported with its path.
    ok(std::fs::write(&file, "host = [\n"));
    let broken = one_line_error(&cli(&["config", "get", "host"], &[]).await);
    assert!(broken.contains("config.toml"), "{broken}");
}

#[tokio::test(flavor = "multi_thread")]
async fn sys_user_and_group_commands_against_the_server() {
    let api = Api::start().await;

    let me = api.json(&["sys", "user", "self"]).await;
    assert_eq!(me["info"]["id"], api.admin_id.as_str());

    let group =
        api.json(&["sys", "group", "create", "--name", "readers", "--permission", "GetRfdsAll"]).await;
    assert_eq!(group["name"], "readers");
    let group_id = group["id"].as_str().unwrap_or_default().to_string();
    let groups = api.json(&["sys", "group", "list"]).await;
    assert!(groups.as_array().is_some_and(|g| g.iter().any(|g| g["id"] == group_id.as_str())), "{groups}");

    let user =
        api.json(&["sys", "user", "create", "--permission", r#"{"GetRfd": 7}"#, "--group", &group_id]).await;
    let user_id = user["info"]["id"].as_str().unwrap_or_default().to_string();
    assert_eq!(user["info"]["permissions"], json!([{"GetRfd": 7}]), "{user}");
    let fetched = api.json(&["sys", "user", "get", &user_id]).await;
    assert_eq!(fetched["info"]["groups"], json!([group_id]), "{fetched}");
    let members = api.json(&["sys", "group", "membership", "list", &group_id]).await;
    assert_eq!(members[0]["info"]["id"], user_id.as_str(), "{members}");

    let added = api.json(&["sys", "user", "permission", "add", &user_id, "GetRfdsAll"]).await;
    assert!(
        added["info"]["permissions"].as_array().is_some_and(|p| p.contains(&json!("GetRfdsAll"))),
        "{added}"
    );
    let removed = api.json(&["sys", "group", "membership", "remove", &group_id, &user_id]).await;
    assert_eq!(removed["info"]["groups"], json!([]), "{removed}");

    // An API token for the new user works as RFD_TOKEN, and is listed without its secret.
    let token = api
        .json(&["sys", "user", "token", "create", &user_id, "--days", "2", "--permission", "GetRfdsAll"])
        .await;
    let key = token["key"].as_str().unwrap_or_default().to_string();
    assert!(key.len() > 20, "{token}");
    let listed = api.json(&["sys", "user", "token", "list", &user_id]).await;
    assert_eq!(listed[0]["id"], token["id"]);
    assert!(!listed.to_string().contains(&key));
    let as_user = api.run(&["job", "list", "--rfd", "7"], &[("RFD_TOKEN", &key)], None).await;
    assert!(as_user.status.success(), "{}", text(&as_user.stderr));

    // Deleting the group shows it gone.
    api.json(&["sys", "group", "delete", &group_id]).await;
    let groups = api.json(&["sys", "group", "list"]).await;
    assert!(!groups.to_string().contains(&group_id), "{groups}");
}

#[tokio::test(flavor = "multi_thread")]
async fn mappers_are_created_from_standard_input_and_from_a_file() {
    let api = Api::start().await;
    let stdin_body = r#"{"name": "by-domain", "rule": {"rule": "email_domain", "domain": "example.com", "permissions": ["GetRfdsAll"]}, "max_activations": 5}"#;
    let env = [("RFD_TOKEN", api.admin_key.as_str()), ("RFD_FORMAT", "json")];
    let output =
        api.run(&["sys", "mapper", "create", "--json-body", "/dev/stdin"], &env, Some(stdin_body)).await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    let created: Value = ok(serde_json::from_slice(&output.stdout));
    assert_eq!(created["name"], "by-domain");
    assert_eq!(created["max_activations"], 5);

    let file = api.home.path().join("mapper.json");
    ok(std::fs::write(
        &file,
        r#"{"name": "everyone", "rule": {"rule": "default", "permissions": ["SearchRfds"]}}"#,
    ));
    let path = file.to_string_lossy().to_string();
    let second = api.json(&["mapper", "create", "--json-body", &path]).await;
    assert_eq!(second["name"], "everyone");

    let listed = api.json(&["sys", "mapper", "list"]).await;
    let names: Vec<&str> =
        listed.as_array().into_iter().flatten().filter_map(|m| m["name"].as_str()).collect();
    assert!(names.contains(&"by-domain") && names.contains(&"everyone"), "{listed}");

    // A body that is not JSON is refused before anything is sent; a rule the server
    // cannot parse is the server's 400, on one line.
    let output = api.run(&["mapper", "create", "--json-body", "/dev/stdin"], &env, Some("{nope")).await;
    let line = one_line_error(&output);
    assert!(line.contains("/dev/stdin"), "{line}");
    let bad_rule = r#"{"name": "x", "rule": {"rule": "email_domian", "domain": "x"}}"#;
    let output = api.run(&["mapper", "create", "--json-body", "/dev/stdin"], &env, Some(bad_rule)).await;
    let line = one_line_error(&output);
    assert!(line.contains("HTTP 400"), "{line}");
    let listed = api.json(&["mapper", "list"]).await;
    assert_eq!(listed.as_array().map(Vec::len), Some(2));

    let id = created["id"].as_str().unwrap_or_default();
    api.json(&["sys", "mapper", "delete", id]).await;
    let listed = api.json(&["sys", "mapper", "list"]).await;
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed}");
}

#[tokio::test(flavor = "multi_thread")]
async fn job_list_in_json_and_as_a_table() {
    let api = Api::start().await;
    let committed_at =
        ok(chrono::DateTime::parse_from_rfc3339("2026-11-02T09:30:00Z")).with_timezone(&chrono::Utc);
    let job = |sha: &str, rfd: i32| NewJob {
        kind: JobKind::RfdUpdate,
        owner: "org".into(),
        repository: "rfd".into(),
        branch: "main".into(),
        sha: sha.into(),
        rfd: Some(rfd),
        webhook_delivery_id: None,
        committed_at,
    };
    ok(api.server.store.enqueue(&[job("aaaa111", 42), job("bbbb222", 42), job("cccc333", 43)]).await);

    let jobs = api.json(&["job", "list", "--rfd", "42"]).await;
    let shas: Vec<&str> = jobs.as_array().into_iter().flatten().filter_map(|j| j["sha"].as_str()).collect();
    assert_eq!(shas.len(), 2, "{jobs}");
    assert!(shas.contains(&"aaaa111") && shas.contains(&"bbbb222"));
    let limited = api.json(&["job", "list", "--rfd", "42", "--limit", "1"]).await;
    assert_eq!(limited.as_array().map(Vec::len), Some(1));

    // The same command as a table: a header, one aligned row per job, dates as dates.
    let env = [("RFD_TOKEN", api.admin_key.as_str())];
    let output = api.run(&["--format", "tab", "job", "list", "--rfd", "42"], &env, None).await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    let table = text(&output.stdout);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 3, "{table}");
    for column in ["ID", "RFD", "BRANCH", "SHA", "STATE", "CREATED_AT"] {
        assert!(lines[0].contains(column), "{table}");
    }
    let sha_at = lines[0].find("SHA").unwrap_or_default();
    assert!(
        lines[1..].iter().all(|l| l[sha_at..].starts_with("aaaa111") || l[sha_at..].starts_with("bbbb222")),
        "{table}"
    );
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    assert!(lines[1].contains(&today) && !lines[1].contains(&format!("{today}T")), "{table}");
    assert!(!table.contains("\"sha\""), "JSON in a table: {table}");
    // RFD_FORMAT=tab does the same as --format tab.
    let by_env = api.run(&["job", "list", "--rfd", "42"], &[env[0], ("RFD_FORMAT", "tab")], None).await;
    assert_eq!(text(&by_env.stdout), table);
}

#[tokio::test(flavor = "multi_thread")]
async fn api_errors_are_one_line_with_a_non_zero_exit_and_never_show_the_token() {
    let api = Api::start().await;

    // Missing user: the API's 404 with its message.
    let missing = uuid::Uuid::new_v4().to_string();
    let line = one_line_error(&api.admin(&["sys", "user", "get", &missing]).await);
    assert!(line.contains("HTTP 404"), "{line}");

    // A bad token: 401, and the token is not in the message.
    let bogus = "not-a-real-token-0123456789abcdef0123456789";
    let output = api.run(&["sys", "user", "self"], &[("RFD_TOKEN", bogus)], None).await;
    let line = one_line_error(&output);
    assert!(line.contains("HTTP 401"), "{line}");
    assert!(!line.contains(bogus));

    // No permission: the admin-only list refused for a user without it.
    let user = api.json(&["sys", "user", "create", "--permission", "SearchRfds"]).await;
    let user_id = user["info"]["id"].as_str().unwrap_or_default().to_string();
    let key =
        api.json(&["sys", "user", "token", "create", &user_id, "--permission", "SearchRfds"]).await["key"]
            .as_str()
            .unwrap_or_default()
            .to_string();
    let output = api.run(&["sys", "mapper", "list"], &[("RFD_TOKEN", &key)], None).await;
    let line = one_line_error(&output);
    assert!(line.contains("HTTP 403"), "{line}");
    assert!(!line.contains(&key));

    // Nothing listening: one line naming the failure.
    let closed = ok(std::net::TcpListener::bind("127.0.0.1:0"));
    let dead = format!("http://{}", ok(closed.local_addr()));
    drop(closed);
    let output =
        run(api.home.path(), &dead, &["sys", "user", "self"], &[("RFD_TOKEN", &api.admin_key)], None).await;
    let line = one_line_error(&output);
    assert!(line.contains("cannot reach the API"), "{line}");
    assert!(!line.contains(&api.admin_key));

    // No host at all.
    let output = run(api.home.path(), "", &["sys", "user", "self"], &[], None).await;
    let line = one_line_error(&output);
    assert!(line.contains("rfd-cli config set host"), "{line}");
}

impl Api {
    /// An RFD with one revision, indexed for search.
    async fn seed_rfd(&self, number: i32, visibility: Visibility, title: &str, state: &str, content: &str) {
        let link = Some(format!("https://github.com/acme/rfd/tree/{number:04}"));
        let rfd = ok(self.server.store.insert_rfd(&NewRfd { rfd_number: number, link, visibility }).await);
        let committed_at =
            ok(chrono::DateTime::parse_from_rfc3339("2026-03-04T10:20:00Z")).with_timezone(&chrono::Utc);
        let revision = ok(self
            .server
            .store
            .insert_revision(&NewRevision {
                rfd_id: rfd.id,
                title: title.into(),
                state: Some(state.into()),
                discussion: None,
                authors: Some("Ada <ada@acme.test>".into()),
                labels: None,
                content: content.into(),
                content_format: ContentFormat::Asciidoc,
                sha: format!("blob-{number}"),
                commit_sha: format!("commit-{number}"),
                committed_at,
                major_change: true,
                tree_sha: None,
                problems: Vec::new(),
            })
            .await);
        ok(PostgresSearch::new(self.server.store.clone())
            .index_rfd(&IndexedRfd::from_revision(&rfd, &revision))
            .await);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn list_view_and_search_seeded_rfds_as_admin_and_anonymously() {
    let api = Api::start().await;
    api.seed_rfd(
        10,
        Visibility::Public,
        "Open Heron",
        "published",
        "= RFD 10 Open Heron\n\nA heron wades.\n",
    )
    .await;
    api.seed_rfd(
        20,
        Visibility::Private,
        "Secret Pelican",
        "discussion",
        "= RFD 20 Secret Pelican\n\nThe pelican migrates.\n",
    )
    .await;
    let anonymous = [("RFD_FORMAT", "json")];
    let numbers = |list: &Value| -> Vec<i64> {
        list.as_array().into_iter().flatten().filter_map(|r| r["rfd_number"].as_i64()).collect()
    };

    // list: the administrator sees both, newest number first; nobody sees the private one.
    let listed = api.json(&["list"]).await;
    assert_eq!(numbers(&listed), vec![20, 10], "{listed}");
    let output = api.run(&["list"], &anonymous, None).await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    let public: Value = ok(serde_json::from_slice(&output.stdout));
    assert_eq!(numbers(&public), vec![10], "{public}");

    // The same list as a table: chosen columns, one row per RFD, the date as a date.
    let output = api.run(&["-f", "tab", "list"], &[("RFD_TOKEN", &api.admin_key)], None).await;
    let table = text(&output.stdout);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 3, "{table}");
    assert!(
        lines[0].starts_with("RFD_NUMBER") && lines[0].contains("TITLE") && lines[0].contains("STATE"),
        "{table}"
    );
    assert!(
        lines[1].starts_with("20") && lines[1].contains("Secret Pelican") && lines[1].contains("private"),
        "{table}"
    );
    assert!(lines[2].contains("2026-03-04 10:20"), "{table}");

    // view: the document; meta: without it; attr: one attribute.
    let viewed = api.json(&["view", "10"]).await;
    assert_eq!(viewed["title"], "Open Heron");
    assert!(viewed["content"].as_str().is_some_and(|c| c.contains("A heron wades.")), "{viewed}");
    let output = api.run(&["-f", "tab", "view", "10"], &[("RFD_TOKEN", &api.admin_key)], None).await;
    let shown = text(&output.stdout);
    assert!(
        shown.contains("Open Heron") && shown.ends_with("= RFD 10 Open Heron\n\nA heron wades.\n"),
        "{shown}"
    );
    let meta = api.json(&["meta", "20"]).await;
    assert_eq!(meta["title"], "Secret Pelican");
    assert!(meta.get("content").is_none_or(Value::is_null), "{meta}");
    assert_eq!(api.json(&["attr", "20", "state"]).await, json!({"state": "discussion"}));
    let revisions = api.json(&["revision", "list", "10"]).await;
    assert_eq!(revisions.as_array().map(Vec::len), Some(1), "{revisions}");
    assert_eq!(revisions[0]["commit_sha"], "commit-10");

    // search: hits from readable RFDs only.
    let found = api.json(&["search", "pelican"]).await;
    let hits: Vec<i64> =
        found["hits"].as_array().into_iter().flatten().filter_map(|h| h["rfd_number"].as_i64()).collect();
    assert!(hits.contains(&20), "{found}");
    let output = api.run(&["search", "pelican"], &anonymous, None).await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    let hidden: Value = ok(serde_json::from_slice(&output.stdout));
    assert_eq!(hidden["hits"], json!([]), "{hidden}");
    let output = api.run(&["-f", "tab", "search", "heron"], &[], None).await;
    let table = text(&output.stdout);
    assert!(
        table.starts_with("RFD_NUMBER") && table.lines().nth(1).is_some_and(|l| l.starts_with("10")),
        "{table}"
    );

    // A private or missing RFD is a 404 for an anonymous caller, on one line.
    let line = one_line_error(&api.run(&["view", "20"], &anonymous, None).await);
    assert!(line.contains("HTTP 404"), "{line}");
    assert!(!line.contains("Pelican"), "{line}");
    let line = one_line_error(&api.admin(&["view", "99"]).await);
    assert!(line.contains("HTTP 404"), "{line}");
}
