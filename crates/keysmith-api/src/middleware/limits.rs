//! Request limits on key generation, the expensive work an API caller can repeat at will (an
//! RSA-4096 key costs about a second of CPU):
//! - a bounded pool: at most `key_generation_concurrency` generations run at once, server-wide,
//!   and at most `key_generation_queue` more wait for a turn; past that the answer is at once
//!   503 (FusionAuth's routes) or 429 (`/api/v2`) with `Retry-After`. Waiting is bounded, so a
//!   flood never builds an unbounded queue, and reads (which never wait here) stay fast;
//! - a token bucket over `/api/v2`'s provision and rotate requests.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

/// Limits shared by all workers.
#[derive(Debug)]
pub struct Limits {
    key_generation: Option<Mutex<Bucket>>,
    /// Generations admitted (running or waiting).
    admitted: Arc<AtomicUsize>,
    max_admitted: usize,
    running: Arc<Turns>,
}

/// At most `max` holders at once; the others wait.
#[derive(Debug)]
struct Turns {
    max: usize,
    taken: Mutex<usize>,
    freed: Condvar,
}

/// An admitted generation; dropping it frees its place.
#[derive(Debug)]
pub struct GenerationSlot {
    admitted: Arc<AtomicUsize>,
    running: Arc<Turns>,
}

/// A generation's turn to run; dropping it lets the next one run.
#[derive(Debug)]
pub struct Turn(Arc<Turns>);

impl GenerationSlot {
    /// Blocks until fewer than `key_generation_concurrency` generations run, then holds a turn.
    /// Call it on the blocking pool, never on an async worker.
    pub fn wait_turn(&self) -> Turn {
        let turns = &self.running;
        let mut taken = match turns.taken.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        while *taken >= turns.max {
            taken = match turns.freed.wait(taken) {
                Ok(guard) => guard,
                Err(poisoned) => poisoned.into_inner(),
            };
        }
        *taken += 1;
        Turn(turns.clone())
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        let mut taken = match self.0.taken.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        *taken -= 1;
        self.0.freed.notify_one();
    }
}

impl Drop for GenerationSlot {
    fn drop(&mut self) {
        self.admitted.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The rate limit is spent: retry after this many seconds (each dialect answers 429 with
/// `Retry-After`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimited {
    /// Seconds until a token is free.
    pub retry_after_seconds: u64,
}

/// The pool is full: retry after this many seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolFull {
    /// Seconds to wait before retrying.
    pub retry_after_seconds: u64,
}

#[derive(Debug)]
struct Bucket {
    capacity: f64,
    per_second: f64,
    tokens: f64,
    refilled: Instant,
}

impl Limits {
    /// At most `per_minute` key-generating requests per minute, in bursts of up to `burst`;
    /// `per_minute == 0` means no limit.
    ///
    /// At most `concurrency` key generations run at once (at least 1), and `queue` more wait.
    pub fn new(per_minute: u32, burst: u32, concurrency: usize, queue: usize) -> Self {
        let key_generation = (per_minute > 0).then(|| {
            let capacity = f64::from(burst.max(1));
            Mutex::new(Bucket {
                capacity,
                per_second: f64::from(per_minute) / 60.0,
                tokens: capacity,
                refilled: Instant::now(),
            })
        });
        let concurrency = concurrency.max(1);
        Self {
            key_generation,
            admitted: Arc::new(AtomicUsize::new(0)),
            max_admitted: concurrency.saturating_add(queue),
            running: Arc::new(Turns {
                max: concurrency,
                taken: Mutex::new(0),
                freed: Condvar::new(),
            }),
        }
    }

    /// No rate limit, and a generation pool as large as it can be.
    pub fn unlimited() -> Self {
        Self::new(0, 0, usize::MAX, 0)
    }

    /// A place in the generation pool, or how long to wait when it is full.
    pub fn generation_slot(&self) -> Result<GenerationSlot, PoolFull> {
        let taken = self
            .admitted
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.max_admitted).then_some(n + 1)
            });
        match taken {
            Ok(_) => Ok(GenerationSlot {
                admitted: self.admitted.clone(),
                running: self.running.clone(),
            }),
            Err(_) => Err(PoolFull {
                retry_after_seconds: 1,
            }),
        }
    }

    /// Takes one token, or says how many seconds until one is free (a 429 with `Retry-After`).
    pub fn check_key_generation(&self) -> Result<(), RateLimited> {
        let Some(bucket) = &self.key_generation else {
            return Ok(());
        };
        let mut bucket = match bucket.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        let now = Instant::now();
        let elapsed = now.duration_since(bucket.refilled).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * bucket.per_second).min(bucket.capacity);
        bucket.refilled = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            let wait = ((1.0 - bucket.tokens) / bucket.per_second).ceil();
            // Bounded by 60 / per_minute ≤ 60 seconds, so the cast cannot overflow.
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            Err(RateLimited {
                retry_after_seconds: wait as u64,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_is_allowed_then_refused_with_a_wait() {
        let limits = Limits::new(60, 3, 1, 0);
        for _ in 0..3 {
            assert!(limits.check_key_generation().is_ok());
        }
        let refused = limits.check_key_generation().unwrap_err();
        assert_eq!(refused.retry_after_seconds, 1);
        assert!(Limits::unlimited().check_key_generation().is_ok());
    }

    #[test]
    fn the_generation_pool_is_bounded_and_frees_its_places() {
        // One runs, one waits, the third is refused.
        let limits = Limits::new(0, 0, 1, 1);
        let first = limits.generation_slot().unwrap();
        let second = limits.generation_slot().unwrap();
        let turn = first.wait_turn();
        let waiter = std::thread::spawn(move || {
            let _turn = second.wait_turn();
        });
        std::thread::sleep(std::time::Duration::from_millis(50));
        assert!(
            !waiter.is_finished(),
            "the second waits for the first's turn"
        );
        assert_eq!(
            limits.generation_slot().unwrap_err(),
            PoolFull {
                retry_after_seconds: 1
            }
        );
        drop(turn);
        waiter.join().unwrap();
        drop(first);
        assert!(limits.generation_slot().is_ok());
    }
}
