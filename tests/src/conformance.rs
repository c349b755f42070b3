//! The conformance suite: what every `KeyBackend` must do, written once.

use base64::Engine as _;
use keysmith_crypto::certificate::{self, DEFAULT_VALIDITY_YEARS};
use keysmith_crypto::der::{self, TAG_SEQUENCE};
use keysmith_crypto::fingerprint::{colon_hex, upper_hex};
use keysmith_crypto::import::{self, ImportInput, ImportedMaterial};
use keysmith_crypto::jwk::Jwk;
use keysmith_crypto::pem::{self, LineEnding};
use keysmith_crypto::{KeyBackend, PublicKeyComponents, VerifyingMaterial, pkcs7};
use keysmith_model::{
    Algorithm, CertificateInformation, Errors, KeyId, KeyType, KeyUse, PrivateMaterial, SecretBytes,
};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

use crate::fixtures::{self, CliKey, SIGNED_MESSAGE, cli_keys};
use crate::openssl_cli::{OpensslCli, digest_flag};

/// The issuer used for generated certificates in the suite.
pub const ISSUER: &str = "keysmith.test";
/// A fixed "now" for certificates (2026-01-01T00:00:00Z).
pub const NOW: i64 = 1_767_225_600;

/// The RSA length the suite generates with unless it tests sizes.
fn test_length(algorithm: Algorithm) -> Option<u32> {
    match algorithm.key_type() {
        KeyType::Rsa => Some(2048),
        _ => algorithm.implied_length(),
    }
}

/// The algorithms `backend` has, in `Algorithm::ALL` order: all of them but ML-DSA on an
/// OpenSSL older than 3.5, which [`algorithms_a_backend_lacks_are_refused_clearly`] covers.
pub fn algorithms(backend: &dyn KeyBackend) -> impl Iterator<Item = Algorithm> + '_ {
    Algorithm::ALL
        .into_iter()
        .filter(|algorithm| backend.supports(*algorithm))
}

/// A generated key with its certificate and everything derived from it.
#[derive(Debug)]
pub struct Created {
    /// The key's id (the certificate serial).
    pub id: KeyId,
    /// The algorithm.
    pub algorithm: Algorithm,
    /// Private PKCS#8 or HMAC secret.
    pub private: PrivateMaterial,
    /// SPKI DER, for asymmetric keys.
    pub spki: Option<Vec<u8>>,
    /// Certificate DER, for asymmetric keys.
    pub certificate: Option<Vec<u8>>,
    /// Certificate information.
    pub info: Option<CertificateInformation>,
}

/// Generates a key (with certificate when asymmetric) the way the key server does.
pub fn create(backend: &dyn KeyBackend, algorithm: Algorithm) -> Created {
    let id = KeyId::random();
    if algorithm.key_type() == KeyType::Hmac {
        let key = backend.generate(algorithm, None).unwrap();
        assert!(key.public.is_none());
        return Created {
            id,
            algorithm,
            private: key.private,
            spki: None,
            certificate: None,
            info: None,
        };
    }
    let params = certificate::fusionauth_params(&id, ISSUER, NOW, DEFAULT_VALIDITY_YEARS);
    let (key, fields, info) =
        certificate::create_with_certificate(backend, algorithm, test_length(algorithm), &params)
            .unwrap();
    let public = key.public.unwrap();
    assert_eq!(
        fields.public_key.components, public.components,
        "{algorithm}: certificate holds the key"
    );
    Created {
        id,
        algorithm,
        private: key.private,
        spki: Some(public.spki_der),
        certificate: Some(fields.der),
        info: Some(info),
    }
}

fn verifying_material(created: &Created) -> VerifyingMaterial<'_> {
    match (&created.spki, &created.private) {
        (Some(spki), _) => VerifyingMaterial::PublicKey(spki),
        (None, PrivateMaterial::HmacSecret(secret)) => {
            VerifyingMaterial::HmacSecret(secret.expose())
        }
        (None, PrivateMaterial::Pkcs8(_)) => panic!("asymmetric key without public key"),
    }
}

/// Every algorithm: generate → certificate → certificate info → PKCS#7 → JWK → sign → verify.
pub fn every_algorithm_end_to_end(backend: &dyn KeyBackend) {
    for algorithm in algorithms(backend) {
        let created = create(backend, algorithm);
        let signer = backend.signing_key(algorithm, &created.private).unwrap();
        assert_eq!(signer.algorithm(), algorithm);
        let message = format!("header.payload for {algorithm}");
        let signature = signer.sign(message.as_bytes()).unwrap();
        let verifier = backend
            .verifying_key(algorithm, verifying_material(&created))
            .unwrap();
        assert!(
            verifier.verify(message.as_bytes(), &signature),
            "{algorithm}: own signature verifies"
        );
        assert!(
            !verifier.verify(b"another message", &signature),
            "{algorithm}: other message fails"
        );
        let mut tampered = signature.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 0x01;
        assert!(
            !verifier.verify(message.as_bytes(), &tampered),
            "{algorithm}: tampered signature fails"
        );
        assert!(
            !verifier.verify(message.as_bytes(), &signature[..signature.len() / 2]),
            "{algorithm}: truncated fails"
        );

        match algorithm.key_type() {
            KeyType::Ec => {
                let coordinate = algorithm.curve().unwrap().coordinate_len();
                assert_eq!(signature.len(), 2 * coordinate, "{algorithm}: JOSE r||s");
            }
            KeyType::Okp => assert_eq!(signature.len(), 64),
            KeyType::Rsa => assert_eq!(signature.len(), 256),
            KeyType::Akp => assert_eq!(
                Some(signature.len()),
                keysmith_crypto::ml_dsa::signature_len(algorithm),
                "{algorithm}: FIPS 204 signature size"
            ),
            KeyType::Hmac => {
                let secret = created.private.expose();
                assert!(
                    secret.len() >= algorithm.hmac_secret_len().unwrap(),
                    "{algorithm}: secret at least hash length"
                );
                assert_eq!(signature.len(), algorithm.hmac_secret_len().unwrap());
                // The secret is base64 text (FusionAuth's form).
                let text = std::str::from_utf8(secret).unwrap();
                assert!(
                    base64::engine::general_purpose::STANDARD
                        .decode(text)
                        .is_ok()
                );
                continue;
            }
        }

        let info = created.info.as_ref().unwrap();
        let cert = created.certificate.as_ref().unwrap();
        assert_eq!(info.subject, format!("CN={ISSUER}"));
        assert_eq!(info.issuer, format!("CN={ISSUER}"));
        assert_eq!(
            info.serial_number,
            colon_hex(keysmith_crypto::der::strip_leading_zeros(
                created.id.as_bytes()
            )),
            "{algorithm}: serial is the key id"
        );
        assert_eq!(info.valid_from, NOW * 1000);
        assert_eq!(info.valid_to, certificate::add_years(NOW, 10) * 1000);
        assert_eq!(
            info.sha1_fingerprint,
            colon_hex(
                &backend
                    .digest(keysmith_model::HashAlgorithm::Sha1, cert)
                    .unwrap()
            )
        );
        assert_eq!(info.sha1_thumbprint.len(), 27);
        assert_eq!(info.sha256_thumbprint.len(), 43);
        assert_eq!(info.md5_fingerprint.len(), 16 * 3 - 1);

        let p7 = pkcs7::certs_only_der(&[cert]);
        assert!(
            p7.windows(cert.len()).any(|w| w == &cert[..]),
            "{algorithm}: PKCS#7 holds the certificate"
        );

        let public = backend
            .parse_public_key(created.spki.as_ref().unwrap())
            .unwrap();
        let jwk = Jwk::new(&public, &info.sha1_thumbprint, algorithm, KeyUse::Signing)
            .with_certificate(cert, info);
        let json = serde_json::to_value(&jwk).unwrap();
        assert_eq!(json["kty"], algorithm.key_type().as_str());
        assert_eq!(json["alg"], algorithm.jws_name());
        assert_eq!(json["use"], "sig");
        assert_eq!(json["x5t"], info.sha1_thumbprint.as_str());
        assert_eq!(json["x5t#S256"], info.sha256_thumbprint.as_str());
        let back: Jwk = serde_json::from_value(json).unwrap();
        assert_eq!(
            back.components().unwrap(),
            public.components,
            "{algorithm}: JWK round trip"
        );
    }
}

