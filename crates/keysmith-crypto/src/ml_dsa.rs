//! ML-DSA (FIPS 204) encodings, the same on every backend: the algorithm OIDs, the
//! SubjectPublicKeyInfo and the PKCS#8 private key forms of RFC 9881.
//!
//! A private key is kept in the seed form (`seed [0] OCTET STRING`, 32 bytes) whenever the
//! seed is known: it is the smallest, every backend reads it, and FIPS 204 derives the whole
//! key from it. A key imported in the expanded form alone is kept in that form.

use keysmith_model::{Algorithm, KeyType};

use crate::der::{
    TAG_BIT_STRING, TAG_INTEGER, TAG_OCTET_STRING, TAG_OID, TAG_SEQUENCE, constructed, expect_only,
    read_tlv, tlv,
};
use crate::{PublicKeyComponents, PublicKeyInfo};

/// id-ml-dsa-44, -65 and -87 (2.16.840.1.101.3.4.3.17, .18, .19), with their algorithms.
const OIDS: [(&[u8], Algorithm); 3] = [
    (
        &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x03, 0x11],
        Algorithm::MlDsa44,
    ),
    (
        &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x03, 0x12],
        Algorithm::MlDsa65,
    ),
    (
        &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x03, 0x13],
        Algorithm::MlDsa87,
    ),
];

/// The length of every ML-DSA seed (FIPS 204 ξ).
pub const SEED_LEN: usize = 32;

/// The implicit `[0]` tag of the seed form.
const TAG_SEED: u8 = 0x80;

/// The ML-DSA algorithm of an algorithm OID's content bytes.
pub fn algorithm_of_oid(oid: &[u8]) -> Option<Algorithm> {
    OIDS.iter()
        .find(|(known, _)| *known == oid)
        .map(|(_, algorithm)| *algorithm)
}

/// The OID content bytes of an ML-DSA algorithm.
pub fn oid(algorithm: Algorithm) -> Option<&'static [u8]> {
    OIDS.iter()
        .find(|(_, known)| *known == algorithm)
        .map(|(oid, _)| *oid)
}

/// The size of a signature (FIPS 204, table 2).
pub fn signature_len(algorithm: Algorithm) -> Option<usize> {
    match algorithm {
        Algorithm::MlDsa44 => Some(2420),
        Algorithm::MlDsa65 => Some(3309),
        Algorithm::MlDsa87 => Some(4627),
        _ => None,
    }
}

/// The size of an expanded private key (FIPS 204, table 2).
pub fn expanded_len(algorithm: Algorithm) -> Option<usize> {
    match algorithm {
        Algorithm::MlDsa44 => Some(2560),
        Algorithm::MlDsa65 => Some(4032),
        Algorithm::MlDsa87 => Some(4896),
        _ => None,
    }
}

fn algorithm_identifier(algorithm: Algorithm) -> Option<Vec<u8>> {
    Some(constructed(TAG_SEQUENCE, &[&tlv(TAG_OID, oid(algorithm)?)]))
}

/// The SubjectPublicKeyInfo of an ML-DSA public key: its OID with no parameters (RFC 9881
/// §4) and the key's bytes. `None` for another algorithm or a key of the wrong length.
pub fn spki(algorithm: Algorithm, public: &[u8]) -> Option<Vec<u8>> {
    if algorithm.implied_length()? as usize != public.len() {
        return None;
    }
    let mut bits = Vec::with_capacity(public.len() + 1);
    bits.push(0);
    bits.extend_from_slice(public);
    Some(constructed(
        TAG_SEQUENCE,
        &[
            &algorithm_identifier(algorithm)?,
            &tlv(TAG_BIT_STRING, &bits),
        ],
    ))
}

