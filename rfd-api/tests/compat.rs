//! Compatibility with the reference API: a client generated from the reference's OpenAPI
//! document (openapi/reference/rfd-api-v0.15.json) must work against ours unchanged.
//!
//! The test walks every operation of the reference and checks ours (the committed
//! openapi/rfd-api.json, which `openapi.rs` ties to the code) for what such a client
//! relies on:
//! - the same method and path, and the same success status (generated clients accept only
//!   the documented one);
//! - every reference parameter exists with the same location, and we require none the
//!   reference leaves optional;
//! - request bodies: same content type; every body the reference allows is one we accept
//!   (no field required by us that the reference leaves out; every enum value it allows we
//!   allow too);
//! - response bodies: everything the reference promises we deliver (every field it
//!   requires we require, with a compatible type; no enum value it does not know).
//!
//! New operations and extra optional fields are allowed; removals and incompatible changes
//! are not. Operations not served yet are listed in [`NOT_YET_SERVED`]: the test fails when
//! one of them is served (so the list only shrinks) and when any other is missing.

use std::collections::BTreeSet;

use serde_json::Value;

/// Reference operations (`METHOD path`) this service does not serve yet.
const NOT_YET_SERVED: &[&str] = &[];

/// Differences that no client of the reference can notice, each with the reason.
const ALLOWED: &[(&str, &str, &str)] = &[
    (
        "POST /github",
        "request body `application/json` is not accepted",
        "GitHub's webhook (hidden from clients): we read the raw bytes to verify the signature \
         before parsing, so the spec says octet-stream; GitHub's JSON body is accepted",
    ),
    (
        "GET /rfd/{number}/discussion",
        "type object, the reference has string",
        "the reference declared a `null` body and panicked (`unimplemented!()`): no client \
         of it ever received one; we serve the stored comments (users asked for them)",
    ),
    (
        "GET /rfd/{number}/revision/{revision}/discussion",
        "type object, the reference has string",
        "as GET /rfd/{number}/discussion",
    ),
];

fn load(relative: &str) -> Value {
    let path = format!("{}/../{relative}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("read {path}: {err}"));
    serde_json::from_str(&text).unwrap_or_else(|err| panic!("parse {path}: {err}"))
}

/// Which side produces the value: the client (request) or the server (response).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Flow {
    Request,
    Response,
}

struct Spec<'a> {
    root: &'a Value,
}

impl<'a> Spec<'a> {
    /// Follows `$ref`s and single-element `allOf` wrappers to the schema itself.
    fn resolve(&self, mut schema: &'a Value) -> &'a Value {
        for _ in 0..32 {
            if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
                let pointer = reference.trim_start_matches('#');
                match self.root.pointer(pointer) {
                    Some(target) => schema = target,
                    None => return schema,
                }
            } else if let Some([only]) = schema.get("allOf").and_then(Value::as_array).map(Vec::as_slice) {
                schema = only;
            } else {
                return schema;
            }
        }
        schema
    }
}

fn nullable(schema: &Value) -> bool {
    schema.get("nullable").and_then(Value::as_bool).unwrap_or(false)
}

fn kind(schema: &Value) -> Option<&str> {
    schema.get("type").and_then(Value::as_str)
}

fn variants(schema: &Value) -> Option<&Vec<Value>> {
    schema.get("oneOf").or_else(|| schema.get("anyOf")).and_then(Value::as_array)
}

fn string_set(value: Option<&Value>) -> BTreeSet<String> {
    value
        .and_then(Value::as_array)
        .map(|items| items.iter().map(|item| item.to_string()).collect())
        .unwrap_or_default()
}

fn required(schema: &Value) -> BTreeSet<String> {
    schema
        .get("required")
        .and_then(Value::as_array)
        .map(|items| items.iter().filter_map(Value::as_str).map(str::to_string).collect())
        .unwrap_or_default()
}

/// A label for one variant of a `oneOf`: its enum values, or the names of its required
/// properties (an externally tagged enum variant), or its type.
fn variant_labels(spec: &Spec<'_>, schema: &Value) -> BTreeSet<String> {
    let schema = spec.resolve(schema);
    if let Some(values) = schema.get("enum") {
        return string_set(Some(values));
    }
    if let Some(inner) = variants(schema) {
        return inner.iter().flat_map(|variant| variant_labels(spec, variant)).collect();
    }
    let required = required(schema);
    if !required.is_empty() {
        return [format!("{{{}}}", required.into_iter().collect::<Vec<_>>().join(","))].into();
    }
    [kind(schema).unwrap_or("any").to_string()].into()
}

struct Checker<'a> {
    reference: Spec<'a>,
    ours: Spec<'a>,
    problems: Vec<String>,
}

