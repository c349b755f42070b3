//! The redb store against its contract: uniqueness, order, search, persistence, schema checks.

// Test helpers: a failed step must fail the test.
#![allow(clippy::unwrap_used)]

#[macro_use]
mod common;
use common::{connection, pg_store, sealer, temp_store};

use keysmith_model::search::{SearchQuery, SortField};
use keysmith_model::{
    Algorithm, Key, KeyId, KeyRing, KeyType, KeyUse, PrivateMaterial, RingError, RingKey,
    RingOwner, RingRole, SealError, SecretBytes,
};
use keysmith_store::prelude::*;
use keysmith_store::{
    KeyStore, RedbStore, RingChange, SCHEMA_VERSION, StoreError, StoredKey, UniqueField,
};

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

fn names_kids_and_ids_are_unique_and_a_refused_insert_changes_nothing(store: &dyn KeyStore) {
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
    // Names are unique exactly as written: one that differs only in case is another name.
    let upper = key("ALPHA", "kid-4", Algorithm::ES256, 5);
    store.insert(&upper).unwrap();
    assert_eq!(store.id_by_name("alpha").unwrap(), Some(first.key.id));
    assert_eq!(store.id_by_name("ALPHA").unwrap(), Some(upper.key.id));
    assert_eq!(store.id_by_name("Alpha").unwrap(), None);
    assert!(matches!(
        store.rename(&upper.key.id, "alpha", 6),
        Err(StoreError::Duplicate(UniqueField::Name))
    ));
    store.rename(&upper.key.id, "Alpha", 6).unwrap();
    assert_eq!(store.id_by_name("Alpha").unwrap(), Some(upper.key.id));
    assert_eq!(store.id_by_name("ALPHA").unwrap(), None);
    assert_eq!(store.id_by_name("alpha").unwrap(), Some(first.key.id));
    store.delete(&first.key.id).unwrap();
    assert_eq!(store.id_by_name("alpha").unwrap(), None);
    assert_eq!(store.id_by_name("Alpha").unwrap(), Some(upper.key.id));
    assert_eq!(store.count().unwrap(), 1);
}

fn rename_delete_and_insertion_order(store: &dyn KeyStore) {
    let a = key("a", "k1", Algorithm::ES256, 1);
    let b = key("b", "k2", Algorithm::RS256, 2);
    let c = key("c", "k3", Algorithm::HS256, 3);
    for k in [&b, &a, &c] {
        store.insert(k).unwrap();
    }
    let names = |s: &dyn KeyStore| {
        s.list()
            .unwrap()
            .into_iter()
            .map(|k| k.name)
            .collect::<Vec<_>>()
    };
    assert_eq!(names(store), ["b", "a", "c"]);
    // The record as read decodes to the key, reads the same until a change, and differs after.
    let record = store.key_record(&a.key.id).unwrap().unwrap();
    assert_eq!(record.decode().unwrap(), a.key);
    assert_eq!(store.key_record(&a.key.id).unwrap().as_ref(), Some(&record));
    assert_eq!(
        format!("{record:?}"),
        format!("KeyRecord({} bytes)", record.len())
    );
    assert!(store.key_record(&KeyId::random()).unwrap().is_none());
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
    let after = store.key_record(&a.key.id).unwrap().unwrap();
    assert_ne!(after, record);
    assert_eq!(after.decode().unwrap(), renamed);
    assert!(store.rename(&KeyId::random(), "q", 1).unwrap().is_none());
    assert!(store.delete(&b.key.id).unwrap());
    assert!(!store.delete(&b.key.id).unwrap());
    assert_eq!(names(store), ["z", "c"]);
    // A deleted key's name and kid can be used again.
    store.insert(&key("b", "k2", Algorithm::ES384, 4)).unwrap();
    assert_eq!(names(store), ["z", "c", "b"]);
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
        let store = RedbStore::open(&path, sealer()).unwrap();
        for r in &records {
            store.insert(r).unwrap();
        }
    }
    let store = RedbStore::open(&path, sealer()).unwrap();
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

fn search_filters_orders_and_pages(store: &dyn KeyStore) {
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
    let err = RedbStore::open(&path, sealer()).unwrap_err();
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
        RedbStore::open(&foreign, sealer()),
        Err(StoreError::NotKeysmithData(_))
    ));
    assert_eq!(std::fs::read(&foreign).unwrap(), before);

    let text = dir.path().join("notes.txt");
    std::fs::write(
        &text,
        b"not a database at all, just some text that is long enough",
    )
    .unwrap();
    assert!(RedbStore::open(&text, sealer()).is_err());
    assert_eq!(
        std::fs::read(&text).unwrap(),
        b"not a database at all, just some text that is long enough"
    );
}

#[test]
fn a_second_open_of_the_same_file_is_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keysmith.redb");
    let _first = RedbStore::open(&path, sealer()).unwrap();
    assert!(matches!(
        RedbStore::open(&path, sealer()),
        Err(StoreError::Locked(_))
    ));
}

fn api_key_hashes_persist(store: &dyn KeyStore) {
    store.add_api_key_hash(&[7; 32]).unwrap();
    store.add_api_key_hash(&[7; 32]).unwrap();
    store.add_api_key_hash(&[9; 32]).unwrap();
    assert_eq!(store.api_key_hashes().unwrap(), vec![[7; 32], [9; 32]]);
}

fn slot(record: &StoredKey) -> RingKey {
    RingKey::fresh(record.key.id, record.key.kid.clone())
}

fn ring_changes_are_all_or_nothing_and_guard_their_keys(store: &dyn KeyStore) {
    let owner = RingOwner::connection("con_AAAAAAAAAAAAAAAA", KeyUse::Signing);
    let (a, b, c) = (
        key("a", "kid-a", Algorithm::ES256, 1),
        key("b", "kid-b", Algorithm::ES256, 2),
        key("c", "kid-c", Algorithm::ES256, 3),
    );
    // A connection ring needs its connection.
    let ring = KeyRing::provision(Algorithm::ES256, slot(&a), slot(&b), 10);
    let orphan = store.change_ring(
        &owner,
        Box::new(|_| {
            Ok(RingChange {
                ring: ring.clone(),
                insert: vec![a.clone(), b.clone()],
                delete: Vec::new(),
            })
        }),
    );
    assert!(matches!(
        orphan,
        Err(StoreError::Ring(RingError::NoSuchConnection))
    ));
    store
        .insert_connection(&connection("con_AAAAAAAAAAAAAAAA", "acme"))
        .unwrap();
    assert!(matches!(
        store.insert_connection(&connection("con_BBBBBBBBBBBBBBBB", "acme")),
        Err(StoreError::Duplicate(UniqueField::ConnectionName))
    ));

    // A change whose ring names a key it does not store fails as a whole: the key it did
    // insert is not kept either.
    let broken = KeyRing::provision(Algorithm::ES256, slot(&a), slot(&c), 10);
    let refused = store.change_ring(
        &owner,
        Box::new(|_| {
            Ok(RingChange {
                ring: broken,
                insert: vec![a.clone()],
                delete: Vec::new(),
            })
        }),
    );
    assert!(matches!(refused, Err(StoreError::Corrupt(_))));
    assert_eq!(store.count().unwrap(), 0);
    assert_eq!(store.ring(&owner).unwrap(), None);

    // Provision, then rotate: the key that leaves is deleted in the same transaction.
    store
        .change_ring(
            &owner,
            Box::new(|old| {
                assert!(old.is_none());
                Ok(RingChange {
                    ring: ring.clone(),
                    insert: vec![a.clone(), b.clone()],
                    delete: Vec::new(),
                })
            }),
        )
        .unwrap();
    assert_eq!(
        store.ring_of_key(&a.key.id).unwrap(),
        Some((owner.clone(), RingRole::Current))
    );
    assert!(matches!(
        store.delete(&a.key.id),
        Err(StoreError::InUse {
            role: RingRole::Current,
            ..
        })
    ));
    let (rotated, left) = ring.rotate(slot(&c), Algorithm::ES256, 20);
    assert_eq!(left, None);
    store
        .change_ring(
            &owner,
            Box::new(|old| {
                assert_eq!(old, Some(&ring));
                Ok(RingChange {
                    ring: rotated.clone(),
                    insert: vec![c.clone()],
                    delete: Vec::new(),
                })
            }),
        )
        .unwrap();
    assert_eq!(
        store.ring_of_key(&a.key.id).unwrap(),
        Some((owner.clone(), RingRole::Previous))
    );
    assert_eq!(store.rings().unwrap(), vec![(owner.clone(), rotated)]);

    // Deleting the connection deletes its ring and every key in it, and nothing else.
    let unrelated = key("unrelated", "kid-u", Algorithm::HS256, 4);
    store.insert(&unrelated).unwrap();
    let mut deleted = store
        .delete_connection("con_AAAAAAAAAAAAAAAA")
        .unwrap()
        .unwrap();
    deleted.sort();
    let mut expected = vec![a.key.id, b.key.id, c.key.id];
    expected.sort();
    assert_eq!(deleted, expected);
    assert_eq!(store.count().unwrap(), 1);
    assert!(store.rings().unwrap().is_empty());
    assert_eq!(store.ring_of_key(&a.key.id).unwrap(), None);
    assert_eq!(
        store.delete_connection("con_AAAAAAAAAAAAAAAA").unwrap(),
        None
    );
}

