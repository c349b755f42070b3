//! The import rules, the same for every backend: which inputs are accepted, how the algorithm
//! is inferred, which sizes are allowed, and that the pieces of a key belong together.
//!
//! Errors come back in FusionAuth's shape with the request's field paths (`key.privateKey`,
//! ...), and never quote the input.

use keysmith_model::{Algorithm, Errors, KeyType, PrivateMaterial, Reason, SecretBytes, redacted};
use keysmith_model::{RSA_MAX_BITS, RSA_MIN_PRIVATE_BITS, RSA_MIN_PUBLIC_BITS};

use crate::backend::{
    CertificateFields, KeyBackend, PrivateKeyFormat, PrivateKeyInfo, PublicKeyInfo,
};
use crate::{Error, der, pem};

/// The largest PEM, certificate or secret text this parser accepts, in bytes: a hard cap. The
/// server's configurable limit (`max_pem_bytes`, 32 KiB by default) is checked before; an
/// RSA-8192 private key in PEM is about 6.3 KB.
pub const MAX_MATERIAL_LEN: usize = 256 * 1024;

/// The key material of an import request, as text from the JSON body. `Debug` never shows the
/// private key or secret.
#[derive(Clone, Copy, Default)]
pub struct ImportInput<'a> {
    /// The declared algorithm, if any (inferred otherwise).
    pub algorithm: Option<Algorithm>,
    /// The declared key type, if any.
    pub key_type: Option<KeyType>,
    /// A certificate: PEM, or bare base64 DER.
    pub certificate: Option<&'a str>,
    /// A public key: SPKI PEM (`PUBLIC KEY`) or PKCS#1 PEM (`RSA PUBLIC KEY`).
    pub public_key: Option<&'a str>,
    /// A private key: PKCS#8, PKCS#1 or SEC1 PEM, or bare base64 PKCS#8 DER.
    pub private_key: Option<&'a str>,
    /// An HMAC secret. Its UTF-8 bytes are the HMAC key.
    pub secret: Option<&'a str>,
}

impl std::fmt::Debug for ImportInput<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImportInput")
            .field("algorithm", &self.algorithm)
            .field("key_type", &self.key_type)
            .field("certificate", &self.certificate.map(str::len))
            .field("public_key", &self.public_key.map(str::len))
            .field("private_key", &redacted(&self.private_key))
            .field("secret", &redacted(&self.secret))
            .finish()
    }
}

/// Key material that passed every rule.
#[derive(Debug)]
pub struct ImportedMaterial {
    /// The algorithm the key is bound to (declared or inferred).
    pub algorithm: Algorithm,
    /// The key type.
    pub key_type: KeyType,
    /// RSA bits or curve length; `None` for HMAC.
    pub length: Option<u32>,
    /// The public key; `None` for HMAC.
    pub public_key: Option<PublicKeyInfo>,
    /// The certificate, if one was given.
    pub certificate: Option<CertificateFields>,
    /// The private key (PKCS#8 v1) or HMAC secret, if one was given.
    pub private: Option<PrivateMaterial>,
}

const F_ALGORITHM: &str = "key.algorithm";
const F_TYPE: &str = "key.type";
const F_CERTIFICATE: &str = "key.certificate";
const F_PUBLIC_KEY: &str = "key.publicKey";
const F_PRIVATE_KEY: &str = "key.privateKey";
const F_SECRET: &str = "key.secret";

/// Applies the import rules. Every problem found is reported at once.
pub fn import(
    backend: &dyn KeyBackend,
    input: &ImportInput<'_>,
) -> Result<ImportedMaterial, Errors> {
    let present = |v: Option<&str>| v.is_some_and(|t| !t.trim().is_empty());
    let wants_hmac = input.key_type == Some(KeyType::Hmac)
        || input
            .algorithm
            .is_some_and(|a| a.key_type() == KeyType::Hmac)
        || (present(input.secret)
            && !present(input.certificate)
            && !present(input.public_key)
            && !present(input.private_key));
    if wants_hmac {
        import_hmac(input)
    } else {
        import_asymmetric(backend, input)
    }
}

