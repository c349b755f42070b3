//! Every use case of `KeyService` on a real temporary store and the aws-lc backend, without
//! HTTP: keys (generate, import, rename, delete, restore, search), connections, key rings,
//! tenant signing keys, tokens and signatures, and each rule's refusal. The end-to-end tier
//! checks the same rules through the real binary; these run in milliseconds.

// Test helpers: a failed step must fail the test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use keysmith_core::{
    ConnectionFields, GenerateRequest, ImportRequest, IssuerJwks, KeyService, SearchRequest,
    ServiceConfig, ServiceError, TokenRejection,
};
use keysmith_model::{KeyId, KeyType, KeyUse, RingRole};
use keysmith_store::RedbStore;
use serde_json::json;

struct Fixture {
    _dir: tempfile::TempDir,
    service: KeyService,
}

fn service_with(config: ServiceConfig) -> Fixture {
    let backend: Arc<dyn keysmith_crypto::KeyBackend> =
        Arc::new(keysmith_crypto_aws_lc::AwsLcBackend::new());
    let key = keysmith_crypto::envelope::MasterKey::from_bytes(&*backend, &[9u8; 32]).unwrap();
    let sealer =
        Arc::new(keysmith_crypto::envelope::Envelope::new(backend.clone(), vec![key]).unwrap());
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(&dir.path().join("keysmith.redb"), sealer).unwrap();
    let service = KeyService::new(backend, Arc::new(store), config);
    Fixture { _dir: dir, service }
}

fn service() -> Fixture {
    service_with(ServiceConfig::default())
}

fn generate(service: &KeyService, algorithm: &str, name: &str) -> keysmith_model::Key {
    let rsa = algorithm.starts_with("RS") || algorithm.starts_with("PS");
    service
        .keys()
        .generate(
            None,
            &GenerateRequest {
                algorithm: Some(algorithm),
                name: Some(name),
                length: rsa.then_some(2048),
                ..GenerateRequest::default()
            },
        )
        .unwrap_or_else(|e| panic!("generate {algorithm}: {e}"))
}

/// The field paths an `Invalid` refusal names.
fn invalid_fields(result: Result<impl std::fmt::Debug, ServiceError>) -> Vec<String> {
    match result {
        Err(ServiceError::Invalid(errors)) => errors
            .field_errors
            .keys()
            .cloned()
            .chain(errors.general_errors.iter().map(|e| e.code.clone()))
            .collect(),
        other => panic!("expected Invalid, got {other:?}"),
    }
}

fn connection(service: &KeyService, name: &str) -> keysmith_model::Connection {
    service
        .connections()
        .create(ConnectionFields {
            name: Some(name.into()),
            strategy: Some("samlp".into()),
            ..ConnectionFields::default()
        })
        .unwrap()
}

// ---- keys ----

#[test]
fn every_algorithm_generates_a_key_of_its_type_with_the_expected_fields() {
    let f = service();
    for (algorithm, key_type, asymmetric) in [
        ("RS256", KeyType::Rsa, true),
        ("PS384", KeyType::Rsa, true),
        ("ES256", KeyType::Ec, true),
        ("ES384", KeyType::Ec, true),
        ("ES512", KeyType::Ec, true),
        ("Ed25519", KeyType::Okp, true),
        ("HS256", KeyType::Hmac, false),
        ("HS512", KeyType::Hmac, false),
    ] {
        let key = generate(&f.service, algorithm, &format!("k-{algorithm}"));
        assert_eq!(key.algorithm.as_str(), algorithm);
        assert_eq!(key.key_type, key_type, "{algorithm}");
        assert!(!key.kid.is_empty());
        assert_eq!(key.certificate.is_some(), asymmetric, "{algorithm}");
        assert_eq!(key.public_key.is_some(), asymmetric, "{algorithm}");
        assert_eq!(
            key.has_private_key,
            asymmetric.then_some(true),
            "{algorithm}"
        );
        key.check_invariants().unwrap();
        assert_eq!(f.service.keys().retrieve(&key.id).unwrap(), key);
    }
    assert_eq!(f.service.keys().list().unwrap().len(), 8);
}

#[test]
fn generate_refuses_a_missing_or_unknown_algorithm_and_a_missing_name() {
    let f = service();
    let fields = invalid_fields(f.service.keys().generate(
        None,
        &GenerateRequest {
            algorithm: Some("XS999"),
            name: Some("x"),
            ..GenerateRequest::default()
        },
    ));
    assert!(fields.iter().any(|f| f == "key.algorithm"), "{fields:?}");
    let fields = invalid_fields(f.service.keys().generate(None, &GenerateRequest::default()));
    assert!(fields.iter().any(|f| f == "key.algorithm"), "{fields:?}");
    assert!(fields.iter().any(|f| f == "key.name"), "{fields:?}");
    assert!(
        f.service.keys().list().unwrap().is_empty(),
        "a refusal stores nothing"
    );
}

