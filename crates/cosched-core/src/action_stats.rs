//! What the optional parts of the actions did over a run: batch sizes and hedged copies.

use serde::{Deserialize, Serialize};

/// Batching and hedging over a run (`compare` and `evaluate` print them).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct ActionStats {
    /// Requests per batch, over the batches that completed requests (1 without batching).
    pub mean_batch: f64,
    /// Hedged copies sent (a request placed on two processors counts one).
    pub hedges_sent: u64,
    /// Hedged requests the copy answered (it finished first).
    pub hedges_won: u64,
    /// Losing copies that had started and ran for nothing (their energy is in the run's).
    pub hedges_wasted: u64,
    /// Losing copies cancelled before they started.
    pub hedges_cancelled: u64,
}

impl ActionStats {
    /// A run's mean batch and its hedge counts.
    pub fn new(mean_batch: f64, hedges: HedgeCounts) -> ActionStats {
        ActionStats {
            mean_batch,
            hedges_sent: hedges.sent,
            hedges_won: hedges.won,
            hedges_wasted: hedges.wasted,
            hedges_cancelled: hedges.cancelled,
        }
    }

    /// Add `other`'s hedge counts to these (the mean batch is left alone: it does not add).
    pub fn add_hedges(&mut self, other: &ActionStats) {
        self.hedges_sent += other.hedges_sent;
        self.hedges_won += other.hedges_won;
        self.hedges_wasted += other.hedges_wasted;
        self.hedges_cancelled += other.hedges_cancelled;
    }

    /// Extra inferences the hedges cost, per completed request.
    pub fn extra_inference_share(&self, completed: u64) -> f64 {
        self.hedges_wasted as f64 / completed.max(1) as f64
    }
}

/// Counts hedged copies as the dispatcher settles them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HedgeCounts {
    /// Copies sent.
    pub sent: u64,
    /// Requests the copy answered.
    pub won: u64,
    /// Losers that ran.
    pub wasted: u64,
    /// Losers cancelled before they started.
    pub cancelled: u64,
}

impl HedgeCounts {
    /// What was counted after `base` (counts taken earlier from the same dispatcher).
    pub fn since(&self, base: &HedgeCounts) -> HedgeCounts {
        HedgeCounts {
            sent: self.sent - base.sent,
            won: self.won - base.won,
            wasted: self.wasted - base.wasted,
            cancelled: self.cancelled - base.cancelled,
        }
    }
}
