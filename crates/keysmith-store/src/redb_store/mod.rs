//! The redb implementation of [`KeyStore`]: the tables (declared once, below), the store
//! handle and its write path, and one file per concern, each implementing its trait:
//! `keys` ([`KeyRecords`](crate::KeyRecords)), `api_keys`, `audit_log`, `connections`, `rings`;
//! `secrets` (how a private half is stored) and `open` (opening, checking and upgrading a file).
//! The submodules see this module's private items (`use super::*`); nothing else does.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::path::Path;
use std::sync::Arc;

use keysmith_model::search::{SearchQuery, SortField};
use keysmith_model::{
    Algorithm, Connection, Key, KeyId, KeyRing, KeyUse, RingError, RingOwner, RingRole, SealError,
    SecretSealer,
};
use redb::{
    Database, DatabaseError, Durability, ReadOnlyDatabase, ReadTransaction, ReadableDatabase,
    ReadableTable, ReadableTableMetadata, TableDefinition, TableError, WriteTransaction,
};
use uuid::Uuid;

use crate::error::UniqueField;
use crate::{
    ApiKeyRecords, AuditLog, ConnectionRecords, KeyCensus, KeyRecords, KeyStore, RingChange,
    RingRecords, SearchPage, StoreError, StoredKey,
};

/// The schema version this build writes. Versions 1 (keys only), 2 (rings, plaintext
/// secrets), 3 (JSON key records), 4 (two name indexes), 5 (no issuer index) and 6 (no count
/// per issuer) are upgraded on open.
pub const SCHEMA_VERSION: u64 = 7;

/// The oldest schema version this build opens (and upgrades).
const OLDEST_SCHEMA_VERSION: u64 = 1;

/// The page cache [`RedbStore::open`] gives redb: 16 MiB (the `store_cache_bytes` default).
/// redb's own default is 1 GiB, and every page a transaction writes enters the cache, so with
/// it the process grew with the data file (the audit trail's pages included) up to a gigabyte.
pub const DEFAULT_CACHE_BYTES: usize = 16 << 20;

/// The page cache of the file a snapshot writes: its pages are written once and never read
/// back by this process, so a cache only holds memory.
const SNAPSHOT_CACHE_BYTES: usize = 1 << 20;

