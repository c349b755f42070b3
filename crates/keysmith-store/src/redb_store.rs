//! The redb implementation of [`KeyStore`].

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::path::Path;
use std::sync::Arc;

use keysmith_model::search::{SearchQuery, SortField};
use keysmith_model::{
    Connection, Key, KeyId, KeyRing, KeyUse, PrivateMaterial, RingError, RingOwner, RingRole,
    SealError, SecretBytes, SecretSealer,
};
use redb::{
    Database, DatabaseError, Durability, ReadOnlyDatabase, ReadTransaction, ReadableDatabase,
    ReadableTable, ReadableTableMetadata, TableDefinition, TableError, WriteTransaction,
};
use uuid::Uuid;

use crate::error::UniqueField;
use crate::{KeyCensus, KeyStore, RingChange, SearchPage, StoreError, StoredKey};

/// The schema version this build writes. Versions 1 (keys only) and 2 (rings, plaintext
/// secrets) are upgraded on open.
pub const SCHEMA_VERSION: u64 = 3;
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
    KEYS: u128 => &[u8] = "keys", plain;
    /// The private halves of stored keys: key id → tag byte + bytes.
    SECRETS: u128 => &[u8] = "key_secrets", sealed;
    BY_NAME: &str => u128 = "keys_by_name", plain;
    BY_KID: &str => u128 = "keys_by_kid", plain;
    BY_INSERTION: u64 => u128 = "keys_by_insertion", plain;
    INSERTION_OF: u128 => u64 = "insertion_of_key", plain;
    BY_LOWER_NAME: (&str, u128) => () = "keys_by_lower_name", plain;
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
const META_NEXT_INSERTION: &str = "next_insertion";
/// The number of live keys the census was built or last kept for; a mismatch with KEYS (a
/// file written by a build that does not keep the census) rebuilds it at open.
const META_CENSUS_KEYS: &str = "census_keys";

// The private half: a tag byte, then its bytes. Tags 1 and 2 are the plaintext forms (written by
// schema 1 and 2, upgraded at open); tag 3 is a sealed tag-1 or tag-2 value.
const SECRET_PKCS8: u8 = 1;
const SECRET_HMAC: u8 = 2;
const SECRET_SEALED: u8 = 3;

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
    db: Database,
    sealer: Arc<dyn SecretSealer>,
    /// Whether write transactions have been failing (a failing disk), for `/api/status`.
    health: crate::health::WriteHealth,
    /// Test failpoint: how long a ring change waits, written but uncommitted, before its commit.
    #[cfg(feature = "failpoints")]
    ring_commit_pause: Option<std::time::Duration>,
}

impl std::fmt::Debug for RedbStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RedbStore")
    }
}

fn open_error(err: DatabaseError, path: &Path) -> StoreError {
    let shown = path.display().to_string();
    match err {
        DatabaseError::DatabaseAlreadyOpen => StoreError::Locked(shown),
        DatabaseError::Storage(redb::StorageError::Corrupted(_))
        | DatabaseError::UpgradeRequired(_) => StoreError::NotKeysmithData(shown),
        other => StoreError::Engine(Box::new(other)),
    }
}

impl RedbStore {
    /// Opens the data file at `path`, creating it (and nothing else) if it does not exist.
    ///
    /// An existing file is first checked read-only: if it is not a Keysmith file, or has a
    /// schema version this build does not know, it is refused and left untouched. The one
    /// exception is a file left by a crash (a process killed mid-write): redb must repair it
    /// before it can be read at all, so it is repaired first and checked after.
    ///
    /// Secrets are sealed by `sealer`. Before anything is written, every stored secret's master
    /// key is checked: a file sealed under a master key that is not configured is refused.
    ///
    /// redb's page cache is [`DEFAULT_CACHE_BYTES`]; [`RedbStore::open_with`] chooses.
    pub fn open(path: &Path, sealer: Arc<dyn SecretSealer>) -> Result<Self, StoreError> {
        Self::open_with(path, sealer, OpenOptions::default())
    }

    /// [`RedbStore::open`] with a page cache of at most `cache_bytes` (pages read and written;
    /// what is not cached is read from the file, i.e. from the operating system's page cache).
    pub fn open_with_cache(
        path: &Path,
        sealer: Arc<dyn SecretSealer>,
        cache_bytes: usize,
    ) -> Result<Self, StoreError> {
        let options = OpenOptions {
            cache_bytes,
            ..OpenOptions::default()
        };
        Self::open_with(path, sealer, options)
    }

    /// [`Self::open`] with options.
    pub fn open_with(
        path: &Path,
        sealer: Arc<dyn SecretSealer>,
        options: OpenOptions,
    ) -> Result<Self, StoreError> {
        Self::check_before_open(path, &*sealer)?;
        let db = Database::builder()
            .set_check_integrity_on_open(options.check_integrity)
            .set_cache_size(options.cache_bytes)
            .create(path)
            .map_err(|e| open_error(e, path))?;
        Self::from_database(db, sealer, &path.display().to_string())
    }

    /// Opens the data file at `path` through a backend that fails as `plan` says (counted from
    /// the end of the open), for end-to-end tests of a failing disk. Only with `failpoints`.
    #[cfg(feature = "failpoints")]
    pub fn open_with_faults(
        path: &Path,
        sealer: Arc<dyn SecretSealer>,
        plan: Arc<crate::testing::FaultPlan>,
    ) -> Result<Self, StoreError> {
        Self::check_before_open(path, &*sealer)?;
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(|e| StoreError::Engine(Box::new(e)))?;
        let backend = redb::backends::FileBackend::new(file).map_err(|e| open_error(e, path))?;
        let db = Database::builder()
            .create_with_backend(crate::testing::FaultyBackend::new(backend, plan.clone()))
            .map_err(|e| open_error(e, path))?;
        let store = Self::from_database(db, sealer, &path.display().to_string())?;
        let len = std::fs::metadata(path).map_or(0, |m| m.len());
        plan.opened(len);
        Ok(store)
    }

    /// The read-only checks of an existing file (see [`Self::open`]).
    fn check_before_open(path: &Path, sealer: &dyn SecretSealer) -> Result<(), StoreError> {
        if path.exists() {
            match ReadOnlyDatabase::open(path) {
                Ok(existing) => {
                    // Both checks read only, so a refused file is left byte for byte as it was.
                    let txn = existing.begin_read()?;
                    check_schema(&txn, path)?;
                    check_master_keys(&txn, sealer)?;
                }
                Err(DatabaseError::RepairAborted) => {}
                Err(other) => return Err(open_error(other, path)),
            }
        }
        Ok(())
    }

    /// Opens a data file kept by any redb storage backend (tests wrap the file backend to
    /// simulate power loss and failing disks). The same checks and upgrades as [`Self::open`],
    /// without the read-only pre-check (there is no path to open twice).
    #[cfg(feature = "testing")]
    pub fn open_with_backend(
        backend: impl redb::StorageBackend,
        sealer: Arc<dyn SecretSealer>,
    ) -> Result<Self, StoreError> {
        let db = Database::builder()
            .create_with_backend(backend)
            .map_err(|e| open_error(e, Path::new("<storage backend>")))?;
        Self::from_database(db, sealer, "<storage backend>")
    }

