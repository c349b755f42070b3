//! The OpenAPI 3.1 document, served at `GET /api/openapi.json`, and route registration.
//!
//! Invariant: every route is registered through [`Registrar::add`], which takes the path and
//! methods from the handler's `#[utoipa::path]` entry, so no route exists without an entry and
//! a route cannot be served at another path than the one documented. [`ApiDoc`] lists the
//! entries; the tests below fail when that list and the registered routes differ.

use std::sync::OnceLock;

use actix_web::HttpResponse;
use utoipa::OpenApi;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};

use crate::routing::{Registrar, RouteSpec};

pub(crate) fn configure(routes: &mut impl Registrar) {
    routes.add::<__path_document, _, _>(RouteSpec::anonymous(), document);
}

/// This document.
#[utoipa::path(
    get, path = "/api/openapi.json", tag = "system", operation_id = "openapi", security(()),
    responses((
        status = 200,
        description = "The OpenAPI 3.1 document.",
        content_type = "application/json",
        body = Object
    ))
)]
async fn document() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(document_json())
}

/// The document as JSON, built once.
pub fn document_json() -> &'static str {
    static JSON: OnceLock<String> = OnceLock::new();
    JSON.get_or_init(|| ApiDoc::openapi().to_json().unwrap_or_default())
}

/// Every operation Keysmith serves.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Keysmith",
        description = "A self-hosted key server, wire-compatible with FusionAuth's Keys API and \
            Auth0's connection-key and signing-key endpoints. FusionAuth routes take the raw API \
            key in `Authorization`; `/api/v2` routes take `Authorization: Bearer <api key>`.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    paths(
        crate::system::status::status,
        crate::fusionauth::keys::list,
        crate::fusionauth::search::search_by_query,
        crate::fusionauth::search::search_by_body,
        crate::fusionauth::keys::generate,
        crate::fusionauth::keys::generate_with_id,
        crate::fusionauth::keys::import,
        crate::fusionauth::keys::import_with_id,
        crate::fusionauth::keys::deleted,
        crate::fusionauth::keys::restore,
        crate::fusionauth::keys::sign,
        crate::fusionauth::keys::verify,
        crate::fusionauth::keys::retrieve,
        crate::fusionauth::keys::update,
        crate::fusionauth::keys::delete,
        crate::fusionauth::jwt::jwks,
        crate::fusionauth::jwt::tenant_jwks,
        crate::fusionauth::jwt::connection_jwks,
        crate::fusionauth::jwt::issuer_jwks,
        crate::fusionauth::jwt::public_key,
        crate::fusionauth::jwt::vend,
        crate::fusionauth::jwt::validate,
        crate::auth0::connections::list_connections,
        crate::auth0::connections::create_connection,
        crate::auth0::connections::get_connection,
        crate::auth0::connections::update_connection,
        crate::auth0::connections::delete_connection,
        crate::auth0::connection_keys::connection_keys,
        crate::auth0::connection_keys::provision_connection_keys,
        crate::auth0::connection_keys::rotate_connection_keys,
        crate::auth0::signing_keys::signing_keys,
        crate::auth0::signing_keys::rotate_signing_keys,
        crate::auth0::signing_keys::signing_key,
        crate::auth0::signing_keys::revoke_signing_key,
        crate::system::audit::search_by_query,
        crate::system::audit::search_by_body,
        crate::system::backup::backup,
        crate::system::metrics::metrics,
        crate::system::admin::redirect,
        crate::system::admin::page,
        crate::system::admin::script,
        crate::system::admin::style,
        crate::system::admin::settings,
        document,
    ),
    // Named by the `IntoResponses` of `Auth0Error`, which cannot register it.
    components(schemas(crate::auth0::error::Auth0ErrorBody)),
    modifiers(&SecuritySchemes, &RouteSecurity, &NewKeyLinks),
    tags(
        (name = "keys", description = "FusionAuth's Keys API."),
        (name = "jwt", description = "FusionAuth's JWT routes: JWKS, public keys, vend, validate."),
        (name = "connections", description = "Auth0's connections and connection keys."),
        (name = "signing-keys", description = "Auth0's tenant signing keys."),
        (name = "system", description = "Health, audit log, backup, metrics, this document."),
        (name = "admin", description = "The Key Master web page."),
    )
)]
#[derive(Debug)]
pub struct ApiDoc;

/// The two ways to present an API key.
struct SecuritySchemes;