impl<'a> Checker<'a> {
    fn problem(&mut self, at: &str, what: impl std::fmt::Display) {
        self.problems.push(format!("{at}: {what}"));
    }

    /// Checks that values flowing in `flow` stay usable: the reference schema `theirs`
    /// against our schema `ours`.
    fn schema(&mut self, at: &str, theirs: &'a Value, ours: &'a Value, flow: Flow, depth: usize) {
        if depth > 12 {
            return;
        }
        // `nullable` may sit on a wrapper around a `$ref`, so read it before resolving.
        let (theirs_nullable, ours_nullable) = (nullable(theirs), nullable(ours));
        let theirs = self.reference.resolve(theirs);
        let ours = self.ours.resolve(ours);
        let (theirs_nullable, ours_nullable) =
            (theirs_nullable || nullable(theirs), ours_nullable || nullable(ours));
        // An empty schema (any JSON) is compatible with everything.
        if ours.as_object().is_none_or(|o| o.is_empty()) || theirs.as_object().is_none_or(|o| o.is_empty()) {
            return;
        }

        match flow {
            // We may answer null only where the reference allows it.
            Flow::Response if ours_nullable && !theirs_nullable => {
                self.problem(at, "we may send null; the reference never does")
            }
            // The reference's clients may send null: we must accept it.
            Flow::Request if theirs_nullable && !ours_nullable => {
                self.problem(at, "the reference allows null; we do not")
            }
            _ => {}
        }

        if variants(theirs).is_some() || variants(ours).is_some() {
            let theirs_labels = variant_labels(&self.reference, theirs);
            let ours_labels = variant_labels(&self.ours, ours);
            let (produced, accepted) = match flow {
                Flow::Request => (&theirs_labels, &ours_labels),
                Flow::Response => (&ours_labels, &theirs_labels),
            };
            let unknown: Vec<_> = produced.difference(accepted).collect();
            if !unknown.is_empty() {
                self.problem(at, format!("variants {unknown:?} are not understood by the receiving side"));
            }
            return;
        }

        if let (Some(theirs_enum), Some(ours_enum)) = (theirs.get("enum"), ours.get("enum")) {
            let (theirs_enum, ours_enum) = (string_set(Some(theirs_enum)), string_set(Some(ours_enum)));
            let (produced, accepted) = match flow {
                Flow::Request => (&theirs_enum, &ours_enum),
                Flow::Response => (&ours_enum, &theirs_enum),
            };
            let unknown: Vec<_> = produced.difference(accepted).collect();
            if !unknown.is_empty() {
                self.problem(at, format!("enum values {unknown:?} are not understood by the receiving side"));
            }
        }

        let (theirs_kind, ours_kind) = (kind(theirs), kind(ours));
        match (theirs_kind, ours_kind) {
            (Some(a), Some(b)) if a == b => {}
            // An integer is a number.
            (Some("number"), Some("integer")) if flow == Flow::Response => {}
            (Some("integer"), Some("number")) if flow == Flow::Request => {}
            (Some(a), Some(b)) => {
                self.problem(at, format!("type {b}, the reference has {a}"));
                return;
            }
            _ => {}
        }

        match theirs_kind.or(ours_kind) {
            Some("array") => {
                if let (Some(a), Some(b)) = (theirs.get("items"), ours.get("items")) {
                    self.schema(&format!("{at}[]"), a, b, flow, depth + 1);
                }
            }
            Some("object") | None => self.object(at, theirs, ours, flow, depth),
            _ => {}
        }
    }

    fn object(&mut self, at: &str, theirs: &'a Value, ours: &'a Value, flow: Flow, depth: usize) {
        let theirs_props = theirs.get("properties").and_then(Value::as_object);
        let ours_props = ours.get("properties").and_then(Value::as_object);
        let (theirs_required, ours_required) = (required(theirs), required(ours));
        match flow {
            Flow::Response => {
                for name in &theirs_required {
                    if !ours_required.contains(name) {
                        self.problem(
                            at,
                            format!(
                                "field `{name}` is required by the reference but optional or missing here"
                            ),
                        );
                    }
                }
            }
            Flow::Request => {
                for name in &ours_required {
                    if !theirs_required.contains(name) {
                        self.problem(
                            at,
                            format!("we require field `{name}`, which the reference's clients may leave out"),
                        );
                    }
                }
            }
        }
        for (name, their_field) in theirs_props.into_iter().flatten() {
            if let Some(our_field) = ours_props.and_then(|props| props.get(name)) {
                self.schema(&format!("{at}.{name}"), their_field, our_field, flow, depth + 1);
            }
        }
        // Maps (`additionalProperties`).
        if let (Some(a), Some(b)) = (theirs.get("additionalProperties"), ours.get("additionalProperties"))
            && a.is_object()
            && b.is_object()
        {
            self.schema(&format!("{at}{{}}"), a, b, flow, depth + 1);
        }
    }

