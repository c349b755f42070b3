//! `keysmith compact`: gives the data file's free space back to the file system, offline (the
//! server stopped). Also run by `keysmith key generate --count` after an offline fill.
//!
//! redb grows its file ahead of need and keeps the pages freed by copy-on-write for reuse;
//! compaction moves the live pages to the start of the file and truncates it. Nothing a reader
//! sees changes: every record and secret stays as it was (sealed secrets are not re-sealed).

use std::path::Path;
use std::sync::Arc;

use crate::backend::select_backend;
use crate::error::ServerError;
use crate::settings::Settings;

/// Compacts the data file and prints its size before and after.
pub fn run(settings: &Settings) -> Result<(), ServerError> {
    // Refused while a server runs: compaction needs the only handle on the file.
    let (path, _lock) = crate::data::lock_existing_data_file(settings)?;
    let (before, after) = compact_file(settings)?;
    println!("compacted {}: {before} -> {after} bytes", path.display());
    Ok(())
}

/// Opens the data file (with the same checks as every open), compacts it and closes it.
/// Returns its length in bytes before and after. The caller holds the data lock, or knows no
/// server can hold the file (redb's own lock refuses a second process either way).
pub(crate) fn compact_file(settings: &Settings) -> Result<(u64, u64), ServerError> {
    let path = settings.data_file();
    let before = file_len(&path);
    let selected = select_backend(Some(settings.backend.as_str()).filter(|b| !b.is_empty()))?;
    let (envelope, _) = crate::master_key::envelope(settings, selected.backend, false)?;
    let mut store = keysmith_store::RedbStore::open_with_cache(
        &path,
        Arc::new(envelope),
        settings.store_cache_bytes,
    )
    .map_err(crate::error::data_file_error(&path))?;
    store.compact()?;
    drop(store);
    Ok((before, file_len(&path)))
}

fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}
