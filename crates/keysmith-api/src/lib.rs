//! Keysmith's HTTP API on actix-web.
//!
//! Modules by vendor and concern, depending one way: `fusionauth/`, `auth0/` and `system/`
//! hold the handlers, each module with its own `configure`; `middleware/` runs around them;
//! `routing` is the route table they register in; `openapi` is the document only. HTTP status
//! codes are decided in two places, one per wire dialect: [`ApiError`] for FusionAuth's
//! routes and Keysmith's own, and [`auth0::Auth0Error`] for Auth0's `/api/v2`.
//! Handlers follow one shape: authorise → parse and validate → call the use case on the
//! blocking pool → map the result.
//!
//! ```no_run
//! # fn demo(state: keysmith_api::AppState) {
//! // What `keysmith` serves, with a 64 KiB body limit.
//! let server = actix_web::HttpServer::new(move || keysmith_api::app(state.clone(), 64 * 1024));
//! # }
//! ```
//!
//! # Crate features
//! - `fuzzing`: the `fuzzing` module, the request parsers as plain functions for the fuzz
//!   targets in `fuzz/`. Off by default; never needed by the server.

pub mod auth0;
pub mod fusionauth;
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;
pub mod middleware;
pub mod openapi;
pub mod routing;
mod streamed;
pub mod system;

use std::sync::Arc;

use actix_web::web;
use keysmith_core::KeyService;

pub use auth0::iso8601;
pub use fusionauth::ApiError;
pub use middleware::auth::ApiKeys;

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
    pub limits: Arc<middleware::limits::Limits>,
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
    pub backup: system::backup::BackupSettings,
    /// Whether `/admin` answers.
    pub admin_enabled: bool,
    /// The admin page highlights keys expiring within this many days.
    pub admin_expiry_warning_days: u32,
}

/// The whole application as the server runs it: the shared state, the body limit, the
/// middleware (outermost last: request histograms, request id, audit context, deadline) and
/// every route. The server and the in-process tests build it here, so they cannot drift.
pub fn app(
    state: AppState,
    body_limit: usize,
) -> actix_web::App<
    impl actix_web::dev::ServiceFactory<
        actix_web::dev::ServiceRequest,
        Config = (),
        Response = actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    use actix_web::middleware::from_fn;
    actix_web::App::new()
        .app_data(web::Data::new(state))
        .app_data(payload_config(body_limit))
        .wrap(from_fn(timeout))
        .wrap(from_fn(middleware::audit::middleware))
        .wrap(from_fn(middleware::request_id::middleware))
        .wrap(from_fn(system::metrics::middleware))
        .configure(configure)
}

/// Registers every route, then answers other methods on their paths with 405 and `Allow`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    let mut routing = routing::Routing::new(cfg);
    register(&mut routing);
    routing.finish();
}

/// Registers every route (on a `web::ServiceConfig`, or on a [`routing::RouteList`]).
pub fn register(routes: &mut impl routing::Registrar) {
    system::status::configure(routes);
    fusionauth::keys::configure(routes);
    fusionauth::jwt::configure(routes);
    auth0::configure(routes);
    system::audit::configure(routes);
    system::metrics::configure(routes);
    system::backup::configure(routes);
    system::admin::configure(routes);
    openapi::configure(routes);
}

pub use middleware::deadline::middleware as timeout;

/// Request bodies: at most `limit` bytes (larger ones get 413). Handlers parse the JSON
/// themselves, after authorisation, and report errors in FusionAuth's Errors JSON.
pub fn payload_config(limit: usize) -> web::PayloadConfig {
    web::PayloadConfig::new(limit)
}
