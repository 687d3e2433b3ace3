//! The committed SDK must be what `cargo xtask generate` makes from our
//! committed spec.

use serde_json::Value;
use xtask::sdk;

fn read(path: &str) -> String {
    let full = format!("{}/../{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&full).unwrap_or_else(|err| panic!("read {full}: {err}"))
}

fn json(path: &str) -> Value {
    serde_json::from_str(&read(path)).unwrap_or_else(|err| panic!("parse {path}: {err}"))
}

#[test]
fn committed_sdk_matches_the_generator() {
    let generated = sdk::generate(&read(sdk::SDK_SPEC_PATH)).unwrap_or_else(|err| panic!("{err:#}"));
    assert!(
        generated == read(sdk::SDK_PATH),
        "{} differs from what progenitor generates from {}; run `cargo xtask generate` and commit the result",
        sdk::SDK_PATH,
        sdk::SDK_SPEC_PATH
    );
}

#[test]
fn sdk_spec_is_our_spec_with_nothing_filled() {
    // Our API serves every operation, so the SDK is generated from our spec alone
    // (`cargo xtask generate`): an operation filled from another document would
    // be one the server does not answer.
    let committed = json(sdk::SDK_SPEC_PATH);
    let ours = json(sdk::API_SPEC_PATH);
    assert!(
        committed == ours,
        "{} differs from {}; run `cargo xtask generate` and commit the result",
        sdk::SDK_SPEC_PATH,
        sdk::API_SPEC_PATH
    );
    // And the reference has nothing left to fill: each of its operations is one of ours.
    let (_, filled) =
        sdk::merge(&ours, &json(sdk::REFERENCE_SPEC_PATH)).unwrap_or_else(|err| panic!("{err:#}"));
    assert!(filled.operations.is_empty(), "not served, would be filled: {:?}", filled.operations);
}

#[test]
fn merge_prefers_our_operations_and_schemas() {
    let ours = serde_json::json!({
        "paths": {"/a": {"get": {"operationId": "get_a", "responses": {"200": {"$ref": "#/components/responses/R"}}}}},
        "components": {"schemas": {"S": {"type": "string"}}, "responses": {"R": {"description": "ours"}}}
    });
    let fill = serde_json::json!({
        "paths": {
            "/a": {"get": {"operationId": "get_a_ref"}, "post": {"operationId": "post_a",
                "requestBody": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/T"}}}}}},
            "/b": {"get": {"operationId": "get_a"}}
        },
        "components": {"schemas": {
            "S": {"type": "integer"},
            "T": {"type": "object", "properties": {"s": {"$ref": "#/components/schemas/S"}, "u": {"$ref": "#/components/schemas/U"}}},
            "U": {"type": "boolean"}
        }}
    });
    let (merged, filled) = sdk::merge(&ours, &fill).unwrap_or_else(|err| panic!("{err:#}"));
    assert_eq!(merged["paths"]["/a"]["get"]["operationId"], "get_a");
    assert_eq!(merged["paths"]["/a"]["post"]["operationId"], "post_a");
    // Same operation id as one of ours: not taken, whatever its path.
    assert!(merged["paths"].get("/b").is_none());
    assert_eq!(merged["components"]["schemas"]["S"]["type"], "string");
    assert_eq!(merged["components"]["schemas"]["U"]["type"], "boolean");
    assert_eq!(filled.operations, vec!["POST /a (post_a)".to_string()]);
    let mut components = filled.components.clone();
    components.sort();
    assert_eq!(components, vec!["schemas/T".to_string(), "schemas/U".to_string()]);

    let broken = serde_json::json!({"paths": {"/c": {"get": {"operationId": "c",
        "responses": {"200": {"$ref": "#/components/responses/Missing"}}}}}});
    assert!(sdk::merge(&ours, &broken).is_err());
}
