//! The vendors' official clients from PyPI against the real binary: FusionAuth's Python client
//! with PyJWT, and Auth0's Python SDK. `.ci/run` installs them in a virtual environment and sets
//! `KS_FUSIONAUTH_PYTHON` to its interpreter; without it each test says it was skipped (and
//! fails under CI).

use test_case::test_case;

use crate::support::{self, API_KEY, Server};

/// Runs `script` (in `tests/python/`) against `base_url` with the test API key; asserts that it
/// succeeds and prints `done`.
fn run_check(python: &std::ffi::OsStr, script: &str, base_url: &str, backend: &str, done: &str) {
    run_check_with(python, script, &[base_url, API_KEY], backend, done);
}

/// [`run_check`] with the script's arguments given.
fn run_check_with(
    python: &std::ffi::OsStr,
    script: &str,
    args: &[&str],
    backend: &str,
    done: &str,
) {
    let path = format!("{}/../../tests/python/{script}", env!("CARGO_MANIFEST_DIR"));
    support::run_check_script(
        python,
        std::path::Path::new(&path),
        args,
        &[],
        None,
        &format!("{script} on {backend}"),
        done,
    );
}

/// Auth0's official Python SDK (`auth0-python` 5.x): connections, connection keys (create, get,
/// rotate) and tenant signing keys (list, get, rotate, revoke), with fingerprints and PKCS#7
/// checked by `cryptography`.
#[test_case("aws-lc" ; "aws_lc")]
#[test_case("openssl" ; "openssl")]
fn auth0_python_sdk_works(backend: &str) {
    let Some(python) = support::tool("KS_FUSIONAUTH_PYTHON", "the auth0-python check") else {
        return;
    };
    let server = Server::start(backend);
    let url = format!("http://{}/api/v2", server.addr);
    run_check(
        &python,
        "auth0_client_check.py",
        &url,
        backend,
        "all auth0-python checks passed",
    );
}

/// FusionAuth's official Python client (`fusionauth-client`), and PyJWT validating vended
/// tokens of every algorithm through the JWKS, and ring keys' tokens through the scoped JWKS.
#[test_case("aws-lc" ; "aws_lc")]
#[test_case("openssl" ; "openssl")]
fn fusionauth_python_client_works(backend: &str) {
    let Some(python) = support::tool("KS_FUSIONAUTH_PYTHON", "the fusionauth-client check") else {
        return;
    };
    for (script, done) in [
        (
            "fusionauth_client_check.py",
            "fusionauth-client: all checks passed",
        ),
        ("jose_check.py", "jose: all checks passed"),
        ("scoped_jwks_check.py", "scoped jwks: all checks passed"),
    ] {
        let server = Server::start(backend);
        let url = format!("http://{}", server.addr);
        run_check(&python, script, &url, backend, done);
    }
}

/// ML-DSA keys checked by pyca/cryptography through FusionAuth's client: certificates, the JWKS
/// (`kty` AKP), vended tokens verified from the JWKS key alone, and cryptography's own keys and
/// tokens imported and validated by Keysmith. The binary's OpenSSL backend runs on the system's
/// OpenSSL 3.0, which has no ML-DSA: there, ML-DSA must be refused with a clear 400 while every
/// other key is served (the vendored OpenSSL 3.5's ML-DSA is covered by the conformance run).
#[test_case("aws-lc", "yes" ; "aws_lc")]
#[test_case("openssl", "no" ; "openssl")]
fn ml_dsa_keys_work_with_an_independent_implementation(backend: &str, has_ml_dsa: &str) {
    let Some(python) = support::tool("KS_FUSIONAUTH_PYTHON", "the ML-DSA check") else {
        return;
    };
    let server = Server::start(backend);
    let url = format!("http://{}", server.addr);
    run_check_with(
        &python,
        "ml_dsa_check.py",
        &[&url, API_KEY, has_ml_dsa],
        backend,
        "ml-dsa: all checks passed",
    );
}
