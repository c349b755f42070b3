//! [`Transfer`] for the data file: every table read in one read transaction, and the records
//! of another store written into an empty file with every index this engine keeps.

use super::*;
use crate::transfer::{Record, Transfer};

impl Transfer for RedbStore {
    fn export(
        &self,
        visit: &mut dyn FnMut(Record) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let txn = self.read()?;
        for entry in txn.open_table(MASTER_KEYS_IN_USE)?.iter()? {
            visit(Record::MasterKeyInUse(entry?.0.value().to_vec()))?;
        }
        let keys = txn.open_table(KEYS)?;
        let secrets = txn.open_table(SECRETS)?;
        for entry in txn.open_table(BY_INSERTION)?.iter()? {
            let id = entry?.1.value();
            let record = keys
                .get(id)?
                .ok_or_else(|| StoreError::Corrupt("insertion index names a missing key".into()))?
                .value()
                .to_vec();
            let secret = secrets.get(id)?.map(|v| v.value().to_vec());
            visit(Record::Key {
                id: Uuid::from_u128(id),
                record,
                secret,
            })?;
        }
        let deleted_secrets = txn.open_table(DELETED_SECRETS)?;
        for entry in txn.open_table(DELETED_KEYS)?.iter()? {
            let (id, record) = entry?;
            visit(Record::DeletedKey {
                id: Uuid::from_u128(id.value()),
                record: record.value().to_vec(),
                secret: deleted_secrets.get(id.value())?.map(|v| v.value().to_vec()),
            })?;
        }
        for entry in txn.open_table(CONNECTIONS)?.iter()? {
            let (id, record) = entry?;
            visit(Record::Connection {
                id: id.value().to_owned(),
                record: record.value().to_vec(),
            })?;
        }
        for entry in txn.open_table(RINGS)?.iter()? {
            let (owner, record) = entry?;
            visit(Record::Ring {
                owner: owner.value().to_owned(),
                record: record.value().to_vec(),
            })?;
        }
        for entry in txn.open_table(API_KEYS)?.iter()? {
            if let Ok(hash) = <[u8; 32]>::try_from(entry?.0.value()) {
                visit(Record::ApiKeyHash(hash))?;
            }
        }
        for entry in txn.open_table(API_KEY_RECORDS)?.iter()? {
            let (id, record) = entry?;
            visit(Record::ApiKey {
                id: Uuid::from_u128(id.value()),
                record: record.value().to_vec(),
            })?;
        }
        for entry in txn.open_table(AUDIT_LOG)?.iter()? {
            let (seq, record) = entry?;
            visit(Record::Audit {
                seq: seq.value(),
                record: record.value().to_vec(),
            })?;
        }
        Ok(())
    }

    fn import(&self, records: &[Record]) -> Result<(), StoreError> {
        self.write(|txn| {
            let holds = txn.open_table(KEYS)?.len()?
                + txn.open_table(DELETED_KEYS)?.len()?
                + txn.open_table(CONNECTIONS)?.len()?
                + txn.open_table(API_KEYS)?.len()?
                + txn.open_table(API_KEY_RECORDS)?.len()?
                + txn.open_table(AUDIT_LOG)?.len()?;
            if holds > 0 {
                return Err(StoreError::NotEmpty(format!("{holds} records")));
            }
            for record in records {
                match record {
                    Record::MasterKeyInUse(id) => {
                        txn.open_table(MASTER_KEYS_IN_USE)?
                            .insert(id.as_slice(), ())?;
                    }
                    Record::Key { record, secret, .. } => {
                        let key = decode_key(record)?;
                        // The master key is listed by its own record.
                        insert_in(txn, &key, record, secret.as_deref(), &[])?;
                    }
                    Record::DeletedKey { id, record, secret } => {
                        decode_deleted(record)?;
                        txn.open_table(DELETED_KEYS)?
                            .insert(id.as_u128(), record.as_slice())?;
                        if let Some(secret) = secret {
                            txn.open_table(DELETED_SECRETS)?
                                .insert(id.as_u128(), secret.as_slice())?;
                        }
                    }
                    Record::Connection { id, record } => {
                        let connection = decode_connection(record)?;
                        txn.open_table(CONNECTIONS)?
                            .insert(id.as_str(), record.as_slice())?;
                        txn.open_table(CONNECTIONS_BY_NAME)?
                            .insert(connection.name.as_str(), id.as_str())?;
                    }
                    Record::Ring { owner, record } => {
                        let ring = decode_ring(record)?;
                        txn.open_table(RINGS)?
                            .insert(owner.as_str(), record.as_slice())?;
                        let mut index = txn.open_table(RING_OF_KEY)?;
                        for (key, _) in ring.keys() {
                            index.insert(raw(&key.id), owner.as_str())?;
                        }
                    }
                    Record::ApiKeyHash(hash) => {
                        txn.open_table(API_KEYS)?.insert(hash.as_slice(), ())?;
                    }
                    Record::ApiKey { id, record } => {
                        decode_api_key(record)?;
                        txn.open_table(API_KEY_RECORDS)?
                            .insert(id.as_u128(), record.as_slice())?;
                    }
                    Record::Audit { seq, record } => {
                        let audit = decode_audit(record)?;
                        txn.open_table(AUDIT_LOG)?.insert(*seq, record.as_slice())?;
                        txn.open_table(AUDIT_BY_TIME)?
                            .insert((audit.at, *seq), ())?;
                    }
                }
            }
            Ok(())
        })
    }
}
