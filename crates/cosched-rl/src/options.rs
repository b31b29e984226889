//! Placement rules as actions: a policy that, at each decision, picks which rule places the
//! request, rather than picking the processor itself.
//!
//! Where the untrained prior loses to a fixed baseline by much, it is mostly to the GPU-only
//! placement, whose gain comes from batching: every request on the fastest processor. A rule
//! applied to every request is what earns it, and a learned correction to one request at a
//! time, measured by rollouts that continue under the prior, never sees that gain
//! (docs/training.md). Choosing among whole rules makes the gain a single step away: a rollout
//! follows the rule it tries for the whole horizon (the options of Sutton, Precup and Singh
//! 1999, with Monte-Carlo returns), and the network learns, from the state, which rule the next
//! stretch of traffic favours. Untrained, the first rule (the prior) wins
//! every decision, so such a policy starts as exactly its prior.
//!
//! Every rule reads only the observation (no device table, no state), so deciding allocates
//! nothing and a rollout can switch rules at any step.

use crate::features::PriorForm;
use cosched_core::baselines::ObjectiveGreedy;
use cosched_core::{ObjectiveWeights, Observation, Policy, ProcessorView};
use serde::{Deserialize, Serialize};

/// A placement rule a policy can hand a decision to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Rule {
    /// The policy's prior ([`PriorForm`]) alone: its best processor.
    Prior,
    /// The processor with the shortest estimated latency for the model, whatever its queue
    /// (the `fastest-only` baseline, on the online estimates): batches build up there.
    Fastest,
    /// The earliest estimated finish (the `least-slack` baseline's placement).
    EarliestFinish,
    /// The lowest expected share of the objective for the request alone (the
    /// `objective-greedy` baseline).
    ObjectiveGreedy,
}

/// The rules a rule policy chooses among, the prior first (what an untrained policy does).
/// They are the run-time guard's candidates, so that the network learns from the state what
/// the guard finds by replaying the recent past.
pub const RULES: [Rule; 4] = [Rule::Prior, Rule::Fastest, Rule::EarliestFinish, Rule::ObjectiveGreedy];

/// A rule other than the prior takes a decision only where the network predicts it costs at
/// least this fraction less than the prior over the rollout horizon: so that an untrained
/// policy (zero outputs) is exactly its prior, and so that a gain within the noise of the
/// rollouts does not take decisions from the prior. A smaller margin let the learned policy
/// leave the prior on noise, a larger one kept it from ever leaving (docs/training.md).
pub const RULE_MARGIN: f32 = 0.10;

/// A rule, once chosen, places this many requests before the network is asked again: a rule
/// earns its gain by being followed (the rollouts that taught the network followed one rule
/// throughout), and most decisions then skip the network's forward pass.
pub const RULE_HOLD: u32 = 64;

/// The rule being followed and for how many more decisions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Held {
    rule: usize,
    left: u32,
}

impl Held {
    /// The rule (an index into the policy's rules) that places the next request: the held one
    /// while it lasts, otherwise `pick()`'s, then held for [`RULE_HOLD`] decisions.
    #[inline]
    pub fn next(&mut self, pick: impl FnOnce() -> usize) -> usize {
        if self.left == 0 {
            self.rule = pick();
            self.left = RULE_HOLD;
        }
        self.left -= 1;
        self.rule
    }
}

impl Rule {
    /// The name used in policy files.
    pub fn name(self) -> &'static str {
        match self {
            Rule::Prior => "prior",
            Rule::Fastest => "fastest",
            Rule::EarliestFinish => "earliest-finish",
            Rule::ObjectiveGreedy => "objective-greedy",
        }
    }

    /// The rule named `name` ([`Rule::name`]).
    pub fn parse(name: &str) -> Option<Rule> {
        RULES.into_iter().find(|r| r.name() == name)
    }

    /// The processor this rule places the request of `obs` on; `None` if no processor is
    /// valid. `form` and the relative weights (energy and violation over latency, as
    /// [`crate::PlainMlp::prior_weights`] holds them) define the prior and the objective.
    ///
    /// A rule other than the prior never knowingly misses a deadline that the prior would
    /// meet: where its choice is expected to finish after the request's deadline and the
    /// prior's is not, the prior places the request. Without it, a rule held on a stretch it was
    /// not trained for (the fastest processor past its capacity) grew one queue without bound.
    /// The trust region of the processor-level policy ([`crate::features::TRUST_DEADLINES`])
    /// also stops that, but it also stops the GPU-only batching that is the point of the
    /// `Fastest` rule (docs/training.md).
    pub fn place(self, obs: &Observation, form: PriorForm, energy_w: f32, violation_w: f32) -> Option<usize> {
        let p = self.place_unbounded(obs, form, energy_w, violation_w)?;
        if self == Rule::Prior {
            return Some(p);
        }
        let budget = obs.request.slo_ms - (obs.now_ms - obs.request.arrival_ms);
        if obs.processors[p].est_finish_ms() <= budget {
            return Some(p);
        }
        let prior = Rule::Prior.place_unbounded(obs, form, energy_w, violation_w)?;
        if obs.processors[prior].est_finish_ms() <= budget {
            return Some(prior);
        }
        Some(p)
    }

    fn place_unbounded(self, obs: &Observation, form: PriorForm, energy_w: f32, violation_w: f32) -> Option<usize> {
        match self {
            Rule::Prior => {
                let mut best: Option<(f64, usize)> = None;
                for (a, v) in obs.processors.iter().enumerate() {
                    if !v.available {
                        continue;
                    }
                    let value = form.value(obs, a, energy_w, violation_w);
                    if best.is_none_or(|(b, _)| value > b) {
                        best = Some((value, a));
                    }
                }
                best.map(|(_, a)| a)
            }
            Rule::Fastest => obs.argmin_valid(|v| v.est_latency_ms).map(|p| p.index()),
            Rule::EarliestFinish => obs.argmin_valid(ProcessorView::est_finish_ms).map(|p| p.index()),
            Rule::ObjectiveGreedy => {
                obs.valid().next()?;
                let weights = ObjectiveWeights {
                    latency: 1.0,
                    violation: f64::from(violation_w),
                    energy: f64::from(energy_w),
                };
                Some(ObjectiveGreedy::new(weights).decide(obs).processor.index())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_the_prior_comes_first() {
        for r in RULES {
            assert_eq!(Rule::parse(r.name()), Some(r));
        }
        assert_eq!(RULES[0], Rule::Prior);
        assert_eq!(Rule::parse("gpu"), None);
    }
}