/// RSA 3072 and 4096 generate with the right modulus size.
pub fn rsa_lengths(backend: &dyn KeyBackend) {
    for (algorithm, bits) in [(Algorithm::RS384, 3072), (Algorithm::PS512, 4096)] {
        let key = backend.generate(algorithm, Some(bits)).unwrap();
        let public = key.public.unwrap();
        assert_eq!(public.length, bits);
        let PublicKeyComponents::Rsa { e, .. } = &public.components else {
            panic!("not RSA")
        };
        assert_eq!(e, &vec![1, 0, 1], "e = 65537");
        let signer = backend.signing_key(algorithm, &key.private).unwrap();
        let signature = signer.sign(b"m").unwrap();
        assert_eq!(signature.len(), bits as usize / 8);
    }
    assert!(backend.generate(Algorithm::RS256, Some(1024)).is_err());
    assert!(backend.generate(Algorithm::RS256, None).is_err());
}

fn import_ok(backend: &dyn KeyBackend, input: ImportInput<'_>) -> ImportedMaterial {
    import::import(backend, &input).unwrap_or_else(|e| panic!("import refused: {e}"))
}

fn import_err(backend: &dyn KeyBackend, input: ImportInput<'_>) -> Errors {
    match import::import(backend, &input) {
        Ok(m) => panic!(
            "import accepted what it must refuse: {:?} {:?}",
            m.algorithm, m.key_type
        ),
        Err(e) => e,
    }
}

fn cli_components(backend: &dyn KeyBackend, key: &CliKey) -> PublicKeyComponents {
    import::decode_public_key(backend, &key.public_pem)
        .unwrap()
        .components
}

/// Reading a stored public key from its structure alone (how the published set loads keys at
/// start, on every backend) gives exactly what this backend's parser gives: for keys this
/// backend made, and for keys the openssl command line made.
pub fn structural_public_key_agrees(backend: &dyn KeyBackend) {
    let mut checked = 0;
    for algorithm in algorithms(backend) {
        if algorithm.key_type() == KeyType::Hmac {
            continue;
        }
        let created = create(backend, algorithm);
        let spki = created.spki.unwrap();
        let pem =
            keysmith_crypto::pem::encode("PUBLIC KEY", &spki, keysmith_crypto::pem::LineEnding::Lf);
        let structural = import::stored_public_key(&pem).unwrap();
        assert_eq!(
            structural,
            backend.parse_public_key(&spki).unwrap(),
            "{algorithm}"
        );
        checked += 1;
    }
    let keys = cli_keys();
    for key in [
        &keys.rsa,
        &keys.rsa_1024,
        &keys.p256,
        &keys.p384,
        &keys.p521,
        &keys.ed25519,
    ] {
        let structural = import::stored_public_key(&key.public_pem).unwrap();
        assert_eq!(
            structural,
            import::decode_public_key(backend, &key.public_pem).unwrap()
        );
        checked += 1;
    }
    assert!(checked >= 16, "{checked}");
    // Not a public key Keysmith stores: refused, never guessed.
    for bad in [
        "",
        "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
    ] {
        assert!(import::stored_public_key(bad).is_err());
    }
    if let Some(pkcs1) = &keys.rsa.rsa_public_pem {
        assert!(
            import::stored_public_key(pkcs1).is_err(),
            "RSA PUBLIC KEY goes to the backend"
        );
    }
}

/// Every import form: certificate (PEM and bare base64), SPKI, PKCS#1 public, PKCS#8, PKCS#1
/// and SEC1 private, private-only (public derived), and pairs.
pub fn imports_every_form(backend: &dyn KeyBackend) {
    let keys = cli_keys();
    let cases: [(&CliKey, KeyType, Algorithm, u32); 5] = [
        (&keys.rsa, KeyType::Rsa, Algorithm::RS256, 2048),
        (&keys.p256, KeyType::Ec, Algorithm::ES256, 256),
        (&keys.p384, KeyType::Ec, Algorithm::ES384, 384),
        (&keys.p521, KeyType::Ec, Algorithm::ES512, 521),
        (&keys.ed25519, KeyType::Okp, Algorithm::Ed25519, 32),
    ];
    for (key, key_type, algorithm, length) in cases {
        let expected = cli_components(backend, key);
        let b64_der = base64::engine::general_purpose::STANDARD.encode(&key.certificate_der);
        let mut inputs = vec![
            (
                "certificate PEM",
                ImportInput {
                    certificate: Some(&key.certificate_pem),
                    ..Default::default()
                },
            ),
            (
                "certificate base64",
                ImportInput {
                    certificate: Some(&b64_der),
                    ..Default::default()
                },
            ),
            (
                "public key",
                ImportInput {
                    public_key: Some(&key.public_pem),
                    ..Default::default()
                },
            ),
            (
                "PKCS#8 private only",
                ImportInput {
                    private_key: Some(&key.pkcs8_pem),
                    ..Default::default()
                },
            ),
            (
                "pair",
                ImportInput {
                    public_key: Some(&key.public_pem),
                    private_key: Some(&key.pkcs8_pem),
                    key_type: Some(key_type),
                    ..Default::default()
                },
            ),
            (
                "certificate and private key",
                ImportInput {
                    certificate: Some(&key.certificate_pem),
                    private_key: Some(&key.pkcs8_pem),
                    ..Default::default()
                },
            ),
        ];
        if let Some(traditional) = &key.traditional_pem {
            inputs.push((
                "traditional private only",
                ImportInput {
                    private_key: Some(traditional),
                    ..Default::default()
                },
            ));
        }
        if let Some(rsa_public) = &key.rsa_public_pem {
            inputs.push((
                "PKCS#1 public",
                ImportInput {
                    public_key: Some(rsa_public),
                    ..Default::default()
                },
            ));
        }
        for (form, input) in inputs {
            let imported = import_ok(backend, input);
            assert_eq!(imported.key_type, key_type, "{form}");
            assert_eq!(imported.algorithm, algorithm, "{form}: inferred algorithm");
            assert_eq!(imported.length, Some(length), "{form}");
            assert_eq!(
                imported.public_key.as_ref().unwrap().components,
                expected,
                "{form}: same public key as the CLI's"
            );
            assert_eq!(
                imported.certificate.is_some(),
                input.certificate.is_some(),
                "{form}"
            );
            let has_private = input.private_key.is_some();
            assert_eq!(imported.private.is_some(), has_private, "{form}");
            if let Some(private) = &imported.private {
                // The stored form signs, and the CLI's public key verifies it.
                let signer = backend.signing_key(algorithm, private).unwrap();
                let signature = signer.sign(b"imported").unwrap();
                let spki = pem::decode(&key.public_pem).unwrap();
                let verifier = backend
                    .verifying_key(algorithm, VerifyingMaterial::PublicKey(&spki.contents))
                    .unwrap();
                assert!(verifier.verify(b"imported", &signature), "{form}");
            }
        }
        // A declared algorithm that fits is kept.
        if key_type == KeyType::Rsa {
            let imported = import_ok(
                backend,
                ImportInput {
                    algorithm: Some(Algorithm::PS384),
                    public_key: Some(&key.public_pem),
                    ..Default::default()
                },
            );
            assert_eq!(imported.algorithm, Algorithm::PS384);
        }
    }

    // HMAC: the secret's bytes are the key; the algorithm defaults to HS256.
    let secret = "a-shared-secret-that-is-long-enough-for-hs256";
    let imported = import_ok(
        backend,
        ImportInput {
            secret: Some(secret),
            key_type: Some(KeyType::Hmac),
            ..Default::default()
        },
    );
    assert_eq!(imported.algorithm, Algorithm::HS256);
    assert_eq!(imported.private.unwrap().expose(), secret.as_bytes());
    let errors = import_err(
        backend,
        ImportInput {
            algorithm: Some(Algorithm::HS512),
            secret: Some(secret),
            ..Default::default()
        },
    );
    assert_eq!(
        errors.codes(),
        vec!["[invalid]key.secret"],
        "HS512 needs 64 bytes"
    );
}