/// Declares every table once, each marked `sealed` (its values are sealed secrets: key id →
/// tag byte + bytes, bound to that id) or `plain`. Everything that must visit every table
/// (snapshots, creating them at open) or every sealed value (master-key rotation, the master-key
/// check at open, the plaintext upgrade) reads this one list, so a new table cannot be forgotten.
/// A sealed table must have the type `TableDefinition<u128, &[u8]>` (a compile error otherwise).
macro_rules! declare_tables {
    ($d:tt $($(#[$doc:meta])* $name:ident: $k:ty => $v:ty = $text:literal, $kind:ident;)*) => {
        $($(#[$doc])* const $name: TableDefinition<$k, $v> = TableDefinition::new($text);)*

        /// Calls `$m!` with every table as `NAME: sealed|plain, ...`.
        macro_rules! every_table {
            ($d m:ident) => { $d m!($($name: $kind),*) };
        }

        /// Every table's name, and whether it holds sealed values (for the docs check).
        #[cfg_attr(not(test), allow(dead_code))]
        pub(crate) const TABLE_NAMES: &[(&str, bool)] =
            &[$(($text, table_kind!($kind))),*];
    };
}

macro_rules! table_kind {
    (sealed) => {
        true
    };
    (plain) => {
        false
    };
}

declare_tables! { $
    META: &str => u64 = "meta", plain;
    /// Key id → the key record (schema 4: compact binary, `records/key.rs`).
    KEYS: u128 => &[u8] = "keys", plain;
    /// The private halves of stored keys: key id → tag byte + bytes.
    SECRETS: u128 => &[u8] = "key_secrets", sealed;
    BY_KID: &str => u128 = "keys_by_kid", plain;
    BY_INSERTION: u64 => u128 = "keys_by_insertion", plain;
    INSERTION_OF: u128 => u64 = "insertion_of_key", plain;
    /// Live keys by name (schema 5): (lower-case name, id) → the exact name. One index for
    /// both the unique exact name (the few entries under its lower case) and name order.
    BY_NAME: (&str, u128) => &str = "keys_by_name_lowercase", plain;
    /// Live keys by kind and lower-case name: one entry per key, `("<type>/<algorithm>", name,
    /// id)`, so a search by algorithm reads a range in name order, and one by type merges the
    /// ranges of its algorithms. Built at open when it does not hold one entry per key.
    BY_KIND_NAME: (&str, &str, u128) => () = "keys_by_kind_and_name", plain;
    /// Live keys with an issuer (schema 6): (issuer, id) → (). Exact issuer, in id order: what
    /// a per-issuer JWKS reads, whatever the number of other keys.
    BY_ISSUER: (&str, u128) => () = "keys_by_issuer", plain;
    /// Live keys per issuer (schema 7): issuer → how many, kept with `keys_by_issuer` in the
    /// same transactions (an issuer without keys has no row). A search by issuer picks its plan
    /// from it, and one by issuer alone reads its total from it.
    ISSUER_COUNTS: &str => u64 = "issuer_counts", plain;
    API_KEYS: &[u8] => () = "api_key_hashes", plain;
    /// Scoped API keys: id → JSON of an `ApiKeyRecord` (hash and permissions, never the key).
    /// Added without a schema change: an older build ignores it, so these keys fail closed there.
    API_KEY_RECORDS: u128 => &[u8] = "api_keys", plain;
    /// Restorably deleted keys: id → JSON `{"key": Key, "purgeAt": ms, "ring": ...}`.
    /// Added without a schema change (an older build ignores them: the keys stay deleted).
    DELETED_KEYS: u128 => &[u8] = "deleted_keys", plain;
    /// The private halves of restorably deleted keys, sealed as they were stored.
    DELETED_SECRETS: u128 => &[u8] = "deleted_key_secrets", sealed;
    /// The audit trail: sequence number → JSON of an `AuditRecord`. Added without a schema
    /// change (an older build ignores it).
    AUDIT_LOG: u64 => &[u8] = "audit_log", plain;
    /// The audit trail by time: (at, sequence number) → (). Kept with `audit_log` in every
    /// transaction that writes or deletes a record; built at open for files written without it.
    AUDIT_BY_TIME: (i64, u64) => () = "audit_log_by_time", plain;
    /// Auth0 connections (schema 2).
    CONNECTIONS: &str => &[u8] = "connections", plain;
    CONNECTIONS_BY_NAME: &str => &str = "connections_by_name", plain;
    RINGS: &str => &[u8] = "key_rings", plain;
    /// Key id → the storage key of the ring that holds it (its role is read from the ring).
    RING_OF_KEY: u128 => &str = "ring_of_key", plain;
    /// Live keys by kind: `"<type>/<algorithm>"` → how many. Kept by `insert_in` and
    /// `delete_in`, so `/metrics` reads a handful of rows whatever the number of keys.
    KEY_COUNTS: &str => u64 = "key_counts", plain;
    /// Live keys with a certificate, by expiration: (expirationInstant, id) → ().
    BY_EXPIRATION: (i64, u128) => () = "keys_by_expiration", plain;
    /// The ids of the master keys stored secrets may be sealed under: id → (). Every sealed
    /// value's master key is in it (a superset: deleting a key removes nothing), so opening a
    /// file checks these few ids instead of every secret. Built at open for files without it.
    MASTER_KEYS_IN_USE: &[u8] => () = "master_keys_in_use", plain;
}

/// Builds the list of sealed tables from `every_table!`'s `NAME: kind` pairs.
macro_rules! sealed_tables {
    (@acc [$($acc:ident),*]) => { [$($acc),*] };
    (@acc [$($acc:ident),*] $t:ident: sealed $(, $($rest:tt)*)?) => {
        sealed_tables!(@acc [$($acc,)* $t] $($($rest)*)?)
    };
    (@acc [$($acc:ident),*] $t:ident: plain $(, $($rest:tt)*)?) => {
        sealed_tables!(@acc [$($acc),*] $($($rest)*)?)
    };
    ($($rest:tt)*) => { sealed_tables!(@acc [] $($rest)*) };
}

/// The tables whose values are sealed secrets, keyed by the id they are bound to.
const SEALED_TABLES: &[TableDefinition<u128, &[u8]>] = &every_table!(sealed_tables);

const META_SCHEMA_VERSION: &str = "schema_version";

/// 1 once `master_keys_in_use` holds the master key of every sealed value (built at open).
const META_MASTER_KEYS_INDEXED: &str = "master_keys_indexed";

const META_NEXT_INSERTION: &str = "next_insertion";

/// The number of live keys the census was built or last kept for; a mismatch with KEYS (a
/// file written by a build that does not keep the census) rebuilds it at open.
const META_CENSUS_KEYS: &str = "census_keys";

/// How [`RedbStore::open_with`] opens a file.
#[derive(Clone, Copy, Debug)]
pub struct OpenOptions {
    /// Run redb's integrity check (every page's checksum) at every open, not only after a
    /// crash: a file damaged on disk is refused instead of trusted.
    pub check_integrity: bool,
    /// redb's page cache, in bytes ([`DEFAULT_CACHE_BYTES`]).
    pub cache_bytes: usize,
}

impl Default for OpenOptions {
    fn default() -> Self {
        Self {
            check_integrity: false,
            cache_bytes: DEFAULT_CACHE_BYTES,
        }
    }
}

/// What [`RedbStore::verify`] found. Counts only: no key material.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Verification {
    /// Live keys whose record decoded.
    pub keys: u64,
    /// Restorably deleted keys.
    pub deleted_keys: u64,
    /// Sealed values (in every sealed table) that opened under the configured master keys.
    pub secrets_opened: u64,
    /// Ids whose record or sealed value could not be read, with why.
    pub damaged: Vec<(String, String)>,
    /// Rings whose current and next keys are stored keys with the ring's kids.
    pub rings_whole: u64,
    /// Rings that are not (their storage key, with why).
    pub rings_broken: Vec<(String, String)>,
}

/// Keys in one redb file.
pub struct RedbStore {
    db: Arc<Database>,
    sealer: Arc<dyn SecretSealer>,
    /// Whether write transactions have been failing (a failing disk), for `/api/status`.
    health: Arc<crate::health::WriteHealth>,
    /// The group-commit writer ([`writer`]): the changes callers make concurrently commit
    /// together.
    writer: writer::Writer,
    commits: Arc<writer::Counters>,
    /// Search totals kept for the commit generation they were counted in ([`totals`]).
    search_totals: totals::Totals,
    /// Test failpoint: how long a ring change waits, written but uncommitted, before its commit.
    #[cfg(feature = "failpoints")]
    ring_commit_pause: Option<std::time::Duration>,
}

impl std::fmt::Debug for RedbStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RedbStore")
    }
}

impl RedbStore {
    /// Re-wraps every data key in every sealed table (live and restorably deleted keys alike)
    /// under the sealing master key, in one transaction (all or nothing). Returns how many were
    /// re-wrapped.
    pub fn rewrap_secrets(&self) -> Result<usize, StoreError> {
        self.write(|txn| {
            let mut total = 0;
            for table in SEALED_TABLES {
                let mut secrets = txn.open_table(*table)?;
                let mut changed = Vec::new();
                for entry in secrets.iter()? {
                    let (id, bytes) = entry?;
                    let record = KeyId(Uuid::from_u128(id.value()));
                    if let Some(value) = rewrap_secret(&*self.sealer, &record, bytes.value())? {
                        changed.push((id.value(), value));
                    }
                }
                for (id, value) in &changed {
                    secrets.insert(*id, value.as_slice())?;
                }
                total += changed.len();
            }
            // Every secret is now sealed under the sealing key alone.
            txn.delete_table(MASTER_KEYS_IN_USE)?;
            txn.open_table(MASTER_KEYS_IN_USE)?
                .insert(self.sealer.sealing_key_id().as_slice(), ())?;
            txn.open_table(META)?.insert(META_MASTER_KEYS_INDEXED, 1)?;
            Ok(total)
        })
    }

    /// Runs redb's integrity check: every page checksum of the committed trees, and the
    /// allocator state. `Ok(true)`: the file is whole; `Ok(false)`: redb found damage and
    /// repaired it (back to the last whole commit); an error: it cannot be repaired, or a
    /// transaction is still open on this store.
    pub fn check_integrity(&mut self) -> Result<bool, StoreError> {
        self.with_only_handle(|db| {
            db.check_integrity()
                .map_err(|e| StoreError::Engine(Box::new(e)))
        })
    }

    /// Runs `f` with the only handle on the database: the writer thread, which shares it, is
    /// stopped (nothing is queued: this holds `&mut self`) and started again after.
    fn with_only_handle<T>(
        &mut self,
        f: impl FnOnce(&mut Database) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.writer.stop();
        let result = Arc::get_mut(&mut self.db)
            .ok_or_else(|| StoreError::Engine("the database is still shared".into()))
            .and_then(f);
        self.writer =
            writer::Writer::start(self.db.clone(), self.health.clone(), self.commits.clone())?;
        result
    }

    /// Moves the file's pages to its start and returns the free space at its end to the file
    /// system (redb's `compact`, repeated until it has nothing left to move). Needs `&mut self`:
    /// nothing else may use the store meanwhile. Returns whether anything was moved.
    pub fn compact(&mut self) -> Result<bool, StoreError> {
        self.with_only_handle(|db| {
            let mut moved = false;
            while db.compact().map_err(|e| StoreError::Engine(Box::new(e)))? {
                moved = true;
            }
            Ok(moved)
        })
    }

    /// Reads every record and opens every sealed value (one read transaction), and checks
    /// that every ring's current and next keys are there. For `keysmith check`.
    pub fn verify(&self) -> Result<Verification, StoreError> {
        let txn = self.read()?;
        let mut found = Verification::default();
        for entry in txn.open_table(KEYS)?.iter()? {
            let (id, bytes) = entry?;
            match decode_key(bytes.value()) {
                Ok(_) => found.keys += 1,
                Err(err) => found
                    .damaged
                    .push((Uuid::from_u128(id.value()).to_string(), err.to_string())),
            }
        }
        found.deleted_keys = txn.open_table(DELETED_KEYS)?.len()?;
        for table in SEALED_TABLES {
            for entry in txn.open_table(*table)?.iter()? {
                let (id, bytes) = entry?;
                let id = KeyId(Uuid::from_u128(id.value()));
                match decode_secret(&*self.sealer, &id, bytes.value()) {
                    Ok(_) => found.secrets_opened += 1,
                    Err(err) => found.damaged.push((id.to_string(), err.to_string())),
                }
            }
        }
        let keys = txn.open_table(KEYS)?;
        for entry in txn.open_table(RINGS)?.iter()? {
            let (owner, bytes) = entry?;
            let owner = owner.value().to_owned();
            let ring = match decode_ring(bytes.value()) {
                Ok(ring) => ring,
                Err(err) => {
                    found.rings_broken.push((owner, err.to_string()));
                    continue;
                }
            };
            let mut whole = true;
            for (role, member) in [("current", &ring.current), ("next", &ring.next)] {
                let stored = keys
                    .get(raw(&member.id))?
                    .and_then(|bytes| decode_key(bytes.value()).ok());
                if stored.is_none_or(|key| key.kid != member.kid) {
                    found.rings_broken.push((
                        owner.clone(),
                        format!("its {role} key {} is missing or has another kid", member.id),
                    ));
                    whole = false;
                }
            }
            if whole {
                found.rings_whole += 1;
            }
        }
        Ok(found)
    }

    /// Test hook: begins a write transaction and hands it back, so that no other write
    /// (grouped or alone) can begin until the caller drops it; changes queue up meanwhile.
    #[cfg(feature = "testing")]
    pub fn hold_writes(&self) -> Result<WriteTransaction, StoreError> {
        Ok(self.db.begin_write()?)
    }

    /// A failpoint for crash tests: every ring change sleeps for `pause` after writing and
    /// before committing, so a test can kill the process mid-rotation. Only with the
    /// `failpoints` feature (never in a release build).
    #[cfg(feature = "failpoints")]
    pub fn with_ring_commit_pause(mut self, pause: std::time::Duration) -> Self {
        self.ring_commit_pause = Some(pause);
        self
    }

    /// The sealed form of a record's private half (sealed before its transaction begins where
    /// the caller can, since sealing does not need the database).
    fn stored_secret(&self, record: &StoredKey) -> Result<Option<Vec<u8>>, StoreError> {
        record
            .private
            .as_ref()
            .map(|private| encode_secret(&*self.sealer, &record.key.id, private))
            .transpose()
    }

    /// Queues the change `f` for the group-commit writer and waits until the transaction that
    /// carries it has committed ([`writer`]): `f` may run more than once, so it must own what
    /// it reads. Under an audit context ([`crate::with_audit_context`]) the change also appends
    /// one audit row per target `targets` names from `f`'s result (none: nothing was changed,
    /// nothing recorded), in the same transaction, so the change and its record are one.
    fn write_audited<T: Send + 'static>(
        &self,
        targets: impl Fn(&T) -> Vec<String> + Send + 'static,
        f: impl FnMut(&WriteTransaction) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (out, rows) = self.writer.submit(audited(targets, f))?;
        committed_audit(&rows);
        Ok(out)
    }

    /// [`Self::write_audited`] for a change that commits alone (it cannot be run twice).
    fn write_audited_alone<T>(
        &self,
        targets: impl FnOnce(&T) -> Vec<String>,
        f: impl FnOnce(&WriteTransaction) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let context = crate::audit::current();
        let (out, rows) = self.write(|txn| {
            let out = f(txn)?;
            let rows = append_audit_rows(txn, context.as_ref(), targets(&out))?;
            Ok((out, rows))
        })?;
        committed_audit(&rows);
        Ok(out)
    }

    /// Runs `f` in a durable write transaction of its own (not batched by the writer). If `f`
    /// fails, nothing it wrote is kept.
    fn write<T>(
        &self,
        f: impl FnOnce(&WriteTransaction) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let result = (|| {
            let mut txn = self.db.begin_write()?;
            txn.set_durability(Durability::Immediate)?;
            txn.set_two_phase_commit(true);
            let out = f(&txn)?;
            self.commits.generation.commit(|| txn.commit())?;
            Ok(out)
        })();
        self.health.record(&result);
        result
    }

    fn read(&self) -> Result<ReadTransaction, StoreError> {
        Ok(self.db.begin_read()?)
    }
}

