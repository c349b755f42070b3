//! End-to-end: the real `keysmith` binary on a free port, over HTTP, on each backend.

// Test code: a failed step must fail the test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod admin;
mod audit;
mod auth0;
mod backup;
mod cli;
mod crash;
mod deletion;
mod disk;
mod limits;
mod metrics;
mod openapi;
mod permissions;
mod sealing;
mod support;
mod tls;
mod tokens;

use std::collections::HashSet;

use serde_json::{Value, json};
use support::{API_KEY, Options, Server};

/// FusionAuth's documented import example (bare base64 DER certificate).
const FA_CERT: &str = "MIICrjCCAZagAwIBAQIQeA4dW+47Q7KuyNuZuZrcTjANBgkqhkiG9w0BAQsFADATMREwDwYDVQQDEwhhY21lLmNvbTAeFw0xOTA3MDMyMTI0MzJaFw0yOTA3MDMyMTI0MzJaMBMxETAPBgNVBAMTCGFjbWUuY29tMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAnbNGwtU33S4vbipGeIwe/DhLEfc5FaEOHK4WeQ3QF8zZGyI09bNQdkp8uNTFfVehIgmvYHmJWPeaNrYK//qjWAsSvYYoytj1j4BywI8uLSjt8QvzaoFUMOi1cBbXM2586R7yTRm7jMk91MLM101zkrf1cmFdRUwTpeJjw66XG3JlTGZCmZsJG7m6+nbe5LHt4CiufmJHujGeFzgwby3jXZtuK1y3ua3380Fv95JyG3TucnMwEw5EYQ8Q+dZzNC8OSaKrgmnN0gWdsJ7P7vu6lMy6sXKhvcxo1p+tXywYPFJahxA+rZDG16RLbUppCx10q8tIcFKeAyl4eywzBaBLxwIDAQABMA0GCSqGSIb3DQEBCwUAA4IBAQBbsHWIBDwW1hFEin0D5BK/rwpCIZ4jlJ9PON4q0rF/tl9+pSzTqMeEqU0NMlJ7Xm2O5U0i8Sy8Lhemo9qYCZ76qEiHFZwQBmNAC4de92KMcw4Q7q5CVjTGv3X+Avlg/c+I+zJLO/IJlzhOvHj+iCeBZDznt6/KlFfXA9EvlznxqZCQHSf2f94UlvBmqbVYOfXE5+OQ3URyNyh88g9yClSb4hzu1lmzevZ/AVbe2kTjZQQWB0TmqPg/6SS+nhsauAMK1kSlSK9t6CPz/L7olJeAi7G/PZPaYG1gIFVFaBnYM0rwagQGtPMi1uCERCKrkUlBh6gSyN7SGJBvWEh6+zZF";

/// `POST /api/key/generate` with `{"key": body}`; asserts 200 and returns the key.
fn generate(server: &Server, body: Value) -> Value {
    let response = server.call("POST", "/api/key/generate", Some(json!({ "key": body })));
    assert_eq!(response.status, 200, "{}", response.text());
    response.json()["key"].clone()
}

fn assert_no_private_material(text: &str) {
    assert!(
        !text.contains("PRIVATE KEY"),
        "a response carries a private key"
    );
    assert!(!text.contains("\"secret\""), "a response carries a secret");
    assert!(
        !text.contains("privateKey"),
        "a response carries privateKey"
    );
}

