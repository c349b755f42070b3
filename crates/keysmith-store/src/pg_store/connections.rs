//! Auth0 connections: the record, its unique name (a database constraint), and deleting a
//! connection with its rings and their keys in one transaction.

use keysmith_model::{Connection, KeyId, KeyUse, RingOwner};
use postgres::Transaction;

use super::PgStore;
use super::rings::lock_ring;
use crate::audit::{changed, if_true};
use crate::records::{decode_connection, encode_connection};
use crate::{ConnectionRecords, StoreError};

impl ConnectionRecords for PgStore {
    fn insert_connection(&self, connection: &Connection) -> Result<(), StoreError> {
        let bytes = encode_connection(connection)?;
        let target = connection.id.clone();
        self.write_audited(
            |()| vec![target.clone()],
            |txn| {
                txn.execute(
                    "INSERT INTO connections (id, name, record) VALUES ($1, $2, $3)",
                    &[&connection.id, &connection.name, &bytes],
                )?;
                Ok(())
            },
        )
    }

    fn connection(&self, id: &str) -> Result<Option<Connection>, StoreError> {
        self.read(|txn| {
            txn.query_opt("SELECT record FROM connections WHERE id = $1", &[&id])?
                .map(|row| decode_connection(row.get(0)))
                .transpose()
        })
    }

    fn connections(&self) -> Result<Vec<Connection>, StoreError> {
        self.read(|txn| {
            // Byte order of the names, as the redb engine's name index.
            txn.query(
                "SELECT record FROM connections ORDER BY name COLLATE \"C\"",
                &[],
            )?
            .iter()
            .map(|row| decode_connection(row.get(0)))
            .collect()
        })
    }

    fn replace_connection(&self, connection: &Connection) -> Result<bool, StoreError> {
        let bytes = encode_connection(connection)?;
        self.write_audited(if_true(connection.id.clone()), |txn| {
            Ok(txn.execute(
                "UPDATE connections SET name = $2, record = $3 WHERE id = $1",
                &[&connection.id, &connection.name, &bytes],
            )? > 0)
        })
    }

    fn delete_connection(&self, id: &str) -> Result<Option<Vec<KeyId>>, StoreError> {
        self.write_audited(changed(id.to_owned()), |txn| {
            if txn
                .query_opt("SELECT 1 FROM connections WHERE id = $1 FOR UPDATE", &[&id])?
                .is_none()
            {
                return Ok(None);
            }
            let deleted = drop_connection_rings_in(txn, id)?;
            txn.execute("DELETE FROM connections WHERE id = $1", &[&id])?;
            Ok(Some(deleted))
        })
    }
}

/// Deletes the rings of connection `id` and every key in them; returns the deleted keys' ids.
fn drop_connection_rings_in(txn: &mut Transaction<'_>, id: &str) -> Result<Vec<KeyId>, StoreError> {
    for key_use in [KeyUse::Signing, KeyUse::Encryption] {
        lock_ring(txn, &RingOwner::connection(id, key_use))?;
    }
    let rows = txn.query(
        "DELETE FROM ring_keys WHERE owner IN (SELECT owner FROM key_rings WHERE connection = $1)
         RETURNING key_id",
        &[&id],
    )?;
    let ids: Vec<uuid::Uuid> = rows.iter().map(|row| row.get(0)).collect();
    let deleted = txn.query("DELETE FROM keys WHERE id = ANY($1) RETURNING id", &[&ids])?;
    txn.execute("DELETE FROM key_rings WHERE connection = $1", &[&id])?;
    let mut deleted: Vec<KeyId> = deleted.iter().map(|row| KeyId(row.get(0))).collect();
    deleted.sort_by_key(|id| id.0);
    Ok(deleted)
}
