//! Starting and stopping the server.

use std::sync::Arc;
use std::time::Duration;

use actix_web::HttpServer;
use keysmith_api::middleware::limits::Limits;
use keysmith_api::{ApiKeys, AppState};
use keysmith_core::audit::AuditTrail;
use keysmith_core::{KeyService, RotationPolicy, ServiceConfig};
use keysmith_store::KeyStore;

use crate::api_keys::accepted_api_keys;
use crate::backend::select_backend;
use crate::data::{close_store, prepare_data_dir, watch_storage};
use crate::error::ServerError;
use crate::scheduler::RotationScheduler;
use crate::settings::Settings;

/// Opens the data file, prepares API keys and serves until SIGINT or SIGTERM; then lets
/// in-flight requests finish and closes the database.
pub async fn run(settings: Settings) -> Result<(), ServerError> {
    let selected = select_backend(Some(settings.backend.as_str()).filter(|b| !b.is_empty()))?;
    let backend = selected.backend.clone();
    let postgres = !settings.store.is_empty();
    // Held until the server has stopped: a restore cannot swap the file under it. A
    // PostgreSQL store has no data file to guard.
    let _data_dir_lock = if postgres {
        None
    } else {
        prepare_data_dir(&settings)?;
        Some(crate::data_lock::lock(&settings.data)?)
    };
    let (store, sealing_key, where_stored): (Arc<dyn KeyStore>, String, String) = if postgres {
        let (store, sealing_key) = crate::master_key::connect_postgres(&settings, backend.clone())?;
        #[cfg(feature = "failpoints")]
        let store = match ring_commit_pause() {
            Some(pause) => store.with_ring_commit_pause(pause),
            None => store,
        };
        let target = format!(
            "postgres {} (schema {})",
            store.target(),
            store.migrated().to
        );
        (Arc::new(store), sealing_key, target)
    } else {
        let (redb, sealing_key) = crate::master_key::open_store(&settings, backend.clone(), true)?;
        #[cfg(feature = "failpoints")]
        let redb = match ring_commit_pause() {
            Some(pause) => redb.with_ring_commit_pause(pause),
            None => redb,
        };
        (
            Arc::new(redb),
            sealing_key,
            settings.data_file().display().to_string(),
        )
    };
    watch_storage(
        Arc::downgrade(&store),
        settings.storage_failures_before_exit,
    );

    let api_keys = Arc::new(ApiKeys::new(
        accepted_api_keys(&settings, &*store, &*backend)?,
        backend.clone(),
    ));
    // Keys another node (or `keysmith api-key` on a shared database) adds or revokes apply
    // here without a restart. The data file's engine never calls back: it has no other writer.
    {
        let (api_keys, settings, backend) = (api_keys.clone(), settings.clone(), backend.clone());
        let store_of_watch = Arc::downgrade(&store);
        store.watch_changes(Arc::new(move || {
            let Some(store) = store_of_watch.upgrade() else {
                return;
            };
            match crate::api_keys::configured_and_stored_keys(&settings, &*store, &*backend) {
                // Never left with no key at all by one odd read.
                Ok(keys) if !keys.is_empty() => api_keys.replace(keys),
                Ok(_) => {}
                Err(err) => tracing::warn!(error = %err, "API keys not reloaded"),
            }
        }))?;
    }
    // Nothing per key is loaded: the published documents are written from the store at the
    // first request that needs them.
    let service = KeyService::new(backend.clone(), store.clone(), service_config(&settings)?);
    let audit = Arc::new(AuditTrail::with_settings(
        store.clone(),
        settings.audit_settings().map_err(ServerError::Settings)?,
    ));
    let scheduler = RotationScheduler::start(
        service.clone(),
        Duration::from_secs(settings.rotation_check_interval_seconds),
    );
    let webhooks = crate::webhooks::Webhooks::start(
        &settings.webhooks,
        crate::webhooks::Timing {
            expiry_window: Duration::from_secs(
                u64::from(settings.webhook_expiry_warning_days) * 86_400,
            ),
            expiry_check: Duration::from_secs(settings.webhook_expiry_check_seconds),
            retry_max: Duration::from_secs(settings.webhook_retry_max_seconds),
        },
        store.clone(),
        &*backend,
    )
    .map_err(|why| ServerError::Settings(crate::settings::SettingsError::new(why)))?;
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
            data_file: (!postgres).then(|| settings.data_file()),
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
    let mut server = HttpServer::new(move || keysmith_api::app(state.clone(), body_limit))
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
    let trimming = crate::malloc::start_trimming();
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        backend = backend.name(),
        backend_library = %backend.library(),
        backend_reason = selected.reason,
        fips = backend.is_fips(),
        store = %where_stored,
        master_key = %sealing_key,
        tls = tls_name,
        bind = %addresses.join(","),
        malloc_arena_max = ?crate::malloc::applied_arena_cap(),
        malloc_trim = trimming,
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
    webhooks.stop().await;
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
        published_cache_bytes: settings.published_cache_bytes,
        rsa_pool: keysmith_core::RsaPoolConfig {
            ready: [
                settings.rsa_pool_2048,
                settings.rsa_pool_3072,
                settings.rsa_pool_4096,
            ],
            refill_per_second: settings.rsa_pool_refill_per_second,
        },
        rotation: RotationPolicy {
            connection_period_seconds: settings.rotation_connection_period_seconds,
            tenant_period_seconds: settings.rotation_tenant_period_seconds,
            tenant_signing_alg: settings
                .tenant_signing_alg()
                .map_err(ServerError::Settings)?,
        },
    })
}

/// Test-only failpoint: milliseconds every ring change waits, written but uncommitted, before
/// its commit, so a crash test can kill the server mid-rotation. Read only when built with the
/// `failpoints` feature (the tests); a release build ignores the variable.
#[cfg(feature = "failpoints")]
pub const FAILPOINT_RING_COMMIT_PAUSE_MS: &str = "KS_FAILPOINT_RING_COMMIT_PAUSE_MS";

/// The pause [`FAILPOINT_RING_COMMIT_PAUSE_MS`] asks for, if any (logged: a server running
/// with it must say so).
#[cfg(feature = "failpoints")]
fn ring_commit_pause() -> Option<Duration> {
    let pause: u64 = std::env::var(FAILPOINT_RING_COMMIT_PAUSE_MS)
        .ok()?
        .parse()
        .ok()?;
    tracing::warn!(
        pause_ms = pause,
        "test failpoint {FAILPOINT_RING_COMMIT_PAUSE_MS} is set: ring changes pause before commit"
    );
    Some(Duration::from_millis(pause))
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
