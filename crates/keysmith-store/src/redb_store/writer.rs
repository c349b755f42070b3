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
//! - Key inserts queued next to each other are applied as one run ([`QueuedInsert::apply_run`]:
//!   each table opened once for the run, not once per key), which writes exactly what applying
//!   them one by one would. If a run fails in any way, the transaction is abandoned and the
//!   batch runs again with every change applied alone, so the rules above decide each answer.
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

use super::keys::QueuedInsert;
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
    /// Key inserts committed in runs of two or more applied together (of `changes`).
    pub run_inserts: u64,
}

#[derive(Debug, Default)]
pub(super) struct Counters {
    commits: AtomicU64,
    changes: AtomicU64,
    waiting: AtomicU64,
    run_inserts: AtomicU64,
    /// Every commit of this store's file, grouped or alone, runs through it.
    pub(super) generation: super::totals::CommitGeneration,
}

impl Counters {
    pub(super) fn get(&self) -> CommitStats {
        CommitStats {
            commits: self.commits.load(Ordering::Relaxed),
            changes: self.changes.load(Ordering::Relaxed),
            waiting: self.waiting.load(Ordering::Relaxed),
            run_inserts: self.run_inserts.load(Ordering::Relaxed),
        }
    }
}

/// A queued change with its caller's answer channel, its type erased.
pub(super) trait Queued: Send {
    /// Applies the change in `txn`, keeping its output until the commit.
    fn apply(&mut self, txn: &WriteTransaction) -> Result<(), StoreError>;
    /// Answers the caller: its kept output if `result` is `Ok`, else the error.
    fn answer(self: Box<Self>, result: Result<(), StoreError>);
    /// This change as a key insert, which may be applied in a run with its neighbours.
    fn as_key_insert(&mut self) -> Option<&mut QueuedInsert> {
        None
    }
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
        let reply = self.counted(reply);
        self.enqueue(Box::new(Pending {
            change,
            output: None,
            reply,
        }));
    }

    /// Counts a change as waiting (`CommitStats::waiting`) until `reply` runs.
    pub(super) fn counted<T: 'static>(&self, reply: Reply<T>) -> Reply<T> {
        let counters = self.counters.clone();
        counters.waiting.fetch_add(1, Ordering::Relaxed);
        Box::new(move |answered| {
            counters.waiting.fetch_sub(1, Ordering::Relaxed);
            reply(answered);
        })
    }

    /// Queues a change whose reply is [`Self::counted`]; answers it at once if the writer has
    /// stopped.
    pub(super) fn enqueue(&self, queued: Box<dyn Queued>) {
        let Some(queue) = self.queue.as_ref() else {
            return queued.answer(Err(stopped()));
        };
        if let Err(mpsc::SendError(queued)) = queue.send(queued) {
            queued.answer(Err(stopped()));
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
    // Whether runs of key inserts are applied together: not after a run failed, so that the
    // changes, applied alone, find the one at fault.
    let mut runs = true;
    while !batch.is_empty() {
        let txn = match begin(db) {
            Ok(txn) => txn,
            Err(err) => return fail_all(health, batch, err),
        };
        let run_inserts = match apply_all(&txn, &mut batch, runs) {
            Applied::All { run_inserts } => run_inserts,
            Applied::Refused(i, err) => {
                // Abandon everything this transaction wrote; the others run again without it.
                drop(txn);
                let refusal = Err(err);
                health.record::<()>(&refusal);
                batch.remove(i).answer(refusal);
                continue;
            }
            Applied::RunFailed => {
                drop(txn);
                runs = false;
                continue;
            }
        };
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
                counters
                    .run_inserts
                    .fetch_add(run_inserts, Ordering::Relaxed);
                for change in batch {
                    change.answer(Ok(()));
                }
            }
            Err(err) => fail_all(health, batch, err),
        }
        return;
    }
}

/// How applying a batch in one transaction went.
enum Applied {
    /// Every change, this many of them key inserts in runs.
    All { run_inserts: u64 },
    /// The change at this index failed alone (its own error, or a panic).
    Refused(usize, StoreError),
    /// A run of key inserts failed; which of them is at fault is not known.
    RunFailed,
}

/// Applies the batch in queue order in `txn`; with `runs`, each run of key inserts next to
/// each other as one ([`QueuedInsert::apply_run`]). Stops at the first failure.
fn apply_all(txn: &WriteTransaction, batch: &mut [Box<dyn Queued>], runs: bool) -> Applied {
    let mut i = 0;
    let mut run_inserts = 0;
    while i < batch.len() {
        let mut run = 0;
        while runs && i + run < batch.len() && batch[i + run].as_key_insert().is_some() {
            run += 1;
        }
        if run > 1 {
            let mut inserts: Vec<&mut QueuedInsert> = batch[i..i + run]
                .iter_mut()
                .filter_map(|change| change.as_key_insert())
                .collect();
            match catch_unwind(AssertUnwindSafe(|| {
                QueuedInsert::apply_run(txn, &mut inserts)
            })) {
                Ok(Ok(())) => {}
                Ok(Err(_)) | Err(_) => return Applied::RunFailed,
            }
            i += run;
            run_inserts += run as u64;
            continue;
        }
        match catch_unwind(AssertUnwindSafe(|| batch[i].apply(txn))) {
            Ok(Ok(())) => {}
            Ok(Err(err)) => return Applied::Refused(i, err),
            Err(_) => {
                return Applied::Refused(
                    i,
                    StoreError::Corrupt("a storage change panicked".into()),
                );
            }
        }
        i += 1;
    }
    Applied::All { run_inserts }
}

pub(super) fn stopped() -> StoreError {
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
