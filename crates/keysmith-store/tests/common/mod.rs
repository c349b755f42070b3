//! Helpers shared by the store's test files (each file uses some of them).
#![allow(dead_code, clippy::unwrap_used)]

use keysmith_model::Connection;

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
