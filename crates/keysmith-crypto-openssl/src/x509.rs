//! Certificates on OpenSSL.

use keysmith_crypto::der::{self, oid_to_dotted};
use keysmith_crypto::dn::{Attribute, AttributeValue, Rdn};
use keysmith_crypto::{CertificateFields, CertificateParams, Error, PublicKeyInfo};
use keysmith_model::{Algorithm, KeyType};
use openssl::asn1::{Asn1Integer, Asn1Object, Asn1ObjectRef, Asn1Time, Asn1TimeRef};
use openssl::bn::BigNum;
use openssl::nid::Nid;
use openssl::pkey::{PKeyRef, Private};
use openssl::x509::{X509, X509Builder, X509NameBuilder, X509NameRef, X509Ref};

use crate::keys::{certificate_digest, public_key_info_with_spki};
use crate::ossl;

pub(crate) fn self_signed(
    algorithm: Algorithm,
    pkey: &PKeyRef<Private>,
    params: &CertificateParams<'_>,
) -> Result<X509, Error> {
    if algorithm.key_type() == KeyType::Hmac {
        return Err(Error::rejected("HMAC keys have no certificate"));
    }
    let mut name = X509NameBuilder::new().map_err(ossl)?;
    name.append_entry_by_nid(Nid::COMMONNAME, params.common_name)
        .map_err(|_| Error::rejected("the issuer cannot be used as a common name"))?;
    let name = name.build();
    let serial: Asn1Integer = BigNum::from_slice(params.serial)
        .and_then(|bn| bn.to_asn1_integer())
        .map_err(ossl)?;
    let mut builder = X509Builder::new().map_err(ossl)?;
    builder.set_version(2).map_err(ossl)?; // X.509 v3
    builder.set_serial_number(&serial).map_err(ossl)?;
    builder.set_subject_name(&name).map_err(ossl)?;
    builder.set_issuer_name(&name).map_err(ossl)?;
    let (not_before, not_after) = (asn1_time(params.not_before)?, asn1_time(params.not_after)?);
    builder.set_not_before(&not_before).map_err(ossl)?;
    builder.set_not_after(&not_after).map_err(ossl)?;
    builder.set_pubkey(pkey).map_err(ossl)?;
    builder
        .sign(pkey, certificate_digest(algorithm))
        .map_err(ossl)?;
    Ok(builder.build())
}

fn asn1_time(unix: i64) -> Result<Asn1Time, Error> {
    Asn1Time::from_unix(unix).map_err(|_| Error::rejected("validity out of range"))
}

fn unix_seconds(time: &Asn1TimeRef) -> Result<i64, Error> {
    let epoch = Asn1Time::from_unix(0).map_err(ossl)?;
    let diff = epoch.diff(time).map_err(ossl)?;
    Ok(i64::from(diff.days) * 86_400 + i64::from(diff.secs))
}

pub(crate) fn parse_certificate(der: &[u8]) -> Result<CertificateFields, Error> {
    let cert = X509::from_der(der).map_err(|_| Error::malformed("not an X.509 certificate"))?;
    // d2i ignores trailing bytes; a certificate with any is not the DER we were given.
    if cert.to_der().map_err(ossl)? != der {
        return Err(Error::malformed(
            "trailing or non-canonical data in the certificate",
        ));
    }
    let spki = der::certificate_spki(der)
        .ok_or_else(|| Error::malformed("no public key in the certificate"))?;
    if !crate::ml_dsa::AVAILABLE && keysmith_crypto::ml_dsa::public_key(spki).is_some() {
        return Err(crate::ml_dsa::unsupported());
    }
    let pkey = cert
        .public_key()
        .map_err(|_| Error::malformed("unsupported certificate key"))?;
    let public = public_key_info_with_spki(&pkey, spki.to_vec())?;
    fields(&cert, der.to_vec(), public)
}

/// The fields of a certificate whose DER and public key are already known.
pub(crate) fn fields(
    cert: &X509Ref,
    der: Vec<u8>,
    public_key: PublicKeyInfo,
) -> Result<CertificateFields, Error> {
    let serial = cert.serial_number().to_bn().map_err(ossl)?.to_vec();
    Ok(CertificateFields {
        der,
        subject: rdns(cert.subject_name()),
        issuer: rdns(cert.issuer_name()),
        serial: der::strip_leading_zeros(&serial).to_vec(),
        not_before: unix_seconds(cert.not_before())?,
        not_after: unix_seconds(cert.not_after())?,
        public_key,
    })
}

/// OpenSSL keeps a name as a flat list with a "set" index per entry; entries sharing it form
/// one multi-valued RDN.
fn rdns(name: &X509NameRef) -> Vec<Rdn> {
    let mut out: Vec<Rdn> = Vec::new();
    let mut last_set = None;
    for entry in name.entries() {
        let attribute =
            Attribute {
                oid: dotted_oid(entry.object()),
                // The crate converts every string type to UTF-8; bytes it cannot convert are shown
                // lossily rather than as a DER encoding it does not give us.
                value: AttributeValue::Text(entry.data().to_string().unwrap_or_else(|_| {
                    String::from_utf8_lossy(entry.data().as_slice()).into_owned()
                })),
            };
        let set = entry_set(entry);
        match out.last_mut() {
            Some(rdn) if last_set.is_some() && last_set == set => rdn.push(attribute),
            _ => out.push(vec![attribute]),
        }
        last_set = set;
    }
    out
}

/// The dotted OID of an attribute type. The crate exposes the OID bytes only on an owned
/// `Asn1Object`, so the object is re-created from its text form (a name or dotted OID).
fn dotted_oid(object: &Asn1ObjectRef) -> String {
    Asn1Object::from_str(&object.to_string())
        .ok()
        .and_then(|owned| oid_to_dotted(owned.as_slice()))
        .unwrap_or_default()
}

/// The RDN index of a name entry. The openssl crate does not expose X509_NAME_ENTRY_set, so
/// every entry is its own RDN; multi-valued RDNs are vanishingly rare in key certificates.
fn entry_set(_entry: &openssl::x509::X509NameEntryRef) -> Option<i32> {
    None
}
