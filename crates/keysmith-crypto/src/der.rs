//! Just enough DER to write a certs-only PKCS#7, wrap a PKCS#1 public key in an SPKI, and read
//! the outer layers of a structure. Nothing here is cryptographic.

use crate::Error;

/// DER tag: INTEGER.
pub const TAG_INTEGER: u8 = 0x02;
/// DER tag: BIT STRING.
pub const TAG_BIT_STRING: u8 = 0x03;
/// DER tag: OCTET STRING.
pub const TAG_OCTET_STRING: u8 = 0x04;
/// DER tag: NULL.
pub const TAG_NULL: u8 = 0x05;
/// DER tag: OBJECT IDENTIFIER.
pub const TAG_OID: u8 = 0x06;
/// DER tag: SEQUENCE (constructed).
pub const TAG_SEQUENCE: u8 = 0x30;
/// DER tag: SET (constructed).
pub const TAG_SET: u8 = 0x31;
/// DER tag: context-specific constructed `[0]`.
pub const TAG_CONTEXT_0: u8 = 0xa0;

/// The content bytes of OID 1.2.840.113549.1.1.1 (rsaEncryption).
pub const OID_RSA_ENCRYPTION: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];

/// The content bytes of OID 1.2.840.113549.1.1.10 (RSASSA-PSS), the other RSA key algorithm.
pub const OID_RSASSA_PSS: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0a];

fn is_rsa_oid(oid: &[u8]) -> bool {
    oid == OID_RSA_ENCRYPTION || oid == OID_RSASSA_PSS
}

/// Writes one TLV.
pub fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(content.len() + 6);
    out.push(tag);
    push_length(&mut out, content.len());
    out.extend_from_slice(content);
    out
}

/// Writes a constructed TLV whose content is the concatenation of `parts`.
pub fn constructed(tag: u8, parts: &[&[u8]]) -> Vec<u8> {
    tlv(tag, &parts.concat())
}

/// Writes a non-negative INTEGER from its big-endian magnitude (leading zeros dropped, a zero
/// byte added when the top bit is set so the value stays positive).
pub fn unsigned_integer(magnitude: &[u8]) -> Vec<u8> {
    let trimmed = strip_leading_zeros(magnitude);
    let mut content = Vec::with_capacity(trimmed.len() + 1);
    if trimmed.first().is_none_or(|b| b & 0x80 != 0) {
        content.push(0);
    }
    content.extend_from_slice(trimmed);
    tlv(TAG_INTEGER, &content)
}

/// The magnitude of an INTEGER from its content (big-endian two's complement), without leading
/// zero bytes. A negative value, like the serial number a non-conforming CA may issue (RFC 5280
/// §4.1.2.2), gives its absolute value, as OpenSSL reads it.
pub fn integer_magnitude(content: &[u8]) -> Vec<u8> {
    if content.first().is_none_or(|b| b & 0x80 == 0) {
        return strip_leading_zeros(content).to_vec();
    }
    // Negation in two's complement: invert every bit, then add one. The first byte has its top
    // bit set, so the carry never runs past it.
    let mut magnitude: Vec<u8> = content.iter().map(|b| !b).collect();
    for byte in magnitude.iter_mut().rev() {
        let (sum, carry) = byte.overflowing_add(1);
        *byte = sum;
        if !carry {
            break;
        }
    }
    strip_leading_zeros(&magnitude).to_vec()
}

/// `bytes` without leading zero bytes (an all-zero input gives an empty slice).
pub fn strip_leading_zeros(bytes: &[u8]) -> &[u8] {
    let first = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    &bytes[first..]
}

fn push_length(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        out.push(len as u8); // < 0x80, fits
        return;
    }
    let bytes = len.to_be_bytes();
    let significant = strip_leading_zeros(&bytes);
    out.push(0x80 | significant.len() as u8); // at most 8 bytes
    out.extend_from_slice(significant);
}

/// Reads one TLV from the front of `input`: `(tag, content, rest)`. Only definite lengths of
/// at most four bytes, single-byte tags, and minimal length encodings are accepted.
pub fn read_tlv(input: &[u8]) -> Result<(u8, &[u8], &[u8]), Error> {
    let bad = || Error::malformed("invalid DER");
    let (&tag, rest) = input.split_first().ok_or_else(bad)?;
    if tag & 0x1f == 0x1f {
        return Err(bad());
    }
    let (&first, rest) = rest.split_first().ok_or_else(bad)?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n || rest[0] == 0 {
            return Err(bad());
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        if len < 0x80 {
            return Err(bad());
        }
        (len, &rest[n..])
    };
    if rest.len() < len {
        return Err(bad());
    }
    Ok((tag, &rest[..len], &rest[len..]))
}

