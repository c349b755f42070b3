//! API keys: FusionAuth's raw `Authorization: <api key>` header (Auth0's routes take
//! `Bearer <api key>`), checked in constant time, each key limited to its permissions, on the
//! route the router matched ([`crate::routes`] calls [`ApiKeys::authorize`]).

use std::fmt;
use std::sync::{Arc, RwLock};

use actix_web::http::header::AUTHORIZATION;
use actix_web::{HttpRequest, HttpResponse, ResponseError as _};
use keysmith_crypto::KeyBackend;
use keysmith_model::{Family, HashAlgorithm, Permissions};

use crate::ApiError;
use crate::auth0::Auth0Error;
use crate::routing::spec::{Access, Dialect, RouteSpec};

/// One accepted key: its SHA-256, its permissions, and its id for the audit trail.
#[derive(Clone, Debug)]
pub struct AcceptedKey {
    /// SHA-256 of the key.
    pub hash: [u8; 32],
    /// What it may call.
    pub permissions: Permissions,
    /// How the audit trail names it (never the key).
    pub actor: String,
}

/// The accepted API keys, kept only as SHA-256 hashes, each with its permissions. The set can
/// be replaced while serving (keys kept in a database that other nodes add to).
pub struct ApiKeys {
    keys: RwLock<Arc<Vec<AcceptedKey>>>,
    backend: Arc<dyn KeyBackend>,
}

impl fmt::Debug for ApiKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiKeys({} keys)", self.current().len())
    }
}

impl ApiKeys {
    /// Accepts these keys.
    pub fn new(keys: Vec<AcceptedKey>, backend: Arc<dyn KeyBackend>) -> Self {
        Self {
            keys: RwLock::new(Arc::new(keys)),
            backend,
        }
    }

    /// Accepts these keys instead, from the next request on.
    pub fn replace(&self, keys: Vec<AcceptedKey>) {
        let mut current = match self.keys.write() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        *current = Arc::new(keys);
    }

    fn current(&self) -> Arc<Vec<AcceptedKey>> {
        match self.keys.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
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
    fn find(&self, presented: &str) -> Option<AcceptedKey> {
        let digest = Self::hash(&*self.backend, presented)?;
        let keys = self.current();
        let mut found = None;
        for key in keys.iter() {
            let difference = key
                .hash
                .iter()
                .zip(&digest)
                .fold(0u8, |acc, (a, b)| acc | (a ^ b));
            if std::hint::black_box(difference) == 0 {
                found = Some(key.clone());
            }
        }
        found
    }

    /// Checks the request's API key against the spec of the route it matched. Returns who
    /// called (`None` for an anonymous call), or the refusal in the route's dialect:
    /// FusionAuth answers a missing, unknown or unpermitted key alike with an empty 401;
    /// Auth0 answers 401 for a missing or unknown key and 403 `insufficient_scope` for a key
    /// without permission.
    // The refusal is the response itself, built once per refused request; boxing it would
    // only add an allocation.
    #[allow(clippy::result_large_err)]
    pub fn authorize(
        &self,
        request: &HttpRequest,
        spec: RouteSpec,
        metrics_anonymous: bool,
    ) -> Result<Option<String>, HttpResponse> {
        if !spec.needs_key(metrics_anonymous) {
            return Ok(None);
        }
        let method = request.method().as_str();
        let allows = |permissions: &Permissions| match spec.access {
            Access::Anonymous => true,
            Access::Family(family) => permissions.allows(family, method),
            Access::Scrape => permissions.allows(Family::Metrics, method),
            Access::AdminOnly => permissions.allows_admin_only(method),
        };
        let header = request
            .headers()
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .unwrap_or("");
        match spec.dialect {
            Dialect::FusionAuth => match self.find(header) {
                Some(key) if !header.is_empty() && allows(&key.permissions) => {
                    Ok(Some(key.actor.clone()))
                }
                _ => Err(ApiError::Unauthorized.error_response()),
            },
            Dialect::Auth0 => {
                let token = match header.split_once(' ') {
                    Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim(),
                    _ => return Err(Auth0Error::missing_authentication().error_response()),
                };
                match self.find(token) {
                    None => Err(Auth0Error::invalid_token().error_response()),
                    Some(key) if allows(&key.permissions) => Ok(Some(key.actor.clone())),
                    Some(_) => {
                        let family = match spec.access {
                            Access::Family(family) => family.as_str(),
                            Access::Scrape => Family::Metrics.as_str(),
                            Access::Anonymous | Access::AdminOnly => "*",
                        };
                        Err(Auth0Error::insufficient_scope(family, method).error_response())
                    }
                }
            }
        }
    }
}