fn import_hmac(input: &ImportInput<'_>) -> Result<ImportedMaterial, Errors> {
    let mut errors = Errors::new();
    for (field, value) in [
        (F_CERTIFICATE, input.certificate),
        (F_PUBLIC_KEY, input.public_key),
        (F_PRIVATE_KEY, input.private_key),
    ] {
        if value.is_some_and(|t| !t.trim().is_empty()) {
            errors.add_field(field, Reason::NotAllowed, "HMAC keys take only a secret.");
        }
    }
    if input.key_type.is_some_and(|t| t != KeyType::Hmac) {
        errors.add_field(
            F_TYPE,
            Reason::Mismatch,
            "An HMAC algorithm needs the HMAC key type.",
        );
    }
    let algorithm = input.algorithm.unwrap_or(Algorithm::HS256);
    if algorithm.key_type() != KeyType::Hmac {
        errors.add_field(
            F_ALGORITHM,
            Reason::Mismatch,
            "HMAC keys take HS256, HS384 or HS512.",
        );
    }
    let secret = input.secret.unwrap_or_default();
    let min = algorithm.hmac_secret_len().unwrap_or(32);
    if secret.is_empty() {
        errors.add_field(
            F_SECRET,
            Reason::Blank,
            "A secret is required to import an HMAC key.",
        );
    } else if secret.len() < min {
        errors.add_field(
            F_SECRET,
            Reason::Invalid,
            format!("The secret must be at least {min} bytes for {algorithm}."),
        );
    } else if secret.len() > MAX_MATERIAL_LEN {
        errors.add_field(
            F_SECRET,
            Reason::TooLong,
            format!("The secret is longer than {MAX_MATERIAL_LEN} bytes."),
        );
    }
    errors.into_result(())?;
    Ok(ImportedMaterial {
        algorithm,
        key_type: KeyType::Hmac,
        length: None,
        public_key: None,
        certificate: None,
        private: Some(PrivateMaterial::HmacSecret(SecretBytes::new(
            secret.as_bytes().to_vec(),
        ))),
    })
}

fn import_asymmetric(
    backend: &dyn KeyBackend,
    input: &ImportInput<'_>,
) -> Result<ImportedMaterial, Errors> {
    let mut errors = Errors::new();
    if input.secret.is_some_and(|t| !t.trim().is_empty()) {
        errors.add_field(
            F_SECRET,
            Reason::NotAllowed,
            "Only HMAC keys take a secret.",
        );
    }
    let certificate = parse_field(&mut errors, F_CERTIFICATE, input.certificate, |text| {
        decode_certificate(backend, text)
    });
    let public = parse_field(&mut errors, F_PUBLIC_KEY, input.public_key, |text| {
        decode_public_key(backend, text)
    });
    let private = parse_field(&mut errors, F_PRIVATE_KEY, input.private_key, |text| {
        decode_private_key(backend, text)
    });
    if input.certificate.is_none() && input.public_key.is_none() && input.private_key.is_none() {
        errors.add_field(
            F_PUBLIC_KEY,
            Reason::Blank,
            "Give a certificate, a public key or a private key (or a secret for an HMAC key).",
        );
    }
    if !errors.is_empty() {
        return Err(errors);
    }

    // Every piece given must describe the same key.
    let from_certificate = certificate.as_ref().map(|c| &c.public_key);
    if let (Some(cert_key), Some(public)) = (from_certificate, &public)
        && cert_key.components != public.components
    {
        errors.add_field(
            F_PUBLIC_KEY,
            Reason::Mismatch,
            "The public key is not the certificate's key.",
        );
    }
    if let Some(private) = &private {
        let given = from_certificate.or(public.as_ref());
        if given.is_some_and(|g| g.components != private.public.components) {
            errors.add_field(
                F_PRIVATE_KEY,
                Reason::Mismatch,
                "The private key does not belong to the given public key or certificate.",
            );
        }
    }
    let effective = from_certificate
        .or(public.as_ref())
        .or(private.as_ref().map(|p| &p.public))
        .cloned();
    let Some(effective) = effective else {
        return Err(errors);
    };

    if let Some(declared) = input.key_type
        && declared != effective.key_type
    {
        errors.add_field(
            F_TYPE,
            Reason::Mismatch,
            format!(
                "The key material is {}, not {declared}.",
                effective.key_type
            ),
        );
    }
    // An ML-DSA key names its own algorithm; others fit by type and curve.
    let intrinsic = match &effective.components {
        crate::PublicKeyComponents::Akp { algorithm, .. } => Some(*algorithm),
        _ => None,
    };
    let algorithm = match input.algorithm {
        Some(alg)
            if alg.key_type() == effective.key_type
                && intrinsic.is_none_or(|own| own == alg)
                && (alg.curve().is_none() || alg.curve() == effective.curve) =>
        {
            Some(alg)
        }
        Some(alg) => {
            errors.add_field(
                F_ALGORITHM,
                Reason::Mismatch,
                format!("{alg} cannot be used with this {} key.", effective.key_type),
            );
            None
        }
        None => intrinsic.or_else(|| Algorithm::default_for(effective.key_type, effective.curve)),
    };
    if effective.key_type == KeyType::Rsa {
        check_rsa_size(
            &mut errors,
            &effective,
            private.is_some(),
            backend.is_fips(),
        );
    }
    errors.into_result(())?;
    let algorithm = algorithm.ok_or_else(|| {
        Errors::field(F_ALGORITHM, Reason::Invalid, "No algorithm fits this key.")
    })?;
    Ok(ImportedMaterial {
        algorithm,
        key_type: effective.key_type,
        length: Some(effective.length),
        public_key: Some(effective),
        certificate,
        private: private.map(|p| PrivateMaterial::Pkcs8(p.pkcs8_der)),
    })
}

