//! The change feed between nodes: every change other nodes' caches must follow adds a row to
//! `changes` and a `NOTIFY keysmith_changes` in its own transaction (so both happen exactly
//! when it commits), and each node watches the feed on a thread with a connection of its own.
//!
//! Invariants of the watcher:
//! - After any change committed by another node, `changed` is called within one poll interval,
//!   sooner with notifications: a notification wakes it at once, and the greatest `seq` is
//!   polled whenever no notification came for a poll interval (a notification lost with a
//!   connection, or `listen: false`, as behind a pooler in transaction mode).
//! - After its connection is lost and made again, `changed` is called once whatever the feed
//!   says: what happened while it was gone is not known.
//! - It never runs on an async runtime's thread, and stops within a poll interval of the
//!   store being dropped.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use postgres::Transaction;
use postgres::fallible_iterator::FallibleIterator;
use postgres_openssl::MakeTlsConnector;

use crate::StoreError;

/// The channel of the change notifications.
const CHANNEL: &str = "keysmith_changes";

/// Rows of `changes` kept: only the greatest `seq` is ever read.
const KEPT_ROWS: i64 = 1_000;

/// Records, in `txn`, that it changes what nodes cache.
pub(super) fn note_change_in(txn: &mut Transaction<'_>) -> Result<(), StoreError> {
    let seq: i64 = txn
        .query_one("INSERT INTO changes DEFAULT VALUES RETURNING seq", &[])?
        .get(0);
    txn.execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &seq.to_string()])?;
    if seq % KEPT_ROWS == 0 {
        txn.execute("DELETE FROM changes WHERE seq <= $1", &[&(seq - KEPT_ROWS)])?;
    }
    Ok(())
}

/// What the watcher needs to connect on its own.
pub(super) struct Watch {
    pub(super) config: postgres::Config,
    pub(super) tls: MakeTlsConnector,
    pub(super) target: String,
    pub(super) listen: bool,
    pub(super) poll: Duration,
    pub(super) stop: Arc<AtomicBool>,
}

impl Watch {
    /// Starts the watcher thread, which calls `changed` as the module docs say.
    pub(super) fn start(self, changed: Arc<dyn Fn() + Send + Sync>) -> Result<(), StoreError> {
        std::thread::Builder::new()
            .name("keysmith-store-watch".into())
            .spawn(move || self.run(&*changed))
            .map(drop)
            .map_err(|e| StoreError::Engine(Box::new(e)))
    }

    fn run(&self, changed: &dyn Fn()) {
        let mut last_seen: Option<i64> = None;
        let mut reconnecting = false;
        while !self.stopped() {
            match self.watch(&mut last_seen, reconnecting, changed) {
                Ok(()) => return,
                Err(err) => {
                    tracing::warn!(
                        store = %self.target,
                        error = %crate::error::error_chain(&err),
                        "the change feed's connection failed; reconnecting"
                    );
                    reconnecting = true;
                    std::thread::sleep(self.poll.min(Duration::from_millis(500)));
                }
            }
        }
    }

    /// Watches on one connection until the store is dropped (`Ok`) or the connection fails.
    fn watch(
        &self,
        last_seen: &mut Option<i64>,
        reconnected: bool,
        changed: &dyn Fn(),
    ) -> Result<(), StoreError> {
        let mut client = self.config.connect(self.tls.clone())?;
        if self.listen {
            client.batch_execute(&format!("LISTEN {CHANNEL}"))?;
        }
        let now = greatest_seq(&mut client)?;
        if reconnected || last_seen.is_some_and(|seen| seen != now) {
            changed();
        }
        *last_seen = Some(now);
        while !self.stopped() {
            if self.listen {
                // Wake at the first notification or after a poll interval, then take what else
                // is queued without waiting: one look at the feed follows them all.
                let mut timeout = self.poll;
                while client
                    .notifications()
                    .timeout_iter(timeout)
                    .next()?
                    .is_some()
                {
                    timeout = Duration::ZERO;
                }
            } else {
                std::thread::sleep(self.poll);
            }
            // Any change since the last look, this node's own included (its caches followed
            // already; following again costs a rebuild, never a stale answer).
            let now = greatest_seq(&mut client)?;
            if *last_seen != Some(now) {
                changed();
            }
            *last_seen = Some(now);
        }
        Ok(())
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }
}

/// The greatest `seq` of the change feed (0 before the first change).
fn greatest_seq(client: &mut postgres::Client) -> Result<i64, StoreError> {
    Ok(client
        .query_one("SELECT coalesce(max(seq), 0) FROM changes", &[])?
        .get(0))
}
