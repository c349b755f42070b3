//! What Keysmith publishes anonymously: the JWKS and the public keys by kid.
//!
//! Served from memory, never by scanning the store per request. Each published key's JWK is
//! computed once, when the key is stored; a change updates one entry and drops the serialized
//! snapshot, which the next request rebuilds from the entries (so a burst of writes costs one
//! rebuild, and a write costs O(log n), not a scan of every key).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};

use keysmith_crypto::jwk::{Jwk, JwkSet};
use keysmith_crypto::{KeyBackend, PublicKeyInfo, fingerprint, import, pem};
use keysmith_model::{HashAlgorithm, Key, KeyId, KeyType, KeyUse, PublicKeys};
use keysmith_store::KeyStore;

use crate::ServiceError;

/// One published state.
#[derive(Debug, Default)]
pub struct Published {
    /// A [`JwkSet`], serialised: every RSA, EC and OKP key as a JWK, in insertion order; never
    /// HMAC keys.
    pub jwks_json: Vec<u8>,
    /// A strong ETag (quoted) for `jwks_json`. It changes whenever a key is added, removed or
    /// renamed, even when the JWKS bytes would not.
    pub jwks_etag: String,
    /// kid → SPKI PEM of every asymmetric key.
    pub public_keys: BTreeMap<String, String>,
    /// [`PublicKeys`] with every key (`{"publicKeys":{kid:PEM}}`), serialised.
    pub public_keys_json: Vec<u8>,
}

/// The JWKS of one key ring ([`crate::KeyService::ring_jwks`]): its current, next and
/// previous keys, never a revoked one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopedJwks {
    /// A [`JwkSet`], serialised, in the ring's order: current, next, previous.
    pub json: Vec<u8>,
    /// A strong ETag (quoted) computed from `json` alone, so every node serving the same keys
    /// gives the same one.
    pub etag: String,
}

/// A stored key as the published set sees it, prepared once. HMAC keys have entries too (with
/// no JWK), so that adding, renaming or removing any key changes the ETag.
#[derive(Debug, Clone)]
struct Entry {
    kid: String,
    name: String,
    last_update: i64,
    /// The serialised JWK and the SPKI PEM; `None` for HMAC keys.
    public: Option<(Box<serde_json::value::RawValue>, String)>,
}

#[derive(Debug, Default)]
struct State {
    /// Ordered by (insertInstant, id): insertion order.
    entries: BTreeMap<(i64, KeyId), Entry>,
    order_of: HashMap<KeyId, i64>,
    /// The serialized snapshot; `None` after a change until the next read rebuilds it.
    snapshot: Option<Arc<Published>>,
    /// Whether the entries were loaded from the store. Until then changes are not applied:
    /// the first read loads every committed key (so a process that never publishes, such as
    /// the offline command line, holds no entry per key).
    loaded: bool,
}

/// Holds the entries and the snapshot.
#[derive(Debug, Default)]
pub(crate) struct Publisher {
    state: RwLock<State>,
}

/// `known` is the key's parsed public key when the caller has it (a key just generated or
/// imported); otherwise the stored PEM is parsed.
fn entry_for(
    backend: &dyn KeyBackend,
    key: &Key,
    known: Option<&PublicKeyInfo>,
) -> Result<Entry, ServiceError> {
    let public = match (&key.public_key, key.key_type) {
        (Some(public_pem), KeyType::Rsa | KeyType::Ec | KeyType::Okp) => {
            let parsed;
            let public = match known {
                Some(public) => public,
                None => {
                    // A stored key was checked when it was stored: its structure is enough
                    // (fast on every backend). A PEM of another shape goes to the backend.
                    parsed = match import::stored_public_key(public_pem) {
                        Ok(public) => public,
                        Err(_) => import::decode_public_key(backend, public_pem)?,
                    };
                    &parsed
                }
            };
            let mut jwk = Jwk::new(public, &key.kid, key.algorithm, KeyUse::Signing);
            if let (Some(certificate), Some(info)) =
                (&key.certificate, &key.certificate_information)
            {
                let der = pem::decode(certificate)?;
                jwk = jwk.with_certificate(&der.contents, info);
            }
            let jwk = serde_json::value::to_raw_value(&jwk).map_err(ServiceError::internal)?;
            Some((jwk, public_pem.clone()))
        }
        _ => None,
    };
    Ok(Entry {
        kid: key.kid.clone(),
        name: key.name.clone(),
        last_update: key.last_update_instant,
        public,
    })
}