fn check_rsa_size(errors: &mut Errors, key: &PublicKeyInfo, has_private: bool, fips: bool) {
    let bits = key.length;
    if has_private && bits < RSA_MIN_PRIVATE_BITS {
        errors.add_field(
            F_PRIVATE_KEY,
            Reason::Invalid,
            format!("RSA private keys must be at least {RSA_MIN_PRIVATE_BITS} bits; this one has {bits}. Smaller keys are accepted only as verify-only public keys or certificates."),
        );
    } else if fips && bits < RSA_MIN_PRIVATE_BITS {
        // SP 800-131A: the FIPS module verifies no RSA signature under 2048 bits (the legacy
        // verifiers for 1024-2047-bit keys are outside it).
        errors.add_field(
            F_PUBLIC_KEY,
            Reason::Invalid,
            format!("In FIPS mode RSA keys must be at least {RSA_MIN_PRIVATE_BITS} bits, to verify as well as to sign; this one has {bits}."),
        );
    } else if bits < RSA_MIN_PUBLIC_BITS {
        errors.add_field(
            F_PUBLIC_KEY,
            Reason::Invalid,
            format!("RSA keys must be at least {RSA_MIN_PUBLIC_BITS} bits; this one has {bits}."),
        );
    } else if bits > RSA_MAX_BITS {
        errors.add_field(
            F_PUBLIC_KEY,
            Reason::Invalid,
            format!("RSA keys may be at most {RSA_MAX_BITS} bits; this one has {bits}."),
        );
    }
}

fn parse_field<T>(
    errors: &mut Errors,
    field: &str,
    value: Option<&str>,
    parse: impl FnOnce(&str) -> Result<T, Error>,
) -> Option<T> {
    let text = value?;
    if text.trim().is_empty() {
        errors.add_field(field, Reason::Blank, format!("{field} is empty."));
        return None;
    }
    if text.len() > MAX_MATERIAL_LEN {
        errors.add_field(
            field,
            Reason::TooLong,
            format!("{field} is longer than {MAX_MATERIAL_LEN} bytes."),
        );
        return None;
    }
    match parse(text) {
        Ok(v) => Some(v),
        Err(err) => {
            let reason = match err {
                Error::Mismatch(_) => Reason::Mismatch,
                Error::TooLarge(_) => Reason::TooLong,
                _ => Reason::Invalid,
            };
            errors.add_field(field, reason, describe(field, &err));
            None
        }
    }
}