#[test]
fn generate_refuses_an_rsa_length_it_does_not_make() {
    let f = service();
    let fields = invalid_fields(f.service.keys().generate(
        None,
        &GenerateRequest {
            algorithm: Some("RS256"),
            name: Some("short"),
            length: Some(1024),
            ..GenerateRequest::default()
        },
    ));
    assert!(fields.iter().any(|f| f == "key.length"), "{fields:?}");
}

#[test]
fn names_are_unique_and_a_duplicate_changes_nothing() {
    let f = service();
    let first = generate(&f.service, "ES256", "same");
    let fields = invalid_fields(f.service.keys().generate(
        None,
        &GenerateRequest {
            algorithm: Some("HS256"),
            name: Some("same"),
            ..GenerateRequest::default()
        },
    ));
    assert!(fields.iter().any(|f| f == "key.name"), "{fields:?}");
    assert_eq!(f.service.keys().list().unwrap(), vec![first]);
}

#[test]
fn a_chosen_id_is_kept_and_cannot_be_taken_twice() {
    let f = service();
    let id = f
        .service
        .parse_id("5c4d4a7e-2b7b-4b8e-9a51-0d6f6a6c1a01")
        .unwrap();
    let request = GenerateRequest {
        algorithm: Some("HS256"),
        name: Some("chosen"),
        ..GenerateRequest::default()
    };
    let key = f.service.keys().generate(Some(id), &request).unwrap();
    assert_eq!(key.id, id);
    let again = GenerateRequest {
        name: Some("chosen-2"),
        ..request
    };
    assert!(f.service.keys().generate(Some(id), &again).is_err());
}

#[test]
fn an_id_that_is_not_a_uuid_is_refused() {
    let f = service();
    assert!(matches!(
        f.service.parse_id("not-a-uuid"),
        Err(ServiceError::Invalid(_))
    ));
}

#[test]
fn retrieve_rename_and_delete_of_an_unknown_key_are_not_found() {
    let f = service();
    let unknown = KeyId(uuid::Uuid::new_v4());
    assert!(matches!(
        f.service.keys().retrieve(&unknown),
        Err(ServiceError::NotFound)
    ));
    assert!(matches!(
        f.service.keys().rename(&unknown, Some("x")),
        Err(ServiceError::NotFound)
    ));
    assert!(matches!(
        f.service.keys().delete(&unknown),
        Err(ServiceError::NotFound)
    ));
}

#[test]
fn rename_changes_only_the_name_and_the_update_instant() {
    let f = service();
    let key = generate(&f.service, "ES256", "before");
    let renamed = f.service.keys().rename(&key.id, Some("after")).unwrap();
    assert_eq!(renamed.name, "after");
    assert_eq!(renamed.kid, key.kid);
    assert_eq!(renamed.certificate, key.certificate);
    assert!(renamed.last_update_instant >= key.last_update_instant);
    assert_eq!(f.service.keys().retrieve(&key.id).unwrap(), renamed);
    let fields = invalid_fields(f.service.keys().rename(&key.id, None));
    assert!(fields.iter().any(|f| f == "key.name"), "{fields:?}");
}

#[test]
fn rename_to_a_taken_name_is_refused() {
    let f = service();
    generate(&f.service, "HS256", "taken");
    let other = generate(&f.service, "HS256", "other");
    let fields = invalid_fields(f.service.keys().rename(&other.id, Some("taken")));
    assert!(fields.iter().any(|f| f == "key.name"), "{fields:?}");
    assert_eq!(f.service.keys().retrieve(&other.id).unwrap().name, "other");
}

/// A service whose deletes are restorable for an hour.
fn restorable() -> Fixture {
    service_with(ServiceConfig {
        deletion_window_seconds: 3600,
        ..ServiceConfig::default()
    })
}

#[test]
fn a_deleted_key_can_be_restored_with_everything_it_had() {
    let f = restorable();
    let key = generate(&f.service, "ES384", "restorable");
    f.service.keys().delete(&key.id).unwrap();
    assert!(matches!(
        f.service.keys().retrieve(&key.id),
        Err(ServiceError::NotFound)
    ));
    let deleted = f.service.keys().deleted().unwrap();
    assert_eq!(deleted.len(), 1);
    assert_eq!(deleted[0].0, key);
    // Its name is free while it is deleted.
    let squatter = generate(&f.service, "HS256", "restorable");
    assert!(
        f.service.keys().restore(&key.id).is_err(),
        "the name is taken"
    );
    f.service.keys().delete(&squatter.id).unwrap();
    assert_eq!(f.service.keys().restore(&key.id).unwrap(), key);
    assert_eq!(f.service.keys().retrieve(&key.id).unwrap(), key);
    let (signature, _) = f.service.tokens().sign(&key.id, Some("aGVsbG8")).unwrap();
    assert!(
        f.service
            .tokens()
            .verify(&key.id, Some("aGVsbG8"), Some(&signature))
            .unwrap()
    );
}

