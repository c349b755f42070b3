//! Writes the fuzz targets' seed corpora (`fuzz/seeds/<target>/`) and the token target's
//! fixture keys (`fuzz/fixtures/keys/`).
//!
//! Key material comes from the test fixtures (`keysmith_tests::fixtures`: keys made by the
//! `openssl` command line, FusionAuth's documented certificate); bodies and query strings are
//! the ones the end-to-end tests send. Run from `fuzz/`:
//!
//! ```text
//! cargo run --example write_seeds
//! ```
//!
//! Every run makes new keys, so it rewrites the fixture keys and every seed signed by them
//! together. Seeds kept for findings (docs/fuzzing.md) are not written here and are left alone.

use std::fs;
use std::path::Path;

use base64::Engine as _;
use keysmith_crypto::jwk::Jwk;
use keysmith_crypto::{PrivateKeyFormat, import, pem};
use keysmith_fuzz::{FIXTURE_KEYS, HMAC_SECRET, MASTER_KEY, OLD_MASTER_KEY, RECORD_ID};
use keysmith_model::{Algorithm, KeyUse, PrivateMaterial, SecretSealer};
use keysmith_tests::fixtures::{self, CliKey};

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let keys = fixtures::cli_keys();
    let [(_, backend), _] = keysmith_fuzz::backends();

    // The token target's keys: public halves (and one certificate) as fixture files.
    let fixture_dir = keysmith_fuzz::fixture_keys_dir();
    reset(&fixture_dir);
    let signers: Vec<(&str, &str, Option<&CliKey>)> = vec![
        ("fuzz-rs256", "rs256.pub.pem", Some(&keys.rsa)),
        ("fuzz-ps384", "ps384.pub.pem", Some(&keys.rsa_other)),
        ("fuzz-rs512-cert", "rs512.crt.pem", Some(&keys.rsa)),
        ("fuzz-es256", "es256.pub.pem", Some(&keys.p256)),
        ("fuzz-es384", "es384.pub.pem", Some(&keys.p384)),
        ("fuzz-es512", "es512.pub.pem", Some(&keys.p521)),
        ("fuzz-eddsa", "eddsa.pub.pem", Some(&keys.ed25519)),
        ("fuzz-hs256", "", None),
    ];
    for (kid, file, key) in &signers {
        let fixture = FIXTURE_KEYS
            .iter()
            .find(|k| k.kid == *kid)
            .expect("a fixture key");
        assert_eq!(fixture.file.unwrap_or_default(), *file, "{kid}");
        if let Some(key) = key {
            let text = if file.ends_with(".crt.pem") {
                &key.certificate_pem
            } else {
                &key.public_pem
            };
            fs::write(fixture_dir.join(file), text).expect("fixture key");
        }
    }

    // import_key: `certificate \0 publicKey \0 privateKey \0 secret \0 algorithm \0 type`.
    let bare_base64 = |pem_text: &str| {
        let block = pem::decode(pem_text).expect("PEM");
        base64::engine::general_purpose::STANDARD.encode(&*block.contents)
    };
    let fields = |parts: &[&str]| parts.join("\0");
    let trad = |key: &CliKey| key.traditional_pem.clone().expect("a traditional PEM");
    write_seeds(
        root,
        "import_key",
        &[
            ("certificate-rsa-pem", fields(&[&keys.rsa.certificate_pem])),
            (
                "certificate-fusionauth-base64-der",
                fields(&[fixtures::FUSIONAUTH_CERTIFICATE_B64]),
            ),
            (
                "certificate-rsa1024-verify-only",
                fields(&[&keys.rsa_1024.certificate_pem]),
            ),
            (
                "certificate-ed25519",
                fields(&[&keys.ed25519.certificate_pem]),
            ),
            ("public-p256-spki", fields(&["", &keys.p256.public_pem])),
            (
                "public-rsa-pkcs1",
                fields(&["", keys.rsa.rsa_public_pem.as_deref().expect("PKCS#1")]),
            ),
            (
                "public-fusionauth-spki",
                fields(&["", fixtures::FUSIONAUTH_PUBLIC_KEY]),
            ),
            (
                "private-ed25519-pkcs8",
                fields(&["", "", &keys.ed25519.pkcs8_pem]),
            ),
            ("private-rsa-pkcs1", fields(&["", "", &trad(&keys.rsa)])),
            ("private-p384-sec1", fields(&["", "", &trad(&keys.p384)])),
            (
                "private-p521-pkcs8-base64-der",
                fields(&["", "", &bare_base64(&keys.p521.pkcs8_pem)]),
            ),
            (
                "private-encrypted-pkcs8",
                fields(&["", "", &keys.encrypted_pkcs8_pem]),
            ),
            (
                "private-secp256k1-unsupported",
                fields(&["", "", &keys.secp256k1_pem]),
            ),
            (
                "pair-p256-certificate-private",
                fields(&[&keys.p256.certificate_pem, "", &keys.p256.pkcs8_pem]),
            ),
            (
                "pair-rsa-public-private-ps256",
                fields(&[
                    "",
                    &keys.rsa.public_pem,
                    &keys.rsa.pkcs8_pem,
                    "",
                    "PS256",
                    "RSA",
                ]),
            ),
            (
                "mismatch-p256-certificate-p384-private",
                fields(&[&keys.p256.certificate_pem, "", &trad(&keys.p384)]),
            ),
            (
                "hmac-secret-hs384",
                fields(&[
                    "",
                    "",
                    "",
                    "an HMAC secret of at least 48 bytes for HS384 ....",
                    "HS384",
                ]),
            ),
        ],
    );

    // parse_jwk: the JWKs Keysmith publishes for the fixture keys, one with its certificate.
    let mut jwks = Vec::new();
    for (kid, _, key) in &signers {
        let Some(key) = key else { continue };
        let public = import::decode_public_key(&*backend, &key.public_pem).expect("public key");
        let fixture = FIXTURE_KEYS
            .iter()
            .find(|k| k.kid == *kid)
            .expect("a fixture key");
        let algorithm: Algorithm = fixture.algorithm.parse().expect("algorithm");
        let mut jwk = Jwk::new(&public, kid, algorithm, KeyUse::Signing);
        if kid.ends_with("-cert") {
            let fields =
                import::decode_certificate(&*backend, &key.certificate_pem).expect("certificate");
            let info =
                keysmith_crypto::certificate::information(&*backend, &fields).expect("information");
            jwk = jwk.with_certificate(&fields.der, &info);
        }
        jwks.push((
            kid.to_string(),
            serde_json::to_string_pretty(&jwk).expect("JWK"),
        ));
    }
    write_seeds(
        root,
        "parse_jwk",
        &jwks
            .iter()
            .map(|(k, j)| (k.as_str(), j.clone()))
            .collect::<Vec<_>>(),
    );

    // validate_jwt: tokens signed by the fixture keys; valid ones carry no `exp`, so they stay
    // valid. Variants reach each refusal.
    let b64 = |bytes: &[u8]| keysmith_crypto::fingerprint::base64url(bytes);
    let token = |kid: &str, alg: &str, claims: &str, key: Option<&CliKey>, algorithm: Algorithm| {
        let header = format!(r#"{{"alg":"{alg}","kid":"{kid}","typ":"JWT"}}"#);
        let input = format!("{}.{}", b64(header.as_bytes()), b64(claims.as_bytes()));
        let private = match key {
            Some(key) => {
                let info = backend
                    .parse_private_key(
                        &pem::decode(&key.pkcs8_pem).expect("PEM").contents,
                        PrivateKeyFormat::Pkcs8,
                    )
                    .expect("private key");
                PrivateMaterial::Pkcs8(info.pkcs8_der)
            }
            None => PrivateMaterial::HmacSecret(keysmith_model::SecretBytes::new(
                HMAC_SECRET.as_bytes().to_vec(),
            )),
        };
        let signer = backend
            .signing_key(algorithm, &private)
            .expect("signing key");
        format!(
            "{input}.{}",
            b64(&signer.sign(input.as_bytes()).expect("signature"))
        )
    };
    let claims = r#"{"sub":"fuzz","iat":1700000000,"roles":["admin"]}"#;
    let mut tokens = Vec::new();
    for (kid, _, key) in &signers {
        let fixture = FIXTURE_KEYS
            .iter()
            .find(|k| k.kid == *kid)
            .expect("a fixture key");
        let algorithm: Algorithm = fixture.algorithm.parse().expect("algorithm");
        tokens.push((
            kid.to_string(),
            token(kid, algorithm.jws_name(), claims, *key, algorithm),
        ));
    }
    let hs = |kid: &str, alg: &str, claims: &str| token(kid, alg, claims, None, Algorithm::HS256);
    tokens.push((
        "expired".into(),
        hs("fuzz-hs256", "HS256", r#"{"sub":"fuzz","exp":1000000000}"#),
    ));
    tokens.push((
        "not-yet-valid".into(),
        hs(
            "fuzz-hs256",
            "HS256",
            r#"{"sub":"fuzz","nbf":4000000000,"exp":4100000000}"#,
        ),
    ));
    tokens.push((
        "hmac-header-on-rsa-key".into(),
        hs("fuzz-rs256", "HS256", claims),
    ));
    tokens.push(("unknown-kid".into(), hs("nobody", "HS256", claims)));
    tokens.push((
        "alg-none".into(),
        format!(
            "{}.{}.",
            b64(br#"{"alg":"none","kid":"fuzz-hs256"}"#),
            b64(claims.as_bytes())
        ),
    ));
    write_seeds(
        root,
        "validate_jwt",
        &tokens
            .iter()
            .map(|(k, t)| (k.as_str(), t.clone()))
            .collect::<Vec<_>>(),
    );

    // open_envelope: secrets sealed for the fixed record, under the current and an old key.
    let current = keysmith_fuzz::envelope(&backend, &[MASTER_KEY]);
    let old = keysmith_fuzz::envelope(&backend, &[OLD_MASTER_KEY]);
    let ed25519 = pem::decode(&keys.ed25519.pkcs8_pem).expect("PEM").contents;
    write_binary_seeds(
        root,
        "open_envelope",
        &[
            (
                "hmac-secret-current-key",
                current
                    .seal(&RECORD_ID, HMAC_SECRET.as_bytes())
                    .expect("seal"),
            ),
            (
                "ed25519-pkcs8-old-key",
                old.seal(&RECORD_ID, &ed25519).expect("seal"),
            ),
            (
                "empty-current-key",
                current.seal(&RECORD_ID, b"").expect("seal"),
            ),
            ("header-only", b"KSE1".to_vec()),
        ],
    );

    // parse_request_body: bodies the end-to-end tests send.
    write_seeds(root, "parse_request_body", &[
        ("generate-es256", r#"{"key": {"algorithm": "ES256", "name": "audited", "issuer": "acme.com"}}"#.into()),
        ("generate-rsa-length-string", r#"{"key": {"algorithm": "RS256", "name": "r", "length": "3072"}}"#.into()),
        ("import-hmac", r#"{"key": {"name": "known-hmac", "algorithm": "HS256", "secret": "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldC0xMg=="}}"#.into()),
        ("import-certificate", format!(r#"{{"key": {{"name": "public only", "certificate": {}}}}}"#, serde_json::to_string(fixtures::FUSIONAUTH_CERTIFICATE_PEM).expect("JSON"))),
        ("search", r#"{"search": {"name": "fuzz*", "type": "EC", "numberOfResults": 2, "startRow": "1", "orderBy": "name DESC"}}"#.into()),
        ("sign", r#"{"payload": "c2lnbmVkIGJ5IGtleXNtaXRo", "signature": "AAAA"}"#.into()),
        ("vend", r#"{"claims": {"sub": "user-1"}, "keyId": "9d6dc0a5-3b1c-4a4e-8d6f-0c1f4c2d7a11", "timeToLiveInSeconds": 300}"#.into()),
        ("audit-search", r#"{"search": {"action": "key.import", "text": "fuzz", "start": 0, "end": 1800000000000, "numberOfResults": 10}}"#.into()),
        ("connection", r#"{"name": "acme-saml", "strategy": "samlp", "display_name": "Acme", "options": {"a": {"b": 1}}, "metadata": {"n": "1"}, "enabled_clients": ["c"], "realms": ["r"], "is_domain_connection": false, "rotation_period_seconds": 86400, "show_as_button": true}"#.into()),
        ("connection-unknown-field", r#"{"name": "ok", "strategy": "samlp", "surprise": "s3cret-value"}"#.into()),
        ("connection-keys", r#"{"signing_alg": "RS256", "key_use": "encryption"}"#.into()),
        ("array", "[null, null]".into()),
    ]);

    // parse_query_string: query strings the end-to-end tests send.
    write_seeds(root, "parse_query_string", &[
        ("key-search", "name=*fuzz*&orderBy=name%20DESC&numberOfResults=2&startRow=1".into()),
        ("key-search-prefixed", "search.type=EC&search.algorithm=ES384&search.orderBy=expiration".into()),
        ("key-search-repeated", "numberOfResults=1&search.numberOfResults=2".into()),
        ("audit-search", "action=key.import&text=fuzz&start=0&end=1800000000000&startRow=0&numberOfResults=10".into()),
        ("public-key", "kid=fuzz-rs256".into()),
        ("connections", "per_page=10&page=0&include_totals=true&strategy=samlp&take=5".into()),
        ("connections-unknown", "per_page=10&surprise=1".into()),
    ]);

    // match_name_pattern: `pattern \0 name`.
    write_seeds(
        root,
        "match_name_pattern",
        &[
            ("prefix", "my*\0My RSA key".into()),
            ("infix", "m*r*y\0My RSA key".into()),
            ("contains", "rsa\0My RSA key".into()),
            ("overlap", "a*a\0a".into()),
            ("unicode", "*ΣΑ*\0κλειδί σα".into()),
        ],
    );
}

fn reset(dir: &Path) {
    if dir.exists() {
        fs::remove_dir_all(dir).expect("clearing the fixture directory");
    }
    fs::create_dir_all(dir).expect("creating the fixture directory");
}

fn write_seeds(root: &Path, target: &str, seeds: &[(&str, String)]) {
    let seeds: Vec<(&str, Vec<u8>)> = seeds
        .iter()
        .map(|(n, s)| (*n, s.clone().into_bytes()))
        .collect();
    write_binary_seeds(root, target, &seeds);
}

/// Writes (or rewrites) the named seeds; other files in the directory, like the seeds kept for
/// findings, are left alone.
fn write_binary_seeds(root: &Path, target: &str, seeds: &[(&str, Vec<u8>)]) {
    let dir = root.join("seeds").join(target);
    fs::create_dir_all(&dir).expect("creating a seed directory");
    for (name, bytes) in seeds {
        fs::write(dir.join(name), bytes).expect("seed file");
    }
    println!("{target}: {} seeds", seeds.len());
}
