//! `keysmith migrate --from A --to B`: copies everything a store holds into an empty store of
//! the other engine (a data directory, its server stopped, or a PostgreSQL database), secrets
//! still sealed, and checks the copy (`keysmith_store::transfer`).

use std::path::PathBuf;
use std::sync::Arc;

use keysmith_crypto::KeyBackend;
use keysmith_store::transfer::{Digest, Transfer};

use crate::error::ServerError;
use crate::settings::Settings;

/// Where `migrate` reads or writes.
enum Place {
    Postgres(String),
    DataDir(PathBuf),
}

impl Place {
    fn parse(text: &str) -> Self {
        if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            Place::Postgres(text.to_owned())
        } else {
            Place::DataDir(PathBuf::from(text))
        }
    }
}

/// An opened store, with the data directory's lock when it is a data file.
struct Opened {
    store: Box<dyn Transfer>,
    _lock: Option<crate::data_lock::DataDirLock>,
}

/// `keysmith migrate-schema`: applies the migrations the PostgreSQL store (`store`) lacks.
pub fn migrate_schema(settings: &Settings) -> Result<(), ServerError> {
    if settings.store.is_empty() {
        return Err(ServerError::Cli(
            "migrate-schema works on a PostgreSQL store: set --store (or KEYSMITH_STORE, store); a data file's schema is upgraded when it is opened".into(),
        ));
    }
    let options = settings.postgres_options();
    let migrated = keysmith_store::PgStore::migrate_schema(&settings.store, &options)?;
    if migrated.from == migrated.to {
        println!(
            "the database is at keysmith schema {}: nothing to apply",
            migrated.to
        );
    } else {
        println!(
            "migrated the database from keysmith schema {} to {}",
            migrated.from, migrated.to
        );
    }
    Ok(())
}

/// Copies `from` into the empty `to`; prints what was copied and its digest.
pub fn run(settings: &Settings, from: &str, to: &str) -> Result<(), ServerError> {
    let selected =
        crate::backend::select_backend(Some(settings.backend.as_str()).filter(|b| !b.is_empty()))?;
    let (from, to) = (Place::parse(from), Place::parse(to));
    if matches!((&from, &to), (Place::DataDir(_), Place::DataDir(_))) {
        return Err(ServerError::Cli(
            "migrate copies between a data directory and a PostgreSQL database; to copy a data file, use keysmith backup".into(),
        ));
    }
    // The master keys: configured, or the key file beside the data directory involved.
    let key_dir = match (&from, &to) {
        (Place::DataDir(dir), _) | (_, Place::DataDir(dir)) => dir.clone(),
        _ => settings.data.clone(),
    };
    let mut settings = Settings {
        data: key_dir.clone(),
        ..settings.clone()
    };
    // A data directory's own key file, when no master key is configured: the database then
    // needs that key on every node (as `--master-key-file` or `KEYSMITH_MASTER_KEY`).
    let key_file = key_dir.join(crate::master_key::KEY_FILE);
    if settings.master_key.is_empty()
        && settings.master_key_file.as_os_str().is_empty()
        && key_file.is_file()
    {
        settings.master_key_file = key_file;
    }
    let source = open(&settings, &from, selected.backend.clone(), false)?;
    let target = open(&settings, &to, selected.backend.clone(), true)?;
    let digest = keysmith_store::transfer::copy(&*source.store, &*target.store)?;
    print_digest(&digest);
    Ok(())
}

fn open(
    settings: &Settings,
    place: &Place,
    backend: Arc<dyn KeyBackend>,
    new: bool,
) -> Result<Opened, ServerError> {
    match place {
        Place::Postgres(url) => {
            let settings = Settings {
                store: zeroize::Zeroizing::new(url.clone()),
                ..settings.clone()
            };
            let (store, _) = crate::master_key::connect_postgres(&settings, backend)?;
            Ok(Opened {
                store: Box::new(store),
                _lock: None,
            })
        }
        Place::DataDir(dir) => {
            let file = dir.join(crate::settings::DATA_FILE);
            if new && file.exists() {
                return Err(ServerError::Cli(format!(
                    "{} already exists: migrate writes a new data file only",
                    file.display()
                )));
            }
            if !new && !file.exists() {
                return Err(ServerError::Cli(format!(
                    "there is no data file at {}",
                    file.display()
                )));
            }
            let settings = Settings {
                data: dir.clone(),
                store: zeroize::Zeroizing::new(String::new()),
                ..settings.clone()
            };
            if new {
                crate::data::prepare_data_dir(&settings)?;
            }
            let lock = crate::data_lock::lock(dir)?;
            let (store, _) = crate::master_key::open_store(&settings, backend, false)?;
            Ok(Opened {
                store: Box::new(store),
                _lock: Some(lock),
            })
        }
    }
}

fn print_digest(digest: &Digest) {
    println!(
        "copied {} keys, {} deleted keys, {} connections, {} key rings, {} API keys, {} audit records; both stores hold the same records (sha256 {})",
        digest.keys,
        digest.deleted_keys,
        digest.connections,
        digest.rings,
        digest.api_keys,
        digest.audit_records,
        digest.sha256
    );
}
