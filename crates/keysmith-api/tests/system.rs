//! Keysmith's own routes in process: status, metrics, audit-log search, 405s.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use support::TestApp;

#[actix_web::test]
async fn status_answers_200() {
    let app = TestApp::new().await;
    let reply = app.fa("GET", "/api/status", "", None).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
}
