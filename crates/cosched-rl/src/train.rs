//! Training the agent in the simulator: randomised workloads, loads and profiles, Double DQN
//! updates with burn, periodic evaluation, best-checkpoint selection.

use crate::checkpoint::{load_checkpoint, save_checkpoint, Checkpoint, CheckpointState, CHECKPOINT_FORMAT};
use crate::error::RlError;
use crate::features::{is_candidate, PriorForm};
use crate::net::QNet;
use crate::options::RULES;
use crate::plain::PlainMlp;
use crate::policy::DrlPolicy;
use crate::policy_file::device_hash;
use crate::rollout::{RolloutScratch, RolloutSpec, Samples};
use burn::nn::loss::{HuberLossConfig, Reduction};
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use cosched_core::{Arrival, DeviceProfile, ObjectiveWeights, Observation, Outcome, QueueOrder, Slo, Stream, Workload};
use cosched_sim::{simulate, SimConfig, SimEnv};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

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
    /// [`random_workload`].
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
    /// Write a [`Checkpoint`] here at every evaluation.
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

/// How [`train`] turns experience into targets for the network.
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

/// Progress reported during [`train`].
#[derive(Debug, Clone, PartialEq)]
pub struct TrainProgress {
    /// Placements so far.
    pub step: u64,
    /// Placements in total.
    pub total: u64,
    /// Episodes finished.
    pub episodes: u64,
    /// Return (sum of rewards) of the last finished episode, per request.
    pub last_return_per_request: Option<f64>,
    /// Mean over evaluation cases of objective / prior's objective, at the last evaluation.
    pub eval_ratio: Option<f64>,
    /// The best such ratio so far (the weights kept).
    pub best_ratio: f64,
}

/// One evaluation case and its result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalCase {
    /// Workload name.
    pub workload: String,
    /// Load.
    pub load: f64,
    /// Objective of the trained policy.
    pub objective: f64,
    /// Objective of the prior alone (objective-greedy placement, least-slack queues).
    pub prior_objective: f64,
    /// Objective of the best of the baselines on this case.
    #[serde(default)]
    pub best_baseline_objective: f64,
}

/// The outcome of [`train`]: the best network found, in burn's format and as plain weights.
#[derive(Debug, Clone)]
pub struct TrainedPolicy {
    /// Weights in burn's file format (burnpack).
    pub weights: Vec<u8>,
    /// The same weights for the deployed forward.
    pub plain: PlainMlp,
    /// The network at the end of training (kept or not), for diagnostics and tests.
    pub last: PlainMlp,
    /// Hidden width.
    pub hidden: usize,
    /// The rule the network's output is added to.
    pub prior: PriorForm,
    /// Placements trained.
    pub steps: u64,
    /// Placement at which the kept weights were evaluated (0: the untrained prior was best).
    pub best_step: u64,
    /// Evaluation of the kept weights.
    pub eval: Vec<EvalCase>,
    /// Mean objective ratio to the prior over the evaluation cases (lower is better).
    pub eval_ratio: f64,
    /// Selection score of the kept weights against the best baseline of each evaluation case:
    /// cases lost by more than 0.2 %, plus a fraction that orders ties by the cases lost at all
    /// and then by the mean shortfall (lower is better; below 1 loses no case clearly).
    pub score: f64,
    /// Seed of the run that produced the weights (see [`train_restarts`]).
    pub seed: u64,
    /// Wall-clock seconds spent.
    pub wall_s: f64,
}

struct Replay {
    inputs: usize,
    actions: usize,
    cap: usize,
    len: usize,
    next: usize,
    obs: Vec<f32>,
    next_obs: Vec<f32>,
    // The prior's values (one per action) of `obs` and `next_obs`: the prior is computed from
    // the unclipped observation, which the encoded vector does not hold.
    prior: Vec<f32>,
    next_prior: Vec<f32>,
    action: Vec<u16>,
    reward: Vec<f32>,
    done: Vec<bool>,
}

impl Replay {
    fn new(inputs: usize, actions: usize, cap: usize) -> Replay {
        Replay {
            inputs,
            actions,
            cap,
            len: 0,
            next: 0,
            obs: vec![0.0; inputs * cap],
            next_obs: vec![0.0; inputs * cap],
            prior: vec![0.0; actions * cap],
            next_prior: vec![0.0; actions * cap],
            action: vec![0; cap],
            reward: vec![0.0; cap],
            done: vec![false; cap],
        }
    }

