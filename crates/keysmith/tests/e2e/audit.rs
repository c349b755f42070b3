//! The audit trail end to end: every mutation and use of a private key recorded with who,
//! what, on what, how it ended and the request id; searchable with paging; persisted across a
//! restart; never holding a key or a secret.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::auth0::{a0, create_connection};
use crate::support::{API_KEY, Options, Server};
use crate::tokens;

fn search(server: &Server, query: &str) -> Value {
    let response = server.call(
        "GET",
        &format!("/api/system/audit-log/search?{query}"),
        None,
    );
    assert_eq!(response.status, 200, "{}", response.text());
    response.json()
}

/// Waits for the batch writer: at least `count` records in all.
fn wait_for(server: &Server, count: u64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let page = search(server, "numberOfResults=500");
        if page["total"].as_u64().unwrap() >= count || Instant::now() > deadline {
            return page;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub fn mutations_and_uses_are_audited(backend: &str) {
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("data");
    let options = Options {
        api_key: Some(API_KEY.into()),
        ..Default::default()
    };
    let server = Server::start_in(&data, backend, options.clone());

    let key = tokens::generate(&server, "ES256", None, "audited");
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
    // Newest first.
    assert_eq!(
        actions,
        vec![
            ("key.delete", id.as_str(), "200"),
            ("connection.keys.rotate", connection.as_str(), "201"),
            ("connection.keys.provision", connection.as_str(), "201"),
            ("connection.create", connection.as_str(), "201"),
            ("key.generate", "", "400"),
            ("key.sign", id.as_str(), "200"),
            ("jwt.vend", id.as_str(), "200"),
            ("key.generate", id.as_str(), "200"),
        ],
        "{page}"
    );
    assert_eq!(
        page["total"], 8,
        "the unauthenticated request is not recorded"
    );
    let vend_record = &records[6];
    assert_eq!(vend_record["data"]["request_id"], vend_request.as_str());
    let actor = vend_record["insertUser"].as_str().unwrap();
    assert!(
        actor.starts_with("api-key:admin:") && !actor.contains(API_KEY),
        "{actor}"
    );
    let ids: Vec<u64> = records.iter().map(|r| r["id"].as_u64().unwrap()).collect();
    assert!(
        ids.windows(2).all(|w| w[0] > w[1]),
        "ids decrease, newest first"
    );

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