#[test]
fn restoring_a_key_never_deleted_is_not_found() {
    let f = service();
    let key = generate(&f.service, "HS256", "live");
    assert!(matches!(
        f.service.keys().restore(&key.id),
        Err(ServiceError::NotFound)
    ));
}

#[test]
fn without_a_deletion_window_a_delete_is_final() {
    let f = service();
    let key = generate(&f.service, "HS256", "gone");
    f.service.keys().delete(&key.id).unwrap();
    assert!(f.service.keys().deleted().unwrap().is_empty());
    assert!(matches!(
        f.service.keys().restore(&key.id),
        Err(ServiceError::NotFound)
    ));
}

#[test]
fn purge_keeps_deleted_keys_until_their_window_ends() {
    let f = restorable();
    let key = generate(&f.service, "HS256", "kept");
    f.service.keys().delete(&key.id).unwrap();
    assert!(f.service.keys().purge_deleted().unwrap().is_empty());
    let deleted = f.service.keys().deleted().unwrap();
    assert_eq!(deleted.len(), 1);
    let purge_at = deleted[0].1;
    let now = keysmith_model::epoch_millis_now();
    assert!(
        (now + 3_590_000..=now + 3_600_000).contains(&purge_at),
        "purged an hour after the delete: {purge_at} vs {now}"
    );
}

// ---- import ----

#[test]
fn an_hmac_secret_imports_and_signs_like_the_generated_kind() {
    let f = service();
    let key = f
        .service
        .keys()
        .import(
            None,
            &ImportRequest {
                algorithm: Some("HS256"),
                name: Some("imported-hmac"),
                secret: Some("c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LTMyYnl0ZXM"),
                ..ImportRequest::default()
            },
        )
        .unwrap();
    assert_eq!(key.key_type, KeyType::Hmac);
    let (signature, algorithm) = f
        .service
        .tokens()
        .sign(&key.id, Some("cGF5bG9hZA"))
        .unwrap();
    assert_eq!(algorithm.as_str(), "HS256");
    assert!(
        f.service
            .tokens()
            .verify(&key.id, Some("cGF5bG9hZA"), Some(&signature))
            .unwrap()
    );
}

#[test]
fn a_public_key_imported_from_a_generated_one_verifies_its_signatures() {
    let f = service();
    let source = generate(&f.service, "ES256", "source");
    let imported = f
        .service
        .keys()
        .import(
            None,
            &ImportRequest {
                name: Some("public-only"),
                public_key: source.public_key.as_deref(),
                ..ImportRequest::default()
            },
        )
        .unwrap();
    assert_eq!(
        imported.algorithm.as_str(),
        "ES256",
        "inferred from the key"
    );
    assert_eq!(imported.has_private_key, Some(false));
    let (signature, _) = f.service.tokens().sign(&source.id, Some("ZGF0YQ")).unwrap();
    assert!(
        f.service
            .tokens()
            .verify(&imported.id, Some("ZGF0YQ"), Some(&signature))
            .unwrap()
    );
    assert!(
        f.service
            .tokens()
            .sign(&imported.id, Some("ZGF0YQ"))
            .is_err(),
        "a public key cannot sign"
    );
}

#[test]
fn import_refuses_garbage_pem_and_a_request_with_nothing_to_import() {
    let f = service();
    let fields = invalid_fields(f.service.keys().import(
        None,
        &ImportRequest {
            name: Some("garbage"),
            public_key: Some("-----BEGIN PUBLIC KEY-----\nnot base64\n-----END PUBLIC KEY-----\n"),
            ..ImportRequest::default()
        },
    ));
    assert!(!fields.is_empty());
    let fields = invalid_fields(f.service.keys().import(
        None,
        &ImportRequest {
            name: Some("empty"),
            ..ImportRequest::default()
        },
    ));
    assert!(!fields.is_empty());
    assert!(f.service.keys().list().unwrap().is_empty());
}

// ---- search ----

#[test]
fn search_filters_by_name_type_and_algorithm_and_pages() {
    let f = service();
    for i in 0..5 {
        generate(&f.service, "HS256", &format!("alpha-{i}"));
    }
    generate(&f.service, "ES256", "beta-ec");
    let page = f
        .service
        .keys()
        .search(&SearchRequest {
            name: Some("alpha*"),
            number_of_results: Some(2),
            start_row: Some(1),
            ..SearchRequest::default()
        })
        .unwrap();
    assert_eq!(page.total, 5);
    let names: Vec<_> = page.keys.iter().map(|k| k.name.as_str()).collect();
    assert_eq!(names, ["alpha-1", "alpha-2"]);
    let ec = f
        .service
        .keys()
        .search(&SearchRequest {
            key_type: Some("EC"),
            ..SearchRequest::default()
        })
        .unwrap();
    assert_eq!(ec.total, 1);
    assert_eq!(ec.keys[0].name, "beta-ec");
    let by_alg = f
        .service
        .keys()
        .search(&SearchRequest {
            algorithm: Some("HS256"),
            order_by: Some("name DESC"),
            ..SearchRequest::default()
        })
        .unwrap();
    assert_eq!(by_alg.keys[0].name, "alpha-4");
}