    fn push(&mut self, now: &Pending, reward: f32, next: Option<&Pending>) {
        let i = self.next;
        let (n, k) = (self.inputs, self.actions);
        self.obs[i * n..(i + 1) * n].copy_from_slice(&now.obs);
        self.prior[i * k..(i + 1) * k].copy_from_slice(&now.prior);
        match next {
            Some(p) => {
                self.next_obs[i * n..(i + 1) * n].copy_from_slice(&p.obs);
                self.next_prior[i * k..(i + 1) * k].copy_from_slice(&p.prior);
            }
            None => {
                self.next_obs[i * n..(i + 1) * n].fill(0.0);
                self.next_prior[i * k..(i + 1) * k].fill(0.0);
            }
        }
        let action = now.action;
        self.action[i] = action;
        self.reward[i] = reward;
        self.done[i] = next.is_none();
        self.next = (i + 1) % self.cap;
        self.len = (self.len + 1).min(self.cap);
    }
}

/// A placement waiting for its request's outcome.
struct Pending {
    obs: Vec<f32>,
    prior: Vec<f32>,
    action: u16,
    reward: Option<f32>,
}

/// The device with every latency and power multiplied by U(1 - p, 1 + p).
pub fn perturbed(device: &DeviceProfile, p: f64, rng: &mut impl Rng) -> DeviceProfile {
    let mut d = device.clone();
    if p <= 0.0 {
        return d;
    }
    let f = |rng: &mut dyn rand::RngCore| 1.0 + rng.random_range(-p..p);
    for proc_ in &mut d.processors {
        let k = f(rng);
        proc_.idle_power_w *= k;
        proc_.busy_power_w *= k;
    }
    for m in &mut d.models {
        for o in m.on.iter_mut().flatten() {
            o.mean_ms *= f(rng);
        }
    }
    d
}

/// A random open-loop mix of the device's models (rates are relative: `--load` scales them).
pub fn random_workload(device: &DeviceProfile, rng: &mut impl Rng) -> Workload {
    let n_streams = rng.random_range(1..=4);
    let streams = (0..n_streams)
        .map(|i| {
            let model = &device.models[rng.random_range(0..device.models.len())].name;
            let rate = rng.random_range(1.0..20.0);
            let arrival = match rng.random_range(0..3) {
                0 => Arrival::Poisson { rate_hz: rate },
                1 => Arrival::Periodic { rate_hz: rate },
                _ => Arrival::Mmpp {
                    rates_hz: [rate * 0.5, rate * rng.random_range(2.0..6.0)],
                    dwell_s: [rng.random_range(0.5..4.0), rng.random_range(0.2..1.0)],
                },
            };
            Stream {
                name: format!("s{i}-{model}"),
                model: Some(model.clone()),
                arrival,
                slo: Slo::Factor(rng.random_range(2.0..15.0)),
            }
        })
        .collect();
    Workload {
        name: "random-mix".into(),
        description: "randomised training mix".into(),
        duration_s: 10.0,
        load: Some(0.7),
        streams,
    }
}

