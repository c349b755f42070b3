//! Field validation with FusionAuth's error codes.
//!
//! Each check appends to an [`Errors`] so that one response lists every problem at once, as
//! FusionAuth does. Field paths are passed in (`key.name`, `key.kid`, ...).

use crate::algorithm::{Algorithm, KeyType};
use crate::errors::{Errors, Reason};
use crate::{MAX_ISSUER_LENGTH, MAX_KID_LENGTH, MAX_NAME_LENGTH};

/// A validated request to generate a key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GenerateSpec {
    /// The algorithm the key is bound to.
    pub algorithm: Algorithm,
    /// RSA modulus bits or the curve's implied length; `None` for HMAC.
    pub length: Option<u32>,
    /// The unique name (not yet checked for uniqueness).
    pub name: String,
    /// The certificate issuer's common name, if the caller gave one.
    pub issuer: Option<String>,
}

/// Checks a generate request's fields; every problem is reported.
pub fn generate_spec(
    algorithm: Option<&str>,
    length: Option<u32>,
    name: Option<&str>,
    issuer: Option<&str>,
) -> Result<GenerateSpec, Errors> {
    let mut errors = Errors::new();
    let name = required_text(&mut errors, "key.name", name, MAX_NAME_LENGTH);
    let issuer = optional_text(&mut errors, "key.issuer", issuer, MAX_ISSUER_LENGTH);
    let algorithm = algorithm_field(&mut errors, "key.algorithm", algorithm, true);
    let length = algorithm.and_then(|alg| generate_length(&mut errors, alg, length));
    match (algorithm, name) {
        (Some(algorithm), Some(name)) if errors.is_empty() => Ok(GenerateSpec {
            algorithm,
            length,
            name,
            issuer,
        }),
        _ => Err(errors),
    }
}

/// Parses an algorithm name. A missing value is `[blank]` when `required`.
pub fn algorithm_field(
    errors: &mut Errors,
    field: &str,
    value: Option<&str>,
    required: bool,
) -> Option<Algorithm> {
    match value.map(str::trim) {
        None | Some("") => {
            if required {
                errors.add_field(field, Reason::Blank, "An algorithm is required.");
            }
            None
        }
        Some(text) => match text.parse() {
            Ok(alg) => Some(alg),
            Err(_) => {
                errors.add_field(
                    field,
                    Reason::Invalid,
                    format!(
                        "Unknown algorithm. Use one of {}.",
                        Algorithm::ALL.map(Algorithm::as_str).join(", ")
                    ),
                );
                None
            }
        },
    }
}

/// Parses a key type name (`RSA`, `EC`, `OKP`, `HMAC`, `AKP`).
pub fn key_type_field(errors: &mut Errors, field: &str, value: Option<&str>) -> Option<KeyType> {
    let text = value.map(str::trim).filter(|t| !t.is_empty())?;
    match text.parse() {
        Ok(t) => Some(t),
        Err(_) => {
            errors.add_field(
                field,
                Reason::Invalid,
                "Unknown key type. Use one of RSA, EC, OKP, HMAC, AKP.",
            );
            None
        }
    }
}

/// The length to generate: required and one of 2048/3072/4096 for RSA, implied by the curve
/// for EC and OKP and by the parameter set for AKP (a given length must agree), and absent for HMAC (its secret is as long as
/// its hash).
fn generate_length(errors: &mut Errors, alg: Algorithm, length: Option<u32>) -> Option<u32> {
    let allowed = alg.generate_lengths();
    match (alg.key_type(), length) {
        (KeyType::Rsa, None) => {
            errors.add_field(
                "key.length",
                Reason::Blank,
                "A length is required for RSA keys: 2048, 3072 or 4096.",
            );
            None
        }
        (KeyType::Hmac, None) => None,
        (KeyType::Hmac, Some(_)) => {
            errors.add_field(
                "key.length",
                Reason::Invalid,
                "HMAC keys take no length: the secret is as long as the algorithm's hash.",
            );
            None
        }
        (_, None) => alg.implied_length(),
        (_, Some(len)) if allowed.contains(&len) => Some(len),
        (_, Some(_)) => {
            let list = allowed.iter().map(u32::to_string).collect::<Vec<_>>();
            errors.add_field(
                "key.length",
                Reason::Invalid,
                format!(
                    "Invalid length for {}. Allowed: {}.",
                    alg.as_str(),
                    list.join(", ")
                ),
            );
            None
        }
    }
}

/// A required, trimmed, printable text of at most `max` characters.
pub fn required_text(
    errors: &mut Errors,
    field: &str,
    value: Option<&str>,
    max: usize,
) -> Option<String> {
    match value.map(str::trim) {
        None | Some("") => {
            errors.add_field(
                field,
                Reason::Blank,
                format!("A value for {field} is required."),
            );
            None
        }
        Some(text) => printable(errors, field, text, max),
    }
}

