//! Key generation, parsing, signing and verifying on OpenSSL.

use std::fmt;

use std::cell::RefCell;

use keysmith_crypto::certificate::new_hmac_secret;
use keysmith_crypto::random::RandomBlock;
use keysmith_crypto::{
    Error, GeneratedKey, PrivateKeyFormat, PrivateKeyInfo, PublicKeyComponents, PublicKeyInfo,
    SigningKey, VerifyingKey, VerifyingMaterial,
};
use keysmith_model::{Algorithm, Curve, HashAlgorithm, KeyType, PrivateMaterial, SecretBytes};
use openssl::bn::{BigNum, BigNumContext};
use openssl::ec::{EcGroup, EcKey};
use openssl::ecdsa::EcdsaSig;
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{HasPublic, Id, PKey, PKeyRef, Private, Public};
use openssl::rsa::{Padding, Rsa};
use openssl::sign::{RsaPssSaltlen, Signer, Verifier};

use crate::{message_digest, ml_dsa, ossl};

fn curve_nid(curve: Curve) -> Option<Nid> {
    match curve {
        Curve::P256 => Some(Nid::X9_62_PRIME256V1),
        Curve::P384 => Some(Nid::SECP384R1),
        Curve::P521 => Some(Nid::SECP521R1),
        Curve::Ed25519 => None,
    }
}

/// Generates a key; also returns the in-memory key so a certificate can be signed without
/// re-decoding it.
pub(crate) fn generate(
    algorithm: Algorithm,
    length: Option<u32>,
) -> Result<(GeneratedKey, Option<PKey<Private>>), Error> {
    let pkey = match (algorithm.key_type(), algorithm.curve()) {
        (KeyType::Rsa, _) => {
            let bits = match length {
                Some(bits @ (2048 | 3072 | 4096)) => bits,
                _ => return Err(Error::rejected("RSA length must be 2048, 3072 or 4096")),
            };
            PKey::from_rsa(crate::rsa_race::generate(bits).map_err(ossl)?).map_err(ossl)?
        }
        (KeyType::Ec, Some(curve)) => {
            let nid = curve_nid(curve).ok_or_else(|| Error::rejected("not a NIST curve"))?;
            let group = EcGroup::from_curve_name(nid).map_err(ossl)?;
            PKey::from_ec_key(EcKey::generate(&group).map_err(ossl)?).map_err(ossl)?
        }
        (KeyType::Okp, _) => PKey::generate_ed25519().map_err(ossl)?,
        #[cfg(ml_dsa)]
        (KeyType::Akp, _) => {
            let (generated, pkey) = ml_dsa::generate(algorithm)?;
            return Ok((generated, Some(pkey)));
        }
        #[cfg(not(ml_dsa))]
        (KeyType::Akp, _) => return Err(ml_dsa::unsupported()),
        (KeyType::Hmac, _) => {
            let len = algorithm.hmac_secret_len().unwrap_or(64);
            let generated = GeneratedKey {
                private: PrivateMaterial::HmacSecret(new_hmac_secret(len, secret_random)?),
                public: None,
            };
            return Ok((generated, None));
        }
        (KeyType::Ec, None) => return Err(Error::rejected("EC algorithm without a curve")),
    };
    let generated = if pkey.id() == Id::ED25519 {
        ed25519_parts(&pkey)?
    } else {
        GeneratedKey {
            private: PrivateMaterial::Pkcs8(SecretBytes::new(
                pkey.private_key_to_pkcs8().map_err(ossl)?,
            )),
            public: Some(public_key_info(&pkey)?),
        }
    };
    Ok((generated, Some(pkey)))
}

/// The fixed DER prefixes of an Ed25519 key (RFC 8410): PKCS#8 v1 `PrivateKeyInfo` before the
/// 32-byte seed, and `SubjectPublicKeyInfo` before the 32-byte public key.
const ED25519_PKCS8_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];
const ED25519_SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

