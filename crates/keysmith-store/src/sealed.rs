//! How a key's private half is stored, by both engines: a tag byte, then its bytes; sealed
//! (tag 3) by the store's `SecretSealer`, bound to the key's id. Tags 1 and 2 are the plaintext
//! forms older redb schemas wrote, upgraded at open.

use keysmith_model::{KeyId, PrivateMaterial, SealError, SecretBytes, SecretSealer};

use crate::StoreError;

// Tags 1 and 2 are the plaintext forms (written by schema 1 and 2, upgraded at open); tag 3 is a
// sealed tag-1 or tag-2 value.
pub(crate) const SECRET_PKCS8: u8 = 1;

pub(crate) const SECRET_HMAC: u8 = 2;

pub(crate) const SECRET_SEALED: u8 = 3;

pub(crate) fn plaintext_secret(private: &PrivateMaterial) -> SecretBytes {
    let (tag, bytes) = match private {
        PrivateMaterial::Pkcs8(b) => (SECRET_PKCS8, b.expose()),
        PrivateMaterial::HmacSecret(b) => (SECRET_HMAC, b.expose()),
    };
    let mut out = Vec::with_capacity(bytes.len() + 1);
    out.push(tag);
    out.extend_from_slice(bytes);
    SecretBytes::new(out)
}

pub(crate) fn seal_error(err: SealError) -> StoreError {
    StoreError::Sealing(err)
}

/// The stored form of a private half: sealed, never plaintext.
pub(crate) fn encode_secret(
    sealer: &dyn SecretSealer,
    id: &KeyId,
    private: &PrivateMaterial,
) -> Result<Vec<u8>, StoreError> {
    let sealed = sealer
        .seal(id, plaintext_secret(private).expose())
        .map_err(seal_error)?;
    let mut out = Vec::with_capacity(sealed.len() + 1);
    out.push(SECRET_SEALED);
    out.extend_from_slice(&sealed);
    Ok(out)
}

pub(crate) fn decode_plaintext(bytes: &[u8]) -> Result<PrivateMaterial, StoreError> {
    match bytes.split_first() {
        Some((&SECRET_PKCS8, rest)) => Ok(PrivateMaterial::Pkcs8(SecretBytes::new(rest.to_vec()))),
        Some((&SECRET_HMAC, rest)) => {
            Ok(PrivateMaterial::HmacSecret(SecretBytes::new(rest.to_vec())))
        }
        _ => Err(StoreError::Corrupt("secret record".into())),
    }
}

pub(crate) fn decode_secret(
    sealer: &dyn SecretSealer,
    id: &KeyId,
    bytes: &[u8],
) -> Result<PrivateMaterial, StoreError> {
    match bytes.split_first() {
        Some((&SECRET_SEALED, sealed)) => {
            let plaintext = sealer.open(id, sealed).map_err(seal_error)?;
            decode_plaintext(plaintext.expose())
        }
        _ => decode_plaintext(bytes),
    }
}

/// A stored secret re-wrapped under the sealing master key, or `None` when it already is (or
/// is not sealed). The secret itself is not re-encrypted: only its data key is.
pub(crate) fn rewrap_secret(
    sealer: &dyn SecretSealer,
    id: &KeyId,
    stored: &[u8],
) -> Result<Option<Vec<u8>>, StoreError> {
    let Some((&SECRET_SEALED, sealed)) = stored.split_first() else {
        return Ok(None);
    };
    Ok(sealer
        .rewrap(id, sealed)
        .map_err(seal_error)?
        .map(|rewrapped| {
            let mut value = Vec::with_capacity(rewrapped.len() + 1);
            value.push(SECRET_SEALED);
            value.extend_from_slice(&rewrapped);
            value
        }))
}
