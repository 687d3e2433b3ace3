//! Magic-link login over real HTTP, a real database and a real SMTP server (aiosmtpd):
//! send → email → exchange, single use, expiry, recipient, client secret and redirect
//! checks, the attempt recorded even when sending fails, mappers applied, and no
//! secret in any response or log line.

mod clients_common;
mod http_common;

use clients_common::{App, SmtpServer, captured_logs, free_port, ok, responses};
use rfd_model::clients::{ClientKind, secret_digest};
use serde_json::{Value, json};
use uuid::Uuid;

const REDIRECT: &str = "https://app.example/magic/callback";

fn smtp_config(port: u16) -> String {
    format!(
        "[magic_link.smtp]\nhost = \"127.0.0.1\"\nport = {port}\ntls = \"none\"\ntimeout_secs = 5\n\
         [[magic_link.templates]]\nchannel = \"login\"\nfrom = \"RFD <rfd@example.com>\"\n\
         subject = \"Sign in to RFD\"\ntext = \"Hello, sign in here: {{url}} (valid {{minutes}} minutes)\"\n"
    )
}

/// A magic-link client with a secret and the redirect URI registered.
async fn client(app: &App) -> (Uuid, String) {
    let client = ok(app.store.create_client(ClientKind::MagicLink).await);
    let secret = ok(app.store.create_client_secret(ClientKind::MagicLink, client.id).await);
    ok(app.store.add_client_redirect_uri(ClientKind::MagicLink, client.id, REDIRECT).await);
    (client.id, secret.value.expose().to_string())
}

fn send_body(secret: &str, recipient: &str) -> Value {
    json!({
        "medium": "email",
        "secret": secret,
        "recipient": recipient,
        "redirect_uri": REDIRECT,
        "expires_in": 600,
        "scope": "user:info:r",
    })
}

