//! Configuration: built-in defaults, then an optional file, then `KEYSMITH_*` variables, then
//! command-line flags.

use std::path::{Path, PathBuf};

use config::{Config, Environment, File, FileFormat};
use serde::Deserialize;

/// The most RSA pairs of one size the pool may keep: each is a private key held in memory.
const MAX_RSA_POOL: usize = 1000;

/// The annotated defaults, embedded in the binary.
pub const DEFAULTS: &str = include_str!("../../../config/keysmith.toml");

/// The data file's name inside the data directory.
pub const DATA_FILE: &str = "keysmith.redb";

/// How logs are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Every setting. See `config/keysmith.toml` for what each does and its variable.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Listen address.
    pub bind: String,
    /// Data directory.
    pub data: PathBuf,
    /// A PostgreSQL URL to store the keys in; empty for the redb data file. May hold a
    /// password: never logged.
    pub store: zeroize::Zeroizing<String>,
    /// The most memory redb's page cache may hold, bytes.
    pub store_cache_bytes: usize,
    /// PostgreSQL: connections a node keeps in its pool.
    pub store_pool_size: u32,
    /// PostgreSQL: whether a node listens for other nodes' change notifications (else it only
    /// polls the change feed).
    pub store_listen: bool,
    /// PostgreSQL: how often a node polls the change feed, milliseconds.
    pub store_change_poll_ms: u64,
    /// PostgreSQL: whether a node applies missing schema migrations when it connects (else
    /// `keysmith migrate-schema` does, and a node refuses an older schema).
    pub store_migrate: bool,
    /// Crypto backend name; empty for the default.
    pub backend: String,
    /// An API key in plain text; empty for none.
    pub api_key: String,
    /// Hex SHA-256 hashes of more API keys.
    pub api_key_hashes: Vec<String>,
    /// Scoped API keys: hash, name and permissions each.
    pub api_keys: Vec<ScopedApiKey>,
    /// Master keys, base64 of 32 bytes each, comma-separated; the first seals. Never logged.
    pub master_key: zeroize::Zeroizing<String>,
    /// A file of master keys, one per line; the first seals.
    pub master_key_file: PathBuf,
    /// PEM certificate chain for HTTPS (with `tls_private_key`).
    pub tls_certificate: PathBuf,
    /// PEM private key for HTTPS. Never logged.
    pub tls_private_key: PathBuf,
    /// Issuer of generated keys.
    pub default_issuer: String,
    /// Certificate validity in years.
    pub certificate_validity_years: u32,
    /// Search page size limit.
    pub max_search_results: usize,
    /// JWKS `Cache-Control: max-age`, seconds.
    pub jwks_max_age_seconds: u32,
    /// Default lifetime of vended JWTs, seconds.
    pub jwt_default_ttl_seconds: i64,
    /// Longest lifetime a vend request may ask for, seconds.
    pub jwt_max_ttl_seconds: i64,
    /// Clock skew allowed when validating `exp`/`nbf`, seconds.
    pub jwt_clock_skew_seconds: i64,
    /// Scheduled rotation period of connection keys (0 = never), seconds.
    pub rotation_connection_period_seconds: u64,
    /// Scheduled rotation period of the tenant's signing keys (0 = never), seconds.
    pub rotation_tenant_period_seconds: u64,
    /// How often the rotation scheduler looks for due rings, seconds.
    pub rotation_check_interval_seconds: u64,
    /// Algorithm of the tenant's signing keys.
    pub tenant_signing_alg: String,
    /// Key-generating `/api/v2` requests per minute (0 = unlimited).
    pub key_generation_per_minute: u32,
    /// How many of those may come at once.
    pub key_generation_burst: u32,
    /// Key generations running at once, server-wide (0 = one per core); more get 503/429.
    pub key_generation_concurrency: usize,
    /// Key generations that may wait for a turn; more get 503/429 at once.
    pub key_generation_queue: usize,
    /// How long a deleted key can be restored (0 = deletion is immediate and final), seconds.
    pub deletion_window_seconds: u64,
    /// How uses of private keys (sign, verify, vend) are audited: `aggregate`, `each`, `off`.
    pub audit_uses: String,
    /// How long one aggregated use record covers, seconds.
    pub audit_use_interval_seconds: u64,
    /// Audit records older than this many days are deleted (0 = kept however old).
    pub audit_retention_days: u64,
    /// At most this many audit records are kept, oldest deleted first (0 = no limit).
    pub audit_max_records: u64,
    /// Whether `GET /metrics` answers.
    pub metrics_enabled: bool,
    /// Whether `GET /metrics` answers without an API key (otherwise it needs `metrics:GET`).
    pub metrics_anonymous: bool,
    /// Whether the Key Master page answers at `/admin`.
    pub admin_enabled: bool,
    /// The Key Master page highlights keys expiring within this many days.
    pub admin_expiry_warning_days: u32,
    /// The longest PEM, certificate or secret text an import accepts, bytes.
    pub max_pem_bytes: usize,
    /// The longest name, kid or issuer, characters (at most 255).
    pub max_field_length: usize,
    /// The most bytes the JWKS and public-key documents are kept in memory for (and, apart,
    /// the per-issuer JWKS).
    pub published_cache_bytes: usize,
    /// RSA-2048 pairs made ahead of need and kept ready (0 = none).
    pub rsa_pool_2048: usize,
    /// RSA-3072 pairs kept ready (0 = none).
    pub rsa_pool_3072: usize,
    /// RSA-4096 pairs kept ready (0 = none).
    pub rsa_pool_4096: usize,
    /// The most pairs the pool's thread makes a second (0 = unpaced, one after the other).
    pub rsa_pool_refill_per_second: u32,
    /// The longest a request may take in the server (503 past it), seconds.
    pub request_timeout_seconds: u64,
    /// How long a client has to send a request's head (a slow client is cut off), seconds.
    pub client_request_timeout_seconds: u64,
    /// Request body limit in bytes.
    pub max_body_bytes: usize,
    /// Worker threads; 0 = cores.
    pub workers: usize,
    /// Graceful shutdown timeout.
    pub shutdown_timeout_seconds: u64,
    /// Failed storage writes in a row after which the server exits (code 74) so that its
    /// supervisor restarts it; 0 = never exit.
    pub storage_failures_before_exit: u64,
    /// Run the storage engine's integrity check (every page's checksum) at every open.
    pub check_integrity_on_open: bool,
    /// Free space an online backup must leave on the data disk, in bytes.
    pub backup_reserve_bytes: u64,
    /// Log format.
    pub log_format: LogFormat,
    /// Log filter.
    pub log: String,
    /// Webhooks told of key events (`[[webhooks]]`, config file only).
    pub webhooks: Vec<crate::webhooks::WebhookSetting>,
    /// A `key.expiring` event is raised for a certificate that expires within this many days.
    pub webhook_expiry_warning_days: u32,
    /// How often keys are checked for certificates about to expire, seconds.
    pub webhook_expiry_check_seconds: u64,
    /// The longest wait between two attempts to deliver one event, seconds.
    pub webhook_retry_max_seconds: u64,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("bind", &self.bind)
            .field("data", &self.data)
            .field("backend", &self.backend)
            .field(
                "api_key",
                &if self.api_key.is_empty() {
                    ""
                } else {
                    "[REDACTED]"
                },
            )
            .field("api_key_hashes", &self.api_key_hashes.len())
            .field(
                "master_key",
                &keysmith_model::redacted(&Some(&self.master_key)),
            )
            .field("master_key_file", &self.master_key_file)
            .field("webhooks", &self.webhooks)
            .field("default_issuer", &self.default_issuer)
            .finish_non_exhaustive()
    }
}

