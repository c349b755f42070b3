//! The key record: FusionAuth's key object as stored, without its private material (sealed
//! apart, `secrets.rs`).
//!
//! Schema 4 stores it compactly ([`encode_key`]): the certificate and public key as DER, the
//! certificate's fingerprints as raw digests, and what derives from another field (the public
//! key inside the certificate, a kid that is the certificate's SHA-1 thumbprint) not at all.
//! Reading it back gives the same `Key`, text for text: a field whose text is not exactly what
//! the derivation would produce (a PEM with other line breaks, lower-case hex) is kept as text.
//! Schemas 1 to 3 stored the JSON of [`KeyRecordV3`], still the form inside deleted-key records.

use std::str::FromStr;

use keysmith_crypto::der::certificate_spki;
use keysmith_crypto::fingerprint::{base64url, colon_hex, from_colon_hex};
use keysmith_crypto::pem;
use keysmith_model::{Algorithm, CertificateInformation, Key, KeyId, KeyType};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::binary::{Reader, Writer};
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

/// The format byte of a schema-4 key record (a JSON record starts with `{`).
const KEY_FORMAT_V4: u8 = 4;

// Flags: which optional fields follow, and whether the kid is derived.
const HAS_PRIVATE_KEY_SET: u8 = 1;
const HAS_PRIVATE_KEY: u8 = 1 << 1;
const LENGTH: u8 = 1 << 2;
const EXPIRATION: u8 = 1 << 3;
const ISSUER: u8 = 1 << 4;
/// The kid is the certificate's SHA-1 thumbprint (FusionAuth's kid for a generated key).
const KID_IS_SHA1_THUMBPRINT: u8 = 1 << 5;
const KNOWN_FLAGS: u8 = (1 << 6) - 1;

// How a PEM field (certificate, public key) is stored.
const ABSENT: u8 = 0;
/// DER; the text is `pem::encode(label, der, Lf)`.
const DER: u8 = 1;
/// The text itself, which is not in that form.
const TEXT: u8 = 2;
/// Public key only: the SubjectPublicKeyInfo inside the stored certificate.
const SPKI_OF_CERTIFICATE: u8 = 3;

// How certificate information is stored.
/// Names, raw serial and digests, times: the text forms are derived.
const INFO_COMPACT: u8 = 1;
/// The JSON of [`CertificateRecordV3`], when a text form is not the derived one.
const INFO_JSON: u8 = 2;

const CERTIFICATE_LABEL: &str = "CERTIFICATE";
const PUBLIC_KEY_LABEL: &str = "PUBLIC KEY";

/// The stored bytes of `key` (schema 4).
pub(crate) fn encode_key(key: &Key) -> Result<Vec<u8>, StoreError> {
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
    let certificate_der = certificate
        .as_deref()
        .and_then(|text| canonical_der(text, CERTIFICATE_LABEL));
    let compact_info = certificate_information.as_ref().and_then(CompactInfo::of);
    let kid_derived = compact_info
        .as_ref()
        .is_some_and(|info| base64url(&info.sha1) == *kid);
    let mut flags = 0;
    for (set, flag) in [
        (has_private_key.is_some(), HAS_PRIVATE_KEY_SET),
        (*has_private_key == Some(true), HAS_PRIVATE_KEY),
        (length.is_some(), LENGTH),
        (expiration_instant.is_some(), EXPIRATION),
        (issuer.is_some(), ISSUER),
        (kid_derived, KID_IS_SHA1_THUMBPRINT),
    ] {
        if set {
            flags |= flag;
        }
    }
    let mut out = Writer::new(KEY_FORMAT_V4, 640);
    out.u8(flags);
    out.str(algorithm.as_str());
    out.str(key_type.as_str());
    out.fixed(id.as_bytes());
    out.i64(*insert_instant);
    out.i64(*last_update_instant);
    out.str(name);
    if !kid_derived {
        out.str(kid);
    }
    if let Some(issuer) = issuer {
        out.str(issuer);
    }
    if let Some(length) = length {
        out.u32(*length);
    }
    if let Some(expiration) = expiration_instant {
        out.i64(*expiration);
    }
    match (certificate, &certificate_der) {
        (None, _) => out.u8(ABSENT),
        (Some(_), Some(der)) => {
            out.u8(DER);
            out.bytes(der);
        }
        (Some(text), None) => {
            out.u8(TEXT);
            out.str(text);
        }
    }
    match public_key {
        None => out.u8(ABSENT),
        Some(text) => match canonical_der(text, PUBLIC_KEY_LABEL) {
            Some(spki)
                if certificate_der.as_deref().and_then(certificate_spki) == Some(&spki[..]) =>
            {
                out.u8(SPKI_OF_CERTIFICATE);
            }
            Some(spki) => {
                out.u8(DER);
                out.bytes(&spki);
            }
            None => {
                out.u8(TEXT);
                out.str(text);
            }
        },
    }
    match (certificate_information, compact_info) {
        (None, _) => out.u8(ABSENT),
        (Some(_), Some(info)) => {
            out.u8(INFO_COMPACT);
            info.write(&mut out);
        }
        (Some(info), None) => {
            out.u8(INFO_JSON);
            out.bytes(&super::encode(&CertificateRecordV3::from(info))?);
        }
    }
    Ok(out.finish())
}

