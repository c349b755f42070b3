//! Auth0's dialect in process: `/api/v2/connections...` and `/api/v2/keys/signing...` over the
//! real app, a temporary redb store and the aws-lc backend, with Auth0's error shape.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use serde_json::{Value, json};
use support::{ADMIN, CONNECTIONS_GET, KEYS, READ_ONLY, TestApp};

async fn create(app: &TestApp, name: &str, extra: Value) -> String {
    let mut body = json!({"name": name, "strategy": "samlp"});
    body.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    let created = app
        .a0("POST", "/api/v2/connections", ADMIN, Some(body))
        .await;
    assert_eq!(created.status, 201, "{}", created.text());
    let id = created.json()["id"].as_str().unwrap().to_owned();
    assert!(
        id.len() == 20
            && id.starts_with("con_")
            && id[4..].bytes().all(|b| b.is_ascii_alphanumeric()),
        "{id}"
    );
    id
}

fn with_flag<'a>(keys: &'a [Value], flag: &str) -> Vec<&'a Value> {
    keys.iter().filter(|k| k[flag] == true).collect()
}

// ---- authentication ----

#[actix_web::test]
async fn no_bearer_is_401_missing_authentication() {
    let app = TestApp::new().await;
    let reply = app.a0("GET", "/api/v2/connections", "", None).await;
    assert_eq!(reply.auth0_error(401), "missing_authentication");
}

#[actix_web::test]
async fn a_raw_key_without_bearer_is_401_missing_authentication() {
    let app = TestApp::new().await;
    let reply = app.fa("GET", "/api/v2/connections", ADMIN, None).await;
    assert_eq!(reply.auth0_error(401), "missing_authentication");
}

#[actix_web::test]
async fn a_wrong_token_is_401_invalid_token() {
    let app = TestApp::new().await;
    let reply = app.a0("GET", "/api/v2/connections", "nope", None).await;
    assert_eq!(reply.auth0_error(401), "invalid_token");
}

#[actix_web::test]
async fn a_key_without_the_scope_is_403_insufficient_scope() {
    let app = TestApp::new().await;
    let reply = app
        .a0(
            "POST",
            "/api/v2/connections",
            CONNECTIONS_GET,
            Some(json!({"name": "x", "strategy": "samlp"})),
        )
        .await;
    assert_eq!(reply.auth0_error(403), "insufficient_scope");
    assert!(
        reply.json()["message"]
            .as_str()
            .unwrap()
            .contains("connections:POST"),
        "{}",
        reply.text()
    );
    let other_family = app.a0("GET", "/api/v2/connections", KEYS, None).await;
    assert_eq!(other_family.auth0_error(403), "insufficient_scope");
    let allowed = app
        .a0("GET", "/api/v2/connections", CONNECTIONS_GET, None)
        .await;
    assert_eq!(allowed.status, 200, "{}", allowed.text());
}

#[actix_web::test]
async fn a_read_only_key_cannot_rotate_signing_keys() {
    let app = TestApp::new().await;
    let reply = app
        .a0("POST", "/api/v2/keys/signing/rotate", READ_ONLY, None)
        .await;
    assert_eq!(reply.auth0_error(403), "insufficient_scope");
}

// ---- connections: validation ----

#[actix_web::test]
async fn create_refuses_invalid_bodies() {
    let app = TestApp::new().await;
    for bad in [
        json!({"strategy": "samlp"}),
        json!({"name": "-bad", "strategy": "samlp"}),
        json!({"name": "ok"}),
        json!({"name": "ok", "strategy": "samlp", "surprise": 1}),
        json!({"name": "ok", "strategy": "samlp", "metadata": {"n": 1}}),
        json!({"name": "ok", "strategy": "samlp", "metadata": {"n": null}}),
    ] {
        let reply = app
            .a0("POST", "/api/v2/connections", ADMIN, Some(bad.clone()))
            .await;
        assert_eq!(reply.auth0_error(400), "invalid_body", "{bad}");
    }
}

#[actix_web::test]
async fn create_refuses_malformed_json() {
    let app = TestApp::new().await;
    let reply = app
        .send(
            support::request("POST", "/api/v2/connections")
                .insert_header(("Authorization", format!("Bearer {ADMIN}")))
                .insert_header(("Content-Type", "application/json"))
                .set_payload("{\"name\": "),
        )
        .await;
    assert_eq!(reply.auth0_error(400), "invalid_body");
}

