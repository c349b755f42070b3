//! The vendors' official clients from PyPI against the real binary: FusionAuth's Python client
//! with PyJWT, and Auth0's Python SDK. `.ci/run` installs them in a virtual environment and sets
//! `KS_FUSIONAUTH_PYTHON` to its interpreter; without it each test says it was skipped (and
//! fails under CI).

use test_case::test_case;

use crate::support::{self, API_KEY, Server};

/// Runs `script` (in `tests/python/`) against `base_url` with the test API key; asserts that it
/// succeeds and prints `done`.
fn run_check(python: &std::ffi::OsStr, script: &str, base_url: &str, backend: &str, done: &str) {
    let path = format!("{}/../../tests/python/{script}", env!("CARGO_MANIFEST_DIR"));
    let output = std::process::Command::new(python)
        .args([&path, base_url, API_KEY])
        .output()
        .expect("run python");
    let stdout = String::from_utf8_lossy(&output.stdout);
    println!("{script} on {backend}:\n{stdout}");
    assert!(
        output.status.success(),
        "{script} failed on {backend}:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains(done), "{script} did not finish:\n{stdout}");
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
