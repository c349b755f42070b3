//! Group commit: one writer thread applies the changes queued by any number of callers in one
//! durable write transaction, then answers each of them.
//!
//! Invariants:
//! - A caller is answered `Ok` only after the transaction holding its change has committed
//!   (`Durability::Immediate`, two-phase commit). If the commit fails, every change in it is
//!   answered with that error and none is kept.
//! - Changes are applied in the order they were queued. A change that fails (its own error,
//!   such as a duplicate name, or a panic) is answered with that error, the transaction is
//!   abandoned, and the changes queued with it are applied again, in the same order, in a new
//!   one. So each answer is what that change would have got had the changes run one by one in
//!   queue order, and a refused change leaves nothing behind. This is why a change must be
//!   re-runnable (`FnMut`) and own what it reads (`'static`).
//! - A batch holds at most [`MAX_BATCH`] changes, which bounds the work a batch with refusals
//!   may repeat (each refusal re-runs the changes queued before it).
//!
//! Writes that cannot be re-run (a ring change decides from a one-shot closure) or that are
//! large on their own (pruning, re-wrapping) commit alone through `RedbStore::write`; redb lets
//! one write transaction open at a time, so they simply come between batches.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, Sender, TryRecvError};
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;

use redb::{Database, Durability, WriteTransaction};

use crate::StoreError;
use crate::health::WriteHealth;

/// The most changes one transaction carries.
pub(crate) const MAX_BATCH: usize = 256;

/// How many transactions the writer committed and how many changes they carried.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CommitStats {
    /// Durable write transactions committed by the group-commit writer.
    pub commits: u64,
    /// Changes acknowledged by those commits (`changes / commits` is the mean batch size).
    pub changes: u64,
    /// Changes queued or being applied now, not yet answered.
    pub waiting: u64,
}

#[derive(Debug, Default)]
pub(super) struct Counters {
    commits: AtomicU64,
    changes: AtomicU64,
    waiting: AtomicU64,
    /// Every commit of this store's file, grouped or alone, runs through it.
    pub(super) generation: super::totals::CommitGeneration,
}

impl Counters {
    pub(super) fn get(&self) -> CommitStats {
        CommitStats {
            commits: self.commits.load(Ordering::Relaxed),
            changes: self.changes.load(Ordering::Relaxed),
            waiting: self.waiting.load(Ordering::Relaxed),
        }
    }
}

/// A queued change with its caller's answer channel, its type erased.
trait Queued: Send {
    /// Applies the change in `txn`, keeping its output until the commit.
    fn apply(&mut self, txn: &WriteTransaction) -> Result<(), StoreError>;
    /// Answers the caller: its kept output if `result` is `Ok`, else the error.
    fn answer(self: Box<Self>, result: Result<(), StoreError>);
}

/// Where a change's answer goes: a waiting caller's channel, or a callback that runs on the
/// writer thread (so it must only hand the answer on).
pub(crate) type Reply<T> = Box<dyn FnOnce(Result<T, StoreError>) + Send>;

struct Pending<T, F> {
    change: F,
    output: Option<T>,
    reply: Reply<T>,
}

impl<T, F> Queued for Pending<T, F>
where
    T: Send,
    F: FnMut(&WriteTransaction) -> Result<T, StoreError> + Send,
{
    fn apply(&mut self, txn: &WriteTransaction) -> Result<(), StoreError> {
        self.output = Some((self.change)(txn)?);
        Ok(())
    }

    fn answer(self: Box<Self>, result: Result<(), StoreError>) {
        let Pending { output, reply, .. } = *self;
        let answer = result.and_then(|()| {
            output.ok_or_else(|| StoreError::Corrupt("a committed change kept no output".into()))
        });
        reply(answer);
    }
}

/// The handle to the writer thread. Dropping it lets the thread finish the queued changes and
/// waits for it, so the database is closed when the store is dropped.
pub(super) struct Writer {
    queue: Option<Sender<Box<dyn Queued>>>,
    thread: Option<JoinHandle<()>>,
    counters: Arc<Counters>,
}

impl Writer {
    pub(super) fn start(
        db: Arc<Database>,
        health: Arc<WriteHealth>,
        counters: Arc<Counters>,
    ) -> Result<Self, StoreError> {
        let (queue, queued) = mpsc::channel();
        let shared = counters.clone();
        let thread = std::thread::Builder::new()
            .name("keysmith-store-writer".into())
            .spawn(move || run(&db, &health, &shared, &queued))
            .map_err(|e| StoreError::Engine(Box::new(e)))?;
        Ok(Self {
            queue: Some(queue),
            thread: Some(thread),
            counters,
        })
    }

