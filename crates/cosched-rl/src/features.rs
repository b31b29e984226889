//! What the agent reads off an observation: the action mask and trust region (from the encoded
//! vector the network sees, so a replayed transition carries them) and the heuristic prior
//! (from the observation itself, unclipped; training stores it with each transition).

use cosched_core::baselines::prob_exceeds;
use cosched_core::observation::{FEATURES_PER_PROCESSOR, GLOBAL_FEATURES};
use cosched_core::Observation;

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

/// The heuristic prior of every processor for `obs`, written into `out`: minus the request's
/// expected share of the objective there, in units of its latency weight (what
/// `objective-greedy` minimises): the estimated finish time in deadlines, plus `energy_weight`
/// times the estimated energy over the model's reference energy, plus `violation_weight` times
/// the probability of missing the deadline (lognormal latency with the profile's cv after the
/// backlog). Figures are taken unclipped from the observation: the encoded vector saturates at
/// 10 deadlines, where every processor of an overloaded board would tie. Unavailable
/// processors get 0 (they are masked anyway). Allocates nothing.
pub fn prior_values(obs: &Observation, energy_weight: f32, violation_weight: f32, out: &mut [f32]) {
    for (a, o) in out.iter_mut().enumerate().take(obs.processors.len()) {
        *o = prior_value(obs, a, energy_weight, violation_weight) as f32;
    }
}

/// [`prior_values`] of one processor, in `f64`: decisions compare these unrounded, since under
/// overload finish times of hundreds of deadlines differ below `f32` precision.
#[inline]
pub fn prior_value(obs: &Observation, action: usize, energy_weight: f32, violation_weight: f32) -> f64 {
    let r = &obs.request;
    let v = &obs.processors[action];
    if !v.available {
        return 0.0;
    }
    let slo = r.slo_ms.max(1e-6);
    let finish = v.est_finish_ms() / slo;
    let energy = v.est_energy_j / r.reference_energy_j.max(1e-12);
    let miss = if violation_weight > 0.0 {
        let left = r.slo_ms - (obs.now_ms - r.arrival_ms);
        prob_exceeds(v.est_latency_ms, v.latency_cv, left - v.backlog_ms)
    } else {
        0.0
    };
    -f64::from(PRIOR_SCALE) * (finish + f64::from(energy_weight) * energy + f64::from(violation_weight) * miss)
}