fn deleting_a_revoked_key_drops_it_from_its_ring(store: &dyn KeyStore) {
    let (a, b, c) = (
        key("a", "kid-a", Algorithm::RS256, 1),
        key("b", "kid-b", Algorithm::RS256, 2),
        key("c", "kid-c", Algorithm::RS256, 3),
    );
    let ring = KeyRing::provision(Algorithm::RS256, slot(&a), slot(&b), 10);
    let (rotated, _) = ring.rotate(slot(&c), Algorithm::RS256, 20);
    let revoked = rotated.revoke("kid-a", 30).unwrap();
    store
        .change_ring(
            &RingOwner::Tenant,
            Box::new(|_| {
                Ok(RingChange {
                    ring: revoked,
                    insert: vec![a.clone(), b.clone(), c.clone()],
                    delete: Vec::new(),
                })
            }),
        )
        .unwrap();
    assert_eq!(
        store.ring_of_key(&a.key.id).unwrap(),
        Some((RingOwner::Tenant, RingRole::Revoked))
    );
    assert!(store.delete(&a.key.id).unwrap());
    let ring = store.ring(&RingOwner::Tenant).unwrap().unwrap();
    assert!(ring.revoked.is_empty());
    assert_eq!(store.ring_of_key(&a.key.id).unwrap(), None);
}

#[test]
fn secrets_are_sealed_and_bound_to_their_record() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keysmith.redb");
    let (a, b) = (
        key("a", "kid-a", Algorithm::HS256, 1),
        key("b", "kid-b", Algorithm::ES256, 2),
    );
    {
        let store = RedbStore::open(&path, sealer()).unwrap();
        store.insert(&a).unwrap();
        store.insert(&b).unwrap();
    }
    // Change the stored values with redb directly: swap the two sealed secrets, and flip a byte.
    let secrets: redb::TableDefinition<u128, &[u8]> = redb::TableDefinition::new("key_secrets");
    let (id_a, id_b) = (a.key.id.0.as_u128(), b.key.id.0.as_u128());
    let rewrite = |f: &dyn Fn(Vec<u8>, Vec<u8>) -> (Vec<u8>, Vec<u8>)| {
        use redb::ReadableTable as _;
        let db = redb::Database::open(&path).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let mut table = txn.open_table(secrets).unwrap();
            let va = table.get(id_a).unwrap().unwrap().value().to_vec();
            let vb = table.get(id_b).unwrap().unwrap().value().to_vec();
            assert!(
                !va.windows(6).any(|w| w == b"secret"),
                "stored in the clear"
            );
            let (na, nb) = f(va, vb);
            table.insert(id_a, na.as_slice()).unwrap();
            table.insert(id_b, nb.as_slice()).unwrap();
        }
        txn.commit().unwrap();
    };
    rewrite(&|va, vb| (vb, va));
    {
        let store = RedbStore::open(&path, sealer()).unwrap();
        for id in [&a.key.id, &b.key.id] {
            assert!(
                matches!(store.get(id), Err(StoreError::Sealing(SealError::Tampered))),
                "a secret moved to another record opens"
            );
        }
    }
    rewrite(&|va, vb| (vb, va)); // back in place
    rewrite(&|mut va, vb| {
        let last = va.len() - 1;
        va[last] ^= 1;
        (va, vb)
    });
    let store = RedbStore::open(&path, sealer()).unwrap();
    assert!(matches!(
        store.get(&a.key.id),
        Err(StoreError::Sealing(SealError::Tampered))
    ));
    assert_eq!(
        store
            .get(&b.key.id)
            .unwrap()
            .unwrap()
            .private
            .unwrap()
            .expose(),
        b.private.as_ref().unwrap().expose(),
        "the other record is untouched"
    );
}

/// A sealer with these master keys (the first seals, all open).
fn sealer_with(keys: &[[u8; 32]]) -> std::sync::Arc<dyn keysmith_model::SecretSealer> {
    let backend: std::sync::Arc<dyn keysmith_crypto::KeyBackend> =
        std::sync::Arc::new(keysmith_crypto_aws_lc::AwsLcBackend::new());
    let keys = keys
        .iter()
        .map(|k| keysmith_crypto::envelope::MasterKey::from_bytes(&*backend, k).unwrap())
        .collect();
    std::sync::Arc::new(keysmith_crypto::envelope::Envelope::new(backend, keys).unwrap())
}

fn assert_unknown_master_key(result: Result<RedbStore, StoreError>) {
    let refused = result.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(
        refused.contains("not configured"),
        "a file with a secret under a missing master key was not refused as such: {refused:?}"
    );
}

fn private_of(store: &RedbStore, id: &KeyId) -> Vec<u8> {
    store
        .get(id)
        .unwrap()
        .unwrap()
        .private
        .unwrap()
        .expose()
        .to_vec()
}

