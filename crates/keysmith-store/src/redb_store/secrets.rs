//! How a key's private half is stored: a tag byte, then its bytes; sealed (tag 3) by the
//! store's `SecretSealer`, bound to the key's id. Tags 1 and 2 are the plaintext forms older
//! schemas wrote, upgraded at open.

use super::*;

pub(super) fn plaintext_secret(private: &PrivateMaterial) -> SecretBytes {
    let (tag, bytes) = match private {
        PrivateMaterial::Pkcs8(b) => (SECRET_PKCS8, b.expose()),
        PrivateMaterial::HmacSecret(b) => (SECRET_HMAC, b.expose()),
    };
    let mut out = Vec::with_capacity(bytes.len() + 1);
    out.push(tag);
    out.extend_from_slice(bytes);
    SecretBytes::new(out)
}

pub(super) fn seal_error(err: SealError) -> StoreError {
    StoreError::Sealing(err)
}

/// The stored form of a private half: sealed, never plaintext.
pub(super) fn encode_secret(
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

pub(super) fn decode_plaintext(bytes: &[u8]) -> Result<PrivateMaterial, StoreError> {
    match bytes.split_first() {
        Some((&SECRET_PKCS8, rest)) => Ok(PrivateMaterial::Pkcs8(SecretBytes::new(rest.to_vec()))),
        Some((&SECRET_HMAC, rest)) => {
            Ok(PrivateMaterial::HmacSecret(SecretBytes::new(rest.to_vec())))
        }
        _ => Err(StoreError::Corrupt("secret record".into())),
    }
}

pub(super) fn decode_secret(
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

/// Seals every plaintext secret in every sealed table (the 2 → 3 upgrade). Returns how many.
pub(super) fn seal_plaintext_secrets(
    txn: &WriteTransaction,
    sealer: &dyn SecretSealer,
) -> Result<usize, StoreError> {
    let mut total = 0;
    for table in SEALED_TABLES {
        let mut secrets = txn.open_table(*table)?;
        let mut sealed = Vec::new();
        for entry in secrets.iter()? {
            let (id, bytes) = entry?;
            if matches!(bytes.value().first(), Some(&SECRET_PKCS8 | &SECRET_HMAC)) {
                let record = KeyId(Uuid::from_u128(id.value()));
                let private = decode_plaintext(bytes.value())?;
                sealed.push((id.value(), encode_secret(sealer, &record, &private)?));
            }
        }
        for (id, value) in &sealed {
            secrets.insert(*id, value.as_slice())?;
        }
        total += sealed.len();
    }
    Ok(total)
}
