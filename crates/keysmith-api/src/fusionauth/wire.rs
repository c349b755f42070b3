//! Request and response bodies, exactly as FusionAuth's clients send and expect them.

use keysmith_model::{Errors, Key, Reason};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use zeroize::{Zeroize as _, Zeroizing};

/// `{id}` in `/api/key/{id}...`: a key's id, read as text, so that a malformed one gets
/// FusionAuth's `[invalid]keyId` answer (`KeyService::parse_id`), not actix's 404.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub(crate) struct KeyPath {
    /// The key's id.
    #[param(value_type = uuid::Uuid)]
    pub id: String,
}

/// `{"key": {...}}` in generate, import and update requests. Fields a request does not use
/// are ignored, as FusionAuth ignores them.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub(crate) struct KeyRequest {
    #[serde(default)]
    pub key: Option<KeyFields>,
}

/// The fields of a key in a request. `Debug` never shows the private key or secret.
#[derive(Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct KeyFields {
    /// Required to generate; optional on import (read from the key).
    #[schema(value_type = Option<keysmith_model::Algorithm>)]
    pub algorithm: Option<String>,
    /// Unique.
    pub name: Option<String>,
    /// RSA bits (2048, 3072, 4096) or an HMAC length; a number, or a string holding one
    /// (FusionAuth documents `length` as a String).
    #[schema(schema_with = whole_number)]
    pub length: Option<Value>,
    pub issuer: Option<String>,
    pub kid: Option<String>,
    pub certificate: Option<String>,
    pub public_key: Option<String>,
    /// Wiped from memory when the request is done.
    #[schema(value_type = Option<String>)]
    pub private_key: Option<Zeroizing<String>>,
    /// Wiped from memory when the request is done.
    #[schema(value_type = Option<String>)]
    pub secret: Option<Zeroizing<String>>,
    #[serde(rename = "type")]
    #[schema(value_type = Option<keysmith_model::KeyType>)]
    pub key_type: Option<String>,
}

impl std::fmt::Debug for KeyFields {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyFields")
            .field("algorithm", &self.algorithm)
            .field("name", &self.name)
            .field("length", &self.length)
            .field("issuer", &self.issuer)
            .field("kid", &self.kid)
            .field("type", &self.key_type)
            .field("certificate", &self.certificate.as_ref().map(String::len))
            .field("public_key", &self.public_key.as_ref().map(String::len))
            .field("private_key", &keysmith_model::redacted(&self.private_key))
            .field("secret", &keysmith_model::redacted(&self.secret))
            .finish()
    }
}

/// Reads a `{"key": {...}}` body, then wipes the body's bytes (which may hold a private key or
/// secret) when nothing else shares them, so the key material lives on only in the
/// [`Zeroizing`] fields.
pub(crate) fn key_fields(body: actix_web::web::Bytes) -> Result<KeyFields, crate::ApiError> {
    let parsed = crate::fusionauth::parse_body::<KeyRequest>(&body);
    wipe_body(body);
    Ok(parsed?.key.unwrap_or_default())
}

/// Overwrites a request body with zeros if this is its only reference (actix hands each
/// handler its own copy), and drops it either way.
pub(crate) fn wipe_body(body: actix_web::web::Bytes) {
    drop(zeroed(body));
}

/// The body's buffer overwritten with zeros, or the body untouched if it is shared.
fn zeroed(body: actix_web::web::Bytes) -> Result<actix_web::web::BytesMut, actix_web::web::Bytes> {
    let mut bytes = body.try_into_mut()?;
    bytes.as_mut().zeroize();
    Ok(bytes)
}

/// `{"search": {...}}` in `POST /api/key/search`.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[schema(as = KeySearchRequest)]
pub(crate) struct SearchRequestBody {
    #[serde(default)]
    pub search: Option<SearchFields>,
}

