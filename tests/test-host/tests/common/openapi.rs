//! The response hook of the end-to-end tests: every response the app gives
//! a test (through [`super::App::send`]) must be one that
//! `functions/openapi/openapi.json` describes: a documented status of the
//! path and method, a documented `Content-Type`, a JSON body valid under
//! the documented schema, an XML body in the `dicttoxml` shape, the
//! documented required headers. A method the path does not list must be
//! refused with 405 and an `Allow` header naming exactly the documented
//! methods; a path the document does not list must answer 404 (or 405).

use serde_json::{Value as Json, json};
use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use test_host::client::Response;

pub const METHODS: &[&str] = &[
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

pub fn document_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../functions/openapi/openapi.json")
}

/// The document, read once.
pub fn document() -> &'static Json {
    static DOCUMENT: OnceLock<Json> = OnceLock::new();
    DOCUMENT.get_or_init(|| {
        let text = std::fs::read_to_string(document_path()).unwrap();
        serde_json::from_str(&text).expect("openapi.json is JSON")
    })
}

/// `value`, or what its `$ref` points at.
fn resolve(value: &Json) -> &Json {
    match value.get("$ref").and_then(Json::as_str) {
        Some(target) => resolve(
            document()
                .pointer(target.trim_start_matches('#'))
                .unwrap_or_else(|| panic!("$ref {target} resolves to nothing")),
        ),
        None => value,
    }
}

/// A validator for `schema` (a schema of the document, whose `$ref`s point
/// into `#/components/schemas`), compiled once per schema.
fn validator(schema: &Json) -> Arc<jsonschema::Validator> {
    static CACHE: OnceLock<Mutex<HashMap<String, Arc<jsonschema::Validator>>>> = OnceLock::new();
    let key = schema.to_string();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(found) = cache.lock().unwrap().get(&key) {
        return found.clone();
    }
    let root = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "allOf": [schema],
        "components": {"schemas": document()["components"]["schemas"]},
    });
    let compiled = Arc::new(
        jsonschema::options()
            .with_draft(jsonschema::Draft::Draft202012)
            .build(&root)
            .unwrap_or_else(|e| panic!("{schema}: {e}")),
    );
    cache.lock().unwrap().insert(key, compiled.clone());
    compiled
}

/// The path as Spin routes it: empty segments ignored.
fn routed_path(path_and_query: &str) -> String {
    let path = path_and_query.split(['?', '#']).next().unwrap_or("");
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    format!("/{}", segments.join("/"))
}

/// The document's path item serving `path`: an exact path, or a template
/// whose parameters take the segments (valid under their schemas).
pub fn path_item(path: &str) -> Option<(&'static str, &'static Json)> {
    let paths = document()["paths"].as_object().unwrap();
    if let Some((key, item)) = paths.get_key_value(path) {
        return Some((key.as_str(), item));
    }
    let segments: Vec<&str> = path.split('/').collect();
    paths.iter().find_map(|(template, item)| {
        let parts: Vec<&str> = template.split('/').collect();
        if parts.len() != segments.len() || !template.contains('{') {
            return None;
        }
        let fits = parts.iter().zip(&segments).all(|(part, segment)| {
            match part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                None => part == segment,
                Some(name) => path_parameter_schema(item, name)
                    .is_some_and(|schema| validator(schema).is_valid(&json!(segment))),
            }
        });
        fits.then_some((template.as_str(), item))
    })
}

/// The schema of path parameter `name` of some operation of `item`.
fn path_parameter_schema<'a>(item: &'a Json, name: &str) -> Option<&'a Json> {
    item.as_object()?
        .values()
        .filter_map(|operation| operation.get("parameters")?.as_array())
        .flatten()
        .map(resolve)
        .find(|parameter| parameter["in"] == "path" && parameter["name"] == name)
        .map(|parameter| &parameter["schema"])
}

/// The methods the document lists for a path item, upper case.
pub fn documented_methods(item: &Json) -> BTreeSet<String> {
    item.as_object()
        .unwrap()
        .keys()
        .filter(|key| METHODS.contains(&key.as_str()))
        .map(|key| key.to_ascii_uppercase())
        .collect()
}