/// The public key of an ML-DSA SubjectPublicKeyInfo, checked for shape: its OID without
/// parameters and a key of its parameter set's length. Any bytes of that length are an ML-DSA
/// public key (FIPS 204 has no further structure to check). `None` if it is not one.
pub fn public_key(spki: &[u8]) -> Option<PublicKeyInfo> {
    let body = expect_only(spki, TAG_SEQUENCE).ok()?;
    let (tag, algorithm_id, rest) = read_tlv(body).ok()?;
    let (bits_tag, bits, rest) = read_tlv(rest).ok()?;
    if tag != TAG_SEQUENCE || bits_tag != TAG_BIT_STRING || !rest.is_empty() {
        return None;
    }
    let (oid_tag, oid, parameters) = read_tlv(algorithm_id).ok()?;
    let algorithm =
        algorithm_of_oid(oid).filter(|_| oid_tag == TAG_OID && parameters.is_empty())?;
    let Some((&0, public)) = bits.split_first() else {
        return None;
    };
    let length = algorithm.implied_length()?;
    (public.len() == length as usize).then(|| PublicKeyInfo {
        key_type: KeyType::Akp,
        length,
        curve: None,
        spki_der: spki.to_vec(),
        components: PublicKeyComponents::Akp {
            algorithm,
            public: public.to_vec(),
        },
    })
}

/// An ML-DSA private key as a PKCS#8 `PrivateKeyInfo` held: its seed, its expanded key, or
/// both (RFC 9881 §6). Borrowed from the DER; `Debug` shows no key material.
pub struct PrivateKeyForms<'a> {
    /// The parameter set.
    pub algorithm: Algorithm,
    /// The 32-byte seed, when the key carries it.
    pub seed: Option<&'a [u8]>,
    /// The expanded private key, when the key carries it.
    pub expanded: Option<&'a [u8]>,
}

impl PrivateKeyForms<'_> {
    /// The PKCS#8 Keysmith keeps for this key: the seed form when the seed is known (any
    /// expanded key given with it must have been checked against it first), else the expanded
    /// form.
    pub fn kept_pkcs8(&self) -> Option<zeroize::Zeroizing<Vec<u8>>> {
        match (self.seed, self.expanded) {
            (Some(seed), _) => pkcs8_of_seed(self.algorithm, seed),
            (None, Some(expanded)) => pkcs8_of_expanded(self.algorithm, expanded),
            (None, None) => None,
        }
    }
}

impl std::fmt::Debug for PrivateKeyForms<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "PrivateKeyForms({}, seed: {}, expanded: {})",
            self.algorithm,
            self.seed.is_some(),
            self.expanded.is_some()
        )
    }
}

/// Reads an ML-DSA PKCS#8 key's forms, checking their lengths; `None` if `pkcs8` is not an
/// ML-DSA `PrivateKeyInfo` (v1 or v2; attributes and a v2 public key are ignored).
pub fn private_key_forms(pkcs8: &[u8]) -> Option<PrivateKeyForms<'_>> {
    let body = expect_only(pkcs8, TAG_SEQUENCE).ok()?;
    let (version_tag, version, rest) = read_tlv(body).ok()?;
    if version_tag != TAG_INTEGER || !(version == [0] || version == [1]) {
        return None;
    }
    let (id_tag, algorithm_id, rest) = read_tlv(rest).ok()?;
    let (oid_tag, oid, parameters) = read_tlv(algorithm_id).ok()?;
    let algorithm = algorithm_of_oid(oid)
        .filter(|_| id_tag == TAG_SEQUENCE && oid_tag == TAG_OID && parameters.is_empty())?;
    let (key_tag, key, _) = read_tlv(rest).ok()?;
    if key_tag != TAG_OCTET_STRING {
        return None;
    }
    let expanded_len = expanded_len(algorithm)?;
    let (tag, content, rest) = read_tlv(key).ok()?;
    if !rest.is_empty() {
        return None;
    }
    let (seed, expanded) = match tag {
        TAG_SEED => (Some(content), None),
        TAG_OCTET_STRING => (None, Some(content)),
        TAG_SEQUENCE => {
            let (seed_tag, seed, rest) = read_tlv(content).ok()?;
            let (expanded_tag, expanded, rest) = read_tlv(rest).ok()?;
            if seed_tag != TAG_OCTET_STRING || expanded_tag != TAG_OCTET_STRING || !rest.is_empty()
            {
                return None;
            }
            (Some(seed), Some(expanded))
        }
        _ => return None,
    };
    if seed.is_some_and(|s| s.len() != SEED_LEN)
        || expanded.is_some_and(|e| e.len() != expanded_len)
    {
        return None;
    }
    Some(PrivateKeyForms {
        algorithm,
        seed,
        expanded,
    })
}