    /// Checks and upgrades an opened database (see [`Self::open`]); `shown` names it in errors.
    fn from_database(
        db: Database,
        sealer: Arc<dyn SecretSealer>,
        shown: &str,
    ) -> Result<Self, StoreError> {
        check_schema(&db.begin_read()?, Path::new(shown))?;
        let store = Self {
            db,
            sealer,
            health: crate::health::WriteHealth::default(),
            #[cfg(feature = "failpoints")]
            ring_commit_pause: None,
        };
        check_master_keys(&store.read()?, &*store.sealer)?;
        store.write(|txn| {
            let mut meta = txn.open_table(META)?;
            let version = meta.get(META_SCHEMA_VERSION)?.map(|v| v.value());
            match version {
                None => {
                    meta.insert(META_SCHEMA_VERSION, SCHEMA_VERSION)?;
                    meta.insert(META_NEXT_INSERTION, 0)?;
                }
                Some(SCHEMA_VERSION) => {}
                Some(OLDEST_SCHEMA_VERSION..SCHEMA_VERSION) => {
                    // 1 → 2 adds tables (created below); 2 → 3 seals the plaintext secrets.
                    meta.insert(META_SCHEMA_VERSION, SCHEMA_VERSION)?;
                    let sealed = seal_plaintext_secrets(txn, &*store.sealer)?;
                    if sealed > 0 {
                        tracing::info!(
                            sealed,
                            "data file upgraded: stored secrets are now encrypted"
                        );
                    }
                }
                Some(found) => {
                    return Err(StoreError::UnknownSchemaVersion {
                        found,
                        supported: SCHEMA_VERSION,
                    });
                }
            }
            drop(meta);
            // Create every table so readers never meet a missing one.
            macro_rules! create {
                ($($table:ident: $kind:ident),*) => {$( txn.open_table($table)?; )*};
            }
            every_table!(create);
            ensure_census(txn)?;
            ensure_audit_index(txn)?;
            Ok(())
        })?;
        Ok(store)
    }

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
                    if let Some((&SECRET_SEALED, sealed)) = bytes.value().split_first()
                        && let Some(rewrapped) =
                            self.sealer.rewrap(&record, sealed).map_err(seal_error)?
                    {
                        let mut value = vec![SECRET_SEALED];
                        value.extend_from_slice(&rewrapped);
                        changed.push((id.value(), value));
                    }
                }
                for (id, value) in &changed {
                    secrets.insert(*id, value.as_slice())?;
                }
                total += changed.len();
            }
            Ok(total)
        })
    }

    /// Runs redb's integrity check: every page checksum of the committed trees, and the
    /// allocator state. `Ok(true)`: the file is whole; `Ok(false)`: redb found damage and
    /// repaired it (back to the last whole commit); an error: it cannot be repaired, or a
    /// transaction is still open on this store.
    pub fn check_integrity(&mut self) -> Result<bool, StoreError> {
        self.db
            .check_integrity()
            .map_err(|e| StoreError::Engine(Box::new(e)))
    }

    /// Reads every record and opens every sealed value (one read transaction), and checks
    /// that every ring's current and next keys are there. For `keysmith check`.
    pub fn verify(&self) -> Result<Verification, StoreError> {
        let txn = self.read()?;
        let mut found = Verification::default();
        for entry in txn.open_table(KEYS)?.iter()? {
            let (id, bytes) = entry?;
            match decode_json::<Key>(bytes.value(), "key") {
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
            let ring: KeyRing = match decode_json(bytes.value(), "key ring") {
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
                    .and_then(|bytes| decode_json::<Key>(bytes.value(), "key").ok());
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

    /// Checks that the file at `path` is a Keysmith data file this build can open with `sealer`
    /// (schema, master keys), read-only: nothing is written to it.
    pub fn check_file(path: &Path, sealer: &dyn SecretSealer) -> Result<u64, StoreError> {
        let db = ReadOnlyDatabase::open(path).map_err(|e| open_error(e, path))?;
        let txn = db.begin_read()?;
        check_schema(&txn, path)?;
        check_master_keys(&txn, sealer)?;
        Ok(txn.open_table(KEYS)?.len()?)
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

    /// Runs `f` in one durable write transaction, as [`Self::write`] does; under an audit
    /// context ([`crate::with_audit_context`]) the transaction also appends one audit row per
    /// target `targets` names from `f`'s result (none: nothing was changed, nothing recorded).
    /// The rows are written before the commit, so the change and its record are one.
    fn write_audited<T>(
        &self,
        targets: impl FnOnce(&T) -> Vec<String>,
        f: impl FnOnce(&WriteTransaction) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let Some(context) = crate::audit::current() else {
            return self.write(f);
        };
        let (out, rows) = self.write(|txn| {
            let out = f(txn)?;
            let at = keysmith_model::epoch_millis_now();
            let records: Vec<keysmith_model::AuditRecord> = targets(&out)
                .into_iter()
                .map(|target| keysmith_model::AuditRecord {
                    id: 0,
                    at,
                    actor: context.actor.clone(),
                    action: context.action.clone(),
                    target,
                    result: "ok".into(),
                    request_id: context.request_id.clone(),
                    uses: None,
                })
                .collect();
            append_in(txn, &records)?;
            Ok((out, records))
        })?;
        for record in &rows {
            crate::log_audit(record);
        }
        crate::audit::committed(rows.len() as u64);
        Ok(out)
    }

    /// Runs `f` in one durable write transaction. If `f` fails, nothing it wrote is kept.
    fn write<T>(
        &self,
        f: impl FnOnce(&WriteTransaction) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let result = (|| {
            let mut txn = self.db.begin_write()?;
            txn.set_durability(Durability::Immediate)?;
            txn.set_two_phase_commit(true);
            let out = f(&txn)?;
            txn.commit()?;
            Ok(out)
        })();
        self.health.record(&result);
        result
    }

    fn read(&self) -> Result<ReadTransaction, StoreError> {
        Ok(self.db.begin_read()?)
    }
}

/// Refuses a file whose secrets, in any sealed table, are sealed under a master key that is
/// not configured. A secret that fails authentication is logged (it will fail when used), not
/// refused: one damaged record must not keep the server from serving the others.
fn check_master_keys(txn: &ReadTransaction, sealer: &dyn SecretSealer) -> Result<(), StoreError> {
    for table in SEALED_TABLES {
        check_master_keys_in(txn, *table, sealer)?;
    }
    Ok(())
}

fn check_master_keys_in(
    txn: &ReadTransaction,
    table: TableDefinition<u128, &[u8]>,
    sealer: &dyn SecretSealer,
) -> Result<(), StoreError> {
    let secrets = match txn.open_table(table) {
        Ok(table) => table,
        Err(TableError::TableDoesNotExist(_)) => return Ok(()),
        Err(other) => return Err(other.into()),
    };
    for entry in secrets.iter()? {
        let (id, bytes) = entry?;
        let id = KeyId(Uuid::from_u128(id.value()));
        if let Some((&SECRET_SEALED, sealed)) = bytes.value().split_first() {
            match sealer.check(&id, sealed) {
                Ok(()) => {}
                Err(SealError::UnknownMasterKey(master)) => {
                    return Err(StoreError::MasterKey(format!(
                        "stored secrets are sealed under master key {master}, which is not configured (a wrong or missing master key); nothing was changed"
                    )));
                }
                Err(err) => {
                    tracing::error!(key.id = %id, error = %err, "a stored secret cannot be opened")
                }
            }
        }
    }
    Ok(())
}

/// Checks the schema version of an existing file without writing to it.
fn check_schema(txn: &ReadTransaction, path: &Path) -> Result<(), StoreError> {
    match txn.open_table(META) {
        Ok(meta) => match meta.get(META_SCHEMA_VERSION)?.map(|v| v.value()) {
            Some(OLDEST_SCHEMA_VERSION..=SCHEMA_VERSION) => Ok(()),
            Some(found) => Err(StoreError::UnknownSchemaVersion {
                found,
                supported: SCHEMA_VERSION,
            }),
            None => Err(StoreError::NotKeysmithData(path.display().to_string())),
        },
        Err(TableError::TableDoesNotExist(_)) => {
            // A file with no tables at all is an empty database (e.g. a crash right after
            // creation); anything else belongs to someone else.
            if txn.list_tables()?.next().is_none() {
                Ok(())
            } else {
                Err(StoreError::NotKeysmithData(path.display().to_string()))
            }
        }
        Err(TableError::TableTypeMismatch { .. }) => {
            Err(StoreError::NotKeysmithData(path.display().to_string()))
        }
        Err(other) => Err(other.into()),
    }
}

/// Creates a new file for reading and writing, only its owner can read (mode 0600 on Unix,
/// set when it is created); fails if `path` exists.
fn create_private_file(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true).write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

fn encode_key(key: &Key) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(key).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn decode_key(bytes: &[u8]) -> Result<Key, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt(format!("key record: {e}")))
}

fn plaintext_secret(private: &PrivateMaterial) -> SecretBytes {
    let (tag, bytes) = match private {
        PrivateMaterial::Pkcs8(b) => (SECRET_PKCS8, b.expose()),
        PrivateMaterial::HmacSecret(b) => (SECRET_HMAC, b.expose()),
    };
    let mut out = Vec::with_capacity(bytes.len() + 1);
    out.push(tag);
    out.extend_from_slice(bytes);
    SecretBytes::new(out)
}

fn seal_error(err: SealError) -> StoreError {
    StoreError::Sealing(err)
}

/// The stored form of a private half: sealed, never plaintext.
fn encode_secret(
    sealer: &dyn SecretSealer,
    id: &KeyId,
    private: &PrivateMaterial,
) -> Result<Vec<u8>, StoreError> {
    let sealed = sealer
        .seal(id, plaintext_secret(private).expose())
        .map_err(seal_error)?;
    let mut out = Vec::with_capacity(sealed.len() + 1);
    out.push(SECRET_SEALED);
    out.extend_from_slice(&sealed);
    Ok(out)
}

fn decode_plaintext(bytes: &[u8]) -> Result<PrivateMaterial, StoreError> {
    match bytes.split_first() {
        Some((&SECRET_PKCS8, rest)) => Ok(PrivateMaterial::Pkcs8(SecretBytes::new(rest.to_vec()))),
        Some((&SECRET_HMAC, rest)) => {
            Ok(PrivateMaterial::HmacSecret(SecretBytes::new(rest.to_vec())))
        }
        _ => Err(StoreError::Corrupt("secret record".into())),
    }
}

fn decode_secret(
    sealer: &dyn SecretSealer,
    id: &KeyId,
    bytes: &[u8],
) -> Result<PrivateMaterial, StoreError> {
    match bytes.split_first() {
        Some((&SECRET_SEALED, sealed)) => {
            let plaintext = sealer.open(id, sealed).map_err(seal_error)?;
            decode_plaintext(plaintext.expose())
        }
        _ => decode_plaintext(bytes),
    }
}

/// Seals every plaintext secret in every sealed table (the 2 → 3 upgrade). Returns how many.
fn seal_plaintext_secrets(
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

fn raw(id: &KeyId) -> u128 {
    id.0.as_u128()
}

fn lower(name: &str) -> String {
    name.to_lowercase()
}

fn get_in(
    txn: &ReadTransaction,
    sealer: &dyn SecretSealer,
    id: u128,
) -> Result<Option<StoredKey>, StoreError> {
    let keys = txn.open_table(KEYS)?;
    let Some(bytes) = keys.get(id)? else {
        return Ok(None);
    };
    let key = decode_key(bytes.value())?;
    let secrets = txn.open_table(SECRETS)?;
    let private = match secrets.get(id)? {
        Some(bytes) => Some(decode_secret(sealer, &key.id, bytes.value())?),
        None => None,
    };
    Ok(Some(StoredKey { key, private }))
}

/// Stores a key record; `secret` is its private half in stored (sealed) form.
fn insert_in(
    txn: &WriteTransaction,
    record: &StoredKey,
    json: &[u8],
    secret: Option<&[u8]>,
) -> Result<(), StoreError> {
    let key = &record.key;
    let id = raw(&key.id);
    let mut keys = txn.open_table(KEYS)?;
    if keys.get(id)?.is_some() {
        return Err(StoreError::Duplicate(UniqueField::Id));
    }
    let mut by_name = txn.open_table(BY_NAME)?;
    if by_name.get(key.name.as_str())?.is_some() {
        return Err(StoreError::Duplicate(UniqueField::Name));
    }
    let mut by_kid = txn.open_table(BY_KID)?;
    if by_kid.get(key.kid.as_str())?.is_some() {
        return Err(StoreError::Duplicate(UniqueField::Kid));
    }
    let mut meta = txn.open_table(META)?;
    let seq = meta.get(META_NEXT_INSERTION)?.map_or(0, |v| v.value());
    meta.insert(META_NEXT_INSERTION, seq + 1)?;
    drop(meta);
    keys.insert(id, json)?;
    by_name.insert(key.name.as_str(), id)?;
    by_kid.insert(key.kid.as_str(), id)?;
    txn.open_table(BY_INSERTION)?.insert(seq, id)?;
    txn.open_table(INSERTION_OF)?.insert(id, seq)?;
    txn.open_table(BY_LOWER_NAME)?
        .insert((lower(&key.name).as_str(), id), ())?;
    if let Some(secret) = secret {
        txn.open_table(SECRETS)?.insert(id, secret)?;
    }
    count_key(txn, key, true)?;
    Ok(())
}

fn kind_of(key: &Key) -> String {
    format!("{}/{}", key.key_type.as_str(), key.algorithm.as_str())
}

/// Keeps the census (KEY_COUNTS, BY_EXPIRATION, META_CENSUS_KEYS) as a key is added or removed.
fn count_key(txn: &WriteTransaction, key: &Key, added: bool) -> Result<(), StoreError> {
    let kind = kind_of(key);
    let mut counts = txn.open_table(KEY_COUNTS)?;
    let now = counts.get(kind.as_str())?.map_or(0, |v| v.value());
    let next = if added {
        now.saturating_add(1)
    } else {
        now.saturating_sub(1)
    };
    if next == 0 {
        counts.remove(kind.as_str())?;
    } else {
        counts.insert(kind.as_str(), next)?;
    }
    if let Some(expires) = key.expiration_instant {
        let mut by_expiration = txn.open_table(BY_EXPIRATION)?;
        if added {
            by_expiration.insert((expires, raw(&key.id)), ())?;
        } else {
            by_expiration.remove((expires, raw(&key.id)))?;
        }
    }
    let mut meta = txn.open_table(META)?;
    let total = meta.get(META_CENSUS_KEYS)?.map_or(0, |v| v.value());
    let total = if added {
        total.saturating_add(1)
    } else {
        total.saturating_sub(1)
    };
    meta.insert(META_CENSUS_KEYS, total)?;
    Ok(())
}

/// Builds the census from KEYS unless it is already in step with it (one scan, at open, only
/// for files a build without the census wrote).
fn ensure_census(txn: &WriteTransaction) -> Result<(), StoreError> {
    let live = txn.open_table(KEYS)?.len()?;
    let counted = txn
        .open_table(META)?
        .get(META_CENSUS_KEYS)?
        .map(|v| v.value());
    if counted == Some(live) {
        return Ok(());
    }
    txn.delete_table(KEY_COUNTS)?;
    txn.delete_table(BY_EXPIRATION)?;
    let mut counts: std::collections::BTreeMap<String, u64> = std::collections::BTreeMap::new();
    let mut by_expiration = txn.open_table(BY_EXPIRATION)?;
    for entry in txn.open_table(KEYS)?.iter()? {
        let (id, bytes) = entry?;
        let key = decode_key(bytes.value())?;
        *counts.entry(kind_of(&key)).or_default() += 1;
        if let Some(expires) = key.expiration_instant {
            by_expiration.insert((expires, id.value()), ())?;
        }
    }
    let mut table = txn.open_table(KEY_COUNTS)?;
    for (kind, count) in &counts {
        table.insert(kind.as_str(), *count)?;
    }
    txn.open_table(META)?.insert(META_CENSUS_KEYS, live)?;
    tracing::info!(keys = live, "key census built");
    Ok(())
}

/// The audit targets of a change that returns whether it changed anything.
fn if_true(target: String) -> impl FnOnce(&bool) -> Vec<String> {
    move |changed| if *changed { vec![target] } else { Vec::new() }
}

/// The audit targets of a change that returns `None` when there was nothing to change.
fn changed<T>(target: String) -> impl FnOnce(&Option<T>) -> Vec<String> {
    move |out| out.as_ref().map(|_| target).into_iter().collect()
}

/// Appends audit records after the last one, with their sequence numbers, and indexes them by
/// time.
fn append_in(
    txn: &WriteTransaction,
    records: &[keysmith_model::AuditRecord],
) -> Result<(), StoreError> {
    if records.is_empty() {
        return Ok(());
    }
    let mut log = txn.open_table(AUDIT_LOG)?;
    let mut by_time = txn.open_table(AUDIT_BY_TIME)?;
    let first = log.last()?.map_or(1, |(seq, _)| seq.value() + 1);
    for (seq, record) in (first..).zip(records) {
        let mut record = record.clone();
        record.id = seq;
        log.insert(seq, encode_json(&record)?.as_slice())?;
        by_time.insert((record.at, seq), ())?;
    }
    Ok(())
}

/// Builds the audit time index unless it is in step with the log (one scan, at open, only for
/// files written by a build without it).
fn ensure_audit_index(txn: &WriteTransaction) -> Result<(), StoreError> {
    let records = txn.open_table(AUDIT_LOG)?.len()?;
    if txn.open_table(AUDIT_BY_TIME)?.len()? == records {
        return Ok(());
    }
    txn.delete_table(AUDIT_BY_TIME)?;
    let mut by_time = txn.open_table(AUDIT_BY_TIME)?;
    for entry in txn.open_table(AUDIT_LOG)?.iter()? {
        let (seq, bytes) = entry?;
        let record: keysmith_model::AuditRecord = decode_json(bytes.value(), "audit record")?;
        by_time.insert((record.at, seq.value()), ())?;
    }
    tracing::info!(records, "audit time index built");
    Ok(())
}

/// The audit record numbered `seq`, which the time index names.
fn audit_record_at(
    log: &impl ReadableTable<u64, &'static [u8]>,
    seq: u64,
) -> Result<keysmith_model::AuditRecord, StoreError> {
    let Some(bytes) = log.get(seq)? else {
        return Err(StoreError::Corrupt(
            "audit time index names a missing record".into(),
        ));
    };
    decode_json(bytes.value(), "audit record")
}

/// The most audit records one pruning transaction deletes (a large backlog takes several).
const PRUNE_CHUNK: usize = 10_000;

/// Deletes up to `limit` of the oldest audit records, those before `before` when given.
/// Returns how many.
fn prune_oldest_in(
    txn: &WriteTransaction,
    before: Option<i64>,
    limit: usize,
) -> Result<usize, StoreError> {
    let mut by_time = txn.open_table(AUDIT_BY_TIME)?;
    let mut doomed = Vec::new();
    let range = match before {
        Some(before) => by_time.range(..(before, 0))?,
        None => by_time.range::<(i64, u64)>(..)?,
    };
    for entry in range.take(limit) {
        doomed.push(entry?.0.value());
    }
    let mut log = txn.open_table(AUDIT_LOG)?;
    for key in &doomed {
        by_time.remove(*key)?;
        log.remove(key.1)?;
    }
    Ok(doomed.len())
}

/// A restorably deleted key as kept.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct DeletedKey {
    key: Key,
    purge_at: i64,
    /// Where the key was revoked when it was deleted, so a restore puts it back there.
    /// Absent for keys in no ring, and in records written before it was kept (those restore as
    /// plain keys).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ring: Option<RevokedPlace>,
}

/// A revoked key's place in its ring: the ring's owner (its storage key) and its slot.
#[derive(serde::Serialize, serde::Deserialize)]
struct RevokedPlace {
    owner: String,
    slot: keysmith_model::RingKey,
}

/// Refuses to delete a key a ring uses; a revoked ring key leaves its ring. Returns the place
/// a released revoked key had.
fn release_from_ring(
    txn: &WriteTransaction,
    id: &KeyId,
) -> Result<Option<RevokedPlace>, StoreError> {
    let Some(owner) = ring_of_key_in(txn, raw(id))? else {
        return Ok(None);
    };
    let mut ring = ring_in(txn, &owner)?
        .ok_or_else(|| StoreError::Corrupt(format!("ring index names a missing ring: {owner}")))?;
    match ring.role_of(id) {
        Some(role) if role.is_live() => Err(StoreError::InUse { owner, role }),
        _ => {
            let slot = ring.revoked.iter().find(|k| k.id == *id).cloned();
            ring.forget_revoked(id);
            put_ring_in(txn, &owner, &ring)?;
            txn.open_table(RING_OF_KEY)?.remove(raw(id))?;
            Ok(slot.map(|slot| RevokedPlace {
                owner: owner.storage_key(),
                slot,
            }))
        }
    }
}

/// Puts a restored key back into the ring it was revoked in, still revoked. Refused
/// ([`StoreError::RingGone`]) if that ring no longer exists.
fn return_to_ring(txn: &WriteTransaction, place: RevokedPlace) -> Result<(), StoreError> {
    let owner = RingOwner::from_storage_key(&place.owner)
        .ok_or_else(|| StoreError::Corrupt("deleted key's ring owner".into()))?;
    let Some(mut ring) = ring_in(txn, &owner)? else {
        return Err(StoreError::RingGone { owner });
    };
    let id = place.slot.id;
    ring.restore_revoked(place.slot);
    put_ring_in(txn, &owner, &ring)?;
    if txn
        .open_table(RING_OF_KEY)?
        .insert(raw(&id), owner.storage_key().as_str())?
        .is_some()
    {
        return Err(StoreError::Corrupt("a key would be in two rings".into()));
    }
    Ok(())
}

/// Deletes a key and its index entries, whatever ring holds it. Returns whether it existed.
fn delete_in(txn: &WriteTransaction, id: u128) -> Result<bool, StoreError> {
    let mut keys = txn.open_table(KEYS)?;
    let Some(bytes) = keys.remove(id)?.map(|v| v.value().to_vec()) else {
        return Ok(false);
    };
    let key = decode_key(&bytes)?;
    count_key(txn, &key, false)?;
    txn.open_table(SECRETS)?.remove(id)?;
    txn.open_table(BY_NAME)?.remove(key.name.as_str())?;
    txn.open_table(BY_KID)?.remove(key.kid.as_str())?;
    txn.open_table(BY_LOWER_NAME)?
        .remove((lower(&key.name).as_str(), id))?;
    if let Some(seq) = txn.open_table(INSERTION_OF)?.remove(id)?.map(|v| v.value()) {
        txn.open_table(BY_INSERTION)?.remove(seq)?;
    }
    Ok(true)
}

fn decode_json<T: serde::de::DeserializeOwned>(bytes: &[u8], what: &str) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

fn encode_json<T: serde::Serialize>(value: &T) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(value).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn ring_of_key_in(txn: &WriteTransaction, id: u128) -> Result<Option<RingOwner>, StoreError> {
    let table = txn.open_table(RING_OF_KEY)?;
    let Some(owner) = table.get(id)? else {
        return Ok(None);
    };
    RingOwner::from_storage_key(owner.value())
        .map(Some)
        .ok_or_else(|| StoreError::Corrupt("ring index entry".into()))
}

fn ring_in(txn: &WriteTransaction, owner: &RingOwner) -> Result<Option<KeyRing>, StoreError> {
    let table = txn.open_table(RINGS)?;
    let ring = table.get(owner.storage_key().as_str())?;
    ring.map(|bytes| decode_json(bytes.value(), "key ring"))
        .transpose()
}

fn put_ring_in(
    txn: &WriteTransaction,
    owner: &RingOwner,
    ring: &KeyRing,
) -> Result<(), StoreError> {
    ring.check().map_err(|e| StoreError::Corrupt(e.into()))?;
    txn.open_table(RINGS)?
        .insert(owner.storage_key().as_str(), encode_json(ring)?.as_slice())?;
    Ok(())
}

/// Removes a ring and deletes every key in it. Returns the deleted key ids.
fn drop_ring_in(txn: &WriteTransaction, owner: &RingOwner) -> Result<Vec<KeyId>, StoreError> {
    let Some(ring) = ring_in(txn, owner)? else {
        return Ok(Vec::new());
    };
    let mut deleted = Vec::new();
    let mut index = txn.open_table(RING_OF_KEY)?;
    for (key, _) in ring.keys() {
        index.remove(raw(&key.id))?;
        if delete_in(txn, raw(&key.id))? {
            deleted.push(key.id);
        }
    }
    txn.open_table(RINGS)?
        .remove(owner.storage_key().as_str())?;
    Ok(deleted)
}

/// A sort key for orderings without an index: (field, lower-case name, id).
type SortKey = (String, String, u128);

fn sort_key(field: SortField, key: &Key, descending: bool) -> SortKey {
    let primary = match field {
        SortField::Algorithm => key.algorithm.as_str().to_owned(),
        SortField::Type => key.key_type.as_str().to_owned(),
        // Zero-padded so text order is numeric order; keys without an expiration sort last in
        // either direction ("~" is after every digit, "" before).
        SortField::Expiration => match key.expiration_instant {
            Some(instant) => format!("{:020}", instant.max(0)),
            None if descending => String::new(),
            None => "~".to_owned(),
        },
        SortField::Name | SortField::InsertInstant | SortField::Id => String::new(),
    };
    (primary, lower(&key.name), raw(&key.id))
}

/// Collects one page while counting every match.
struct Pager<'q> {
    query: &'q SearchQuery,
    seen: u64,
    keys: Vec<Key>,
}

impl Pager<'_> {
    fn offer(&mut self, key: Key) {
        if !self.query.matches(&key) {
            return;
        }
        let index = usize::try_from(self.seen).unwrap_or(usize::MAX);
        if index >= self.query.start_row && self.keys.len() < self.query.number_of_results {
            self.keys.push(key);
        }
        self.seen += 1;
    }
}