macro_rules! e2e_suite {
    ($module:ident, $backend:literal) => {
        mod $module {
            use super::*;

            #[test]
            fn keys_api_endpoints_and_error_classes() {
                keys_api_endpoints_and_error_classes_on($backend);
            }

            #[test]
            fn search_pages_over_hundreds_of_keys() {
                search_pages_over_hundreds_of_keys_on($backend);
            }

            #[test]
            fn restart_keeps_every_key_byte_identical() {
                restart_keeps_every_key_byte_identical_on($backend);
            }

            #[test]
            fn concurrent_generates_and_deletes_stay_consistent() {
                concurrent_generates_and_deletes_stay_consistent_on($backend);
            }

            #[test]
            fn jwks_lists_asymmetric_keys_and_caches() {
                tokens::jwks_lists_asymmetric_keys_and_caches($backend);
            }

            #[test]
            fn public_keys_by_kid() {
                tokens::public_keys_by_kid($backend);
            }

            #[test]
            fn vend_and_validate_every_algorithm() {
                tokens::vend_and_validate_every_algorithm($backend);
            }

            #[test]
            fn validate_refuses_alg_none() {
                tokens::validate_refuses_alg_none($backend);
            }

            #[test]
            fn validate_refuses_hmac_signed_with_the_rsa_public_key() {
                tokens::validate_refuses_hmac_signed_with_the_rsa_public_key($backend);
            }

            #[test]
            fn validate_refuses_an_algorithm_other_than_the_keys() {
                tokens::validate_refuses_an_algorithm_other_than_the_keys($backend);
            }

            #[test]
            fn validate_refuses_unknown_and_injected_kids() {
                tokens::validate_refuses_unknown_and_injected_kids($backend);
            }

            #[test]
            fn validate_refuses_bad_signatures_and_truncated_tokens() {
                tokens::validate_refuses_bad_signatures_and_truncated_tokens($backend);
            }

            #[test]
            fn validate_refuses_expired_and_not_yet_valid_tokens() {
                tokens::validate_refuses_expired_and_not_yet_valid_tokens($backend);
            }

            #[test]
            fn sign_and_verify_without_exporting() {
                tokens::sign_and_verify_without_exporting($backend);
            }

            #[test]
            fn deleted_keys_stop_working() {
                tokens::deleted_keys_stop_working($backend);
            }

            #[test]
            fn auth0_connection_keys_match_auth0_and_openssl() {
                auth0::connection_keys_match_auth0_and_openssl($backend);
            }

            #[test]
            fn auth0_tenant_signing_keys_rotate_and_revoke() {
                auth0::tenant_signing_keys_rotate_and_revoke($backend);
            }

            #[test]
            fn auth0_parallel_rotations_never_skip_or_lose_a_key() {
                auth0::parallel_rotations_never_skip_or_lose_a_key($backend);
            }

            #[test]
            fn auth0_kill_9_mid_rotation_leaves_the_previous_ring_whole() {
                auth0::kill_9_mid_rotation_leaves_the_previous_ring_whole($backend);
            }

            #[test]
            fn auth0_scheduled_rotation_catches_up_once() {
                auth0::scheduled_rotation_catches_up_once($backend);
            }

            #[test]
            fn auth0_scheduled_tenant_rotation_from_config() {
                auth0::scheduled_tenant_rotation_from_config($backend);
            }

            #[test]
            fn a_generation_flood_is_refused_fast_and_reads_stay_responsive() {
                limits::a_generation_flood_is_refused_fast_and_reads_stay_responsive($backend);
            }

            #[test]
            fn imports_and_first_signing_keys_read_take_a_place_in_the_pool() {
                limits::imports_and_first_signing_keys_read_take_a_place_in_the_pool($backend);
            }

            #[test]
            fn https_with_the_backends_tls_stack() {
                tls::https_with_the_backends_tls_stack($backend);
            }

            #[test]
            fn a_half_configured_tls_refuses_to_start() {
                tls::a_half_configured_tls_refuses_to_start($backend);
            }

            #[test]
            fn deleted_keys_can_be_restored_until_purged() {
                deletion::deleted_keys_can_be_restored_until_purged($backend);
            }

            #[test]
            fn metrics_count_requests_keys_and_generation() {
                metrics::metrics_count_requests_keys_and_generation($backend);
            }

            #[test]
            fn junk_methods_add_no_series_and_anonymous_scrapes_are_a_setting() {
                metrics::junk_methods_add_no_series_and_anonymous_scrapes_are_a_setting($backend);
            }

            #[test]
            fn backup_while_serving_and_restore() {
                backup::backup_while_serving_and_restore($backend);
            }

            #[test]
            fn a_backup_is_streamed_and_its_file_removed() {
                backup::a_backup_is_streamed_and_its_file_removed($backend);
            }

            #[test]
            fn key_commands_offline_and_online() {
                cli::key_commands_offline_and_online($backend);
            }

            #[test]
            fn admin_page_in_a_real_browser() {
                admin::admin_page_in_a_real_browser($backend);
            }

            #[test]
            fn mutations_and_uses_are_audited() {
                audit::mutations_and_uses_are_audited($backend);
            }

            #[test]
            fn vends_are_audited_summed_up_or_each() {
                audit::vends_are_audited_summed_up_or_each($backend);
            }

            #[test]
            fn oversized_material_slow_requests_and_slow_clients_are_cut_off() {
                limits::oversized_material_slow_requests_and_slow_clients_are_cut_off($backend);
            }

            #[test]
            fn every_route_checks_its_permission() {
                permissions::every_route_checks_its_permission($backend);
            }

            #[test]
            fn api_key_commands_round_trip() {
                permissions::api_key_commands_round_trip($backend);
            }

            #[test]
            fn stored_secrets_are_sealed() {
                sealing::stored_secrets_are_sealed($backend);
            }

            #[test]
            fn a_wrong_master_key_refuses_to_start() {
                sealing::a_wrong_master_key_refuses_to_start($backend);
            }

            #[test]
            fn master_key_rotation_keeps_deleted_keys_restorable() {
                sealing::master_key_rotation_keeps_deleted_keys_restorable($backend);
            }

            #[test]
            fn rotation_repairs_a_deleted_key_left_under_the_old_master_key() {
                sealing::rotation_repairs_a_deleted_key_left_under_the_old_master_key($backend);
            }

            #[cfg(unix)]
            #[test]
            fn a_master_key_file_others_can_read_is_refused() {
                sealing::a_master_key_file_others_can_read_is_refused($backend);
            }

            #[test]
            fn auth0_a_restored_revoked_signing_key_stays_revoked() {
                auth0::a_restored_revoked_signing_key_stays_revoked($backend);
            }

            #[test]
            fn restore_and_a_server_start_exclude_each_other() {
                backup::restore_and_a_server_start_exclude_each_other($backend);
            }

            #[test]
            fn master_key_rotation_is_all_or_nothing() {
                sealing::master_key_rotation_is_all_or_nothing($backend);
            }

            #[test]
            fn every_documented_operation_is_served() {
                openapi::every_documented_operation_is_served($backend);
            }

            #[test]
            fn auth0_key_generation_is_rate_limited() {
                auth0::key_generation_is_rate_limited($backend);
            }
        }
    };
}

