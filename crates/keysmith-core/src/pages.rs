//! Reading every stored key, or one issuer's, in bounded pieces: what the documents that list
//! keys (the key list, the JWKS, an issuer's JWKS) are written from.

use keysmith_model::{Key, KeyId};
use keysmith_store::KeyStore;

use crate::ServiceError;

/// How many keys one read of the store hands [`for_each_key`].
const KEYS_PER_READ: usize = 1024;

/// Calls `visit` with every stored key in insertion order, reading the store
/// [`KEYS_PER_READ`] keys at a time, until it answers `false`. Returns whether every key was
/// visited. Memory does not grow with the number of keys.
pub(crate) fn for_each_key(
    store: &dyn KeyStore,
    visit: &mut dyn FnMut(&Key) -> Result<bool, ServiceError>,
) -> Result<bool, ServiceError> {
    let mut after = None;
    loop {
        let page = store.keys_after(after, KEYS_PER_READ)?;
        for (_, key) in &page {
            if !visit(key)? {
                return Ok(false);
            }
        }
        match page.last() {
            Some((last, _)) if page.len() == KEYS_PER_READ => after = Some(*last),
            _ => return Ok(true),
        }
    }
}

/// Calls `visit` with every live key whose issuer is exactly `issuer`, in id order, reading the
/// store [`KEYS_PER_READ`] keys at a time through its issuer index, until it answers `false`.
/// Returns whether every such key was visited.
pub(crate) fn for_each_key_of_issuer(
    store: &dyn KeyStore,
    issuer: &str,
    visit: &mut dyn FnMut(&Key) -> Result<bool, ServiceError>,
) -> Result<bool, ServiceError> {
    let mut after: Option<KeyId> = None;
    loop {
        let page = store.keys_by_issuer(issuer, after, KEYS_PER_READ)?;
        for key in &page {
            if !visit(key)? {
                return Ok(false);
            }
        }
        match page.last() {
            Some(last) if page.len() == KEYS_PER_READ => after = Some(last.id),
            _ => return Ok(true),
        }
    }
}
