//! Starting and stopping the server.

use std::sync::Arc;
use std::time::Duration;

use actix_web::{App, HttpServer, web};
use base64::Engine as _;
use keysmith_api::{ApiKeys, AppState};
use keysmith_core::{KeyService, ServiceConfig};
use keysmith_store::{KeyStore, RedbStore};

use crate::backend::select_backend;
use crate::settings::{Settings, parse_hash};

/// Why the server could not start (or stopped with an error).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// The crypto backend is not available.
    #[error(transparent)]
    Backend(#[from] crate::backend::SelectBackendError),
    /// The data directory could not be prepared.
    #[error("data directory {path}")]
    DataDir {
        /// The directory.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
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
    let data_file = settings.data_file();
    let store: Arc<dyn KeyStore> = Arc::new(RedbStore::open(&data_file)?);

    let api_keys = Arc::new(ApiKeys::new(
        api_key_hashes(&settings, &*store, &*backend)?,
        backend.clone(),
    ));
    let service = KeyService::new(
        backend.clone(),
        store.clone(),
        ServiceConfig {
            default_issuer: settings.default_issuer.clone(),
            certificate_validity_years: settings.certificate_validity_years,
            max_search_results: settings.max_search_results,
            jwt_default_ttl_seconds: settings.jwt_default_ttl_seconds,
            jwt_max_ttl_seconds: settings.jwt_max_ttl_seconds,
            jwt_clock_skew_seconds: settings.jwt_clock_skew_seconds,
        },
    );
    service
        .publish()
        .map_err(|e| ServerError::Publish(Box::new(e)))?;
    let state = AppState {
        keys: service,
        api_keys,
        jwks_max_age_seconds: settings.jwks_max_age_seconds,
    };
    let body_limit = settings.max_body_bytes;
    let mut server = HttpServer::new(move || {
        App::new()
            .app_data(web::Data::new(state.clone()))
            .app_data(keysmith_api::payload_config(body_limit))
            .wrap(actix_web::middleware::from_fn(
                keysmith_api::request_id::middleware,
            ))
            .configure(keysmith_api::configure)
    })
    .shutdown_timeout(settings.shutdown_timeout_seconds)
    .client_request_timeout(Duration::from_secs(10))
    .disable_signals();
    if settings.workers > 0 {
        server = server.workers(settings.workers);
    }
    let http_error = |source| ServerError::Http {
        bind: settings.bind.clone(),
        source,
    };
    let server = server.bind(&settings.bind).map_err(http_error)?;
    let addresses: Vec<String> = server.addrs().iter().map(ToString::to_string).collect();
    if addresses
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
        bind = %addresses.join(","),
        "keysmith listening"
    );
    let running = server.run();
    let handle = running.handle();
    actix_web::rt::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutting down: finishing in-flight requests");
        handle.stop(true).await;
    });
    running.await.map_err(http_error)?;
    close_store(store).await;
    Ok(())
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

fn prepare_data_dir(settings: &Settings) -> Result<(), ServerError> {
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

/// The accepted API key hashes: configured ones, plus those kept in the data file. With none at
/// all, generates a key, prints it once to stderr and keeps only its hash.
fn api_key_hashes(
    settings: &Settings,
    store: &dyn KeyStore,
    backend: &dyn keysmith_crypto::KeyBackend,
) -> Result<Vec<[u8; 32]>, ServerError> {
    let mut hashes: Vec<[u8; 32]> = settings
        .api_key_hashes
        .iter()
        .filter_map(|h| parse_hash(h))
        .collect();
    if !settings.api_key.trim().is_empty() {
        hashes.extend(ApiKeys::hash(backend, settings.api_key.trim()));
    }
    hashes.extend(store.api_key_hashes()?);
    if hashes.is_empty() {
        let mut random = [0u8; 32];
        backend.fill_random(&mut random)?;
        let api_key = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random);
        if let Some(hash) = ApiKeys::hash(backend, &api_key) {
            store.add_api_key_hash(&hash)?;
            hashes.push(hash);
        }
        // Printed once, to stderr only, never logged: only its hash is kept.
        eprintln!(
            "\nkeysmith: no API key was configured, so one was generated. It is shown only this once:\n\n    {api_key}\n\n\
             Send it as the Authorization header, e.g.\n    curl -H 'Authorization: {api_key}' http://{}/api/key\n\
             Only its SHA-256 hash is kept (in the data file). To use your own key instead, set KEYSMITH_API_KEY.\n",
            settings.bind
        );
    }
    Ok(hashes)
}