/// An Ed25519 key's PKCS#8 v1 and public key from its raw bytes. OpenSSL 3's encoder framework
/// takes ~100 µs to write these two fixed 48- and 44-byte structures.
fn ed25519_parts(pkey: &PKey<Private>) -> Result<GeneratedKey, Error> {
    let seed = zeroize::Zeroizing::new(pkey.raw_private_key().map_err(ossl)?);
    let public = pkey.raw_public_key().map_err(ossl)?;
    if seed.len() != 32 || public.len() != 32 {
        return Err(Error::malformed("unexpected Ed25519 key size"));
    }
    let mut pkcs8 = Vec::with_capacity(48);
    pkcs8.extend_from_slice(&ED25519_PKCS8_PREFIX);
    pkcs8.extend_from_slice(&seed);
    let mut spki = Vec::with_capacity(44);
    spki.extend_from_slice(&ED25519_SPKI_PREFIX);
    spki.extend_from_slice(&public);
    Ok(GeneratedKey {
        private: PrivateMaterial::Pkcs8(SecretBytes::new(pkcs8)),
        public: Some(PublicKeyInfo {
            key_type: KeyType::Okp,
            length: Curve::Ed25519.key_length(),
            curve: Some(Curve::Ed25519),
            spki_der: spki,
            components: PublicKeyComponents::Okp {
                curve: Curve::Ed25519,
                x: public,
            },
        }),
    })
}

/// Reads type, size and numbers from a key with a public half.
pub(crate) fn public_key_info<T: HasPublic>(pkey: &PKeyRef<T>) -> Result<PublicKeyInfo, Error> {
    public_key_info_with_spki(pkey, pkey.public_key_to_der().map_err(ossl)?)
}

/// The same, when the SPKI DER is already at hand. (Re-encoding a key that OpenSSL 3 decoded
/// from a certificate costs ~100 µs through its encoder framework.)
pub(crate) fn public_key_info_with_spki<T: HasPublic>(
    pkey: &PKeyRef<T>,
    spki_der: Vec<u8>,
) -> Result<PublicKeyInfo, Error> {
    let (key_type, curve, components, length) = match pkey.id() {
        Id::RSA => {
            let rsa = pkey.rsa().map_err(ossl)?;
            let n = rsa.n().to_vec();
            let length = u32::try_from(rsa.n().num_bits()).unwrap_or(0);
            (
                KeyType::Rsa,
                None,
                PublicKeyComponents::Rsa {
                    n,
                    e: rsa.e().to_vec(),
                },
                length,
            )
        }
        Id::EC => {
            let ec = pkey.ec_key().map_err(ossl)?;
            let group = ec.group();
            let curve = match group.curve_name() {
                Some(Nid::X9_62_PRIME256V1) => Curve::P256,
                Some(Nid::SECP384R1) => Curve::P384,
                Some(Nid::SECP521R1) => Curve::P521,
                _ => {
                    return Err(Error::rejected(
                        "unsupported elliptic curve: use P-256, P-384 or P-521",
                    ));
                }
            };
            let mut ctx = BigNumContext::new().map_err(ossl)?;
            let (mut x, mut y) = (BigNum::new().map_err(ossl)?, BigNum::new().map_err(ossl)?);
            ec.public_key()
                .affine_coordinates(group, &mut x, &mut y, &mut ctx)
                .map_err(ossl)?;
            let len = i32::try_from(curve.coordinate_len()).unwrap_or(66);
            let components = PublicKeyComponents::Ec {
                curve,
                x: x.to_vec_padded(len).map_err(ossl)?,
                y: y.to_vec_padded(len).map_err(ossl)?,
            };
            (KeyType::Ec, Some(curve), components, curve.key_length())
        }
        Id::ED25519 => {
            let x = pkey.raw_public_key().map_err(ossl)?;
            let components = PublicKeyComponents::Okp {
                curve: Curve::Ed25519,
                x,
            };
            (
                KeyType::Okp,
                Some(Curve::Ed25519),
                components,
                Curve::Ed25519.key_length(),
            )
        }
        // ML-DSA keys come from a provider and have no `Id`; OpenSSL has loaded this one, so
        // its SPKI is well formed.
        _ => {
            return keysmith_crypto::ml_dsa::public_key(&spki_der).ok_or_else(|| {
                Error::rejected(
                    "unsupported key type: use RSA, EC (P-256/384/521), Ed25519 or ML-DSA",
                )
            });
        }
    };
    Ok(PublicKeyInfo {
        key_type,
        length,
        curve,
        spki_der,
        components,
    })
}

