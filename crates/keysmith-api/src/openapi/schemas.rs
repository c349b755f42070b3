//! The responses and bodies the OpenAPI document names that are built in place (`json!`) or
//! shared between routes: the refusals every route can answer, and the documented shape of
//! each body a handler writes without a serialised type of its own.

use keysmith_model::Errors;
use utoipa::{IntoResponses, ToSchema};

// ---- shared responses ----

/// Refusals every authenticated FusionAuth route can give, all with an empty body.
#[derive(IntoResponses)]
#[allow(dead_code)]
pub(crate) enum Refusals {
    /// No API key, an unknown one, or one not allowed this route.
    #[response(status = 401)]
    Unauthorized,
    /// An unexpected failure, logged with the request id.
    #[response(status = 500)]
    Internal,
    /// Busy (the key-generation queue is full; `Retry-After` says when to retry) or the request
    /// took longer than `request_timeout_seconds`.
    #[response(status = 503)]
    Unavailable,
}

/// FusionAuth's refusal of a malformed request.
#[derive(IntoResponses)]
#[allow(dead_code)]
pub(crate) enum Invalid {
    /// The request is invalid: FusionAuth's Errors JSON, every problem at once.
    #[response(status = 400)]
    BadRequest(#[to_schema] Errors),
    /// The body is larger than `max_body_bytes`.
    #[response(status = 413)]
    TooLarge,
}

/// Auth0's refusals, every one with Auth0's error body.
#[derive(IntoResponses)]
#[allow(dead_code)]
pub(crate) enum Auth0Refusals {
    /// `invalid_body`, `invalid_query_string` or `operation_not_allowed`.
    #[response(status = 400)]
    BadRequest(#[to_schema] crate::auth0::error::Auth0ErrorBody<'static>),
    /// No API key or an unknown one.
    #[response(status = 401)]
    Unauthorized(crate::auth0::error::Auth0ErrorBody<'static>),
    /// `insufficient_scope`: the API key is not allowed this route.
    #[response(status = 403)]
    Forbidden(crate::auth0::error::Auth0ErrorBody<'static>),
    /// The rate limit (`Retry-After` says when to retry) or the key-generation queue is full.
    #[response(status = 429)]
    TooMany(crate::auth0::error::Auth0ErrorBody<'static>),
    /// An unexpected failure, logged with the request id.
    #[response(status = 500)]
    Internal(crate::auth0::error::Auth0ErrorBody<'static>),
    /// The request took longer than `request_timeout_seconds`.
    #[response(status = 503)]
    Unavailable,
}

// ---- request bodies and values documented here ----

/// A new connection (`POST /api/v2/connections`).
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub(crate) struct NewConnection {
    /// Unique.
    name: String,
    /// Auth0's strategy name (`samlp`, `waad`, `oidc`, ...).
    strategy: String,
    display_name: Option<String>,
    /// As in [`ConnectionChanges`].
    #[schema(value_type = Option<Object>)]
    options: Option<serde_json::Map<String, serde_json::Value>>,
    /// String values only.
    metadata: Option<std::collections::BTreeMap<String, String>>,
    enabled_clients: Option<Vec<String>>,
    realms: Option<Vec<String>>,
    is_domain_connection: Option<bool>,
    /// Keysmith's: rotate this connection's keys this often, in seconds (0: never; absent:
    /// the configured default).
    #[schema(maximum = 315_360_000)]
    rotation_period_seconds: Option<u64>,
    /// Accepted and ignored.
    show_as_button: Option<bool>,
}

/// The fields `PATCH /api/v2/connections/{id}` may change (`name` and `strategy` may not).
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub(crate) struct ConnectionChanges {
    display_name: Option<String>,
    /// Free-form, except that an option whose name says it holds a secret (`client_secret`,
    /// passwords, private keys) is refused: Keysmith keeps keys, not connection secrets.
    #[schema(value_type = Option<Object>)]
    options: Option<serde_json::Map<String, serde_json::Value>>,
    /// String values only.
    metadata: Option<std::collections::BTreeMap<String, String>>,
    enabled_clients: Option<Vec<String>>,
    realms: Option<Vec<String>>,
    is_domain_connection: Option<bool>,
    /// Keysmith's: rotate this connection's keys this often, in seconds (0: never; absent:
    /// the configured default).
    #[schema(maximum = 315_360_000)]
    rotation_period_seconds: Option<u64>,
    /// Accepted and ignored.
    show_as_button: Option<bool>,
}

/// The algorithms Auth0 offers for connection keys.
#[derive(ToSchema)]
#[allow(dead_code, clippy::upper_case_acronyms)]
pub(crate) enum ConnectionSigningAlg {
    RS256,
    RS384,
    RS512,
    PS256,
    PS384,
    ES256,
    ES384,
}

/// What a connection key is for.
#[derive(ToSchema)]
#[serde(rename_all = "lowercase")]
#[allow(dead_code)]
pub(crate) enum KeyUseName {
    Signing,
    Encryption,
}
