//! Wake-ups for batches held open: a processor whose free slot waits for its batch to fill
//! (a [`BatchPlan`](cosched_core::BatchPlan)'s wait) must start it when the wait ends, even if
//! no request arrives and nothing completes. One thread sleeps until the earliest such time.

use super::host::try_start;
use super::shared::{lock, Shared};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::{Condvar, Mutex};
use std::time::Duration;

/// Longest sleep between looks at the clock: a manual clock moves without telling anyone.
const MAX_NAP: Duration = Duration::from_millis(2);

#[derive(Default)]
struct Pending {
    /// (time ms as ordered bits, processor), earliest first; times are non-negative, so their
    /// bit patterns order as the numbers do.
    due: BinaryHeap<Reverse<(u64, usize)>>,
    stopped: bool,
}

/// The wake-ups asked for, and the timer thread's doorbell.
#[derive(Default)]
pub(super) struct Timer {
    pending: Mutex<Pending>,
    bell: Condvar,
}

impl Timer {
    /// Start `processor`'s queue again at `at_ms`.
    pub(super) fn wake_at(&self, processor: usize, at_ms: f64) {
        let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        p.due.push(Reverse((at_ms.max(0.0).to_bits(), processor)));
        self.bell.notify_one();
    }

    /// Let the timer thread go.
    pub(super) fn stop(&self) {
        self.pending.lock().unwrap_or_else(|e| e.into_inner()).stopped = true;
        self.bell.notify_one();
    }
}

/// The timer thread: wakes each processor when its held batch's wait ends.
pub(super) fn timer_main(sh: &Shared) {
    let timer = &sh.timer;
    let mut p = timer.pending.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        if p.stopped {
            return;
        }
        let Some(&Reverse((bits, processor))) = p.due.peek() else {
            p = timer.bell.wait(p).unwrap_or_else(|e| e.into_inner());
            continue;
        };
        let left_ms = f64::from_bits(bits) - sh.clock.now_ms();
        if left_ms > 0.0 {
            let nap = Duration::from_secs_f64(left_ms / 1000.0).min(MAX_NAP);
            p = timer.bell.wait_timeout(p, nap).unwrap_or_else(|e| e.into_inner()).0;
            continue;
        }
        p.due.pop();
        // The state lock is taken after the timer's is let go: submitters hold the state lock
        // while they ask for a wake-up.
        drop(p);
        {
            let mut st = lock(&sh.state);
            try_start(sh, &mut st, processor);
            sh.changed.notify_all();
        }
        p = timer.pending.lock().unwrap_or_else(|e| e.into_inner());
    }
}