/// A re-runnable change `f` for the writer that also appends, in its transaction, its audit
/// rows under the caller's audit context (taken now, on the caller's thread), and returns them
/// with its output.
fn audited<T>(
    targets: impl Fn(&T) -> Vec<String> + Send + 'static,
    mut f: impl FnMut(&WriteTransaction) -> Result<T, StoreError> + Send + 'static,
) -> impl FnMut(&WriteTransaction) -> Result<(T, Vec<keysmith_model::AuditRecord>), StoreError>
+ Send
+ 'static {
    let context = crate::audit::current();
    move |txn| {
        let out = f(txn)?;
        let rows = append_audit_rows(txn, context.as_ref(), targets(&out))?;
        Ok((out, rows))
    }
}

/// Appends, in the change's transaction, its audit rows under `context` (none outside a
/// context) for `targets`; returns them for logging after the commit.
fn append_audit_rows(
    txn: &WriteTransaction,
    context: Option<&crate::AuditContext>,
    targets: Vec<String>,
) -> Result<Vec<keysmith_model::AuditRecord>, StoreError> {
    let rows = audit_rows(context, targets);
    append_in(txn, &rows)?;
    Ok(rows)
}

mod api_keys;
mod audit_log;
mod connections;
mod keys;
mod open;
mod rings;
mod secrets;
mod totals;
mod transfer;
mod writer;

