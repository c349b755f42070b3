//! AES-256-GCM and envelope sealing, the same checks on every backend.

use std::sync::Arc;

use keysmith_crypto::KeyBackend;
use keysmith_crypto::envelope::{Envelope, MasterKey};
use keysmith_model::{KeyId, SealError, SecretSealer};

fn hex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

/// Test Case 16 of the GCM specification (McGrew and Viega): AES-256, 96-bit IV, AAD.
/// The expected output was also reproduced with Python's `cryptography` (OpenSSL-based).
pub fn aes_gcm_known_answer(backend: &dyn KeyBackend) {
    let key: [u8; 32] = hex("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308")
        .try_into()
        .unwrap();
    let nonce: [u8; 12] = hex("cafebabefacedbaddecaf888").try_into().unwrap();
    let plaintext = hex(
        "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
    );
    let aad = hex("feedfacedeadbeeffeedfacedeadbeefabaddad2");
    let expected = hex(
        "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f66276fc6ece0f4e1768cddf8853bb2d551b",
    );
    let sealed = backend
        .aes256_gcm_seal(&key, &nonce, &aad, &plaintext)
        .unwrap();
    assert_eq!(sealed, expected);
    let opened = backend
        .aes256_gcm_open(&key, &nonce, &aad, &sealed)
        .unwrap();
    assert_eq!(&*opened, &plaintext);
    let mut wrong_aad = aad.clone();
    wrong_aad[0] ^= 1;
    assert!(
        backend
            .aes256_gcm_open(&key, &nonce, &wrong_aad, &sealed)
            .is_err()
    );
    assert!(
        backend
            .aes256_gcm_open(&key, &nonce, &aad, &sealed[..15])
            .is_err()
    );
}

fn envelope(backend: &Arc<dyn KeyBackend>, keys: &[[u8; 32]]) -> Envelope {
    let keys = keys
        .iter()
        .map(|k| MasterKey::from_bytes(&**backend, k).unwrap())
        .collect();
    Envelope::new(backend.clone(), keys).unwrap()
}

/// Round trip, every single-byte change detected, records bound, master keys staged.
pub fn envelope_seals_and_detects_tampering(backend: Arc<dyn KeyBackend>) {
    let (old, new) = ([1u8; 32], [2u8; 32]);
    let sealer = envelope(&backend, &[old]);
    let record = KeyId::random();
    let secret = b"-----BEGIN PRIVATE KEY----- not really, but secret bytes";
    let sealed = sealer.seal(&record, secret).unwrap();
    assert_eq!(sealer.open(&record, &sealed).unwrap().expose(), secret);
    assert!(
        !sealed
            .windows(16)
            .any(|w| secret.windows(16).any(|s| s == w)),
        "no run of the plaintext shows in the sealed form"
    );
    // Fresh data key and nonces each time.
    assert_ne!(sealer.seal(&record, secret).unwrap(), sealed);

    for i in 0..sealed.len() {
        let mut changed = sealed.clone();
        changed[i] ^= 0x01;
        assert!(sealer.open(&record, &changed).is_err(), "byte {i} changed");
    }
    assert_eq!(
        sealer.open(&KeyId::random(), &sealed).err(),
        Some(SealError::Tampered),
        "moved to another record"
    );
    assert_eq!(
        sealer.open(&record, &sealed[..20]).err(),
        Some(SealError::Malformed)
    );

    // A wrong master key names the key it lacks, and says nothing else.
    let other = envelope(&backend, &[new]);
    assert!(matches!(
        other.open(&record, &sealed),
        Err(SealError::UnknownMasterKey(_))
    ));
    assert!(matches!(
        other.check(&record, &sealed),
        Err(SealError::UnknownMasterKey(_))
    ));

    // Staged rotation: new first, old after. Old secrets open; rewrap moves them to the new key,
    // after which the new key alone opens them, and a second rewrap has nothing to do.
    let staged = envelope(&backend, &[new, old]);
    assert_eq!(staged.open(&record, &sealed).unwrap().expose(), secret);
    let rewrapped = staged.rewrap(&record, &sealed).unwrap().unwrap();
    assert_eq!(rewrapped.len(), sealed.len());
    assert_eq!(other.open(&record, &rewrapped).unwrap().expose(), secret);
    assert_eq!(staged.rewrap(&record, &rewrapped).unwrap(), None);
    assert!(staged.rewrap(&KeyId::random(), &sealed).is_err());

    // Debug shows key ids, never key bytes.
    let shown = format!("{staged:?}");
    assert!(
        !shown.contains("[2, 2,") && !shown.contains("0202020202"),
        "{shown}"
    );
}

/// What one backend seals, the other opens.
pub fn sealing_interop(producer: Arc<dyn KeyBackend>, consumer: Arc<dyn KeyBackend>) {
    let master = [9u8; 32];
    let record = KeyId::random();
    let sealed = envelope(&producer, &[master])
        .seal(&record, b"interop secret")
        .unwrap();
    let opened = envelope(&consumer, &[master])
        .open(&record, &sealed)
        .unwrap();
    assert_eq!(opened.expose(), b"interop secret");
}
