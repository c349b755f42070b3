//! Starting and stopping the server.

use std::sync::Arc;
use std::time::Duration;

use actix_web::{App, HttpServer, web};
use base64::Engine as _;
use keysmith_api::middleware::auth::AcceptedKey;
use keysmith_api::middleware::limits::Limits;
use keysmith_api::{ApiKeys, AppState};
use keysmith_core::audit::{AuditTrail, scheduled};
use keysmith_core::{KeyService, RotationPolicy, ServiceConfig};
use keysmith_model::{AuditRecord, Permissions};
use keysmith_store::{ApiKeyRecords as _, KeyStore};

use crate::backend::select_backend;
use crate::settings::{Settings, parse_hash};

/// Why the server could not start (or stopped with an error).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// The crypto backend is not available.
    #[error(transparent)]
    Backend(#[from] crate::backend::SelectBackendError),
    /// A command-line action failed; the text says why.
    #[error("{0}")]
    Cli(String),
    /// A backup or restore failed.
    #[error("backup: {0}")]
    Backup(String),
    /// The `--url` of a command that talks to a running server cannot be used (an invalid URL,
    /// API key or CA file).
    #[error("--url {url}")]
    Client {
        /// The URL as given.
        url: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The TLS certificate or key cannot be used.
    #[error("tls: {0}")]
    Tls(String),
    /// The master keys are missing, malformed or cannot open the stored secrets.
    #[error("master key: {0}")]
    MasterKey(String),
    /// The settings are invalid.
    #[error(transparent)]
    Settings(#[from] crate::settings::SettingsError),
    /// The data directory could not be prepared.
    #[error("data directory {path}")]
    DataDir {
        /// The directory.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// Another keysmith process (a server or a restore) holds the data directory's lock.
    #[error("{0}")]
    DataDirInUse(String),
    /// The data file could not be opened.
    #[error("data file")]
    Store(#[from] keysmith_store::StoreError),
    /// The address could not be bound, or serving failed.
    #[error("http server on {bind}")]
    Http {
        /// The address.
        bind: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The stored keys could not be published (JWKS).
    #[error("publishing the stored keys")]
    Publish(#[source] Box<keysmith_core::ServiceError>),
    /// Key material could not be generated.
    #[error("crypto")]
    Crypto(#[from] keysmith_crypto::Error),
}

/// Opens the data file, prepares API keys and serves until SIGINT or SIGTERM; then lets
/// in-flight requests finish and closes the database.
pub async fn run(settings: Settings) -> Result<(), ServerError> {
    let selected = select_backend(Some(settings.backend.as_str()).filter(|b| !b.is_empty()))?;
    let backend = selected.backend.clone();
    prepare_data_dir(&settings)?;
    // Held until the server has stopped: a restore cannot swap the file under it.
    let _data_dir_lock = crate::data_lock::lock(&settings.data)?;
    let data_file = settings.data_file();
    let (redb, sealing_key) = crate::master_key::open_store(&settings, backend.clone(), true)?;
    #[cfg(feature = "failpoints")]
    let redb = if let Some(pause) = std::env::var(FAILPOINT_RING_COMMIT_PAUSE_MS)
        .ok()
        .and_then(|ms| ms.parse().ok())
    {
        tracing::warn!(
            pause_ms = pause,
            "test failpoint {FAILPOINT_RING_COMMIT_PAUSE_MS} is set: ring changes pause before commit"
        );
        redb.with_ring_commit_pause(Duration::from_millis(pause))
    } else {
        redb
    };
    let store: Arc<dyn KeyStore> = Arc::new(redb);
    watch_storage(
        Arc::downgrade(&store),
        settings.storage_failures_before_exit,
    );

    let api_keys = Arc::new(ApiKeys::new(
        accepted_api_keys(&settings, &*store, &*backend)?,
        backend.clone(),
    ));
    let service = KeyService::new(backend.clone(), store.clone(), service_config(&settings)?);
    service
        .publish()
        .map_err(|e| ServerError::Publish(Box::new(e)))?;
    let audit = Arc::new(AuditTrail::with_settings(
        store.clone(),
        settings.audit_settings().map_err(ServerError::Settings)?,
    ));
    let scheduler = RotationScheduler::start(
        service.clone(),
        Duration::from_secs(settings.rotation_check_interval_seconds),
    );
    let state = AppState {
        keys: service,
        api_keys,
        jwks_max_age_seconds: settings.jwks_max_age_seconds,
        audit: audit.clone(),
        request_timeout: Duration::from_secs(settings.request_timeout_seconds),
        request_seconds: Arc::default(),
        metrics_enabled: settings.metrics_enabled,
        metrics_anonymous: settings.metrics_anonymous,
        backup: keysmith_api::system::backup::BackupSettings {
            data_file: settings.data_file(),
            reserve_bytes: settings.backup_reserve_bytes,
        },
        admin_enabled: settings.admin_enabled,
        admin_expiry_warning_days: settings.admin_expiry_warning_days,
        limits: Arc::new(Limits::new(
            settings.key_generation_per_minute,
            settings.key_generation_burst,
            match settings.key_generation_concurrency {
                0 => std::thread::available_parallelism().map_or(2, std::num::NonZero::get),
                n => n,
            },
            settings.key_generation_queue,
        )),
    };
    let body_limit = settings.max_body_bytes;
    let mut server = HttpServer::new(move || {
        App::new()
            .app_data(web::Data::new(state.clone()))
            .app_data(keysmith_api::payload_config(body_limit))
            .wrap(actix_web::middleware::from_fn(keysmith_api::timeout))
            .wrap(actix_web::middleware::from_fn(
                keysmith_api::middleware::audit::middleware,
            ))
            .wrap(actix_web::middleware::from_fn(
                keysmith_api::middleware::request_id::middleware,
            ))
            .wrap(actix_web::middleware::from_fn(
                keysmith_api::system::metrics::middleware,
            ))
            .configure(keysmith_api::configure)
    })
    .shutdown_timeout(settings.shutdown_timeout_seconds)
    .client_request_timeout(Duration::from_secs(settings.client_request_timeout_seconds))
    .disable_signals();
    if settings.workers > 0 {
        server = server.workers(settings.workers);
    }
    let http_error = |source| ServerError::Http {
        bind: settings.bind.clone(),
        source,
    };
    let tls = crate::tls::load(&settings, backend.name())?;
    let tls_name = tls.as_ref().map_or("off", crate::tls::Tls::name);
    let server = match tls {
        None => server.bind(&settings.bind),
        #[cfg(feature = "aws-lc")]
        Some(crate::tls::Tls::Rustls(config)) => server.bind_rustls_0_23(&settings.bind, *config),
        #[cfg(feature = "openssl")]
        Some(crate::tls::Tls::OpenSsl(acceptor)) => server.bind_openssl(&settings.bind, acceptor),
    }
    .map_err(http_error)?;
    let addresses: Vec<String> = server.addrs().iter().map(ToString::to_string).collect();
    if tls_name == "off"
        && addresses
            .iter()
            .any(|a| !a.starts_with("127.") && !a.starts_with("[::1]"))
    {
        tracing::warn!(
            "serving plain HTTP on a non-loopback address: API keys cross the network in clear text"
        );
    }
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        backend = backend.name(),
        backend_reason = selected.reason,
        fips = backend.is_fips(),
        data_file = %data_file.display(),
        master_key = %sealing_key,
        tls = tls_name,
        bind = %addresses.join(","),
        malloc_arena_max = ?crate::malloc::applied_arena_cap(),
        "keysmith listening"
    );
    let running = server.run();
    let handle = running.handle();
    actix_web::rt::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutting down: finishing in-flight requests");
        handle.stop(true).await;
    });
    let served = running.await.map_err(http_error);
    scheduler.stop().await;
    // Writes the audit records still queued, then lets go of the store.
    let _ = actix_web::rt::task::spawn_blocking(move || audit.close()).await;
    served?;
    close_store(store).await;
    Ok(())
}

/// The use cases' settings, from the server's.
pub fn service_config(settings: &Settings) -> Result<ServiceConfig, ServerError> {
    Ok(ServiceConfig {
        default_issuer: settings.default_issuer.clone(),
        certificate_validity_years: settings.certificate_validity_years,
        max_search_results: settings.max_search_results,
        jwt_default_ttl_seconds: settings.jwt_default_ttl_seconds,
        jwt_max_ttl_seconds: settings.jwt_max_ttl_seconds,
        jwt_clock_skew_seconds: settings.jwt_clock_skew_seconds,
        deletion_window_seconds: settings.deletion_window_seconds,
        max_pem_bytes: settings.max_pem_bytes,
        max_field_length: settings.max_field_length,
        rotation: RotationPolicy {
            connection_period_seconds: settings.rotation_connection_period_seconds,
            tenant_period_seconds: settings.rotation_tenant_period_seconds,
            tenant_signing_alg: settings
                .tenant_signing_alg()
                .map_err(ServerError::Settings)?,
        },
    })
}

/// `keysmith master-key rotate`: re-wraps every data key under the first configured master
/// key, in one transaction, with the server stopped (a running server holds the file's lock).
pub fn rotate_master_key(settings: &Settings) -> Result<(), ServerError> {
    let selected = select_backend(Some(settings.backend.as_str()).filter(|b| !b.is_empty()))?;
    let (store, sealing_key) = crate::master_key::open_store(settings, selected.backend, false)?;
    let rewrapped = store.rewrap_secrets()?;
    audit_cli(&store, "master-key.rotate", &sealing_key)?;
    tracing::info!(target: "keysmith::audit", action = "master-key.rotate", rewrapped, master_key = %sealing_key, "data keys re-wrapped");
    println!("re-wrapped {rewrapped} data keys under master key {sealing_key}");
    Ok(())
}

/// What `keysmith api-key` does.
#[derive(Debug)]
pub enum ApiKeyAction {
    /// Create a key with these permissions.
    Create {
        /// Its name.
        name: String,
        /// Permission strings.
        permissions: Vec<String>,
    },
    /// List the keys.
    List,
    /// Remove the key with this id.
    Revoke {
        /// The key's id.
        id: String,
    },
}

/// `keysmith api-key create|list|revoke`, on the data file with the server stopped.
pub fn api_key_command(settings: &Settings, action: ApiKeyAction) -> Result<(), ServerError> {
    let selected = select_backend(Some(settings.backend.as_str()).filter(|b| !b.is_empty()))?;
    let backend = selected.backend;
    let (store, _) = crate::master_key::open_store(settings, backend.clone(), false)?;
    let invalid =
        |message: String| ServerError::Settings(crate::settings::SettingsError::new(message));
    match action {
        ApiKeyAction::Create { name, permissions } => {
            let parsed = Permissions::parse(&permissions).map_err(|e| invalid(e.to_string()))?;
            if name.trim().is_empty() {
                return Err(invalid("an API key needs a --name".into()));
            }
            let mut random = [0u8; 32];
            backend.fill_random(&mut random)?;
            let api_key = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random);
            let hash = ApiKeys::hash(&*backend, &api_key)
                .ok_or_else(|| invalid("could not hash the key".into()))?;
            let record = keysmith_model::ApiKeyRecord {
                id: uuid::Uuid::new_v4(),
                name,
                sha256: keysmith_crypto::fingerprint::upper_hex(&hash).to_lowercase(),
                permissions: parsed.to_strings(),
                created_at: keysmith_model::epoch_millis_now(),
            };
            store.add_api_key_record(&record)?;
            audit_cli(&store, "api-key.create", &record.id.to_string())?;
            tracing::info!(target: "keysmith::audit", action = "api-key.create", api_key.id = %record.id, permissions = ?record.permissions, "API key created");
            // The key itself goes to stdout once and nowhere else.
            println!("{api_key}");
            eprintln!(
                "created API key {} ({}) with {}; it is shown only this once. Restart the server to use it.",
                record.id,
                record.name,
                record.permissions.join(", ")
            );
        }
        ApiKeyAction::List => {
            println!(
                "{:<36}  {:<20}  {:<24}  permissions",
                "id", "name", "created"
            );
            for record in store.api_key_records()? {
                println!(
                    "{:<36}  {:<20}  {:<24}  {}",
                    record.id,
                    record.name,
                    keysmith_api::iso8601(record.created_at),
                    record.permissions.join(", ")
                );
            }
        }
        ApiKeyAction::Revoke { id } => {
            let parsed: uuid::Uuid = id
                .parse()
                .map_err(|_| invalid(format!("{id:?} is not an API key id")))?;
            if !store.remove_api_key_record(&parsed)? {
                return Err(invalid(format!("no API key has the id {parsed}")));
            }
            audit_cli(&store, "api-key.revoke", &parsed.to_string())?;
            tracing::info!(target: "keysmith::audit", action = "api-key.revoke", api_key.id = %parsed, "API key revoked");
            println!("revoked API key {parsed}; restart the server to apply");
        }
    }
    Ok(())
}

/// The exit code when the data file's disk fails (`EX_IOERR`).
pub const EXIT_STORAGE_FAILING: i32 = 74;

/// Exits the process once `limit` writes to the data file have failed in a row (0: never).
/// redb refuses every write after an I/O error until the file is reopened, so serving on would
/// only fail; a supervisor's restart reopens (and repairs) it. Holds the store weakly: a
/// graceful shutdown still closes the file.
fn watch_storage(store: std::sync::Weak<dyn KeyStore>, limit: u64) {
    if limit == 0 {
        return;
    }
    let watch = move || {
        loop {
            std::thread::sleep(Duration::from_millis(100));
            let Some(store) = store.upgrade() else {
                return;
            };
            let health = store.health();
            if health.consecutive_write_failures >= limit {
                tracing::error!(
                    failures = health.consecutive_write_failures,
                    reason = health.last_failure.as_deref().unwrap_or(""),
                    exit_code = EXIT_STORAGE_FAILING,
                    "writes to the data file keep failing: exiting so that a supervisor restarts keysmith"
                );
                std::process::exit(EXIT_STORAGE_FAILING);
            }
        }
    };
    if let Err(err) = std::thread::Builder::new()
        .name("storage-watch".into())
        .spawn(watch)
    {
        tracing::error!(error = %err, "cannot start the storage watch");
    }
}

/// Test-only failpoint: milliseconds every ring change waits, written but uncommitted, before
/// its commit, so a crash test can kill the server mid-rotation. Read only when built with the
/// `failpoints` feature (the tests); a release build ignores the variable.
#[cfg(feature = "failpoints")]
pub const FAILPOINT_RING_COMMIT_PAUSE_MS: &str = "KS_FAILPOINT_RING_COMMIT_PAUSE_MS";

/// The background task that purges deleted keys whose window has ended and rotates key rings
/// when their period has passed. It checks once at
/// start (catching up, once, on rotations missed while the server was down) and then every
/// `interval`.
struct RotationScheduler {
    stop: std::sync::mpsc::Sender<()>,
    thread: std::thread::JoinHandle<()>,
}

impl RotationScheduler {
    /// Each purge and rotation records its audit row (actor `scheduler`) in its own transaction.
    fn start(service: KeyService, interval: Duration) -> Self {
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            loop {
                if let Err(err) = scheduled("key.purge", || service.purge_deleted()) {
                    tracing::error!(error = %err, "could not purge deleted keys");
                }
                scheduled("ring.rotate", || service.rotate_due());
                match stopped.recv_timeout(interval) {
                    Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                    _ => return,
                }
            }
        });
        Self { stop, thread }
    }

    /// Stops the task and waits for it (and its store reference) to end.
    async fn stop(self) {
        let _ = self.stop.send(());
        let thread = self.thread;
        let _ = actix_web::rt::task::spawn_blocking(move || thread.join()).await;
    }
}

/// Drops the last reference to the store, which closes the redb file cleanly (a file not
/// closed needs a repair pass at the next start). Worker threads release their clones of the
/// app state shortly after the server stops, so wait for them briefly.
async fn close_store(store: Arc<dyn KeyStore>) {
    for _ in 0..200 {
        if Arc::strong_count(&store) == 1 {
            drop(store);
            tracing::info!("stopped; data file closed");
            return;
        }
        actix_web::rt::time::sleep(Duration::from_millis(25)).await;
    }
    tracing::warn!(
        "stopped, but the data file was still in use; it will be checked at the next start"
    );
}

/// Waits for SIGINT (Ctrl-C) or SIGTERM.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Creates the data directory (mode 0700) if it does not exist.
pub(crate) fn prepare_data_dir(settings: &Settings) -> Result<(), ServerError> {
    let dir = &settings.data;
    let error = |source| ServerError::DataDir {
        path: dir.display().to_string(),
        source,
    };
    if !dir.exists() {
        std::fs::create_dir_all(dir).map_err(error)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(error)?;
        }
    }
    Ok(())
}

