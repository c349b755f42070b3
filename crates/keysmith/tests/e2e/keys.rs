//! FusionAuth's Keys API through the real binary: every endpoint and error class, a restart
//! that keeps every key byte-identical, concurrent writers. Paging over hundreds of keys is
//! tested in process (`keysmith-api/tests/fusionauth.rs`).

use std::collections::HashSet;

use serde_json::{Value, json};
use test_case::test_case;

use crate::support::{self, API_KEY, Options, Server};
use crate::tokens;
use crate::{FA_CERT, assert_no_private_material, generate};

#[test_case("aws-lc" ; "aws_lc")]
#[test_case("openssl" ; "openssl")]
fn keys_api_endpoints_and_error_classes(backend: &str) {
    let server = Server::start(backend);
    assert!(server.log().contains("keysmith listening"));

    // Health is anonymous; everything else needs the raw API key, and 401 has an empty body.
    let status = server.raw("GET", "/api/status", &[], None);
    assert_eq!(status.status, 200);
    assert!(
        status
            .header("x-request-id")
            .is_some_and(|id| id.len() >= 16),
        "request id echoed"
    );
    for (method, path) in [
        ("GET", "/api/key"),
        ("GET", "/api/key/780e1d5b-ee3b-43b2-aec8-db99b99adc4e"),
        ("POST", "/api/key/generate"),
        ("POST", "/api/key/import"),
        ("PUT", "/api/key/780e1d5b-ee3b-43b2-aec8-db99b99adc4e"),
        ("DELETE", "/api/key/780e1d5b-ee3b-43b2-aec8-db99b99adc4e"),
        ("GET", "/api/key/search?name=x"),
        ("POST", "/api/key/search"),
    ] {
        for headers in [
            vec![],
            vec![("Authorization", "wrong-key")],
            vec![("Authorization", &format!("Bearer {API_KEY}")[..])],
        ] {
            let response = server.raw(method, path, &headers, Some(b"{not json"));
            assert_eq!(response.status, 401, "{method} {path} {headers:?}");
            assert!(response.body.is_empty(), "401 has an empty body");
        }
    }

    // Generate every kind; HMAC keys leave out what does not apply.
    let rsa = generate(
        &server,
        json!({"algorithm": "RS256", "name": "rsa", "length": 2048}),
    );
    assert_eq!(rsa["type"], "RSA");
    assert_eq!(rsa["length"], 2048);
    assert_eq!(rsa["hasPrivateKey"], true);
    assert_eq!(rsa["issuer"], "keysmith");
    assert_eq!(rsa["kid"], rsa["certificateInformation"]["sha1Thumbprint"]);
    assert_eq!(
        rsa["expirationInstant"],
        rsa["certificateInformation"]["validTo"]
    );
    let serial = rsa["id"].as_str().unwrap().replace('-', "").to_uppercase();
    let serial_hex = rsa["certificateInformation"]["serialNumber"]
        .as_str()
        .unwrap()
        .replace(':', "");
    assert_eq!(
        serial.trim_start_matches('0'),
        serial_hex.trim_start_matches('0'),
        "serial = id"
    );
    let pss = generate(
        &server,
        json!({"algorithm": "PS384", "name": "pss", "length": "3072", "issuer": "acme.com"}),
    );
    assert_eq!(pss["length"], 3072);
    assert_eq!(pss["certificateInformation"]["subject"], "CN=acme.com");
    let ec = generate(&server, json!({"algorithm": "ES512", "name": "ec"}));
    assert_eq!(ec["length"], 521);
    let ed = generate(&server, json!({"algorithm": "Ed25519", "name": "ed"}));
    assert_eq!(ed["type"], "OKP");
    let hmac = generate(&server, json!({"algorithm": "HS256", "name": "hmac"}));
    let hmac_fields: HashSet<&str> = hmac
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        hmac_fields,
        HashSet::from([
            "algorithm",
            "id",
            "insertInstant",
            "kid",
            "lastUpdateInstant",
            "name",
            "type"
        ])
    );
    assert_eq!(hmac["kid"].as_str().unwrap().len(), 10);

    // An id in the path is used; using it again is a duplicate.
    let id = "8b5d3e0e-56bb-4f7d-9b0d-5f5d77a3c4f1";
    let response = server.call(
        "POST",
        &format!("/api/key/generate/{id}"),
        Some(json!({"key": {"algorithm": "ES256", "name": "with id"}})),
    );
    assert_eq!(response.json()["key"]["id"], id);
    let response = server.call(
        "POST",
        &format!("/api/key/generate/{id}"),
        Some(json!({"key": {"algorithm": "ES256", "name": "other"}})),
    );
    assert_eq!(response.error_codes(), ["[duplicate]key.id"]);

    // Client mistakes: 400 with FusionAuth's Errors JSON.
    let bad = |path: &str, body: Value| server.call("POST", path, Some(body)).error_codes();
    assert_eq!(
        bad(
            "/api/key/generate",
            json!({"key": {"algorithm": "ES256", "name": "rsa"}})
        ),
        ["[duplicate]key.name"]
    );
    assert_eq!(
        bad(
            "/api/key/generate",
            json!({"key": {"algorithm": "XX1", "name": "n"}})
        ),
        ["[invalid]key.algorithm"]
    );
    assert_eq!(
        bad("/api/key/generate", json!({"key": {"algorithm": "ES256"}})),
        ["[blank]key.name"]
    );
    assert_eq!(
        bad(
            "/api/key/generate",
            json!({"key": {"algorithm": "RS256", "name": "n"}})
        ),
        ["[blank]key.length"]
    );
    assert_eq!(
        bad(
            "/api/key/generate",
            json!({"key": {"algorithm": "RS256", "name": "n", "length": 1024}})
        ),
        ["[invalid]key.length"]
    );
    assert_eq!(
        bad(
            "/api/key/generate",
            json!({"key": {"algorithm": "RS256", "name": "n", "length": "big"}})
        ),
        ["[invalid]key.length"]
    );
    assert_eq!(
        bad("/api/key/generate", json!({})),
        ["[blank]key.algorithm", "[blank]key.name"]
    );
    assert_eq!(
        bad(
            "/api/key/generate/not-a-uuid",
            json!({"key": {"algorithm": "ES256", "name": "n"}})
        ),
        ["[invalid]keyId"]
    );
    let malformed = server.raw(
        "POST",
        "/api/key/generate",
        &[("Authorization", API_KEY)],
        Some(b"{\"key\": {\"name\": "),
    );
    assert_eq!(malformed.error_codes(), ["[invalid]"]);
    let wrong_shape = server.raw(
        "POST",
        "/api/key/generate",
        &[("Authorization", API_KEY)],
        Some(b"[1,2,3]"),
    );
    assert_eq!(wrong_shape.error_codes(), ["[invalid]"]);
    assert_eq!(
        server
            .call("GET", "/api/key/not-a-uuid", None)
            .error_codes(),
        ["[invalid]keyId"]
    );

    // Retrieve, and 404 with an empty body.
    let response = server.call(
        "GET",
        &format!("/api/key/{}", ec["id"].as_str().unwrap()),
        None,
    );
    assert_eq!(response.json()["key"], ec);
    let missing = server.call("GET", "/api/key/00000000-0000-4000-8000-000000000000", None);
    assert_eq!((missing.status, missing.body.len()), (404, 0));

    // Import FusionAuth's documented certificate: exactly the documented key.
    let response = server.call(
        "POST",
        "/api/key/import/780e1d5b-ee3b-43b2-aec8-db99b99adc4e",
        Some(json!({"key": {"name": "SHA-256 with RSA", "kid": "zamAX0036820RULfdjUV6YkhYbY", "certificate": FA_CERT}})),
    );
    assert_eq!(response.status, 200, "{}", response.text());
    let imported = response.json()["key"].clone();
    assert_eq!(imported["id"], "780e1d5b-ee3b-43b2-aec8-db99b99adc4e");
    assert_eq!(imported["algorithm"], "RS256");
    assert_eq!(imported["hasPrivateKey"], false);
    assert_eq!(imported["issuer"], "acme.com");
    assert_eq!(imported["kid"], "zamAX0036820RULfdjUV6YkhYbY");
    assert_eq!(imported["length"], 2048);
    assert_eq!(
        imported["certificateInformation"]["md5Fingerprint"],
        "FC:36:CD:0B:9C:B7:62:F0:A9:16:AE:72:8E:F8:7D:D8"
    );
    assert_eq!(
        imported["certificateInformation"]["sha256Thumbprint"],
        "M3zLTCM79SJJL2jF-tFuPHJUyzzm0XAIVfxDJJqYBc8"
    );
    assert_eq!(imported["expirationInstant"], 1_877_808_272_000_i64);
    assert!(imported["publicKey"].as_str().unwrap().starts_with("-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAnbNGwtU33S4vbipGeIwe\n"));

    // Import errors: unparseable PEM, a pair that does not match, an HMAC secret too short.
    assert_eq!(
        bad(
            "/api/key/import",
            json!({"key": {"name": "junk", "publicKey": "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----"}})
        ),
        ["[invalid]key.publicKey"]
    );
    assert_eq!(
        bad(
            "/api/key/import",
            json!({"key": {"name": "short", "type": "HMAC", "secret": "too short"}})
        ),
        ["[invalid]key.secret"]
    );
    assert_eq!(
        bad("/api/key/import", json!({"key": {"name": "nothing"}})),
        ["[blank]key.publicKey"]
    );
    let other_public = rsa["publicKey"].as_str().unwrap();
    assert_eq!(
        bad(
            "/api/key/import",
            json!({"key": {"name": "mismatch", "certificate": FA_CERT, "publicKey": other_public}})
        ),
        ["[mismatch]key.publicKey"]
    );
    let secret = "an HMAC secret that is more than thirty-two bytes long";
    let response = server.call("POST", "/api/key/import", Some(json!({"key": {"name": "imported hmac", "type": "HMAC", "algorithm": "HS256", "secret": secret, "kid": "my-kid"}})));
    assert_eq!(response.status, 200, "{}", response.text());
    assert!(
        !response.text().contains(secret),
        "the secret is never returned"
    );

    // Update changes only the name; the rest of the body is ignored.
    let path = format!("/api/key/{}", ed["id"].as_str().unwrap());
    let response = server.call(
        "PUT",
        &path,
        Some(json!({"key": {"name": "renamed", "algorithm": "HS512", "kid": "x"}})),
    );
    let renamed = response.json()["key"].clone();
    assert_eq!(renamed["name"], "renamed");
    assert_eq!(
        (&renamed["algorithm"], &renamed["kid"]),
        (&ed["algorithm"], &ed["kid"])
    );
    assert!(renamed["lastUpdateInstant"].as_i64() >= ed["lastUpdateInstant"].as_i64());
    assert_eq!(
        server
            .call("PUT", &path, Some(json!({"key": {"name": "rsa"}})))
            .error_codes(),
        ["[duplicate]key.name"]
    );
    assert_eq!(
        server
            .call("PUT", &path, Some(json!({"key": {"name": " "}})))
            .error_codes(),
        ["[blank]key.name"]
    );
    // Ignored is not unchecked: a `length` that is no whole number is refused, as on generate
    // (schemathesis found an update with an out-of-range `length` answered 200).
    assert_eq!(
        server
            .call(
                "PUT",
                &path,
                Some(json!({"key": {"name": "renamed", "length": 1.0e19}}))
            )
            .error_codes(),
        ["[invalid]key.length"]
    );
    assert_eq!(
        server
            .call(
                "PUT",
                "/api/key/00000000-0000-4000-8000-000000000000",
                Some(json!({"key": {"name": "z"}}))
            )
            .status,
        404
    );

    // List in insertion order; no private material anywhere.
    let list = server.call("GET", "/api/key", None);
    let names: Vec<String> = list.json()["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        names,
        [
            "rsa",
            "pss",
            "ec",
            "renamed",
            "hmac",
            "with id",
            "SHA-256 with RSA",
            "imported hmac"
        ]
    );
    assert_no_private_material(&list.text());

    // FusionAuth's tenant header is accepted and ignored.
    let tenant = server.raw(
        "GET",
        "/api/key",
        &[
            ("Authorization", API_KEY),
            (
                "X-FusionAuth-TenantId",
                "30663132-6464-6665-3032-326466613934",
            ),
        ],
        None,
    );
    assert_eq!(tenant.status, 200);

    // Delete: 200 with an empty body, then 404.
    let response = server.call("DELETE", &path, None);
    assert_eq!((response.status, response.body.len()), (200, 0));
    assert_eq!(server.call("DELETE", &path, None).status, 404);
    assert_eq!(server.call("GET", &path, None).status, 404);
    assert!(!server.log().contains("PRIVATE KEY"));
    assert!(!server.log().contains(secret));
}