pub(crate) fn parse_public_key(spki_der: &[u8]) -> Result<PublicKeyInfo, Error> {
    if !ml_dsa::AVAILABLE && keysmith_crypto::ml_dsa::public_key(spki_der).is_some() {
        return Err(ml_dsa::unsupported());
    }
    let pkey = PKey::public_key_from_der(spki_der)
        .map_err(|_| Error::malformed("not a supported public key"))?;
    let mut info = public_key_info(&pkey)?;
    // Keep the caller's encoding: it is what was imported, and it is valid DER.
    info.spki_der = spki_der.to_vec();
    Ok(info)
}

pub(crate) fn parse_private_key(
    der: &[u8],
    format: PrivateKeyFormat,
) -> Result<PrivateKeyInfo, Error> {
    let bad = |_| Error::malformed("not a supported private key");
    if format == PrivateKeyFormat::Pkcs8
        && let Some(forms) = keysmith_crypto::ml_dsa::private_key_forms(der)
    {
        #[cfg(ml_dsa)]
        return ml_dsa::parse_private_key(&forms, der);
        #[cfg(not(ml_dsa))]
        {
            let _ = forms;
            return Err(ml_dsa::unsupported());
        }
    }
    let pkey = match format {
        PrivateKeyFormat::Pkcs8 => PKey::private_key_from_pkcs8(der).map_err(bad)?,
        PrivateKeyFormat::Pkcs1Rsa => {
            PKey::from_rsa(Rsa::private_key_from_der(der).map_err(bad)?).map_err(ossl)?
        }
        PrivateKeyFormat::Sec1Ec => {
            PKey::from_ec_key(EcKey::private_key_from_der(der).map_err(bad)?).map_err(ossl)?
        }
    };
    match pkey.id() {
        Id::RSA => {
            let consistent = pkey.rsa().map_err(ossl)?.check_key().unwrap_or(false);
            if !consistent {
                return Err(Error::malformed("the RSA private key is inconsistent"));
            }
        }
        Id::EC => pkey
            .ec_key()
            .map_err(ossl)?
            .check_key()
            .map_err(|_| Error::malformed("the EC private key is invalid"))?,
        _ => {}
    }
    let public = public_key_info(&pkey)?;
    Ok(PrivateKeyInfo {
        pkcs8_der: SecretBytes::new(pkey.private_key_to_pkcs8().map_err(ossl)?),
        public,
    })
}

fn wrong_material(algorithm: Algorithm) -> Error {
    Error::Mismatch(format!("the key material does not fit {algorithm}"))
}

/// Whether a key's type (and curve, or ML-DSA parameter set) is the one `algorithm` needs.
fn fits(algorithm: Algorithm, info: &PublicKeyInfo) -> bool {
    info.key_type == algorithm.key_type()
        && (algorithm.curve().is_none() || algorithm.curve() == info.curve)
        && (!algorithm.is_ml_dsa() || algorithm.implied_length() == Some(info.length))
}

enum Key {
    Asymmetric {
        pkey: PKey<Private>,
        coordinate_len: usize,
    },
    Hmac(PKey<Private>),
}

struct OpenSslSigningKey {
    algorithm: Algorithm,
    key: Key,
}

impl fmt::Debug for OpenSslSigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OpenSslSigningKey({}, [REDACTED])", self.algorithm)
    }
}

