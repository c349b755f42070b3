//! Storage backends for tests (feature `testing`): a disk that loses power at a chosen sync,
//! and a wrapper that fails chosen I/O calls or runs out of space. Open a store over them with
//! [`crate::RedbStore::open_with_backend`]. [`postgres`] starts a real PostgreSQL server.
//!
//! The power-loss model: a write reaches the disk only when a later `sync_data` completes.
//! When the power goes, the writes since the last completed sync are lost, or (a torn loss)
//! any subset of them survives, each write whole or cut at a 512-byte sector boundary, in any
//! order. Sectors themselves are atomic, as disks promise.

use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use redb::StorageBackend;

pub mod postgres;

/// The size of a sector: the unit a torn write keeps or loses.
pub const SECTOR: usize = 512;

/// An in-memory disk that can lose power. Clones share the disk.
#[derive(Clone, Debug, Default)]
pub struct SimulatedDisk {
    state: Arc<Mutex<DiskState>>,
}

#[derive(Debug, Default)]
struct DiskState {
    /// What reads see: every write so far.
    live: Vec<u8>,
    /// What the last completed sync made durable.
    durable: Vec<u8>,
    /// The writes and length changes since the last completed sync, in order.
    pending: Vec<Pending>,
    /// Syncs asked for so far (the one that loses the power included).
    syncs: u64,
    /// The sync during which the power goes (it never completes).
    cut_at: Option<u64>,
    powered_off: bool,
}

#[derive(Debug)]
enum Pending {
    Write { offset: usize, data: Vec<u8> },
    SetLen(usize),
}

/// What survives a power loss besides the durable bytes.
#[derive(Clone, Copy, Debug)]
pub enum Loss {
    /// Every write since the last completed sync is lost.
    Clean,
    /// A random part of them survives (seeded): each write lost, kept whole, or cut at a
    /// sector boundary; each length change kept or lost.
    Torn(u64),
}

fn power_off() -> io::Error {
    io::Error::other("simulated power loss: the disk is gone")
}

fn write_at(image: &mut Vec<u8>, offset: usize, data: &[u8]) {
    if image.len() < offset + data.len() {
        image.resize(offset + data.len(), 0);
    }
    image[offset..offset + data.len()].copy_from_slice(data);
}

impl SimulatedDisk {
    /// An empty disk, powered.
    pub fn new() -> Self {
        Self::default()
    }

    fn state(&self) -> MutexGuard<'_, DiskState> {
        // A test that panicked while holding the lock has already failed.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Makes the `sync`-th sync (counted from the disk's creation, from 1) lose the power: it
    /// fails, and so does every later call.
    pub fn cut_power_at_sync(&self, sync: u64) {
        self.state().cut_at = Some(sync);
    }

    /// How many syncs have been asked for.
    pub fn syncs(&self) -> u64 {
        self.state().syncs
    }

    /// The file's length as reads see it (even after the power has gone).
    pub fn file_len(&self) -> u64 {
        self.state().live.len() as u64
    }

    /// Whether the power has gone.
    pub fn powered_off(&self) -> bool {
        self.state().powered_off
    }

