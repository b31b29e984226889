//! Receiving with a short poll first: a hand-off between threads without a wake-up when the
//! other side is quick.

use super::shared::Job;
use crossbeam_channel::Receiver;
use std::time::{Duration, Instant};

/// Busy-poll iterations (each a `spin_loop` hint, a few ns) before [`recv_spin`] starts
/// yielding the CPU between polls.
pub(super) const SPIN_POLLS: u32 = 64;

/// Receive from `rx`, polling for up to `spin` before blocking: first [`SPIN_POLLS`] busy polls
/// (a microsecond or two), then polls separated by `yield_now` until `spin` has passed, then a
/// blocking receive (park).
///
/// Pure busy-spinning made dispatch much slower on an oversubscribed host (2 vCPUs shared with
/// builds): a spinning waiter kept its core while the very thread it waited for was runnable on
/// it, so a hand-off cost the whole spin window (waiter's 100 us + worker's 200 us: ~310 us
/// added latency at p50 in `benches/dispatch_overhead.rs`). Yielding between polls lets that
/// thread run at once (p50 back to a few us) and costs little on an idle core (`sched_yield`
/// returns immediately); the price on a loaded host is that a yield can hand the core to
/// another process for a scheduler slice (a few ms at the 1% tail there). On a host where the
/// executor's threads are not competing for cores both variants add ~5 us at p99.
pub(crate) fn recv_spin<T>(rx: &Receiver<T>, spin: Duration) -> Result<T, crossbeam_channel::RecvError> {
    if !spin.is_zero() {
        let until = Instant::now() + spin;
        let mut polls = 0u32;
        loop {
            match rx.try_recv() {
                Ok(v) => return Ok(v),
                Err(crossbeam_channel::TryRecvError::Disconnected) => return Err(crossbeam_channel::RecvError),
                Err(crossbeam_channel::TryRecvError::Empty) => {}
            }
            if polls < SPIN_POLLS {
                polls += 1;
                std::hint::spin_loop();
            } else if Instant::now() >= until {
                break;
            } else {
                std::thread::yield_now();
            }
        }
    }
    rx.recv()
}

pub(super) fn recv_job(rx: &Receiver<Job>, spin: Duration) -> Option<Job> {
    recv_spin(rx, spin).ok()
}
