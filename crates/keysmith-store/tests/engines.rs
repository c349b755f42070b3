//! The store's contract, one test body per concern run on both engines (redb and a real
//! PostgreSQL server started by the test), and what only the PostgreSQL engine has: its
//! migrations, many nodes on one database, a server that crashes or goes away.
//!
//! PostgreSQL comes from the Debian `postgresql` package (`scripts/install-deps.sh`); without it
//! these tests print `SKIPPED`, and fail under CI.

// Test helpers: a failed step must fail the test.
#![allow(clippy::unwrap_used)]

mod common;
use common::{connection, pg_store, sealer, temp_store};

use std::sync::{Arc, Barrier};

use keysmith_model::ApiKeyRecord;
use keysmith_store::prelude::*;
use keysmith_store::testing::postgres::TestPostgres;
use keysmith_store::{
    AuditContext, PG_SCHEMA_VERSION, PgOptions, PgStore, StoreError, UniqueField,
    with_audit_context,
};

fn api_key(id: u128, name: &str) -> ApiKeyRecord {
    ApiKeyRecord {
        id: uuid::Uuid::from_u128(id),
        name: name.into(),
        sha256: format!("{id:064x}"),
        permissions: vec!["read-only".into()],
        created_at: 5,
    }
}

/// An HMAC key record with `secret` as its secret, named `name`.
fn hmac_key(
    id: keysmith_model::KeyId,
    name: &str,
    kid: &str,
    secret: &[u8],
) -> keysmith_store::StoredKey {
    keysmith_store::StoredKey {
        key: keysmith_model::Key {
            algorithm: keysmith_model::Algorithm::HS256,
            certificate: None,
            certificate_information: None,
            expiration_instant: None,
            has_private_key: None,
            id,
            insert_instant: 1,
            issuer: None,
            kid: kid.into(),
            last_update_instant: 1,
            length: None,
            name: name.into(),
            public_key: None,
            key_type: keysmith_model::KeyType::Hmac,
        },
        private: Some(keysmith_model::PrivateMaterial::HmacSecret(
            keysmith_model::SecretBytes::new(secret.to_vec()),
        )),
    }
}

// ---- one body per concern, for every engine ----

fn connections_contract(store: &(impl ConnectionRecords + ?Sized)) {
    store
        .insert_connection(&connection("con_b", "beta"))
        .unwrap();
    store
        .insert_connection(&connection("con_a", "alpha"))
        .unwrap();
    assert!(matches!(
        store.insert_connection(&connection("con_a", "other")),
        Err(StoreError::Duplicate(UniqueField::ConnectionId))
    ));
    assert!(matches!(
        store.insert_connection(&connection("con_c", "beta")),
        Err(StoreError::Duplicate(UniqueField::ConnectionName))
    ));
    // A refused insert leaves nothing behind.
    assert_eq!(store.connection("con_c").unwrap(), None);
    assert_eq!(
        store.connection("con_a").unwrap(),
        Some(connection("con_a", "alpha"))
    );
    let names: Vec<String> = store
        .connections()
        .unwrap()
        .into_iter()
        .map(|c| c.name)
        .collect();
    assert_eq!(names, ["alpha", "beta"]);

    assert!(matches!(
        store.replace_connection(&connection("con_a", "beta")),
        Err(StoreError::Duplicate(UniqueField::ConnectionName))
    ));
    assert!(!store.replace_connection(&connection("con_x", "x")).unwrap());
    assert!(
        store
            .replace_connection(&connection("con_a", "gamma"))
            .unwrap()
    );
    // The old name is free again, the new one is taken.
    store
        .insert_connection(&connection("con_d", "alpha"))
        .unwrap();
    let names: Vec<String> = store
        .connections()
        .unwrap()
        .into_iter()
        .map(|c| c.name)
        .collect();
    assert_eq!(names, ["alpha", "beta", "gamma"]);

    assert_eq!(store.delete_connection("con_a").unwrap(), Some(Vec::new()));
    assert_eq!(store.delete_connection("con_a").unwrap(), None);
    assert_eq!(store.connection("con_a").unwrap(), None);
    store
        .insert_connection(&connection("con_e", "gamma"))
        .unwrap();
}

