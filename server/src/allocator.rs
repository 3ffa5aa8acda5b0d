//! The process's allocator: mimalloc (declared in `main.rs`), and the one
//! setting of it we change.
//!
//! Why mimalloc: rendering a signed-in page allocates and frees thousands of
//! small objects (the view tree, the reactive graph, rows) on whichever
//! worker thread runs it. With glibc's malloc, `malloc` and `free` were about
//! a quarter of a render's CPU time; with mimalloc the same pages are served
//! 17–57% faster (docs/performance.md, "The allocator").

use libmimalloc_sys::{mi_option_set, mi_option_t};
use std::os::raw::c_long;

/// `mi_option_purge_delay` in `mi_option_e` of mimalloc.h (the bindings name
/// the options either side of it, not this one). The test below fails if an
/// upgrade moves it.
const PURGE_DELAY: mi_option_t = 15;

/// How long, in milliseconds, memory freed back to mimalloc stays with the
/// process before it is returned to the system. mimalloc 3 waits 1,000 ms,
/// and only checks when something allocates again, so a server that goes
/// quiet after a burst (a sign-in hashes its password in 19 MiB) kept that
/// memory: 80–117 MB resident at the benchmark's peak, against 63–64 MB with
/// 10 ms (mimalloc 2's default) at the same throughput.
const PURGE_DELAY_MS: c_long = 10;

/// Applies the settings above. Call first thing in `main`.
pub fn tune() {
    // SAFETY: sets one integer option; mimalloc reads options atomically, and
    // nothing else sets this one.
    unsafe { mi_option_set(PURGE_DELAY, PURGE_DELAY_MS) };
}

#[cfg(test)]
mod tests {
    use super::*;
    use libmimalloc_sys::mi_option_get;

    #[test]
    fn option_15_is_the_purge_delay() {
        // mimalloc 3's default purge delay, unless the environment sets one.
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
            // SAFETY: reads one integer option.
            assert_eq!(unsafe { mi_option_get(PURGE_DELAY) }, 1_000);
        }
    }
}