impl utoipa::Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            API_KEY,
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "Authorization",
                "The API key itself, as FusionAuth's clients send it.",
            ))),
        );
        components.add_security_scheme(
            BEARER,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An API key as a bearer token, as Auth0's SDKs send it.",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            JWT,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some("The token to validate (not an API key)."))
                    .build(),
            ),
        );
    }
}

/// Each operation's security requirement, declared once: from the route table, as the
/// permission check reads it. FusionAuth's API key, Auth0's bearer key, or (for `/metrics`)
/// either none or an API key, as `metrics_anonymous` decides. Anonymous operations keep what
/// their entry says: `security(())`, or the token `validate` checks.
///
/// Written on each operation rather than as the document's default: readers of the document
/// (the e2e permission test among them) take an operation without `security` for anonymous.
struct RouteSecurity;

impl utoipa::Modify for RouteSecurity {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use crate::routing::{Access, Dialect};
        use utoipa::openapi::security::SecurityRequirement;
        for route in crate::routing::RouteList::all().0 {
            let Some(item) = openapi.paths.paths.get_mut(&route.path) else {
                continue;
            };
            let operation = match route.method.as_str() {
                "GET" => item.get.as_mut(),
                "POST" => item.post.as_mut(),
                "PUT" => item.put.as_mut(),
                "PATCH" => item.patch.as_mut(),
                "DELETE" => item.delete.as_mut(),
                _ => None,
            };
            let Some(operation) = operation else {
                continue;
            };
            let scheme = match route.spec.dialect {
                Dialect::FusionAuth => API_KEY,
                Dialect::Auth0 => BEARER,
            };
            let key = SecurityRequirement::new(scheme, Vec::<String>::new());
            operation.security = match route.spec.access {
                Access::Anonymous => continue,
                Access::Family(_) | Access::AdminOnly => Some(vec![key]),
                Access::Scrape => Some(vec![SecurityRequirement::default(), key]),
            };
        }
    }
}

/// Links from each answer that creates a key to the operations on that key, so clients and
/// fuzzers (schemathesis' stateful phase) can follow them.
struct NewKeyLinks;

impl utoipa::Modify for NewKeyLinks {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{RefOr, link::LinkBuilder};
        const CREATES_A_KEY: [&str; 4] = [
            "generateKey",
            "generateKeyWithId",
            "importKey",
            "importKeyWithId",
        ];
        const ON_A_KEY: [&str; 5] = [
            "retrieveKey",
            "updateKey",
            "signWithKey",
            "verifyWithKey",
            "deleteKey",
        ];
        for item in openapi.paths.paths.values_mut() {
            let Some(operation) = item.post.as_mut() else {
                continue;
            };
            if !operation
                .operation_id
                .as_deref()
                .is_some_and(|id| CREATES_A_KEY.contains(&id))
            {
                continue;
            }
            if let Some(RefOr::T(created)) = operation.responses.responses.get_mut("200") {
                for target in ON_A_KEY {
                    let link = LinkBuilder::new()
                        .operation_id(target)
                        .parameter("id", "$response.body#/key/id")
                        .build();
                    created.links.insert(target.to_owned(), RefOr::T(link));
                }
            }
        }
    }
}

