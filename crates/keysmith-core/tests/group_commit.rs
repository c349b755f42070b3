//! Group commit: changes made concurrently commit together, each answered only after its
//! transaction committed, with the answer it would have had alone in queue order.
//!
//! Batches are made deterministic by `RedbStore::hold_writes`: while a test holds the write
//! lock, changes queue up (counted by `commit_stats().waiting`), and the writer takes them as
//! one batch when it is released.

// Test code: a failed step must fail the test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use keysmith_core::{GenerateRequest, KeyService, ServiceConfig};
use keysmith_crypto::KeyBackend;
use keysmith_crypto::envelope::{Envelope, MasterKey};
use keysmith_model::search::{SearchQuery, SortField};
use keysmith_model::{Algorithm, AuditQuery, Key, KeyId, KeyType, PrivateMaterial, SecretBytes};
use keysmith_store::prelude::*;
use keysmith_store::testing::{Loss, SimulatedDisk};
use keysmith_store::{
    AuditContext, KeyStore, RedbStore, StoreError, StoredKey, UniqueField, error_chain,
    with_audit_context,
};

mod common;
use common::backends;

fn sealer(backend: &Arc<dyn KeyBackend>) -> Arc<Envelope> {
    let master = MasterKey::from_bytes(&**backend, &[9u8; 32]).unwrap();
    Arc::new(Envelope::new(backend.clone(), vec![master]).unwrap())
}

fn hmac_key(name: &str, kid: &str) -> StoredKey {
    let mut key = Key::new(KeyId::random(), Algorithm::HS256, name.into(), 1);
    key.kid = kid.into();
    assert_eq!(key.key_type, KeyType::Hmac);
    StoredKey {
        key,
        private: Some(PrivateMaterial::HmacSecret(SecretBytes::new(
            b"0123456789abcdef0123456789abcdef".to_vec(),
        ))),
    }
}

/// A store in a new data file (`keysmith.redb` in the returned directory), on the first
/// backend: for tests of store logic only.
fn open_store() -> (Arc<dyn KeyBackend>, tempfile::TempDir, Arc<RedbStore>) {
    let backend = backends().remove(0).1;
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(&dir.path().join("keysmith.redb"), sealer(&backend)).unwrap();
    (backend, dir, Arc::new(store))
}

