//! The process's C allocator settings, applied once at the start of `main`, before any thread.
//!
//! glibc gives each thread that meets a locked arena a new one, up to eight per core, and an
//! arena keeps the memory freed into it. A server whose blocking pool moves work between many
//! threads then keeps a page cache's worth in each: a 30-minute soak grew from 29 to 175 MB of
//! RSS with a flat live heap (docs/reliability.md). Too few arenas cost the other way: with
//! one per core, the threads of a durable generate load (the HTTP workers, the generation
//! pool, the store's writer) wait on each other's arena lock, and ES256 generate ran at
//! 6,100-6,600 keys/s against 7,900 with two per core and 8,300-8,700 with four or eight
//! (docs/benchmarks.md, "2026-12-03, late"). So Keysmith caps the arenas at four per core and
//! `serve` hands the arenas' free memory back to the system every [`TRIM_PERIOD`]
//! ([`start_trimming`]); an operator's `MALLOC_ARENA_MAX`, which glibc reads itself, stands.

/// Arenas per core when `MALLOC_ARENA_MAX` is not set.
const ARENAS_PER_CORE: usize = 4;

/// How often `serve` returns the allocator's free memory to the system.
pub const TRIM_PERIOD: std::time::Duration = std::time::Duration::from_secs(30);

/// The arena cap Keysmith applies when `MALLOC_ARENA_MAX` is not set: four per core (at least
/// two cores' worth).
pub fn default_arena_max() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get().max(2)) * ARENAS_PER_CORE
}

static APPLIED: std::sync::OnceLock<Option<usize>> = std::sync::OnceLock::new();

/// Caps glibc's malloc arenas (see the module comment); only the first call acts. Returns the
/// cap applied, or `None` when the operator's `MALLOC_ARENA_MAX` stands or the C library is not
/// glibc.
pub fn cap_arenas() -> Option<usize> {
    *APPLIED.get_or_init(|| {
        if std::env::var_os("MALLOC_ARENA_MAX").is_some() {
            return None;
        }
        let max = default_arena_max();
        set_arena_max(max).then_some(max)
    })
}

/// What [`cap_arenas`] applied, for the start-up log line (`None` if it never ran or left
/// glibc's setting alone).
pub fn applied_arena_cap() -> Option<usize> {
    APPLIED.get().copied().flatten()
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn set_arena_max(max: usize) -> bool {
    let value = libc::c_int::try_from(max).unwrap_or(libc::c_int::MAX);
    // SAFETY: mallopt takes two integers and only changes glibc's allocator parameters; glibc
    // takes its own lock for it. No pointer crosses the call.
    unsafe { libc::mallopt(libc::M_ARENA_MAX, value) == 1 }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn set_arena_max(_max: usize) -> bool {
    false
}

/// Starts a thread that hands every arena's free pages back to the system (glibc's
/// `malloc_trim`) every [`TRIM_PERIOD`], for as long as the process runs. Live memory is
/// untouched; this bounds what the arenas keep after a burst (a backup, a large JWKS, a
/// generate load). Returns false where the C library is not glibc or the thread could not
/// start.
pub fn start_trimming() -> bool {
    if !cfg!(all(target_os = "linux", target_env = "gnu")) {
        return false;
    }
    std::thread::Builder::new()
        .name("keysmith-malloc-trim".into())
        .spawn(|| {
            loop {
                std::thread::sleep(TRIM_PERIOD);
                trim();
            }
        })
        .is_ok()
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn trim() {
    // SAFETY: malloc_trim takes an integer (the top padding to keep) and only releases free
    // pages of glibc's arenas, under their own locks. No pointer crosses the call.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn trim() {}