impl KeyStore for RedbStore {
    fn insert(&self, record: &StoredKey) -> Result<(), StoreError> {
        let json = encode_key(&record.key)?;
        let secret = self.stored_secret(record)?;
        self.write_audited(
            |()| vec![record.key.id.to_string()],
            |txn| insert_in(txn, record, &json, secret.as_deref()),
        )
    }

    fn get(&self, id: &KeyId) -> Result<Option<StoredKey>, StoreError> {
        get_in(&self.read()?, &*self.sealer, raw(id))
    }

    fn get_key(&self, id: &KeyId) -> Result<Option<Key>, StoreError> {
        let txn = self.read()?;
        let keys = txn.open_table(KEYS)?;
        keys.get(raw(id))?
            .map(|bytes| decode_key(bytes.value()))
            .transpose()
    }

    fn id_by_kid(&self, kid: &str) -> Result<Option<KeyId>, StoreError> {
        let id = self
            .read()?
            .open_table(BY_KID)?
            .get(kid)?
            .map(|v| v.value());
        Ok(id.map(|id| KeyId(Uuid::from_u128(id))))
    }

    fn contains(&self, id: &KeyId) -> Result<bool, StoreError> {
        Ok(self.read()?.open_table(KEYS)?.get(raw(id))?.is_some())
    }

