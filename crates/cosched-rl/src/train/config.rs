//! What a training run is given: its settings, the method, where burn runs, and the defaults
//! the shipped policies were trained with.

use crate::error::RlError;
use crate::features::PriorForm;
use crate::options::RULES;
use burn::prelude::*;
use cosched_core::{DeviceProfile, ObjectiveWeights, Workload};
use std::path::PathBuf;

/// Built-in workloads kept out of training, to measure generalisation to mixes never seen.
pub const HELD_OUT_WORKLOADS: &[&str] = &["mixed-slo", "bursty-multitenant"];

/// The scenario seed training episodes are drawn from by default (training family).
pub const TRAIN_FAMILY: u64 = 1000;

/// The scenario seed the weights are selected on by default: in the validation family, and
/// apart from seed 2000, which design choices are measured on (docs/training.md).
pub const SELECTION_FAMILY: u64 = 2500;

/// Default spread of the randomised boards (see [`TrainConfig::perturb`]).
pub const PERTURB: f64 = 0.35;

/// A request's cost is clipped here before it becomes a reward: under overload a single
/// request can cost hundreds of deadlines, which would swamp every gradient.
pub(crate) const MAX_REQUEST_COST: f64 = 12.0;

/// Where burn trains the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TrainBackend {
    /// burn's `flex` CPU backend (always built).
    #[default]
    Flex,
    /// A GPU through wgpu (Vulkan, Metal, DX12; the adapter wgpu prefers). Needs the `wgpu`
    /// cargo feature.
    Wgpu,
}

impl TrainBackend {
    /// `flex` or `wgpu`.
    pub fn parse(s: &str) -> Option<TrainBackend> {
        match s {
            "flex" | "cpu" => Some(TrainBackend::Flex),
            "wgpu" | "gpu" => Some(TrainBackend::Wgpu),
            _ => None,
        }
    }

    /// The burn device, checked by running one small operation on it: a wgpu build on a machine
    /// without a usable adapter fails here with a message instead of panicking mid-training.
    pub fn device(self) -> Result<Device, RlError> {
        match self {
            TrainBackend::Flex => Ok(Device::flex()),
            #[cfg(feature = "wgpu")]
            TrainBackend::Wgpu => {
                let probe = std::panic::catch_unwind(|| {
                    let d = Device::wgpu(burn::tensor::DeviceKind::DefaultDevice);
                    let t = Tensor::<1>::from_data(TensorData::new(vec![1.0f32, 2.0], [2]), &d);
                    let sum: f32 = t.sum().into_scalar();
                    (d, sum)
                });
                match probe {
                    Ok((d, sum)) if (sum - 3.0).abs() < 1e-6 => Ok(d),
                    Ok((_, sum)) => Err(RlError::Config(format!("the wgpu device computed 1 + 2 = {sum}"))),
                    Err(_) => Err(RlError::Config(
                        "no usable wgpu adapter (install a Vulkan/Metal/DX12 driver, or train with --backend flex)"
                            .into(),
                    )),
                }
            }
            #[cfg(not(feature = "wgpu"))]
            TrainBackend::Wgpu => Err(RlError::Config(
                "this build has no wgpu backend: rebuild with `--features wgpu`".into(),
            )),
        }
    }
}