/// Waits until `n` changes are queued (or being applied) and unanswered.
fn wait_for_queue(store: &RedbStore, n: u64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while store.commit_stats().waiting < n {
        assert!(
            Instant::now() < deadline,
            "{n} changes never queued: {:?}",
            store.commit_stats()
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

type Answer = Box<dyn std::any::Any + Send>;

/// A change a test queues, on its own thread.
type Change = Box<dyn FnOnce(&RedbStore) -> Answer + Send>;

/// Runs each change on a thread of its own, queued strictly in list order while writes are
/// held, then releases them; returns each change's answer, in order.
fn queue_in_order(store: &Arc<RedbStore>, changes: Vec<Change>) -> Vec<Answer> {
    let held = store.hold_writes().unwrap();
    let before = store.commit_stats().waiting;
    let mut threads = Vec::new();
    for (i, change) in changes.into_iter().enumerate() {
        let shared = store.clone();
        threads.push(std::thread::spawn(move || {
            let context = AuditContext {
                actor: "test".into(),
                action: format!("change-{i}"),
                request_id: None,
            };
            with_audit_context(context, || change(&shared)).0
        }));
        wait_for_queue(store, before + i as u64 + 1);
    }
    drop(held);
    threads.into_iter().map(|t| t.join().unwrap()).collect()
}

fn answer<T: 'static>(answer: &Answer) -> &T {
    answer.downcast_ref::<T>().expect("the answer's type")
}

/// Refusals inside a batch are answered exactly (as if the changes ran one by one in queue
/// order), leave nothing behind, and do not stop the other changes of the batch. Store logic
/// only (no crypto beyond sealing), so one backend.
#[test]
fn refusals_in_a_batch_are_exact_and_the_rest_commit() {
    let (backend, dir, store) = open_store();
    let path = dir.path().join("keysmith.redb");
    let (a, b, c, d) = (
        hmac_key("x", "k1"),
        hmac_key("x", "k2"),
        hmac_key("y", "k3"),
        hmac_key("z", "k3"),
    );
    let (a_id, c_id) = (a.key.id, c.key.id);
    let stats_before = store.commit_stats();
    type R<T> = Result<T, StoreError>;
    let answers = queue_in_order(
        &store,
        vec![
            Box::new(move |s| Box::new(s.insert(&a))),
            Box::new(move |s| Box::new(s.insert(&b))),
            Box::new(move |s| Box::new(s.insert(&c))),
            Box::new(move |s| Box::new(s.insert(&d))),
            Box::new(move |s| Box::new(s.rename(&c_id, "x", 2))),
            Box::new(move |s| Box::new(s.delete(&a_id))),
            Box::new(move |s| Box::new(s.rename(&c_id, "x", 3))),
            Box::new(move |s| Box::new(s.delete(&a_id))),
        ],
    );
    assert!(answer::<R<()>>(&answers[0]).is_ok());
    assert!(matches!(
        answer::<R<()>>(&answers[1]),
        Err(StoreError::Duplicate(UniqueField::Name))
    ));
    assert!(answer::<R<()>>(&answers[2]).is_ok());
    assert!(matches!(
        answer::<R<()>>(&answers[3]),
        Err(StoreError::Duplicate(UniqueField::Kid))
    ));
    assert!(matches!(
        answer::<R<Option<Key>>>(&answers[4]),
        Err(StoreError::Duplicate(UniqueField::Name))
    ));
    assert!(matches!(answer::<R<bool>>(&answers[5]), Ok(true)));
    let renamed = answer::<R<Option<Key>>>(&answers[6])
        .as_ref()
        .unwrap()
        .clone()
        .unwrap();
    assert_eq!(
        (renamed.name.as_str(), renamed.last_update_instant),
        ("x", 3)
    );
    assert!(
        matches!(answer::<R<bool>>(&answers[7]), Ok(false)),
        "the second delete found nothing"
    );

    // Eight changes in at most two transactions: the first may have been taken alone before
    // the rest queued; the others waited for the same commit.
    let stats = store.commit_stats();
    let commits = stats.commits - stats_before.commits;
    assert!(
        (1..=2).contains(&commits),
        "{commits} commits for one queue: {stats:?}"
    );
    assert_eq!(
        stats.changes - stats_before.changes,
        5,
        "the committed changes count, refusals do not"
    );

    // Only the changes that were accepted left a record and an audit row.
    let everything = AuditQuery {
        number_of_results: 100,
        ..AuditQuery::default()
    };
    let (rows, total) = store.search_audit(&everything).unwrap();
    assert_eq!(total, 4);
    let mut actions: Vec<&str> = rows.iter().map(|r| r.action.as_str()).collect();
    actions.sort_unstable();
    assert_eq!(actions, ["change-0", "change-2", "change-5", "change-6"]);
    drop(store);
    let reopened = RedbStore::open(&path, sealer(&backend)).unwrap();
    let keys = reopened.list().unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(
        (keys[0].id, keys[0].name.as_str(), keys[0].kid.as_str()),
        (c_id, "x", "k3")
    );
    assert_eq!(
        reopened.id_by_name("y").unwrap(),
        None,
        "the old name left its index"
    );
    assert!(reopened.get(&c_id).unwrap().unwrap().private.is_some());
}

/// Key inserts queued next to each other are applied as one run (each table opened once for
/// the run), writing what applying them one by one would: the keys in queue order of
/// insertion, the census, and each accepted insert's audit row in queue order. A refusal in a
/// run sends the batch back to one-by-one, with exact answers.
#[test]
fn a_run_of_inserts_writes_what_one_by_one_would() {
    let (_backend, _dir, store) = open_store();
    type R = Result<(), StoreError>;
    let queue = |records: Vec<StoredKey>| -> Vec<Answer> {
        let changes: Vec<Change> = records
            .into_iter()
            .map(|record| -> Change { Box::new(move |s: &RedbStore| Box::new(s.insert(&record))) })
            .collect();
        queue_in_order(&store, changes)
    };
    // Every key inserted so far, in insertion order, and the audit rows' actions and targets
    // in the order they were written.
    let inserted = || -> Vec<KeyId> {
        let query = SearchQuery {
            order_by: SortField::InsertInstant,
            number_of_results: 100,
            ..SearchQuery::default()
        };
        store
            .search(&query)
            .unwrap()
            .keys
            .iter()
            .map(|k| k.id)
            .collect()
    };
    let audited = || -> Vec<(String, String)> {
        let everything = AuditQuery {
            number_of_results: 100,
            ..AuditQuery::default()
        };
        let (mut rows, _) = store.search_audit(&everything).unwrap();
        rows.sort_by_key(|r| r.id);
        rows.into_iter().map(|r| (r.action, r.target)).collect()
    };

    // A run that succeeds: ten inserts, of which at least nine were applied in one run (the
    // first may have been taken alone before the rest queued).
    let records: Vec<StoredKey> = (0..10)
        .map(|i| hmac_key(&format!("run{i}"), &format!("runkid{i}")))
        .collect();
    let ids: Vec<KeyId> = records.iter().map(|r| r.key.id).collect();
    let before = store.commit_stats();
    for given in queue(records) {
        answer::<R>(&given).as_ref().unwrap();
    }
    let stats = store.commit_stats();
    assert!(
        stats.run_inserts - before.run_inserts >= 9,
        "the inserts were not applied as a run: {stats:?}"
    );
    assert_eq!(inserted(), ids);
    let expected: Vec<(String, String)> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| (format!("change-{i}"), id.to_string()))
        .collect();
    assert_eq!(audited(), expected);
    assert_eq!(store.count().unwrap(), 10);

    // A run with refusals: the sixth repeats the third's name, the tenth the eighth's kid.
    let mut records: Vec<StoredKey> = (0..12)
        .map(|i| hmac_key(&format!("again{i}"), &format!("againkid{i}")))
        .collect();
    records[5].key.name = "again2".into();
    records[9].key.kid = "againkid7".into();
    let more: Vec<KeyId> = records.iter().map(|r| r.key.id).collect();
    let answers = queue(records);
    for (i, given) in answers.iter().enumerate() {
        let given = answer::<R>(given);
        match i {
            5 => assert!(
                matches!(given, Err(StoreError::Duplicate(UniqueField::Name))),
                "{given:?}"
            ),
            9 => assert!(
                matches!(given, Err(StoreError::Duplicate(UniqueField::Kid))),
                "{given:?}"
            ),
            _ => assert!(given.is_ok(), "change {i}: {given:?}"),
        }
    }
    let accepted: Vec<usize> = (0..12).filter(|i| *i != 5 && *i != 9).collect();
    let mut all = ids.clone();
    all.extend(accepted.iter().map(|&i| more[i]));
    assert_eq!(inserted(), all, "insertion order is queue order");
    let mut expected = expected;
    expected.extend(
        accepted
            .iter()
            .map(|&i| (format!("change-{i}"), more[i].to_string())),
    );
    assert_eq!(
        audited(),
        expected,
        "an audit row per accepted insert, in queue order"
    );
    assert_eq!(store.count().unwrap(), 20);
    assert_eq!(store.id_by_name("again2").unwrap(), Some(more[2]));
}

/// Many writers waiting for one commit are answered by that one commit, and every change is
/// in the file after it is reopened. Store logic only, so one backend.
#[test]
fn changes_queued_during_a_commit_share_the_next_one() {
    let (backend, dir, store) = open_store();
    let path = dir.path().join("keysmith.redb");
    let held = store.hold_writes().unwrap();
    let before = store.commit_stats();
    let writers: Vec<_> = (0..64)
        .map(|i| {
            let store = store.clone();
            std::thread::spawn(move || {
                store.insert(&hmac_key(&format!("n{i}"), &format!("kid{i}")))
            })
        })
        .collect();
    wait_for_queue(&store, 64);
    drop(held);
    for writer in writers {
        writer.join().unwrap().unwrap();
    }
    let stats = store.commit_stats();
    assert!(stats.commits - before.commits <= 2, "{stats:?}");
    assert_eq!(stats.changes - before.changes, 64);
    assert_eq!(stats.waiting, 0);
    drop(store);
    assert_eq!(
        RedbStore::open(&path, sealer(&backend))
            .unwrap()
            .count()
            .unwrap(),
        64
    );
}

/// A queued key (`store_queued`) is answered only after its batch commits, from the writer,
/// with no thread waiting inside the store; its answer finishes with `stored`.
#[test]
fn a_queued_key_is_answered_only_after_its_commit() {
    let (backend, dir, store) = open_store();
    let path = dir.path().join("keysmith.redb");
    let service = KeyService::new(backend.clone(), store.clone(), ServiceConfig::default());
    let jwks_kids = || -> BTreeSet<String> {
        let jwks: serde_json::Value =
            serde_json::from_slice(&service.published().unwrap().jwks_json).unwrap();
        jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap().to_owned())
            .collect()
    };
    // Built and kept before the keys exist: their commit must drop it.
    assert!(jwks_kids().is_empty());
    let before = store.commit_stats();
    let held = store.hold_writes().unwrap();
    let (reply, answers) = std::sync::mpsc::channel();
    let queued: Vec<_> = (0..3)
        .map(|i| {
            let made = service
                .keys()
                .make(
                    None,
                    &GenerateRequest {
                        algorithm: Some("ES256"),
                        name: Some(&format!("queued {i}")),
                        ..GenerateRequest::default()
                    },
                )
                .unwrap();
            let reply = reply.clone();
            service
                .keys()
                .store_queued(made, move |committed| reply.send(committed).unwrap())
        })
        .collect();
    // All three returned at once, queued behind the held write lock, none answered.
    wait_for_queue(&store, 3);
    assert!(answers.try_recv().is_err(), "answered before its commit");
    drop(held);
    let committed: Vec<_> = (0..3)
        .map(|_| answers.recv_timeout(Duration::from_secs(30)).unwrap())
        .collect();
    // Published at the commit, before (and whether or not) the caller finishes.
    assert_eq!(jwks_kids().len(), 3);
    let keys: Vec<Key> = queued
        .into_iter()
        .zip(committed)
        .map(|(queued, committed)| queued.finish(committed).unwrap().0)
        .collect();
    assert_eq!(
        jwks_kids(),
        keys.iter().map(|k| k.kid.clone()).collect::<BTreeSet<_>>()
    );
    // The writer may have taken the first change alone before it met the held lock.
    let stats = store.commit_stats();
    assert!(stats.commits - before.commits <= 2, "{stats:?}");
    assert_eq!(stats.changes - before.changes, 3);
    assert_eq!(stats.waiting, 0);
    drop(service);
    drop(store);
    let reopened = RedbStore::open(&path, sealer(&backend)).unwrap();
    for key in &keys {
        let stored = reopened.get(&key.id).unwrap().expect("a committed key");
        assert_eq!(&stored.key, key);
        assert!(stored.private.is_some());
    }
}