/// The security scheme of FusionAuth's routes.
pub(crate) const API_KEY: &str = "apiKey";
/// The security scheme of Auth0's routes.
pub(crate) const BEARER: &str = "bearer";
/// `GET /api/jwt/validate`: the token itself.
pub(crate) const JWT: &str = "jwt";

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    fn documented() -> BTreeSet<(String, String)> {
        let doc: serde_json::Value =
            serde_json::from_str(document_json()).expect("the document is JSON");
        let mut operations = BTreeSet::new();
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for method in item.as_object().expect("path item").keys() {
                if [
                    "get", "post", "put", "patch", "delete", "head", "options", "trace",
                ]
                .contains(&method.as_str())
                {
                    operations.insert((method.to_uppercase(), path.clone()));
                }
            }
        }
        operations
    }

    #[test]
    fn every_route_has_an_entry_and_every_entry_a_route() {
        let routes = crate::routing::RouteList::all();
        let registered: BTreeSet<_> = routes
            .0
            .iter()
            .map(|r| (r.method.clone(), r.path.clone()))
            .collect();
        assert_eq!(
            registered.len(),
            routes.0.len(),
            "a route is registered twice"
        );
        let documented = documented();
        let undocumented: Vec<_> = registered.difference(&documented).collect();
        let unrouted: Vec<_> = documented.difference(&registered).collect();
        assert!(
            undocumented.is_empty() && unrouted.is_empty(),
            "routes without an OpenAPI entry: {undocumented:?}; entries without a route: {unrouted:?}"
        );
        assert!(documented.len() >= 40, "{documented:?}");
    }

    #[test]
    fn the_document_is_openapi_3_1_with_resolvable_references() {
        let doc: serde_json::Value = serde_json::from_str(document_json()).expect("JSON");
        assert_eq!(doc["openapi"], "3.1.0");
        let schemas = doc["components"]["schemas"].as_object().expect("schemas");
        let responses = doc["components"]["responses"].as_object();
        let mut refs = Vec::new();
        collect_refs(&doc, &mut refs);
        assert!(!refs.is_empty());
        for reference in refs {
            let resolved = match reference.strip_prefix("#/components/schemas/") {
                Some(name) => schemas.contains_key(name),
                None => reference
                    .strip_prefix("#/components/responses/")
                    .is_some_and(|name| responses.is_some_and(|r| r.contains_key(name))),
            };
            assert!(resolved, "unresolved $ref {reference}");
        }
        // Every link names an operation that exists; each key-creating answer links to the
        // operations on the new key.
        let ids: BTreeSet<&str> = doc["paths"]
            .as_object()
            .expect("paths")
            .values()
            .flat_map(|item| item.as_object().expect("item").values())
            .filter_map(|operation| operation.get("operationId").and_then(|v| v.as_str()))
            .collect();
        let mut links = 0;
        for item in doc["paths"].as_object().expect("paths").values() {
            for operation in item.as_object().expect("item").values() {
                for response in operation["responses"].as_object().into_iter().flatten() {
                    for link in response.1["links"].as_object().into_iter().flatten() {
                        let target = link.1["operationId"].as_str().expect("operationId");
                        assert!(ids.contains(target), "link to unknown operation {target}");
                        links += 1;
                    }
                }
            }
        }
        assert_eq!(
            doc["paths"]["/api/key/generate"]["post"]["responses"]["200"]["links"]
                .as_object()
                .map(|l| l.len()),
            Some(5)
        );
        // 4 × 5 key links, 6 from a new connection, 2 from a rotated signing key, 1 restore.
        assert_eq!(links, 29, "links");

        // Operation ids are unique (clients generate method names from them).
        let mut ids = BTreeSet::new();
        for item in doc["paths"].as_object().expect("paths").values() {
            for operation in item.as_object().expect("item").values() {
                if let Some(id) = operation.get("operationId").and_then(|v| v.as_str()) {
                    assert!(ids.insert(id.to_owned()), "operationId {id} is used twice");
                }
            }
        }
    }

    /// Each operation asks for the credential its route's permission check wants: anonymous
    /// routes for no API key, keyed ones for exactly their dialect's.
    #[test]
    fn each_operation_asks_for_the_key_its_route_checks() {
        use crate::routing::{Access, Dialect, RouteList};
        let doc: serde_json::Value = serde_json::from_str(document_json()).expect("JSON");
        assert!(doc.get("security").is_none(), "no document-wide default");
        for route in RouteList::all().0 {
            let operation = &doc["paths"][&route.path][route.method.to_lowercase()];
            let security = &operation["security"];
            let expected = match (route.spec.access, route.spec.dialect) {
                (Access::Anonymous, _) => {
                    let schemes: Vec<&String> = security
                        .as_array()
                        .into_iter()
                        .flatten()
                        .flat_map(|r| r.as_object().expect("requirement").keys())
                        .collect();
                    assert!(
                        schemes.iter().all(|s| *s != API_KEY && *s != BEARER),
                        "{} {} is anonymous but asks for {schemes:?}",
                        route.method,
                        route.path
                    );
                    continue;
                }
                (Access::Scrape, _) => serde_json::json!([{}, {API_KEY: []}]),
                (_, Dialect::FusionAuth) => serde_json::json!([{API_KEY: []}]),
                (_, Dialect::Auth0) => serde_json::json!([{BEARER: []}]),
            };
            assert_eq!(security, &expected, "{} {}", route.method, route.path);
        }
    }

    fn collect_refs(value: &serde_json::Value, out: &mut Vec<String>) {
        match value {
            serde_json::Value::Object(map) => {
                for (k, v) in map {
                    if k == "$ref" {
                        if let Some(s) = v.as_str() {
                            out.push(s.to_owned());
                        }
                    } else {
                        collect_refs(v, out);
                    }
                }
            }
            serde_json::Value::Array(items) => items.iter().for_each(|v| collect_refs(v, out)),
            _ => {}
        }
    }
}