/// Reads exactly one TLV with `tag` filling all of `input`, and returns its content.
pub fn expect_only(input: &[u8], tag: u8) -> Result<&[u8], Error> {
    let (found, content, rest) = read_tlv(input)?;
    if found != tag || !rest.is_empty() {
        return Err(Error::malformed("unexpected DER structure"));
    }
    Ok(content)
}

/// Wraps a PKCS#1 `RSAPublicKey` in a SubjectPublicKeyInfo with the rsaEncryption algorithm.
pub fn rsa_spki_from_pkcs1(pkcs1: &[u8]) -> Vec<u8> {
    let algorithm = constructed(
        TAG_SEQUENCE,
        &[&tlv(TAG_OID, OID_RSA_ENCRYPTION), &tlv(TAG_NULL, &[])],
    );
    let mut bits = Vec::with_capacity(pkcs1.len() + 1);
    bits.push(0); // no unused bits
    bits.extend_from_slice(pkcs1);
    constructed(TAG_SEQUENCE, &[&algorithm, &tlv(TAG_BIT_STRING, &bits)])
}

/// The dotted form of an OID's content bytes (`2.5.4.3`); `None` if they are not a valid OID.
pub fn oid_to_dotted(content: &[u8]) -> Option<String> {
    let mut arcs: Vec<u128> = Vec::new();
    let mut value: u128 = 0;
    let mut in_arc = false;
    for &b in content {
        if !in_arc && b == 0x80 {
            return None; // non-minimal encoding
        }
        value = value.checked_mul(128)?.checked_add(u128::from(b & 0x7f))?;
        in_arc = b & 0x80 != 0;
        if !in_arc {
            arcs.push(value);
            value = 0;
        }
    }
    if in_arc || arcs.is_empty() {
        return None;
    }
    let first = arcs[0];
    let (a, b) = if first < 40 {
        (0, first)
    } else if first < 80 {
        (1, first - 40)
    } else {
        (2, first - 80)
    };
    let mut out = format!("{a}.{b}");
    for arc in &arcs[1..] {
        out.push('.');
        out.push_str(&arc.to_string());
    }
    Some(out)
}

/// The number of significant bits in a big-endian unsigned magnitude.
pub fn unsigned_bits(magnitude: &[u8]) -> u32 {
    let trimmed = strip_leading_zeros(magnitude);
    match trimmed.first() {
        None => 0,
        Some(first) => (trimmed.len() as u32 - 1) * 8 + (8 - first.leading_zeros()),
    }
}

/// The modulus and public exponent of a PKCS#1 `RSAPublicKey`, without leading zero bytes.
pub fn rsa_public_components(pkcs1: &[u8]) -> Result<(Vec<u8>, Vec<u8>), Error> {
    let body = expect_only(pkcs1, TAG_SEQUENCE)?;
    let (tag_n, n, rest) = read_tlv(body)?;
    let (tag_e, e, rest) = read_tlv(rest)?;
    if tag_n != TAG_INTEGER || tag_e != TAG_INTEGER || !rest.is_empty() {
        return Err(Error::malformed("invalid RSA public key"));
    }
    if n.first().is_some_and(|b| b & 0x80 != 0) || e.first().is_some_and(|b| b & 0x80 != 0) {
        return Err(Error::malformed("negative RSA public key value"));
    }
    Ok((
        strip_leading_zeros(n).to_vec(),
        strip_leading_zeros(e).to_vec(),
    ))
}

/// The modulus size of an RSA private key given as PKCS#1 or as PKCS#8 (rsaEncryption), read
/// from its structure without any cryptography; `None` if it is neither.
pub fn rsa_private_modulus_bits(der: &[u8]) -> Option<u32> {
    let body = expect_only(der, TAG_SEQUENCE).ok()?;
    let (tag, _version, rest) = read_tlv(body).ok()?;
    if tag != TAG_INTEGER {
        return None;
    }
    let (tag, second, rest) = read_tlv(rest).ok()?;
    match tag {
        TAG_INTEGER => Some(unsigned_bits(second)), // PKCS#1: version, modulus, ...
        TAG_SEQUENCE => {
            let (oid_tag, oid, _) = read_tlv(second).ok()?;
            if oid_tag != TAG_OID || !is_rsa_oid(oid) {
                return None;
            }
            let (octets_tag, inner, _) = read_tlv(rest).ok()?;
            (octets_tag == TAG_OCTET_STRING).then_some(())?;
            rsa_private_modulus_bits(inner)
        }
        _ => None,
    }
}

