//! Opening a data file: the schema check and upgrade, the master-key check, the census and
//! audit index built for older files, and the file-level checks (`check_file`).

use super::*;

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
        let checked = Self::check_before_open(path, &*sealer)?;
        let db = Database::builder()
            .set_check_integrity_on_open(options.check_integrity)
            .set_cache_size(options.cache_bytes)
            .create(path)
            .map_err(|e| open_error(e, path))?;
        Self::from_database(db, sealer, &path.display().to_string(), checked)
    }

    /// Opens the data file at `path` through a backend that fails as `plan` says (counted from
    /// the end of the open), for end-to-end tests of a failing disk. Only with `failpoints`.
    #[cfg(feature = "failpoints")]
    pub fn open_with_faults(
        path: &Path,
        sealer: Arc<dyn SecretSealer>,
        plan: Arc<crate::testing::FaultPlan>,
    ) -> Result<Self, StoreError> {
        let checked = Self::check_before_open(path, &*sealer)?;
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
        let store = Self::from_database(db, sealer, &path.display().to_string(), checked)?;
        let len = std::fs::metadata(path).map_or(0, |m| m.len());
        plan.opened(len);
        Ok(store)
    }

    /// The read-only checks of an existing file (see [`Self::open`]). Returns the master keys
    /// in use it checked (`None` for a new file, or one that needs repair first).
    fn check_before_open(
        path: &Path,
        sealer: &dyn SecretSealer,
    ) -> Result<Option<MasterKeysInUse>, StoreError> {
        if path.exists() {
            match ReadOnlyDatabase::open(path) {
                Ok(existing) => {
                    // Both checks read only, so a refused file is left byte for byte as it was.
                    let txn = existing.begin_read()?;
                    check_schema(&txn, path)?;
                    return check_master_keys(&txn, sealer).map(Some);
                }
                Err(DatabaseError::RepairAborted) => {}
                Err(other) => return Err(open_error(other, path)),
            }
        }
        Ok(None)
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
        Self::from_database(db, sealer, "<storage backend>", None)
    }

    /// Checks and upgrades an opened database (see [`Self::open`]); `shown` names it in errors.
    /// `checked`: the master keys in use, checked read-only just before (not again: for a file
    /// without `master_keys_in_use` that reads every stored secret's header).
    fn from_database(
        db: Database,
        sealer: Arc<dyn SecretSealer>,
        shown: &str,
        checked: Option<MasterKeysInUse>,
    ) -> Result<Self, StoreError> {
        check_schema(&db.begin_read()?, Path::new(shown))?;
        let db = Arc::new(db);
        let health = Arc::new(crate::health::WriteHealth::default());
        let commits = Arc::new(writer::Counters::default());
        let store = Self {
            writer: writer::Writer::start(db.clone(), health.clone(), commits.clone())?,
            db,
            sealer,
            health,
            commits,
            search_totals: Default::default(),
            #[cfg(feature = "failpoints")]
            ring_commit_pause: None,
        };
        let in_use = match checked {
            Some(in_use) => in_use,
            None => check_master_keys(&store.read()?, &*store.sealer)?,
        };
        store.write(|txn| {
            let mut meta = txn.open_table(META)?;
            let version = meta.get(META_SCHEMA_VERSION)?.map(|v| v.value());
            let upgraded_from = match version {
                None => {
                    meta.insert(META_SCHEMA_VERSION, SCHEMA_VERSION)?;
                    meta.insert(META_NEXT_INSERTION, 0)?;
                    None
                }
                Some(SCHEMA_VERSION) => None,
                Some(found @ OLDEST_SCHEMA_VERSION..SCHEMA_VERSION) => {
                    meta.insert(META_SCHEMA_VERSION, SCHEMA_VERSION)?;
                    Some(found)
                }
                Some(found) => {
                    return Err(StoreError::UnknownSchemaVersion {
                        found,
                        supported: SCHEMA_VERSION,
                    });
                }
            };
            drop(meta);
            if let Some(found) = upgraded_from {
                upgrade(txn, &*store.sealer, found)?;
            }
            // Create every table so readers never meet a missing one.
            macro_rules! create {
                ($($table:ident: $kind:ident),*) => {$( txn.open_table($table)?; )*};
            }
            every_table!(create);
            ensure_census(txn)?;
            ensure_kind_index(txn)?;
            ensure_master_keys_in_use(txn, in_use)?;
            ensure_audit_index(txn)?;
            Ok(())
        })?;
        Ok(store)
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
}