/// Mismatched pairs, wrong PEM types, small RSA private keys, unsupported material, garbage.
pub fn rejects_bad_material(backend: &dyn KeyBackend) {
    let keys = cli_keys();
    let codes = |input: ImportInput<'_>| {
        import_err(backend, input)
            .codes()
            .into_iter()
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };

    // Pairs that do not belong together.
    assert_eq!(
        codes(ImportInput {
            public_key: Some(&keys.rsa.public_pem),
            private_key: Some(&keys.rsa_other.pkcs8_pem),
            ..Default::default()
        }),
        ["[mismatch]key.privateKey"]
    );
    assert_eq!(
        codes(ImportInput {
            certificate: Some(&keys.rsa.certificate_pem),
            private_key: Some(&keys.rsa_other.pkcs8_pem),
            ..Default::default()
        }),
        ["[mismatch]key.privateKey"]
    );
    assert_eq!(
        codes(ImportInput {
            certificate: Some(&keys.rsa.certificate_pem),
            public_key: Some(&keys.rsa_other.public_pem),
            ..Default::default()
        }),
        ["[mismatch]key.publicKey"]
    );
    assert_eq!(
        codes(ImportInput {
            public_key: Some(&keys.p256.public_pem),
            private_key: Some(&keys.p384.pkcs8_pem),
            ..Default::default()
        }),
        ["[mismatch]key.privateKey"]
    );

    // PEM types that contradict the field or the declared type/algorithm.
    assert_eq!(
        codes(ImportInput {
            private_key: Some(&keys.rsa.public_pem),
            ..Default::default()
        }),
        ["[invalid]key.privateKey"]
    );
    assert_eq!(
        codes(ImportInput {
            public_key: Some(&keys.rsa.pkcs8_pem),
            ..Default::default()
        }),
        ["[invalid]key.publicKey"]
    );
    assert_eq!(
        codes(ImportInput {
            certificate: Some(&keys.rsa.public_pem),
            ..Default::default()
        }),
        ["[invalid]key.certificate"]
    );
    assert_eq!(
        codes(ImportInput {
            public_key: Some(&keys.p256.public_pem),
            key_type: Some(KeyType::Rsa),
            ..Default::default()
        }),
        ["[mismatch]key.type"]
    );
    assert_eq!(
        codes(ImportInput {
            public_key: Some(&keys.p256.public_pem),
            algorithm: Some(Algorithm::ES384),
            ..Default::default()
        }),
        ["[mismatch]key.algorithm"]
    );
    assert_eq!(
        codes(ImportInput {
            public_key: Some(&keys.ed25519.public_pem),
            algorithm: Some(Algorithm::RS256),
            ..Default::default()
        }),
        ["[mismatch]key.algorithm"]
    );
    // An EC key relabelled as PKCS#1 RSA, and an RSA key relabelled as SEC1 EC.
    let relabel = |text: &str, from: &str, to: &str| {
        text.replace(&format!("BEGIN {from}"), &format!("BEGIN {to}"))
            .replace(&format!("END {from}"), &format!("END {to}"))
    };
    let ec_as_rsa = relabel(
        keys.p256.traditional_pem.as_ref().unwrap(),
        "EC PRIVATE KEY",
        "RSA PRIVATE KEY",
    );
    assert_eq!(
        codes(ImportInput {
            private_key: Some(&ec_as_rsa),
            ..Default::default()
        }),
        ["[invalid]key.privateKey"]
    );
    let rsa_as_ec = relabel(
        keys.rsa.traditional_pem.as_ref().unwrap(),
        "RSA PRIVATE KEY",
        "EC PRIVATE KEY",
    );
    assert_eq!(
        codes(ImportInput {
            private_key: Some(&rsa_as_ec),
            ..Default::default()
        }),
        ["[invalid]key.privateKey"]
    );
    // A secret on an asymmetric import, key material on an HMAC import.
    assert_eq!(
        codes(ImportInput {
            public_key: Some(&keys.rsa.public_pem),
            secret: Some("x"),
            ..Default::default()
        }),
        ["[notAllowed]key.secret"]
    );
    assert_eq!(
        codes(ImportInput {
            key_type: Some(KeyType::Hmac),
            secret: Some(&"s".repeat(40)),
            public_key: Some(&keys.rsa.public_pem),
            ..Default::default()
        }),
        ["[notAllowed]key.publicKey"]
    );

    // RSA under 2048 bits: never as a private key, but fine as a verify-only key.
    assert_eq!(
        codes(ImportInput {
            private_key: Some(&keys.rsa_1024.pkcs8_pem),
            ..Default::default()
        }),
        ["[invalid]key.privateKey"]
    );
    assert_eq!(
        codes(ImportInput {
            private_key: Some(keys.rsa_1024.traditional_pem.as_ref().unwrap()),
            ..Default::default()
        }),
        ["[invalid]key.privateKey"]
    );
    // A FIPS module verifies no RSA signature under 2048 bits (the `fips` build).
    if backend.is_fips() {
        for input in [
            ImportInput {
                certificate: Some(&keys.rsa_1024.certificate_pem),
                ..Default::default()
            },
            ImportInput {
                public_key: Some(&keys.rsa_1024.public_pem),
                ..Default::default()
            },
        ] {
            assert_eq!(codes(input), ["[invalid]key.publicKey"], "FIPS: RSA-1024");
        }
        let spki = pem::decode(&keys.rsa_1024.public_pem).unwrap().contents;
        assert!(
            backend
                .verifying_key(Algorithm::RS256, VerifyingMaterial::PublicKey(&spki))
                .is_err(),
            "FIPS: no RSA-1024 verifier"
        );
    } else {
        let small = import_ok(
            backend,
            ImportInput {
                certificate: Some(&keys.rsa_1024.certificate_pem),
                ..Default::default()
            },
        );
        assert_eq!(small.length, Some(1024));
        let small = import_ok(
            backend,
            ImportInput {
                public_key: Some(&keys.rsa_1024.public_pem),
                ..Default::default()
            },
        );
        let spki = small.public_key.unwrap().spki_der;
        for (algorithm, signature) in &keys.rsa_1024_signatures {
            let verifier = backend
                .verifying_key(*algorithm, VerifyingMaterial::PublicKey(&spki))
                .unwrap();
            assert!(
                verifier.verify(SIGNED_MESSAGE, signature),
                "RSA-1024 verifies a {algorithm} signature made by the openssl CLI"
            );
            assert!(
                !verifier.verify(b"another message", signature),
                "{algorithm}"
            );
            let other = keys
                .rsa_1024_signatures
                .iter()
                .find(|(a, _)| a != algorithm)
                .unwrap();
            assert!(
                !verifier.verify(SIGNED_MESSAGE, &other.1),
                "{algorithm} refuses a {} signature",
                other.0
            );
        }
    }

    // Encrypted keys, unsupported curves, garbage, empty.
    assert_eq!(
        codes(ImportInput {
            private_key: Some(&keys.encrypted_pkcs8_pem),
            ..Default::default()
        }),
        ["[invalid]key.privateKey"]
    );
    assert_eq!(
        codes(ImportInput {
            private_key: Some(&keys.secp256k1_pem),
            ..Default::default()
        }),
        ["[invalid]key.privateKey"]
    );
    for garbage in [
        "garbage",
        "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----",
        "TUlJQ3JqQ0NBWmFnQXdJQkFR",
    ] {
        assert_eq!(
            codes(ImportInput {
                public_key: Some(garbage),
                ..Default::default()
            }),
            ["[invalid]key.publicKey"],
            "{garbage}"
        );
        assert_eq!(
            codes(ImportInput {
                certificate: Some(garbage),
                ..Default::default()
            }),
            ["[invalid]key.certificate"],
            "{garbage}"
        );
        assert_eq!(
            codes(ImportInput {
                private_key: Some(garbage),
                ..Default::default()
            }),
            ["[invalid]key.privateKey"],
            "{garbage}"
        );
    }
    assert_eq!(codes(ImportInput::default()), ["[blank]key.publicKey"]);
    assert_eq!(
        codes(ImportInput {
            certificate: Some("  "),
            ..Default::default()
        }),
        ["[blank]key.certificate"]
    );

    // A key is bound to its algorithm: loading it for another one fails.
    let ec = create(backend, Algorithm::ES256);
    assert!(backend.signing_key(Algorithm::ES384, &ec.private).is_err());
    assert!(backend.signing_key(Algorithm::RS256, &ec.private).is_err());
    assert!(backend.signing_key(Algorithm::HS256, &ec.private).is_err());
    assert!(
        backend
            .verifying_key(
                Algorithm::HS256,
                VerifyingMaterial::PublicKey(ec.spki.as_ref().unwrap())
            )
            .is_err()
    );
    assert!(
        backend
            .verifying_key(
                Algorithm::RS256,
                VerifyingMaterial::PublicKey(ec.spki.as_ref().unwrap())
            )
            .is_err()
    );
}

