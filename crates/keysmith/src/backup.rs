//! `keysmith backup` and `keysmith restore`.
//!
//! Backup takes a consistent snapshot: online (`--url`) from a running server, which copies the
//! data in one read transaction while it keeps serving, or offline from a stopped server's data
//! directory. Restore (server stopped) checks the file first (a Keysmith file, a schema this
//! build opens, secrets sealed under a configured master key), then replaces the data file
//! atomically: a copy beside it, synced, renamed over it.

use std::io::Write as _;
use std::path::Path;
use std::sync::Arc;

use indicatif::{ProgressBar, ProgressStyle};
use keysmith_store::{KeyStore as _, RedbStore};

use crate::backend::select_backend;
use crate::client::Client;
use crate::error::ServerError;
use crate::settings::Settings;

fn bar(unit: &str) -> ProgressBar {
    let bar = ProgressBar::new(0);
    let template = format!("{{spinner}} {{wide_bar}} {{pos}}/{{len}} {unit}");
    if let Ok(style) = ProgressStyle::with_template(&template) {
        bar.set_style(style);
    }
    bar
}

fn io_error(what: &str, path: &Path, e: std::io::Error) -> ServerError {
    ServerError::DataDir {
        path: format!("{what} {}", path.display()),
        source: e,
    }
}

/// Creates `path` for a backup: new, mode 0600.
fn create_private(path: &Path) -> Result<std::fs::File, ServerError> {
    crate::master_key::create_private_file(path).map_err(|e| io_error("cannot create", path, e))
}

/// `keysmith backup FILE`, online when `client` is given.
pub fn backup(settings: &Settings, file: &Path, client: Option<Client>) -> Result<(), ServerError> {
    if let Some(client) = client {
        let progress = bar("bytes");
        let response = client
            .request("POST", "/api/system/backup", None, &mut |done, total| {
                progress.set_length(total);
                progress.set_position(done);
            })
            .map_err(|e| io_error("backup from", Path::new("the server"), e))?;
        progress.finish_and_clear();
        if response.status != 200 {
            return Err(ServerError::Backup(format!(
                "the server answered {} (an admin API key is needed)",
                response.status
            )));
        }
        let mut out = create_private(file)?;
        out.write_all(&response.body)
            .and_then(|()| out.sync_all())
            .map_err(|e| io_error("cannot write", file, e))?;
        println!(
            "backed up {} bytes from the running server to {}",
            response.body.len(),
            file.display()
        );
        return Ok(());
    }
    let selected = select_backend(Some(settings.backend.as_str()).filter(|b| !b.is_empty()))?;
    let (store, _) = crate::master_key::open_store(settings, selected.backend, false)?;
    let progress = bar("records");
    let copied = store.snapshot_to(file, &mut |done, total| {
        progress.set_length(total);
        progress.set_position(done);
    })?;
    progress.finish_and_clear();
    println!("backed up {copied} records to {}", file.display());
    Ok(())
}

/// `keysmith restore FILE`, with the server stopped.
pub fn restore(settings: &Settings, file: &Path) -> Result<(), ServerError> {
    let selected = select_backend(Some(settings.backend.as_str()).filter(|b| !b.is_empty()))?;
    let (envelope, _) = crate::master_key::envelope(settings, selected.backend, false)?;
    let keys = RedbStore::check_file(file, &envelope)?;
    let target = settings.data_file();
    crate::data::prepare_data_dir(settings)?;
    // Held from the check of the data file to after the swap: a server starting meanwhile is
    // refused instead of opening the file that is about to be replaced.
    let _data_dir_lock = crate::data_lock::lock(&settings.data)?;
    if target.exists() {
        // Refuses while a server holds the file, before anything is replaced.
        drop(
            RedbStore::open(&target, Arc::new(envelope))
                .map_err(crate::error::data_file_error(&target))?,
        );
    }
    let staging = settings
        .data
        .join(format!(".restore-{}.redb", uuid::Uuid::new_v4()));
    let progress = bar("bytes");
    let copied = (|| -> std::io::Result<()> {
        let mut input = std::fs::File::open(file)?;
        let mut output =
            create_private(&staging).map_err(|e| std::io::Error::other(e.to_string()))?;
        progress.set_length(input.metadata()?.len());
        let mut buffer = vec![0u8; 1 << 20];
        loop {
            let read = std::io::Read::read(&mut input, &mut buffer)?;
            if read == 0 {
                break;
            }
            output.write_all(&buffer[..read])?;
            progress.inc(read as u64);
        }
        output.sync_all()?;
        std::fs::rename(&staging, &target)?;
        std::fs::File::open(&settings.data)?.sync_all()
    })();
    progress.finish_and_clear();
    if let Err(e) = copied {
        let _ = std::fs::remove_file(&staging);
        return Err(io_error("cannot restore into", &target, e));
    }
    println!(
        "restored {keys} keys from {} into {}",
        file.display(),
        target.display()
    );
    Ok(())
}
