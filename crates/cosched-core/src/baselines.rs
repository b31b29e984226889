//! Baseline policies: Band's scheduler set plus a few more, so that "the learned policy wins"
//! means something.

use crate::batching::{DynamicBatching, KumBatching};
use crate::device::DeviceProfile;
use crate::ids::{ModelId, ProcessorId};
use crate::objective::ObjectiveWeights;
use crate::observation::{Observation, ProcessorView};
use crate::policy::{Action, Policy, QueueOrder};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Names accepted by [`baseline`], in the order `compare` runs them.
pub const BASELINE_NAMES: &[&str] = &[
    "fastest-only",
    "round-robin",
    "random",
    "least-loaded",
    "shortest-expected-latency",
    "earliest-finish",
    "least-slack",
    "energy-greedy",
    "objective-greedy",
];

/// Batching baselines accepted by [`baseline`] besides [`BASELINE_NAMES`]: Kum et al.'s rule
/// and Triton's dynamic batcher, both placing by earliest finish ([`crate::batching`]). They
/// are not among the placement baselines that `compare` and `evaluate` run by default.
pub const BATCHING_BASELINE_NAMES: &[&str] = &["kum", "triton-batcher"];

/// Build a baseline policy by name for `device`; `None` for an unknown name.
///
/// ```
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
/// let p = cosched_core::baseline("earliest-finish", &device, Default::default()).unwrap();
/// assert_eq!(p.name(), "earliest-finish");
/// ```
pub fn baseline(name: &str, device: &DeviceProfile, weights: ObjectiveWeights) -> Option<Box<dyn Policy>> {
    Some(match name {
        "fastest-only" => Box::new(FastestOnly::new(device)),
        "round-robin" => Box::new(RoundRobin::default()),
        "random" => Box::new(RandomPolicy::new(0)),
        "least-loaded" => Box::new(LeastLoaded),
        "shortest-expected-latency" => Box::new(ShortestExpectedLatency),
        "earliest-finish" => Box::new(EarliestFinish),
        "least-slack" => Box::new(LeastSlack),
        "energy-greedy" => Box::new(EnergyGreedy),
        "objective-greedy" => Box::new(ObjectiveGreedy::new(weights)),
        "kum" => Box::new(KumBatching::new(Box::new(EarliestFinish), device, "kum".into())),
        "triton-batcher" => Box::new(DynamicBatching::new(
            Box::new(EarliestFinish),
            device,
            DynamicBatching::DEFAULT_MAX_QUEUE_DELAY_US,
            "triton-batcher".into(),
        )),
        _ => return None,
    })
}

/// Every request to the processor with the lowest *profiled* latency for its model (usually the
/// GPU): the "run everything on the GPU" deployment. Falls back to the next fastest only when
/// that processor is unavailable.
#[derive(Debug, Clone)]
pub struct FastestOnly {
    // Processors per model, fastest first.
    ranking: Vec<Vec<ProcessorId>>,
}

impl FastestOnly {
    /// Rank the processors of every model by profiled latency.
    pub fn new(device: &DeviceProfile) -> FastestOnly {
        let ranking = (0..device.models.len())
            .map(|m| {
                let mut ps: Vec<(f64, ProcessorId)> = (0..device.processors.len())
                    .filter_map(|p| {
                        let p = ProcessorId(p as u16);
                        device.on(ModelId(m as u16), p).map(|o| (o.mean_ms, p))
                    })
                    .collect();
                ps.sort_by(|a, b| a.0.total_cmp(&b.0));
                ps.into_iter().map(|(_, p)| p).collect()
            })
            .collect();
        FastestOnly { ranking }
    }
}

impl Policy for FastestOnly {
    fn name(&self) -> &str {
        "fastest-only"
    }
    fn decide(&mut self, obs: &Observation) -> Action {
        let ranked = self
            .ranking
            .get(obs.request.model.index())
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        let p = ranked
            .iter()
            .copied()
            .find(|&p| obs.is_valid(p))
            .or_else(|| obs.valid().next())
            .unwrap_or(ProcessorId(0));
        Action::to(p)
    }
}

/// Cycles through the processors, skipping those that cannot take the request.
#[derive(Debug, Clone, Default)]
pub struct RoundRobin {
    next: usize,
}

impl Policy for RoundRobin {
    fn name(&self) -> &str {
        "round-robin"
    }
    fn decide(&mut self, obs: &Observation) -> Action {
        let n = obs.processors.len().max(1);
        for k in 0..n {
            let i = (self.next + k) % n;
            if obs.processors[i].available {
                self.next = (i + 1) % n;
                return Action::to(ProcessorId(i as u16));
            }
        }
        Action::to(ProcessorId(0))
    }
    fn reset(&mut self, _seed: u64) {
        self.next = 0;
    }
}

/// Uniformly random among the valid processors (seeded, so runs are reproducible).
#[derive(Debug, Clone)]
pub struct RandomPolicy {
    rng: ChaCha8Rng,
}

impl RandomPolicy {
    /// A random policy with its own seed.
    pub fn new(seed: u64) -> RandomPolicy {
        RandomPolicy {
            rng: ChaCha8Rng::seed_from_u64(seed),
        }
    }
}

impl Policy for RandomPolicy {
    fn name(&self) -> &str {
        "random"
    }
    fn decide(&mut self, obs: &Observation) -> Action {
        let n = obs.processors.iter().filter(|v| v.available).count();
        let k = if n > 0 { self.rng.random_range(0..n) } else { 0 };
        Action::to(obs.valid().nth(k).unwrap_or(ProcessorId(0)))
    }
    fn reset(&mut self, seed: u64) {
        self.rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5eed_0f7a_11d0);
    }
}

