//! The redb store against its contract: uniqueness, order, search, persistence, schema checks.

// Test helpers: a failed step must fail the test.
#![allow(clippy::unwrap_used)]

use keysmith_model::search::{SearchQuery, SortField};
use keysmith_model::{Algorithm, Key, KeyId, KeyType, PrivateMaterial, SecretBytes};
use keysmith_store::{KeyStore, RedbStore, SCHEMA_VERSION, StoreError, StoredKey, UniqueField};

fn key(name: &str, kid: &str, algorithm: Algorithm, insert: i64) -> StoredKey {
    let asymmetric = algorithm.key_type() != KeyType::Hmac;
    StoredKey {
        key: Key {
            algorithm,
            certificate: None,
            certificate_information: None,
            expiration_instant: asymmetric.then_some(insert * 7),
            has_private_key: asymmetric.then_some(true),
            id: KeyId::random(),
            insert_instant: insert,
            issuer: None,
            kid: kid.into(),
            last_update_instant: insert,
            length: asymmetric.then_some(256),
            name: name.into(),
            public_key: asymmetric.then(|| "-----BEGIN PUBLIC KEY-----".into()),
            key_type: algorithm.key_type(),
        },
        private: Some(if asymmetric {
            PrivateMaterial::Pkcs8(SecretBytes::new(vec![1, 2, 3]))
        } else {
            PrivateMaterial::HmacSecret(SecretBytes::new(b"secret".to_vec()))
        }),
    }
}

fn temp_store() -> (tempfile::TempDir, RedbStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(&dir.path().join("keysmith.redb")).unwrap();
    (dir, store)
}

#[test]
fn names_kids_and_ids_are_unique_and_a_refused_insert_changes_nothing() {
    let (_dir, store) = temp_store();
    let first = key("alpha", "kid-1", Algorithm::ES256, 1);
    store.insert(&first).unwrap();
    let mut same_id = key("beta", "kid-2", Algorithm::ES256, 2);
    same_id.key.id = first.key.id;
    assert!(matches!(
        store.insert(&same_id),
        Err(StoreError::Duplicate(UniqueField::Id))
    ));
    assert!(matches!(
        store.insert(&key("alpha", "kid-3", Algorithm::HS256, 3)),
        Err(StoreError::Duplicate(UniqueField::Name))
    ));
    assert!(matches!(
        store.insert(&key("gamma", "kid-1", Algorithm::HS256, 4)),
        Err(StoreError::Duplicate(UniqueField::Kid))
    ));
    assert_eq!(store.count().unwrap(), 1);
    assert!(store.id_by_name("beta").unwrap().is_none());
    assert!(store.id_by_kid("kid-3").unwrap().is_none());
}

#[test]
fn rename_delete_and_insertion_order() {
    let (_dir, store) = temp_store();
    let a = key("a", "k1", Algorithm::ES256, 1);
    let b = key("b", "k2", Algorithm::RS256, 2);
    let c = key("c", "k3", Algorithm::HS256, 3);
    for k in [&b, &a, &c] {
        store.insert(k).unwrap();
    }
    let names = |s: &RedbStore| {
        s.list()
            .unwrap()
            .into_iter()
            .map(|k| k.name)
            .collect::<Vec<_>>()
    };
    assert_eq!(names(&store), ["b", "a", "c"]);
    assert!(matches!(
        store.rename(&a.key.id, "b", 9),
        Err(StoreError::Duplicate(UniqueField::Name))
    ));
    let renamed = store.rename(&a.key.id, "z", 9).unwrap().unwrap();
    assert_eq!(
        (renamed.name.as_str(), renamed.last_update_instant),
        ("z", 9)
    );
    assert_eq!(store.id_by_name("z").unwrap(), Some(a.key.id));
    assert!(store.id_by_name("a").unwrap().is_none());
    assert!(store.rename(&KeyId::random(), "q", 1).unwrap().is_none());
    assert!(store.delete(&b.key.id).unwrap());
    assert!(!store.delete(&b.key.id).unwrap());
    assert_eq!(names(&store), ["z", "c"]);
    // A deleted key's name and kid can be used again.
    store.insert(&key("b", "k2", Algorithm::ES384, 4)).unwrap();
    assert_eq!(names(&store), ["z", "c", "b"]);
}

#[test]
fn keys_and_secrets_survive_reopening_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keysmith.redb");
    let records: Vec<StoredKey> = (0..20)
        .map(|i| {
            key(
                &format!("key {i}"),
                &format!("kid{i}"),
                Algorithm::ALL[i % Algorithm::ALL.len()],
                i as i64,
            )
        })
        .collect();
    {
        let store = RedbStore::open(&path).unwrap();
        for r in &records {
            store.insert(r).unwrap();
        }
    }
    let store = RedbStore::open(&path).unwrap();
    for r in &records {
        let back = store.get(&r.key.id).unwrap().unwrap();
        assert_eq!(back.key, r.key);
        assert_eq!(
            back.private.unwrap().expose(),
            r.private.as_ref().unwrap().expose()
        );
        assert_eq!(store.id_by_kid(&r.key.kid).unwrap(), Some(r.key.id));
    }
}

