//! RSA key generation that uses an idle core: two of OpenSSL's own key generations race, the
//! first key made is returned and the other search is stopped through OpenSSL's progress
//! callback.
//!
//! Why: an RSA key is a random search for two primes, so its time varies several-fold from key
//! to key. The first of two independent searches finishes in about 0.7 times the median time
//! of one (`docs/benchmarks.md`). Each racer is a complete `RSA_generate_key_ex` (OpenSSL's
//! SP 800-56B generation for two primes and e = 65537), so the key returned is one OpenSSL made,
//! not one assembled here. The race only runs while this process's racing RSA generations leave
//! two cores free (`claim_pair`); otherwise one search runs, as before.
//!
//! This is the crate's only unsafe code: OpenSSL's `BN_GENCB` functions have no safe binding in
//! the `openssl` crate.

#![allow(unsafe_code)]

use std::ffi::{c_int, c_void};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use foreign_types::ForeignType;
use openssl::bn::BigNum;
use openssl::error::ErrorStack;
use openssl::pkey::Private;
use openssl::rsa::Rsa;
use openssl_sys::BN_GENCB;

// In libcrypto since OpenSSL 1.1.0; not declared by openssl-sys.
unsafe extern "C" {
    fn BN_GENCB_new() -> *mut BN_GENCB;
    fn BN_GENCB_free(cb: *mut BN_GENCB);
    fn BN_GENCB_set(
        cb: *mut BN_GENCB,
        callback: Option<unsafe extern "C" fn(c_int, c_int, *mut BN_GENCB) -> c_int>,
        arg: *mut c_void,
    );
    fn BN_GENCB_get_arg(cb: *mut BN_GENCB) -> *mut c_void;
}

/// Generates an RSA key of `bits` with e = 65537, racing a second generation on a spare core.
pub(crate) fn generate(bits: u32) -> Result<Rsa<Private>, ErrorStack> {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let Some(_claim) = claim_pair(&RSA_THREADS, cores) else {
        return Rsa::generate(bits);
    };
    let stop = AtomicBool::new(false);
    // The first racer to make a key and raise `stop` wins; the loser's key, if it finished too,
    // is dropped (and freed by OpenSSL, which clears RSA private values on free).
    let run = || -> Result<Option<Rsa<Private>>, ErrorStack> {
        let key = generate_until(bits, &stop)?;
        Ok(key.filter(|_| !stop.swap(true, Ordering::AcqRel)))
    };
    std::thread::scope(|scope| {
        let helper = std::thread::Builder::new()
            .name("rsa-race".into())
            .spawn_scoped(scope, run);
        let Ok(helper) = helper else {
            // No thread to race with: one search.
            return Rsa::generate(bits);
        };
        let mine = run();
        // A panic cannot cross the FFI call; a helper that did panic counts as a lost race.
        let theirs = helper.join().unwrap_or(Ok(None));
        match (mine, theirs) {
            (Ok(Some(key)), _) | (_, Ok(Some(key))) => Ok(key),
            (Err(error), _) | (_, Err(error)) => Err(error),
            // Unreachable: `stop` is only raised by the racer that returns its key.
            (Ok(None), Ok(None)) => Rsa::generate(bits),
        }
    })
}

/// One `RSA_generate_key_ex`, abandoned (`Ok(None)`) once `stop` is raised.
fn generate_until(bits: u32, stop: &AtomicBool) -> Result<Option<Rsa<Private>>, ErrorStack> {
    let e = BigNum::from_u32(65537)?;
    let bits = c_int::try_from(bits).unwrap_or(c_int::MAX);
    // SAFETY: RSA_new returns an owned RSA or null; `Rsa::from_ptr` takes ownership and frees it.
    let rsa = unsafe { openssl_sys::RSA_new() };
    if rsa.is_null() {
        return Err(ErrorStack::get());
    }
    // SAFETY: `rsa` is a valid, owned, non-null RSA*.
    let rsa = unsafe { Rsa::<Private>::from_ptr(rsa) };
    let callback = Callback::new(stop)?;
    // SAFETY: `rsa`, `e` and the callback are valid for the whole call, which does not keep
    // them; `e` is only read. On success `rsa` holds the key.
    let made =
        unsafe { openssl_sys::RSA_generate_key_ex(rsa.as_ptr(), bits, e.as_ptr(), callback.0) };
    drop(callback);
    if made == 1 {
        return Ok(Some(rsa));
    }
    // Drains this thread's error queue either way.
    let errors = ErrorStack::get();
    if stop.load(Ordering::Acquire) {
        Ok(None)
    } else {
        Err(errors)
    }
}

