//! What the agent reads off an observation besides the network's input vector: the heuristic
//! prior and the candidate placements (both from the observation itself, unclipped; training
//! stores them with each transition, the candidates as [`NOT_CANDIDATE`] priors).

use cosched_core::baselines::prob_exceeds;
use cosched_core::Observation;
use serde::{Deserialize, Serialize};

/// The heuristic a policy's learned corrections are added to; a policy file names its own.
///
/// No single rule is right for every board. The congestion-priced objective is the better
/// start where processors differ in energy (jetson-orin-nano: untrained, no worse than the
/// best baseline in all 21 cases of the evaluation, against 16 for earliest finish); earliest
/// finish where they are identical workers (host-cpu: 18 against 14), where there is no energy
/// to trade and the priced objective's extra terms only depart from the earliest finish on
/// estimation noise. Training learns corrections to the priced objective, and keeps the
/// untrained earliest-finish policy like a checkpoint where it scores better (see
/// [`crate::train()`]). Starting training from whichever form scored better untrained was
/// tried and is worse: on jetson-xavier-nx two of the three restarts started from earliest
/// finish on the strength of their random evaluation mixes, and both ended behind the run that
/// learned over the priced objective (selection score 4.3 kept, against 2.2 before).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PriorForm {
    /// [`prior_value`]: the request's expected share of the objective with a congestion price.
    #[default]
    PricedObjective,
    /// Minus the estimated finish time in deadlines: untrained, the policy places and queues
    /// exactly as the `least-slack` baseline does.
    EarliestFinish,
}

impl PriorForm {
    /// Every form, in the order training tries them (a tie keeps the earlier).
    pub const ALL: [PriorForm; 2] = [PriorForm::PricedObjective, PriorForm::EarliestFinish];

    /// The name used in policy files and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            PriorForm::PricedObjective => "priced-objective",
            PriorForm::EarliestFinish => "earliest-finish",
        }
    }

    /// The form named `name` ([`PriorForm::name`]).
    pub fn parse(name: &str) -> Option<PriorForm> {
        PriorForm::ALL.into_iter().find(|f| f.name() == name)
    }

    /// The prior value of `action` for `obs` under this form, unrounded (see [`prior_value`]
    /// for the weights, which only the priced objective reads). Allocates nothing.
    #[inline]
    pub fn value(self, obs: &Observation, action: usize, energy_weight: f32, violation_weight: f32) -> f64 {
        match self {
            PriorForm::PricedObjective => prior_value(obs, action, energy_weight, violation_weight),
            PriorForm::EarliestFinish => {
                let v = &obs.processors[action];
                if v.available {
                    -f64::from(PRIOR_SCALE) * v.est_finish_ms() / obs.request.slo_ms.max(1e-6)
                } else {
                    0.0
                }
            }
        }
    }
}

/// Scale of the prior: Q-values are in units of the per-request objective share, where one
/// deadline of latency costs 1 (with the balanced weights), so the prior is minus the
/// estimated finish time in deadlines.
pub const PRIOR_SCALE: f32 = 1.0;

/// Prior value stored for a processor that is not a candidate (or not valid): far below any
/// real prior, so that no learned correction can make it win, and finite, so that stored
/// transitions and their arithmetic stay finite.
pub const NOT_CANDIDATE: f32 = -1.0e9;

/// Whether a stored prior value marks a candidate (see [`NOT_CANDIDATE`]).
#[inline]
pub fn is_candidate(prior: f32) -> bool {
    prior > NOT_CANDIDATE / 2.0
}

/// Processors a DRL policy can place on ([`candidates`] is a 64-bit set); a device profile
/// has a handful. Training and loading refuse larger devices.
pub const MAX_PROCESSORS: usize = 64;

/// How far, in deadlines, a placement may finish later than the earliest estimated finish and
/// still be chosen by the learned corrections (the prior's own choice always may).
pub const TRUST_DEADLINES: f64 = 1.0;

