//! Algorithms, key types, curves and the key lengths each algorithm allows.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The family of a key, as FusionAuth's `key.type` names it (`OKP` is JOSE's name for Ed25519).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum KeyType {
    /// RSA, for RS* and PS* algorithms.
    #[serde(rename = "RSA")]
    Rsa,
    /// Elliptic curve over a NIST prime field, for ES* algorithms.
    #[serde(rename = "EC")]
    Ec,
    /// Octet key pair (Ed25519), for EdDSA.
    #[serde(rename = "OKP")]
    Okp,
    /// A shared HMAC secret, for HS* algorithms.
    #[serde(rename = "HMAC")]
    Hmac,
    /// Algorithm key pair: a key whose algorithm is part of the key (ML-DSA), JOSE's `AKP`
    /// (draft-ietf-cose-dilithium).
    #[serde(rename = "AKP")]
    Akp,
}

impl KeyType {
    /// Every key type.
    pub const ALL: [KeyType; 5] = [
        KeyType::Rsa,
        KeyType::Ec,
        KeyType::Okp,
        KeyType::Hmac,
        KeyType::Akp,
    ];

    /// The wire name: `RSA`, `EC`, `OKP`, `HMAC` or `AKP`.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyType::Rsa => "RSA",
            KeyType::Ec => "EC",
            KeyType::Okp => "OKP",
            KeyType::Hmac => "HMAC",
            KeyType::Akp => "AKP",
        }
    }

    /// Whether keys of this type have a public half (all but HMAC).
    pub fn is_asymmetric(self) -> bool {
        self != KeyType::Hmac
    }
}

impl fmt::Display for KeyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for KeyType {
    type Err = ParseAlgorithmError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        KeyType::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or(ParseAlgorithmError)
    }
}

/// A hash function used by a signature or fingerprint.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HashAlgorithm {
    /// MD5: only for FusionAuth's `md5Fingerprint`, never for signatures.
    Md5,
    /// SHA-1: only for fingerprints and thumbprints, never for signatures.
    Sha1,
    /// SHA-256.
    Sha256,
    /// SHA-384.
    Sha384,
    /// SHA-512.
    Sha512,
}

impl HashAlgorithm {
    /// The digest length in bytes.
    pub fn output_len(self) -> usize {
        match self {
            HashAlgorithm::Md5 => 16,
            HashAlgorithm::Sha1 => 20,
            HashAlgorithm::Sha256 => 32,
            HashAlgorithm::Sha384 => 48,
            HashAlgorithm::Sha512 => 64,
        }
    }
}

/// A named curve.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Curve {
    /// NIST P-256 (secp256r1).
    #[serde(rename = "P-256")]
    P256,
    /// NIST P-384 (secp384r1).
    #[serde(rename = "P-384")]
    P384,
    /// NIST P-521 (secp521r1).
    #[serde(rename = "P-521")]
    P521,
    /// Edwards 25519, for Ed25519 signatures.
    #[serde(rename = "Ed25519")]
    Ed25519,
}

impl Curve {
    /// The JWK `crv` name.
    pub fn jwk_name(self) -> &'static str {
        match self {
            Curve::P256 => "P-256",
            Curve::P384 => "P-384",
            Curve::P521 => "P-521",
            Curve::Ed25519 => "Ed25519",
        }
    }

    /// The size of one coordinate (or of the Ed25519 public key) in bytes.
    pub fn coordinate_len(self) -> usize {
        match self {
            Curve::P256 | Curve::Ed25519 => 32,
            Curve::P384 => 48,
            Curve::P521 => 66,
        }
    }

    /// The key `length` FusionAuth reports: the field size in bits for NIST curves, and 32 (the
    /// key size in bytes) for Ed25519, as `COMPATIBILITY.md` records.
    pub fn key_length(self) -> u32 {
        match self {
            Curve::P256 => 256,
            Curve::P384 => 384,
            Curve::P521 => 521,
            Curve::Ed25519 => 32,
        }
    }
}

