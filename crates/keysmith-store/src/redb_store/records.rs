//! The key record as stored: private to the store and versioned with [`SCHEMA_VERSION`],
//! apart from [`Key`], which is FusionAuth's wire object and may change with the API.
//!
//! Both conversions name every field, so a field added to [`Key`] does not compile here until
//! someone decides how it is stored; and the golden test below fails when the stored shape
//! changes, so such a change comes with a new schema version and its upgrade.

use std::str::FromStr;

use keysmith_model::{Algorithm, CertificateInformation, Key, KeyId, KeyType};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::SCHEMA_VERSION;
use crate::StoreError;

/// A key record of schema version 3 (the same JSON as versions 1 and 2).
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct KeyRecordV3 {
    algorithm: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    certificate: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    certificate_information: Option<CertificateRecordV3>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    expiration_instant: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    has_private_key: Option<bool>,
    id: Uuid,
    insert_instant: i64,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    issuer: Option<String>,
    kid: String,
    last_update_instant: i64,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    length: Option<u32>,
    name: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    public_key: Option<String>,
    #[serde(rename = "type")]
    key_type: String,
}

/// The certificate facts of a key record, schema version 3.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CertificateRecordV3 {
    issuer: String,
    md5_fingerprint: String,
    serial_number: String,
    sha1_fingerprint: String,
    sha1_thumbprint: String,
    sha256_fingerprint: String,
    sha256_thumbprint: String,
    subject: String,
    valid_from: i64,
    valid_to: i64,
}

const _: () = assert!(
    SCHEMA_VERSION == 3,
    "a new schema version needs its key record here"
);

/// The stored bytes of `key`.
pub(super) fn encode_key(key: &Key) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(&KeyRecordV3::from(key)).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// The key a stored record holds.
pub(super) fn decode_key(bytes: &[u8]) -> Result<Key, StoreError> {
    let corrupt = |e: String| StoreError::Corrupt(format!("key record: {e}"));
    let record: KeyRecordV3 = serde_json::from_slice(bytes).map_err(|e| corrupt(e.to_string()))?;
    Key::try_from(record).map_err(corrupt)
}

impl From<&Key> for KeyRecordV3 {
    fn from(key: &Key) -> Self {
        let Key {
            algorithm,
            certificate,
            certificate_information,
            expiration_instant,
            has_private_key,
            id,
            insert_instant,
            issuer,
            kid,
            last_update_instant,
            length,
            name,
            public_key,
            key_type,
        } = key;
        KeyRecordV3 {
            algorithm: algorithm.as_str().to_owned(),
            certificate: certificate.clone(),
            certificate_information: certificate_information.as_ref().map(Into::into),
            expiration_instant: *expiration_instant,
            has_private_key: *has_private_key,
            id: id.0,
            insert_instant: *insert_instant,
            issuer: issuer.clone(),
            kid: kid.clone(),
            last_update_instant: *last_update_instant,
            length: *length,
            name: name.clone(),
            public_key: public_key.clone(),
            key_type: key_type.as_str().to_owned(),
        }
    }
}

impl TryFrom<KeyRecordV3> for Key {
    type Error = String;

    fn try_from(record: KeyRecordV3) -> Result<Self, String> {
        let KeyRecordV3 {
            algorithm,
            certificate,
            certificate_information,
            expiration_instant,
            has_private_key,
            id,
            insert_instant,
            issuer,
            kid,
            last_update_instant,
            length,
            name,
            public_key,
            key_type,
        } = record;
        Ok(Key {
            algorithm: Algorithm::from_str(&algorithm)
                .map_err(|_| format!("unknown algorithm {algorithm:?}"))?,
            certificate,
            certificate_information: certificate_information.map(Into::into),
            expiration_instant,
            has_private_key,
            id: KeyId(id),
            insert_instant,
            issuer,
            kid,
            last_update_instant,
            length,
            name,
            public_key,
            key_type: KeyType::from_str(&key_type)
                .map_err(|_| format!("unknown key type {key_type:?}"))?,
        })
    }
}

impl From<&CertificateInformation> for CertificateRecordV3 {
    fn from(info: &CertificateInformation) -> Self {
        let CertificateInformation {
            issuer,
            md5_fingerprint,
            serial_number,
            sha1_fingerprint,
            sha1_thumbprint,
            sha256_fingerprint,
            sha256_thumbprint,
            subject,
            valid_from,
            valid_to,
        } = info.clone();
        CertificateRecordV3 {
            issuer,
            md5_fingerprint,
            serial_number,
            sha1_fingerprint,
            sha1_thumbprint,
            sha256_fingerprint,
            sha256_thumbprint,
            subject,
            valid_from,
            valid_to,
        }
    }
}

impl From<CertificateRecordV3> for CertificateInformation {
    fn from(record: CertificateRecordV3) -> Self {
        let CertificateRecordV3 {
            issuer,
            md5_fingerprint,
            serial_number,
            sha1_fingerprint,
            sha1_thumbprint,
            sha256_fingerprint,
            sha256_thumbprint,
            subject,
            valid_from,
            valid_to,
        } = record;
        CertificateInformation {
            issuer,
            md5_fingerprint,
            serial_number,
            sha1_fingerprint,
            sha1_thumbprint,
            sha256_fingerprint,
            sha256_thumbprint,
            subject,
            valid_from,
            valid_to,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The stored bytes of an EC key with a certificate and of an HMAC key, schema version 3.
    /// If this fails, the stored shape changed: add a schema version and its upgrade (see
    /// `open.rs`), then a new golden file; never edit this one.
    const GOLDEN_V3: &str = include_str!("../../tests/fixtures/records/key-v3.jsonl");

    #[test]
    fn stored_key_records_keep_their_schema_3_shape() {
        let mut lines = 0;
        for line in GOLDEN_V3.lines().filter(|l| !l.trim().is_empty()) {
            let key = decode_key(line.as_bytes())
                .unwrap_or_else(|e| panic!("a schema-3 record no longer decodes: {e}\n{line}"));
            let again = encode_key(&key).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(
                String::from_utf8_lossy(&again),
                line,
                "the stored shape of a key changed: add a schema version and its upgrade"
            );
            lines += 1;
        }
        assert_eq!(lines, 2, "the golden file holds an EC and an HMAC key");
    }

    #[test]
    fn a_record_with_an_unknown_algorithm_or_field_is_reported_corrupt() {
        let line = GOLDEN_V3.lines().next().unwrap_or_default();
        for (from, to) in [
            ("\"algorithm\":\"ES256\"", "\"algorithm\":\"ES999\""),
            ("\"kid\":", "\"surprise\":1,\"kid\":"),
        ] {
            assert!(line.contains(from), "{line}");
            let changed = line.replacen(from, to, 1);
            assert!(matches!(
                decode_key(changed.as_bytes()),
                Err(StoreError::Corrupt(_))
            ));
        }
    }
}
