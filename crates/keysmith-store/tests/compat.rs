//! Backward compatibility: a file written by every schema version that was ever released opens
//! and reads the same. `fixtures/schema-v1.redb` was written by `write_schema_v1_fixture` with
//! the schema-1 build, `fixtures/schema-v3.redb` by `write_schema_v3_fixture` with the schema-3
//! build (schema 2 was never released: the same change went from 1 to 3), and
//! `fixtures/schema-v4.redb` by `write_schema_v4_fixture` with the schema-4 build, and
//! `fixtures/schema-v5.redb` by `write_schema_v5_fixture` with the schema-5 build, and so on for
//! schema 6 and 7. Run a writer with
//! `--ignored` only to regenerate its file with the build of its version, never to make a test
//! pass; a new schema version adds its own fixture and keeps these.

// Test helpers: a failed step must fail the test.
#![allow(clippy::unwrap_used)]

mod common;
use common::sealer;

use std::path::PathBuf;

use keysmith_model::search::SortField;
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
#[ignore = "wrote the schema-1 fixture with the schema-1 build; kept to show how (this build writes a later schema)"]
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
    assert_stored_in_the_current_schema(&copy);
    let reopened = RedbStore::open(&copy, sealer()).unwrap();
    assert_eq!(reopened.count().unwrap(), expected.len() as u64);
}

/// The file is marked with the current schema (5), every key record is in the compact form
/// (format byte 4, where a schema 1–3 record is JSON), and the one name index of schema 5 holds
/// every key under its lower-case name with its exact name, the two of schema 1–4 deleted.
fn assert_stored_in_the_current_schema(path: &std::path::Path) {
    use redb::{ReadableDatabase as _, ReadableTable as _, ReadableTableMetadata as _};
    let keys: redb::TableDefinition<u128, &[u8]> = redb::TableDefinition::new("keys");
    let meta: redb::TableDefinition<&str, u64> = redb::TableDefinition::new("meta");
    let by_name: redb::TableDefinition<(&str, u128), &str> =
        redb::TableDefinition::new("keys_by_name_lowercase");
    let by_kind: redb::TableDefinition<(&str, &str, u128), ()> =
        redb::TableDefinition::new("keys_by_kind_and_name");
    let db = redb::Database::open(path).unwrap();
    let txn = db.begin_read().unwrap();
    let version = txn.open_table(meta).unwrap().get("schema_version").unwrap();
    assert_eq!(
        version.map(|v| v.value()),
        Some(keysmith_store::SCHEMA_VERSION)
    );
    assert_eq!(keysmith_store::SCHEMA_VERSION, 7);
    let table = txn.open_table(keys).unwrap();
    assert!(table.len().unwrap() > 0);
    for entry in table.iter().unwrap() {
        let (_, value) = entry.unwrap();
        assert_eq!(
            value.value().first(),
            Some(&4),
            "a key record is not compact"
        );
    }
    let names = txn.open_table(by_name).unwrap();
    assert_eq!(names.len().unwrap(), table.len().unwrap());
    for entry in names.iter().unwrap() {
        let (position, exact) = entry.unwrap();
        let (lower, id) = position.value();
        assert_eq!(lower, exact.value().to_lowercase());
        assert!(table.get(id).unwrap().is_some(), "a name of no key");
    }
    // One kind entry per key (schema 4 kept a type entry too).
    assert_eq!(
        txn.open_table(by_kind).unwrap().len().unwrap(),
        table.len().unwrap()
    );
    // One issuer entry per key with an issuer, naming that key's issuer.
    let by_issuer: redb::TableDefinition<(&str, u128), ()> =
        redb::TableDefinition::new("keys_by_issuer");
    let issuers = txn.open_table(by_issuer).unwrap();
    assert!(issuers.len().unwrap() > 0, "no key indexed by issuer");
    for entry in issuers.iter().unwrap() {
        let (position, _) = entry.unwrap();
        let (issuer, id) = position.value();
        assert!(!issuer.is_empty());
        assert!(
            table.get(id).unwrap().is_some(),
            "an issuer entry of no key"
        );
    }
    let tables: Vec<String> = txn
        .list_tables()
        .unwrap()
        .map(|t| redb::TableHandle::name(&t).to_owned())
        .collect();
    for legacy in ["keys_by_name", "keys_by_lower_name"] {
        assert!(
            !tables.iter().any(|t| t == legacy),
            "{legacy} is still there"
        );
    }
}