#[test]
fn search_refuses_bad_paging_and_ordering() {
    let f = service();
    for (request, field) in [
        (
            SearchRequest {
                number_of_results: Some(0),
                ..SearchRequest::default()
            },
            "search.numberOfResults",
        ),
        (
            SearchRequest {
                start_row: Some(-1),
                ..SearchRequest::default()
            },
            "search.startRow",
        ),
        (
            SearchRequest {
                order_by: Some("colour ASC"),
                ..SearchRequest::default()
            },
            "search.orderBy",
        ),
        (
            SearchRequest {
                order_by: Some("name SIDEWAYS"),
                ..SearchRequest::default()
            },
            "search.orderBy",
        ),
        (
            SearchRequest {
                algorithm: Some("XS1"),
                ..SearchRequest::default()
            },
            "search.algorithm",
        ),
    ] {
        let fields = invalid_fields(f.service.keys().search(&request));
        assert!(fields.iter().any(|f| f == field), "{field}: {fields:?}");
    }
}

// ---- tokens and signatures ----

#[test]
fn a_vended_token_validates_with_its_claims() {
    let f = service();
    for algorithm in ["RS256", "ES256", "Ed25519", "HS256"] {
        let key = generate(&f.service, algorithm, &format!("vend-{algorithm}"));
        let token = f
            .service
            .tokens()
            .vend(
                Some(&key.id.to_string()),
                Some(&json!({"sub": "alice", "aud": "x"})),
                Some(60),
            )
            .unwrap();
        let claims = f.service.tokens().validate(&token).unwrap();
        assert_eq!(claims["sub"], "alice", "{algorithm}");
        assert!(claims.contains_key("exp") && claims.contains_key("iat"));
    }
}

#[test]
fn validate_rejects_a_tampered_a_foreign_and_a_malformed_token() {
    let f = service();
    let key = generate(&f.service, "ES256", "validator");
    let token = f
        .service
        .tokens()
        .vend(
            Some(&key.id.to_string()),
            Some(&json!({"sub": "a"})),
            Some(60),
        )
        .unwrap();
    let mut parts: Vec<&str> = token.split('.').collect();
    let other = f
        .service
        .tokens()
        .vend(
            Some(&key.id.to_string()),
            Some(&json!({"sub": "b"})),
            Some(60),
        )
        .unwrap();
    let other_payload = other.split('.').nth(1).unwrap();
    parts[1] = other_payload;
    let tampered = parts.join(".");
    assert_eq!(
        f.service.tokens().validate(&tampered).unwrap_err(),
        TokenRejection::BadSignature
    );
    assert_eq!(
        f.service.tokens().validate("not.a.jwt").unwrap_err(),
        TokenRejection::Malformed
    );
    // A token signed by a key this server does not hold.
    let elsewhere = service();
    let foreign_key = generate(&elsewhere.service, "ES256", "foreign");
    let foreign = elsewhere
        .service
        .tokens()
        .vend(Some(&foreign_key.id.to_string()), None, Some(60))
        .unwrap();
    assert_eq!(
        f.service.tokens().validate(&foreign).unwrap_err(),
        TokenRejection::UnknownKid
    );
}

/// A JWT with these claims, signed by the stored key `key` through the sign use case.
fn signed_token(
    service: &KeyService,
    key: &keysmith_model::Key,
    claims: &serde_json::Value,
) -> String {
    use base64::Engine as _;
    let b64 = |v: &serde_json::Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap())
    };
    let header = json!({"alg": key.algorithm.as_str(), "typ": "JWT", "kid": key.kid});
    let signing_input = format!("{}.{}", b64(&header), b64(claims));
    let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&signing_input);
    let (signature, _) = service.tokens().sign(&key.id, Some(&payload)).unwrap();
    format!("{signing_input}.{signature}")
}

#[test]
fn validate_honours_exp_and_nbf_with_the_clock_skew() {
    let f = service_with(ServiceConfig {
        jwt_clock_skew_seconds: 30,
        ..ServiceConfig::default()
    });
    let key = generate(&f.service, "HS256", "timed");
    let now = keysmith_model::epoch_millis_now() / 1000;
    let check = |claims: serde_json::Value| {
        f.service
            .tokens()
            .validate(&signed_token(&f.service, &key, &claims))
    };
    assert!(check(json!({"sub": "ok", "exp": now + 60})).is_ok());
    assert!(check(json!({"exp": now - 10})).is_ok(), "within the skew");
    assert_eq!(
        check(json!({"exp": now - 120})).unwrap_err(),
        TokenRejection::Expired
    );
    assert!(check(json!({"nbf": now + 10})).is_ok(), "within the skew");
    assert_eq!(
        check(json!({"nbf": now + 120})).unwrap_err(),
        TokenRejection::NotYetValid
    );
}

