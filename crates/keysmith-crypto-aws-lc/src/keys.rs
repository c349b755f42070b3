//! Key generation, private-key parsing, signing and verifying on aws-lc-rs.

use std::fmt;

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der, PublicKeyX509Der};
use aws_lc_rs::hmac;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    self, EcdsaKeyPair, EcdsaSigningAlgorithm, Ed25519KeyPair, KeyPair as _, ParsedPublicKey,
    PqdsaKeyPair, PqdsaSigningAlgorithm, RsaKeyPair, VerificationAlgorithm,
};
use std::cell::RefCell;

use keysmith_crypto::certificate::new_hmac_secret;
use keysmith_crypto::ml_dsa;
use keysmith_crypto::random::RandomBlock;
use keysmith_crypto::{
    Error, GeneratedKey, KeyBackend, PrivateKeyFormat, PrivateKeyInfo, PublicKeyComponents,
    SigningKey, VerifyingKey, VerifyingMaterial,
};
use keysmith_model::{
    Algorithm, Curve, KeyType, PrivateMaterial, RSA_MIN_PRIVATE_BITS, SecretBytes,
};

use crate::{AwsLcBackend, unspecified, x509};

pub(crate) fn generate(
    backend: &AwsLcBackend,
    algorithm: Algorithm,
    length: Option<u32>,
) -> Result<GeneratedKey, Error> {
    generate_pair(backend, algorithm, length).map(|(key, _)| key)
}

/// A key pair as aws-lc-rs made it, kept so the key's certificate is signed without parsing
/// its PKCS#8 again (which also recomputes the public key to check it: a third of the CPU of
/// making an EC key with its certificate).
pub(crate) enum GeneratedPair {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
    Ed25519(Ed25519KeyPair),
    MlDsa(PqdsaKeyPair),
}

/// [`generate`], with the key pair for an asymmetric key.
pub(crate) fn generate_pair(
    backend: &AwsLcBackend,
    algorithm: Algorithm,
    length: Option<u32>,
) -> Result<(GeneratedKey, Option<GeneratedPair>), Error> {
    let (pkcs8, spki, pair): (Vec<u8>, Vec<u8>, GeneratedPair) = match algorithm.key_type() {
        KeyType::Rsa => {
            let size = match length {
                Some(2048) => KeySize::Rsa2048,
                Some(3072) => KeySize::Rsa3072,
                Some(4096) => KeySize::Rsa4096,
                _ => return Err(Error::rejected("RSA length must be 2048, 3072 or 4096")),
            };
            let pair = RsaKeyPair::generate(size).map_err(unspecified)?;
            let pkcs8: Pkcs8V1Der<'static> = pair.as_der().map_err(unspecified)?;
            let spki: PublicKeyX509Der<'static> =
                pair.public_key().as_der().map_err(unspecified)?;
            let (pkcs8, spki) = (pkcs8.as_ref().to_vec(), spki.as_ref().to_vec());
            (pkcs8, spki, GeneratedPair::Rsa(pair))
        }
        KeyType::Ec => {
            let pair = EcdsaKeyPair::generate(ecdsa_signing(algorithm)?).map_err(unspecified)?;
            let pkcs8 = pair.to_pkcs8v1().map_err(unspecified)?;
            let spki: PublicKeyX509Der<'static> =
                pair.public_key().as_der().map_err(unspecified)?;
            let (pkcs8, spki) = (pkcs8.as_ref().to_vec(), spki.as_ref().to_vec());
            (pkcs8, spki, GeneratedPair::Ec(pair))
        }
        KeyType::Okp => {
            let pair = Ed25519KeyPair::generate().map_err(unspecified)?;
            // v1, not v2: OpenSSL 3.0 and Python's cryptography reject PKCS#8 v2.
            let pkcs8 = pair.to_pkcs8v1().map_err(unspecified)?;
            let spki: PublicKeyX509Der<'static> =
                pair.public_key().as_der().map_err(unspecified)?;
            let (pkcs8, spki) = (pkcs8.as_ref().to_vec(), spki.as_ref().to_vec());
            (pkcs8, spki, GeneratedPair::Ed25519(pair))
        }
        KeyType::Akp => {
            let pair = PqdsaKeyPair::generate(ml_dsa_signing(algorithm)?).map_err(unspecified)?;
            // The seed form (RFC 9881), which every backend reads.
            let pkcs8 = pair.to_pkcs8v1().map_err(unspecified)?;
            let spki = ml_dsa::spki(algorithm, pair.public_key().as_ref())
                .ok_or_else(|| Error::malformed("unexpected ML-DSA public key size"))?;
            (pkcs8.as_ref().to_vec(), spki, GeneratedPair::MlDsa(pair))
        }
        KeyType::Hmac => {
            let len = algorithm.hmac_secret_len().unwrap_or(64);
            let key = GeneratedKey {
                private: PrivateMaterial::HmacSecret(new_hmac_secret(len, |out| {
                    secret_random(backend, out)
                })?),
                public: None,
            };
            return Ok((key, None));
        }
    };
    let key = GeneratedKey {
        private: PrivateMaterial::Pkcs8(SecretBytes::new(pkcs8)),
        // aws-lc-rs just encoded this SPKI for a key it made: its structure is all there is to
        // read (the untrusted-input checks of `x509::parse_public_key` are for imports).
        public: Some(match ml_dsa::public_key(&spki) {
            Some(info) => info,
            None => keysmith_crypto::der::structural_public_key(&spki)?,
        }),
    };
    Ok((key, Some(pair)))
}

