//! The `KeyBackend` trait and the values that cross it.

use std::fmt;

use keysmith_model::{Algorithm, Curve, HashAlgorithm, KeyType, PrivateMaterial, SecretBytes};

use crate::Error;
use crate::dn::Rdn;

/// A public key's numbers, as a JWK carries them (big-endian, unsigned).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PublicKeyComponents {
    /// RSA modulus and public exponent, without leading zero bytes.
    Rsa {
        /// Modulus.
        n: Vec<u8>,
        /// Public exponent.
        e: Vec<u8>,
    },
    /// A NIST curve point; each coordinate padded to the curve's size.
    Ec {
        /// The curve.
        curve: Curve,
        /// X coordinate.
        x: Vec<u8>,
        /// Y coordinate.
        y: Vec<u8>,
    },
    /// An Ed25519 public key (32 bytes).
    Okp {
        /// The curve (always Ed25519 today).
        curve: Curve,
        /// The public key bytes.
        x: Vec<u8>,
    },
    /// An ML-DSA public key (FIPS 204's encoding; its length names the parameter set).
    Akp {
        /// ML-DSA-44, ML-DSA-65 or ML-DSA-87.
        algorithm: Algorithm,
        /// The public key bytes (JOSE's `pub`).
        public: Vec<u8>,
    },
}

/// What a backend learned from a public key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicKeyInfo {
    /// RSA, EC, OKP or AKP.
    pub key_type: KeyType,
    /// RSA modulus bits, the curve's length (see [`Curve::key_length`]), or an ML-DSA public
    /// key's size in bytes.
    pub length: u32,
    /// The curve for EC and OKP keys.
    pub curve: Option<Curve>,
    /// The SubjectPublicKeyInfo DER, as the backend encodes it.
    pub spki_der: Vec<u8>,
    /// The key's numbers.
    pub components: PublicKeyComponents,
}

impl PublicKeyInfo {
    /// The SPKI as PEM (`BEGIN PUBLIC KEY`, `\n` line ends): FusionAuth's `publicKey`.
    pub fn to_pem(&self) -> String {
        crate::pem::encode("PUBLIC KEY", &self.spki_der, crate::pem::LineEnding::Lf)
    }
}

/// What a backend learned from a private key.
#[derive(Debug)]
pub struct PrivateKeyInfo {
    /// The key as PKCS#8 v1 DER (the form Keysmith stores), whatever form it came in.
    pub pkcs8_der: SecretBytes,
    /// The public half, derived from the private key.
    pub public: PublicKeyInfo,
}

/// The container a private key's DER came in (told by its PEM label).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PrivateKeyFormat {
    /// PKCS#8 `PrivateKeyInfo` (`BEGIN PRIVATE KEY`): RSA, EC or Ed25519.
    Pkcs8,
    /// PKCS#1 `RSAPrivateKey` (`BEGIN RSA PRIVATE KEY`).
    Pkcs1Rsa,
    /// SEC1 `ECPrivateKey` (`BEGIN EC PRIVATE KEY`), with its curve parameters.
    Sec1Ec,
}

/// The fields of an X.509 certificate that Keysmith reports.
#[derive(Clone, Debug)]
pub struct CertificateFields {
    /// The certificate DER.
    pub der: Vec<u8>,
    /// Subject RDNs in certificate order.
    pub subject: Vec<Rdn>,
    /// Issuer RDNs in certificate order.
    pub issuer: Vec<Rdn>,
    /// The serial number's big-endian magnitude, without leading zero bytes.
    pub serial: Vec<u8>,
    /// Start of validity, Unix seconds.
    pub not_before: i64,
    /// End of validity, Unix seconds.
    pub not_after: i64,
    /// The certified public key.
    pub public_key: PublicKeyInfo,
}

impl CertificateFields {
    /// The certificate as PEM with `\n` line ends: FusionAuth's `certificate`.
    pub fn to_pem(&self) -> String {
        crate::pem::encode("CERTIFICATE", &self.der, crate::pem::LineEnding::Lf)
    }
}