/// Generates as the HTTP server does: makes the key, queues it, and waits for the commit's
/// answer on a channel.
fn generate_queued(
    service: &KeyService,
    request: &GenerateRequest<'_>,
) -> Result<Key, keysmith_core::ServiceError> {
    let made = service.keys().make(None, request)?;
    let (reply, answer) = std::sync::mpsc::channel();
    let queued = service.keys().store_queued(made, move |committed| {
        let _ = reply.send(committed);
    });
    let committed = answer.recv().expect("the store answers every queued key");
    queued.finish(committed).map(|(key, _)| key)
}

/// What the writers of one power-loss run saw.
#[derive(Default)]
struct Acknowledged {
    /// Key id → the record the caller was given.
    keys: BTreeMap<KeyId, serde_json::Value>,
    /// Every name a writer tried (acknowledged or not).
    attempted: BTreeSet<String>,
}

/// Eight writers generate keys through the key service until the power goes at the `cut`-th
/// sync after open. The first eight changes are forced into one batch; later ones batch as
/// they come. Returns what was acknowledged, and the number of syncs made.
fn concurrent_run(
    backend: &Arc<dyn KeyBackend>,
    disk: &SimulatedDisk,
    cut: Option<u64>,
) -> (Acknowledged, u64) {
    let store = Arc::new(RedbStore::open_with_backend(disk.clone(), sealer(backend)).unwrap());
    let service = Arc::new(KeyService::new(
        backend.clone(),
        store.clone(),
        ServiceConfig::default(),
    ));
    let synced_at_open = disk.syncs();
    if let Some(cut) = cut {
        disk.cut_power_at_sync(synced_at_open + cut);
    }
    let seen = Arc::new(Mutex::new(Acknowledged::default()));
    let held = store.hold_writes().unwrap();
    let writers: Vec<_> = (0..8)
        .map(|w| {
            let (service, seen) = (service.clone(), seen.clone());
            std::thread::spawn(move || {
                for i in 0..6 {
                    let name = format!("w{w}-{i}");
                    seen.lock().unwrap().attempted.insert(name.clone());
                    let request = GenerateRequest {
                        algorithm: Some(if i % 2 == 0 { "ES256" } else { "HS256" }),
                        name: Some(&name),
                        ..GenerateRequest::default()
                    };
                    // Half the writers wait as the HTTP server does, on the queued path.
                    let generated = if w % 2 == 0 {
                        service.keys().generate(None, &request)
                    } else {
                        generate_queued(&service, &request)
                    };
                    match generated {
                        Ok(key) => {
                            seen.lock()
                                .unwrap()
                                .keys
                                .insert(key.id, serde_json::to_value(&key).unwrap());
                        }
                        Err(_) => return,
                    }
                }
            })
        })
        .collect();
    wait_for_queue(&store, 8);
    drop(held);
    for writer in writers {
        writer.join().unwrap();
    }
    let syncs = disk.syncs() - synced_at_open;
    drop(service);
    drop(store);
    let seen = Arc::into_inner(seen).unwrap().into_inner().unwrap();
    (seen, syncs)
}