impl GeneratedPair {
    /// An X.509 signature of `message` for a certificate of an `algorithm` key: PKCS#1 v1.5
    /// with the algorithm's hash for RSA, an ASN.1 `Ecdsa-Sig-Value` for EC, Ed25519's own.
    pub(crate) fn sign_for_certificate(
        &self,
        algorithm: Algorithm,
        message: &[u8],
    ) -> Result<Vec<u8>, Error> {
        let rng = SystemRandom::new();
        match self {
            GeneratedPair::Rsa(pair) => {
                let padding: &'static dyn signature::RsaEncoding = match algorithm {
                    Algorithm::RS384 | Algorithm::PS384 => &signature::RSA_PKCS1_SHA384,
                    Algorithm::RS512 | Algorithm::PS512 => &signature::RSA_PKCS1_SHA512,
                    _ => &signature::RSA_PKCS1_SHA256,
                };
                let mut out = vec![0u8; pair.public_modulus_len()];
                pair.sign(padding, &rng, message, &mut out)
                    .map_err(unspecified)?;
                Ok(out)
            }
            GeneratedPair::Ec(pair) => {
                // The pair signs in JOSE's fixed form (r ‖ s); X.509 wants the DER SEQUENCE.
                let fixed = pair.sign(&rng, message).map_err(unspecified)?;
                let (r, s) = fixed.as_ref().split_at(fixed.as_ref().len() / 2);
                Ok(keysmith_crypto::der::constructed(
                    0x30,
                    &[
                        &keysmith_crypto::der::unsigned_integer(r),
                        &keysmith_crypto::der::unsigned_integer(s),
                    ],
                ))
            }
            GeneratedPair::Ed25519(pair) => Ok(pair.sign(message).as_ref().to_vec()),
            GeneratedPair::MlDsa(pair) => ml_dsa_sign(pair, message),
        }
    }
}

fn ml_dsa_sign(pair: &PqdsaKeyPair, message: &[u8]) -> Result<Vec<u8>, Error> {
    let mut out = vec![0u8; pair.algorithm().signature_len()];
    let len = pair.sign(message, &mut out).map_err(unspecified)?;
    out.truncate(len);
    Ok(out)
}

