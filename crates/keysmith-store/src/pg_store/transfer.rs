//! [`Transfer`] for PostgreSQL: every table read in one snapshot, in the redb engine's orders
//! (bytes, ids, insertion), and the records of another store written into an empty database
//! with the columns and ring roles this engine keeps.

use keysmith_model::KeyId;

use super::PgStore;
use super::key_rows::{Prepared, insert_in};
use crate::StoreError;
use crate::records::{
    decode_api_key, decode_audit, decode_connection, decode_deleted, decode_key, decode_ring,
};
use crate::transfer::{Record, Transfer};

impl Transfer for PgStore {
    fn export(
        &self,
        visit: &mut dyn FnMut(Record) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        // One snapshot, read whole, then visited outside the transaction.
        let records = self.read(|txn| {
            let mut out = Vec::new();
            for row in txn.query("SELECT id FROM master_keys_in_use ORDER BY id", &[])? {
                out.push(Record::MasterKeyInUse(row.get(0)));
            }
            for row in txn.query("SELECT id, record, secret FROM keys ORDER BY seq", &[])? {
                out.push(Record::Key {
                    id: row.get(0),
                    record: row.get(1),
                    secret: row.get(2),
                });
            }
            for row in txn.query(
                "SELECT id, record, secret FROM deleted_keys ORDER BY id",
                &[],
            )? {
                out.push(Record::DeletedKey {
                    id: row.get(0),
                    record: row.get(1),
                    secret: row.get(2),
                });
            }
            for row in txn.query(
                "SELECT id, record FROM connections ORDER BY id COLLATE \"C\"",
                &[],
            )? {
                out.push(Record::Connection {
                    id: row.get(0),
                    record: row.get(1),
                });
            }
            for row in txn.query(
                "SELECT owner, record FROM key_rings ORDER BY owner COLLATE \"C\"",
                &[],
            )? {
                out.push(Record::Ring {
                    owner: row.get(0),
                    record: row.get(1),
                });
            }
            for row in txn.query("SELECT hash FROM api_key_hashes ORDER BY hash", &[])? {
                if let Ok(hash) = <[u8; 32]>::try_from(row.get::<_, &[u8]>(0)) {
                    out.push(Record::ApiKeyHash(hash));
                }
            }
            for row in txn.query("SELECT id, record FROM api_keys ORDER BY id", &[])? {
                out.push(Record::ApiKey {
                    id: row.get(0),
                    record: row.get(1),
                });
            }
            for row in txn.query("SELECT seq, record FROM audit_log ORDER BY seq", &[])? {
                out.push(Record::Audit {
                    seq: u64::try_from(row.get::<_, i64>(0)).unwrap_or_default(),
                    record: row.get(1),
                });
            }
            Ok(out)
        })?;
        records.into_iter().try_for_each(visit)
    }

    fn import(&self, records: &[Record]) -> Result<(), StoreError> {
        self.write(|txn| {
            let holds: i64 = txn
                .query_one(
                    "SELECT (SELECT count(*) FROM keys) + (SELECT count(*) FROM deleted_keys)
                          + (SELECT count(*) FROM connections) + (SELECT count(*) FROM api_keys)
                          + (SELECT count(*) FROM api_key_hashes) + (SELECT count(*) FROM audit_log)",
                    &[],
                )?
                .get(0);
            if holds > 0 {
                return Err(StoreError::NotEmpty(format!("{holds} records")));
            }
            let mut rings = Vec::new();
            for record in records {
                match record {
                    Record::MasterKeyInUse(id) => {
                        txn.execute("INSERT INTO master_keys_in_use (id) VALUES ($1)", &[id])?;
                    }
                    Record::Key { record, secret, .. } => {
                        let prepared = Prepared {
                            key: decode_key(record)?,
                            record: record.clone(),
                            secret: secret.clone(),
                        };
                        insert_in(txn, &prepared, &[])?;
                    }
                    Record::DeletedKey { id, record, secret } => {
                        let deleted = decode_deleted(record)?;
                        txn.execute(
                            "INSERT INTO deleted_keys (id, purge_at, record, secret) VALUES ($1, $2, $3, $4)",
                            &[id, &deleted.purge_at, record, secret],
                        )?;
                    }
                    Record::Connection { id, record } => {
                        let connection = decode_connection(record)?;
                        txn.execute(
                            "INSERT INTO connections (id, name, record) VALUES ($1, $2, $3)",
                            &[id, &connection.name, record],
                        )?;
                    }
                    // After every key and connection (the rows they name).
                    Record::Ring { owner, record } => rings.push((owner, record)),
                    Record::ApiKeyHash(hash) => {
                        txn.execute(
                            "INSERT INTO api_key_hashes (hash) VALUES ($1)",
                            &[&hash.as_slice()],
                        )?;
                    }
                    Record::ApiKey { id, record } => {
                        decode_api_key(record)?;
                        txn.execute(
                            "INSERT INTO api_keys (id, record) VALUES ($1, $2)",
                            &[id, record],
                        )?;
                    }
                    Record::Audit { seq, record } => {
                        let audit = decode_audit(record)?;
                        let seq = i64::try_from(*seq)
                            .map_err(|_| StoreError::Corrupt("audit record id".into()))?;
                        txn.execute(
                            "INSERT INTO audit_log (seq, at, actor, action, target, record)
                             VALUES ($1, $2, $3, $4, $5, $6)",
                            &[&seq, &audit.at, &audit.actor, &audit.action, &audit.target, record],
                        )?;
                    }
                }
            }
            for (owner, record) in rings {
                let ring = decode_ring(record)?;
                let parsed = keysmith_model::RingOwner::from_storage_key(owner)
                    .ok_or_else(|| StoreError::Corrupt("key ring owner".into()))?;
                txn.execute(
                    "INSERT INTO key_rings (owner, connection, version, record) VALUES ($1, $2, 1, $3)",
                    &[owner, &parsed.connection_id(), record],
                )?;
                for (key, role) in ring.keys() {
                    let id: &KeyId = &key.id;
                    txn.execute(
                        "INSERT INTO ring_keys (key_id, owner, role) VALUES ($1, $2, $3)",
                        &[&id.0, owner, &role.as_str()],
                    )?;
                }
            }
            // New audit rows continue after the copied ones.
            txn.execute(
                "SELECT setval(pg_get_serial_sequence('audit_log', 'seq'),
                               greatest((SELECT max(seq) FROM audit_log), 1))",
                &[],
            )?;
            Ok(())
        })
    }
}