fn api_keys_contract(store: &(impl ApiKeyRecords + ?Sized)) {
    store.add_api_key_hash(&[9; 32]).unwrap();
    store.add_api_key_hash(&[7; 32]).unwrap();
    store.add_api_key_hash(&[7; 32]).unwrap();
    assert_eq!(store.api_key_hashes().unwrap(), vec![[7; 32], [9; 32]]);

    store.add_api_key_record(&api_key(2, "two")).unwrap();
    store.add_api_key_record(&api_key(1, "one")).unwrap();
    let names: Vec<String> = store
        .api_key_records()
        .unwrap()
        .into_iter()
        .map(|r| r.name)
        .collect();
    assert_eq!(names, ["one", "two"]);
    assert!(
        store
            .remove_api_key_record(&uuid::Uuid::from_u128(1))
            .unwrap()
    );
    assert!(
        !store
            .remove_api_key_record(&uuid::Uuid::from_u128(1))
            .unwrap()
    );
    assert_eq!(store.api_key_records().unwrap(), vec![api_key(2, "two")]);
}

/// A change made under an audit context carries its audit row; the row's id is given.
fn audited_changes_contract(store: &(impl ConnectionRecords + ApiKeyRecords + ?Sized)) {
    let context = AuditContext {
        actor: "api-key:test".into(),
        action: "connection.create".into(),
        request_id: Some("req-1".into()),
    };
    let ((), rows) = with_audit_context(context.clone(), || {
        store
            .insert_connection(&connection("con_audited", "audited"))
            .unwrap();
    });
    assert_eq!(rows, 1);
    // A refused change commits no row.
    let (refused, rows) = with_audit_context(context, || {
        store.insert_connection(&connection("con_audited", "again"))
    });
    assert!(refused.is_err());
    assert_eq!(rows, 0);
}

fn sql(server: &TestPostgres, database: &str) -> postgres::Client {
    postgres::Client::connect(&server.url(database), postgres::NoTls).unwrap()
}

#[test]
fn connections_on_redb() {
    connections_contract(&temp_store().1);
}

#[test]
fn connections_on_postgres() {
    if let Some((_server, store)) = pg_store("connections on PostgreSQL") {
        connections_contract(&store);
    }
}

#[test]
fn api_keys_on_redb() {
    api_keys_contract(&temp_store().1);
}

#[test]
fn api_keys_on_postgres() {
    if let Some((_server, store)) = pg_store("API keys on PostgreSQL") {
        api_keys_contract(&store);
    }
}

#[test]
fn audited_changes_on_redb() {
    audited_changes_contract(&temp_store().1);
}

#[test]
fn audited_changes_on_postgres() {
    let Some((server, store)) = pg_store("audited changes on PostgreSQL") else {
        return;
    };
    audited_changes_contract(&store);
    let rows = sql(&server, "keysmith")
        .query("SELECT seq FROM audit_log ORDER BY seq", &[])
        .unwrap();
    assert_eq!(rows.len(), 1, "one row for the one change that committed");
}

// ---- the PostgreSQL engine only ----

