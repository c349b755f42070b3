//! Tokens end to end: JWKS, public keys, vend/validate, algorithm confusion, sign/verify.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use keysmith_crypto::KeyBackend;
use keysmith_model::{Algorithm, PrivateMaterial, SecretBytes};
use serde_json::{Value, json};

use crate::support::{self, API_KEY, Options, Server};
use test_case::test_case;

/// Every algorithm, with the RSA length the tests generate.
pub(crate) const ALL: [(&str, Option<u32>); 13] = [
    ("RS256", Some(2048)),
    ("RS384", Some(2048)),
    ("RS512", Some(2048)),
    ("PS256", Some(2048)),
    ("PS384", Some(2048)),
    ("PS512", Some(2048)),
    ("ES256", None),
    ("ES384", None),
    ("ES512", None),
    ("Ed25519", None),
    ("HS256", None),
    ("HS384", None),
    ("HS512", None),
];

pub(crate) fn backend(name: &str) -> Arc<dyn KeyBackend> {
    keysmith::backend::select_backend(Some(name))
        .unwrap()
        .backend
}

pub(crate) fn generate(server: &Server, algorithm: &str, length: Option<u32>, name: &str) -> Value {
    let mut body = json!({"algorithm": algorithm, "name": name});
    if let Some(length) = length {
        body["length"] = json!(length);
    }
    crate::generate(server, body)
}

fn b64(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}

fn vend(server: &Server, key_id: &str, claims: Value, ttl: i64) -> String {
    let response = server.call(
        "POST",
        "/api/jwt/vend",
        Some(json!({"claims": claims, "keyId": key_id, "timeToLiveInSeconds": ttl})),
    );
    assert_eq!(response.status, 200, "{}", response.text());
    response.json()["token"].as_str().unwrap().to_owned()
}

fn validate(server: &Server, token: &str) -> support::Response {
    server.raw(
        "GET",
        "/api/jwt/validate",
        &[("Authorization", &format!("Bearer {token}"))],
        None,
    )
}

fn assert_refused(server: &Server, token: &str, why: &str) {
    let response = validate(server, token);
    assert_eq!(response.status, 401, "{why}: {}", response.text());
    assert!(response.body.is_empty(), "{why}: 401 has an empty body");
}

/// An RSA key whose private half the test holds, imported into the server as RS256.
struct HeldKey {
    kid: String,
    private: PrivateMaterial,
    public_pem: String,
}

fn import_held_rsa(server: &Server, backend_name: &str) -> HeldKey {
    let backend = backend(backend_name);
    let generated = backend.generate(Algorithm::RS256, Some(2048)).unwrap();
    let pkcs8 = keysmith_crypto::pem::encode(
        "PRIVATE KEY",
        generated.private.expose(),
        keysmith_crypto::pem::LineEnding::Lf,
    );
    let response = server.call("POST", "/api/key/import", Some(json!({"key": {"name": "held", "algorithm": "RS256", "privateKey": pkcs8, "kid": "held-kid"}})));
    assert_eq!(response.status, 200, "{}", response.text());
    let key = response.json()["key"].clone();
    HeldKey {
        kid: "held-kid".into(),
        private: generated.private,
        public_pem: key["publicKey"].as_str().unwrap().to_owned(),
    }
}