/// Settings of one training run. [`TrainConfig::new`] gives the defaults used for the shipped
/// policies.
#[derive(Debug, Clone)]
pub struct TrainConfig {
    /// The device profile the policy is for.
    pub device: DeviceProfile,
    /// Training workloads (name, workload).
    pub workloads: Vec<(String, Workload)>,
    /// Fraction of episodes that run a randomised workload (a generated scenario of
    /// `train_family`, or a random mix) instead of one of `workloads`.
    pub random_mix_fraction: f64,
    /// Where those randomised episodes come from: scenarios `0..train_family.1` of seed
    /// `train_family.0` of the scenario generator (docs/scenarios.md: training seeds are
    /// 1000-1999), one drawn per episode. `None`: the older random mixes of
    /// [`random_workload`](super::random_workload).
    pub train_family: Option<(u64, u64)>,
    /// What the weights are selected on: scenarios `0..validation.1` of seed `validation.0`
    /// (a validation seed, 2000-2999), at `eval_loads`. `None`: the training workloads and
    /// `eval_random_mixes` random mixes, as before (selection then favours what was trained on).
    pub validation: Option<(u64, u64)>,
    /// Name of the objective (`balanced`, `latency`, `energy`, or the weights).
    pub objective_name: String,
    /// Objective weights: the reward is minus each request's share of this objective.
    pub weights: ObjectiveWeights,
    /// Environment steps (placements) to train for.
    pub steps: u64,
    /// Seed of everything random in training.
    pub seed: u64,
    /// Width of the two hidden layers.
    pub hidden: usize,
    /// Minibatch size.
    pub batch: usize,
    /// Discount per placement.
    pub gamma: f32,
    /// Adam learning rate.
    pub learning_rate: f64,
    /// One gradient update every this many placements.
    pub train_every: u64,
    /// Updates between copies of the online network into the target network.
    pub target_sync: u64,
    /// Replay buffer capacity, transitions.
    pub replay_capacity: usize,
    /// Exploration: epsilon from `epsilon.0` down to `epsilon.1` over the first half of training.
    pub epsilon: (f64, f64),
    /// Simulated seconds per training episode (uniform in this range).
    pub episode_s: (f64, f64),
    /// An episode is shortened so that about this many requests arrive in it: on a fast board
    /// 10 s of a saturating mix is tens of thousands of placements, and a run would see only a
    /// handful of (workload, load, board) draws. Many short episodes cover more of them.
    pub episode_placements: f64,
    /// Load of a training episode (uniform in this range; the upper end overloads).
    pub load: (f64, f64),
    /// Each latency and power figure of the episode's true board is the profile's times
    /// U(1 - perturb, 1 + perturb).
    pub perturb: f64,
    /// Placements between evaluations.
    pub eval_every: u64,
    /// Loads of the evaluation cases.
    pub eval_loads: Vec<f64>,
    /// Simulated seconds of an evaluation run.
    pub eval_duration_s: f64,
    /// Random mixes (seeded from `seed`) added to the evaluation cases, each at loads 0.8 and 1.0.
    pub eval_random_mixes: usize,
    /// Weights are kept only if no evaluation case is worse than the prior's by more than this
    /// fraction.
    pub max_case_regression: f64,
    /// Prior forms: training learns corrections to the first; the untrained policy of each
    /// other is a candidate to keep like a checkpoint (see [`PriorForm`]).
    pub prior_forms: Vec<PriorForm>,
    /// Write a [`Checkpoint`](crate::Checkpoint) here at every evaluation.
    pub checkpoint_dir: Option<PathBuf>,
    /// Resume from this checkpoint (same device, objective, seed and width; see
    /// [`crate::checkpoint`] for what a resumed run does not restore).
    pub resume_from: Option<PathBuf>,
    /// Where burn computes the updates. Acting and evaluation always use the plain forward on
    /// the CPU: at batch 1 it is faster than any GPU round trip.
    pub backend: TrainBackend,
    /// How experience becomes training targets.
    pub method: TrainMethod,
}

/// How [`train`](super::train) turns experience into targets for the network.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum TrainMethod {
    /// Double DQN: one-step bootstrapped targets from a replay buffer.
    Dqn,
    /// The network's outputs are placement rules ([`crate::options::RULES`]), and its targets
    /// are rollouts: at every `every`-th placement, each rule is followed from there in a copy
    /// of the simulator, and the network learns the differences between their returns.
    Rules {
        /// Placements between two sampled decisions.
        every: u64,
        /// Placements a rollout counts.
        horizon: usize,
    },
}

impl TrainMethod {
    /// `dqn`, or `rules` with its defaults (a sample every 8 placements, rollouts of 100).
    pub fn parse(s: &str) -> Option<TrainMethod> {
        match s {
            "dqn" => Some(TrainMethod::Dqn),
            "rules" => Some(TrainMethod::Rules { every: 8, horizon: 100 }),
            _ => None,
        }
    }

    /// The name [`TrainMethod::parse`] reads.
    pub fn name(&self) -> &'static str {
        match self {
            TrainMethod::Dqn => "dqn",
            TrainMethod::Rules { .. } => "rules",
        }
    }

    /// Outputs of the network for a device of `n_proc` processors.
    pub fn outputs(&self, n_proc: usize) -> usize {
        match self {
            TrainMethod::Rules { .. } => RULES.len(),
            _ => n_proc,
        }
    }
}

impl TrainConfig {
    /// Defaults for `device`: every built-in workload but [`HELD_OUT_WORKLOADS`], balanced
    /// objective.
    pub fn new(device: DeviceProfile) -> TrainConfig {
        let workloads = Workload::builtin_names()
            .filter(|n| !HELD_OUT_WORKLOADS.contains(n))
            .filter_map(|n| Workload::builtin(n).map(|w| (n.to_string(), w)))
            .collect();
        TrainConfig {
            device,
            workloads,
            random_mix_fraction: 0.5,
            train_family: Some((TRAIN_FAMILY, 1000)),
            validation: Some((SELECTION_FAMILY, 12)),
            objective_name: "balanced".into(),
            weights: ObjectiveWeights::BALANCED,
            steps: 500_000,
            seed: 1,
            hidden: 64,
            batch: 64,
            gamma: 0.99,
            learning_rate: 5e-4,
            train_every: 4,
            target_sync: 500,
            replay_capacity: 100_000,
            epsilon: (0.2, 0.02),
            episode_s: (5.0, 15.0),
            episode_placements: 4000.0,
            load: (0.3, 1.2),
            perturb: PERTURB,
            eval_every: 50_000,
            eval_loads: vec![0.5, 0.8, 0.95],
            eval_duration_s: 40.0,
            eval_random_mixes: 4,
            max_case_regression: 0.1,
            prior_forms: PriorForm::ALL.to_vec(),
            checkpoint_dir: None,
            resume_from: None,
            backend: TrainBackend::Flex,
            method: TrainMethod::Dqn,
        }
    }
}
