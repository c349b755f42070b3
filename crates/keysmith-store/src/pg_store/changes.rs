//! The change feed between nodes: every change other nodes' caches must follow adds a row to
//! `changes` and a `NOTIFY keysmith_changes` in its own transaction (so both happen exactly
//! when it commits), and each node watches the feed on a thread with a connection of its own.
//!
//! Invariants of the watcher:
//! - With notifications (`listen`), `changed` is called as soon as another node's change is
//!   notified; this node's own changes (their payload names this node) are not followed again,
//!   so what it just loaded stays loaded. A notification is lost only with the connection, which
//!   the poll of the greatest `seq` every poll interval notices; the reconnection then calls
//!   `changed`.
//! - Without (`listen: false`, as behind a pooler in transaction mode), `changed` is called
//!   within one poll interval of any change, this node's own included.
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

/// Records, in `txn`, that it changes what nodes cache; `node` names this node.
pub(super) fn note_change_in(txn: &mut Transaction<'_>, node: &str) -> Result<(), StoreError> {
    let seq: i64 = txn
        .query_one("INSERT INTO changes DEFAULT VALUES RETURNING seq", &[])?
        .get(0);
    txn.execute(
        "SELECT pg_notify($1, $2)",
        &[&CHANNEL, &format!("{node}:{seq}")],
    )?;
    if seq % KEPT_ROWS == 0 {
        txn.execute("DELETE FROM changes WHERE seq <= $1", &[&(seq - KEPT_ROWS)])?;
    }
    Ok(())
}

/// What the watcher needs to connect on its own.
pub(super) struct Watch {
    pub(super) config: postgres::Config,
    pub(super) tls: MakeTlsConnector,
    /// This node's name in the notifications it sends.
    pub(super) node: String,
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
            let mut remote = false;
            if self.listen {
                // Wake at the first notification or after a poll interval, then take what else
                // is queued without waiting: one call follows them all.
                let own = format!("{}:", self.node);
                let mut timeout = self.poll;
                while let Some(notification) =
                    client.notifications().timeout_iter(timeout).next()?
                {
                    remote |= !notification.payload().starts_with(&own);
                    timeout = Duration::ZERO;
                }
            } else {
                std::thread::sleep(self.poll);
            }
            // Also proves the connection is alive (a lost connection is a failed query).
            let now = greatest_seq(&mut client)?;
            if remote || (!self.listen && *last_seen != Some(now)) {
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
