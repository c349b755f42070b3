//! The key record: every field of FusionAuth's key object, plus the private half kept apart.

use std::fmt;
use std::str::FromStr;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::algorithm::{Algorithm, KeyType};
use crate::secret::SecretBytes;

/// A key's unique id: a UUID, as FusionAuth uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(value_type = String, format = Uuid))]
#[serde(transparent)]
pub struct KeyId(pub Uuid);

impl KeyId {
    /// A fresh id: a version-7 UUID, the Unix time in milliseconds then 74 random bits (from
    /// the OS RNG, no counter). Ids made later sort later, so a new key's rows go at the end of
    /// the id-keyed tables instead of dirtying a random page each (a third fewer pages written
    /// per commit); the time is no secret (the key's `insertInstant` says it).
    pub fn random() -> Self {
        let random = *Uuid::new_v4().as_bytes();
        // Bytes 6 and 8 of a v4 UUID carry its version and variant bits; the others are random.
        let mut bits = [0u8; 10];
        bits[..6].copy_from_slice(&random[..6]);
        bits[6..].copy_from_slice(&random[9..13]);
        let millis = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        Self(uuid::Builder::from_unix_timestamp_millis(millis, &bits).into_uuid())
    }

    /// The 16 big-endian bytes, which read as a positive 128-bit integer are the serial number
    /// of the key's generated certificate (FusionAuth's convention).
    pub fn as_bytes(&self) -> &[u8; 16] {
        self.0.as_bytes()
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Hyphenated lower case, as FusionAuth prints ids.
        fmt::Display::fmt(&self.0.hyphenated(), f)
    }
}

impl FromStr for KeyId {
    type Err = uuid::Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uuid::parse_str(s).map(Self)
    }
}

/// Milliseconds since the Unix epoch, now. Clamped to 0 if the clock is before 1970.
pub fn epoch_millis_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// What FusionAuth reports about a key's X.509 certificate.
///
/// All fingerprints are over the DER certificate: `*Fingerprint` as upper-case colon hex,
/// `*Thumbprint` as base64url without padding (the JWK `x5t` and `x5t#S256`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CertificateInformation {
    /// The issuer DN in RFC 4514 form, e.g. `CN=acme.com`.
    pub issuer: String,
    /// MD5 of the DER certificate, upper-case colon hex.
    pub md5_fingerprint: String,
    /// The serial number's magnitude, upper-case colon hex.
    pub serial_number: String,
    /// SHA-1 of the DER certificate, upper-case colon hex.
    pub sha1_fingerprint: String,
    /// SHA-1 of the DER certificate, base64url without padding.
    pub sha1_thumbprint: String,
    /// SHA-256 of the DER certificate, upper-case colon hex.
    pub sha256_fingerprint: String,
    /// SHA-256 of the DER certificate, base64url without padding.
    pub sha256_thumbprint: String,
    /// The subject DN in RFC 4514 form.
    pub subject: String,
    /// Start of validity, epoch milliseconds.
    pub valid_from: i64,
    /// End of validity, epoch milliseconds.
    pub valid_to: i64,
}

/// The public record of a key: exactly FusionAuth's key object.
///
/// Invariants (kept by the code that builds keys, checked by [`Key::check_invariants`]):
/// HMAC keys carry no certificate, certificate information, expiration, `hasPrivateKey`,
/// issuer, length or public key; other keys always carry `hasPrivateKey` and `length`; the
/// algorithm matches the type. Serialization leaves absent fields out rather than writing `null`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Key {
    /// The algorithm the key is bound to.
    pub algorithm: Algorithm,
    /// The X.509 certificate, PEM with `\n` line ends.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub certificate: Option<String>,
    /// Facts read from the certificate.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub certificate_information: Option<CertificateInformation>,
    /// The certificate's end of validity, epoch milliseconds.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub expiration_instant: Option<i64>,
    /// Whether a private key is stored. Absent for HMAC keys.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub has_private_key: Option<bool>,
    /// The key's id.
    pub id: KeyId,
    /// When the key was stored, epoch milliseconds.
    pub insert_instant: i64,
    /// The certificate issuer's common name given at generation.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub issuer: Option<String>,
    /// The JOSE key id.
    pub kid: String,
    /// When the key was last changed, epoch milliseconds.
    pub last_update_instant: i64,
    /// RSA modulus bits, or the curve's length.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub length: Option<u32>,
    /// The unique name.
    pub name: String,
    /// The public key, SPKI PEM (`BEGIN PUBLIC KEY`) with `\n` line ends.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub public_key: Option<String>,
    /// The key type.
    #[serde(rename = "type")]
    pub key_type: KeyType,
}

impl Key {
    /// A new record with only what every key has (the shape of an HMAC key); the caller fills in
    /// the kid, and for asymmetric keys the public key, length, `hasPrivateKey` and certificate.
    pub fn new(id: KeyId, algorithm: Algorithm, name: String, now_millis: i64) -> Self {
        Key {
            algorithm,
            certificate: None,
            certificate_information: None,
            expiration_instant: None,
            has_private_key: None,
            id,
            insert_instant: now_millis,
            issuer: None,
            kid: String::new(),
            last_update_instant: now_millis,
            length: None,
            name,
            public_key: None,
            key_type: algorithm.key_type(),
        }
    }

