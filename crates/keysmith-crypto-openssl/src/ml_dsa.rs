//! ML-DSA (FIPS 204) on OpenSSL 3.5 or newer. Built against an older OpenSSL (the system's
//! 3.0), every ML-DSA operation is refused with [`Error::Unsupported`], naming the library.
//!
//! Keys are made from a fresh 32-byte seed and kept in RFC 9881's seed form; signatures are
//! pure ML-DSA with an empty context, through OpenSSL's one-shot `EVP_DigestSign` without a
//! digest, as for Ed25519.

use keysmith_crypto::Error;
#[cfg(ml_dsa)]
use keysmith_crypto::{GeneratedKey, PrivateKeyInfo, ml_dsa};
#[cfg(ml_dsa)]
use keysmith_model::{Algorithm, PrivateMaterial, SecretBytes};
#[cfg(ml_dsa)]
use openssl::pkey::{KeyType, PKey, Private};

#[cfg(ml_dsa)]
use crate::ossl;

/// Whether the linked OpenSSL has ML-DSA.
pub(crate) const AVAILABLE: bool = cfg!(ml_dsa);

/// The refusal of an ML-DSA operation on an OpenSSL without it.
pub(crate) fn unsupported() -> Error {
    Error::Unsupported {
        backend: crate::NAME,
        what: format!(
            "ML-DSA on {}; it needs OpenSSL 3.5 or newer (the `openssl-vendored` build)",
            openssl::version::version()
        ),
    }
}

#[cfg(ml_dsa)]
fn key_type(algorithm: Algorithm) -> Result<KeyType, Error> {
    match algorithm {
        Algorithm::MlDsa44 => Ok(KeyType::ML_DSA_44),
        Algorithm::MlDsa65 => Ok(KeyType::ML_DSA_65),
        Algorithm::MlDsa87 => Ok(KeyType::ML_DSA_87),
        other => Err(Error::rejected(format!(
            "{other} is not an ML-DSA algorithm"
        ))),
    }
}

/// A new key from a fresh seed, and the in-memory key to sign its certificate with.
#[cfg(ml_dsa)]
pub(crate) fn generate(algorithm: Algorithm) -> Result<(GeneratedKey, PKey<Private>), Error> {
    let mut seed = zeroize::Zeroizing::new([0u8; ml_dsa::SEED_LEN]);
    openssl::rand::rand_bytes(&mut seed[..]).map_err(ossl)?;
    let pkey =
        PKey::private_key_from_seed(None, key_type(algorithm)?, None, &seed[..]).map_err(ossl)?;
    let pkcs8 = ml_dsa::pkcs8_of_seed(algorithm, &seed[..])
        .ok_or_else(|| Error::rejected("not an ML-DSA algorithm"))?;
    let public = crate::keys::public_key_info(&pkey)?;
    let generated = GeneratedKey {
        private: PrivateMaterial::Pkcs8(SecretBytes::new(pkcs8.to_vec())),
        public: Some(public),
    };
    Ok((generated, pkey))
}

/// An ML-DSA PKCS#8 key in any of RFC 9881's forms, checked (a seed and an expanded key given
/// together must agree), with the form Keysmith keeps: the seed when there is one.
#[cfg(ml_dsa)]
pub(crate) fn parse_private_key(
    forms: &ml_dsa::PrivateKeyForms<'_>,
    der: &[u8],
) -> Result<PrivateKeyInfo, Error> {
    let invalid = || Error::malformed("the ML-DSA private key is invalid");
    let algorithm = forms.algorithm;
    let pkey = match (forms.seed, forms.expanded) {
        (Some(seed), expanded) => {
            let pkey = PKey::private_key_from_seed(None, key_type(algorithm)?, None, seed)
                .map_err(|_| invalid())?;
            if let Some(expanded) = expanded {
                let derived =
                    zeroize::Zeroizing::new(pkey.raw_private_key().map_err(|_| invalid())?);
                if derived.len() != expanded.len() || !openssl::memcmp::eq(&derived, expanded) {
                    return Err(Error::malformed(
                        "the ML-DSA private key's seed and expanded key disagree",
                    ));
                }
            }
            pkey
        }
        (None, Some(_)) => PKey::private_key_from_pkcs8(der).map_err(|_| invalid())?,
        (None, None) => return Err(invalid()),
    };
    let kept = forms.kept_pkcs8().ok_or_else(invalid)?;
    Ok(PrivateKeyInfo {
        pkcs8_der: SecretBytes::new(kept.to_vec()),
        public: crate::keys::public_key_info(&pkey)?,
    })
}