#[test]
fn master_key_rotation_rewraps_restorably_deleted_secrets_too() {
    let (old, new) = ([1u8; 32], [2u8; 32]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keysmith.redb");
    let (live, deleted) = (
        key("live", "kid-live", Algorithm::ES256, 1),
        key("deleted", "kid-deleted", Algorithm::HS256, 2),
    );
    {
        let store = RedbStore::open(&path, sealer_with(&[old])).unwrap();
        store.insert(&live).unwrap();
        store.insert(&deleted).unwrap();
        assert!(store.delete_restorably(&deleted.key.id, i64::MAX).unwrap());
    }
    {
        let store = RedbStore::open(&path, sealer_with(&[new, old])).unwrap();
        assert_eq!(
            store.rewrap_secrets().unwrap(),
            2,
            "the live and the deleted secret"
        );
    }
    // Every sealed value is under the new key now: the new key alone opens the file, the
    // deleted key restores, and its secret opens.
    assert_eq!(
        RedbStore::check_file(&path, &*sealer_with(&[new])).unwrap(),
        1
    );
    assert_unknown_master_key(RedbStore::open(&path, sealer_with(&[old])));
    let store = RedbStore::open(&path, sealer_with(&[new])).unwrap();
    assert!(store.restore(&deleted.key.id).unwrap().is_some());
    assert_eq!(
        private_of(&store, &deleted.key.id),
        deleted.private.as_ref().unwrap().expose()
    );
    assert_eq!(
        private_of(&store, &live.key.id),
        live.private.as_ref().unwrap().expose()
    );
}

#[test]
fn a_deleted_secret_under_a_missing_master_key_is_refused_and_rotation_repairs_it() {
    let (old, new) = ([3u8; 32], [4u8; 32]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keysmith.redb");
    let (deleted, later) = (
        key("deleted", "kid-deleted", Algorithm::ES256, 1),
        key("later", "kid-later", Algorithm::ES256, 2),
    );
    // The state an older rotation left: the live secrets under the new key, a deleted one still
    // under the old key.
    {
        let store = RedbStore::open(&path, sealer_with(&[old])).unwrap();
        store.insert(&deleted).unwrap();
        assert!(store.delete_restorably(&deleted.key.id, i64::MAX).unwrap());
    }
    {
        let store = RedbStore::open(&path, sealer_with(&[new, old])).unwrap();
        store.insert(&later).unwrap();
    }
    let before = std::fs::read(&path).unwrap();
    // The new key alone is refused before anything is written, at open and by check_file.
    assert_unknown_master_key(RedbStore::open(&path, sealer_with(&[new])));
    assert!(matches!(
        RedbStore::check_file(&path, &*sealer_with(&[new])),
        Err(StoreError::MasterKey(_))
    ));
    assert_eq!(std::fs::read(&path).unwrap(), before, "nothing modified");
    // Rotation with both keys repairs it.
    {
        let store = RedbStore::open(&path, sealer_with(&[new, old])).unwrap();
        assert_eq!(store.rewrap_secrets().unwrap(), 1);
    }
    let store = RedbStore::open(&path, sealer_with(&[new])).unwrap();
    assert!(store.restore(&deleted.key.id).unwrap().is_some());
    assert_eq!(
        private_of(&store, &deleted.key.id),
        deleted.private.as_ref().unwrap().expose()
    );
}

/// A tenant ring whose first key `a` is revoked; `b` is previous, `c` current, `d` next.
fn tenant_ring_with_a_revoked_key(store: &dyn KeyStore) -> [StoredKey; 4] {
    let keys = [
        key("a", "kid-a", Algorithm::RS256, 1),
        key("b", "kid-b", Algorithm::RS256, 2),
        key("c", "kid-c", Algorithm::RS256, 3),
        key("d", "kid-d", Algorithm::RS256, 4),
    ];
    let ring = KeyRing::provision(Algorithm::RS256, slot(&keys[0]), slot(&keys[1]), 10);
    let (ring, _) = ring.rotate(slot(&keys[2]), Algorithm::RS256, 20);
    let ring = ring.revoke("kid-a", 25).unwrap();
    let (ring, left) = ring.rotate(slot(&keys[3]), Algorithm::RS256, 30);
    assert_eq!(left, None);
    ring.check().unwrap();
    let inserted = keys.to_vec();
    store
        .change_ring(
            &RingOwner::Tenant,
            Box::new(move |_| {
                Ok(RingChange {
                    ring,
                    insert: inserted,
                    delete: Vec::new(),
                })
            }),
        )
        .unwrap();
    keys
}

fn a_restored_revoked_key_comes_back_revoked_in_its_ring(store: &dyn KeyStore) {
    let [a, ..] = tenant_ring_with_a_revoked_key(store);
    let before = store.ring(&RingOwner::Tenant).unwrap().unwrap();
    assert_eq!(
        store.ring_of_key(&a.key.id).unwrap(),
        Some((RingOwner::Tenant, RingRole::Revoked))
    );
    assert!(store.delete_restorably(&a.key.id, i64::MAX).unwrap());
    assert_eq!(store.ring_of_key(&a.key.id).unwrap(), None);
    assert!(
        store
            .ring(&RingOwner::Tenant)
            .unwrap()
            .unwrap()
            .revoked
            .is_empty()
    );

    let restored = store.restore(&a.key.id).unwrap().unwrap();
    assert_eq!(restored, a.key);
    assert_eq!(
        store.ring_of_key(&a.key.id).unwrap(),
        Some((RingOwner::Tenant, RingRole::Revoked)),
        "back in its ring, still revoked"
    );
    assert_eq!(
        store.ring(&RingOwner::Tenant).unwrap().unwrap(),
        before,
        "the ring is as it was, revocation time included"
    );
    let (_, listed) = store.ring_keys(&RingOwner::Tenant).unwrap().unwrap();
    assert!(listed.iter().any(|k| k.id == a.key.id));
}

fn a_restore_into_a_ring_that_is_gone_is_refused_and_changes_nothing(store: &dyn KeyStore) {
    let id = "con_BBBBBBBBBBBBBBBB";
    store.insert_connection(&connection(id, "gone")).unwrap();
    let owner = RingOwner::connection(id, KeyUse::Signing);
    let (a, b, c) = (
        key("a", "kid-a", Algorithm::ES256, 1),
        key("b", "kid-b", Algorithm::ES256, 2),
        key("c", "kid-c", Algorithm::ES256, 3),
    );
    let ring = KeyRing::provision(Algorithm::ES256, slot(&a), slot(&b), 10);
    let (ring, _) = ring.rotate(slot(&c), Algorithm::ES256, 20);
    let ring = ring.revoke("kid-a", 30).unwrap();
    store
        .change_ring(
            &owner,
            Box::new(|_| {
                Ok(RingChange {
                    ring,
                    insert: vec![a.clone(), b.clone(), c.clone()],
                    delete: Vec::new(),
                })
            }),
        )
        .unwrap();
    assert!(store.delete_restorably(&a.key.id, i64::MAX).unwrap());
    store.delete_connection(id).unwrap().unwrap();

    let refused = store.restore(&a.key.id);
    assert!(
        matches!(&refused, Err(StoreError::RingGone { owner: gone }) if *gone == owner),
        "{refused:?}"
    );
    assert!(store.get_key(&a.key.id).unwrap().is_none());
    assert_eq!(
        store.deleted_keys().unwrap()[0].0.id,
        a.key.id,
        "still restorable-listed"
    );
}

#[test]
fn a_deleted_record_without_ring_information_restores_as_a_plain_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keysmith.redb");
    let a = {
        let store = RedbStore::open(&path, sealer()).unwrap();
        let [a, ..] = tenant_ring_with_a_revoked_key(&store);
        assert!(store.delete_restorably(&a.key.id, i64::MAX).unwrap());
        a
    };
    // Rewrite the record as an older build wrote it: the key and its purge instant only.
    {
        let deleted: redb::TableDefinition<u128, &[u8]> =
            redb::TableDefinition::new("deleted_keys");
        let db = redb::Database::open(&path).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let mut table = txn.open_table(deleted).unwrap();
            let old = serde_json::json!({ "key": a.key, "purgeAt": i64::MAX });
            table
                .insert(
                    a.key.id.0.as_u128(),
                    serde_json::to_vec(&old).unwrap().as_slice(),
                )
                .unwrap();
        }
        txn.commit().unwrap();
    }
    let store = RedbStore::open(&path, sealer()).unwrap();
    assert_eq!(store.restore(&a.key.id).unwrap(), Some(a.key.clone()));
    assert_eq!(store.ring_of_key(&a.key.id).unwrap(), None);
    assert_eq!(
        private_of(&store, &a.key.id),
        a.private.as_ref().unwrap().expose()
    );
}

#[cfg(unix)]
#[test]
fn a_snapshot_is_private_to_its_owner_and_never_overwrites() {
    use std::os::unix::fs::PermissionsExt;
    let (dir, store) = temp_store();
    store
        .insert(&key("a", "kid-a", Algorithm::ES256, 1))
        .unwrap();
    let path = dir.path().join("snapshot.redb");
    assert!(store.snapshot_to(&path, &mut |_, _| {}).unwrap() > 0);
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(
        mode, 0o600,
        "the snapshot is created private (mode {mode:o})"
    );
    assert!(store.snapshot_to(&path, &mut |_, _| {}).is_err());
    // It is a whole data file.
    drop(store);
    assert_eq!(RedbStore::check_file(&path, &*sealer()).unwrap(), 1);
}

