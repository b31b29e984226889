//! Where the executor reads the time: the wall clock, or a clock its owner sets.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// A clock set by hand, in ms since the executor's start. With it the executor runs in lockstep
/// with whoever drives it: the dual-adapter test steps it through a simulator's event times to
/// check that the executor and the simulator make the same decisions.
#[derive(Debug, Default)]
pub struct ManualClock {
    ms_bits: AtomicU64,
}

impl ManualClock {
    /// A clock at 0 ms.
    pub fn new() -> Arc<ManualClock> {
        Arc::new(ManualClock::default())
    }

    /// Move the clock to `ms`.
    pub fn set_ms(&self, ms: f64) {
        self.ms_bits.store(ms.to_bits(), Ordering::SeqCst);
    }

    /// The time it shows, ms.
    pub fn now_ms(&self) -> f64 {
        f64::from_bits(self.ms_bits.load(Ordering::SeqCst))
    }
}

/// The executor's time source.
#[derive(Debug, Clone)]
pub(crate) enum Clock {
    /// Milliseconds since this instant.
    Wall(Instant),
    /// Whatever the owner set.
    Manual(Arc<ManualClock>),
}

impl Clock {
    /// Now, ms since the executor's start.
    pub(crate) fn now_ms(&self) -> f64 {
        match self {
            Clock::Wall(epoch) => epoch.elapsed().as_secs_f64() * 1000.0,
            Clock::Manual(c) => c.now_ms(),
        }
    }
}
