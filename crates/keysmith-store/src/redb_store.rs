//! The redb implementation of [`KeyStore`].

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::path::Path;

use keysmith_model::search::{SearchQuery, SortField};
use keysmith_model::{Key, KeyId, PrivateMaterial, SecretBytes};
use redb::{
    Database, DatabaseError, Durability, ReadOnlyDatabase, ReadTransaction, ReadableDatabase,
    ReadableTable, ReadableTableMetadata, TableDefinition, TableError, WriteTransaction,
};
use uuid::Uuid;

use crate::error::UniqueField;
use crate::{KeyStore, SearchPage, StoreError, StoredKey};

/// The schema version this build reads and writes.
pub const SCHEMA_VERSION: u64 = 1;

const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
const KEYS: TableDefinition<u128, &[u8]> = TableDefinition::new("keys");
const SECRETS: TableDefinition<u128, &[u8]> = TableDefinition::new("key_secrets");
const BY_NAME: TableDefinition<&str, u128> = TableDefinition::new("keys_by_name");
const BY_KID: TableDefinition<&str, u128> = TableDefinition::new("keys_by_kid");
const BY_INSERTION: TableDefinition<u64, u128> = TableDefinition::new("keys_by_insertion");
const INSERTION_OF: TableDefinition<u128, u64> = TableDefinition::new("insertion_of_key");
const BY_LOWER_NAME: TableDefinition<(&str, u128), ()> = TableDefinition::new("keys_by_lower_name");
const API_KEYS: TableDefinition<&[u8], ()> = TableDefinition::new("api_key_hashes");

const META_SCHEMA_VERSION: &str = "schema_version";
const META_NEXT_INSERTION: &str = "next_insertion";

const SECRET_PKCS8: u8 = 1;
const SECRET_HMAC: u8 = 2;

/// Keys in one redb file.
pub struct RedbStore {
    db: Database,
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
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        if path.exists() {
            match ReadOnlyDatabase::open(path) {
                Ok(existing) => check_schema(&existing.begin_read()?, path)?,
                Err(DatabaseError::RepairAborted) => {}
                Err(other) => return Err(open_error(other, path)),
            }
        }
        let db = Database::builder()
            .create(path)
            .map_err(|e| open_error(e, path))?;
        check_schema(&db.begin_read()?, path)?;
        let store = Self { db };
        store.write(|txn| {
            let mut meta = txn.open_table(META)?;
            let version = meta.get(META_SCHEMA_VERSION)?.map(|v| v.value());
            match version {
                None => {
                    meta.insert(META_SCHEMA_VERSION, SCHEMA_VERSION)?;
                    meta.insert(META_NEXT_INSERTION, 0)?;
                }
                Some(SCHEMA_VERSION) => {}
                Some(found) => {
                    return Err(StoreError::UnknownSchemaVersion {
                        found,
                        supported: SCHEMA_VERSION,
                    });
                }
            }
            drop(meta);
            // Create every table so readers never meet a missing one.
            txn.open_table(KEYS)?;
            txn.open_table(SECRETS)?;
            txn.open_table(BY_NAME)?;
            txn.open_table(BY_KID)?;
            txn.open_table(BY_INSERTION)?;
            txn.open_table(INSERTION_OF)?;
            txn.open_table(BY_LOWER_NAME)?;
            txn.open_table(API_KEYS)?;
            Ok(())
        })?;
        Ok(store)
    }

    /// Runs `f` in one durable write transaction. If `f` fails, nothing it wrote is kept.
    fn write<T>(
        &self,
        f: impl FnOnce(&WriteTransaction) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut txn = self.db.begin_write()?;
        txn.set_durability(Durability::Immediate)?;
        txn.set_two_phase_commit(true);
        let out = f(&txn)?;
        txn.commit()?;
        Ok(out)
    }

    fn read(&self) -> Result<ReadTransaction, StoreError> {
        Ok(self.db.begin_read()?)
    }
}

