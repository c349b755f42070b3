//! The audit trail writer, for what is not recorded in a change's own transaction.
//!
//! A change made for a request or by the scheduler carries its audit row in its own write
//! transaction ([`keysmith_store::with_audit_context`]): it is on disk exactly when the change
//! is. What remains comes here, through a **bounded** queue: requests that changed nothing
//! (refused or failed, with their HTTP status), and uses of private keys (signs, verifies,
//! vends). A background thread appends what has queued in one durable transaction (group
//! commit), so a burst costs one fsync, not one each.
//!
//! Uses are recorded as [`UseAudit`] says: by default summed up per key, action and result over
//! an interval (count, first and last use, the distinct callers), one record each; or one
//! record per use; or not at all.
//!
//! Invariants: memory is bounded (the queue holds at most [`QUEUE_CAPACITY`] records, the use
//! summaries at most [`MAX_USE_SUMMARIES`] keys); a record that does not fit is dropped and
//! counted ([`AuditTrail::dropped`], `keysmith_audit_dropped_total`), with a warning at most
//! every [`DROP_WARNING_INTERVAL`], never lost silently. Retention (age, count) is enforced by
//! the same thread every [`PRUNE_INTERVAL`]. [`AuditTrail::close`] writes everything still
//! queued or summed up.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use keysmith_model::{AuditRecord, AuditUses, epoch_millis_now};
use keysmith_store::KeyStore;
pub use keysmith_store::{AuditContext, with_audit_context};

/// The most records written in one transaction.
const MAX_BATCH: usize = 512;
/// How long a record may wait for its batch.
const MAX_WAIT: Duration = Duration::from_millis(100);
/// The most records waiting for the writer; past it, records are dropped and counted.
pub const QUEUE_CAPACITY: usize = 10_000;
/// The most (key, action, result) use summaries kept between flushes; a use of another key
/// past it is dropped and counted.
pub const MAX_USE_SUMMARIES: usize = 10_000;
/// The most distinct callers a use summary lists.
pub const MAX_CALLERS: usize = 16;
/// How often retention is enforced.
pub const PRUNE_INTERVAL: Duration = Duration::from_secs(60);
/// The least time between two warnings about dropped records.
pub const DROP_WARNING_INTERVAL: Duration = Duration::from_secs(10);

/// How uses of private keys (sign, verify, vend) are recorded: the `audit_uses` setting.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum UseAudit {
    /// One record per key, action and result per interval: count, first and last use, callers.
    #[default]
    Aggregate,
    /// One record per use.
    Each,
    /// Not recorded.
    Off,
}

impl FromStr for UseAudit {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "aggregate" => Ok(Self::Aggregate),
            "each" => Ok(Self::Each),
            "off" => Ok(Self::Off),
            other => Err(format!(
                "audit_uses must be \"aggregate\", \"each\" or \"off\", not {other:?}"
            )),
        }
    }
}

/// The audit trail's settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditSettings {
    /// How uses are recorded.
    pub uses: UseAudit,
    /// How long a use summary covers before it is written.
    pub use_interval: Duration,
    /// Records older than this many days are deleted (0: kept however old).
    pub retention_days: u64,
    /// At most this many records are kept, the oldest deleted first (0: no limit).
    pub max_records: u64,
}

impl Default for AuditSettings {
    fn default() -> Self {
        Self {
            uses: UseAudit::Aggregate,
            use_interval: Duration::from_secs(60),
            retention_days: 90,
            max_records: 1_000_000,
        }
    }
}

/// The uses of one key by one action with one result since the last flush.
#[derive(Debug)]
struct UseSummary {
    count: u64,
    first: i64,
    last: i64,
    callers: Vec<String>,
    more_callers: bool,
}

/// (action, target, result) → summary.
type UseSummaries = HashMap<(String, String, String), UseSummary>;

/// What the writer thread and the recording side share.
#[derive(Debug, Default)]
struct Shared {
    uses: Mutex<UseSummaries>,
    dropped: AtomicU64,
    /// Dropped records not yet reported in a warning.
    unreported: AtomicU64,
    /// When the last warning about dropped records was logged (epoch ms).
    last_warning: AtomicI64,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    match mutex.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}

impl Shared {
    /// Counts `n` records lost, and warns if the last warning is old enough.
    fn lost(&self, n: u64, why: &'static str) {
        self.dropped.fetch_add(n, Ordering::Relaxed);
        self.unreported.fetch_add(n, Ordering::Relaxed);
        let now = epoch_millis_now();
        let last = self.last_warning.load(Ordering::Relaxed);
        let interval = i64::try_from(DROP_WARNING_INTERVAL.as_millis()).unwrap_or(i64::MAX);
        if now.saturating_sub(last) >= interval
            && self
                .last_warning
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            let since = self.unreported.swap(0, Ordering::Relaxed);
            tracing::warn!(
                target: "keysmith::audit",
                dropped = since,
                dropped_total = self.dropped.load(Ordering::Relaxed),
                reason = why,
                "audit records dropped (counted in keysmith_audit_dropped_total)"
            );
        }
    }

    /// Takes the use summaries as records.
    fn take_uses(&self) -> Vec<AuditRecord> {
        let summaries = std::mem::take(&mut *lock(&self.uses));
        let mut records: Vec<AuditRecord> = summaries
            .into_iter()
            .map(|((action, target, result), s)| AuditRecord {
                id: 0,
                at: s.first,
                actor: s.callers.join(","),
                action,
                target,
                result,
                request_id: None,
                uses: Some(AuditUses {
                    count: s.count,
                    first: s.first,
                    last: s.last,
                    callers: s.callers,
                    more_callers: s.more_callers,
                }),
            })
            .collect();
        records.sort_by_key(|r| r.at);
        records
    }
}