// ---- schema 3 ----

fn fixture_v3() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/schema-v3.redb")
}

/// What the schema-3 fixture holds beyond `records()`: a tenant ring over keys 11 (current)
/// and 12 (next) after one rotation with 13 previous, key 14 revoked out of it and restorably
/// deleted, a connection, an API key record and two audit rows.
fn tenant_ring() -> keysmith_model::KeyRing {
    use keysmith_model::{KeyRing, RingKey};
    let slot = |n: u128, since: Option<i64>, until: Option<i64>| RingKey {
        id: KeyId(uuid::Uuid::from_u128(n)),
        kid: format!("kid-{n}"),
        current_since: since,
        current_until: until,
        revoked_at: None,
    };
    KeyRing {
        signing_alg: Algorithm::ES256,
        rotations: 1,
        current: slot(11, Some(1_700_000_100_000), None),
        next: slot(12, None, None),
        previous: Some(slot(13, Some(1_700_000_000_000), Some(1_700_000_100_000))),
        revoked: Vec::new(),
    }
}

fn ring_records() -> Vec<StoredKey> {
    [11, 12, 13]
        .into_iter()
        .map(|n| {
            let mut record = records().remove(0);
            record.key.id = KeyId(uuid::Uuid::from_u128(n));
            record.key.kid = format!("kid-{n}");
            record.key.name = format!("Ring {n}");
            record
        })
        .collect()
}

fn connection() -> keysmith_model::Connection {
    keysmith_model::Connection {
        id: "con_0123456789abcdef".into(),
        name: "fixture-connection".into(),
        display_name: Some("Fixture".into()),
        strategy: "samlp".into(),
        options: serde_json::from_str(r#"{"signInEndpoint":"https://idp.example"}"#).unwrap(),
        metadata: serde_json::Map::new(),
        enabled_clients: vec!["client-1".into()],
        realms: vec!["fixture-connection".into()],
        is_domain_connection: false,
        rotation_period_seconds: Some(86_400),
        created_at: 1_700_000_000_000,
        updated_at: 1_700_000_000_000,
    }
}

fn api_key() -> keysmith_model::ApiKeyRecord {
    keysmith_model::ApiKeyRecord {
        id: uuid::Uuid::from_u128(21),
        name: "fixture-ci".into(),
        sha256: "ab".repeat(32),
        permissions: vec!["keys:GET".into()],
        created_at: 1_700_000_000_000,
    }
}

fn audit_rows() -> Vec<keysmith_model::AuditRecord> {
    ["key.generate", "key.delete"]
        .into_iter()
        .enumerate()
        .map(|(n, action)| keysmith_model::AuditRecord {
            id: 0,
            at: 1_700_000_000_000 + n as i64,
            actor: "cli".into(),
            action: action.into(),
            target: uuid::Uuid::from_u128(1).to_string(),
            result: "ok".into(),
            request_id: None,
            uses: None,
        })
        .collect()
}

/// The restorably deleted key: key 3 of `records()`, purged at this instant.
const PURGE_AT: i64 = 4_000_000_000_000;

#[test]
#[ignore = "wrote the schema-3 fixture with the schema-3 build; run only to regenerate it"]
fn write_schema_v3_fixture() {
    let path = fixture_v3();
    let _ = std::fs::remove_file(&path);
    let store = RedbStore::open(&path, sealer()).unwrap();
    fill_fixture(&store);
}

/// What the schema-3 and schema-4 fixtures hold: `records()` (the third restorably deleted),
/// an API key hash and record, a connection, the tenant ring and two audit rows.
fn fill_fixture(store: &RedbStore) {
    for record in records() {
        store.insert(&record).unwrap();
    }
    assert!(
        store
            .delete_restorably(&records()[2].key.id, PURGE_AT)
            .unwrap()
    );
    store.add_api_key_hash(&[0xab; 32]).unwrap();
    store.add_api_key_record(&api_key()).unwrap();
    store.insert_connection(&connection()).unwrap();
    store
        .change_ring(
            &keysmith_model::RingOwner::Tenant,
            Box::new(|_| {
                Ok(keysmith_store::RingChange {
                    ring: tenant_ring(),
                    insert: ring_records(),
                    delete: Vec::new(),
                })
            }),
        )
        .unwrap();
    store.append_audit(&audit_rows()).unwrap();
}

#[test]
fn schema_v3_files_open_and_read_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("v3.redb");
    std::fs::copy(fixture_v3(), &copy).unwrap();
    check_fixture(&copy, &[]);
    // The upgrade rewrote every key record compactly (read back the same just above).
    assert_stored_in_the_current_schema(&copy);
    // It also listed the master keys the secrets are sealed under, from their headers: a
    // start with another master key is still refused, now from that list.
    let other: std::sync::Arc<dyn keysmith_model::SecretSealer> = {
        let backend: std::sync::Arc<dyn keysmith_crypto::KeyBackend> =
            std::sync::Arc::new(keysmith_crypto_aws_lc::AwsLcBackend::new());
        let key = keysmith_crypto::envelope::MasterKey::from_bytes(&*backend, &[8u8; 32]).unwrap();
        std::sync::Arc::new(keysmith_crypto::envelope::Envelope::new(backend, vec![key]).unwrap())
    };
    assert!(matches!(
        RedbStore::open(&copy, other),
        Err(keysmith_store::StoreError::MasterKey(_))
    ));
    {
        use redb::{ReadableDatabase as _, ReadableTableMetadata as _};
        let in_use: redb::TableDefinition<&[u8], ()> =
            redb::TableDefinition::new("master_keys_in_use");
        let db = redb::Database::open(&copy).unwrap();
        let txn = db.begin_read().unwrap();
        assert_eq!(txn.open_table(in_use).unwrap().len().unwrap(), 1);
    }
}