/// Shortest queue: fewest requests queued or running per slot; ties go to the faster processor.
#[derive(Debug, Clone, Copy, Default)]
pub struct LeastLoaded;

impl Policy for LeastLoaded {
    fn name(&self) -> &str {
        "least-loaded"
    }
    fn decide(&mut self, obs: &Observation) -> Action {
        let p = obs.argmin_valid(|v| {
            let load = (f64::from(v.queue_len) + f64::from(v.in_flight)) / f64::from(v.slots.max(1));
            // Latency only breaks ties: it is far below one request of load.
            load + v.est_latency_ms * 1e-9
        });
        Action::to(p.unwrap_or(ProcessorId(0)))
    }
}

/// Band's shortest expected latency, on whole models: the processor whose *online* latency
/// estimate for the model is lowest, ignoring its queue. Unlike `fastest-only` it follows the
/// estimator, so it moves away from a processor observed to be slower than its profile.
#[derive(Debug, Clone, Copy, Default)]
pub struct ShortestExpectedLatency;

impl Policy for ShortestExpectedLatency {
    fn name(&self) -> &str {
        "shortest-expected-latency"
    }
    fn decide(&mut self, obs: &Observation) -> Action {
        Action::to(obs.argmin_valid(|v| v.est_latency_ms).unwrap_or(ProcessorId(0)))
    }
}

/// HEFT-style earliest finish: the processor minimising estimated queue wait plus latency.
#[derive(Debug, Clone, Copy, Default)]
pub struct EarliestFinish;

impl Policy for EarliestFinish {
    fn name(&self) -> &str {
        "earliest-finish"
    }
    fn decide(&mut self, obs: &Observation) -> Action {
        Action::to(obs.argmin_valid(ProcessorView::est_finish_ms).unwrap_or(ProcessorId(0)))
    }
}

/// Band's least-slack-time-first: places by earliest finish, and every queue serves the request
/// with the least slack (deadline minus expected latency) first.
#[derive(Debug, Clone, Copy, Default)]
pub struct LeastSlack;

impl Policy for LeastSlack {
    fn name(&self) -> &str {
        "least-slack"
    }
    fn decide(&mut self, obs: &Observation) -> Action {
        Action::to(obs.argmin_valid(ProcessorView::est_finish_ms).unwrap_or(ProcessorId(0)))
    }
    fn queue_order(&self) -> QueueOrder {
        QueueOrder::LeastSlackFirst
    }
}

/// The least energy per inference among processors expected to meet the deadline; the
/// earliest finish when none is.
#[derive(Debug, Clone, Copy, Default)]
pub struct EnergyGreedy;

impl Policy for EnergyGreedy {
    fn name(&self) -> &str {
        "energy-greedy"
    }
    fn decide(&mut self, obs: &Observation) -> Action {
        let remaining = obs.request.deadline_ms() - obs.now_ms;
        let meets = obs.argmin_valid(|v| {
            if v.est_finish_ms() <= remaining {
                v.est_energy_j
            } else {
                f64::INFINITY
            }
        });
        let p = match meets {
            Some(p) if obs.processors[p.index()].est_finish_ms() <= remaining => p,
            _ => obs.argmin_valid(ProcessorView::est_finish_ms).unwrap_or(ProcessorId(0)),
        };
        Action::to(p)
    }
}

/// The strongest myopic heuristic: each request goes where its own expected share of the
/// objective is lowest: expected latency / SLO + violation weight x P(miss) + energy weight x
/// energy / reference energy. P(miss) assumes lognormal latency with the profile's coefficient
/// of variation behind the estimated queue wait.
#[derive(Debug, Clone, Copy)]
pub struct ObjectiveGreedy {
    weights: ObjectiveWeights,
}

impl ObjectiveGreedy {
    /// With these objective weights.
    pub fn new(weights: ObjectiveWeights) -> ObjectiveGreedy {
        ObjectiveGreedy { weights }
    }
}

/// Probability that a lognormal latency with `mean` and coefficient of variation `cv` exceeds
/// `budget` (all in ms).
pub fn prob_exceeds(mean: f64, cv: f64, budget: f64) -> f64 {
    if budget <= 0.0 {
        return 1.0;
    }
    if cv <= 0.0 || mean <= 0.0 {
        return if mean > budget { 1.0 } else { 0.0 };
    }
    let s2 = (1.0 + cv * cv).ln();
    let mu = mean.ln() - s2 / 2.0;
    let z = (budget.ln() - mu) / s2.sqrt();
    0.5 * libm::erfc(z / std::f64::consts::SQRT_2)
}

impl Policy for ObjectiveGreedy {
    fn name(&self) -> &str {
        "objective-greedy"
    }
    fn decide(&mut self, obs: &Observation) -> Action {
        let r = &obs.request;
        let elapsed = obs.now_ms - r.arrival_ms;
        let w = self.weights;
        let p = obs.argmin_valid(|v| {
            let latency = elapsed + v.est_finish_ms();
            let miss = prob_exceeds(v.est_latency_ms, v.latency_cv, r.slo_ms - elapsed - v.backlog_ms);
            w.latency * latency / r.slo_ms + w.violation * miss + w.energy * v.est_energy_j / r.reference_energy_j
        });
        Action::to(p.unwrap_or(ProcessorId(0)))
    }
}