#[actix_web::test]
async fn an_unknown_field_is_named_but_its_value_never_echoed() {
    let app = TestApp::new().await;
    let reply = app
        .a0(
            "POST",
            "/api/v2/connections",
            ADMIN,
            Some(json!({"name": "ok", "strategy": "samlp", "surprise": "s3cret-value"})),
        )
        .await;
    assert_eq!(reply.auth0_error(400), "invalid_body");
    assert!(reply.text().contains("surprise"), "{}", reply.text());
    assert!(!reply.text().contains("s3cret-value"), "{}", reply.text());
}

#[actix_web::test]
async fn secret_like_options_are_refused_without_their_value() {
    let app = TestApp::new().await;
    for bad in [
        json!({"name": "ok", "strategy": "oidc", "options": {"client_secret": "s3cret-value"}}),
        json!({"name": "ok", "strategy": "oidc", "options": {"a": {"signingPrivateKey": "s3cret-value"}}}),
    ] {
        let reply = app
            .a0("POST", "/api/v2/connections", ADMIN, Some(bad.clone()))
            .await;
        assert_eq!(reply.auth0_error(400), "invalid_body", "{bad}");
        assert!(!reply.text().contains("s3cret-value"), "{}", reply.text());
    }
}

#[actix_web::test]
async fn a_taken_name_is_409() {
    let app = TestApp::new().await;
    create(&app, "acme", json!({})).await;
    let reply = app
        .a0(
            "POST",
            "/api/v2/connections",
            ADMIN,
            Some(json!({"name": "acme", "strategy": "oidc"})),
        )
        .await;
    reply.auth0_error(409);
}

#[actix_web::test]
async fn an_unknown_connection_is_404_inexistent_connection() {
    let app = TestApp::new().await;
    for path in [
        "/api/v2/connections/con_AAAAAAAAAAAAAAAA",
        "/api/v2/connections/con_AAAAAAAAAAAAAAAA/keys",
        "/api/v2/connections/..%2F..%2Fetc/keys",
    ] {
        let reply = app.a0("GET", path, ADMIN, None).await;
        assert_eq!(reply.auth0_error(404), "inexistent_connection", "{path}");
    }
}

// ---- connections: happy paths ----

#[actix_web::test]
async fn create_get_update_delete() {
    let app = TestApp::new().await;
    let id = create(&app, "acme-saml", json!({"display_name": "Acme"})).await;
    let path = format!("/api/v2/connections/{id}");
    let got = app.a0("GET", &path, ADMIN, None).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.json()["display_name"], "Acme");
    assert_eq!(got.json()["realms"], json!(["acme-saml"]));
    let patched = app
        .a0(
            "PATCH",
            &path,
            ADMIN,
            Some(json!({"display_name": "Acme SSO", "metadata": {"team": "id"}})),
        )
        .await;
    assert_eq!(patched.status, 200, "{}", patched.text());
    assert_eq!(patched.json()["display_name"], "Acme SSO");
    assert_eq!(patched.json()["metadata"]["team"], "id");
    let deleted = app.a0("DELETE", &path, ADMIN, None).await;
    assert_eq!(deleted.status, 202, "{}", deleted.text());
    let gone = app.a0("GET", &path, ADMIN, None).await;
    assert_eq!(gone.auth0_error(404), "inexistent_connection");
}

#[actix_web::test]
async fn update_refuses_a_rename_and_a_blank_body() {
    let app = TestApp::new().await;
    let id = create(&app, "fixed", json!({})).await;
    let path = format!("/api/v2/connections/{id}");
    let rename = app
        .a0("PATCH", &path, ADMIN, Some(json!({"name": "other"})))
        .await;
    assert_eq!(rename.auth0_error(400), "invalid_body");
    let raw = |body: &'static str| {
        support::request("PATCH", &path)
            .insert_header(("Authorization", format!("Bearer {ADMIN}")))
            .insert_header(("Content-Type", "application/json"))
            .set_payload(body)
    };
    let blank = app.send(raw(" ")).await;
    assert_eq!(blank.auth0_error(400), "invalid_body");
    let empty = app.send(raw("")).await;
    assert_eq!(empty.status, 200, "{}", empty.text());
}

