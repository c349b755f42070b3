//! Keysmith's [`KeyBackend`] on the system's OpenSSL 3, through the `openssl` crate.
//!
//! Everything, certificates included, is done by OpenSSL except the certs-only PKCS#7 wrapper,
//! which the crate's safe API cannot build and which `keysmith_crypto::pkcs7` writes for every
//! backend.
//!
//! OpenSSL 3 decodes keys through its provider framework, which costs about half a millisecond
//! per PKCS#8 key. So [`KeyBackend::generate_with_certificate`] signs the certificate with the
//! key still in memory, and callers keep [`SigningKey`]s rather than reloading them.
//!
//! ```
//! use keysmith_crypto::KeyBackend;
//! let backend = keysmith_crypto_openssl::OpenSslBackend::new();
//! assert_eq!(backend.name(), "openssl");
//! ```
//!
//! # Crate features
//! - default: links the system's libssl/libcrypto (Debian: `libssl-dev`, `pkg-config`).
//! - `vendored`: builds a current OpenSSL from source (the `openssl-src` crate, pinned in the
//!   workspace's `Cargo.toml`) and links it statically; needs `perl` and `make`. It is the
//!   build with ML-DSA (OpenSSL 3.5 or newer; see `ml_dsa`).

mod keys;
mod ml_dsa;
mod rsa_race;
mod x509;

use keysmith_crypto::{
    CertificateFields, CertificateParams, Error, GeneratedKey, KeyBackend, PrivateKeyFormat,
    PrivateKeyInfo, PublicKeyInfo, SigningKey, VerifyingKey, VerifyingMaterial,
};
use keysmith_model::{Algorithm, HashAlgorithm, PrivateMaterial, SecretBytes};
use openssl::hash::{MessageDigest, hash};

/// The OpenSSL backend.
#[derive(Debug, Default)]
pub struct OpenSslBackend {
    _private: (),
}

impl OpenSslBackend {
    /// A backend on the process's OpenSSL library context.
    pub fn new() -> Self {
        Self::default()
    }
}

/// The name this backend reports.
pub const NAME: &str = "openssl";

/// The length of an AES-GCM tag.
const GCM_TAG_LEN: usize = 16;

pub(crate) fn ossl(err: openssl::error::ErrorStack) -> Error {
    Error::backend(err)
}

pub(crate) fn message_digest(hash: HashAlgorithm) -> MessageDigest {
    match hash {
        HashAlgorithm::Md5 => MessageDigest::md5(),
        HashAlgorithm::Sha1 => MessageDigest::sha1(),
        HashAlgorithm::Sha256 => MessageDigest::sha256(),
        HashAlgorithm::Sha384 => MessageDigest::sha384(),
        HashAlgorithm::Sha512 => MessageDigest::sha512(),
    }
}