/// The pair and public key of a stored ML-DSA key of `algorithm`, for its certificate.
pub(crate) fn ml_dsa_pair_of(
    algorithm: Algorithm,
    pkcs8: &[u8],
) -> Result<(GeneratedPair, keysmith_crypto::PublicKeyInfo), Error> {
    let mismatch = || Error::Mismatch(format!("the private key does not fit {algorithm}"));
    let forms = ml_dsa::private_key_forms(pkcs8)
        .filter(|forms| forms.algorithm == algorithm)
        .ok_or_else(mismatch)?;
    let (pair, _) = ml_dsa_pair(&forms, pkcs8)?;
    let public = ml_dsa::spki(algorithm, pair.public_key().as_ref())
        .and_then(|spki| ml_dsa::public_key(&spki))
        .ok_or_else(mismatch)?;
    Ok((GeneratedPair::MlDsa(pair), public))
}

/// aws-lc's verifier for an ML-DSA parameter set; `None` for another algorithm.
fn ml_dsa_verification(algorithm: Algorithm) -> Option<&'static dyn VerificationAlgorithm> {
    match algorithm {
        Algorithm::MlDsa44 => Some(&signature::ML_DSA_44),
        Algorithm::MlDsa65 => Some(&signature::ML_DSA_65),
        Algorithm::MlDsa87 => Some(&signature::ML_DSA_87),
        _ => None,
    }
}

fn ml_dsa_signing(algorithm: Algorithm) -> Result<&'static PqdsaSigningAlgorithm, Error> {
    match algorithm {
        Algorithm::MlDsa44 => Ok(&signature::ML_DSA_44_SIGNING),
        Algorithm::MlDsa65 => Ok(&signature::ML_DSA_65_SIGNING),
        Algorithm::MlDsa87 => Ok(&signature::ML_DSA_87_SIGNING),
        other => Err(Error::rejected(format!(
            "{other} is not an ML-DSA algorithm"
        ))),
    }
}

/// An ML-DSA PKCS#8 key in any of RFC 9881's forms: the pair, and the form Keysmith keeps
/// (the seed when the key has one, else the expanded key). aws-lc checks that a seed and an
/// expanded key given together agree.
fn ml_dsa_pair(
    forms: &ml_dsa::PrivateKeyForms<'_>,
    der: &[u8],
) -> Result<(PqdsaKeyPair, Vec<u8>), Error> {
    let algorithm = forms.algorithm;
    let pair = PqdsaKeyPair::from_pkcs8(ml_dsa_signing(algorithm)?, der)
        .map_err(|_| Error::malformed("the ML-DSA private key is invalid"))?;
    let kept = forms
        .kept_pkcs8()
        .ok_or_else(|| Error::malformed("the ML-DSA private key is invalid"))?;
    Ok((pair, kept.to_vec()))
}

fn ecdsa_signing(algorithm: Algorithm) -> Result<&'static EcdsaSigningAlgorithm, Error> {
    match algorithm {
        Algorithm::ES256 => Ok(&signature::ECDSA_P256_SHA256_FIXED_SIGNING),
        Algorithm::ES384 => Ok(&signature::ECDSA_P384_SHA384_FIXED_SIGNING),
        Algorithm::ES512 => Ok(&signature::ECDSA_P521_SHA512_FIXED_SIGNING),
        other => Err(Error::rejected(format!(
            "{other} is not an ECDSA algorithm"
        ))),
    }
}

const EC_ALGORITHMS: [Algorithm; 3] = [Algorithm::ES256, Algorithm::ES384, Algorithm::ES512];