#[actix_web::test]
async fn list_pages_as_auth0_pages() {
    let app = TestApp::new().await;
    for n in 0..5 {
        create(&app, &format!("paged-{n}"), json!({})).await;
    }
    let mut seen = Vec::new();
    for (page, expected) in [(0, 2), (1, 2), (2, 1), (3, 0)] {
        let listed = app
            .a0(
                "GET",
                &format!("/api/v2/connections?include_totals=true&per_page=2&page={page}"),
                ADMIN,
                None,
            )
            .await;
        assert_eq!(listed.status, 200, "{}", listed.text());
        let body = listed.json();
        // Every object's keys in alphabetical order, connections included, as the body has
        // always been written (first with `json!`).
        assert_eq!(serde_json::to_vec(&body).unwrap(), listed.body);
        assert_eq!(body["total"], 5);
        assert_eq!(body["start"], page * 2);
        assert_eq!(body["limit"], 2);
        let names: Vec<String> = body["connections"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(names.len(), expected, "page {page}: {names:?}");
        seen.extend(names);
        let bare = app
            .a0(
                "GET",
                &format!("/api/v2/connections?per_page=2&page={page}"),
                ADMIN,
                None,
            )
            .await;
        assert_eq!(bare.json().as_array().map(Vec::len), Some(expected));
    }
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 5, "every connection on exactly one page");
}

#[actix_web::test]
async fn list_refuses_bad_and_unknown_parameters() {
    let app = TestApp::new().await;
    for bad in ["per_page=0", "per_page=101", "page=-1", "bogus=1"] {
        let reply = app
            .a0("GET", &format!("/api/v2/connections?{bad}"), ADMIN, None)
            .await;
        assert_eq!(reply.auth0_error(400), "invalid_query_string", "{bad}");
    }
}

// ---- connection keys ----

#[actix_web::test]
async fn provision_then_rotate() {
    let app = TestApp::new().await;
    let id = create(&app, "acme-saml", json!({})).await;
    let keys_path = format!("/api/v2/connections/{id}/keys");
    let none = app.a0("GET", &keys_path, ADMIN, None).await;
    assert_eq!(none.status, 200);
    assert_eq!(none.json(), json!([]));
    let provisioned = app
        .a0(
            "POST",
            &keys_path,
            ADMIN,
            Some(json!({"signing_alg": "ES256"})),
        )
        .await;
    assert_eq!(provisioned.status, 201, "{}", provisioned.text());
    assert_eq!(provisioned.json().as_array().unwrap().len(), 2);
    let keys = app.a0("GET", &keys_path, ADMIN, None).await.json();
    let keys = keys.as_array().unwrap().clone();
    assert_eq!(keys.len(), 2);
    let current = with_flag(&keys, "current")[0].clone();
    let next = with_flag(&keys, "next")[0].clone();
    for key in &keys {
        assert_eq!(key["algorithm"], "ES256");
        assert_eq!(key["key_use"], "signing");
        assert_eq!(key["subject_dn"], "CN=acme-saml");
        assert!(!key.to_string().contains("PRIVATE KEY"));
    }
    let rotated = app
        .a0(
            "POST",
            &format!("{keys_path}/rotate"),
            ADMIN,
            Some(json!({"signing_alg": "ES384"})),
        )
        .await;
    assert_eq!(rotated.status, 201, "{}", rotated.text());
    let new_next = rotated.json();
    assert_eq!(new_next["algorithm"], "ES384");
    let keys = app.a0("GET", &keys_path, ADMIN, None).await.json();
    let keys = keys.as_array().unwrap().clone();
    assert_eq!(keys.len(), 3);
    assert_eq!(with_flag(&keys, "current")[0]["kid"], next["kid"]);
    assert_eq!(with_flag(&keys, "previous")[0]["kid"], current["kid"]);
    assert_eq!(with_flag(&keys, "next")[0]["kid"], new_next["kid"]);
}

#[actix_web::test]
async fn provisioning_twice_is_409() {
    let app = TestApp::new().await;
    let id = create(&app, "twice", json!({})).await;
    let path = format!("/api/v2/connections/{id}/keys");
    let first = app
        .a0("POST", &path, ADMIN, Some(json!({"signing_alg": "ES256"})))
        .await;
    assert_eq!(first.status, 201, "{}", first.text());
    let again = app
        .a0("POST", &path, ADMIN, Some(json!({"signing_alg": "ES256"})))
        .await;
    again.auth0_error(409);
}

#[actix_web::test]
async fn provision_refuses_an_unsupported_algorithm() {
    let app = TestApp::new().await;
    let id = create(&app, "algs", json!({})).await;
    let path = format!("/api/v2/connections/{id}/keys");
    for bad in [
        json!({"signing_alg": "HS256"}),
        json!({"signing_alg": "PS512"}),
    ] {
        let reply = app.a0("POST", &path, ADMIN, Some(bad.clone())).await;
        assert_eq!(reply.auth0_error(400), "invalid_body", "{bad}");
    }
    let keys = app.a0("GET", &path, ADMIN, None).await;
    assert_eq!(keys.json(), json!([]), "nothing was provisioned");
}

