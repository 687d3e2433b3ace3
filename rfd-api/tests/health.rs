//! `/health` and `/health/ready` follow the database: 503 while it is down, 200 again once
//! it is back, without restarting the API; `/health/live` stays 200 throughout, and
//! `/metrics` still answers (without the queue, which it cannot count).

use std::time::{Duration, Instant};

use rfd_api::config::ApiConfig;

fn config_for(database_url: &str) -> ApiConfig {
    let toml = format!(
        "database_url = \"{database_url}\"\n[api]\naddress = \"127.0.0.1:0\"\n[database]\nconnect_timeout_secs = 1\n"
    );
    let path = std::env::temp_dir().join(format!("rfd-api-health-{}.toml", uuid_like()));
    std::fs::write(&path, toml).unwrap_or_else(|err| panic!("write config: {err}"));
    ApiConfig::load(&path).unwrap_or_else(|err| panic!("load config: {err}"))
}

fn uuid_like() -> String {
    format!("{}-{:?}", std::process::id(), Instant::now())
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect()
}

async fn status(client: &reqwest::Client, url: &str) -> u16 {
    match client.get(url).send().await {
        Ok(response) => response.status().as_u16(),
        Err(err) => panic!("GET {url}: {err}"),
    }
}

/// The body of a 200 answer.
async fn text(client: &reqwest::Client, url: &str) -> String {
    let response = client.get(url).send().await.unwrap_or_else(|err| panic!("GET {url}: {err}"));
    assert_eq!(response.status().as_u16(), 200, "{url}");
    response.text().await.unwrap_or_else(|err| panic!("GET {url}: {err}"))
}

async fn wait_for(client: &reqwest::Client, url: &str, want: u16) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let got = status(client, url).await;
        if got == want {
            return;
        }
        assert!(Instant::now() < deadline, "{url} answered {got}, wanted {want}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn health_follows_the_database_without_a_restart() {
    let cluster = rfd_devdb::Cluster::start_private().unwrap_or_else(|err| panic!("private cluster: {err}"));
    let url = cluster.url("postgres");
    rfd_model::migrations::migrate(&url).await.unwrap_or_else(|err| panic!("migrate: {err}"));

    let server = rfd_api::server::start(rfd_api::server::context(config_for(&url)))
        .unwrap_or_else(|err| panic!("start: {err}"));
    let health = format!("http://{}/health", server.local_addr());
    let live = format!("{health}/live");
    let ready = format!("{health}/ready");
    let metrics = format!("http://{}/metrics", server.local_addr());
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap_or_else(|err| panic!("client: {err}"));

    assert_eq!(status(&client, &health).await, 200);
    let body: serde_json::Value = client
        .get(&health)
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .unwrap_or_else(|e| panic!("{e}"))
        .json()
        .await
        .unwrap_or_default();
    assert_eq!(body["status"], "ok");
    assert_eq!(status(&client, &live).await, 200);
    assert_eq!(status(&client, &ready).await, 200);
    assert!(text(&client, &metrics).await.contains("rfd_queue_jobs{state=\"queued\"} 0"));

    cluster.stop().unwrap_or_else(|err| panic!("stop: {err}"));
    wait_for(&client, &health, 503).await;
    wait_for(&client, &ready, 503).await;
    assert_eq!(status(&client, &live).await, 200, "liveness never asks the database");
    let response = client.get(&ready).send().await.unwrap_or_else(|e| panic!("{e}"));
    let error: serde_json::Value = response.json().await.unwrap_or_default();
    assert_eq!(error["error_code"], "ServiceUnavailable");
    let scraped = text(&client, &metrics).await;
    assert!(scraped.contains("rfd_api_http_requests_total"), "{scraped}");
    assert!(!scraped.contains("rfd_queue_jobs{"), "no stale queue depth: {scraped}");
    let response = client.get(&health).send().await.unwrap_or_else(|e| panic!("{e}"));
    let error: serde_json::Value = response.json().await.unwrap_or_default();
    assert_eq!(error["error_code"], "ServiceUnavailable");
    assert!(!error["message"].as_str().unwrap_or_default().contains("postgres://"), "{error}");

    cluster.start().unwrap_or_else(|err| panic!("restart: {err}"));
    wait_for(&client, &health, 200).await;
    wait_for(&client, &ready, 200).await;
    assert_eq!(status(&client, &live).await, 200);
    server.close().await.unwrap_or_else(|err| panic!("close: {err}"));
}
