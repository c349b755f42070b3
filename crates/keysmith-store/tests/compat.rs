//! Backward compatibility: files written by earlier schema versions still open and read the
//! same. `fixtures/schema-v1.redb` was written by `write_schema_v1_fixture` (run it with
//! `--ignored` only to regenerate the file, never to make this test pass).

// Test helpers: a failed step must fail the test.
#![allow(clippy::unwrap_used)]

/// The sealer the tests store secrets with: the real envelope on aws-lc-rs, a fixed master key.
fn sealer() -> std::sync::Arc<dyn keysmith_model::SecretSealer> {
    let backend: std::sync::Arc<dyn keysmith_crypto::KeyBackend> =
        std::sync::Arc::new(keysmith_crypto_aws_lc::AwsLcBackend::new());
    let key = keysmith_crypto::envelope::MasterKey::from_bytes(&*backend, &[7u8; 32]).unwrap();
    std::sync::Arc::new(keysmith_crypto::envelope::Envelope::new(backend, vec![key]).unwrap())
}

use std::path::PathBuf;

use keysmith_model::{Algorithm, Key, KeyId, KeyType, PrivateMaterial, SecretBytes};
use keysmith_store::prelude::*;
use keysmith_store::{RedbStore, StoredKey};

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/schema-v1.redb")
}

fn records() -> Vec<StoredKey> {
    let key = |n: u128, algorithm: Algorithm| {
        let asymmetric = algorithm.key_type() != KeyType::Hmac;
        StoredKey {
            key: Key {
                algorithm,
                certificate: None,
                certificate_information: None,
                expiration_instant: asymmetric.then_some(1_900_000_000_000),
                has_private_key: asymmetric.then_some(true),
                id: KeyId(uuid::Uuid::from_u128(n)),
                insert_instant: 1_700_000_000_000 + n as i64,
                issuer: asymmetric.then(|| "fixture.example".into()),
                kid: format!("kid-{n}"),
                last_update_instant: 1_700_000_000_000 + n as i64,
                length: asymmetric.then_some(256),
                name: format!("Fixture {n}"),
                public_key: asymmetric
                    .then(|| "-----BEGIN PUBLIC KEY-----\nAA==\n-----END PUBLIC KEY-----".into()),
                key_type: algorithm.key_type(),
            },
            private: Some(if asymmetric {
                PrivateMaterial::Pkcs8(SecretBytes::new(vec![n as u8; 8]))
            } else {
                PrivateMaterial::HmacSecret(SecretBytes::new(vec![b's'; 40]))
            }),
        }
    };
    vec![
        key(1, Algorithm::ES256),
        key(2, Algorithm::HS256),
        key(3, Algorithm::Ed25519),
    ]
}

#[test]
#[ignore = "wrote the schema-1 fixture with the schema-1 build; kept to show how (this build writes schema 3)"]
fn write_schema_v1_fixture() {
    let path = fixture();
    let _ = std::fs::remove_file(&path);
    let store = RedbStore::open(&path, sealer()).unwrap();
    for record in records() {
        store.insert(&record).unwrap();
    }
    store.add_api_key_hash(&[0xab; 32]).unwrap();
}

#[test]
fn schema_v1_files_still_open_and_read_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("v1.redb");
    std::fs::copy(fixture(), &copy).unwrap();
    let store = RedbStore::open(&copy, sealer()).unwrap();
    let expected = records();
    assert_eq!(
        store.list().unwrap(),
        expected.iter().map(|r| r.key.clone()).collect::<Vec<_>>()
    );
    for record in &expected {
        let stored = store.get(&record.key.id).unwrap().unwrap();
        assert_eq!(
            stored.private.unwrap().expose(),
            record.private.as_ref().unwrap().expose()
        );
        assert_eq!(
            store.id_by_kid(&record.key.kid).unwrap(),
            Some(record.key.id)
        );
    }
    assert_eq!(store.api_key_hashes().unwrap(), vec![[0xab; 32]]);

    // The upgrades added the ring tables (schema 2) and sealed every secret (schema 3): the
    // rings are empty, and no secret is left in the clear.
    assert!(store.connections().unwrap().is_empty());
    assert!(store.rings().unwrap().is_empty());
    assert_eq!(store.ring_of_key(&expected[0].key.id).unwrap(), None);
    drop(store);
    {
        use redb::{ReadableDatabase as _, ReadableTable as _};
        let secrets: redb::TableDefinition<u128, &[u8]> = redb::TableDefinition::new("key_secrets");
        let db = redb::Database::open(&copy).unwrap();
        let txn = db.begin_read().unwrap();
        let table = txn.open_table(secrets).unwrap();
        for entry in table.iter().unwrap() {
            let (_, value) = entry.unwrap();
            assert_eq!(
                value.value().first(),
                Some(&3),
                "a secret is still in the clear"
            );
        }
    }
    let reopened = RedbStore::open(&copy, sealer()).unwrap();
    assert_eq!(reopened.count().unwrap(), expected.len() as u64);
}