#[test]
fn a_token_whose_alg_is_not_its_keys_is_rejected() {
    use base64::Engine as _;
    let f = service();
    let key = generate(&f.service, "HS256", "alg-bound");
    let token = signed_token(&f.service, &key, &json!({"sub": "x"}));
    // The same signature under a header that claims another algorithm (or none).
    let (_, rest) = token.split_once('.').unwrap();
    for alg in ["HS512", "none"] {
        let header = json!({"alg": alg, "typ": "JWT", "kid": key.kid});
        let forged = format!(
            "{}.{rest}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(serde_json::to_vec(&header).unwrap())
        );
        assert_eq!(
            f.service.tokens().validate(&forged).unwrap_err(),
            TokenRejection::AlgorithmMismatch,
            "{alg}"
        );
    }
}

#[test]
fn vend_refuses_an_unknown_key_and_a_ttl_over_the_maximum() {
    let f = service();
    assert!(
        f.service
            .tokens()
            .vend(Some(&uuid::Uuid::new_v4().to_string()), None, Some(60))
            .is_err()
    );
    let key = generate(&f.service, "HS256", "ttl");
    let too_long = f.service.config().jwt_max_ttl_seconds + 1;
    assert!(
        f.service
            .tokens()
            .vend(Some(&key.id.to_string()), None, Some(too_long))
            .is_err()
    );
}

#[test]
fn a_signature_does_not_verify_another_payload_or_with_another_key() {
    let f = service();
    let one = generate(&f.service, "RS256", "one");
    let two = generate(&f.service, "RS256", "two");
    let (signature, _) = f.service.tokens().sign(&one.id, Some("b25l")).unwrap();
    assert!(
        f.service
            .tokens()
            .verify(&one.id, Some("b25l"), Some(&signature))
            .unwrap()
    );
    assert!(
        !f.service
            .tokens()
            .verify(&one.id, Some("dHdv"), Some(&signature))
            .unwrap()
    );
    assert!(
        !f.service
            .tokens()
            .verify(&two.id, Some("b25l"), Some(&signature))
            .unwrap()
    );
}

#[test]
fn sign_refuses_a_payload_that_is_not_base64url() {
    let f = service();
    let key = generate(&f.service, "HS256", "b64");
    assert!(matches!(
        f.service.tokens().sign(&key.id, Some("not base64!")),
        Err(ServiceError::Invalid(_))
    ));
    assert!(matches!(
        f.service.tokens().sign(&key.id, None),
        Err(ServiceError::Invalid(_))
    ));
}

// ---- published set ----

#[test]
fn the_published_set_holds_public_keys_only_and_follows_deletes() {
    let f = service();
    let ec = generate(&f.service, "ES256", "published");
    let hmac = generate(&f.service, "HS256", "secret");
    let published = f.service.published().unwrap();
    let jwks: serde_json::Value = serde_json::from_slice(&published.jwks_json).unwrap();
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert!(kids.contains(&ec.kid.as_str()));
    assert!(
        !kids.contains(&hmac.kid.as_str()),
        "an HMAC secret is never published"
    );
    assert!(!String::from_utf8_lossy(&published.jwks_json).contains("\"d\""));
    f.service.keys().delete(&ec.id).unwrap();
    let after: serde_json::Value =
        serde_json::from_slice(&f.service.published().unwrap().jwks_json).unwrap();
    assert!(after["keys"].as_array().unwrap().is_empty());
}

// ---- connections ----

#[test]
fn a_connection_is_created_read_updated_and_deleted() {
    let f = service();
    let created = connection(&f.service, "corp-saml");
    assert!(created.id.starts_with("con_"));
    assert_eq!(f.service.connections().get(&created.id).unwrap(), created);
    assert_eq!(
        f.service.connections().list().unwrap(),
        vec![created.clone()]
    );
    let updated = f
        .service
        .connections()
        .update(
            &created.id,
            ConnectionFields {
                display_name: Some("Corporate".into()),
                ..ConnectionFields::default()
            },
        )
        .unwrap();
    assert_eq!(updated.display_name.as_deref(), Some("Corporate"));
    assert_eq!(updated.name, created.name);
    f.service.connections().delete(&created.id).unwrap();
    assert!(matches!(
        f.service.connections().get(&created.id),
        Err(ServiceError::NotFound)
    ));
}

