//! Certificates and public keys: built with rcgen, read with x509-parser.

use keysmith_crypto::der::{self, oid_to_dotted};
use keysmith_crypto::dn::{Attribute, AttributeValue, Rdn};
use keysmith_crypto::{
    CertificateFields, CertificateParams, Error, PublicKeyComponents, PublicKeyInfo,
};
use keysmith_model::{Algorithm, Curve, KeyType, SecretBytes};
use rcgen::{DistinguishedName, DnType, SerialNumber};
use time::OffsetDateTime;
use x509_parser::prelude::{FromDer, X509Certificate, X509Name};
use x509_parser::x509::SubjectPublicKeyInfo;

use crate::keys::{GeneratedPair, validate_public_key};

const OID_RSA: &str = "1.2.840.113549.1.1.1";
const OID_EC: &str = "1.2.840.10045.2.1";
const OID_ED25519: &str = "1.3.101.112";
const OID_P256: &str = "1.2.840.10045.3.1.7";
const OID_P384: &str = "1.3.132.0.34";
const OID_P521: &str = "1.3.132.0.35";

/// rcgen's algorithm for a key's certificate (RSA-PSS keys get a PKCS#1 v1.5 signature, as
/// FusionAuth's do).
fn certificate_algorithm(
    algorithm: Algorithm,
) -> Result<&'static rcgen::SignatureAlgorithm, Error> {
    Ok(match algorithm {
        Algorithm::RS256 | Algorithm::PS256 => &rcgen::PKCS_RSA_SHA256,
        Algorithm::RS384 | Algorithm::PS384 => &rcgen::PKCS_RSA_SHA384,
        Algorithm::RS512 | Algorithm::PS512 => &rcgen::PKCS_RSA_SHA512,
        Algorithm::ES256 => &rcgen::PKCS_ECDSA_P256_SHA256,
        Algorithm::ES384 => &rcgen::PKCS_ECDSA_P384_SHA384,
        Algorithm::ES512 => &rcgen::PKCS_ECDSA_P521_SHA512,
        Algorithm::Ed25519 => &rcgen::PKCS_ED25519,
        Algorithm::MlDsa44 => &rcgen::PKCS_ML_DSA_44,
        Algorithm::MlDsa65 => &rcgen::PKCS_ML_DSA_65,
        Algorithm::MlDsa87 => &rcgen::PKCS_ML_DSA_87,
        Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => {
            return Err(Error::rejected("HMAC keys have no certificate"));
        }
    })
}

/// A self-signed certificate for a stored private key (PKCS#8).
pub(crate) fn self_signed(
    algorithm: Algorithm,
    private_key: &SecretBytes,
    params: &CertificateParams<'_>,
) -> Result<Vec<u8>, Error> {
    let signature = certificate_algorithm(algorithm)?;
    if algorithm.is_ml_dsa() {
        // rcgen reads no ML-DSA PKCS#8 (it panics on one): sign with aws-lc's pair instead.
        let (pair, public) = crate::keys::ml_dsa_pair_of(algorithm, private_key.expose())?;
        return self_signed_by_pair(algorithm, &pair, &public, params);
    }
    let pkcs8 = rustls_pki_types::PrivatePkcs8KeyDer::from(private_key.expose());
    let key_pair = rcgen::KeyPair::from_pkcs8_der_and_sign_algo(&pkcs8, signature)
        .map_err(|_| Error::Mismatch(format!("the private key does not fit {algorithm}")))?;
    build(params, &key_pair)
}

/// A self-signed certificate for a key pair just made, signed with the pair itself.
pub(crate) fn self_signed_by_pair(
    algorithm: Algorithm,
    pair: &GeneratedPair,
    public: &PublicKeyInfo,
    params: &CertificateParams<'_>,
) -> Result<Vec<u8>, Error> {
    let (_, bits) = der::spki_parts(&public.spki_der)
        .ok_or_else(|| Error::malformed("not a SubjectPublicKeyInfo"))?;
    // The BIT STRING's content after its unused-bits byte (always 0 for these keys).
    let key_bytes = bits
        .split_first()
        .map(|(_, rest)| rest)
        .ok_or_else(|| Error::malformed("empty public key"))?;
    let signer = PairSigner {
        algorithm,
        signature: certificate_algorithm(algorithm)?,
        pair,
        key_bytes,
    };
    build(params, &signer)
}

