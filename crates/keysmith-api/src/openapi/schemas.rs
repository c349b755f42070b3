//! The responses and bodies the OpenAPI document names that are built in place (`json!`) or
//! shared between routes: the refusals every route can answer, and the documented shape of
//! each body a handler writes without a serialised type of its own.

use keysmith_model::Errors;
use utoipa::IntoResponses;

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
