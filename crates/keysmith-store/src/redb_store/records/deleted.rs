//! The deleted-key record: a restorably deleted key, when it is purged, and where in a ring it
//! was revoked.

use keysmith_model::Key;
use serde::{Deserialize, Serialize};

use super::key::KeyRecordV3;
use super::ring::RingKeyRecordV3;
use crate::StoreError;
use crate::redb_store::keys::DeletedKey;
use crate::redb_store::rings::RevokedPlace;

/// A deleted-key record of schema version 3 (the JSON of every version so far).
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct DeletedKeyRecordV3 {
    key: KeyRecordV3,
    purge_at: i64,
    /// Absent for keys in no ring, and in records written before it was kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ring: Option<RevokedPlaceRecordV3>,
}

/// A revoked key's place in its ring, schema version 3.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RevokedPlaceRecordV3 {
    owner: String,
    slot: RingKeyRecordV3,
}

/// The stored bytes of `deleted`.
pub(in crate::redb_store) fn encode_deleted(deleted: &DeletedKey) -> Result<Vec<u8>, StoreError> {
    let DeletedKey {
        key,
        purge_at,
        ring,
    } = deleted;
    super::encode(&DeletedKeyRecordV3 {
        key: KeyRecordV3::from(key),
        purge_at: *purge_at,
        ring: ring.as_ref().map(|place| RevokedPlaceRecordV3 {
            owner: place.owner.clone(),
            slot: place.slot.clone().into(),
        }),
    })
}

/// The deleted key a stored record holds.
pub(in crate::redb_store) fn decode_deleted(bytes: &[u8]) -> Result<DeletedKey, StoreError> {
    let DeletedKeyRecordV3 {
        key,
        purge_at,
        ring,
    } = super::decode(bytes, "deleted key record")?;
    Ok(DeletedKey {
        key: Key::try_from(key)
            .map_err(|e| StoreError::Corrupt(format!("deleted key record: {e}")))?,
        purge_at,
        ring: ring.map(|place| RevokedPlace {
            owner: place.owner,
            slot: place.slot.into(),
        }),
    })
}