/// Upgrades a file of schema `found` to this build's, in the open transaction: 1 → 2 adds
/// tables (created after this); 2 → 3 seals the plaintext secrets; 3 → 4 stores key records
/// compactly; 4 → 5 keeps one name index instead of two (and one kind entry per key, which
/// `ensure_kind_index` builds after this); 5 → 6 indexes keys by issuer; 6 → 7 counts them.
fn upgrade(
    txn: &WriteTransaction,
    sealer: &dyn SecretSealer,
    found: u64,
) -> Result<(), StoreError> {
    if found < 3 {
        let sealed = seal_plaintext_secrets(txn, sealer)?;
        if sealed > 0 {
            txn.open_table(MASTER_KEYS_IN_USE)?
                .insert(sealer.sealing_key_id().as_slice(), ())?;
            tracing::info!(
                sealed,
                "data file upgraded: stored secrets are now encrypted"
            );
        }
    }
    if found < 4 {
        let (keys, before, after) = compact_key_records(txn)?;
        tracing::info!(
            from = found,
            keys,
            record_bytes_before = before,
            record_bytes_after = after,
            "data file upgraded: key records are stored compactly"
        );
    }
    if found < 5 {
        let keys = build_name_index(txn)?;
        txn.delete_table(LEGACY_BY_EXACT_NAME)?;
        txn.delete_table(LEGACY_BY_LOWER_NAME)?;
        tracing::info!(from = found, keys, "data file upgraded: one name index");
    }
    if found < 6 {
        let indexed = build_issuer_index(txn)?;
        tracing::info!(
            from = found,
            indexed,
            "data file upgraded: keys indexed by issuer"
        );
    }
    let issuers = build_issuer_counts(txn)?;
    tracing::info!(
        from = found,
        to = SCHEMA_VERSION,
        issuers,
        "data file upgraded: keys counted by issuer"
    );
    Ok(())
}

/// The name indexes of schema 1–4, replaced by `keys_by_name_lowercase` in schema 5 and
/// deleted by the upgrade: exact name → id, and (lower-case name, id) → ().
const LEGACY_BY_EXACT_NAME: TableDefinition<&str, u128> = TableDefinition::new("keys_by_name");
const LEGACY_BY_LOWER_NAME: TableDefinition<(&str, u128), ()> =
    TableDefinition::new("keys_by_lower_name");

/// Rewrites every key record of a schema 1–3 file (JSON) in the schema-4 form, a bounded
/// number at a time (no list of every key in memory). Returns the number of records and their
/// bytes before and after.
fn compact_key_records(txn: &WriteTransaction) -> Result<(u64, u64, u64), StoreError> {
    const CHUNK: usize = 1024;
    let mut table = txn.open_table(KEYS)?;
    let (mut keys, mut before, mut after) = (0u64, 0u64, 0u64);
    let mut next = Some(0u128);
    while let Some(from) = next {
        let mut chunk = Vec::with_capacity(CHUNK);
        for entry in table.range(from..)?.take(CHUNK) {
            let (id, bytes) = entry?;
            chunk.push((id.value(), bytes.value().to_vec()));
        }
        next = match chunk.last() {
            Some((last, _)) if chunk.len() == CHUNK => last.checked_add(1),
            _ => None,
        };
        for (id, json) in chunk {
            let compact = encode_key(&decode_key_v3(&json)?)?;
            before += json.len() as u64;
            after += compact.len() as u64;
            keys += 1;
            table.insert(id, compact.as_slice())?;
        }
    }
    Ok((keys, before, after))
}

pub(super) fn open_error(err: DatabaseError, path: &Path) -> StoreError {
    let shown = path.display().to_string();
    match err {
        DatabaseError::DatabaseAlreadyOpen => StoreError::Locked(shown),
        DatabaseError::Storage(redb::StorageError::Corrupted(_))
        | DatabaseError::UpgradeRequired(_) => StoreError::NotKeysmithData(shown),
        other => StoreError::Engine(Box::new(other)),
    }
}