/// An owned `BN_GENCB` whose argument is the `stop` flag it borrows.
struct Callback(*mut BN_GENCB);

impl Callback {
    fn new(stop: &AtomicBool) -> Result<Self, ErrorStack> {
        // SAFETY: BN_GENCB_new returns an owned callback or null.
        let cb = unsafe { BN_GENCB_new() };
        if cb.is_null() {
            return Err(ErrorStack::get());
        }
        // SAFETY: `cb` is valid; the argument points at `stop`, which outlives this Callback
        // (generate_until drops the Callback before returning).
        unsafe {
            BN_GENCB_set(
                cb,
                Some(keep_going),
                std::ptr::from_ref(stop).cast_mut().cast(),
            );
        }
        Ok(Self(cb))
    }
}

impl Drop for Callback {
    fn drop(&mut self) {
        // SAFETY: `self.0` is the owned, non-null callback from BN_GENCB_new, freed once.
        unsafe { BN_GENCB_free(self.0) }
    }
}

/// OpenSSL's progress callback: 1 to go on, 0 to abandon the generation.
unsafe extern "C" fn keep_going(_stage: c_int, _count: c_int, cb: *mut BN_GENCB) -> c_int {
    // SAFETY: OpenSSL passes the callback set up by `Callback::new`, whose argument is a live
    // `&AtomicBool`; it is only read.
    let stop = unsafe { &*BN_GENCB_get_arg(cb).cast::<AtomicBool>() };
    c_int::from(!stop.load(Ordering::Acquire))
}

/// Threads of this process that are generating RSA keys in a race.
static RSA_THREADS: AtomicUsize = AtomicUsize::new(0);

/// Two threads' share of `cores`, claimed from `threads` only while both are free; released
/// on drop.
struct PairClaim(&'static AtomicUsize);

fn claim_pair(threads: &'static AtomicUsize, cores: usize) -> Option<PairClaim> {
    threads
        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |busy| {
            (busy + 2 <= cores).then_some(busy + 2)
        })
        .ok()
        .map(|_| PairClaim(threads))
}

impl Drop for PairClaim {
    fn drop(&mut self) {
        self.0.fetch_sub(2, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_raced_key_is_a_valid_key_of_the_size_asked() {
        let key = generate(2048).expect("key");
        assert_eq!(key.size(), 256);
        assert_eq!(key.e().to_dec_str().expect("e").to_string(), "65537");
        assert!(key.check_key().expect("check"));
    }

    #[test]
    fn a_raised_stop_abandons_the_generation_without_an_error() {
        let stop = AtomicBool::new(true);
        assert!(generate_until(2048, &stop).expect("no error").is_none());
        // The abandoned generation's errors were drained from this thread's queue.
        assert!(ErrorStack::get().errors().is_empty());
    }

    #[test]
    fn a_pair_is_claimed_only_while_two_cores_are_free() {
        static THREADS: AtomicUsize = AtomicUsize::new(0);
        for cores in [1, 2, 3, 8] {
            let claims: Vec<_> = std::iter::from_fn(|| claim_pair(&THREADS, cores))
                .take(64)
                .collect();
            assert_eq!(claims.len(), cores / 2, "{cores} cores");
            drop(claims);
            assert_eq!(THREADS.load(Ordering::Acquire), 0);
        }
    }
}
