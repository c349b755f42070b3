//! Keysmith's benchmarks: criterion benches of the crypto backends side by side.
//!
//! Run them with `cargo bench -p keysmith-benches`; `docs/benchmarks.md` holds the results and
//! the machine they came from.

use keysmith_crypto::KeyBackend;
use keysmith_crypto_aws_lc::AwsLcBackend;
use keysmith_crypto_openssl::OpenSslBackend;

/// The name a backend's figures are reported under: the OpenSSL backend built with the
/// `openssl-vendored` feature is `openssl-vendored`, so one run can put the system's OpenSSL,
/// the vendored one and aws-lc side by side (`benches/crypto-side-by-side.sh`).
pub fn label(backend: &dyn KeyBackend) -> &'static str {
    match backend.name() {
        "openssl" if cfg!(feature = "openssl-vendored") => "openssl-vendored",
        name => name,
    }
}

/// Every backend, in the order benchmark tables list them.
pub fn backends() -> Vec<Box<dyn KeyBackend>> {
    vec![
        Box::new(AwsLcBackend::new()),
        Box::new(OpenSslBackend::new()),
    ]
}