/// A key's public record as read, still encoded. Decoding is a pure function of these bytes,
/// so a reader may keep what it derived from one read and reuse it while a later read of the
/// same key compares equal. It holds no private material (that is sealed apart); its `Debug`
/// prints only its length all the same.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyRecord(Vec<u8>);

impl KeyRecord {
    pub(crate) fn new(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    /// The key it holds.
    pub fn decode(&self) -> Result<Key, StoreError> {
        decode_key(&self.0)
    }

    /// Its length in bytes, what keeping it costs.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether it is empty (no stored record is).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for KeyRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeyRecord({} bytes)", self.0.len())
    }
}

/// The key a stored record (schema 4) holds.
pub(crate) fn decode_key(bytes: &[u8]) -> Result<Key, StoreError> {
    let corrupt = |why: String| StoreError::Corrupt(format!("key record: {why}"));
    let mut input = Reader::new(bytes, KEY_FORMAT_V4, "key record")?;
    let flags = input.u8()?;
    if flags & !KNOWN_FLAGS != 0 {
        return Err(corrupt(format!("unknown flags {flags:#04x}")));
    }
    let algorithm = input.str()?;
    let algorithm = Algorithm::from_str(algorithm)
        .map_err(|_| corrupt(format!("unknown algorithm {algorithm:?}")))?;
    let key_type = input.str()?;
    let key_type = KeyType::from_str(key_type)
        .map_err(|_| corrupt(format!("unknown key type {key_type:?}")))?;
    let mut id = [0u8; 16];
    id.copy_from_slice(input.fixed(16)?);
    let insert_instant = input.i64()?;
    let last_update_instant = input.i64()?;
    let name = input.str()?.to_owned();
    let kid = if flags & KID_IS_SHA1_THUMBPRINT == 0 {
        Some(input.str()?.to_owned())
    } else {
        None
    };
    let issuer = (flags & ISSUER != 0)
        .then(|| input.str().map(str::to_owned))
        .transpose()?;
    let length = (flags & LENGTH != 0).then(|| input.u32()).transpose()?;
    let expiration_instant = (flags & EXPIRATION != 0).then(|| input.i64()).transpose()?;
    let (certificate, certificate_der) = match input.u8()? {
        ABSENT => (None, None),
        DER => {
            let der = input.bytes()?;
            (
                Some(pem::encode(CERTIFICATE_LABEL, der, pem::LineEnding::Lf)),
                Some(der),
            )
        }
        TEXT => (Some(input.str()?.to_owned()), None),
        other => return Err(corrupt(format!("certificate form {other}"))),
    };
    let public_key = match input.u8()? {
        ABSENT => None,
        DER => Some(pem::encode(
            PUBLIC_KEY_LABEL,
            input.bytes()?,
            pem::LineEnding::Lf,
        )),
        TEXT => Some(input.str()?.to_owned()),
        SPKI_OF_CERTIFICATE => {
            let spki = certificate_der
                .and_then(certificate_spki)
                .ok_or_else(|| corrupt("no certificate to take the public key from".into()))?;
            Some(pem::encode(PUBLIC_KEY_LABEL, spki, pem::LineEnding::Lf))
        }
        other => return Err(corrupt(format!("public key form {other}"))),
    };
    // The kid a record may derive: the SHA-1 thumbprint of compact certificate information.
    let (certificate_information, derived_kid) = match input.u8()? {
        ABSENT => (None, None),
        INFO_COMPACT => {
            let info = CompactInfo::read(&mut input)?.information();
            let kid = info.sha1_thumbprint.clone();
            (Some(info), Some(kid))
        }
        INFO_JSON => {
            let record: CertificateRecordV3 = super::decode(input.bytes()?, "key record")?;
            (Some(CertificateInformation::from(record)), None)
        }
        other => return Err(corrupt(format!("certificate information form {other}"))),
    };
    input.finish()?;
    let kid = kid
        .or(derived_kid)
        .ok_or_else(|| corrupt("a derived kid without certificate information".into()))?;
    Ok(Key {
        algorithm,
        certificate,
        certificate_information,
        expiration_instant,
        has_private_key: (flags & HAS_PRIVATE_KEY_SET != 0).then_some(flags & HAS_PRIVATE_KEY != 0),
        id: KeyId(Uuid::from_bytes(id)),
        insert_instant,
        issuer,
        kid,
        last_update_instant,
        length,
        name,
        public_key,
        key_type,
    })
}

