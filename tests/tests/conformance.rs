//! The conformance suite, once per backend (`aws_lc::...`, `openssl::...`), and interop.

use keysmith_crypto::KeyBackend;
use keysmith_crypto_aws_lc::AwsLcBackend;
use keysmith_crypto_openssl::OpenSslBackend;
use keysmith_tests::conformance as suite;
use keysmith_tests::sealing;

macro_rules! conformance_suite {
    ($module:ident, $backend:expr) => {
        mod $module {
            use super::*;

            fn backend() -> Box<dyn KeyBackend> {
                Box::new($backend)
            }

            #[test]
            fn every_algorithm_end_to_end() {
                suite::every_algorithm_end_to_end(&*backend());
            }

            #[test]
            fn structural_public_key_agrees() {
                suite::structural_public_key_agrees(&*backend());
            }

            #[test]
            fn rsa_lengths() {
                suite::rsa_lengths(&*backend());
            }

            #[test]
            fn imports_every_form() {
                suite::imports_every_form(&*backend());
            }

            #[test]
            fn rejects_bad_material() {
                suite::rejects_bad_material(&*backend());
            }

            #[test]
            fn fusionauth_documented_certificate() {
                suite::fusionauth_documented_certificate(&*backend());
            }

            #[test]
            fn openssl_cli_accepts_everything() {
                suite::openssl_cli_accepts_everything(&*backend());
            }

            #[test]
            fn oversized_keys_are_refused_before_parsing() {
                suite::oversized_keys_are_refused_before_parsing(&*backend());
            }

            #[test]
            fn hostile_input_never_panics() {
                suite::hostile_input_never_panics(&*backend());
            }

            #[test]
            fn no_key_material_in_debug_or_errors() {
                suite::no_key_material_in_debug_or_errors(&*backend());
            }

            #[test]
            fn ml_dsa_agrees_with_independent_implementations() {
                suite::ml_dsa_agrees_with_independent_implementations(&*backend());
            }

            #[test]
            fn algorithms_a_backend_lacks_are_refused_clearly() {
                suite::algorithms_a_backend_lacks_are_refused_clearly(&*backend());
            }

            #[test]
            fn aes_gcm_known_answer() {
                sealing::aes_gcm_known_answer(&*backend());
            }

            #[test]
            fn envelope_seals_and_detects_tampering() {
                sealing::envelope_seals_and_detects_tampering(std::sync::Arc::new($backend));
            }
        }
    };
}

conformance_suite!(aws_lc, AwsLcBackend::new());
conformance_suite!(openssl, OpenSslBackend::new());

#[test]
fn interop_aws_lc_to_openssl() {
    suite::interop(&AwsLcBackend::new(), &OpenSslBackend::new());
}

#[test]
fn interop_openssl_to_aws_lc() {
    suite::interop(&OpenSslBackend::new(), &AwsLcBackend::new());
}

#[test]
fn sealing_interop_both_ways() {
    sealing::sealing_interop(
        std::sync::Arc::new(AwsLcBackend::new()),
        std::sync::Arc::new(OpenSslBackend::new()),
    );
    sealing::sealing_interop(
        std::sync::Arc::new(OpenSslBackend::new()),
        std::sync::Arc::new(AwsLcBackend::new()),
    );
}

/// aws-lc always has ML-DSA; the OpenSSL backend has it exactly when it runs on OpenSSL 3.5 or
/// newer (the vendored build), so the conformance run on the vendored build covers it.
#[test]
fn ml_dsa_is_on_aws_lc_and_on_a_current_openssl() {
    for algorithm in keysmith_model::Algorithm::of_type(keysmith_model::KeyType::Akp) {
        assert!(AwsLcBackend::new().supports(algorithm));
        assert_eq!(
            OpenSslBackend::new().supports(algorithm),
            cfg!(feature = "openssl-vendored"),
            "{algorithm}"
        );
    }
}

/// The `fips` build runs aws-lc-rs on the FIPS-validated AWS-LC module, in FIPS mode; no
/// other build claims it.
#[test]
fn aws_lc_is_in_fips_mode_exactly_in_the_fips_build() {
    assert_eq!(AwsLcBackend::new().is_fips(), cfg!(feature = "fips"));
}

#[test]
fn backends_report_their_names() {
    assert_eq!(AwsLcBackend::new().name(), "aws-lc-rs");
    assert_eq!(OpenSslBackend::new().name(), "openssl");
    assert!(!OpenSslBackend::new().is_fips());
}

/// The OpenSSL backend names the library it runs on: the system's OpenSSL 3, or with the
/// `openssl-vendored` feature the vendored 3.5 LTS (what the startup line prints).
#[test]
fn the_openssl_backend_names_its_library() {
    let library = OpenSslBackend::new().library();
    let expected = if cfg!(feature = "openssl-vendored") {
        "OpenSSL 3.5."
    } else {
        "OpenSSL 3."
    };
    assert!(library.starts_with(expected), "{library}");
    let aws_lc = AwsLcBackend::new();
    assert_eq!(aws_lc.library(), aws_lc.name());
}