#[test]
fn migrations_run_once_when_nodes_start_together_and_a_newer_schema_is_refused() {
    let Some(server) = TestPostgres::start_or_skip("PostgreSQL migrations") else {
        return;
    };
    server.create_database("keysmith").unwrap();
    let url = server.url("keysmith");
    // Four nodes start at once on an empty database.
    let barrier = Arc::new(Barrier::new(4));
    let nodes: Vec<_> = (0..4)
        .map(|_| {
            let (url, barrier) = (url.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                PgStore::connect(&url, sealer(), &PgOptions::default())
                    .map(|s| s.migrated().clone())
            })
        })
        .collect();
    let migrated: Vec<_> = nodes
        .into_iter()
        .map(|n| n.join().unwrap().unwrap())
        .collect();
    assert_eq!(
        migrated.iter().filter(|m| m.from == 0).count(),
        1,
        "exactly one node applied the migrations: {migrated:?}"
    );
    assert!(migrated.iter().all(|m| m.to == PG_SCHEMA_VERSION));
    let mut client = sql(&server, "keysmith");
    let versions: Vec<i32> = client
        .query("SELECT version FROM keysmith_schema ORDER BY version", &[])
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(versions, (1..=PG_SCHEMA_VERSION).collect::<Vec<_>>());

    // A newer Keysmith migrated the database: this build refuses it and changes nothing.
    client
        .execute(
            "INSERT INTO keysmith_schema (version, description) VALUES ($1, 'from the future')",
            &[&(PG_SCHEMA_VERSION + 1)],
        )
        .unwrap();
    let refused = PgStore::connect(&url, sealer(), &PgOptions::default()).unwrap_err();
    assert!(
        matches!(refused, StoreError::DatabaseSchemaTooNew { found, supported }
            if found == PG_SCHEMA_VERSION + 1 && supported == PG_SCHEMA_VERSION),
        "{refused}"
    );
    assert!(refused.to_string().contains("left untouched"), "{refused}");
    let rows: i64 = client
        .query_one("SELECT count(*) FROM keysmith_schema", &[])
        .unwrap()
        .get(0);
    assert_eq!(rows, i64::from(PG_SCHEMA_VERSION) + 1);
}

#[test]
fn two_nodes_racing_for_one_name_get_one_success_and_one_duplicate() {
    let Some((server, first)) = pg_store("PostgreSQL uniqueness across nodes") else {
        return;
    };
    let second =
        PgStore::connect(&server.url("keysmith"), sealer(), &PgOptions::default()).unwrap();
    let nodes = [Arc::new(first), Arc::new(second)];
    for round in 0..20 {
        let barrier = Arc::new(Barrier::new(2));
        let racers: Vec<_> = nodes
            .iter()
            .enumerate()
            .map(|(i, node)| {
                let (node, barrier) = (node.clone(), barrier.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    node.insert_connection(&connection(
                        &format!("con_{round}_{i}"),
                        &format!("n{round}"),
                    ))
                })
            })
            .collect();
        let results: Vec<_> = racers.into_iter().map(|r| r.join().unwrap()).collect();
        assert_eq!(
            results.iter().filter(|r| r.is_ok()).count(),
            1,
            "{results:?}"
        );
        assert!(
            results
                .iter()
                .any(|r| matches!(r, Err(StoreError::Duplicate(UniqueField::ConnectionName)))),
            "{results:?}"
        );
    }
    assert_eq!(nodes[0].connections().unwrap().len(), 20);
}

#[test]
fn a_crashed_server_keeps_every_acknowledged_change_and_the_store_reconnects() {
    let Some((mut server, store)) = pg_store("PostgreSQL crash and restart") else {
        return;
    };
    for i in 0..50u8 {
        store.add_api_key_hash(&[i; 32]).unwrap();
    }
    server.stop_immediately().unwrap();
    // While it is down: a clear error that names the server, and no password anywhere.
    let down = store.api_key_hashes().unwrap_err();
    let text = keysmith_store::error_chain(&down);
    assert!(
        text.contains(&format!("127.0.0.1:{}/keysmith", server.port())),
        "{text}"
    );
    server.start_again().unwrap();
    assert!(
        server.log().contains("database system was interrupted"),
        "{}",
        server.log()
    );
    let hashes = store.api_key_hashes().unwrap();
    assert_eq!(
        hashes.len(),
        50,
        "every acknowledged change survived the crash"
    );
    store.add_api_key_hash(&[200; 32]).unwrap();
}

