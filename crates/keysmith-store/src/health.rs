//! Whether the storage is failing: consecutive failed write transactions and the last reason.
//!
//! redb latches an I/O error: once a commit fails on the disk, every later write fails with
//! "previous I/O error" until the database is reopened. So one failed commit means the process
//! can no longer change anything, and the server says so (`/api/status` 503) and, after a few
//! failures in a row, exits so that its supervisor restarts it.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::StoreError;

/// What the store knows about its own writes ([`crate::KeyStore::health`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StoreHealth {
    /// Write transactions that failed in the storage engine in a row (0: the last one
    /// committed, or none has failed since open).
    pub consecutive_write_failures: u64,
    /// Why the first of them failed (the engine's message; never a key or a secret). The
    /// later ones only repeat that redb is waiting to be reopened.
    pub last_failure: Option<String>,
}

impl StoreHealth {
    /// Whether the last write transaction failed in the storage engine.
    pub fn is_failing(&self) -> bool {
        self.consecutive_write_failures > 0
    }
}

/// Counts failed write transactions. Only engine failures count: a refused change (a duplicate
/// name, a key in use) is the request's fault and leaves the count as it is.
#[derive(Debug, Default)]
pub(crate) struct WriteHealth {
    consecutive: AtomicU64,
    last: Mutex<Option<String>>,
}

impl WriteHealth {
    pub(crate) fn record<T>(&self, result: &Result<T, StoreError>) {
        match result {
            Ok(_) => {
                if self.consecutive.swap(0, Ordering::SeqCst) > 0 {
                    tracing::info!("storage writes succeed again");
                }
            }
            Err(err @ StoreError::Engine(_)) => {
                let reason = crate::error::error_chain(err);
                let failures = self.consecutive.fetch_add(1, Ordering::SeqCst) + 1;
                tracing::error!(failures, error = %reason, "a storage write failed");
                if failures == 1
                    && let Ok(mut last) = self.last.lock()
                {
                    *last = Some(reason);
                }
            }
            Err(_) => {}
        }
    }

    pub(crate) fn get(&self) -> StoreHealth {
        StoreHealth {
            consecutive_write_failures: self.consecutive.load(Ordering::SeqCst),
            last_failure: self.last.lock().ok().and_then(|last| last.clone()),
        }
    }
}