/// Settings could not be read.
#[derive(Debug, thiserror::Error)]
#[error("configuration: {0}")]
pub struct SettingsError(String);

impl SettingsError {
    /// An error with this message.
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

/// A scoped API key in the configuration (`[[api_keys]]`): the key's SHA-256, never the key.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScopedApiKey {
    /// For people and logs.
    pub name: String,
    /// Lower-case hex SHA-256 of the key.
    pub sha256: String,
    /// Permission strings (`keys:GET`, `read-only`, `vend`, ...).
    pub permissions: Vec<String>,
}

impl ScopedApiKey {
    /// The hash and parsed permissions.
    pub fn parsed(&self) -> Result<([u8; 32], keysmith_model::Permissions), SettingsError> {
        let hash = parse_hash(&self.sha256).ok_or_else(|| {
            SettingsError(format!(
                "api_keys {:?}: sha256 must be 64 hex characters",
                self.name
            ))
        })?;
        let permissions = keysmith_model::Permissions::parse(&self.permissions)
            .map_err(|e| SettingsError(format!("api_keys {:?}: {e}", self.name)))?;
        Ok((hash, permissions))
    }
}

/// Command-line overrides.
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    /// `--bind`.
    pub bind: Option<String>,
    /// `--data`.
    pub data: Option<PathBuf>,
    /// `--store`.
    pub store: Option<String>,
    /// `--backend`.
    pub backend: Option<String>,
    /// `--log-format`.
    pub log_format: Option<LogFormat>,
    /// `--master-key-file`.
    pub master_key_file: Option<PathBuf>,
}

