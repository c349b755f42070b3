//! `keysmith check`: the data file checked offline (the server stopped), and a report of what
//! was found. Counts and ids only: nothing it prints is key material.
//!
//! In order: the schema and the master keys (as every open does); redb's integrity check (every
//! page's checksum; a file left by a crash is repaired back to its last whole commit, as a
//! server start would do); every record decoded and every sealed secret opened; every ring's
//! current and next keys present.

use std::sync::Arc;

use crate::backend::select_backend;
use crate::error::ServerError;
use crate::settings::Settings;

/// Checks the data file and prints what was found. Fails if anything is damaged.
pub fn run(settings: &Settings) -> Result<(), ServerError> {
    // Refused while a server runs: the check must see a file nobody is writing.
    let (path, _lock) = crate::data::lock_existing_data_file(settings)?;
    let selected = select_backend(Some(settings.backend.as_str()).filter(|b| !b.is_empty()))?;
    let (envelope, _) = crate::master_key::envelope(settings, selected.backend, false)?;
    // Checked at open too, so that a damaged file is refused before anything reads it.
    let options = keysmith_store::OpenOptions {
        check_integrity: true,
        cache_bytes: settings.store_cache_bytes,
    };
    let mut store = keysmith_store::RedbStore::open_with(&path, Arc::new(envelope), options)
        .map_err(crate::error::data_file_error(&path))?;
    println!("data file: {}", path.display());
    println!("schema and master keys: ok");
    let whole = store.check_integrity()?;
    println!(
        "integrity: {}",
        if whole {
            "ok (every page's checksum verified)"
        } else {
            "damaged pages were found and repaired back to the last whole commit"
        }
    );
    let found = store.verify()?;
    println!(
        "records: {} keys, {} restorably deleted; {} secrets opened",
        found.keys, found.deleted_keys, found.secrets_opened
    );
    println!(
        "rings: {} whole, {} broken",
        found.rings_whole,
        found.rings_broken.len()
    );
    for (id, why) in &found.damaged {
        println!("damaged: {id}: {why}");
    }
    for (owner, why) in &found.rings_broken {
        println!("broken ring: {owner}: {why}");
    }
    if whole && found.damaged.is_empty() && found.rings_broken.is_empty() {
        println!("check passed");
        Ok(())
    } else {
        Err(ServerError::Cli(format!(
            "check failed: {} damaged records, {} broken rings{}",
            found.damaged.len(),
            found.rings_broken.len(),
            if whole {
                ""
            } else {
                ", damaged pages (repaired)"
            }
        )))
    }
}