fn build(params: &CertificateParams<'_>, key: &impl rcgen::SigningKey) -> Result<Vec<u8>, Error> {
    let mut cert = rcgen::CertificateParams::default();
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, params.common_name);
    cert.distinguished_name = name;
    cert.serial_number = Some(SerialNumber::from_slice(params.serial));
    cert.not_before = unix_to_datetime(params.not_before)?;
    cert.not_after = unix_to_datetime(params.not_after)?;
    let built = cert.self_signed(key).map_err(Error::backend)?;
    Ok(built.der().to_vec())
}

/// rcgen's view of a [`GeneratedPair`]: its public key bytes and its signatures.
struct PairSigner<'a> {
    algorithm: Algorithm,
    signature: &'static rcgen::SignatureAlgorithm,
    pair: &'a GeneratedPair,
    key_bytes: &'a [u8],
}

impl rcgen::PublicKeyData for PairSigner<'_> {
    fn der_bytes(&self) -> &[u8] {
        self.key_bytes
    }

    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        self.signature
    }
}

impl rcgen::SigningKey for PairSigner<'_> {
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        self.pair
            .sign_for_certificate(self.algorithm, message)
            .map_err(|_| rcgen::Error::RingUnspecified)
    }
}

/// The fields of a certificate `self_signed` built from `params` for `public_key`.
pub(crate) fn fields_from_params(
    der: Vec<u8>,
    params: &CertificateParams<'_>,
    public_key: PublicKeyInfo,
) -> CertificateFields {
    let name = vec![vec![Attribute {
        oid: "2.5.4.3".to_owned(),
        value: AttributeValue::Text(params.common_name.to_owned()),
    }]];
    CertificateFields {
        der,
        subject: name.clone(),
        issuer: name,
        serial: der::strip_leading_zeros(params.serial).to_vec(),
        not_before: params.not_before,
        not_after: params.not_after,
        public_key,
    }
}

fn unix_to_datetime(unix: i64) -> Result<OffsetDateTime, Error> {
    OffsetDateTime::from_unix_timestamp(unix).map_err(|_| Error::rejected("validity out of range"))
}

pub(crate) fn parse_certificate(der: &[u8]) -> Result<CertificateFields, Error> {
    let (rest, cert) =
        X509Certificate::from_der(der).map_err(|_| Error::malformed("not an X.509 certificate"))?;
    if !rest.is_empty() {
        return Err(Error::malformed("trailing data after the certificate"));
    }
    let validity = cert.validity();
    Ok(CertificateFields {
        der: der.to_vec(),
        subject: rdns(cert.subject()),
        issuer: rdns(cert.issuer()),
        serial: der::integer_magnitude(cert.raw_serial()),
        not_before: validity.not_before.timestamp(),
        not_after: validity.not_after.timestamp(),
        public_key: parse_public_key(cert.public_key().raw)?,
    })
}

fn rdns(name: &X509Name<'_>) -> Vec<Rdn> {
    name.iter()
        .map(|rdn| {
            rdn.iter()
                .map(|atv| Attribute {
                    oid: oid_to_dotted(atv.attr_type().as_bytes()).unwrap_or_default(),
                    value: match atv.as_str() {
                        Ok(text) => AttributeValue::Text(text.to_owned()),
                        Err(_) => {
                            let value = atv.attr_value();
                            AttributeValue::Der(der::tlv(value.header.tag().0 as u8, value.data))
                        }
                    },
                })
                .collect()
        })
        .collect()
}