/// Train a policy. `progress` is called after every episode.
pub fn train(cfg: &TrainConfig, progress: &mut dyn FnMut(&TrainProgress)) -> Result<TrainedPolicy, RlError> {
    let started = std::time::Instant::now();
    let device = &cfg.device;
    if cfg.workloads.is_empty() {
        return Err(RlError::Config("no training workloads".into()));
    }
    if cfg.steps == 0 || cfg.batch == 0 || cfg.hidden == 0 {
        return Err(RlError::Config("steps, batch and hidden must be positive".into()));
    }
    let n_proc = device.processors.len();
    if n_proc > crate::MAX_PROCESSORS {
        return Err(RlError::Config(format!(
            "device \"{}\" has {n_proc} processors; a DRL policy places on at most {}",
            device.name,
            crate::MAX_PROCESSORS
        )));
    }
    let n_models = device.models.len();
    let inputs = Observation::feature_len(n_proc, n_models);
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);

    let bdev = cfg.backend.device()?.autodiff();
    let n_out = cfg.method.outputs(n_proc);
    let mut net = QNet::seeded(&bdev, cfg.seed, inputs, cfg.hidden, n_out);
    let mut optim = AdamConfig::new().init();
    let huber = HuberLossConfig::new(1.0).init();
    let mut replay = Replay::new(
        inputs,
        n_out,
        if cfg.method == TrainMethod::Dqn {
            cfg.replay_capacity
        } else {
            1
        },
    );

    // Evaluation: the prior alone is the first "best", so training can only keep improvements.
    let eval_cases = eval_cases(cfg)?;
    // What the weights are selected against: the best baseline of each case.
    let baseline_objectives: Vec<f64> = eval_cases
        .iter()
        .map(|(_, _, w)| best_baseline_objective(device, w, cfg))
        .collect();
    // Training learns corrections to the first prior form; the untrained policy of each other
    // form is one more candidate, kept where it scores better (see `PriorForm`).
    let form = *cfg
        .prior_forms
        .first()
        .ok_or_else(|| RlError::Config("no prior form to learn corrections to".into()))?;
    let objectives_of = |plain: &PlainMlp| -> Vec<f64> {
        eval_cases
            .iter()
            .map(|(_, _, w)| eval_objective(device, w, plain, cfg))
            .collect()
    };
    let untrained = |f: PriorForm| {
        let plain = plain_of(&net, cfg, f);
        let objectives = objectives_of(&plain);
        (plain, objectives)
    };
    let (mut acting, prior_objectives) = untrained(form);
    let mut target = acting.clone();
    let mut best_plain = acting.clone();
    let mut best_weights = net.to_bytes()?;
    let mut best_step = 0;
    let mut best_ratio = 1.0;
    let mut best_score = selection_score(&prior_objectives, &baseline_objectives);
    let mut best_objectives = prior_objectives.clone();
    tracing::info!(prior = form.name(), score = best_score, "untrained prior");
    for &other in &cfg.prior_forms[1..] {
        let (plain, objectives) = untrained(other);
        let score = selection_score(&objectives, &baseline_objectives);
        tracing::info!(prior = other.name(), score, "untrained prior");
        if score < best_score {
            best_score = score;
            best_ratio = mean_ratio(&objectives, &prior_objectives);
            best_plain = plain;
            best_objectives = objectives;
        }
    }
    let mut last_ratio = None;

    let mut x = vec![0.0f32; inputs];
    let mut scratch = vec![0.0f32; acting.scratch_len()];
    let mut q = vec![0.0f32; n_out];
    let mut prior = vec![0.0f32; n_out];
    let mut outcomes: Vec<Outcome> = Vec::new();
    let mut step: u64 = 0;
    let mut updates: u64 = 0;
    let mut episodes: u64 = 0;
    let mut next_eval = cfg.eval_every;
    if let Some(dir) = &cfg.resume_from {
        let ck = load_checkpoint(dir)?;
        check_fits(dir, &ck.state, cfg, eval_cases.len())?;
        let load = |bytes: &[u8]| {
            QNet::from_bytes(&bdev, inputs, cfg.hidden, n_out, bytes).map_err(|e| RlError::Checkpoint {
                dir: dir.display().to_string(),
                problem: format!("weights: {e:?}"),
            })
        };
        net = load(&ck.online)?;
        // Kept at placement 0: the untrained winner, whose form was chosen above.
        let best_form = if ck.state.best_step == 0 {
            best_plain.prior_form()
        } else {
            form
        };
        best_plain = plain_of(&load(&ck.best)?, cfg, best_form);
        best_weights = ck.best;
        let s = ck.state;
        (step, updates, episodes, next_eval) = (s.step, s.updates, s.episodes, s.next_eval);
        (best_step, best_ratio, best_objectives, last_ratio) =
            (s.best_step, s.best_ratio, s.best_objectives, s.last_ratio);
        best_score = selection_score(&best_objectives, &baseline_objectives);
        acting = plain_of(&net, cfg, form);
        target = acting.clone();
        rng = ChaCha8Rng::seed_from_u64(cfg.seed ^ step.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        tracing::info!(step, best_step, best_ratio, dir = %dir.display(), "resumed");
    }
    // Minibatch buffers, reused.
    let mut bx = vec![0.0f32; cfg.batch * inputs];
    let mut ba = vec![0i64; cfg.batch];
    let mut by = vec![0.0f32; cfg.batch];
    let mut samples = Samples::new(
        inputs,
        n_out,
        if cfg.method == TrainMethod::Dqn {
            1
        } else {
            cfg.replay_capacity
        },
    );
    let mut rollout_scratch = RolloutScratch::default();
    let mut costs: Vec<f64> = Vec::with_capacity(n_out);

    while step < cfg.steps {
        // A random episode: workload, load (curriculum: the upper end opens up over the first
        // third of training), duration, and a board that differs a little from the profile.
        let random_mix;
        let (name, w) = if rng.random_bool(cfg.random_mix_fraction.clamp(0.0, 1.0)) {
            let w = match cfg.train_family {
                Some((seed, count)) => {
                    cosched_core::scenario::generate(device, seed, rng.random_range(0..count.max(1)))
                }
                None => random_workload(device, &mut rng),
            };
            random_mix = (w.name.clone(), w);
            (&random_mix.0, &random_mix.1)
        } else {
            let (n, w) = &cfg.workloads[rng.random_range(0..cfg.workloads.len())];
            (n, w)
        };
        let progress_frac = step as f64 / cfg.steps as f64;
        let hi = cfg.load.0 + (cfg.load.1 - cfg.load.0) * (progress_frac * 3.0).min(1.0);
        let load = rng.random_range(cfg.load.0..=hi.max(cfg.load.0));
        let mut w = w.clone();
        w.duration_s = rng.random_range(cfg.episode_s.0..=cfg.episode_s.1);
        let mut resolved = w
            .resolve(device, Some(load), name)
            .map_err(|e| RlError::Config(e.to_string()))?;
        // A closed loop offers nothing open-loop: it runs near the saturation throughput.
        let rate = if resolved.offered_rps > 0.0 {
            resolved.offered_rps
        } else {
            resolved.saturation_rps
        };
        if rate > 0.0 && cfg.episode_placements > 0.0 {
            resolved.duration_ms = resolved.duration_ms.min(1000.0 * cfg.episode_placements / rate);
        }
        let sim_cfg = SimConfig {
            weights: cfg.weights,
            true_device: Some(Arc::new(perturbed(device, cfg.perturb, &mut rng))),
            ..SimConfig::with_seed(rng.random())
        };
        let mut env = SimEnv::with_queue_order(device, &resolved, sim_cfg, QueueOrder::LeastSlackFirst)
            .map_err(|e| RlError::Config(e.to_string()))?;
        let mut pending: Vec<Pending> = Vec::new();
        let mut by_request: HashMap<u64, usize> = HashMap::new();
        let mut ep_return = 0.0;
        let mut placed_in_episode = 0usize;
        let mut held = crate::options::Held::default();

        while let Some(obs) = env.observation() {
            obs.encode(&mut x);
            let rid = obs.request.id.0;
            if let TrainMethod::Rules { every, horizon } = cfg.method {
                // Rules are followed as the deployed policy follows them, held (no exploration:
                // the rollouts try every rule at each sampled decision).
                let placed =
                    crate::policy::follow_rule(&acting, &mut held, obs, &mut x, &mut scratch, &mut q, &mut prior)
                        .expect("the simulator only asks with a valid processor");
                if step.is_multiple_of(every.max(1)) {
                    let rollout_spec = RolloutSpec {
                        horizon,
                        drain: 4 * horizon,
                        gamma: f64::from(cfg.gamma),
                        max_cost: MAX_REQUEST_COST,
                    };
                    crate::rollout::rule_costs(
                        &env,
                        &acting,
                        &rollout_spec,
                        &cfg.weights,
                        &mut rollout_scratch,
                        &mut costs,
                    );
                    tracing::trace!(?costs, workload = %name, load, "rule rollouts");
                    samples.push_relative(&x, &costs);
                    if samples.len >= cfg.batch {
                        rollout_update(
                            &mut net, &mut optim, &huber, &bdev, &samples, cfg, &mut rng, &mut bx, &mut ba, &mut by,
                        )?;
                        updates += 1;
                        if updates.is_multiple_of(50) {
                            acting = plain_of(&net, cfg, form);
                        }
                    }
                }
                outcomes.clear();
                let st = env.step_with_outcomes(
                    cosched_core::Action::to(cosched_core::ProcessorId(placed as u16)),
                    &mut outcomes,
                );
                for o in &outcomes {
                    ep_return -= cfg.weights.outcome_cost(o).min(MAX_REQUEST_COST);
                }
                step += 1;
                placed_in_episode += 1;
                if st.done || step >= cfg.steps {
                    break;
                }
                continue;
            }
            let eps = cfg.epsilon.0 + (cfg.epsilon.1 - cfg.epsilon.0) * (progress_frac * 2.0).min(1.0);
            // As deployed (unclipped prior), so the data covers the deployed behaviour; the
            // prior is stored with the transition either way.
            let greedy = crate::policy::choose(&acting, obs, &x, &mut scratch, &mut q, &mut prior)
                .expect("the simulator only asks with a valid processor");
            let action = if rng.random::<f64>() < eps {
                // Explore among the candidates only: the others are never deployed.
                let n = prior.iter().filter(|&&p| is_candidate(p)).count();
                let k = rng.random_range(0..n);
                (0..n_proc)
                    .filter(|&a| is_candidate(prior[a]))
                    .nth(k)
                    .expect("k < number of candidates")
            } else {
                greedy
            };
            by_request.insert(rid, pending.len());
            pending.push(Pending {
                obs: x.clone(),
                prior: prior.clone(),
                action: action as u16,
                reward: None,
            });
            outcomes.clear();
            let st = env.step_with_outcomes(
                cosched_core::Action::to(cosched_core::ProcessorId(action as u16)),
                &mut outcomes,
            );
            for o in &outcomes {
                let cost = cfg.weights.outcome_cost(o).min(MAX_REQUEST_COST);
                ep_return -= cost;
                if let Some(&i) = by_request.get(&o.request.0) {
                    pending[i].reward = Some(-cost as f32);
                }
            }
            step += 1;
            if cfg.method == TrainMethod::Dqn
                && step.is_multiple_of(cfg.train_every)
                && replay.len >= cfg.batch.max(1000)
            {
                update(
                    &mut net, &mut optim, &huber, &bdev, &replay, &target, &acting, cfg, &mut rng, &mut bx, &mut ba,
                    &mut by,
                )?;
                updates += 1;
                if updates.is_multiple_of(50) {
                    acting = plain_of(&net, cfg, form);
                }
                if updates.is_multiple_of(cfg.target_sync) {
                    target = plain_of(&net, cfg, form);
                }
            }
            if st.done || step >= cfg.steps {
                break;
            }
        }
        // Every placement's own cost is known at the end (unfinished requests are charged when
        // the episode ends); one that is not (cut short by the step budget) is dropped.
        let n = pending.len().max(placed_in_episode);
        for i in 0..pending.len() {
            let Some(r) = pending[i].reward else { continue };
            replay.push(&pending[i], r, pending.get(i + 1));
        }
        episodes += 1;
        if step >= next_eval || step >= cfg.steps {
            next_eval += cfg.eval_every;
            let candidate = plain_of(&net, cfg, form);
            let objectives = objectives_of(&candidate);
            let ratio = mean_ratio(&objectives, &prior_objectives);
            let worst = max_ratio(&objectives, &prior_objectives);
            let score = selection_score(&objectives, &baseline_objectives);
            last_ratio = Some(ratio);
            tracing::info!(step, ratio, worst, score, best_score, "evaluation");
            // Selected against the best baseline of each case, by the cases lost (see
            // `selection_score`). And no case may fall far behind the prior: weights that lose
            // badly on any one case would lose on unseen mixes of the same kind.
            if score < best_score && worst <= 1.0 + cfg.max_case_regression {
                best_score = score;
                best_ratio = ratio;
                best_plain = candidate;
                best_weights = net.to_bytes()?;
                best_step = step;
                best_objectives = objectives;
            }
            if let Some(dir) = &cfg.checkpoint_dir {
                let state = CheckpointState {
                    format: CHECKPOINT_FORMAT,
                    device_hash: device_hash(device),
                    objective_weights: cfg.weights,
                    seed: cfg.seed,
                    hidden: cfg.hidden,
                    method: cfg.method.name().into(),
                    step,
                    episodes,
                    updates,
                    next_eval,
                    best_step,
                    best_ratio,
                    best_objectives: best_objectives.clone(),
                    last_ratio,
                    online_sha256: String::new(),
                    best_sha256: String::new(),
                };
                let ck = Checkpoint {
                    state,
                    online: net.to_bytes()?,
                    best: best_weights.clone(),
                };
                save_checkpoint(dir, &ck)?;
            }
        }
        progress(&TrainProgress {
            step,
            total: cfg.steps,
            episodes,
            last_return_per_request: (n > 0).then(|| ep_return / n as f64),
            eval_ratio: last_ratio,
            best_ratio,
        });
    }

    let eval = eval_cases
        .iter()
        .zip(best_objectives.iter().zip(&prior_objectives).zip(&baseline_objectives))
        .map(|((name, load, _), ((o, p), b))| EvalCase {
            workload: name.clone(),
            load: *load,
            objective: *o,
            prior_objective: *p,
            best_baseline_objective: *b,
        })
        .collect();
    Ok(TrainedPolicy {
        weights: best_weights,
        prior: best_plain.prior_form(),
        plain: best_plain,
        last: plain_of(&net, cfg, form),
        hidden: cfg.hidden,
        steps: step,
        best_step,
        eval,
        eval_ratio: best_ratio,
        score: best_score,
        seed: cfg.seed,
        wall_s: started.elapsed().as_secs_f64(),
    })
}

