//! The token service in-process, against the raw signature it wraps: `vend/*` is
//! `Tokens::vend` (claims, header, base64url, cached key, signature), `sign/*` the raw
//! signature of a message of the same size. Their difference is the service's overhead per
//! token.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use keysmith_benches::backends;
use keysmith_core::{GenerateRequest, KeyService, ServiceConfig};
use keysmith_store::{KeyStore, RedbStore};

fn vend(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    for (n, backend) in backends().into_iter().enumerate() {
        let backend: Arc<dyn keysmith_crypto::KeyBackend> = Arc::from(backend);
        let master = keysmith_crypto::envelope::MasterKey::generate(&*backend)
            .unwrap()
            .0;
        let sealer = Arc::new(
            keysmith_crypto::envelope::Envelope::new(backend.clone(), vec![master]).unwrap(),
        );
        let store: Arc<dyn KeyStore> =
            Arc::new(RedbStore::open(&dir.path().join(format!("{n}.redb")), sealer).unwrap());
        let service = KeyService::new(backend.clone(), store, ServiceConfig::default());
        for algorithm in ["ES256", "Ed25519", "HS256", "RS256"] {
            let length = (algorithm == "RS256").then_some(2048);
            let key = service
                .keys()
                .generate(
                    None,
                    &GenerateRequest {
                        algorithm: Some(algorithm),
                        name: Some(&format!("{algorithm} {n}")),
                        length,
                        issuer: None,
                    },
                )
                .unwrap();
            let id = key.id.to_string();
            let claims = serde_json::json!({"sub": "bench", "aud": "api"});
            service
                .tokens()
                .vend(Some(&id), Some(&claims), Some(300))
                .unwrap(); // load and cache the key
            let mut group = c.benchmark_group(format!("vend/{algorithm}"));
            group
                .warm_up_time(Duration::from_millis(500))
                .measurement_time(Duration::from_secs(2));
            group.bench_function(keysmith_benches::label(&*backend), |b| {
                b.iter(|| {
                    black_box(
                        service
                            .tokens()
                            .vend(Some(&id), Some(&claims), Some(300))
                            .unwrap(),
                    )
                })
            });
            group.finish();
        }
    }
}

criterion_group!(benches, vend);
criterion_main!(benches);