    fn operation(&mut self, at: &str, theirs: &'a Value, ours: &'a Value) {
        // Parameters.
        let params = |op: &'a Value| -> Vec<&'a Value> {
            op.get("parameters").and_then(Value::as_array).map(|p| p.iter().collect()).unwrap_or_default()
        };
        let key = |p: &Value| {
            (
                p.get("in").and_then(Value::as_str).unwrap_or("").to_string(),
                p.get("name").and_then(Value::as_str).unwrap_or("").to_string(),
            )
        };
        let is_required = |p: &Value| p.get("required").and_then(Value::as_bool).unwrap_or(false);
        let (theirs_params, ours_params) = (params(theirs), params(ours));
        for their in &theirs_params {
            let (location, name) = key(their);
            match ours_params.iter().find(|our| key(our) == (location.clone(), name.clone())) {
                None => self.problem(at, format!("{location} parameter `{name}` is missing")),
                Some(our) => {
                    if is_required(our) && !is_required(their) {
                        self.problem(
                            at,
                            format!(
                                "{location} parameter `{name}` is required here, optional in the reference"
                            ),
                        );
                    }
                    if let (Some(a), Some(b)) = (their.get("schema"), our.get("schema")) {
                        self.schema(&format!("{at} {location} `{name}`"), a, b, Flow::Request, 0);
                    }
                }
            }
        }
        for our in &ours_params {
            if is_required(our) && !theirs_params.iter().any(|their| key(their) == key(our)) {
                let (location, name) = key(our);
                self.problem(at, format!("requires {location} parameter `{name}`, unknown to the reference"));
            }
        }

        // Request body.
        let body =
            |op: &'a Value| op.get("requestBody").and_then(|b| b.get("content")).and_then(Value::as_object);
        match (body(theirs), body(ours)) {
            (Some(theirs_body), Some(ours_body)) => {
                for (content_type, their_media) in theirs_body {
                    match ours_body.get(content_type) {
                        None => self.problem(at, format!("request body `{content_type}` is not accepted")),
                        Some(our_media) => {
                            if let (Some(a), Some(b)) = (their_media.get("schema"), our_media.get("schema")) {
                                self.schema(&format!("{at} body"), a, b, Flow::Request, 0);
                            }
                        }
                    }
                }
            }
            (None, Some(_)) => {
                let ours_required = ours
                    .get("requestBody")
                    .and_then(|b| b.get("required"))
                    .and_then(Value::as_bool)
                    .unwrap_or(false);
                if ours_required {
                    self.problem(at, "requires a request body the reference does not send");
                }
            }
            (Some(_), None) => self.problem(at, "does not take the reference's request body"),
            (None, None) => {}
        }

        // Responses: the reference's success status, content type and schema.
        let success = |op: &'a Value| -> Vec<(String, &'a Value)> {
            op.get("responses")
                .and_then(Value::as_object)
                .map(|r| {
                    r.iter()
                        .filter(|(code, _)| code.starts_with('2') || code.starts_with('3'))
                        .map(|(code, response)| (code.clone(), response))
                        .collect()
                })
                .unwrap_or_default()
        };
        let ours_success = success(ours);
        let ours_has_default = ours.get("responses").and_then(|r| r.get("default")).is_some();
        for (code, their_response) in success(theirs) {
            let Some((_, our_response)) = ours_success.iter().find(|(c, _)| *c == code) else {
                if !ours_has_default {
                    let ours_codes: Vec<_> = ours_success.iter().map(|(c, _)| c.as_str()).collect();
                    self.problem(at, format!("answers {ours_codes:?}, the reference {code}"));
                }
                continue;
            };
            let content = |r: &'a Value| r.get("content").and_then(Value::as_object);
            if let (Some(theirs_content), Some(ours_content)) =
                (content(their_response), content(our_response))
            {
                for (content_type, their_media) in theirs_content {
                    match ours_content.get(content_type) {
                        None => self.problem(at, format!("{code} response is not `{content_type}`")),
                        Some(our_media) => {
                            if let (Some(a), Some(b)) = (their_media.get("schema"), our_media.get("schema")) {
                                self.schema(&format!("{at} {code}"), a, b, Flow::Response, 0);
                            }
                        }
                    }
                }
            }
        }
    }
}

