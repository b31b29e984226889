//! The latency of one inference as the scheduler models it: a lognormal body (the profile's
//! mean and cv) and, on a processor that stalls, a rare multiple of it ([`Stall`]). The running
//! estimate and tail hedging ask it the same two questions: by when has an inference that is
//! still running most likely gone into its tail, and when is one in its tail expected to end.

use crate::stall::Stall;

/// Standard normal quantiles used below.
const Z90: f64 = 1.281_551_565_545;
const Z99: f64 = 2.326_347_874_041;

/// Latency distribution of one inference (stalls counted in `mean_ms`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LatencyTail {
    /// Mean latency, stalls included, ms.
    pub mean_ms: f64,
    /// Coefficient of variation of an inference that does not stall.
    pub cv: f64,
    /// How the processor stalls, if it does.
    pub stall: Option<Stall>,
}

impl LatencyTail {
    fn sigma(&self) -> f64 {
        (1.0 + self.cv * self.cv).ln().sqrt()
    }

    /// The stall, where inferences really stall ([`Stall::stalls`]).
    pub fn stall(&self) -> Option<Stall> {
        self.stall.filter(Stall::stalls)
    }

    /// Mean of an inference that does not stall, ms.
    pub fn body_mean_ms(&self) -> f64 {
        self.mean_ms / self.stall().map_or(1.0, |s| s.mean_factor())
    }

    fn body_quantile_ms(&self, z: f64) -> f64 {
        let s = self.sigma();
        self.body_mean_ms() * (z * s - s * s / 2.0).exp()
    }

    /// Past this many ms an inference is in its tail: where it stalls, past its body's 99th
    /// percentile (it has most likely stalled); elsewhere past its 90th percentile.
    pub fn tail_after_ms(&self) -> f64 {
        match self.stall() {
            Some(s) => self.body_quantile_ms(Z99).min(self.body_mean_ms() * s.factor),
            None => self.body_quantile_ms(Z90),
        }
    }

    /// Expected latency of an inference known to have run past [`LatencyTail::tail_after_ms`].
    pub fn mean_in_tail_ms(&self) -> f64 {
        let s = self.sigma();
        let body = self.body_mean_ms();
        // E[X | X > q_z] of a lognormal: mean * Phi(sigma - z) / (1 - Phi(z)).
        let conditional = |z: f64, tail: f64| {
            if s == 0.0 {
                body
            } else {
                body * upper(z - s) / tail
            }
        };
        match self.stall() {
            Some(st) => {
                let p = st.probability;
                let stalled_share = p / (p + (1.0 - p) * 0.01);
                stalled_share * body * st.factor + (1.0 - stalled_share) * conditional(Z99, 0.01)
            }
            None => conditional(Z90, 0.1),
        }
    }
}

/// P(Z > z) of a standard normal.
fn upper(z: f64) -> f64 {
    0.5 * libm::erfc(z / std::f64::consts::SQRT_2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lognormal_tail_matches_its_closed_form() {
        let t = LatencyTail {
            mean_ms: 5.0,
            cv: 0.6,
            stall: None,
        };
        // p90 of a lognormal of mean 5, cv 0.6: 5 * exp(1.2816 * 0.5545 - 0.5545^2 / 2) = 8.726,
        // and the mean above it 11.68 (2 million draws give 8.724 and 11.67).
        assert!((t.tail_after_ms() - 8.726).abs() < 0.001, "{}", t.tail_after_ms());
        assert!((t.mean_in_tail_ms() - 11.680).abs() < 0.001, "{}", t.mean_in_tail_ms());
    }

    #[test]
    fn a_stall_moves_the_tail_to_the_stalled_length() {
        let stall = Stall {
            probability: 0.03,
            factor: 8.0,
        };
        let t = LatencyTail {
            mean_ms: 5.0,
            cv: 0.3,
            stall: Some(stall),
        };
        let body = 5.0 / stall.mean_factor();
        assert!((t.body_mean_ms() - body).abs() < 1e-12);
        assert!(t.tail_after_ms() > body && t.tail_after_ms() < 3.0 * body);
        // Three in four inferences past the body's p99 have stalled.
        assert!(t.mean_in_tail_ms() > 0.7 * 8.0 * body, "{}", t.mean_in_tail_ms());
    }
}
