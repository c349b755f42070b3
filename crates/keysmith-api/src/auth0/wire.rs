//! The bodies Auth0's routes take and return: request parsing that never echoes a value,
//! connection and key shapes, timestamps.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use keysmith_core::{ConnectionFields, RingKeyView, ServiceError};
use keysmith_crypto::pem::LineEnding;
use keysmith_crypto::{pem, pkcs7};
use keysmith_model::ring::key_use_name;
use keysmith_model::{Connection, KeyUse, RingRole};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::openapi::schema::Schema;

use super::{Auth0Error, Reply};

/// Parses an optional JSON body (the SDK sends none for some calls): an empty body is absent;
/// anything else, whitespace alone included, must be a JSON object. Messages name an unknown
/// field but never echo a value: connection options can hold secrets.
pub(crate) fn parse_body<T: serde::de::DeserializeOwned + Default>(
    body: &[u8],
) -> Result<T, Auth0Error> {
    if body.is_empty() {
        return Ok(T::default());
    }
    if !crate::fusionauth::wire::is_json_object(body) {
        return Err(Auth0Error::invalid_body("the body must be a JSON object"));
    }
    serde_json::from_slice(body).map_err(|e| {
        let detail = match crate::fusionauth::error::unknown_field(&e.to_string()) {
            Some(field) => format!("Additional properties not allowed: {field}"),
            None => format!(
                "the body {}",
                crate::fusionauth::error::json_error_position(&e)
            ),
        };
        Auth0Error::invalid_body(detail)
    })
}

// ---- wire shapes ----

/// `{id}` in `/api/v2/connections/{id}...`. Any text: an id that cannot be a connection's is
/// simply not found (`inexistent_connection`).
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub(crate) struct ConnectionPath {
    /// The connection id, `con_` and 16 alphanumerics.
    pub(crate) id: String,
}

/// `{kid}` in `/api/v2/keys/signing/{kid}...`.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub(crate) struct KidPath {
    /// The key's kid.
    pub(crate) kid: String,
}

/// Epoch milliseconds as ISO-8601 UTC with milliseconds, as Auth0 writes timestamps.
pub fn iso8601(millis: i64) -> String {
    let nanos = i128::from(millis) * 1_000_000;
    match time::OffsetDateTime::from_unix_timestamp_nanos(nanos) {
        Ok(t) => format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second(),
            t.millisecond()
        ),
        Err(_) => String::new(),
    }
}

/// A new connection (`POST /api/v2/connections`).
#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewConnection {
    // Optional when read, required in the document: the use case refuses a missing name or
    // strategy, naming every missing field at once.
    /// Unique.
    #[schema(value_type = String, required = true)]
    name: Option<String>,
    /// Auth0's strategy name (`samlp`, `waad`, `oidc`, ...).
    #[schema(value_type = String, required = true)]
    strategy: Option<String>,
    display_name: Option<String>,
    /// As in [`ConnectionChanges`].
    #[schema(value_type = Option<Object>)]
    options: Option<Map<String, Value>>,
    /// String values only.
    #[schema(value_type = Option<BTreeMap<String, String>>)]
    metadata: Option<Map<String, Value>>,
    enabled_clients: Option<Vec<String>>,
    realms: Option<Vec<String>>,
    is_domain_connection: Option<bool>,
    /// Keysmith's: rotate this connection's keys this often, in seconds (0: never; absent:
    /// the configured default).
    #[schema(maximum = 315_360_000)]
    rotation_period_seconds: Option<u64>,
    /// Accepted and ignored.
    #[serde(default)]
    show_as_button: Option<bool>,
}

impl NewConnection {
    /// The use case's fields, once the body's own checks pass ([`checked`]).
    pub(crate) fn into_fields(self) -> Result<ConnectionFields, Auth0Error> {
        let _ = self.show_as_button;
        checked(ConnectionFields {
            name: self.name,
            strategy: self.strategy,
            display_name: self.display_name,
            options: self.options,
            metadata: self.metadata,
            enabled_clients: self.enabled_clients,
            realms: self.realms,
            is_domain_connection: self.is_domain_connection,
            rotation_period_seconds: self.rotation_period_seconds,
        })
    }
}

/// The fields `PATCH /api/v2/connections/{id}` may change (`name` and `strategy` may not).
#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ConnectionChanges {
    // Read, so that the use case refuses a new name or strategy in its own words ("name cannot
    // be changed"); left out of the document, which allows neither.
    #[schema(ignore)]
    name: Option<String>,
    #[schema(ignore)]
    strategy: Option<String>,
    display_name: Option<String>,
    /// Free-form, except that an option whose name says it holds a secret (`client_secret`,
    /// passwords, private keys) is refused: Keysmith keeps keys, not connection secrets.
    #[schema(value_type = Option<Object>)]
    options: Option<Map<String, Value>>,
    /// String values only.
    #[schema(value_type = Option<BTreeMap<String, String>>)]
    metadata: Option<Map<String, Value>>,
    enabled_clients: Option<Vec<String>>,
    realms: Option<Vec<String>>,
    is_domain_connection: Option<bool>,
    /// Keysmith's: rotate this connection's keys this often, in seconds (0: never; absent:
    /// the configured default).
    #[schema(maximum = 315_360_000)]
    rotation_period_seconds: Option<u64>,
    /// Accepted and ignored.
    #[serde(default)]
    show_as_button: Option<bool>,
}