/// Checks the schema version of an existing file without writing to it.
fn check_schema(txn: &ReadTransaction, path: &Path) -> Result<(), StoreError> {
    match txn.open_table(META) {
        Ok(meta) => match meta.get(META_SCHEMA_VERSION)?.map(|v| v.value()) {
            Some(SCHEMA_VERSION) => Ok(()),
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

fn encode_key(key: &Key) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(key).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn decode_key(bytes: &[u8]) -> Result<Key, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt(format!("key record: {e}")))
}

fn encode_secret(private: &PrivateMaterial) -> SecretBytes {
    let (tag, bytes) = match private {
        PrivateMaterial::Pkcs8(b) => (SECRET_PKCS8, b.expose()),
        PrivateMaterial::HmacSecret(b) => (SECRET_HMAC, b.expose()),
    };
    let mut out = Vec::with_capacity(bytes.len() + 1);
    out.push(tag);
    out.extend_from_slice(bytes);
    SecretBytes::new(out)
}

fn decode_secret(bytes: &[u8]) -> Result<PrivateMaterial, StoreError> {
    match bytes.split_first() {
        Some((&SECRET_PKCS8, rest)) => Ok(PrivateMaterial::Pkcs8(SecretBytes::new(rest.to_vec()))),
        Some((&SECRET_HMAC, rest)) => {
            Ok(PrivateMaterial::HmacSecret(SecretBytes::new(rest.to_vec())))
        }
        _ => Err(StoreError::Corrupt("secret record".into())),
    }
}

fn raw(id: &KeyId) -> u128 {
    id.0.as_u128()
}

fn lower(name: &str) -> String {
    name.to_lowercase()
}

fn get_in(txn: &ReadTransaction, id: u128) -> Result<Option<StoredKey>, StoreError> {
    let keys = txn.open_table(KEYS)?;
    let Some(bytes) = keys.get(id)? else {
        return Ok(None);
    };
    let key = decode_key(bytes.value())?;
    let secrets = txn.open_table(SECRETS)?;
    let private = match secrets.get(id)? {
        Some(bytes) => Some(decode_secret(bytes.value())?),
        None => None,
    };
    Ok(Some(StoredKey { key, private }))
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
        let key = &record.key;
        let id = raw(&key.id);
        let json = encode_key(key)?;
        self.write(|txn| {
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
            keys.insert(id, json.as_slice())?;
            by_name.insert(key.name.as_str(), id)?;
            by_kid.insert(key.kid.as_str(), id)?;
            txn.open_table(BY_INSERTION)?.insert(seq, id)?;
            txn.open_table(INSERTION_OF)?.insert(id, seq)?;
            txn.open_table(BY_LOWER_NAME)?
                .insert((lower(&key.name).as_str(), id), ())?;
            if let Some(private) = &record.private {
                txn.open_table(SECRETS)?
                    .insert(id, encode_secret(private).expose())?;
            }
            Ok(())
        })
    }

    fn get(&self, id: &KeyId) -> Result<Option<StoredKey>, StoreError> {
        get_in(&self.read()?, raw(id))
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
        let id = raw(id);
        self.write(|txn| {
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
        let id = raw(id);
        self.write(|txn| {
            let mut keys = txn.open_table(KEYS)?;
            let Some(bytes) = keys.remove(id)?.map(|v| v.value().to_vec()) else {
                return Ok(false);
            };
            let key = decode_key(&bytes)?;
            txn.open_table(SECRETS)?.remove(id)?;
            txn.open_table(BY_NAME)?.remove(key.name.as_str())?;
            txn.open_table(BY_KID)?.remove(key.kid.as_str())?;
            txn.open_table(BY_LOWER_NAME)?
                .remove((lower(&key.name).as_str(), id))?;
            if let Some(seq) = txn.open_table(INSERTION_OF)?.remove(id)?.map(|v| v.value()) {
                txn.open_table(BY_INSERTION)?.remove(seq)?;
            }
            Ok(true)
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
        self.write(|txn| {
            txn.open_table(API_KEYS)?.insert(hash.as_slice(), ())?;
            Ok(())
        })
    }
}
