//! The records as stored: private to the store and versioned with [`SCHEMA_VERSION`], apart
//! from the model types, which are the wire objects and may change with the API.
//!
//! Each record type names every field of its model type in both conversions, so a field added
//! to a model type does not compile here until someone decides how it is stored; and the golden
//! tests below fail when a stored shape changes, so such a change comes with a new schema
//! version and its upgrade (`open.rs`). Unknown fields are refused (`Corrupt`): a file from a
//! newer binary is refused earlier, by its schema version.

mod api_key;
mod audit;
mod connection;
mod deleted;
mod key;
mod ring;

use serde::Serialize;
use serde::de::DeserializeOwned;

pub(super) use api_key::{decode_api_key, encode_api_key};
pub(super) use audit::{decode_audit, encode_audit};
pub(super) use connection::{decode_connection, encode_connection};
pub(super) use deleted::{decode_deleted, encode_deleted};
pub(super) use key::{decode_key, encode_key};
pub(super) use ring::{decode_ring, encode_ring};

use super::SCHEMA_VERSION;
use crate::StoreError;

const _: () = assert!(
    SCHEMA_VERSION == 3,
    "a new schema version needs its records here"
);

/// A record's stored bytes (JSON).
fn encode<R: Serialize>(record: &R) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(record).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// A stored record of kind `what`; anything that does not parse as one is `Corrupt`.
fn decode<R: DeserializeOwned>(bytes: &[u8], what: &str) -> Result<R, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each kind of record as schema version 3 stores it, one per line, written by the code of
    /// that version. If a test fails, a stored shape changed: add a schema version and its
    /// upgrade (see `open.rs`), then new golden files; never edit these.
    const GOLDEN_V3: [(&str, &str, usize); 6] = [
        (
            "key",
            include_str!("../../../tests/fixtures/records/key-v3.jsonl"),
            2,
        ),
        (
            "deleted key",
            include_str!("../../../tests/fixtures/records/deleted-key-v3.jsonl"),
            2,
        ),
        (
            "connection",
            include_str!("../../../tests/fixtures/records/connection-v3.jsonl"),
            2,
        ),
        (
            "key ring",
            include_str!("../../../tests/fixtures/records/ring-v3.jsonl"),
            2,
        ),
        (
            "api key",
            include_str!("../../../tests/fixtures/records/api-key-v3.jsonl"),
            1,
        ),
        (
            "audit",
            include_str!("../../../tests/fixtures/records/audit-v3.jsonl"),
            2,
        ),
    ];

    /// Decodes a stored line of `kind` and encodes it again.
    fn round_trip(kind: &str, line: &[u8]) -> Result<Vec<u8>, StoreError> {
        match kind {
            "key" => encode_key(&decode_key(line)?),
            "deleted key" => encode_deleted(&decode_deleted(line)?),
            "connection" => encode_connection(&decode_connection(line)?),
            "key ring" => encode_ring(&decode_ring(line)?),
            "api key" => encode_api_key(&decode_api_key(line)?),
            "audit" => encode_audit(&decode_audit(line)?),
            other => panic!("no record kind {other}"),
        }
    }

    #[test]
    fn every_stored_record_keeps_its_schema_3_shape() {
        for (kind, golden, expected) in GOLDEN_V3 {
            let mut lines = 0;
            for line in golden.lines().filter(|l| !l.trim().is_empty()) {
                let again = round_trip(kind, line.as_bytes()).unwrap_or_else(|e| {
                    panic!("a schema-3 {kind} record no longer decodes: {e}\n{line}")
                });
                assert_eq!(
                    String::from_utf8_lossy(&again),
                    line,
                    "the stored shape of a {kind} changed: add a schema version and its upgrade"
                );
                lines += 1;
            }
            assert_eq!(lines, expected, "the {kind} golden file");
        }
    }

    #[test]
    fn a_record_with_an_unknown_field_is_reported_corrupt() {
        for (kind, golden, _) in GOLDEN_V3 {
            let line = golden.lines().next().unwrap_or_default();
            let changed = line.replacen('{', "{\"surprise\":1,", 1);
            assert!(
                matches!(
                    round_trip(kind, changed.as_bytes()),
                    Err(StoreError::Corrupt(_))
                ),
                "{kind}: {changed}"
            );
        }
    }

    #[test]
    fn a_key_or_ring_with_an_unknown_algorithm_is_reported_corrupt() {
        for (kind, from, to) in [
            ("key", "\"algorithm\":\"ES256\"", "\"algorithm\":\"ES999\""),
            (
                "key ring",
                "\"signing_alg\":\"RS256\"",
                "\"signing_alg\":\"RS999\"",
            ),
        ] {
            let (_, golden, _) = GOLDEN_V3.iter().find(|(k, _, _)| *k == kind).unwrap();
            let line = golden.lines().next().unwrap_or_default();
            assert!(line.contains(from), "{line}");
            let changed = line.replacen(from, to, 1);
            assert!(matches!(
                round_trip(kind, changed.as_bytes()),
                Err(StoreError::Corrupt(_))
            ));
        }
    }
}