/// How a key may be used; Auth0's `key_use` and JWK's `use`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyUse {
    /// Signatures (JWK `use: "sig"`).
    #[default]
    Signing,
    /// Encryption, e.g. SAML assertion encryption (JWK `use: "enc"`).
    Encryption,
}

impl KeyUse {
    /// The JWK `use` value.
    pub fn jwk_use(self) -> &'static str {
        match self {
            KeyUse::Signing => "sig",
            KeyUse::Encryption => "enc",
        }
    }
}

/// A signing algorithm. Every key is bound to exactly one (RFC 8725 §3.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[allow(missing_docs)]
pub enum Algorithm {
    RS256,
    RS384,
    RS512,
    PS256,
    PS384,
    PS512,
    ES256,
    ES384,
    ES512,
    Ed25519,
    HS256,
    HS384,
    HS512,
    /// ML-DSA-44 (FIPS 204, security category 2).
    #[serde(rename = "ML-DSA-44")]
    MlDsa44,
    /// ML-DSA-65 (FIPS 204, security category 3).
    #[serde(rename = "ML-DSA-65")]
    MlDsa65,
    /// ML-DSA-87 (FIPS 204, security category 5).
    #[serde(rename = "ML-DSA-87")]
    MlDsa87,
}

/// The RSA modulus sizes Keysmith generates and accepts for private keys.
pub const RSA_GENERATE_LENGTHS: [u32; 3] = [2048, 3072, 4096];
/// The smallest RSA modulus accepted for a private key.
pub const RSA_MIN_PRIVATE_BITS: u32 = 2048;
/// The smallest RSA modulus accepted for a verify-only public key or certificate.
pub const RSA_MIN_PUBLIC_BITS: u32 = 1024;
/// The largest RSA modulus accepted on import.
pub const RSA_MAX_BITS: u32 = 8192;
/// An ML-DSA key's `length` is its public key's size in bytes (FIPS 204, table 2), as an
/// Ed25519 key's is 32: it names the parameter set.
pub const ML_DSA_44_PUBLIC_KEY_LEN: u32 = 1312;
/// See [`ML_DSA_44_PUBLIC_KEY_LEN`].
pub const ML_DSA_65_PUBLIC_KEY_LEN: u32 = 1952;
/// See [`ML_DSA_44_PUBLIC_KEY_LEN`].
pub const ML_DSA_87_PUBLIC_KEY_LEN: u32 = 2592;

impl Algorithm {
    /// Every algorithm, in a stable order.
    pub const ALL: [Algorithm; 16] = [
        Algorithm::RS256,
        Algorithm::RS384,
        Algorithm::RS512,
        Algorithm::PS256,
        Algorithm::PS384,
        Algorithm::PS512,
        Algorithm::ES256,
        Algorithm::ES384,
        Algorithm::ES512,
        Algorithm::Ed25519,
        Algorithm::HS256,
        Algorithm::HS384,
        Algorithm::HS512,
        Algorithm::MlDsa44,
        Algorithm::MlDsa65,
        Algorithm::MlDsa87,
    ];