fn operations(spec: &Value) -> Vec<(String, &Value)> {
    let mut ops = Vec::new();
    if let Some(paths) = spec.get("paths").and_then(Value::as_object) {
        for (path, item) in paths {
            if let Some(methods) = item.as_object() {
                for (method, op) in methods {
                    ops.push((format!("{} {path}", method.to_uppercase()), op));
                }
            }
        }
    }
    ops
}

#[test]
fn every_reference_operation_is_served_compatibly() {
    let reference = load("openapi/reference/rfd-api-v0.15.json");
    let ours = load("openapi/rfd-api.json");
    let mut checker =
        Checker { reference: Spec { root: &reference }, ours: Spec { root: &ours }, problems: Vec::new() };

    let ours_ops = operations(&ours);
    let reference_ops = operations(&reference);
    let mut served = 0;
    for (at, their_op) in &reference_ops {
        let pending = NOT_YET_SERVED.contains(&at.as_str());
        match ours_ops.iter().find(|(ours_at, _)| ours_at == at) {
            Some((_, our_op)) => {
                served += 1;
                if pending {
                    checker.problem(at, "is served now: remove it from NOT_YET_SERVED");
                }
                if their_op.get("operationId") != our_op.get("operationId") {
                    checker.problem(at, "has another operationId (generated clients name methods after it)");
                }
                checker.operation(at, their_op, our_op);
            }
            None if pending => {}
            None => checker.problem(at, "is not served"),
        }
    }
    for name in NOT_YET_SERVED {
        if !reference_ops.iter().any(|(at, _)| at == name) {
            checker.problem(name, "is listed in NOT_YET_SERVED but is not a reference operation");
        }
    }
    checker.problems.retain(|problem| {
        !ALLOWED.iter().any(|(at, what, _why)| problem.starts_with(at) && problem.ends_with(what))
    });
    eprintln!("{served}/{} reference operations served", reference_ops.len());
    assert!(
        checker.problems.is_empty(),
        "{} incompatibilities with the reference API:\n{}",
        checker.problems.len(),
        checker.problems.join("\n")
    );
}

/// The checker itself must catch what it claims to: a removed operation, a dropped
/// required response field, a newly required request field, a changed status.
#[test]
fn the_checker_detects_incompatible_changes() {
    let reference = serde_json::json!({
        "paths": { "/thing/{id}": {
            "get": {
                "operationId": "get_thing",
                "parameters": [{ "in": "path", "name": "id", "required": true, "schema": { "type": "string" } }],
                "responses": { "200": { "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Thing" } } } } }
            },
            "post": {
                "operationId": "set_thing",
                "requestBody": { "content": { "application/json": { "schema": { "type": "object", "properties": { "a": { "type": "string" } } } } } },
                "responses": { "202": {} }
            }
        }},
        "components": { "schemas": { "Thing": { "type": "object", "required": ["id", "state"], "properties": {
            "id": { "type": "string" }, "state": { "type": "string", "enum": ["on", "off"] } } } } }
    });
    let broken = serde_json::json!({
        "paths": { "/thing/{id}": {
            "get": {
                "operationId": "get_thing",
                "parameters": [
                    { "in": "path", "name": "id", "required": true, "schema": { "type": "string" } },
                    { "in": "query", "name": "x", "required": true, "schema": { "type": "string" } }
                ],
                "responses": { "200": { "content": { "application/json": { "schema": { "type": "object", "required": ["state"], "properties": {
                    "id": { "type": "string" }, "state": { "type": "string", "enum": ["on", "off", "broken"] } } } } } } }
            },
            "post": {
                "operationId": "set_thing",
                "requestBody": { "content": { "application/json": { "schema": { "type": "object", "required": ["a", "b"], "properties": { "a": { "type": "integer" }, "b": { "type": "string" } } } } } },
                "responses": { "200": {} }
            }
        }}
    });
    let mut checker =
        Checker { reference: Spec { root: &reference }, ours: Spec { root: &broken }, problems: Vec::new() };
    let reference_ops = operations(&reference);
    let broken_ops = operations(&broken);
    for (at, their_op) in &reference_ops {
        let (_, our_op) = broken_ops.iter().find(|(o, _)| o == at).unwrap_or_else(|| panic!("{at} missing"));
        checker.operation(at, their_op, our_op);
    }
    let all = checker.problems.join("\n");
    for expected in [
        "requires query parameter `x`",
        "field `id` is required by the reference",
        "enum values [\"\\\"broken\\\"\"]",
        "we require field `b`",
        "type integer, the reference has string",
        "answers [\"200\"], the reference 202",
    ] {
        assert!(all.contains(expected), "expected a problem containing {expected:?}, got:\n{all}");
    }
}