#[test]
fn a_page_cache_far_smaller_than_the_data_loses_nothing() {
    // 16 KiB of cache (four pages) under a file of some megabytes: every read and write goes
    // past the cache, through the file, and nothing is lost or mixed up, before or after a
    // reopen with the default cache.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keysmith.redb");
    let mut ids = Vec::new();
    {
        let store = RedbStore::open_with_cache(&path, sealer(), 16 << 10).unwrap();
        for i in 0..600 {
            let mut record = key(
                &format!("key {i}"),
                &format!("kid-{i}"),
                Algorithm::ES256,
                i,
            );
            record.key.certificate = Some("C".repeat(2048));
            store.insert(&record).unwrap();
            ids.push(record.key.id);
        }
        for id in ids.iter().step_by(3) {
            assert!(store.delete(id).unwrap());
        }
        for (i, id) in ids.iter().enumerate() {
            let found = store.get(id).unwrap();
            assert_eq!(found.is_some(), i % 3 != 0, "key {i}");
        }
    }
    let store = RedbStore::open(&path, sealer()).unwrap();
    for (i, id) in ids.iter().enumerate() {
        let found = store.get(id).unwrap();
        assert_eq!(
            found.map(|r| r.key.name),
            (i % 3 != 0).then(|| format!("key {i}"))
        );
    }
    assert_eq!(private_of(&store, &ids[1]), vec![1, 2, 3]);
}

/// `insert_many` stores all its keys as one change, or none of them: a duplicate among them or
/// with a stored key refuses the whole set and leaves nothing (no key, no index, no audit row).
/// `insert_then` answers what `insert` would, once the key is committed: `Ok` with the key
/// readable, a taken name refused with nothing kept, and under an audit context one audit row,
/// counted either where it committed or by the answer's `log_audit` (never both).
fn insert_then_answers_after_the_commit_as_insert_would(store: &dyn KeyStore) {
    let insert_then = |record: &StoredKey| {
        let (reply, answer) = std::sync::mpsc::channel();
        let context = keysmith_store::AuditContext {
            actor: "test".into(),
            action: "key.generate".into(),
            request_id: None,
        };
        let ((), counted_here) = keysmith_store::with_audit_context(context, || {
            store.insert_then(
                record,
                Box::new(move |committed| reply.send(committed).unwrap()),
            );
        });
        let committed = answer
            .recv_timeout(std::time::Duration::from_secs(30))
            .unwrap();
        committed.map(|c| {
            let ((), logged) = c.log_audit();
            counted_here + logged
        })
    };
    let first = key("then-1", "kid-then-1", Algorithm::ES256, 1);
    assert_eq!(
        insert_then(&first).unwrap(),
        1,
        "one audit row, counted once"
    );
    assert_eq!(
        store.get(&first.key.id).unwrap().map(|k| k.key),
        Some(first.key.clone()),
        "readable once answered"
    );
    let taken = key("then-1", "kid-then-2", Algorithm::ES256, 2);
    assert!(matches!(
        insert_then(&taken),
        Err(StoreError::Duplicate(UniqueField::Name))
    ));
    assert!(
        store.get(&taken.key.id).unwrap().is_none(),
        "a refusal keeps nothing"
    );
    assert_eq!(store.id_by_kid("kid-then-2").unwrap(), None);
}

fn insert_many_stores_all_or_none(store: &dyn KeyStore) {
    let stored = key("taken", "kid-taken", Algorithm::ES256, 1);
    store.insert(&stored).unwrap();
    let fresh = |i: i64| {
        key(
            &format!("many-{i}"),
            &format!("kid-many-{i}"),
            Algorithm::HS256,
            10 + i,
        )
    };
    let context = keysmith_store::AuditContext {
        actor: "test".into(),
        action: "key.generate".into(),
        request_id: None,
    };
    let refusals = [
        vec![fresh(1), key("taken", "kid-x", Algorithm::HS256, 2)],
        vec![fresh(1), key("other", "kid-taken", Algorithm::HS256, 2)],
        vec![fresh(1), fresh(1)],
    ];
    for set in &refusals {
        let (refused, rows) =
            keysmith_store::with_audit_context(context.clone(), || store.insert_many(set));
        assert!(
            matches!(refused, Err(StoreError::Duplicate(_))),
            "{refused:?}"
        );
        assert_eq!(rows, 0);
        assert_eq!(store.count().unwrap(), 1);
        assert_eq!(store.id_by_name("many-1").unwrap(), None);
    }
    let set: Vec<StoredKey> = (1..=300).map(fresh).collect();
    let (stored_all, rows) =
        keysmith_store::with_audit_context(context, || store.insert_many(&set));
    stored_all.unwrap();
    assert_eq!(rows, 300, "one audit row per key, in the same transaction");
    assert_eq!(store.count().unwrap(), 301);
    let listed: Vec<String> = store.list().unwrap().into_iter().map(|k| k.name).collect();
    assert_eq!(
        listed[1..].to_vec(),
        (1..=300).map(|i| format!("many-{i}")).collect::<Vec<_>>()
    );
    assert!(
        store
            .get(&set[299].key.id)
            .unwrap()
            .unwrap()
            .private
            .is_some()
    );
}

/// Search against a model: every filter, order, direction and page over keys whose names mix
/// cases, shared prefixes and non-ASCII letters gives exactly what filtering and sorting the
/// full list gives (the indexes answer the name pattern without reading records).
mod search_model {
    use super::*;
    use proptest::prelude::*;

    const NAMES: &[&str] = &[
        "alpha",
        "Alpha 2",
        "alp",
        "ALPHABET",
        "beta",
        "bêta",
        "Beta*",
        "b",
        "zeta",
        "Zèta",
        "a*b",
        "key 10",
        "key 1",
        "KEY 100",
        "ünicode",
        "Ünicode 2",
        "x",
        "xy",
        "xyz",
        "Åland",
        // Names that differ from others only in case: each is its own key.
        "ALPHA",
        "BETA",
        "ALPHA 2",
    ];
    const PATTERNS: &[&str] = &[
        "alp*", "ALP*", "*ta", "b*", "be*a", "key 1*", "KEY*0", "*", "**", "ta", "ü*", "Ü*", "x*z",
        "zz*", "", "a*b*", "*e*",
    ];

    fn model(all: &[Key], query: &SearchQuery) -> (Vec<String>, u64) {
        let mut matching: Vec<&Key> = all.iter().filter(|k| query.matches(k)).collect();
        match query.order_by {
            SortField::Name => matching.sort_by_key(|k| (k.name.to_lowercase(), k.id.0.as_u128())),
            SortField::InsertInstant => {} // the list is in insertion order
            SortField::Id => matching.sort_by_key(|k| k.id.0.as_u128()),
            _ => unreachable!(),
        }
        if query.descending {
            matching.reverse();
        }
        let total = matching.len() as u64;
        let page = matching
            .into_iter()
            .skip(query.start_row)
            .take(query.number_of_results)
            .map(|k| k.id.to_string())
            .collect();
        (page, total)
    }

