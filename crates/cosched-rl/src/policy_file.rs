//! Policy files: a directory `NAME.policy/` holding `manifest.toml` and `weights.bpk` (burn's
//! burnpack format). Loading checks every field of the manifest against the device and the
//! weights against their SHA-256 (burn's loader does not notice flipped bytes), once, at startup.

use crate::error::PolicyFileError;
use crate::features::PriorForm;
use crate::net::QNet;
use crate::options::Rule;
use crate::policy::DrlPolicy;
use crate::train::{EvalCase, TrainConfig, TrainedPolicy};
use burn::prelude::Device;
use cosched_core::{
    ActionSpace, BatchRule, DeviceProfile, HedgeRule, ObjectiveWeights, Observation, OBSERVATION_VERSION,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::Path;

/// Version of the policy file layout; another version is refused. Version 2 states the whole
/// action space (processors, batch rules, hedging rules) where version 1 listed processors.
pub const FORMAT_VERSION: u32 = 2;
/// The algorithm written into manifests.
pub const ALGORITHM: &str = "double-dueling-dqn/residual-over-heuristic-prior/trust-region/least-slack-queues";
/// The algorithm written into the manifests of policies whose outputs are placement rules
/// ([`crate::options`]).
pub const ALGORITHM_RULES: &str = "rollout-values/rules-over-heuristic-prior/least-slack-queues";
/// Name of the manifest inside a policy directory.
pub const MANIFEST_FILE: &str = "manifest.toml";
/// Name of the weights inside a policy directory.
pub const WEIGHTS_FILE: &str = "weights.bpk";

/// Everything a policy file says about itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// [`FORMAT_VERSION`].
    pub format_version: u32,
    /// [`ALGORITHM`], or [`ALGORITHM_RULES`] for a policy that chooses among `rules`.
    pub algorithm: String,
    /// Layout version of the observation vector ([`OBSERVATION_VERSION`]).
    pub observation_version: u32,
    /// Length of the observation vector.
    pub observation_size: usize,
    /// What the policy chooses over: processors in action order, and the batch and hedging
    /// rules the guard may run it with.
    pub action_space: ActionSpace,
    /// Device profile name.
    pub device: String,
    /// [`device_hash`] of the profile.
    pub device_hash: String,
    /// Objective name.
    pub objective: String,
    /// Objective weights.
    pub objective_weights: ObjectiveWeights,
    /// Hidden width of the network.
    pub hidden: usize,
    /// The heuristic the network's output is added to ([`PriorForm::name`]). Defaulted only so
    /// that a file of an older algorithm reaches the check that names the algorithm.
    #[serde(default)]
    pub prior: PriorForm,
    /// The placement rules the network's outputs choose among, the prior first
    /// ([`crate::options`]); absent when the outputs are processors.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<Rule>,
    /// How it was trained.
    pub training: TrainingInfo,
    /// How it did in the training run's evaluation.
    pub evaluation: EvaluationInfo,
    /// Size of `weights.bpk`, bytes.
    pub weights_bytes: u64,
    /// SHA-256 of `weights.bpk`, hex.
    pub weights_sha256: String,
    /// How it did on a test family that nothing was chosen on. Training leaves it out (a new
    /// policy has not been tested); `scripts/evaluate-policies.sh` writes it, so a retrained
    /// policy carries no stale figures. Last, so that the script can replace it as a block.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test: Option<TestInfo>,
}

/// Provenance of a policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainingInfo {
    /// The command that trained it.
    pub command: String,
    /// Training workloads.
    pub workloads: Vec<String>,
    /// Seed.
    pub seed: u64,
    /// Placements trained.
    pub steps: u64,
    /// Placement at which the kept weights were evaluated.
    pub best_step: u64,
    /// Wall-clock seconds.
    pub wall_s: f64,
}

/// The training run's own evaluation (simulated).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvaluationInfo {
    /// Mean over cases of objective / prior's objective (below 1: better than the prior).
    pub ratio_to_prior: f64,
    /// The selection score against the best baseline of each case: cases lost by more than
    /// 0.2 %, plus a fraction below 1 that orders ties by the cases lost at all and then by the
    /// mean shortfall.
    #[serde(default)]
    pub score_vs_best_baseline: f64,
    /// Per case.
    pub cases: Vec<EvalCase>,
}

/// A policy measured on a test family (simulated, energy modelled), as
/// `cosched-bench evaluate` runs it: each case against the best of the nine baselines.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestInfo {
    /// How the figures were made.
    pub command: String,
    /// The scenario set (`random:COUNT:SEED`).
    pub scenarios: String,
    /// Loads each scenario ran at.
    pub loads: Vec<f64>,
    /// The policy as `compare` runs it by default (`drl`: under the run-time guard).
    pub guarded: TestSummary,
    /// The weights alone (`unguarded:drl`).
    pub unguarded: TestSummary,
    /// The untrained prior the weights correct.
    pub prior: TestSummary,
    /// The weights alone against the untrained prior at loads >= 0.8: whether learning earns
    /// its place.
    pub unguarded_vs_prior: VersusPrior,
}

