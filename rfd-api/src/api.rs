//! The API as a Dropshot trait: the contract, separate from its implementation, so the
//! OpenAPI document can be generated without a running server.

use dropshot::{HttpError, HttpResponseOk, RequestContext};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The state of the service as `/health` reports it.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Health {
    /// `ok` when every dependency answers.
    pub status: String,
    /// Whether the database answered.
    pub database: String,
}

/// The RFD API.
#[dropshot::api_description]
pub trait RfdApi {
    /// The server state handlers share.
    type Context;

    /// Reports whether the service can do its work: 200 when the database answers,
    /// 503 when it does not (so a load balancer stops sending traffic).
    #[endpoint { method = GET, path = "/health", tags = ["system"] }]
    async fn health(rqctx: RequestContext<Self::Context>) -> Result<HttpResponseOk<Health>, HttpError>;
}

/// The OpenAPI document of the API, as committed in `openapi/rfd-api.json`.
pub fn openapi_document() -> Result<String, anyhow::Error> {
    let description = rfd_api_mod::stub_api_description()
        .map_err(|err| anyhow::anyhow!("invalid API description: {err}"))?;
    let mut spec = description.openapi("RFD API", semver::Version::parse(env!("CARGO_PKG_VERSION"))?);
    spec.description("Programmatic access to RFDs");
    let mut json = serde_json::to_string_pretty(&spec.json()?)?;
    json.push('\n');
    Ok(json)
}