#[test]
fn search_filters_orders_and_pages() {
    let (_dir, store) = temp_store();
    for i in 0..300 {
        let algorithm = [Algorithm::ES256, Algorithm::RS256, Algorithm::HS256][i % 3];
        store
            .insert(&key(
                &format!("Key {i:03}"),
                &format!("kid-{i}"),
                algorithm,
                i as i64,
            ))
            .unwrap();
    }
    let query = |q: SearchQuery| store.search(&q).unwrap();
    let all = SearchQuery {
        number_of_results: 25,
        ..Default::default()
    };
    let page = query(all.clone());
    assert_eq!(page.total, 300);
    assert_eq!(page.keys.len(), 25);
    assert_eq!(page.keys[0].name, "Key 000");
    let page = query(SearchQuery {
        start_row: 290,
        ..all.clone()
    });
    assert_eq!(page.keys.len(), 10);
    assert_eq!(page.keys[9].name, "Key 299");
    let page = query(SearchQuery {
        descending: true,
        ..all.clone()
    });
    assert_eq!(page.keys[0].name, "Key 299");
    let page = query(SearchQuery {
        name: Some("key 1*".into()),
        ..all.clone()
    });
    assert_eq!(page.total, 100);
    let page = query(SearchQuery {
        name: Some("99".into()),
        ..all.clone()
    });
    assert_eq!(
        page.keys
            .iter()
            .map(|k| k.name.as_str())
            .collect::<Vec<_>>(),
        ["Key 099", "Key 199", "Key 299"]
    );
    let page = query(SearchQuery {
        algorithm: Some(Algorithm::RS256),
        number_of_results: 500,
        ..all.clone()
    });
    assert_eq!(page.total, 100);
    assert!(page.keys.iter().all(|k| k.algorithm == Algorithm::RS256));
    let page = query(SearchQuery {
        key_type: Some(KeyType::Hmac),
        order_by: SortField::InsertInstant,
        descending: true,
        ..all.clone()
    });
    assert_eq!(page.keys[0].name, "Key 299");
    let page = query(SearchQuery {
        order_by: SortField::Algorithm,
        start_row: 95,
        number_of_results: 10,
        ..all.clone()
    });
    let algs: Vec<_> = page.keys.iter().map(|k| k.algorithm.as_str()).collect();
    assert_eq!(
        algs,
        [
            "ES256", "ES256", "ES256", "ES256", "ES256", "HS256", "HS256", "HS256", "HS256",
            "HS256"
        ]
    );
    let page = query(SearchQuery {
        order_by: SortField::Expiration,
        descending: true,
        number_of_results: 3,
        ..all.clone()
    });
    assert_eq!(
        page.keys[0].name, "Key 298",
        "HMAC keys have no expiration; the latest ES/RS key comes first"
    );
    let page = query(SearchQuery {
        order_by: SortField::Id,
        number_of_results: 300,
        ..all
    });
    let ids: Vec<_> = page.keys.iter().map(|k| k.id).collect();
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(ids, sorted);
}

#[test]
fn unknown_schema_versions_and_foreign_files_are_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("future.redb");
    {
        let db = redb::Database::create(&path).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let mut meta = txn
                .open_table(redb::TableDefinition::<&str, u64>::new("meta"))
                .unwrap();
            meta.insert("schema_version", SCHEMA_VERSION + 1).unwrap();
        }
        txn.commit().unwrap();
    }
    let before = std::fs::read(&path).unwrap();
    let err = RedbStore::open(&path).unwrap_err();
    assert!(
        matches!(err, StoreError::UnknownSchemaVersion { found, .. } if found == SCHEMA_VERSION + 1),
        "{err}"
    );
    assert!(err.to_string().contains("left untouched"));
    assert_eq!(std::fs::read(&path).unwrap(), before, "file unchanged");

    let foreign = dir.path().join("foreign.redb");
    {
        let db = redb::Database::create(&foreign).unwrap();
        let txn = db.begin_write().unwrap();
        txn.open_table(redb::TableDefinition::<u64, u64>::new("other"))
            .unwrap()
            .insert(1, 2)
            .unwrap();
        txn.commit().unwrap();
    }
    let before = std::fs::read(&foreign).unwrap();
    assert!(matches!(
        RedbStore::open(&foreign),
        Err(StoreError::NotKeysmithData(_))
    ));
    assert_eq!(std::fs::read(&foreign).unwrap(), before);

    let text = dir.path().join("notes.txt");
    std::fs::write(
        &text,
        b"not a database at all, just some text that is long enough",
    )
    .unwrap();
    assert!(RedbStore::open(&text).is_err());
    assert_eq!(
        std::fs::read(&text).unwrap(),
        b"not a database at all, just some text that is long enough"
    );
}

#[test]
fn a_second_open_of_the_same_file_is_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keysmith.redb");
    let _first = RedbStore::open(&path).unwrap();
    assert!(matches!(RedbStore::open(&path), Err(StoreError::Locked(_))));
}

#[test]
fn api_key_hashes_persist() {
    let (_dir, store) = temp_store();
    store.add_api_key_hash(&[7; 32]).unwrap();
    store.add_api_key_hash(&[7; 32]).unwrap();
    store.add_api_key_hash(&[9; 32]).unwrap();
    assert_eq!(store.api_key_hashes().unwrap(), vec![[7; 32], [9; 32]]);
}
