//! Keysmith's HTTP API on actix-web.
//!
//! Routes are grouped by resource, each module with its own `configure`. HTTP status codes
//! are decided in two places, one per wire dialect: [`error::ApiError`] for FusionAuth's routes
//! and [`auth0::Auth0Error`] for Auth0's `/api/v2`.
//! Handlers follow one shape: authorise → parse and validate → call the use case on the
//! blocking pool → map the result.
//!
//! ```no_run
//! # fn demo(state: keysmith_api::AppState) {
//! use actix_web::{App, web};
//! let app = App::new()
//!     .app_data(web::Data::new(state))
//!     .app_data(keysmith_api::payload_config(64 * 1024))
//!     .wrap(actix_web::middleware::from_fn(keysmith_api::request_id::middleware))
//!     .configure(keysmith_api::configure);
//! # }
//! ```
//!
//! # Crate features
//! - `fuzzing`: the `fuzzing` module, the request parsers as plain functions for the fuzz
//!   targets in `fuzz/`. Off by default; never needed by the server.

mod admin;
pub mod audit;
pub mod auth;
pub mod auth0;
pub mod backup;
pub mod deadline;
pub mod error;
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;
mod jwt;
mod keys;
pub mod limits;
pub mod metrics;
pub mod openapi;
pub mod request_id;
pub mod routes;
mod status;
mod wire;

use std::sync::Arc;

use actix_web::web;
use keysmith_core::KeyService;

pub use auth::ApiKeys;
pub use auth0::iso8601;
pub use error::ApiError;

/// What every handler shares.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The key use cases.
    pub keys: KeyService,
    /// The accepted API keys.
    pub api_keys: Arc<ApiKeys>,
    /// `Cache-Control: max-age` of the JWKS, in seconds.
    pub jwks_max_age_seconds: u32,
    /// Request limits.
    pub limits: Arc<limits::Limits>,
    /// The audit trail.
    pub audit: Arc<keysmith_core::audit::AuditTrail>,
    /// The longest a request may take in the server.
    pub request_timeout: std::time::Duration,
    /// Request durations by route, method and status (`/metrics`).
    pub request_seconds: Arc<keysmith_core::metrics::HistogramVec>,
    /// Whether `/metrics` answers.
    pub metrics_enabled: bool,
    /// Whether `/metrics` answers without an API key (otherwise it needs `metrics:GET`).
    pub metrics_anonymous: bool,
    /// Where online backups are staged before they are sent, and the space they must leave.
    pub backup: backup::BackupSettings,
    /// Whether `/admin` answers.
    pub admin_enabled: bool,
    /// The admin page highlights keys expiring within this many days.
    pub admin_expiry_warning_days: u32,
}

/// Registers every route, then answers other methods on their paths with 405 and `Allow`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    register(&mut routes::Routing::new(cfg, routes::RouteList::all()));
}

/// Registers every route (on a `web::ServiceConfig`, or on a [`routes::RouteList`]).
pub fn register(routes: &mut impl routes::Registrar) {
    status::configure(routes);
    keys::configure(routes);
    jwt::configure(routes);
    auth0::configure(routes);
    audit::configure(routes);
    metrics::configure(routes);
    backup::configure(routes);
    admin::configure(routes);
    openapi::configure(routes);
}

pub use deadline::middleware as timeout;

/// Request bodies: at most `limit` bytes (larger ones get 413). Handlers parse the JSON
/// themselves, after authorisation, and report errors in FusionAuth's Errors JSON.
pub fn payload_config(limit: usize) -> web::PayloadConfig {
    web::PayloadConfig::new(limit)
}