/// How the audit trail names an admin key: the first 8 hex digits of its SHA-256 (the hash is
/// not secret; the key is).
fn admin_actor(hash: &[u8; 32]) -> String {
    let prefix = keysmith_crypto::fingerprint::upper_hex(&hash[..4]).to_lowercase();
    format!("api-key:admin:{prefix}")
}

/// Appends one record for a command-line action, at once (no server is running).
pub(crate) fn audit_cli(
    store: &dyn KeyStore,
    action: &str,
    target: &str,
) -> Result<(), ServerError> {
    store.append_audit(&[AuditRecord {
        id: 0,
        at: keysmith_model::epoch_millis_now(),
        actor: "cli".into(),
        action: action.into(),
        target: target.into(),
        result: "ok".into(),
        request_id: None,
        uses: None,
    }])?;
    Ok(())
}

/// The accepted API keys and what each may do: the configured `api_key` and `api_key_hashes`
/// and the hashes kept in the data file are admin keys; `api_keys` in the configuration and the
/// keys made with `keysmith api-key create` have their own permissions. With no key at all,
/// generates an admin key, prints it once to stderr and keeps only its hash.
fn accepted_api_keys(
    settings: &Settings,
    store: &dyn KeyStore,
    backend: &dyn keysmith_crypto::KeyBackend,
) -> Result<Vec<AcceptedKey>, ServerError> {
    let admin = |hash: [u8; 32]| AcceptedKey {
        hash,
        permissions: Permissions::admin(),
        actor: admin_actor(&hash),
    };
    let mut keys: Vec<AcceptedKey> = settings
        .api_key_hashes
        .iter()
        .filter_map(|h| parse_hash(h))
        .chain(store.api_key_hashes()?)
        .map(admin)
        .collect();
    if !settings.api_key.trim().is_empty() {
        keys.extend(ApiKeys::hash(backend, settings.api_key.trim()).map(admin));
    }
    for scoped in &settings.api_keys {
        let (hash, permissions) = scoped.parsed().map_err(ServerError::Settings)?;
        keys.push(AcceptedKey {
            hash,
            permissions,
            actor: format!("api-key:config:{}", scoped.name),
        });
    }
    for record in store.api_key_records()? {
        let invalid = || {
            ServerError::Store(keysmith_store::StoreError::Corrupt(format!(
                "api key {}",
                record.id
            )))
        };
        keys.push(AcceptedKey {
            hash: parse_hash(&record.sha256).ok_or_else(invalid)?,
            permissions: Permissions::parse(&record.permissions).map_err(|_| invalid())?,
            actor: format!("api-key:{}", record.id),
        });
    }
    if keys.is_empty() {
        let mut random = [0u8; 32];
        backend.fill_random(&mut random)?;
        let api_key = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random);
        if let Some(hash) = ApiKeys::hash(backend, &api_key) {
            store.add_api_key_hash(&hash)?;
            keys.push(admin(hash));
        }
        // Printed once, to stderr only, never logged: only its hash is kept.
        eprintln!(
            "\nkeysmith: no API key was configured, so one was generated. It is shown only this once:\n\n    {api_key}\n\n\
             Send it as the Authorization header, e.g.\n    curl -H 'Authorization: {api_key}' http://{}/api/key\n\
             Only its SHA-256 hash is kept (in the data file). To use your own key instead, set KEYSMITH_API_KEY.\n",
            settings.bind
        );
    }
    Ok(keys)
}