/// FusionAuth's key search criteria.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[schema(as = KeySearchCriteria)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SearchFields {
    /// `*` matches any run of characters, case-insensitive.
    pub name: Option<String>,
    /// `RSA`, `EC`, `OKP`, `HMAC` or `AKP`; empty means any.
    #[serde(rename = "type")]
    pub key_type: Option<String>,
    /// e.g. `ES256`; empty means any.
    pub algorithm: Option<String>,
    /// The issuer, matched exactly and case-sensitively; empty means any. A Keysmith
    /// extension: FusionAuth's key search has no issuer.
    pub issuer: Option<String>,
    #[schema(schema_with = whole_number)]
    pub number_of_results: Option<Value>,
    #[schema(schema_with = whole_number)]
    pub start_row: Option<Value>,
    pub order_by: Option<String>,
    /// Count every match for `total`. Without it, a filtered search counts at most 10,000 and
    /// then answers `total` 10,000 with `totalEqualToActual` false (as FusionAuth's searches).
    pub accurate_total: Option<bool>,
}

/// `{"key": {...}}`.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = KeyEnvelope)]
pub(crate) struct KeyResponse<'a> {
    pub key: &'a Key,
}

/// `{"keys": [...]}`.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = KeysEnvelope)]
pub(crate) struct KeysResponse<'a> {
    pub keys: &'a [Key],
}

/// `{"keys": [...], "total": N}`.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = KeySearchResult)]
pub(crate) struct SearchResponse<'a> {
    pub keys: &'a [Key],
    /// How many keys match, across all pages (at most 10,000 without `accurateTotal`).
    pub total: u64,
    /// Present, and false, only when more keys match than `total` says.
    #[serde(rename = "totalEqualToActual", skip_serializing_if = "Option::is_none")]
    pub total_equal_to_actual: Option<bool>,
}

/// Serialises `value` as it reads when embedded in `serde_json::json!`: through a
/// [`serde_json::Value`], whose objects hold their keys in alphabetical order (serde_json is
/// built without `preserve_order`). For a `serialize_with` on fields of bodies that were
/// built with `json!`, so their bytes stay as they were.
pub(crate) fn alphabetical<T: Serialize, S: serde::Serializer>(
    value: &T,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serde_json::to_value(value)
        .map_err(serde::ser::Error::custom)?
        .serialize(serializer)
}

/// Whether a body is a JSON object at the top level. serde reads a struct from an array too
/// (`[null, null]`), which no client means; bodies are objects.
pub(crate) fn is_json_object(body: &[u8]) -> bool {
    body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{')
}

/// Reads an integer that may arrive as a JSON number or as a string.
pub(crate) fn integer_field(
    errors: &mut Errors,
    field: &str,
    value: Option<&Value>,
) -> Option<i64> {
    let parsed = match value? {
        Value::Null => return None,
        // JSON Schema counts 25.0 as an integer, so it reads as 25.
        Value::Number(n) => n.as_i64().or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e18)
                .map(|f| f as i64)
        }),
        Value::String(s) if s.trim().is_empty() => return None,
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    };
    if parsed.is_none() {
        errors.add_field(
            field,
            Reason::Invalid,
            format!("{field} must be a whole number."),
        );
    }
    parsed
}

/// An RSA length or curve length: a non-negative integer that fits in 32 bits.
pub(crate) fn length_field(errors: &mut Errors, value: Option<&Value>) -> Option<u32> {
    let number = integer_field(errors, "key.length", value)?;
    match u32::try_from(number) {
        Ok(n) => Some(n),
        Err(_) => {
            errors.add_field("key.length", Reason::Invalid, "key.length is out of range.");
            None
        }
    }
}

