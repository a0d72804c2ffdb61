//! `openapi.json` is a valid OpenAPI 3.1 document (against the official
//! schema, vendored in `oas-3.1/`), its schemas are valid JSON Schema, its
//! examples match them, and its references resolve. That it describes
//! exactly the routes of the route table is checked by
//! crates/intellimeter-core/tests/route_table.rs; that it agrees with what
//! the app answers is checked
//! end to end in tests/test-host (`tests/openapi.rs` and the response hook
//! of `tests/common/openapi.rs`) and by schemathesis in tests/run.

use serde_json::{Value as Json, json};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn here() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read_json(path: &Path) -> Json {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn document() -> Json {
    read_json(&here().join("openapi.json"))
}

const METHODS: &[&str] = &[
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// Every operation: (path, method, operation object).
fn operations(doc: &Json) -> Vec<(String, String, Json)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            if METHODS.contains(&method.as_str()) {
                out.push((path.clone(), method.clone(), operation.clone()));
            }
        }
    }
    out
}

/// A JSON Schema 2020-12 validator for `schema`, a schema of the document
/// (its `$ref`s into `#/components/schemas` resolve).
fn validator(doc: &Json, schema: &Json) -> jsonschema::Validator {
    let root = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "allOf": [schema],
        "components": {"schemas": doc["components"]["schemas"]},
    });
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .build(&root)
        .unwrap_or_else(|e| panic!("{schema}: {e}"))
}

fn errors(validator: &jsonschema::Validator, instance: &Json) -> Vec<String> {
    validator
        .iter_errors(instance)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

#[test]
fn is_valid_openapi_3_1() {
    let schema = read_json(&here().join("oas-3.1/schema.json"));
    assert_eq!(
        schema["$id"], "https://spec.openapis.org/oas/3.1/schema/2022-10-07",
        "the vendored schema is the official OAS 3.1 one"
    );
    let validator = jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .build(&schema)
        .expect("the OAS 3.1 schema compiles offline");
    let doc = document();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1."));
    let found = errors(&validator, &doc);
    assert!(
        found.is_empty(),
        "not valid OpenAPI 3.1:\n{}",
        found.join("\n")
    );

    // The check itself can fail: a document with a broken operation.
    let mut broken = doc.clone();
    broken["paths"]["/session"]["get"]["responses"] = json!("none");
    assert!(!validator.is_valid(&broken));
}

#[test]
fn schemas_are_json_schema_2020_12() {
    let doc = document();
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    assert!(!schemas.is_empty());
    for (name, schema) in schemas {
        if let Err(error) = jsonschema::draft202012::meta::validate(schema) {
            panic!("components.schemas.{name} is not JSON Schema 2020-12: {error}");
        }
        // Compiles: its references resolve and its patterns are regexes.
        validator(
            &doc,
            &json!({"$ref": format!("#/components/schemas/{name}")}),
        );
    }
}

/// Every `$ref` of the document points at something.
#[test]
fn references_resolve() {
    fn walk(doc: &Json, value: &Json, at: &str, seen: &mut usize) {
        match value {
            Json::Object(map) => {
                if let Some(Json::String(target)) = map.get("$ref") {
                    let pointer = target
                        .strip_prefix('#')
                        .unwrap_or_else(|| panic!("{at}: external $ref {target}"));
                    assert!(
                        doc.pointer(pointer).is_some(),
                        "{at}: $ref {target} resolves to nothing"
                    );
                    *seen += 1;
                }
                for (key, inner) in map {
                    walk(doc, inner, &format!("{at}/{key}"), seen);
                }
            }
            Json::Array(items) => {
                for (i, inner) in items.iter().enumerate() {
                    walk(doc, inner, &format!("{at}/{i}"), seen);
                }
            }
            _ => {}
        }
    }
    let doc = document();
    let mut seen = 0;
    walk(&doc, &doc, "", &mut seen);
    assert!(seen > 100, "only {seen} references");
}

/// Every example of a JSON schema or JSON body is valid under its schema;
/// every XML example is a `dicttoxml` document.
#[test]
fn examples_match_their_schemas() {
    let doc = document();
    let mut checked = 0;
    for (name, schema) in doc["components"]["schemas"].as_object().unwrap() {
        if let Some(example) = schema.get("example") {
            let found = errors(&validator(&doc, schema), example);
            assert!(found.is_empty(), "example of {name}: {found:?}");
            checked += 1;
        }
    }
    let resolve = |value: &Json| -> Json {
        match value.get("$ref").and_then(Json::as_str) {
            Some(target) => doc.pointer(&target[1..]).unwrap().clone(),
            None => value.clone(),
        }
    };
    let mut contents = Vec::new();
    for (path, method, operation) in operations(&doc) {
        for (status, response) in operation["responses"].as_object().unwrap() {
            let response = resolve(response);
            if let Some(content) = response.get("content").and_then(Json::as_object) {
                for (media, body) in content {
                    contents.push((
                        format!("{method} {path} {status} {media}"),
                        media.clone(),
                        body.clone(),
                    ));
                }
            }
        }
        if let Some(body) = operation.get("requestBody") {
            for (media, body) in body["content"].as_object().unwrap() {
                contents.push((
                    format!("{method} {path} request {media}"),
                    media.clone(),
                    body.clone(),
                ));
            }
        }
    }
    for (at, media, body) in contents {
        let mut examples: Vec<Json> = body.get("example").cloned().into_iter().collect();
        if let Some(named) = body.get("examples").and_then(Json::as_object) {
            examples.extend(named.values().map(|e| resolve(e)["value"].clone()));
        }
        for example in examples {
            checked += 1;
            if media == "application/json" {
                let found = errors(&validator(&doc, &body["schema"]), &example);
                assert!(found.is_empty(), "{at}: {found:?}");
            } else if media == "application/xml" {
                let text = example
                    .as_str()
                    .unwrap_or_else(|| panic!("{at}: XML examples are text"));
                assert!(
                    text.starts_with(r#"<?xml version="1.0" encoding="UTF-8" ?><Response>"#)
                        && text.ends_with("</Response>"),
                    "{at}: {text}"
                );
            }
        }
    }
    assert!(checked > 20, "only {checked} examples");
}

#[test]
fn operations_are_named_once_and_answer_success() {
    let doc = document();
    let mut ids = BTreeSet::new();
    for (path, method, operation) in operations(&doc) {
        let id = operation["operationId"]
            .as_str()
            .unwrap_or_else(|| panic!("{method} {path} has no operationId"));
        assert!(ids.insert(id.to_owned()), "operationId {id} twice");
        let responses = operation["responses"].as_object().unwrap();
        assert!(
            responses.keys().any(|status| status.starts_with('2')),
            "{method} {path} documents no success"
        );
        assert!(
            operation.get("security").is_some(),
            "{method} {path} says nothing of credentials"
        );
    }
}

/// The repository's manifest.
fn manifest() -> toml::Table {
    let path = here().join("../../spin.toml");
    std::fs::read_to_string(&path).unwrap().parse().unwrap()
}

#[test]
fn version_is_the_apps() {
    assert_eq!(
        document()["info"]["version"].as_str(),
        manifest()["application"]["version"].as_str()
    );
}