pub(crate) fn parse_private_key(
    der: &[u8],
    format: PrivateKeyFormat,
) -> Result<PrivateKeyInfo, Error> {
    let not_parsed = || Error::malformed("not a supported private key");
    let (pkcs8, spki): (Vec<u8>, Vec<u8>) = match format {
        PrivateKeyFormat::Pkcs1Rsa => {
            rsa_parts(RsaKeyPair::from_der(der).map_err(|_| rsa_failure(der))?)?
        }
        PrivateKeyFormat::Sec1Ec => {
            let pair = EC_ALGORITHMS
                .iter()
                .find_map(|alg| {
                    EcdsaKeyPair::from_private_key_der(ecdsa_signing(*alg).ok()?, der).ok()
                })
                .ok_or_else(not_parsed)?;
            ec_parts(&pair)?
        }
        PrivateKeyFormat::Pkcs8 => {
            // aws-lc-rs cannot tell a PKCS#8 key's type, so each parser is tried in turn.
            if let Some(forms) = ml_dsa::private_key_forms(der) {
                let (pair, kept) = ml_dsa_pair(&forms, der)?;
                let spki = ml_dsa::spki(forms.algorithm, pair.public_key().as_ref())
                    .ok_or_else(not_parsed)?;
                (kept, spki)
            } else if let Ok(pair) = RsaKeyPair::from_pkcs8(der) {
                rsa_parts(pair)?
            } else if let Some(pair) = EC_ALGORITHMS
                .iter()
                .find_map(|alg| EcdsaKeyPair::from_pkcs8(ecdsa_signing(*alg).ok()?, der).ok())
            {
                ec_parts(&pair)?
            } else if let Ok(pair) = Ed25519KeyPair::from_pkcs8_maybe_unchecked(der) {
                let pkcs8 = pair.to_pkcs8v1().map_err(unspecified)?;
                let spki: PublicKeyX509Der<'static> =
                    pair.public_key().as_der().map_err(unspecified)?;
                (pkcs8.as_ref().to_vec(), spki.as_ref().to_vec())
            } else {
                return Err(rsa_failure(der));
            }
        }
    };
    Ok(PrivateKeyInfo {
        pkcs8_der: SecretBytes::new(pkcs8),
        public: x509::parse_public_key(&spki)?,
    })
}

/// aws-lc-rs refuses RSA private keys under 2048 bits without saying why; say it.
fn rsa_failure(der: &[u8]) -> Error {
    match x509::rsa_private_modulus_bits(der) {
        Some(bits) if bits < RSA_MIN_PRIVATE_BITS => Error::rejected(format!(
            "RSA private keys must be at least {RSA_MIN_PRIVATE_BITS} bits; this one has {bits}"
        )),
        _ => Error::malformed("not a supported private key"),
    }
}

fn rsa_parts(pair: RsaKeyPair) -> Result<(Vec<u8>, Vec<u8>), Error> {
    let pkcs8: Pkcs8V1Der<'static> = pair.as_der().map_err(unspecified)?;
    let spki: PublicKeyX509Der<'static> = pair.public_key().as_der().map_err(unspecified)?;
    Ok((pkcs8.as_ref().to_vec(), spki.as_ref().to_vec()))
}

fn ec_parts(pair: &EcdsaKeyPair) -> Result<(Vec<u8>, Vec<u8>), Error> {
    let pkcs8 = pair.to_pkcs8v1().map_err(unspecified)?;
    let spki: PublicKeyX509Der<'static> = pair.public_key().as_der().map_err(unspecified)?;
    Ok((pkcs8.as_ref().to_vec(), spki.as_ref().to_vec()))
}

enum Signer {
    Rsa(RsaKeyPair, &'static dyn signature::RsaEncoding),
    Ecdsa(EcdsaKeyPair),
    Ed25519(Ed25519KeyPair),
    MlDsa(PqdsaKeyPair),
    // Boxed: an hmac::Key is several times larger than the other variants.
    Hmac(Box<hmac::Key>),
}

struct AwsLcSigningKey {
    algorithm: Algorithm,
    signer: Signer,
    rng: SystemRandom,
}

impl fmt::Debug for AwsLcSigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AwsLcSigningKey({}, [REDACTED])", self.algorithm)
    }
}

impl SigningKey for AwsLcSigningKey {
    fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, Error> {
        match &self.signer {
            Signer::Rsa(pair, encoding) => {
                let mut out = vec![0u8; pair.public_modulus_len()];
                pair.sign(*encoding, &self.rng, message, &mut out)
                    .map_err(unspecified)?;
                Ok(out)
            }
            Signer::Ecdsa(pair) => Ok(pair
                .sign(&self.rng, message)
                .map_err(unspecified)?
                .as_ref()
                .to_vec()),
            Signer::Ed25519(pair) => Ok(pair.sign(message).as_ref().to_vec()),
            Signer::MlDsa(pair) => ml_dsa_sign(pair, message),
            Signer::Hmac(key) => Ok(hmac::sign(key, message).as_ref().to_vec()),
        }
    }
}

