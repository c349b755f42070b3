//! Keysmith's [`KeyBackend`] on aws-lc-rs.
//!
//! aws-lc-rs does the cryptography: key generation, signatures, digests, randomness. It has
//! no X.509 API, so two small, well-kept helpers fill in: `rcgen` (on aws-lc-rs, without `ring`)
//! builds certificates, and `x509-parser` reads certificates and public keys. MD5, needed only
//! for FusionAuth's `md5Fingerprint`, comes from RustCrypto's `md-5`.
//!
//! ```
//! use keysmith_crypto::KeyBackend;
//! let backend = keysmith_crypto_aws_lc::AwsLcBackend::new();
//! assert_eq!(backend.name(), "aws-lc-rs");
//! ```
//!
//! # Known limits of aws-lc-rs, and how they are handled
//! - aws-lc-rs verifies RSA keys under 2048 bits only with PKCS#1 v1.5 and SHA-256 or SHA-512.
//!   For verify-only keys of 1024–2047 bits with RS384 or PS*, this backend verifies with
//!   RustCrypto's `rsa` crate (public-key operations only). Keysmith never generates or accepts
//!   private keys that small.
//! - Compressed EC points are not accepted in public keys.
//!
//! # Crate features
//! None.

mod keys;
mod x509;

use aws_lc_rs::digest;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use keysmith_crypto::{
    CertificateFields, CertificateParams, Error, GeneratedKey, KeyBackend, PrivateKeyFormat,
    PrivateKeyInfo, PublicKeyInfo, SigningKey, VerifyingKey, VerifyingMaterial,
};
use keysmith_model::{Algorithm, HashAlgorithm, PrivateMaterial, SecretBytes};
use md5::Digest as _;

/// The aws-lc-rs backend.
#[derive(Debug, Default)]
pub struct AwsLcBackend {
    rng: SystemRandom,
}

impl AwsLcBackend {
    /// A backend using the system's CSPRNG through aws-lc.
    pub fn new() -> Self {
        Self::default()
    }
}

/// The name this backend reports.
pub const NAME: &str = "aws-lc-rs";

pub(crate) fn unspecified(_: aws_lc_rs::error::Unspecified) -> Error {
    Error::backend(std::io::Error::other("aws-lc-rs operation failed"))
}

impl KeyBackend for AwsLcBackend {
    fn name(&self) -> &'static str {
        NAME
    }

    fn is_fips(&self) -> bool {
        aws_lc_rs::try_fips_mode().is_ok()
    }

    fn generate(&self, algorithm: Algorithm, length: Option<u32>) -> Result<GeneratedKey, Error> {
        keys::generate(self, algorithm, length)
    }

    fn self_signed_certificate(
        &self,
        algorithm: Algorithm,
        private_key: &SecretBytes,
        params: &CertificateParams<'_>,
    ) -> Result<Vec<u8>, Error> {
        x509::self_signed(algorithm, private_key, params)
    }

    /// Builds the certificate with rcgen and takes its fields from the parameters it was built
    /// from, with the public key already known, instead of parsing the certificate back. (The
    /// conformance suite checks that another backend parsing the certificate reads the same.)
    fn generate_with_certificate(
        &self,
        algorithm: Algorithm,
        length: Option<u32>,
        params: &CertificateParams<'_>,
    ) -> Result<(GeneratedKey, CertificateFields), Error> {
        let (key, pair) = keys::generate_pair(self, algorithm, length)?;
        let (Some(pair), Some(public)) = (&pair, &key.public) else {
            return Err(Error::rejected("HMAC keys have no certificate"));
        };
        let der = x509::self_signed_by_pair(algorithm, pair, public, params)?;
        let fields = x509::fields_from_params(der, params, public.clone());
        Ok((key, fields))
    }

    fn parse_private_key(
        &self,
        der: &[u8],
        format: PrivateKeyFormat,
    ) -> Result<PrivateKeyInfo, Error> {
        keys::parse_private_key(der, format)
    }

    fn parse_public_key(&self, spki_der: &[u8]) -> Result<PublicKeyInfo, Error> {
        x509::parse_public_key(spki_der)
    }

    fn parse_certificate(&self, der: &[u8]) -> Result<CertificateFields, Error> {
        x509::parse_certificate(der)
    }

    fn digest(&self, hash: HashAlgorithm, data: &[u8]) -> Result<Vec<u8>, Error> {
        let algorithm = match hash {
            HashAlgorithm::Md5 => return Ok(md5::Md5::digest(data).to_vec()),
            HashAlgorithm::Sha1 => &digest::SHA1_FOR_LEGACY_USE_ONLY,
            HashAlgorithm::Sha256 => &digest::SHA256,
            HashAlgorithm::Sha384 => &digest::SHA384,
            HashAlgorithm::Sha512 => &digest::SHA512,
        };
        Ok(digest::digest(algorithm, data).as_ref().to_vec())
    }

    fn fill_random(&self, out: &mut [u8]) -> Result<(), Error> {
        self.rng.fill(out).map_err(unspecified)
    }

    fn aes256_gcm_seal(
        &self,
        key: &[u8; 32],
        nonce: &[u8; 12],
        aad: &[u8],
        plaintext: &[u8],
    ) -> Result<Vec<u8>, Error> {
        use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
        let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, key).map_err(unspecified)?);
        let mut in_out = plaintext.to_vec();
        key.seal_in_place_append_tag(
            Nonce::assume_unique_for_key(*nonce),
            Aad::from(aad),
            &mut in_out,
        )
        .map_err(unspecified)?;
        Ok(in_out)
    }

    fn aes256_gcm_open(
        &self,
        key: &[u8; 32],
        nonce: &[u8; 12],
        aad: &[u8],
        sealed: &[u8],
    ) -> Result<zeroize::Zeroizing<Vec<u8>>, Error> {
        use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
        let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, key).map_err(unspecified)?);
        let mut in_out = zeroize::Zeroizing::new(sealed.to_vec());
        let length = key
            .open_in_place(
                Nonce::assume_unique_for_key(*nonce),
                Aad::from(aad),
                &mut in_out,
            )
            .map_err(|_| Error::rejected("sealed data failed authentication"))?
            .len();
        in_out.truncate(length);
        Ok(in_out)
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
        keys::verifying_key(algorithm, public, self.is_fips())
    }
}
