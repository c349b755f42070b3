//! API keys: the hashes of unscoped keys and the scoped records (hash and permissions, never
//! the key).

use super::*;

impl ApiKeyRecords for RedbStore {
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
        let hash = *hash;
        self.write_audited(
            |()| vec![String::new()],
            move |txn| {
                txn.open_table(API_KEYS)?.insert(hash.as_slice(), ())?;
                Ok(())
            },
        )
    }

    fn api_key_records(&self) -> Result<Vec<keysmith_model::ApiKeyRecord>, StoreError> {
        let txn = self.read()?;
        let mut out = Vec::new();
        for entry in txn.open_table(API_KEY_RECORDS)?.iter()? {
            let (_, record) = entry?;
            out.push(decode_api_key(record.value())?);
        }
        Ok(out)
    }

    fn add_api_key_record(&self, record: &keysmith_model::ApiKeyRecord) -> Result<(), StoreError> {
        let json = encode_api_key(record)?;
        let id = record.id;
        self.write_audited(
            move |()| vec![id.to_string()],
            move |txn| {
                txn.open_table(API_KEY_RECORDS)?
                    .insert(id.as_u128(), json.as_slice())?;
                Ok(())
            },
        )
    }

    fn remove_api_key_record(&self, id: &Uuid) -> Result<bool, StoreError> {
        let id = *id;
        self.write_audited(if_true(id.to_string()), move |txn| {
            Ok(txn
                .open_table(API_KEY_RECORDS)?
                .remove(id.as_u128())?
                .is_some())
        })
    }
}
