//! The JSON of recently read keys, each kept with the stored record it was made from.
//!
//! Invariant: a kept JSON is answered only for a read whose record compares equal, byte for
//! byte, to the one it was made from, and decoding and serialising are pure functions of the
//! record. So nothing is ever invalidated: a change on this node or on another one sharing the
//! database makes the next read differ, and a deleted key has no record to read.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use keysmith_model::KeyId;
use keysmith_store::KeyRecord;

use crate::ServiceError;

/// The most bytes (records and their JSON) kept: about 1,300 ES256 keys with certificates.
const BUDGET_BYTES: usize = 4 << 20;

/// The JSON of recently read keys, at most `budget` bytes of it with the records; when full,
/// arbitrary entries make room (a read served from it still reads the record first).
pub(crate) struct KeyJson {
    kept: Mutex<Kept>,
    budget: usize,
    answered_kept: AtomicU64,
    encoded: AtomicU64,
}

/// What [`KeyJson`] holds and has done since start (`/metrics`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KeyJsonStats {
    /// Keys whose JSON is kept.
    pub kept_keys: u64,
    /// Bytes kept: the records and their JSON.
    pub kept_bytes: u64,
    /// Reads answered with a kept JSON.
    pub answered_kept: u64,
    /// Reads that encoded the key (none kept, or its record changed).
    pub encoded: u64,
}

impl Default for KeyJson {
    fn default() -> Self {
        Self::with_budget(BUDGET_BYTES)
    }
}

#[derive(Default)]
struct Kept {
    entries: HashMap<KeyId, Entry>,
    bytes: usize,
}

struct Entry {
    record: KeyRecord,
    json: Arc<[u8]>,
}

impl Entry {
    fn bytes(&self) -> usize {
        self.record.len() + self.json.len()
    }
}

impl std::fmt::Debug for KeyJson {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyJson")
    }
}

impl KeyJson {
    pub(crate) fn with_budget(budget: usize) -> Self {
        Self {
            kept: Mutex::default(),
            budget,
            answered_kept: AtomicU64::new(0),
            encoded: AtomicU64::new(0),
        }
    }

    /// The JSON of the key `record` holds: the bytes `serde_json::to_vec` makes of it.
    pub(crate) fn of(&self, id: KeyId, record: KeyRecord) -> Result<Arc<[u8]>, ServiceError> {
        if let Some(entry) = self.lock().entries.get(&id)
            && entry.record == record
        {
            self.answered_kept.fetch_add(1, Ordering::Relaxed);
            return Ok(entry.json.clone());
        }
        self.encoded.fetch_add(1, Ordering::Relaxed);
        let key = record.decode()?;
        let json: Arc<[u8]> = serde_json::to_vec(&key)
            .map_err(ServiceError::internal)?
            .into();
        self.keep(
            id,
            Entry {
                record,
                json: json.clone(),
            },
        );
        Ok(json)
    }

    fn keep(&self, id: KeyId, entry: Entry) {
        // One key may take at most a sixteenth of the budget (a key with a long chain).
        if entry.bytes() > self.budget / 16 {
            return;
        }
        let mut kept = self.lock();
        if let Some(old) = kept.entries.remove(&id) {
            kept.bytes -= old.bytes();
        }
        while kept.bytes + entry.bytes() > self.budget {
            let Some(&evicted) = kept.entries.keys().next() else {
                break;
            };
            if let Some(old) = kept.entries.remove(&evicted) {
                kept.bytes -= old.bytes();
            }
        }
        kept.bytes += entry.bytes();
        kept.entries.insert(id, entry);
    }

