//! Keysmith's key storage.
//!
//! [`KeyStore`] is what the rest of Keysmith sees: keys by id, unique names and kids, insertion
//! order, and paged search. It knows nothing of redb, so a clustered engine can replace
//! [`RedbStore`] later. `docs/storage.md` describes the on-disk format.
//!
//! Private keys and HMAC secrets are never stored in the clear: a
//! [`keysmith_model::SecretSealer`] seals them, bound to their record's id.
//!
//! Every write is committed in a redb transaction with `Durability::Immediate` and two-phase
//! commit, so when a method returns `Ok` the change is on disk. Changes made concurrently are
//! grouped by one writer into one transaction (group commit: one sync for many changes), and
//! each is answered only after that transaction has committed; see `docs/storage.md`.
//!
//! ```
//! use std::sync::Arc;
//! use keysmith_crypto::envelope::{Envelope, MasterKey};
//! use keysmith_store::RedbStore;
//! use keysmith_store::prelude::*;
//!
//! let backend: Arc<dyn keysmith_crypto::KeyBackend> =
//!     Arc::new(keysmith_crypto_aws_lc::AwsLcBackend::new());
//! let master = MasterKey::generate(&*backend).unwrap().0;
//! let sealer = Arc::new(Envelope::new(backend, vec![master]).unwrap());
//! let dir = tempfile::tempdir().unwrap();
//! let store = RedbStore::open(&dir.path().join("keysmith.redb"), sealer).unwrap();
//! assert_eq!(store.count().unwrap(), 0);
//! ```
//!
//! # Crate features
//! - `testing`: [`RedbStore::open_with_backend`] and the [`testing`] storage backends that
//!   simulate power loss and failing disks. Off by default; only tests turn it on.
//! - `failpoints`: test failpoints (`RedbStore::with_ring_commit_pause`), for crash tests.
//!   Off by default; the end-to-end tests turn it on, release builds never do.

mod audit;
mod error;
mod health;
#[cfg(feature = "postgres")]
mod pg_store;
mod records;
mod redb_store;
mod sealed;
#[cfg(feature = "testing")]
pub mod testing;
pub mod transfer;

use std::fmt;

use keysmith_model::search::SearchQuery;
use keysmith_model::{Connection, Key, KeyId, KeyRing, PrivateMaterial, RingOwner, RingRole};

pub use audit::{AuditContext, Committed, OnCommit, log_audit, with_audit_context};
pub use error::{StoreError, UniqueField, error_chain};
pub use health::StoreHealth;
#[cfg(feature = "postgres")]
pub use pg_store::{
    MAX_ATTEMPTS, Migrated, PgOptions, PgStore, SCHEMA_VERSION as PG_SCHEMA_VERSION,
};
pub use records::KeyRecord;
pub use redb_store::{
    CommitStats, DEFAULT_CACHE_BYTES, OpenOptions, RedbStore, SCHEMA_VERSION, Verification,
};

/// A key with its private half, as stored.
#[derive(Clone, Debug)]
pub struct StoredKey {
    /// The public record.
    pub key: Key,
    /// The private key or HMAC secret, if one is stored.
    pub private: Option<PrivateMaterial>,
}

/// Live keys counted by kind ([`KeyStore::census`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeyCensus {
    /// (type, algorithm, count), ordered by type then algorithm.
    pub by_kind: Vec<(String, String, u64)>,
    /// Keys whose certificate expires before the instant asked about.
    pub expiring: u64,
}

/// One page of search results.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SearchPage {
    /// The keys on this page, in order.
    pub keys: Vec<Key>,
    /// How many keys match in all; with `exact` false, a lower bound (the query's
    /// [`count_bound`](keysmith_model::search::SearchQuery::count_bound)).
    pub total: u64,
    /// Whether `total` counts every match (FusionAuth's `totalEqualToActual`).
    pub exact: bool,
}

/// One change to a key ring, applied in one transaction: the new ring, the keys it adds and
/// the keys that leave the store with it.
#[derive(Debug)]
pub struct RingChange {
    /// The ring after the change.
    pub ring: KeyRing,
    /// New keys (stored in the same transaction).
    pub insert: Vec<StoredKey>,
    /// Keys to delete (retired from the ring).
    pub delete: Vec<KeyId>,
}

