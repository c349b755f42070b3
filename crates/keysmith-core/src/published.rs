//! What Keysmith publishes anonymously: the JWKS and the public keys by kid, as an in-memory
//! snapshot rebuilt after every change (never by scanning the store per request).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, RwLock};

use keysmith_crypto::jwk::Jwk;
use keysmith_crypto::{KeyBackend, fingerprint, import, pem};
use keysmith_model::{HashAlgorithm, Key, KeyType, KeyUse};
use keysmith_store::KeyStore;

use crate::ServiceError;

/// One published state.
#[derive(Debug, Default)]
pub struct Published {
    /// `{"keys":[…]}`: every RSA, EC and OKP key as a JWK; never HMAC keys.
    pub jwks_json: Vec<u8>,
    /// A strong ETag (quoted) for `jwks_json`. It changes whenever a key is added, removed or
    /// renamed, even when the JWKS bytes would not.
    pub jwks_etag: String,
    /// kid → SPKI PEM of every asymmetric key.
    pub public_keys: BTreeMap<String, String>,
    /// `{"publicKeys":{kid:PEM}}`.
    pub public_keys_json: Vec<u8>,
}

/// Holds the current snapshot and rebuilds it.
#[derive(Debug, Default)]
pub(crate) struct Publisher {
    current: RwLock<Arc<Published>>,
    /// Serialises rebuilds, so the last rebuild to run reads the latest committed state.
    rebuild: Mutex<u64>,
}

impl Publisher {
    pub(crate) fn current(&self) -> Arc<Published> {
        match self.current.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Reads every key and swaps in a new snapshot. Call after each committed change.
    pub(crate) fn rebuild(
        &self,
        backend: &dyn KeyBackend,
        store: &dyn KeyStore,
    ) -> Result<(), ServiceError> {
        let mut generation = match self.rebuild.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        *generation += 1;
        let keys = store.list()?;
        let mut jwks = Vec::new();
        let mut public_keys = BTreeMap::new();
        for key in &keys {
            if key.key_type == KeyType::Hmac {
                continue;
            }
            let Some(public_pem) = &key.public_key else {
                continue;
            };
            let public = import::decode_public_key(backend, public_pem)?;
            let mut jwk = Jwk::new(&public, &key.kid, key.algorithm, KeyUse::Signing);
            if let (Some(certificate), Some(info)) =
                (&key.certificate, &key.certificate_information)
            {
                let der = pem::decode(certificate)?;
                jwk = jwk.with_certificate(&der.contents, info);
            }
            jwks.push(jwk);
            public_keys.insert(key.kid.clone(), public_pem.clone());
        }
        let jwks_json = serde_json::to_vec(&serde_json::json!({ "keys": jwks }))
            .map_err(ServiceError::internal)?;
        let public_keys_json =
            serde_json::to_vec(&serde_json::json!({ "publicKeys": public_keys }))
                .map_err(ServiceError::internal)?;
        let digest =
            backend.digest(HashAlgorithm::Sha256, &state_fingerprint(&keys, &jwks_json))?;
        let jwks_etag = format!("\"{}\"", fingerprint::base64url(&digest[..18]));
        let published = Arc::new(Published {
            jwks_json,
            jwks_etag,
            public_keys,
            public_keys_json,
        });
        match self.current.write() {
            Ok(mut guard) => *guard = published,
            Err(poisoned) => *poisoned.into_inner() = published,
        }
        Ok(())
    }
}

/// The bytes the ETag is computed over: the JWKS itself plus every key's id, name and last
/// update, so a rename changes the ETag too.
fn state_fingerprint(keys: &[Key], jwks_json: &[u8]) -> Vec<u8> {
    let mut out = jwks_json.to_vec();
    for key in keys {
        out.extend_from_slice(key.id.as_bytes());
        out.extend_from_slice(key.name.as_bytes());
        out.push(0);
        out.extend_from_slice(&key.last_update_instant.to_be_bytes());
    }
    out
}
