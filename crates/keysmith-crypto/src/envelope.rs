//! Envelope encryption of stored secrets: each secret under its own random data key
//! (AES-256-GCM), each data key wrapped by a master key that never enters the database.
//!
//! Sealed form (version 1), all lengths fixed except the last field:
//!
//! ```text
//! "KSE1" | master key id (8) | wrap nonce (12) | wrapped data key (32 + 16 tag)
//!        | data nonce (12) | secret ciphertext + 16 tag
//! ```
//!
//! Both encryptions authenticate the record id (with a distinct label each), so a sealed secret
//! moved onto another record, or a wrapped data key moved onto another secret, fails to open.
//! The master key id is the first 8 bytes of SHA-256 over a label and the key: it names the
//! key without revealing it. Several master keys may be configured: the first seals, all open.

use std::fmt;
use std::sync::Arc;

use base64::Engine as _;
use keysmith_model::{HashAlgorithm, KeyId, SealError, SecretBytes, SecretSealer};
use zeroize::Zeroizing;

use crate::{Error, KeyBackend, fingerprint};

/// The length of a master key and of a data key, in bytes.
pub const KEY_LEN: usize = 32;
const ID_LEN: usize = 8;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
const MAGIC: &[u8; 4] = b"KSE1";
const HEADER_LEN: usize = MAGIC.len() + ID_LEN + NONCE_LEN + KEY_LEN + TAG_LEN + NONCE_LEN;
const WRAP_LABEL: &[u8] = b"keysmith/data-key/v1";
const SEAL_LABEL: &[u8] = b"keysmith/secret/v1";

/// A master key: 32 bytes and the id derived from them. `Debug` shows the id only.
pub struct MasterKey {
    id: [u8; ID_LEN],
    key: Zeroizing<[u8; KEY_LEN]>,
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MasterKey({})", self.id_hex())
    }
}

impl MasterKey {
    /// A master key from its 32 bytes.
    pub fn from_bytes(backend: &dyn KeyBackend, bytes: &[u8]) -> Result<Self, Error> {
        let key: [u8; KEY_LEN] = bytes
            .try_into()
            .map_err(|_| Error::rejected("a master key must be exactly 32 bytes"))?;
        let key = Zeroizing::new(key);
        let mut input = Zeroizing::new(b"keysmith/master-key-id/v1".to_vec());
        input.extend_from_slice(&*key);
        let digest = backend.digest(HashAlgorithm::Sha256, &input)?;
        let mut id = [0u8; ID_LEN];
        id.copy_from_slice(&digest[..ID_LEN]);
        Ok(Self { id, key })
    }

    /// A master key from standard base64 of 32 bytes (surrounding whitespace ignored).
    pub fn from_base64(backend: &dyn KeyBackend, text: &str) -> Result<Self, Error> {
        let bytes = Zeroizing::new(
            base64::engine::general_purpose::STANDARD
                .decode(text.trim())
                .map_err(|_| Error::rejected("a master key must be base64 of 32 bytes"))?,
        );
        Self::from_bytes(backend, &bytes)
    }

    /// A fresh random master key and its base64 form (to be written to a key file).
    pub fn generate(backend: &dyn KeyBackend) -> Result<(Self, Zeroizing<String>), Error> {
        let mut bytes = Zeroizing::new([0u8; KEY_LEN]);
        backend.fill_random(&mut *bytes)?;
        let text = Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(*bytes));
        Ok((Self::from_bytes(backend, &*bytes)?, text))
    }

    /// The key's id in hex: safe to log and show.
    pub fn id_hex(&self) -> String {
        fingerprint::upper_hex(&self.id).to_lowercase()
    }
}

/// Seals secrets with the first master key and opens them with any of them.
pub struct Envelope {
    backend: Arc<dyn KeyBackend>,
    keys: Vec<MasterKey>,
}

impl fmt::Debug for Envelope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Envelope")
            .field("backend", &self.backend.name())
            .field("keys", &self.keys)
            .finish()
    }
}

fn backend_error(err: Error) -> SealError {
    SealError::Backend(err.to_string())
}

fn aad(label: &[u8], record: &KeyId) -> Vec<u8> {
    let mut aad = label.to_vec();
    aad.extend_from_slice(record.as_bytes());
    aad
}

/// The fixed-position parts of a sealed secret.
struct Parts<'a> {
    master_id: &'a [u8],
    wrap_nonce: [u8; NONCE_LEN],
    wrapped_key: &'a [u8],
    data_nonce: [u8; NONCE_LEN],
    ciphertext: &'a [u8],
}

fn split(sealed: &[u8]) -> Result<Parts<'_>, SealError> {
    if sealed.len() < HEADER_LEN + TAG_LEN || !sealed.starts_with(MAGIC) {
        return Err(SealError::Malformed);
    }
    let rest = &sealed[MAGIC.len()..];
    let (master_id, rest) = rest.split_at(ID_LEN);
    let (wrap_nonce, rest) = rest.split_at(NONCE_LEN);
    let (wrapped_key, rest) = rest.split_at(KEY_LEN + TAG_LEN);
    let (data_nonce, ciphertext) = rest.split_at(NONCE_LEN);
    Ok(Parts {
        master_id,
        wrap_nonce: wrap_nonce.try_into().map_err(|_| SealError::Malformed)?,
        wrapped_key,
        data_nonce: data_nonce.try_into().map_err(|_| SealError::Malformed)?,
        ciphertext,
    })
}