#[test]
fn a_url_with_a_password_never_shows_it() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    // Nothing listens on `port` now.
    let url = format!("postgres://keysmith:hunter2-secret@127.0.0.1:{port}/keys");
    let options = PgOptions {
        connect_timeout: std::time::Duration::from_millis(500),
        ..PgOptions::default()
    };
    let err = PgStore::connect(&url, sealer(), &options).unwrap_err();
    let text = format!("{} {} {err:?}", keysmith_store::error_chain(&err), err);
    assert!(!text.contains("hunter2"), "{text}");
    assert!(text.contains(&format!("127.0.0.1:{port}/keys")), "{text}");
    let bad =
        PgStore::connect("postgres://u:hunter2@host:notaport/db", sealer(), &options).unwrap_err();
    let text = format!("{} {bad:?}", keysmith_store::error_chain(&bad));
    assert!(!text.contains("hunter2"), "{text}");
}

/// Migration 3 adds the `issuer` column and fills it from each key's record: a database of
/// schema 2 that holds keys with and without an issuer serves them by issuer once migrated.
#[test]
fn migration_3_fills_the_issuer_of_keys_stored_before_it() {
    let Some((server, store)) = pg_store("PostgreSQL issuer backfill") else {
        return;
    };
    // More than one page of the backfill (1,024 keys).
    let (mut ids, mut records) = (Vec::new(), Vec::new());
    for i in 0..1_030u32 {
        let mut record = hmac_key(
            keysmith_model::KeyId(uuid::Uuid::from_u128(u128::from(i) + 1)),
            &format!("key {i}"),
            &format!("kid-{i}"),
            b"secret",
        );
        // Every third key has no issuer; the others alternate between two.
        record.key.issuer = match i % 3 {
            0 => None,
            1 => Some("one.example".into()),
            _ => Some("two.example".into()),
        };
        ids.push((record.key.id, record.key.issuer.clone()));
        records.push(record);
    }
    store.insert_many(&records).unwrap();
    drop(store);
    // Back to schema 2, as a build before the issuer index left it.
    sql(&server, "keysmith")
        .batch_execute(
            "DROP INDEX keys_by_issuer; ALTER TABLE keys DROP COLUMN issuer;
             DELETE FROM keysmith_schema WHERE version = 3;",
        )
        .unwrap();
    let store = PgStore::connect(&server.url("keysmith"), sealer(), &PgOptions::default()).unwrap();
    assert_eq!(
        (store.migrated().from, store.migrated().to),
        (2, PG_SCHEMA_VERSION)
    );
    for issuer in ["one.example", "two.example"] {
        let expected: Vec<_> = ids
            .iter()
            .filter(|(_, i)| i.as_deref() == Some(issuer))
            .map(|(id, _)| *id)
            .collect();
        let found: Vec<_> = store
            .keys_by_issuer(issuer, None, 10_000)
            .unwrap()
            .iter()
            .map(|k| k.id)
            .collect();
        assert_eq!(found, expected, "{issuer}");
    }
    let unindexed: i64 = sql(&server, "keysmith")
        .query_one("SELECT count(*) FROM keys WHERE issuer IS NULL", &[])
        .unwrap()
        .get(0);
    assert_eq!(unindexed, 344, "the keys without an issuer");
}

#[test]
fn a_node_without_the_master_key_of_stored_secrets_is_refused() {
    let Some((server, store)) = pg_store("PostgreSQL master-key check") else {
        return;
    };
    let record = hmac_key(
        keysmith_model::KeyId::random(),
        "secret",
        "kid-1",
        b"secret",
    );
    store.insert(&record).unwrap();
    let backend: Arc<dyn keysmith_crypto::KeyBackend> =
        Arc::new(keysmith_crypto_aws_lc::AwsLcBackend::new());
    let other = keysmith_crypto::envelope::MasterKey::from_bytes(&*backend, &[8u8; 32]).unwrap();
    let other = Arc::new(keysmith_crypto::envelope::Envelope::new(backend, vec![other]).unwrap());
    let refused =
        PgStore::connect(&server.url("keysmith"), other, &PgOptions::default()).unwrap_err();
    assert!(matches!(refused, StoreError::MasterKey(_)), "{refused}");
    assert!(
        refused
            .to_string()
            .contains("every node needs the same master keys"),
        "{refused}"
    );
    // The node with the key still reads the secret.
    let back = store.get(&record.key.id).unwrap().unwrap();
    assert_eq!(back.private.unwrap().expose(), b"secret");
}