#[test_case("aws-lc" ; "aws_lc")]
#[test_case("openssl" ; "openssl")]
fn restart_keeps_every_key_byte_identical(backend: &str) {
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("data");
    let options = Options {
        api_key: Some(API_KEY.into()),
        ..Default::default()
    };
    let server = Server::start_in(&data, backend, options.clone());
    for (algorithm, length) in tokens::ALL {
        tokens::generate(&server, algorithm, length, &format!("{algorithm} key"));
    }
    server.call(
        "POST",
        "/api/key/import",
        Some(json!({"key": {"name": "fa", "certificate": FA_CERT}})),
    );
    let before = server.call("GET", "/api/key", None).body;
    let (status, log) = server.stop();
    assert!(status.success(), "clean exit on SIGTERM: {status:?}");
    assert!(
        log.contains("data file closed"),
        "the database is closed cleanly:\n{log}"
    );

    // The other backend reads the same file: storage does not depend on the backend.
    let other = if backend == "aws-lc" {
        "openssl"
    } else {
        "aws-lc"
    };
    for run_backend in [backend, other] {
        let server = Server::start_in(&data, run_backend, options.clone());
        let after = server.call("GET", "/api/key", None).body;
        assert_eq!(
            String::from_utf8_lossy(&after),
            String::from_utf8_lossy(&before),
            "byte-identical after restart on {run_backend}"
        );
        for key in serde_json::from_slice::<Value>(&after).unwrap()["keys"]
            .as_array()
            .unwrap()
        {
            let one = server.call(
                "GET",
                &format!("/api/key/{}", key["id"].as_str().unwrap()),
                None,
            );
            assert_eq!(&one.json()["key"], key);
        }
        let (status, log) = server.stop();
        assert!(
            status.success() && log.contains("data file closed"),
            "{log}"
        );
    }

    // The private halves survived too: read them from the file and sign with them.
    let backend = tokens::backend(support::backends()[0]);
    let keys = keysmith::master_key::read_key_file(&data.join("master.key"), &*backend).unwrap();
    let sealer = keysmith_crypto::envelope::Envelope::new(backend, keys).unwrap();
    let store =
        keysmith_store::RedbStore::open(&data.join("keysmith.redb"), std::sync::Arc::new(sealer))
            .unwrap();
    use keysmith_store::KeyRecords as _;
    for key in store.list().unwrap() {
        let stored = store.get(&key.id).unwrap().unwrap();
        if key.name == "fa" {
            assert!(stored.private.is_none());
            continue;
        }
        assert!(
            stored.private.is_some(),
            "{} kept its private half",
            key.name
        );
    }
}

