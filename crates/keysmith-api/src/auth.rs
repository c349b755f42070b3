//! API keys: FusionAuth's raw `Authorization: <api key>` header (Auth0's routes take
//! `Bearer <api key>`), checked in constant time, each key limited to its permissions.

use std::fmt;
use std::sync::Arc;

use actix_web::HttpRequest;
use actix_web::http::header::AUTHORIZATION;
use keysmith_crypto::KeyBackend;
use keysmith_model::{Family, HashAlgorithm, Permissions};

use crate::ApiError;

/// Why a presented key was not allowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Denied {
    /// No key, or one that is not accepted.
    Unknown,
    /// A valid key without permission for this family and method.
    Scope,
}

/// One accepted key: its SHA-256, its permissions, and its id for the audit trail.
#[derive(Debug)]
pub struct AcceptedKey {
    /// SHA-256 of the key.
    pub hash: [u8; 32],
    /// What it may call.
    pub permissions: Permissions,
    /// How the audit trail names it (never the key).
    pub actor: String,
}

/// The accepted API keys, kept only as SHA-256 hashes, each with its permissions.
pub struct ApiKeys {
    keys: Vec<AcceptedKey>,
    backend: Arc<dyn KeyBackend>,
}

impl fmt::Debug for ApiKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiKeys({} keys)", self.keys.len())
    }
}

impl ApiKeys {
    /// Accepts these keys.
    pub fn new(keys: Vec<AcceptedKey>, backend: Arc<dyn KeyBackend>) -> Self {
        Self { keys, backend }
    }

    /// The SHA-256 of an API key.
    pub fn hash(backend: &dyn KeyBackend, api_key: &str) -> Option<[u8; 32]> {
        backend
            .digest(HashAlgorithm::Sha256, api_key.as_bytes())
            .ok()
            .and_then(|d| <[u8; 32]>::try_from(d.as_slice()).ok())
    }

    /// The permissions of `presented`, if it is one of the keys. Both sides are hashed and the
    /// digests compared without early exit, against every stored hash, so timing says nothing
    /// about the keys.
    fn find(&self, presented: &str) -> Option<&AcceptedKey> {
        let digest = Self::hash(&*self.backend, presented)?;
        let mut found = None;
        for key in &self.keys {
            let difference = key
                .hash
                .iter()
                .zip(&digest)
                .fold(0u8, |acc, (a, b)| acc | (a ^ b));
            if std::hint::black_box(difference) == 0 {
                found = Some(key);
            }
        }
        found
    }

    /// Whether `presented` may call `method` on a route of `family`; if so, who it is.
    pub fn check(&self, presented: &str, family: Family, method: &str) -> Result<&str, Denied> {
        match self.find(presented) {
            None => Err(Denied::Unknown),
            Some(key) if key.permissions.allows(family, method) => Ok(&key.actor),
            Some(_) => Err(Denied::Scope),
        }
    }

    /// Checks FusionAuth's `Authorization: <api key>` header against the request's route
    /// family and method. FusionAuth answers a key without permission with 401, like no key.
    pub fn authorize(&self, request: &HttpRequest) -> Result<(), ApiError> {
        let presented = request
            .headers()
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .ok_or(ApiError::Unauthorized)?;
        let actor = self
            .check(
                presented,
                Family::of_path(request.path()),
                request.method().as_str(),
            )
            .map_err(|_| ApiError::Unauthorized)?;
        actix_web::HttpMessage::extensions_mut(request)
            .insert(crate::audit::Actor(actor.to_owned()));
        Ok(())
    }
}