/// The schema of a whole number that FusionAuth's clients send as a JSON number or as a string
/// holding one (`null` and `""` mean absent), as `wire::integer_field` reads it.
pub(crate) fn whole_number() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{ObjectBuilder, Schema, SchemaType, Type};
    // One schema, not a oneOf: `pattern` applies only to strings and the bounds only to
    // numbers, so each type is held to its own rule.
    Schema::Object(
        ObjectBuilder::new()
            .schema_type(SchemaType::from_iter([
                Type::Integer,
                Type::String,
                Type::Null,
            ]))
            .minimum(Some(i64::MIN))
            .maximum(Some(i64::MAX))
            .pattern(Some(r"^\s*([+-]?[0-9]{1,18})?\s*$"))
            .build(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_material_is_held_zeroizing_and_never_in_debug() {
        let request: KeyRequest = serde_json::from_str(concat!(
            r#"{"key":{"name":"n","privateKey":"-----BEGIN PRIVATE KEY-----\n"#,
            r#"MIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----","#,
            r#""secret":"s3cr3t-value-0123456789-abcdefghij"}}"#,
        ))
        .unwrap();
        let printed = format!("{request:?}");
        for leaked in ["PRIVATE", "MIIEvQIBADAN", "s3cr3t-value"] {
            assert!(!printed.contains(leaked), "{leaked} in {printed}");
        }
        let fields = request.key.unwrap();
        // The types themselves wipe on drop (a compile-time fact this line pins).
        let _: &Option<Zeroizing<String>> = &fields.private_key;
        let _: &Option<Zeroizing<String>> = &fields.secret;
        assert_eq!(
            fields.secret.as_deref().map(String::as_str),
            Some("s3cr3t-value-0123456789-abcdefghij")
        );
    }

    #[test]
    fn a_request_body_is_wiped_after_it_is_read() {
        let body = actix_web::web::Bytes::from(
            br#"{"key":{"secret":"s3cr3t-value-0123456789-abcdefghij"}}"#.to_vec(),
        );
        // Shared: left alone (another holder still reads it).
        let shared = zeroed(body.clone()).unwrap_err();
        assert_eq!(shared, body);
        drop(shared);
        // The only reference: every byte overwritten before the buffer is freed.
        let wiped = zeroed(body).unwrap();
        assert!(!wiped.is_empty() && wiped.iter().all(|b| *b == 0));
    }

    #[test]
    fn debug_never_shows_a_private_key_or_secret() {
        let fields: KeyFields = serde_json::from_str(concat!(
            r#"{"name":"n","privateKey":"-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==","#,
            r#""secret":"hunter2-hunter2"}"#,
        ))
        .unwrap();
        let printed = format!(
            "{:?} {:?}",
            fields,
            KeyRequest {
                key: Some(fields.clone_for_test())
            }
        );
        assert!(
            !printed.contains("PRIVATE")
                && !printed.contains("MC4C")
                && !printed.contains("hunter2"),
            "{printed}"
        );
        assert!(printed.contains("[REDACTED]"));
    }

    #[test]
    fn only_objects_are_bodies() {
        assert!(is_json_object(b" \n{\"key\": {}}"));
        assert!(!is_json_object(b"[null, null]"));
        assert!(!is_json_object(b"null"));
        assert!(!is_json_object(b"\"text\""));
    }

    #[test]
    fn whole_numbers_arrive_as_numbers_or_strings() {
        let mut errors = Errors::new();
        for (value, expected) in [
            (serde_json::json!(25), Some(25)),
            (serde_json::json!(25.0), Some(25)),
            (serde_json::json!(" 25 "), Some(25)),
            (serde_json::json!(""), None),
            (Value::Null, None),
        ] {
            assert_eq!(
                integer_field(&mut errors, "f", Some(&value)),
                expected,
                "{value}"
            );
        }
        assert!(errors.is_empty());
        for bad in [
            serde_json::json!(2.5),
            serde_json::json!("x"),
            serde_json::json!(true),
        ] {
            let mut errors = Errors::new();
            assert_eq!(integer_field(&mut errors, "f", Some(&bad)), None);
            assert!(!errors.is_empty(), "{bad}");
        }
    }

    impl KeyFields {
        fn clone_for_test(&self) -> KeyFields {
            KeyFields {
                name: self.name.clone(),
                private_key: self.private_key.clone(),
                secret: self.secret.clone(),
                ..Default::default()
            }
        }
    }
}