/// Checks the store a power loss left: whole, every acknowledged key there as acknowledged
/// with its private half, nothing that no writer asked for, and writable again.
fn check_after_power_loss(
    backend: &Arc<dyn KeyBackend>,
    survivor: SimulatedDisk,
    seen: &Acknowledged,
) -> Result<(), String> {
    let mut store = RedbStore::open_with_backend(survivor, sealer(backend))
        .map_err(|e| format!("no open after the power loss: {}", error_chain(&e)))?;
    if !store.check_integrity().map_err(|e| error_chain(&e))? {
        return Err("redb repaired damage after the power loss".into());
    }
    for (id, acknowledged) in &seen.keys {
        let Some(stored) = store.get(id).map_err(|e| error_chain(&e))? else {
            return Err(format!("key {id} was acknowledged and is lost"));
        };
        if serde_json::to_value(&stored.key).unwrap() != *acknowledged {
            return Err(format!("key {id} differs from what was acknowledged"));
        }
        if stored.private.is_none() {
            return Err(format!("key {id} lost its private half"));
        }
    }
    for key in store.list().map_err(|e| error_chain(&e))? {
        if !seen.attempted.contains(&key.name) {
            return Err(format!("key {} appeared from nowhere", key.name));
        }
    }
    store
        .insert(&hmac_key("after", "after"))
        .map_err(|e| format!("no write after recovery: {}", error_chain(&e)))
}