/// Checks a copy of a fixture written by `fill_fixture` (plus `extra` keys, by schema 4).
fn check_fixture(copy: &std::path::Path, extra: &[StoredKey]) {
    let store = RedbStore::open(copy, sealer()).unwrap();
    let live = records()[..2].to_vec();
    let mut ring_keys = ring_records();
    ring_keys.extend_from_slice(extra);
    let listed = store.list().unwrap();
    let expected: Vec<Key> = live
        .iter()
        .chain(&ring_keys)
        .map(|r| r.key.clone())
        .collect();
    assert_eq!(listed, expected);
    // The kind index, which schema 3 files were written without, is built at open: a search
    // by each type finds exactly the listed keys of that type.
    for key_type in keysmith_model::KeyType::ALL {
        let query = keysmith_model::search::SearchQuery {
            key_type: Some(key_type),
            number_of_results: 100,
            ..Default::default()
        };
        let found = store.search(&query).unwrap();
        let of_type = listed.iter().filter(|k| k.key_type == key_type).count();
        assert_eq!(found.total as usize, of_type, "{key_type:?}");
        assert_eq!(found.keys.len(), of_type, "{key_type:?}");
    }
    // The name index, rebuilt by the schema 5 upgrade, finds every key by its exact name, and
    // by its name in any case in a search; a name in use is refused.
    for record in live.iter().chain(&ring_keys) {
        let name = &record.key.name;
        assert_eq!(store.id_by_name(name).unwrap(), Some(record.key.id));
        let query = keysmith_model::search::SearchQuery {
            name: Some(name.to_uppercase()),
            number_of_results: 100,
            ..Default::default()
        };
        let found = store.search(&query).unwrap();
        assert!(found.keys.iter().any(|k| k.id == record.key.id), "{name}");
    }
    // The issuer index, built by the schema 6 upgrade: each issuer's live keys in id order.
    let mut issuers: Vec<&str> = listed.iter().filter_map(|k| k.issuer.as_deref()).collect();
    issuers.sort_unstable();
    issuers.dedup();
    assert!(!issuers.is_empty(), "the fixture has keys with an issuer");
    for issuer in issuers {
        let mut expected: Vec<Key> = listed
            .iter()
            .filter(|k| k.issuer.as_deref() == Some(issuer))
            .cloned()
            .collect();
        expected.sort_by_key(|k| k.id.0);
        assert_eq!(store.keys_by_issuer(issuer, None, 1000).unwrap(), expected);
        // The count per issuer (schema 7), which a search by issuer alone takes its total
        // from, in every order (id order first: it streams to the end of the page on that
        // total, where the others count their matches and keep the count for later searches).
        for order_by in [SortField::Id, SortField::Name, SortField::InsertInstant] {
            let query = keysmith_model::search::SearchQuery {
                issuer: Some(issuer.into()),
                order_by,
                number_of_results: 100,
                ..Default::default()
            };
            let found = store.search(&query).unwrap();
            assert_eq!(found.total as usize, expected.len(), "{issuer}");
            assert_eq!(found.keys.len(), expected.len(), "{issuer}");
        }
    }
    let mut taken = records().remove(0);
    taken.key.id = KeyId(uuid::Uuid::from_u128(0x5eed));
    taken.key.kid = "a kid of its own".into();
    assert!(matches!(
        store.insert(&taken),
        Err(keysmith_store::StoreError::Duplicate(_))
    ));
    for record in live.iter().chain(&ring_keys) {
        let stored = store.get(&record.key.id).unwrap().unwrap();
        assert_eq!(
            stored.private.unwrap().expose(),
            record.private.as_ref().unwrap().expose()
        );
    }
    let deleted = records().remove(2);
    assert_eq!(
        store.deleted_keys().unwrap(),
        vec![(deleted.key.clone(), PURGE_AT)]
    );
    assert_eq!(store.api_key_hashes().unwrap(), vec![[0xab; 32]]);
    assert_eq!(store.api_key_records().unwrap(), vec![api_key()]);
    assert_eq!(store.connections().unwrap(), vec![connection()]);
    assert_eq!(
        store.rings().unwrap(),
        vec![(keysmith_model::RingOwner::Tenant, tenant_ring())]
    );
    let (trail, total) = store
        .search_audit(&keysmith_model::AuditQuery {
            number_of_results: 10,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(total, 2);
    let actions: Vec<&str> = trail.iter().map(|r| r.action.as_str()).collect();
    assert_eq!(actions, ["key.delete", "key.generate"], "newest first");
    // A restore brings the deleted key back whole.
    let restored = store.restore(&deleted.key.id).unwrap().unwrap();
    assert_eq!(restored, deleted.key);
    assert_eq!(
        store
            .get(&deleted.key.id)
            .unwrap()
            .unwrap()
            .private
            .unwrap()
            .expose(),
        deleted.private.unwrap().expose()
    );
}

// ---- schema 4 ----

fn fixture_v4() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/schema-v4.redb")
}

/// Generated keys with real certificates (the golden schema-3 records), stored compactly with
/// the certificate's public key and kid derived.
fn golden_keys() -> Vec<StoredKey> {
    include_str!("fixtures/records/key-v3.jsonl")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .enumerate()
        .map(|(n, line)| {
            let key: Key = serde_json::from_str(line).unwrap();
            let private = if key.key_type == KeyType::Hmac {
                PrivateMaterial::HmacSecret(SecretBytes::new(vec![b'g'; 32]))
            } else {
                PrivateMaterial::Pkcs8(SecretBytes::new(vec![n as u8 + 40; 8]))
            };
            StoredKey {
                key,
                private: Some(private),
            }
        })
        .collect()
}

#[test]
#[ignore = "wrote the schema-4 fixture with the schema-4 build; run only to regenerate it"]
fn write_schema_v4_fixture() {
    let path = fixture_v4();
    let _ = std::fs::remove_file(&path);
    let store = RedbStore::open(&path, sealer()).unwrap();
    fill_fixture(&store);
    for record in golden_keys() {
        store.insert(&record).unwrap();
    }
}

#[test]
fn schema_v4_files_open_and_read_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("v4.redb");
    std::fs::copy(fixture_v4(), &copy).unwrap();
    assert_eq!(schema_of(&copy), 4);
    check_fixture(&copy, &golden_keys());
    assert_stored_in_the_current_schema(&copy);
}

