//! Every keyed route × {no key, wrong key, each single `family:method` key, admin}, in
//! process: a key passes exactly where its family and method match, and each dialect refuses
//! in its own way (FusionAuth: empty 401; Auth0: 401 `missing_authentication` /
//! `invalid_token`, 403 `insufficient_scope`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use keysmith_model::Family;
use keysmith_model::permissions::METHODS;
use support::{ADMIN, Options, TestApp};

const NO_SUCH_ID: &str = "00000000-0000-4000-8000-000000000000";

#[path = "../../../tests/permission_matrix.rs"]
mod permission_matrix;

/// The keyed rows of the permission matrix: (method, path template, family).
fn routes() -> Vec<(&'static str, &'static str, &'static str)> {
    permission_matrix::keyed()
}

/// Every family a permission can name, from the model's own list (as is `METHODS`).
fn families() -> impl Iterator<Item = &'static str> {
    Family::NAMED.into_iter().map(Family::as_str)
}

fn scoped_key(family: &str, method: &str) -> String {
    format!("scoped-{family}-{method}-0123456789abcdef")
}

async fn matrix_app() -> TestApp {
    let mut extra_keys = Vec::new();
    for family in families() {
        for method in METHODS {
            extra_keys.push((
                scoped_key(family, method),
                vec![format!("{family}:{method}")],
            ));
        }
    }
    TestApp::with(Options {
        extra_keys,
        ..Options::default()
    })
    .await
}

/// The request: an invalid JSON body, so a call that passes the check changes nothing.
fn call(method: &str, path: &str, authorization: Option<String>) -> actix_web::test::TestRequest {
    let mut request = support::request(method, path)
        .insert_header(("Content-Type", "application/json"))
        .set_payload("{");
    if let Some(value) = authorization {
        request = request.insert_header(("Authorization", value));
    }
    request
}

fn path_of(template: &str) -> String {
    template
        .replace(
            "{id}",
            if template.contains("connections") {
                "con_AAAAAAAAAAAAAAAA"
            } else {
                NO_SUCH_ID
            },
        )
        .replace("{kid}", "no-such-kid")
        .replace("{issuer}", "no-such-issuer.example")
}

#[actix_web::test]
async fn every_keyed_route_refuses_no_key_and_a_wrong_key_in_its_dialect() {
    let app = matrix_app().await;
    for &(method, template, _) in &routes() {
        let path = path_of(template);
        let auth0 = template.starts_with("/api/v2");
        let anonymous = app.send(call(method, &path, None)).await;
        let wrong = app
            .send(call(
                method,
                &path,
                Some(if auth0 {
                    "Bearer wrong-key".into()
                } else {
                    "wrong-key".into()
                }),
            ))
            .await;
        if auth0 {
            assert_eq!(
                anonymous.auth0_error(401),
                "missing_authentication",
                "{method} {template}"
            );
            assert_eq!(
                wrong.auth0_error(401),
                "invalid_token",
                "{method} {template}"
            );
        } else {
            for reply in [&anonymous, &wrong] {
                assert_eq!(
                    (reply.status, reply.body.len()),
                    (401, 0),
                    "{method} {template}: {}",
                    reply.text()
                );
            }
        }
    }
}

#[actix_web::test]
async fn each_scoped_key_passes_exactly_its_family_and_method() {
    let app = matrix_app().await;
    let mut wrong = Vec::new();
    for &(method, template, route_family) in &routes() {
        let path = path_of(template);
        let auth0 = template.starts_with("/api/v2");
        let header = |key: &str| {
            if auth0 {
                format!("Bearer {key}")
            } else {
                key.to_owned()
            }
        };
        for family in families() {
            for granted in METHODS {
                let reply = app
                    .send(call(
                        method,
                        &path,
                        Some(header(&scoped_key(family, granted))),
                    ))
                    .await;
                let allowed = family == route_family && granted == method;
                let refused = match (auth0, reply.status) {
                    (false, 401) => reply.body.is_empty(),
                    (true, 403) => reply.auth0_error(403) == "insufficient_scope",
                    _ => false,
                };
                if allowed == refused {
                    wrong.push(format!(
                        "{method} {template} with {family}:{granted}: {} {}",
                        reply.status,
                        reply.text()
                    ));
                }
            }
        }
        if route_family != "*" {
            let admin = app.send(call(method, &path, Some(header(ADMIN)))).await;
            assert!(
                ![401, 403].contains(&admin.status),
                "{method} {template} refused the admin key: {}",
                admin.text()
            );
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

/// The matrix names exactly the routes of the route table, each with the access the table
/// declares (a key or none): a route added without its row (or a row left behind by a removed
/// route) fails here.
#[test]
fn the_matrix_covers_every_route_of_the_route_table() {
    use keysmith_api::routing::{Access, RouteList};
    let mut declared: Vec<(String, String, bool)> = RouteList::all()
        .0
        .into_iter()
        .map(|route| {
            (
                route.method,
                route.path,
                route.spec.access == Access::Anonymous,
            )
        })
        .collect();
    let mut listed: Vec<(String, String, bool)> = permission_matrix::rows()
        .iter()
        .map(|&(method, path, family)| {
            (
                method.to_owned(),
                path.to_owned(),
                family == permission_matrix::ANONYMOUS,
            )
        })
        .collect();
    declared.sort();
    listed.sort();
    assert_eq!(declared, listed);
}

/// The anonymous rows answer without a key, and are not refused with a wrong one.
#[actix_web::test]
async fn anonymous_routes_need_no_key() {
    let app = matrix_app().await;
    // Validation reads the token from `Authorization` and answers 401 for a missing or bad one
    // (FusionAuth's contract): its anonymity is shown by the token tests, where a vended token
    // validates with no API key.
    for (method, template) in permission_matrix::anonymous() {
        if template == "/api/jwt/validate" {
            continue;
        }
        let path = path_of(template);
        for authorization in [None, Some("wrong-key".to_owned())] {
            let reply = app.send(call(method, &path, authorization.clone())).await;
            assert!(
                ![401, 403].contains(&reply.status),
                "{method} {template} with {authorization:?}: {} {}",
                reply.status,
                reply.text()
            );
        }
    }
}
