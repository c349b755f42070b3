//! Many nodes on one PostgreSQL database, in process: each node is a `KeyService` over a store
//! of its own, as each server process has. Needs PostgreSQL (`SKIPPED` without, a failure
//! under CI).

// Test code: a failed step must fail the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use keysmith_core::{KeyService, RotationPolicy, ServiceConfig};
use keysmith_model::RingOwner;
use keysmith_store::testing::postgres::TestPostgres;
use keysmith_store::{KeyStore, PgOptions, PgStore};

fn sealer(backend: &Arc<dyn keysmith_crypto::KeyBackend>) -> Arc<dyn keysmith_model::SecretSealer> {
    let key = keysmith_crypto::envelope::MasterKey::from_bytes(&**backend, &[7u8; 32]).unwrap();
    Arc::new(keysmith_crypto::envelope::Envelope::new(backend.clone(), vec![key]).unwrap())
}

/// `n` nodes on one database, their tenant keys rotated every `period` seconds.
fn nodes(server: &TestPostgres, n: usize, period: u64) -> Vec<KeyService> {
    nodes_with(server, n, period, &PgOptions::default())
}

fn nodes_with(
    server: &TestPostgres,
    n: usize,
    period: u64,
    options: &PgOptions,
) -> Vec<KeyService> {
    let (_, backend) = common::backends().remove(0);
    (0..n)
        .map(|_| {
            let store: Arc<dyn KeyStore> = Arc::new(
                PgStore::connect(&server.url("keysmith"), sealer(&backend), options).unwrap(),
            );
            let config = ServiceConfig {
                rotation: RotationPolicy {
                    tenant_period_seconds: period,
                    tenant_signing_alg: keysmith_model::Algorithm::ES256,
                    ..ServiceConfig::default().rotation
                },
                ..ServiceConfig::default()
            };
            KeyService::new(backend.clone(), store, config)
        })
        .collect()
}

/// Three nodes run the scheduler at once, every 50 ms, for 6.5 s of a 1 s period: the ring is
/// rotated once per period, never twice for one, and each rotation is reported by exactly one
/// node. Rotations take effect when due, so the time one takes does not delay the next: 6 in
/// 6.5 s, or 5 when the sixth, due at 6 s, is still committing at 6.5 s on a loaded machine.
#[test]
fn three_schedulers_rotate_each_due_ring_once() {
    let Some(server) = TestPostgres::start_or_skip("schedulers of three nodes") else {
        return;
    };
    server.create_database("keysmith").unwrap();
    let nodes = nodes(&server, 3, 1);
    nodes[0].tenant_keys().list().unwrap();
    let started = Instant::now();
    let barrier = Arc::new(Barrier::new(nodes.len()));
    let reported: usize = std::thread::scope(|scope| {
        let runs: Vec<_> = nodes
            .iter()
            .map(|node| {
                let barrier = barrier.clone();
                scope.spawn(move || {
                    barrier.wait();
                    let mut rotated = 0;
                    while started.elapsed() < Duration::from_millis(6_500) {
                        rotated += node.rotate_due().len();
                        std::thread::sleep(Duration::from_millis(50));
                    }
                    rotated
                })
            })
            .collect();
        runs.into_iter().map(|r| r.join().unwrap()).sum()
    });
    let ring = nodes[1].store().ring(&RingOwner::Tenant).unwrap().unwrap();
    assert!(
        (5..=6).contains(&ring.rotations),
        "{} rotations in 6.5 s of a 1 s period",
        ring.rotations
    );
    assert_eq!(
        reported as u64, ring.rotations,
        "each rotation reported by one node"
    );
    // Never two current keys, and the previous key is the one current before.
    let views = nodes[2].tenant_keys().list().unwrap();
    assert_eq!(
        views
            .iter()
            .filter(|v| v.role == keysmith_model::RingRole::Current)
            .count(),
        1
    );
}