/// A message for people about a parse failure. Backend errors are reduced to "could not be
/// parsed" so that no library text (which might echo input) reaches a response.
fn describe(field: &str, err: &Error) -> String {
    match err {
        Error::Malformed(m) | Error::Rejected(m) | Error::Mismatch(m) => {
            format!("{field} is not acceptable: {m}.")
        }
        Error::TooLarge(m) => format!("{field} is too large: {m}."),
        Error::Unsupported { backend, what } => {
            format!("{field}: the {backend} backend does not support {what}.")
        }
        _ => format!("{field} could not be parsed."),
    }
}

/// The longest non-RSA SubjectPublicKeyInfo accepted, in bytes. The largest supported one,
/// ML-DSA-87, is 2,614 bytes (P-521 with an uncompressed point is 158).
pub const MAX_NON_RSA_SPKI_LEN: usize = 4096;
/// The longest non-RSA private key structure accepted, in bytes (PKCS#8 or SEC1). The largest
/// supported one, ML-DSA-87 in PKCS#8 with both its seed and expanded key, is 4,970 bytes
/// (P-521 in PKCS#8 with its public key is 241).
pub const MAX_NON_RSA_PRIVATE_KEY_LEN: usize = 8192;

fn rsa_too_large(bits: u32) -> Error {
    Error::TooLarge(format!(
        "the RSA key has {bits} bits and Keysmith accepts at most {RSA_MAX_BITS}, so it was refused before parsing"
    ))
}

/// Refuses, from the structure of an SPKI alone and before any backend parses it, a public key
/// larger than any Keysmith accepts: the backends' RSA parsers and checks cost time that grows
/// with the modulus, which an importer chooses. Input not shaped like an SPKI is left to the
/// backend, which refuses it.
pub fn check_public_key_size(spki: &[u8]) -> Result<(), Error> {
    if let Some(bits) = der::rsa_spki_modulus_bits(spki) {
        return if bits > RSA_MAX_BITS {
            Err(rsa_too_large(bits))
        } else {
            Ok(())
        };
    }
    if spki.len() > MAX_NON_RSA_SPKI_LEN {
        return Err(Error::TooLarge(format!(
            "the public key structure is {} bytes and no supported non-RSA key needs more than {MAX_NON_RSA_SPKI_LEN}, so it was refused before parsing",
            spki.len()
        )));
    }
    Ok(())
}

/// [`check_public_key_size`] for a private key (PKCS#1, PKCS#8 or SEC1 DER).
pub fn check_private_key_size(der_bytes: &[u8]) -> Result<(), Error> {
    if let Some(bits) = der::rsa_private_modulus_bits(der_bytes) {
        return if bits > RSA_MAX_BITS {
            Err(rsa_too_large(bits))
        } else {
            Ok(())
        };
    }
    // Not RSA (or not shaped like a key): only EC, Ed25519 and ML-DSA remain, all bounded.
    if der_bytes.len() > MAX_NON_RSA_PRIVATE_KEY_LEN {
        return Err(Error::TooLarge(format!(
            "the private key structure is {} bytes and is not an RSA key Keysmith can read; no supported non-RSA key needs more than {MAX_NON_RSA_PRIVATE_KEY_LEN}, so it was refused before parsing",
            der_bytes.len()
        )));
    }
    Ok(())
}

/// [`check_public_key_size`] for the key a certificate certifies, found by walking its DER.
pub fn check_certificate_size(certificate: &[u8]) -> Result<(), Error> {
    match der::certificate_spki(certificate) {
        Some(spki) => check_public_key_size(spki),
        None => Ok(()),
    }
}

/// Decodes a certificate given as PEM (`CERTIFICATE`) or as bare base64 DER.
pub fn decode_certificate(
    backend: &dyn KeyBackend,
    text: &str,
) -> Result<CertificateFields, Error> {
    let der = if pem::looks_like_pem(text) {
        let block = pem::decode(text)?;
        if block.label != "CERTIFICATE" {
            return Err(Error::rejected(format!(
                "expected a CERTIFICATE, got {}",
                block.label
            )));
        }
        block.contents
    } else {
        pem::decode_base64(text)?
    };
    check_certificate_size(&der)?;
    backend.parse_certificate(&der)
}