e2e_suite!(aws_lc, "aws-lc");
e2e_suite!(openssl, "openssl");

fn keys_api_endpoints_and_error_classes_on(backend: &str) {
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

fn search_pages_over_hundreds_of_keys_on(backend: &str) {
    let server = Server::start(backend);
    for i in 0..240 {
        let algorithm = ["HS256", "ES256", "HS512"][i % 3];
        generate(
            &server,
            json!({"algorithm": algorithm, "name": format!("Service {i:03}")}),
        );
    }
    let search = |body: Value| {
        let response = server.call("POST", "/api/key/search", Some(json!({ "search": body })));
        assert_eq!(response.status, 200, "{}", response.text());
        response.json()
    };
    let page = search(json!({}));
    assert_eq!(page["total"], 240);
    assert_eq!(
        page["keys"].as_array().unwrap().len(),
        25,
        "default page size"
    );
    assert_eq!(page["keys"][0]["name"], "Service 000");
    let mut seen = Vec::new();
    for start in (0..240).step_by(50) {
        let page =
            search(json!({"startRow": start, "numberOfResults": 50, "orderBy": "name DESC"}));
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
    let page = search(json!({"algorithm": "ES256", "numberOfResults": 100}));
    assert_eq!(page["total"], 80);
    let page = search(
        json!({"name": "service 1*", "type": "HMAC", "orderBy": "insertInstant DESC", "numberOfResults": 3}),
    );
    assert_eq!(page["total"], 66, "i in 100..=199 with i % 3 != 1");
    assert_eq!(page["keys"][0]["name"], "Service 198");
    let by_query = server
        .call(
            "GET",
            "/api/key/search?name=*09&numberOfResults=2&startRow=1",
            None,
        )
        .json();
    assert_eq!(by_query["total"], 3);
    assert_eq!(by_query["keys"].as_array().unwrap().len(), 2);
    assert_eq!(by_query["keys"][0]["name"], "Service 109");
    for (body, code) in [
        (
            json!({"numberOfResults": 0}),
            "[invalid]search.numberOfResults",
        ),
        (
            json!({"numberOfResults": 100000}),
            "[invalid]search.numberOfResults",
        ),
        (json!({"startRow": -1}), "[invalid]search.startRow"),
        (json!({"orderBy": "color ASC"}), "[invalid]search.orderBy"),
        (json!({"type": "DSA"}), "[invalid]search.type"),
    ] {
        assert_eq!(
            server
                .call("POST", "/api/key/search", Some(json!({ "search": body })))
                .error_codes(),
            [code]
        );
    }
}

fn restart_keeps_every_key_byte_identical_on(backend: &str) {
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

fn concurrent_generates_and_deletes_stay_consistent_on(backend: &str) {
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

#[test]
fn first_start_generates_an_api_key_and_keeps_only_its_hash() {
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("data");
    let server = Server::start_in(&data, support::backends()[0], Options::default());
    let log = server.log();
    let key = log
        .lines()
        .skip_while(|l| !l.contains("shown only this once"))
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.contains("shown only this once"))
        .expect("the generated key is printed")
        .to_owned();
    let response = server.raw("GET", "/api/key", &[("Authorization", &key)], None);
    assert_eq!(response.status, 200);
    assert!(server.stop().0.success());
    let file = std::fs::read(data.join("keysmith.redb")).unwrap();
    assert!(
        !file.windows(key.len()).any(|w| w == key.as_bytes()),
        "the API key itself is not stored"
    );
    // A second start does not generate another: the stored hash is enough.
    let server = Server::start_in(&data, support::backends()[0], Options::default());
    assert!(!server.log().contains("shown only this once"));
    assert_eq!(
        server
            .raw("GET", "/api/key", &[("Authorization", &key)], None)
            .status,
        200
    );
}

#[test]
fn configuration_layers_and_refusals() {
    let temp = tempfile::tempdir().unwrap();
    let config = temp.path().join("keysmith.toml");
    std::fs::write(
        &config,
        "default_issuer = \"from-file.example\"\nmax_search_results = 7\n",
    )
    .unwrap();
    let options = Options {
        api_key: Some(API_KEY.into()),
        args: vec!["--config".into(), config.display().to_string()],
        env: vec![("KEYSMITH_MAX_SEARCH_RESULTS".into(), "5".into())],
    };
    let server = Server::start_in(&temp.path().join("data"), support::backends()[0], options);
    let key = generate(&server, json!({"algorithm": "ES256", "name": "k"}));
    assert_eq!(
        key["issuer"], "from-file.example",
        "the file overrides the defaults"
    );
    let response = server.call(
        "POST",
        "/api/key/search",
        Some(json!({"search": {"numberOfResults": 6}})),
    );
    assert_eq!(
        response.error_codes(),
        ["[invalid]search.numberOfResults"],
        "the environment overrides the file"
    );
    drop(server);

    std::fs::write(&config, "no_such_setting = 1\n").unwrap();
    let options = Options {
        api_key: Some(API_KEY.into()),
        args: vec!["--config".into(), config.display().to_string()],
        ..Default::default()
    };
    let (status, log) =
        Server::try_start_in(&temp.path().join("data2"), support::backends()[0], options)
            .err()
            .expect("refused");
    assert_eq!(status.and_then(|s| s.code()), Some(2));
    assert!(log.contains("no_such_setting"), "{log}");
    let options = Options {
        api_key: Some(API_KEY.into()),
        ..Default::default()
    };
    let (status, log) = Server::try_start_in(&temp.path().join("data3"), "ring", options)
        .err()
        .expect("refused");
    assert!(!status.unwrap().success());
    assert!(log.contains("`ring` is not available"), "{log}");
}

#[test]
fn a_data_file_of_an_unknown_schema_is_refused_untouched() {
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let file = data.join("keysmith.redb");
    {
        let db = redb::Database::create(&file).unwrap();
        let txn = db.begin_write().unwrap();
        txn.open_table(redb::TableDefinition::<&str, u64>::new("meta"))
            .unwrap()
            .insert("schema_version", 99)
            .unwrap();
        txn.commit().unwrap();
    }
    let before = std::fs::read(&file).unwrap();
    let options = Options {
        api_key: Some(API_KEY.into()),
        ..Default::default()
    };
    let (status, log) = Server::try_start_in(&data, support::backends()[0], options)
        .err()
        .expect("refused");
    assert!(!status.unwrap().success());
    assert!(log.contains("schema version 99"), "{log}");
    assert_eq!(std::fs::read(&file).unwrap(), before);
}

/// Schemathesis (PyPI) fuzzes every operation of `/api/openapi.json` on the real server: no
/// 5xx, no undocumented status, no body that breaks its schema. Installed in the same virtual
/// environment as the official clients (`KS_FUSIONAUTH_PYTHON`).
#[test]
fn schemathesis_finds_no_server_error_or_schema_break() {
    let Some(python) = support::tool("KS_FUSIONAUTH_PYTHON", "schemathesis") else {
        return;
    };
    let schemathesis = std::path::Path::new(&python).with_file_name("schemathesis");
    for backend in support::backends() {
        openapi::schemathesis_finds_no_server_error_or_schema_break(
            backend,
            schemathesis.to_str().unwrap(),
        );
    }
}

/// Auth0's official Python SDK (`auth0-python` 5.x from PyPI) against the real server:
/// connections, connection keys (create, get, rotate) and tenant signing keys (list, get,
/// rotate, revoke), with fingerprints and PKCS#7 checked by `cryptography`. Runs under the same
/// `KS_FUSIONAUTH_PYTHON` interpreter as the FusionAuth client check.
#[test]
fn auth0_python_sdk_works() {
    let Some(python) = support::tool("KS_FUSIONAUTH_PYTHON", "the auth0-python check") else {
        return;
    };
    let script = format!(
        "{}/../../tests/python/auth0_client_check.py",
        env!("CARGO_MANIFEST_DIR")
    );
    for backend in support::backends() {
        let server = Server::start(backend);
        let output = std::process::Command::new(&python)
            .args([&script, &format!("http://{}/api/v2", server.addr), API_KEY])
            .output()
            .expect("run python");
        let stdout = String::from_utf8_lossy(&output.stdout);
        println!("auth0_client_check.py on {backend}:\n{stdout}");
        assert!(
            output.status.success(),
            "auth0_client_check.py failed on {backend}:\n{stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(stdout.contains("all auth0-python checks passed"));
    }
}

/// FusionAuth's official Python client (`fusionauth-client` from PyPI) against the real server,
/// and PyJWT validating vended tokens of every algorithm through the JWKS.
/// `.ci/run` installs it in a virtual environment and sets `KS_FUSIONAUTH_PYTHON` to its
/// interpreter; without that variable the test says so and does nothing.
#[test]
fn fusionauth_python_client_works() {
    let Some(python) = support::tool("KS_FUSIONAUTH_PYTHON", "the fusionauth-client check") else {
        return;
    };
    for (script, done) in [
        (
            "fusionauth_client_check.py",
            "fusionauth-client: all checks passed",
        ),
        ("jose_check.py", "jose: all checks passed"),
    ] {
        let script = format!("{}/../../tests/python/{script}", env!("CARGO_MANIFEST_DIR"));
        for backend in support::backends() {
            let server = Server::start(backend);
            let output = std::process::Command::new(&python)
                .args([&script, &format!("http://{}", server.addr), API_KEY])
                .output()
                .expect("run python");
            let stdout = String::from_utf8_lossy(&output.stdout);
            println!("{script} on {backend}:\n{stdout}");
            assert!(
                output.status.success(),
                "{script} failed on {backend}:\n{stdout}\n{}",
                String::from_utf8_lossy(&output.stderr)
            );
            assert!(stdout.contains(done));
        }
    }
}