/// Power lost at any sync while eight writers share batched commits loses no acknowledged
/// key, on both backends (their keys and sealing are in the records).
#[test]
fn power_loss_under_concurrent_writers_loses_nothing_acknowledged() {
    let mut figures = Vec::new();
    for (name, backend) in backends() {
        let (clean, syncs) = concurrent_run(&backend, &SimulatedDisk::new(), None);
        assert_eq!(
            clean.keys.len(),
            48,
            "[{name}] a clean run acknowledges every key"
        );
        // Each writer waits for its answer before its next change, so a batch holds at most
        // 8 changes: 48 changes take at least 6 commits of 2 syncs each (two-phase commit).
        // Batches form by timing after the first, so a run's syncs vary; a cut past a run's
        // last sync is a power loss after it, checked the same way.
        let certain = 12;
        let last = if std::env::var("KS_SWEEP").is_ok_and(|v| v == "full") {
            syncs
        } else {
            certain
        };
        for cut in 1..=last {
            for loss in [Loss::Clean, Loss::Torn(cut.wrapping_mul(7919))] {
                let disk = SimulatedDisk::new();
                let (seen, _) = concurrent_run(&backend, &disk, Some(cut));
                assert!(
                    disk.powered_off() || cut > certain,
                    "[{name}] the power never went at sync {cut}"
                );
                check_after_power_loss(&backend, disk.after_power_loss(loss), &seen)
                    .unwrap_or_else(|e| {
                        panic!("[{name}] power lost at sync {cut} ({loss:?}): {e}")
                    });
            }
        }
        figures.push(format!(
            "{name}: {syncs} syncs in a clean run, cut at syncs 1..={last}"
        ));
    }
    println!("{}", figures.join("; "));
}
