//! Rollout targets for a policy that chooses among placement rules ([`crate::options`]): what
//! following each rule from a decision on really costs, measured by playing the episode on in
//! copies of the simulator.
//!
//! At a sampled decision the simulator is copied once per rule, and each copy places the next
//! `horizon` requests by its rule; the discounted cost of those requests (each charged its own
//! share of the objective when it completes, as the DQN credit charges it) is the rule's
//! return. The copies share the random state at the branch point, so the rules face the same
//! arrivals and the same sequence of service-time draws (common random numbers): the
//! difference between two returns is mostly the rules', not the noise's. The network learns
//! each rule's gain over the prior from the state, a regression on Monte-Carlo returns of
//! options (Sutton, Precup and Singh 1999) rather than a bootstrapped target.
//!
//! Per-processor rollouts (each candidate processor for one request, the acting policy after
//! it) were tried first and kept nothing: one request's placement barely moves a return of a
//! hundred, and the gain of the GPU-only placement comes from following it throughout
//! (docs/training.md).

use crate::options::Rule;
use crate::plain::PlainMlp;
use crate::ring::Ring;
use cosched_core::{Action, ObjectiveWeights, Outcome, ProcessorId};
use cosched_sim::SimEnv;
use std::collections::HashMap;

/// How far a rollout looks ahead.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RolloutSpec {
    /// Placements from the branch on that count towards a return.
    pub horizon: usize,
    /// After the horizon, the copy runs on (without counting new placements) until the counted
    /// requests complete, for at most this many more placements; a request still unfinished then
    /// is charged as if it had just completed late. Bounds the work of a rollout under overload.
    pub drain: usize,
    /// Discount per placement, as in DQN's targets.
    pub gamma: f64,
    /// A request's cost is clipped here (as the DQN credit is).
    pub max_cost: f64,
}

/// Buffers reused between rollouts (a training run does tens of thousands).
#[derive(Debug, Default)]
pub struct RolloutScratch {
    outcomes: Vec<Outcome>,
    placed: HashMap<u64, usize>,
}

/// The discounted cost of following each rule of `net` ([`PlainMlp::options`]) from the waiting
/// request of `env` on, every placement of the horizon by that rule, with the prior and the
/// objective weights `net` holds. `env` itself is left as it was.
pub fn rule_costs(
    env: &SimEnv,
    net: &PlainMlp,
    spec: &RolloutSpec,
    weights: &ObjectiveWeights,
    s: &mut RolloutScratch,
    out: &mut Vec<f64>,
) {
    out.clear();
    for &rule in net.options() {
        out.push(one_rollout(env, net, rule, spec, weights, s));
    }
}

fn one_rollout(
    env: &SimEnv,
    net: &PlainMlp,
    rule: Rule,
    spec: &RolloutSpec,
    weights: &ObjectiveWeights,
    s: &mut RolloutScratch,
) -> f64 {
    let (energy_w, violation_w) = net.prior_weights();
    let mut env = env.clone();
    s.placed.clear();
    let mut total = 0.0;
    let charge = |o: &Outcome, placed: &mut HashMap<u64, usize>| -> f64 {
        match placed.remove(&o.request.0) {
            Some(t) => {
                let cost = weights.outcome_cost(o).min(spec.max_cost);
                spec.gamma.powi(t as i32) * cost
            }
            None => 0.0,
        }
    };
    let mut steps = 0usize;
    while let Some(obs) = env.observation() {
        if steps <= spec.horizon {
            s.placed.insert(obs.request.id.0, steps);
        }
        let action = rule
            .place(obs, net.prior_form(), energy_w, violation_w)
            .expect("the simulator only asks with a valid processor");
        s.outcomes.clear();
        let st = env.step_with_outcomes(Action::to(ProcessorId(action as u16)), &mut s.outcomes);
        for o in &s.outcomes {
            total += charge(o, &mut s.placed);
        }
        steps += 1;
        let counted_done = steps > spec.horizon && s.placed.is_empty();
        if st.done || counted_done || steps > spec.horizon + spec.drain {
            break;
        }
    }
    // Still unfinished after the drain: charged the clipped cost of a request that missed its
    // deadline by far, which is what the queue it waits in is heading for.
    for (_, t) in s.placed.drain() {
        total += spec.gamma.powi(t as i32) * spec.max_cost;
    }
    total
}

/// The sampled decisions and their targets, a ring buffer like DQN's replay (the targets of old
/// samples stay valid: a rule's return does not depend on the network).
#[derive(Debug)]
pub(crate) struct Samples {
    pub(crate) inputs: usize,
    pub(crate) actions: usize,
    pub(crate) ring: Ring,
    pub(crate) obs: Vec<f32>,
    /// Per rule: the output the network should give, the rule's gain over the prior rule as a
    /// fraction of the prior's cost.
    pub(crate) target: Vec<f32>,
}

impl Samples {
    pub(crate) fn new(inputs: usize, actions: usize, cap: usize) -> Samples {
        Samples {
            inputs,
            actions,
            ring: Ring::new(cap),
            obs: vec![0.0; inputs * cap],
            target: vec![0.0; actions * cap],
        }
    }

    /// Store a decision among rules (`costs[0]` the prior rule's): the target of each rule is
    /// its gain over the prior, as a fraction of the prior's cost (0 for the prior itself), so
    /// that one margin means the same at any load.
    pub(crate) fn push_relative(&mut self, x: &[f32], costs: &[f64]) {
        let base = costs[0];
        let i = self.ring.push();
        self.obs[i * self.inputs..(i + 1) * self.inputs].copy_from_slice(x);
        let k = self.actions;
        for (t, &c) in self.target[i * k..(i + 1) * k].iter_mut().zip(costs) {
            *t = ((base - c) / base.max(1e-6)).clamp(-1.0, 1.0) as f32;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sample_teaches_each_rules_gain_over_the_prior() {
        let mut s = Samples::new(2, 3, 4);
        // Rule 1 costs 20 % less than the prior, rule 2 half as much again.
        s.push_relative(&[0.5, 0.5], &[10.0, 8.0, 15.0]);
        let t = &s.target[0..3];
        assert!(
            t[0].abs() < 1e-6 && (t[1] - 0.2).abs() < 1e-6 && (t[2] + 0.5).abs() < 1e-6,
            "{t:?}"
        );
        // Far worse than the prior is clipped, so one collapse does not dominate the fit.
        s.push_relative(&[0.5, 0.5], &[1.0, 50.0, 1.0]);
        let t = &s.target[3..6];
        assert!((t[1] + 1.0).abs() < 1e-6 && t[2].abs() < 1e-6, "{t:?}");
        assert_eq!(s.ring.len(), 2);
    }
}