/// One policy's figures on a test family.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestSummary {
    /// Cases (scenarios x loads).
    pub cases: u32,
    /// Cases whose objective is within 1 % of the best baseline's, or better.
    pub no_worse: u32,
    /// Cases more than 10 % worse than the best baseline.
    pub worse_by_10_percent: u32,
    /// The largest ratio of the policy's objective to the best baseline's.
    pub worst_ratio: f64,
    /// Which case that was.
    pub worst_case: String,
    /// Mean gain over the best baseline at loads >= 0.8 (a fraction; negative: worse).
    pub mean_gain_heavy: f64,
}

/// One policy's objective against another's, case by case, at loads >= 0.8.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VersusPrior {
    /// Geometric mean of the ratio of the objectives (below 1: lower than the prior's).
    pub geometric_mean: f64,
    /// Cases with a lower objective than the prior's.
    pub lower: u32,
    /// Cases with a higher one.
    pub higher: u32,
}

/// SHA-256 (hex) of what a policy depends on in a device profile: its name, processor ids and
/// kinds, and model names, in order. Latency and power figures are left out, so a re-measured
/// profile keeps its policies; another processor set does not.
pub fn device_hash(device: &DeviceProfile) -> String {
    let mut s = format!("device {}\n", device.name);
    for p in &device.processors {
        s.push_str(&format!("processor {} {:?}\n", p.id, p.kind));
    }
    for m in &device.models {
        s.push_str(&format!("model {}\n", m.name));
    }
    hex(&Sha256::digest(s.as_bytes()))
}

