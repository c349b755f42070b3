//! The data directory and the store's life: creating the directory, watching the data file's
//! disk while serving, closing the file cleanly, and audit rows for command-line actions.

use std::sync::Arc;
use std::time::Duration;

use keysmith_model::AuditRecord;
use keysmith_store::KeyStore;

use crate::error::ServerError;
use crate::settings::Settings;

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

/// Drops the last reference to the store, which closes the redb file cleanly (a file not
/// closed needs a repair pass at the next start). Worker threads release their clones of the
/// app state shortly after the server stops, so wait for them briefly.
/// For an offline command that needs the only handle on an existing data file (`check`,
/// `compact`): its path, with the data directory's lock held (refused while a server runs).
pub(crate) fn lock_existing_data_file(
    settings: &Settings,
) -> Result<(std::path::PathBuf, crate::data_lock::DataDirLock), ServerError> {
    let path = settings.data_file();
    if !path.exists() {
        return Err(ServerError::Cli(format!(
            "there is no data file at {}",
            path.display()
        )));
    }
    let lock = crate::data_lock::lock(&settings.data)?;
    Ok((path, lock))
}

pub(crate) async fn close_store(store: Arc<dyn KeyStore>) {
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

/// The exit code when the data file's disk fails (`EX_IOERR`).
pub const EXIT_STORAGE_FAILING: i32 = 74;

/// Exits the process once `limit` writes to the data file have failed in a row (0: never).
/// redb refuses every write after an I/O error until the file is reopened, so serving on would
/// only fail; a supervisor's restart reopens (and repairs) it. Holds the store weakly: a
/// graceful shutdown still closes the file.
pub(crate) fn watch_storage(store: std::sync::Weak<dyn KeyStore>, limit: u64) {
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