    /// The PostgreSQL engine answers every search as the redb engine does: the same keys in
    /// both, then every name pattern (LIKE's own `%`, `_` and `\\` among them), kind filter,
    /// order, direction and page, compared page for page and total for total.
    #[test]
    fn both_engines_answer_every_search_alike() {
        let Some((_server, pg)) = pg_store("searches compared between engines") else {
            return;
        };
        let (_dir, redb) = temp_store();
        let engines: [&dyn KeyStore; 2] = [&redb, &pg];
        let extra = ["100%", "a_b", "back\\slash", "under_score", "Pct%"];
        let names = NAMES.iter().copied().chain(extra);
        for (i, name) in names.enumerate() {
            let algorithm = [
                Algorithm::ES256,
                Algorithm::RS256,
                Algorithm::HS256,
                Algorithm::Ed25519,
                Algorithm::ES384,
                Algorithm::PS256,
                Algorithm::HS512,
            ][i % 7];
            // One key with a negative expiration (sorted as 0, by name).
            let insert = if i == 5 { -3 } else { i as i64 };
            let mut record = key(name, &format!("kid-{i}"), algorithm, insert);
            // Same ids in both engines, so orders by id compare.
            record.key.id = KeyId(uuid::Uuid::from_u128(0x1000 + (i as u128 * 7919) % 97));
            // Issuers that differ only in case are two issuers.
            record.key.issuer = [None, Some("a"), Some("A"), Some("b")][i % 4].map(str::to_owned);
            for store in engines {
                store.insert(&record).unwrap();
            }
        }
        for (i, key) in redb.list().unwrap().iter().enumerate() {
            for store in engines {
                if i % 4 == 1 {
                    store
                        .rename(&key.id, &format!("{}~{i}", NAMES[(i * 7) % NAMES.len()]), 9)
                        .unwrap();
                } else if i % 6 == 5 {
                    store.delete(&key.id).unwrap();
                }
            }
        }
        let patterns = PATTERNS
            .iter()
            .copied()
            .chain(["%", "_", "\\", "a_b", "10%", "%*", "*_*"]);
        let mut compared = 0;
        for (p, pattern) in patterns.map(Some).chain([None]).enumerate() {
            for (kind, issuer) in
                (0..5).flat_map(|k| [(k, None), (k, Some(["a", "A", "zz"][p % 3]))])
            {
                for order_by in [
                    SortField::Name,
                    SortField::InsertInstant,
                    SortField::Id,
                    SortField::Algorithm,
                    SortField::Type,
                    SortField::Expiration,
                ] {
                    for descending in [false, true] {
                        for (start_row, number_of_results) in [(0, 100), (3, 4)] {
                            let query = SearchQuery {
                                name: pattern.map(str::to_owned),
                                key_type: [
                                    None,
                                    Some(KeyType::Ec),
                                    Some(KeyType::Hmac),
                                    None,
                                    Some(KeyType::Okp),
                                ][kind],
                                algorithm: [None, None, None, Some(Algorithm::RS256), None][kind],
                                issuer: issuer.map(str::to_owned),
                                order_by,
                                descending,
                                start_row,
                                number_of_results,
                                // Both ways of counting agree below the bound.
                                accurate_total: descending,
                            };
                            let [a, b] = engines.map(|store| {
                                let page = store.search(&query).unwrap();
                                (
                                    page.keys.iter().map(|k| k.name.clone()).collect::<Vec<_>>(),
                                    page.total,
                                )
                            });
                            assert_eq!(a, b, "redb, then PostgreSQL: {query:?}");
                            compared += 1;
                        }
                    }
                }
            }
        }
        assert_eq!(compared, 25 * 5 * 2 * 6 * 2 * 2);
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
        #[test]
        fn search_agrees_with_filtering_the_list(
            picks in proptest::collection::vec((0..NAMES.len(), 0..6usize), 1..40),
            pattern in proptest::option::of(0..PATTERNS.len()),
            kind in 0..5usize,
            issuer in proptest::option::of(0..3usize),
            order in 0..3usize,
            descending: bool,
            start_row in 0..12usize,
            number_of_results in 1..8usize,
        ) {
            let (_dir, store) = temp_store();
            for (i, (name, alg)) in picks.iter().enumerate() {
                // Two algorithms of each type: a search by type merges their ranges.
                let algorithm = [
                    Algorithm::ES256,
                    Algorithm::RS256,
                    Algorithm::HS256,
                    Algorithm::ES512,
                    Algorithm::PS256,
                    Algorithm::HS384,
                ][*alg];
                // Names are unique: a suffix keeps repeats apart.
                let name = format!("{}{}", NAMES[*name], "_".repeat(i / NAMES.len()));
                if store.id_by_name(&name).unwrap().is_none() {
                    let mut record = key(&name, &format!("kid-{i}"), algorithm, i as i64);
                    record.key.issuer = [None, Some("a"), Some("A")][(name.len() + alg) % 3].map(str::to_owned);
                    store.insert(&record).unwrap();
                }
            }
            // Renames and deletes keep every index in step (every third key renamed, every
            // fifth deleted).
            for (i, key) in store.list().unwrap().iter().enumerate() {
                if i % 3 == 1 {
                    let name = format!("{}~{i}", NAMES[(i * 7) % NAMES.len()]);
                    store.rename(&key.id, &name, 99).unwrap();
                } else if i % 5 == 4 {
                    store.delete(&key.id).unwrap();
                }
            }
            let query = SearchQuery {
                name: pattern.map(|p| PATTERNS[p].to_owned()),
                key_type: [None, Some(KeyType::Ec), Some(KeyType::Hmac), None, Some(KeyType::Rsa)][kind],
                algorithm: [None, None, None, Some(Algorithm::RS256), None][kind],
                issuer: issuer.map(|i| ["a", "A", "zz"][i].to_owned()),
                order_by: [SortField::Name, SortField::InsertInstant, SortField::Id][order],
                descending,
                start_row,
                number_of_results,
                accurate_total: descending,
            };
            let found = store.search(&query).unwrap();
            let all = store.list().unwrap();
            // Every name finds its own key, whatever others differ from it only in case.
            for key in &all {
                prop_assert_eq!(store.id_by_name(&key.name).unwrap(), Some(key.id));
            }
            let (page, total) = model(&all, &query);
            let got: Vec<String> = found.keys.iter().map(|k| k.id.to_string()).collect();
            prop_assert_eq!(found.total, total, "{:?}", query);
            prop_assert_eq!(got, page, "{:?}", query);
        }
    }
}

/// `keys_after` reads every key in insertion order, in pieces of any size, whatever was
/// deleted in between; a key inserted between two reads comes after the cursor.
fn keys_after_pages_through_insertion_order(store: &dyn KeyStore) {
    for i in 0..10 {
        store
            .insert(&key(
                &format!("k{i}"),
                &format!("kid-{i}"),
                Algorithm::HS256,
                i,
            ))
            .unwrap();
    }
    let deleted = store.list().unwrap()[3].id;
    assert!(store.delete(&deleted).unwrap());
    let read_all = |limit: usize| {
        let mut out = Vec::new();
        let mut after = None;
        loop {
            let page = store.keys_after(after, limit).unwrap();
            assert!(page.len() <= limit);
            let Some((last, _)) = page.last() else { break };
            after = Some(*last);
            let done = page.len() < limit;
            out.extend(page.into_iter().map(|(_, k)| k));
            if done {
                break;
            }
        }
        out
    };
    for limit in [1, 2, 3, 9, 100] {
        assert_eq!(read_all(limit), store.list().unwrap(), "limit {limit}");
    }
    let first = store.keys_after(None, 2).unwrap();
    store
        .insert(&key("late", "kid-late", Algorithm::HS256, 99))
        .unwrap();
    let rest = store.keys_after(Some(first[1].0), 100).unwrap();
    assert_eq!(rest.last().unwrap().1.name, "late");
    assert!(store.keys_after(Some(u64::MAX), 10).unwrap().is_empty());
}

fn refs(names: &[String]) -> Vec<&str> {
    names.iter().map(String::as_str).collect()
}