/// A token signed locally with `algorithm` by `private`.
fn forge(
    backend_name: &str,
    algorithm: Algorithm,
    private: &PrivateMaterial,
    header: &Value,
    claims: &Value,
) -> String {
    let input = format!("{}.{}", b64(header), b64(claims));
    let signature = backend(backend_name)
        .signing_key(algorithm, private)
        .unwrap()
        .sign(input.as_bytes())
        .unwrap();
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[test_case("aws-lc" ; "aws_lc")]
#[test_case("openssl" ; "openssl")]
fn jwks_lists_asymmetric_keys_and_caches(backend_name: &str) {
    let server = Server::start(backend_name);
    let mut keys = Vec::new();
    for (algorithm, length) in ALL {
        keys.push(generate(
            &server,
            algorithm,
            length,
            &format!("{algorithm} key"),
        ));
    }
    let response = server.raw("GET", "/.well-known/jwks.json", &[], None);
    assert_eq!(response.status, 200, "anonymous");
    assert_eq!(
        response.header("cache-control"),
        Some("public, max-age=300")
    );
    let etag = response.header("etag").expect("ETag").to_owned();
    assert!(
        etag.starts_with('"') && etag.ends_with('"') && !etag.starts_with("W/"),
        "strong ETag: {etag}"
    );
    let jwks = response.json();
    let listed = jwks["keys"].as_array().unwrap();
    assert_eq!(listed.len(), 10, "every RSA, EC and OKP key, no HMAC key");
    for key in keys.iter().filter(|k| k["type"] != "HMAC") {
        let jwk = listed
            .iter()
            .find(|j| j["kid"] == key["kid"])
            .expect("listed by kid");
        let alg = if key["algorithm"] == "Ed25519" {
            "EdDSA"
        } else {
            key["algorithm"].as_str().unwrap()
        };
        assert_eq!(jwk["alg"], alg);
        assert_eq!(jwk["use"], "sig");
        assert_eq!(jwk["kty"], key["type"]);
        assert_eq!(jwk["x5t"], key["certificateInformation"]["sha1Thumbprint"]);
        assert_eq!(
            jwk["x5t#S256"],
            key["certificateInformation"]["sha256Thumbprint"]
        );
        let cert_b64: String = key["certificate"]
            .as_str()
            .unwrap()
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .collect();
        assert_eq!(jwk["x5c"][0], cert_b64.as_str());
        match jwk["kty"].as_str().unwrap() {
            "RSA" => assert!(jwk["n"].is_string() && jwk["e"] == "AQAB"),
            "EC" => assert!(jwk["crv"].is_string() && jwk["x"].is_string() && jwk["y"].is_string()),
            _ => assert!(jwk["crv"] == "Ed25519" && jwk["x"].is_string() && jwk.get("y").is_none()),
        }
    }
    // 304 on If-None-Match; the ETag changes when a key is added, renamed or removed.
    let again = server.raw(
        "GET",
        "/.well-known/jwks.json",
        &[("If-None-Match", &etag)],
        None,
    );
    assert_eq!((again.status, again.body.len()), (304, 0));
    assert_eq!(again.header("etag"), Some(etag.as_str()));
    let etag_of = || {
        server
            .raw("GET", "/.well-known/jwks.json", &[], None)
            .header("etag")
            .unwrap()
            .to_owned()
    };
    let hmac = keys.iter().find(|k| k["type"] == "HMAC").unwrap();
    let path = format!("/api/key/{}", hmac["id"].as_str().unwrap());
    server.call("PUT", &path, Some(json!({"key": {"name": "renamed hmac"}})));
    let renamed = etag_of();
    assert_ne!(renamed, etag, "a rename changes the ETag");
    generate(&server, "ES256", None, "added");
    let added = etag_of();
    assert_ne!(added, renamed);
    server.call("DELETE", &path, None);
    let removed = etag_of();
    assert_ne!(removed, added);
    assert_eq!(
        server
            .raw(
                "GET",
                "/.well-known/jwks.json",
                &[("If-None-Match", &etag)],
                None
            )
            .status,
        200,
        "a stale ETag gets the new JWKS"
    );
}

#[test_case("aws-lc" ; "aws_lc")]
#[test_case("openssl" ; "openssl")]
fn public_keys_by_kid(backend_name: &str) {
    let server = Server::start(backend_name);
    let ec = generate(&server, "ES384", None, "ec");
    generate(&server, "HS256", None, "hmac");
    let all = server.raw("GET", "/api/jwt/public-key", &[], None).json();
    let map = all["publicKeys"].as_object().unwrap();
    assert_eq!(map.len(), 1, "HMAC keys have no public key");
    assert_eq!(map[ec["kid"].as_str().unwrap()], ec["publicKey"]);
    let one = server.raw(
        "GET",
        &format!("/api/jwt/public-key?kid={}", ec["kid"].as_str().unwrap()),
        &[],
        None,
    );
    assert_eq!(one.json(), json!({"publicKey": ec["publicKey"]}));
    let missing = server.raw("GET", "/api/jwt/public-key?kid=nope", &[], None);
    assert_eq!((missing.status, missing.body.len()), (404, 0));
}

#[test_case("aws-lc" ; "aws_lc")]
#[test_case("openssl" ; "openssl")]
fn vend_and_validate_every_algorithm(backend_name: &str) {
    let server = Server::start(backend_name);
    for (algorithm, length) in ALL {
        let key = generate(&server, algorithm, length, algorithm);
        let token = vend(
            &server,
            key["id"].as_str().unwrap(),
            json!({"sub": "user-1", "roles": ["admin"], "iat": 1}),
            120,
        );
        let parts: Vec<&str> = token.split('.').collect();
        assert_eq!(parts.len(), 3);
        let header: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
        let jws_alg = if algorithm == "Ed25519" {
            "EdDSA"
        } else {
            algorithm
        };
        assert_eq!(
            header,
            json!({"alg": jws_alg, "kid": key["kid"], "typ": "JWT"})
        );
        let response = validate(&server, &token);
        assert_eq!(response.status, 200, "{algorithm}: {}", response.text());
        let claims = response.json()["jwt"].clone();
        assert_eq!(claims["sub"], "user-1");
        assert_eq!(claims["roles"], json!(["admin"]));
        let iat = claims["iat"].as_i64().unwrap();
        assert!((iat - now()).abs() < 30, "the server sets iat");
        assert_eq!(claims["exp"].as_i64().unwrap() - iat, 120);
        assert_eq!(claims["jti"].as_str().unwrap().len(), 36);
    }
    // Vend refusals: 400 with FusionAuth's Errors JSON.
    let imported = server
        .call(
            "POST",
            "/api/key/import",
            Some(json!({"key": {"name": "public only", "certificate": crate::FA_CERT}})),
        )
        .json()["key"]
        .clone();
    let refusal = |body: Value| {
        server
            .call("POST", "/api/jwt/vend", Some(body))
            .error_codes()
    };
    assert_eq!(
        refusal(json!({"keyId": imported["id"], "claims": {}})),
        ["[invalid]keyId"],
        "no private key"
    );
    assert_eq!(
        refusal(json!({"keyId": "00000000-0000-4000-8000-000000000000"})),
        ["[invalid]keyId"],
        "unknown key"
    );
    assert_eq!(refusal(json!({"claims": {}})), ["[blank]keyId"]);
    assert_eq!(refusal(json!({"keyId": "x"})), ["[invalid]keyId"]);
    let key_id = server.call("GET", "/api/key", None).json()["keys"][0]["id"].clone();
    assert_eq!(
        refusal(json!({"keyId": key_id, "claims": [1]})),
        ["[invalid]claims"]
    );
    assert_eq!(
        refusal(json!({"keyId": key_id, "timeToLiveInSeconds": 0})),
        ["[invalid]timeToLiveInSeconds"]
    );
    assert_eq!(
        server.raw("POST", "/api/jwt/vend", &[], Some(b"{}")).status,
        401,
        "vend needs an API key"
    );
}

#[test_case("aws-lc" ; "aws_lc")]
#[test_case("openssl" ; "openssl")]
fn validate_refuses_alg_none(backend_name: &str) {
    let server = Server::start(backend_name);
    let key = generate(&server, "RS256", Some(2048), "rsa");
    let claims = json!({"sub": "x", "exp": now() + 600});
    for alg in ["none", "None", "NONE"] {
        let token = format!(
            "{}.{}.",
            b64(&json!({"alg": alg, "kid": key["kid"]})),
            b64(&claims)
        );
        assert_refused(&server, &token, alg);
    }
}

#[test_case("aws-lc" ; "aws_lc")]
#[test_case("openssl" ; "openssl")]
fn validate_refuses_hmac_signed_with_the_rsa_public_key(backend_name: &str) {
    let server = Server::start(backend_name);
    let key = generate(&server, "RS256", Some(2048), "rsa");
    let claims = json!({"sub": "attacker", "exp": now() + 600});
    // The classic confusion: HS256 keyed with the RSA public key's bytes, in every form an
    // attacker might try (PEM, PEM without the final newline, DER).
    let pem = key["publicKey"].as_str().unwrap();
    let der = STANDARD
        .decode(
            pem.lines()
                .filter(|l| !l.starts_with("-----"))
                .collect::<String>(),
        )
        .unwrap();
    for secret in [
        pem.as_bytes().to_vec(),
        format!("{pem}\n").into_bytes(),
        der,
    ] {
        let hmac = PrivateMaterial::HmacSecret(SecretBytes::new(secret));
        let token = forge(
            backend_name,
            Algorithm::HS256,
            &hmac,
            &json!({"alg": "HS256", "kid": key["kid"], "typ": "JWT"}),
            &claims,
        );
        assert_refused(&server, &token, "HS256 with the RSA public key");
    }
}

#[test_case("aws-lc" ; "aws_lc")]
#[test_case("openssl" ; "openssl")]
fn validate_refuses_an_algorithm_other_than_the_keys(backend_name: &str) {
    let server = Server::start(backend_name);
    let held = import_held_rsa(&server, backend_name);
    let claims = json!({"sub": "x", "exp": now() + 600});
    // Correctly signed with the key's own private key, but with another RSA algorithm.
    let good = forge(
        backend_name,
        Algorithm::RS256,
        &held.private,
        &json!({"alg": "RS256", "kid": held.kid}),
        &claims,
    );
    assert_eq!(
        validate(&server, &good).status,
        200,
        "the key's own algorithm is accepted"
    );
    for other in [
        Algorithm::PS256,
        Algorithm::RS384,
        Algorithm::RS512,
        Algorithm::PS512,
    ] {
        let token = forge(
            backend_name,
            other,
            &held.private,
            &json!({"alg": other.as_str(), "kid": held.kid}),
            &claims,
        );
        assert_refused(&server, &token, other.as_str());
    }
    // A header that claims RS256 over a PS256 signature is a bad signature.
    let input = format!(
        "{}.{}",
        b64(&json!({"alg": "RS256", "kid": held.kid})),
        b64(&claims)
    );
    let pss = backend(backend_name)
        .signing_key(Algorithm::PS256, &held.private)
        .unwrap()
        .sign(input.as_bytes())
        .unwrap();
    assert_refused(
        &server,
        &format!("{input}.{}", URL_SAFE_NO_PAD.encode(pss)),
        "RS256 header, PS256 signature",
    );
    assert!(!held.public_pem.is_empty());
}

#[test_case("aws-lc" ; "aws_lc")]
#[test_case("openssl" ; "openssl")]
fn validate_refuses_unknown_and_injected_kids(backend_name: &str) {
    let server = Server::start(backend_name);
    let held = import_held_rsa(&server, backend_name);
    let hmac = generate(&server, "HS256", None, "hmac");
    let claims = json!({"sub": "x", "exp": now() + 600});
    for kid in [
        json!("no-such-kid"),
        json!("../../../../dev/null"),
        json!("' OR '1'='1"),
        json!(""),
        json!(null),
        json!(42),
        json!(["held-kid"]),
        hmac["kid"].clone(),
    ] {
        let token = forge(
            backend_name,
            Algorithm::RS256,
            &held.private,
            &json!({"alg": "RS256", "kid": kid}),
            &claims,
        );
        assert_refused(&server, &token, &format!("kid {kid}"));
    }
    let no_kid = forge(
        backend_name,
        Algorithm::RS256,
        &held.private,
        &json!({"alg": "RS256"}),
        &claims,
    );
    assert_refused(&server, &no_kid, "no kid");
    let jku = forge(
        backend_name,
        Algorithm::RS256,
        &held.private,
        &json!({"alg": "RS256", "kid": "x", "jwk": {"kty": "RSA"}}),
        &claims,
    );
    assert_refused(&server, &jku, "embedded jwk with an unknown kid");
}

#[test_case("aws-lc" ; "aws_lc")]
#[test_case("openssl" ; "openssl")]
fn validate_refuses_bad_signatures_and_truncated_tokens(backend_name: &str) {
    let server = Server::start(backend_name);
    for (algorithm, length) in [
        ("RS256", Some(2048)),
        ("ES256", None),
        ("Ed25519", None),
        ("HS256", None),
    ] {
        let key = generate(&server, algorithm, length, algorithm);
        let token = vend(
            &server,
            key["id"].as_str().unwrap(),
            json!({"sub": "x"}),
            600,
        );
        assert_eq!(validate(&server, &token).status, 200);
        let (input, signature) = token.rsplit_once('.').unwrap();
        let mut bytes = URL_SAFE_NO_PAD.decode(signature).unwrap();
        bytes[0] ^= 0x01;
        assert_refused(
            &server,
            &format!("{input}.{}", URL_SAFE_NO_PAD.encode(&bytes)),
            "flipped signature bit",
        );
        let (header, payload) = input.split_once('.').unwrap();
        let other_claims = b64(&json!({"sub": "admin", "exp": now() + 600}));
        assert_refused(
            &server,
            &format!("{header}.{other_claims}.{signature}"),
            "swapped payload",
        );
        for truncated in [
            input.to_owned(),
            format!("{input}."),
            token[..token.len() / 2].to_owned(),
            format!("{header}.{payload}"),
            header.to_owned(),
            String::new(),
            format!("{token}.extra"),
            format!("{input}.{}", &signature[..signature.len() - 4]),
        ] {
            assert_refused(&server, &truncated, "truncated or malformed");
        }
        assert_refused(&server, &format!("{input}.!!!{signature}"), "not base64url");
    }
    let missing = server.raw("GET", "/api/jwt/validate", &[], None);
    assert_eq!((missing.status, missing.body.len()), (401, 0), "no token");
}

// One backend: the clock checks are not the backend's (use_cases.rs checks them in process).
#[test_case("aws-lc" ; "aws_lc")]
fn validate_refuses_expired_and_not_yet_valid_tokens(backend_name: &str) {
    let server = Server::start(backend_name);
    let held = import_held_rsa(&server, backend_name);
    let token = |claims: Value| {
        forge(
            backend_name,
            Algorithm::RS256,
            &held.private,
            &json!({"alg": "RS256", "kid": held.kid}),
            &claims,
        )
    };
    // The allowed clock skew is 60 seconds (jwt_clock_skew_seconds).
    assert_refused(
        &server,
        &token(json!({"exp": now() - 120})),
        "expired two minutes ago",
    );
    assert_eq!(
        validate(&server, &token(json!({"exp": now() - 10}))).status,
        200,
        "within the skew"
    );
    assert_refused(
        &server,
        &token(json!({"exp": now() + 600, "nbf": now() + 300})),
        "not valid for five minutes",
    );
    assert_refused(
        &server,
        &token(json!({"exp": "tomorrow"})),
        "exp is not a number",
    );
    // A vended token with a one-second lifetime expires once the skew has passed too.
    let server = Server::start_in(
        &tempfile::tempdir().unwrap().keep().join("data"),
        backend_name,
        Options {
            api_key: Some(API_KEY.into()),
            env: vec![("KEYSMITH_JWT_CLOCK_SKEW_SECONDS".into(), "0".into())],
            ..Default::default()
        },
    );
    let key = generate(&server, "ES256", None, "short");
    let vended = vend(&server, key["id"].as_str().unwrap(), json!({}), 1);
    std::thread::sleep(std::time::Duration::from_millis(2100));
    assert_refused(
        &server,
        &vended,
        "vended with a 1 s lifetime, checked 2 s later",
    );
}

#[test_case("aws-lc" ; "aws_lc")]
#[test_case("openssl" ; "openssl")]
fn sign_and_verify_without_exporting(backend_name: &str) {
    let server = Server::start(backend_name);
    let local = backend(backend_name);
    for (algorithm, length) in [
        ("ES256", None),
        ("PS256", Some(2048)),
        ("Ed25519", None),
        ("HS512", None),
    ] {
        let key = generate(&server, algorithm, length, algorithm);
        let path = format!("/api/key/{}", key["id"].as_str().unwrap());
        let payload = URL_SAFE_NO_PAD.encode(b"a document to sign");
        let signed = server.call(
            "POST",
            &format!("{path}/sign"),
            Some(json!({"payload": payload})),
        );
        assert_eq!(signed.status, 200, "{}", signed.text());
        let signed = signed.json();
        assert_eq!(signed["algorithm"], algorithm);
        let signature = signed["signature"].as_str().unwrap();
        let verify = |payload: &str, signature: &str| {
            server
                .call(
                    "POST",
                    &format!("{path}/verify"),
                    Some(json!({"payload": payload, "signature": signature})),
                )
                .json()["valid"]
                .clone()
        };
        assert_eq!(verify(&payload, signature), true);
        assert_eq!(
            verify(&URL_SAFE_NO_PAD.encode(b"another document"), signature),
            false
        );
        if let Some(pem) = key["publicKey"].as_str() {
            // Checked outside the server too, with only the public key.
            let public = keysmith_crypto::import::decode_public_key(&*local, pem).unwrap();
            let alg: Algorithm = algorithm.parse().unwrap();
            let verifier = local
                .verifying_key(
                    alg,
                    keysmith_crypto::VerifyingMaterial::PublicKey(&public.spki_der),
                )
                .unwrap();
            assert!(verifier.verify(
                b"a document to sign",
                &URL_SAFE_NO_PAD.decode(signature).unwrap()
            ));
        }
        assert_eq!(
            server
                .call(
                    "POST",
                    &format!("{path}/sign"),
                    Some(json!({"payload": "***"}))
                )
                .error_codes(),
            ["[invalid]payload"]
        );
        assert_eq!(
            server
                .call("POST", &format!("{path}/sign"), Some(json!({})))
                .error_codes(),
            ["[blank]payload"]
        );
        let too_long = URL_SAFE_NO_PAD.encode(vec![0u8; keysmith_core::MAX_SIGN_PAYLOAD + 1]);
        let response = server.raw(
            "POST",
            &format!("{path}/sign"),
            &[("Authorization", API_KEY)],
            Some(json!({"payload": too_long}).to_string().as_bytes()),
        );
        assert_eq!(response.error_codes(), ["[tooLong]payload"]);
        assert_eq!(
            server
                .raw("POST", &format!("{path}/sign"), &[], Some(b"{}"))
                .status,
            401
        );
    }
    let imported = server
        .call(
            "POST",
            "/api/key/import",
            Some(json!({"key": {"name": "public only", "certificate": crate::FA_CERT}})),
        )
        .json()["key"]
        .clone();
    let path = format!("/api/key/{}/sign", imported["id"].as_str().unwrap());
    assert_eq!(
        server
            .call("POST", &path, Some(json!({"payload": "AA"})))
            .error_codes(),
        ["[invalid]keyId"]
    );
    assert_eq!(
        server
            .call(
                "POST",
                "/api/key/00000000-0000-4000-8000-000000000000/sign",
                Some(json!({"payload": "AA"}))
            )
            .status,
        404
    );
}

/// A deleted key stops validating and vending at once, even when it was cached.
#[test_case("aws-lc" ; "aws_lc")]
#[test_case("openssl" ; "openssl")]
fn deleted_keys_stop_working(backend_name: &str) {
    let server = Server::start(backend_name);
    let key = generate(&server, "ES256", None, "short-lived");
    let id = key["id"].as_str().unwrap();
    let token = vend(&server, id, json!({}), 600);
    assert_eq!(validate(&server, &token).status, 200);
    assert_eq!(
        server
            .call("DELETE", &format!("/api/key/{id}"), None)
            .status,
        200
    );
    assert_refused(&server, &token, "key deleted");
    assert_eq!(
        server
            .call("POST", "/api/jwt/vend", Some(json!({"keyId": id})))
            .error_codes(),
        ["[invalid]keyId"]
    );
    let jwks = server
        .raw("GET", "/.well-known/jwks.json", &[], None)
        .json();
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 0);
}