fn hmac_algorithm(algorithm: Algorithm) -> Option<hmac::Algorithm> {
    match algorithm {
        Algorithm::HS256 => Some(hmac::HMAC_SHA256),
        Algorithm::HS384 => Some(hmac::HMAC_SHA384),
        Algorithm::HS512 => Some(hmac::HMAC_SHA512),
        _ => None,
    }
}

fn wrong_material(algorithm: Algorithm) -> Error {
    Error::Mismatch(format!("the key material does not fit {algorithm}"))
}

pub(crate) fn signing_key(
    algorithm: Algorithm,
    private: &PrivateMaterial,
) -> Result<Box<dyn SigningKey>, Error> {
    let signer = match (algorithm.key_type(), private) {
        (KeyType::Hmac, PrivateMaterial::HmacSecret(secret)) => {
            let alg = hmac_algorithm(algorithm).ok_or_else(|| wrong_material(algorithm))?;
            Signer::Hmac(Box::new(hmac::Key::new(alg, secret.expose())))
        }
        (KeyType::Rsa, PrivateMaterial::Pkcs8(der)) => {
            let pair =
                RsaKeyPair::from_pkcs8(der.expose()).map_err(|_| wrong_material(algorithm))?;
            let encoding: &'static dyn signature::RsaEncoding = match algorithm {
                Algorithm::RS256 => &signature::RSA_PKCS1_SHA256,
                Algorithm::RS384 => &signature::RSA_PKCS1_SHA384,
                Algorithm::RS512 => &signature::RSA_PKCS1_SHA512,
                Algorithm::PS256 => &signature::RSA_PSS_SHA256,
                Algorithm::PS384 => &signature::RSA_PSS_SHA384,
                _ => &signature::RSA_PSS_SHA512,
            };
            Signer::Rsa(pair, encoding)
        }
        (KeyType::Ec, PrivateMaterial::Pkcs8(der)) => Signer::Ecdsa(
            EcdsaKeyPair::from_pkcs8(ecdsa_signing(algorithm)?, der.expose())
                .map_err(|_| wrong_material(algorithm))?,
        ),
        (KeyType::Okp, PrivateMaterial::Pkcs8(der)) => Signer::Ed25519(
            Ed25519KeyPair::from_pkcs8_maybe_unchecked(der.expose())
                .map_err(|_| wrong_material(algorithm))?,
        ),
        (KeyType::Akp, PrivateMaterial::Pkcs8(der)) => Signer::MlDsa(
            PqdsaKeyPair::from_pkcs8(ml_dsa_signing(algorithm)?, der.expose())
                .map_err(|_| wrong_material(algorithm))?,
        ),
        _ => return Err(wrong_material(algorithm)),
    };
    Ok(Box::new(AwsLcSigningKey {
        algorithm,
        signer,
        rng: SystemRandom::new(),
    }))
}

enum Verifier {
    Public(ParsedPublicKey),
    /// An RSA key under 2048 bits with an algorithm aws-lc-rs has no legacy verifier for.
    LegacyRsa(Box<rsa::RsaPublicKey>),
    Hmac(Box<hmac::Key>),
}

struct AwsLcVerifyingKey {
    algorithm: Algorithm,
    verifier: Verifier,
}

impl fmt::Debug for AwsLcVerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AwsLcVerifyingKey({})", self.algorithm)
    }
}

impl VerifyingKey for AwsLcVerifyingKey {
    fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        match &self.verifier {
            Verifier::Public(key) => key.verify_sig(message, signature).is_ok(),
            Verifier::LegacyRsa(key) => verify_legacy_rsa(key, self.algorithm, message, signature),
            // hmac::verify compares in constant time.
            Verifier::Hmac(key) => hmac::verify(key, message, signature).is_ok(),
        }
    }
}