/// The key a record of schema 1 to 3 (JSON) holds: what the upgrade to schema 4 reads.
pub(crate) fn decode_key_v3(bytes: &[u8]) -> Result<Key, StoreError> {
    let record: KeyRecordV3 = super::decode(bytes, "key record")?;
    Key::try_from(record).map_err(|e| StoreError::Corrupt(format!("key record: {e}")))
}

/// The JSON a schema-3 build stored for `key` (the golden test of that shape).
#[cfg(test)]
pub(crate) fn encode_key_v3(key: &Key) -> Result<Vec<u8>, StoreError> {
    super::encode(&KeyRecordV3::from(key))
}

/// The DER inside `text` if `text` is exactly the PEM block [`pem::encode`] writes for it under
/// `label`, so the text can be derived again from the DER alone.
fn canonical_der(text: &str, label: &str) -> Option<Vec<u8>> {
    let block = pem::decode(text).ok()?;
    let der = block.contents.to_vec();
    (block.label == label && pem::encode(label, &der, pem::LineEnding::Lf) == text).then_some(der)
}

/// Certificate information whose text forms are all derived from these bytes.
struct CompactInfo {
    issuer: String,
    subject: String,
    serial: Vec<u8>,
    md5: Vec<u8>,
    sha1: Vec<u8>,
    sha256: Vec<u8>,
    valid_from: i64,
    valid_to: i64,
}

impl CompactInfo {
    /// `info` in compact form, if every text form is the one derived from its bytes.
    fn of(info: &CertificateInformation) -> Option<Self> {
        let compact = Self {
            issuer: info.issuer.clone(),
            subject: info.subject.clone(),
            serial: from_colon_hex(&info.serial_number)?,
            md5: from_colon_hex(&info.md5_fingerprint)?,
            sha1: from_colon_hex(&info.sha1_fingerprint)?,
            sha256: from_colon_hex(&info.sha256_fingerprint)?,
            valid_from: info.valid_from,
            valid_to: info.valid_to,
        };
        (compact.information() == *info).then_some(compact)
    }

    fn write(&self, out: &mut Writer) {
        out.str(&self.issuer);
        out.str(&self.subject);
        out.bytes(&self.serial);
        out.bytes(&self.md5);
        out.bytes(&self.sha1);
        out.bytes(&self.sha256);
        out.i64(self.valid_from);
        out.i64(self.valid_to);
    }

    fn read(input: &mut Reader<'_>) -> Result<Self, StoreError> {
        Ok(Self {
            issuer: input.str()?.to_owned(),
            subject: input.str()?.to_owned(),
            serial: input.bytes()?.to_vec(),
            md5: input.bytes()?.to_vec(),
            sha1: input.bytes()?.to_vec(),
            sha256: input.bytes()?.to_vec(),
            valid_from: input.i64()?,
            valid_to: input.i64()?,
        })
    }

    fn information(&self) -> CertificateInformation {
        CertificateInformation {
            issuer: self.issuer.clone(),
            md5_fingerprint: colon_hex(&self.md5),
            serial_number: colon_hex(&self.serial),
            sha1_fingerprint: colon_hex(&self.sha1),
            sha1_thumbprint: base64url(&self.sha1),
            sha256_fingerprint: colon_hex(&self.sha256),
            sha256_thumbprint: base64url(&self.sha256),
            subject: self.subject.clone(),
            valid_from: self.valid_from,
            valid_to: self.valid_to,
        }
    }
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