fn digest_of(algorithm: Algorithm) -> Option<MessageDigest> {
    algorithm.hash().map(message_digest)
}

/// Sets PSS padding with salt = digest length (RFC 7518 §3.5) on a signer or verifier.
macro_rules! configure_rsa {
    ($ctx:expr, $algorithm:expr) => {
        if $algorithm.is_pss() {
            $ctx.set_rsa_padding(Padding::PKCS1_PSS).map_err(ossl)?;
            $ctx.set_rsa_pss_saltlen(RsaPssSaltlen::DIGEST_LENGTH)
                .map_err(ossl)?;
            if let Some(md) = digest_of($algorithm) {
                $ctx.set_rsa_mgf1_md(md).map_err(ossl)?;
            }
        } else if $algorithm.key_type() == KeyType::Rsa {
            $ctx.set_rsa_padding(Padding::PKCS1).map_err(ossl)?;
        }
    };
}

impl SigningKey for OpenSslSigningKey {
    fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, Error> {
        let algorithm = self.algorithm;
        match &self.key {
            Key::Hmac(pkey) => {
                let md = digest_of(algorithm).ok_or_else(|| wrong_material(algorithm))?;
                let mut signer = Signer::new(md, pkey).map_err(ossl)?;
                signer.sign_oneshot_to_vec(message).map_err(ossl)
            }
            Key::Asymmetric {
                pkey,
                coordinate_len,
            } => {
                let mut signer = match digest_of(algorithm) {
                    Some(md) => Signer::new(md, pkey).map_err(ossl)?,
                    None => Signer::new_without_digest(pkey).map_err(ossl)?,
                };
                configure_rsa!(signer, algorithm);
                let signature = signer.sign_oneshot_to_vec(message).map_err(ossl)?;
                if algorithm.key_type() != KeyType::Ec {
                    return Ok(signature);
                }
                // OpenSSL writes ECDSA signatures as DER; JOSE wants fixed-width r || s.
                let sig = EcdsaSig::from_der(&signature).map_err(ossl)?;
                let len = i32::try_from(*coordinate_len).unwrap_or(66);
                let mut out = sig.r().to_vec_padded(len).map_err(ossl)?;
                out.extend(sig.s().to_vec_padded(len).map_err(ossl)?);
                Ok(out)
            }
        }
    }
}

pub(crate) fn signing_key(
    algorithm: Algorithm,
    private: &PrivateMaterial,
) -> Result<Box<dyn SigningKey>, Error> {
    let key = match (algorithm.key_type(), private) {
        (KeyType::Hmac, PrivateMaterial::HmacSecret(secret)) => {
            Key::Hmac(PKey::hmac(secret.expose()).map_err(ossl)?)
        }
        (KeyType::Hmac, _) | (_, PrivateMaterial::HmacSecret(_)) => {
            return Err(wrong_material(algorithm));
        }
        (KeyType::Akp, _) if !ml_dsa::AVAILABLE => return Err(ml_dsa::unsupported()),
        (_, PrivateMaterial::Pkcs8(der)) => {
            let pkey = PKey::private_key_from_pkcs8(der.expose())
                .map_err(|_| wrong_material(algorithm))?;
            let info = public_key_info(&pkey)?;
            if !fits(algorithm, &info) {
                return Err(wrong_material(algorithm));
            }
            let coordinate_len = info.curve.map_or(0, Curve::coordinate_len);
            Key::Asymmetric {
                pkey,
                coordinate_len,
            }
        }
    };
    Ok(Box::new(OpenSslSigningKey { algorithm, key }))
}

enum Check {
    Public {
        pkey: PKey<Public>,
        coordinate_len: usize,
    },
    /// The HMAC key bytes, kept to recompute the tag.
    Hmac(PKey<Private>),
}

struct OpenSslVerifyingKey {
    algorithm: Algorithm,
    check: Check,
}

impl fmt::Debug for OpenSslVerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OpenSslVerifyingKey({})", self.algorithm)
    }
}