/// The schema version a file is marked with.
fn schema_of(path: &std::path::Path) -> u64 {
    use redb::ReadableDatabase as _;
    let meta: redb::TableDefinition<&str, u64> = redb::TableDefinition::new("meta");
    let db = redb::Database::open(path).unwrap();
    let txn = db.begin_read().unwrap();
    let version = txn.open_table(meta).unwrap().get("schema_version").unwrap();
    version.unwrap().value()
}

// ---- schema 5 ----

fn fixture_v5() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/schema-v5.redb")
}

/// The schema-4 fixture's keys, and one whose name differs from `records()[0]`'s only in case
/// (another name: the one name index of schema 5 tells them apart).
fn schema_v5_keys() -> Vec<StoredKey> {
    let mut keys = golden_keys();
    let mut upper = records().remove(0);
    upper.key.id = KeyId(uuid::Uuid::from_u128(0x55));
    upper.key.kid = "kid-upper".into();
    upper.key.name = upper.key.name.to_uppercase();
    keys.push(upper);
    keys
}

#[test]
#[ignore = "wrote the schema-5 fixture with the schema-5 build; kept to show how (this build writes a later schema)"]
fn write_schema_v5_fixture() {
    let path = fixture_v5();
    let _ = std::fs::remove_file(&path);
    let store = RedbStore::open(&path, sealer()).unwrap();
    fill_fixture(&store);
    for record in schema_v5_keys() {
        store.insert(&record).unwrap();
    }
}

