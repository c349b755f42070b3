//! Key generation, full key creation, signing and verifying, on every backend side by side.
//!
//! One criterion group per algorithm, one function per backend, so reports compare backends.

// Benchmark setup: a failure should stop the run loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use keysmith_benches::backends;
use keysmith_crypto::certificate::{self, DEFAULT_VALIDITY_YEARS};
use keysmith_crypto::pem::LineEnding;
use keysmith_crypto::{KeyBackend, VerifyingMaterial, pkcs7};
use keysmith_model::{Algorithm, KeyId, KeyType, PrivateMaterial};

const NOW: i64 = 1_767_225_600;

/// (label, algorithm, RSA length)
const GENERATE: [(&str, Algorithm, Option<u32>); 13] = [
    ("RSA-2048", Algorithm::RS256, Some(2048)),
    ("RSA-3072", Algorithm::RS256, Some(3072)),
    ("RSA-4096", Algorithm::RS256, Some(4096)),
    ("P-256", Algorithm::ES256, None),
    ("P-384", Algorithm::ES384, None),
    ("P-521", Algorithm::ES512, None),
    ("Ed25519", Algorithm::Ed25519, None),
    ("HS256", Algorithm::HS256, None),
    ("HS384", Algorithm::HS384, None),
    ("HS512", Algorithm::HS512, None),
    ("ML-DSA-44", Algorithm::MlDsa44, None),
    ("ML-DSA-65", Algorithm::MlDsa65, None),
    ("ML-DSA-87", Algorithm::MlDsa87, None),
];

fn configure_group<'a>(
    c: &'a mut Criterion,
    name: String,
    slow: bool,
) -> criterion::BenchmarkGroup<'a, criterion::measurement::WallTime> {
    let mut group = c.benchmark_group(name);
    if slow {
        // RSA generation takes 30 ms to 1 s and varies several-fold from key to key (a random
        // prime search): 30 samples of one or a few keys each, so the median is over 30+ keys.
        group
            .sample_size(30)
            .sampling_mode(criterion::SamplingMode::Flat)
            .warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_secs(10));
    } else {
        group
            .warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_secs(2));
    }
    group
}

fn generate(c: &mut Criterion) {
    let backends = backends();
    for (label, algorithm, length) in GENERATE {
        let mut group = configure_group(
            c,
            format!("generate/{label}"),
            algorithm.key_type() == KeyType::Rsa,
        );
        // A backend without the algorithm (ML-DSA on OpenSSL 3.0) has no row.
        for backend in backends.iter().filter(|b| b.supports(algorithm)) {
            group.bench_function(keysmith_benches::label(&**backend), |b| {
                b.iter(|| black_box(backend.generate(algorithm, length).unwrap()))
            });
        }
        group.finish();
    }
}

/// What `POST /api/key/generate` needs from the crypto layer: key, certificate, certificate
/// information and the PKCS#7.
fn create_full(backend: &dyn KeyBackend, algorithm: Algorithm, length: Option<u32>) -> String {
    let id = KeyId::random();
    let params = certificate::fusionauth_params(&id, "bench.example", NOW, DEFAULT_VALIDITY_YEARS);
    let (_key, fields, info) =
        certificate::create_with_certificate(backend, algorithm, length, &params).unwrap();
    black_box(info);
    pkcs7::certs_only_pem(&[&fields.der], LineEnding::Lf)
}

fn create(c: &mut Criterion) {
    let backends = backends();
    for (label, algorithm, length) in [
        ("RSA-2048", Algorithm::RS256, Some(2048)),
        ("P-256", Algorithm::ES256, None),
        ("P-384", Algorithm::ES384, None),
        ("P-521", Algorithm::ES512, None),
        ("Ed25519", Algorithm::Ed25519, None),
        ("ML-DSA-44", Algorithm::MlDsa44, None),
        ("ML-DSA-65", Algorithm::MlDsa65, None),
        ("ML-DSA-87", Algorithm::MlDsa87, None),
    ] {
        let mut group = configure_group(
            c,
            format!("create/{label}"),
            algorithm.key_type() == KeyType::Rsa,
        );
        for backend in backends.iter().filter(|b| b.supports(algorithm)) {
            group.bench_function(keysmith_benches::label(&**backend), |b| {
                b.iter(|| create_full(&**backend, algorithm, length))
            });
        }
        group.finish();
    }
}

fn sign_and_verify(c: &mut Criterion) {
    let backends = backends();
    let message = [0x5a_u8; 256];
    for algorithm in [
        Algorithm::RS256,
        Algorithm::PS256,
        Algorithm::ES256,
        Algorithm::ES384,
        Algorithm::Ed25519,
        Algorithm::HS256,
        Algorithm::MlDsa44,
        Algorithm::MlDsa65,
        Algorithm::MlDsa87,
    ] {
        let mut sign = configure_group(c, format!("sign/{algorithm}"), false);
        for backend in backends.iter().filter(|b| b.supports(algorithm)) {
            let key = backend
                .generate(
                    algorithm,
                    algorithm.key_type().eq(&KeyType::Rsa).then_some(2048),
                )
                .unwrap();
            let signer = backend.signing_key(algorithm, &key.private).unwrap();
            sign.bench_function(keysmith_benches::label(&**backend), |b| {
                b.iter(|| black_box(signer.sign(&message).unwrap()))
            });
        }
        sign.finish();
        let mut verify = configure_group(c, format!("verify/{algorithm}"), false);
        for backend in backends.iter().filter(|b| b.supports(algorithm)) {
            let key = backend
                .generate(
                    algorithm,
                    algorithm.key_type().eq(&KeyType::Rsa).then_some(2048),
                )
                .unwrap();
            let signature = backend
                .signing_key(algorithm, &key.private)
                .unwrap()
                .sign(&message)
                .unwrap();
            let material = match (&key.public, &key.private) {
                (Some(public), _) => VerifyingMaterial::PublicKey(&public.spki_der),
                (None, PrivateMaterial::HmacSecret(secret)) => {
                    VerifyingMaterial::HmacSecret(secret.expose())
                }
                (None, PrivateMaterial::Pkcs8(_)) => unreachable!(),
            };
            let verifier = backend.verifying_key(algorithm, material).unwrap();
            verify.bench_function(keysmith_benches::label(&**backend), |b| {
                b.iter(|| assert!(verifier.verify(&message, black_box(&signature))))
            });
        }
        verify.finish();
    }
}

criterion_group!(benches, generate, create, sign_and_verify);
criterion_main!(benches);
