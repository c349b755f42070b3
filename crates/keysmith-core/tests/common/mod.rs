//! What the core's test files share.

use std::sync::Arc;

use keysmith_crypto::KeyBackend;

/// The crypto backends under test, by name.
pub(crate) fn backends() -> Vec<(&'static str, Arc<dyn KeyBackend>)> {
    vec![
        (
            "aws-lc",
            Arc::new(keysmith_crypto_aws_lc::AwsLcBackend::new()) as Arc<dyn KeyBackend>,
        ),
        (
            "openssl",
            Arc::new(keysmith_crypto_openssl::OpenSslBackend::new()),
        ),
    ]
}