/// What a self-signed certificate says besides its key (FusionAuth's form).
#[derive(Clone, Copy, Debug)]
pub struct CertificateParams<'a> {
    /// The serial's big-endian magnitude: the key's UUID bytes, read as a positive integer.
    pub serial: &'a [u8; 16],
    /// The common name of both subject and issuer (`CN=<issuer>`).
    pub common_name: &'a str,
    /// Start of validity, Unix seconds.
    pub not_before: i64,
    /// End of validity, Unix seconds (FusionAuth: ten years after the start).
    pub not_after: i64,
}

/// A fresh key.
#[derive(Debug)]
pub struct GeneratedKey {
    /// The private key (PKCS#8 v1) or HMAC secret.
    pub private: PrivateMaterial,
    /// The public half; `None` for HMAC.
    pub public: Option<PublicKeyInfo>,
}

/// The public side of a key, or an HMAC secret, for building a verifier.
#[derive(Clone, Copy)]
pub enum VerifyingMaterial<'a> {
    /// A SubjectPublicKeyInfo DER.
    PublicKey(&'a [u8]),
    /// The HMAC key bytes.
    HmacSecret(&'a [u8]),
}

impl fmt::Debug for VerifyingMaterial<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VerifyingMaterial::PublicKey(spki) => write!(f, "PublicKey({} bytes)", spki.len()),
            VerifyingMaterial::HmacSecret(_) => f.write_str("HmacSecret([REDACTED])"),
        }
    }
}

/// A loaded private key (or HMAC secret), ready to sign many messages.
///
/// Loading is the expensive part with some backends (OpenSSL 3 decodes PKCS#8 in ~0.5 ms), so
/// callers keep these around. `Debug` must not show key material.
pub trait SigningKey: Send + Sync + fmt::Debug {
    /// The algorithm this key signs with; it signs with no other.
    fn algorithm(&self) -> Algorithm;

    /// Signs `message` and returns the signature in JWS form: PKCS#1 v1.5 or PSS bytes for RSA,
    /// fixed-width `r || s` for ECDSA (RFC 7518 §3.4), 64 bytes for Ed25519, FIPS 204's
    /// encoding for ML-DSA (pure, empty context), the MAC for HMAC.
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, Error>;
}

/// A loaded public key (or HMAC secret), ready to verify many messages.
pub trait VerifyingKey: Send + Sync + fmt::Debug {
    /// The algorithm this key verifies; signatures of any other algorithm never verify.
    fn algorithm(&self) -> Algorithm;

    /// Whether `signature` (in the JWS form [`SigningKey::sign`] produces) is valid for
    /// `message`. Malformed signatures are simply invalid. HMAC tags are compared in constant
    /// time.
    fn verify(&self, message: &[u8], signature: &[u8]) -> bool;
}

/// A crypto backend: everything Keysmith needs from a crypto library.
///
/// Implementations must be usable as `Arc<dyn KeyBackend>` from many threads. Every method takes
/// untrusted input and must answer a malformed or hostile input with an [`Error`], never a
/// panic. No method may put key material in an error or a log line.
///
/// Key size policy lives with the caller ([`crate::import`]): parsing methods accept any size
/// the library can represent and report it, so the rules are the same on every backend.
pub trait KeyBackend: Send + Sync + fmt::Debug {
    /// A short name for logs and benchmarks, e.g. `aws-lc-rs` or `openssl`.
    fn name(&self) -> &'static str;

    /// Whether the library runs in a FIPS-validated mode.
    fn is_fips(&self) -> bool;

    /// The library the backend runs on, with its version when the library reports one (the
    /// OpenSSL backend: `OpenSSL 3.5.5 27 Jan 2026`, the system's or the vendored build's).
    fn library(&self) -> String {
        self.name().to_owned()
    }

    /// Whether this backend, on the library it runs on, has `algorithm`. Every backend has the
    /// classical algorithms; ML-DSA needs aws-lc or OpenSSL 3.5 or newer. Every method refuses
    /// an algorithm it lacks with [`Error::Unsupported`].
    fn supports(&self, algorithm: Algorithm) -> bool {
        let _ = algorithm;
        true
    }

    /// Generates key material for `algorithm`.
    ///
    /// `length` is the RSA modulus size (2048, 3072 or 4096) and is ignored for other types;
    /// callers validate it first ([`keysmith_model::validate`]). RSA keys use e = 65537. HMAC
    /// secrets are [`Algorithm::hmac_secret_len`] random bytes, base64-encoded, and the HMAC key
    /// is the UTF-8 of that text (FusionAuth's convention). Private keys come back as PKCS#8 v1.
    fn generate(&self, algorithm: Algorithm, length: Option<u32>) -> Result<GeneratedKey, Error>;