impl Envelope {
    /// An envelope over `keys`; the first seals. Fails without a key.
    pub fn new(backend: Arc<dyn KeyBackend>, keys: Vec<MasterKey>) -> Result<Self, Error> {
        if keys.is_empty() {
            return Err(Error::rejected("at least one master key is needed"));
        }
        Ok(Self { backend, keys })
    }

    /// The id of the sealing master key.
    pub fn sealing_key_id(&self) -> String {
        self.keys[0].id_hex()
    }

    fn master(&self, id: &[u8]) -> Result<&MasterKey, SealError> {
        self.keys
            .iter()
            .find(|k| k.id == id)
            .ok_or_else(|| SealError::UnknownMasterKey(fingerprint::upper_hex(id).to_lowercase()))
    }

    fn random<const N: usize>(&self) -> Result<[u8; N], SealError> {
        let mut out = [0u8; N];
        self.backend.fill_random(&mut out).map_err(backend_error)?;
        Ok(out)
    }

    /// Wraps `data_key` under the sealing master key: id, nonce and wrapped key.
    fn wrap(&self, record: &KeyId, data_key: &[u8; KEY_LEN]) -> Result<Vec<u8>, SealError> {
        let master = &self.keys[0];
        let nonce: [u8; NONCE_LEN] = self.random()?;
        let wrapped = self
            .backend
            .aes256_gcm_seal(&master.key, &nonce, &aad(WRAP_LABEL, record), data_key)
            .map_err(backend_error)?;
        let mut out = Vec::with_capacity(ID_LEN + NONCE_LEN + wrapped.len());
        out.extend_from_slice(&master.id);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&wrapped);
        Ok(out)
    }

    fn unwrap_key(
        &self,
        record: &KeyId,
        parts: &Parts<'_>,
    ) -> Result<Zeroizing<[u8; KEY_LEN]>, SealError> {
        let master = self.master(parts.master_id)?;
        let key = self
            .backend
            .aes256_gcm_open(
                &master.key,
                &parts.wrap_nonce,
                &aad(WRAP_LABEL, record),
                parts.wrapped_key,
            )
            .map_err(|_| SealError::Tampered)?;
        let mut out = Zeroizing::new([0u8; KEY_LEN]);
        if key.len() != KEY_LEN {
            return Err(SealError::Tampered);
        }
        out.copy_from_slice(&key);
        Ok(out)
    }
}

impl SecretSealer for Envelope {
    fn seal(&self, record: &KeyId, plaintext: &[u8]) -> Result<Vec<u8>, SealError> {
        let data_key: Zeroizing<[u8; KEY_LEN]> = Zeroizing::new(self.random()?);
        let data_nonce: [u8; NONCE_LEN] = self.random()?;
        let ciphertext = self
            .backend
            .aes256_gcm_seal(&data_key, &data_nonce, &aad(SEAL_LABEL, record), plaintext)
            .map_err(backend_error)?;
        let mut out = Vec::with_capacity(HEADER_LEN + ciphertext.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&self.wrap(record, &data_key)?);
        out.extend_from_slice(&data_nonce);
        out.extend_from_slice(&ciphertext);
        Ok(out)
    }

    fn open(&self, record: &KeyId, sealed: &[u8]) -> Result<SecretBytes, SealError> {
        let parts = split(sealed)?;
        let data_key = self.unwrap_key(record, &parts)?;
        let plaintext = self
            .backend
            .aes256_gcm_open(
                &data_key,
                &parts.data_nonce,
                &aad(SEAL_LABEL, record),
                parts.ciphertext,
            )
            .map_err(|_| SealError::Tampered)?;
        Ok(SecretBytes::new(plaintext.to_vec()))
    }

    fn check(&self, record: &KeyId, sealed: &[u8]) -> Result<(), SealError> {
        self.unwrap_key(record, &split(sealed)?).map(|_| ())
    }

    fn master_key_id(&self, sealed: &[u8]) -> Result<Vec<u8>, SealError> {
        Ok(split(sealed)?.master_id.to_vec())
    }

    fn sealing_key_id(&self) -> Vec<u8> {
        self.keys[0].id.to_vec()
    }

    fn knows_master_key(&self, id: &[u8]) -> Result<(), SealError> {
        self.master(id).map(|_| ())
    }

    fn rewrap(&self, record: &KeyId, sealed: &[u8]) -> Result<Option<Vec<u8>>, SealError> {
        let parts = split(sealed)?;
        if parts.master_id == self.keys[0].id {
            return Ok(None);
        }
        let data_key = self.unwrap_key(record, &parts)?;
        let mut out = Vec::with_capacity(sealed.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&self.wrap(record, &data_key)?);
        out.extend_from_slice(&parts.data_nonce);
        out.extend_from_slice(parts.ciphertext);
        Ok(Some(out))
    }
}
