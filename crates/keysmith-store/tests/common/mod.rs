//! Helpers shared by the store's test files (each file uses some of them).
#![allow(dead_code, clippy::unwrap_used)]

use keysmith_model::Connection;
use keysmith_store::testing::postgres::TestPostgres;
use keysmith_store::{PgOptions, PgStore, RedbStore};

/// The sealer the tests store secrets with: the real envelope on aws-lc-rs, a fixed master key.
pub(crate) fn sealer() -> std::sync::Arc<dyn keysmith_model::SecretSealer> {
    let backend: std::sync::Arc<dyn keysmith_crypto::KeyBackend> =
        std::sync::Arc::new(keysmith_crypto_aws_lc::AwsLcBackend::new());
    let key = keysmith_crypto::envelope::MasterKey::from_bytes(&*backend, &[7u8; 32]).unwrap();
    std::sync::Arc::new(keysmith_crypto::envelope::Envelope::new(backend, vec![key]).unwrap())
}

/// A SAML connection with no options, created at instant 1.
pub(crate) fn connection(id: &str, name: &str) -> Connection {
    Connection {
        id: id.into(),
        name: name.into(),
        display_name: None,
        strategy: "samlp".into(),
        options: serde_json::Map::new(),
        metadata: serde_json::Map::new(),
        enabled_clients: Vec::new(),
        realms: Vec::new(),
        is_domain_connection: false,
        rotation_period_seconds: None,
        created_at: 1,
        updated_at: 1,
    }
}

/// A redb store in a temporary directory.
pub(crate) fn temp_store() -> (tempfile::TempDir, RedbStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(&dir.path().join("keysmith.redb"), sealer()).unwrap();
    (dir, store)
}

/// A PostgreSQL server with an empty Keysmith database, and a store on it (`None`: skipped).
pub(crate) fn pg_store(what: &str) -> Option<(TestPostgres, PgStore)> {
    let server = TestPostgres::start_or_skip(what)?;
    server.create_database("keysmith").unwrap();
    let store = PgStore::connect(&server.url("keysmith"), sealer(), &PgOptions::default()).unwrap();
    Some((server, store))
}

/// Runs each named contract (`fn(&dyn KeyStore)` in the including file) on both engines:
/// `on_redb::<name>` on a temporary data file and `on_postgres::<name>` on a real PostgreSQL
/// server the test starts (`SKIPPED` without one, a failure under CI).
#[allow(unused_macros)]
macro_rules! on_both_engines {
    ($($contract:ident),* $(,)?) => {
        mod on_redb {
            $(#[test]
            fn $contract() {
                let (_dir, store) = super::common::temp_store();
                super::$contract(&store);
            })*
        }
        mod on_postgres {
            $(#[test]
            fn $contract() {
                if let Some((_server, store)) = super::common::pg_store(stringify!($contract)) {
                    super::$contract(&store);
                }
            })*
        }
    };
}