#[actix_web::test]
async fn rotating_before_provisioning_is_400() {
    let app = TestApp::new().await;
    let id = create(&app, "early", json!({})).await;
    let reply = app
        .a0(
            "POST",
            &format!("/api/v2/connections/{id}/keys/rotate"),
            ADMIN,
            None,
        )
        .await;
    reply.auth0_error(400);
}

#[actix_web::test]
async fn key_generation_is_rate_limited_with_retry_after() {
    let app = TestApp::with(support::Options {
        limits: keysmith_api::middleware::limits::Limits::new(2, 2, 2, 4),
        ..support::Options::default()
    })
    .await;
    let id = create(&app, "limited", json!({})).await;
    let path = format!("/api/v2/connections/{id}/keys");
    let provisioned = app
        .a0("POST", &path, ADMIN, Some(json!({"signing_alg": "ES256"})))
        .await;
    assert_eq!(provisioned.status, 201, "{}", provisioned.text());
    let rotated = app.a0("POST", &format!("{path}/rotate"), ADMIN, None).await;
    assert_eq!(rotated.status, 201, "{}", rotated.text());
    let limited = app.a0("POST", &format!("{path}/rotate"), ADMIN, None).await;
    assert_eq!(limited.auth0_error(429), "too_many_requests");
    let wait: u64 = limited.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=30).contains(&wait), "{wait}");
    let keys = app.a0("GET", &path, ADMIN, None).await.json();
    assert_eq!(
        keys.as_array().unwrap().len(),
        3,
        "reads are not limited, and the refused rotation changed nothing"
    );
}

// ---- tenant signing keys ----

#[actix_web::test]
async fn signing_keys_list_get_rotate_revoke() {
    let app = TestApp::new().await;
    let listed = app.a0("GET", "/api/v2/keys/signing", ADMIN, None).await;
    assert_eq!(listed.status, 200, "{}", listed.text());
    let keys = listed.json().as_array().unwrap().clone();
    assert_eq!(keys.len(), 2, "current and next, created on first use");
    let first = with_flag(&keys, "current")[0].clone();
    let second = with_flag(&keys, "next")[0].clone();
    for key in &keys {
        assert_eq!(key["revoked"], false);
    }
    let one = app
        .a0(
            "GET",
            &format!("/api/v2/keys/signing/{}", first["kid"].as_str().unwrap()),
            ADMIN,
            None,
        )
        .await;
    assert_eq!(one.status, 200);
    assert_eq!(one.json()["kid"], first["kid"]);

    let rotated = app
        .a0("POST", "/api/v2/keys/signing/rotate", ADMIN, None)
        .await;
    assert_eq!(rotated.status, 201, "{}", rotated.text());
    let third = rotated.json();
    assert_eq!(third.as_object().unwrap().len(), 2, "{{cert, kid}}");
    let keys = app
        .a0("GET", "/api/v2/keys/signing", ADMIN, None)
        .await
        .json();
    let keys = keys.as_array().unwrap().clone();
    assert_eq!(with_flag(&keys, "current")[0]["kid"], second["kid"]);
    assert_eq!(with_flag(&keys, "next")[0]["kid"], third["kid"]);
    assert_eq!(with_flag(&keys, "previous")[0]["kid"], first["kid"]);

    for kid in [&second["kid"], &third["kid"]] {
        let refused = app
            .a0(
                "PUT",
                &format!("/api/v2/keys/signing/{}/revoke", kid.as_str().unwrap()),
                ADMIN,
                None,
            )
            .await;
        assert_eq!(refused.auth0_error(400), "operation_not_allowed");
    }
    let revoked = app
        .a0(
            "PUT",
            &format!(
                "/api/v2/keys/signing/{}/revoke",
                first["kid"].as_str().unwrap()
            ),
            ADMIN,
            None,
        )
        .await;
    assert_eq!(revoked.status, 200, "{}", revoked.text());
    let jwks = app.fa("GET", "/.well-known/jwks.json", "", None).await;
    assert!(!jwks.text().contains(first["kid"].as_str().unwrap()));
}

#[actix_web::test]
async fn an_unknown_signing_key_is_404() {
    let app = TestApp::new().await;
    let reply = app
        .a0("GET", "/api/v2/keys/signing/nope", ADMIN, None)
        .await;
    reply.auth0_error(404);
}

// ---- scoped JWKS ----

