//! The audit context of the changes a thread is making: who, why and for which request.
//!
//! A caller that changes stored state on behalf of someone enters a context with
//! [`with_audit_context`]; every write transaction the store commits on that thread while it is
//! entered carries one `audit_log` row per target it changed (the key, connection or ring owner
//! the store knows), with result `ok`, in the same transaction. The change and its record
//! commit together or not at all. Writes made outside a context are not recorded by the store.

use std::cell::RefCell;

/// Who is changing what, for the audit rows of the writes made under it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditContext {
    /// Who: `api-key:<id>`, `cli`, `scheduler`, ...
    pub actor: String,
    /// What: `key.generate`, `ring.rotate`, ...
    pub action: String,
    /// The request's `X-Request-Id`, for HTTP requests.
    pub request_id: Option<String>,
}

struct Entered {
    context: AuditContext,
    recorded: u64,
}

thread_local! {
    static CURRENT: RefCell<Vec<Entered>> = const { RefCell::new(Vec::new()) };
}

/// Leaves the context when dropped (also when `f` unwinds).
struct Guard;

impl Drop for Guard {
    fn drop(&mut self) {
        CURRENT.with(|c| c.borrow_mut().pop());
    }
}

/// Runs `f` with `context` entered on this thread. Returns `f`'s result and how many audit rows
/// the writes it committed carried.
pub fn with_audit_context<T>(context: AuditContext, f: impl FnOnce() -> T) -> (T, u64) {
    CURRENT.with(|c| {
        c.borrow_mut().push(Entered {
            context,
            recorded: 0,
        })
    });
    let guard = Guard;
    let out = f();
    let recorded = CURRENT.with(|c| c.borrow().last().map_or(0, |e| e.recorded));
    drop(guard);
    (out, recorded)
}

/// The context entered on this thread, if any.
pub(crate) fn current() -> Option<AuditContext> {
    CURRENT.with(|c| c.borrow().last().map(|e| e.context.clone()))
}

/// Counts rows committed under the current context.
pub(crate) fn committed(rows: u64) {
    CURRENT.with(|c| {
        if let Some(entered) = c.borrow_mut().last_mut() {
            entered.recorded += rows;
        }
    });
}

/// Logs an audit record on the tracing target `keysmith::audit` (ids and names, never key
/// material): the one format for records written in a change's transaction and for those the
/// audit trail queues.
pub fn log_audit(record: &keysmith_model::AuditRecord) {
    tracing::info!(
        target: "keysmith::audit",
        actor = %record.actor,
        action = %record.action,
        target_id = %record.target,
        result = %record.result,
        request_id = record.request_id.as_deref().unwrap_or(""),
        uses = record.uses.as_ref().map_or(1, |u| u.count),
        "audit"
    );
}

/// The audit rows of a change under `context` (none outside a context) for `targets`.
pub(crate) fn audit_rows(
    context: Option<&crate::AuditContext>,
    targets: Vec<String>,
) -> Vec<keysmith_model::AuditRecord> {
    let Some(context) = context else {
        return Vec::new();
    };
    let at = keysmith_model::epoch_millis_now();
    targets
        .into_iter()
        .map(|target| keysmith_model::AuditRecord {
            id: 0,
            at,
            actor: context.actor.clone(),
            action: context.action.clone(),
            target,
            result: "ok".into(),
            request_id: context.request_id.clone(),
            uses: None,
        })
        .collect()
}

/// Logs the audit rows a committed change carried, and counts them for the caller's context.
pub(crate) fn committed_audit(rows: &[keysmith_model::AuditRecord]) {
    committed(log_all(rows));
}

/// Logs each row ([`log_audit`]); returns how many there were.
fn log_all(rows: &[keysmith_model::AuditRecord]) -> u64 {
    for record in rows {
        log_audit(record);
    }
    rows.len() as u64
}

/// A queued change's answer after its commit: its output, and the audit rows it committed
/// that are still to be logged (by [`Self::log_audit`], off the writer thread).
#[derive(Debug)]
#[must_use = "the committed audit rows are logged by log_audit"]
pub struct Committed<T> {
    value: T,
    audit: Vec<keysmith_model::AuditRecord>,
}

impl<T> Committed<T> {
    /// An answer whose audit rows were logged (and counted under the caller's audit context)
    /// where it committed.
    pub fn logged(value: T) -> Self {
        Self {
            value,
            audit: Vec::new(),
        }
    }

    pub(crate) fn with_audit(value: T, audit: Vec<keysmith_model::AuditRecord>) -> Self {
        Self { value, audit }
    }

    /// Logs the audit rows on `keysmith::audit`; returns the output and how many rows there
    /// were, for the caller's audit context to count.
    pub fn log_audit(self) -> (T, u64) {
        let rows = log_all(&self.audit);
        (self.value, rows)
    }
}

/// Where a queued change's answer goes ([`crate::KeyRecords::insert_then`]).
pub type OnCommit<T> = Box<dyn FnOnce(Result<Committed<T>, crate::StoreError>) + Send>;

/// The audit targets of a change that returns whether it changed anything.
pub(crate) fn if_true(target: String) -> impl Fn(&bool) -> Vec<String> + Send + 'static {
    move |changed| {
        if *changed {
            vec![target.clone()]
        } else {
            Vec::new()
        }
    }
}

/// The audit targets of a change that returns `None` when there was nothing to change.
pub(crate) fn changed<T>(target: String) -> impl Fn(&Option<T>) -> Vec<String> + Send + 'static {
    move |out| out.as_ref().map(|_| target.clone()).into_iter().collect()
}

/// The most audit records one pruning transaction deletes (a large backlog takes several).
pub(crate) const PRUNE_CHUNK: usize = 10_000;

/// Prunes the audit trail in transactions of at most [`PRUNE_CHUNK`] records: by age while
/// `by_age(before, chunk)` deletes a full chunk, then by count while `by_count(max, chunk)`
/// does. Each deletes the oldest records (by time) and returns how many. Returns the total.
pub(crate) fn prune_in_chunks(
    older_than: Option<i64>,
    max_records: Option<u64>,
    mut by_age: impl FnMut(i64, usize) -> Result<usize, crate::StoreError>,
    mut by_count: impl FnMut(u64, usize) -> Result<usize, crate::StoreError>,
) -> Result<u64, crate::StoreError> {
    let mut deleted = 0u64;
    if let Some(before) = older_than {
        loop {
            let n = by_age(before, PRUNE_CHUNK)?;
            deleted += n as u64;
            if n < PRUNE_CHUNK {
                break;
            }
        }
    }
    if let Some(max) = max_records {
        loop {
            let n = by_count(max, PRUNE_CHUNK)?;
            deleted += n as u64;
            if n < PRUNE_CHUNK {
                break;
            }
        }
    }
    Ok(deleted)
}