/// FusionAuth's documented certificate imports to exactly the documented values.
pub fn fusionauth_documented_certificate(backend: &dyn KeyBackend) {
    let imported = import_ok(
        backend,
        ImportInput {
            certificate: Some(fixtures::FUSIONAUTH_CERTIFICATE_B64),
            ..Default::default()
        },
    );
    assert_eq!(imported.key_type, KeyType::Rsa);
    assert_eq!(imported.algorithm, Algorithm::RS256);
    assert_eq!(imported.length, Some(2048));
    assert!(imported.private.is_none(), "hasPrivateKey false");
    assert_eq!(
        imported.public_key.as_ref().unwrap().to_pem(),
        fixtures::FUSIONAUTH_PUBLIC_KEY
    );
    let fields = imported.certificate.unwrap();
    assert_eq!(fields.to_pem(), fixtures::FUSIONAUTH_CERTIFICATE_PEM);
    let info = certificate::information(backend, &fields).unwrap();
    // X.509 times have whole seconds; FusionAuth's example adds the milliseconds of the moment
    // it stored the key (…183), which no certificate carries. See docs/api.md.
    let expected = CertificateInformation {
        issuer: "CN=acme.com".into(),
        md5_fingerprint: "FC:36:CD:0B:9C:B7:62:F0:A9:16:AE:72:8E:F8:7D:D8".into(),
        serial_number: "78:0E:1D:5B:EE:3B:43:B2:AE:C8:DB:99:B9:9A:DC:4E".into(),
        sha1_fingerprint: "CD:A9:80:5F:4D:37:EB:CD:B4:45:42:DF:76:35:15:E9:89:21:61:B6".into(),
        sha1_thumbprint: "zamAX0036820RULfdjUV6YkhYbY".into(),
        sha256_fingerprint: "33:7C:CB:4C:23:3B:F5:22:49:2F:68:C5:FA:D1:6E:3C:72:54:CB:3C:E6:D1:70:08:55:FC:43:24:9A:98:05:CF".into(),
        sha256_thumbprint: "M3zLTCM79SJJL2jF-tFuPHJUyzzm0XAIVfxDJJqYBc8".into(),
        subject: "CN=acme.com".into(),
        valid_from: 1_562_189_072_000,
        valid_to: 1_877_808_272_000,
    };
    assert_eq!(info, expected);
    assert_eq!(info.valid_from / 1000, 1_562_189_072_183 / 1000);
    assert_eq!(info.valid_to / 1000, 1_877_808_272_183 / 1000);
    // Auth0's thumbprint is the SHA-1 hex without colons.
    assert_eq!(
        upper_hex(
            &backend
                .digest(keysmith_model::HashAlgorithm::Sha1, &fields.der)
                .unwrap()
        ),
        "CDA9805F4D37EBCDB44542DF763515E9892161B6"
    );
}

