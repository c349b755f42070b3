//! Deletion with a safety window: a deleted key stops being served at once, comes back whole
//! with restore, and is purged when the window ends.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::{API_KEY, Options, Server};
use crate::tokens;
use test_case::test_case;

fn jwks_has(server: &Server, kid: &str) -> bool {
    server
        .raw("GET", "/.well-known/jwks.json", &[], None)
        .json()["keys"]
        .as_array()
        .unwrap()
        .iter()
        .any(|k| k["kid"] == kid)
}

// One backend: the deletion window is the store's.
#[test_case("aws-lc" ; "aws_lc")]
fn deleted_keys_can_be_restored_until_purged(backend: &str) {
    const WINDOW: u64 = 3;
    let temp = tempfile::tempdir().unwrap();
    let options = Options {
        api_key: Some(API_KEY.into()),
        env: vec![
            (
                "KEYSMITH_DELETION_WINDOW_SECONDS".into(),
                WINDOW.to_string(),
            ),
            (
                "KEYSMITH_ROTATION_CHECK_INTERVAL_SECONDS".into(),
                "1".into(),
            ),
        ],
        ..Default::default()
    };
    let server = Server::start_in(&temp.path().join("data"), backend, options);
    let key = tokens::generate(&server, "ES256", None, "precious");
    let (id, kid) = (
        key["id"].as_str().unwrap().to_owned(),
        key["kid"].as_str().unwrap().to_owned(),
    );
    let signed = |server: &Server| {
        server
            .call(
                "POST",
                &format!("/api/key/{id}/sign"),
                Some(json!({"payload": "aGk"})),
            )
            .status
    };
    assert_eq!(signed(&server), 200);

    // Deleted: not served at all, but listed as restorable.
    assert_eq!(
        server
            .call("DELETE", &format!("/api/key/{id}"), None)
            .status,
        200
    );
    assert_eq!(
        server.call("GET", &format!("/api/key/{id}"), None).status,
        404
    );
    assert!(!jwks_has(&server, &kid));
    assert_ne!(signed(&server), 200);
    let deleted = server.call("GET", "/api/key/deleted", None).json();
    assert_eq!(deleted["keys"][0]["id"], id.as_str());
    assert!(deleted["keys"][0]["purgeInstant"].as_i64().unwrap() > 0);
    assert!(!deleted.to_string().contains("PRIVATE KEY"));

    // Restored whole: the same record, published again, and its private key signs.
    let restored = server.call("POST", &format!("/api/key/{id}/restore"), None);
    assert_eq!(restored.status, 200, "{}", restored.text());
    assert_eq!(restored.json()["key"], key);
    assert!(jwks_has(&server, &kid));
    assert_eq!(signed(&server), 200);
    assert_eq!(
        server
            .call("POST", &format!("/api/key/{id}/restore"), None)
            .status,
        404
    );

    // A name taken meanwhile blocks the restore, changing nothing.
    assert_eq!(
        server
            .call("DELETE", &format!("/api/key/{id}"), None)
            .status,
        200
    );
    let rival = tokens::generate(&server, "ES256", None, "precious");
    let blocked = server.call("POST", &format!("/api/key/{id}/restore"), None);
    assert_eq!(blocked.status, 400, "{}", blocked.text());
    assert_eq!(
        blocked.error_codes(),
        vec!["[duplicate]key.name".to_owned()]
    );
    let rival_id = rival["id"].as_str().unwrap();
    assert_eq!(
        server
            .call("DELETE", &format!("/api/key/{rival_id}"), None)
            .status,
        200
    );

    // When the window ends the key is purged: no restore, nothing listed.
    let deadline = Instant::now() + Duration::from_secs(WINDOW + 5);
    loop {
        let listed = server.call("GET", "/api/key/deleted", None).json();
        if listed["keys"].as_array().unwrap().is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "never purged: {listed}");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(
        server
            .call("POST", &format!("/api/key/{id}/restore"), None)
            .status,
        404
    );
}
