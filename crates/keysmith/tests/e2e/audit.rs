//! The audit trail end to end: every mutation recorded with who, what, on what, how it ended
//! and the request id (a committed change in its own transaction, a refusal with its status);
//! uses of private keys summed up per key and interval (or one per use with
//! `audit_uses = "each"`); searchable with paging; persisted across a restart; never holding a
//! key or a secret.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::auth0::{a0, create_connection};
use crate::support::{API_KEY, Options, Server};
use crate::tokens;
use test_case::test_case;

fn search(server: &Server, query: &str) -> Value {
    let response = server.call(
        "GET",
        &format!("/api/system/audit-log/search?{query}"),
        None,
    );
    assert_eq!(response.status, 200, "{}", response.text());
    response.json()
}

/// Waits for the batch writer and the use summaries (flushed every second here): at least
/// `count` records in all.
fn wait_for(server: &Server, count: u64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let page = search(server, "numberOfResults=500");
        if page["total"].as_u64().unwrap() >= count || Instant::now() > deadline {
            return page;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

// One backend: the audit trail is the store's.
#[test_case("aws-lc" ; "aws_lc")]
fn mutations_and_uses_are_audited(backend: &str) {
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("data");
    let options = Options {
        api_key: Some(API_KEY.into()),
        env: vec![("KEYSMITH_AUDIT_USE_INTERVAL_SECONDS".into(), "1".into())],
        ..Default::default()
    };
    let server = Server::start_in(&data, backend, options.clone());

    let generated = server.call(
        "POST",
        "/api/key/generate",
        Some(json!({"key": {"algorithm": "ES256", "name": "audited"}})),
    );
    assert_eq!(generated.status, 200, "{}", generated.text());
    let generate_request = generated.header("x-request-id").unwrap().to_owned();
    let key = generated.json()["key"].clone();
    let id = key["id"].as_str().unwrap().to_owned();
    let vend = server.call("POST", "/api/jwt/vend", Some(json!({"keyId": id})));
    assert_eq!(vend.status, 200);
    let vend_request = vend.header("x-request-id").unwrap().to_owned();
    let sign = server.call(
        "POST",
        &format!("/api/key/{id}/sign"),
        Some(json!({"payload": "aGk"})),
    );
    assert_eq!(sign.status, 200);
    let refused = server.call(
        "POST",
        "/api/key/generate",
        Some(json!({"key": {"algorithm": "XX"}})),
    );
    assert_eq!(refused.status, 400);
    let anonymous = server.raw("POST", "/api/key/generate", &[], Some(b"{}"));
    assert_eq!(anonymous.status, 401);
    let connection = create_connection(&server, "audited", json!({}));
    assert_eq!(
        a0(
            &server,
            "POST",
            &format!("/connections/{connection}/keys"),
            Some(json!({"signing_alg": "ES256"}))
        )
        .status,
        201
    );
    assert_eq!(
        a0(
            &server,
            "POST",
            &format!("/connections/{connection}/keys/rotate"),
            None
        )
        .status,
        201
    );
    assert_eq!(
        server
            .call("DELETE", &format!("/api/key/{id}"), None)
            .status,
        200
    );
    // Reads are not audited.
    assert_eq!(server.call("GET", "/api/key", None).status, 200);

    let page = wait_for(&server, 8);
    let records = page["auditLogs"].as_array().unwrap();
    let actions: Vec<(&str, &str, &str)> = records
        .iter()
        .map(|r| {
            (
                r["data"]["action"].as_str().unwrap(),
                r["data"]["target"].as_str().unwrap(),
                r["data"]["result"].as_str().unwrap(),
            )
        })
        .collect();
    // Newest first (checked below by time: records of the same millisecond, such as a use
    // summary and a refusal, may come in either order, so the set is compared here). Committed changes say `ok` (their record is in their transaction, with the
    // target the store changed); the refusal has its status; uses are summed up.
    let mut actions = actions;
    actions.sort();
    let mut expected = vec![
        ("key.delete", id.as_str(), "ok"),
        ("connection.keys.rotate", connection.as_str(), "ok"),
        ("connection.keys.provision", connection.as_str(), "ok"),
        ("connection.create", connection.as_str(), "ok"),
        ("key.generate", "", "400"),
        ("key.sign", id.as_str(), "200"),
        ("jwt.vend", id.as_str(), "200"),
        ("key.generate", id.as_str(), "ok"),
    ];
    expected.sort();
    assert_eq!(actions, expected, "{page}");
    assert_eq!(
        page["total"], 8,
        "the unauthenticated request is not recorded"
    );
    let generate_record = records
        .iter()
        .find(|r| r["data"]["action"] == "key.generate" && r["data"]["result"] == "ok")
        .unwrap();
    assert_eq!(
        generate_record["data"]["request_id"],
        generate_request.as_str()
    );
    let actor = generate_record["insertUser"].as_str().unwrap();
    assert!(
        actor.starts_with("api-key:admin:") && !actor.contains(API_KEY),
        "{actor}"
    );
    let vend_record = records
        .iter()
        .find(|r| r["data"]["action"] == "jwt.vend")
        .unwrap();
    assert_eq!(vend_record["data"]["uses"]["count"], 1, "{vend_record}");
    assert_eq!(vend_record["data"]["uses"]["callers"], json!([actor]));
    assert!(
        !page.to_string().contains(&vend_request),
        "a summary names no request"
    );
    let instants: Vec<i64> = records
        .iter()
        .map(|r| r["insertInstant"].as_i64().unwrap())
        .collect();
    assert!(instants.windows(2).all(|w| w[0] >= w[1]), "newest first");

    // Paging and filters, by query string and by body.
    let second = search(&server, "numberOfResults=2&startRow=2");
    assert_eq!(second["total"], 8);
    assert_eq!(second["auditLogs"][0]["id"], records[2]["id"]);
    assert_eq!(second["auditLogs"].as_array().unwrap().len(), 2);
    let vends = server.call(
        "POST",
        "/api/system/audit-log/search",
        Some(json!({"search": {"action": "jwt.vend"}})),
    );
    assert_eq!(vends.json()["total"], 1);
    let by_text = search(&server, &format!("text={connection}"));
    assert_eq!(by_text["total"], 3);
    assert_eq!(
        server
            .call(
                "GET",
                "/api/system/audit-log/search?numberOfResults=0",
                None
            )
            .status,
        400
    );

    // The trail holds no key material and no API key.
    let everything = page.to_string();
    assert!(!everything.contains("PRIVATE KEY") && !everything.contains(API_KEY));
    let (status, log) = server.stop();
    assert!(status.success());
    assert!(!log.contains(API_KEY), "the API key is never logged");

    // Persisted, and command-line actions join the same trail.
    let output = crate::support::keysmith_command()
        .args([
            "api-key",
            "create",
            "--name",
            "ci",
            "--permission",
            "read-only",
            "--data",
        ])
        .arg(&data)
        .args(["--backend", backend])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let server = Server::start_in(&data, backend, options);
    let page = search(&server, "numberOfResults=500");
    assert_eq!(page["total"], 9);
    assert_eq!(page["auditLogs"][0]["data"]["action"], "api-key.create");
    assert_eq!(page["auditLogs"][0]["insertUser"], "cli");
}

/// The sum of the use counts of the `action` records, and how many records there are.
fn uses_of(server: &Server, action: &str) -> (u64, usize, Value) {
    let page = search(server, &format!("action={action}&numberOfResults=500"));
    let records = page["auditLogs"].as_array().unwrap();
    let count = records
        .iter()
        .map(|r| r["data"]["uses"]["count"].as_u64().unwrap_or(1))
        .sum();
    (count, records.len(), page)
}

/// Waits (with a deadline) until the `action` records account for `uses` uses.
fn wait_for_uses(server: &Server, action: &str, uses: u64) -> (u64, usize, Value) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let found = uses_of(server, action);
        if found.0 >= uses || Instant::now() > deadline {
            return found;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

// One backend: the audit trail is the store's.
#[test_case("openssl" ; "openssl")]
fn vends_are_audited_summed_up_or_each(backend: &str) {
    const VENDS: u64 = 60;
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("data");
    let options = |uses: &str| Options {
        api_key: Some(API_KEY.into()),
        env: vec![
            ("KEYSMITH_AUDIT_USE_INTERVAL_SECONDS".into(), "1".into()),
            ("KEYSMITH_AUDIT_USES".into(), uses.into()),
        ],
        ..Default::default()
    };
    let server = Server::start_in(&data, backend, options("aggregate"));
    let key = tokens::generate(&server, "ES256", None, "busy");
    let id = key["id"].as_str().unwrap().to_owned();
    let started = Instant::now();
    for _ in 0..VENDS {
        let vend = server.call("POST", "/api/jwt/vend", Some(json!({"keyId": id})));
        assert_eq!(vend.status, 200);
    }
    let spent = started.elapsed().as_secs();
    let (count, records, page) = wait_for_uses(&server, "jwt.vend", VENDS);
    assert_eq!(count, VENDS, "{page}");
    // One record per one-second interval the vends spanned (plus the two flushes they may
    // straddle), however slow the machine; never one per vend.
    assert!(
        (records as u64) <= spent + 2 && (records as u64) < VENDS,
        "{records} records for {VENDS} vends in {spent} s: {page}"
    );
    for record in page["auditLogs"].as_array().unwrap() {
        assert_eq!(record["data"]["target"], id.as_str());
        let uses = &record["data"]["uses"];
        assert!(uses["first"].as_i64() <= uses["last"].as_i64(), "{record}");
        assert_eq!(uses["callers"].as_array().unwrap().len(), 1, "{record}");
    }
    let metrics = server.call("GET", "/metrics", None);
    assert!(
        metrics
            .text()
            .contains("\nkeysmith_audit_dropped_total 0\n"),
        "{}",
        metrics.text()
    );
    let (status, _) = server.stop();
    assert!(status.success());

    // `audit_uses = "each"`: one record per vend, with its request id.
    let server = Server::start_in(&data, backend, options("each"));
    let mut requests = Vec::new();
    for _ in 0..20 {
        let vend = server.call("POST", "/api/jwt/vend", Some(json!({"keyId": id})));
        assert_eq!(vend.status, 200);
        requests.push(vend.header("x-request-id").unwrap().to_owned());
    }
    let (count, records, page) = wait_for_uses(&server, "jwt.vend", VENDS + 20);
    assert_eq!(count, VENDS + 20, "{page}");
    let each: Vec<&Value> = page["auditLogs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["data"]["uses"].is_null())
        .collect();
    assert_eq!(each.len(), 20, "{page}");
    assert!(records <= 23);
    for (record, request) in each.iter().rev().zip(&requests) {
        assert_eq!(record["data"]["request_id"], request.as_str(), "{record}");
    }
    let (status, _) = server.stop();
    assert!(status.success());
}