    /// A new, powered disk holding what this one kept after losing the power (or, if it never
    /// lost it, after losing it now).
    pub fn after_power_loss(&self, loss: Loss) -> SimulatedDisk {
        let state = self.state();
        let mut image = state.durable.clone();
        if let Loss::Torn(seed) = loss {
            let mut random = SplitMix(seed);
            for pending in &state.pending {
                match pending {
                    Pending::SetLen(len) => {
                        if random.below(2) == 0 {
                            image.resize(*len, 0);
                        }
                    }
                    Pending::Write { offset, data } => {
                        // The sectors the write touches, split at absolute sector boundaries.
                        let mut cuts = vec![0];
                        let mut at = (offset / SECTOR + 1) * SECTOR;
                        while at < offset + data.len() {
                            cuts.push(at - offset);
                            at += SECTOR;
                        }
                        cuts.push(data.len());
                        let sectors = cuts.len() - 1;
                        match random.below(3) {
                            0 => {}
                            1 => write_at(&mut image, *offset, data),
                            _ => {
                                // Any subset of its sectors, not only a prefix: the drive may
                                // reorder them.
                                for s in 0..sectors {
                                    if random.below(2) == 0 {
                                        let part = &data[cuts[s]..cuts[s + 1]];
                                        write_at(&mut image, offset + cuts[s], part);
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        SimulatedDisk::holding(image)
    }

    /// A new, powered disk whose durable bytes are `image`.
    fn holding(image: Vec<u8>) -> SimulatedDisk {
        SimulatedDisk {
            state: Arc::new(Mutex::new(DiskState {
                live: image.clone(),
                durable: image,
                ..DiskState::default()
            })),
        }
    }
}

impl SimulatedDisk {
    /// A new, powered disk holding everything written so far: what a restarted process sees
    /// when the machine kept its power (the page cache survives).
    pub fn restarted(&self) -> SimulatedDisk {
        SimulatedDisk::holding(self.state().live.clone())
    }
}

impl StorageBackend for SimulatedDisk {
    fn len(&self) -> Result<u64, io::Error> {
        let state = self.state();
        if state.powered_off {
            return Err(power_off());
        }
        Ok(state.live.len() as u64)
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), io::Error> {
        let state = self.state();
        if state.powered_off {
            return Err(power_off());
        }
        let start = usize::try_from(offset).map_err(io::Error::other)?;
        let Some(bytes) = state.live.get(start..start + out.len()) else {
            return Err(io::Error::from(io::ErrorKind::UnexpectedEof));
        };
        out.copy_from_slice(bytes);
        Ok(())
    }

    fn set_len(&self, len: u64) -> Result<(), io::Error> {
        let mut state = self.state();
        if state.powered_off {
            return Err(power_off());
        }
        let len = usize::try_from(len).map_err(io::Error::other)?;
        state.live.resize(len, 0);
        state.pending.push(Pending::SetLen(len));
        Ok(())
    }

    fn sync_data(&self) -> Result<(), io::Error> {
        let mut state = self.state();
        if state.powered_off {
            return Err(power_off());
        }
        state.syncs += 1;
        if state.cut_at == Some(state.syncs) {
            state.powered_off = true;
            return Err(power_off());
        }
        state.durable = state.live.clone();
        state.pending.clear();
        Ok(())
    }

    fn write(&self, offset: u64, data: &[u8]) -> Result<(), io::Error> {
        let mut state = self.state();
        if state.powered_off {
            return Err(power_off());
        }
        let offset = usize::try_from(offset).map_err(io::Error::other)?;
        write_at(&mut state.live, offset, data);
        state.pending.push(Pending::Write {
            offset,
            data: data.to_vec(),
        });
        Ok(())
    }
}

/// A small seeded generator (SplitMix64), so a failing sweep can be replayed from its seed.
#[derive(Clone, Debug)]
pub struct SplitMix(pub u64);

impl SplitMix {
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

/// An I/O call a [`FaultyBackend`] can fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IoCall {
    /// `write`.
    Write,
    /// `set_len`.
    SetLen,
    /// `sync_data`.
    Sync,
}

impl IoCall {
    /// Every call that can be failed.
    pub const ALL: [IoCall; 3] = [IoCall::Write, IoCall::SetLen, IoCall::Sync];

    fn index(self) -> usize {
        match self {
            IoCall::Write => 0,
            IoCall::SetLen => 1,
            IoCall::Sync => 2,
        }
    }
}

/// Which faults a [`FaultyBackend`] injects. Shared, so a test can arm it after the store is
/// open and read the counts afterwards.
#[derive(Debug, Default)]
pub struct FaultPlan {
    /// Calls of each kind so far (`IoCall::index` order).
    calls: [AtomicU64; 3],
    /// Fail the n-th call (from 1) of this kind, counted from when it was armed.
    armed: Mutex<Option<(IoCall, u64)>>,
    /// Writes and length changes that would make the file longer than this fail with
    /// "no space left on device".
    capacity: Mutex<Option<u64>>,
    /// A fault to arm once the store is open ([`crate::RedbStore::open_with_faults`]).
    deferred: Mutex<Option<Deferred>>,
    fired: AtomicBool,
}

#[derive(Clone, Copy, Debug)]
#[cfg_attr(not(feature = "failpoints"), allow(dead_code))]
enum Deferred {
    Fail(IoCall, u64),
    Fill(u64),
}

impl FaultPlan {
    /// A plan that injects nothing until armed.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Fails the `nth` call of `call` from now on (1 = the next one), once.
    pub fn fail(&self, call: IoCall, nth: u64) {
        let base = self.calls(call);
        if let Ok(mut armed) = self.armed.lock() {
            *armed = Some((call, base + nth));
        }
    }

    /// Fails the `nth` call of `call` after the store has been opened, once.
    pub fn fail_after_open(&self, call: IoCall, nth: u64) {
        if let Ok(mut deferred) = self.deferred.lock() {
            *deferred = Some(Deferred::Fail(call, nth));
        }
    }

    /// Lets the file grow by `bytes` after the store has been opened, then fills the disk.
    pub fn fill_after_open(&self, bytes: u64) {
        if let Ok(mut deferred) = self.deferred.lock() {
            *deferred = Some(Deferred::Fill(bytes));
        }
    }

    /// Arms what was deferred to the end of the open; `len` is the file's length then.
    #[cfg_attr(not(feature = "failpoints"), allow(dead_code))]
    pub(crate) fn opened(&self, len: u64) {
        let deferred = self.deferred.lock().ok().and_then(|mut d| d.take());
        match deferred {
            Some(Deferred::Fail(call, nth)) => self.fail(call, nth),
            Some(Deferred::Fill(bytes)) => self.set_capacity(len + bytes),
            None => {}
        }
    }

    /// Limits the file to `bytes` (a full disk past it).
    pub fn set_capacity(&self, bytes: u64) {
        if let Ok(mut capacity) = self.capacity.lock() {
            *capacity = Some(bytes);
        }
    }

    /// How many calls of `call` have been made.
    pub fn calls(&self, call: IoCall) -> u64 {
        self.calls[call.index()].load(Ordering::SeqCst)
    }

    /// Whether an armed fault or the capacity has failed a call.
    pub fn fired(&self) -> bool {
        self.fired.load(Ordering::SeqCst)
    }

    /// Counts a call and says whether it must fail.
    fn enter(&self, call: IoCall, new_len: Option<u64>) -> Result<(), io::Error> {
        let n = self.calls[call.index()].fetch_add(1, Ordering::SeqCst) + 1;
        let armed = self.armed.lock().map(|armed| *armed).unwrap_or(None);
        if armed == Some((call, n)) {
            self.fired.store(true, Ordering::SeqCst);
            return Err(io::Error::other(format!(
                "injected I/O fault: {call:?} #{n}"
            )));
        }
        let capacity = self.capacity.lock().map(|c| *c).unwrap_or(None);
        if let (Some(capacity), Some(len)) = (capacity, new_len)
            && len > capacity
        {
            self.fired.store(true, Ordering::SeqCst);
            return Err(io::Error::new(
                io::ErrorKind::StorageFull,
                "no space left on device (simulated)",
            ));
        }
        Ok(())
    }
}

/// Wraps a backend and fails the calls its [`FaultPlan`] says.
#[derive(Debug)]
pub struct FaultyBackend<B> {
    inner: B,
    plan: Arc<FaultPlan>,
}

impl<B: StorageBackend> FaultyBackend<B> {
    /// `inner`, failing as `plan` says.
    pub fn new(inner: B, plan: Arc<FaultPlan>) -> Self {
        Self { inner, plan }
    }
}

impl<B: StorageBackend> StorageBackend for FaultyBackend<B> {
    fn len(&self) -> Result<u64, io::Error> {
        self.inner.len()
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), io::Error> {
        self.inner.read(offset, out)
    }

    fn set_len(&self, len: u64) -> Result<(), io::Error> {
        let grows = len > self.inner.len()?;
        self.plan.enter(IoCall::SetLen, grows.then_some(len))?;
        self.inner.set_len(len)
    }

    fn sync_data(&self) -> Result<(), io::Error> {
        self.plan.enter(IoCall::Sync, None)?;
        self.inner.sync_data()
    }

    fn write(&self, offset: u64, data: &[u8]) -> Result<(), io::Error> {
        let end = offset + data.len() as u64;
        let grows = end > self.inner.len()?;
        self.plan.enter(IoCall::Write, grows.then_some(end))?;
        self.inner.write(offset, data)
    }

    fn close(&self) -> Result<(), io::Error> {
        self.inner.close()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn a_power_loss_keeps_what_was_synced_and_tears_the_rest_by_sectors() {
        let disk = SimulatedDisk::new();
        disk.write(0, &[1; 2 * SECTOR]).unwrap();
        disk.sync_data().unwrap();
        disk.write(0, &[2; 2 * SECTOR]).unwrap();
        disk.cut_power_at_sync(2);
        assert!(disk.sync_data().is_err());
        assert!(
            disk.read(0, &mut [0; 1]).is_err(),
            "a dead disk still reads"
        );
        let mut image = vec![0; 2 * SECTOR];
        disk.after_power_loss(Loss::Clean)
            .read(0, &mut image)
            .unwrap();
        assert_eq!(image, vec![1; 2 * SECTOR]);
        // Torn: every sector is old or new, never mixed within a sector; across seeds both
        // "old" and "new" and mixed outcomes appear.
        let mut outcomes = std::collections::BTreeSet::new();
        for seed in 0..64 {
            disk.after_power_loss(Loss::Torn(seed))
                .read(0, &mut image)
                .unwrap();
            for sector in image.chunks(SECTOR) {
                assert!(sector.iter().all(|&b| b == sector[0]), "a torn sector");
            }
            outcomes.insert((image[0], image[SECTOR]));
        }
        assert_eq!(outcomes.len(), 4, "{outcomes:?}");
    }

    #[test]
    fn a_faulty_backend_fails_the_armed_call_once_and_fills_at_capacity() {
        let plan = FaultPlan::new();
        let disk = FaultyBackend::new(SimulatedDisk::new(), plan.clone());
        plan.fail(IoCall::Write, 2);
        disk.write(0, &[1; 8]).unwrap();
        assert!(disk.write(0, &[1; 8]).is_err());
        disk.write(0, &[1; 8]).unwrap();
        plan.set_capacity(16);
        disk.write(8, &[1; 8]).unwrap();
        let full = disk.write(16, &[1; 1]).unwrap_err();
        assert_eq!(full.kind(), io::ErrorKind::StorageFull);
        assert!(plan.fired());
    }
}