/// Train `restarts` runs with seeds `cfg.seed`, `cfg.seed + 1`, ... and keep the one whose
/// weights score best against the baselines on the evaluation cases (RL runs differ a lot from
/// seed to seed; picking on validation cases, not training ones, keeps the choice honest).
/// Each run checkpoints into its own `seed-N` folder under `cfg.checkpoint_dir`, and with
/// `cfg.resume_from` set, runs that have a checkpoint resume from it (a finished one is just
/// reloaded) while the others start afresh. `progress` sees placements over all runs.
pub fn train_restarts(
    cfg: &TrainConfig,
    restarts: u32,
    progress: &mut dyn FnMut(&TrainProgress),
) -> Result<TrainedPolicy, RlError> {
    let restarts = u64::from(restarts.max(1));
    let mut best: Option<TrainedPolicy> = None;
    let mut wall_s = 0.0;
    for i in 0..restarts {
        let seed = cfg.seed.wrapping_add(i);
        let sub = |d: &PathBuf| d.join(format!("seed-{seed}"));
        let run_cfg = TrainConfig {
            seed,
            checkpoint_dir: cfg.checkpoint_dir.as_ref().map(sub),
            resume_from: cfg
                .resume_from
                .as_ref()
                .map(sub)
                .filter(|d| d.join("state.json").is_file()),
            ..cfg.clone()
        };
        let offset = i * cfg.steps;
        let trained = train(&run_cfg, &mut |p| {
            progress(&TrainProgress {
                step: offset + p.step,
                total: restarts * cfg.steps,
                ..p.clone()
            })
        })?;
        wall_s += trained.wall_s;
        tracing::info!(seed, score = trained.score, ratio = trained.eval_ratio, "restart done");
        if best.as_ref().is_none_or(|b| trained.score < b.score) {
            best = Some(trained);
        }
    }
    let mut best = best.expect("at least one run");
    best.wall_s = wall_s;
    Ok(best)
}

