//! [`Auth0Error`]: Auth0's error shape `{statusCode, error, message, errorCode}`, and the one
//! mapping from a use-case error to an Auth0 status.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use keysmith_core::ServiceError;
use keysmith_model::Errors;
use serde::Serialize;

/// An error in Auth0's shape: `{statusCode, error, message, errorCode}`.
#[derive(Debug, thiserror::Error)]
#[error("{status}: {message}")]
pub struct Auth0Error {
    status: StatusCode,
    message: String,
    error_code: &'static str,
    retry_after_seconds: Option<u64>,
}

impl Auth0Error {
    pub(super) fn new(
        status: StatusCode,
        error_code: &'static str,
        message: impl Into<String>,
    ) -> Self {
        Self {
            status,
            message: message.into(),
            error_code,
            retry_after_seconds: None,
        }
    }

    pub(crate) fn invalid_body(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_body",
            format!("Payload validation error: {}", message.into()),
        )
    }

    /// 401: no `Authorization: Bearer` header.
    pub(crate) fn missing_authentication() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "missing_authentication",
            "Missing authentication",
        )
    }

    /// 401: a bearer token that is no API key.
    pub(crate) fn invalid_token() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "invalid_token", "Invalid token")
    }

    /// 403: an API key without permission for this route.
    pub(crate) fn insufficient_scope(family: &str, method: &str) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "insufficient_scope",
            format!("Insufficient scope, expected any of: {family}:{method}"),
        )
    }

    pub(super) fn no_connection() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "inexistent_connection",
            "The connection does not exist",
        )
    }

    pub(super) fn no_signing_key() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "inexistent_key",
            "The signing key does not exist",
        )
    }

    /// 429 with `Retry-After`.
    pub fn too_many_requests(retry_after_seconds: u64) -> Self {
        Self {
            retry_after_seconds: Some(retry_after_seconds.max(1)),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_requests",
                "Too many requests. Check the Retry-After header",
            )
        }
    }

    /// Maps a use-case error; `not_found` is the 404 of the resource the route names.
    pub(super) fn from_service(err: ServiceError, not_found: fn() -> Self) -> Self {
        match err {
            ServiceError::NotFound => not_found(),
            ServiceError::Conflict(message) => Self::new(StatusCode::CONFLICT, "conflict", message),
            ServiceError::Invalid(errors) if errors.field_errors.is_empty() => Self::new(
                StatusCode::BAD_REQUEST,
                "operation_not_allowed",
                messages(&errors),
            ),
            ServiceError::Invalid(errors) => Self::invalid_body(messages(&errors)),
            ServiceError::Unavailable(why) => {
                tracing::warn!(reason = %why, "the store is unavailable");
                let mut unavailable = Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "temporarily_unavailable",
                    "The key store is unavailable; retry after the time in Retry-After",
                );
                unavailable.retry_after_seconds =
                    Some(crate::fusionauth::error::STORE_RETRY_AFTER_SECONDS);
                unavailable
            }
            other => {
                match &other {
                    ServiceError::Internal(cause) => {
                        crate::fusionauth::error::log_internal(&**cause)
                    }
                    _ => crate::fusionauth::error::log_internal(&other),
                }
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal_error",
                    "Internal error",
                )
            }
        }
    }
}

fn messages(errors: &Errors) -> String {
    errors
        .general_errors
        .iter()
        .chain(errors.field_errors.values().flatten())
        .map(|d| d.message.as_str())
        .collect::<Vec<_>>()
        .join("; ")
}

impl From<crate::middleware::limits::RateLimited> for Auth0Error {
    fn from(limited: crate::middleware::limits::RateLimited) -> Self {
        Self::too_many_requests(limited.retry_after_seconds)
    }
}

impl From<crate::middleware::limits::PoolFull> for Auth0Error {
    fn from(full: crate::middleware::limits::PoolFull) -> Self {
        Self::too_many_requests(full.retry_after_seconds)
    }
}

impl From<actix_web::error::BlockingError> for Auth0Error {
    fn from(err: actix_web::error::BlockingError) -> Self {
        Self::from_service(ServiceError::internal(err), Self::no_connection)
    }
}

/// Auth0's error shape, as every `/api/v2` refusal writes it.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = Auth0Error)]
pub(crate) struct Auth0ErrorBody<'a> {
    status_code: u16,
    error: &'a str,
    message: &'a str,
    error_code: &'a str,
}

impl ResponseError for Auth0Error {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status);
        if let Some(seconds) = self.retry_after_seconds {
            response.insert_header(("Retry-After", seconds.to_string()));
        }
        response.json(Auth0ErrorBody {
            status_code: self.status.as_u16(),
            error: self.status.canonical_reason().unwrap_or("Error"),
            message: &self.message,
            error_code: self.error_code,
        })
    }
}

/// The refusals every `/api/v2` route can give, each with Auth0's error body ([`Auth0ErrorBody`]),
/// and the request deadline's 503. A route's entry lists its own 404 and 409.
impl utoipa::IntoResponses for Auth0Error {
    fn responses()
    -> std::collections::BTreeMap<String, utoipa::openapi::RefOr<utoipa::openapi::Response>> {
        use utoipa::ToSchema as _;
        use utoipa::openapi::{Content, Ref, ResponseBuilder};
        let body = || {
            Content::new(Some(Ref::from_schema_name(
                Auth0ErrorBody::name().into_owned(),
            )))
        };
        let refusals = [
            (
                "400",
                "`invalid_body`, `invalid_query_string` or `operation_not_allowed`.",
            ),
            ("401", "No API key or an unknown one."),
            (
                "403",
                "`insufficient_scope`: the API key is not allowed this route.",
            ),
            (
                "429",
                "The rate limit (`Retry-After` says when to retry) or the key-generation queue is \
                 full.",
            ),
            ("500", "An unexpected failure, logged with the request id."),
        ];
        let mut responses: std::collections::BTreeMap<_, _> = refusals
            .into_iter()
            .map(|(status, description)| {
                let response = ResponseBuilder::new()
                    .description(description)
                    .content("application/json", body())
                    .into();
                (status.to_owned(), response)
            })
            .collect();
        responses.insert(
            "503".to_owned(),
            ResponseBuilder::new()
                .description("The request took longer than `request_timeout_seconds`.")
                .into(),
        );
        responses
    }
}
