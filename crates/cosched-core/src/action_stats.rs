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
