//! Key rings (connection keys and tenant signing keys): the ring record, its keys by role (at
//! most one current, next and previous key each: unique indexes), and changes serialised per
//! ring across every node by a transaction-scoped advisory lock on the ring's owner.
//!
//! A ring change decides from a one-shot closure, so it cannot be re-run after a serialization
//! failure: it runs at `READ COMMITTED` and takes the ring's lock first, so a change always reads
//! the ring as the previous change committed it, and concurrent changes queue instead of failing.
//! Key deletions and restores that touch a ring take the same lock.

use keysmith_model::{Key, KeyId, KeyRing, RingError, RingOwner, RingRole};
use postgres::Transaction;

use super::PgStore;
use super::key_rows::{delete_in, insert_in};
use crate::records::{RevokedPlace, decode_key, decode_ring, encode_ring};
use crate::{RingChange, RingRecords, StoreError};

impl RingRecords for PgStore {
    fn ring(&self, owner: &RingOwner) -> Result<Option<KeyRing>, StoreError> {
        self.read(|txn| ring_in(txn, owner))
    }

    fn ring_keys(&self, owner: &RingOwner) -> Result<Option<(KeyRing, Vec<Key>)>, StoreError> {
        self.read(|txn| {
            let Some(ring) = ring_in(txn, owner)? else {
                return Ok(None);
            };
            let mut records = Vec::new();
            for (slot, _) in ring.keys() {
                let row = txn
                    .query_opt("SELECT record FROM keys WHERE id = $1", &[&slot.id.0])?
                    .ok_or_else(|| {
                        StoreError::Corrupt(format!("{owner} names a key that is not stored"))
                    })?;
                records.push(decode_key(row.get(0))?);
            }
            Ok(Some((ring, records)))
        })
    }

    fn rings(&self) -> Result<Vec<(RingOwner, KeyRing)>, StoreError> {
        self.read(|txn| {
            txn.query(
                "SELECT owner, record FROM key_rings ORDER BY owner COLLATE \"C\"",
                &[],
            )?
            .iter()
            .map(|row| {
                let owner = RingOwner::from_storage_key(row.get(0))
                    .ok_or_else(|| StoreError::Corrupt("key ring owner".into()))?;
                Ok((owner, decode_ring(row.get(1))?))
            })
            .collect()
        })
    }

    fn change_ring(
        &self,
        owner: &RingOwner,
        change: crate::RingChanger<'_>,
    ) -> Result<RingChange, StoreError> {
        let target = owner.connection_id().unwrap_or("tenant").to_owned();
        let sealed_under = self.sealer.sealing_key_id();
        self.write_audited_once(
            |_| vec![target],
            |txn| {
                lock_ring(txn, owner)?;
                if let Some(id) = owner.connection_id()
                    && txn
                        .query_opt("SELECT 1 FROM connections WHERE id = $1 FOR SHARE", &[&id])?
                        .is_none()
                {
                    return Err(StoreError::Ring(RingError::NoSuchConnection));
                }
                let old = ring_in(txn, owner)?;
                let change = change(old.as_ref())?;
                let storage_key = owner.storage_key();
                txn.execute("DELETE FROM ring_keys WHERE owner = $1", &[&storage_key])?;
                for record in &change.insert {
                    insert_in(txn, &self.prepare(record)?, &sealed_under)?;
                }
                for id in &change.delete {
                    if change.ring.role_of(id).is_some() {
                        return Err(StoreError::Corrupt(
                            "a ring change deletes a key it keeps".into(),
                        ));
                    }
                    delete_in(txn, id)?;
                }
                put_ring_in(txn, owner, &change.ring)?;
                for (key, role) in change.ring.keys() {
                    add_ring_key_in(txn, &storage_key, &key.id, role)?;
                }
                #[cfg(feature = "failpoints")]
                if let Some(pause) = self.ring_commit_pause {
                    tracing::warn!(owner = %owner, "failpoint: ring change written, pausing before commit");
                    std::thread::sleep(pause);
                }
                Ok(change)
            },
        )
    }

    fn ring_of_key(&self, id: &KeyId) -> Result<Option<(RingOwner, RingRole)>, StoreError> {
        self.read(|txn| {
            let Some(owner) = ring_of_key_in(txn, id)? else {
                return Ok(None);
            };
            let ring = ring_in(txn, &owner)?
                .ok_or_else(|| StoreError::Corrupt("ring index names a missing ring".into()))?;
            Ok(ring.role_of(id).map(|role| (owner, role)))
        })
    }
}

