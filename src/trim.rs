//! Returning freed heap memory to the OS after a flood of connections.
//!
//! glibc keeps freed memory in its arenas: after 10,000 sockets come and
//! go, the process keeps its peak RSS although nothing uses it. Every
//! `--malloc-trim-secs`, if the number of open sockets fell by a tenth (at
//! least 100) from the highest seen since the last trim, `malloc_trim(0)`
//! gives the free pages back. Measured numbers are in docs/operations.md.

use crate::metrics::Metrics;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Weak};
use std::time::Duration;

/// Starts the trimming thread; it ends when `metrics` (the server) is gone.
pub fn spawn(metrics: &Arc<Metrics>, every_secs: u64) {
    if every_secs == 0 || !supported() {
        return;
    }
    let weak: Weak<Metrics> = Arc::downgrade(metrics);
    let spawned = std::thread::Builder::new()
        .name("malloc-trim".into())
        .spawn(move || {
            let mut peak = 0i64;
            loop {
                std::thread::sleep(Duration::from_secs(every_secs));
                let Some(m) = weak.upgrade() else { return };
                let open = m.sockets_open.load(Relaxed);
                peak = peak.max(open);
                if peak - open >= (peak / 10).max(100) {
                    trim();
                    m.malloc_trims.fetch_add(1, Relaxed);
                    peak = open;
                }
            }
        });
    if let Err(e) = spawned {
        log::warn!("malloc trim thread not started: {e}");
    }
}

fn supported() -> bool {
    cfg!(all(target_os = "linux", target_env = "gnu"))
}

/// Gives free heap pages back to the OS (glibc); a no-op elsewhere.
pub fn trim() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks the allocator's own free lists.
    unsafe {
        libc::malloc_trim(0);
    }
}
