//! API keys: the hashes of unscoped keys and the scoped records (hash and permissions, never
//! the key).

use uuid::Uuid;

use super::PgStore;
use crate::audit::if_true;
use crate::records::{decode_api_key, encode_api_key};
use crate::{ApiKeyRecords, StoreError};

impl ApiKeyRecords for PgStore {
    fn api_key_hashes(&self) -> Result<Vec<[u8; 32]>, StoreError> {
        self.read(|txn| {
            let rows = txn.query("SELECT hash FROM api_key_hashes ORDER BY hash", &[])?;
            Ok(rows
                .iter()
                .filter_map(|row| <[u8; 32]>::try_from(row.get::<_, &[u8]>(0)).ok())
                .collect())
        })
    }

    fn add_api_key_hash(&self, hash: &[u8; 32]) -> Result<(), StoreError> {
        self.write_audited(
            |()| vec![String::new()],
            |txn| {
                txn.execute(
                    "INSERT INTO api_key_hashes (hash) VALUES ($1) ON CONFLICT DO NOTHING",
                    &[&hash.as_slice()],
                )?;
                Ok(())
            },
        )
    }

    fn api_key_records(&self) -> Result<Vec<keysmith_model::ApiKeyRecord>, StoreError> {
        self.read(|txn| {
            txn.query("SELECT record FROM api_keys ORDER BY id", &[])?
                .iter()
                .map(|row| decode_api_key(row.get(0)))
                .collect()
        })
    }

    fn add_api_key_record(&self, record: &keysmith_model::ApiKeyRecord) -> Result<(), StoreError> {
        let bytes = encode_api_key(record)?;
        let id = record.id;
        self.write_audited(
            |()| vec![id.to_string()],
            |txn| {
                // Same as the redb engine: a record with a known id replaces it.
                txn.execute(
                    "INSERT INTO api_keys (id, record) VALUES ($1, $2)
                     ON CONFLICT (id) DO UPDATE SET record = excluded.record",
                    &[&id, &bytes],
                )?;
                Ok(())
            },
        )
    }

    fn remove_api_key_record(&self, id: &Uuid) -> Result<bool, StoreError> {
        let id = *id;
        self.write_audited(if_true(id.to_string()), |txn| {
            Ok(txn.execute("DELETE FROM api_keys WHERE id = $1", &[&id])? > 0)
        })
    }
}