/// `keysmith master-key rotate` on a database: every secret, of keys and of restorably deleted
/// keys, is re-wrapped under the new key in one transaction, after which a node with the new
/// key alone opens them all; a second run has nothing left to do.
#[test]
fn rewrapping_moves_every_secret_on_the_database_to_the_new_master_key() {
    let Some((server, store)) = pg_store("PostgreSQL master-key rotation") else {
        return;
    };
    let backend: Arc<dyn keysmith_crypto::KeyBackend> =
        Arc::new(keysmith_crypto_aws_lc::AwsLcBackend::new());
    let master = |byte: u8| {
        keysmith_crypto::envelope::MasterKey::from_bytes(&*backend, &[byte; 32]).unwrap()
    };
    let ids: Vec<_> = (0..3)
        .map(|i| {
            let record = hmac_key(
                keysmith_model::KeyId::random(),
                &format!("secret-{i}"),
                &format!("kid-{i}"),
                format!("secret-{i}").as_bytes(),
            );
            store.insert(&record).unwrap();
            record.key.id
        })
        .collect();
    assert!(store.delete_restorably(&ids[2], i64::MAX).unwrap());
    drop(store);

    // The new key first, the old one after it (`sealer()` seals under [7; 32]).
    let both = Arc::new(
        keysmith_crypto::envelope::Envelope::new(backend.clone(), vec![master(8), master(7)])
            .unwrap(),
    );
    let rotating = PgStore::connect(&server.url("keysmith"), both, &PgOptions::default()).unwrap();
    assert_eq!(rotating.rewrap_secrets().unwrap(), 3);
    assert_eq!(rotating.rewrap_secrets().unwrap(), 0, "nothing left to do");
    drop(rotating);

    let new_only = Arc::new(
        keysmith_crypto::envelope::Envelope::new(backend.clone(), vec![master(8)]).unwrap(),
    );
    let after = PgStore::connect(&server.url("keysmith"), new_only, &PgOptions::default())
        .expect("a node with the new key alone is accepted");
    for (i, id) in ids.iter().take(2).enumerate() {
        let key = after.get(id).unwrap().unwrap();
        assert_eq!(
            key.private.unwrap().expose(),
            format!("secret-{i}").as_bytes()
        );
    }
    assert!(after.restore(&ids[2]).unwrap().is_some());
    let restored = after.get(&ids[2]).unwrap().unwrap();
    assert_eq!(restored.private.unwrap().expose(), b"secret-2");
    // The old key is no longer needed: a node with it alone is refused.
    let old_only =
        PgStore::connect(&server.url("keysmith"), sealer(), &PgOptions::default()).unwrap_err();
    assert!(matches!(old_only, StoreError::MasterKey(_)), "{old_only}");
}

