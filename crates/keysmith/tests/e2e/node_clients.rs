//! The vendors' official clients from npm against the real binary: FusionAuth's TypeScript client
//! (`@fusionauth/typescript-client`) with `jose` checking its tokens, and Auth0's Node SDK
//! (`auth0`), the Node siblings of the Python checks in `clients.rs`. `.ci/run` installs them in
//! `tests/node` (`npm ci`) and sets `KS_NODE_DIR` to that directory; without it each test says it
//! was skipped (and fails under CI).

use test_case::test_case;

use crate::support::{self, API_KEY, Options, Server};

/// Runs `node <dir>/<script> <base_url> <API_KEY>` in `dir` with `env` added; asserts that it
/// succeeds and prints `done`.
fn run_check(
    dir: &std::ffi::OsStr,
    script: &str,
    base_url: &str,
    env: &[(&str, &str)],
    backend: &str,
    done: &str,
) {
    let dir = std::path::Path::new(dir);
    support::run_check_script(
        "node".as_ref(),
        &dir.join(script),
        &[base_url, API_KEY],
        env,
        Some(dir),
        &format!("{script} on {backend}"),
        done,
    );
}

/// FusionAuth's official Node client: generate (RS256, ES256, Ed25519, HS256), import (node:crypto's
/// keys and the documented certificate), retrieve, list, search with paging and totals, rename,
/// delete, the JWKS and public keys, vend and validate, and its thrown `ClientResponse` errors;
/// certificates checked with node:crypto, tokens verified by `jose` through the JWKS.
#[test_case("aws-lc" ; "aws_lc")]
#[test_case("openssl" ; "openssl")]
fn fusionauth_node_client_works(backend: &str) {
    let Some(dir) = support::tool("KS_NODE_DIR", "the Node clients check") else {
        return;
    };
    let server = Server::start(backend);
    let url = format!("http://{}", server.addr);
    run_check(
        &dir,
        "fusionauth_client_check.mjs",
        &url,
        &[],
        backend,
        "fusionauth typescript client: all checks passed",
    );
}

/// Auth0's official Node SDK (`auth0`'s `ManagementClient`): connections, connection keys (create,
/// get, rotate) and tenant signing keys (list, get, rotate, revoke), with fingerprints and PKCS#7
/// checked by node:crypto. The SDK only speaks https (`https://{domain}/api/v2`), so the server
/// runs with TLS and Node trusts its certificate through `NODE_EXTRA_CA_CERTS`.
#[test_case("aws-lc" ; "aws_lc")]
#[test_case("openssl" ; "openssl")]
fn auth0_node_sdk_works(backend: &str) {
    let Some(dir) = support::tool("KS_NODE_DIR", "the Node clients check") else {
        return;
    };
    let temp = tempfile::tempdir().unwrap();
    let (cert, key) = support::openssl_certificate(temp.path(), 1);
    let options = Options {
        api_key: Some(API_KEY.into()),
        env: vec![
            ("KEYSMITH_TLS_CERTIFICATE".into(), cert.clone()),
            ("KEYSMITH_TLS_PRIVATE_KEY".into(), key),
        ],
        ..Default::default()
    };
    let server = Server::start_in(&temp.path().join("data"), backend, options);
    let url = format!("https://{}/api/v2", server.addr);
    run_check(
        &dir,
        "auth0_client_check.mjs",
        &url,
        &[("NODE_EXTRA_CA_CERTS", cert.as_str())],
        backend,
        "all auth0 node sdk checks passed",
    );
}