impl ConnectionChanges {
    /// The use case's fields, once the body's own checks pass ([`checked`]).
    pub(crate) fn into_fields(self) -> Result<ConnectionFields, Auth0Error> {
        let _ = self.show_as_button;
        checked(ConnectionFields {
            name: self.name,
            strategy: self.strategy,
            display_name: self.display_name,
            options: self.options,
            metadata: self.metadata,
            enabled_clients: self.enabled_clients,
            realms: self.realms,
            is_domain_connection: self.is_domain_connection,
            rotation_period_seconds: self.rotation_period_seconds,
        })
    }
}

/// A connection body's own checks: metadata values are strings, and no option's name says it
/// holds a secret.
fn checked(fields: ConnectionFields) -> Result<ConnectionFields, Auth0Error> {
    if let Some(metadata) = &fields.metadata
        && metadata.values().any(|v| !v.is_string())
    {
        return Err(Auth0Error::invalid_body("metadata values must be strings"));
    }
    if let Some(path) = fields
        .options
        .as_ref()
        .and_then(|o| secret_like_option(o, "options"))
    {
        return Err(Auth0Error::invalid_body(format!(
            "{path} looks like a secret; Keysmith does not keep connection secrets (it only needs the \
             connection's keys)"
        )));
    }
    Ok(fields)
}

/// The path of the first option whose name says it holds a secret (`client_secret`, passwords,
/// private keys), at any depth. Such options are refused rather than stored and echoed back.
pub(crate) fn secret_like_option(options: &Map<String, Value>, prefix: &str) -> Option<String> {
    options.iter().find_map(|(name, value)| {
        let lower = name.to_ascii_lowercase();
        let path = format!("{prefix}.{name}");
        if ["secret", "password", "private"]
            .iter()
            .any(|w| lower.contains(w))
        {
            Some(path)
        } else if let Value::Object(inner) = value {
            secret_like_option(inner, &path)
        } else {
            None
        }
    })
}

/// A connection.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = Connection)]
pub(crate) struct ConnectionJson<'a> {
    id: &'a str,
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    display_name: Option<&'a str>,
    strategy: &'a str,
    #[schema(value_type = Object)]
    options: &'a Map<String, Value>,
    #[schema(value_type = HashMap<String, String>)]
    metadata: &'a Map<String, Value>,
    enabled_clients: &'a [String],
    realms: &'a [String],
    is_domain_connection: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    rotation_period_seconds: Option<u64>,
}

impl<'a> From<&'a Connection> for ConnectionJson<'a> {
    fn from(c: &'a Connection) -> Self {
        ConnectionJson {
            id: &c.id,
            name: &c.name,
            display_name: c.display_name.as_deref(),
            strategy: &c.strategy,
            options: &c.options,
            metadata: &c.metadata,
            enabled_clients: &c.enabled_clients,
            realms: &c.realms,
            is_domain_connection: c.is_domain_connection,
            rotation_period_seconds: c.rotation_period_seconds,
        }
    }
}

/// The certificate facts both key shapes carry.
pub(crate) struct CertificateJson {
    cert: String,
    pkcs7: String,
    fingerprint: String,
    thumbprint: String,
    subject_dn: String,
}

pub(crate) fn certificate_json(view: &RingKeyView) -> Result<CertificateJson, Auth0Error> {
    let internal = |what: &str| {
        Auth0Error::from_service(
            ServiceError::internal(std::io::Error::other(format!(
                "ring key {} has no {what}",
                view.key.id
            ))),
            Auth0Error::no_connection,
        )
    };
    let cert = view
        .key
        .certificate
        .clone()
        .ok_or_else(|| internal("certificate"))?;
    let info = view
        .key
        .certificate_information
        .as_ref()
        .ok_or_else(|| internal("certificate information"))?;
    let der = pem::decode(&cert).map_err(|_| internal("readable certificate"))?;
    Ok(CertificateJson {
        pkcs7: pkcs7::certs_only_pem(&[&der.contents], LineEnding::Lf),
        fingerprint: info.sha1_fingerprint.clone(),
        thumbprint: info.sha1_fingerprint.replace(':', ""),
        subject_dn: info.subject.clone(),
        cert,
    })
}

/// A connection key, as Auth0 shows it.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = ConnectionKey)]
pub(crate) struct ConnectionKeyJson {
    kid: String,
    cert: String,
    pkcs: String,
    current: bool,
    next: bool,
    previous: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    current_since: Option<String>,
    fingerprint: String,
    thumbprint: String,
    algorithm: &'static str,
    key_use: &'static str,
    subject_dn: String,
}