    fn lock(&self) -> MutexGuard<'_, Kept> {
        // The kept set is consistent after every statement: a panic elsewhere cannot break it.
        self.kept
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// What is kept, and how reads were answered since start.
    pub(crate) fn stats(&self) -> KeyJsonStats {
        let (kept_keys, kept_bytes) = {
            let kept = self.lock();
            (kept.entries.len() as u64, kept.bytes as u64)
        };
        KeyJsonStats {
            kept_keys,
            kept_bytes,
            answered_kept: self.answered_kept.load(Ordering::Relaxed),
            encoded: self.encoded.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::Arc;

    use keysmith_store::{KeyRecords, RedbStore};

    use super::*;
    use crate::{GenerateRequest, KeyService, ServiceConfig};

    fn service(dir: &std::path::Path) -> (KeyService, Arc<RedbStore>) {
        let backend: Arc<dyn keysmith_crypto::KeyBackend> =
            Arc::new(keysmith_crypto_aws_lc::AwsLcBackend::new());
        let key = keysmith_crypto::envelope::MasterKey::from_bytes(&*backend, &[3u8; 32]).unwrap();
        let sealer =
            Arc::new(keysmith_crypto::envelope::Envelope::new(backend.clone(), vec![key]).unwrap());
        let store = Arc::new(RedbStore::open(&dir.join("keysmith.redb"), sealer).unwrap());
        let service = KeyService::new(backend, store.clone(), ServiceConfig::default());
        (service, store)
    }

    fn generate(service: &KeyService, name: &str) -> KeyId {
        let request = GenerateRequest {
            algorithm: Some("ES256"),
            name: Some(name),
            ..GenerateRequest::default()
        };
        service.keys().generate(None, &request).unwrap().id
    }

    /// The kept JSON is answered while the record is unchanged, and never after a change.
    #[test]
    fn a_kept_json_is_answered_only_for_an_equal_record() {
        let dir = tempfile::tempdir().unwrap();
        let (service, _) = service(dir.path());
        let keys = service.keys();
        let id = generate(&service, "kept");
        let first = keys.retrieve_json(&id).unwrap();
        assert_eq!(
            &*first,
            serde_json::to_vec(&keys.retrieve(&id).unwrap()).unwrap()
        );
        let again = keys.retrieve_json(&id).unwrap();
        assert!(
            Arc::ptr_eq(&first, &again),
            "the second read answers the kept bytes"
        );
        let stats = service.key_json_stats();
        assert_eq!(
            (stats.kept_keys, stats.answered_kept, stats.encoded),
            (1, 1, 1)
        );
        assert!(stats.kept_bytes > first.len() as u64, "{stats:?}");

        keys.rename(&id, Some("renamed")).unwrap();
        let renamed = keys.retrieve_json(&id).unwrap();
        assert!(!Arc::ptr_eq(&first, &renamed));
        assert_eq!(
            &*renamed,
            serde_json::to_vec(&keys.retrieve(&id).unwrap()).unwrap()
        );
        let value: serde_json::Value = serde_json::from_slice(&renamed).unwrap();
        assert_eq!(value["name"], "renamed");
        let stats = service.key_json_stats();
        assert_eq!(
            (stats.kept_keys, stats.answered_kept, stats.encoded),
            (1, 1, 2)
        );

        keys.delete(&id).unwrap();
        assert!(matches!(
            keys.retrieve_json(&id),
            Err(ServiceError::NotFound)
        ));
    }

    /// The kept bytes stay within the budget however many keys are read, and every answer is
    /// still the key's own JSON.
    #[test]
    fn the_kept_set_stays_within_its_budget() {
        let dir = tempfile::tempdir().unwrap();
        let (service, store) = service(dir.path());
        let ids: Vec<KeyId> = (0..40)
            .map(|n| generate(&service, &format!("k{n}")))
            .collect();
        let one = store.key_record(&ids[0]).unwrap().unwrap();
        let entry_bytes = one.len() + service.keys().retrieve_json(&ids[0]).unwrap().len();
        // Room for about 20 of the 40 keys (each within a sixteenth of the budget).
        let kept = KeyJson::with_budget(20 * entry_bytes);
        for round in 0..2 {
            for id in &ids {
                let record = store.key_record(id).unwrap().unwrap();
                let json = kept.of(*id, record).unwrap();
                let key = store.get_key(id).unwrap().unwrap();
                assert_eq!(&*json, serde_json::to_vec(&key).unwrap(), "round {round}");
                let stats = kept.stats();
                assert!(stats.kept_bytes <= 20 * entry_bytes as u64, "{stats:?}");
                assert!(stats.kept_keys >= 1);
            }
        }
        let entries = kept.stats().kept_keys;
        assert!((15..=20).contains(&entries), "{entries} entries kept");
    }
}
