//! The use-case layer's error type.

use keysmith_model::{Errors, Reason};
use keysmith_store::{StoreError, UniqueField};

/// Why a use case failed. The API maps each variant to one status code.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServiceError {
    /// The request is wrong; the errors say how (FusionAuth's Errors JSON, HTTP 400).
    #[error("invalid request: {0}")]
    Invalid(Errors),
    /// No such key (HTTP 404).
    #[error("not found")]
    NotFound,
    /// Something failed that the caller could not have prevented (HTTP 500). The cause is for
    /// the log; it never holds key material.
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl ServiceError {
    /// An internal error from any cause.
    pub fn internal(cause: impl std::error::Error + Send + Sync + 'static) -> Self {
        ServiceError::Internal(Box::new(cause))
    }
}

impl From<Errors> for ServiceError {
    fn from(errors: Errors) -> Self {
        ServiceError::Invalid(errors)
    }
}

impl From<StoreError> for ServiceError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Duplicate(field) => {
                let (path, what) = match field {
                    UniqueField::Id => ("key.id", "id"),
                    UniqueField::Name => ("key.name", "name"),
                    UniqueField::Kid => ("key.kid", "kid"),
                };
                ServiceError::Invalid(Errors::field(
                    path,
                    Reason::Duplicate,
                    format!("A key with this {what} already exists."),
                ))
            }
            other => ServiceError::internal(other),
        }
    }
}

impl From<keysmith_crypto::Error> for ServiceError {
    fn from(err: keysmith_crypto::Error) -> Self {
        ServiceError::internal(err)
    }
}