/// With `migrate` off a node changes no schema: it refuses an empty or older database (naming
/// `keysmith migrate-schema`), and connects once `PgStore::migrate_schema` has run.
#[test]
fn a_node_that_does_not_migrate_waits_for_migrate_schema() {
    let Some(server) = TestPostgres::start_or_skip("PostgreSQL migrate-schema") else {
        return;
    };
    server.create_database("keysmith").unwrap();
    let url = server.url("keysmith");
    let options = PgOptions {
        migrate: false,
        ..PgOptions::default()
    };
    let refused = PgStore::connect(&url, sealer(), &options).unwrap_err();
    assert!(
        matches!(refused, StoreError::DatabaseSchemaTooOld { found: 0, needed }
            if needed == PG_SCHEMA_VERSION),
        "{refused}"
    );
    assert!(
        refused.to_string().contains("keysmith migrate-schema"),
        "{refused}"
    );
    let tables: i64 = sql(&server, "keysmith")
        .query_one(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(tables, 0, "nothing was created");

    let migrated = PgStore::migrate_schema(&url, &options).unwrap();
    assert_eq!((migrated.from, migrated.to), (0, PG_SCHEMA_VERSION));
    let again = PgStore::migrate_schema(&url, &options).unwrap();
    assert_eq!(
        (again.from, again.to),
        (PG_SCHEMA_VERSION, PG_SCHEMA_VERSION)
    );
    let store = PgStore::connect(&url, sealer(), &options).unwrap();
    assert_eq!(store.migrated().from, PG_SCHEMA_VERSION);
}

/// Node B's watcher sees each change node A commits: at once with notifications, within a poll
/// interval without them, and once after its connection comes back.
#[test]
fn another_nodes_changes_reach_the_watcher_with_and_without_notifications() {
    let Some((mut server, a)) = pg_store("the change feed between nodes") else {
        return;
    };
    for listen in [true, false] {
        let options = PgOptions {
            listen,
            change_poll: std::time::Duration::from_millis(if listen { 1_000 } else { 500 }),
            ..PgOptions::default()
        };
        let b = PgStore::connect(&server.url("keysmith"), sealer(), &options).unwrap();
        // Two callbacks on the same watcher (one connection per store), called in the order
        // they were added: the counter first, so it has counted a change by the time the
        // channel reports it (checking it after the channel's report would race the call).
        let second = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = second.clone();
        b.watch_changes(Arc::new(move || {
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }))
        .unwrap();
        let (tx, rx) = std::sync::mpsc::channel::<std::time::Instant>();
        let tx = std::sync::Mutex::new(tx);
        b.watch_changes(Arc::new(move || {
            let _ = tx.lock().unwrap().send(std::time::Instant::now());
        }))
        .unwrap();
        // The watcher's first look, then nothing until a change.
        std::thread::sleep(std::time::Duration::from_millis(300));
        assert!(rx.try_recv().is_err(), "no change, no call");
        let mut slowest = std::time::Duration::ZERO;
        for i in 0..10 {
            let started = std::time::Instant::now();
            a.insert_connection(&connection(
                &format!("con_{listen}_{i}"),
                &format!("{listen}-{i}"),
            ))
            .unwrap();
            let seen = rx.recv_timeout(std::time::Duration::from_secs(5)).unwrap();
            slowest = slowest.max(seen.saturating_duration_since(started));
            while rx.try_recv().is_ok() {}
        }
        // Each call reaches both callbacks, in order, before the next look at the feed.
        assert!(second.load(std::sync::atomic::Ordering::SeqCst) >= 10);
        let bound = if listen { 500 } else { 1_500 };
        assert!(
            slowest < std::time::Duration::from_millis(bound),
            "listen={listen}: the slowest change took {slowest:?}"
        );
        eprintln!("listen={listen}: slowest of 10 changes seen after {slowest:?}");
        if listen {
            // B's own change: its caches followed it already, so no call (a call would drop what
            // B just loaded, and a database outage right then would leave it nothing to serve).
            b.insert_connection(&connection("con_own", "own")).unwrap();
            assert!(
                rx.recv_timeout(std::time::Duration::from_millis(1_500))
                    .is_err(),
                "a node's own change must not drop its caches"
            );
            // The database goes away and comes back: one call, whatever changed.
            server.stop_immediately().unwrap();
            server.start_again().unwrap();
            rx.recv_timeout(std::time::Duration::from_secs(10))
                .expect("a call after the connection came back");
        }
    }
}