impl Publisher {
    fn write(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        match self.state.write() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Loads every stored key (at start-up, or at the first read). The store is read under the
    /// lock, so a change committed before it is in the list and one published after it is
    /// applied on top.
    pub(crate) fn load_all(
        &self,
        backend: &dyn KeyBackend,
        store: &dyn KeyStore,
    ) -> Result<(), ServiceError> {
        let mut state = self.write();
        Self::load_into(&mut state, backend, store)
    }

    fn load_into(
        state: &mut State,
        backend: &dyn KeyBackend,
        store: &dyn KeyStore,
    ) -> Result<(), ServiceError> {
        let mut entries = BTreeMap::new();
        let mut order_of = HashMap::new();
        let withdrawn = crate::rings::withdrawn_keys(store)?;
        for key in store.list()? {
            if withdrawn.contains(&key.id) {
                continue;
            }
            entries.insert(
                (key.insert_instant, key.id),
                entry_for(backend, &key, None)?,
            );
            order_of.insert(key.id, key.insert_instant);
        }
        *state = State {
            entries,
            order_of,
            snapshot: None,
            loaded: true,
        };
        Ok(())
    }

    fn loaded(&self) -> bool {
        self.state.read().map_or(true, |state| state.loaded)
    }

    /// Publishes a newly stored key. If a delete of it committed meanwhile, it stays out.
    pub(crate) fn added(
        &self,
        backend: &dyn KeyBackend,
        store: &dyn KeyStore,
        key: &Key,
        public: Option<&PublicKeyInfo>,
    ) -> Result<(), ServiceError> {
        if !self.loaded() {
            return Ok(());
        }
        let entry = entry_for(backend, key, public)?;
        let mut state = self.write();
        // Checked under the lock: a delete or revocation that commits later applies its removal
        // after this one.
        if store.contains(&key.id)? && !crate::rings::is_withdrawn(store, &key.id)? {
            state.entries.insert((key.insert_instant, key.id), entry);
            state.order_of.insert(key.id, key.insert_instant);
        }
        state.snapshot = None;
        Ok(())
    }

    /// Records a rename (it changes the ETag, not the JWKS).
    pub(crate) fn renamed(&self, key: &Key) {
        let mut state = self.write();
        if !state.loaded {
            return;
        }
        if let Some(entry) = state.entries.get_mut(&(key.insert_instant, key.id)) {
            entry.name = key.name.clone();
            entry.last_update = key.last_update_instant;
        }
        state.snapshot = None;
    }

    /// Unpublishes a deleted key.
    pub(crate) fn removed(&self, id: &KeyId) {
        let mut state = self.write();
        if !state.loaded {
            return;
        }
        if let Some(order) = state.order_of.remove(id) {
            state.entries.remove(&(order, *id));
        }
        state.snapshot = None;
    }

    /// The JWKS of the published keys among `ids`, in that order (unpublished ones are left
    /// out). Reads the prepared entries: O(ids), whatever the number of keys.
    pub(crate) fn subset(
        &self,
        backend: &dyn KeyBackend,
        store: &dyn KeyStore,
        ids: &[KeyId],
    ) -> Result<ScopedJwks, ServiceError> {
        // Loaded if need be, but the full snapshot is not rebuilt: a scoped answer after a
        // change costs O(ids), not a serialisation of every key.
        if !self.loaded() {
            let mut state = self.write();
            if !state.loaded {
                Self::load_into(&mut state, backend, store)?;
            }
        }
        let state = match self.state.read() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        let keys: Vec<&serde_json::value::RawValue> = ids
            .iter()
            .filter_map(|id| {
                let order = state.order_of.get(id)?;
                let (jwk, _) = state.entries.get(&(*order, *id))?.public.as_ref()?;
                Some(&**jwk)
            })
            .collect();
        let json = serde_json::to_vec(&JwkSet { keys }).map_err(ServiceError::internal)?;
        let digest = backend.digest(HashAlgorithm::Sha256, &json)?;
        Ok(ScopedJwks {
            etag: format!("\"{}\"", fingerprint::base64url(&digest[..18])),
            json,
        })
    }

    /// The current snapshot, rebuilt from the entries if a change dropped it (and loaded from
    /// `store` first if nothing has loaded it yet).
    pub(crate) fn current(
        &self,
        backend: &dyn KeyBackend,
        store: &dyn KeyStore,
    ) -> Result<Arc<Published>, ServiceError> {
        if let Ok(state) = self.state.read()
            && let Some(snapshot) = &state.snapshot
        {
            return Ok(snapshot.clone());
        }
        let mut state = self.write();
        if let Some(snapshot) = &state.snapshot {
            return Ok(snapshot.clone());
        }
        if !state.loaded {
            Self::load_into(&mut state, backend, store)?;
        }
        let snapshot = Arc::new(build(backend, &state.entries)?);
        state.snapshot = Some(snapshot.clone());
        Ok(snapshot)
    }
}

fn build(
    backend: &dyn KeyBackend,
    entries: &BTreeMap<(i64, KeyId), Entry>,
) -> Result<Published, ServiceError> {
    let mut keys = Vec::new();
    let mut fingerprint_input = Vec::new();
    let mut public_keys = BTreeMap::new();
    for ((_, id), entry) in entries {
        if let Some((jwk, public_pem)) = &entry.public {
            keys.push(&**jwk);
            public_keys.insert(entry.kid.clone(), public_pem.clone());
        }
        // The ETag covers names and update times too, so a rename changes it.
        fingerprint_input.extend_from_slice(id.as_bytes());
        fingerprint_input.extend_from_slice(entry.name.as_bytes());
        fingerprint_input.push(0);
        fingerprint_input.extend_from_slice(&entry.last_update.to_be_bytes());
    }
    let jwks_json = serde_json::to_vec(&JwkSet { keys }).map_err(ServiceError::internal)?;
    fingerprint_input.extend_from_slice(&jwks_json);
    let digest = backend.digest(HashAlgorithm::Sha256, &fingerprint_input)?;
    let public_keys_json = serde_json::to_vec(&PublicKeys {
        public_key: None,
        public_keys: Some(&public_keys),
    })
    .map_err(ServiceError::internal)?;
    Ok(Published {
        jwks_json,
        jwks_etag: format!("\"{}\"", fingerprint::base64url(&digest[..18])),
        public_keys,
        public_keys_json,
    })
}
