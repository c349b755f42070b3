//! The crypto layer's one error type.

use std::fmt;

/// Why a crypto operation failed.
///
/// Invariant: messages are Keysmith's own words about the *shape* of the input (its type, size,
/// encoding). They never quote input bytes, so no key material can reach a log or a response
/// through an error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The input could not be decoded: bad PEM, base64 or DER, or a structure no backend reads.
    #[error("malformed input: {0}")]
    Malformed(String),
    /// The input decoded but is not acceptable: a size, curve, type or encryption we refuse.
    #[error("rejected: {0}")]
    Rejected(String),
    /// The input is larger than any key Keysmith accepts (an RSA modulus over the maximum, a
    /// key structure no supported curve needs). Found from the DER's structure alone, so no
    /// backend spent any work on it.
    #[error("too large: {0}")]
    TooLarge(String),
    /// Two pieces of key material that must belong together do not.
    #[error("mismatch: {0}")]
    Mismatch(String),
    /// The backend cannot do this at all (a gap, reported rather than hidden).
    #[error("unsupported by the {backend} backend: {what}")]
    Unsupported {
        /// The backend's name.
        backend: &'static str,
        /// What it cannot do.
        what: String,
    },
    /// The crypto library failed. The cause is kept opaque, as rustls does with `Other`.
    #[error("crypto backend failure")]
    Backend(#[source] BackendError),
}

impl Error {
    /// A [`Error::Malformed`] with a message.
    pub fn malformed(message: impl Into<String>) -> Self {
        Error::Malformed(message.into())
    }

    /// A [`Error::Rejected`] with a message.
    pub fn rejected(message: impl Into<String>) -> Self {
        Error::Rejected(message.into())
    }

    /// Wraps a backend library's error opaquely.
    pub fn backend(cause: impl std::error::Error + Send + Sync + 'static) -> Self {
        Error::Backend(BackendError(Box::new(cause)))
    }
}

/// A crypto library's error, carried opaquely so callers cannot depend on its type.
pub struct BackendError(Box<dyn std::error::Error + Send + Sync>);

impl fmt::Debug for BackendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BackendError({})", self.0)
    }
}

impl fmt::Display for BackendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl std::error::Error for BackendError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(self.0.as_ref())
    }
}