impl KeyBackend for OpenSslBackend {
    fn name(&self) -> &'static str {
        NAME
    }

    fn library(&self) -> String {
        openssl::version::version().to_owned()
    }

    fn is_fips(&self) -> bool {
        // With OpenSSL 3 in FIPS mode the default properties require `fips=yes`, and MD5, which
        // only the non-FIPS default provider implements, cannot be fetched. Probing that avoids
        // an unsafe call to EVP_default_properties_is_fips_enabled.
        hash(MessageDigest::md5(), b"").is_err()
    }

    fn supports(&self, algorithm: Algorithm) -> bool {
        !algorithm.is_ml_dsa() || ml_dsa::AVAILABLE
    }

    fn generate(&self, algorithm: Algorithm, length: Option<u32>) -> Result<GeneratedKey, Error> {
        keys::generate(algorithm, length).map(|(generated, _)| generated)
    }

    fn self_signed_certificate(
        &self,
        algorithm: Algorithm,
        private_key: &SecretBytes,
        params: &CertificateParams<'_>,
    ) -> Result<Vec<u8>, Error> {
        let pkey = openssl::pkey::PKey::private_key_from_pkcs8(private_key.expose())
            .map_err(|_| Error::malformed("not a PKCS#8 private key"))?;
        x509::self_signed(algorithm, &pkey, params)?
            .to_der()
            .map_err(ossl)
    }

    fn generate_with_certificate(
        &self,
        algorithm: Algorithm,
        length: Option<u32>,
        params: &CertificateParams<'_>,
    ) -> Result<(GeneratedKey, CertificateFields), Error> {
        let (generated, pkey) = keys::generate(algorithm, length)?;
        let pkey = pkey.ok_or_else(|| Error::rejected("HMAC keys have no certificate"))?;
        let public = generated
            .public
            .clone()
            .ok_or_else(|| Error::rejected("no public key"))?;
        let certificate = x509::self_signed(algorithm, &pkey, params)?;
        let der = certificate.to_der().map_err(ossl)?;
        let fields = x509::fields(&certificate, der, public)?;
        Ok((generated, fields))
    }

    fn parse_private_key(
        &self,
        der: &[u8],
        format: PrivateKeyFormat,
    ) -> Result<PrivateKeyInfo, Error> {
        keys::parse_private_key(der, format)
    }

    fn parse_public_key(&self, spki_der: &[u8]) -> Result<PublicKeyInfo, Error> {
        keys::parse_public_key(spki_der)
    }

    fn parse_certificate(&self, der: &[u8]) -> Result<CertificateFields, Error> {
        x509::parse_certificate(der)
    }

    fn digest(&self, hash_algorithm: HashAlgorithm, data: &[u8]) -> Result<Vec<u8>, Error> {
        // The one-shot SHA functions skip OpenSSL 3's per-call algorithm fetch (a few µs,
        // paid on every authenticated request for the API-key hash).
        Ok(match hash_algorithm {
            HashAlgorithm::Sha1 => openssl::sha::sha1(data).to_vec(),
            HashAlgorithm::Sha256 => openssl::sha::sha256(data).to_vec(),
            HashAlgorithm::Sha384 => openssl::sha::sha384(data).to_vec(),
            HashAlgorithm::Sha512 => openssl::sha::sha512(data).to_vec(),
            HashAlgorithm::Md5 => hash(message_digest(hash_algorithm), data)
                .map_err(ossl)?
                .to_vec(),
        })
    }

    fn fill_random(&self, out: &mut [u8]) -> Result<(), Error> {
        openssl::rand::rand_bytes(out).map_err(ossl)
    }

    fn aes256_gcm_seal(
        &self,
        key: &[u8; 32],
        nonce: &[u8; 12],
        aad: &[u8],
        plaintext: &[u8],
    ) -> Result<Vec<u8>, Error> {
        let mut tag = [0u8; GCM_TAG_LEN];
        let mut out = openssl::symm::encrypt_aead(
            openssl::symm::Cipher::aes_256_gcm(),
            key,
            Some(nonce),
            aad,
            plaintext,
            &mut tag,
        )
        .map_err(ossl)?;
        out.extend_from_slice(&tag);
        Ok(out)
    }

    fn aes256_gcm_open(
        &self,
        key: &[u8; 32],
        nonce: &[u8; 12],
        aad: &[u8],
        sealed: &[u8],
    ) -> Result<zeroize::Zeroizing<Vec<u8>>, Error> {
        let split = sealed
            .len()
            .checked_sub(GCM_TAG_LEN)
            .ok_or_else(|| Error::rejected("sealed data is shorter than its tag"))?;
        let (ciphertext, tag) = sealed.split_at(split);
        openssl::symm::decrypt_aead(
            openssl::symm::Cipher::aes_256_gcm(),
            key,
            Some(nonce),
            aad,
            ciphertext,
            tag,
        )
        .map(zeroize::Zeroizing::new)
        .map_err(|_| Error::rejected("sealed data failed authentication"))
    }

    fn signing_key(
        &self,
        algorithm: Algorithm,
        private: &PrivateMaterial,
    ) -> Result<Box<dyn SigningKey>, Error> {
        keys::signing_key(algorithm, private)
    }

    fn verifying_key(
        &self,
        algorithm: Algorithm,
        public: VerifyingMaterial<'_>,
    ) -> Result<Box<dyn VerifyingKey>, Error> {
        keys::verifying_key(algorithm, public)
    }
}
