//! The committed OpenAPI document must match the API description.

#[test]
fn committed_spec_matches_the_api_description() {
    let generated = rfd_api::api::openapi_document().unwrap_or_else(|err| panic!("generate: {err}"));
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../openapi/rfd-api.json");
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        generated == committed,
        "openapi/rfd-api.json is out of date with the API description; run `cargo xtask openapi` and commit the result"
    );
}
