//! Keysmith's use cases, between the HTTP layer and storage.
//!
//! [`KeyService`] is the shared core: it holds an `Arc<dyn KeyBackend>`, an `Arc<dyn KeyStore>`,
//! the settings, the published set and the loaded-key caches, and is cheap to clone. It knows no
//! web framework and no storage engine. It also answers what the server reports about itself
//! (storage health, key census, audit search, snapshots) and runs scheduled ring rotation
//! ([`KeyService::rotate_due`]). The use cases are grouped into services, each a borrowed view
//! of the core:
//!
//! - [`Keys`] (`service.keys()`): FusionAuth keys: generate, import, read, rename, delete, search.
//! - [`Tokens`] (`service.tokens()`): JWT vend and validate, sign and verify.
//! - [`Connections`] (`service.connections()`): Auth0 connections and their key rings.
//! - [`TenantSigningKeys`] (`service.tenant_keys()`): the tenant's signing keys.
//!
//! All methods block (crypto and durable writes); async callers run them on a blocking pool.
//!
//! # Crate features
//! None.

pub mod audit;
mod config;
mod connections;
mod error;
mod key_json;
mod keys;
pub mod metrics;
mod pages;
mod published;
mod rings;
mod rsa_pool;
mod search;
mod system;
mod tokens;

pub use config::{DEFAULT_PUBLISHED_CACHE_BYTES, ServiceConfig};
pub use connections::{ConnectionFields, Connections};
pub use error::ServiceError;
pub use key_json::KeyJsonStats;
pub use keys::{GenerateRequest, ImportRequest, KeyCommit, KeyService, Keys, MadeKey, QueuedKey};
pub use published::{IssuerJwks, Published, PublishedAnswer, PublishedDocument, ScopedJwks};
pub use rings::{
    CONNECTION_SIGNING_ALGS, RingKeyView, RotationPolicy, RotationReason, TenantSigningKeys,
};
pub use rsa_pool::{RsaPoolConfig, RsaPoolStats};
pub use search::SearchRequest;
pub use tokens::{MAX_SIGN_PAYLOAD, MAX_TOKEN_LEN, TokenRejection, Tokens};