/// Consistency under concurrency is the store's: one backend.
#[test_case("openssl" ; "openssl")]
fn concurrent_generates_and_deletes_stay_consistent(backend: &str) {
    let server = std::sync::Arc::new(Server::start(backend));
    let threads: Vec<_> = (0..6)
        .map(|t| {
            let server = server.clone();
            std::thread::spawn(move || {
                let mut kept = Vec::new();
                let mut contested_wins = Vec::new();
                for i in 0..12 {
                    let own = generate(&server, json!({"algorithm": if i % 2 == 0 { "ES256" } else { "HS256" }, "name": format!("t{t}-{i}")}));
                    // Every thread races for the same contested names: exactly one may win each.
                    let contested = server.call("POST", "/api/key/generate", Some(json!({"key": {"algorithm": "HS256", "name": format!("contested-{i}")}})));
                    match contested.status {
                        200 => contested_wins.push(format!("contested-{i}")),
                        400 => assert_eq!(contested.error_codes(), ["[duplicate]key.name"]),
                        other => panic!("unexpected {other}: {}", contested.text()),
                    }
                    if i % 3 == 0 {
                        let path = format!("/api/key/{}", own["id"].as_str().unwrap());
                        assert_eq!(server.call("DELETE", &path, None).status, 200);
                    } else {
                        kept.push(own["name"].as_str().unwrap().to_owned());
                    }
                }
                (kept, contested_wins)
            })
        })
        .collect();
    let mut expected = HashSet::new();
    let mut contested = Vec::new();
    for thread in threads {
        let (kept, wins) = thread.join().unwrap();
        expected.extend(kept);
        contested.extend(wins);
    }
    assert_eq!(
        contested.len(),
        12,
        "each contested name won exactly once: {contested:?}"
    );
    expected.extend(contested);
    let list = server.call("GET", "/api/key", None).json();
    let names: Vec<String> = list["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["name"].as_str().unwrap().to_owned())
        .collect();
    let unique: HashSet<String> = names.iter().cloned().collect();
    assert_eq!(names.len(), unique.len(), "no duplicate names");
    assert_eq!(unique, expected, "no lost key, no resurrected key");
}
