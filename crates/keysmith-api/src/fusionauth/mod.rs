//! FusionAuth's Keys API (`/api/key...`), its JWT routes (`/api/jwt/...` and the JWKS), and
//! its error shape ([`ApiError`], the one place a FusionAuth status is decided; the system
//! routes answer in the same dialect).
//!
//! - `keys`: generate, import, read, update, delete, restore, sign, verify;
//! - `search`: key search by query string or body;
//! - `jwt`: the JWKS, public keys, vend and validate;
//! - `wire`: the bodies FusionAuth takes and returns.

pub(crate) mod error;
pub(crate) mod jwt;
pub(crate) mod keys;
pub(crate) mod search;
pub(crate) mod wire;

pub use error::ApiError;
pub(crate) use keys::parse_body;
