//! The settings of the use cases.

use keysmith_crypto::certificate;
use keysmith_model::MAX_NAME_LENGTH;

/// The default `published_cache_bytes`: 128 MiB, the documents of about 130,000 ES256 keys
/// with certificates (about 1 KB of JWK and public key each).
pub const DEFAULT_PUBLISHED_CACHE_BYTES: usize = 128 << 20;

/// Settings the use cases need.
#[derive(Clone, Debug)]
pub struct ServiceConfig {
    /// The issuer (certificate common name) of generated keys when the request names none.
    pub default_issuer: String,
    /// Validity of generated certificates, in years (FusionAuth: 10).
    pub certificate_validity_years: u32,
    /// The most keys one search may return.
    pub max_search_results: usize,
    /// Lifetime of a vended JWT when the request gives none, in seconds.
    pub jwt_default_ttl_seconds: i64,
    /// The longest lifetime a vend request may ask for, in seconds.
    pub jwt_max_ttl_seconds: i64,
    /// Clock skew allowed when checking `exp` and `nbf`, in seconds.
    pub jwt_clock_skew_seconds: i64,
    /// Key rings: scheduled rotation and the tenant's algorithm.
    pub rotation: crate::RotationPolicy,
    /// How long a deleted key can be restored, in seconds; 0 = deletion is immediate and final.
    pub deletion_window_seconds: u64,
    /// The longest certificate, public key, private key or secret text an import accepts.
    pub max_pem_bytes: usize,
    /// The longest name, kid or issuer, in characters (at most FusionAuth's 255).
    pub max_field_length: usize,
    /// The most bytes the published documents (JWKS and public keys, together) are kept in
    /// memory for; a larger set is streamed from the store on every request. The per-issuer
    /// JWKS kept together have a budget of the same size of their own.
    pub published_cache_bytes: usize,
    /// RSA pairs made ahead of need, per size (all zero: none, every RSA key made on request).
    pub rsa_pool: crate::RsaPoolConfig,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        Self {
            default_issuer: "keysmith".into(),
            certificate_validity_years: certificate::DEFAULT_VALIDITY_YEARS,
            max_search_results: 500,
            jwt_default_ttl_seconds: 3600,
            jwt_max_ttl_seconds: 366 * 86_400,
            jwt_clock_skew_seconds: 60,
            rotation: crate::RotationPolicy::default(),
            deletion_window_seconds: 0,
            max_pem_bytes: 32 * 1024,
            max_field_length: MAX_NAME_LENGTH,
            published_cache_bytes: DEFAULT_PUBLISHED_CACHE_BYTES,
            rsa_pool: crate::RsaPoolConfig::default(),
        }
    }
}
