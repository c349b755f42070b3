//! Token validation: `Tokens::validate` on a compact JWS, as `GET /api/jwt/validate` runs it
//! on the bearer token, with one service per backend over a store holding the fixture keys
//! (RSA PKCS#1 and PSS, a certificate, P-256/384/521, Ed25519, HMAC).
//!
//! Input: the token text (UTF-8). Seeds are tokens signed by the fixture keys, so mutations
//! reach header checks, key lookup, signature verification and the claims.
//!
//! Checked besides "no panic": both backends reach the same verdict (a token verified by one
//! is verified by the other, and gives the same claims).

#![no_main]

use std::sync::LazyLock;

use keysmith_core::{KeyService, TokenRejection};
use keysmith_fuzz::{backends, service_with_fixture_keys};
use libfuzzer_sys::fuzz_target;

static SERVICES: LazyLock<[KeyService; 2]> =
    LazyLock::new(|| backends().map(|(_, backend)| service_with_fixture_keys(backend)));

/// The verdict with time taken out: `exp` and `nbf` are checked against the clock, which may
/// tick between the two calls, so a verified token's time checks count as verified.
fn verdict(
    result: Result<serde_json::Map<String, serde_json::Value>, TokenRejection>,
) -> Result<Option<serde_json::Map<String, serde_json::Value>>, TokenRejection> {
    match result {
        Ok(claims) => Ok(Some(claims)),
        Err(TokenRejection::Expired | TokenRejection::NotYetValid) => Ok(None),
        Err(other) => Err(other),
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(token) = std::str::from_utf8(data) else {
        return;
    };
    let [aws_lc, openssl] = &*SERVICES;
    let a = verdict(aws_lc.tokens().validate(token));
    let o = verdict(openssl.tokens().validate(token));
    match (&a, &o) {
        (Ok(Some(_)), Ok(None)) | (Ok(None), Ok(Some(_))) => {} // the clock ticked
        _ => assert_eq!(a, o, "the backends disagree on a token"),
    }
});
