//! The process's C allocator settings, applied once at the start of `main`, before any thread.
//!
//! glibc gives each thread that meets a locked arena a new one, up to eight per core. A server
//! whose blocking pool moves work between many threads then keeps memory in each arena: a
//! 30-minute soak grew from 29 to 175 MB of RSS with a flat live heap, and held 53-56 MB with
//! two arenas (docs/reliability.md). Keysmith therefore caps the arenas at one per core (at
//! least two), unless the operator set `MALLOC_ARENA_MAX`, which glibc reads itself.

/// The arena cap Keysmith applies when `MALLOC_ARENA_MAX` is not set.
pub fn default_arena_max() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get().max(2))
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
