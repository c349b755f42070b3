//! The crypto layer's contract, and everything in it that does not depend on a crypto library.
//!
//! [`KeyBackend`] is Keysmith's pluggable crypto provider, shaped like rustls' `CryptoProvider`:
//! an object-safe, `Send + Sync` trait used as `Arc<dyn KeyBackend>`. Two crates implement it,
//! `keysmith-crypto-openssl` and `keysmith-crypto-aws-lc`; the binary chooses one at start-up.
//!
//! Backends do the cryptography and the DER parsing it needs: generating keys, building and
//! reading certificates, digests, signatures. This crate holds what is the same whatever the
//! backend, so it is written once: PEM ([`pem`]), fingerprint and DN formatting
//! ([`fingerprint`], [`dn`]), certificate information ([`certificate`]), the certs-only PKCS#7
//! wrapper ([`pkcs7`]), JWKs ([`jwk`]) and the import rules ([`import`]).
//!
//! ```no_run
//! # fn demo(backend: std::sync::Arc<dyn keysmith_crypto::KeyBackend>) -> Result<(), keysmith_crypto::Error> {
//! use keysmith_model::Algorithm;
//! let key = backend.generate(Algorithm::ES256, None)?;
//! let signer = backend.signing_key(Algorithm::ES256, &key.private)?;
//! let signature = signer.sign(b"header.payload")?;
//! assert_eq!(signature.len(), 64); // JOSE r||s
//! # Ok(()) }
//! ```
//!
//! # Crate features
//! None. Backends live in their own crates.

mod backend;
pub mod certificate;
pub mod der;
pub mod dn;
pub mod envelope;
mod error;
pub mod fingerprint;
pub mod import;
pub mod jwk;
pub mod ml_dsa;
pub mod pem;
pub mod pkcs7;
pub mod random;

pub use backend::{
    CertificateFields, CertificateParams, GeneratedKey, KeyBackend, PrivateKeyFormat,
    PrivateKeyInfo, PublicKeyComponents, PublicKeyInfo, SigningKey, VerifyingKey,
    VerifyingMaterial,
};
pub use error::{BackendError, Error};
