//! Online latency estimates per (model, processor), as Band keeps them.

use crate::device::DeviceProfile;
use crate::ids::{ModelId, ProcessorId};
use crate::stall::Stall;
use crate::tail::LatencyTail;

/// Exponential moving average of the batch-1 latency of every (model, processor) pair, seeded
/// from the device profile and updated from completions.
///
/// Decisions in the simulator and on hardware both read this estimate, never the profile
/// directly, so a policy sees the same kind of information in both worlds, and a profile that
/// is a little wrong heals as completions come in.
///
/// ```
/// # use cosched_core::{LatencyEstimator, ModelId, ProcessorId};
/// # let device = cosched_core::DeviceProfile::from_toml_str(r#"
/// # name = "d"
/// # source = "s"
/// # [[processor]]
/// # id = "cpu"
/// # kind = "cpu"
/// # ep = "cpu"
/// # slots = 1
/// # idle_power_w = 0.0
/// # busy_power_w = 1.0
/// # [[model]]
/// # name = "m"
/// # memory_mb = 1.0
/// # latency_ms = { cpu = 10.0 }
/// # "#, "d.toml").unwrap();
/// let mut est = LatencyEstimator::new(&device, 0.5);
/// est.update(ModelId(0), ProcessorId(0), 20.0);
/// assert_eq!(est.estimate(ModelId(0), ProcessorId(0)), Some(15.0));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct LatencyEstimator {
    n_proc: usize,
    alpha: f64,
    // NaN marks a pair that cannot run; kept flat for cache-friendly lookups on the hot path.
    mean_ms: Vec<f64>,
}

impl LatencyEstimator {
    /// Default smoothing factor: the weight of the newest observation.
    pub const DEFAULT_ALPHA: f64 = 0.1;

    /// Seed every pair from the profile; `alpha` in (0, 1] is the weight of a new observation.
    pub fn new(device: &DeviceProfile, alpha: f64) -> LatencyEstimator {
        let n_proc = device.processors.len();
        let mut mean_ms = Vec::with_capacity(n_proc * device.models.len());
        for m in &device.models {
            mean_ms.extend(m.on.iter().map(|o| o.as_ref().map_or(f64::NAN, |o| o.mean_ms)));
        }
        LatencyEstimator {
            n_proc,
            // NaN would poison every estimate (NaN marks "cannot run"): fall back to the default.
            alpha: if alpha.is_nan() {
                Self::DEFAULT_ALPHA
            } else {
                alpha.clamp(1e-6, 1.0)
            },
            mean_ms,
        }
    }

    /// Current estimate of the batch-1 latency at full frequency, ms; `None` if the pair cannot run.
    #[inline]
    pub fn estimate(&self, model: ModelId, processor: ProcessorId) -> Option<f64> {
        let v = self.mean_ms[model.index() * self.n_proc + processor.index()];
        (!v.is_nan()).then_some(v)
    }

    /// Fold in an observed batch-1-equivalent latency at full frequency, ms. Non-finite or
    /// non-positive observations and pairs that cannot run are ignored.
    #[inline]
    pub fn update(&mut self, model: ModelId, processor: ProcessorId, observed_ms: f64) {
        let slot = &mut self.mean_ms[model.index() * self.n_proc + processor.index()];
        if !slot.is_nan() && observed_ms.is_finite() && observed_ms > 0.0 {
            *slot += self.alpha * (observed_ms - *slot);
        }
    }
}

/// When a running inference will finish, as the simulator and the executor both estimate it for
/// the policy's backlog.
///
/// Until its expected end, the time left is the time to that end. Past it, the inference is
/// still running, so it is not about to finish "now": its expected residual is taken as the mean
/// residual of a normal latency at its mean, `sigma * phi(0) / (1 - Phi(0))`, about `0.8 * cv`
/// of its expected duration (at least 2 %). With zero, a busy processor whose inference had
/// overrun looked exactly as free as an idle one, and a request could be queued behind it while
/// an identical processor sat idle (seen as p99 at 2x the service time in closed loops).
///
/// On a processor that stalls ([`Stall`]), an inference still running well past what its body
/// would take (the body's 99th percentile) has most likely stalled: from then on its end is
/// expected at the stalled length, so that requests stop queueing behind it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RunningEstimate {
    end_ms: f64,
    residual_floor_ms: f64,
    /// Past this, the inference is taken to have stalled (infinite without stalls).
    stalled_after_ms: f64,
    /// The expected end of a stalled inference.
    stalled_end_ms: f64,
}

impl Default for RunningEstimate {
    fn default() -> Self {
        RunningEstimate {
            end_ms: 0.0,
            residual_floor_ms: 0.0,
            stalled_after_ms: f64::INFINITY,
            stalled_end_ms: 0.0,
        }
    }
}

impl RunningEstimate {
    /// An inference starting at `now_ms`, expected to take `expected_ms` (stalls included) with
    /// coefficient of variation `cv` (of an inference that does not stall), on a processor that
    /// stalls as `stall` says.
    pub fn start(now_ms: f64, expected_ms: f64, cv: f64, stall: Option<Stall>) -> RunningEstimate {
        let expected_ms = expected_ms.max(0.0);
        let tail = LatencyTail {
            mean_ms: expected_ms,
            cv,
            stall,
        };
        let (stalled_after_ms, stalled_end_ms) = match tail.stall() {
            Some(s) => (now_ms + tail.tail_after_ms(), now_ms + tail.body_mean_ms() * s.factor),
            None => (f64::INFINITY, 0.0),
        };
        RunningEstimate {
            end_ms: now_ms + expected_ms,
            residual_floor_ms: (0.8 * cv.max(0.0)).max(0.02) * expected_ms,
            stalled_after_ms,
            stalled_end_ms,
        }
    }

    /// Expected time left at `now_ms`, ms.
    pub fn remaining_ms(&self, now_ms: f64) -> f64 {
        let end = if now_ms > self.stalled_after_ms {
            self.stalled_end_ms
        } else {
            self.end_ms
        };
        (end - now_ms).max(self.residual_floor_ms)
    }

    /// The expected end, ms.
    pub fn end_ms(&self) -> f64 {
        self.end_ms
    }
}
