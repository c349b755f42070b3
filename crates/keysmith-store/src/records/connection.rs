//! The connection record: an Auth0 connection as stored.

use keysmith_model::Connection;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::StoreError;

/// A connection record of schema version 3 (the JSON of every version so far).
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConnectionRecordV3 {
    id: String,
    name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    display_name: Option<String>,
    strategy: String,
    #[serde(default)]
    options: Map<String, Value>,
    #[serde(default)]
    metadata: Map<String, Value>,
    #[serde(default)]
    enabled_clients: Vec<String>,
    #[serde(default)]
    realms: Vec<String>,
    #[serde(default)]
    is_domain_connection: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    rotation_period_seconds: Option<u64>,
    created_at: i64,
    updated_at: i64,
}

/// The stored bytes of `connection`.
pub(crate) fn encode_connection(connection: &Connection) -> Result<Vec<u8>, StoreError> {
    let Connection {
        id,
        name,
        display_name,
        strategy,
        options,
        metadata,
        enabled_clients,
        realms,
        is_domain_connection,
        rotation_period_seconds,
        created_at,
        updated_at,
    } = connection.clone();
    super::encode(&ConnectionRecordV3 {
        id,
        name,
        display_name,
        strategy,
        options,
        metadata,
        enabled_clients,
        realms,
        is_domain_connection,
        rotation_period_seconds,
        created_at,
        updated_at,
    })
}

/// The connection a stored record holds.
pub(crate) fn decode_connection(bytes: &[u8]) -> Result<Connection, StoreError> {
    let ConnectionRecordV3 {
        id,
        name,
        display_name,
        strategy,
        options,
        metadata,
        enabled_clients,
        realms,
        is_domain_connection,
        rotation_period_seconds,
        created_at,
        updated_at,
    } = super::decode(bytes, "connection record")?;
    Ok(Connection {
        id,
        name,
        display_name,
        strategy,
        options,
        metadata,
        enabled_clients,
        realms,
        is_domain_connection,
        rotation_period_seconds,
        created_at,
        updated_at,
    })
}