    /// The name used on the wire (FusionAuth's `key.algorithm`).
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::RS256 => "RS256",
            Algorithm::RS384 => "RS384",
            Algorithm::RS512 => "RS512",
            Algorithm::PS256 => "PS256",
            Algorithm::PS384 => "PS384",
            Algorithm::PS512 => "PS512",
            Algorithm::ES256 => "ES256",
            Algorithm::ES384 => "ES384",
            Algorithm::ES512 => "ES512",
            Algorithm::Ed25519 => "Ed25519",
            Algorithm::HS256 => "HS256",
            Algorithm::HS384 => "HS384",
            Algorithm::HS512 => "HS512",
            Algorithm::MlDsa44 => "ML-DSA-44",
            Algorithm::MlDsa65 => "ML-DSA-65",
            Algorithm::MlDsa87 => "ML-DSA-87",
        }
    }

    /// The JWS `alg` header value (RFC 7518, RFC 8037, draft-ietf-cose-dilithium): `EdDSA`
    /// for Ed25519, the algorithm's own name for the others.
    pub fn jws_name(self) -> &'static str {
        match self {
            Algorithm::Ed25519 => "EdDSA",
            other => other.as_str(),
        }
    }

    /// The key type this algorithm needs.
    pub fn key_type(self) -> KeyType {
        match self {
            Algorithm::RS256
            | Algorithm::RS384
            | Algorithm::RS512
            | Algorithm::PS256
            | Algorithm::PS384
            | Algorithm::PS512 => KeyType::Rsa,
            Algorithm::ES256 | Algorithm::ES384 | Algorithm::ES512 => KeyType::Ec,
            Algorithm::Ed25519 => KeyType::Okp,
            Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => KeyType::Hmac,
            Algorithm::MlDsa44 | Algorithm::MlDsa65 | Algorithm::MlDsa87 => KeyType::Akp,
        }
    }

    /// The hash the signature uses. Ed25519 and ML-DSA hash internally and have none to choose.
    pub fn hash(self) -> Option<HashAlgorithm> {
        match self {
            Algorithm::RS256 | Algorithm::PS256 | Algorithm::ES256 | Algorithm::HS256 => {
                Some(HashAlgorithm::Sha256)
            }
            Algorithm::RS384 | Algorithm::PS384 | Algorithm::ES384 | Algorithm::HS384 => {
                Some(HashAlgorithm::Sha384)
            }
            Algorithm::RS512 | Algorithm::PS512 | Algorithm::ES512 | Algorithm::HS512 => {
                Some(HashAlgorithm::Sha512)
            }
            Algorithm::Ed25519 | Algorithm::MlDsa44 | Algorithm::MlDsa65 | Algorithm::MlDsa87 => {
                None
            }
        }
    }

    /// The curve, for EC and OKP algorithms.
    pub fn curve(self) -> Option<Curve> {
        match self {
            Algorithm::ES256 => Some(Curve::P256),
            Algorithm::ES384 => Some(Curve::P384),
            Algorithm::ES512 => Some(Curve::P521),
            Algorithm::Ed25519 => Some(Curve::Ed25519),
            _ => None,
        }
    }

    /// Whether this is an RSASSA-PSS algorithm.
    pub fn is_pss(self) -> bool {
        matches!(self, Algorithm::PS256 | Algorithm::PS384 | Algorithm::PS512)
    }

    /// The lengths `generate` accepts: RSA modulus bits, or the single length a curve or an
    /// ML-DSA parameter set implies. HMAC secrets have no caller-chosen length (it is the hash
    /// length), so the list is empty.
    pub fn generate_lengths(self) -> &'static [u32] {
        match self.key_type() {
            KeyType::Rsa => &RSA_GENERATE_LENGTHS,
            KeyType::Ec | KeyType::Okp => match self.curve() {
                Some(Curve::P256) => &[256],
                Some(Curve::P384) => &[384],
                Some(Curve::P521) => &[521],
                Some(Curve::Ed25519) => &[32],
                None => &[],
            },
            KeyType::Hmac => &[],
            KeyType::Akp => match self {
                Algorithm::MlDsa44 => &[ML_DSA_44_PUBLIC_KEY_LEN],
                Algorithm::MlDsa65 => &[ML_DSA_65_PUBLIC_KEY_LEN],
                _ => &[ML_DSA_87_PUBLIC_KEY_LEN],
            },
        }
    }

    /// The length a curve or an ML-DSA parameter set implies; `None` for RSA (the caller
    /// chooses) and HMAC (no length).
    pub fn implied_length(self) -> Option<u32> {
        match self.key_type() {
            KeyType::Rsa | KeyType::Hmac => None,
            _ => self.generate_lengths().first().copied(),
        }
    }

    /// Whether this is an ML-DSA algorithm (FIPS 204).
    pub fn is_ml_dsa(self) -> bool {
        self.key_type() == KeyType::Akp
    }

    /// The ML-DSA algorithm whose public keys are `len` bytes long.
    pub fn ml_dsa_of_public_key_len(len: usize) -> Option<Algorithm> {
        Algorithm::of_type(KeyType::Akp)
            .find(|alg| alg.implied_length().map(|l| l as usize) == Some(len))
    }

    /// The number of random bytes in a generated HMAC secret: the hash output length, so the
    /// secret is at least as long as its hash (RFC 7518 §3.2).
    pub fn hmac_secret_len(self) -> Option<usize> {
        match self.key_type() {
            KeyType::Hmac => self.hash().map(HashAlgorithm::output_len),
            _ => None,
        }
    }

    /// The algorithms of a key type, in `ALL` order.
    pub fn of_type(key_type: KeyType) -> impl Iterator<Item = Algorithm> {
        Algorithm::ALL
            .into_iter()
            .filter(move |a| a.key_type() == key_type)
    }

    /// The algorithm inferred for an imported key when none is given: RS256 for RSA, the
    /// curve's ES* for EC, Ed25519 for OKP, HS256 for HMAC. An ML-DSA key's algorithm is part
    /// of the key ([`Algorithm::ml_dsa_of_public_key_len`]), so AKP gives `None` here.
    pub fn default_for(key_type: KeyType, curve: Option<Curve>) -> Option<Algorithm> {
        match (key_type, curve) {
            (KeyType::Rsa, _) => Some(Algorithm::RS256),
            (KeyType::Ec, Some(Curve::P256)) => Some(Algorithm::ES256),
            (KeyType::Ec, Some(Curve::P384)) => Some(Algorithm::ES384),
            (KeyType::Ec, Some(Curve::P521)) => Some(Algorithm::ES512),
            (KeyType::Okp, Some(Curve::Ed25519)) | (KeyType::Okp, None) => Some(Algorithm::Ed25519),
            (KeyType::Hmac, _) => Some(Algorithm::HS256),
            _ => None,
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A string named no algorithm (or key type) Keysmith knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParseAlgorithmError;

impl fmt::Display for ParseAlgorithmError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("unknown algorithm")
    }
}