fn media_type(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// Checks `response`, the app's answer to `method path_and_query`; panics
/// with what does not match the document.
#[track_caller]
pub fn check(method: &str, path_and_query: &str, response: &Response) {
    if let Err(why) = conforms(method, path_and_query, response) {
        let body = response.text();
        let shown: String = body.chars().take(600).collect();
        panic!(
            "{method} {path_and_query} answered {} ({:?}), which openapi.json does not describe: {why}\nbody: {shown}",
            response.status,
            response.header("content-type"),
        );
    }
}

fn conforms(method: &str, path_and_query: &str, response: &Response) -> Result<(), String> {
    let path = routed_path(path_and_query);
    let Some((template, item)) = path_item(&path) else {
        // The components of wildcard routes may refuse a method before they
        // look at the path (the dashboard's files).
        if response.status != 404 && response.status != 405 {
            return Err(format!(
                "{path} is not in the document, so it must answer 404"
            ));
        }
        return check_response(
            method,
            resolve(&json!({"$ref": "#/components/responses/NotFound"})),
            response,
        );
    };
    let Some(operation) = item.get(method.to_ascii_lowercase()) else {
        let documented = documented_methods(item);
        if response.status != 405 {
            return Err(format!(
                "{method} is not documented for {template} (only {documented:?}), so it must answer 405"
            ));
        }
        let allow: BTreeSet<String> = response
            .header("allow")
            .ok_or("a 405 without Allow")?
            .split(',')
            .map(|m| m.trim().to_ascii_uppercase())
            .collect();
        if allow != documented {
            return Err(format!("Allow says {allow:?}, the document {documented:?}"));
        }
        return check_response(
            method,
            resolve(&json!({"$ref": "#/components/responses/NotFound"})),
            response,
        )
        .map_err(|why| format!("405 body: {why}"));
    };
    let status = response.status.to_string();
    let responses = operation["responses"].as_object().unwrap();
    let Some(described) = responses.get(&status) else {
        let documented: Vec<&String> = responses.keys().collect();
        return Err(format!(
            "status {status} is not documented for {method} {template} (documented: {documented:?})"
        ));
    };
    check_response(method, resolve(described), response)
}

/// The response matches the response object `described`.
fn check_response(method: &str, described: &Json, response: &Response) -> Result<(), String> {
    if let Some(headers) = described.get("headers").and_then(Json::as_object) {
        for (name, header) in headers {
            if resolve(header)["required"] == true && response.header(name).is_none() {
                return Err(format!("the required header {name} is missing"));
            }
        }
    }
    let content = described.get("content").and_then(Json::as_object);
    let no_body_expected = method == "HEAD" || response.status == 304;
    let Some(content) = content else {
        if !response.body.is_empty() && !no_body_expected {
            return Err("a body where the document describes none".to_owned());
        }
        return Ok(());
    };
    if no_body_expected {
        if !response.body.is_empty() {
            return Err(format!("a body in the answer to {method}"));
        }
        return Ok(());
    }
    let actual = media_type(response.header("content-type").ok_or("no Content-Type")?);
    let Some((_, media)) = content.iter().find(|(key, _)| media_type(key) == actual) else {
        let documented: Vec<&String> = content.keys().collect();
        return Err(format!(
            "Content-Type {actual} is not documented ({documented:?})"
        ));
    };
    if response.header("content-encoding").is_some() {
        // Compressed (a static file to a client that accepts gzip).
        return Ok(());
    }
    match actual.as_str() {
        "application/json" => {
            let body: Json = serde_json::from_slice(&response.body)
                .map_err(|e| format!("the JSON body does not parse: {e}"))?;
            let schema = media
                .get("schema")
                .ok_or("no schema for application/json")?;
            let validator = validator(schema);
            let errors: Vec<String> = validator
                .iter_errors(&body)
                .take(5)
                .map(|e| format!("{e} at {}", e.instance_path()))
                .collect();
            if !errors.is_empty() {
                return Err(format!("the body does not match the schema: {errors:?}"));
            }
        }
        "application/xml" => {
            let text = std::str::from_utf8(&response.body).map_err(|_| "XML that is not UTF-8")?;
            let prolog = r#"<?xml version="1.0" encoding="UTF-8" ?>"#;
            let shaped = text.starts_with(&format!("{prolog}<Response>"))
                && text.ends_with("</Response>")
                || text == format!("{prolog}<Response></Response>");
            if !shaped {
                return Err("XML that is not a dicttoxml <Response> document".to_owned());
            }
            // The document read back as the JSON value it encodes (its
            // `type` attributes), valid under the schema as a JSON body is.
            let schema = media.get("schema").ok_or("no schema for application/xml")?;
            let validator = validator(schema);
            let candidates = match dicttoxml_values(text) {
                Ok(values) => values,
                Err(why) => return Err(format!("the XML does not read as dicttoxml: {why}")),
            };
            if !candidates.iter().any(|value| validator.is_valid(value)) {
                let errors: Vec<String> = validator
                    .iter_errors(&candidates[0])
                    .take(5)
                    .map(|e| format!("{e} at {}", e.instance_path()))
                    .collect();
                return Err(format!(
                    "the XML body does not match the schema: {errors:?}"
                ));
            }
        }
        _ => {}
    }
    Ok(())
}

/// The JSON values a dicttoxml document can encode: its root's children as
/// an object (`<name type="…">`), or as a list when all are `<item>`s; an
/// empty root is either an empty object or an empty list.
pub fn dicttoxml_values(text: &str) -> Result<Vec<Json>, String> {
    use quick_xml::Reader;
    use quick_xml::events::Event;
    let mut reader = Reader::from_str(text);
    loop {
        match reader.read_event().map_err(|e| e.to_string())? {
            Event::Start(start) if start.name().as_ref() == "Response" => break,
            Event::Decl(_) => {}
            other => return Err(format!("expected <Response>, found {other:?}")),
        }
    }
    let children = read_children(&mut reader, "Response")?;
    Ok(if children.is_empty() {
        vec![json!({}), json!([])]
    } else {
        vec![collect(children)]
    })
}

/// The children of the element just opened, up to its end tag.
fn read_children(
    reader: &mut quick_xml::Reader<&[u8]>,
    parent: &str,
) -> Result<Vec<(String, Json)>, String> {
    use quick_xml::events::Event;
    let mut children = Vec::new();
    loop {
        match reader.read_event().map_err(|e| e.to_string())? {
            Event::Start(start) => {
                let name = start.name().as_ref().to_owned();
                let kind = attribute(&start, "type")?;
                children.push((name.clone(), read_value(reader, &name, kind.as_deref())?));
            }
            Event::Empty(start) => {
                let name = start.name().as_ref().to_owned();
                let value = match attribute(&start, "type")?.as_deref() {
                    Some("str") => json!(""),
                    Some("null") => Json::Null,
                    Some("list") => json!([]),
                    Some("dict") => json!({}),
                    other => return Err(format!("<{name}/> of type {other:?}")),
                };
                children.push((name, value));
            }
            Event::End(end) if end.name().as_ref() == parent => return Ok(children),
            Event::Text(text) if text.chars().all(char::is_whitespace) => {}
            other => return Err(format!("unexpected {other:?} in <{parent}>")),
        }
    }
}

/// The value of element `name` of dicttoxml type `kind`, just opened.
fn read_value(
    reader: &mut quick_xml::Reader<&[u8]>,
    name: &str,
    kind: Option<&str>,
) -> Result<Json, String> {
    use quick_xml::events::Event;
    match kind {
        Some("list") => {
            let items = read_children(reader, name)?;
            Ok(Json::Array(
                items.into_iter().map(|(_, value)| value).collect(),
            ))
        }
        Some("dict") => {
            let entries = read_children(reader, name)?;
            Ok(Json::Object(entries.into_iter().collect()))
        }
        Some(scalar @ ("str" | "int" | "float" | "bool" | "null")) => {
            let mut text = String::new();
            loop {
                match reader.read_event().map_err(|e| e.to_string())? {
                    Event::Text(part) => {
                        // Entities come as GeneralRef events, not in the text.
                        text.push_str(&part);
                    }
                    Event::GeneralRef(reference) => {
                        match reference.resolve_char_ref().map_err(|e| e.to_string())? {
                            Some(character) => text.push(character),
                            None => {
                                let entity: &str = reference.as_ref();
                                text.push_str(match entity {
                                    "amp" => "&",
                                    "lt" => "<",
                                    "gt" => ">",
                                    "quot" => "\"",
                                    "apos" => "'",
                                    other => return Err(format!("unknown reference &{other};")),
                                });
                            }
                        }
                    }
                    Event::End(end) if end.name().as_ref() == name => break,
                    other => return Err(format!("unexpected {other:?} in <{name}>")),
                }
            }
            Ok(match scalar {
                "str" => Json::String(text),
                "int" => json!(
                    text.parse::<i64>()
                        .map_err(|_| format!("<{name}> int {text:?}"))?
                ),
                "float" => json!(
                    text.parse::<f64>()
                        .map_err(|_| format!("<{name}> float {text:?}"))?
                ),
                "bool" => match text.as_str() {
                    "True" => json!(true),
                    "False" => json!(false),
                    _ => return Err(format!("<{name}> bool {text:?}")),
                },
                _ if text.is_empty() => Json::Null,
                _ => return Err(format!("<{name}> null holding {text:?}")),
            })
        }
        other => Err(format!("<{name}> has no dicttoxml type ({other:?})")),
    }
}

fn attribute(start: &quick_xml::events::BytesStart, name: &str) -> Result<Option<String>, String> {
    for attribute in start.attributes() {
        let attribute = attribute.map_err(|e| e.to_string())?;
        if attribute.key.as_ref() == name {
            return Ok(Some(attribute.value.into_owned()));
        }
    }
    Ok(None)
}

/// Children as a list when all are `<item>`s, else as an object.
fn collect(children: Vec<(String, Json)>) -> Json {
    if children.iter().all(|(name, _)| name == "item") {
        Json::Array(children.into_iter().map(|(_, value)| value).collect())
    } else {
        Json::Object(children.into_iter().collect())
    }
}
