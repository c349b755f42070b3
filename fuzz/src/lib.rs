//! What Keysmith's fuzz targets share: both crypto backends, the envelope target's fixed master
//! keys and record id, and key services over temporary stores holding fixed keys.
//!
//! Setup failures panic with a message: they happen before the first input, so libFuzzer
//! cannot mistake them for findings.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use keysmith_core::{ImportRequest, KeyService, ServiceConfig};
use keysmith_crypto::KeyBackend;
use keysmith_crypto::envelope::{Envelope, MasterKey};
use keysmith_model::{AuditRecord, KeyId};
use keysmith_store::RedbStore;

/// Both backends, named: every target that reaches a backend runs each input through both.
pub fn backends() -> [(&'static str, Arc<dyn KeyBackend>); 2] {
    [
        (
            "aws-lc",
            Arc::new(keysmith_crypto_aws_lc::AwsLcBackend::new()),
        ),
        (
            "openssl",
            Arc::new(keysmith_crypto_openssl::OpenSslBackend::new()),
        ),
    ]
}

/// The master key that seals the envelope seeds (not a secret: it exists only for fuzzing).
pub const MASTER_KEY: [u8; 32] = [0x4b; 32];
/// A second master key: seeds sealed under it exercise re-wrapping.
pub const OLD_MASTER_KEY: [u8; 32] = [0x6f; 32];
/// The record every envelope seed is sealed for.
pub const RECORD_ID: KeyId = KeyId(uuid::Uuid::from_u128(
    0x6b65_7973_6d69_7468_0000_0000_0000_0001,
));

/// An envelope over `keys` (the first seals), on `backend`.
pub fn envelope(backend: &Arc<dyn KeyBackend>, keys: &[[u8; 32]]) -> Envelope {
    let keys = keys
        .iter()
        .map(|k| MasterKey::from_bytes(&**backend, k).expect("master key"))
        .collect();
    Envelope::new(backend.clone(), keys).expect("envelope")
}

/// The HMAC secret of the `fuzz-hs256` key (not a secret: it exists only for fuzzing).
pub const HMAC_SECRET: &str = "keysmith-fuzz-hmac-secret-0123456789abcdef";

/// A key the token target's services hold: its kid (also its name), algorithm, and the fixture
/// file with its public key or certificate (`None`: the HMAC key, whose secret is
/// [`HMAC_SECRET`]).
#[derive(Debug, Clone, Copy)]
pub struct FixtureKey {
    /// The kid and name.
    pub kid: &'static str,
    /// The algorithm, as the import request names it.
    pub algorithm: &'static str,
    /// The PEM file under `fixtures/keys/`.
    pub file: Option<&'static str>,
}

/// The keys, one per kind of verifier (public key, certificate, HMAC) and algorithm family.
/// `examples/write_seeds.rs` writes their files and tokens signed by their private halves.
pub const FIXTURE_KEYS: &[FixtureKey] = &[
    FixtureKey {
        kid: "fuzz-rs256",
        algorithm: "RS256",
        file: Some("rs256.pub.pem"),
    },
    FixtureKey {
        kid: "fuzz-ps384",
        algorithm: "PS384",
        file: Some("ps384.pub.pem"),
    },
    FixtureKey {
        kid: "fuzz-rs512-cert",
        algorithm: "RS512",
        file: Some("rs512.crt.pem"),
    },
    FixtureKey {
        kid: "fuzz-es256",
        algorithm: "ES256",
        file: Some("es256.pub.pem"),
    },
    FixtureKey {
        kid: "fuzz-es384",
        algorithm: "ES384",
        file: Some("es384.pub.pem"),
    },
    FixtureKey {
        kid: "fuzz-es512",
        algorithm: "ES512",
        file: Some("es512.pub.pem"),
    },
    FixtureKey {
        kid: "fuzz-eddsa",
        algorithm: "Ed25519",
        file: Some("eddsa.pub.pem"),
    },
    FixtureKey {
        kid: "fuzz-hs256",
        algorithm: "HS256",
        file: None,
    },
];

/// `fuzz/fixtures/keys`, where the fixture keys' PEM files are.
pub fn fixture_keys_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join("keys")
}

/// A key service on `backend` over a new store holding [`FIXTURE_KEYS`] and a few audit records.
///
/// The store's file is deleted as soon as it is open: the process keeps using it, and nothing
/// is left behind however the fuzzer ends.
pub fn service_with_fixture_keys(backend: Arc<dyn KeyBackend>) -> KeyService {
    let dir = tempfile::tempdir().expect("temporary directory");
    let sealer = Arc::new(envelope(&backend, &[MASTER_KEY]));
    let store = RedbStore::open(&dir.path().join("keysmith.redb"), sealer).expect("store");
    let service = KeyService::new(backend, Arc::new(store), ServiceConfig::default());
    drop(dir);
    for key in FIXTURE_KEYS {
        let material = key.file.map(|file| {
            let path = fixture_keys_dir().join(file);
            std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("{}: {e} (run examples/write_seeds.rs)", path.display()))
        });
        let is_certificate = key.file.is_some_and(|f| f.ends_with(".crt.pem"));
        let request = ImportRequest {
            algorithm: Some(key.algorithm),
            name: Some(key.kid),
            kid: Some(key.kid),
            certificate: material.as_deref().filter(|_| is_certificate),
            public_key: material.as_deref().filter(|_| !is_certificate),
            secret: key.file.is_none().then_some(HMAC_SECRET),
            ..Default::default()
        };
        service
            .keys()
            .import(None, &request)
            .unwrap_or_else(|e| panic!("importing {}: {e:?}", key.kid));
    }
    let record = |at: i64, action: &str, target: &str| AuditRecord {
        id: 0,
        at,
        actor: "api-key:fuzz".into(),
        action: action.into(),
        target: target.into(),
        result: "200".into(),
        request_id: None,
        uses: None,
    };
    service
        .store()
        .append_audit(&[
            record(1_700_000_000_000, "key.import", "fuzz-rs256"),
            record(1_700_000_001_000, "key.delete", "fuzz-es256"),
            record(1_700_000_002_000, "jwt.vend", "fuzz-hs256"),
        ])
        .expect("audit records");
    service
}

/// Splits `text` at NUL characters into at most `N` fields; an empty field is `None`.
pub fn nul_separated_fields<const N: usize>(text: &str) -> [Option<&str>; N] {
    let mut fields = [None; N];
    for (slot, part) in fields.iter_mut().zip(text.splitn(N, '\0')) {
        *slot = Some(part).filter(|p| !p.is_empty());
    }
    fields
}
