//! Validation errors in FusionAuth's Errors JSON shape.
//!
//! Codes follow FusionAuth's `[reason]field.path` convention, e.g. `[blank]key.name`.
//! The reasons Keysmith uses are the closed set in [`Reason`].

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// Why a field or request was refused: the word inside the brackets of an error code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Reason {
    /// A required value is missing or empty.
    Blank,
    /// A value is present but not acceptable (bad format, unknown name, wrong length).
    Invalid,
    /// A value that must be unique is already used.
    Duplicate,
    /// A value required by another value is missing (e.g. a private key without its type).
    Missing,
    /// Two values that must agree do not (a key pair, a declared and an actual type).
    Mismatch,
    /// The object is used elsewhere and cannot be changed or deleted.
    InUse,
    /// A value is longer than allowed.
    TooLong,
    /// A value is not allowed in this request (e.g. a field that cannot be updated).
    NotAllowed,
}

impl Reason {
    /// The word as it appears in a code.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Blank => "blank",
            Reason::Invalid => "invalid",
            Reason::Duplicate => "duplicate",
            Reason::Missing => "missing",
            Reason::Mismatch => "mismatch",
            Reason::InUse => "inUse",
            Reason::TooLong => "tooLong",
            Reason::NotAllowed => "notAllowed",
        }
    }
}

/// One error: a machine-readable code and a message for people.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorDetail {
    /// `[reason]field.path`, or `[reason]` alone for a general error.
    pub code: String,
    /// A sentence for people. Never holds key material.
    pub message: String,
}

/// FusionAuth's Errors JSON: errors per field, and errors about the request as a whole.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Errors {
    /// Errors keyed by field path (`key.name`). Always present on the wire, possibly empty.
    #[serde(default)]
    pub field_errors: BTreeMap<String, Vec<ErrorDetail>>,
    /// Errors that belong to no single field.
    #[serde(default)]
    pub general_errors: Vec<ErrorDetail>,
}

impl Errors {
    /// No errors yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// One field error.
    pub fn field(field: &str, reason: Reason, message: impl Into<String>) -> Self {
        let mut errors = Self::new();
        errors.add_field(field, reason, message);
        errors
    }

    /// One general error; its code is `[reason]` followed by `subject` (may be empty).
    pub fn general(reason: Reason, subject: &str, message: impl Into<String>) -> Self {
        let mut errors = Self::new();
        errors.general_errors.push(ErrorDetail {
            code: format!("[{}]{}", reason.as_str(), subject),
            message: message.into(),
        });
        errors
    }

    /// Adds an error for `field` with code `[reason]field`.
    pub fn add_field(&mut self, field: &str, reason: Reason, message: impl Into<String>) {
        self.field_errors
            .entry(field.to_owned())
            .or_default()
            .push(ErrorDetail {
                code: format!("[{}]{}", reason.as_str(), field),
                message: message.into(),
            });
    }

    /// Whether nothing was added.
    pub fn is_empty(&self) -> bool {
        self.field_errors.is_empty() && self.general_errors.is_empty()
    }

    /// `Ok(value)` when empty, otherwise `Err(self)`.
    pub fn into_result<T>(self, value: T) -> Result<T, Errors> {
        if self.is_empty() {
            Ok(value)
        } else {
            Err(self)
        }
    }

    /// `Ok(value)` when nothing was added and `value` is there; otherwise `Err(self)`.
    /// Validators add an error whenever they return `None`; a `None` with no error would be a
    /// validator breaking that rule, and is reported as a general `[invalid]`, not a panic.
    pub fn require<T>(mut self, value: Option<T>) -> Result<T, Errors> {
        match value {
            Some(value) if self.is_empty() => Ok(value),
            None if self.is_empty() => {
                self.general_errors.push(ErrorDetail {
                    code: format!("[{}]", Reason::Invalid.as_str()),
                    message: "The request is not valid.".into(),
                });
                Err(self)
            }
            _ => Err(self),
        }
    }

    /// Every code, field errors first (in field order), then general errors.
    pub fn codes(&self) -> Vec<&str> {
        self.field_errors
            .values()
            .flatten()
            .chain(&self.general_errors)
            .map(|d| d.code.as_str())
            .collect()
    }
}

impl fmt::Display for Errors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let details = self
            .field_errors
            .values()
            .flatten()
            .chain(&self.general_errors);
        for (i, detail) in details.enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{}: {}", detail.code, detail.message)?;
        }
        Ok(())
    }
}

impl std::error::Error for Errors {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_shape_matches_fusionauth() {
        let mut errors = Errors::field("key.name", Reason::Blank, "The name is required.");
        errors.add_field("key.length", Reason::Invalid, "Bad length.");
        let json = serde_json::to_value(&errors).unwrap();
        assert_eq!(
            json["fieldErrors"]["key.name"][0]["code"],
            "[blank]key.name"
        );
        assert_eq!(
            json["fieldErrors"]["key.length"][0]["code"],
            "[invalid]key.length"
        );
        assert_eq!(json["generalErrors"], serde_json::json!([]));
        assert_eq!(
            errors.codes(),
            vec!["[invalid]key.length", "[blank]key.name"]
        );
    }
}
