//! Key rings (connection keys and tenant signing keys): one transaction per change, the key
//! → ring index, and the places revoked keys keep while restorably deleted.

use super::*;

impl RingRecords for RedbStore {
    fn ring(&self, owner: &RingOwner) -> Result<Option<KeyRing>, StoreError> {
        let txn = self.read()?;
        let table = txn.open_table(RINGS)?;
        let ring = table.get(owner.storage_key().as_str())?;
        ring.map(|bytes| decode_ring(bytes.value())).transpose()
    }

    fn ring_keys(&self, owner: &RingOwner) -> Result<Option<(KeyRing, Vec<Key>)>, StoreError> {
        let txn = self.read()?;
        let rings = txn.open_table(RINGS)?;
        let Some(ring) = rings.get(owner.storage_key().as_str())? else {
            return Ok(None);
        };
        let ring = decode_ring(ring.value())?;
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
            out.push((owner, decode_ring(ring.value())?));
        }
        Ok(out)
    }

    fn change_ring(
        &self,
        owner: &RingOwner,
        change: crate::RingChanger<'_>,
    ) -> Result<RingChange, StoreError> {
        let target = owner.connection_id().unwrap_or("tenant").to_owned();
        self.write_audited_alone(|_| vec![target], |txn| {
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
                insert_in(
                    txn,
                    &record.key,
                    &encode_key(&record.key)?,
                    self.stored_secret(record)?.as_deref(),
                    &self.sealer.sealing_key_id(),
                )?;
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
        let ring = decode_ring(ring.value())?;
        Ok(ring.role_of(id).map(|role| (owner, role)))
    }
}

/// Refuses to delete a key a ring uses; a revoked ring key leaves its ring. Returns the place
/// a released revoked key had.
pub(super) fn release_from_ring(
    txn: &WriteTransaction,
    id: &KeyId,
) -> Result<Option<RevokedPlace>, StoreError> {
    let Some(owner) = ring_of_key_in(txn, raw(id))? else {
        return Ok(None);
    };
    let mut ring = ring_in(txn, &owner)?
        .ok_or_else(|| StoreError::Corrupt(format!("ring index names a missing ring: {owner}")))?;
    let slot = ring.release(id).map_err(|role| StoreError::InUse {
        owner: owner.clone(),
        role,
    })?;
    put_ring_in(txn, &owner, &ring)?;
    txn.open_table(RING_OF_KEY)?.remove(raw(id))?;
    Ok(slot.map(|slot| RevokedPlace {
        owner: owner.storage_key(),
        slot,
    }))
}

/// Puts a restored key back into the ring it was revoked in, still revoked. Refused
/// ([`StoreError::RingGone`]) if that ring no longer exists.
pub(super) fn return_to_ring(
    txn: &WriteTransaction,
    place: RevokedPlace,
) -> Result<(), StoreError> {
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

pub(super) fn ring_of_key_in(
    txn: &WriteTransaction,
    id: u128,
) -> Result<Option<RingOwner>, StoreError> {
    let table = txn.open_table(RING_OF_KEY)?;
    let Some(owner) = table.get(id)? else {
        return Ok(None);
    };
    RingOwner::from_storage_key(owner.value())
        .map(Some)
        .ok_or_else(|| StoreError::Corrupt("ring index entry".into()))
}

pub(super) fn ring_in(
    txn: &WriteTransaction,
    owner: &RingOwner,
) -> Result<Option<KeyRing>, StoreError> {
    let table = txn.open_table(RINGS)?;
    let ring = table.get(owner.storage_key().as_str())?;
    ring.map(|bytes| decode_ring(bytes.value())).transpose()
}

pub(super) fn put_ring_in(
    txn: &WriteTransaction,
    owner: &RingOwner,
    ring: &KeyRing,
) -> Result<(), StoreError> {
    ring.check().map_err(|e| StoreError::Corrupt(e.into()))?;
    txn.open_table(RINGS)?
        .insert(owner.storage_key().as_str(), encode_ring(ring)?.as_slice())?;
    Ok(())
}

/// Removes a ring and deletes every key in it. Returns the deleted key ids.
pub(super) fn drop_ring_in(
    txn: &WriteTransaction,
    owner: &RingOwner,
) -> Result<Vec<KeyId>, StoreError> {
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