    fn id_by_name(&self, name: &str) -> Result<Option<KeyId>, StoreError> {
        let id = self
            .read()?
            .open_table(BY_NAME)?
            .get(name)?
            .map(|v| v.value());
        Ok(id.map(|id| KeyId(Uuid::from_u128(id))))
    }

    fn rename(&self, id: &KeyId, name: &str, now_millis: i64) -> Result<Option<Key>, StoreError> {
        let target = id.to_string();
        let id = raw(id);
        self.write_audited(changed(target), |txn| {
            let mut keys = txn.open_table(KEYS)?;
            let Some(bytes) = keys.get(id)?.map(|v| v.value().to_vec()) else {
                return Ok(None);
            };
            let mut key = decode_key(&bytes)?;
            if key.name != name {
                let mut by_name = txn.open_table(BY_NAME)?;
                if by_name.get(name)?.is_some() {
                    return Err(StoreError::Duplicate(UniqueField::Name));
                }
                by_name.remove(key.name.as_str())?;
                by_name.insert(name, id)?;
                let mut by_lower = txn.open_table(BY_LOWER_NAME)?;
                by_lower.remove((lower(&key.name).as_str(), id))?;
                by_lower.insert((lower(name).as_str(), id), ())?;
                key.name = name.to_owned();
            }
            key.last_update_instant = now_millis;
            keys.insert(id, encode_key(&key)?.as_slice())?;
            Ok(Some(key))
        })
    }