/// Decides a ring change from the committed ring (`None` if the owner has none yet). `Send`, so
/// an engine may run the change's transaction on a thread of its own.
pub type RingChanger<'a> =
    Box<dyn FnOnce(Option<&KeyRing>) -> Result<RingChange, StoreError> + Send + 'a>;

/// Keys: records, unique names and kids, insertion order, restorable deletion, search.
///
/// Names and kids are unique across all keys; an insert or rename that would break that fails
/// with [`StoreError::Duplicate`] and changes nothing. A key that is current, next or previous
/// in a ring cannot be deleted ([`StoreError::InUse`]); deleting a revoked one also drops it
/// from its ring.
pub trait KeyRecords {
    /// Stores a new key. Fails if its id, name or kid is taken.
    fn insert(&self, record: &StoredKey) -> Result<(), StoreError>;

    /// [`Self::insert`] that returns before the commit: `on_commit` gets the answer `insert`
    /// would return, once the transaction carrying the key has committed (or failed), perhaps
    /// on the store's writer thread, so it must only hand the answer on. An engine that
    /// cannot queue (this default) inserts on the calling thread, then answers.
    fn insert_then(&self, record: &StoredKey, on_commit: OnCommit<()>) {
        on_commit(self.insert(record).map(Committed::logged));
    }

    /// Stores new keys, all or none, as one change (one commit, one audit row each under an
    /// audit context). Fails, storing none, if an id, name or kid is taken, also among them.
    fn insert_many(&self, records: &[StoredKey]) -> Result<(), StoreError>;

    /// The key with `id`.
    fn get(&self, id: &KeyId) -> Result<Option<StoredKey>, StoreError>;

    /// The public record of the key with `id`, without reading its private half.
    fn get_key(&self, id: &KeyId) -> Result<Option<Key>, StoreError> {
        self.key_record(id)?
            .map(|record| record.decode())
            .transpose()
    }

    /// [`Self::get_key`] before decoding: the record's bytes, for a reader that keeps what it
    /// derives from a key and reuses it while the record is unchanged.
    fn key_record(&self, id: &KeyId) -> Result<Option<KeyRecord>, StoreError>;

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

    /// Up to `limit` keys in insertion order, after the key with insertion number `after`
    /// (`None`: from the first), each with its insertion number: a cursor that reads every key
    /// in bounded pieces. Each call is one consistent read; a key inserted between calls comes
    /// after the cursor, so it is read by a later call.
    fn keys_after(&self, after: Option<u64>, limit: usize) -> Result<Vec<(u64, Key)>, StoreError>;

    /// Deletes a key restorably: it leaves every index at once (its id, name and kid are free,
    /// it is not listed, published or usable) and is kept, sealed as it was, until
    /// `purge_at` (epoch ms). The same in-use rule as [`KeyRecords::delete`] applies. Returns
    /// whether it existed.
    fn delete_restorably(&self, id: &KeyId, purge_at: i64) -> Result<bool, StoreError>;

    /// Brings back a restorably deleted key, in the state it was deleted in: a revoked ring key
    /// goes back into its ring's revoked keys in the same transaction.
    /// `None` if there is none (never deleted, or purged); [`StoreError::Duplicate`] if its id,
    /// name or kid has been taken meanwhile; [`StoreError::RingGone`] if its ring no longer
    /// exists. A refused restore changes nothing.
    fn restore(&self, id: &KeyId) -> Result<Option<Key>, StoreError>;

    /// The restorably deleted keys with their purge instants, soonest purge first.
    fn deleted_keys(&self) -> Result<Vec<(Key, i64)>, StoreError>;

    /// Purges the deleted keys whose instant has come. Returns their ids.
    fn purge_deleted(&self, now_millis: i64) -> Result<Vec<KeyId>, StoreError>;

    /// The number of keys.
    fn count(&self) -> Result<u64, StoreError>;