fn pkcs8(algorithm: Algorithm, private_key: &[u8]) -> Option<Vec<u8>> {
    Some(constructed(
        TAG_SEQUENCE,
        &[
            &tlv(TAG_INTEGER, &[0]),
            &algorithm_identifier(algorithm)?,
            &tlv(TAG_OCTET_STRING, private_key),
        ],
    ))
}

/// The PKCS#8 v1 of an ML-DSA key in the seed form. `None` for another algorithm or a seed
/// that is not 32 bytes.
pub fn pkcs8_of_seed(algorithm: Algorithm, seed: &[u8]) -> Option<zeroize::Zeroizing<Vec<u8>>> {
    if seed.len() != SEED_LEN {
        return None;
    }
    let inner = zeroize::Zeroizing::new(tlv(TAG_SEED, seed));
    pkcs8(algorithm, &inner).map(zeroize::Zeroizing::new)
}

/// The PKCS#8 v1 of an ML-DSA key in the expanded form (a key whose seed is not known).
pub fn pkcs8_of_expanded(
    algorithm: Algorithm,
    expanded: &[u8],
) -> Option<zeroize::Zeroizing<Vec<u8>>> {
    if Some(expanded.len()) != expanded_len(algorithm) {
        return None;
    }
    let inner = zeroize::Zeroizing::new(tlv(TAG_OCTET_STRING, expanded));
    pkcs8(algorithm, &inner).map(zeroize::Zeroizing::new)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seed_form_round_trips_and_other_forms_are_read() {
        for algorithm in Algorithm::of_type(KeyType::Akp) {
            let seed = [7u8; SEED_LEN];
            let der = pkcs8_of_seed(algorithm, &seed).unwrap();
            // RFC 9881's seed-form key is 54 bytes whatever the parameter set.
            assert_eq!(der.len(), 54, "{algorithm}");
            let forms = private_key_forms(&der).unwrap();
            assert_eq!(forms.algorithm, algorithm);
            assert_eq!(forms.seed, Some(&seed[..]));
            assert_eq!(forms.expanded, None);

            let expanded = vec![9u8; expanded_len(algorithm).unwrap()];
            let der = pkcs8_of_expanded(algorithm, &expanded).unwrap();
            let forms = private_key_forms(&der).unwrap();
            assert_eq!((forms.seed, forms.expanded), (None, Some(&expanded[..])));

            let both = constructed(
                TAG_SEQUENCE,
                &[
                    &tlv(TAG_OCTET_STRING, &seed),
                    &tlv(TAG_OCTET_STRING, &expanded),
                ],
            );
            let der = pkcs8(algorithm, &both).unwrap();
            let forms = private_key_forms(&der).unwrap();
            assert_eq!(
                (forms.seed, forms.expanded),
                (Some(&seed[..]), Some(&expanded[..]))
            );
            assert!(!format!("{forms:?}").contains("7, 7"));
        }
    }

    #[test]
    fn wrong_lengths_and_other_keys_are_not_ml_dsa() {
        assert!(pkcs8_of_seed(Algorithm::MlDsa44, &[0; 31]).is_none());
        assert!(pkcs8_of_expanded(Algorithm::MlDsa44, &[0; 4032]).is_none());
        assert!(pkcs8_of_seed(Algorithm::Ed25519, &[0; 32]).is_none());
        let short_seed = pkcs8(Algorithm::MlDsa65, &tlv(TAG_SEED, &[1; 16])).unwrap();
        assert!(private_key_forms(&short_seed).is_none());
        assert!(spki(Algorithm::MlDsa87, &[0; 1312]).is_none());
    }

    #[test]
    fn an_spki_reads_back_as_its_key() {
        for algorithm in Algorithm::of_type(KeyType::Akp) {
            let public = vec![3u8; algorithm.implied_length().unwrap() as usize];
            let der = spki(algorithm, &public).unwrap();
            let info = public_key(&der).unwrap();
            assert_eq!(
                info.components,
                PublicKeyComponents::Akp {
                    algorithm,
                    public: public.clone()
                }
            );
            assert_eq!(info.key_type, KeyType::Akp);
            let pem = crate::pem::encode("PUBLIC KEY", &der, crate::pem::LineEnding::Lf);
            assert_eq!(crate::import::stored_public_key(&pem).unwrap(), info);
        }
    }
}
