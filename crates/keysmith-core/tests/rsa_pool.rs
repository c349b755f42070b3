//! The RSA pool on both backends: a ready pair is used once, certified for the request that
//! took it (checked by the other backend), the pool refills at its pace, sizes without a pool
//! are made on request, and the refill thread ends with the service.
//!
//! One test, so that no other service's pool runs in this process while it counts threads.

// Test code: a failed step must fail the test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use keysmith_core::{GenerateRequest, KeyService, RsaPoolConfig, RsaPoolStats, ServiceConfig};
use keysmith_crypto::{KeyBackend, VerifyingMaterial};
use keysmith_store::RedbStore;

fn service(backend: Arc<dyn KeyBackend>, dir: &std::path::Path, pool: RsaPoolConfig) -> KeyService {
    let key = keysmith_crypto::envelope::MasterKey::from_bytes(&*backend, &[7u8; 32]).unwrap();
    let sealer =
        Arc::new(keysmith_crypto::envelope::Envelope::new(backend.clone(), vec![key]).unwrap());
    let store = RedbStore::open(&dir.join("keysmith.redb"), sealer).unwrap();
    let config = ServiceConfig {
        rsa_pool: pool,
        ..ServiceConfig::default()
    };
    KeyService::new(backend, Arc::new(store), config)
}

fn stats_2048(service: &KeyService) -> RsaPoolStats {
    let stats = service.rsa_pool_stats();
    assert_eq!(stats.len(), 1, "only the 2048 size is pooled: {stats:?}");
    stats[0]
}

/// Waits until the 2048 size holds `ready` pairs; returns how long that took.
fn wait_ready(service: &KeyService, ready: u64) -> Duration {
    let started = Instant::now();
    while stats_2048(service).ready < ready {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the pool did not refill: {:?}",
            stats_2048(service)
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    started.elapsed()
}

fn generate(service: &KeyService, algorithm: &str, length: u32, name: &str) -> keysmith_model::Key {
    service
        .keys()
        .generate(
            None,
            &GenerateRequest {
                algorithm: Some(algorithm),
                name: Some(name),
                length: Some(length),
                ..GenerateRequest::default()
            },
        )
        .unwrap_or_else(|e| panic!("generate {algorithm}: {e}"))
}

/// The key's certificate, read by `other`, carries the key's public key and issuer, and a
/// signature the stored private key makes verifies under it (with `other`).
fn check_certified(service: &KeyService, other: &dyn KeyBackend, key: &keysmith_model::Key) {
    let certificate = keysmith_crypto::pem::decode(key.certificate.as_deref().unwrap()).unwrap();
    let fields = other.parse_certificate(&certificate.contents).unwrap();
    let public = keysmith_crypto::pem::decode(key.public_key.as_deref().unwrap()).unwrap();
    assert_eq!(fields.public_key.spki_der, *public.contents, "{}", key.name);
    assert_eq!(fields.public_key.length, key.length.unwrap());
    let (signature, algorithm) = service.tokens().sign(&key.id, Some("cG9vbGVk")).unwrap();
    let verifier = other
        .verifying_key(
            algorithm,
            VerifyingMaterial::PublicKey(&fields.public_key.spki_der),
        )
        .unwrap();
    let signature = keysmith_crypto::fingerprint::from_base64url(&signature).unwrap();
    assert!(verifier.verify(b"pooled", &signature), "{}", key.name);
}

fn pool_threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .filter(|name| name.trim() == "rsa-pool-refill")
        .count()
}

#[test]
fn pooled_rsa_pairs_are_used_once_certified_per_request_and_refilled() {
    let backends = common::backends();
    for (i, (name, backend)) in backends.iter().enumerate() {
        let other = &*backends[1 - i].1;
        let dir = tempfile::tempdir().unwrap();
        let pool = RsaPoolConfig {
            ready: [2, 0, 0],
            refill_per_second: 0,
        };
        let service = service(backend.clone(), dir.path(), pool);
        wait_ready(&service, 2);
        // The thread names itself once it runs; by the time it has made a pair it has.
        assert_eq!(pool_threads(), 1, "{name}");

        // Two keys from the two ready pairs, each certified with its own algorithm's hash.
        let rs = generate(&service, "RS256", 2048, "pooled RS256");
        let ps = generate(&service, "PS384", 2048, "pooled PS384");
        let after = stats_2048(&service);
        assert_eq!(
            (after.taken, after.missed, after.target),
            (2, 0, 2),
            "{name}"
        );
        assert_ne!(rs.public_key, ps.public_key, "{name}: a pair is used once");
        for key in [&rs, &ps] {
            check_certified(&service, other, key);
        }
        // A size with no pool is made on request and counted nowhere.
        let big = generate(&service, "RS256", 3072, "made on request");
        check_certified(&service, other, &big);
        assert_eq!(service.rsa_pool_stats().len(), 1, "{name}");

        // Asking faster than the pool refills: every key is new, each counted once.
        let burst: Vec<_> = (0..4)
            .map(|n| generate(&service, "RS512", 2048, &format!("burst {n}")))
            .collect();
        let counted = stats_2048(&service);
        assert_eq!(counted.taken + counted.missed, 6, "{name}: {counted:?}");
        let mut publics: Vec<_> = burst
            .iter()
            .chain([&rs, &ps])
            .map(|k| &k.public_key)
            .collect();
        publics.sort();
        publics.dedup();
        assert_eq!(publics.len(), 6, "{name}: no pair served twice");
        check_certified(&service, other, &burst[3]);
        wait_ready(&service, 2);

        drop(service);
        let started = Instant::now();
        while pool_threads() > 0 {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "{name}: the refill thread outlived its pool"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    // The refill pace: three pairs at two a second take at least a second (the first at once,
    // the next two half a second apart).
    let dir = tempfile::tempdir().unwrap();
    let paced = RsaPoolConfig {
        ready: [3, 0, 0],
        refill_per_second: 2,
    };
    let service = service(backends[0].1.clone(), dir.path(), paced);
    let filled = wait_ready(&service, 3);
    assert!(filled >= Duration::from_millis(950), "filled in {filled:?}");
    // The full pool shows in the service's Debug by its settings only, never its pairs.
    let printed = format!("{service:?}");
    assert!(
        printed.contains(
            "RsaPool { config: RsaPoolConfig { ready: [3, 0, 0], refill_per_second: 2 }, .. }"
        ),
        "{printed}"
    );
    assert!(
        !printed.contains("GeneratedKey") && !printed.contains("Pkcs8"),
        "{printed}"
    );
}