    /// How many live keys there are of each type and algorithm, and how many of them have a
    /// certificate that expires before `expiring_before` (epoch ms). Kept as keys change, so
    /// the cost does not grow with the number of keys (only with the expiring ones).
    fn census(&self, expiring_before: i64) -> Result<KeyCensus, StoreError>;

    /// Live keys whose certificate expires before `before` (epoch ms), soonest first (then by
    /// id), at most `limit`, after the position `after` (an expiration and id already returned)
    /// when given. Read through the expiration index: the cost is that of the keys returned,
    /// however many keys have no certificate or expire later.
    fn expiring_before(
        &self,
        before: i64,
        after: Option<(i64, KeyId)>,
        limit: usize,
    ) -> Result<Vec<Key>, StoreError>;

    /// Up to `limit` live keys whose `issuer` is exactly `issuer`, in id order, after the key
    /// `after` (`None`: from the first). Read through the issuer index: the cost is that of the
    /// keys returned, however many other keys there are. Each call is one consistent read.
    fn keys_by_issuer(
        &self,
        issuer: &str,
        after: Option<KeyId>,
        limit: usize,
    ) -> Result<Vec<Key>, StoreError>;

    /// One page of the keys that match `query`, and how many match in all. Memory use is
    /// bounded by the page, not by the number of keys.
    fn search(&self, query: &SearchQuery) -> Result<SearchPage, StoreError>;
}

/// API keys kept in the data file: hashes and permissions, never a key.
pub trait ApiKeyRecords {
    /// The SHA-256 hashes of the API keys kept in the data file.
    fn api_key_hashes(&self) -> Result<Vec<[u8; 32]>, StoreError>;

    /// Keeps the hash of a new API key.
    fn add_api_key_hash(&self, hash: &[u8; 32]) -> Result<(), StoreError>;

    /// The scoped API keys kept in the data file (hashes and permissions only).
    fn api_key_records(&self) -> Result<Vec<keysmith_model::ApiKeyRecord>, StoreError>;

    /// Keeps a new scoped API key.
    fn add_api_key_record(&self, record: &keysmith_model::ApiKeyRecord) -> Result<(), StoreError>;

    /// Removes a scoped API key. Returns whether it existed.
    fn remove_api_key_record(&self, id: &uuid::Uuid) -> Result<bool, StoreError>;
}

/// The audit trail.
pub trait AuditLog {
    /// Appends audit records, in order, in one transaction; their ids are assigned here.
    ///
    /// Changes made under an [`AuditContext`] ([`with_audit_context`]) need no call: each write
    /// transaction that changes something then carries its own rows, one per target, so the
    /// change and its record commit together or not at all.
    fn append_audit(&self, records: &[keysmith_model::AuditRecord]) -> Result<(), StoreError>;

    /// Deletes the oldest audit records (by time): those before `older_than` (epoch ms), then
    /// as many more as keep at most `max_records`. Read through the time index, so the cost is
    /// that of the rows deleted. Returns how many were deleted.
    fn prune_audit(
        &self,
        older_than: Option<i64>,
        max_records: Option<u64>,
    ) -> Result<u64, StoreError>;

    /// One page of the audit records that match, newest first (by time), and how many match in
    /// all. With `start` or `end`, only that time range of the time index is read.
    fn search_audit(
        &self,
        query: &keysmith_model::AuditQuery,
    ) -> Result<(Vec<keysmith_model::AuditRecord>, u64), StoreError>;

    /// At most `limit` audit records with an id above `after`, in id order: what a consumer
    /// of the trail (the webhook dispatcher) reads next. On an engine with concurrent writers
    /// (PostgreSQL) a smaller id may still commit after a greater one is visible: a consumer
    /// treats a gap in the ids as possibly still to come.
    fn audit_after(
        &self,
        after: u64,
        limit: usize,
    ) -> Result<Vec<keysmith_model::AuditRecord>, StoreError>;
}

/// Auth0 connections.
pub trait ConnectionRecords {
    /// Stores a new connection. Fails if its id or name is taken.
    fn insert_connection(&self, connection: &Connection) -> Result<(), StoreError>;

    /// The connection with `id`.
    fn connection(&self, id: &str) -> Result<Option<Connection>, StoreError>;

    /// Every connection, by name.
    fn connections(&self) -> Result<Vec<Connection>, StoreError>;