/// The processors the agent chooses between for `obs`, as a bit set (bit `a` for processor
/// `a`): those whose estimated finish is within [`TRUST_DEADLINES`] of the earliest (the trust
/// region), and the prior's own choice (`prior` holds [`prior_value`] of every processor).
///
/// The trust region keeps learned corrections from piling a request onto a queue deadlines
/// longer than the best one: a free choice among all processors let a policy trained on some
/// mixes grow a held-out mix's queue without bound (jetson-xavier-nx, mixed-slo: p99 of 26 s).
/// The prior's choice is added because the prior may rightly finish later than that: under
/// overload, or to keep a cheap processor's queue from growing, it trades finish time for
/// energy and for the delay it would impose on others. A set of the four heuristics' choices
/// instead (objective-greedy, earliest finish, shortest latency, energy-greedy) did worse in
/// training on jetson-agx-orin (10 or 8 of 21 evaluation cases no worse than the best baseline,
/// against 16). Allocates nothing.
pub fn candidates(obs: &Observation, prior: &[f64]) -> u64 {
    let slo = obs.request.slo_ms.max(1e-6);
    let mut earliest = f64::INFINITY;
    let mut own: Option<(f64, usize)> = None;
    for (a, v) in obs.processors.iter().enumerate().take(MAX_PROCESSORS) {
        if v.available {
            earliest = earliest.min(v.est_finish_ms() / slo);
            if own.is_none_or(|(b, _)| prior[a] > b) {
                own = Some((prior[a], a));
            }
        }
    }
    let Some((_, own)) = own else { return 0 };
    obs.processors
        .iter()
        .enumerate()
        .take(MAX_PROCESSORS)
        .filter(|(_, v)| v.available && v.est_finish_ms() / slo <= earliest + TRUST_DEADLINES)
        .fold(1u64 << own, |set, (a, _)| set | 1 << a)
}

/// The heuristic prior of every processor for `obs`, written into `out`: minus the request's
/// expected share of the objective there, in units of its latency weight, counting what it
/// costs the requests around it: the estimated finish time in deadlines, plus `energy_weight`
/// times the estimated energy over the model's reference energy, plus `violation_weight` times
/// the probability of missing the deadline (lognormal latency with the profile's cv after the
/// backlog) (so far what `objective-greedy` minimises), plus a congestion price: its latency in
/// deadlines times the requests queued or running there per slot. Without that price the rule
/// lets an energy-cheap processor's queue grow until each newcomer's own extra wait balances
/// its energy saving, ignoring that it also delays everyone behind it: on jetson-xavier-nx
/// `server` it saturated both DLAs. Figures are taken unclipped from the observation: the encoded vector saturates at
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
    // What this request costs the others: each request it finds queued or running there per
    // slot, it will on average also find arriving behind it while it waits and runs (Little's
    // law in a steady state), and each of those waits about its latency longer.
    let congestion = v.est_latency_ms / slo * f64::from(v.queue_len + v.in_flight) / f64::from(v.slots.max(1));
    -f64::from(PRIOR_SCALE)
        * (finish + f64::from(energy_weight) * energy + f64::from(violation_weight) * miss + congestion)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidates_are_the_trust_region_and_the_priors_own_choice() {
        let mut obs = Observation::empty(5, 1);
        obs.request.slo_ms = 50.0;
        // (available, backlog ms, latency ms, energy J)
        let procs = [
            (true, 0.0, 10.0, 5.0),   // finishes at 0.2 deadlines: the earliest
            (true, 40.0, 20.0, 4.0),  // 1.2: inside the trust region
            (true, 90.0, 20.0, 0.01), // 2.2: outside, but so cheap that the prior picks it
            (false, 0.0, 1.0, 0.01),  // cannot run the model
            (true, 100.0, 20.0, 5.0), // 2.4: outside, and nobody's choice
        ];
        for (v, &(available, backlog, latency, energy)) in obs.processors.iter_mut().zip(&procs) {
            (v.available, v.backlog_ms, v.est_latency_ms, v.est_energy_j) = (available, backlog, latency, energy);
            v.slots = 1;
        }
        let prior: Vec<f64> = (0..5).map(|a| prior_value(&obs, a, 1.0, 0.0)).collect();
        assert!(prior[2] > prior[0] && prior[2] > prior[1], "{prior:?}");
        assert_eq!(candidates(&obs, &prior), 0b00111);
        // With the energy weight at zero the prior picks the earliest finish: the region alone.
        let prior: Vec<f64> = (0..5).map(|a| prior_value(&obs, a, 0.0, 0.0)).collect();
        assert_eq!(candidates(&obs, &prior), 0b00011);
        // Nothing valid, no candidate.
        for v in obs.processors.iter_mut() {
            v.available = false;
        }
        assert_eq!(candidates(&obs, &prior), 0);
    }
}