/// A filtered search keeps its total for the next page of the same filters (`totals`): the
/// total must follow every kind of change, and a kept total must not change the page.
fn a_kept_search_total_follows_every_change(store: &dyn KeyStore) {
    let mut ids = Vec::new();
    for i in 0..40 {
        let algorithm = [Algorithm::ES256, Algorithm::HS256][i % 2];
        let made = key(
            &format!("Key {i:02}"),
            &format!("kid-{i}"),
            algorithm,
            i as i64,
        );
        ids.push(made.key.id);
        store.insert(&made).unwrap();
    }
    // Names "Key 10" … "Key 19": ten matches, five of them ES256.
    let pages = |algorithm: Option<Algorithm>| {
        (0..4)
            .map(|page| {
                store
                    .search(&SearchQuery {
                        name: Some("key 1*".into()),
                        algorithm,
                        start_row: page * 3,
                        number_of_results: 3,
                        ..Default::default()
                    })
                    .unwrap()
            })
            .map(|p| {
                let names: Vec<String> = p.keys.into_iter().map(|k| k.name).collect();
                (p.total, names)
            })
            .collect::<Vec<_>>()
    };
    let expect = |algorithm: Option<Algorithm>, names: &[&str]| {
        let got = pages(algorithm);
        for (page, (total, on_page)) in got.iter().enumerate() {
            assert_eq!(*total, names.len() as u64, "page {page}: {got:?}");
            let want: Vec<&str> = names.iter().skip(page * 3).take(3).copied().collect();
            assert_eq!(on_page, &want, "page {page}");
        }
    };
    let all =
        |range: std::ops::Range<usize>| range.map(|i| format!("Key {i:02}")).collect::<Vec<_>>();
    let names = all(10..20);
    expect(None, &refs(&names)[..]);
    expect(None, &refs(&names)[..]); // the second time from the kept total
    expect(
        Some(Algorithm::ES256),
        &["Key 10", "Key 12", "Key 14", "Key 16", "Key 18"],
    );

    // An insert (through the group-commit writer).
    store
        .insert(&key("Key 1a", "kid-1a", Algorithm::ES256, 99))
        .unwrap();
    let mut names = names;
    names.push("Key 1a".into());
    expect(None, &refs(&names)[..]);
    expect(
        Some(Algorithm::ES256),
        &["Key 10", "Key 12", "Key 14", "Key 16", "Key 18", "Key 1a"],
    );
    // A rename out of the pattern, a delete, a restorable delete, and its restore.
    store.rename(&ids[11], "other", 100).unwrap();
    names.retain(|n| n != "Key 11");
    expect(None, &refs(&names)[..]);
    assert!(store.delete(&ids[12]).unwrap());
    names.retain(|n| n != "Key 12");
    expect(None, &refs(&names)[..]);
    expect(
        Some(Algorithm::ES256),
        &["Key 10", "Key 14", "Key 16", "Key 18", "Key 1a"],
    );
    assert!(store.delete_restorably(&ids[14], i64::MAX).unwrap());
    expect(
        Some(Algorithm::ES256),
        &["Key 10", "Key 16", "Key 18", "Key 1a"],
    );
    assert!(store.restore(&ids[14]).unwrap().is_some());
    expect(
        Some(Algorithm::ES256),
        &["Key 10", "Key 14", "Key 16", "Key 18", "Key 1a"],
    );
    expect(None, &refs(&names)[..]);
    // A ring change commits alone (not through the writer): its new keys count too.
    let (current, next) = (
        key("Key 1r1", "kid-r1", Algorithm::ES256, 101),
        key("Key 1r2", "kid-r2", Algorithm::ES256, 102),
    );
    let ring = KeyRing::provision(Algorithm::ES256, slot(&current), slot(&next), 10);
    store
        .change_ring(
            &RingOwner::Tenant,
            Box::new(move |_| {
                Ok(RingChange {
                    ring: ring.clone(),
                    insert: vec![current.clone(), next.clone()],
                    delete: Vec::new(),
                })
            }),
        )
        .unwrap();
    names.extend(["Key 1r1".to_owned(), "Key 1r2".to_owned()]);
    expect(None, &refs(&names)[..]);
}

/// A filtered search counts at most `TOTAL_COUNT_BOUND` matches (past the end of its page when
/// that is further) unless it asks for an accurate total; the page itself is never cut short,
/// and an unfiltered total is always exact.
fn a_filtered_total_stops_at_its_bound_unless_accurate(store: &dyn KeyStore) {
    use keysmith_model::search::TOTAL_COUNT_BOUND;
    let bound = usize::try_from(TOTAL_COUNT_BOUND).unwrap();
    let many: Vec<StoredKey> = (0..bound + 10)
        .map(|i| {
            key(
                &format!("b{i:05}"),
                &format!("kid-b{i}"),
                Algorithm::HS256,
                i as i64,
            )
        })
        .chain((0..bound - 1).map(|i| {
            key(
                &format!("c{i:05}"),
                &format!("kid-c{i}"),
                Algorithm::ES256,
                i as i64,
            )
        }))
        .enumerate()
        .map(|(i, mut record)| {
            // Every 50th key has the issuer "sparse", the rest "dense" (most of the store).
            let issuer = if i % 50 == 7 { "sparse" } else { "dense" };
            record.key.issuer = Some(issuer.into());
            record
        })
        .collect();
    let context = keysmith_store::AuditContext {
        actor: "test".into(),
        action: "key.generate".into(),
        request_id: None,
    };
    keysmith_store::with_audit_context(context, || store.insert_many(&many))
        .0
        .unwrap();
    let search = |name: Option<&str>, order_by: SortField, start_row: usize, accurate: bool| {
        let page = store
            .search(&SearchQuery {
                name: name.map(str::to_owned),
                order_by,
                start_row,
                number_of_results: 25,
                accurate_total: accurate,
                ..SearchQuery::default()
            })
            .unwrap();
        (page.total, page.exact, page.keys.len())
    };
    let (over, exact_over) = (TOTAL_COUNT_BOUND + 10, TOTAL_COUNT_BOUND - 1);
    for order in [
        SortField::Name,
        SortField::InsertInstant,
        SortField::Algorithm,
    ] {
        assert_eq!(
            search(Some("b*"), order, 0, false),
            (TOTAL_COUNT_BOUND, false, 25)
        );
        // Again, and the next page: an engine may answer from the count it kept.
        assert_eq!(
            search(Some("b*"), order, 0, false),
            (TOTAL_COUNT_BOUND, false, 25)
        );
        assert_eq!(
            search(Some("b*"), order, 25, false),
            (TOTAL_COUNT_BOUND, false, 25)
        );
        assert_eq!(search(Some("b*"), order, 0, true), (over, true, 25));
        assert_eq!(search(Some("c*"), order, 0, false), (exact_over, true, 25));
        // A page past the bound counts to its own end: here, every match.
        assert_eq!(search(Some("b*"), order, bound, false), (over, true, 10));
    }
    // The kind index (type filter in name order), with and without a name pattern.
    let by_type = |name: Option<&str>, accurate: bool| {
        let page = store
            .search(&SearchQuery {
                name: name.map(str::to_owned),
                key_type: Some(KeyType::Hmac),
                number_of_results: 25,
                accurate_total: accurate,
                ..SearchQuery::default()
            })
            .unwrap();
        (page.total, page.exact, page.keys.len())
    };
    assert_eq!(by_type(None, false), (TOTAL_COUNT_BOUND, false, 25));
    assert_eq!(by_type(Some("b*"), false), (TOTAL_COUNT_BOUND, false, 25));
    assert_eq!(by_type(Some("b*"), false), (TOTAL_COUNT_BOUND, false, 25));
    assert_eq!(by_type(Some("b*"), true), (over, true, 25));
    let unfiltered = store
        .search(&SearchQuery {
            number_of_results: 25,
            ..SearchQuery::default()
        })
        .unwrap();
    assert_eq!(
        (unfiltered.total, unfiltered.exact),
        (over + exact_over, true)
    );
    issuer_searches_agree_with_filtering_the_list(store);
    // A count kept past the bound does not outlive a change: under the bound, exact again.
    assert_eq!(
        search(Some("b*"), SortField::Name, 0, false),
        (TOTAL_COUNT_BOUND, false, 25)
    );
    for record in &many[..11] {
        assert!(store.delete(&record.key.id).unwrap());
    }
    assert_eq!(
        search(Some("b*"), SortField::Name, 0, false),
        (TOTAL_COUNT_BOUND - 1, true, 25)
    );
}

