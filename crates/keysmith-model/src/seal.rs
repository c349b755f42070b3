//! Sealing: how the private half of a key record is encrypted for storage.
//!
//! The store never holds a private key or secret in the clear: it hands the plaintext to a
//! [`SecretSealer`] and keeps what comes back. The record's id is bound into the sealed form,
//! so a sealed secret copied onto another record does not open.

use std::fmt;

use crate::{KeyId, SecretBytes};

/// Why a sealed secret could not be made or opened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SealError {
    /// Not something this sealer wrote.
    Malformed,
    /// Sealed under a master key that is not configured (its id, in hex).
    UnknownMasterKey(String),
    /// Authentication failed: the bytes were changed, or belong to another record.
    Tampered,
    /// The crypto library failed.
    Backend(String),
}

impl fmt::Display for SealError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SealError::Malformed => f.write_str("the sealed secret is malformed"),
            SealError::UnknownMasterKey(id) => write!(
                f,
                "the secret is sealed under master key {id}, which is not configured"
            ),
            SealError::Tampered => f.write_str(
                "the sealed secret failed authentication (changed, or moved from another record)",
            ),
            SealError::Backend(message) => write!(f, "crypto failure: {message}"),
        }
    }
}

impl std::error::Error for SealError {}

/// Encrypts and decrypts secrets for storage. Implementations authenticate `record` as
/// associated data.
pub trait SecretSealer: Send + Sync + fmt::Debug {
    /// Seals `plaintext`, the secret of record `record`, under the encrypting master key.
    fn seal(&self, record: &KeyId, plaintext: &[u8]) -> Result<Vec<u8>, SealError>;

    /// Opens a sealed secret of record `record`.
    fn open(&self, record: &KeyId, sealed: &[u8]) -> Result<SecretBytes, SealError>;

    /// Checks that the master key `sealed` names is configured and unwraps its data key,
    /// without decrypting the secret itself.
    fn check(&self, record: &KeyId, sealed: &[u8]) -> Result<(), SealError>;

    /// The id of the master key `sealed` names, from its header (no decryption).
    fn master_key_id(&self, sealed: &[u8]) -> Result<Vec<u8>, SealError>;

    /// The id of the master key new secrets are sealed under.
    fn sealing_key_id(&self) -> Vec<u8>;

    /// Whether the master key with `id` is configured: [`SealError::UnknownMasterKey`] if not.
    fn knows_master_key(&self, id: &[u8]) -> Result<(), SealError>;

    /// Re-wraps the data key of `sealed` under the encrypting master key; the secret's own
    /// ciphertext is unchanged. Returns `None` if it is already wrapped under that key.
    fn rewrap(&self, record: &KeyId, sealed: &[u8]) -> Result<Option<Vec<u8>>, SealError>;
}
