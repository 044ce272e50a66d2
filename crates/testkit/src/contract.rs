//! The served OpenAPI document as a contract every test call is held to. [`TestApp::call`]
//! checks each answer of an `/api/v1` route against the document the same app serves: its
//! status must be documented for the operation (or be a 4xx answered as a problem document; an
//! undocumented 5xx always fails), its content type one the document lists, and a JSON body must
//! match the documented schema, formats (uuid, date-time …) included. A request the server accepted
//! (2xx) must match the documented request body, so the document never describes requests the
//! server refuses or refuses requests it takes. Any test that talks through the helpers thus
//! checks the document as a side effect; a mismatch fails that test with the difference.
//!
//! [`TestApp::call`]: crate::TestApp::call

use jsonschema::Validator;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// The document and the validators compiled from it so far.
pub struct Contract {
    doc: Value,
    templates: Vec<String>,
    validators: Mutex<HashMap<String, Arc<Validator>>>,
}

impl std::fmt::Debug for Contract {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Contract").field("paths", &self.templates.len()).finish_non_exhaustive()
    }
}

impl Contract {
    /// A contract over a served OpenAPI document.
    pub fn new(doc: Value) -> Self {
        let templates = doc["paths"].as_object().map(|p| p.keys().cloned().collect()).unwrap_or_default();
        Self { doc, templates, validators: Mutex::default() }
    }

    /// The documented path template a concrete path falls under; literal segments win over
    /// parameters (`/users/me` over `/users/{id}`).
    pub fn template(&self, path: &str) -> Option<&str> {
        let path = path.split('?').next().unwrap_or(path);
        let parts: Vec<&str> = path.split('/').collect();
        self.templates
            .iter()
            .filter_map(|t| {
                let tparts: Vec<&str> = t.split('/').collect();
                if tparts.len() != parts.len() {
                    return None;
                }
                let mut literal = 0;
                for (tp, p) in tparts.iter().zip(&parts) {
                    if tp.starts_with('{') && tp.ends_with('}') {
                        if p.is_empty() {
                            return None;
                        }
                    } else if tp == p {
                        literal += 1;
                    } else {
                        return None;
                    }
                }
                Some((literal, t.as_str()))
            })
            .max_by_key(|(literal, _)| *literal)
            .map(|(_, t)| t)
    }

    /// Checks an answer; `Err` says how it departs from the document.
    pub fn check_response(
        &self,
        method: &str,
        path: &str,
        status: u16,
        content_type: &str,
        body: &Value,
    ) -> Result<(), String> {
        let method = method.to_lowercase();
        let Some(template) = self.template(path) else {
            return if status >= 400 {
                self.check_problem(content_type, body)
            } else {
                Err(format!("{path} answered {status} but the document has no such path"))
            };
        };
        let operation = &self.doc["paths"][template][&method];
        if operation.is_null() {
            return if status >= 400 {
                self.check_problem(content_type, body)
            } else {
                Err(format!("{method} {template} answered {status} but is not in the document"))
            };
        }
        let documented = &operation["responses"][status.to_string()];
        if documented.is_null() {
            return if (400..500).contains(&status) {
                self.check_problem(content_type, body)
            } else {
                Err(format!("{method} {template} answered {status}, which the document does not list"))
            };
        }
        let media = content_type.split(';').next().unwrap_or_default().trim();
        if let Some(content) = documented["content"].as_object()
            && !content.is_empty()
            && !content.contains_key(media)
        {
            let listed: Vec<&String> = content.keys().collect();
            return Err(format!("{method} {template} answered {status} as {media:?}; the document lists {listed:?}"));
        }
        if !media.ends_with("json") {
            return Ok(());
        }
        let Some(schema) = documented["content"][media]["schema"].as_object() else {
            return if documented["content"].is_null() && body.is_null() {
                Ok(())
            } else {
                Err(format!("{method} {template} {status}: {media} is not documented"))
            };
        };
        let key = format!("response {method} {template} {status} {media}");
        self.validate(&key, &Value::Object(schema.clone()), body)
            .map_err(|e| format!("{method} {template} answered {status} outside the document: {e}"))
    }