impl std::error::Error for ParseAlgorithmError {}

impl FromStr for Algorithm {
    type Err = ParseAlgorithmError;
    /// Exact, case-sensitive names as on the wire; `EdDSA` is accepted for Ed25519.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == "EdDSA" {
            return Ok(Algorithm::Ed25519);
        }
        Algorithm::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or(ParseAlgorithmError)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for alg in Algorithm::ALL {
            assert_eq!(alg.as_str().parse::<Algorithm>(), Ok(alg));
            let json = serde_json::to_string(&alg).unwrap();
            assert_eq!(json, format!("\"{}\"", alg.as_str()));
        }
        assert_eq!("EdDSA".parse::<Algorithm>(), Ok(Algorithm::Ed25519));
        assert!("rs256".parse::<Algorithm>().is_err());
        assert!("none".parse::<Algorithm>().is_err());
    }

    #[test]
    fn every_asymmetric_algorithm_has_a_generate_length_and_hmac_has_a_secret_length() {
        for alg in Algorithm::ALL {
            match alg.key_type() {
                KeyType::Hmac => {
                    assert!(alg.generate_lengths().is_empty());
                    assert!(alg.hmac_secret_len().unwrap() >= 32);
                }
                _ => assert!(!alg.generate_lengths().is_empty()),
            }
        }
    }

    #[test]
    fn default_algorithm_matches_key_type() {
        for t in KeyType::ALL {
            for curve in [
                None,
                Some(Curve::P256),
                Some(Curve::P384),
                Some(Curve::P521),
            ] {
                if let Some(alg) = Algorithm::default_for(t, curve) {
                    assert_eq!(alg.key_type(), t);
                }
            }
        }
    }
}