/// Runs a scheduled change (no request): the writes it commits carry their audit rows, with
/// actor `scheduler` and `action`, in their own transactions.
pub fn scheduled<T>(action: &str, f: impl FnOnce() -> T) -> T {
    let context = keysmith_store::AuditContext {
        actor: "scheduler".into(),
        action: action.into(),
        request_id: None,
    };
    keysmith_store::with_audit_context(context, f).0
}

/// Queues audit records for the data file and sums up uses.
#[derive(Debug)]
pub struct AuditTrail {
    sender: Mutex<Option<SyncSender<AuditRecord>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
    shared: Arc<Shared>,
    uses: UseAudit,
}

struct Writer {
    store: Arc<dyn KeyStore>,
    shared: Arc<Shared>,
    settings: AuditSettings,
}

impl Writer {
    fn append(&self, records: &[AuditRecord]) {
        if let Err(err) = self.store.append_audit(records) {
            tracing::error!(error = %err, records = records.len(), "could not write audit records");
            self.shared
                .lost(records.len() as u64, "the data file refused them");
        }
    }

    fn flush_uses(&self) {
        let records = self.shared.take_uses();
        records.iter().for_each(keysmith_store::log_audit);
        self.append(&records);
    }

    fn prune(&self) {
        let older_than = (self.settings.retention_days > 0).then(|| {
            let days = i64::try_from(self.settings.retention_days).unwrap_or(i64::MAX);
            epoch_millis_now().saturating_sub(days.saturating_mul(86_400_000))
        });
        let max_records = (self.settings.max_records > 0).then_some(self.settings.max_records);
        if older_than.is_none() && max_records.is_none() {
            return;
        }
        match self.store.prune_audit(older_than, max_records) {
            Ok(0) => {}
            Ok(deleted) => tracing::info!(deleted, "audit retention: oldest records deleted"),
            Err(err) => tracing::error!(error = %err, "audit retention failed"),
        }
    }

    fn run(&self, queue: &Receiver<AuditRecord>) {
        let mut batch: Vec<AuditRecord> = Vec::new();
        let mut batch_due = Instant::now();
        let mut flush_due = Instant::now() + self.settings.use_interval;
        let mut prune_due = Instant::now();
        loop {
            let now = Instant::now();
            let mut wake = flush_due.min(prune_due);
            if !batch.is_empty() {
                wake = wake.min(batch_due);
            }
            let open = match queue.recv_timeout(wake.saturating_duration_since(now)) {
                Ok(record) => {
                    if batch.is_empty() {
                        batch_due = Instant::now() + MAX_WAIT;
                    }
                    batch.push(record);
                    true
                }
                Err(RecvTimeoutError::Timeout) => true,
                Err(RecvTimeoutError::Disconnected) => false,
            };
            let now = Instant::now();
            if !batch.is_empty() && (!open || batch.len() >= MAX_BATCH || now >= batch_due) {
                self.append(&std::mem::take(&mut batch));
            }
            if !open || now >= flush_due {
                self.flush_uses();
                flush_due = now + self.settings.use_interval;
            }
            if !open {
                return;
            }
            if now >= prune_due {
                self.prune();
                prune_due = now + PRUNE_INTERVAL;
            }
        }
    }
}

impl AuditTrail {
    /// A trail writing to `store` with the default settings.
    pub fn new(store: Arc<dyn KeyStore>) -> Self {
        Self::with_settings(store, AuditSettings::default())
    }

    /// A trail writing to `store`.
    pub fn with_settings(store: Arc<dyn KeyStore>, settings: AuditSettings) -> Self {
        let (trail, writer, queue) = Self::unstarted(store, settings);
        *lock(&trail.writer) = std::thread::Builder::new()
            .name("keysmith-audit".into())
            .spawn(move || writer.run(&queue))
            .ok();
        trail
    }

    /// A trail whose writer has not started: the trail, the writer and the queue it reads.
    fn unstarted(
        store: Arc<dyn KeyStore>,
        settings: AuditSettings,
    ) -> (Self, Writer, Receiver<AuditRecord>) {
        let (sender, queue) = std::sync::mpsc::sync_channel(QUEUE_CAPACITY);
        let shared = Arc::new(Shared::default());
        let uses = settings.uses;
        let writer = Writer {
            store,
            shared: shared.clone(),
            settings,
        };
        let trail = Self {
            sender: Mutex::new(Some(sender)),
            writer: Mutex::new(None),
            shared,
            uses,
        };
        (trail, writer, queue)
    }

