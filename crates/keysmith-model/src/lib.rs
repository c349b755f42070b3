//! Keysmith's key domain model.
//!
//! The types every other crate speaks: key ids, algorithms and the lengths they allow, key use,
//! certificate information, the key record with every field of FusionAuth's key object, secret
//! material that zeroizes itself and never prints, and validation errors in FusionAuth's
//! `[reason]field` convention.
//!
//! This crate does no I/O, is not async and depends on no crypto library: it only describes keys.
//!
//! ```
//! use keysmith_model::{Algorithm, KeyType};
//!
//! let alg: Algorithm = "ES256".parse().unwrap();
//! assert_eq!(alg.key_type(), KeyType::Ec);
//! assert_eq!(alg.implied_length(), Some(256));
//! ```
//!
//! # Crate features
//! None.

mod algorithm;
pub mod audit;
pub mod connection;
mod errors;
mod key;
pub mod permissions;
mod public_keys;
pub mod ring;
mod seal;
pub mod search;
mod secret;
pub mod validate;

pub use algorithm::{
    Algorithm, Curve, HashAlgorithm, KeyType, KeyUse, ML_DSA_44_PUBLIC_KEY_LEN,
    ML_DSA_65_PUBLIC_KEY_LEN, ML_DSA_87_PUBLIC_KEY_LEN, ParseAlgorithmError, RSA_GENERATE_LENGTHS,
    RSA_MAX_BITS, RSA_MIN_PRIVATE_BITS, RSA_MIN_PUBLIC_BITS,
};
pub use audit::{AuditQuery, AuditRecord, AuditUses};
pub use connection::Connection;
pub use errors::{ErrorDetail, Errors, Reason};
pub use key::{CertificateInformation, Key, KeyId, PrivateMaterial, epoch_millis_now};
pub use permissions::{ApiKeyRecord, Family, PermissionError, Permissions};
pub use public_keys::PublicKeys;
pub use ring::{KeyRing, RingError, RingKey, RingOwner, RingRole};
pub use seal::{SealError, SecretSealer};
pub use secret::{SecretBytes, redacted};

/// The longest key name, kid or issuer accepted, in characters (UTF-8 scalar values).
pub const MAX_NAME_LENGTH: usize = 255;
/// The longest `kid` accepted, in characters.
pub const MAX_KID_LENGTH: usize = 255;
/// The longest issuer (certificate common name) accepted, in characters.
pub const MAX_ISSUER_LENGTH: usize = 255;
