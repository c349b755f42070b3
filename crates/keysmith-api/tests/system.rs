//! Keysmith's own routes in process: status, metrics, the audit-log search.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use serde_json::json;
use support::{ADMIN, AUDIT, METRICS, Options, READ_ONLY, SIGNER, TestApp};

#[actix_web::test]
async fn status_answers_200_anonymously_with_a_request_id() {
    let app = TestApp::new().await;
    let reply = app.fa("GET", "/api/status", "", None).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.json(), json!({"fips": false, "status": "ok"}));
    assert!(
        reply
            .header("x-request-id")
            .is_some_and(|id| id.len() >= 16),
        "{:?}",
        reply.headers
    );
}

#[actix_web::test]
async fn status_refuses_other_methods_with_allow() {
    let app = TestApp::new().await;
    let reply = app.fa("POST", "/api/status", "", None).await;
    assert_eq!(reply.status, 405);
    assert_eq!(reply.header("allow"), Some("GET"));
}

#[actix_web::test]
async fn metrics_needs_a_metrics_key() {
    let app = TestApp::new().await;
    let anonymous = app.fa("GET", "/metrics", "", None).await;
    assert_eq!((anonymous.status, anonymous.body.len()), (401, 0));
    let signer = app.fa("GET", "/metrics", SIGNER, None).await;
    assert_eq!(signer.status, 401);
    let scraped = app.fa("GET", "/metrics", METRICS, None).await;
    assert_eq!(scraped.status, 200, "{}", scraped.text());
    assert!(
        scraped
            .header("content-type")
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    assert!(scraped.text().contains("keysmith_"));
    assert!(!scraped.text().contains(METRICS));
}

#[actix_web::test]
async fn metrics_is_404_when_disabled() {
    let app = TestApp::with(Options {
        metrics_enabled: false,
        ..Options::default()
    })
    .await;
    let reply = app.fa("GET", "/metrics", METRICS, None).await;
    assert_eq!((reply.status, reply.body.len()), (404, 0));
    let anonymous = app.fa("GET", "/metrics", "", None).await;
    assert_eq!(anonymous.status, 401, "the key is checked first");
}

#[actix_web::test]
async fn metrics_can_be_anonymous() {
    let app = TestApp::with(Options {
        metrics_anonymous: true,
        ..Options::default()
    })
    .await;
    let reply = app.fa("GET", "/metrics", "", None).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
}

async fn generate_three(app: &TestApp) {
    for name in ["one", "two", "three"] {
        app.generate(json!({"key": {"algorithm": "HS256", "name": name}}))
            .await;
    }
}

#[actix_web::test]
async fn audit_log_search_pages_newest_first() {
    let app = TestApp::new().await;
    generate_three(&app).await;
    let all = app
        .fa(
            "GET",
            "/api/system/audit-log/search?action=key.generate",
            AUDIT,
            None,
        )
        .await;
    assert_eq!(all.status, 200, "{}", all.text());
    let all = all.json();
    assert_eq!(all["total"], 3, "{all}");
    let ids: Vec<u64> = all["auditLogs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_u64().unwrap())
        .collect();
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "newest first: {ids:?}");
    let page = app
        .fa(
            "GET",
            "/api/system/audit-log/search?action=key.generate&numberOfResults=2&startRow=1",
            AUDIT,
            None,
        )
        .await
        .json();
    assert_eq!(page["total"], 3);
    assert_eq!(page["auditLogs"].as_array().unwrap().len(), 2);
    assert_eq!(page["auditLogs"][0]["id"], ids[1]);
    assert!(!all.to_string().contains(ADMIN), "no API key in the trail");
}

#[actix_web::test]
async fn audit_log_search_by_body() {
    let app = TestApp::new().await;
    generate_three(&app).await;
    let reply = app
        .fa(
            "POST",
            "/api/system/audit-log/search",
            AUDIT,
            Some(json!({"search": {"action": "key.generate", "numberOfResults": 1}})),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let body = reply.json();
    assert_eq!(body["total"], 3);
    assert_eq!(body["auditLogs"].as_array().unwrap().len(), 1);
    assert_eq!(body["auditLogs"][0]["data"]["action"], "key.generate");
}

#[actix_web::test]
async fn audit_log_search_refuses_bad_parameters() {
    let app = TestApp::new().await;
    let zero = app
        .fa(
            "GET",
            "/api/system/audit-log/search?numberOfResults=0",
            AUDIT,
            None,
        )
        .await;
    assert_eq!(zero.error_codes(), ["[invalid]search.numberOfResults"]);
    let too_many = app
        .fa(
            "POST",
            "/api/system/audit-log/search",
            AUDIT,
            Some(json!({"search": {"numberOfResults": 501}})),
        )
        .await;
    assert_eq!(too_many.error_codes(), ["[invalid]search.numberOfResults"]);
    let garbled = app
        .fa(
            "GET",
            "/api/system/audit-log/search?startRow=minus-one",
            AUDIT,
            None,
        )
        .await;
    assert_eq!(garbled.error_codes(), ["[invalid]"]);
}

#[actix_web::test]
async fn audit_log_search_needs_the_audit_permission() {
    let app = TestApp::new().await;
    let anonymous = app
        .fa("GET", "/api/system/audit-log/search", "", None)
        .await;
    assert_eq!((anonymous.status, anonymous.body.len()), (401, 0));
    let signer = app
        .fa("GET", "/api/system/audit-log/search", SIGNER, None)
        .await;
    assert_eq!(signer.status, 401);
    let read_only_post = app
        .fa("POST", "/api/system/audit-log/search", READ_ONLY, None)
        .await;
    assert_eq!(read_only_post.status, 401);
    let read_only_get = app
        .fa("GET", "/api/system/audit-log/search", READ_ONLY, None)
        .await;
    assert_eq!(read_only_get.status, 200, "{}", read_only_get.text());
}

#[actix_web::test]
async fn backup_is_for_admin_keys_only() {
    let app = TestApp::new().await;
    let reply = app.fa("POST", "/api/system/backup", AUDIT, None).await;
    assert_eq!((reply.status, reply.body.len()), (401, 0));
}

#[actix_web::test]
async fn a_refused_generation_stores_nothing() {
    let app = TestApp::new().await;
    let refused = app
        .fa(
            "POST",
            "/api/key/generate",
            ADMIN,
            Some(json!({"key": {"algorithm": "XX"}})),
        )
        .await;
    assert_eq!(refused.status, 400);
    let listed = app.fa("GET", "/api/key", ADMIN, None).await.json();
    assert_eq!(listed["keys"], json!([]));
}
