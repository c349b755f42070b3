//! The use-case layer's error type.

use keysmith_model::{Errors, Reason, RingError};
use keysmith_store::{StoreError, UniqueField};

/// Why a use case failed. The API maps each variant to one status code.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServiceError {
    /// The request is wrong; the errors say how, field by field.
    #[error("invalid request: {0}")]
    Invalid(Errors),
    /// No such key or connection.
    #[error("not found")]
    NotFound,
    /// The request conflicts with the current state, e.g. provisioning keys twice or a taken
    /// connection name. The message is for people.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The store cannot be reached for now (a shared database that is down); the same request
    /// may succeed later. Nothing was changed.
    #[error("the store is unavailable: {0}")]
    Unavailable(String),
    /// Something failed that the caller could not have prevented. The cause is for
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
            StoreError::Duplicate(UniqueField::ConnectionName) => {
                ServiceError::Conflict("A connection with the same name already exists".into())
            }
            StoreError::Duplicate(field) => {
                let (path, what) = match field {
                    UniqueField::Id => ("key.id", "id"),
                    UniqueField::Name => ("key.name", "name"),
                    UniqueField::Kid => ("key.kid", "kid"),
                    UniqueField::ConnectionId | UniqueField::ConnectionName => {
                        ("connection.id", "connection id")
                    }
                };
                ServiceError::Invalid(Errors::field(
                    path,
                    Reason::Duplicate,
                    format!("A key with this {what} already exists."),
                ))
            }
            StoreError::InUse { owner, role } => ServiceError::Invalid(Errors::field(
                "keyId",
                Reason::InUse,
                format!(
                    "The key is the {} key of {owner}; rotate it out (or delete the connection) before deleting it.",
                    role.as_str()
                ),
            )),
            StoreError::RingGone { owner } => ServiceError::Invalid(Errors::field(
                "keyId",
                Reason::NotAllowed,
                format!(
                    "The key was revoked in {owner}, which no longer exists, so it cannot be restored as it was deleted."
                ),
            )),
            StoreError::Ring(RingError::NoSuchConnection | RingError::NoSuchKey) => {
                ServiceError::NotFound
            }
            StoreError::Ring(RingError::AlreadyProvisioned) => {
                ServiceError::Conflict("The keys already exist; rotate them instead".into())
            }
            StoreError::Ring(refusal) => ServiceError::Invalid(Errors::general(
                Reason::NotAllowed,
                "",
                capitalized(&refusal.to_string()),
            )),
            StoreError::Unavailable(why) => ServiceError::Unavailable(why),
            other => ServiceError::internal(other),
        }
    }
}

impl From<keysmith_crypto::Error> for ServiceError {
    fn from(err: keysmith_crypto::Error) -> Self {
        match err {
            // A key of an algorithm this server's backend lacks (ML-DSA on OpenSSL 3.0): the
            // request names it, so it is refused, saying what the server would need.
            unsupported @ keysmith_crypto::Error::Unsupported { .. } => {
                ServiceError::Invalid(Errors::general(
                    Reason::NotAllowed,
                    "",
                    capitalized(&unsupported.to_string()),
                ))
            }
            other => ServiceError::internal(other),
        }
    }
}

fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}
