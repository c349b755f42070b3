//! Keysmith's use cases, between the HTTP layer and storage.
//!
//! [`KeyService`] applies FusionAuth's semantics to keys: validation with FusionAuth's error
//! codes, generation with FusionAuth's certificate conventions, import rules, unique names,
//! rename-only updates and paged search. It knows no web framework and no storage engine: it
//! holds an `Arc<dyn KeyBackend>` and an `Arc<dyn KeyStore>`.
//!
//! All methods block (crypto and durable writes); async callers run them on a blocking pool.
//!
//! # Crate features
//! None.

pub mod audit;
mod connections;
mod error;
mod keys;
pub mod metrics;
mod published;
mod rings;
mod search;
mod system;
mod tokens;

pub use connections::ConnectionFields;
pub use error::ServiceError;
pub use keys::{GenerateRequest, ImportRequest, KeyService, ServiceConfig};
pub use published::Published;
pub use rings::{CONNECTION_SIGNING_ALGS, RingKeyView, RotationPolicy, RotationReason};
pub use search::SearchRequest;
pub use tokens::{MAX_SIGN_PAYLOAD, MAX_TOKEN_LEN, TokenRejection};
