//! `auth login` over the device flow, against a local stand-in for the API's login
//! endpoints (the reference's protocol: `GET`/`POST /login/oauth/{provider}/device`, the
//! form-encoded `…/device/exchange`, then `GET /self` and `POST /api-user/{id}/token` for
//! `-m token`). It stands in only until our API serves device login (branch auth-oauth);
//! then the same commands run against the real server.
//!
//! It answers `authorization_pending`, then `slow_down`, then the token, and records what
//! the CLI sent, so we check the flow's order and content; no timing is asserted.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::process::Output;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};

const CLI: &str = env!("CARGO_BIN_EXE_rfd-cli");
const CLIENT_ID: &str = "7f0c9a52-53f4-4b5e-9a43-1c2d3e4f5a6b";
const USER_ID: &str = "0b6f4f1e-7a55-4b0e-8d9f-3a2b1c0d9e8f";
const ACCESS_TOKEN: &str = "eyJhbGciOiJSUzI1NiJ9.access-token-from-device-flow";
const API_KEY: &str = "0123456789abcdef0123456789abcdef0123456789abcdefAPIKEY99";

fn ok<T, E: std::fmt::Display>(result: Result<T, E>) -> T {
    result.unwrap_or_else(|err| panic!("{err}"))
}

/// What the stand-in received: (method, path, authorization header, body).
type Log = Arc<Mutex<Vec<(String, String, String, String)>>>;

async fn handle(
    log: Log,
    request: Request<hyper::body::Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let method = request.method().to_string();
    let path = request.uri().path().to_string();
    let auth =
        request.headers().get("authorization").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    let body = request.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let body = String::from_utf8_lossy(&body).into_owned();
    let exchanges = {
        let mut log = log.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        log.push((method.clone(), path.clone(), auth.clone(), body.clone()));
        log.iter().filter(|entry| entry.1.ends_with("/device/exchange")).count()
    };
    let (status, answer) = match (method.as_str(), path.as_str()) {
        ("GET", "/login/oauth/github/device") => (
            200,
            json!({"client_id": CLIENT_ID, "auth_url_endpoint": "https://idp.test/device", "token_endpoint": "https://idp.test/token"}),
        ),
        ("POST", "/login/oauth/github/device") => (
            200,
            json!({"device_code": "dev-code-1", "user_code": "WDJB-MJHT", "verification_uri": "https://idp.test/activate",
                   "expires_in": 120, "interval": 1}),
        ),
        ("POST", "/login/oauth/github/device/exchange") => match exchanges {
            1 => (400, json!({"error": "authorization_pending"})),
            2 => (400, json!({"error": "slow_down"})),
            _ => (
                200,
                json!({"access_token": ACCESS_TOKEN, "token_type": "Bearer", "expires_in": 3600, "scope": "full"}),
            ),
        },
        ("GET", "/self") if auth == format!("Bearer {ACCESS_TOKEN}") => (
            200,
            json!({"info": {"id": USER_ID, "permissions": [], "groups": [], "created_at": "2026-11-29T21:00:00Z",
                            "updated_at": "2026-11-29T21:00:00Z"}, "providers": []}),
        ),
        ("POST", "/api-user/0b6f4f1e-7a55-4b0e-8d9f-3a2b1c0d9e8f/token")
            if auth == format!("Bearer {ACCESS_TOKEN}") =>
        {
            (
                201,
                json!({"id": "5d7e6f80-1a2b-4c3d-8e9f-0a1b2c3d4e5f", "key": API_KEY, "permission_boundary": null,
                         "created_at": "2026-11-29T21:00:00Z", "expires_at": "2027-11-29T21:00:00Z"}),
            )
        }
        _ => (404, json!({"request_id": "1", "error_code": "NotFound", "message": "not found"})),
    };
    let mut response = Response::new(Full::new(Bytes::from(answer.to_string())));
    *response.status_mut() =
        hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    response
        .headers_mut()
        .insert("content-type", hyper::header::HeaderValue::from_static("application/json"));
    Ok(response)
}

async fn stand_in() -> (SocketAddr, Log) {
    let listener = ok(tokio::net::TcpListener::bind("127.0.0.1:0").await);
    let address = ok(listener.local_addr());
    let log: Log = Arc::default();
    let shared = log.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let log = shared.clone();
            tokio::spawn(async move {
                let service = service_fn(move |request| handle(log.clone(), request));
                let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
            });
        }
    });
    (address, log)
}