/// The two parts of a SubjectPublicKeyInfo, read from its structure alone: the algorithm OID's
/// content bytes and the public key BIT STRING's content (its unused-bits byte first); `None`
/// if the input is not shaped like an SPKI.
pub fn spki_parts(spki: &[u8]) -> Option<(&[u8], &[u8])> {
    let body = expect_only(spki, TAG_SEQUENCE).ok()?;
    let (tag, algorithm, rest) = read_tlv(body).ok()?;
    if tag != TAG_SEQUENCE {
        return None;
    }
    let (oid_tag, oid, _) = read_tlv(algorithm).ok()?;
    let (bits_tag, bits, rest) = read_tlv(rest).ok()?;
    (oid_tag == TAG_OID && bits_tag == TAG_BIT_STRING && rest.is_empty()).then_some((oid, bits))
}

/// id-ecPublicKey (1.2.840.10045.2.1).
const OID_EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
/// prime256v1 (1.2.840.10045.3.1.7).
const OID_P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
/// secp384r1 (1.3.132.0.34).
const OID_P384: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x22];
/// secp521r1 (1.3.132.0.35).
const OID_P521: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x23];
/// id-Ed25519 (1.3.101.112).
const OID_ED25519: &[u8] = &[0x2b, 0x65, 0x70];

/// The public key of a SubjectPublicKeyInfo (RSA, RSASSA-PSS, NIST P-256/384/521 or Ed25519;
/// ML-DSA's is [`crate::ml_dsa::public_key`]) read from its DER structure alone, with no
/// cryptographic library: for keys Keysmith itself stored, which a backend checked when they
/// were stored. It does not check that an EC point
/// is on its curve, so it is not for untrusted input.
pub fn structural_public_key(spki: &[u8]) -> Result<crate::PublicKeyInfo, Error> {
    use crate::PublicKeyComponents;
    use keysmith_model::{Curve, KeyType};
    let malformed = || Error::malformed("not a public key Keysmith stores");
    let body = expect_only(spki, TAG_SEQUENCE)?;
    let (tag, algorithm, rest) = read_tlv(body)?;
    let (bits_tag, bits, rest) = read_tlv(rest)?;
    if tag != TAG_SEQUENCE || bits_tag != TAG_BIT_STRING || !rest.is_empty() {
        return Err(malformed());
    }
    let (oid_tag, oid, parameters) = read_tlv(algorithm)?;
    let Some((&0, key)) = bits.split_first() else {
        return Err(malformed());
    };
    if oid_tag != TAG_OID {
        return Err(malformed());
    }

    let (key_type, length, curve, components) = if is_rsa_oid(oid) {
        let (n, e) = rsa_public_components(key)?;
        (
            KeyType::Rsa,
            unsigned_bits(&n),
            None,
            PublicKeyComponents::Rsa { n, e },
        )
    } else if oid == OID_EC_PUBLIC_KEY {
        let (tag, named, _) = read_tlv(parameters)?;
        let curve = match named {
            OID_P256 if tag == TAG_OID => Curve::P256,
            OID_P384 if tag == TAG_OID => Curve::P384,
            OID_P521 if tag == TAG_OID => Curve::P521,
            _ => return Err(malformed()),
        };
        let size = curve.coordinate_len();
        let Some((&0x04, point)) = key.split_first() else {
            return Err(malformed());
        };
        if point.len() != 2 * size {
            return Err(malformed());
        }
        let (x, y) = point.split_at(size);
        let components = PublicKeyComponents::Ec {
            curve,
            x: x.to_vec(),
            y: y.to_vec(),
        };
        (KeyType::Ec, curve.key_length(), Some(curve), components)
    } else if oid == OID_ED25519 && parameters.is_empty() && key.len() == 32 {
        let curve = Curve::Ed25519;
        let components = PublicKeyComponents::Okp {
            curve,
            x: key.to_vec(),
        };
        (KeyType::Okp, curve.key_length(), Some(curve), components)
    } else {
        return Err(malformed());
    };
    Ok(crate::PublicKeyInfo {
        key_type,
        length,
        curve,
        spki_der: spki.to_vec(),
        components,
    })
}

/// The modulus size of an RSA SubjectPublicKeyInfo (rsaEncryption or RSASSA-PSS), read from its
/// structure without any cryptography; `None` if it is not an RSA SPKI.
pub fn rsa_spki_modulus_bits(spki: &[u8]) -> Option<u32> {
    let (oid, bits) = spki_parts(spki)?;
    if !is_rsa_oid(oid) {
        return None;
    }
    let (&unused, pkcs1) = bits.split_first()?;
    if unused != 0 {
        return None;
    }
    let body = expect_only(pkcs1, TAG_SEQUENCE).ok()?;
    let (tag, n, _) = read_tlv(body).ok()?;
    (tag == TAG_INTEGER).then(|| unsigned_bits(n))
}