impl Settings {
    /// Reads the layers: defaults, `file` (if any), `KEYSMITH_*` variables, `overrides`.
    pub fn load(file: Option<&Path>, overrides: &Overrides) -> Result<Self, SettingsError> {
        let mut builder = Config::builder().add_source(File::from_str(DEFAULTS, FileFormat::Toml));
        if let Some(path) = file {
            if !path.is_file() {
                return Err(SettingsError(format!(
                    "{} is not a readable file",
                    path.display()
                )));
            }
            builder = builder.add_source(File::from(path).format(FileFormat::Toml));
        }
        builder = builder.add_source(
            Environment::with_prefix("KEYSMITH")
                .prefix_separator("_")
                .try_parsing(true)
                .list_separator(",")
                .with_list_parse_key("api_key_hashes"),
        );
        let mut settings: Settings = builder
            .build()
            .and_then(Config::try_deserialize)
            .map_err(|e| SettingsError(e.to_string()))?;
        if let Some(bind) = &overrides.bind {
            settings.bind = bind.clone();
        }
        if let Some(data) = &overrides.data {
            settings.data = data.clone();
        }
        if let Some(store) = &overrides.store {
            settings.store = zeroize::Zeroizing::new(store.clone());
        }
        if let Some(backend) = &overrides.backend {
            settings.backend = backend.clone();
        }
        if let Some(file) = &overrides.master_key_file {
            settings.master_key_file = file.clone();
        }
        if let Some(format) = overrides.log_format {
            settings.log_format = format;
        }
        settings.validate()?;
        Ok(settings)
    }

    fn validate(&self) -> Result<(), SettingsError> {
        if [self.rsa_pool_2048, self.rsa_pool_3072, self.rsa_pool_4096]
            .iter()
            .any(|&n| n > MAX_RSA_POOL)
        {
            return Err(SettingsError(format!(
                "rsa_pool_2048, rsa_pool_3072 and rsa_pool_4096 must be between 0 and {MAX_RSA_POOL}"
            )));
        }
        if self.bind.trim().is_empty() {
            return Err(SettingsError("bind is empty".into()));
        }
        if self.default_issuer.trim().is_empty()
            || self.default_issuer.len() > keysmith_model::MAX_ISSUER_LENGTH
        {
            return Err(SettingsError(
                "default_issuer must be 1 to 255 characters".into(),
            ));
        }
        if !(1..=100).contains(&self.certificate_validity_years) {
            return Err(SettingsError(
                "certificate_validity_years must be between 1 and 100".into(),
            ));
        }
        if self.max_search_results == 0 || self.max_body_bytes < 1024 {
            return Err(SettingsError(
                "max_search_results must be at least 1 and max_body_bytes at least 1024".into(),
            ));
        }
        if self.jwt_default_ttl_seconds < 1
            || self.jwt_max_ttl_seconds < self.jwt_default_ttl_seconds
            || !(0..=3600).contains(&self.jwt_clock_skew_seconds)
        {
            return Err(SettingsError(
                "need 1 <= jwt_default_ttl_seconds <= jwt_max_ttl_seconds and 0 <= jwt_clock_skew_seconds <= 3600".into(),
            ));
        }
        if !(1024..=keysmith_crypto::import::MAX_MATERIAL_LEN).contains(&self.max_pem_bytes)
            || self.max_pem_bytes > self.max_body_bytes
        {
            return Err(SettingsError(format!(
                "max_pem_bytes must be between 1024 and {} and at most max_body_bytes",
                keysmith_crypto::import::MAX_MATERIAL_LEN
            )));
        }
        if !(1..=keysmith_model::MAX_NAME_LENGTH).contains(&self.max_field_length) {
            return Err(SettingsError(
                "max_field_length must be between 1 and 255 (FusionAuth's limit)".into(),
            ));
        }
        if self.request_timeout_seconds == 0 || self.client_request_timeout_seconds == 0 {
            return Err(SettingsError(
                "request_timeout_seconds and client_request_timeout_seconds must be at least 1"
                    .into(),
            ));
        }
        if !(1..=1000).contains(&self.store_pool_size)
            || !(10..=3_600_000).contains(&self.store_change_poll_ms)
        {
            return Err(SettingsError(
                "store_pool_size must be between 1 and 1000 and store_change_poll_ms between 10 and 3600000".into(),
            ));
        }
        if self.rotation_check_interval_seconds == 0 {
            return Err(SettingsError(
                "rotation_check_interval_seconds must be at least 1".into(),
            ));
        }
        self.tenant_signing_alg()?;
        self.audit_settings()?;
        for scoped in &self.api_keys {
            scoped.parsed()?;
        }
        crate::webhooks::validate(
            &self.webhooks,
            self.webhook_retry_max_seconds,
            self.webhook_expiry_check_seconds,
        )
        .map_err(SettingsError)?;
        for hash in &self.api_key_hashes {
            if parse_hash(hash).is_none() {
                return Err(SettingsError(
                    "api_key_hashes holds a value that is not 64 hex characters".into(),
                ));
            }
        }
        Ok(())
    }

