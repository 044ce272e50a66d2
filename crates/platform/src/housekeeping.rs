//! Periodic upkeep of the process itself: histogram samples folded into their buckets, and
//! memory the program freed handed back to the operating system.
//!
//! glibc's allocator keeps freed memory in its arenas and returns only the free space at the
//! top of a heap, so a process stays resident at its peak: start-up (the OpenAPI document, the
//! migrations) or one burst of requests would set the memory an idle instance holds from then
//! on. [`release_memory`] asks it to return every whole free page.

use metrics_exporter_prometheus::PrometheusHandle;
use std::time::Duration;
use tokio::sync::watch;

/// How often [`run`] does its upkeep: at 50 000 requests a second about 2 MB of histogram
/// samples wait at most this long, and a burst's freed buffers are returned this soon after.
pub const EVERY: Duration = Duration::from_secs(5);

/// Does the upkeep every [`EVERY`] until `stopped` turns true.
pub async fn run(metrics: PrometheusHandle, mut stopped: watch::Receiver<bool>) {
    let mut every = tokio::time::interval(EVERY);
    loop {
        tokio::select! {
            () = async {
                let _ = stopped.wait_for(|s| *s).await;
            } => break,
            _ = every.tick() => {
                metrics.run_upkeep();
                // It walks and locks each arena in turn: off the async workers.
                let _ = tokio::task::spawn_blocking(release_memory).await;
            }
        }
    }
}

/// Raises this process's soft limit of open files to its hard limit and answers the new soft
/// limit. Every connection is a file: at the usual soft limit of 1 024, the 1 025th WebSocket
/// client would be refused while the system allows far more (often 524 288).
pub fn raise_open_files() -> std::io::Result<u64> {
    let (soft, hard) = rlimit::Resource::NOFILE.get()?;
    if soft < hard {
        rlimit::Resource::NOFILE.set(hard, hard)?;
    }
    Ok(hard.max(soft))
}

/// Returns the whole free pages the allocator holds to the operating system; true if any were.
/// Elsewhere than glibc it does nothing: the other allocators return memory by themselves.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
pub fn release_memory() -> bool {
    // SAFETY: malloc_trim takes no pointers and touches only glibc's own free lists, under the
    // locks every allocation takes; it is safe to call from any thread at any time.
    unsafe { libc::malloc_trim(0) == 1 }
}

/// Blocks this large or larger are mapped on their own and unmapped when freed.
pub const LARGE_BLOCK: usize = 4 << 20;

/// Free space a heap keeps at its top before `free` gives it back. Fixing the mmap threshold
/// also stops glibc from raising this one (to twice the threshold), and at its 128 KiB default
/// a burst of WebSocket fan-out shrank and regrew the heaps on nearly every free: 2 000
/// connections × 400 messages a second delivered 3 % fewer messages with twice the p99. The
/// housekeeping's trim returns what sits there within [`EVERY`].
pub const HEAP_TOP_KEPT: usize = 32 << 20;

/// Has glibc map every block of at least [`LARGE_BLOCK`] on its own, so that it goes back to
/// the system the moment it is freed. By default glibc raises that threshold to the size of
/// the largest block freed so far (up to 32 MiB), after which decoded images (36 MB for a
/// 12-megapixel photo, in the arena of whichever blocking thread decoded it) stay in the
/// arenas: one character upload left about 100 MiB resident that no trim could take back.
/// The setting is the allocator's, for every thread; call it once at start-up.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
pub fn map_large_blocks() -> bool {
    let threshold = libc::c_int::try_from(LARGE_BLOCK).unwrap_or(libc::c_int::MAX);
    let kept = libc::c_int::try_from(HEAP_TOP_KEPT).unwrap_or(libc::c_int::MAX);
    // SAFETY: mallopt takes two integers and changes a setting of glibc's allocator under its
    // own lock; it touches no memory of ours.
    unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, threshold) == 1 && libc::mallopt(libc::M_TRIM_THRESHOLD, kept) == 1 }
}

/// Elsewhere than glibc it does nothing: the other allocators return large blocks themselves.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn map_large_blocks() -> bool {
    false
}

/// Returns the whole free pages the allocator holds to the operating system; true if any were.
/// Elsewhere than glibc it does nothing: the other allocators return memory by themselves.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn release_memory() -> bool {
    false
}