pub(crate) fn parse_public_key(spki_der: &[u8]) -> Result<PublicKeyInfo, Error> {
    let bad = || Error::malformed("not a supported public key");
    if let Some(info) = keysmith_crypto::ml_dsa::public_key(spki_der) {
        validate_public_key(spki_der, info.key_type, None, 0)?;
        return Ok(info);
    }
    let (rest, spki) = SubjectPublicKeyInfo::from_der(spki_der).map_err(|_| bad())?;
    if !rest.is_empty() {
        return Err(Error::malformed("trailing data after the public key"));
    }
    let algorithm = oid_to_dotted(spki.algorithm.algorithm.as_bytes()).ok_or_else(bad)?;
    let key_bytes: &[u8] = spki.subject_public_key.data.as_ref();
    let (key_type, curve, components, length) = match algorithm.as_str() {
        OID_RSA => {
            let (n, e) = der::rsa_public_components(key_bytes)?;
            let bits = der::unsigned_bits(&n);
            (KeyType::Rsa, None, PublicKeyComponents::Rsa { n, e }, bits)
        }
        OID_EC => {
            let params = spki.algorithm.parameters.as_ref().ok_or_else(bad)?;
            let curve_oid = params.as_oid().map_err(|_| bad())?;
            let curve = match oid_to_dotted(curve_oid.as_bytes()).as_deref() {
                Some(OID_P256) => Curve::P256,
                Some(OID_P384) => Curve::P384,
                Some(OID_P521) => Curve::P521,
                _ => {
                    return Err(Error::rejected(
                        "unsupported elliptic curve: use P-256, P-384 or P-521",
                    ));
                }
            };
            let len = curve.coordinate_len();
            let point = key_bytes;
            if point.first() != Some(&0x04) || point.len() != 1 + 2 * len {
                return Err(Error::rejected(
                    "EC public keys must be uncompressed points",
                ));
            }
            let components = PublicKeyComponents::Ec {
                curve,
                x: point[1..=len].to_vec(),
                y: point[1 + len..].to_vec(),
            };
            (KeyType::Ec, Some(curve), components, curve.key_length())
        }
        OID_ED25519 => {
            if key_bytes.len() != 32 {
                return Err(bad());
            }
            let components = PublicKeyComponents::Okp {
                curve: Curve::Ed25519,
                x: key_bytes.to_vec(),
            };
            (
                KeyType::Okp,
                Some(Curve::Ed25519),
                components,
                Curve::Ed25519.key_length(),
            )
        }
        _ => {
            return Err(Error::rejected(
                "unsupported key type: use RSA, EC (P-256/384/521), Ed25519 or ML-DSA",
            ));
        }
    };
    validate_public_key(spki_der, key_type, curve, length)?;
    Ok(PublicKeyInfo {
        key_type,
        length,
        curve,
        spki_der: spki_der.to_vec(),
        components,
    })
}

