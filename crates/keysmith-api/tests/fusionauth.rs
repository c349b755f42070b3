//! FusionAuth's dialect in process: `/api/key...` and `/api/jwt/...` over the real app, a
//! temporary redb store and the aws-lc backend. Statuses and Errors JSON as the e2e tests
//! expect of the binary.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use serde_json::{Value, json};
use support::{ADMIN, KEYS, READ_ONLY, SIGNER, TestApp};

const NO_SUCH_ID: &str = "00000000-0000-4000-8000-000000000000";

fn id_of(key: &Value) -> String {
    key["id"].as_str().expect("id").to_owned()
}

// ---- authentication ----

#[actix_web::test]
async fn no_authorization_is_401_with_an_empty_body() {
    let app = TestApp::new().await;
    for (method, path) in [
        ("GET", "/api/key"),
        ("GET", "/api/key/780e1d5b-ee3b-43b2-aec8-db99b99adc4e"),
        ("POST", "/api/key/generate"),
        ("PUT", "/api/key/780e1d5b-ee3b-43b2-aec8-db99b99adc4e"),
        ("DELETE", "/api/key/780e1d5b-ee3b-43b2-aec8-db99b99adc4e"),
        ("POST", "/api/key/search"),
        ("POST", "/api/jwt/vend"),
    ] {
        let reply = app.raw(method, path, "", "{not json").await;
        assert_eq!(reply.status, 401, "{method} {path}");
        assert!(reply.body.is_empty(), "{method} {path}: {}", reply.text());
    }
}

#[actix_web::test]
async fn an_unknown_key_is_401_with_an_empty_body() {
    let app = TestApp::new().await;
    let reply = app.fa("GET", "/api/key", "wrong-key", None).await;
    assert_eq!((reply.status, reply.body.len()), (401, 0));
}

#[actix_web::test]
async fn a_bearer_key_is_not_fusionauths_raw_key() {
    let app = TestApp::new().await;
    let reply = app
        .send(
            support::request("GET", "/api/key")
                .insert_header(("Authorization", format!("Bearer {ADMIN}"))),
        )
        .await;
    assert_eq!((reply.status, reply.body.len()), (401, 0));
}

#[actix_web::test]
async fn a_read_only_key_cannot_generate() {
    let app = TestApp::new().await;
    let reply = app
        .fa(
            "POST",
            "/api/key/generate",
            READ_ONLY,
            Some(json!({"key": {"algorithm": "ES256", "name": "n"}})),
        )
        .await;
    assert_eq!((reply.status, reply.body.len()), (401, 0));
    let listed = app.fa("GET", "/api/key", READ_ONLY, None).await;
    assert_eq!(listed.status, 200, "{}", listed.text());
}

#[actix_web::test]
async fn a_signing_key_cannot_read_keys() {
    let app = TestApp::new().await;
    let reply = app.fa("GET", "/api/key", SIGNER, None).await;
    assert_eq!((reply.status, reply.body.len()), (401, 0));
}

#[actix_web::test]
async fn a_keys_key_cannot_sign() {
    let app = TestApp::new().await;
    let key = app
        .generate(json!({"key": {"algorithm": "ES256", "name": "k"}}))
        .await;
    let reply = app
        .fa(
            "POST",
            &format!("/api/key/{}/sign", id_of(&key)),
            KEYS,
            Some(json!({"payload": "aGk"})),
        )
        .await;
    assert_eq!((reply.status, reply.body.len()), (401, 0));
    let signed = app
        .fa(
            "POST",
            &format!("/api/key/{}/sign", id_of(&key)),
            SIGNER,
            Some(json!({"payload": "aGk"})),
        )
        .await;
    assert_eq!(signed.status, 200, "{}", signed.text());
}

#[actix_web::test]
async fn the_key_is_checked_before_the_body() {
    let app = TestApp::new().await;
    let reply = app.raw("POST", "/api/key/generate", "", "[1,2,3]").await;
    assert_eq!((reply.status, reply.body.len()), (401, 0));
}

// ---- generate: validation ----

async fn generate_codes(app: &TestApp, body: Value) -> Vec<String> {
    app.fa("POST", "/api/key/generate", ADMIN, Some(body))
        .await
        .error_codes()
}

#[actix_web::test]
async fn generate_refuses_an_invalid_algorithm() {
    let app = TestApp::new().await;
    assert_eq!(
        generate_codes(&app, json!({"key": {"algorithm": "XX1", "name": "n"}})).await,
        ["[invalid]key.algorithm"]
    );
}

#[actix_web::test]
async fn generate_refuses_a_missing_name() {
    let app = TestApp::new().await;
    assert_eq!(
        generate_codes(&app, json!({"key": {"algorithm": "ES256"}})).await,
        ["[blank]key.name"]
    );
}

#[actix_web::test]
async fn generate_refuses_a_blank_name() {
    let app = TestApp::new().await;
    assert_eq!(
        generate_codes(&app, json!({"key": {"algorithm": "ES256", "name": "   "}})).await,
        ["[blank]key.name"]
    );
}

#[actix_web::test]
async fn generate_refuses_an_empty_object() {
    let app = TestApp::new().await;
    assert_eq!(
        generate_codes(&app, json!({})).await,
        ["[blank]key.algorithm", "[blank]key.name"]
    );
}

#[actix_web::test]
async fn generate_rsa_needs_a_length() {
    let app = TestApp::new().await;
    assert_eq!(
        generate_codes(&app, json!({"key": {"algorithm": "RS256", "name": "n"}})).await,
        ["[blank]key.length"]
    );
}

#[actix_web::test]
async fn generate_refuses_a_short_rsa_length() {
    let app = TestApp::new().await;
    assert_eq!(
        generate_codes(
            &app,
            json!({"key": {"algorithm": "RS256", "name": "n", "length": 1024}})
        )
        .await,
        ["[invalid]key.length"]
    );
}

