//! Master keys: where they come from, the key file made on first start, and opening the data
//! file with them.
//!
//! Sources, in order (the first key seals, all of them open): `master_key` (base64 of 32 bytes;
//! several comma-separated), then the lines of `master_key_file`. With neither, the key file
//! beside the data (`<data>/master.key`) is used, and created (mode 0600) if it does not exist.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use keysmith_crypto::KeyBackend;
use keysmith_crypto::envelope::{Envelope, MasterKey};
use keysmith_store::RedbStore;

use crate::server::ServerError;
use crate::settings::Settings;

/// The key file's name inside the data directory.
pub const KEY_FILE: &str = "master.key";

fn configured_keys(
    settings: &Settings,
    backend: &dyn KeyBackend,
) -> Result<Vec<MasterKey>, ServerError> {
    let invalid = |what: &str| {
        ServerError::MasterKey(format!(
            "{what} must hold base64 of 32 bytes per key (generate one with `keysmith master-key generate`)"
        ))
    };
    let mut keys = Vec::new();
    for text in settings
        .master_key
        .split(',')
        .filter(|t| !t.trim().is_empty())
    {
        keys.push(MasterKey::from_base64(backend, text).map_err(|_| invalid("master_key"))?);
    }
    if !settings.master_key_file.as_os_str().is_empty() {
        keys.extend(read_key_file(&settings.master_key_file, backend)?);
    }
    Ok(keys)
}

/// The keys in a key file: one base64 key per line; blank lines and `#` comments ignored.
pub fn read_key_file(path: &Path, backend: &dyn KeyBackend) -> Result<Vec<MasterKey>, ServerError> {
    let text = zeroize::Zeroizing::new(std::fs::read_to_string(path).map_err(|e| {
        ServerError::MasterKey(format!(
            "cannot read the master key file {}: {e}",
            path.display()
        ))
    })?);
    let mut keys = Vec::new();
    for line in text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        keys.push(MasterKey::from_base64(backend, line).map_err(|_| {
            ServerError::MasterKey(format!(
                "{} must hold base64 of 32 bytes per line",
                path.display()
            ))
        })?);
    }
    if keys.is_empty() {
        return Err(ServerError::MasterKey(format!(
            "{} holds no key",
            path.display()
        )));
    }
    Ok(keys)
}

/// Creates a new file only its owner can read (mode 0600), never over an existing one: for
/// master keys and backups.
pub fn create_private_file(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

/// Writes a new key file (mode 0600; never over an existing file). Returns the key.
pub fn create_key_file(path: &Path, backend: &dyn KeyBackend) -> Result<MasterKey, ServerError> {
    let (key, text) = MasterKey::generate(backend)?;
    let failed = |e: std::io::Error| {
        ServerError::MasterKey(format!(
            "cannot create the master key file {}: {e}",
            path.display()
        ))
    };
    let mut file = create_private_file(path).map_err(failed)?;
    writeln!(
        file,
        "# Keysmith master key (base64 of 32 bytes). Keep a copy off this machine: without it the\n# private keys in the data file cannot be read.\n{}",
        text.as_str()
    )
    .and_then(|()| file.sync_all())
    .map_err(failed)?;
    Ok(key)
}

/// The configured master keys (see the module documentation) as an envelope, and the key
/// file made for it if one had to be made (only with `create_key_file`).
pub fn envelope(
    settings: &Settings,
    backend: Arc<dyn KeyBackend>,
    create_key_file: bool,
) -> Result<(Envelope, Option<PathBuf>), ServerError> {
    let mut keys = configured_keys(settings, &*backend)?;
    let mut created: Option<PathBuf> = None;
    if keys.is_empty() {
        let path = settings.data.join(KEY_FILE);
        if path.exists() {
            keys = read_key_file(&path, &*backend)?;
        } else if !create_key_file {
            return Err(ServerError::MasterKey(format!(
                "no master key: set KEYSMITH_MASTER_KEY or --master-key-file ({} does not exist)",
                path.display()
            )));
        } else {
            keys.push(self::create_key_file(&path, &*backend)?);
            tracing::warn!(
                key_file = %path.display(),
                "no master key was configured, so one was generated beside the data. For production, move it off this machine and pass it with KEYSMITH_MASTER_KEY or --master-key-file"
            );
            created = Some(path);
        }
    }
    Ok((Envelope::new(backend, keys)?, created))
}

/// Opens the data file with the configured master keys (see the module documentation).
/// Returns the store and the id of the sealing key. Only with `create_key_file` may a missing
/// key file be created (the server's first start; never an administrative command).
pub fn open_store(
    settings: &Settings,
    backend: Arc<dyn KeyBackend>,
    create_key_file: bool,
) -> Result<(RedbStore, String), ServerError> {
    let (envelope, created) = envelope(settings, backend, create_key_file)?;
    let sealing_id = envelope.sealing_key_id();
    match RedbStore::open(&settings.data_file(), Arc::new(envelope)) {
        Ok(store) => Ok((store, sealing_id)),
        Err(err) => {
            // A key made for a file that did not open sealed nothing; do not leave it behind,
            // or the next start would take it for the data's key.
            if let Some(path) = &created {
                let _ = std::fs::remove_file(path);
            }
            Err(err.into())
        }
    }
}