/// Whether some element of `v` appears twice.
fn repeats<T: PartialEq>(v: &[T]) -> bool {
    v.iter().enumerate().any(|(i, x)| v[..i].contains(x))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Manifest {
    /// The manifest of a freshly trained policy.
    pub fn new(cfg: &TrainConfig, trained: &TrainedPolicy, command: &str) -> Manifest {
        let device = &cfg.device;
        Manifest {
            format_version: FORMAT_VERSION,
            algorithm: if trained.plain.options().is_empty() {
                ALGORITHM
            } else {
                ALGORITHM_RULES
            }
            .into(),
            observation_version: OBSERVATION_VERSION,
            observation_size: Observation::feature_len(device.processors.len(), device.models.len()),
            action_space: ActionSpace::for_device(device),
            device: device.name.clone(),
            device_hash: device_hash(device),
            objective: cfg.objective_name.clone(),
            objective_weights: cfg.weights,
            hidden: trained.hidden,
            prior: trained.prior,
            rules: trained.plain.options().to_vec(),
            training: TrainingInfo {
                command: command.into(),
                workloads: cfg.workloads.iter().map(|(n, _)| n.clone()).collect(),
                seed: trained.seed,
                steps: trained.steps,
                best_step: trained.best_step,
                wall_s: (trained.wall_s * 10.0).round() / 10.0,
            },
            evaluation: EvaluationInfo {
                ratio_to_prior: trained.eval_ratio,
                score_vs_best_baseline: trained.score,
                cases: trained.eval.clone(),
            },
            weights_bytes: trained.weights.len() as u64,
            weights_sha256: hex(&Sha256::digest(&trained.weights)),
            test: None,
        }
    }
}

/// Write a policy directory (created if needed; existing files are replaced).
pub fn save_policy(dir: &Path, manifest: &Manifest, weights: &[u8]) -> Result<(), PolicyFileError> {
    let origin = dir.display().to_string();
    let io = |e: std::io::Error| PolicyFileError::new(&origin, e.to_string());
    std::fs::create_dir_all(dir).map_err(io)?;
    let text = toml::to_string_pretty(manifest).map_err(|e| PolicyFileError::new(&origin, e.to_string()))?;
    std::fs::write(dir.join(WEIGHTS_FILE), weights).map_err(io)?;
    std::fs::write(dir.join(MANIFEST_FILE), text).map_err(io)?;
    Ok(())
}

/// Load a policy directory for `device`, checking everything.
pub fn load_policy(path: &Path, device: &DeviceProfile) -> Result<DrlPolicy, PolicyFileError> {
    let origin = path.display().to_string();
    if !path.is_dir() {
        let why = if path.exists() {
            "not a directory (a policy is a NAME.policy/ directory with manifest.toml and weights.bpk)"
        } else {
            "no such directory"
        };
        return Err(PolicyFileError::new(&origin, why));
    }
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    for name in [MANIFEST_FILE, WEIGHTS_FILE] {
        match std::fs::read(path.join(name)) {
            Ok(b) => files.push((name.to_string(), b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(PolicyFileError::new(&origin, format!("{name}: {e}"))),
        }
    }
    let refs: Vec<(&str, &[u8])> = files.iter().map(|(n, b)| (n.as_str(), b.as_slice())).collect();
    load_policy_files(&origin, &refs, device)
}

/// Load a policy from its files' bytes (a compiled-in policy); `origin` names it in errors.
pub fn load_policy_files(
    origin: &str,
    files: &[(&str, &[u8])],
    device: &DeviceProfile,
) -> Result<DrlPolicy, PolicyFileError> {
    let err = |p: String| PolicyFileError::new(origin, p);
    let get = |name: &str| files.iter().find(|(n, _)| *n == name).map(|(_, b)| *b);
    let manifest_bytes = get(MANIFEST_FILE).ok_or_else(|| err(format!("{MANIFEST_FILE}: missing")))?;
    let text = std::str::from_utf8(manifest_bytes).map_err(|_| err(format!("{MANIFEST_FILE}: not UTF-8 text")))?;
    // The version first, on its own: an older layout would otherwise fail on a field it
    // spells differently, and the user should read "retrain it", not a parse error.
    #[derive(Deserialize)]
    struct Version {
        format_version: u32,
    }
    let v: Version = toml::from_str(text).map_err(|e| err(format!("{MANIFEST_FILE}: {}", e.message())))?;
    if v.format_version != FORMAT_VERSION {
        return Err(err(format!(
            "format_version {} is not supported (this build reads {FORMAT_VERSION}); retrain it \
             (scripts/train-policies.sh or cosched-bench train)",
            v.format_version
        )));
    }
    let m: Manifest = toml::from_str(text).map_err(|e| err(format!("{MANIFEST_FILE}: {}", e.message())))?;
    let want_algorithm = if m.rules.is_empty() { ALGORITHM } else { ALGORITHM_RULES };
    if !m.rules.is_empty() && (m.rules.first() != Some(&Rule::Prior) || repeats(&m.rules)) {
        return Err(err(format!(
            "rules: must start with \"prior\" and list a rule once, got {:?}",
            m.rules.iter().map(|r| r.name()).collect::<Vec<_>>()
        )));
    }
    if m.algorithm != want_algorithm {
        return Err(err(format!(
            "trained by algorithm \"{}\", this build runs \"{ALGORITHM}\"; retrain it",
            m.algorithm
        )));
    }
    if m.observation_version != OBSERVATION_VERSION {
        return Err(err(format!(
            "trained on observation version {}, this build encodes version {OBSERVATION_VERSION}; retrain it",
            m.observation_version
        )));
    }
    if m.device != device.name || m.device_hash != device_hash(device) {
        return Err(err(format!(
            "made for device \"{}\" (processor-set hash {}...), not for \"{}\" ({}...)",
            m.device,
            &m.device_hash.get(..12).unwrap_or(&m.device_hash),
            device.name,
            &device_hash(device)[..12]
        )));
    }
    let want_size = Observation::feature_len(device.processors.len(), device.models.len());
    let actions: Vec<&str> = device.processors.iter().map(|p| p.id.as_str()).collect();
    if m.observation_size != want_size || m.action_space.processors != actions {
        return Err(err(format!(
            "observation size {} / processors {:?} do not match the device ({want_size} / {actions:?})",
            m.observation_size, m.action_space.processors
        )));
    }
    let (batch, hedge) = (&m.action_space.batch, &m.action_space.hedge);
    if batch.first() != Some(&BatchRule::Greedy)
        || hedge.first() != Some(&HedgeRule::None)
        || repeats(batch)
        || repeats(hedge)
    {
        return Err(err(format!(
            "action_space: batch and hedge must each start with the policy's own rule (\"greedy\", \"none\") and list a rule once, got {:?} and {:?}",
            m.action_space.batch, m.action_space.hedge
        )));
    }
    if actions.len() > crate::MAX_PROCESSORS {
        return Err(err(format!(
            "the device has {} processors; a DRL policy places on at most {}",
            actions.len(),
            crate::MAX_PROCESSORS
        )));
    }
    if !(1..=4096).contains(&m.hidden) {
        return Err(err(format!("hidden width {} out of range", m.hidden)));
    }
    let weights = get(WEIGHTS_FILE).ok_or_else(|| err(format!("{WEIGHTS_FILE}: missing")))?;
    if weights.len() as u64 != m.weights_bytes {
        return Err(err(format!(
            "{WEIGHTS_FILE}: {} bytes, the manifest says {} (truncated or replaced)",
            weights.len(),
            m.weights_bytes
        )));
    }
    let sum = hex(&Sha256::digest(weights));
    if sum != m.weights_sha256 {
        return Err(err(format!(
            "{WEIGHTS_FILE}: SHA-256 {}... does not match the manifest's {}... (corrupted)",
            &sum[..12],
            m.weights_sha256.get(..12).unwrap_or(&m.weights_sha256)
        )));
    }
    let outputs = if m.rules.is_empty() {
        actions.len()
    } else {
        m.rules.len()
    };
    let net = QNet::from_bytes(&Device::flex(), want_size, m.hidden, outputs, weights)
        .map_err(|e| err(format!("{WEIGHTS_FILE}: burn cannot read it: {e:?}")))?;
    let mut plain = net.to_plain();
    plain.set_prior_weights(&m.objective_weights);
    plain.set_prior_form(m.prior);
    if !m.rules.is_empty() {
        plain.set_options(m.rules.clone());
    }
    let name = format!("drl:{}", m.objective);
    Ok(DrlPolicy::new(name, plain, device.models.len()).with_action_space(m.action_space))
}
