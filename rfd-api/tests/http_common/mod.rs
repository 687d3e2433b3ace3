//! One HTTP call as the API's integration tests make it: optional bearer token and JSON
//! body; the answer's status and body (JSON, or the text as a JSON string).

use serde_json::Value;

pub async fn call(
    client: &reqwest::Client,
    base: &str,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = client.request(method, format!("{base}{path}"));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap_or_else(|err| panic!("{path}: {err}"));
    let status = response.status().as_u16();
    let text = response.text().await.unwrap_or_else(|err| panic!("{path}: {err}"));
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}
