//! The key table's rows: a key prepared for storing (record bytes and sealed secret), inserted
//! with its indexed columns, and deleted. Used by the key and ring changes alike.

use keysmith_model::{Key, KeyId};
use postgres::Transaction;

use super::PgStore;
use crate::records::encode_key;
use crate::sealed::encode_secret;
use crate::{StoreError, StoredKey};

/// A key to insert: the model key, its record bytes and its sealed private half.
pub(super) struct Prepared {
    pub(super) key: Key,
    pub(super) record: Vec<u8>,
    pub(super) secret: Option<Vec<u8>>,
}

impl PgStore {
    /// Encodes a key and seals its private half (outside any transaction: sealing is CPU work).
    pub(super) fn prepare(&self, stored: &StoredKey) -> Result<Prepared, StoreError> {
        Ok(Prepared {
            key: stored.key.clone(),
            record: encode_key(&stored.key)?,
            secret: stored
                .private
                .as_ref()
                .map(|private| encode_secret(&*self.sealer, &stored.key.id, private))
                .transpose()?,
        })
    }
}

/// Stores a key row; its uniqueness (id, name, kid) is the database's. `sealed_under` is the
/// master key its secret was just sealed under (empty: listed already).
pub(super) fn insert_in(
    txn: &mut Transaction<'_>,
    key: &Prepared,
    sealed_under: &[u8],
) -> Result<(), StoreError> {
    let k = &key.key;
    txn.execute(
        "INSERT INTO keys (id, name, lower_name, kid, key_type, algorithm, expires_at, issuer,
                           record, secret)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        &[
            &k.id.0,
            &k.name,
            &k.name.to_lowercase(),
            &k.kid,
            &k.key_type.as_str(),
            &k.algorithm.as_str(),
            &k.expiration_instant,
            &k.issuer,
            &key.record,
            &key.secret,
        ],
    )?;
    if key.secret.is_some() && !sealed_under.is_empty() {
        txn.execute(
            "INSERT INTO master_keys_in_use (id) VALUES ($1) ON CONFLICT DO NOTHING",
            &[&sealed_under],
        )?;
    }
    Ok(())
}

/// Deletes a key row. Returns whether it existed.
pub(super) fn delete_in(txn: &mut Transaction<'_>, id: &KeyId) -> Result<bool, StoreError> {
    Ok(txn.execute("DELETE FROM keys WHERE id = $1", &[&id.0])? > 0)
}