    /// Queues `change` and waits until the transaction that carries it has committed (or
    /// failed). `change` may run more than once (see the module docs); only the output of the
    /// run that committed is returned.
    pub(super) fn submit<T, F>(&self, change: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnMut(&WriteTransaction) -> Result<T, StoreError> + Send + 'static,
    {
        let (reply, answer) = mpsc::sync_channel(1);
        self.submit_then(
            change,
            Box::new(move |answered| {
                // The caller may be gone (its thread unwound); nothing waits for the answer then.
                let _ = reply.send(answered);
            }),
        );
        answer.recv().map_err(|_| stopped())?
    }

    /// Queues `change` and returns at once; `reply` gets the answer [`Self::submit`] would
    /// return, on the writer thread, once the transaction that carries the change has
    /// committed (or failed). A caller that waits asynchronously holds no thread meanwhile.
    pub(super) fn submit_then<T, F>(&self, change: F, reply: Reply<T>)
    where
        T: Send + 'static,
        F: FnMut(&WriteTransaction) -> Result<T, StoreError> + Send + 'static,
    {
        let counters = self.counters.clone();
        counters.waiting.fetch_add(1, Ordering::Relaxed);
        let pending = Box::new(Pending {
            change,
            output: None,
            reply: Box::new(move |answered| {
                counters.waiting.fetch_sub(1, Ordering::Relaxed);
                reply(answered);
            }),
        });
        let Some(queue) = self.queue.as_ref() else {
            return pending.answer(Err(stopped()));
        };
        if let Err(mpsc::SendError(pending)) = queue.send(pending) {
            pending.answer(Err(stopped()));
        }
    }

    /// Lets the thread finish what is queued, and waits for it.
    pub(super) fn stop(&mut self) {
        self.queue = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The writer thread: takes whatever is queued (at least one change, at most [`MAX_BATCH`])
/// and commits it as one transaction, until every sender is gone.
fn run(
    db: &Database,
    health: &WriteHealth,
    counters: &Counters,
    queued: &Receiver<Box<dyn Queued>>,
) {
    while let Ok(first) = queued.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match queued.try_recv() {
                Ok(next) => batch.push(next),
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
            }
        }
        commit_batch(db, health, counters, batch);
    }
}

fn commit_batch(
    db: &Database,
    health: &WriteHealth,
    counters: &Counters,
    mut batch: Vec<Box<dyn Queued>>,
) {
    while !batch.is_empty() {
        let txn = match begin(db) {
            Ok(txn) => txn,
            Err(err) => return fail_all(health, batch, err),
        };
        let refused = batch.iter_mut().enumerate().find_map(|(i, change)| {
            match catch_unwind(AssertUnwindSafe(|| change.apply(&txn))) {
                Ok(Ok(())) => None,
                Ok(Err(err)) => Some((i, err)),
                Err(_) => Some((i, StoreError::Corrupt("a storage change panicked".into()))),
            }
        });
        if let Some((i, err)) = refused {
            // Abandon everything this transaction wrote; the others run again without it.
            drop(txn);
            let refusal = Err(err);
            health.record::<()>(&refusal);
            batch.remove(i).answer(refusal);
            continue;
        }
        let committed = counters
            .generation
            .commit(|| txn.commit())
            .map_err(StoreError::from);
        health.record(&committed);
        match committed {
            Ok(()) => {
                counters.commits.fetch_add(1, Ordering::Relaxed);
                counters
                    .changes
                    .fetch_add(batch.len() as u64, Ordering::Relaxed);
                for change in batch {
                    change.answer(Ok(()));
                }
            }
            Err(err) => fail_all(health, batch, err),
        }
        return;
    }
}

fn stopped() -> StoreError {
    StoreError::Engine("the store's writer has stopped".into())
}

fn begin(db: &Database) -> Result<WriteTransaction, StoreError> {
    let mut txn = db.begin_write()?;
    txn.set_durability(Durability::Immediate)?;
    txn.set_two_phase_commit(true);
    Ok(txn)
}

/// Answers every change with `err`, a failure to begin or commit the transaction (so nothing
/// in it was kept). Each caller gets the engine's chain of reasons (the error is not `Clone`).
fn fail_all(health: &WriteHealth, batch: Vec<Box<dyn Queued>>, err: StoreError) {
    let failed = Err(err);
    health.record::<()>(&failed);
    let reason = failed
        .err()
        .map(|err| crate::error::error_chain(&err))
        .unwrap_or_default();
    for change in batch {
        change.answer(Err(StoreError::Engine(Box::new(Shared(reason.clone())))));
    }
}

/// An engine failure's reasons, given to each caller of a failed transaction.
#[derive(Debug)]
struct Shared(String);

impl std::fmt::Display for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Shared {}
