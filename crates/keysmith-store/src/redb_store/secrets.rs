//! Sealing the plaintext secrets older schemas stored (the 2 → 3 upgrade).

use super::*;

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
