//! The audit trail in the store: a change and its record commit together, retention deletes
//! the oldest records, and the time index answers a time range exactly.

// Test helpers: a failed step must fail the test.
#![allow(clippy::unwrap_used)]

#[macro_use]
mod common;
use common::sealer;

use keysmith_model::{
    Algorithm, AuditQuery, AuditRecord, Key, KeyId, KeyType, PrivateMaterial, RingError, RingOwner,
    SecretBytes,
};
use keysmith_store::prelude::*;
use keysmith_store::{
    AuditContext, KeyStore, RedbStore, StoreError, StoredKey, with_audit_context,
};

fn key(name: &str) -> StoredKey {
    StoredKey {
        key: Key {
            algorithm: Algorithm::HS256,
            certificate: None,
            certificate_information: None,
            expiration_instant: None,
            has_private_key: None,
            id: KeyId::random(),
            insert_instant: 1,
            issuer: None,
            kid: format!("kid-{name}"),
            last_update_instant: 1,
            length: None,
            name: name.into(),
            public_key: None,
            key_type: KeyType::Hmac,
        },
        private: Some(PrivateMaterial::HmacSecret(SecretBytes::new(
            b"secret".to_vec(),
        ))),
    }
}

fn context(action: &str) -> AuditContext {
    AuditContext {
        actor: "api-key:test".into(),
        action: action.into(),
        request_id: Some("req-1".into()),
    }
}

fn everything(store: &dyn KeyStore) -> (Vec<AuditRecord>, u64) {
    store
        .search_audit(&AuditQuery {
            number_of_results: 10_000,
            ..AuditQuery::default()
        })
        .unwrap()
}

fn record(at: i64, action: &str) -> AuditRecord {
    AuditRecord {
        id: 0,
        at,
        actor: "cli".into(),
        action: action.into(),
        target: format!("t{at}"),
        result: "ok".into(),
        request_id: None,
        uses: None,
    }
}

fn a_change_and_its_audit_record_commit_together(store: &dyn KeyStore) {
    let first = key("first");
    let (inserted, rows) = with_audit_context(context("key.generate"), || store.insert(&first));
    inserted.unwrap();
    assert_eq!(rows, 1);
    let (records, total) = everything(store);
    assert_eq!(total, 1);
    let row = &records[0];
    assert_eq!(
        (
            row.actor.as_str(),
            row.action.as_str(),
            row.target.as_str(),
            row.result.as_str(),
            row.request_id.as_deref()
        ),
        (
            "api-key:test",
            "key.generate",
            first.key.id.to_string().as_str(),
            "ok",
            Some("req-1")
        )
    );

    // A refused change writes neither the change nor a record.
    let mut clash = key("first");
    clash.key.kid = "other".into();
    let (refused, rows) = with_audit_context(context("key.generate"), || store.insert(&clash));
    assert!(matches!(refused, Err(StoreError::Duplicate(_))));
    assert_eq!(rows, 0);
    assert!(!store.contains(&clash.key.id).unwrap());
    // A ring change that fails after writing (its connection does not exist) neither.
    let owner = RingOwner::connection("con_missing", keysmith_model::KeyUse::Signing);
    let (failed, rows) = with_audit_context(context("connection.keys.rotate"), || {
        store.change_ring(&owner, Box::new(|_| Err(StoreError::Corrupt("no".into()))))
    });
    assert!(matches!(
        failed,
        Err(StoreError::Ring(RingError::NoSuchConnection))
    ));
    assert_eq!(rows, 0);
    // A change that changes nothing (deleting a missing key) records nothing.
    let (deleted, rows) =
        with_audit_context(context("key.delete"), || store.delete(&KeyId::random()));
    assert!(!deleted.unwrap());
    assert_eq!(rows, 0);
    assert_eq!(everything(store).1, 1);

    // A change made outside any context is not recorded by the store.
    store.insert(&key("unaudited")).unwrap();
    assert_eq!(everything(store).1, 1);

    // A delete names its key; the scheduler's purge names each key it purged.
    let (deleted, rows) = with_audit_context(context("key.delete"), || {
        store.delete_restorably(&first.key.id, 0)
    });
    assert!(deleted.unwrap());
    assert_eq!(rows, 1);
    let scheduler = AuditContext {
        actor: "scheduler".into(),
        action: "key.purge".into(),
        request_id: None,
    };
    let (purged, rows) = with_audit_context(scheduler, || store.purge_deleted(1));
    assert_eq!(purged.unwrap(), vec![first.key.id]);
    assert_eq!(rows, 1);
    let (records, total) = everything(store);
    assert_eq!(total, 3);
    assert_eq!(
        (records[0].actor.as_str(), records[0].action.as_str()),
        ("scheduler", "key.purge")
    );
    assert_eq!(records[0].target, first.key.id.to_string());
    assert_eq!(records[1].action, "key.delete");
}