async fn login(address: SocketAddr, home: &std::path::Path, args: &[&str]) -> Output {
    ok(tokio::process::Command::new(CLI)
        .args(args)
        .env("RFD_CONFIG_DIR", home)
        .env("RFD_HOST", format!("http://{address}"))
        .env_remove("RFD_TOKEN")
        .env_remove("RFD_FORMAT")
        .output()
        .await)
}

fn stored_token(home: &std::path::Path) -> Option<String> {
    let text = std::fs::read_to_string(home.join("config.toml")).ok()?;
    let value: toml::Value = toml::from_str(&text).ok()?;
    value.get("token")?.as_str().map(str::to_string)
}

#[tokio::test(flavor = "multi_thread")]
async fn device_login_polls_through_pending_and_slow_down_and_stores_the_access_token() {
    let (address, log) = stand_in().await;
    let home = ok(tempfile::tempdir());
    let output = login(address, home.path(), &["auth", "login", "github"]).await;
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("https://idp.test/activate") && stderr.contains("WDJB-MJHT"), "{stderr}");
    assert!(
        !stderr.contains(ACCESS_TOKEN) && !String::from_utf8_lossy(&output.stdout).contains(ACCESS_TOKEN)
    );
    assert_eq!(stored_token(home.path()).as_deref(), Some(ACCESS_TOKEN));

    let log = log.lock().map(|l| l.clone()).unwrap_or_default();
    let calls: Vec<String> = log.iter().map(|(m, p, _, _)| format!("{m} {p}")).collect();
    assert_eq!(
        calls,
        [
            "GET /login/oauth/github/device",
            "POST /login/oauth/github/device",
            "POST /login/oauth/github/device/exchange",
            "POST /login/oauth/github/device/exchange",
            "POST /login/oauth/github/device/exchange",
        ]
    );
    let start: Value = ok(serde_json::from_str(&log[1].3));
    assert_eq!(start, json!({"client_id": CLIENT_ID, "scope": "full"}));
    // The exchange is a form with the client, the device code and the RFC 8628 grant.
    let form = &log[2].3;
    for field in [
        format!("client_id={CLIENT_ID}"),
        "device_code=dev-code-1".to_string(),
        "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code".to_string(),
    ] {
        assert!(form.split('&').any(|pair| pair == field), "{field} missing from {form}");
    }
    // Logging in sends no stored token anywhere.
    assert!(log.iter().all(|(_, _, auth, _)| auth.is_empty()));
}

#[tokio::test(flavor = "multi_thread")]
async fn device_login_with_m_token_stores_a_new_api_token_instead() {
    let (address, log) = stand_in().await;
    let home = ok(tempfile::tempdir());
    for args in [
        &["auth", "login", "github", "-m", "token"][..],
        &["auth", "login", "-m", "token", "oauth", "github"][..],
    ] {
        let output = login(address, home.path(), args).await;
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert!(output.status.success(), "{args:?}: {stderr}");
        assert!(!stderr.contains(API_KEY));
        assert_eq!(stored_token(home.path()).as_deref(), Some(API_KEY), "{args:?}");
        let log = log.lock().map(|mut l| std::mem::take(&mut *l)).unwrap_or_default();
        let (_, _, auth, body) = log.last().cloned().unwrap_or_default();
        assert_eq!(auth, format!("Bearer {ACCESS_TOKEN}"));
        let body: Value = ok(serde_json::from_str(&body));
        assert!(body["expires_at"].is_string(), "{body}");
        assert!(body.get("permission_boundary").is_none_or(Value::is_null), "{body}");
        assert!(log.iter().any(|(m, p, _, _)| m == "GET" && p == "/self"));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn device_login_for_a_provider_the_api_does_not_offer_fails_on_one_line() {
    let (address, _log) = stand_in().await;
    let home = ok(tempfile::tempdir());
    let output = login(address, home.path(), &["auth", "login", "google"]).await;
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("not found (NotFound, HTTP 404)"), "{stderr}");
    assert_eq!(stored_token(home.path()), None);
}