#[test]
fn connection_names_are_checked_and_unique() {
    let f = service();
    connection(&f.service, "unique");
    let fields = invalid_fields(f.service.connections().create(ConnectionFields {
        name: Some("-bad name-".into()),
        strategy: Some("oidc".into()),
        ..ConnectionFields::default()
    }));
    assert!(fields.iter().any(|f| f == "name"), "{fields:?}");
    let fields = invalid_fields(f.service.connections().create(ConnectionFields::default()));
    assert!(fields.iter().any(|f| f == "name"), "{fields:?}");
    assert!(matches!(
        f.service.connections().create(ConnectionFields {
            name: Some("unique".into()),
            strategy: Some("oidc".into()),
            ..ConnectionFields::default()
        }),
        Err(ServiceError::Conflict(_))
    ));
}

#[test]
fn update_refuses_fields_that_only_create_sets() {
    let f = service();
    let created = connection(&f.service, "fixed-name");
    let result = f.service.connections().update(
        &created.id,
        ConnectionFields {
            name: Some("renamed".into()),
            ..ConnectionFields::default()
        },
    );
    assert!(
        matches!(result, Err(ServiceError::Invalid(_))),
        "{result:?}"
    );
    assert_eq!(
        f.service.connections().get(&created.id).unwrap().name,
        "fixed-name"
    );
}

#[test]
fn an_id_that_cannot_be_a_connection_id_is_not_found() {
    let f = service();
    for id in ["", "con_", "../etc", "con_0123456789abcdefXX"] {
        assert!(matches!(
            f.service.connections().get(id),
            Err(ServiceError::NotFound)
        ));
        assert!(matches!(
            f.service.connections().delete(id),
            Err(ServiceError::NotFound)
        ));
    }
}

// ---- connection key rings ----

#[test]
fn provisioning_makes_a_current_and_a_next_key_once() {
    let f = service();
    let c = connection(&f.service, "ringed");
    let keys = f
        .service
        .connections()
        .provision(&c.id, Some("ES256"), KeyUse::Signing)
        .unwrap();
    let roles: Vec<RingRole> = keys.iter().map(|k| k.role).collect();
    assert_eq!(roles, [RingRole::Current, RingRole::Next]);
    assert!(keys.iter().all(|k| k.key.algorithm.as_str() == "ES256"));
    assert!(matches!(
        f.service
            .connections()
            .provision(&c.id, Some("ES256"), KeyUse::Signing),
        Err(ServiceError::Conflict(_))
    ));
    assert_eq!(f.service.connections().keys(&c.id).unwrap().len(), 2);
}

#[test]
fn rotation_moves_the_ring_one_step_and_keeps_the_previous_key_published() {
    let f = service();
    let c = connection(&f.service, "rotating");
    let before = f
        .service
        .connections()
        .provision(&c.id, None, KeyUse::Signing)
        .unwrap();
    let new_next = f
        .service
        .connections()
        .rotate(&c.id, None, KeyUse::Signing)
        .unwrap();
    assert_eq!(new_next.role, RingRole::Next);
    let after = f.service.connections().keys(&c.id).unwrap();
    let role_of = |kid: &str| after.iter().find(|k| k.key.kid == kid).map(|k| k.role);
    assert_eq!(role_of(&before[0].key.kid), Some(RingRole::Previous));
    assert_eq!(role_of(&before[1].key.kid), Some(RingRole::Current));
    assert_eq!(role_of(&new_next.key.kid), Some(RingRole::Next));
    let jwks: serde_json::Value =
        serde_json::from_slice(&f.service.published().unwrap().jwks_json).unwrap();
    let published = jwks["keys"].as_array().unwrap().len();
    assert_eq!(published, 3, "previous, current and next are published");
}

#[test]
fn rotating_or_reading_keys_of_an_unknown_connection_is_not_found() {
    let f = service();
    assert!(matches!(
        f.service
            .connections()
            .rotate("con_0123456789abcdef", None, KeyUse::Signing),
        Err(ServiceError::NotFound)
    ));
    assert!(matches!(
        f.service.connections().keys("con_0123456789abcdef"),
        Err(ServiceError::NotFound)
    ));
}

#[test]
fn a_signing_alg_auth0_does_not_know_is_refused_and_encryption_keys_are_rsa_only() {
    let f = service();
    let c = connection(&f.service, "picky");
    for (alg, key_use) in [
        (Some("HS256"), KeyUse::Signing),
        (Some("ES512"), KeyUse::Signing),
        (Some("ES256"), KeyUse::Encryption),
    ] {
        let fields = invalid_fields(f.service.connections().provision(&c.id, alg, key_use));
        assert!(
            fields.iter().any(|f| f == "signing_alg"),
            "{alg:?}: {fields:?}"
        );
    }
    assert!(f.service.connections().keys(&c.id).unwrap().is_empty());
}

