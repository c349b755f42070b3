//! Master keys: where they come from, the key file made on first start, and opening the data
//! file with them.
//!
//! Sources, in order (the first key seals, all of them open): `master_key` (base64 of 32 bytes;
//! several comma-separated), then the lines of `master_key_file`. With neither, the key file
//! beside the data (`<data>/master.key`) is used, and created (mode 0600) if it does not exist.
//!
//! A key file its group or others can read or write is refused (on Unix): `chmod 600` it.
//! Key text is held in [`Zeroizing`] buffers from where it is read to where it is parsed.

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use keysmith_crypto::KeyBackend;
use keysmith_crypto::envelope::{Envelope, MasterKey};
use keysmith_store::RedbStore;
use zeroize::Zeroizing;

use crate::error::ServerError;
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
/// On Unix the file must be private to its owner (no group or other permission bits).
pub fn read_key_file(path: &Path, backend: &dyn KeyBackend) -> Result<Vec<MasterKey>, ServerError> {
    let unreadable = |e: std::io::Error| {
        ServerError::MasterKey(format!(
            "cannot read the master key file {}: {e}",
            path.display()
        ))
    };
    let mut file = std::fs::File::open(path).map_err(unreadable)?;
    // The mode of the file as opened, so it cannot change between the check and the read.
    let metadata = file.metadata().map_err(unreadable)?;
    check_private_mode(path, &metadata)?;
    // Sized up front so the buffer holding the key text is never reallocated (a reallocation
    // would leave a copy behind that is not zeroized).
    let capacity = usize::try_from(metadata.len())
        .unwrap_or(0)
        .saturating_add(1);
    let mut text = Zeroizing::new(String::with_capacity(capacity));
    file.read_to_string(&mut text).map_err(unreadable)?;
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

/// Refuses a master key file whose group or others have any permission (Unix).
#[cfg(unix)]
fn check_private_mode(path: &Path, metadata: &std::fs::Metadata) -> Result<(), ServerError> {
    use std::os::unix::fs::PermissionsExt;
    let mode = metadata.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(ServerError::MasterKey(format!(
            "the master key file {path} can be read or written by its group or others (mode {mode:03o}); make it private to its owner with `chmod 600 {path}`",
            path = path.display()
        )));
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private_mode(_path: &Path, _metadata: &std::fs::Metadata) -> Result<(), ServerError> {
    Ok(())
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

/// Writes a new key file (mode 0600; never over an existing file), and syncs it and its
/// directory so the key is on disk before any secret is sealed under it. Returns the key.
///
/// The key is written and synced under a temporary name (`<name>.partial`) and then linked to
/// `path`, which fails if `path` exists: a crash at any moment leaves no key file or a whole
/// one, never an empty or partial one (which would keep every later start from opening the
/// data). A `.partial` file left by a crash is replaced.
pub fn create_key_file(path: &Path, backend: &dyn KeyBackend) -> Result<MasterKey, ServerError> {
    let (key, text) = MasterKey::generate(backend)?;
    let failed = |e: std::io::Error| {
        ServerError::MasterKey(format!(
            "cannot create the master key file {}: {e}",
            path.display()
        ))
    };
    let partial = partial_key_file(path);
    remove_partial_key_file(path).map_err(failed)?;
    let mut file = create_private_file(&partial).map_err(failed)?;
    #[cfg(feature = "failpoints")]
    failpoint_pause();
    writeln!(
        file,
        "# Keysmith master key (base64 of 32 bytes). Keep a copy off this machine: without it the\n# private keys in the data file cannot be read.\n{}",
        text.as_str()
    )
    .and_then(|()| file.sync_all())
    .map_err(failed)?;
    drop(file);
    let linked = std::fs::hard_link(&partial, path);
    // Whether linked or not, the temporary name goes (a key that was not linked sealed nothing).
    std::fs::remove_file(&partial).map_err(failed)?;
    linked.map_err(failed)?;
    sync_directory_of(path).map_err(failed)?;
    Ok(key)
}

/// Where [`create_key_file`] writes a key before it links it to `path`.
fn partial_key_file(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".partial");
    path.with_file_name(name)
}

/// Removes the temporary file a crash in [`create_key_file`] may have left beside `path`: one
/// that was never linked (it sealed nothing), or a second name of the key file itself.
fn remove_partial_key_file(path: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(partial_key_file(path)) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Test-only failpoint: milliseconds the first start waits while it writes a new key file, so a
/// crash test can kill it there. Read only when built with the `failpoints` feature (the tests).
#[cfg(feature = "failpoints")]
pub const FAILPOINT_KEY_FILE_PAUSE_MS: &str = "KS_FAILPOINT_KEY_FILE_PAUSE_MS";

#[cfg(feature = "failpoints")]
fn failpoint_pause() {
    if let Some(pause) = std::env::var(FAILPOINT_KEY_FILE_PAUSE_MS)
        .ok()
        .and_then(|ms| ms.parse().ok())
    {
        tracing::warn!("failpoint: writing the master key file, pausing");
        std::thread::sleep(std::time::Duration::from_millis(pause));
    }
}

/// Syncs the directory holding `path`, so a new entry in it survives a crash.
pub fn sync_directory_of(path: &Path) -> std::io::Result<()> {
    let parent = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    std::fs::File::open(parent)?.sync_all()
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
            if create_key_file {
                // The server, holding the data directory's lock: a copy of the key left by a
                // crash right after the key file was linked does not stay beside it.
                remove_partial_key_file(&path).map_err(|e| {
                    ServerError::MasterKey(format!(
                        "cannot remove {}: {e}",
                        partial_key_file(&path).display()
                    ))
                })?;
            }
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

/// Connects to the PostgreSQL store the settings name (`store`) with the configured master
/// keys, which must be set: a node never generates one for a shared database, where every
/// node needs the same keys. Returns the store and the id of the sealing key.
pub fn connect_postgres(
    settings: &Settings,
    backend: Arc<dyn KeyBackend>,
) -> Result<(keysmith_store::PgStore, String), ServerError> {
    let keys = configured_keys(settings, &*backend)?;
    if keys.is_empty() {
        return Err(ServerError::MasterKey(
            "no master key: with a PostgreSQL store (store, KEYSMITH_STORE) set KEYSMITH_MASTER_KEY or --master-key-file, the same on every node".into(),
        ));
    }
    let envelope = Envelope::new(backend, keys)?;
    let sealing_id = envelope.sealing_key_id();
    let store = keysmith_store::PgStore::connect(
        &settings.store,
        Arc::new(envelope),
        &settings.postgres_options(),
    )?;
    Ok((store, sealing_id))
}

/// The store the settings name, for a command that works on either engine (`api-key`): the
/// PostgreSQL store when `store` is set (other nodes may be serving from it), else the data
/// file (its server stopped).
pub fn open_any_store(
    settings: &Settings,
    backend: Arc<dyn KeyBackend>,
) -> Result<Box<dyn keysmith_store::KeyStore>, ServerError> {
    if settings.store.is_empty() {
        Ok(Box::new(open_store(settings, backend, false)?.0))
    } else {
        Ok(Box::new(connect_postgres(settings, backend)?.0))
    }
}

/// Opens the data file with the configured master keys (see the module documentation).
/// Returns the store and the id of the sealing key. Only with `create_key_file` may a missing
/// key file be created (the server's first start; never an administrative command). Refused
/// when the settings name a PostgreSQL store: the commands that open the data file work on
/// the data file only.
pub fn open_store(
    settings: &Settings,
    backend: Arc<dyn KeyBackend>,
    create_key_file: bool,
) -> Result<(RedbStore, String), ServerError> {
    if !settings.store.is_empty() {
        return Err(ServerError::Cli(
            "this command works on the data file, and the keys are in a PostgreSQL store (store is set); use the server's API (--url) instead".into(),
        ));
    }
    let (envelope, created) = envelope(settings, backend, create_key_file)?;
    let sealing_id = envelope.sealing_key_id();
    match open_data_file(settings, Arc::new(envelope)) {
        Ok(store) => Ok((store, sealing_id)),
        Err(err) => {
            // A key made for a file that did not open sealed nothing; do not leave it behind,
            // or the next start would take it for the data's key.
            if let Some(path) = &created {
                let _ = std::fs::remove_file(path);
            }
            Err(crate::error::data_file_error(&settings.data_file())(err))
        }
    }
}

/// Opens the data file as the settings say; with the `failpoints` feature (the tests), through
/// a failing disk when [`FAILPOINT_STORAGE`] asks for one.
fn open_data_file(
    settings: &Settings,
    sealer: Arc<Envelope>,
) -> Result<RedbStore, keysmith_store::StoreError> {
    let path = settings.data_file();
    #[cfg(feature = "failpoints")]
    if let Some(plan) = storage_failpoint() {
        return RedbStore::open_with_faults(&path, sealer, plan);
    }
    let options = keysmith_store::OpenOptions {
        check_integrity: settings.check_integrity_on_open,
        cache_bytes: settings.store_cache_bytes,
    };
    RedbStore::open_with(&path, sealer, options)
}

/// Test-only failpoint: a failing disk under the data file, armed once the file is open.
/// `write:N`, `set_len:N` or `sync:N` fail the N-th such call once (redb then refuses every
/// later write until reopened); `full:BYTES` lets the file grow by BYTES, then every write
/// past that fails with "no space left on device". Read only with the `failpoints` feature.
#[cfg(feature = "failpoints")]
pub const FAILPOINT_STORAGE: &str = "KS_FAILPOINT_STORAGE";

#[cfg(feature = "failpoints")]
fn storage_failpoint() -> Option<Arc<keysmith_store::testing::FaultPlan>> {
    use keysmith_store::testing::{FaultPlan, IoCall};
    let spec = std::env::var(FAILPOINT_STORAGE).ok()?;
    let (kind, n) = spec.split_once(':')?;
    let n: u64 = n.parse().ok()?;
    tracing::warn!("test failpoint {FAILPOINT_STORAGE}={spec} is set: the data file's disk fails");
    let plan = FaultPlan::new();
    match kind {
        "write" => plan.fail_after_open(IoCall::Write, n),
        "set_len" => plan.fail_after_open(IoCall::SetLen, n),
        "sync" => plan.fail_after_open(IoCall::Sync, n),
        "full" => plan.fill_after_open(n),
        _ => return None,
    }
    Some(plan)
}

/// `keysmith master-key rotate`: re-wraps every data key under the first configured master
/// key, in one transaction. On the data file, with the server stopped (a running server holds
/// the file's lock); on a PostgreSQL store, while nodes serve (their writes wait for it), once
/// every node has the new key first.
pub fn rotate_master_key(settings: &Settings) -> Result<(), ServerError> {
    let selected =
        crate::backend::select_backend(Some(settings.backend.as_str()).filter(|b| !b.is_empty()))?;
    let (store, rewrapped, sealing_key): (Box<dyn keysmith_store::KeyStore>, usize, String) =
        if settings.store.is_empty() {
            let (store, sealing_key) = open_store(settings, selected.backend, false)?;
            let rewrapped = store.rewrap_secrets()?;
            (Box::new(store), rewrapped, sealing_key)
        } else {
            let (store, sealing_key) = connect_postgres(settings, selected.backend)?;
            let rewrapped = store.rewrap_secrets()?;
            (Box::new(store), rewrapped, sealing_key)
        };
    crate::data::audit_cli(&*store, "master-key.rotate", &sealing_key)?;
    tracing::info!(target: "keysmith::audit", action = "master-key.rotate", rewrapped, master_key = %sealing_key, "data keys re-wrapped");
    println!("re-wrapped {rewrapped} data keys under master key {sealing_key}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "MTExMTExMTExMTExMTExMTExMTExMTExMTExMTExMTE=";

    fn backend() -> Arc<dyn KeyBackend> {
        crate::backend::select_backend(None).unwrap().backend
    }

    #[test]
    fn a_configured_master_key_is_parsed_and_never_in_debug_output() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("keysmith.toml");
        std::fs::write(&config, format!("master_key = \"{KEY}\"\n")).unwrap();
        let settings =
            Settings::load(Some(&config), &crate::settings::Overrides::default()).unwrap();
        assert_eq!(configured_keys(&settings, &*backend()).unwrap().len(), 1);
        let shown = format!("{settings:?}");
        assert!(!shown.contains(KEY), "{shown}");
        assert!(!shown.contains("MTEx"), "{shown}");
    }

    #[test]
    fn a_new_key_file_is_whole_and_replaces_a_partial_one_left_by_a_crash() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(KEY_FILE);
        let partial = partial_key_file(&path);
        assert_eq!(partial, dir.path().join("master.key.partial"));
        std::fs::write(&partial, "# Keysmith master key (base64 of 32 bytes").unwrap();
        let key = create_key_file(&path, &*backend()).unwrap();
        let read = read_key_file(&path, &*backend()).unwrap();
        assert_eq!(read.len(), 1);
        assert_eq!(read[0].id_hex(), key.id_hex());
        assert!(!partial.exists(), "the temporary name is gone");
    }

    #[test]
    fn an_existing_key_file_is_never_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(KEY_FILE);
        std::fs::write(&path, format!("{KEY}\n")).unwrap();
        let refused = create_key_file(&path, &*backend()).unwrap_err().to_string();
        assert!(
            refused.contains("cannot create the master key file"),
            "{refused}"
        );
        assert_eq!(std::fs::read_to_string(&path).unwrap(), format!("{KEY}\n"));
        assert!(!partial_key_file(&path).exists());
    }

    #[cfg(unix)]
    #[test]
    fn a_key_file_its_group_or_others_can_access_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.key");
        std::fs::write(&path, format!("{KEY}\n")).unwrap();
        for mode in [0o644, 0o640, 0o604, 0o660, 0o602] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            let refused = read_key_file(&path, &*backend()).unwrap_err().to_string();
            assert!(
                refused.contains(&format!("chmod 600 {}", path.display())),
                "{refused}"
            );
            assert!(!refused.contains(KEY));
        }
        for mode in [0o600, 0o400] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            assert_eq!(read_key_file(&path, &*backend()).unwrap().len(), 1);
        }
    }
}