    fn delete(&self, id: &KeyId) -> Result<bool, StoreError> {
        self.write_audited(if_true(id.to_string()), |txn| {
            release_from_ring(txn, id)?;
            delete_in(txn, raw(id))
        })
    }

    fn delete_restorably(&self, id: &KeyId, purge_at: i64) -> Result<bool, StoreError> {
        self.write_audited(if_true(id.to_string()), |txn| {
            let ring = release_from_ring(txn, id)?;
            let Some(key) = txn
                .open_table(KEYS)?
                .get(raw(id))?
                .map(|v| decode_key(v.value()))
                .transpose()?
            else {
                return Ok(false);
            };
            let secret = txn
                .open_table(SECRETS)?
                .get(raw(id))?
                .map(|v| v.value().to_vec());
            let record = DeletedKey {
                key,
                purge_at,
                ring,
            };
            txn.open_table(DELETED_KEYS)?
                .insert(raw(id), encode_json(&record)?.as_slice())?;
            if let Some(secret) = secret {
                txn.open_table(DELETED_SECRETS)?
                    .insert(raw(id), secret.as_slice())?;
            }
            delete_in(txn, raw(id))
        })
    }

    fn restore(&self, id: &KeyId) -> Result<Option<Key>, StoreError> {
        self.write_audited(changed(id.to_string()), |txn| {
            let Some(bytes) = txn
                .open_table(DELETED_KEYS)?
                .remove(raw(id))?
                .map(|v| v.value().to_vec())
            else {
                return Ok(None);
            };
            let deleted: DeletedKey = decode_json(&bytes, "deleted key")?;
            let secret = txn
                .open_table(DELETED_SECRETS)?
                .remove(raw(id))?
                .map(|v| v.value().to_vec());
            let record = StoredKey {
                key: deleted.key,
                private: None,
            };
            insert_in(txn, &record, &encode_key(&record.key)?, secret.as_deref())?;
            if let Some(place) = deleted.ring {
                return_to_ring(txn, place)?;
            }
            Ok(Some(record.key))
        })
    }