/// The `code` query parameter of the link in an email body.
fn code_in(body: &str) -> String {
    let start = body.find(REDIRECT).unwrap_or_else(|| panic!("no link in {body:?}"));
    let link: String = body[start..].chars().take_while(|c| !c.is_whitespace()).collect();
    let url = ok(url::Url::parse(&link));
    url.query_pairs().find(|(k, _)| k == "code").map(|(_, v)| v.into_owned()).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_link_is_emailed_and_exchanged_once() {
    let db = rfd_devdb::test_database().await;
    let mut smtp = SmtpServer::start().await;
    let app = App::start(&db.url, &smtp_config(smtp.port)).await;
    let (client_id, secret) = client(&app).await;
    // A mapper for the recipient's domain: applied at the magic-link login.
    ok(app
        .store
        .create_mapper(
            "staff",
            &json!({"rule": "email_domain", "domain": "example.org", "permissions": ["GetRfdsAll"]}),
            None,
        )
        .await);

    let (status, sent) =
        app.post("/login/magic/login/send", None, send_body(&secret, "Ada@Example.org")).await;
    assert_eq!(status, 200, "{sent}");
    let attempt_id = sent["attempt_id"].as_str().unwrap_or_default().to_string();

    let mail = smtp.next_message().await;
    assert_eq!(mail.rcpt_tos, vec!["Ada@Example.org".to_string()]);
    assert_eq!(mail.mail_from, "rfd@example.com");
    assert_eq!(mail.subject, "Sign in to RFD");
    assert!(
        mail.body.starts_with("Hello, sign in here: https://app.example/magic/callback?code="),
        "{}",
        mail.body
    );
    assert!(mail.body.contains("(valid 10 minutes)"), "{}", mail.body);
    let code = code_in(&mail.body);
    assert_eq!(code.len(), 64);

    // The attempt: sent, nonce stored as its digest only, expiry as asked.
    let rows = app
        .sql(&format!(
            "SELECT attempt_state, encode(nonce_hash, 'hex'), magic_link_client_id::text, scope, \
             round(extract(epoch from expires_at - created_at))::int4 FROM magic_link_attempt WHERE id = '{attempt_id}'"
        ))
        .await;
    assert_eq!(rows[0].get::<_, String>(0), "sent");
    assert_eq!(rows[0].get::<_, String>(1), hex::encode(secret_digest(&code)));
    assert_eq!(rows[0].get::<_, String>(2), client_id.to_string());
    assert_eq!(rows[0].get::<_, String>(3), "user:info:r");
    assert_eq!(rows[0].get::<_, i32>(4), 600);

    let exchange = json!({"attempt_id": attempt_id, "recipient": "ada@example.org", "secret": code});
    let (status, token) = app.post("/login/magic/login/exchange", None, exchange.clone()).await;
    assert_eq!(status, 200, "{token}");
    assert_eq!(token["token_type"], json!("Bearer"));
    assert_eq!(token["expires_in"], json!(600));
    let access = token["access_token"].as_str().unwrap_or_default().to_string();

    // The token works, for a user registered as provider `magic-link` with the
    // verified address, and the mapper applied.
    let (status, me) = app.get("/self", Some(&access)).await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["providers"][0]["provider"], json!("magic-link"));
    assert_eq!(me["providers"][0]["emails"], json!(["ada@example.org"]));
    assert!(me["info"]["permissions"].as_array().is_some_and(|p| p.contains(&json!("GetRfdsAll"))), "{me}");

    // Single use.
    let (status, body) = app.post("/login/magic/login/exchange", None, exchange).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["message"].as_str().is_some_and(|m| m.contains("already been used")), "{body}");

    // A second login of the same address finds the same user.
    let (_, sent) = app.post("/login/magic/login/send", None, send_body(&secret, "ada@example.org")).await;
    let code2 = code_in(&smtp.next_message().await.body);
    let (status, token2) = app
        .post(
            "/login/magic/login/exchange",
            None,
            json!({"attempt_id": sent["attempt_id"], "recipient": "ada@example.org", "secret": code2}),
        )
        .await;
    assert_eq!(status, 200, "{token2}");
    let (_, me2) = app.get("/self", Some(token2["access_token"].as_str().unwrap_or_default())).await;
    assert_eq!(me2["info"]["id"], me["info"]["id"]);

    // No secret in any log line; the client secret, nonce and nonce digest in no
    // response; the access token only in its own response.
    let logs = captured_logs();
    assert!(logs.contains("magic link sent"), "logs were not captured");
    for value in [secret.as_str(), code.as_str(), code2.as_str(), access.as_str()] {
        assert!(!logs.contains(value), "a secret was logged");
    }
    let bodies = responses();
    for value in [secret.clone(), code.clone(), hex::encode(secret_digest(&code))] {
        assert!(!bodies.iter().any(|b| b.contains(&value)), "a secret was in a response");
    }
    assert_eq!(bodies.iter().filter(|b| b.contains(&access)).count(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_sends_and_exchanges_are_refused() {
    let db = rfd_devdb::test_database().await;
    let mut smtp = SmtpServer::start().await;
    let app = App::start(&db.url, &smtp_config(smtp.port)).await;
    let (client_id, secret) = client(&app).await;
    let count =
        || async { app.sql("SELECT count(*)::int4 FROM magic_link_attempt").await[0].get::<_, i32>(0) };

    // Wrong or deleted client secret: 401, nothing recorded.
    let (status, _) =
        app.post("/login/magic/login/send", None, send_body(&"ab".repeat(40), "a@example.com")).await;
    assert_eq!(status, 401);
    let forged = format!("{}{}", &secret[..32], "0".repeat(48));
    assert_eq!(app.post("/login/magic/login/send", None, send_body(&forged, "a@example.com")).await.0, 401);
    // An OAuth client's secret is not a magic-link secret.
    let oauth = ok(app.store.create_client(ClientKind::OAuth).await);
    let oauth_secret = ok(app.store.create_client_secret(ClientKind::OAuth, oauth.id).await);
    let body = send_body(oauth_secret.value.expose(), "a@example.com");
    assert_eq!(app.post("/login/magic/login/send", None, body).await.0, 401);

    // Redirect URIs match exactly.
    for redirect in [
        "https://app.example/magic/callback/",
        "https://app.example/magic/callback?x=1",
        "https://evil.example/",
    ] {
        let mut body = send_body(&secret, "a@example.com");
        body["redirect_uri"] = json!(redirect);
        let (status, answer) = app.post("/login/magic/login/send", None, body).await;
        assert_eq!(status, 400, "{redirect}: {answer}");
    }
    // Malformed requests name the reason.
    let mut body = send_body(&secret, "not an address");
    assert_eq!(app.post("/login/magic/login/send", None, body.clone()).await.0, 400);
    body = send_body(&secret, "a@example.com");
    body["scope"] = json!("everything");
    let (status, answer) = app.post("/login/magic/login/send", None, body).await;
    assert_eq!(status, 400);
    assert!(answer["message"].as_str().is_some_and(|m| m.contains("scope")), "{answer}");
    body = send_body(&secret, "a@example.com");
    body["expires_in"] = json!(0);
    assert_eq!(app.post("/login/magic/login/send", None, body).await.0, 400);
    body = send_body(&secret, "a@example.com");
    body["medium"] = json!("sms");
    assert_eq!(app.post("/login/magic/login/send", None, body).await.0, 400);
    // A channel without a template.
    assert_eq!(app.post("/login/magic/other/send", None, send_body(&secret, "a@example.com")).await.0, 404);
    assert_eq!(count().await, 0, "refused sends recorded nothing");

    // A long expiry is capped at 15 minutes.
    let mut body = send_body(&secret, "b@example.com");
    body["expires_in"] = json!(86_400);
    let (status, sent) = app.post("/login/magic/login/send", None, body).await;
    assert_eq!(status, 200, "{sent}");
    let attempt = sent["attempt_id"].clone();
    let code = code_in(&smtp.next_message().await.body);
    let rows = app
        .sql("SELECT round(extract(epoch from expires_at - created_at))::int4 FROM magic_link_attempt")
        .await;
    assert_eq!(rows[0].get::<_, i32>(0), 900);

    let exchange = |attempt: &Value, recipient: &str, code: &str| json!({"attempt_id": attempt, "recipient": recipient, "secret": code});
    // Wrong code or unknown attempt: 401. Wrong recipient or channel: 400. None of
    // these uses the link up.
    let wrong_code = "0".repeat(64);
    assert_eq!(
        app.post("/login/magic/login/exchange", None, exchange(&attempt, "b@example.com", &wrong_code))
            .await
            .0,
        401
    );
    let unknown = json!(Uuid::new_v4());
    assert_eq!(
        app.post("/login/magic/login/exchange", None, exchange(&unknown, "b@example.com", &code)).await.0,
        401
    );
    let (status, answer) =
        app.post("/login/magic/login/exchange", None, exchange(&attempt, "c@example.com", &code)).await;
    assert_eq!(status, 400);
    assert!(answer["message"].as_str().is_some_and(|m| m.contains("recipient")), "{answer}");
    assert_eq!(
        app.post("/login/magic/other/exchange", None, exchange(&attempt, "b@example.com", &code)).await.0,
        400
    );
    let rows = app.sql("SELECT attempt_state FROM magic_link_attempt").await;
    assert_eq!(rows[0].get::<_, String>(0), "sent");

    // Expired links are refused.
    app.sql("UPDATE magic_link_attempt SET expires_at = now() - interval '1 second'").await;
    let (status, answer) =
        app.post("/login/magic/login/exchange", None, exchange(&attempt, "b@example.com", &code)).await;
    assert_eq!(status, 400);
    assert!(answer["message"].as_str().is_some_and(|m| m.contains("expired")), "{answer}");

    // A deleted secret stops sending at once.
    let client =
        ok(app.store.get_client(ClientKind::MagicLink, client_id).await).unwrap_or_else(|| panic!("gone"));
    ok(app.store.delete_client_secret(ClientKind::MagicLink, client_id, client.secrets[0].id).await);
    assert_eq!(app.post("/login/magic/login/send", None, send_body(&secret, "a@example.com")).await.0, 401);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_attempt_is_recorded_even_when_sending_fails() {
    let db = rfd_devdb::test_database().await;
    // Nothing listens on this port: the mail server is down.
    let app = App::start(&db.url, &smtp_config(free_port())).await;
    let (client_id, secret) = client(&app).await;
    let (status, body) = app.post("/login/magic/login/send", None, send_body(&secret, "a@example.com")).await;
    assert_eq!(status, 503, "{body}");
    let rows = app
        .sql("SELECT attempt_state, magic_link_client_id::text, recipient, error FROM magic_link_attempt")
        .await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].get::<_, String>(0), "failed");
    assert_eq!(rows[0].get::<_, String>(1), client_id.to_string());
    assert_eq!(rows[0].get::<_, String>(2), "a@example.com");
    let error: Option<String> = rows[0].get(3);
    assert!(error.is_some_and(|e| !e.contains("code=")), "the failure is recorded without the link");
    assert!(!captured_logs().contains(&secret));
}

#[tokio::test(flavor = "multi_thread")]
async fn without_smtp_the_link_is_logged_for_development() {
    let db = rfd_devdb::test_database().await;
    let app = App::start(&db.url, "").await;
    let (_, secret) = client(&app).await;
    // Without templates every channel uses the built-in one.
    let (status, sent) =
        app.post("/login/magic/anything/send", None, send_body(&secret, "dev@example.com")).await;
    assert_eq!(status, 200, "{sent}");
    let logs = captured_logs();
    let line = logs.lines().find(|l| l.contains("no [magic_link.smtp] configured")).unwrap_or_default();
    let code = code_in(line);
    assert_eq!(code.len(), 64, "{line}");
    assert!(!logs.contains(&secret), "the client secret was logged");
    let (status, token) = app
        .post(
            "/login/magic/anything/exchange",
            None,
            json!({"attempt_id": sent["attempt_id"], "recipient": "dev@example.com", "secret": code}),
        )
        .await;
    assert_eq!(status, 200, "{token}");
}
