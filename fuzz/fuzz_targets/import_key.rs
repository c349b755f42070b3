//! Key import: the text of an import request's key fields, through both backends.
//!
//! Input: UTF-8, NUL-separated fields `certificate \0 publicKey \0 privateKey \0 secret \0
//! algorithm \0 type` (an empty field is absent). It goes where `Keys::import` sends
//! it: the algorithm and type through the model's validators, the material through
//! `keysmith_crypto::import::import` (PEM, bare base64 DER, every PEM label, the size checks
//! and the backend's DER parsers), then the steps an accepted import takes before it is
//! stored: certificate information, the kid thumbprint, the PEM forms.
//!
//! Checked besides "no panic":
//! - what an import stores reads back: the public key PEM and the certificate PEM decode to
//!   the same key (tokens are verified from them later), and the private key or secret loads
//!   as a signing key for the algorithm;
//! - when both backends accept the input, they describe the same key and certificate.

#![no_main]

use keysmith_crypto::import::{ImportInput, ImportedMaterial};
use keysmith_crypto::{KeyBackend, certificate, import, jwk};
use keysmith_fuzz::{backends, nul_separated_fields};
use keysmith_model::{CertificateInformation, Errors, validate};
use libfuzzer_sys::fuzz_target;

/// What an accepted import stores, to compare across backends.
#[derive(Debug, PartialEq)]
struct Accepted {
    algorithm: keysmith_model::Algorithm,
    key_type: keysmith_model::KeyType,
    length: Option<u32>,
    components: Option<keysmith_crypto::PublicKeyComponents>,
    certificate: Option<CertificateInformation>,
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let [
        certificate,
        public_key,
        private_key,
        secret,
        algorithm,
        key_type,
    ] = nul_separated_fields::<6>(text);
    let mut errors = Errors::new();
    let input = ImportInput {
        algorithm: validate::algorithm_field(&mut errors, "key.algorithm", algorithm, false),
        key_type: validate::key_type_field(&mut errors, "key.type", key_type),
        certificate,
        public_key,
        private_key,
        secret,
    };
    let [aws_lc, openssl] = backends().map(|(name, backend)| {
        import::import(&*backend, &input)
            .ok()
            .map(|material| stored_reads_back(name, &*backend, material))
    });
    if let (Some(mut a), Some(mut o)) = (aws_lc, openssl) {
        if let (Some(a), Some(o)) = (&mut a.certificate, &mut o.certificate) {
            skip_non_ascii_dns(a, o);
        }
        assert_eq!(a, o, "the backends accept the input as different keys");
    }
});

/// A known divergence, left out of the comparison (docs/fuzzing.md): the backends print the
/// same DN for printable ASCII names only (what `keysmith_crypto::dn` promises). A value of a
/// non-string ASN.1 type is `#hex` (RFC 4514) from the aws-lc backend and text from the OpenSSL
/// backend, whose safe API does not give the value's tag; bytes beyond ASCII in a string type
/// that allows none (an invalid PrintableString) are UTF-8 to one and Latin-1 to the other.
/// Such a DN is not compared.
fn skip_non_ascii_dns(a: &mut CertificateInformation, o: &mut CertificateInformation) {
    let outside = |dn: &str| !dn.is_ascii() || dn.contains("=#");
    for (a, o) in [
        (&mut a.subject, &mut o.subject),
        (&mut a.issuer, &mut o.issuer),
    ] {
        if outside(a) || outside(o) {
            a.clear();
            o.clear();
        }
    }
}

/// Takes the steps `Keys::import` takes after the import rules, and checks that what it
/// would store reads back.
fn stored_reads_back(name: &str, backend: &dyn KeyBackend, material: ImportedMaterial) -> Accepted {
    let mut information = None;
    if let Some(public) = &material.public_key {
        let _kid = jwk::thumbprint_input(&public.components);
        let again = import::decode_public_key(backend, &public.to_pem())
            .unwrap_or_else(|e| panic!("{name}: the stored public key does not decode: {e}"));
        assert_eq!(
            again.components, public.components,
            "{name}: public key PEM round trip"
        );
        if let Some(fields) = &material.certificate {
            information = Some(
                certificate::information(backend, fields)
                    .unwrap_or_else(|e| panic!("{name}: certificate information: {e}")),
            );
            let again = import::decode_certificate(backend, &fields.to_pem())
                .unwrap_or_else(|e| panic!("{name}: the stored certificate does not decode: {e}"));
            assert_eq!(
                again.public_key.components, public.components,
                "{name}: certificate PEM round trip"
            );
        }
    }
    if let Some(private) = &material.private
        && let Err(e) = backend.signing_key(material.algorithm, private)
    {
        panic!(
            "{name}: an accepted {} key cannot sign: {e}",
            material.algorithm
        );
    }
    Accepted {
        algorithm: material.algorithm,
        key_type: material.key_type,
        length: material.length,
        components: material.public_key.map(|p| p.components),
        certificate: information,
    }
}