/// The ids of the master keys a file's secrets are sealed under.
pub(super) type MasterKeysInUse = std::collections::BTreeSet<Vec<u8>>;

/// Refuses a file whose secrets, in any sealed table, are sealed under a master key that is
/// not configured. Reads `master_keys_in_use` (a few rows) when the file has it, else every
/// sealed value's header (a file written before it; no decryption either way). A secret whose
/// data key does not authenticate is found by `keysmith check` and fails when used: one damaged
/// record must not keep the server from serving the others.
pub(super) fn check_master_keys(
    txn: &ReadTransaction,
    sealer: &dyn SecretSealer,
) -> Result<MasterKeysInUse, StoreError> {
    let in_use = master_keys_in_use(txn, sealer)?;
    for id in &in_use {
        match sealer.knows_master_key(id) {
            Ok(()) => {}
            Err(SealError::UnknownMasterKey(master)) => {
                return Err(StoreError::MasterKey(format!(
                    "stored secrets are sealed under master key {master}, which is not configured (a wrong or missing master key); nothing was changed"
                )));
            }
            Err(other) => return Err(seal_error(other)),
        }
    }
    Ok(in_use)
}

/// The ids of the master keys the file's secrets are sealed under: from `master_keys_in_use`
/// when the file keeps it, else read from every sealed value's header.
pub(super) fn master_keys_in_use(
    txn: &ReadTransaction,
    sealer: &dyn SecretSealer,
) -> Result<MasterKeysInUse, StoreError> {
    let indexed = match txn.open_table(META) {
        Ok(meta) => meta.get(META_MASTER_KEYS_INDEXED)?.is_some(),
        Err(TableError::TableDoesNotExist(_)) => false,
        Err(other) => return Err(other.into()),
    };
    let mut ids = std::collections::BTreeSet::new();
    if indexed {
        for entry in txn.open_table(MASTER_KEYS_IN_USE)?.iter()? {
            ids.insert(entry?.0.value().to_vec());
        }
        return Ok(ids);
    }
    for table in SEALED_TABLES {
        let secrets = match txn.open_table(*table) {
            Ok(table) => table,
            Err(TableError::TableDoesNotExist(_)) => continue,
            Err(other) => return Err(other.into()),
        };
        for entry in secrets.iter()? {
            let (id, bytes) = entry?;
            if let Some((&SECRET_SEALED, sealed)) = bytes.value().split_first() {
                match sealer.master_key_id(sealed) {
                    Ok(master) => {
                        ids.insert(master);
                    }
                    Err(err) => {
                        let id = KeyId(Uuid::from_u128(id.value()));
                        tracing::error!(key.id = %id, error = %err, "a stored secret cannot be read");
                    }
                }
            }
        }
    }
    Ok(ids)
}

/// Builds `master_keys_in_use` at open, in the open transaction, for a file written without
/// it: `in_use` was read from every sealed value's header. A key is added to it only in the
/// transaction that stores a secret sealed under it (`insert_all_in`), never ahead: a process
/// that opens a file with a new sealing key and stops before sealing anything leaves the file
/// openable with the old key alone.
pub(super) fn ensure_master_keys_in_use(
    txn: &WriteTransaction,
    in_use: MasterKeysInUse,
) -> Result<(), StoreError> {
    let mut meta = txn.open_table(META)?;
    if meta.get(META_MASTER_KEYS_INDEXED)?.is_some() {
        return Ok(());
    }
    let mut table = txn.open_table(MASTER_KEYS_IN_USE)?;
    for id in in_use {
        table.insert(id.as_slice(), ())?;
    }
    meta.insert(META_MASTER_KEYS_INDEXED, 1)?;
    Ok(())
}

/// Checks the schema version of an existing file without writing to it.
pub(super) fn check_schema(txn: &ReadTransaction, path: &Path) -> Result<(), StoreError> {
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
pub(super) fn create_private_file(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true).write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}