/// Whether a checkpoint belongs to this run: same device, objective, seed, width and number
/// of evaluation cases, and not past the end.
fn check_fits(dir: &Path, s: &CheckpointState, cfg: &TrainConfig, eval_cases: usize) -> Result<(), RlError> {
    let problem = if s.device_hash != device_hash(&cfg.device) {
        Some(format!("was written for another device than \"{}\"", cfg.device.name))
    } else if s.objective_weights != cfg.weights {
        Some(format!(
            "was written for objective weights {:?}, not {:?}",
            s.objective_weights, cfg.weights
        ))
    } else if s.seed != cfg.seed {
        Some(format!("was written with --seed {}, not {}", s.seed, cfg.seed))
    } else if s.hidden != cfg.hidden {
        Some(format!("was written with --hidden {}, not {}", s.hidden, cfg.hidden))
    } else if s.method != cfg.method.name() {
        Some(format!(
            "was written with --method {}, not {}",
            s.method,
            cfg.method.name()
        ))
    } else if s.best_objectives.len() != eval_cases {
        Some(format!(
            "has {} evaluation cases, this run {} (other workloads?)",
            s.best_objectives.len(),
            eval_cases
        ))
    } else if s.step > cfg.steps {
        Some(format!("is at placement {}, past --steps {}", s.step, cfg.steps))
    } else {
        None
    };
    match problem {
        Some(problem) => Err(RlError::Checkpoint {
            dir: dir.display().to_string(),
            problem,
        }),
        None => Ok(()),
    }
}