    /// Builds a self-signed X.509 v3 certificate for `private_key` (PKCS#8 DER of an RSA, EC,
    /// Ed25519 or ML-DSA key): subject = issuer = `CN=<common_name>`, the given serial and
    /// validity, and a signature of the key's type with the algorithm's hash (PKCS#1 v1.5 for
    /// RSA keys, also for PS* algorithms; ECDSA; Ed25519; ML-DSA, RFC 9881). Returns the DER.
    fn self_signed_certificate(
        &self,
        algorithm: Algorithm,
        private_key: &SecretBytes,
        params: &CertificateParams<'_>,
    ) -> Result<Vec<u8>, Error>;

    /// Generates a key and its self-signed certificate, and returns the certificate's fields
    /// (as [`KeyBackend::parse_certificate`] would). Backends override this when they can sign
    /// with the in-memory key and read the fields from the certificate they just built, instead
    /// of re-decoding both.
    fn generate_with_certificate(
        &self,
        algorithm: Algorithm,
        length: Option<u32>,
        params: &CertificateParams<'_>,
    ) -> Result<(GeneratedKey, CertificateFields), Error> {
        let key = self.generate(algorithm, length)?;
        let certificate = match &key.private {
            PrivateMaterial::Pkcs8(der) => self.self_signed_certificate(algorithm, der, params)?,
            PrivateMaterial::HmacSecret(_) => {
                return Err(Error::rejected("HMAC keys have no certificate"));
            }
        };
        let fields = self.parse_certificate(&certificate)?;
        Ok((key, fields))
    }

    /// Parses a private key and derives its public half. Rejects keys of unknown types.
    fn parse_private_key(
        &self,
        der: &[u8],
        format: PrivateKeyFormat,
    ) -> Result<PrivateKeyInfo, Error>;

    /// Parses a SubjectPublicKeyInfo (RSA, EC on P-256/384/521, Ed25519 or ML-DSA).
    fn parse_public_key(&self, spki_der: &[u8]) -> Result<PublicKeyInfo, Error>;

    /// Parses an X.509 certificate. Does not check its signature or validity period.
    fn parse_certificate(&self, der: &[u8]) -> Result<CertificateFields, Error>;

    /// Hashes `data`. MD5 and SHA-1 exist only for fingerprints.
    fn digest(&self, hash: HashAlgorithm, data: &[u8]) -> Result<Vec<u8>, Error>;

    /// Fills `out` from the library's CSPRNG.
    fn fill_random(&self, out: &mut [u8]) -> Result<(), Error>;

    /// AES-256-GCM encryption of `plaintext` under `key` and the 96-bit `nonce`, authenticating
    /// `aad`. Returns the ciphertext followed by the 16-byte tag. A nonce must never be used
    /// twice with one key; callers draw it from [`KeyBackend::fill_random`].
    fn aes256_gcm_seal(
        &self,
        key: &[u8; 32],
        nonce: &[u8; 12],
        aad: &[u8],
        plaintext: &[u8],
    ) -> Result<Vec<u8>, Error>;

    /// AES-256-GCM decryption of `sealed` (ciphertext and tag). Any change to the key, nonce,
    /// associated data, ciphertext or tag is [`Error::Rejected`].
    fn aes256_gcm_open(
        &self,
        key: &[u8; 32],
        nonce: &[u8; 12],
        aad: &[u8],
        sealed: &[u8],
    ) -> Result<zeroize::Zeroizing<Vec<u8>>, Error>;

    /// Loads a key for signing with `algorithm`. Fails if the material does not fit it.
    fn signing_key(
        &self,
        algorithm: Algorithm,
        private: &PrivateMaterial,
    ) -> Result<Box<dyn SigningKey>, Error>;

    /// Loads a key for verifying `algorithm`. Fails if the material does not fit it.
    fn verifying_key(
        &self,
        algorithm: Algorithm,
        public: VerifyingMaterial<'_>,
    ) -> Result<Box<dyn VerifyingKey>, Error>;
}