use crate::audit::{audit_rows, changed, committed_audit, if_true};
use crate::records::*;
use crate::sealed::*;
use audit_log::*;
use keys::*;
use open::*;
use rings::*;
use secrets::*;
pub use writer::CommitStats;

impl KeyStore for RedbStore {
    fn snapshot_to(
        &self,
        path: &Path,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<u64, StoreError> {
        // A new file, private to its owner from its first byte (never over an existing file).
        let file = create_private_file(path).map_err(|e| {
            StoreError::Engine(Box::new(std::io::Error::new(
                e.kind(),
                format!("cannot create {}: {e}", path.display()),
            )))
        })?;
        let source = self.read()?;
        let target = Database::builder()
            .set_cache_size(SNAPSHOT_CACHE_BYTES)
            .create_with_backend(
                redb::backends::FileBackend::new(file).map_err(|e| open_error(e, path))?,
            )
            .map_err(|e| open_error(e, path))?;
        let mut txn = target.begin_write()?;
        txn.set_durability(Durability::Immediate)?;
        let mut total = 0u64;
        let mut done = 0u64;
        macro_rules! count {
            ($($table:ident: $kind:ident),*) => {$( total += source.open_table($table)?.len()?; )*};
        }
        macro_rules! copy {
            ($($table:ident: $kind:ident),*) => {$({
                let from = source.open_table($table)?;
                let mut to = txn.open_table($table)?;
                for entry in from.iter()? {
                    let (key, value) = entry?;
                    to.insert(key.value(), value.value())?;
                    done += 1;
                    progress(done, total);
                }
            })*};
        }
        every_table!(count);
        every_table!(copy);
        txn.commit()?;
        Ok(done)
    }

    fn health(&self) -> crate::StoreHealth {
        self.health.get()
    }

    fn probe_write(&self) -> Result<(), StoreError> {
        self.write(|_| Ok(()))
    }

    fn commit_stats(&self) -> CommitStats {
        self.commits.get()
    }
}

#[cfg(test)]
mod tests {
    /// docs/storage.md documents every table, and says which hold sealed values.
    #[test]
    fn every_table_is_documented_with_whether_it_is_sealed() {
        let docs = include_str!("../../../../docs/storage.md");
        for (name, sealed) in super::TABLE_NAMES {
            let row = docs
                .lines()
                .find(|l| l.starts_with(&format!("| `{name}` |")));
            let Some(row) = row else {
                panic!("docs/storage.md has no row for the table `{name}`");
            };
            assert_eq!(
                row.contains("**sealed**"),
                *sealed,
                "docs/storage.md must mark `{name}` **sealed** exactly when it holds sealed values"
            );
        }
    }
}