/// The deployed form of `net`, with the prior weighted as the objective.
fn plain_of(net: &QNet, cfg: &TrainConfig, form: PriorForm) -> PlainMlp {
    let mut p = net.to_plain();
    p.set_prior_weights(&cfg.weights);
    p.set_prior_form(form);
    if let TrainMethod::Rules { .. } = cfg.method {
        p.set_options(RULES.to_vec());
    }
    p
}

/// One Double-DQN update on a minibatch: the online network picks the next action, the target
/// network values it; invalid actions are excluded from both.
#[allow(clippy::too_many_arguments)]
fn update(
    net: &mut QNet,
    optim: &mut ModuleOptimizer,
    huber: &burn::nn::loss::HuberLoss,
    bdev: &Device,
    replay: &Replay,
    target: &PlainMlp,
    online: &PlainMlp,
    cfg: &TrainConfig,
    rng: &mut ChaCha8Rng,
    bx: &mut [f32],
    ba: &mut [i64],
    by: &mut [f32],
) -> Result<(), RlError> {
    let n = replay.inputs;
    let k = replay.actions;
    let actions = online.actions();
    let mut scratch = vec![0.0f32; online.scratch_len()];
    let mut q = vec![0.0f32; actions];
    let mut qt = vec![0.0f32; actions];
    for b in 0..cfg.batch {
        let i = rng.random_range(0..replay.len);
        let s = &replay.obs[i * n..(i + 1) * n];
        bx[b * n..(b + 1) * n].copy_from_slice(s);
        let a = replay.action[i] as usize;
        ba[b] = a as i64;
        let mut y = replay.reward[i];
        if !replay.done[i] {
            let s2 = &replay.next_obs[i * n..(i + 1) * n];
            let p2 = &replay.next_prior[i * k..(i + 1) * k];
            if let Some(a2) = online.greedy_with_prior(s2, p2, &mut scratch, &mut q) {
                target.forward(s2, &mut scratch, &mut qt);
                y += cfg.gamma * (qt[a2] + p2[a2]);
            }
        }
        // The network learns the residual over the prior.
        by[b] = y - replay.prior[i * k + a];
    }
    fit(net, optim, huber, bdev, cfg, n, bx, ba, by);
    Ok(())
}