/// The `openssl` command line reads every certificate, PKCS#7 and public key the backend makes,
/// agrees on fingerprints, serial and names, and verifies every signature.
pub fn openssl_cli_accepts_everything(backend: &dyn KeyBackend) {
    let cli = OpensslCli::new();
    cli.write("message.bin", b"signed by keysmith");
    // The system's openssl command line (3.0) has no ML-DSA: ML-DSA is checked against
    // pyca/cryptography and dilithium-py instead (`ml_dsa_agrees_with_independent_implementations`).
    for algorithm in algorithms(backend).filter(|a| !a.is_ml_dsa()) {
        let created = create(backend, algorithm);
        let signer = backend.signing_key(algorithm, &created.private).unwrap();
        let signature = signer.sign(b"signed by keysmith").unwrap();
        let name = algorithm.as_str();
        if algorithm.key_type() == KeyType::Hmac {
            let key_hex = upper_hex(created.private.expose());
            let out = cli.run(&[
                "dgst",
                digest_flag(algorithm),
                "-mac",
                "HMAC",
                "-macopt",
                &format!("hexkey:{key_hex}"),
                "message.bin",
            ]);
            assert!(
                out.trim_end()
                    .to_ascii_uppercase()
                    .ends_with(&upper_hex(&signature)),
                "{name}: openssl computes the same HMAC"
            );
            continue;
        }
        let cert = created.certificate.as_ref().unwrap();
        let info = created.info.as_ref().unwrap();
        let cert_path = cli.write(
            &format!("{name}.crt"),
            pem::encode("CERTIFICATE", cert, LineEnding::Lf),
        );
        let pub_path = cli.write(
            &format!("{name}.pub"),
            pem::encode("PUBLIC KEY", created.spki.as_ref().unwrap(), LineEnding::Lf),
        );
        let key_path = cli.write(
            &format!("{name}.key"),
            pem::encode("PRIVATE KEY", created.private.expose(), LineEnding::Lf),
        );
        cli.run(&["pkey", "-in", &key_path, "-check", "-noout"]);
        cli.run(&["pkey", "-pubin", "-in", &pub_path, "-noout"]);
        let derived = cli.run(&["pkey", "-in", &key_path, "-pubout"]);
        assert_eq!(
            derived.trim_end(),
            pem::encode("PUBLIC KEY", created.spki.as_ref().unwrap(), LineEnding::Lf),
            "{name}: the CLI derives the same public key"
        );

        // Fingerprints, serial, names and the self-signature.
        for (flag, expected) in [
            ("-sha1", &info.sha1_fingerprint),
            ("-sha256", &info.sha256_fingerprint),
            ("-md5", &info.md5_fingerprint),
        ] {
            let out = cli.run(&["x509", "-in", &cert_path, "-noout", "-fingerprint", flag]);
            assert!(
                out.trim_end().ends_with(&format!("={expected}")),
                "{name} {flag}: {out}"
            );
        }
        let serial = cli.run(&["x509", "-in", &cert_path, "-noout", "-serial"]);
        assert_eq!(
            serial.trim_end(),
            format!("serial={}", info.serial_number.replace(':', "")),
            "{name}"
        );
        let subject = cli.run(&[
            "x509", "-in", &cert_path, "-noout", "-subject", "-issuer", "-nameopt", "RFC2253",
        ]);
        assert_eq!(
            subject,
            format!("subject={0}\nissuer={0}\n", info.subject),
            "{name}"
        );
        let text = cli.run(&["x509", "-in", &cert_path, "-noout", "-text"]);
        assert!(text.contains("Version: 3"), "{name}: X.509 v3");
        cli.run(&[
            "verify",
            "-CAfile",
            &cert_path,
            "-attime",
            &(NOW + 60).to_string(),
            &cert_path,
        ]);
        let cert_pubkey = cli.run(&["x509", "-in", &cert_path, "-noout", "-pubkey"]);
        assert_eq!(
            cert_pubkey.trim_end(),
            cli.read_text(&format!("{name}.pub")),
            "{name}: certificate holds the key"
        );

        // PKCS#7: byte-identical to crl2pkcs7, and readable.
        let p7_path = cli.write(
            &format!("{name}.p7b"),
            pkcs7::certs_only_pem(&[cert], LineEnding::Lf),
        );
        let reference = format!("{name}.ref.p7b");
        cli.run(&[
            "crl2pkcs7",
            "-nocrl",
            "-certfile",
            &cert_path,
            "-outform",
            "DER",
            "-out",
            &reference,
        ]);
        assert_eq!(
            cli.read(&reference),
            pkcs7::certs_only_der(&[cert]),
            "{name}: PKCS#7 as crl2pkcs7 writes it"
        );
        let printed = cli.run(&["pkcs7", "-in", &p7_path, "-print_certs"]);
        assert!(
            printed.contains(&format!("subject=CN = {ISSUER}")),
            "{name}: {printed}"
        );

        // The signature, checked by the CLI.
        let sig_path = format!("{name}.sig");
        match algorithm.key_type() {
            KeyType::Okp => {
                cli.write(&sig_path, &signature);
                let out = cli.run(&[
                    "pkeyutl",
                    "-verify",
                    "-pubin",
                    "-inkey",
                    &pub_path,
                    "-rawin",
                    "-in",
                    "message.bin",
                    "-sigfile",
                    &sig_path,
                ]);
                assert!(
                    out.contains("Signature Verified Successfully"),
                    "{name}: {out}"
                );
            }
            KeyType::Ec => {
                cli.write(&sig_path, jose_to_der_signature(&signature));
                let out = cli.dgst_verify(algorithm, &pub_path, &sig_path, "message.bin");
                assert!(out.contains("Verified OK"), "{name}: {out}");
            }
            _ => {
                cli.write(&sig_path, &signature);
                let out = cli.dgst_verify(algorithm, &pub_path, &sig_path, "message.bin");
                assert!(out.contains("Verified OK"), "{name}: {out}");
            }
        }

        // And the other way round: the CLI signs with the key, the backend verifies.
        let cli_sig = format!("{name}.cli.sig");
        match algorithm.key_type() {
            KeyType::Okp => {
                cli.run(&[
                    "pkeyutl",
                    "-sign",
                    "-inkey",
                    &key_path,
                    "-rawin",
                    "-in",
                    "message.bin",
                    "-out",
                    &cli_sig,
                ]);
            }
            _ => cli.dgst_sign(algorithm, &key_path, "message.bin", &cli_sig),
        }
        let mut theirs = cli.read(&cli_sig);
        if algorithm.key_type() == KeyType::Ec {
            theirs = der_to_jose_signature(&theirs, algorithm.curve().unwrap().coordinate_len());
        }
        let verifier = backend
            .verifying_key(
                algorithm,
                VerifyingMaterial::PublicKey(created.spki.as_ref().unwrap()),
            )
            .unwrap();
        assert!(
            verifier.verify(b"signed by keysmith", &theirs),
            "{name}: the backend verifies the CLI's signature"
        );
    }
}

/// JOSE `r || s` → DER `ECDSA-Sig-Value`, for the CLI.
pub fn jose_to_der_signature(signature: &[u8]) -> Vec<u8> {
    let (r, s) = signature.split_at(signature.len() / 2);
    der::constructed(
        TAG_SEQUENCE,
        &[&der::unsigned_integer(r), &der::unsigned_integer(s)],
    )
}

/// DER `ECDSA-Sig-Value` → JOSE `r || s` with `coordinate_len`-byte halves.
pub fn der_to_jose_signature(signature: &[u8], coordinate_len: usize) -> Vec<u8> {
    let body = der::expect_only(signature, TAG_SEQUENCE).unwrap();
    let (_, r, rest) = der::read_tlv(body).unwrap();
    let (_, s, _) = der::read_tlv(rest).unwrap();
    let mut out = Vec::new();
    for part in [r, s] {
        let part = der::strip_leading_zeros(part);
        out.extend(std::iter::repeat_n(0u8, coordinate_len - part.len()));
        out.extend_from_slice(part);
    }
    out
}