    fn deleted_keys(&self) -> Result<Vec<(Key, i64)>, StoreError> {
        let txn = self.read()?;
        let mut out = Vec::new();
        for entry in txn.open_table(DELETED_KEYS)?.iter()? {
            let (_, bytes) = entry?;
            let deleted: DeletedKey = decode_json(bytes.value(), "deleted key")?;
            out.push((deleted.key, deleted.purge_at));
        }
        out.sort_by_key(|(_, purge_at)| *purge_at);
        Ok(out)
    }

    fn purge_deleted(&self, now_millis: i64) -> Result<Vec<KeyId>, StoreError> {
        let purged = |ids: &Vec<KeyId>| ids.iter().map(ToString::to_string).collect();
        self.write_audited(purged, |txn| {
            let mut deleted = txn.open_table(DELETED_KEYS)?;
            let mut due = Vec::new();
            for entry in deleted.iter()? {
                let (id, bytes) = entry?;
                let record: DeletedKey = decode_json(bytes.value(), "deleted key")?;
                if record.purge_at <= now_millis {
                    due.push(id.value());
                }
            }
            let mut secrets = txn.open_table(DELETED_SECRETS)?;
            for id in &due {
                deleted.remove(*id)?;
                secrets.remove(*id)?;
            }
            Ok(due
                .into_iter()
                .map(|id| KeyId(Uuid::from_u128(id)))
                .collect())
        })
    }

    fn list(&self) -> Result<Vec<Key>, StoreError> {
        let txn = self.read()?;
        let keys = txn.open_table(KEYS)?;
        let mut out = Vec::with_capacity(usize::try_from(keys.len()?).unwrap_or(0));
        for entry in txn.open_table(BY_INSERTION)?.iter()? {
            let (_, id) = entry?;
            if let Some(bytes) = keys.get(id.value())? {
                out.push(decode_key(bytes.value())?);
            }
        }
        Ok(out)
    }

    fn count(&self) -> Result<u64, StoreError> {
        Ok(self.read()?.open_table(KEYS)?.len()?)
    }

    fn census(&self, expiring_before: i64) -> Result<KeyCensus, StoreError> {
        let txn = self.read()?;
        let mut by_kind = Vec::new();
        for entry in txn.open_table(KEY_COUNTS)?.iter()? {
            let (kind, count) = entry?;
            let (key_type, algorithm) = kind.value().split_once('/').unwrap_or((kind.value(), ""));
            by_kind.push((key_type.to_owned(), algorithm.to_owned(), count.value()));
        }
        let mut expiring = 0;
        for entry in txn
            .open_table(BY_EXPIRATION)?
            .range(..(expiring_before, u128::MAX))?
        {
            entry?;
            expiring += 1;
        }
        Ok(KeyCensus { by_kind, expiring })
    }

