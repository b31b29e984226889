//! Stalls: the rare inference that takes several times its usual latency on a processor.
//!
//! A GPU shared with a display compositor or another process is time-sliced, a clock drops for
//! a thermal or power limit, a driver flushes: the inference that meets one takes a multiple of
//! its usual time. A lognormal body alone does not have such a tail (at a cv of 0.6 its 99th
//! percentile is 3.1x the mean; one stall in thirty at 8x puts it at 8x), and the tail is what
//! a hedged copy cuts. The simulator draws a stall independently for every inference; real
//! runs have whatever stalls the board has.

use crate::error::{positive_below, ConfigError};
use serde::{Deserialize, Serialize};

/// With probability `probability` an inference on the processor takes `factor` times the
/// latency it drew.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stall {
    /// Share of inferences that stall, in [0, 1).
    pub probability: f64,
    /// How many times its drawn latency a stalled inference takes, >= 1.
    pub factor: f64,
}

impl Stall {
    /// Check the ranges; `field` names the table in errors.
    pub(crate) fn validate(self, file: &str, field: &str) -> Result<Stall, ConfigError> {
        let p = self.probability;
        if !(0.0..1.0).contains(&p) {
            return Err(ConfigError::invalid(
                file,
                format!("{field}.probability"),
                format!("{p} is outside [0, 1)"),
            ));
        }
        let k = positive_below(file, &format!("{field}.factor"), self.factor, 1000.0)?;
        if k < 1.0 {
            return Err(ConfigError::invalid(
                file,
                format!("{field}.factor"),
                format!("{k} is below 1 (a stall makes an inference slower)"),
            ));
        }
        Ok(self)
    }

    /// Whether inferences really stall: some do (`probability > 0`) and a stall is slower
    /// (`factor > 1`). A profile may write either as a no-op.
    pub fn stalls(&self) -> bool {
        self.probability > 0.0 && self.factor > 1.0
    }

    /// Mean latency with stalls over mean latency without.
    pub fn mean_factor(&self) -> f64 {
        1.0 - self.probability + self.probability * self.factor
    }

    /// Coefficient of variation of the latency when the body (an inference that does not stall)
    /// has coefficient of variation `body_cv`.
    pub fn cv_with(&self, body_cv: f64) -> f64 {
        let (p, k) = (self.probability, self.factor);
        let second = (1.0 + body_cv * body_cv) * (1.0 - p + p * k * k);
        (second / (self.mean_factor() * self.mean_factor()) - 1.0)
            .max(0.0)
            .sqrt()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moments_of_the_mixture() {
        let none = Stall {
            probability: 0.0,
            factor: 8.0,
        };
        assert_eq!(none.mean_factor(), 1.0);
        assert!((none.cv_with(0.6) - 0.6).abs() < 1e-12);
        // Deterministic body, one in ten at 2x: mean 1.1, second moment 1.3, cv = sqrt(1.3/1.21 - 1).
        let s = Stall {
            probability: 0.1,
            factor: 2.0,
        };
        assert!((s.mean_factor() - 1.1).abs() < 1e-12);
        assert!((s.cv_with(0.0) - (1.3f64 / 1.21 - 1.0).sqrt()).abs() < 1e-12);
    }

    #[test]
    fn out_of_range_values_are_named() {
        let bad = |p, k| {
            Stall {
                probability: p,
                factor: k,
            }
            .validate("d.toml", "processor[0].stall")
            .unwrap_err()
            .to_string()
        };
        assert!(
            bad(1.0, 4.0).contains("processor[0].stall.probability"),
            "{}",
            bad(1.0, 4.0)
        );
        assert!(bad(-0.1, 4.0).contains("outside [0, 1)"));
        assert!(bad(0.1, 0.5).contains("processor[0].stall.factor"));
        assert!(bad(0.1, f64::NAN).contains("processor[0].stall.factor"));
    }
}