/// What `producer` makes, `consumer` imports, signs with and verifies; both report the same
/// certificate information for the same certificate.
pub fn interop(producer: &dyn KeyBackend, consumer: &dyn KeyBackend) {
    for algorithm in algorithms(producer).filter(|a| consumer.supports(*a)) {
        let created = create(producer, algorithm);
        let message = b"cross-backend";
        let theirs = producer
            .signing_key(algorithm, &created.private)
            .unwrap()
            .sign(message)
            .unwrap();
        if algorithm.key_type() == KeyType::Hmac {
            let secret = std::str::from_utf8(created.private.expose()).unwrap();
            let imported = import_ok(
                consumer,
                ImportInput {
                    algorithm: Some(algorithm),
                    secret: Some(secret),
                    ..Default::default()
                },
            );
            let private = imported.private.unwrap();
            let ours = consumer
                .signing_key(algorithm, &private)
                .unwrap()
                .sign(message)
                .unwrap();
            assert_eq!(ours, theirs, "{algorithm}: same MAC on both backends");
            continue;
        }
        let cert = created.certificate.as_ref().unwrap();
        let private_pem = pem::encode("PRIVATE KEY", created.private.expose(), LineEnding::Lf);
        let cert_pem = pem::encode("CERTIFICATE", cert, LineEnding::Lf);
        let imported = import_ok(
            consumer,
            ImportInput {
                certificate: Some(&cert_pem),
                private_key: Some(&private_pem),
                ..Default::default()
            },
        );
        assert_eq!(imported.algorithm.key_type(), algorithm.key_type());
        let fields = imported.certificate.as_ref().unwrap();
        assert_eq!(
            &certificate::information(consumer, fields).unwrap(),
            created.info.as_ref().unwrap(),
            "{algorithm}: same certificate information"
        );
        let spki = &imported.public_key.as_ref().unwrap().spki_der;
        let verifier = consumer
            .verifying_key(algorithm, VerifyingMaterial::PublicKey(spki))
            .unwrap();
        assert!(
            verifier.verify(message, &theirs),
            "{algorithm}: consumer verifies producer's signature"
        );
        let ours = consumer
            .signing_key(algorithm, imported.private.as_ref().unwrap())
            .unwrap()
            .sign(message)
            .unwrap();
        let back = producer
            .verifying_key(
                algorithm,
                VerifyingMaterial::PublicKey(created.spki.as_ref().unwrap()),
            )
            .unwrap();
        assert!(
            back.verify(message, &ours),
            "{algorithm}: producer verifies consumer's signature"
        );
        // The consumer re-issues a certificate for the producer's key.
        let id = KeyId::random();
        let params = certificate::fusionauth_params(&id, "reissued.test", NOW, 1);
        let pkcs8 = match imported.private.as_ref().unwrap() {
            PrivateMaterial::Pkcs8(der) => der.clone(),
            PrivateMaterial::HmacSecret(_) => unreachable!(),
        };
        let reissued = consumer
            .self_signed_certificate(algorithm, &pkcs8, &params)
            .unwrap();
        let parsed = producer.parse_certificate(&reissued).unwrap();
        assert_eq!(
            parsed.public_key.components,
            imported.public_key.as_ref().unwrap().components
        );
    }
}

/// Parsers and import never panic, whatever the input.
pub fn hostile_input_never_panics(backend: &dyn KeyBackend) {
    let mut runner = TestRunner::new(Config {
        cases: 192,
        failure_persistence: None,
        ..Config::default()
    });
    let bytes = proptest::collection::vec(any::<u8>(), 0..512);
    runner
        .run(&bytes, |input| {
            let _ = backend.parse_certificate(&input);
            let _ = backend.parse_public_key(&input);
            for format in [
                keysmith_crypto::PrivateKeyFormat::Pkcs8,
                keysmith_crypto::PrivateKeyFormat::Pkcs1Rsa,
                keysmith_crypto::PrivateKeyFormat::Sec1Ec,
            ] {
                let _ = backend.parse_private_key(&input, format);
            }
            let _ = backend.signing_key(
                Algorithm::ES256,
                &PrivateMaterial::Pkcs8(SecretBytes::new(input.clone())),
            );
            let _ = backend.verifying_key(Algorithm::RS256, VerifyingMaterial::PublicKey(&input));
            Ok(())
        })
        .unwrap();
    // Mutations of real DER: the interesting inputs are the almost-valid ones.
    let keys = cli_keys();
    let spki = pem::decode(&keys.p256.public_pem)
        .unwrap()
        .contents
        .to_vec();
    let cert = keys.rsa.certificate_der.clone();
    let mutation = (any::<prop::sample::Index>(), any::<u8>(), any::<bool>());
    runner
        .run(&mutation, |(index, byte, truncate)| {
            for original in [&spki, &cert] {
                let mut input = original.clone();
                let at = index.index(input.len());
                if truncate {
                    input.truncate(at)
                } else {
                    input[at] ^= byte | 1
                }
                let _ = backend.parse_public_key(&input);
                let _ = backend.parse_certificate(&input);
            }
            Ok(())
        })
        .unwrap();
    let text = ".{0,300}";
    runner
        .run(&(text, text, text), |(a, b, c)| {
            let _ = import::import(
                backend,
                &ImportInput {
                    certificate: Some(&a),
                    public_key: Some(&b),
                    private_key: Some(&c),
                    ..Default::default()
                },
            );
            let wrapped = format!("-----BEGIN PRIVATE KEY-----\n{a}\n-----END PRIVATE KEY-----");
            let _ = import::import(
                backend,
                &ImportInput {
                    private_key: Some(&wrapped),
                    ..Default::default()
                },
            );
            Ok(())
        })
        .unwrap();
}

/// Errors and `Debug` output never carry key material.
pub fn no_key_material_in_debug_or_errors(backend: &dyn KeyBackend) {
    for algorithm in [
        Algorithm::RS256,
        Algorithm::ES256,
        Algorithm::Ed25519,
        Algorithm::HS256,
    ] {
        let created = create(backend, algorithm);
        let signer = backend.signing_key(algorithm, &created.private).unwrap();
        let printed = format!("{:?} {:?} {:?}", created.private, signer, backend);
        let secret = created.private.expose();
        let hex = upper_hex(secret);
        let b64 = base64::engine::general_purpose::STANDARD.encode(secret);
        for needle in [&hex[..32.min(hex.len())], &b64[..24.min(b64.len())]] {
            assert!(
                !printed
                    .to_ascii_uppercase()
                    .contains(&needle.to_ascii_uppercase()),
                "{algorithm}: Debug leaks key material"
            );
        }
        if algorithm == Algorithm::HS256 {
            let text = std::str::from_utf8(secret).unwrap();
            assert!(!printed.contains(text));
        }
    }
    // A private key in the wrong field: the error names the field, not the content.
    let keys = cli_keys();
    let errors = import::import(
        backend,
        &ImportInput {
            public_key: Some(&keys.rsa.pkcs8_pem),
            ..Default::default()
        },
    )
    .unwrap_err();
    let body = pem::decode(&keys.rsa.pkcs8_pem).unwrap();
    let b64 = base64::engine::general_purpose::STANDARD.encode(&body.contents[..]);
    let printed = format!("{errors} {errors:?}");
    assert!(
        !printed.contains(&b64[..40]) && !printed.contains("MII"),
        "error leaks key material: {printed}"
    );
}