    /// Describes the first broken invariant, if any.
    pub fn check_invariants(&self) -> Result<(), &'static str> {
        if self.algorithm.key_type() != self.key_type {
            return Err("algorithm does not match key type");
        }
        if self.key_type == KeyType::Hmac {
            let has_asymmetric_field = self.certificate.is_some()
                || self.certificate_information.is_some()
                || self.expiration_instant.is_some()
                || self.has_private_key.is_some()
                || self.issuer.is_some()
                || self.length.is_some()
                || self.public_key.is_some();
            if has_asymmetric_field {
                return Err("HMAC key carries a field only asymmetric keys have");
            }
        } else {
            if self.has_private_key.is_none() || self.length.is_none() {
                return Err("asymmetric key lacks hasPrivateKey or length");
            }
            if self.public_key.is_none() {
                return Err("asymmetric key lacks its public key");
            }
            if self.certificate.is_some() != self.certificate_information.is_some() {
                return Err("certificate and certificateInformation must come together");
            }
        }
        Ok(())
    }
}

/// The private half of a key, kept apart from [`Key`] so it can never be serialized with it.
#[derive(Clone, Debug)]
pub enum PrivateMaterial {
    /// A private key as PKCS#8 v1 DER (RSA, EC or Ed25519).
    Pkcs8(SecretBytes),
    /// An HMAC secret: the bytes the MAC is keyed with. For FusionAuth compatibility these are
    /// the UTF-8 bytes of the secret string (a generated secret is base64 text).
    HmacSecret(SecretBytes),
}

impl PrivateMaterial {
    /// The secret bytes.
    pub fn expose(&self) -> &[u8] {
        match self {
            PrivateMaterial::Pkcs8(b) | PrivateMaterial::HmacSecret(b) => b.expose(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hmac_key() -> Key {
        Key {
            algorithm: Algorithm::HS256,
            certificate: None,
            certificate_information: None,
            expiration_instant: None,
            has_private_key: None,
            id: "092dbedc-30af-4149-9c61-b578f2c72f59".parse().unwrap(),
            insert_instant: 1562171137000,
            issuer: None,
            kid: "10d51735a5".into(),
            last_update_instant: 1595361143101,
            length: None,
            name: "OpenID Connect compliant HMAC using SHA-256".into(),
            public_key: None,
            key_type: KeyType::Hmac,
        }
    }

    #[test]
    fn fresh_ids_are_version_7_time_ordered_and_random() {
        let before = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        let ids: Vec<KeyId> = (0..1000).map(|_| KeyId::random()).collect();
        let mut seen = std::collections::BTreeSet::new();
        for id in &ids {
            assert_eq!(id.0.get_version_num(), 7);
            assert_eq!(id.0.get_variant(), uuid::Variant::RFC4122);
            let (secs, nanos) = id.0.get_timestamp().unwrap().to_unix();
            assert!(secs * 1000 + u64::from(nanos / 1_000_000) >= before);
            assert!(seen.insert(id.0), "a repeated id");
        }
        // Ordered by millisecond: a later id never sorts before an earlier millisecond.
        for pair in ids.windows(2) {
            assert!(pair[0].0.as_bytes()[..6] <= pair[1].0.as_bytes()[..6]);
        }
        // The 74 bits after the time differ between ids (not a counter).
        let low: std::collections::BTreeSet<u64> = ids
            .iter()
            .map(|id| u64::from_be_bytes(id.0.as_bytes()[8..].try_into().unwrap()))
            .collect();
        assert_eq!(low.len(), ids.len());
    }

    #[test]
    fn hmac_key_serializes_exactly_like_fusionauths_example() {
        let expected = serde_json::json!({
            "algorithm": "HS256",
            "id": "092dbedc-30af-4149-9c61-b578f2c72f59",
            "insertInstant": 1562171137000_i64,
            "kid": "10d51735a5",
            "lastUpdateInstant": 1595361143101_i64,
            "name": "OpenID Connect compliant HMAC using SHA-256",
            "type": "HMAC"
        });
        let key = hmac_key();
        key.check_invariants().unwrap();
        assert_eq!(serde_json::to_value(&key).unwrap(), expected);
        let back: Key = serde_json::from_value(expected).unwrap();
        assert_eq!(back, key);
    }

    #[test]
    fn invariants_catch_hmac_with_a_length() {
        let mut key = hmac_key();
        key.length = Some(256);
        assert!(key.check_invariants().is_err());
    }

    #[test]
    fn private_material_debug_is_redacted() {
        let m = PrivateMaterial::HmacSecret(SecretBytes::new(b"top-secret-value".to_vec()));
        assert!(!format!("{m:?}").contains("top-secret"));
    }
}
