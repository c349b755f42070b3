//! The key ring record: who signs now, next and before, and which keys were revoked.

use std::str::FromStr;

use keysmith_model::{Algorithm, KeyId, KeyRing, RingKey};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::StoreError;

/// A key ring record of schema version 3 (the JSON of every version so far).
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyRingRecordV3 {
    signing_alg: String,
    rotations: u64,
    current: RingKeyRecordV3,
    next: RingKeyRecordV3,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    previous: Option<RingKeyRecordV3>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    revoked: Vec<RingKeyRecordV3>,
}

/// One key of a ring, schema version 3; also the slot of a deleted revoked key.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RingKeyRecordV3 {
    id: Uuid,
    kid: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    current_since: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    current_until: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    revoked_at: Option<i64>,
}

impl From<RingKey> for RingKeyRecordV3 {
    fn from(key: RingKey) -> Self {
        let RingKey {
            id,
            kid,
            current_since,
            current_until,
            revoked_at,
        } = key;
        RingKeyRecordV3 {
            id: id.0,
            kid,
            current_since,
            current_until,
            revoked_at,
        }
    }
}

impl From<RingKeyRecordV3> for RingKey {
    fn from(record: RingKeyRecordV3) -> Self {
        let RingKeyRecordV3 {
            id,
            kid,
            current_since,
            current_until,
            revoked_at,
        } = record;
        RingKey {
            id: KeyId(id),
            kid,
            current_since,
            current_until,
            revoked_at,
        }
    }
}

/// The stored bytes of `ring`.
pub(crate) fn encode_ring(ring: &KeyRing) -> Result<Vec<u8>, StoreError> {
    let KeyRing {
        signing_alg,
        rotations,
        current,
        next,
        previous,
        revoked,
    } = ring.clone();
    super::encode(&KeyRingRecordV3 {
        signing_alg: signing_alg.as_str().to_owned(),
        rotations,
        current: current.into(),
        next: next.into(),
        previous: previous.map(Into::into),
        revoked: revoked.into_iter().map(Into::into).collect(),
    })
}

/// The ring a stored record holds.
pub(crate) fn decode_ring(bytes: &[u8]) -> Result<KeyRing, StoreError> {
    let KeyRingRecordV3 {
        signing_alg,
        rotations,
        current,
        next,
        previous,
        revoked,
    } = super::decode(bytes, "key ring record")?;
    Ok(KeyRing {
        signing_alg: Algorithm::from_str(&signing_alg).map_err(|_| {
            StoreError::Corrupt(format!(
                "key ring record: unknown algorithm {signing_alg:?}"
            ))
        })?,
        rotations,
        current: current.into(),
        next: next.into(),
        previous: previous.map(Into::into),
        revoked: revoked.into_iter().map(Into::into).collect(),
    })
}