/// Keys larger than any Keysmith accepts (an RSA-16384 public key, certificate and private key
/// in every import form; a non-RSA public key structure no curve needs) are refused from their
/// DER structure alone, as `[tooLong]`, before any backend parses them, and fast.
pub fn oversized_keys_are_refused_before_parsing(backend: &dyn KeyBackend) {
    let cli = OpensslCli::new();
    let big = crate::openssl_cli::OversizedRsa::new(&cli, 16384);
    let bare = |pem_text: &str| {
        base64::engine::general_purpose::STANDARD.encode(pem::decode(pem_text).unwrap().contents)
    };
    let (bare_certificate, bare_pkcs8) = (bare(&big.certificate_pem), bare(&big.pkcs8_private_pem));
    let cases: [(&str, ImportInput<'_>); 7] = [
        (
            "key.publicKey",
            ImportInput {
                public_key: Some(&big.spki_pem),
                ..Default::default()
            },
        ),
        (
            "key.publicKey",
            ImportInput {
                public_key: Some(&big.pkcs1_public_pem),
                ..Default::default()
            },
        ),
        (
            "key.certificate",
            ImportInput {
                certificate: Some(&big.certificate_pem),
                ..Default::default()
            },
        ),
        (
            "key.certificate",
            ImportInput {
                certificate: Some(&bare_certificate),
                ..Default::default()
            },
        ),
        (
            "key.privateKey",
            ImportInput {
                private_key: Some(&big.pkcs1_private_pem),
                ..Default::default()
            },
        ),
        (
            "key.privateKey",
            ImportInput {
                private_key: Some(&big.pkcs8_private_pem),
                ..Default::default()
            },
        ),
        (
            "key.privateKey",
            ImportInput {
                private_key: Some(&bare_pkcs8),
                ..Default::default()
            },
        ),
    ];
    let started = std::time::Instant::now();
    for (field, input) in cases {
        let errors = import_err(backend, input);
        assert_eq!(errors.codes(), [format!("[tooLong]{field}")], "{errors}");
        let message = &errors.field_errors[field][0].message;
        assert!(
            message.contains("16384 bits") && message.contains("refused before parsing"),
            "{message}"
        );
    }
    // Seven refusals with no RSA-16384 parse or key check among them: well under a second even
    // on a loaded machine (a parse and check of one such key costs more than that).
    assert!(
        started.elapsed() < std::time::Duration::from_secs(1),
        "refusals took {:?}",
        started.elapsed()
    );
    // The private keys are not consistent RSA keys: had a backend parsed them, it would have
    // refused them for that, not for their size.
    let pkcs1 = pem::decode(&big.pkcs1_private_pem).unwrap().contents;
    assert!(!matches!(
        backend.parse_private_key(&pkcs1, keysmith_crypto::PrivateKeyFormat::Pkcs1Rsa),
        Err(keysmith_crypto::Error::TooLarge(_)) | Ok(_)
    ));

    // A P-256 SPKI whose point is padded to 5000 bytes: no supported key (ML-DSA-87 included)
    // needs that.
    let mut point = vec![0u8, 0x04];
    point.extend(std::iter::repeat_n(0x11, 5000));
    let algorithm = der::constructed(
        TAG_SEQUENCE,
        &[
            &der::tlv(der::TAG_OID, &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01]),
            &der::tlv(
                der::TAG_OID,
                &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07],
            ),
        ],
    );
    let spki = der::constructed(
        TAG_SEQUENCE,
        &[&algorithm, &der::tlv(der::TAG_BIT_STRING, &point)],
    );
    let pem_text = pem::encode("PUBLIC KEY", &spki, LineEnding::Lf);
    let errors = import_err(
        backend,
        ImportInput {
            public_key: Some(&pem_text),
            ..Default::default()
        },
    );
    assert_eq!(errors.codes(), ["[tooLong]key.publicKey"], "{errors}");

    // The largest accepted size still imports: the pre-check is not a new limit.
    let at_limit =
        crate::openssl_cli::OversizedRsa::new(&cli, keysmith_model::RSA_MAX_BITS as usize);
    // (A random modulus: a backend may refuse it as a key, never as too large.)
    if let Err(errors) = import::import(
        backend,
        &ImportInput {
            public_key: Some(&at_limit.spki_pem),
            ..Default::default()
        },
    ) {
        assert!(
            !errors.codes().iter().any(|c| c.starts_with("[tooLong]")),
            "{errors}"
        );
    }
}

/// What a backend lacks (ML-DSA on an OpenSSL older than 3.5) is refused with
/// [`keysmith_crypto::Error::Unsupported`], naming the backend and its library, on every path:
/// generate, import (as an import error on the field), signing and verifying. Nothing to check
/// on a backend that has every algorithm.
pub fn algorithms_a_backend_lacks_are_refused_clearly(backend: &dyn KeyBackend) {
    let vectors = ml_dsa_vectors();
    for algorithm in Algorithm::ALL.into_iter().filter(|a| !backend.supports(*a)) {
        assert!(
            algorithm.is_ml_dsa(),
            "{algorithm}: only ML-DSA may be missing"
        );
        let refusal = backend.generate(algorithm, None).unwrap_err();
        let text = refusal.to_string();
        assert!(
            matches!(refusal, keysmith_crypto::Error::Unsupported { .. })
                && text.contains(backend.name())
                && text.contains(&backend.library())
                && text.contains("3.5"),
            "{algorithm}: {text}"
        );
        let vector = vectors.iter().find(|v| v.algorithm == algorithm).unwrap();
        let spki = pem::encode("PUBLIC KEY", &vector.spki, LineEnding::Lf);
        let errors = import_err(
            backend,
            ImportInput {
                public_key: Some(&spki),
                ..Default::default()
            },
        );
        let message = serde_json::to_string(&errors).unwrap();
        assert!(message.contains("3.5"), "{algorithm}: {message}");
        let pkcs8 = SecretBytes::new(vector.pkcs8.clone());
        assert!(matches!(
            backend.signing_key(algorithm, &PrivateMaterial::Pkcs8(pkcs8)),
            Err(keysmith_crypto::Error::Unsupported { .. })
        ));
        assert!(matches!(
            backend.verifying_key(algorithm, VerifyingMaterial::PublicKey(&vector.spki)),
            Err(keysmith_crypto::Error::Unsupported { .. })
        ));
    }
}

/// One known answer of `tests/fixtures/ml-dsa/vectors.json`, made by pyca/cryptography and
/// dilithium-py (see its `make.py`).
#[derive(Debug)]
pub struct MlDsaVector {
    /// The parameter set.
    pub algorithm: Algorithm,
    /// The 32-byte seed.
    pub seed: Vec<u8>,
    /// The public key the seed makes.
    pub public: Vec<u8>,
    /// The expanded private key the seed makes.
    pub expanded: Vec<u8>,
    /// cryptography's PKCS#8 (seed form).
    pub pkcs8: Vec<u8>,
    /// cryptography's SubjectPublicKeyInfo.
    pub spki: Vec<u8>,
    /// The signed message.
    pub message: Vec<u8>,
    /// cryptography's signature of `message`.
    pub signature: Vec<u8>,
}

/// The ML-DSA known answers.
pub fn ml_dsa_vectors() -> Vec<MlDsaVector> {
    let json: serde_json::Value =
        serde_json::from_str(include_str!("../fixtures/ml-dsa/vectors.json")).unwrap();
    let b64 = |v: &serde_json::Value| {
        base64::engine::general_purpose::STANDARD
            .decode(v.as_str().unwrap())
            .unwrap()
    };
    json["vectors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| MlDsaVector {
            algorithm: v["algorithm"].as_str().unwrap().parse().unwrap(),
            seed: (0..32u8).collect(),
            public: b64(&v["public"]),
            expanded: b64(&v["expanded"]),
            pkcs8: b64(&v["pkcs8"]),
            spki: b64(&v["spki"]),
            message: v["message"].as_str().unwrap().as_bytes().to_vec(),
            signature: b64(&v["signature"]),
        })
        .collect()
}

