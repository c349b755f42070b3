//! RSA key pairs made ahead of need, per modulus size, refilled on one background thread.
//!
//! Invariants: a pooled pair is handed out at most once (it is removed under the lock before
//! it is returned) and is certified for the request that took it, with that request's name,
//! issuer and dates. A pair's PKCS#8 is `SecretBytes`, zeroized when dropped, pooled or not.
//! A request that finds its size empty makes its own pair, exactly as without a pool. The pool
//! is never stored: it holds no secret that outlives the process or that master-key rotation
//! must cover.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use keysmith_crypto::{GeneratedKey, KeyBackend};
use keysmith_model::Algorithm;

/// The RSA modulus sizes a key can have, in the pool's order of preference when two are
/// equally short of their target (the cheapest to make first).
const RSA_SIZES: [u32; 3] = [2048, 3072, 4096];

/// How many pairs to keep ready per size (0 = none of that size) and how fast to make them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RsaPoolConfig {
    /// Pairs kept ready for RSA-2048, RSA-3072 and RSA-4096 keys, in [`RSA_SIZES`]' order.
    pub ready: [usize; 3],
    /// The most pairs the refill thread makes a second (0 = one after the other, unpaced).
    pub refill_per_second: u32,
}

impl RsaPoolConfig {
    fn is_off(&self) -> bool {
        self.ready.iter().all(|&n| n == 0)
    }
}

/// One size's figures, for `/metrics`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RsaPoolStats {
    /// The modulus size in bits.
    pub bits: u32,
    /// Pairs kept ready when full.
    pub target: u64,
    /// Pairs ready now.
    pub ready: u64,
    /// Keys made from a ready pair since start.
    pub taken: u64,
    /// Keys of this size that found none ready and made their own since start.
    pub missed: u64,
}

/// The pool: the ready pairs, and the thread that refills them while the pool lives.
pub(crate) struct RsaPool {
    shared: Arc<Shared>,
}

struct Shared {
    backend: Arc<dyn KeyBackend>,
    config: RsaPoolConfig,
    state: Mutex<State>,
    /// Signalled when a pair is taken (the refill thread has work) and when the pool stops.
    wake: Condvar,
    taken: [AtomicU64; 3],
    missed: [AtomicU64; 3],
}

#[derive(Default)]
struct State {
    ready: [Vec<GeneratedKey>; 3],
    stopped: bool,
}

impl std::fmt::Debug for RsaPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RsaPool")
            .field("config", &self.shared.config)
            .finish_non_exhaustive()
    }
}

fn slot(bits: u32) -> Option<usize> {
    RSA_SIZES.iter().position(|&size| size == bits)
}

impl RsaPool {
    /// Starts the refill thread, or returns `None` when `config` keeps no pair of any size.
    pub(crate) fn start(backend: Arc<dyn KeyBackend>, config: RsaPoolConfig) -> Option<Self> {
        if config.is_off() {
            return None;
        }
        let shared = Arc::new(Shared {
            backend,
            config,
            state: Mutex::default(),
            wake: Condvar::new(),
            taken: Default::default(),
            missed: Default::default(),
        });
        let refill = shared.clone();
        let spawned = std::thread::Builder::new()
            .name("rsa-pool-refill".into())
            .spawn(move || refill.run());
        if let Err(err) = spawned {
            tracing::error!(error = %err, "cannot start the RSA pool's thread: every RSA key is made on request");
            return None;
        }
        Some(Self { shared })
    }

    /// A ready pair of `bits`, if one is; counts the take or the miss and wakes the refill.
    pub(crate) fn take(&self, bits: u32) -> Option<GeneratedKey> {
        let slot = slot(bits)?;
        if self.shared.config.ready[slot] == 0 {
            return None;
        }
        let pair = self.shared.lock().ready[slot].pop();
        let counter = match pair {
            Some(_) => &self.shared.taken[slot],
            None => &self.shared.missed[slot],
        };
        counter.fetch_add(1, Ordering::Relaxed);
        self.shared.wake.notify_one();
        pair
    }

    /// Each pooled size's figures, in [`RSA_SIZES`]' order.
    pub(crate) fn stats(&self) -> Vec<RsaPoolStats> {
        let state = self.shared.lock();
        RSA_SIZES
            .iter()
            .enumerate()
            .filter(|&(slot, _)| self.shared.config.ready[slot] > 0)
            .map(|(slot, &bits)| RsaPoolStats {
                bits,
                target: self.shared.config.ready[slot] as u64,
                ready: state.ready[slot].len() as u64,
                taken: self.shared.taken[slot].load(Ordering::Relaxed),
                missed: self.shared.missed[slot].load(Ordering::Relaxed),
            })
            .collect()
    }
}

impl Drop for RsaPool {
    /// Stops the refill thread (after the pair it is making, if any) and drops the ready pairs,
    /// which zeroizes them.
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        state.stopped = true;
        state.ready = Default::default();
        drop(state);
        self.shared.wake.notify_all();
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The size furthest below its target, relative to it (ties: the smaller size), if any.
    fn most_wanted(&self, state: &State) -> Option<usize> {
        (0..RSA_SIZES.len())
            .filter(|&slot| state.ready[slot].len() < self.config.ready[slot])
            .min_by(|&a, &b| {
                let fill =
                    |slot: usize| state.ready[slot].len() as f64 / self.config.ready[slot] as f64;
                fill(a).total_cmp(&fill(b))
            })
    }

    fn run(&self) {
        let pace = match self.config.refill_per_second {
            0 => Duration::ZERO,
            n => Duration::from_secs(1) / n,
        };
        loop {
            let slot = {
                let mut state = self.lock();
                loop {
                    if state.stopped {
                        return;
                    }
                    if let Some(slot) = self.most_wanted(&state) {
                        break slot;
                    }
                    state = self
                        .wake
                        .wait(state)
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                }
            };
            let started = Instant::now();
            // Any RSA algorithm makes the same pair; the certificate's hash is chosen at take.
            match self
                .backend
                .generate(Algorithm::RS256, Some(RSA_SIZES[slot]))
            {
                Ok(pair) => {
                    let mut state = self.lock();
                    if !state.stopped {
                        state.ready[slot].push(pair);
                    }
                }
                Err(err) => {
                    tracing::error!(error = %err, bits = RSA_SIZES[slot], "the RSA pool could not make a pair; trying again in a second");
                    std::thread::sleep(Duration::from_secs(1));
                }
            }
            if let Some(rest) = pace.checked_sub(started.elapsed()) {
                std::thread::sleep(rest);
            }
        }
    }
}