/// One gradient step fitting the network's output for action `ba[b]` of input row `b` of `bx`
/// (`n` features a row) to `by[b]`.
#[allow(clippy::too_many_arguments)]
fn fit(
    net: &mut QNet,
    optim: &mut ModuleOptimizer,
    huber: &burn::nn::loss::HuberLoss,
    bdev: &Device,
    cfg: &TrainConfig,
    n: usize,
    bx: &[f32],
    ba: &[i64],
    by: &[f32],
) {
    let x = Tensor::<2>::from_data(TensorData::new(bx.to_vec(), [cfg.batch, n]), bdev);
    let a = Tensor::<2, Int>::from_data(TensorData::new(ba.to_vec(), [cfg.batch, 1]), bdev);
    let y = Tensor::<2>::from_data(TensorData::new(by.to_vec(), [cfg.batch, 1]), bdev);
    let pred = net.forward(x).gather(1, a);
    let loss = huber.forward(pred, y, Reduction::Mean);
    let grads = GradientsParams::from_grads(loss.backward(), &*net);
    *net = optim.step(cfg.learning_rate, net.clone(), grads);
}

/// One update on rollout targets: each row is a sampled decision and one of its rules, and the
/// network's output for that rule is fitted to the rule's gain over the prior.
#[allow(clippy::too_many_arguments)]
fn rollout_update(
    net: &mut QNet,
    optim: &mut ModuleOptimizer,
    huber: &burn::nn::loss::HuberLoss,
    bdev: &Device,
    samples: &Samples,
    cfg: &TrainConfig,
    rng: &mut ChaCha8Rng,
    bx: &mut [f32],
    ba: &mut [i64],
    by: &mut [f32],
) -> Result<(), RlError> {
    let (n, k) = (samples.inputs, samples.actions);
    for b in 0..cfg.batch {
        let i = rng.random_range(0..samples.len);
        let a = rng.random_range(0..k);
        bx[b * n..(b + 1) * n].copy_from_slice(&samples.obs[i * n..(i + 1) * n]);
        ba[b] = a as i64;
        by[b] = samples.target[i * k + a];
    }
    fit(net, optim, huber, bdev, cfg, n, bx, ba, by);
    Ok(())
}

type EvalSet = Vec<(String, f64, cosched_core::ResolvedWorkload)>;

fn eval_cases(cfg: &TrainConfig) -> Result<EvalSet, RlError> {
    let mut out = Vec::new();
    if let Some((seed, count)) = cfg.validation {
        for mut w in cosched_core::scenario::generate_set(&cfg.device, seed, count) {
            w.duration_s = w.duration_s.min(cfg.eval_duration_s);
            for &load in &cfg.eval_loads {
                let r = w
                    .resolve(&cfg.device, Some(load), &w.name)
                    .map_err(|e| RlError::Config(e.to_string()))?;
                out.push((w.name.clone(), load, r));
            }
        }
        return Ok(out);
    }
    for (name, w) in &cfg.workloads {
        let mut w = w.clone();
        w.duration_s = cfg.eval_duration_s;
        for &load in &cfg.eval_loads {
            let r = w
                .resolve(&cfg.device, Some(load), name)
                .map_err(|e| RlError::Config(e.to_string()))?;
            let closed = r.load.is_none();
            out.push((name.clone(), load, r));
            if closed {
                // A closed-loop workload does not scale with load: one case is enough.
                break;
            }
        }
    }
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed ^ 0x5eed_e7a1);
    for i in 0..cfg.eval_random_mixes {
        let mut w = random_workload(&cfg.device, &mut rng);
        w.duration_s = cfg.eval_duration_s;
        for load in [0.8, 1.0] {
            let name = format!("random-mix-{i}");
            let r = w
                .resolve(&cfg.device, Some(load), &name)
                .map_err(|e| RlError::Config(e.to_string()))?;
            out.push((name, load, r));
        }
    }
    Ok(out)
}

fn eval_objective(
    device: &DeviceProfile,
    w: &cosched_core::ResolvedWorkload,
    plain: &PlainMlp,
    cfg: &TrainConfig,
) -> f64 {
    let mut policy = DrlPolicy::new("eval", plain.clone(), device.models.len());
    let sim_cfg = SimConfig {
        weights: cfg.weights,
        ..SimConfig::with_seed(EVAL_SEED)
    };
    simulate(device, w, &mut policy, &sim_cfg).objective
}

