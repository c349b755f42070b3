//! The one place that maps outcomes to HTTP status codes and error shapes on FusionAuth's routes
//! (`auth0::Auth0Error` does the same for Auth0's `/api/v2`).

use actix_web::error::JsonPayloadError;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use keysmith_core::ServiceError;
use keysmith_model::{Errors, Reason};

/// Why a request failed, as the API reports it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// 400 with FusionAuth's Errors JSON.
    #[error("bad request: {0}")]
    BadRequest(Errors),
    /// 401 with an empty body: no API key, or a wrong one.
    #[error("unauthorized")]
    Unauthorized,
    /// 404 with an empty body.
    #[error("not found")]
    NotFound,
    /// 503 with `Retry-After` and an empty body: the key-generation pool is full, or the store
    /// is unreachable for now.
    #[error("busy")]
    Busy {
        /// Seconds to wait.
        retry_after_seconds: u64,
    },
    /// 507 with FusionAuth's Errors JSON (a general `[insufficientStorage]` error): the data
    /// disk has too little free space for what was asked (an online backup). Nothing was written.
    #[error("insufficient storage: {0}")]
    InsufficientStorage(String),
    /// 500 with an empty body. The cause was logged where it happened.
    #[error("internal error")]
    Internal,
}

impl ApiError {
    /// A JSON body that could not be read: FusionAuth's Errors JSON with a general error. The
    /// message gives the position, never the content (which may be key material).
    pub fn from_json_error(err: &JsonPayloadError) -> Self {
        let message = match err {
            JsonPayloadError::Overflow { limit }
            | JsonPayloadError::OverflowKnownLength { limit, .. } => {
                format!("The request body is larger than {limit} bytes.")
            }
            JsonPayloadError::Deserialize(e) | JsonPayloadError::Serialize(e) => {
                format!("The request body {}.", json_error_position(e))
            }
            JsonPayloadError::ContentType => "The request body must be JSON.".into(),
            _ => "The request body could not be read.".into(),
        };
        ApiError::BadRequest(Errors::general(Reason::Invalid, "", message))
    }
}

/// What is wrong with a JSON body and where: "does not have the expected shape (line 1,
/// column 9)". Never the content, which may be key material or a secret.
pub(crate) fn json_error_position(e: &serde_json::Error) -> String {
    let what = match e.classify() {
        serde_json::error::Category::Data => "does not have the expected shape",
        serde_json::error::Category::Eof => "ends too early",
        _ => "is not valid JSON",
    };
    format!("{what} (line {}, column {})", e.line(), e.column())
}

/// The field a serde "unknown field `x`" message names (a field name, never a value). Only a
/// message that starts so is read: other messages quote values, which may hold the same words.
pub(crate) fn unknown_field(message: &str) -> Option<&str> {
    message
        .strip_prefix("unknown field `")
        .and_then(|rest| rest.split('`').next())
}

impl From<ServiceError> for ApiError {
    fn from(err: ServiceError) -> Self {
        match err {
            ServiceError::Invalid(errors) => ApiError::BadRequest(errors),
            ServiceError::NotFound => ApiError::NotFound,
            ServiceError::Unavailable(why) => {
                tracing::warn!(reason = %why, "the store is unavailable");
                ApiError::Busy {
                    retry_after_seconds: STORE_RETRY_AFTER_SECONDS,
                }
            }
            ServiceError::Internal(cause) => internal(&*cause),
            other => internal(&other),
        }
    }
}

/// What `Retry-After` says while the store is unreachable (a shared database restarting).
pub(crate) const STORE_RETRY_AFTER_SECONDS: u64 = 5;

impl From<crate::middleware::limits::PoolFull> for ApiError {
    fn from(full: crate::middleware::limits::PoolFull) -> Self {
        ApiError::Busy {
            retry_after_seconds: full.retry_after_seconds,
        }
    }
}

impl From<Errors> for ApiError {
    fn from(errors: Errors) -> Self {
        ApiError::BadRequest(errors)
    }
}

impl From<actix_web::error::BlockingError> for ApiError {
    fn from(err: actix_web::error::BlockingError) -> Self {
        internal(&err)
    }
}

/// Logs the cause chain (inside the request's span, so under its request id) and hides it from
/// the client. Causes are Keysmith's own error types, which never carry key material.
fn internal(cause: &(dyn std::error::Error + 'static)) -> ApiError {
    log_internal(cause);
    ApiError::Internal
}

/// Logs an internal error's cause chain (under the request's span, so with its request id).
pub(crate) fn log_internal(cause: &(dyn std::error::Error + 'static)) {
    let mut chain = cause.to_string();
    let mut source = cause.source();
    while let Some(next) = source {
        chain.push_str(": ");
        chain.push_str(&next.to_string());
        source = next.source();
    }
    tracing::error!(error = %chain, "internal error");
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::Busy { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::InsufficientStorage(_) => StatusCode::INSUFFICIENT_STORAGE,
            ApiError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            ApiError::BadRequest(errors) => HttpResponse::BadRequest().json(errors),
            ApiError::InsufficientStorage(message) => {
                HttpResponse::InsufficientStorage().json(serde_json::json!({
                    "generalErrors": [{"code": "[insufficientStorage]", "message": message}]
                }))
            }
            ApiError::Busy {
                retry_after_seconds,
            } => HttpResponse::ServiceUnavailable()
                .insert_header(("Retry-After", retry_after_seconds.to_string()))
                .finish(),
            other => HttpResponse::new(other.status_code()),
        }
    }
}

/// The refusals every route in FusionAuth's dialect that takes an API key can give, all with an
/// empty body: 401 (the permission check answers [`ApiError::Unauthorized`]), 500
/// ([`ApiError::Internal`]) and 503 ([`ApiError::Busy`], or the request deadline). A route's
/// entry lists its other answers (400, 404, 413) in its own words.
impl utoipa::IntoResponses for ApiError {
    fn responses()
    -> std::collections::BTreeMap<String, utoipa::openapi::RefOr<utoipa::openapi::Response>> {
        use utoipa::openapi::ResponseBuilder;
        [
            (
                "401",
                "No API key, an unknown one, or one not allowed this route.",
            ),
            ("500", "An unexpected failure, logged with the request id."),
            (
                "503",
                "Busy (the key-generation queue is full; `Retry-After` says when to retry) or the \
                 request took longer than `request_timeout_seconds`.",
            ),
        ]
        .into_iter()
        .map(|(status, description)| {
            let response = ResponseBuilder::new().description(description).into();
            (status.to_owned(), response)
        })
        .collect()
    }
}

/// The 400 of a route that reads a JSON body: [`ApiError::BadRequest`].
pub(crate) const INVALID: &str =
    "The request is invalid: FusionAuth's Errors JSON, every problem at once.";

/// The 413 of a route that reads a body: larger than the payload limit (`payload_config`).
pub(crate) const TOO_LARGE: &str = "The body is larger than `max_body_bytes`.";
