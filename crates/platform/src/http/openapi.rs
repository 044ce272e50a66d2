//! The OpenAPI 3.1 document: the base (info, security scheme, shared schemas) plus every
//! module's annotated routes, with the problem answers every route can give added to each
//! operation so clients and schema checkers know their shape.

use crate::error::{FieldError, Problem};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi as Document, Ref, ResponseBuilder};
use utoipa::{Modify, OpenApi};

/// The base document.
#[derive(OpenApi)]
#[openapi(
    info(title = "ferrobase", description = "One backend for accounts, chat, work, ticketing, freelance and studio apps."),
    components(schemas(Problem, FieldError)),
    modifiers(&BearerAuth)
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, doc: &mut Document) {
        if let Some(components) = doc.components.as_mut() {
            components.add_security_scheme("bearer", SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)));
            components.add_security_scheme("metrics_token", SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)));
        }
    }
}

/// The document as served, rendered once: held as a structure it took about 4 MiB of every
/// instance's memory for a route that is rarely read, and was serialised again on each read.
pub(super) fn render(doc: Document) -> bytes::Bytes {
    match serde_json::to_vec(&doc) {
        Ok(json) => json.into(),
        Err(e) => {
            // Unreachable with utoipa's types (every map key is a string); say so if it happens.
            tracing::error!(error = %e, "the OpenAPI document could not be rendered");
            bytes::Bytes::from_static(b"{}")
        }
    }
}

pub(super) fn base() -> Document {
    ApiDoc::openapi()
}

const COMMON: &[(&str, &str)] = &[
    ("400", "Malformed request (bad JSON, bad query)."),
    ("401", "Missing, invalid or revoked credentials."),
    ("404", "No such resource, or not yours."),
    ("405", "Method not allowed."),
    ("413", "Body too large."),
    ("415", "Wrong content type."),
    ("422", "Invalid fields."),
    ("429", "Rate limited; see Retry-After."),
    ("500", "Internal error."),
    ("503", "A service we depend on (the database) is briefly unreachable; see Retry-After."),
];

/// Adds the common problem answers to every operation that does not document them itself, and
/// labels every error answer `application/problem+json`.
pub(super) fn finish(mut doc: Document) -> Document {
    for item in doc.paths.paths.values_mut() {
        if let Some(post) = item.post.as_mut()
            && post.security.as_ref().is_some_and(|s| !s.is_empty())
        {
            post.parameters.get_or_insert_with(Vec::new).push(idempotency_key().into());
            post.responses.responses.entry("409".to_string()).or_insert_with(|| {
                ResponseBuilder::new()
                    .description("Conflict (for example a request with this Idempotency-Key still running).")
                    .content(
                        "application/problem+json",
                        ContentBuilder::new().schema(Some(Ref::from_schema_name("Problem"))).build(),
                    )
                    .build()
                    .into()
            });
        }
        let ops = [&mut item.get, &mut item.post, &mut item.put, &mut item.patch, &mut item.delete];
        for op in ops.into_iter().flatten() {
            // Error answers documented with the Problem schema are problem documents, whatever
            // content type the annotation assumed.
            for (status, response) in op.responses.responses.iter_mut() {
                if let (true, utoipa::openapi::RefOr::T(response)) = (status.starts_with(['4', '5']), response)
                    && response.content.get("application/json").is_some_and(is_problem)
                    && let Some(content) = response.content.shift_remove("application/json")
                {
                    response.content.insert("application/problem+json".to_string(), content);
                }
            }
            for (status, description) in COMMON {
                op.responses.responses.entry((*status).to_string()).or_insert_with(|| {
                    ResponseBuilder::new()
                        .description(*description)
                        .content(
                            "application/problem+json",
                            ContentBuilder::new().schema(Some(Ref::from_schema_name("Problem"))).build(),
                        )
                        .build()
                        .into()
                });
            }
        }
    }
    doc
}

/// The optional `Idempotency-Key` header of signed-in POSTs (see `crate::idempotency`).
fn idempotency_key() -> utoipa::openapi::path::Parameter {
    use utoipa::openapi::path::{ParameterBuilder, ParameterIn};
    use utoipa::openapi::{ObjectBuilder, Required, Type};
    ParameterBuilder::new()
        .name("Idempotency-Key")
        .parameter_in(ParameterIn::Header)
        .required(Required::False)
        .description(Some(
            "Repeat this POST safely: within 24 hours the same key and request get the first answer again \
             (marked `Idempotent-Replayed: true`); the same key with another request answers 422 \
             `idempotency_key_reused`.",
        ))
        .schema(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .min_length(Some(1))
                .max_length(Some(255))
                .pattern(Some("^[!-~]+$")),
        ))
        .build()
}

fn is_problem(content: &utoipa::openapi::RefOr<utoipa::openapi::Content>) -> bool {
    use utoipa::openapi::RefOr;
    matches!(content, RefOr::T(c) if matches!(&c.schema, Some(RefOr::Ref(r)) if r.ref_location.ends_with("/Problem")))
}