/// Decodes a public key given as SPKI PEM (`PUBLIC KEY`) or PKCS#1 PEM (`RSA PUBLIC KEY`).
pub fn decode_public_key(backend: &dyn KeyBackend, text: &str) -> Result<PublicKeyInfo, Error> {
    let block = pem::decode(text)?;
    match block.label.as_str() {
        "PUBLIC KEY" => {
            check_public_key_size(&block.contents)?;
            backend.parse_public_key(&block.contents)
        }
        "RSA PUBLIC KEY" => {
            let spki = der::rsa_spki_from_pkcs1(&block.contents);
            check_public_key_size(&spki)?;
            backend.parse_public_key(&spki)
        }
        other => Err(Error::rejected(format!(
            "expected a PUBLIC KEY, got {other}"
        ))),
    }
}

/// The public key of a `PUBLIC KEY` PEM that Keysmith itself stored, read from its structure
/// without the backend ([`der::structural_public_key`], [`crate::ml_dsa::public_key`]): the
/// same cost on every backend (OpenSSL
/// 3.0's decoders take about 350 µs a key, which made starting with 100,000 keys take 37 s).
/// Only for stored keys, which a backend checked when they were stored.
pub fn stored_public_key(text: &str) -> Result<PublicKeyInfo, Error> {
    let block = pem::decode(text)?;
    if block.label != "PUBLIC KEY" {
        return Err(Error::malformed("a stored public key is a PUBLIC KEY PEM"));
    }
    match crate::ml_dsa::public_key(&block.contents) {
        Some(info) => Ok(info),
        None => der::structural_public_key(&block.contents),
    }
}

/// Decodes a private key given as PKCS#8 (`PRIVATE KEY`), PKCS#1 (`RSA PRIVATE KEY`) or SEC1
/// (`EC PRIVATE KEY`) PEM, or as bare base64 PKCS#8 DER. The label decides the parser, so a
/// label that contradicts the content is refused.
pub fn decode_private_key(backend: &dyn KeyBackend, text: &str) -> Result<PrivateKeyInfo, Error> {
    if !pem::looks_like_pem(text) {
        let der = pem::decode_base64(text)?;
        check_private_key_size(&der)?;
        return backend.parse_private_key(&der, PrivateKeyFormat::Pkcs8);
    }
    let block = pem::decode(text)?;
    let format = match block.label.as_str() {
        "PRIVATE KEY" => PrivateKeyFormat::Pkcs8,
        "RSA PRIVATE KEY" => PrivateKeyFormat::Pkcs1Rsa,
        "EC PRIVATE KEY" => PrivateKeyFormat::Sec1Ec,
        "ENCRYPTED PRIVATE KEY" => {
            return Err(Error::rejected(
                "encrypted private keys are not supported: import the key decrypted",
            ));
        }
        other => {
            return Err(Error::rejected(format!(
                "expected a private key, got {other}"
            )));
        }
    };
    check_private_key_size(&block.contents)?;
    let info = backend.parse_private_key(&block.contents, format)?;
    let expected = match format {
        PrivateKeyFormat::Pkcs1Rsa => Some(KeyType::Rsa),
        PrivateKeyFormat::Sec1Ec => Some(KeyType::Ec),
        PrivateKeyFormat::Pkcs8 => None,
    };
    if expected.is_some_and(|t| t != info.public.key_type) {
        return Err(Error::Mismatch(format!(
            "the PEM label {} does not match the key inside",
            block.label
        )));
    }
    Ok(info)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_a_private_key_or_secret() {
        let input = ImportInput {
            private_key: Some(
                "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----",
            ),
            secret: Some("hunter2-hunter2"),
            ..Default::default()
        };
        let printed = format!("{input:?}");
        assert!(
            !printed.contains("PRIVATE") && !printed.contains("hunter2"),
            "{printed}"
        );
        assert!(printed.contains("[REDACTED]"));
    }
}