    /// Replaces a connection's record (same id). Returns `false` if it does not exist.
    fn replace_connection(&self, connection: &Connection) -> Result<bool, StoreError>;

    /// Deletes a connection, its rings and every key in them, in one transaction. Returns the
    /// deleted key ids, or `None` if there was no such connection.
    fn delete_connection(&self, id: &str) -> Result<Option<Vec<KeyId>>, StoreError>;
}

/// Key rings: connection keys and tenant signing keys.
pub trait RingRecords {
    /// The ring of `owner`.
    fn ring(&self, owner: &RingOwner) -> Result<Option<KeyRing>, StoreError>;

    /// The ring of `owner` with the records of its keys (in [`KeyRing::keys`] order), read in
    /// one transaction so a concurrent rotation cannot come between them.
    fn ring_keys(&self, owner: &RingOwner) -> Result<Option<(KeyRing, Vec<Key>)>, StoreError>;

    /// Every ring.
    fn rings(&self) -> Result<Vec<(RingOwner, KeyRing)>, StoreError>;

    /// Changes the ring of `owner` in one transaction: `change` sees the committed ring and
    /// says what the ring becomes, which keys to add and which to delete. Writers are
    /// serialised, so concurrent changes each see the previous one's result. A connection ring
    /// needs its connection to exist ([`keysmith_model::RingError::NoSuchConnection`]).
    fn change_ring(
        &self,
        owner: &RingOwner,
        change: RingChanger<'_>,
    ) -> Result<RingChange, StoreError>;

    /// The ring that holds the key `id`, and its role there.
    fn ring_of_key(&self, id: &KeyId) -> Result<Option<(RingOwner, RingRole)>, StoreError>;
}

/// Key storage: every concern's records in one engine, plus what spans them.
///
/// Implementations must make each method atomic and, for writes, durable before returning.
/// Callers name the concern traits they use (or `use keysmith_store::prelude::*`).
pub trait KeyStore:
    KeyRecords + ApiKeyRecords + AuditLog + ConnectionRecords + RingRecords + Send + Sync + fmt::Debug
{
    /// Writes a consistent copy of everything (one read transaction, so concurrent writes are
    /// either wholly in it or not at all) to a new file at `path`, created private to its
    /// owner (mode 0600 from its first byte; never over an existing file). Secrets stay sealed.
    /// `progress(done, total)` is called as records are copied. Returns the records copied.
    fn snapshot_to(
        &self,
        path: &std::path::Path,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<u64, StoreError>;

    /// Whether write transactions have been failing in the storage engine (a failing or full
    /// disk), and why.
    fn health(&self) -> StoreHealth;

    /// Tries one empty durable write transaction, so a failing store that nobody writes to is
    /// still noticed (and counted in [`KeyStore::health`]).
    fn probe_write(&self) -> Result<(), StoreError>;

    /// How many grouped write transactions committed, and how many changes they carried.
    fn commit_stats(&self) -> CommitStats;

    /// The time by the store's clock, epoch milliseconds: what decides that a scheduled
    /// rotation is due, so that nodes sharing one database agree whatever their own clocks say.
    /// An engine of one process uses the process's clock, which is this default.
    fn now_millis(&self) -> Result<i64, StoreError> {
        Ok(keysmith_model::epoch_millis_now())
    }

    /// Calls `changed` whenever another process may have changed what is stored, so caches of
    /// it (published documents, loaded keys) are dropped: soon after each such change, and once
    /// after any time the engine could not tell. Returns at once; the engine watches on a thread
    /// of its own until the store is dropped. An engine only one process opens (redb: the file
    /// is locked) never calls it, which is what this default does.
    fn watch_changes(
        &self,
        changed: std::sync::Arc<dyn Fn() + Send + Sync>,
    ) -> Result<(), StoreError> {
        let _ = changed;
        Ok(())
    }
}

/// The store traits, for callers that use a [`KeyStore`] through `dyn KeyStore`.
pub mod prelude {
    pub use crate::{
        ApiKeyRecords, AuditLog, ConnectionRecords, KeyRecords, KeyStore, RingRecords,
    };
}
