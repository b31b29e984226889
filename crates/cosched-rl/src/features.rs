//! What the agent reads off the observation vector of [`Observation::encode`]: the action mask
//! and the heuristic prior. Both come from the same vector the network sees, so a replayed
//! transition carries everything needed to recompute them.

use cosched_core::observation::{FEATURES_PER_PROCESSOR, GLOBAL_FEATURES};

/// Offset, inside a processor's block, of the "available" flag (1.0 when the request may go there).
const AVAILABLE: usize = 0;
/// Offset of the estimated finish time over the SLO (queue wait + expected latency).
const EST_FINISH_OVER_SLO: usize = 5;
/// Offset of the estimated energy over the model's reference energy.
const ENERGY_OVER_REFERENCE: usize = 6;

/// Scale of the prior: Q-values are in units of the per-request objective share, where one
/// deadline of latency costs 1 (with the balanced weights), so the prior is minus the
/// estimated finish time in deadlines.
pub const PRIOR_SCALE: f32 = 1.0;

#[inline]
fn feature(x: &[f32], n_models: usize, action: usize, offset: usize) -> f32 {
    x[GLOBAL_FEATURES + n_models + action * FEATURES_PER_PROCESSOR + offset]
}

/// How far, in deadlines, a placement may finish later than the earliest estimated finish and
/// still be considered. The learned corrections act inside this trust region: they can trade a
/// little latency for energy or keep a fast processor free, but never pile a request onto a
/// queue whose backlog is deadlines longer than the best one (which, on mixes never seen in
/// training, let a queue grow without bound).
pub const TRUST_DEADLINES: f32 = 1.0;

/// The smallest estimated finish (in deadlines) over valid processors, or `None`.
#[inline]
pub fn earliest_finish(x: &[f32], n_models: usize, actions: usize) -> Option<f32> {
    (0..actions)
        .filter(|&a| valid(x, n_models, a))
        .map(|a| feature(x, n_models, a, EST_FINISH_OVER_SLO))
        .min_by(f32::total_cmp)
}

/// Whether `action` is valid and inside the trust region around the earliest finish `best`.
#[inline]
pub fn candidate(x: &[f32], n_models: usize, action: usize, best: f32) -> bool {
    valid(x, n_models, action) && feature(x, n_models, action, EST_FINISH_OVER_SLO) <= best + TRUST_DEADLINES
}

/// Whether processor `action` is a valid placement in observation vector `x`.
#[inline]
pub fn valid(x: &[f32], n_models: usize, action: usize) -> bool {
    feature(x, n_models, action, AVAILABLE) > 0.5
}

/// The heuristic prior of `action`: minus its estimated finish time in deadlines (the
/// earliest-finish rule) minus `energy_weight` times its estimated energy over the model's
/// reference energy (the objective's own energy term, relative to its latency weight), as the
/// encoded vector holds them (clipped at 10). Training's targets use it; deciding uses the
/// unclipped figures of the observation, so that under overload, where every processor clips,
/// the prior still tells processors apart. With `energy_weight` 0 it is earliest-finish.
#[inline]
pub fn prior(x: &[f32], n_models: usize, action: usize, energy_weight: f32) -> f32 {
    -PRIOR_SCALE
        * (feature(x, n_models, action, EST_FINISH_OVER_SLO)
            + energy_weight * feature(x, n_models, action, ENERGY_OVER_REFERENCE))
}
