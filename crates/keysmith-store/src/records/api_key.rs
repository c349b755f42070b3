//! The API key record: an API key's SHA-256 (never the key) and its permissions.

use keysmith_model::ApiKeyRecord;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::StoreError;

/// An API key record of schema version 3 (the JSON of every version so far).
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ApiKeyRecordV3 {
    id: Uuid,
    name: String,
    sha256: String,
    permissions: Vec<String>,
    created_at: i64,
}

/// The stored bytes of `record`.
pub(crate) fn encode_api_key(record: &ApiKeyRecord) -> Result<Vec<u8>, StoreError> {
    let ApiKeyRecord {
        id,
        name,
        sha256,
        permissions,
        created_at,
    } = record.clone();
    super::encode(&ApiKeyRecordV3 {
        id,
        name,
        sha256,
        permissions,
        created_at,
    })
}

/// The API key a stored record holds.
pub(crate) fn decode_api_key(bytes: &[u8]) -> Result<ApiKeyRecord, StoreError> {
    let ApiKeyRecordV3 {
        id,
        name,
        sha256,
        permissions,
        created_at,
    } = super::decode(bytes, "api key record")?;
    Ok(ApiKeyRecord {
        id,
        name,
        sha256,
        permissions,
        created_at,
    })
}
