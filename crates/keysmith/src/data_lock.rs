//! The data directory's lock: `<data>/keysmith.lock`, held exclusively by a running server for
//! its whole life and by `keysmith restore` from before it checks the data file until after it
//! has replaced it, so neither can start while the other is at work.
//!
//! redb's own lock on the data file is not enough for restore: restore replaces the file by
//! renaming over it, and a server that opened the old file between restore's check and the
//! rename would keep serving (and writing) a file that is no longer there.

use std::path::Path;

use crate::error::ServerError;

/// The lock file's name inside the data directory.
pub const LOCK_FILE: &str = "keysmith.lock";

/// An exclusive lock on the data directory, released when dropped (or when the process exits,
/// however it exits).
#[derive(Debug)]
pub struct DataDirLock {
    _file: std::fs::File,
}

/// Takes the data directory's lock, or refuses at once if another process holds it. The
/// directory must exist.
pub fn lock(data: &Path) -> Result<DataDirLock, ServerError> {
    let path = data.join(LOCK_FILE);
    let failed = |source| ServerError::DataDir {
        path: path.display().to_string(),
        source,
    };
    let mut options = std::fs::OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let file = options.open(&path).map_err(failed)?;
    match file.try_lock() {
        Ok(()) => Ok(DataDirLock { _file: file }),
        Err(std::fs::TryLockError::WouldBlock) => Err(ServerError::DataDirInUse(format!(
            "the data directory {} is in use by another keysmith process (a running server, or a restore in progress): {} is locked",
            data.display(),
            path.display()
        ))),
        Err(std::fs::TryLockError::Error(e)) => Err(failed(e)),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_second_lock_is_refused_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let first = super::lock(dir.path()).unwrap();
        let refused = super::lock(dir.path()).unwrap_err().to_string();
        assert!(refused.contains("in use"), "{refused}");
        assert!(refused.contains(super::LOCK_FILE), "{refused}");
        drop(first);
        super::lock(dir.path()).unwrap();
    }
}