impl OpenSslVerifyingKey {
    fn try_verify(&self, message: &[u8], signature: &[u8]) -> Result<bool, Error> {
        let algorithm = self.algorithm;
        match &self.check {
            Check::Hmac(pkey) => {
                let md = digest_of(algorithm).ok_or_else(|| wrong_material(algorithm))?;
                let mut signer = Signer::new(md, pkey).map_err(ossl)?;
                let expected = signer.sign_oneshot_to_vec(message).map_err(ossl)?;
                Ok(expected.len() == signature.len() && openssl::memcmp::eq(&expected, signature))
            }
            Check::Public {
                pkey,
                coordinate_len,
            } => {
                let der_signature;
                let signature = if algorithm.key_type() == KeyType::Ec {
                    if signature.len() != 2 * coordinate_len {
                        return Ok(false);
                    }
                    let (r, s) = signature.split_at(*coordinate_len);
                    let sig = EcdsaSig::from_private_components(
                        BigNum::from_slice(r).map_err(ossl)?,
                        BigNum::from_slice(s).map_err(ossl)?,
                    )
                    .map_err(ossl)?;
                    der_signature = sig.to_der().map_err(ossl)?;
                    &der_signature[..]
                } else {
                    signature
                };
                let mut verifier = match digest_of(algorithm) {
                    Some(md) => Verifier::new(md, pkey).map_err(ossl)?,
                    None => Verifier::new_without_digest(pkey).map_err(ossl)?,
                };
                configure_rsa!(verifier, algorithm);
                Ok(verifier.verify_oneshot(signature, message).unwrap_or(false))
            }
        }
    }
}

impl VerifyingKey for OpenSslVerifyingKey {
    fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        self.try_verify(message, signature).unwrap_or(false)
    }
}

pub(crate) fn verifying_key(
    algorithm: Algorithm,
    material: VerifyingMaterial<'_>,
) -> Result<Box<dyn VerifyingKey>, Error> {
    let check = match (algorithm.key_type(), material) {
        (KeyType::Hmac, VerifyingMaterial::HmacSecret(secret)) => {
            Check::Hmac(PKey::hmac(secret).map_err(ossl)?)
        }
        (KeyType::Hmac, _) | (_, VerifyingMaterial::HmacSecret(_)) => {
            return Err(wrong_material(algorithm));
        }
        (KeyType::Akp, _) if !ml_dsa::AVAILABLE => return Err(ml_dsa::unsupported()),
        (_, VerifyingMaterial::PublicKey(spki)) => {
            let pkey = PKey::public_key_from_der(spki)
                .map_err(|_| Error::malformed("not a supported public key"))?;
            let info = public_key_info(&pkey)?;
            if !fits(algorithm, &info) {
                return Err(wrong_material(algorithm));
            }
            Check::Public {
                pkey,
                coordinate_len: info.curve.map_or(0, Curve::coordinate_len),
            }
        }
    };
    Ok(Box::new(OpenSslVerifyingKey { algorithm, check }))
}

/// The hash an algorithm's certificate signature uses (none for Ed25519 and ML-DSA).
pub(crate) fn certificate_digest(algorithm: Algorithm) -> MessageDigest {
    match algorithm.hash() {
        Some(HashAlgorithm::Sha384) => MessageDigest::sha384(),
        Some(HashAlgorithm::Sha512) => MessageDigest::sha512(),
        Some(_) => MessageDigest::sha256(),
        None => MessageDigest::null(),
    }
}

thread_local! {
    /// Random bytes for new HMAC secrets, drawn from this backend's CSPRNG 4 KiB at a time
    /// (`keysmith_crypto::random`).
    static SECRET_RANDOM: RefCell<RandomBlock> = const { RefCell::new(RandomBlock::new()) };
}

fn secret_random(out: &mut [u8]) -> Result<(), Error> {
    SECRET_RANDOM.with_borrow_mut(|block| {
        block.fill(out, |out| openssl::rand::rand_bytes(out).map_err(ossl))
    })
}