pub(crate) fn connection_key_json(view: &RingKeyView) -> Result<ConnectionKeyJson, Auth0Error> {
    let c = certificate_json(view)?;
    Ok(ConnectionKeyJson {
        kid: view.key.kid.clone(),
        cert: c.cert,
        pkcs: c.pkcs7,
        current: view.role == RingRole::Current,
        next: view.role == RingRole::Next,
        previous: view.role == RingRole::Previous,
        current_since: view.slot.current_since.map(iso8601),
        fingerprint: c.fingerprint,
        thumbprint: c.thumbprint,
        algorithm: view.key.algorithm.jws_name(),
        key_use: key_use_name(view.key_use),
        subject_dn: c.subject_dn,
    })
}

/// A tenant signing key, as Auth0 shows it.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = SigningKey)]
pub(crate) struct SigningKeyJson {
    kid: String,
    cert: String,
    pkcs7: String,
    current: bool,
    next: bool,
    previous: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    current_since: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    current_until: Option<String>,
    fingerprint: String,
    thumbprint: String,
    revoked: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    revoked_at: Option<String>,
}

pub(crate) fn signing_key_json(view: &RingKeyView) -> Result<SigningKeyJson, Auth0Error> {
    let c = certificate_json(view)?;
    Ok(SigningKeyJson {
        kid: view.key.kid.clone(),
        cert: c.cert,
        pkcs7: c.pkcs7,
        current: view.role == RingRole::Current,
        next: view.role == RingRole::Next,
        previous: view.role == RingRole::Previous,
        current_since: view.slot.current_since.map(iso8601),
        current_until: view.slot.current_until.map(iso8601),
        fingerprint: c.fingerprint,
        thumbprint: c.thumbprint,
        revoked: view.role == RingRole::Revoked,
        revoked_at: view.slot.revoked_at.map(iso8601),
    })
}

/// Every view in one shape, or the first failure.
pub(crate) fn all_json<T>(
    views: &[RingKeyView],
    shape: fn(&RingKeyView) -> Result<T, Auth0Error>,
) -> Result<Vec<T>, Auth0Error> {
    views.iter().map(shape).collect()
}

/// A key's certificate (PEM) and kid.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct CertAndKid<'a> {
    cert: &'a str,
    kid: &'a str,
}

pub(crate) fn cert_and_kid(status: StatusCode, view: &RingKeyView) -> Reply {
    let cert = view.key.certificate.as_deref().unwrap_or_default();
    Ok(crate::middleware::audit::with_target(
        HttpResponse::build(status).json(CertAndKid {
            cert,
            kid: &view.key.kid,
        }),
        view.key.kid.clone(),
    ))
}

/// Which keys: `signing_alg` (default RS256) and `key_use` (`signing`, the default, or `encryption`, RSA only).
#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct KeysBody {
    #[schema(schema_with = signing_alg_schema)]
    signing_alg: Option<String>,
    /// Keysmith's: `signing` (default) or `encryption`.
    #[schema(schema_with = key_use_schema)]
    key_use: Option<String>,
}

/// The key uses a connection key may have, by their names on the wire ([`key_use_name`]).
const KEY_USES: [KeyUse; 2] = [KeyUse::Signing, KeyUse::Encryption];

impl KeysBody {
    /// The requested signing algorithm (the use case applies the default).
    pub(crate) fn signing_alg(&self) -> Option<&str> {
        self.signing_alg.as_deref()
    }

    pub(crate) fn key_use(&self) -> Result<KeyUse, Auth0Error> {
        match self.key_use.as_deref() {
            None => Ok(KeyUse::Signing),
            Some(name) => KEY_USES
                .into_iter()
                .find(|key_use| key_use_name(*key_use) == name)
                .ok_or_else(|| Auth0Error::invalid_body("key_use must be signing or encryption")),
        }
    }
}

/// `signing_alg`: the algorithms the use case accepts for connection keys
/// ([`keysmith_core::CONNECTION_SIGNING_ALGS`]), or null.
fn signing_alg_schema() -> Schema {
    nullable_choice(
        "The algorithms Auth0 offers for connection keys.",
        keysmith_core::CONNECTION_SIGNING_ALGS.map(|algorithm| algorithm.as_str()),
    )
}

/// `key_use`: the names of [`KEY_USES`], or null.
fn key_use_schema() -> Schema {
    nullable_choice(
        "Keysmith's: what a connection key is for, `signing` (default) or `encryption`.",
        KEY_USES.map(key_use_name),
    )
}

/// One of `values` (strings), or null.
fn nullable_choice<const N: usize>(description: &str, values: [&str; N]) -> Schema {
    use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Type};
    OneOfBuilder::new()
        .item(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .description(Some(description))
                .enum_values(Some(values)),
        )
        .item(ObjectBuilder::new().schema_type(Type::Null))
        .build()
        .into()
}
