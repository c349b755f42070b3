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
    let (_, backend) = common::backends().remove(0);
    (0..n)
        .map(|_| {
            let store: Arc<dyn KeyStore> = Arc::new(
                PgStore::connect(
                    &server.url("keysmith"),
                    sealer(&backend),
                    &PgOptions::default(),
                )
                .unwrap(),
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
/// rotated once per period, never twice for one (a period starts when its key became current,
/// so the time a rotation takes delays the next: 5 to 7 rotations), and each rotation is
/// reported by exactly one node.
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
        (5..=7).contains(&ring.rotations),
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
