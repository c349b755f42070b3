//! API keys: FusionAuth's raw `Authorization: <api key>` header, checked in constant time.

use std::fmt;
use std::sync::Arc;

use actix_web::HttpRequest;
use actix_web::http::header::AUTHORIZATION;
use keysmith_crypto::KeyBackend;
use keysmith_model::HashAlgorithm;

use crate::ApiError;

/// The accepted API keys, kept only as SHA-256 hashes.
pub struct ApiKeys {
    hashes: Vec<[u8; 32]>,
    backend: Arc<dyn KeyBackend>,
}

impl fmt::Debug for ApiKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiKeys({} keys)", self.hashes.len())
    }
}

impl ApiKeys {
    /// Accepts the keys whose SHA-256 hashes are `hashes`.
    pub fn new(hashes: Vec<[u8; 32]>, backend: Arc<dyn KeyBackend>) -> Self {
        Self { hashes, backend }
    }

    /// The SHA-256 of an API key.
    pub fn hash(backend: &dyn KeyBackend, api_key: &str) -> Option<[u8; 32]> {
        backend
            .digest(HashAlgorithm::Sha256, api_key.as_bytes())
            .ok()
            .and_then(|d| <[u8; 32]>::try_from(d.as_slice()).ok())
    }

    /// Whether `presented` is one of the keys. Both sides are hashed and the digests compared
    /// without early exit, against every stored hash, so timing says nothing about the keys.
    pub fn accepts(&self, presented: &str) -> bool {
        let Some(digest) = Self::hash(&*self.backend, presented) else {
            return false;
        };
        let mut found = 0u8;
        for stored in &self.hashes {
            let difference = stored
                .iter()
                .zip(&digest)
                .fold(0u8, |acc, (a, b)| acc | (a ^ b));
            found |= u8::from(difference == 0);
        }
        std::hint::black_box(found) == 1
    }

    /// Checks FusionAuth's `Authorization: <api key>` header.
    pub fn authorize(&self, request: &HttpRequest) -> Result<(), ApiError> {
        let presented = request
            .headers()
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .ok_or(ApiError::Unauthorized)?;
        if self.accepts(presented) {
            Ok(())
        } else {
            Err(ApiError::Unauthorized)
        }
    }
}