/// 3 nodes x 50 concurrent rotations of one connection's keys: each applied exactly once (150
/// rotations, 150 distinct new keys), never two current keys, and nothing left behind (the
/// ring's three keys are the connection's only keys).
#[test]
fn concurrent_rotations_from_three_nodes_each_apply_once() {
    let Some(server) = TestPostgres::start_or_skip("concurrent rotations from three nodes") else {
        return;
    };
    server.create_database("keysmith").unwrap();
    // 3 x 30 connections stay under PostgreSQL's default of 100.
    let options = PgOptions {
        pool_size: 30,
        connect_timeout: Duration::from_secs(60),
        ..PgOptions::default()
    };
    let nodes = nodes_with(&server, 3, 0, &options);
    let connection = nodes[0]
        .connections()
        .create(keysmith_core::ConnectionFields {
            name: Some("rotated".into()),
            strategy: Some("samlp".into()),
            ..Default::default()
        })
        .unwrap();
    let id = connection.id.clone();
    nodes[1]
        .connections()
        .provision(&id, Some("ES256"), keysmith_model::KeyUse::Signing)
        .unwrap();
    let barrier = Arc::new(Barrier::new(150));
    let kids: Vec<String> = std::thread::scope(|scope| {
        let runs: Vec<_> = (0..150)
            .map(|i| {
                let (node, barrier, id) = (&nodes[i % 3], barrier.clone(), id.clone());
                scope.spawn(move || {
                    barrier.wait();
                    node.connections()
                        .rotate(&id, None, keysmith_model::KeyUse::Signing)
                        .unwrap()
                        .key
                        .kid
                })
            })
            .collect();
        runs.into_iter().map(|r| r.join().unwrap()).collect()
    });
    let distinct: std::collections::BTreeSet<_> = kids.iter().collect();
    assert_eq!(distinct.len(), 150, "every rotation made its own next key");
    let owner = RingOwner::connection(&id, keysmith_model::KeyUse::Signing);
    let ring = nodes[2].store().ring(&owner).unwrap().unwrap();
    assert_eq!(ring.rotations, 150);
    ring.check().unwrap();
    // The last rotation's key is the next one; the ring holds three keys and so does the store.
    assert!(kids.contains(&ring.next.kid));
    assert_eq!(nodes[0].store().count().unwrap(), 3);
    let views = nodes[0].connections().keys(&id).unwrap();
    let current = views
        .iter()
        .filter(|v| v.role == keysmith_model::RingRole::Current)
        .count();
    assert_eq!(current, 1);
}

/// A key's JSON kept by one node is never answered after another node changes the key: the
/// record is read on every retrieve, so the rename shows on the other node at once (no wait for
/// the change notice), and a delete answers not found.
#[test]
fn a_key_renamed_or_deleted_on_one_node_reads_fresh_on_another() {
    let Some(server) = TestPostgres::start_or_skip("key JSON read on two nodes") else {
        return;
    };
    server.create_database("keysmith").unwrap();
    let nodes = nodes(&server, 2, 0);
    let key = nodes[0]
        .keys()
        .generate(
            None,
            &keysmith_core::GenerateRequest {
                algorithm: Some("ES256"),
                name: Some("shared"),
                ..Default::default()
            },
        )
        .unwrap();
    let name_on = |node: &KeyService| {
        let json = node.keys().retrieve_json(&key.id).unwrap();
        serde_json::from_slice::<serde_json::Value>(&json).unwrap()["name"].clone()
    };
    assert_eq!(name_on(&nodes[1]), "shared");
    assert_eq!(name_on(&nodes[1]), "shared");
    nodes[0].keys().rename(&key.id, Some("renamed")).unwrap();
    assert_eq!(name_on(&nodes[1]), "renamed");
    nodes[0].keys().delete(&key.id).unwrap();
    assert!(matches!(
        nodes[1].keys().retrieve_json(&key.id),
        Err(keysmith_core::ServiceError::NotFound)
    ));
}

/// One issuer's JWKS kept on one node follows the keys another node generates and deletes: the
/// change notice drops what the node kept (within a deadline, never a stale answer forever).
#[test]
fn an_issuers_jwks_kept_on_one_node_follows_another_nodes_changes() {
    let Some(server) = TestPostgres::start_or_skip("issuer JWKS on two nodes") else {
        return;
    };
    server.create_database("keysmith").unwrap();
    let nodes = nodes(&server, 2, 0);
    let generate = |name: &str| {
        nodes[0]
            .keys()
            .generate(
                None,
                &keysmith_core::GenerateRequest {
                    algorithm: Some("ES256"),
                    name: Some(name),
                    issuer: Some("cluster.example"),
                    ..Default::default()
                },
            )
            .unwrap()
    };
    let kids_on_second = || match nodes[1].issuer_jwks("cluster.example").unwrap() {
        keysmith_core::IssuerJwks::Whole(whole) => {
            let jwks: serde_json::Value = serde_json::from_slice(&whole.json).unwrap();
            jwks["keys"]
                .as_array()
                .unwrap()
                .iter()
                .map(|jwk| jwk["kid"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        }
        keysmith_core::IssuerJwks::Streamed { .. } => panic!("two keys are kept whole"),
    };
    let wait_for = |expected: Vec<String>| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let served = kids_on_second();
            if served == expected {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{served:?} != {expected:?}"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    };
    let first = generate("first");
    wait_for(vec![first.kid.clone()]);
    // Kept once the generate's own change notice has reached the second node (a build before
    // it is dropped by it).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while nodes[1].issuer_jwks_kept("cluster.example").is_none() {
        assert!(std::time::Instant::now() < deadline, "never kept");
        assert_eq!(kids_on_second(), std::slice::from_ref(&first.kid));
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let second = generate("second");
    let mut both = [&first, &second];
    both.sort_by_key(|k| k.id.0);
    wait_for(both.iter().map(|k| k.kid.clone()).collect());
    nodes[0].keys().delete(&first.id).unwrap();
    wait_for(vec![second.kid.clone()]);
}
