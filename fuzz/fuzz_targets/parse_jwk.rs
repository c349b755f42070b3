//! JWK parsing: `keysmith_crypto::jwk::Jwk` read from JSON (serde), its key numbers
//! (`Jwk::components`, base64url), and the RFC 7638 thumbprint input built from them.
//!
//! Input: JSON text. Seeds are the JWKs Keysmith publishes for the fixture keys.
//!
//! Checked besides "no panic":
//! - a JWK that reads back as JSON reads back the same (serde round trip);
//! - a well-formed public key's JWK, rebuilt from its numbers, gives the same numbers;
//! - the thumbprint input is JSON with exactly the required members.

#![no_main]

use keysmith_crypto::jwk::{self, Jwk};
use keysmith_crypto::{PublicKeyComponents, PublicKeyInfo};
use keysmith_model::{Algorithm, KeyType, KeyUse};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(parsed) = serde_json::from_slice::<Jwk>(data) else {
        return;
    };
    let json = serde_json::to_string(&parsed).expect("a parsed JWK serializes");
    let again: Jwk = serde_json::from_str(&json).expect("a serialized JWK parses");
    assert_eq!(again, parsed, "JWK JSON round trip");

    let Some(components) = parsed.components() else {
        return;
    };
    let (key_type, curve, members) = match &components {
        PublicKeyComponents::Rsa { .. } => (KeyType::Rsa, None, &["e", "kty", "n"][..]),
        PublicKeyComponents::Ec { curve, .. } => {
            (KeyType::Ec, Some(*curve), &["crv", "kty", "x", "y"][..])
        }
        PublicKeyComponents::Okp { curve, .. } => {
            (KeyType::Okp, Some(*curve), &["crv", "kty", "x"][..])
        }
        PublicKeyComponents::Akp { .. } => (KeyType::Akp, None, &["alg", "kty", "pub"][..]),
    };
    // An AKP key's `alg` is part of the key (its parameter set); the others take any.
    let algorithm = match &components {
        PublicKeyComponents::Akp { algorithm, .. } => *algorithm,
        _ => Algorithm::ES256,
    };
    let info = PublicKeyInfo {
        key_type,
        length: 0,
        curve,
        spki_der: Vec::new(),
        components,
    };
    let rebuilt = Jwk::new(&info, "kid", algorithm, KeyUse::Signing);
    assert_eq!(
        rebuilt.components().as_ref(),
        Some(&info.components),
        "JWK numbers round trip"
    );

    let input = jwk::thumbprint_input(&info.components);
    let object: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(&input).expect("the thumbprint input is JSON");
    assert!(
        object
            .keys()
            .map(String::as_str)
            .eq(members.iter().copied()),
        "{input}"
    );
});