/// The smallest objective of the baselines on one evaluation case (same seed as the policy's).
fn best_baseline_objective(device: &DeviceProfile, w: &cosched_core::ResolvedWorkload, cfg: &TrainConfig) -> f64 {
    cosched_core::BASELINE_NAMES
        .iter()
        .filter_map(|name| cosched_core::baseline(name, device, cfg.weights))
        .map(|mut b| {
            let sim_cfg = SimConfig {
                weights: cfg.weights,
                ..SimConfig::with_seed(EVAL_SEED)
            };
            simulate(device, w, b.as_mut(), &sim_cfg).objective
        })
        .fold(f64::INFINITY, f64::min)
}

/// How evaluation objectives stand against the best baseline of each case, lower is better,
/// ordered lexicographically: first the cases lost by more than [`CLEAR_LOSS`], then the cases
/// lost at all (by more than rounding), then the mean of `objective / best baseline - 1`.
///
/// The product's bar counts cases no worse than the best baseline, and a mean lets a big win
/// on one overloaded case pay for several small losses: with a mean score (shortfalls weighing
/// 3x gains) the shipped policies lost 18 of 105 cases; this order, with the same training,
/// kept weights that lose fewer on jetson-agx-orin, jetson-xavier-nx and android-flagship.
/// The second count makes a checkpoint that ties the prior nearly everywhere but trails it by
/// 0.1 % on a few easy cases (host-cpu `server`: two identical workers, where
/// earliest-finish is hard to beat) lose to it. The scalar is `clear + (any + m) / (n + 1)`
/// with `m` the mean mapped into (0, 1), so each term only breaks the ties of the one before.
fn selection_score(objectives: &[f64], baselines: &[f64]) -> f64 {
    let n = objectives.len() as f64;
    let (mut clear, mut any, mut sum) = (0.0, 0.0, 0.0);
    for (o, b) in objectives.iter().zip(baselines) {
        let r = o / b.max(1e-9) - 1.0;
        clear += f64::from(u8::from(r > CLEAR_LOSS));
        any += f64::from(u8::from(r > 1e-9));
        sum += r;
    }
    let mean = 0.5 + (sum / n.max(1.0)).clamp(-0.49, 0.49);
    clear + (any + mean) / (n + 1.0)
}

/// A loss to the best baseline larger than this fraction counts first in [`selection_score`]:
/// beyond the spread of one 20 s evaluation run.
const CLEAR_LOSS: f64 = 0.002;

/// Seed of every evaluation run during training.
const EVAL_SEED: u64 = 1_000_003;

fn max_ratio(objectives: &[f64], prior: &[f64]) -> f64 {
    objectives
        .iter()
        .zip(prior)
        .map(|(o, p)| o / p.max(1e-9))
        .fold(0.0, f64::max)
}

fn mean_ratio(objectives: &[f64], prior: &[f64]) -> f64 {
    let n = objectives.len().max(1) as f64;
    objectives.iter().zip(prior).map(|(o, p)| o / p.max(1e-9)).sum::<f64>() / n
}

#[cfg(test)]
mod tests {
    use super::selection_score;

    #[test]
    fn selection_orders_by_clear_losses_then_any_loss_then_the_mean() {
        let best = [1.0; 4];
        // One clear loss (+1 %) with big wins elsewhere ranks below no clear loss at all.
        let one_clear = selection_score(&[1.01, 0.5, 0.5, 0.5], &best);
        let none_clear = selection_score(&[1.001, 1.001, 1.001, 1.0], &best);
        assert!(none_clear < one_clear, "{none_clear} vs {one_clear}");
        // No clear loss either way: fewer small losses first, whatever the mean.
        let one_small = selection_score(&[1.001, 1.0, 1.0, 1.0], &best);
        assert!(one_small < none_clear);
        let one_small_big_win = selection_score(&[1.001, 0.6, 1.0, 1.0], &best);
        assert!(one_small_big_win < one_small);
        // Rounding is a tie, not a loss; then the mean decides.
        let ties = selection_score(&[1.0 + 1e-12, 1.0, 1.0, 1.0], &best);
        assert!(ties < one_small_big_win);
        assert!(selection_score(&[0.9, 1.0, 1.0, 1.0], &best) < ties);
        // The fraction never reaches the next whole loss.
        let worst_without_clear = selection_score(&[1.0019, 1.0019, 1.0019, 1.0019], &best);
        assert!(worst_without_clear < 1.0 && one_clear >= 1.0);
    }
}