/// Verifies with RustCrypto's `rsa` crate: used only for verify-only RSA keys under 2048 bits
/// with RS384 or PS*, for which aws-lc-rs has no verifier. Public data only, so the `rsa`
/// crate's timing advisories (private-key operations) do not apply.
fn verify_legacy_rsa(
    key: &rsa::RsaPublicKey,
    algorithm: Algorithm,
    message: &[u8],
    signature: &[u8],
) -> bool {
    use rsa::{Pkcs1v15Sign, Pss};
    use sha2::{Digest as _, Sha256, Sha384, Sha512};
    let result = match algorithm {
        Algorithm::RS256 => key.verify(
            Pkcs1v15Sign::new::<Sha256>(),
            &Sha256::digest(message),
            signature,
        ),
        Algorithm::RS384 => key.verify(
            Pkcs1v15Sign::new::<Sha384>(),
            &Sha384::digest(message),
            signature,
        ),
        Algorithm::RS512 => key.verify(
            Pkcs1v15Sign::new::<Sha512>(),
            &Sha512::digest(message),
            signature,
        ),
        // RFC 7518 §3.5: the salt is as long as the hash.
        Algorithm::PS256 => key.verify(
            Pss::new_with_salt::<Sha256>(32),
            &Sha256::digest(message),
            signature,
        ),
        Algorithm::PS384 => key.verify(
            Pss::new_with_salt::<Sha384>(48),
            &Sha384::digest(message),
            signature,
        ),
        Algorithm::PS512 => key.verify(
            Pss::new_with_salt::<Sha512>(64),
            &Sha512::digest(message),
            signature,
        ),
        _ => return false,
    };
    result.is_ok()
}

/// The aws-lc-rs verifier for `algorithm` and a public key of `bits` (RSA) or its curve;
/// `None` for an RSA key under 2048 bits that aws-lc-rs cannot verify with this algorithm.
fn verification_algorithm(
    algorithm: Algorithm,
    rsa_bits: u32,
) -> Result<Option<&'static dyn VerificationAlgorithm>, Error> {
    let legacy = rsa_bits < 2048;
    Ok(Some(match algorithm {
        Algorithm::RS256 if legacy => &signature::RSA_PKCS1_1024_8192_SHA256_FOR_LEGACY_USE_ONLY,
        Algorithm::RS512 if legacy => &signature::RSA_PKCS1_1024_8192_SHA512_FOR_LEGACY_USE_ONLY,
        Algorithm::RS384 | Algorithm::PS256 | Algorithm::PS384 | Algorithm::PS512 if legacy => {
            return Ok(None);
        }
        Algorithm::RS256 => &signature::RSA_PKCS1_2048_8192_SHA256,
        Algorithm::RS384 => &signature::RSA_PKCS1_2048_8192_SHA384,
        Algorithm::RS512 => &signature::RSA_PKCS1_2048_8192_SHA512,
        Algorithm::PS256 => &signature::RSA_PSS_2048_8192_SHA256,
        Algorithm::PS384 => &signature::RSA_PSS_2048_8192_SHA384,
        Algorithm::PS512 => &signature::RSA_PSS_2048_8192_SHA512,
        Algorithm::ES256 => &signature::ECDSA_P256_SHA256_FIXED,
        Algorithm::ES384 => &signature::ECDSA_P384_SHA384_FIXED,
        Algorithm::ES512 => &signature::ECDSA_P521_SHA512_FIXED,
        Algorithm::Ed25519 => &signature::ED25519,
        Algorithm::MlDsa44 | Algorithm::MlDsa65 | Algorithm::MlDsa87 => {
            ml_dsa_verification(algorithm).ok_or_else(|| wrong_material(algorithm))?
        }
        Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => {
            return Err(wrong_material(algorithm));
        }
    }))
}

