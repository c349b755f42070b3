//! The key record: FusionAuth's key object as stored, without its private material (sealed
//! apart, `secrets.rs`).

use std::str::FromStr;

use keysmith_model::{Algorithm, CertificateInformation, Key, KeyId, KeyType};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::StoreError;

/// A key record of schema version 3 (the same JSON as versions 1 and 2).
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct KeyRecordV3 {
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

/// The stored bytes of `key`.
pub(in crate::redb_store) fn encode_key(key: &Key) -> Result<Vec<u8>, StoreError> {
    super::encode(&KeyRecordV3::from(key))
}

/// The key a stored record holds.
pub(in crate::redb_store) fn decode_key(bytes: &[u8]) -> Result<Key, StoreError> {
    let record: KeyRecordV3 = super::decode(bytes, "key record")?;
    Key::try_from(record).map_err(|e| StoreError::Corrupt(format!("key record: {e}")))
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
