//! What the route table says of one route: who may call it, how it authenticates, what the
//! audit trail records. A leaf: the middleware reads it without depending on the table.

use actix_web::HttpMessage as _;
use keysmith_model::Family;

/// Who may call a route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Anyone: health, the JWKS and public keys, token validation (the token is the
    /// credential), the admin page's static files, the OpenAPI document.
    Anonymous,
    /// An API key granted this family and the request's method.
    Family(Family),
    /// An API key granted every family (`*`) and the request's method: backups.
    AdminOnly,
    /// `/metrics`: an API key granted the `metrics` family, or anyone when
    /// `metrics_anonymous` is set.
    Scrape,
}

/// How a route reads its API key and refuses one: FusionAuth's raw `Authorization: <key>` and
/// empty 401, or Auth0's `Authorization: Bearer <key>` and JSON 401/403.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    /// `/api/...` and everything that is not Auth0's.
    FusionAuth,
    /// `/api/v2/...`.
    Auth0,
}

/// One route's declaration (besides its path and methods, which its OpenAPI entry gives).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RouteSpec {
    /// Who may call it.
    pub access: Access,
    /// How it authenticates and refuses.
    pub dialect: Dialect,
    /// What the audit trail records for it (`None`: not recorded).
    pub audit: Option<&'static str>,
    /// Whether the audited action is a use of a private key (sign, verify, vend), recorded as
    /// `audit_uses` says, rather than a change of state, recorded in the change's transaction.
    pub audit_use: bool,
}

impl RouteSpec {
    /// Anyone may call it; not audited.
    pub const fn anonymous() -> Self {
        Self {
            access: Access::Anonymous,
            dialect: Dialect::FusionAuth,
            audit: None,
            audit_use: false,
        }
    }

    /// A FusionAuth-style route of `family`.
    pub const fn fusionauth(family: Family) -> Self {
        Self {
            access: Access::Family(family),
            dialect: Dialect::FusionAuth,
            audit: None,
            audit_use: false,
        }
    }

    /// An Auth0 route of `family`.
    pub const fn auth0(family: Family) -> Self {
        Self {
            access: Access::Family(family),
            dialect: Dialect::Auth0,
            audit: None,
            audit_use: false,
        }
    }

    /// A FusionAuth-style route for admin keys only.
    pub const fn admin_only() -> Self {
        Self {
            access: Access::AdminOnly,
            dialect: Dialect::FusionAuth,
            audit: None,
            audit_use: false,
        }
    }

    /// `/metrics`.
    pub const fn scrape() -> Self {
        Self {
            access: Access::Scrape,
            dialect: Dialect::FusionAuth,
            audit: None,
            audit_use: false,
        }
    }

    /// The same route, a change of state recorded in the audit trail as `action`.
    pub const fn audited(self, action: &'static str) -> Self {
        Self {
            audit: Some(action),
            audit_use: false,
            ..self
        }
    }

    /// The same route, a use of a private key recorded in the audit trail as `action`
    /// (summed up per key and interval by default: the `audit_uses` setting).
    pub const fn audited_use(self, action: &'static str) -> Self {
        Self {
            audit: Some(action),
            audit_use: true,
            ..self
        }
    }

    /// Whether calling it needs an API key (given the `metrics_anonymous` setting).
    pub fn needs_key(&self, metrics_anonymous: bool) -> bool {
        match self.access {
            Access::Anonymous => false,
            Access::Scrape => !metrics_anonymous,
            Access::Family(_) | Access::AdminOnly => true,
        }
    }
}

/// Names the spec of the route a request matched (set by the permission check).
pub fn matched_spec(request: &actix_web::HttpRequest) -> Option<RouteSpec> {
    request.extensions().get::<RouteSpec>().copied()
}