pub(crate) fn verifying_key(
    algorithm: Algorithm,
    material: VerifyingMaterial<'_>,
    fips: bool,
) -> Result<Box<dyn VerifyingKey>, Error> {
    let verifier = match material {
        VerifyingMaterial::HmacSecret(secret) => {
            let alg = hmac_algorithm(algorithm).ok_or_else(|| wrong_material(algorithm))?;
            Verifier::Hmac(Box::new(hmac::Key::new(alg, secret)))
        }
        VerifyingMaterial::PublicKey(spki) => {
            let info = x509::parse_public_key(spki)?;
            let fits = info.key_type == algorithm.key_type()
                && (algorithm.curve().is_none() || algorithm.curve() == info.curve)
                && (!algorithm.is_ml_dsa() || algorithm.implied_length() == Some(info.length));
            if !fits {
                return Err(wrong_material(algorithm));
            }
            let bits = if info.key_type == KeyType::Rsa {
                info.length
            } else {
                0
            };
            if fips && info.key_type == KeyType::Rsa && bits < RSA_MIN_PRIVATE_BITS {
                return Err(Error::rejected(format!(
                    "in FIPS mode RSA keys under {RSA_MIN_PRIVATE_BITS} bits are not used"
                )));
            }
            match verification_algorithm(algorithm, bits)? {
                Some(verification) => Verifier::Public(
                    ParsedPublicKey::new(verification, spki)
                        .map_err(|_| wrong_material(algorithm))?,
                ),
                None => {
                    let PublicKeyComponents::Rsa { n, e } = &info.components else {
                        return Err(wrong_material(algorithm));
                    };
                    let key = rsa::RsaPublicKey::new(
                        rsa::BigUint::from_bytes_be(n),
                        rsa::BigUint::from_bytes_be(e),
                    )
                    .map_err(|_| wrong_material(algorithm))?;
                    Verifier::LegacyRsa(Box::new(key))
                }
            }
        }
    };
    Ok(Box::new(AwsLcVerifyingKey {
        algorithm,
        verifier,
    }))
}

/// Checks a parsed public key with aws-lc itself (an EC point on its curve, a valid Ed25519
/// key, a sane RSA modulus), using a verifier of the key's family.
pub(crate) fn validate_public_key(
    spki: &[u8],
    key_type: KeyType,
    curve: Option<Curve>,
    rsa_bits: u32,
) -> Result<(), Error> {
    let verification: &'static dyn VerificationAlgorithm = match (key_type, curve) {
        (KeyType::Rsa, _) if !(1024..=8192).contains(&rsa_bits) => return Ok(()), // size policy is the caller's
        (KeyType::Rsa, _) => &signature::RSA_PKCS1_1024_8192_SHA256_FOR_LEGACY_USE_ONLY,
        (KeyType::Ec, Some(Curve::P256)) => &signature::ECDSA_P256_SHA256_FIXED,
        (KeyType::Ec, Some(Curve::P384)) => &signature::ECDSA_P384_SHA384_FIXED,
        (KeyType::Ec, Some(Curve::P521)) => &signature::ECDSA_P521_SHA512_FIXED,
        (KeyType::Okp, _) => &signature::ED25519,
        (KeyType::Akp, _) => ml_dsa::public_key(spki)
            .and_then(|info| match info.components {
                PublicKeyComponents::Akp { algorithm, .. } => ml_dsa_verification(algorithm),
                _ => None,
            })
            .ok_or_else(|| Error::malformed("not an ML-DSA public key"))?,
        _ => return Err(Error::malformed("unsupported public key")),
    };
    ParsedPublicKey::new(verification, spki)
        .map(|_| ())
        .map_err(|_| Error::malformed("the public key is not valid"))
}

thread_local! {
    /// Random bytes for new HMAC secrets, drawn from this backend's CSPRNG 4 KiB at a time
    /// (`keysmith_crypto::random`).
    static SECRET_RANDOM: RefCell<RandomBlock> = const { RefCell::new(RandomBlock::new()) };
}

fn secret_random(backend: &AwsLcBackend, out: &mut [u8]) -> Result<(), Error> {
    SECRET_RANDOM.with_borrow_mut(|block| block.fill(out, |out| backend.fill_random(out)))
}
