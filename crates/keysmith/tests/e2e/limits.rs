//! Limits against resource exhaustion: a flood of expensive generations is refused at once
//! past the pool, with `Retry-After`, and reads stay responsive meanwhile.

use std::time::{Duration, Instant};

use crate::support::{self, API_KEY, Options, Server};
use crate::tokens;
use test_case::test_case;

// One backend: the generation pool is not the backend's.
#[test_case("aws-lc" ; "aws_lc")]
fn a_generation_flood_is_refused_fast_and_reads_stay_responsive(backend: &str) {
    let temp = tempfile::tempdir().unwrap();
    let options = Options {
        api_key: Some(API_KEY.into()),
        env: vec![
            ("KEYSMITH_KEY_GENERATION_CONCURRENCY".into(), "1".into()),
            ("KEYSMITH_KEY_GENERATION_QUEUE".into(), "0".into()),
        ],
        ..Default::default()
    };
    let server = Server::start_in(&temp.path().join("data"), backend, options);
    let id = tokens::generate(&server, "ES256", None, "read-me")["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let flood: Vec<_> = (0..8)
        .map(|i| {
            let addr = server.addr.clone();
            std::thread::spawn(move || {
                let body =
                    format!(r#"{{"key":{{"algorithm":"RS256","length":4096,"name":"big-{i}"}}}}"#);
                let started = Instant::now();
                let response = support::http(
                    &addr,
                    "POST",
                    "/api/key/generate",
                    &[("Authorization", API_KEY)],
                    Some(body.as_bytes()),
                );
                (response, started.elapsed())
            })
        })
        .collect();
    let mut slowest_read = Duration::ZERO;
    for _ in 0..20 {
        let started = Instant::now();
        let read = server.call("GET", &format!("/api/key/{id}"), None);
        assert_eq!(read.status, 200);
        slowest_read = slowest_read.max(started.elapsed());
    }
    let mut refused = 0;
    for thread in flood {
        let (response, took) = thread.join().unwrap();
        match response.status {
            200 => {}
            503 => {
                refused += 1;
                assert_eq!(response.header("retry-after"), Some("1"));
                assert!(response.body.is_empty());
                // Refused at once, not after waiting for a place.
                assert!(took < Duration::from_secs(2), "a refusal took {took:?}");
            }
            other => panic!("generate answered {other}: {}", response.text()),
        }
    }
    assert!(
        refused >= 1,
        "eight RSA-4096 generations on a pool of one: none refused"
    );
    // Liveness, not a benchmark: a read never waits behind the generations.
    assert!(
        slowest_read < Duration::from_secs(2),
        "a read took {slowest_read:?}"
    );
}

// One backend: size and time limits are the server's.
#[test_case("openssl" ; "openssl")]
fn oversized_material_slow_requests_and_slow_clients_are_cut_off(backend: &str) {
    use std::io::{Read as _, Write as _};
    let temp = tempfile::tempdir().unwrap();
    let options = Options {
        api_key: Some(API_KEY.into()),
        env: vec![
            ("KEYSMITH_MAX_PEM_BYTES".into(), "2048".into()),
            ("KEYSMITH_MAX_FIELD_LENGTH".into(), "8".into()),
            ("KEYSMITH_REQUEST_TIMEOUT_SECONDS".into(), "1".into()),
            ("KEYSMITH_CLIENT_REQUEST_TIMEOUT_SECONDS".into(), "1".into()),
            (
                keysmith::server::FAILPOINT_RING_COMMIT_PAUSE_MS.into(),
                "5000".into(),
            ),
        ],
        ..Default::default()
    };
    let server = Server::start_in(&temp.path().join("data"), backend, options);

    // Material over max_pem_bytes is refused before parsing, naming the field.
    let big = format!(
        "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----",
        "A".repeat(3000)
    );
    let refused = server.call(
        "POST",
        "/api/key/import",
        Some(serde_json::json!({"key": {"name": "big", "certificate": big}})),
    );
    assert_eq!(refused.status, 400, "{}", refused.text());
    assert_eq!(
        refused.error_codes(),
        vec!["[tooLong]key.certificate".to_owned()]
    );

    // Names over max_field_length are refused on generate, import and rename.
    let long = server.call(
        "POST",
        "/api/key/generate",
        Some(serde_json::json!({"key": {"algorithm": "HS256", "name": "nine-char"}})),
    );
    assert_eq!(long.error_codes(), vec!["[tooLong]key.name".to_owned()]);
    let short = tokens::generate(&server, "HS256", None, "eight-ch");
    let renamed = server.call(
        "PUT",
        &format!("/api/key/{}", short["id"].as_str().unwrap()),
        Some(serde_json::json!({"key": {"name": "much-too-long"}})),
    );
    assert_eq!(renamed.error_codes(), vec!["[tooLong]key.name".to_owned()]);

    // A change held up in the server past the request timeout (a ring change paused by the
    // failpoint before its commit) is answered when it commits, with what it did: never a 503
    // for a change that happened. The audit trail records that answer.
    let id = crate::auth0::create_connection(&server, "slow-one", serde_json::json!({}));
    let started = Instant::now();
    let slow = crate::auth0::a0(&server, "POST", &format!("/connections/{id}/keys"), None);
    assert_eq!(slow.status, 201, "{}", slow.text());
    assert!(
        started.elapsed() >= Duration::from_millis(4500),
        "answered before the commit: {:?}",
        started.elapsed()
    );
    let keys = crate::auth0::a0(&server, "GET", &format!("/connections/{id}/keys"), None);
    assert_eq!(keys.status, 200);
    assert_eq!(
        keys.json().as_array().map(Vec::len),
        Some(2),
        "{}",
        keys.text()
    );
    // The change's audit record was committed with it, before the answer.
    let audit = server.call(
        "GET",
        "/api/system/audit-log/search?action=connection.keys.provision",
        None,
    );
    let records = audit.json()["auditLogs"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        !records.is_empty() && records.iter().all(|r| r["data"]["result"] != "503"),
        "{}",
        audit.text()
    );

    // A client that never finishes its request head is cut off.
    let mut stream = std::net::TcpStream::connect(&server.addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream
        .write_all(b"GET /api/status HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    let started = Instant::now();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the slow client was kept"
    );
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
        "{answer}"
    );
}

/// Imports and the first `GET /api/v2/keys/signing` (which provisions the tenant ring) take a
/// place in the generation pool: with a pool of one, held by a connection-key provision paused
/// before its commit, an import is refused at once with 503 and `Retry-After`, and the first
/// signing-keys read with 429 and `Retry-After`, instead of working outside the pool. Once the
/// pool is free both succeed, and later signing-keys reads (no generation) need no place.
// One backend: the generation pool is not the backend's.
#[test_case("openssl" ; "openssl")]
fn imports_and_first_signing_keys_read_take_a_place_in_the_pool(backend: &str) {
    let temp = tempfile::tempdir().unwrap();
    let options = Options {
        api_key: Some(API_KEY.into()),
        env: vec![
            ("KEYSMITH_KEY_GENERATION_CONCURRENCY".into(), "1".into()),
            ("KEYSMITH_KEY_GENERATION_QUEUE".into(), "0".into()),
            (
                keysmith::server::FAILPOINT_RING_COMMIT_PAUSE_MS.into(),
                "3000".into(),
            ),
        ],
        ..Default::default()
    };
    let server = Server::start_in(&temp.path().join("data"), backend, options);
    let import = |name: &str| {
        server.call(
            "POST",
            "/api/key/import",
            Some(serde_json::json!({"key": {
                "algorithm": "HS256",
                "name": name,
                "secret": "an-imported-secret-of-at-least-32-bytes",
            }})),
        )
    };

    // Hold the pool's one place: a provision whose ring commit pauses for three seconds.
    let holder = hold_pool(&server, "pool-holder");

    let concurrent: Vec<_> = (0..4)
        .map(|i| {
            let addr = server.addr.clone();
            std::thread::spawn(move || {
                let body = serde_json::json!({"key": {
                    "algorithm": "HS256",
                    "name": format!("concurrent-{i}"),
                    "secret": "an-imported-secret-of-at-least-32-bytes",
                }})
                .to_string();
                let started = Instant::now();
                let response = support::http(
                    &addr,
                    "POST",
                    "/api/key/import",
                    &[
                        ("Authorization", API_KEY),
                        ("Content-Type", "application/json"),
                    ],
                    Some(body.as_bytes()),
                );
                (response, started.elapsed())
            })
        })
        .collect();
    for thread in concurrent {
        let (refused, took) = thread.join().unwrap();
        assert_eq!(refused.status, 503, "{}", refused.text());
        assert_eq!(refused.header("retry-after"), Some("1"));
        assert!(refused.body.is_empty());
        assert!(took < Duration::from_secs(2), "a refusal took {took:?}");
    }
    let first_read = crate::auth0::a0(&server, "GET", "/keys/signing", None);
    assert_eq!(first_read.status, 429, "{}", first_read.text());
    assert!(first_read.header("retry-after").is_some());
    let by_kid = crate::auth0::a0(&server, "GET", "/keys/signing/some-kid", None);
    assert_eq!(by_kid.status, 429, "{}", by_kid.text());

    let held = holder.join().unwrap();
    assert_eq!(held.status, 201, "{}", held.text());
    assert_eq!(import("after-the-pool-freed").status, 200);
    let provisioned = crate::auth0::a0(&server, "GET", "/keys/signing", None);
    assert_eq!(provisioned.status, 200, "{}", provisioned.text());
    assert_eq!(provisioned.json().as_array().map(Vec::len), Some(2));
    // Now a read: it needs no place, so a held pool does not refuse it.
    let holder = hold_pool(&server, "holder-two");
    let read = crate::auth0::a0(&server, "GET", "/keys/signing", None);
    assert_eq!(read.status, 200, "{}", read.text());
    assert_eq!(holder.join().unwrap().status, 201);
}

/// Holds the generation pool's one place with a connection-key provision whose ring commit
/// the failpoint pauses, and returns once the server has logged that pause (the provision then
/// holds its place), so no test step depends on how long that takes to happen.
fn hold_pool(server: &Server, name: &str) -> std::thread::JoinHandle<support::Response> {
    const PAUSED: &str = "failpoint: ring change written, pausing before commit";
    let paused_before = server.log().matches(PAUSED).count();
    let connection = crate::auth0::create_connection(server, name, serde_json::json!({}));
    let addr = server.addr.clone();
    let holder = std::thread::spawn(move || {
        support::http(
            &addr,
            "POST",
            &format!("/api/v2/connections/{connection}/keys"),
            &[
                ("Authorization", crate::auth0::BEARER),
                ("Content-Type", "application/json"),
            ],
            None,
        )
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    while server.log().matches(PAUSED).count() == paused_before {
        assert!(
            Instant::now() < deadline,
            "the provision never reached its paused commit"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    holder
}