#[test]
fn schema_v5_files_open_and_read_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("v5.redb");
    std::fs::copy(fixture_v5(), &copy).unwrap();
    assert_eq!(schema_of(&copy), 5);
    check_fixture(&copy, &schema_v5_keys());
    assert_stored_in_the_current_schema(&copy);
}

// ---- schema 6 ----

fn fixture_v6() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/schema-v6.redb")
}

/// The schema-5 fixture's keys, and one more under an issuer of its own.
fn schema_v6_keys() -> Vec<StoredKey> {
    let mut keys = schema_v5_keys();
    let mut second = records().remove(0);
    second.key.id = KeyId(uuid::Uuid::from_u128(0x66));
    second.key.kid = "kid-issuer-second".into();
    second.key.name = "Fixture of another issuer".into();
    second.key.issuer = Some("second.example".into());
    keys.push(second);
    keys
}

#[test]
#[ignore = "wrote the schema-6 fixture with the schema-6 build; kept to show how (this build writes a later schema)"]
fn write_schema_v6_fixture() {
    let path = fixture_v6();
    let _ = std::fs::remove_file(&path);
    let store = RedbStore::open(&path, sealer()).unwrap();
    fill_fixture(&store);
    for record in schema_v6_keys() {
        store.insert(&record).unwrap();
    }
}

#[test]
fn schema_v6_files_open_and_read_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("v6.redb");
    std::fs::copy(fixture_v6(), &copy).unwrap();
    assert_eq!(schema_of(&copy), 6);
    check_fixture(&copy, &schema_v6_keys());
    assert_stored_in_the_current_schema(&copy);
}

// ---- schema 7 (the current version) ----

fn fixture_v7() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/schema-v7.redb")
}

/// The schema-6 fixture's keys, and one more of the second issuer (an issuer of two keys).
fn schema_v7_keys() -> Vec<StoredKey> {
    let mut keys = schema_v6_keys();
    let mut third = records().remove(0);
    third.key.id = KeyId(uuid::Uuid::from_u128(0x77));
    third.key.kid = "kid-issuer-third".into();
    third.key.name = "Fixture of the second issuer, again".into();
    third.key.issuer = Some("second.example".into());
    keys.push(third);
    keys
}

#[test]
#[ignore = "wrote the schema-7 fixture with the schema-7 build; run only to regenerate it"]
fn write_schema_v7_fixture() {
    let path = fixture_v7();
    let _ = std::fs::remove_file(&path);
    let store = RedbStore::open(&path, sealer()).unwrap();
    fill_fixture(&store);
    for record in schema_v7_keys() {
        store.insert(&record).unwrap();
    }
}

#[test]
fn schema_v7_files_open_and_read_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("v7.redb");
    std::fs::copy(fixture_v7(), &copy).unwrap();
    assert_eq!(schema_of(&copy), 7);
    check_fixture(&copy, &schema_v7_keys());
    assert_stored_in_the_current_schema(&copy);
}