#[test]
fn a_key_in_a_ring_cannot_be_deleted_while_it_signs() {
    let f = service();
    let c = connection(&f.service, "guarded");
    let keys = f
        .service
        .connections()
        .provision(&c.id, None, KeyUse::Signing)
        .unwrap();
    assert!(f.service.keys().delete(&keys[0].key.id).is_err());
    assert!(f.service.keys().retrieve(&keys[0].key.id).is_ok());
}

#[test]
fn deleting_a_connection_deletes_its_keys() {
    let f = service();
    let c = connection(&f.service, "doomed");
    let keys = f
        .service
        .connections()
        .provision(&c.id, None, KeyUse::Signing)
        .unwrap();
    f.service.connections().delete(&c.id).unwrap();
    for view in keys {
        assert!(matches!(
            f.service.keys().retrieve(&view.key.id),
            Err(ServiceError::NotFound)
        ));
    }
    assert!(f.service.keys().list().unwrap().is_empty());
}

// ---- tenant signing keys ----

#[test]
fn tenant_keys_are_provisioned_on_first_read_then_rotate_and_revoke() {
    let f = service();
    assert!(f.service.tenant_keys().provisioned().unwrap().is_none());
    let keys = f.service.tenant_keys().list().unwrap();
    assert_eq!(keys.len(), 2);
    let first_current = keys[0].key.kid.clone();
    assert_eq!(
        f.service.tenant_keys().get(&first_current).unwrap().role,
        RingRole::Current
    );
    // Only the previous key can be revoked.
    assert!(f.service.tenant_keys().revoke(&first_current).is_err());
    f.service.tenant_keys().rotate().unwrap();
    let revoked = f.service.tenant_keys().revoke(&first_current).unwrap();
    assert_eq!(revoked.role, RingRole::Revoked);
    let jwks: serde_json::Value =
        serde_json::from_slice(&f.service.published().unwrap().jwks_json).unwrap();
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert!(
        !kids.contains(&first_current.as_str()),
        "a revoked key is withdrawn"
    );
    assert!(matches!(
        f.service.tenant_keys().get("no-such-kid"),
        Err(ServiceError::NotFound)
    ));
}

#[test]
fn rotate_due_leaves_rings_whose_period_has_not_passed_or_is_off() {
    // A ring that is due is rotated in e2e `scheduled_rotation_catches_up_once` (it needs time
    // to pass); here only the rings that are not due, which need none.
    let f = service();
    let c = connection(&f.service, "scheduled");
    f.service
        .connections()
        .provision(&c.id, None, KeyUse::Signing)
        .unwrap();
    // The default period is far away: nothing is due.
    assert!(f.service.rotate_due().is_empty());
    // A connection with rotation switched off is never due.
    let off = f
        .service
        .connections()
        .create(ConnectionFields {
            name: Some("never".into()),
            strategy: Some("samlp".into()),
            rotation_period_seconds: Some(0),
            ..ConnectionFields::default()
        })
        .unwrap();
    f.service
        .connections()
        .provision(&off.id, None, KeyUse::Signing)
        .unwrap();
    assert!(f.service.rotate_due().is_empty());
}

#[test]
fn a_rotation_period_over_ten_years_is_refused() {
    let f = service();
    let fields = invalid_fields(f.service.connections().create(ConnectionFields {
        name: Some("forever".into()),
        strategy: Some("samlp".into()),
        rotation_period_seconds: Some(u64::MAX),
        ..ConnectionFields::default()
    }));
    assert!(
        fields.iter().any(|f| f == "rotation_period_seconds"),
        "{fields:?}"
    );
}

// ---- system ----

#[test]
fn the_census_counts_live_keys_by_kind() {
    let f = service();
    generate(&f.service, "ES256", "c1");
    generate(&f.service, "ES256", "c2");
    let hmac = generate(&f.service, "HS256", "c3");
    f.service.keys().delete(&hmac.id).unwrap();
    let census = f.service.census(i64::MAX).unwrap();
    assert_eq!(census.by_kind, vec![("EC".into(), "ES256".into(), 2)]);
    assert_eq!(
        census.expiring, 2,
        "both certificates expire before the end of time"
    );
    assert_eq!(f.service.census(0).unwrap().expiring, 0);
}

#[test]
fn a_healthy_store_reports_no_failure_and_snapshots_everything() {
    let f = service();
    generate(&f.service, "ES256", "snap");
    assert!(!f.service.storage_failing());
    assert_eq!(f.service.storage_unreadable(), None);
    assert_eq!(f.service.probe_storage(), None);
    let dir = tempfile::tempdir().unwrap();
    let copied = f
        .service
        .snapshot_to(&dir.path().join("copy.redb"))
        .unwrap();
    assert!(copied >= 1);
    assert!(
        f.service
            .snapshot_to(&dir.path().join("copy.redb"))
            .is_err(),
        "never over an existing file"
    );
}