/// Over the keys of `a_filtered_total_stops_at_its_bound_unless_accurate` (20,009, of which an
/// issuer "dense" has all but every 50th, which "sparse" has): each search by issuer answers
/// the page and total of filtering the list, twice (the second may use a kept count). The redb
/// engine reads "sparse" through the issuer index, and "dense" in name or insertion order
/// through that order's index (it has more than half the store), else through the issuer index.
fn issuer_searches_agree_with_filtering_the_list(store: &dyn KeyStore) {
    let all = store.list().unwrap();
    let (by_name, inserted) = (SortField::Name, SortField::InsertInstant);
    let (ec, hmac) = (Some(KeyType::Ec), Some(KeyType::Hmac));
    let cases = [
        ("dense", None, None, by_name, false, 0, false),
        ("dense", None, None, by_name, true, 0, false),
        ("dense", None, None, by_name, false, 9_990, false),
        ("dense", None, None, inserted, true, 0, false),
        ("dense", None, None, inserted, false, 25, false),
        ("dense", None, None, by_name, false, 0, true),
        ("dense", None, None, SortField::Id, false, 50, false),
        ("dense", None, None, SortField::Algorithm, true, 0, false),
        ("dense", Some("c*"), None, by_name, false, 0, false),
        ("dense", Some("c*"), None, inserted, true, 0, false),
        ("dense", None, ec, by_name, false, 0, false),
        ("dense", None, hmac, by_name, true, 0, false),
        ("dense", Some("b0001*"), hmac, by_name, false, 0, false),
        ("sparse", None, None, by_name, false, 0, false),
        ("sparse", None, None, inserted, true, 3, false),
        ("sparse", None, ec, SortField::Id, true, 0, false),
        ("nobody", None, None, by_name, false, 0, false),
    ];
    for (issuer, name, key_type, order_by, descending, start_row, accurate_total) in cases {
        let query = SearchQuery {
            name: name.map(str::to_owned),
            key_type,
            issuer: Some(issuer.into()),
            order_by,
            descending,
            start_row,
            number_of_results: 25,
            accurate_total,
            ..SearchQuery::default()
        };
        let mut matching: Vec<&Key> = all.iter().filter(|k| query.matches(k)).collect();
        match order_by {
            SortField::Name => matching.sort_by_key(|k| (k.name.to_lowercase(), k.id.0.as_u128())),
            SortField::InsertInstant => {} // the list is in insertion order
            SortField::Id => matching.sort_by_key(|k| k.id.0.as_u128()),
            SortField::Algorithm => matching.sort_by_key(|k| {
                (
                    k.algorithm.as_str(),
                    k.name.to_lowercase(),
                    k.id.0.as_u128(),
                )
            }),
            _ => unreachable!(),
        }
        if descending {
            matching.reverse();
        }
        let count = matching.len() as u64;
        let expected_total = match query.count_bound() {
            Some(bound) if count > bound => (bound, false),
            _ => (count, true),
        };
        let expected_page: Vec<KeyId> = matching
            .iter()
            .skip(start_row)
            .take(25)
            .map(|k| k.id)
            .collect();
        for _ in 0..2 {
            let page = store.search(&query).unwrap();
            let got: Vec<KeyId> = page.keys.iter().map(|k| k.id).collect();
            assert_eq!((page.total, page.exact), expected_total, "{query:?}");
            assert_eq!(got, expected_page, "{query:?}");
        }
    }
}

/// The webhook dispatcher's read: records after an id, in id order, a bounded number at a time,
/// each with the id the store gave it.
fn audit_after_reads_the_trail_in_id_order(store: &dyn KeyStore) {
    let record = |i: i64| keysmith_model::AuditRecord {
        id: 0,
        // Times out of order: the read follows ids, not times.
        at: 1_000_000 - i,
        actor: "cli".into(),
        action: format!("test.{i}"),
        target: String::new(),
        result: "ok".into(),
        request_id: None,
        uses: None,
    };
    let records: Vec<_> = (0..7).map(record).collect();
    store.append_audit(&records[..3]).unwrap();
    store.append_audit(&records[3..]).unwrap();
    let all = store.audit_after(0, 100).unwrap();
    let actions: Vec<_> = all.iter().map(|r| r.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "test.0", "test.1", "test.2", "test.3", "test.4", "test.5", "test.6"
        ]
    );
    assert!(all.windows(2).all(|w| w[0].id < w[1].id), "{all:?}");
    let after = store.audit_after(all[2].id, 2).unwrap();
    assert_eq!(
        after.iter().map(|r| r.id).collect::<Vec<_>>(),
        [all[3].id, all[4].id]
    );
    assert!(store.audit_after(all[6].id, 10).unwrap().is_empty());
    assert!(store.audit_after(u64::MAX, 10).unwrap().is_empty());
}

/// The webhooks' expiry check: keys expiring before a time, soonest first, paged by position,
/// never a key without a certificate, a later one, or a deleted one.
fn expiring_before_reads_the_expiration_index_in_order(store: &dyn KeyStore) {
    // Expirations are insert * 7: 70, 63, ..., 7 in insertion order; HMAC keys have none.
    let mut inserted = Vec::new();
    for i in 1..=10 {
        let record = key(
            &format!("ec {i}"),
            &format!("kid-{i}"),
            Algorithm::ES256,
            11 - i,
        );
        store.insert(&record).unwrap();
        inserted.push(record.key);
    }
    for i in 0..3 {
        store
            .insert(&key(
                &format!("mac {i}"),
                &format!("mac-{i}"),
                Algorithm::HS256,
                i,
            ))
            .unwrap();
    }
    store.delete(&inserted[9].id).unwrap(); // the one expiring at 7
    let expirations = |keys: &[Key]| {
        keys.iter()
            .map(|k| k.expiration_instant.unwrap())
            .collect::<Vec<_>>()
    };
    let all = store.expiring_before(500, None, 100).unwrap();
    assert_eq!(expirations(&all), [14, 21, 28, 35, 42, 49, 56, 63, 70]);
    // Strictly before: 49 is not before 49.
    assert_eq!(
        expirations(&store.expiring_before(49, None, 100).unwrap()),
        [14, 21, 28, 35, 42]
    );
    let first = store.expiring_before(500, None, 2).unwrap();
    assert_eq!(expirations(&first), [14, 21]);
    let last = &first[1];
    let rest = store
        .expiring_before(500, Some((21, last.id)), 100)
        .unwrap();
    assert_eq!(expirations(&rest), [28, 35, 42, 49, 56, 63, 70]);
    assert!(
        store
            .expiring_before(i64::MIN, None, 10)
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .expiring_before(500, Some((70, all[8].id)), 10)
            .unwrap()
            .is_empty()
    );
}

