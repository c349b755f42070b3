//! The audit trail writer: records go to the tracing target `keysmith::audit` at once and to
//! the data file in batches.
//!
//! A background thread appends what has queued in one durable transaction (group commit), so a
//! burst of vends costs one fsync, not one each. Invariant: a record is on disk at most one
//! batch after it was queued; a crash can lose only records not yet written (the last batch),
//! never reorder or half-write one. [`AuditTrail::close`] writes everything still queued.

use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use keysmith_model::AuditRecord;
use keysmith_store::KeyStore;

/// The most records written in one transaction.
const MAX_BATCH: usize = 512;
/// How long a record may wait for its batch.
const MAX_WAIT: Duration = Duration::from_millis(100);

/// Queues audit records for the data file.
#[derive(Debug)]
pub struct AuditTrail {
    sender: Mutex<Option<Sender<AuditRecord>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
}

fn write_batches(store: &Arc<dyn KeyStore>, queue: &Receiver<AuditRecord>) {
    let mut open = true;
    while open {
        let mut batch = match queue.recv() {
            Ok(first) => vec![first],
            Err(_) => return,
        };
        while batch.len() < MAX_BATCH {
            match queue.recv_timeout(MAX_WAIT) {
                Ok(record) => batch.push(record),
                Err(RecvTimeoutError::Timeout) => break,
                Err(RecvTimeoutError::Disconnected) => {
                    open = false;
                    break;
                }
            }
        }
        if let Err(err) = store.append_audit(&batch) {
            tracing::error!(error = %err, records = batch.len(), "could not write audit records");
        }
    }
}

impl AuditTrail {
    /// A trail writing to `store`.
    pub fn new(store: Arc<dyn KeyStore>) -> Self {
        let (sender, queue) = std::sync::mpsc::channel();
        let writer = std::thread::Builder::new()
            .name("keysmith-audit".into())
            .spawn(move || write_batches(&store, &queue))
            .ok();
        Self {
            sender: Mutex::new(Some(sender)),
            writer: Mutex::new(writer),
        }
    }

    /// Records an event: logged now, written with the next batch.
    pub fn record(&self, record: AuditRecord) {
        tracing::info!(
            target: "keysmith::audit",
            actor = %record.actor,
            action = %record.action,
            target_id = %record.target,
            result = %record.result,
            request_id = record.request_id.as_deref().unwrap_or(""),
            "audit"
        );
        let sender = match self.sender.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Some(sender) = sender.as_ref()
            && sender.send(record).is_err()
        {
            tracing::error!("the audit writer has stopped; a record was not written");
        }
    }

    /// Writes everything queued and stops the writer (and its store reference).
    pub fn close(&self) {
        if let Ok(mut sender) = self.sender.lock() {
            sender.take();
        }
        let writer = self.writer.lock().ok().and_then(|mut w| w.take());
        if let Some(writer) = writer {
            let _ = writer.join();
        }
    }
}
