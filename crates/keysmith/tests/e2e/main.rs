//! End-to-end: the real `keysmith` binary on a free port, over HTTP. This tier keeps what needs
//! the binary (TLS, the command line, signals and restarts, kill -9, a failing disk, the official
//! clients, the browser); the rules themselves are tested in process in `keysmith-core` and
//! `keysmith-api`. Crypto through the binary runs on both backends (`#[test_case]` per backend);
//! behaviour that is not the backend's runs on one, named at the test.

// Test code: a failed step must fail the test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod admin;
mod audit;
mod auth0;
mod backup;
mod cli;
mod clients;
mod cluster;
mod crash;
mod deletion;
mod disk;
mod keys;
mod limits;
mod metrics;
mod node_clients;
mod openapi;
mod permissions;
mod postgres;
mod rsa_pool;
mod sealing;
mod startup;
mod support;
mod tls;
mod tokens;
mod webhooks;

use serde_json::{Value, json};
use support::Server;

/// FusionAuth's documented import example (bare base64 DER certificate).
pub(crate) const FA_CERT: &str = "MIICrjCCAZagAwIBAQIQeA4dW+47Q7KuyNuZuZrcTjANBgkqhkiG9w0BAQsFADATMREwDwYDVQQDEwhhY21lLmNvbTAeFw0xOTA3MDMyMTI0MzJaFw0yOTA3MDMyMTI0MzJaMBMxETAPBgNVBAMTCGFjbWUuY29tMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAnbNGwtU33S4vbipGeIwe/DhLEfc5FaEOHK4WeQ3QF8zZGyI09bNQdkp8uNTFfVehIgmvYHmJWPeaNrYK//qjWAsSvYYoytj1j4BywI8uLSjt8QvzaoFUMOi1cBbXM2586R7yTRm7jMk91MLM101zkrf1cmFdRUwTpeJjw66XG3JlTGZCmZsJG7m6+nbe5LHt4CiufmJHujGeFzgwby3jXZtuK1y3ua3380Fv95JyG3TucnMwEw5EYQ8Q+dZzNC8OSaKrgmnN0gWdsJ7P7vu6lMy6sXKhvcxo1p+tXywYPFJahxA+rZDG16RLbUppCx10q8tIcFKeAyl4eywzBaBLxwIDAQABMA0GCSqGSIb3DQEBCwUAA4IBAQBbsHWIBDwW1hFEin0D5BK/rwpCIZ4jlJ9PON4q0rF/tl9+pSzTqMeEqU0NMlJ7Xm2O5U0i8Sy8Lhemo9qYCZ76qEiHFZwQBmNAC4de92KMcw4Q7q5CVjTGv3X+Avlg/c+I+zJLO/IJlzhOvHj+iCeBZDznt6/KlFfXA9EvlznxqZCQHSf2f94UlvBmqbVYOfXE5+OQ3URyNyh88g9yClSb4hzu1lmzevZ/AVbe2kTjZQQWB0TmqPg/6SS+nhsauAMK1kSlSK9t6CPz/L7olJeAi7G/PZPaYG1gIFVFaBnYM0rwagQGtPMi1uCERCKrkUlBh6gSyN7SGJBvWEh6+zZF";

/// `POST /api/key/generate` with `{"key": body}`; asserts 200 and returns the key.
pub(crate) fn generate(server: &Server, body: Value) -> Value {
    let response = server.call("POST", "/api/key/generate", Some(json!({ "key": body })));
    assert_eq!(response.status, 200, "{}", response.text());
    response.json()["key"].clone()
}

/// Asserts that `text` (a response body) carries no private key, secret or `privateKey` field.
pub(crate) fn assert_no_private_material(text: &str) {
    assert!(
        !text.contains("PRIVATE KEY"),
        "a response carries a private key"
    );
    assert!(!text.contains("\"secret\""), "a response carries a secret");
    assert!(
        !text.contains("privateKey"),
        "a response carries privateKey"
    );
}