#[actix_web::test]
async fn generate_refuses_a_non_numeric_length() {
    let app = TestApp::new().await;
    assert_eq!(
        generate_codes(
            &app,
            json!({"key": {"algorithm": "RS256", "name": "n", "length": "big"}})
        )
        .await,
        ["[invalid]key.length"]
    );
}

#[actix_web::test]
async fn generate_refuses_malformed_json_without_echoing_it() {
    let app = TestApp::new().await;
    let reply = app
        .raw(
            "POST",
            "/api/key/generate",
            ADMIN,
            "{\"key\": {\"name\": \"s3cret",
        )
        .await;
    assert_eq!(reply.error_codes(), ["[invalid]"]);
    assert!(!reply.text().contains("s3cret"), "{}", reply.text());
}

#[actix_web::test]
async fn generate_refuses_a_body_that_is_not_an_object() {
    let app = TestApp::new().await;
    let reply = app.raw("POST", "/api/key/generate", ADMIN, "[1,2,3]").await;
    assert_eq!(reply.error_codes(), ["[invalid]"]);
    let general = &reply.json()["generalErrors"][0];
    assert_eq!(
        general["message"],
        "The request body must be a JSON object."
    );
}

#[actix_web::test]
async fn generate_ignores_unknown_fields_as_fusionauth_does() {
    let app = TestApp::new().await;
    let key = app
        .generate(json!({"key": {"algorithm": "ES256", "name": "n", "surprise": 1}, "extra": true}))
        .await;
    assert_eq!(key["name"], "n");
    assert!(key.get("surprise").is_none());
}

#[actix_web::test]
async fn generate_refuses_a_malformed_id_in_the_path() {
    let app = TestApp::new().await;
    let reply = app
        .fa(
            "POST",
            "/api/key/generate/not-a-uuid",
            ADMIN,
            Some(json!({"key": {"algorithm": "ES256", "name": "n"}})),
        )
        .await;
    assert_eq!(reply.error_codes(), ["[invalid]keyId"]);
}

#[actix_web::test]
async fn a_duplicate_name_is_refused() {
    let app = TestApp::new().await;
    app.generate(json!({"key": {"algorithm": "ES256", "name": "taken"}}))
        .await;
    assert_eq!(
        generate_codes(
            &app,
            json!({"key": {"algorithm": "HS256", "name": "taken"}})
        )
        .await,
        ["[duplicate]key.name"]
    );
}

#[actix_web::test]
async fn a_duplicate_id_is_refused() {
    let app = TestApp::new().await;
    let id = "8b5d3e0e-56bb-4f7d-9b0d-5f5d77a3c4f1";
    let path = format!("/api/key/generate/{id}");
    let first = app
        .fa(
            "POST",
            &path,
            ADMIN,
            Some(json!({"key": {"algorithm": "ES256", "name": "with id"}})),
        )
        .await;
    assert_eq!(first.status, 200, "{}", first.text());
    assert_eq!(first.json()["key"]["id"], id);
    let again = app
        .fa(
            "POST",
            &path,
            ADMIN,
            Some(json!({"key": {"algorithm": "ES256", "name": "other"}})),
        )
        .await;
    assert_eq!(again.error_codes(), ["[duplicate]key.id"]);
}

// ---- generate, retrieve, rename, delete ----

#[actix_web::test]
async fn generate_an_ec_key() {
    let app = TestApp::new().await;
    let key = app
        .generate(json!({"key": {"algorithm": "ES512", "name": "ec"}}))
        .await;
    assert_eq!(key["type"], "EC");
    assert_eq!(key["length"], 521);
    assert_eq!(key["algorithm"], "ES512");
    assert_eq!(key["hasPrivateKey"], true);
    assert_eq!(key["issuer"], "keysmith");
    assert_eq!(key["kid"], key["certificateInformation"]["sha1Thumbprint"]);
    assert!(key["publicKey"].as_str().unwrap().contains("PUBLIC KEY"));
    assert!(!key.to_string().contains("PRIVATE KEY"));
}

#[actix_web::test]
async fn generate_an_hmac_key_without_public_fields() {
    let app = TestApp::new().await;
    let key = app
        .generate(json!({"key": {"algorithm": "HS256", "name": "hmac"}}))
        .await;
    let mut fields: Vec<&str> = key
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    fields.sort_unstable();
    assert_eq!(
        fields,
        [
            "algorithm",
            "id",
            "insertInstant",
            "kid",
            "lastUpdateInstant",
            "name",
            "type"
        ]
    );
    assert_eq!(key["kid"].as_str().unwrap().len(), 10);
}

#[actix_web::test]
async fn retrieve_a_key_and_404_for_an_unknown_id() {
    let app = TestApp::new().await;
    let key = app
        .generate(json!({"key": {"algorithm": "Ed25519", "name": "ed"}}))
        .await;
    let got = app
        .fa("GET", &format!("/api/key/{}", id_of(&key)), ADMIN, None)
        .await;
    assert_eq!(got.status, 200);
    assert_eq!(got.json()["key"], key);
    let missing = app
        .fa("GET", &format!("/api/key/{NO_SUCH_ID}"), ADMIN, None)
        .await;
    assert_eq!((missing.status, missing.body.len()), (404, 0));
}

#[actix_web::test]
async fn a_malformed_id_is_400_invalid_key_id() {
    let app = TestApp::new().await;
    let reply = app.fa("GET", "/api/key/not-a-uuid", ADMIN, None).await;
    assert_eq!(reply.error_codes(), ["[invalid]keyId"]);
}