/// The SubjectPublicKeyInfo TLV inside a DER certificate, found by walking the TBS structure
/// (no decoding of the key itself); `None` if the structure is not a certificate.
pub fn certificate_spki(certificate: &[u8]) -> Option<&[u8]> {
    let cert = expect_only(certificate, TAG_SEQUENCE).ok()?;
    let (tag, tbs, _) = read_tlv(cert).ok()?;
    if tag != TAG_SEQUENCE {
        return None;
    }
    let mut rest = tbs;
    // [0] version (optional), serial, signature, issuer, validity, subject, then the SPKI.
    if rest.first() == Some(&TAG_CONTEXT_0) {
        rest = read_tlv(rest).ok()?.2;
    }
    for _ in 0..5 {
        rest = read_tlv(rest).ok()?.2;
    }
    let (tag, content, _) = read_tlv(rest).ok()?;
    if tag != TAG_SEQUENCE {
        return None;
    }
    let header_len = rest.len() - content.len() - read_tlv(rest).ok()?.2.len();
    Some(&rest[..header_len + content.len()])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integer_magnitude_reads_a_negative_value_as_its_absolute_value() {
        let cases: [(&[u8], &[u8]); 8] = [
            (&[], &[]),
            (&[0x00], &[]),
            (&[0x00, 0x9c, 0x51], &[0x9c, 0x51]),
            (&[0x34, 0x51], &[0x34, 0x51]),
            (&[0xff], &[0x01]),
            (&[0x80], &[0x80]),
            (&[0x80, 0x00], &[0x80, 0x00]),
            (&[0x9c, 0x51, 0x23], &[0x63, 0xae, 0xdd]),
        ];
        for (content, magnitude) in cases {
            assert_eq!(integer_magnitude(content), magnitude, "{content:02x?}");
        }
    }
    use proptest::prelude::*;

    #[test]
    fn integers_stay_positive_and_minimal() {
        assert_eq!(
            unsigned_integer(&[0x78, 0x0e]),
            vec![0x02, 0x02, 0x78, 0x0e]
        );
        assert_eq!(unsigned_integer(&[0x80]), vec![0x02, 0x02, 0x00, 0x80]);
        assert_eq!(unsigned_integer(&[0, 0, 0x01]), vec![0x02, 0x01, 0x01]);
        assert_eq!(unsigned_integer(&[]), vec![0x02, 0x01, 0x00]);
    }

    #[test]
    fn oids_print_dotted() {
        assert_eq!(
            oid_to_dotted(&[0x55, 0x04, 0x03]).as_deref(),
            Some("2.5.4.3")
        );
        assert_eq!(
            oid_to_dotted(OID_RSA_ENCRYPTION).as_deref(),
            Some("1.2.840.113549.1.1.1")
        );
        assert_eq!(
            oid_to_dotted(&[0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x19]).as_deref(),
            Some("0.9.2342.19200300.100.1.25")
        );
        assert_eq!(oid_to_dotted(&[0x55, 0x84]), None);
        assert_eq!(oid_to_dotted(&[]), None);
    }

    #[test]
    fn rsa_sizes_read_from_the_structure() {
        // A 16-bit "modulus" is enough to show the walk: no cryptography reads it.
        let pkcs1 = constructed(
            TAG_SEQUENCE,
            &[
                &unsigned_integer(&[0xc3, 0x5b]),
                &unsigned_integer(&[1, 0, 1]),
            ],
        );
        let spki = rsa_spki_from_pkcs1(&pkcs1);
        assert_eq!(rsa_spki_modulus_bits(&spki), Some(16));
        assert_eq!(
            spki_parts(&spki).map(|(oid, _)| oid),
            Some(OID_RSA_ENCRYPTION)
        );
        assert_eq!(rsa_spki_modulus_bits(&pkcs1), None);
        assert_eq!(rsa_spki_modulus_bits(b"\x30\x00"), None);
    }

    proptest! {
        #[test]
        fn tlv_round_trips(tag in 0u8..0x1f, content in proptest::collection::vec(any::<u8>(), 0..70000)) {
            let encoded = tlv(tag, &content);
            let (t, c, rest) = read_tlv(&encoded).unwrap();
            prop_assert_eq!(t, tag);
            prop_assert_eq!(c, &content[..]);
            prop_assert!(rest.is_empty());
        }

        #[test]
        fn size_walks_never_panic(input in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = rsa_spki_modulus_bits(&input);
            let _ = rsa_private_modulus_bits(&input);
            let _ = certificate_spki(&input);
        }

        #[test]
        fn reader_never_panics(input in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = read_tlv(&input);
        }
    }
}