/// Serialises changes to the ring of `owner` across every node until the transaction ends.
pub(super) fn lock_ring(txn: &mut Transaction<'_>, owner: &RingOwner) -> Result<(), StoreError> {
    txn.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
        &[&format!("keysmith-ring:{}", owner.storage_key())],
    )?;
    Ok(())
}

/// Refuses to delete a key a ring uses; a revoked ring key leaves its ring. Returns the place
/// a released revoked key had.
pub(super) fn release_from_ring(
    txn: &mut Transaction<'_>,
    id: &KeyId,
) -> Result<Option<RevokedPlace>, StoreError> {
    let Some(owner) = ring_of_key_in(txn, id)? else {
        return Ok(None);
    };
    lock_ring(txn, &owner)?;
    let mut ring = ring_in(txn, &owner)?
        .ok_or_else(|| StoreError::Corrupt(format!("ring index names a missing ring: {owner}")))?;
    let slot = ring.release(id).map_err(|role| StoreError::InUse {
        owner: owner.clone(),
        role,
    })?;
    put_ring_in(txn, &owner, &ring)?;
    txn.execute("DELETE FROM ring_keys WHERE key_id = $1", &[&id.0])?;
    Ok(slot.map(|slot| RevokedPlace {
        owner: owner.storage_key(),
        slot,
    }))
}

/// Puts a restored key back into the ring it was revoked in, still revoked. Refused
/// ([`StoreError::RingGone`]) if that ring no longer exists.
pub(super) fn return_to_ring(
    txn: &mut Transaction<'_>,
    place: RevokedPlace,
) -> Result<(), StoreError> {
    let owner = RingOwner::from_storage_key(&place.owner)
        .ok_or_else(|| StoreError::Corrupt("deleted key's ring owner".into()))?;
    lock_ring(txn, &owner)?;
    let Some(mut ring) = ring_in(txn, &owner)? else {
        return Err(StoreError::RingGone { owner });
    };
    let id = place.slot.id;
    ring.restore_revoked(place.slot);
    put_ring_in(txn, &owner, &ring)?;
    add_ring_key_in(txn, &place.owner, &id, RingRole::Revoked)
}

fn ring_of_key_in(txn: &mut Transaction<'_>, id: &KeyId) -> Result<Option<RingOwner>, StoreError> {
    txn.query_opt("SELECT owner FROM ring_keys WHERE key_id = $1", &[&id.0])?
        .map(|row| {
            RingOwner::from_storage_key(row.get(0))
                .ok_or_else(|| StoreError::Corrupt("ring index entry".into()))
        })
        .transpose()
}

fn ring_in(txn: &mut Transaction<'_>, owner: &RingOwner) -> Result<Option<KeyRing>, StoreError> {
    txn.query_opt(
        "SELECT record FROM key_rings WHERE owner = $1",
        &[&owner.storage_key()],
    )?
    .map(|row| decode_ring(row.get(0)))
    .transpose()
}

/// Writes the ring record, bumping its version.
fn put_ring_in(
    txn: &mut Transaction<'_>,
    owner: &RingOwner,
    ring: &KeyRing,
) -> Result<(), StoreError> {
    ring.check().map_err(|e| StoreError::Corrupt(e.into()))?;
    txn.execute(
        "INSERT INTO key_rings (owner, connection, version, record) VALUES ($1, $2, 1, $3)
         ON CONFLICT (owner) DO UPDATE
         SET version = key_rings.version + 1, record = excluded.record",
        &[
            &owner.storage_key(),
            &owner.connection_id(),
            &encode_ring(ring)?,
        ],
    )?;
    Ok(())
}

/// Lists a key in a ring under `role`. The schema refuses a key that is not stored, a key in
/// two rings, and a second current, next or previous key.
fn add_ring_key_in(
    txn: &mut Transaction<'_>,
    owner: &str,
    id: &KeyId,
    role: RingRole,
) -> Result<(), StoreError> {
    txn.execute(
        "INSERT INTO ring_keys (key_id, owner, role) VALUES ($1, $2, $3)",
        &[&id.0, &owner, &role.as_str()],
    )
    .map_err(|err| {
        use postgres::error::SqlState;
        match err.code() {
            Some(c) if *c == SqlState::FOREIGN_KEY_VIOLATION => {
                StoreError::Corrupt("a ring names a key that is not stored".into())
            }
            Some(c) if *c == SqlState::UNIQUE_VIOLATION => {
                StoreError::Corrupt(format!("a ring change would break the ring's roles: {err}"))
            }
            _ => StoreError::from(err),
        }
    })?;
    Ok(())
}