    /// Checks the JSON body of a request the server accepted.
    pub fn check_request(&self, method: &str, path: &str, body: &Value) -> Result<(), String> {
        let method = method.to_lowercase();
        let Some(template) = self.template(path) else { return Ok(()) };
        let request = &self.doc["paths"][template][&method]["requestBody"];
        if request.is_null() {
            // The operation takes no body and the server ignores one (helpers send `{}`).
            return Ok(());
        }
        let Some(schema) = request["content"]["application/json"]["schema"].as_object() else {
            return Err(format!("{method} {template} accepted a JSON body the document does not describe"));
        };
        let key = format!("request {method} {template}");
        self.validate(&key, &Value::Object(schema.clone()), body)
            .map_err(|e| format!("{method} {template} accepted a body outside the document: {e}"))
    }

    /// Every example the document gives, with the schema it must satisfy: examples of request
    /// and response bodies, and of schemas and their properties anywhere in the document.
    pub fn examples(&self) -> Vec<(String, Value, Value)> {
        let mut out = Vec::new();
        collect_examples(&self.doc, "#".to_string(), &mut out);
        out
    }

    /// Validates `instance` against `schema`, which may refer to the document's components.
    pub fn validate(&self, key: &str, schema: &Value, instance: &Value) -> Result<(), String> {
        let validator = {
            let mut cache = self.validators.lock().unwrap_or_else(|p| p.into_inner());
            match cache.get(key) {
                Some(v) => v.clone(),
                None => {
                    let mut rooted = schema.clone();
                    if let Value::Object(map) = &mut rooted {
                        map.insert("components".into(), self.doc["components"].clone());
                    }
                    let compiled = Arc::new(
                        jsonschema::draft202012::options()
                            .should_validate_formats(true)
                            .build(&rooted)
                            .map_err(|e| format!("the schema does not compile: {e}"))?,
                    );
                    cache.insert(key.to_string(), compiled.clone());
                    compiled
                }
            }
        };
        let errors: Vec<String> =
            validator.iter_errors(instance).take(5).map(|e| format!("at {}: {e}", e.instance_path())).collect();
        if errors.is_empty() { Ok(()) } else { Err(format!("{}; body: {instance}", errors.join("; "))) }
    }

    fn check_problem(&self, content_type: &str, body: &Value) -> Result<(), String> {
        if !content_type.starts_with("application/problem+json") {
            return Err(format!("an error answered as {content_type:?}, not a problem document"));
        }
        self.validate("problem", &json!({"$ref": "#/components/schemas/Problem"}), body)
    }
}

/// Walks `node`: a media type object's `example` is checked against its `schema`; a schema's
/// `example` against the schema itself.
fn collect_examples(node: &Value, at: String, out: &mut Vec<(String, Value, Value)>) {
    match node {
        Value::Object(map) => {
            if let Some(example) = map.get("example") {
                let schema = match map.get("schema") {
                    Some(schema) => schema.clone(),
                    None => {
                        let mut own = map.clone();
                        own.remove("example");
                        Value::Object(own)
                    }
                };
                out.push((at.clone(), schema, example.clone()));
            }
            for (key, child) in map {
                if key != "example" {
                    collect_examples(child, format!("{at}/{key}"), out);
                }
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                collect_examples(child, format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_are_checked() {
        let m = json!({"type": "object", "properties": {"id": {"type": "string", "format": "uuid"}}});
        let doc = json!({"paths": {}, "components": {"schemas": {"M": m}}});
        let c = Contract::new(doc);
        let schema = json!({"$ref": "#/components/schemas/M"});
        assert!(c.validate("c", &schema, &json!({"id": 5})).is_err(), "refs resolve");
        assert!(c.validate("b", &json!({"type": "string", "format": "uuid"}), &json!("nope")).is_err(), "direct");
        assert!(c.validate("a", &schema, &json!({"id": "not-a-uuid"})).is_err(), "through a ref");
    }
}