/// The per-issuer JWKS's read: one issuer's live keys in id order, paged by id; exact issuer
/// (case and a prefix are other issuers); keys without an issuer, deleted ones (restorably or
/// not) and restored ones as they are.
fn keys_by_issuer_reads_one_issuer_in_id_order(store: &dyn KeyStore) {
    let with_issuer = |n: u128, issuer: Option<&str>| {
        let mut record = key(&format!("k {n}"), &format!("kid-{n}"), Algorithm::ES256, 1);
        record.key.id = KeyId(uuid::Uuid::from_u128(n));
        record.key.issuer = issuer.map(str::to_owned);
        record
    };
    // Inserted out of id order; the index answers in id order.
    for (n, issuer) in [
        (9, Some("acme.com")),
        (3, Some("acme.com")),
        (5, Some("ACME.com")),
        (7, Some("acme.co")),
        (4, None),
        (1, Some("acme.com")),
        (8, Some("acme.com")),
    ] {
        store.insert(&with_issuer(n, issuer)).unwrap();
    }
    let ids = |keys: Vec<Key>| keys.iter().map(|k| k.id.0.as_u128()).collect::<Vec<_>>();
    assert_eq!(
        ids(store.keys_by_issuer("acme.com", None, 100).unwrap()),
        [1, 3, 8, 9]
    );
    assert_eq!(
        ids(store.keys_by_issuer("ACME.com", None, 100).unwrap()),
        [5]
    );
    assert_eq!(
        ids(store.keys_by_issuer("acme.co", None, 100).unwrap()),
        [7]
    );
    assert!(store.keys_by_issuer("acme", None, 100).unwrap().is_empty());
    assert!(store.keys_by_issuer("", None, 100).unwrap().is_empty());
    // Paged: after a key, the next ones.
    let first = store.keys_by_issuer("acme.com", None, 2).unwrap();
    assert_eq!(ids(first.clone()), [1, 3]);
    assert_eq!(
        ids(store
            .keys_by_issuer("acme.com", Some(first[1].id), 2)
            .unwrap()),
        [8, 9]
    );
    let last = KeyId(uuid::Uuid::from_u128(9));
    assert!(
        store
            .keys_by_issuer("acme.com", Some(last), 2)
            .unwrap()
            .is_empty()
    );
    let end = KeyId(uuid::Uuid::from_u128(u128::MAX));
    assert!(
        store
            .keys_by_issuer("acme.com", Some(end), 2)
            .unwrap()
            .is_empty()
    );
    // The keys come whole.
    assert_eq!(
        store.keys_by_issuer("acme.co", None, 1).unwrap()[0],
        with_issuer(7, Some("acme.co")).key
    );
    // A deleted key leaves the index; a restorably deleted one too, until it is restored.
    assert!(store.delete(&KeyId(uuid::Uuid::from_u128(3))).unwrap());
    let restorable = KeyId(uuid::Uuid::from_u128(8));
    assert!(store.delete_restorably(&restorable, i64::MAX).unwrap());
    assert_eq!(
        ids(store.keys_by_issuer("acme.com", None, 100).unwrap()),
        [1, 9]
    );
    store.restore(&restorable).unwrap().unwrap();
    assert_eq!(
        ids(store.keys_by_issuer("acme.com", None, 100).unwrap()),
        [1, 8, 9]
    );
    // A rename keeps the key under its issuer.
    store
        .rename(&KeyId(uuid::Uuid::from_u128(1)), "renamed", 2)
        .unwrap()
        .unwrap();
    assert_eq!(
        store.keys_by_issuer("acme.com", None, 1).unwrap()[0].name,
        "renamed"
    );
}

on_both_engines!(
    keys_by_issuer_reads_one_issuer_in_id_order,
    expiring_before_reads_the_expiration_index_in_order,
    audit_after_reads_the_trail_in_id_order,
    names_kids_and_ids_are_unique_and_a_refused_insert_changes_nothing,
    rename_delete_and_insertion_order,
    search_filters_orders_and_pages,
    api_key_hashes_persist,
    ring_changes_are_all_or_nothing_and_guard_their_keys,
    deleting_a_revoked_key_drops_it_from_its_ring,
    a_restored_revoked_key_comes_back_revoked_in_its_ring,
    a_restore_into_a_ring_that_is_gone_is_refused_and_changes_nothing,
    insert_many_stores_all_or_none,
    insert_then_answers_after_the_commit_as_insert_would,
    keys_after_pages_through_insertion_order,
    a_kept_search_total_follows_every_change,
    a_filtered_total_stops_at_its_bound_unless_accurate,
);

/// `keysmith migrate` underneath: a populated data file copied into PostgreSQL and back into a
/// new data file, every record byte for byte (the digests of all three agree), secrets still
/// opening, the rings and indexes rebuilt, and a copy into a store that is not empty refused.
#[test]
fn a_data_file_round_trips_through_postgres_byte_for_byte() {
    use keysmith_store::transfer::{copy, digest};
    let Some((_server, pg)) = pg_store("copying between engines") else {
        return;
    };
    let (_dir, source) = temp_store();
    let context = keysmith_store::AuditContext {
        actor: "test".into(),
        action: "fill".into(),
        request_id: None,
    };
    keysmith_store::with_audit_context(context, || {
        for i in 0..30 {
            let algorithm = Algorithm::ALL[i % Algorithm::ALL.len()];
            source
                .insert(&key(
                    &format!("k{i}"),
                    &format!("kid{i}"),
                    algorithm,
                    i as i64,
                ))
                .unwrap();
        }
        tenant_ring_with_a_revoked_key(&source);
        let id = "con_CCCCCCCCCCCCCCCC";
        source.insert_connection(&connection(id, "copied")).unwrap();
        let (signing, next) = (
            key("cs", "kid-cs", Algorithm::RS256, 40),
            key("cn", "kid-cn", Algorithm::RS256, 41),
        );
        let ring = KeyRing::provision(Algorithm::RS256, slot(&signing), slot(&next), 40);
        source
            .change_ring(
                &RingOwner::connection(id, KeyUse::Signing),
                Box::new(move |_| {
                    Ok(RingChange {
                        ring,
                        insert: vec![signing, next],
                        delete: Vec::new(),
                    })
                }),
            )
            .unwrap();
        let doomed = source.list().unwrap()[3].id;
        source.delete_restorably(&doomed, 99).unwrap();
        source.add_api_key_hash(&[5; 32]).unwrap();
    });
    source
        .add_api_key_record(&keysmith_model::ApiKeyRecord {
            id: uuid::Uuid::from_u128(9),
            name: "reader".into(),
            sha256: "ab".repeat(32),
            permissions: vec!["read-only".into()],
            created_at: 3,
        })
        .unwrap();

    let there = copy(&source, &pg).unwrap();
    assert_eq!(
        (
            there.keys,
            there.deleted_keys,
            there.connections,
            there.rings
        ),
        (35, 1, 1, 2)
    );
    assert_eq!(there.api_keys, 2);
    // 30 keys, 2 ring changes, a connection, a deletion, an API key hash, each audited.
    assert_eq!(there.audit_records, 35, "{there:?}");
    let back_dir = tempfile::tempdir().unwrap();
    let back = RedbStore::open(&back_dir.path().join("keysmith.redb"), sealer()).unwrap();
    let returned = copy(&pg, &back).unwrap();
    assert_eq!(returned, there);
    assert_eq!(digest(&source).unwrap(), digest(&back).unwrap());
    // What the engines answer agrees too: keys in order, secrets, rings and their roles.
    for store in [&pg as &dyn KeyStore, &back] {
        assert_eq!(store.list().unwrap(), source.list().unwrap());
        for k in source.list().unwrap() {
            let (a, b) = (
                source.get(&k.id).unwrap().unwrap(),
                store.get(&k.id).unwrap().unwrap(),
            );
            assert_eq!(
                a.private.map(|p| p.expose().to_vec()),
                b.private.map(|p| p.expose().to_vec())
            );
            assert_eq!(
                source.ring_of_key(&k.id).unwrap(),
                store.ring_of_key(&k.id).unwrap()
            );
        }
        assert_eq!(store.rings().unwrap(), source.rings().unwrap());
        assert_eq!(
            store.deleted_keys().unwrap(),
            source.deleted_keys().unwrap()
        );
        assert_eq!(
            store.census(i64::MAX).unwrap(),
            source.census(i64::MAX).unwrap()
        );
    }
    // Never into a store that holds something.
    assert!(matches!(copy(&source, &pg), Err(StoreError::NotEmpty(_))));
    assert!(matches!(copy(&pg, &back), Err(StoreError::NotEmpty(_))));
}
