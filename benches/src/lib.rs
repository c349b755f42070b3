//! Keysmith's benchmarks: criterion benches of the crypto backends side by side.
//!
//! Run them with `cargo bench -p keysmith-benches`; `docs/benchmarks.md` holds the results and
//! the machine they came from.

use keysmith_crypto::KeyBackend;
use keysmith_crypto_aws_lc::AwsLcBackend;
use keysmith_crypto_openssl::OpenSslBackend;

/// Every backend, in the order benchmark tables list them.
pub fn backends() -> Vec<Box<dyn KeyBackend>> {
    vec![
        Box::new(AwsLcBackend::new()),
        Box::new(OpenSslBackend::new()),
    ]
}
