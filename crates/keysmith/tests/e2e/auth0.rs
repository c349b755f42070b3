//! Auth0's connection keys and tenant signing keys end to end: shapes checked against the
//! `openssl` command line, rotation under concurrency, a kill -9 in the middle of a rotation,
//! scheduled rotation across a restart, and rate limiting.

use std::collections::{BTreeSet, HashSet};
use std::io::Write as _;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::{self, API_KEY, Options, Response, Server};
use test_case::test_case;

pub(crate) const BEARER: &str = "Bearer test-api-key-0123456789abcdef";

/// A `/api/v2` request with the bearer API key.
pub(crate) fn a0(server: &Server, method: &str, path: &str, body: Option<Value>) -> Response {
    let body = body.map(|b| b.to_string().into_bytes());
    server.raw(
        method,
        &format!("/api/v2{path}"),
        &[
            ("Authorization", BEARER),
            ("Content-Type", "application/json"),
        ],
        body.as_deref(),
    )
}

/// Asserts Auth0's error shape and returns its `errorCode`.
fn auth0_error(response: &Response, status: u16) -> String {
    assert_eq!(response.status, status, "{}", response.text());
    let body = response.json();
    assert_eq!(body["statusCode"], status);
    assert!(
        body["error"].is_string() && body["message"].is_string(),
        "{body}"
    );
    body["errorCode"].as_str().expect("errorCode").to_owned()
}

pub(crate) fn create_connection(server: &Server, name: &str, extra: Value) -> String {
    let mut body = json!({"name": name, "strategy": "samlp"});
    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        body.extend(extra.clone());
    }
    let created = a0(server, "POST", "/connections", Some(body));
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

fn keys_of(server: &Server, id: &str) -> Vec<Value> {
    let response = a0(server, "GET", &format!("/connections/{id}/keys"), None);
    assert_eq!(response.status, 200, "{}", response.text());
    response.json().as_array().expect("a bare array").clone()
}

fn with_flag<'a>(keys: &'a [Value], flag: &str) -> Vec<&'a Value> {
    keys.iter().filter(|k| k[flag] == true).collect()
}

