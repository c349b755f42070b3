//! The audit record: one mutation or one (or a summed-up run of) use of a private key.

use keysmith_model::{AuditRecord, AuditUses};
use serde::{Deserialize, Serialize};

use crate::StoreError;

/// An audit record of schema version 3 (the JSON of every version so far).
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditRecordV3 {
    #[serde(default)]
    id: u64,
    at: i64,
    actor: String,
    action: String,
    target: String,
    result: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    request_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    uses: Option<AuditUsesRecordV3>,
}

/// The summed-up uses of an audit record, schema version 3.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditUsesRecordV3 {
    count: u64,
    first: i64,
    last: i64,
    callers: Vec<String>,
    #[serde(default)]
    more_callers: bool,
}

/// The stored bytes of `record`.
pub(crate) fn encode_audit(record: &AuditRecord) -> Result<Vec<u8>, StoreError> {
    let AuditRecord {
        id,
        at,
        actor,
        action,
        target,
        result,
        request_id,
        uses,
    } = record.clone();
    let uses = uses.map(|uses| {
        let AuditUses {
            count,
            first,
            last,
            callers,
            more_callers,
        } = uses;
        AuditUsesRecordV3 {
            count,
            first,
            last,
            callers,
            more_callers,
        }
    });
    super::encode(&AuditRecordV3 {
        id,
        at,
        actor,
        action,
        target,
        result,
        request_id,
        uses,
    })
}

/// The audit record a stored record holds.
pub(crate) fn decode_audit(bytes: &[u8]) -> Result<AuditRecord, StoreError> {
    let AuditRecordV3 {
        id,
        at,
        actor,
        action,
        target,
        result,
        request_id,
        uses,
    } = super::decode(bytes, "audit record")?;
    let uses = uses.map(|uses| {
        let AuditUsesRecordV3 {
            count,
            first,
            last,
            callers,
            more_callers,
        } = uses;
        AuditUses {
            count,
            first,
            last,
            callers,
            more_callers,
        }
    });
    Ok(AuditRecord {
        id,
        at,
        actor,
        action,
        target,
        result,
        request_id,
        uses,
    })
}