#[actix_web::test]
async fn list_keys_in_insertion_order() {
    let app = TestApp::new().await;
    for name in ["b", "a", "c"] {
        app.generate(json!({"key": {"algorithm": "HS256", "name": name}}))
            .await;
    }
    let listed = app.fa("GET", "/api/key", ADMIN, None).await;
    assert_eq!(listed.status, 200);
    let names: Vec<String> = listed.json()["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["b", "a", "c"]);
}

#[actix_web::test]
async fn rename_changes_only_the_name() {
    let app = TestApp::new().await;
    let key = app
        .generate(json!({"key": {"algorithm": "ES256", "name": "before"}}))
        .await;
    let path = format!("/api/key/{}", id_of(&key));
    let reply = app
        .fa(
            "PUT",
            &path,
            ADMIN,
            Some(json!({"key": {"name": "after", "algorithm": "HS512", "kid": "x"}})),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let renamed = reply.json()["key"].clone();
    assert_eq!(renamed["name"], "after");
    assert_eq!(renamed["algorithm"], key["algorithm"]);
    assert_eq!(renamed["kid"], key["kid"]);
}

#[actix_web::test]
async fn rename_refusals() {
    let app = TestApp::new().await;
    app.generate(json!({"key": {"algorithm": "HS256", "name": "taken"}}))
        .await;
    let key = app
        .generate(json!({"key": {"algorithm": "HS256", "name": "mine"}}))
        .await;
    let path = format!("/api/key/{}", id_of(&key));
    let duplicate = app
        .fa("PUT", &path, ADMIN, Some(json!({"key": {"name": "taken"}})))
        .await;
    assert_eq!(duplicate.error_codes(), ["[duplicate]key.name"]);
    let blank = app
        .fa("PUT", &path, ADMIN, Some(json!({"key": {"name": " "}})))
        .await;
    assert_eq!(blank.error_codes(), ["[blank]key.name"]);
    let missing = app
        .fa(
            "PUT",
            &format!("/api/key/{NO_SUCH_ID}"),
            ADMIN,
            Some(json!({"key": {"name": "z"}})),
        )
        .await;
    assert_eq!(missing.status, 404);
}

#[actix_web::test]
async fn delete_then_404() {
    let app = TestApp::new().await;
    let key = app
        .generate(json!({"key": {"algorithm": "ES256", "name": "gone"}}))
        .await;
    let path = format!("/api/key/{}", id_of(&key));
    let deleted = app.fa("DELETE", &path, KEYS, None).await;
    assert_eq!((deleted.status, deleted.body.len()), (200, 0));
    assert_eq!(app.fa("DELETE", &path, ADMIN, None).await.status, 404);
    assert_eq!(app.fa("GET", &path, ADMIN, None).await.status, 404);
}

/// The app with an hour's deletion window: a deleted key can be restored.
async fn restorable_app() -> TestApp {
    TestApp::with(support::Options {
        config: keysmith_core::ServiceConfig {
            deletion_window_seconds: 3600,
            ..keysmith_core::ServiceConfig::default()
        },
        ..support::Options::default()
    })
    .await
}

#[actix_web::test]
async fn delete_and_restore_within_the_window() {
    let app = restorable_app().await;
    let key = app
        .generate(json!({"key": {"algorithm": "ES256", "name": "precious"}}))
        .await;
    let id = id_of(&key);
    assert_eq!(
        app.fa("DELETE", &format!("/api/key/{id}"), ADMIN, None)
            .await
            .status,
        200
    );
    let deleted = app.fa("GET", "/api/key/deleted", ADMIN, None).await;
    // Every object's keys in alphabetical order, as the body has always been written (first
    // with `json!`).
    assert_eq!(serde_json::to_vec(&deleted.json()).unwrap(), deleted.body);
    let deleted = deleted.json();
    assert_eq!(deleted["keys"][0]["id"], id.as_str());
    assert!(deleted["keys"][0]["purgeInstant"].as_i64().unwrap() > 0);
    let restored = app
        .fa("POST", &format!("/api/key/{id}/restore"), ADMIN, None)
        .await;
    assert_eq!(restored.status, 200, "{}", restored.text());
    assert_eq!(restored.json()["key"], key);
    let again = app
        .fa("POST", &format!("/api/key/{id}/restore"), ADMIN, None)
        .await;
    assert_eq!(again.status, 404);
}

#[actix_web::test]
async fn restore_is_blocked_by_a_name_taken_meanwhile() {
    let app = restorable_app().await;
    let key = app
        .generate(json!({"key": {"algorithm": "ES256", "name": "precious"}}))
        .await;
    let id = id_of(&key);
    app.fa("DELETE", &format!("/api/key/{id}"), ADMIN, None)
        .await;
    app.generate(json!({"key": {"algorithm": "ES256", "name": "precious"}}))
        .await;
    let blocked = app
        .fa("POST", &format!("/api/key/{id}/restore"), ADMIN, None)
        .await;
    assert_eq!(blocked.error_codes(), ["[duplicate]key.name"]);
}

// ---- search ----

async fn search(app: &TestApp, body: Value) -> support::Reply {
    app.fa(
        "POST",
        "/api/key/search",
        ADMIN,
        Some(json!({ "search": body })),
    )
    .await
}

#[actix_web::test]
async fn search_pages_and_orders() {
    let app = TestApp::new().await;
    for i in 0..7 {
        let algorithm = ["HS256", "HS512"][i % 2];
        app.generate(json!({"key": {"algorithm": algorithm, "name": format!("Service {i:02}")}}))
            .await;
    }
    let page = search(
        &app,
        json!({"startRow": 2, "numberOfResults": 3, "orderBy": "name DESC"}),
    )
    .await;
    assert_eq!(page.status, 200, "{}", page.text());
    let page = page.json();
    assert_eq!(page["total"], 7);
    let names: Vec<&str> = page["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Service 04", "Service 03", "Service 02"]);
    let hs512 = search(&app, json!({"algorithm": "HS512"})).await.json();
    assert_eq!(hs512["total"], 3);
}

/// Moved down from the end-to-end suite: paging over hundreds of keys of mixed kinds, both
/// orders, filters together, and the query-string form.
#[actix_web::test]
async fn search_pages_over_hundreds_of_keys() {
    let app = TestApp::new().await;
    for i in 0..240 {
        let algorithm = ["HS256", "ES256", "HS512"][i % 3];
        app.generate(json!({"key": {"algorithm": algorithm, "name": format!("Service {i:03}")}}))
            .await;
    }
    let page = search(&app, json!({})).await.json();
    assert_eq!(page["total"], 240);
    assert_eq!(
        page["keys"].as_array().unwrap().len(),
        25,
        "default page size"
    );
    assert_eq!(page["keys"][0]["name"], "Service 000");
    let mut seen = Vec::new();
    for start in (0..240).step_by(50) {
        let body = json!({"startRow": start, "numberOfResults": 50, "orderBy": "name DESC"});
        let page = search(&app, body).await.json();
        seen.extend(
            page["keys"]
                .as_array()
                .unwrap()
                .iter()
                .map(|k| k["name"].as_str().unwrap().to_owned()),
        );
    }
    let mut expected: Vec<String> = (0..240).map(|i| format!("Service {i:03}")).collect();
    expected.reverse();
    assert_eq!(seen, expected, "pages cover every key once, in order");
    let page = search(&app, json!({"algorithm": "ES256", "numberOfResults": 100})).await;
    assert_eq!(page.json()["total"], 80);
    let body = json!({"name": "service 1*", "type": "HMAC", "orderBy": "insertInstant DESC",
        "numberOfResults": 3});
    let page = search(&app, body).await.json();
    assert_eq!(page["total"], 66, "i in 100..=199 with i % 3 != 1");
    assert_eq!(page["keys"][0]["name"], "Service 198");
    let by_query = app
        .fa(
            "GET",
            "/api/key/search?name=*09&numberOfResults=2&startRow=1",
            ADMIN,
            None,
        )
        .await
        .json();
    assert_eq!(by_query["total"], 3);
    assert_eq!(by_query["keys"].as_array().unwrap().len(), 2);
    assert_eq!(by_query["keys"][0]["name"], "Service 109");
}

#[actix_web::test]
async fn search_by_query_string() {
    let app = TestApp::new().await;
    for name in ["Service 09", "Service 19", "Service 29", "Other"] {
        app.generate(json!({"key": {"algorithm": "HS256", "name": name}}))
            .await;
    }
    let reply = app
        .fa(
            "GET",
            "/api/key/search?name=*9&numberOfResults=2&startRow=1",
            ADMIN,
            None,
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let body = reply.json();
    assert_eq!(body["total"], 3);
    assert_eq!(body["keys"].as_array().unwrap().len(), 2);
    assert_eq!(body["keys"][0]["name"], "Service 19");
    // A total under the bound is exact either way, and says nothing more.
    for accurate in ["true", "false"] {
        let reply = app
            .fa(
                "GET",
                &format!("/api/key/search?name=*9&accurateTotal={accurate}"),
                ADMIN,
                None,
            )
            .await;
        assert_eq!(reply.json()["total"], 3, "{}", reply.text());
        assert!(reply.json().get("totalEqualToActual").is_none());
    }
}

/// `issuer` (a Keysmith extension) keeps the keys generated for that issuer, matched exactly:
/// case counts, a prefix is another issuer, and HMAC keys (no issuer) never match. It combines
/// with the other filters, every order, paging and both request forms.
#[actix_web::test]
async fn search_by_issuer() {
    let app = TestApp::new().await;
    for i in 0..12 {
        let issuer = ["acme.com", "Acme.com", "acme.com.evil"][i % 3];
        let algorithm = ["ES256", "ES384"][i % 2];
        app.generate(
            json!({"key": {"algorithm": algorithm, "name": format!("k{i:02}"),
            "issuer": issuer}}),
        )
        .await;
    }
    // Without an issuer, a generated asymmetric key has the default issuer.
    app.generate(json!({"key": {"algorithm": "ES256", "name": "plain"}}))
        .await;
    app.generate(json!({"key": {"algorithm": "HS256", "name": "secret"}}))
        .await;
    let names = |page: &Value| -> Vec<String> {
        page["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let acme = search(&app, json!({"issuer": "acme.com"})).await;
    assert_eq!(acme.status, 200, "{}", acme.text());
    let acme = acme.json();
    assert_eq!(acme["total"], 4);
    assert_eq!(names(&acme), ["k00", "k03", "k06", "k09"]);
    for key in acme["keys"].as_array().unwrap() {
        assert_eq!(key["issuer"], "acme.com", "{key}");
    }
    let page = search(
        &app,
        json!({"issuer": "acme.com", "algorithm": "ES384", "orderBy": "name DESC"}),
    )
    .await
    .json();
    assert_eq!(names(&page), ["k09", "k03"]);
    let page = search(
        &app,
        json!({"issuer": "Acme.com", "orderBy": "insertInstant DESC", "startRow": 1,
            "numberOfResults": 2}),
    )
    .await
    .json();
    assert_eq!(page["total"], 4);
    assert_eq!(names(&page), ["k07", "k04"]);
    let by_id = search(&app, json!({"issuer": "acme.com.evil", "orderBy": "id"}))
        .await
        .json();
    assert_eq!(by_id["total"], 4);
    let mut sorted = by_id["keys"].as_array().unwrap().clone();
    sorted.sort_by_key(|k| k["id"].as_str().unwrap().to_owned());
    assert_eq!(by_id["keys"].as_array().unwrap(), &sorted, "id order");
    let default = search(&app, json!({"issuer": "keysmith", "name": "*"}))
        .await
        .json();
    assert_eq!(names(&default), ["plain"]);
    for nobody in ["acme", "ACME.COM", "secret", "nobody"] {
        let page = search(&app, json!({"issuer": nobody})).await.json();
        assert_eq!(page["total"], 0, "{nobody}");
    }
    // Empty means any, as for the other filters; surrounding space is trimmed, as it is from
    // the issuer a key is generated with.
    assert_eq!(
        search(&app, json!({"issuer": ""})).await.json()["total"],
        14
    );
    assert_eq!(
        names(&search(&app, json!({"issuer": " acme.com "})).await.json()),
        ["k00", "k03", "k06", "k09"]
    );
    let by_query = app
        .fa(
            "GET",
            "/api/key/search?issuer=Acme.com&name=k1*&orderBy=name",
            ADMIN,
            None,
        )
        .await;
    assert_eq!(by_query.status, 200, "{}", by_query.text());
    assert_eq!(names(&by_query.json()), ["k10"]);
    let twice = app
        .fa("GET", "/api/key/search?issuer=a&issuer=b", ADMIN, None)
        .await;
    assert_eq!(twice.error_codes(), ["[invalid]search.issuer"]);
}

#[actix_web::test]
async fn search_refuses_bad_parameters() {
    let app = TestApp::new().await;
    for (body, code) in [
        (
            json!({"numberOfResults": 0}),
            "[invalid]search.numberOfResults",
        ),
        (
            json!({"numberOfResults": 100_000}),
            "[invalid]search.numberOfResults",
        ),
        (json!({"startRow": -1}), "[invalid]search.startRow"),
        (json!({"orderBy": "color ASC"}), "[invalid]search.orderBy"),
        (json!({"type": "DSA"}), "[invalid]search.type"),
        (
            json!({"issuer": "x".repeat(20_000)}),
            "[tooLong]search.issuer",
        ),
        (json!({"issuer": "tab\there"}), "[invalid]search.issuer"),
    ] {
        assert_eq!(
            search(&app, body.clone()).await.error_codes(),
            [code],
            "{body}"
        );
    }
}

#[actix_web::test]
async fn search_by_query_string_refuses_out_of_range_results() {
    let app = TestApp::new().await;
    let reply = app
        .fa("GET", "/api/key/search?numberOfResults=0", ADMIN, None)
        .await;
    assert_eq!(reply.error_codes(), ["[invalid]search.numberOfResults"]);
    let reply = app
        .fa("GET", "/api/key/search?accurateTotal=yes", ADMIN, None)
        .await;
    assert_eq!(reply.error_codes(), ["[invalid]search.accurateTotal"]);
}

// ---- 405 ----

#[actix_web::test]
async fn an_unsupported_method_is_405_with_allow() {
    let app = TestApp::new().await;
    let reply = app.fa("PATCH", "/api/key/generate", ADMIN, None).await;
    assert_eq!(reply.status, 405);
    assert_eq!(reply.header("allow"), Some("POST"));
    let reply = app.fa("DELETE", "/api/jwt/vend", "", None).await;
    assert_eq!(reply.status, 405);
    assert_eq!(reply.header("allow"), Some("POST"));
}

// ---- JWKS ----

#[actix_web::test]
async fn jwks_is_anonymous_with_an_etag_and_304() {
    let app = TestApp::new().await;
    let key = app
        .generate(json!({"key": {"algorithm": "ES256", "name": "published"}}))
        .await;
    let jwks = app.fa("GET", "/.well-known/jwks.json", "", None).await;
    assert_eq!(jwks.status, 200, "{}", jwks.text());
    assert!(
        jwks.header("cache-control")
            .unwrap()
            .contains("max-age=300")
    );
    let kids: Vec<String> = jwks.json()["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect();
    assert!(kids.iter().any(|k| key["kid"] == k.as_str()), "{kids:?}");
    let etag = jwks.header("etag").expect("etag").to_owned();
    let cached = app
        .send(
            support::request("GET", "/.well-known/jwks.json")
                .insert_header(("If-None-Match", etag.clone())),
        )
        .await;
    assert_eq!((cached.status, cached.body.len()), (304, 0));
    let stale = app
        .send(
            support::request("GET", "/.well-known/jwks.json")
                .insert_header(("If-None-Match", "\"stale\"")),
        )
        .await;
    assert_eq!(stale.status, 200);
}

#[actix_web::test]
async fn jwks_etag_changes_with_the_keys() {
    let app = TestApp::new().await;
    let before = app.fa("GET", "/.well-known/jwks.json", "", None).await;
    app.generate(json!({"key": {"algorithm": "ES256", "name": "new"}}))
        .await;
    let after = app.fa("GET", "/.well-known/jwks.json", "", None).await;
    assert_ne!(before.header("etag"), after.header("etag"));
    let hmac = app
        .generate(json!({"key": {"algorithm": "HS256", "name": "secret"}}))
        .await;
    let jwks = app.fa("GET", "/.well-known/jwks.json", "", None).await;
    assert!(
        !jwks.text().contains(hmac["kid"].as_str().unwrap()),
        "HMAC keys are never published"
    );
}

/// Above `published_cache_bytes` the JWKS and the public keys are written from the store for
/// every request, in pages of keys and chunks of bytes: the same documents as when they are
/// built whole, with the same content ETag, which answers 304 until the next change.
#[actix_web::test]
async fn a_key_set_too_large_to_keep_is_streamed_the_same() {
    let app = TestApp::with(support::Options {
        config: keysmith_core::ServiceConfig {
            published_cache_bytes: 0,
            ..Default::default()
        },
        ..Default::default()
    })
    .await;
    // More keys than one page of the store (1,024) and bytes than one chunk (64 KiB).
    let keys = app.state.keys.keys();
    let made: Vec<_> = (0..1100)
        .map(|n| {
            let algorithm = if n % 10 == 0 { "HS256" } else { "ES256" };
            keys.make(
                None,
                &keysmith_core::GenerateRequest {
                    algorithm: Some(algorithm),
                    name: Some(&format!("streamed {n}")),
                    length: None,
                    // Every key but one in 100 has the issuer: more than one page of its index.
                    issuer: (n % 100 != 7).then_some("streamed.example"),
                },
            )
            .unwrap()
        })
        .collect();
    keys.store_many(made).unwrap();
    let whole = app.state.keys.published().unwrap();
    let jwks = app.fa("GET", "/.well-known/jwks.json", "", None).await;
    assert_eq!(jwks.status, 200);
    assert_eq!(
        jwks.body, whole.jwks_json,
        "the streamed JWKS is the whole one"
    );
    assert_eq!(
        jwks.json()["keys"].as_array().unwrap().len(),
        990,
        "no HMAC key"
    );
    let public_keys = app.fa("GET", "/api/jwt/public-key", "", None).await;
    assert_eq!(public_keys.status, 200);
    assert_eq!(public_keys.body, whole.public_keys_json);
    assert_eq!(
        public_keys.json()["publicKeys"].as_object().unwrap().len(),
        990
    );
    let kid = jwks.json()["keys"][500]["kid"].as_str().unwrap().to_owned();
    let one = app
        .fa("GET", &format!("/api/jwt/public-key?kid={kid}"), "", None)
        .await;
    assert_eq!(one.status, 200);
    assert_eq!(
        one.json()["publicKey"],
        public_keys.json()["publicKeys"][&kid]
    );
    // The ETag is the content's, as when the set is kept whole (so every node gives the same
    // one): unchanged, 304; after a change, a new one.
    let etag = jwks.header("etag").unwrap().to_owned();
    assert_eq!(
        etag, whole.jwks_etag,
        "the content's ETag, streamed or whole"
    );
    let again = app
        .send(
            actix_web::test::TestRequest::get()
                .uri("/.well-known/jwks.json")
                .insert_header(("If-None-Match", etag.as_str())),
        )
        .await;
    assert_eq!(again.status, 304);
    app.generate(json!({"key": {"algorithm": "ES256", "name": "one more"}}))
        .await;
    let changed = app
        .send(
            actix_web::test::TestRequest::get()
                .uri("/.well-known/jwks.json")
                .insert_header(("If-None-Match", etag.as_str())),
        )
        .await;
    assert_eq!(changed.status, 200);
    assert_ne!(changed.header("etag").unwrap(), etag);
    assert_eq!(changed.json()["keys"].as_array().unwrap().len(), 991);
    // One issuer's JWKS is streamed the same way when it is too large to keep: its keys in
    // id order, each JWK as the full JWKS has it, with an ETag from its keys.
    let issuer_path = "/.well-known/jwks/issuers/streamed.example";
    let issued = app.fa("GET", issuer_path, "", None).await;
    assert_eq!(issued.status, 200);
    let mut of_issuer: Vec<keysmith_model::Key> = app
        .state
        .keys
        .keys()
        .list()
        .unwrap()
        .into_iter()
        .filter(|k| {
            k.issuer.as_deref() == Some("streamed.example")
                && k.key_type != keysmith_model::KeyType::Hmac
        })
        .collect();
    of_issuer.sort_by_key(|k| k.id.0);
    assert_eq!(
        of_issuer.len(),
        1100 - 110 - 11,
        "HMAC keys and keys without it left out"
    );
    let all_jwks = changed.json()["keys"].as_array().unwrap().clone();
    let expected: Vec<Value> = of_issuer
        .iter()
        .map(|k| {
            all_jwks
                .iter()
                .find(|jwk| jwk["kid"] == k.kid.as_str())
                .unwrap()
                .clone()
        })
        .collect();
    assert_eq!(issued.json(), json!({ "keys": expected }));
    let issuer_etag = issued.header("etag").unwrap().to_owned();
    let again = app
        .send(
            actix_web::test::TestRequest::get()
                .uri(issuer_path)
                .insert_header(("If-None-Match", issuer_etag.as_str())),
        )
        .await;
    assert_eq!(again.status, 304);
    // The key list is streamed too, a page of keys at a time: every key, oldest first.
    let listed = app.fa("GET", "/api/key", KEYS, None).await;
    assert_eq!(listed.status, 200);
    let listed = listed.json();
    assert_eq!(listed["keys"].as_array().unwrap().len(), 1101);
    assert_eq!(
        listed,
        json!({"keys": app.state.keys.keys().list().unwrap()})
    );
}

/// The kids of a JWKS reply, in order.
fn kids_of(reply: &support::Reply) -> Vec<String> {
    reply.json()["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|jwk| jwk["kid"].as_str().unwrap().to_owned())
        .collect()
}

/// `/.well-known/jwks/issuers/{issuer}` serves the asymmetric keys generated with exactly that
/// issuer (case counts, a prefix is another issuer, a `/` comes percent-encoded; without one,
/// the default issuer), in id order, each JWK as the full JWKS has it; anonymous, with an ETag that follows renames and
/// deletes, and `{"keys":[]}` for an issuer without keys.
#[actix_web::test]
async fn an_issuers_jwks_serves_its_keys_alone() {
    let app = TestApp::new().await;
    let mut made = Vec::new();
    for (name, algorithm, issuer) in [
        ("acme one", "ES256", Some("acme.example")),
        ("acme two", "EdDSA", Some("acme.example")),
        ("acme mac", "HS256", Some("acme.example")),
        ("other case", "ES256", Some("ACME.example")),
        ("slashed", "ES384", Some("tenant/one")),
        ("default issuer", "ES256", None),
        ("acme three", "ES256", Some("acme.example")),
    ] {
        let mut key = json!({"algorithm": algorithm, "name": name});
        if let Some(issuer) = issuer {
            key["issuer"] = json!(issuer);
        }
        made.push(app.generate(json!({ "key": key })).await);
    }
    let kid = |n: usize| made[n]["kid"].as_str().unwrap().to_owned();
    let full = app
        .fa("GET", "/.well-known/jwks.json", "", None)
        .await
        .json();
    let path = "/.well-known/jwks/issuers/acme.example";
    let acme = app.fa("GET", path, "", None).await;
    assert_eq!(acme.status, 200, "{}", acme.text());
    assert_eq!(acme.header("content-type"), Some("application/json"));
    let mut expected = vec![(0, kid(0)), (1, kid(1)), (6, kid(6))];
    expected.sort_by_key(|(n, _)| made[*n]["id"].as_str().unwrap().to_owned());
    let expected: Vec<String> = expected.into_iter().map(|(_, kid)| kid).collect();
    assert_eq!(kids_of(&acme), expected, "no HMAC key, in id order");
    for jwk in acme.json()["keys"].as_array().unwrap() {
        let same = full["keys"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["kid"] == jwk["kid"])
            .unwrap();
        assert_eq!(jwk, same);
    }
    assert!(
        acme.header("cache-control")
            .unwrap()
            .starts_with("public, max-age=")
    );
    assert_eq!(
        kids_of(
            &app.fa("GET", "/.well-known/jwks/issuers/ACME.example", "", None)
                .await
        ),
        [kid(3)]
    );
    assert_eq!(
        kids_of(
            &app.fa("GET", "/.well-known/jwks/issuers/tenant%2Fone", "", None)
                .await
        ),
        [kid(4)]
    );
    // A key generated without an issuer has the default one (`keysmith`), as its certificate.
    assert_eq!(made[5]["issuer"], "keysmith");
    assert!(
        kids_of(
            &app.fa("GET", "/.well-known/jwks/issuers/keysmith", "", None)
                .await
        )
        .contains(&kid(5))
    );
    for nobody in ["acme", "acme.example.", "no-such-issuer"] {
        let empty = app
            .fa(
                "GET",
                &format!("/.well-known/jwks/issuers/{nobody}"),
                "",
                None,
            )
            .await;
        assert_eq!((empty.status, empty.text()), (200, r#"{"keys":[]}"#.into()));
    }
    // Unchanged: 304 (kept or built again, the same ETag).
    let etag = acme.header("etag").unwrap().to_owned();
    let with_tag = |etag: &str| {
        actix_web::test::TestRequest::get()
            .uri(path)
            .insert_header(("If-None-Match", etag.to_owned()))
    };
    assert_eq!(app.send(with_tag(&etag)).await.status, 304);
    // A rename changes the ETag; a delete takes the key out.
    let renamed = app
        .fa(
            "PUT",
            &format!("/api/key/{}", made[0]["id"].as_str().unwrap()),
            ADMIN,
            Some(json!({"key": {"name": "acme one renamed"}})),
        )
        .await;
    assert_eq!(renamed.status, 200, "{}", renamed.text());
    let after_rename = app.send(with_tag(&etag)).await;
    assert_eq!(after_rename.status, 200);
    assert_eq!(kids_of(&after_rename), expected);
    let etag = after_rename.header("etag").unwrap().to_owned();
    assert_ne!(etag, acme.header("etag").unwrap());
    let deleted = app
        .fa(
            "DELETE",
            &format!("/api/key/{}", made[1]["id"].as_str().unwrap()),
            ADMIN,
            None,
        )
        .await;
    assert_eq!(deleted.status, 200, "{}", deleted.text());
    let after_delete = app.send(with_tag(&etag)).await;
    assert_eq!(after_delete.status, 200);
    assert!(!kids_of(&after_delete).contains(&kid(1)));
    assert_eq!(kids_of(&after_delete).len(), 2);
}

// ---- sign and verify ----

#[actix_web::test]
async fn sign_then_verify() {
    let app = TestApp::new().await;
    let key = app
        .generate(json!({"key": {"algorithm": "ES256", "name": "signer"}}))
        .await;
    let path = format!("/api/key/{}", id_of(&key));
    let payload = "YSBkb2N1bWVudCB0byBzaWdu";
    let signed = app
        .fa(
            "POST",
            &format!("{path}/sign"),
            SIGNER,
            Some(json!({"payload": payload})),
        )
        .await;
    assert_eq!(signed.status, 200, "{}", signed.text());
    let signed = signed.json();
    assert_eq!(signed["algorithm"], "ES256");
    let signature = signed["signature"].as_str().unwrap();
    let verify = |payload: &'static str| {
        let app = &app;
        let path = &path;
        async move {
            app.fa(
                "POST",
                &format!("{path}/verify"),
                SIGNER,
                Some(json!({"payload": payload, "signature": signature})),
            )
            .await
            .json()["valid"]
                .clone()
        }
    };
    assert_eq!(verify(payload).await, true);
    assert_eq!(verify("YW5vdGhlciBkb2N1bWVudA").await, false);
}

#[actix_web::test]
async fn sign_refusals() {
    let app = TestApp::new().await;
    let key = app
        .generate(json!({"key": {"algorithm": "HS256", "name": "h"}}))
        .await;
    let path = format!("/api/key/{}/sign", id_of(&key));
    let invalid = app
        .fa("POST", &path, SIGNER, Some(json!({"payload": "***"})))
        .await;
    assert_eq!(invalid.error_codes(), ["[invalid]payload"]);
    let blank = app.fa("POST", &path, SIGNER, Some(json!({}))).await;
    assert_eq!(blank.error_codes(), ["[blank]payload"]);
    let missing = app
        .fa(
            "POST",
            &format!("/api/key/{NO_SUCH_ID}/sign"),
            SIGNER,
            Some(json!({"payload": "AA"})),
        )
        .await;
    assert_eq!(missing.status, 404);
}

// ---- vend and validate ----

#[actix_web::test]
async fn vend_then_validate() {
    let app = TestApp::new().await;
    let key = app
        .generate(json!({"key": {"algorithm": "ES256", "name": "issuer"}}))
        .await;
    let vended = app
        .fa(
            "POST",
            "/api/jwt/vend",
            SIGNER,
            Some(json!({"keyId": id_of(&key), "claims": {"sub": "user-1"}, "timeToLiveInSeconds": 60})),
        )
        .await;
    assert_eq!(vended.status, 200, "{}", vended.text());
    let token = vended.json()["token"].as_str().unwrap().to_owned();
    let validated = app
        .send(
            support::request("GET", "/api/jwt/validate")
                .insert_header(("Authorization", format!("Bearer {token}"))),
        )
        .await;
    assert_eq!(validated.status, 200, "{}", validated.text());
    assert_eq!(validated.json()["jwt"]["sub"], "user-1");
}

#[actix_web::test]
async fn validate_refuses_no_token_and_a_forged_one() {
    let app = TestApp::new().await;
    let missing = app.fa("GET", "/api/jwt/validate", "", None).await;
    assert_eq!((missing.status, missing.body.len()), (401, 0));
    let forged = app
        .send(support::request("GET", "/api/jwt/validate").insert_header((
            "Authorization",
            "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.",
        )))
        .await;
    assert_eq!((forged.status, forged.body.len()), (401, 0));
}

#[actix_web::test]
async fn vend_refusals() {
    let app = TestApp::new().await;
    let key = app
        .generate(json!({"key": {"algorithm": "ES256", "name": "issuer"}}))
        .await;
    let vend = |body: Value| {
        let app = &app;
        async move {
            app.fa("POST", "/api/jwt/vend", SIGNER, Some(body))
                .await
                .error_codes()
        }
    };
    assert_eq!(vend(json!({"claims": {}})).await, ["[blank]keyId"]);
    assert_eq!(vend(json!({"keyId": "x"})).await, ["[invalid]keyId"]);
    assert_eq!(vend(json!({"keyId": NO_SUCH_ID})).await, ["[invalid]keyId"]);
    assert_eq!(
        vend(json!({"keyId": id_of(&key), "claims": [1]})).await,
        ["[invalid]claims"]
    );
    assert_eq!(
        vend(json!({"keyId": id_of(&key), "timeToLiveInSeconds": 0})).await,
        ["[invalid]timeToLiveInSeconds"]
    );
    let anonymous = app.raw("POST", "/api/jwt/vend", "", "{}").await;
    assert_eq!(anonymous.status, 401);
}

// ---- import ----

#[actix_web::test]
async fn import_an_hmac_secret_that_is_never_returned() {
    let app = TestApp::new().await;
    let secret = "an HMAC secret that is more than thirty-two bytes long";
    let reply = app
        .fa(
            "POST",
            "/api/key/import",
            KEYS,
            Some(json!({"key": {"name": "imported hmac", "type": "HMAC", "algorithm": "HS256", "secret": secret, "kid": "my-kid"}})),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.json()["key"]["kid"], "my-kid");
    assert!(!reply.text().contains(secret));
    let listed = app.fa("GET", "/api/key", ADMIN, None).await;
    assert!(!listed.text().contains(secret));
}

#[actix_web::test]
async fn import_without_material_is_blank_public_key() {
    let app = TestApp::new().await;
    let reply = app
        .fa(
            "POST",
            "/api/key/import",
            ADMIN,
            Some(json!({"key": {"name": "nothing"}})),
        )
        .await;
    assert_eq!(reply.error_codes(), ["[blank]key.publicKey"]);
}

// ---- limits and headers ----

#[actix_web::test]
async fn fusionauth_generation_is_not_rate_limited() {
    let app = TestApp::with(support::Options {
        limits: keysmith_api::middleware::limits::Limits::new(1, 1, 2, 4),
        ..support::Options::default()
    })
    .await;
    for name in ["a", "b", "c"] {
        app.generate(json!({"key": {"algorithm": "ES256", "name": name}}))
            .await;
    }
}

#[actix_web::test]
async fn a_body_over_the_limit_is_refused() {
    let app = TestApp::with(support::Options {
        body_limit: 1024,
        ..support::Options::default()
    })
    .await;
    let name = "n".repeat(2048);
    let reply = app
        .fa(
            "POST",
            "/api/key/generate",
            ADMIN,
            Some(json!({"key": {"algorithm": "ES256", "name": name}})),
        )
        .await;
    assert_eq!(reply.status, 413, "{}", reply.text());
    let listed = app.fa("GET", "/api/key", ADMIN, None).await.json();
    assert_eq!(listed["keys"], json!([]));
}

#[actix_web::test]
async fn the_fusionauth_tenant_header_is_accepted_and_ignored() {
    let app = TestApp::new().await;
    let reply = app
        .send(
            support::request("GET", "/api/key")
                .insert_header(("Authorization", ADMIN))
                .insert_header((
                    "X-FusionAuth-TenantId",
                    "30663132-6464-6665-3032-326466613934",
                )),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.json()["keys"], json!([]));
}
