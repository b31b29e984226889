//! The objective: one number per run, lower is better, and its per-request share (the reward).

use crate::Outcome;
use serde::{Deserialize, Serialize};

/// Weights of the objective
/// `latency * mean(latency / slo) + violation * slo_violation_rate + energy * energy_per_inference / reference_energy`.
///
/// ```
/// use cosched_core::ObjectiveWeights;
/// assert_eq!(ObjectiveWeights::parse("balanced").unwrap(), ObjectiveWeights::BALANCED);
/// assert_eq!(ObjectiveWeights::parse("1,4,0.5").unwrap().energy, 0.5);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ObjectiveWeights {
    /// Weight of mean latency over SLO.
    pub latency: f64,
    /// Weight of the SLO violation rate.
    pub violation: f64,
    /// Weight of energy per inference over the reference energy.
    pub energy: f64,
}

impl ObjectiveWeights {
    /// docs/design.md's default.
    pub const BALANCED: ObjectiveWeights = ObjectiveWeights {
        latency: 1.0,
        violation: 4.0,
        energy: 1.0,
    };
    /// Latency first: energy nearly ignored.
    pub const LATENCY: ObjectiveWeights = ObjectiveWeights {
        latency: 1.0,
        violation: 4.0,
        energy: 0.1,
    };
    /// Energy first, deadlines still matter.
    pub const ENERGY: ObjectiveWeights = ObjectiveWeights {
        latency: 0.5,
        violation: 4.0,
        energy: 3.0,
    };

    /// `balanced`, `latency`, `energy`, or three comma-separated weights `latency,violation,energy`.
    pub fn parse(s: &str) -> Result<ObjectiveWeights, String> {
        match s {
            "balanced" => Ok(Self::BALANCED),
            "latency" => Ok(Self::LATENCY),
            "energy" => Ok(Self::ENERGY),
            _ => {
                let parts: Vec<_> = s.split(',').map(|p| p.trim().parse::<f64>()).collect();
                match parts.as_slice() {
                    [Ok(l), Ok(v), Ok(e)] if [*l, *v, *e].iter().all(|x| x.is_finite() && *x >= 0.0) => {
                        Ok(ObjectiveWeights {
                            latency: *l,
                            violation: *v,
                            energy: *e,
                        })
                    }
                    _ => Err(format!(
                        "objective \"{s}\": expected balanced, latency, energy or three weights >= 0 like 1,4,1"
                    )),
                }
            }
        }
    }

    /// One request's share of the objective: what a learning policy is rewarded with (negated).
    ///
    /// `energy_j / reference_energy_j` uses the energy attributed to this inference; the run's
    /// objective uses whole-board energy (idle power included), so the sum of shares differs
    /// from the run objective by the idle energy term only.
    #[inline]
    pub fn request_cost(
        &self,
        latency_ms: f64,
        slo_ms: f64,
        violated: bool,
        energy_j: f64,
        reference_energy_j: f64,
    ) -> f64 {
        let v = if violated { 1.0 } else { 0.0 };
        self.latency * latency_ms / slo_ms + self.violation * v + self.energy * energy_j / reference_energy_j
    }

    /// [`ObjectiveWeights::request_cost`] of a completed request.
    #[inline]
    pub fn outcome_cost(&self, o: &Outcome) -> f64 {
        self.request_cost(o.latency_ms, o.slo_ms, o.violated, o.energy_j, o.reference_energy_j)
    }
}

impl Default for ObjectiveWeights {
    fn default() -> Self {
        Self::BALANCED
    }
}