    fn search(&self, query: &SearchQuery) -> Result<SearchPage, StoreError> {
        let txn = self.read()?;
        let keys = txn.open_table(KEYS)?;
        let load = |id: u128| -> Result<Option<Key>, StoreError> {
            keys.get(id)?
                .map(|bytes| decode_key(bytes.value()))
                .transpose()
        };
        let mut pager = Pager {
            query,
            seen: 0,
            keys: Vec::new(),
        };
        // Indexed orders stream in order; the others keep a bounded heap of the page's end.
        macro_rules! stream {
            ($iter:expr, $id:expr) => {{
                let iter = $iter;
                let mut visit = |entry: Result<_, redb::StorageError>| -> Result<(), StoreError> {
                    let entry = entry?;
                    if let Some(key) = load($id(&entry))? {
                        pager.offer(key);
                    }
                    Ok(())
                };
                if query.descending {
                    for entry in iter.rev() {
                        visit(entry)?;
                    }
                } else {
                    for entry in iter {
                        visit(entry)?;
                    }
                }
            }};
        }
        match query.order_by {
            SortField::Name => {
                let table = txn.open_table(BY_LOWER_NAME)?;
                stream!(table.iter()?, |e: &(
                    redb::AccessGuard<(&str, u128)>,
                    redb::AccessGuard<()>
                )| e.0.value().1)
            }
            SortField::InsertInstant => {
                let table = txn.open_table(BY_INSERTION)?;
                stream!(table.iter()?, |e: &(
                    redb::AccessGuard<u64>,
                    redb::AccessGuard<u128>
                )| e.1.value())
            }
            SortField::Id => {
                stream!(keys.iter()?, |e: &(
                    redb::AccessGuard<u128>,
                    redb::AccessGuard<&[u8]>
                )| e.0.value())
            }
            field => {
                let window = query.start_row.saturating_add(query.number_of_results);
                let mut ascending: BinaryHeap<SortKey> = BinaryHeap::new();
                let mut descending: BinaryHeap<Reverse<SortKey>> = BinaryHeap::new();
                for entry in keys.iter()? {
                    let (_, bytes) = entry?;
                    let key = decode_key(bytes.value())?;
                    if !query.matches(&key) {
                        continue;
                    }
                    pager.seen += 1;
                    let sort = sort_key(field, &key, query.descending);
                    if query.descending {
                        descending.push(Reverse(sort));
                        if descending.len() > window {
                            descending.pop();
                        }
                    } else {
                        ascending.push(sort);
                        if ascending.len() > window {
                            ascending.pop();
                        }
                    }
                }
                let ordered: Vec<u128> = if query.descending {
                    descending
                        .into_sorted_vec()
                        .into_iter()
                        .map(|Reverse(k)| k.2)
                        .collect()
                } else {
                    ascending
                        .into_sorted_vec()
                        .into_iter()
                        .map(|k| k.2)
                        .collect()
                };
                for id in ordered.into_iter().skip(query.start_row) {
                    if let Some(key) = load(id)? {
                        pager.keys.push(key);
                    }
                }
            }
        }
        Ok(SearchPage {
            keys: pager.keys,
            total: pager.seen,
        })
    }

    fn api_key_hashes(&self) -> Result<Vec<[u8; 32]>, StoreError> {
        let txn = self.read()?;
        let mut out = Vec::new();
        for entry in txn.open_table(API_KEYS)?.iter()? {
            let (hash, _) = entry?;
            if let Ok(hash) = <[u8; 32]>::try_from(hash.value()) {
                out.push(hash);
            }
        }
        Ok(out)
    }

    fn add_api_key_hash(&self, hash: &[u8; 32]) -> Result<(), StoreError> {
        self.write_audited(
            |()| vec![String::new()],
            |txn| {
                txn.open_table(API_KEYS)?.insert(hash.as_slice(), ())?;
                Ok(())
            },
        )
    }
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

    fn api_key_records(&self) -> Result<Vec<keysmith_model::ApiKeyRecord>, StoreError> {
        let txn = self.read()?;
        let mut out = Vec::new();
        for entry in txn.open_table(API_KEY_RECORDS)?.iter()? {
            let (_, record) = entry?;
            out.push(decode_json(record.value(), "api key")?);
        }
        Ok(out)
    }

    fn add_api_key_record(&self, record: &keysmith_model::ApiKeyRecord) -> Result<(), StoreError> {
        let json = encode_json(record)?;
        self.write_audited(
            |()| vec![record.id.to_string()],
            |txn| {
                txn.open_table(API_KEY_RECORDS)?
                    .insert(record.id.as_u128(), json.as_slice())?;
                Ok(())
            },
        )
    }

    fn remove_api_key_record(&self, id: &Uuid) -> Result<bool, StoreError> {
        self.write_audited(if_true(id.to_string()), |txn| {
            Ok(txn
                .open_table(API_KEY_RECORDS)?
                .remove(id.as_u128())?
                .is_some())
        })
    }

    fn append_audit(&self, records: &[keysmith_model::AuditRecord]) -> Result<(), StoreError> {
        if records.is_empty() {
            return Ok(());
        }
        self.write(|txn| append_in(txn, records))
    }

    fn prune_audit(
        &self,
        older_than: Option<i64>,
        max_records: Option<u64>,
    ) -> Result<u64, StoreError> {
        let mut deleted = 0u64;
        if let Some(before) = older_than {
            loop {
                let n = self.write(|txn| prune_oldest_in(txn, Some(before), PRUNE_CHUNK))?;
                deleted += n as u64;
                if n < PRUNE_CHUNK {
                    break;
                }
            }
        }
        if let Some(max) = max_records {
            loop {
                let n = self.write(|txn| {
                    let len = txn.open_table(AUDIT_LOG)?.len()?;
                    let excess = usize::try_from(len.saturating_sub(max)).unwrap_or(usize::MAX);
                    prune_oldest_in(txn, None, excess.min(PRUNE_CHUNK))
                })?;
                deleted += n as u64;
                if n < PRUNE_CHUNK {
                    break;
                }
            }
        }
        Ok(deleted)
    }

    fn search_audit(
        &self,
        query: &keysmith_model::AuditQuery,
    ) -> Result<(Vec<keysmith_model::AuditRecord>, u64), StoreError> {
        let txn = self.read()?;
        let log = txn.open_table(AUDIT_LOG)?;
        let by_time = txn.open_table(AUDIT_BY_TIME)?;
        let from = (query.start.unwrap_or(i64::MIN), 0);
        let to = (query.end.unwrap_or(i64::MAX), u64::MAX);
        let mut page = Vec::new();
        if query.is_unfiltered() {
            // Every record matches: the total is the table's length, and only the page is read.
            for entry in by_time.iter()?.rev().skip(query.start_row) {
                if page.len() >= query.number_of_results {
                    break;
                }
                let ((_, seq), ()) = {
                    let (key, value) = entry?;
                    (key.value(), value.value())
                };
                page.push(audit_record_at(&log, seq)?);
            }
            return Ok((page, log.len()?));
        }
        let mut total = 0u64;
        if from > to {
            return Ok((page, total));
        }
        for entry in by_time.range(from..=to)?.rev() {
            let ((_, seq), _) = {
                let (key, value) = entry?;
                (key.value(), value.value())
            };
            let record = audit_record_at(&log, seq)?;
            if !query.matches(&record) {
                continue;
            }
            let index = usize::try_from(total).unwrap_or(usize::MAX);
            if index >= query.start_row && page.len() < query.number_of_results {
                page.push(record);
            }
            total += 1;
        }
        Ok((page, total))
    }

    fn insert_connection(&self, connection: &Connection) -> Result<(), StoreError> {
        let json = encode_json(connection)?;
        self.write_audited(
            |()| vec![connection.id.clone()],
            |txn| {
                let mut connections = txn.open_table(CONNECTIONS)?;
                if connections.get(connection.id.as_str())?.is_some() {
                    return Err(StoreError::Duplicate(UniqueField::ConnectionId));
                }
                let mut by_name = txn.open_table(CONNECTIONS_BY_NAME)?;
                if by_name.get(connection.name.as_str())?.is_some() {
                    return Err(StoreError::Duplicate(UniqueField::ConnectionName));
                }
                connections.insert(connection.id.as_str(), json.as_slice())?;
                by_name.insert(connection.name.as_str(), connection.id.as_str())?;
                Ok(())
            },
        )
    }

    fn connection(&self, id: &str) -> Result<Option<Connection>, StoreError> {
        let txn = self.read()?;
        let table = txn.open_table(CONNECTIONS)?;
        let found = table.get(id)?;
        found
            .map(|bytes| decode_json(bytes.value(), "connection"))
            .transpose()
    }

