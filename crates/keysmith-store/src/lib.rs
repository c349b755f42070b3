//! Keysmith's key storage.
//!
//! [`KeyStore`] is what the rest of Keysmith sees: keys by id, unique names and kids, insertion
//! order, and paged search. It knows nothing of redb, so a clustered engine can replace
//! [`RedbStore`] later. `docs/storage.md` describes the on-disk format.
//!
//! Every write is one redb transaction committed with `Durability::Immediate` and two-phase
//! commit, so when a method returns `Ok` the change is on disk.
//!
//! ```
//! use keysmith_store::{KeyStore, RedbStore};
//! let dir = tempfile::tempdir().unwrap();
//! let store = RedbStore::open(&dir.path().join("keysmith.redb")).unwrap();
//! assert_eq!(store.count().unwrap(), 0);
//! ```
//!
//! # Crate features
//! None.

mod error;
mod redb_store;

use std::fmt;

use keysmith_model::search::SearchQuery;
use keysmith_model::{Key, KeyId, PrivateMaterial};

pub use error::{StoreError, UniqueField};
pub use redb_store::{RedbStore, SCHEMA_VERSION};

/// A key with its private half, as stored.
#[derive(Clone, Debug)]
pub struct StoredKey {
    /// The public record.
    pub key: Key,
    /// The private key or HMAC secret, if one is stored.
    pub private: Option<PrivateMaterial>,
}

/// One page of search results.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SearchPage {
    /// The keys on this page, in order.
    pub keys: Vec<Key>,
    /// How many keys match in all.
    pub total: u64,
}

/// Key storage.
///
/// Implementations must make each method atomic and, for writes, durable before returning.
/// Names and kids are unique across all keys; an insert or rename that would break that fails
/// with [`StoreError::Duplicate`] and changes nothing.
pub trait KeyStore: Send + Sync + fmt::Debug {
    /// Stores a new key. Fails if its id, name or kid is taken.
    fn insert(&self, record: &StoredKey) -> Result<(), StoreError>;

    /// The key with `id`.
    fn get(&self, id: &KeyId) -> Result<Option<StoredKey>, StoreError>;

    /// The public record of the key with `id`, without reading its private half.
    fn get_key(&self, id: &KeyId) -> Result<Option<Key>, StoreError>;

    /// The id of the key whose kid is `kid`.
    fn id_by_kid(&self, kid: &str) -> Result<Option<KeyId>, StoreError>;

    /// Whether a key has `id`.
    fn contains(&self, id: &KeyId) -> Result<bool, StoreError>;

    /// The id of the key named exactly `name`.
    fn id_by_name(&self, name: &str) -> Result<Option<KeyId>, StoreError>;

    /// Renames a key and sets its `lastUpdateInstant`. Returns the updated record, or `None`
    /// if there is no such key.
    fn rename(&self, id: &KeyId, name: &str, now_millis: i64) -> Result<Option<Key>, StoreError>;

    /// Deletes a key. Returns whether it existed.
    fn delete(&self, id: &KeyId) -> Result<bool, StoreError>;

    /// Every key, in insertion order.
    fn list(&self) -> Result<Vec<Key>, StoreError>;

    /// The number of keys.
    fn count(&self) -> Result<u64, StoreError>;

    /// One page of the keys that match `query`, and how many match in all. Memory use is
    /// bounded by the page, not by the number of keys.
    fn search(&self, query: &SearchQuery) -> Result<SearchPage, StoreError>;

    /// The SHA-256 hashes of the API keys kept in the data file.
    fn api_key_hashes(&self) -> Result<Vec<[u8; 32]>, StoreError>;

    /// Keeps the hash of a new API key.
    fn add_api_key_hash(&self, hash: &[u8; 32]) -> Result<(), StoreError>;
}