pub(crate) fn rsa_private_modulus_bits(der: &[u8]) -> Option<u32> {
    der::rsa_private_modulus_bits(der)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by the `import_key` fuzz target: a certificate with a negative serial number (a
    /// test fixture's Ed25519 certificate with one bit of the serial changed). The serial was
    /// the raw two's-complement bytes here and the magnitude in the OpenSSL backend, so the two
    /// backends reported different `serialNumber`s for the same certificate.
    #[test]
    fn a_negative_serial_number_reads_as_its_magnitude() {
        let pem = concat!(
            "-----BEGIN CERTIFICATE-----\n",
            "MIIBczCCASWgAwIBAgIUnFE+azqtsA8SA6CWtbO773/kuSMwBQYDK2VwMC8xFDAS\n",
            "BgNVBAMMC2NsaS5leGFtcGxlMRcwFQYDVQQKDA5LZXlzbWl0aCBUZXN0czAeFw0y\n",
            "NjExMzAxNDIzMDlaFw0yNjEyMzAxNDIzMDlaMC8xFDASBgNVBAMMC2NsaS5leGFt\n",
            "cGxlMRcwFQYDVQQKDA5LZXlzbWl0aCBUZXN0czAqMAUGAytlcAMhAGNGry1Aaeqk\n",
            "EJFvTsx0mCe3d2lPgc3uoTsRo+HXHmw8o1MwUTAdBgNVHQ4EFg+Uh9pbgQOM6JPs\n",
            "Nv1PbIFG19pbkOEwHwYDVR0jBBgwFobhUA7gpOQM6JPsNv1PbIFG19pbkOEwDwYD\n",
            "VR0TAQH/BAUwAwEB/zAFBgMrZXADQQAHyG0bQBvri1BtGM+JL3sGBRrLO3suiKq2\n",
            "LbHaZJrWIGgpidKfm4XyhUIQeTVedEvoSmlt4AuWjc+6qkhb+7cP\n",
            "-----END CERTIFICATE-----"
        );
        let block = keysmith_crypto::pem::decode(pem).unwrap();
        let fields = parse_certificate(&block.contents).unwrap();
        assert_eq!(
            keysmith_crypto::fingerprint::colon_hex(&fields.serial),
            "63:AE:C1:94:C5:52:4F:F0:ED:FC:5F:69:4A:4C:44:10:80:1B:46:DD"
        );
    }

    /// A certificate signed by the key pair just made reads back with that key's public key and
    /// verifies under it, for every certificate algorithm; the public key read from the SPKI's
    /// structure alone is the one the untrusted-input parser reads.
    #[test]
    fn a_pair_signed_certificate_verifies_under_its_own_key() {
        let backend = crate::AwsLcBackend::new();
        let cases = [
            (Algorithm::RS256, Some(2048)),
            (Algorithm::PS384, Some(2048)),
            (Algorithm::RS512, Some(2048)),
            (Algorithm::ES256, None),
            (Algorithm::ES384, None),
            (Algorithm::ES512, None),
            (Algorithm::Ed25519, None),
            (Algorithm::MlDsa44, None),
            (Algorithm::MlDsa65, None),
            (Algorithm::MlDsa87, None),
        ];
        for (algorithm, length) in cases {
            let (key, pair) = crate::keys::generate_pair(&backend, algorithm, length).unwrap();
            let public = key.public.clone().unwrap();
            assert_eq!(
                parse_public_key(&public.spki_der).unwrap(),
                public,
                "{algorithm}"
            );
            let params = CertificateParams {
                common_name: "pair.example",
                serial: &[0x80; 16],
                not_before: 1_700_000_000,
                not_after: 1_800_000_000,
            };
            let der = self_signed_by_pair(algorithm, &pair.unwrap(), &public, &params).unwrap();
            let fields = parse_certificate(&der).unwrap();
            assert_eq!(fields.public_key, public, "{algorithm}");
            let (_, cert) = X509Certificate::from_der(&der).unwrap();
            use aws_lc_rs::signature as s;
            let verification: &dyn s::VerificationAlgorithm = match algorithm {
                Algorithm::RS256 => &s::RSA_PKCS1_2048_8192_SHA256,
                Algorithm::PS384 => &s::RSA_PKCS1_2048_8192_SHA384,
                Algorithm::RS512 => &s::RSA_PKCS1_2048_8192_SHA512,
                Algorithm::ES256 => &s::ECDSA_P256_SHA256_ASN1,
                Algorithm::ES384 => &s::ECDSA_P384_SHA384_ASN1,
                Algorithm::ES512 => &s::ECDSA_P521_SHA512_ASN1,
                Algorithm::MlDsa44 => &s::ML_DSA_44,
                Algorithm::MlDsa65 => &s::ML_DSA_65,
                Algorithm::MlDsa87 => &s::ML_DSA_87,
                _ => &s::ED25519,
            };
            let (_, key_bits) = der::spki_parts(&public.spki_der).unwrap();
            s::UnparsedPublicKey::new(verification, &key_bits[1..])
                .verify(cert.tbs_certificate.as_ref(), &cert.signature_value.data)
                .unwrap_or_else(|e| panic!("{algorithm}: {e:?}"));
        }
    }
}