    /// The audit trail's settings.
    pub fn audit_settings(&self) -> Result<keysmith_core::audit::AuditSettings, SettingsError> {
        if self.audit_use_interval_seconds == 0 {
            return Err(SettingsError(
                "audit_use_interval_seconds must be at least 1".into(),
            ));
        }
        Ok(keysmith_core::audit::AuditSettings {
            uses: self.audit_uses.parse().map_err(SettingsError)?,
            use_interval: std::time::Duration::from_secs(self.audit_use_interval_seconds),
            retention_days: self.audit_retention_days,
            max_records: self.audit_max_records,
        })
    }

    /// The tenant's signing algorithm, one of Auth0's connection-key algorithms.
    pub fn tenant_signing_alg(&self) -> Result<keysmith_model::Algorithm, SettingsError> {
        keysmith_core::CONNECTION_SIGNING_ALGS
            .into_iter()
            .find(|a| a.as_str() == self.tenant_signing_alg)
            .ok_or_else(|| {
                SettingsError(
                    "tenant_signing_alg must be one of RS256, RS384, RS512, PS256, PS384, ES256, ES384"
                        .into(),
                )
            })
    }

    /// How a node connects to its PostgreSQL store (`store`).
    pub fn postgres_options(&self) -> keysmith_store::PgOptions {
        keysmith_store::PgOptions {
            pool_size: self.store_pool_size,
            listen: self.store_listen,
            change_poll: std::time::Duration::from_millis(self.store_change_poll_ms),
            migrate: self.store_migrate,
            ..keysmith_store::PgOptions::default()
        }
    }

    /// The redb data file in the data directory.
    pub fn data_file(&self) -> PathBuf {
        self.data.join(DATA_FILE)
    }
}

/// A hex SHA-256 hash.
pub fn parse_hash(text: &str) -> Option<[u8; 32]> {
    let text = text.trim();
    if text.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_defaults_parse_and_validate() {
        let settings = Settings::load(None, &Overrides::default()).unwrap();
        assert_eq!(settings.bind, "127.0.0.1:9011");
        assert_eq!(settings.data, PathBuf::from("./data"));
        assert_eq!(settings.log_format, LogFormat::Text);
        assert_eq!(
            settings.store_cache_bytes,
            keysmith_store::DEFAULT_CACHE_BYTES,
            "the documented default is the store's"
        );
        assert_eq!(
            settings.published_cache_bytes,
            keysmith_core::DEFAULT_PUBLISHED_CACHE_BYTES,
            "the documented default is the core's"
        );
        assert!(!format!("{settings:?}").contains("api_key: \"x"));
    }

    #[test]
    fn an_rsa_pool_past_its_bound_is_refused_by_name() {
        let mut settings = Settings::load(None, &Overrides::default()).unwrap();
        assert_eq!(
            [
                settings.rsa_pool_2048,
                settings.rsa_pool_3072,
                settings.rsa_pool_4096
            ],
            [0, 0, 0],
            "the pool is off by default"
        );
        settings.rsa_pool_4096 = MAX_RSA_POOL;
        assert!(settings.validate().is_ok());
        settings.rsa_pool_4096 = MAX_RSA_POOL + 1;
        let refused = settings.validate().unwrap_err().to_string();
        assert!(refused.contains("rsa_pool_4096"), "{refused}");
    }

    #[test]
    fn hashes_parse() {
        assert_eq!(parse_hash(&"ab".repeat(32)), Some([0xab; 32]));
        assert_eq!(parse_hash("abc"), None);
        assert_eq!(parse_hash(&"zz".repeat(32)), None);
    }
}
