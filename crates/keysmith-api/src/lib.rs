//! Keysmith's HTTP API on actix-web.
//!
//! Routes are grouped by resource, each module with its own `configure`. HTTP status codes
//! are decided in exactly one place, [`error::ApiError`]'s `ResponseError` implementation.
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
//! None.

pub mod auth;
pub mod error;
mod jwt;
mod keys;
pub mod request_id;
mod status;
mod wire;

use std::sync::Arc;

use actix_web::web;
use keysmith_core::KeyService;

pub use auth::ApiKeys;
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
}

/// Registers every route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    status::configure(cfg);
    keys::configure(cfg);
    jwt::configure(cfg);
}

/// Request bodies: at most `limit` bytes (larger ones get 413). Handlers parse the JSON
/// themselves, after authorisation, and report errors in FusionAuth's Errors JSON.
pub fn payload_config(limit: usize) -> web::PayloadConfig {
    web::PayloadConfig::new(limit)
}