/// An optional, trimmed, printable text of at most `max` characters. Blank counts as absent.
pub fn optional_text(
    errors: &mut Errors,
    field: &str,
    value: Option<&str>,
    max: usize,
) -> Option<String> {
    match value.map(str::trim) {
        None | Some("") => None,
        Some(text) => printable(errors, field, text, max),
    }
}

/// An optional `kid`: at most 255 characters, no control characters or white space (a kid is
/// compared byte for byte by relying parties, so invisible characters only cause confusion).
pub fn kid_field(errors: &mut Errors, field: &str, value: Option<&str>) -> Option<String> {
    let text = value.filter(|t| !t.trim().is_empty())?;
    if text.chars().any(char::is_whitespace) {
        errors.add_field(field, Reason::Invalid, "A kid cannot contain white space.");
        return None;
    }
    printable(errors, field, text, MAX_KID_LENGTH)
}

fn printable(errors: &mut Errors, field: &str, text: &str, max: usize) -> Option<String> {
    if text.chars().count() > max {
        errors.add_field(
            field,
            Reason::TooLong,
            format!("{field} is longer than {max} characters."),
        );
        None
    } else if text.chars().any(char::is_control) {
        errors.add_field(
            field,
            Reason::Invalid,
            format!("{field} cannot contain control characters."),
        );
        None
    } else {
        Some(text.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rsa_needs_an_allowed_length() {
        let err = generate_spec(Some("RS256"), None, Some("k"), None).unwrap_err();
        assert_eq!(err.codes(), vec!["[blank]key.length"]);
        let err = generate_spec(Some("RS256"), Some(1024), Some("k"), None).unwrap_err();
        assert_eq!(err.codes(), vec!["[invalid]key.length"]);
        let ok = generate_spec(Some("PS384"), Some(3072), Some(" k "), None).unwrap();
        assert_eq!(ok.length, Some(3072));
        assert_eq!(ok.name, "k");
    }

    #[test]
    fn curves_imply_their_length_and_hmac_takes_none() {
        let ok = generate_spec(Some("ES512"), None, Some("k"), Some("acme.com")).unwrap();
        assert_eq!(ok.length, Some(521));
        assert_eq!(ok.issuer.as_deref(), Some("acme.com"));
        let err = generate_spec(Some("ES256"), Some(384), Some("k"), None).unwrap_err();
        assert_eq!(err.codes(), vec!["[invalid]key.length"]);
        assert!(generate_spec(Some("HS512"), None, Some("k"), None).is_ok());
        let err = generate_spec(Some("HS512"), Some(512), Some("k"), None).unwrap_err();
        assert_eq!(err.codes(), vec!["[invalid]key.length"]);
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let err = generate_spec(Some("XX999"), None, Some("  "), Some("a\u{0}b")).unwrap_err();
        assert_eq!(
            err.codes(),
            vec![
                "[invalid]key.algorithm",
                "[invalid]key.issuer",
                "[blank]key.name"
            ]
        );
        let long = "n".repeat(MAX_NAME_LENGTH + 1);
        let err = generate_spec(None, None, Some(&long), None).unwrap_err();
        assert_eq!(
            err.codes(),
            vec!["[blank]key.algorithm", "[tooLong]key.name"]
        );
    }

    #[test]
    fn kid_rules() {
        let mut errors = Errors::new();
        assert_eq!(
            kid_field(&mut errors, "key.kid", Some("abc-123_X")),
            Some("abc-123_X".into())
        );
        assert_eq!(kid_field(&mut errors, "key.kid", None), None);
        assert!(errors.is_empty());
        assert_eq!(kid_field(&mut errors, "key.kid", Some("a b")), None);
        assert_eq!(errors.codes(), vec!["[invalid]key.kid"]);
    }

    proptest! {
        #[test]
        fn generate_spec_never_panics_and_ok_means_valid(
            alg in proptest::option::of(".{0,12}"),
            len in proptest::option::of(any::<u32>()),
            name in proptest::option::of(".{0,300}"),
            issuer in proptest::option::of(".{0,300}"),
        ) {
            if let Ok(spec) = generate_spec(alg.as_deref(), len, name.as_deref(), issuer.as_deref()) {
                prop_assert!(!spec.name.is_empty());
                prop_assert!(spec.name.chars().count() <= MAX_NAME_LENGTH);
                match spec.algorithm.key_type() {
                    KeyType::Hmac => prop_assert_eq!(spec.length, None),
                    _ => prop_assert!(spec.algorithm.generate_lengths().contains(&spec.length.unwrap())),
                }
            }
        }
    }
}