fn generate_for(service: &KeyService, name: &str, issuer: Option<&str>) -> keysmith_model::Key {
    service
        .keys()
        .generate(
            None,
            &GenerateRequest {
                algorithm: Some("ES256"),
                name: Some(name),
                issuer,
                ..GenerateRequest::default()
            },
        )
        .unwrap()
}

/// An issuer's JWKS is built once and kept until the next change (any key's: the version is
/// the store's); an empty one is never kept; one larger than `published_cache_bytes` is
/// streamed: written from the issuer index in id order, with an ETag that does not change
/// between answers.
#[test]
fn an_issuers_jwks_is_kept_until_the_next_change_and_a_large_one_streamed() {
    let f = service();
    let s = &f.service;
    let key = generate_for(s, "issued", Some("kept.example"));
    assert!(s.issuer_jwks_kept("kept.example").is_none());
    let IssuerJwks::Whole(built) = s.issuer_jwks("kept.example").unwrap() else {
        panic!("a one-key JWKS is kept whole");
    };
    let jwks: serde_json::Value = serde_json::from_slice(&built.json).unwrap();
    assert_eq!(jwks["keys"][0]["kid"], key.kid.as_str());
    let Some(IssuerJwks::Whole(kept)) = s.issuer_jwks_kept("kept.example") else {
        panic!("kept after the first answer");
    };
    assert!(
        Arc::ptr_eq(&built, &kept),
        "the same bytes, not built again"
    );
    let IssuerJwks::Whole(empty) = s.issuer_jwks("nobody.example").unwrap() else {
        panic!("an empty JWKS is whole");
    };
    assert_eq!(empty.json, br#"{"keys":[]}"#);
    assert!(
        s.issuer_jwks_kept("nobody.example").is_none(),
        "empty: not kept"
    );
    // Another key's change drops what was kept; the rebuilt document is equal.
    generate_for(s, "another", None);
    assert!(s.issuer_jwks_kept("kept.example").is_none());
    let IssuerJwks::Whole(rebuilt) = s.issuer_jwks("kept.example").unwrap() else {
        panic!("whole");
    };
    assert_eq!(*rebuilt, *built);

    // Too large to keep: streamed.
    let small = service_with(ServiceConfig {
        published_cache_bytes: 16,
        ..ServiceConfig::default()
    });
    let s = &small.service;
    let keys = [
        generate_for(s, "one", Some("kept.example")),
        generate_for(s, "two", Some("kept.example")),
    ];
    let IssuerJwks::Streamed { etag } = s.issuer_jwks("kept.example").unwrap() else {
        panic!("two keys do not fit in 16 bytes");
    };
    let mut written = Vec::new();
    s.write_issuer_jwks("kept.example", &mut written).unwrap();
    let jwks: serde_json::Value = serde_json::from_slice(&written).unwrap();
    let mut kids: Vec<_> = keys.iter().map(|k| (k.id.0, k.kid.as_str())).collect();
    kids.sort();
    assert_eq!(
        jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap())
            .collect::<Vec<_>>(),
        kids.iter().map(|(_, kid)| *kid).collect::<Vec<_>>()
    );
    let IssuerJwks::Streamed { etag: again } = s.issuer_jwks("kept.example").unwrap() else {
        panic!("still too large");
    };
    assert_eq!(again, etag, "the ETag follows the keys, not the request");
}

/// Requests for one issuer's JWKS that arrive together while it is not kept build it once: the
/// others wait for that build and answer its bytes (the same allocation), instead of each
/// reading every key of the issuer.
#[test]
fn concurrent_first_requests_for_an_issuer_build_its_jwks_once() {
    let f = service();
    let s = &f.service;
    let keys = s.keys();
    // Enough keys that one build takes a while (each JWK is made from its key).
    let made: Vec<_> = (0..600)
        .map(|n| {
            keys.make(
                None,
                &GenerateRequest {
                    algorithm: Some("ES256"),
                    name: Some(&format!("together {n}")),
                    issuer: Some("together.example"),
                    ..GenerateRequest::default()
                },
            )
            .unwrap()
        })
        .collect();
    keys.store_many(made).unwrap();
    let barrier = std::sync::Barrier::new(8);
    let answers: Vec<Arc<keysmith_core::ScopedJwks>> = std::thread::scope(|scope| {
        let threads: Vec<_> = (0..8)
            .map(|_| {
                scope.spawn(|| {
                    barrier.wait();
                    match s.issuer_jwks("together.example").unwrap() {
                        IssuerJwks::Whole(whole) => whole,
                        IssuerJwks::Streamed { .. } => panic!("600 keys are kept whole"),
                    }
                })
            })
            .collect();
        threads.into_iter().map(|t| t.join().unwrap()).collect()
    });
    for answer in &answers {
        assert!(Arc::ptr_eq(answer, &answers[0]), "built more than once");
    }
    let jwks: serde_json::Value = serde_json::from_slice(&answers[0].json).unwrap();
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 600);
}