fn openssl(args: &[&str], input: &str) -> String {
    let mut child = Command::new("openssl")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("openssl on PATH");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// Checks one key's certificate facts with the `openssl` command line: the SHA-1 fingerprint
/// and thumbprint, the PKCS#7 bundle (which must hold exactly this certificate) and the subject.
fn check_certificate_facts(key: &Value, pkcs_field: &str) {
    let cert = key["cert"].as_str().unwrap();
    let fingerprint = openssl(&["x509", "-noout", "-fingerprint", "-sha1"], cert);
    let expected = fingerprint
        .trim()
        .rsplit('=')
        .next()
        .unwrap()
        .to_uppercase();
    assert_eq!(key["fingerprint"], expected.as_str());
    assert_eq!(key["thumbprint"], expected.replace(':', "").as_str());
    let pkcs = key[pkcs_field].as_str().unwrap();
    assert!(pkcs.starts_with("-----BEGIN PKCS7-----"), "{pkcs}");
    let inside = openssl(&["pkcs7", "-print_certs"], pkcs);
    let inside_der = openssl(&["x509", "-outform", "PEM"], &inside);
    let cert_pem = openssl(&["x509", "-outform", "PEM"], cert);
    assert_eq!(inside_der, cert_pem, "PKCS#7 holds the same certificate");
    assert_eq!(
        inside.matches("BEGIN CERTIFICATE").count(),
        1,
        "PKCS#7 holds exactly one certificate"
    );
    if let Some(subject_dn) = key["subject_dn"].as_str() {
        let subject = openssl(&["x509", "-noout", "-subject", "-nameopt", "RFC2253"], cert);
        assert_eq!(subject.trim().trim_start_matches("subject="), subject_dn);
    }
}

fn jwks_kids(server: &Server) -> HashSet<String> {
    server
        .raw("GET", "/.well-known/jwks.json", &[], None)
        .json()["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

/// FusionAuth's view of the same store: name → key.
fn fusionauth_keys(server: &Server) -> Vec<Value> {
    server.call("GET", "/api/key", None).json()["keys"]
        .as_array()
        .unwrap()
        .clone()
}

fn key_id_of_kid(server: &Server, kid: &str) -> String {
    fusionauth_keys(server)
        .into_iter()
        .find(|k| k["kid"] == kid)
        .unwrap_or_else(|| panic!("kid {kid} is not in /api/key"))["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[test_case("aws-lc" ; "aws_lc")]
#[test_case("openssl" ; "openssl")]
fn connection_keys_match_auth0_and_openssl(backend: &str) {
    let server = Server::start(backend);

    // Authentication: bearer only, Auth0's error shape.
    let anonymous = server.raw("GET", "/api/v2/connections", &[], None);
    assert_eq!(auth0_error(&anonymous, 401), "missing_authentication");
    let raw_key = server.raw(
        "GET",
        "/api/v2/connections",
        &[("Authorization", API_KEY)],
        None,
    );
    assert_eq!(auth0_error(&raw_key, 401), "missing_authentication");
    let wrong = server.raw(
        "GET",
        "/api/v2/connections",
        &[("Authorization", "Bearer nope")],
        None,
    );
    assert_eq!(auth0_error(&wrong, 401), "invalid_token");

    // Connections: validation, uniqueness, read, update.
    for bad in [
        json!({"strategy": "samlp"}),
        json!({"name": "-bad", "strategy": "samlp"}),
        json!({"name": "ok"}),
        json!({"name": "ok", "strategy": "samlp", "surprise": 1}),
        json!({"name": "ok", "strategy": "samlp", "metadata": {"n": 1}}),
        // Metadata values are strings (found by schemathesis: a null was kept and served).
        json!({"name": "ok", "strategy": "samlp", "metadata": {"n": null}}),
        json!({"name": "ok", "strategy": "oidc", "options": {"client_secret": "s"}}),
        json!({"name": "ok", "strategy": "oidc", "options": {"a": {"signingPrivateKey": "s"}}}),
    ] {
        let response = a0(&server, "POST", "/connections", Some(bad.clone()));
        assert_eq!(auth0_error(&response, 400), "invalid_body", "{bad}");
    }
    let unknown_field = a0(
        &server,
        "POST",
        "/connections",
        Some(json!({"name": "ok", "strategy": "samlp", "surprise": "s3cret-value"})),
    );
    assert!(unknown_field.text().contains("surprise"));
    assert!(
        !unknown_field.text().contains("s3cret-value"),
        "values are never echoed"
    );
    let id = create_connection(&server, "acme-saml", json!({"display_name": "Acme"}));
    let taken = a0(
        &server,
        "POST",
        "/connections",
        Some(json!({"name": "acme-saml", "strategy": "oidc"})),
    );
    auth0_error(&taken, 409);
    let got = a0(&server, "GET", &format!("/connections/{id}"), None);
    assert_eq!(got.status, 200);
    assert_eq!(got.json()["display_name"], "Acme");
    assert_eq!(got.json()["realms"], json!(["acme-saml"]));
    let patched = a0(
        &server,
        "PATCH",
        &format!("/connections/{id}"),
        Some(json!({"display_name": "Acme SSO", "metadata": {"team": "id"}})),
    );
    assert_eq!(patched.status, 200, "{}", patched.text());
    assert_eq!(patched.json()["display_name"], "Acme SSO");
    let rename = a0(
        &server,
        "PATCH",
        &format!("/connections/{id}"),
        Some(json!({"name": "other"})),
    );
    assert_eq!(auth0_error(&rename, 400), "invalid_body");
    // Whitespace alone is not an absent body (schemathesis: ST201); an empty one is.
    let bearer = format!("Bearer {API_KEY}");
    let headers = [
        ("Authorization", bearer.as_str()),
        ("Content-Type", "application/json"),
    ];
    let blank = server.raw(
        "PATCH",
        &format!("/api/v2/connections/{id}"),
        &headers,
        Some(b" "),
    );
    assert_eq!(auth0_error(&blank, 400), "invalid_body");
    let empty = server.raw(
        "PATCH",
        &format!("/api/v2/connections/{id}"),
        &headers,
        Some(b""),
    );
    assert_eq!(empty.status, 200, "{}", empty.text());
    let listed = a0(
        &server,
        "GET",
        "/connections?include_totals=true&per_page=10",
        None,
    );
    assert_eq!(listed.json()["total"], 1);
    // Paging as Auth0 pages: `page` from 0, `per_page`, and with `include_totals` an object
    // with `start` (= page × per_page), `limit` and `total`; pages are disjoint and ordered.
    for n in 0..4 {
        crate::auth0::create_connection(&server, &format!("paged-{n}"), json!({}));
    }
    let mut seen = Vec::new();
    for (page, expected) in [(0, 2), (1, 2), (2, 1), (3, 0)] {
        let listed = a0(
            &server,
            "GET",
            &format!("/connections?include_totals=true&per_page=2&page={page}"),
            None,
        );
        assert_eq!(listed.status, 200, "{}", listed.text());
        let body = listed.json();
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
        let bare = a0(
            &server,
            "GET",
            &format!("/connections?per_page=2&page={page}"),
            None,
        );
        assert_eq!(
            bare.json().as_array().map(Vec::len),
            Some(expected),
            "without include_totals a page is a bare array"
        );
    }
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(
        sorted.len(),
        5,
        "every connection on exactly one page: {seen:?}"
    );
    for bad in ["per_page=0", "per_page=101", "page=-1"] {
        let refused = a0(&server, "GET", &format!("/connections?{bad}"), None);
        assert_eq!(auth0_error(&refused, 400), "invalid_query_string", "{bad}");
    }
    for n in 0..4 {
        let all = a0(&server, "GET", "/connections?per_page=100", None).json();
        let id = all
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == format!("paged-{n}"))
            .map(|c| c["id"].as_str().unwrap().to_owned())
            .unwrap();
        assert_eq!(
            a0(&server, "DELETE", &format!("/connections/{id}"), None).status,
            202
        );
    }
    let bad_query = a0(&server, "GET", "/connections?bogus=1", None);
    assert_eq!(auth0_error(&bad_query, 400), "invalid_query_string");
    let missing = a0(
        &server,
        "GET",
        "/connections/con_AAAAAAAAAAAAAAAA/keys",
        None,
    );
    assert_eq!(auth0_error(&missing, 404), "inexistent_connection");
    let not_an_id = a0(&server, "GET", "/connections/..%2F..%2Fetc/keys", None);
    assert_eq!(auth0_error(&not_an_id, 404), "inexistent_connection");

    // No keys yet: a bare empty array; rotating first is refused.
    assert!(keys_of(&server, &id).is_empty());
    let early = a0(
        &server,
        "POST",
        &format!("/connections/{id}/keys/rotate"),
        None,
    );
    auth0_error(&early, 400);

    // Provision: an algorithm Auth0 does not know is refused (ML-DSA too, which Keysmith's own
    // key routes have); then current + next.
    for bad in [
        json!({"signing_alg": "HS256"}),
        json!({"signing_alg": "PS512"}),
        json!({"signing_alg": "ML-DSA-65"}),
    ] {
        let response = a0(
            &server,
            "POST",
            &format!("/connections/{id}/keys"),
            Some(bad),
        );
        assert_eq!(auth0_error(&response, 400), "invalid_body");
    }
    let provisioned = a0(
        &server,
        "POST",
        &format!("/connections/{id}/keys"),
        Some(json!({"signing_alg": "PS256"})),
    );
    assert_eq!(provisioned.status, 201, "{}", provisioned.text());
    let provisioned = provisioned.json();
    assert_eq!(provisioned.as_array().unwrap().len(), 2);
    let again = a0(
        &server,
        "POST",
        &format!("/connections/{id}/keys"),
        Some(json!({"signing_alg": "RS256"})),
    );
    auth0_error(&again, 409);

    let keys = keys_of(&server, &id);
    assert_eq!(keys.len(), 2);
    let current = with_flag(&keys, "current")[0].clone();
    let next = with_flag(&keys, "next")[0].clone();
    assert!(current["current_since"].as_str().unwrap().ends_with('Z'));
    for key in &keys {
        for field in [
            "kid",
            "cert",
            "pkcs",
            "current",
            "next",
            "previous",
            "fingerprint",
            "thumbprint",
            "algorithm",
            "key_use",
            "subject_dn",
        ] {
            assert!(!key[field].is_null(), "{field} missing in {key}");
        }
        assert_eq!(key["algorithm"], "PS256");
        assert_eq!(key["key_use"], "signing");
        assert_eq!(key["subject_dn"], "CN=acme-saml");
        check_certificate_facts(key, "pkcs");
        crate::assert_no_private_material(&key.to_string());
    }

    // Rotation: next → current, current → previous, new next returned as one object.
    let rotated = a0(
        &server,
        "POST",
        &format!("/connections/{id}/keys/rotate"),
        Some(json!({"signing_alg": "ES384"})),
    );
    assert_eq!(rotated.status, 201, "{}", rotated.text());
    let new_next = rotated.json();
    assert!(new_next.is_object());
    assert_eq!(new_next["algorithm"], "ES384");
    check_certificate_facts(&new_next, "pkcs");
    let keys = keys_of(&server, &id);
    assert_eq!(keys.len(), 3);
    assert_eq!(with_flag(&keys, "current")[0]["kid"], next["kid"]);
    assert_eq!(with_flag(&keys, "previous")[0]["kid"], current["kid"]);
    assert_eq!(with_flag(&keys, "next")[0]["kid"], new_next["kid"]);

    // One store: the keys are FusionAuth keys, published, and usable to vend.
    let jwks = jwks_kids(&server);
    for key in &keys {
        assert!(
            jwks.contains(key["kid"].as_str().unwrap()),
            "{key} in the JWKS"
        );
    }
    let current_id = key_id_of_kid(&server, next["kid"].as_str().unwrap());
    let vended = server.call(
        "POST",
        "/api/jwt/vend",
        Some(json!({"keyId": current_id, "claims": {"sub": "u1"}})),
    );
    assert_eq!(vended.status, 200, "{}", vended.text());
    // Deleting a key in use is refused, naming the connection and the role.
    let refused = server.call("DELETE", &format!("/api/key/{current_id}"), None);
    assert_eq!(refused.status, 400, "{}", refused.text());
    assert_eq!(refused.error_codes(), vec!["[inUse]keyId".to_owned()]);
    assert!(refused.text().contains(&id) && refused.text().contains("current"));

    // Encryption keys: RSA only, listed with key_use, never published, never sign tokens.
    let bad_encryption = a0(
        &server,
        "POST",
        &format!("/connections/{id}/keys"),
        Some(json!({"signing_alg": "ES256", "key_use": "encryption"})),
    );
    assert_eq!(auth0_error(&bad_encryption, 400), "invalid_body");
    let encryption = a0(
        &server,
        "POST",
        &format!("/connections/{id}/keys"),
        Some(json!({"signing_alg": "RS256", "key_use": "encryption"})),
    );
    assert_eq!(encryption.status, 201, "{}", encryption.text());
    let keys = keys_of(&server, &id);
    let encryption_keys: Vec<&Value> = keys
        .iter()
        .filter(|k| k["key_use"] == "encryption")
        .collect();
    assert_eq!(encryption_keys.len(), 2);
    let jwks = jwks_kids(&server);
    for key in &encryption_keys {
        assert!(!jwks.contains(key["kid"].as_str().unwrap()));
        check_certificate_facts(key, "pkcs");
    }
    let encryption_id = key_id_of_kid(&server, encryption_keys[0]["kid"].as_str().unwrap());
    let no_vend = server.call(
        "POST",
        "/api/jwt/vend",
        Some(json!({"keyId": encryption_id})),
    );
    assert_eq!(no_vend.status, 400, "{}", no_vend.text());

    // Deleting the connection deletes its keys: gone from /api/key and the JWKS.
    let ring_kids: Vec<String> = keys_of(&server, &id)
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect();
    let deleted = a0(&server, "DELETE", &format!("/connections/{id}"), None);
    assert_eq!(deleted.status, 202, "{}", deleted.text());
    let gone = a0(&server, "GET", &format!("/connections/{id}"), None);
    assert_eq!(auth0_error(&gone, 404), "inexistent_connection");
    let remaining: HashSet<String> = fusionauth_keys(&server)
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect();
    let jwks = jwks_kids(&server);
    for kid in &ring_kids {
        assert!(
            !remaining.contains(kid) && !jwks.contains(kid),
            "{kid} survived"
        );
    }
    let log = server.stop().1;
    assert!(log.contains("ring.rotate") && log.contains("connection.delete"));
}

#[test_case("aws-lc" ; "aws_lc")]
#[test_case("openssl" ; "openssl")]
fn tenant_signing_keys_rotate_and_revoke(backend: &str) {
    let server = Server::start(backend);
    let listed = a0(&server, "GET", "/keys/signing", None);
    assert_eq!(listed.status, 200, "{}", listed.text());
    let keys = listed.json().as_array().unwrap().clone();
    assert_eq!(keys.len(), 2, "current and next, created on first use");
    let first = with_flag(&keys, "current")[0].clone();
    let second = with_flag(&keys, "next")[0].clone();
    for key in &keys {
        check_certificate_facts(key, "pkcs7");
        assert_eq!(key["revoked"], false);
    }
    let one = a0(
        &server,
        "GET",
        &format!("/keys/signing/{}", first["kid"].as_str().unwrap()),
        None,
    );
    assert_eq!(one.json()["kid"], first["kid"]);
    let missing = a0(&server, "GET", "/keys/signing/nope", None);
    auth0_error(&missing, 404);

    // A token signed by the current key, to check after revocation.
    let first_id = key_id_of_kid(&server, first["kid"].as_str().unwrap());
    let token = server.call(
        "POST",
        "/api/jwt/vend",
        Some(json!({"keyId": first_id, "claims": {"sub": "u"}})),
    );
    let token = token.json()["token"].as_str().unwrap().to_owned();
    let validate = |server: &Server| {
        server
            .raw(
                "GET",
                "/api/jwt/validate",
                &[("Authorization", &format!("Bearer {token}"))],
                None,
            )
            .status
    };
    assert_eq!(validate(&server), 200);

    // Rotate: POST with no body at all, as the SDK sends it.
    let rotated = server.raw(
        "POST",
        "/api/v2/keys/signing/rotate",
        &[("Authorization", BEARER)],
        None,
    );
    assert_eq!(rotated.status, 201, "{}", rotated.text());
    let third = rotated.json();
    assert_eq!(third.as_object().unwrap().len(), 2, "{{cert, kid}}");
    let keys = a0(&server, "GET", "/keys/signing", None).json();
    let keys = keys.as_array().unwrap();
    assert_eq!(with_flag(keys, "current")[0]["kid"], second["kid"]);
    assert_eq!(with_flag(keys, "next")[0]["kid"], third["kid"]);
    let previous = with_flag(keys, "previous")[0];
    assert_eq!(previous["kid"], first["kid"]);
    assert!(previous["current_until"].is_string());
    let jwks = jwks_kids(&server);
    for kid in [&first["kid"], &second["kid"], &third["kid"]] {
        assert!(jwks.contains(kid.as_str().unwrap()));
    }
    assert_eq!(validate(&server), 200, "the previous key still verifies");

    // Only the previous key can be revoked.
    for kid in [&second["kid"], &third["kid"]] {
        let refused = server.raw(
            "PUT",
            &format!("/api/v2/keys/signing/{}/revoke", kid.as_str().unwrap()),
            &[("Authorization", BEARER)],
            None,
        );
        assert_eq!(auth0_error(&refused, 400), "operation_not_allowed");
    }
    let revoked = server.raw(
        "PUT",
        &format!(
            "/api/v2/keys/signing/{}/revoke",
            first["kid"].as_str().unwrap()
        ),
        &[("Authorization", BEARER)],
        None,
    );
    assert_eq!(revoked.status, 200, "{}", revoked.text());
    assert_eq!(revoked.json()["kid"], first["kid"]);
    let shown = a0(
        &server,
        "GET",
        &format!("/keys/signing/{}", first["kid"].as_str().unwrap()),
        None,
    )
    .json();
    assert_eq!(shown["revoked"], true);
    assert!(shown["revoked_at"].is_string());
    assert!(
        !jwks_kids(&server).contains(first["kid"].as_str().unwrap()),
        "revoked keys are never published"
    );
    assert_eq!(
        validate(&server),
        401,
        "tokens of a revoked key no longer validate"
    );
    let no_vend = server.call("POST", "/api/jwt/vend", Some(json!({"keyId": first_id})));
    assert_eq!(no_vend.status, 400, "{}", no_vend.text());

    // Revocation survives a restart (the JWKS is rebuilt from the store).
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("data");
    drop(server);
    let server = Server::start_in(
        &data,
        backend,
        Options {
            api_key: Some(API_KEY.into()),
            ..Default::default()
        },
    );
    let keys = a0(&server, "GET", "/keys/signing", None).json();
    let kid = with_flag(keys.as_array().unwrap(), "current")[0]["kid"]
        .as_str()
        .unwrap()
        .to_owned();
    a0(&server, "POST", "/keys/signing/rotate", None);
    let revoked = a0(&server, "PUT", &format!("/keys/signing/{kid}/revoke"), None);
    assert_eq!(revoked.status, 200);
    let (status, _) = server.stop();
    assert!(status.success());
    let server = Server::start_in(
        &data,
        backend,
        Options {
            api_key: Some(API_KEY.into()),
            ..Default::default()
        },
    );
    assert!(!jwks_kids(&server).contains(&kid));
    // A revoked key is not in use: it can be deleted, and leaves the list.
    let id = key_id_of_kid(&server, &kid);
    assert_eq!(
        server
            .call("DELETE", &format!("/api/key/{id}"), None)
            .status,
        200
    );
    let listed = a0(&server, "GET", "/keys/signing", None).json();
    assert!(
        listed
            .as_array()
            .unwrap()
            .iter()
            .all(|k| k["kid"] != kid.as_str())
    );
}

/// The ring keys' generation numbers (from their names), as FusionAuth lists them.
fn generations(server: &Server, connection: &str) -> BTreeSet<u64> {
    fusionauth_keys(server)
        .iter()
        .filter_map(|k| k["name"].as_str())
        .filter(|n| n.starts_with(&format!("Connection {connection} ")))
        .map(|n| n.rsplit('#').next().unwrap().parse().unwrap())
        .collect()
}

#[test_case("aws-lc" ; "aws_lc")]
#[test_case("openssl" ; "openssl")]
fn parallel_rotations_never_skip_or_lose_a_key(backend: &str) {
    const ROTATIONS: usize = 8;
    let server = Server::start(backend);
    let id = create_connection(&server, "busy", json!({}));
    let provisioned = a0(
        &server,
        "POST",
        &format!("/connections/{id}/keys"),
        Some(json!({"signing_alg": "ES256"})),
    );
    assert_eq!(provisioned.status, 201);
    let addr = server.addr.clone();
    let threads: Vec<_> = (0..ROTATIONS)
        .map(|_| {
            let addr = addr.clone();
            let path = format!("/api/v2/connections/{id}/keys/rotate");
            std::thread::spawn(move || {
                support::http(&addr, "POST", &path, &[("Authorization", BEARER)], None)
            })
        })
        .collect();
    // Readers meanwhile always see one whole ring: one current, one next, every key stored.
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let readers: Vec<_> = (0..3)
        .map(|_| {
            let (addr, done) = (addr.clone(), done.clone());
            let path = format!("/api/v2/connections/{id}/keys");
            std::thread::spawn(move || {
                let mut reads = 0;
                while !done.load(std::sync::atomic::Ordering::SeqCst) || reads == 0 {
                    let response =
                        support::http(&addr, "GET", &path, &[("Authorization", BEARER)], None);
                    assert_eq!(response.status, 200, "{}", response.text());
                    let keys = response.json().as_array().unwrap().clone();
                    assert_eq!(with_flag(&keys, "current").len(), 1, "{keys:?}");
                    assert_eq!(with_flag(&keys, "next").len(), 1, "{keys:?}");
                    reads += 1;
                }
            })
        })
        .collect();
    let mut returned = HashSet::new();
    for thread in threads {
        let response = thread.join().unwrap();
        assert_eq!(
            response.status,
            201,
            "{}\n{}",
            response.text(),
            server.log()
        );
        assert!(
            returned.insert(response.json()["kid"].as_str().unwrap().to_owned()),
            "two rotations returned one key"
        );
    }
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    for reader in readers {
        reader.join().unwrap();
    }
    let keys = keys_of(&server, &id);
    assert_eq!(keys.len(), 3, "{keys:?}");
    for flag in ["current", "next", "previous"] {
        assert_eq!(with_flag(&keys, flag).len(), 1, "exactly one {flag}");
    }
    // The ring is the last three generations: 2 provisioned + 8 rotations = #8, #9, #10, and
    // nothing else of this connection is stored (no orphan, no skipped generation).
    assert_eq!(generations(&server, &id), BTreeSet::from([8, 9, 10]));
    for flag in ["current", "next", "previous"] {
        let kid = with_flag(&keys, flag)[0]["kid"].as_str().unwrap();
        assert!(
            returned.contains(kid),
            "the {flag} key came from one of the rotations"
        );
    }
    let name_of = |kid: &str| {
        fusionauth_keys(&server)
            .into_iter()
            .find(|k| k["kid"] == kid)
            .unwrap()["name"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert!(name_of(with_flag(&keys, "previous")[0]["kid"].as_str().unwrap()).ends_with("#8"));
    assert!(name_of(with_flag(&keys, "current")[0]["kid"].as_str().unwrap()).ends_with("#9"));
    assert!(name_of(with_flag(&keys, "next")[0]["kid"].as_str().unwrap()).ends_with("#10"));
}

#[test_case("aws-lc" ; "aws_lc")]
#[test_case("openssl" ; "openssl")]
fn kill_9_mid_rotation_leaves_the_previous_ring_whole(backend: &str) {
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("data");
    let plain = Options {
        api_key: Some(API_KEY.into()),
        ..Default::default()
    };
    let server = Server::start_in(&data, backend, plain.clone());
    let id = create_connection(&server, "crashy", json!({}));
    assert_eq!(
        a0(&server, "POST", &format!("/connections/{id}/keys"), None).status,
        201
    );
    assert_eq!(
        a0(
            &server,
            "POST",
            &format!("/connections/{id}/keys/rotate"),
            None
        )
        .status,
        201
    );
    let before = keys_of(&server, &id);
    let before_store = fusionauth_keys(&server);
    assert!(server.stop().0.success());

    // With the failpoint, a rotation writes everything and then waits before its commit.
    let mut paused = plain.clone();
    paused.env.push((
        keysmith::server::FAILPOINT_RING_COMMIT_PAUSE_MS.into(),
        "30000".into(),
    ));
    let server = Server::start_in(&data, backend, paused);
    let addr = server.addr.clone();
    let path = format!("/api/v2/connections/{id}/keys/rotate");
    let rotation = std::thread::spawn(move || {
        support::try_http(&addr, "POST", &path, &[("Authorization", BEARER)], None)
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    while !server.log().contains("failpoint: ring change written") {
        assert!(
            Instant::now() < deadline,
            "the rotation never reached the failpoint:\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    server.kill_9();
    assert!(
        rotation.join().unwrap().is_err(),
        "the rotation was never acknowledged"
    );

    let server = Server::start_in(&data, backend, plain);
    assert_eq!(
        keys_of(&server, &id),
        before,
        "the ring is exactly as before the rotation"
    );
    assert_eq!(
        fusionauth_keys(&server),
        before_store,
        "no half-written key is left"
    );
    assert_eq!(
        a0(
            &server,
            "POST",
            &format!("/connections/{id}/keys/rotate"),
            None
        )
        .status,
        201
    );
    assert_eq!(generations(&server, &id), BTreeSet::from([2, 3, 4]));
}

// One backend: the scheduler is not the backend's.
#[test_case("aws-lc" ; "aws_lc")]
fn scheduled_rotation_catches_up_once(backend: &str) {
    const PERIOD: u64 = 4;
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("data");
    let options = Options {
        api_key: Some(API_KEY.into()),
        env: vec![(
            "KEYSMITH_ROTATION_CHECK_INTERVAL_SECONDS".into(),
            "1".into(),
        )],
        ..Default::default()
    };
    let server = Server::start_in(&data, backend, options.clone());
    let id = create_connection(
        &server,
        "scheduled",
        json!({"rotation_period_seconds": PERIOD}),
    );
    let manual = create_connection(&server, "manual", json!({}));
    for connection in [&id, &manual] {
        let path = format!("/connections/{connection}/keys");
        assert_eq!(
            a0(
                &server,
                "POST",
                &path,
                Some(json!({"signing_alg": "ES256"}))
            )
            .status,
            201
        );
    }
    // While running: rotated once the period has passed.
    let deadline = Instant::now() + Duration::from_secs(PERIOD + 6);
    while generations(&server, &id).last() != Some(&3) {
        assert!(
            Instant::now() < deadline,
            "no scheduled rotation:\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let newest = *generations(&server, &id).last().unwrap();
    let (status, log) = server.stop();
    assert!(status.success());
    assert!(
        log.contains("scheduled"),
        "the rotation is logged as scheduled:\n{log}"
    );

    // Down for two and a half periods: one catch-up rotation at start, not two.
    std::thread::sleep(Duration::from_secs(PERIOD * 5 / 2));
    let server = Server::start_in(&data, backend, options);
    let started = Instant::now();
    while generations(&server, &id).last() != Some(&(newest + 1)) {
        assert!(
            started.elapsed() < Duration::from_secs(PERIOD - 1),
            "no catch-up rotation: {:?}\n{}",
            generations(&server, &id),
            server.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(
        generations(&server, &id).last(),
        Some(&(newest + 1)),
        "caught up exactly once"
    );
    assert_eq!(
        generations(&server, &manual),
        BTreeSet::from([1, 2]),
        "no period, no rotation"
    );
}

// One backend: the rate limit is not the backend's.
#[test_case("openssl" ; "openssl")]
fn key_generation_is_rate_limited(backend: &str) {
    let temp = tempfile::tempdir().unwrap();
    let options = Options {
        api_key: Some(API_KEY.into()),
        env: vec![
            ("KEYSMITH_KEY_GENERATION_PER_MINUTE".into(), "2".into()),
            ("KEYSMITH_KEY_GENERATION_BURST".into(), "2".into()),
        ],
        ..Default::default()
    };
    let server = Server::start_in(&temp.path().join("data"), backend, options);
    let id = create_connection(&server, "limited", json!({}));
    let path = format!("/connections/{id}/keys");
    assert_eq!(
        a0(
            &server,
            "POST",
            &path,
            Some(json!({"signing_alg": "ES256"}))
        )
        .status,
        201
    );
    assert_eq!(
        a0(&server, "POST", &format!("{path}/rotate"), None).status,
        201
    );
    let limited = a0(&server, "POST", &format!("{path}/rotate"), None);
    assert_eq!(auth0_error(&limited, 429), "too_many_requests");
    let wait: u64 = limited.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=30).contains(&wait), "{wait}");
    // Reads are not limited, and the refused rotation changed nothing.
    assert_eq!(generations(&server, &id), BTreeSet::from([1, 2, 3]));
}

// One backend: the scheduler is not the backend's.
#[test_case("openssl" ; "openssl")]
fn scheduled_tenant_rotation_from_config(backend: &str) {
    let temp = tempfile::tempdir().unwrap();
    let options = Options {
        api_key: Some(API_KEY.into()),
        env: vec![
            (
                "KEYSMITH_ROTATION_CHECK_INTERVAL_SECONDS".into(),
                "1".into(),
            ),
            ("KEYSMITH_ROTATION_TENANT_PERIOD_SECONDS".into(), "2".into()),
            ("KEYSMITH_TENANT_SIGNING_ALG".into(), "ES256".into()),
        ],
        ..Default::default()
    };
    let server = Server::start_in(&temp.path().join("data"), backend, options);
    let first = a0(&server, "GET", "/keys/signing", None).json();
    let first_current = with_flag(first.as_array().unwrap(), "current")[0]["kid"].clone();
    let deadline = Instant::now() + Duration::from_secs(8);
    loop {
        let keys = a0(&server, "GET", "/keys/signing", None).json();
        let keys = keys.as_array().unwrap();
        if let Some(previous) = with_flag(keys, "previous").first() {
            assert_eq!(previous["kid"], first_current, "one step at a time");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the tenant keys never rotated:\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(server.log().contains("scheduled"));
}

/// A revoked tenant signing key, deleted (restorably) and restored, comes back revoked: back in
/// the ring's revoked keys, not published, and unable to sign, vend or validate, across a
/// restart too.
#[test_case("aws-lc" ; "aws_lc")]
#[test_case("openssl" ; "openssl")]
fn a_restored_revoked_signing_key_stays_revoked(backend: &str) {
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("data");
    let options = Options {
        api_key: Some(API_KEY.into()),
        env: vec![("KEYSMITH_DELETION_WINDOW_SECONDS".into(), "3600".into())],
        ..Default::default()
    };
    let server = Server::start_in(&data, backend, options.clone());
    let keys = a0(&server, "GET", "/keys/signing", None).json();
    let second = with_flag(keys.as_array().unwrap(), "next")[0]["kid"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        a0(&server, "POST", "/keys/signing/rotate", None).status,
        201
    );
    // `second` is current now: a token it signs, to validate later.
    let id = key_id_of_kid(&server, &second);
    let token = server.call(
        "POST",
        "/api/jwt/vend",
        Some(json!({"keyId": id, "claims": {"sub": "u"}})),
    );
    assert_eq!(token.status, 200, "{}", token.text());
    let token = token.json()["token"].as_str().unwrap().to_owned();
    let validate = |server: &Server| {
        server
            .raw(
                "GET",
                "/api/jwt/validate",
                &[("Authorization", &format!("Bearer {token}"))],
                None,
            )
            .status
    };
    assert_eq!(validate(&server), 200);
    assert_eq!(
        a0(&server, "POST", "/keys/signing/rotate", None).status,
        201
    );
    let revoked = a0(
        &server,
        "PUT",
        &format!("/keys/signing/{second}/revoke"),
        None,
    );
    assert_eq!(revoked.status, 200, "{}", revoked.text());

    let is_withdrawn = |server: &Server| {
        let shown = a0(server, "GET", &format!("/keys/signing/{second}"), None);
        assert_eq!(shown.status, 200, "{}", shown.text());
        assert_eq!(shown.json()["revoked"], true, "listed as revoked");
        assert!(shown.json()["revoked_at"].is_string());
        let listed = a0(server, "GET", "/keys/signing", None).json();
        assert!(
            listed
                .as_array()
                .unwrap()
                .iter()
                .any(|k| k["kid"] == second.as_str() && k["revoked"] == true)
        );
        assert!(
            !jwks_kids(server).contains(&second),
            "a revoked key is never published"
        );
        assert_eq!(validate(server), 401, "its tokens do not validate");
        let vend = server.call("POST", "/api/jwt/vend", Some(json!({"keyId": id})));
        assert_eq!(vend.status, 400, "{}", vend.text());
        let sign = server.call(
            "POST",
            &format!("/api/key/{id}/sign"),
            Some(json!({"payload": "aGk"})),
        );
        assert_eq!(sign.status, 400, "{}", sign.text());
    };
    is_withdrawn(&server);

    // Deleted (a revoked key is not in use), then restored: it comes back revoked.
    let deleted = server.call("DELETE", &format!("/api/key/{id}"), None);
    assert_eq!(deleted.status, 200, "{}", deleted.text());
    assert_eq!(
        a0(&server, "GET", &format!("/keys/signing/{second}"), None).status,
        404
    );
    let restored = server.call("POST", &format!("/api/key/{id}/restore"), None);
    assert_eq!(restored.status, 200, "{}", restored.text());
    assert_eq!(restored.json()["key"]["kid"], second.as_str());
    is_withdrawn(&server);

    // And so it stays after a restart (the JWKS is rebuilt from the store).
    assert!(server.stop().0.success());
    let server = Server::start_in(&data, backend, options);
    is_withdrawn(&server);
}
