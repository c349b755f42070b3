//! The envelope decoder: `Envelope::open`, `check` and `rewrap` (the `SecretSealer` the store
//! opens every stored secret with) on arbitrary sealed bytes, with fixed master keys, through
//! both backends; and sealing arbitrary plaintext.
//!
//! Input: the sealed bytes. Seeds are secrets sealed for the fixed record under the current
//! and an old master key, so mutations reach the header, the master key lookup and both
//! AES-256-GCM openings.
//!
//! Checked besides "no panic":
//! - `check` succeeds exactly when the data key unwraps: never for bytes `open` refuses as
//!   malformed or under an unknown key, always for bytes `open` opens;
//! - re-wrapping keeps the secret: what `rewrap` returns opens to what the input opened to;
//! - both backends give the same result;
//! - the input sealed as a plaintext by one backend opens with the other, and only for its
//!   record.

#![no_main]

use std::sync::LazyLock;

use keysmith_crypto::envelope::Envelope;
use keysmith_fuzz::{MASTER_KEY, OLD_MASTER_KEY, RECORD_ID, backends, envelope};
use keysmith_model::{KeyId, SealError, SecretSealer};
use libfuzzer_sys::fuzz_target;

/// Per backend: an envelope sealing with the current key that also opens the old one.
static ENVELOPES: LazyLock<[Envelope; 2]> = LazyLock::new(|| {
    backends().map(|(_, backend)| envelope(&backend, &[MASTER_KEY, OLD_MASTER_KEY]))
});

fn open(envelope: &Envelope, record: &KeyId, sealed: &[u8]) -> Result<Vec<u8>, SealError> {
    envelope.open(record, sealed).map(|s| s.expose().to_vec())
}

fuzz_target!(|data: &[u8]| {
    let [aws_lc, openssl] = &*ENVELOPES;
    let mut results = Vec::new();
    for envelope in [aws_lc, openssl] {
        let opened = open(envelope, &RECORD_ID, data);
        let checked = envelope.check(&RECORD_ID, data);
        match &opened {
            Ok(_) => assert_eq!(checked, Ok(()), "opened but did not check"),
            Err(SealError::Malformed | SealError::UnknownMasterKey(_)) => {
                assert_eq!(
                    checked.as_ref().err(),
                    opened.as_ref().err(),
                    "check and open differ"
                )
            }
            Err(_) => {}
        }
        if let Ok(Some(rewrapped)) = envelope.rewrap(&RECORD_ID, data) {
            assert_eq!(
                open(envelope, &RECORD_ID, &rewrapped),
                opened,
                "re-wrapping changed the secret"
            );
        }
        results.push((opened, checked));
    }
    assert_eq!(
        results[0], results[1],
        "the backends disagree on sealed bytes"
    );

    let sealed = aws_lc.seal(&RECORD_ID, data).expect("sealing");
    assert_eq!(
        open(openssl, &RECORD_ID, &sealed).as_deref(),
        Ok(data),
        "seal/open round trip"
    );
    let other = KeyId(uuid::Uuid::from_u128(RECORD_ID.0.as_u128() ^ 1));
    assert_eq!(
        open(openssl, &other, &sealed),
        Err(SealError::Tampered),
        "opened for another record"
    );
});