    fn connections(&self) -> Result<Vec<Connection>, StoreError> {
        let txn = self.read()?;
        let connections = txn.open_table(CONNECTIONS)?;
        let mut out = Vec::new();
        for entry in txn.open_table(CONNECTIONS_BY_NAME)?.iter()? {
            let (_, id) = entry?;
            if let Some(bytes) = connections.get(id.value())? {
                out.push(decode_json(bytes.value(), "connection")?);
            }
        }
        Ok(out)
    }

    fn replace_connection(&self, connection: &Connection) -> Result<bool, StoreError> {
        let json = encode_json(connection)?;
        self.write_audited(if_true(connection.id.clone()), |txn| {
            let mut connections = txn.open_table(CONNECTIONS)?;
            let Some(old) = connections
                .get(connection.id.as_str())?
                .map(|v| decode_json::<Connection>(v.value(), "connection"))
                .transpose()?
            else {
                return Ok(false);
            };
            if old.name != connection.name {
                let mut by_name = txn.open_table(CONNECTIONS_BY_NAME)?;
                if by_name.get(connection.name.as_str())?.is_some() {
                    return Err(StoreError::Duplicate(UniqueField::ConnectionName));
                }
                by_name.remove(old.name.as_str())?;
                by_name.insert(connection.name.as_str(), connection.id.as_str())?;
            }
            connections.insert(connection.id.as_str(), json.as_slice())?;
            Ok(true)
        })
    }

    fn delete_connection(&self, id: &str) -> Result<Option<Vec<KeyId>>, StoreError> {
        self.write_audited(changed(id.to_owned()), |txn| {
            let Some(old) = txn
                .open_table(CONNECTIONS)?
                .remove(id)?
                .map(|v| decode_json::<Connection>(v.value(), "connection"))
                .transpose()?
            else {
                return Ok(None);
            };
            txn.open_table(CONNECTIONS_BY_NAME)?
                .remove(old.name.as_str())?;
            let mut deleted = Vec::new();
            for key_use in [KeyUse::Signing, KeyUse::Encryption] {
                deleted.extend(drop_ring_in(txn, &RingOwner::connection(id, key_use))?);
            }
            Ok(Some(deleted))
        })
    }

    fn ring(&self, owner: &RingOwner) -> Result<Option<KeyRing>, StoreError> {
        let txn = self.read()?;
        let table = txn.open_table(RINGS)?;
        let ring = table.get(owner.storage_key().as_str())?;
        ring.map(|bytes| decode_json(bytes.value(), "key ring"))
            .transpose()
    }

    fn ring_keys(&self, owner: &RingOwner) -> Result<Option<(KeyRing, Vec<Key>)>, StoreError> {
        let txn = self.read()?;
        let rings = txn.open_table(RINGS)?;
        let Some(ring) = rings.get(owner.storage_key().as_str())? else {
            return Ok(None);
        };
        let ring: KeyRing = decode_json(ring.value(), "key ring")?;
        let keys = txn.open_table(KEYS)?;
        let mut records = Vec::new();
        for (slot, _) in ring.keys() {
            let bytes = keys.get(raw(&slot.id))?.ok_or_else(|| {
                StoreError::Corrupt(format!("{owner} names a key that is not stored"))
            })?;
            records.push(decode_key(bytes.value())?);
        }
        Ok(Some((ring, records)))
    }

    fn rings(&self) -> Result<Vec<(RingOwner, KeyRing)>, StoreError> {
        let txn = self.read()?;
        let mut out = Vec::new();
        for entry in txn.open_table(RINGS)?.iter()? {
            let (owner, ring) = entry?;
            let owner = RingOwner::from_storage_key(owner.value())
                .ok_or_else(|| StoreError::Corrupt("key ring owner".into()))?;
            out.push((owner, decode_json(ring.value(), "key ring")?));
        }
        Ok(out)
    }

    fn change_ring(
        &self,
        owner: &RingOwner,
        change: crate::RingChanger<'_>,
    ) -> Result<RingChange, StoreError> {
        let target = owner.connection_id().unwrap_or("tenant").to_owned();
        self.write_audited(|_| vec![target], |txn| {
            if let Some(id) = owner.connection_id()
                && txn.open_table(CONNECTIONS)?.get(id)?.is_none()
            {
                return Err(StoreError::Ring(RingError::NoSuchConnection));
            }
            let old = ring_in(txn, owner)?;
            let change = change(old.as_ref())?;
            let mut index = txn.open_table(RING_OF_KEY)?;
            for (key, _) in old.iter().flat_map(KeyRing::keys) {
                index.remove(raw(&key.id))?;
            }
            drop(index);
            for record in &change.insert {
                insert_in(txn, record, &encode_key(&record.key)?, self.stored_secret(record)?.as_deref())?;
            }
            for id in &change.delete {
                if change.ring.role_of(id).is_some() {
                    return Err(StoreError::Corrupt("a ring change deletes a key it keeps".into()));
                }
                delete_in(txn, raw(id))?;
            }
            let keys = txn.open_table(KEYS)?;
            let mut index = txn.open_table(RING_OF_KEY)?;
            let storage_key = owner.storage_key();
            for (key, _) in change.ring.keys() {
                if keys.get(raw(&key.id))?.is_none() {
                    return Err(StoreError::Corrupt("a ring names a key that is not stored".into()));
                }
                if index.insert(raw(&key.id), storage_key.as_str())?.is_some() {
                    return Err(StoreError::Corrupt("a key would be in two rings".into()));
                }
            }
            drop((keys, index));
            put_ring_in(txn, owner, &change.ring)?;
            #[cfg(feature = "failpoints")]
            if let Some(pause) = self.ring_commit_pause {
                tracing::warn!(owner = %owner, "failpoint: ring change written, pausing before commit");
                std::thread::sleep(pause);
            }
            Ok(change)
        })
    }

    fn ring_of_key(&self, id: &KeyId) -> Result<Option<(RingOwner, RingRole)>, StoreError> {
        let txn = self.read()?;
        let Some(owner) = txn.open_table(RING_OF_KEY)?.get(raw(id))? else {
            return Ok(None);
        };
        let owner = RingOwner::from_storage_key(owner.value())
            .ok_or_else(|| StoreError::Corrupt("ring index entry".into()))?;
        let rings = txn.open_table(RINGS)?;
        let Some(ring) = rings.get(owner.storage_key().as_str())? else {
            return Err(StoreError::Corrupt(
                "ring index names a missing ring".into(),
            ));
        };
        let ring: KeyRing = decode_json(ring.value(), "key ring")?;
        Ok(ring.role_of(id).map(|role| (owner, role)))
    }

    fn health(&self) -> crate::StoreHealth {
        self.health.get()
    }

    fn probe_write(&self) -> Result<(), StoreError> {
        self.write(|_| Ok(()))
    }
}

#[cfg(test)]
mod tests {
    /// docs/storage.md documents every table, and says which hold sealed values.
    #[test]
    fn every_table_is_documented_with_whether_it_is_sealed() {
        let docs = include_str!("../../../docs/storage.md");
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
