//! The deleted-key record: a restorably deleted key, when it is purged, and where in a ring it
//! was revoked.

use keysmith_model::Key;
use serde::{Deserialize, Serialize};

use super::key::KeyRecordV3;
use super::ring::RingKeyRecordV3;
use crate::StoreError;

/// A restorably deleted key (stored as `records::deleted`).
pub(crate) struct DeletedKey {
    pub(crate) key: Key,
    pub(crate) purge_at: i64,
    /// Where the key was revoked when it was deleted, so a restore puts it back there.
    /// None for keys in no ring, and in records written before it was kept (those restore as
    /// plain keys).
    pub(crate) ring: Option<RevokedPlace>,
}

/// A revoked key's place in its ring: the ring's owner (its storage key) and its slot.
pub(crate) struct RevokedPlace {
    pub(crate) owner: String,
    pub(crate) slot: keysmith_model::RingKey,
}

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
pub(crate) fn encode_deleted(deleted: &DeletedKey) -> Result<Vec<u8>, StoreError> {
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
pub(crate) fn decode_deleted(bytes: &[u8]) -> Result<DeletedKey, StoreError> {
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
