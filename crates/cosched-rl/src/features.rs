//! What the agent reads off the observation vector of [`Observation::encode`]: the action mask
//! and the heuristic prior. Both come from the same vector the network sees, so a replayed
//! transition carries everything needed to recompute them.

use cosched_core::observation::{FEATURES_PER_PROCESSOR, GLOBAL_FEATURES};

/// Offset, inside a processor's block, of the "available" flag (1.0 when the request may go there).
const AVAILABLE: usize = 0;
/// Offset of the estimated finish time over the SLO (queue wait + expected latency).
const EST_FINISH_OVER_SLO: usize = 5;

/// Scale of the prior: Q-values are in units of the per-request objective share, where one
/// deadline of latency costs 1 (with the balanced weights), so the prior is minus the
/// estimated finish time in deadlines.
pub const PRIOR_SCALE: f32 = 1.0;

#[inline]
fn feature(x: &[f32], n_models: usize, action: usize, offset: usize) -> f32 {
    x[GLOBAL_FEATURES + n_models + action * FEATURES_PER_PROCESSOR + offset]
}

/// Whether processor `action` is a valid placement in observation vector `x`.
#[inline]
pub fn valid(x: &[f32], n_models: usize, action: usize) -> bool {
    feature(x, n_models, action, AVAILABLE) > 0.5
}

/// The heuristic prior of `action`: minus its estimated finish time in deadlines, i.e. the
/// earliest-finish rule. An untrained residual leaves the policy exactly earliest-finish.
#[inline]
pub fn prior(x: &[f32], n_models: usize, action: usize) -> f32 {
    -PRIOR_SCALE * feature(x, n_models, action, EST_FINISH_OVER_SLO)
}