fn retention_deletes_the_oldest_by_age_and_by_count(store: &dyn KeyStore) {
    // Appended out of time order: "oldest" is by time, not by position.
    let mut records: Vec<AuditRecord> = (0..100).map(|i| record(1_000 + i, "a")).collect();
    records.reverse();
    store.append_audit(&records[..50]).unwrap();
    store.append_audit(&records[50..]).unwrap();

    assert_eq!(store.prune_audit(Some(1_030), None).unwrap(), 30);
    let (left, total) = everything(store);
    assert_eq!(total, 70);
    assert!(left.iter().all(|r| r.at >= 1_030));
    assert_eq!(left.last().unwrap().at, 1_030);

    assert_eq!(store.prune_audit(None, Some(20)).unwrap(), 50);
    let (left, total) = everything(store);
    assert_eq!(total, 20);
    let times: Vec<i64> = left.iter().map(|r| r.at).collect();
    assert_eq!(times, (1_080..1_100).rev().collect::<Vec<_>>());

    // Within the limits: nothing to do.
    assert_eq!(store.prune_audit(Some(0), Some(20)).unwrap(), 0);
    assert_eq!(everything(store).1, 20);
}

fn a_time_range_returns_exactly_the_records_in_it(store: &dyn KeyStore) {
    let times = [5_000, 1_000, 3_000, 2_000, 2_000, 4_000, 3_001, 2_999];
    for at in times {
        store
            .append_audit(&[record(at, if at % 2 == 0 { "even" } else { "odd" })])
            .unwrap();
    }
    let range = |start, end| AuditQuery {
        start,
        end,
        number_of_results: 100,
        ..AuditQuery::default()
    };
    let at = |records: Vec<AuditRecord>| records.iter().map(|r| r.at).collect::<Vec<_>>();
    let (page, total) = store
        .search_audit(&range(Some(2_000), Some(3_000)))
        .unwrap();
    assert_eq!(total, 4);
    assert_eq!(at(page), vec![3_000, 2_999, 2_000, 2_000]);
    let (page, _) = store.search_audit(&range(Some(3_001), None)).unwrap();
    assert_eq!(at(page), vec![5_000, 4_000, 3_001]);
    let (page, _) = store.search_audit(&range(None, Some(1_999))).unwrap();
    assert_eq!(at(page), vec![1_000]);
    let (page, total) = store
        .search_audit(&range(Some(4_001), Some(4_999)))
        .unwrap();
    assert_eq!((page.len(), total), (0, 0));
    let (page, total) = store
        .search_audit(&range(Some(3_000), Some(2_000)))
        .unwrap();
    assert_eq!((page.len(), total), (0, 0));
    // Filters and paging within a range.
    let mut odd = range(Some(1_000), Some(4_000));
    odd.action = Some("odd".into());
    let (page, total) = store.search_audit(&odd).unwrap();
    assert_eq!((at(page), total), (vec![3_001, 2_999], 2));
    let mut paged = range(Some(1_000), Some(5_000));
    paged.start_row = 2;
    paged.number_of_results = 3;
    let (page, total) = store.search_audit(&paged).unwrap();
    assert_eq!((at(page), total), (vec![3_001, 3_000, 2_999], 8));
    // No filter at all (the table's length is the total, only the page is read) pages exactly
    // as the widest range does, to the end and past it.
    for (start_row, number_of_results) in [(0, 100), (0, 3), (2, 3), (6, 5), (8, 1), (50, 2)] {
        let unfiltered = AuditQuery {
            start_row,
            number_of_results,
            ..AuditQuery::default()
        };
        let widest = AuditQuery {
            start: Some(i64::MIN),
            end: Some(i64::MAX),
            ..unfiltered.clone()
        };
        assert!(unfiltered.is_unfiltered() && !widest.is_unfiltered());
        let (fast, fast_total) = store.search_audit(&unfiltered).unwrap();
        let (scanned, scanned_total) = store.search_audit(&widest).unwrap();
        assert_eq!((at(fast), fast_total), (at(scanned), scanned_total));
        assert_eq!(fast_total, 8);
    }
}

on_both_engines!(
    a_change_and_its_audit_record_commit_together,
    retention_deletes_the_oldest_by_age_and_by_count,
    a_time_range_returns_exactly_the_records_in_it,
);

#[test]
fn a_data_file_without_the_time_index_has_it_built_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keysmith.redb");
    let store = RedbStore::open(&path, sealer()).unwrap();
    a_time_range_returns_exactly_the_records_in_it(&store);
    // A file written without the index (an older build) has it built at open.
    drop(store);
    let db = redb::Database::open(&path).unwrap();
    let txn = db.begin_write().unwrap();
    let index: redb::TableDefinition<(i64, u64), ()> =
        redb::TableDefinition::new("audit_log_by_time");
    assert!(txn.delete_table(index).unwrap());
    txn.commit().unwrap();
    drop(db);
    let store = RedbStore::open(&path, sealer()).unwrap();
    let query = AuditQuery {
        start: Some(2_000),
        end: Some(3_000),
        number_of_results: 100,
        ..AuditQuery::default()
    };
    let (page, total) = store.search_audit(&query).unwrap();
    let at: Vec<i64> = page.iter().map(|r| r.at).collect();
    assert_eq!((at, total), (vec![3_000, 2_999, 2_000, 2_000], 4));
}