    /// Records an event: logged now, written with the next batch; dropped and counted if the
    /// queue is full.
    pub fn record(&self, record: AuditRecord) {
        keysmith_store::log_audit(&record);
        let sender = lock(&self.sender);
        let Some(sender) = sender.as_ref() else {
            self.shared.lost(1, "the audit writer has stopped");
            return;
        };
        match sender.try_send(record) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => self.shared.lost(1, "the audit queue is full"),
            Err(TrySendError::Disconnected(_)) => {
                self.shared.lost(1, "the audit writer has stopped");
            }
        }
    }

    /// Records a use of the key `target` by `actor` (`action`: `key.sign`, `jwt.vend`, ...)
    /// as the `audit_uses` setting says.
    pub fn record_use(
        &self,
        action: &str,
        target: &str,
        actor: &str,
        result: &str,
        request_id: Option<String>,
    ) {
        match self.uses {
            UseAudit::Off => {}
            UseAudit::Each => self.record(AuditRecord {
                id: 0,
                at: epoch_millis_now(),
                actor: actor.to_owned(),
                action: action.to_owned(),
                target: target.to_owned(),
                result: result.to_owned(),
                request_id,
                uses: None,
            }),
            UseAudit::Aggregate => {
                let now = epoch_millis_now();
                let mut uses = lock(&self.shared.uses);
                let key = (action.to_owned(), target.to_owned(), result.to_owned());
                if let Some(summary) = uses.get_mut(&key) {
                    summary.count += 1;
                    summary.last = summary.last.max(now);
                    if !summary.callers.iter().any(|c| c == actor) {
                        if summary.callers.len() < MAX_CALLERS {
                            summary.callers.push(actor.to_owned());
                        } else {
                            summary.more_callers = true;
                        }
                    }
                } else if uses.len() < MAX_USE_SUMMARIES {
                    uses.insert(
                        key,
                        UseSummary {
                            count: 1,
                            first: now,
                            last: now,
                            callers: vec![actor.to_owned()],
                            more_callers: false,
                        },
                    );
                } else {
                    drop(uses);
                    self.shared.lost(1, "too many keys used in one interval");
                }
            }
        }
    }

    /// How many records were dropped (queue full, summaries full, writer stopped, write failed)
    /// since start.
    pub fn dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }

    /// Writes everything queued or summed up and stops the writer (and its store reference).
    pub fn close(&self) {
        lock(&self.sender).take();
        let writer = lock(&self.writer).take();
        if let Some(writer) = writer {
            let _ = writer.join();
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// With the writer not yet reading, exactly the queue's capacity is kept and the rest is
    /// dropped and counted; once it reads, everything kept is written.
    #[test]
    fn a_full_queue_drops_and_counts_never_silently() {
        let backend: Arc<dyn keysmith_crypto::KeyBackend> =
            Arc::new(keysmith_crypto_aws_lc::AwsLcBackend::new());
        let key = keysmith_crypto::envelope::MasterKey::from_bytes(&*backend, &[7u8; 32]).unwrap();
        let sealer =
            Arc::new(keysmith_crypto::envelope::Envelope::new(backend, vec![key]).unwrap());
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn KeyStore> = Arc::new(
            keysmith_store::RedbStore::open(&dir.path().join("keysmith.redb"), sealer).unwrap(),
        );
        let (trail, writer, queue) = AuditTrail::unstarted(store.clone(), AuditSettings::default());
        let sent = 2 * QUEUE_CAPACITY as u64;
        for i in 0..sent {
            trail.record(AuditRecord {
                id: 0,
                at: 1,
                actor: "api-key:a".into(),
                action: "key.generate".into(),
                target: String::new(),
                result: "400".into(),
                request_id: Some(format!("r{i}")),
                uses: None,
            });
        }
        assert_eq!(trail.dropped(), sent - QUEUE_CAPACITY as u64);
        *lock(&trail.writer) = Some(std::thread::spawn(move || writer.run(&queue)));
        trail.close();
        let written = store
            .search_audit(&keysmith_model::AuditQuery {
                number_of_results: 1,
                ..keysmith_model::AuditQuery::default()
            })
            .unwrap()
            .1;
        assert_eq!(written, QUEUE_CAPACITY as u64);
        assert_eq!(
            written + trail.dropped(),
            sent,
            "every record written or counted"
        );
    }

    #[test]
    fn use_modes_parse() {
        assert_eq!("aggregate".parse(), Ok(UseAudit::Aggregate));
        assert_eq!("each".parse(), Ok(UseAudit::Each));
        assert_eq!("off".parse(), Ok(UseAudit::Off));
        assert!("all".parse::<UseAudit>().is_err());
    }
}
