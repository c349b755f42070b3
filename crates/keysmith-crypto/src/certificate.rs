//! Certificate information and FusionAuth's certificate conventions, for every backend.

use keysmith_model::{CertificateInformation, HashAlgorithm, KeyId, SecretBytes};

use crate::backend::{CertificateFields, CertificateParams, KeyBackend};
use crate::fingerprint::{base64url, colon_hex};
use crate::{Error, dn};

/// FusionAuth's validity for a generated certificate, in years.
pub const DEFAULT_VALIDITY_YEARS: u32 = 10;

/// FusionAuth's certificate information for a parsed certificate.
///
/// Fingerprints and thumbprints are over the DER; the serial is its magnitude in colon hex;
/// DNs are RFC 4514. `validFrom`/`validTo` are the certificate's times in milliseconds (whole
/// seconds: X.509 has no finer precision).
pub fn information(
    backend: &dyn KeyBackend,
    fields: &CertificateFields,
) -> Result<CertificateInformation, Error> {
    let der = &fields.der;
    let sha1 = backend.digest(HashAlgorithm::Sha1, der)?;
    let sha256 = backend.digest(HashAlgorithm::Sha256, der)?;
    let md5 = backend.digest(HashAlgorithm::Md5, der)?;
    Ok(CertificateInformation {
        issuer: dn::format_rfc4514(&fields.issuer),
        md5_fingerprint: colon_hex(&md5),
        serial_number: colon_hex(&fields.serial),
        sha1_fingerprint: colon_hex(&sha1),
        sha1_thumbprint: base64url(&sha1),
        sha256_fingerprint: colon_hex(&sha256),
        sha256_thumbprint: base64url(&sha256),
        subject: dn::format_rfc4514(&fields.subject),
        valid_from: fields.not_before.saturating_mul(1000),
        valid_to: fields.not_after.saturating_mul(1000),
    })
}

/// The parameters of FusionAuth's self-signed certificate for key `id`: serial = the id,
/// `CN=<issuer>`, valid from `now` for `validity_years` calendar years.
pub fn fusionauth_params<'a>(
    id: &'a KeyId,
    issuer: &'a str,
    now_unix: i64,
    validity_years: u32,
) -> CertificateParams<'a> {
    CertificateParams {
        serial: id.as_bytes(),
        common_name: issuer,
        not_before: now_unix,
        not_after: add_years(now_unix, validity_years),
    }
}

/// A key with its self-signed certificate, as built and as FusionAuth describes it.
pub type Certified = (
    crate::GeneratedKey,
    CertificateFields,
    CertificateInformation,
);

/// Generates a key with its certificate and reads the certificate back: the whole of what
/// `POST /api/key/generate` needs from the crypto layer for an asymmetric key.
pub fn create_with_certificate(
    backend: &dyn KeyBackend,
    algorithm: keysmith_model::Algorithm,
    length: Option<u32>,
    params: &CertificateParams<'_>,
) -> Result<Certified, Error> {
    let (key, fields) = backend.generate_with_certificate(algorithm, length, params)?;
    let info = information(backend, &fields)?;
    Ok((key, fields, info))
}

/// [`create_with_certificate`] for a pair made earlier (an RSA pool's): certifies `key` with
/// `params` and reads the certificate back.
pub fn certify(
    backend: &dyn KeyBackend,
    algorithm: keysmith_model::Algorithm,
    key: crate::GeneratedKey,
    params: &CertificateParams<'_>,
) -> Result<Certified, Error> {
    let keysmith_model::PrivateMaterial::Pkcs8(private_key) = &key.private else {
        return Err(Error::rejected("HMAC keys have no certificate"));
    };
    let certificate = backend.self_signed_certificate(algorithm, private_key, params)?;
    let fields = backend.parse_certificate(&certificate)?;
    let info = information(backend, &fields)?;
    Ok((key, fields, info))
}

/// A new HMAC secret of `len` random bytes (at most 64) from `fill`: their base64 text, whose
/// UTF-8 bytes are the HMAC key (FusionAuth's convention). The random bytes stay on the stack
/// and are zeroized; the text is the one allocation.
pub fn new_hmac_secret(
    len: usize,
    fill: impl FnOnce(&mut [u8]) -> Result<(), Error>,
) -> Result<SecretBytes, Error> {
    use base64::Engine as _;
    use zeroize::Zeroize as _;
    let mut random = [0u8; 64];
    let random = random
        .get_mut(..len)
        .ok_or_else(|| Error::rejected("HMAC secrets are at most 64 bytes"))?;
    let filled = fill(random);
    let mut text = vec![0u8; base64::encoded_len(len, true).unwrap_or(0)];
    let written = filled.and_then(|()| {
        base64::engine::general_purpose::STANDARD
            .encode_slice(&*random, &mut text)
            .map_err(|_| Error::rejected("HMAC secret encoding"))
    });
    random.zeroize();
    written?;
    Ok(SecretBytes::new(text))
}

/// `unix` plus `years` calendar years, same month, day and time (29 February becomes
/// 28 February in a common year).
pub fn add_years(unix: i64, years: u32) -> i64 {
    let days = unix.div_euclid(86_400);
    let secs_of_day = unix.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let y2 = y + i64::from(years);
    let d2 = if m == 2 && d == 29 && !is_leap(y2) {
        28
    } else {
        d
    };
    days_from_civil(y2, m, d2) * 86_400 + secs_of_day
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

// Howard Hinnant's civil-date algorithms (public domain), proleptic Gregorian calendar.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32; // 1..=31
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32; // 1..=12
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn an_hmac_secret_is_the_base64_text_of_its_random_bytes() {
        use base64::Engine as _;
        for len in [32, 48, 64] {
            let secret = new_hmac_secret(len, |out| {
                out.iter_mut().zip(1u8..).for_each(|(b, i)| *b = i);
                Ok(())
            })
            .expect("secret");
            let expected: Vec<u8> = (1u8..).take(len).collect();
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(secret.expose())
                .expect("base64");
            assert_eq!(decoded, expected, "{len} bytes");
        }
        assert!(new_hmac_secret(65, |_| Ok(())).is_err());
        let failed = new_hmac_secret(32, |_| Err(Error::rejected("no entropy")));
        assert!(failed.is_err());
    }

    #[test]
    fn ten_years_matches_fusionauths_example() {
        // 2019-07-03T21:24:32Z -> 2029-07-03T21:24:32Z, the documented certificate's validity.
        assert_eq!(add_years(1_562_189_072, 10), 1_877_808_272);
        // 2024-02-29 + 1 year -> 2025-02-28.
        assert_eq!(add_years(1_709_164_800, 1), 1_740_700_800);
    }

    proptest! {
        #[test]
        fn civil_round_trip(days in -1_000_000i64..1_000_000) {
            let (y, m, d) = civil_from_days(days);
            prop_assert_eq!(days_from_civil(y, m, d), days);
        }
    }
}