fn jwks_kids(reply: &support::Reply) -> Vec<String> {
    assert_eq!(reply.status, 200, "{}", reply.text());
    reply.json()["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

fn ring_kids(keys: &Value, flags: &[&str]) -> Vec<String> {
    let keys = keys.as_array().unwrap();
    flags
        .iter()
        .flat_map(|flag| with_flag(keys, flag))
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

/// `/.well-known/jwks/signing-keys` and `/.well-known/jwks/connections/{id}` serve one ring
/// each (current, next, previous; never a revoked key nor another ring's), anonymously, with a
/// content ETag that changes when the ring does.
#[actix_web::test]
async fn scoped_jwks_serve_one_ring_each() {
    let app = TestApp::new().await;
    let tenant_path = "/.well-known/jwks/signing-keys";
    let empty = app.fa("GET", tenant_path, "", None).await;
    assert_eq!(
        jwks_kids(&empty),
        Vec::<String>::new(),
        "no ring before its first use"
    );

    let tenant = app
        .a0("GET", "/api/v2/keys/signing", ADMIN, None)
        .await
        .json();
    let tenant_kids = ring_kids(&tenant, &["current", "next"]);
    let served = app.fa("GET", tenant_path, "", None).await;
    assert_eq!(jwks_kids(&served), tenant_kids);
    let etag = served.header("etag").unwrap().to_owned();
    assert!(
        served
            .header("cache-control")
            .unwrap()
            .starts_with("public, max-age=")
    );
    let again = app.fa("GET", tenant_path, "", None).await;
    assert_eq!(again.header("etag").unwrap(), etag, "same keys, same ETag");
    let unchanged = app
        .send(support::request("GET", tenant_path).insert_header(("If-None-Match", etag.as_str())))
        .await;
    assert_eq!(unchanged.status, 304);

    let id = create(&app, "scoped", json!({})).await;
    let connection_path = format!("/.well-known/jwks/connections/{id}");
    let before = app.fa("GET", &connection_path, "", None).await;
    assert_eq!(
        jwks_kids(&before),
        Vec::<String>::new(),
        "no keys before provisioning"
    );
    let keys_path = format!("/api/v2/connections/{id}/keys");
    let provisioned = app
        .a0(
            "POST",
            &keys_path,
            ADMIN,
            Some(json!({"signing_alg": "ES256"})),
        )
        .await;
    assert_eq!(provisioned.status, 201, "{}", provisioned.text());
    let keys = app.a0("GET", &keys_path, ADMIN, None).await.json();
    let served = app.fa("GET", &connection_path, "", None).await;
    let connection_kids = jwks_kids(&served);
    assert_eq!(connection_kids, ring_kids(&keys, &["current", "next"]));
    assert!(connection_kids.iter().all(|kid| !tenant_kids.contains(kid)));
    assert_eq!(
        jwks_kids(&app.fa("GET", tenant_path, "", None).await),
        tenant_kids
    );
    for key in served.json()["keys"].as_array().unwrap() {
        assert_eq!(
            (key["kty"].as_str(), key["alg"].as_str()),
            (Some("EC"), Some("ES256"))
        );
        assert!(key.get("d").is_none(), "public members only");
    }

    // A rotation changes the set and its ETag: previous, current and next are served.
    let etag = served.header("etag").unwrap().to_owned();
    let rotated = app
        .a0("POST", &format!("{keys_path}/rotate"), ADMIN, None)
        .await;
    assert_eq!(rotated.status, 201, "{}", rotated.text());
    let keys = app.a0("GET", &keys_path, ADMIN, None).await.json();
    let served = app.fa("GET", &connection_path, "", None).await;
    assert_eq!(
        jwks_kids(&served),
        ring_kids(&keys, &["current", "next", "previous"])
    );
    assert_ne!(served.header("etag").unwrap(), etag);

    // A revoked tenant key leaves the scoped JWKS as it leaves the global one.
    let rotated = app
        .a0("POST", "/api/v2/keys/signing/rotate", ADMIN, None)
        .await;
    assert_eq!(rotated.status, 201, "{}", rotated.text());
    let revoke = format!("/api/v2/keys/signing/{}/revoke", tenant_kids[0]);
    assert_eq!(app.a0("PUT", &revoke, ADMIN, None).await.status, 200);
    let tenant = app
        .a0("GET", "/api/v2/keys/signing", ADMIN, None)
        .await
        .json();
    let served = jwks_kids(&app.fa("GET", tenant_path, "", None).await);
    assert_eq!(served, ring_kids(&tenant, &["current", "next", "previous"]));
    assert!(!served.contains(&tenant_kids[0]));

    let unknown = app
        .fa(
            "GET",
            "/.well-known/jwks/connections/con_AAAAAAAAAAAAAAAA",
            "",
            None,
        )
        .await;
    assert_eq!(unknown.status, 404);
    assert!(unknown.text().is_empty(), "{}", unknown.text());
}
