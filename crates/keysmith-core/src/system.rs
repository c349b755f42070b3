//! What the server reports about itself and its data: storage health, the key census, the
//! audit trail and consistent snapshots. Each is a plain read or write of the store, here so
//! that the API crate calls use cases only.

use keysmith_model::{AuditQuery, AuditRecord};
use keysmith_store::KeyCensus;

use crate::{KeyService, ServiceError};

impl KeyService {
    /// Whether the store's writes have been failing (a failing or full disk). Cheap: no I/O.
    pub fn storage_failing(&self) -> bool {
        self.store().health().is_failing()
    }

    /// Tries one empty durable write, then says why writes still fail (`None` once one has
    /// succeeded). Blocks on the disk.
    pub fn probe_storage(&self) -> Option<String> {
        let store = self.store();
        let _ = store.probe_write();
        let health = store.health();
        health.is_failing().then(|| {
            health
                .last_failure
                .unwrap_or_else(|| "storage writes fail".into())
        })
    }

    /// Why the data file cannot be read, if it cannot (one read transaction).
    pub fn storage_unreadable(&self) -> Option<String> {
        self.store()
            .count()
            .err()
            .map(|err| format!("the data file cannot be read: {err}"))
    }

    /// Live keys by kind, and how many certificates expire before `expiring_before` (epoch
    /// ms). A few rows kept current by every write, not a scan of the keys.
    pub fn census(&self, expiring_before: i64) -> Result<KeyCensus, ServiceError> {
        Ok(self.store().census(expiring_before)?)
    }

    /// One page of the audit records that match, newest first, and how many match in all.
    pub fn search_audit(
        &self,
        query: &AuditQuery,
    ) -> Result<(Vec<AuditRecord>, u64), ServiceError> {
        Ok(self.store().search_audit(query)?)
    }

    /// Writes a consistent snapshot of all data to a new file at `path` (private to its owner,
    /// never over an existing file; secrets stay sealed). Returns the records copied.
    pub fn snapshot_to(&self, path: &std::path::Path) -> Result<u64, ServiceError> {
        Ok(self.store().snapshot_to(path, &mut |_, _| {})?)
    }
}