/// ML-DSA against two implementations nobody here wrote: from the same seed the backend makes
/// the same public key; it imports the seed, expanded and both forms (keeping the seed when
/// there is one) and refuses a seed and expanded key that disagree; it verifies their
/// signature; its encodings are theirs byte for byte; and a certificate it makes is signed by
/// the certified key (checked through the same verifier) and reads back with that key.
pub fn ml_dsa_agrees_with_independent_implementations(backend: &dyn KeyBackend) {
    use keysmith_crypto::ml_dsa;
    let vectors = ml_dsa_vectors();
    assert_eq!(vectors.len(), 3);
    for vector in vectors.iter().filter(|v| backend.supports(v.algorithm)) {
        let algorithm = vector.algorithm;
        assert_eq!(vector.seed.len(), 32);
        // Seed form: cryptography's encoding, and Keysmith's, are the same 54 bytes.
        let seed_form = ml_dsa::pkcs8_of_seed(algorithm, &vector.seed).unwrap();
        assert_eq!(&seed_form[..], &vector.pkcs8[..], "{algorithm}: seed form");
        assert_eq!(
            ml_dsa::spki(algorithm, &vector.public).unwrap(),
            vector.spki,
            "{algorithm}: SPKI"
        );
        let parsed = backend
            .parse_private_key(&vector.pkcs8, keysmith_crypto::PrivateKeyFormat::Pkcs8)
            .unwrap();
        assert_eq!(
            parsed.public.components,
            PublicKeyComponents::Akp {
                algorithm,
                public: vector.public.clone()
            },
            "{algorithm}: seed -> public key agrees with cryptography and dilithium-py"
        );
        assert_eq!(parsed.public.length, algorithm.implied_length().unwrap());
        assert_eq!(parsed.pkcs8_der.expose(), &vector.pkcs8[..]);

        // The expanded form alone is kept as it is; with the seed, the seed is kept.
        let expanded_form = ml_dsa::pkcs8_of_expanded(algorithm, &vector.expanded).unwrap();
        let parsed_expanded = backend
            .parse_private_key(&expanded_form, keysmith_crypto::PrivateKeyFormat::Pkcs8)
            .unwrap();
        assert_eq!(parsed_expanded.public.components, parsed.public.components);
        assert_eq!(parsed_expanded.pkcs8_der.expose(), &expanded_form[..]);
        let both = both_forms(algorithm, &vector.seed, &vector.expanded);
        let parsed_both = backend
            .parse_private_key(&both, keysmith_crypto::PrivateKeyFormat::Pkcs8)
            .unwrap();
        assert_eq!(parsed_both.pkcs8_der.expose(), &vector.pkcs8[..]);
        let mut other_seed = vector.seed.clone();
        other_seed[0] ^= 1;
        let disagreeing = both_forms(algorithm, &other_seed, &vector.expanded);
        assert!(
            backend
                .parse_private_key(&disagreeing, keysmith_crypto::PrivateKeyFormat::Pkcs8)
                .is_err(),
            "{algorithm}: a seed and an expanded key that disagree are refused"
        );

        // Their signature verifies here; a changed one does not.
        let verifier = backend
            .verifying_key(algorithm, VerifyingMaterial::PublicKey(&vector.spki))
            .unwrap();
        assert!(
            verifier.verify(&vector.message, &vector.signature),
            "{algorithm}"
        );
        let mut tampered = vector.signature.clone();
        tampered[10] ^= 0x40;
        assert!(!verifier.verify(&vector.message, &tampered), "{algorithm}");
        // A key made from the expanded form signs what the seed's key verifies.
        let from_expanded = backend
            .signing_key(
                algorithm,
                &PrivateMaterial::Pkcs8(SecretBytes::new(expanded_form.to_vec())),
            )
            .unwrap()
            .sign(&vector.message)
            .unwrap();
        assert!(
            verifier.verify(&vector.message, &from_expanded),
            "{algorithm}"
        );
        // Each key signs only with its own parameter set.
        for other in Algorithm::of_type(KeyType::Akp).filter(|a| *a != algorithm) {
            assert!(
                backend
                    .verifying_key(other, VerifyingMaterial::PublicKey(&vector.spki))
                    .is_err(),
                "{algorithm} key as {other}"
            );
            assert!(
                backend
                    .signing_key(
                        other,
                        &PrivateMaterial::Pkcs8(SecretBytes::new(vector.pkcs8.clone()))
                    )
                    .is_err(),
                "{algorithm} key as {other}"
            );
        }

        // A certificate for the imported key, signed with it (RFC 9881): its signature
        // algorithm is the key's OID without parameters, and it verifies under the key.
        let id = KeyId::random();
        let params = certificate::fusionauth_params(&id, ISSUER, NOW, DEFAULT_VALIDITY_YEARS);
        let cert = backend
            .self_signed_certificate(algorithm, &SecretBytes::new(vector.pkcs8.clone()), &params)
            .unwrap();
        let fields = backend.parse_certificate(&cert).unwrap();
        assert_eq!(fields.public_key.components, parsed.public.components);
        let (tbs, signature_algorithm, signature) = certificate_parts(&cert);
        assert_eq!(
            signature_algorithm,
            der::constructed(
                TAG_SEQUENCE,
                &[&der::tlv(der::TAG_OID, ml_dsa::oid(algorithm).unwrap())]
            ),
            "{algorithm}: RFC 9881 signature algorithm"
        );
        assert!(
            verifier.verify(tbs, signature),
            "{algorithm}: certificate signature"
        );
    }
}

fn both_forms(algorithm: Algorithm, seed: &[u8], expanded: &[u8]) -> Vec<u8> {
    let both = der::constructed(
        TAG_SEQUENCE,
        &[
            &der::tlv(der::TAG_OCTET_STRING, seed),
            &der::tlv(der::TAG_OCTET_STRING, expanded),
        ],
    );
    der::constructed(
        TAG_SEQUENCE,
        &[
            &der::tlv(der::TAG_INTEGER, &[0]),
            &der::constructed(
                TAG_SEQUENCE,
                &[&der::tlv(
                    der::TAG_OID,
                    keysmith_crypto::ml_dsa::oid(algorithm).unwrap(),
                )],
            ),
            &der::tlv(der::TAG_OCTET_STRING, &both),
        ],
    )
}

/// A DER certificate's TBS (whole TLV), signature algorithm (whole TLV) and signature bits.
fn certificate_parts(cert: &[u8]) -> (&[u8], Vec<u8>, &[u8]) {
    let body = der::expect_only(cert, TAG_SEQUENCE).unwrap();
    let (_, tbs_content, rest) = der::read_tlv(body).unwrap();
    let tbs = &body[..body.len() - rest.len()];
    assert!(tbs.ends_with(tbs_content));
    let (_, algorithm, rest) = der::read_tlv(rest).unwrap();
    let (tag, bits, _) = der::read_tlv(rest).unwrap();
    assert_eq!(tag, der::TAG_BIT_STRING);
    (
        tbs,
        der::constructed(TAG_SEQUENCE, &[algorithm]),
        &bits[1..],
    )
}
