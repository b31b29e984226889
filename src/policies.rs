//! Resolving a policy name: a baseline, a pretrained DRL policy of the device (compiled in from
//! `policies/`), or a policy file.

use cosched_core::batching::{DynamicBatching, FixedBatch, KumBatching};
use cosched_core::hedging::{MdInference, TailHedging};
use cosched_core::ordering::InQueueOrder;
use cosched_core::{
    baseline, ActionSpace, Alternative, BatchRule, DeviceProfile, HedgeRule, ObjectiveWeights, Policy, QueueOrder,
    BASELINE_NAMES, BATCHING_BASELINE_NAMES,
};
use cosched_rl::{DrlPolicy, FineTuneConfig, FineTuned, PolicyFileError};
use cosched_sim::guard::{Candidate, Guard, GuardConfig};
use std::path::Path;
use std::sync::Arc;
use thiserror::Error;

/// The files of one policy directory: (file name, bytes).
pub type PolicyFiles = &'static [(&'static str, &'static [u8])];

include!(concat!(env!("OUT_DIR"), "/pretrained.rs"));

/// The objectives pretrained policies are trained for: `drl:<objective>`.
pub const DRL_OBJECTIVES: &[&str] = &["balanced", "latency", "energy"];

/// A policy name that could not be turned into a policy.
#[derive(Debug, Error)]
pub enum PolicyError {
    /// Neither a baseline, nor `drl[:objective]`, nor an existing file.
    #[error("policy \"{0}\": unknown (baselines: {baselines}; batching baselines: {batching}; drl, drl:balanced, drl:latency, drl:energy; or the path of a policy file; prefixes guard:, unguarded:, prior:, kum:, dynamic-batch:, batch1:, hedge:, hedge-tail:, fifo:)", baselines = BASELINE_NAMES.join(", "), batching = BATCHING_BASELINE_NAMES.join(", "))]
    Unknown(String),
    /// `drl:<objective>` with an objective that is not one of [`DRL_OBJECTIVES`].
    #[error("policy \"{0}\": unknown DRL objective (use drl, drl:balanced, drl:latency or drl:energy)")]
    UnknownObjective(String),
    /// No pretrained policy for this device and objective.
    #[error("policy \"{name}\": no pretrained policy for device \"{device}\" (shipped: {shipped}); train one with `cosched-bench train --device {device} --objective {objective} --out my.policy` and pass its path")]
    NoPretrained {
        /// What was asked for.
        name: String,
        /// The device profile's name.
        device: String,
        /// The objective.
        objective: String,
        /// What is shipped.
        shipped: String,
    },
    /// Fine-tuning was asked for a policy that does not learn (a baseline).
    #[error(
        "policy \"{0}\": a baseline cannot be fine-tuned (fine-tuning needs drl, drl:<objective> or a policy file)"
    )]
    NotLearned(String),
    /// A policy file (or a compiled-in one) is corrupt, malformed or made for another device.
    #[error(transparent)]
    File(#[from] PolicyFileError),
}

/// Names of the compiled-in pretrained policies (`<device>-<objective>`).
pub fn pretrained_names() -> impl Iterator<Item = &'static str> {
    PRETRAINED.iter().map(|(n, _)| *n)
}

/// Whether a pretrained policy exists for this device and objective.
pub fn has_pretrained(device: &str, objective: &str) -> bool {
    let want = format!("{device}-{objective}");
    PRETRAINED.iter().any(|(n, _)| *n == want)
}

/// The clock a policy will decide on, which decides where the run-time guard judges: inline
/// at virtual instants in the simulator (deterministic runs), on a background thread on the
/// wall clock (real runs: off the dispatch path).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Clock {
    /// The simulator's virtual time.
    #[default]
    Virtual,
    /// Real runs.
    Wall,
}

/// Turn a policy name into a policy for `device`, to run in the simulator (see
/// [`resolve_policy_on`]).
///
/// ```
/// use cosched::{policies::resolve_policy, DeviceProfile, ObjectiveWeights};
/// let device = DeviceProfile::builtin("jetson-agx-orin").unwrap();
/// let p = resolve_policy("least-slack", &device, ObjectiveWeights::BALANCED).unwrap();
/// assert_eq!(p.name(), "least-slack");
/// ```
pub fn resolve_policy(
    name: &str,
    device: &DeviceProfile,
    weights: ObjectiveWeights,
) -> Result<Box<dyn Policy>, PolicyError> {
    resolve_policy_on(name, device, weights, Clock::Virtual)
}

/// Turn a policy name into a policy for `device`, deciding on `clock`:
///
/// - a baseline name (`least-slack`, ...), with `weights` for those that use them;
/// - `drl` or `drl:<objective>`: the pretrained policy of the device (`policies/<device>-<objective>.policy`,
///   compiled in), under the run-time guard (docs/guard.md), reported under its own name;
/// - anything else that exists on disk: a policy file, checked against the device, guarded too;
/// - `unguarded:<drl or file>`: the learned policy alone, every decision its own;
/// - `prior:<drl or file>`: its untrained prior (what it learned taken out), guarded like any
///   learned policy; `unguarded:prior:drl` runs it alone;
/// - `guard:<any of the above>`: that policy under the guard (a baseline too);
/// - `kum:<policy>`, `dynamic-batch:<policy>`, `batch1:<policy>`: that policy's placements,
///   batched by Kum et al.'s real-time rule, by Triton's dynamic batcher (preferred size the
///   processor's `max_batch`, 5 ms queue delay), or not at all (`cosched_core::batching`);
/// - `hedge:<policy>`, `hedge-tail:<policy>`: that policy's placements with hedged copies, by
///   MDInference's rule or as backup requests for the slow tail (`cosched_core::hedging`);
/// - `fifo:<policy>`: that policy's placements with first-come-first-served queues
///   (`cosched_core::ordering`).
pub fn resolve_policy_on(
    name: &str,
    device: &DeviceProfile,
    weights: ObjectiveWeights,
    clock: Clock,
) -> Result<Box<dyn Policy>, PolicyError> {
    for (prefix, wrap) in WRAPPERS {
        if let Some(inner) = name.strip_prefix(prefix) {
            let inner = resolve_policy_on(inner, device, weights, clock)?;
            let name = format!("{prefix}{}", inner.name());
            return Ok(wrap(inner, device, name));
        }
    }
    let config = GuardConfig {
        weights,
        background: clock == Clock::Wall,
        ..GuardConfig::default()
    };
    if let Some(inner) = name.strip_prefix(GUARD_PREFIX) {
        return Ok(Box::new(resolve_guarded(inner, device, weights, config)?));
    }
    if let Some(inner) = name.strip_prefix(UNGUARDED_PREFIX) {
        if let Some(p) = baseline(inner, device, weights) {
            return Ok(p);
        }
        let drl = resolve_drl_policy(inner, device)?;
        let name = format!("{UNGUARDED_PREFIX}{}", drl.name());
        return Ok(Box::new(DrlPolicy::new(name, drl.network().clone(), drl.n_models())));
    }
    if let Some(p) = baseline(name, device, weights) {
        return Ok(p);
    }
    // A learned policy runs guarded: on the validation scenarios the guard lowered its worst
    // case on every board (docs/guard.md).
    let guard = resolve_guarded(name, device, weights, config)?;
    let own = guard.candidate_names().next().unwrap_or(name).to_string();
    Ok(Box::new(guard.with_name(own)))
}

/// Policy names starting with this batch the rest's placements by Kum et al.'s rule: `kum:drl`.
pub const KUM_PREFIX: &str = "kum:";

/// Policy names starting with this batch the rest's placements as Triton's dynamic batcher
/// does: `dynamic-batch:least-slack`.
pub const DYNAMIC_BATCH_PREFIX: &str = "dynamic-batch:";

/// Policy names starting with this hedge the rest's placements by MDInference's rule:
/// `hedge:earliest-finish`.
pub const HEDGE_PREFIX: &str = "hedge:";

/// Policy names starting with this send backup copies of the rest's slow requests to idle
/// processors: `hedge-tail:drl`.
pub const HEDGE_TAIL_PREFIX: &str = "hedge-tail:";

/// Policy names starting with this run the rest's placements one request at a time:
/// `batch1:earliest-finish`.
pub const BATCH1_PREFIX: &str = "batch1:";

/// Policy names starting with this run the rest's placements with first-come-first-served
/// queues: `fifo:drl`.
pub const FIFO_PREFIX: &str = "fifo:";

/// Wraps a policy (its placements kept), naming the result.
type Wrap = fn(Box<dyn Policy>, &DeviceProfile, String) -> Box<dyn Policy>;

/// The batching and hedging prefixes and the wrapper each stands for.
const WRAPPERS: &[(&str, Wrap)] = &[
    (KUM_PREFIX, |p, d, n| Box::new(KumBatching::new(p, d, n))),
    (DYNAMIC_BATCH_PREFIX, |p, d, n| {
        Box::new(DynamicBatching::new(
            p,
            d,
            DynamicBatching::DEFAULT_MAX_QUEUE_DELAY_US,
            n,
        ))
    }),
    (HEDGE_PREFIX, |p, _, n| Box::new(MdInference::new(p, n))),
    (HEDGE_TAIL_PREFIX, |p, _, n| Box::new(TailHedging::new(p, n))),
    (BATCH1_PREFIX, |p, _, n| Box::new(FixedBatch::new(p, 1, n))),
    (FIFO_PREFIX, |p, _, n| {
        Box::new(InQueueOrder::new(p, QueueOrder::Fifo, n))
    }),
];

/// Policy names starting with this run a learned policy's untrained prior (the rule its
/// network was trained as a correction of): `prior:drl`. The guard of a learned policy replays
/// its prior under this name too.
pub const PRIOR_PREFIX: &str = "prior:";

/// Policy names starting with this wrap the rest in the run-time guard: `guard:least-slack`.
pub const GUARD_PREFIX: &str = "guard:";

/// Policy names starting with this run a learned policy without the run-time guard:
/// `unguarded:drl`.
pub const UNGUARDED_PREFIX: &str = "unguarded:";

/// The baselines the run-time guard may hand decisions to, besides the guarded policy: the ones
/// that are most often the best baseline somewhere: the GPU-only deployment, the objective's
/// greedy rule, Band's least slack, and the least-loaded placement, which is the best baseline
/// on android-flagship's heaviest mixes, where spreading over every processor beats choosing
/// the fastest (docs/guard.md). (Earliest finish is least slack's placement first come first
/// served; the guarded policy's own `fifo:` variant covers that order. `energy-greedy` as a
/// candidate was measured and not kept, docs/guard.md.)
pub const GUARD_BASELINES: &[&str] = &["fastest-only", "objective-greedy", "least-slack", "least-loaded"];

/// `name` (a baseline, `drl[:objective]` or a policy file) under the run-time guard
/// ([`cosched_sim::guard`]), with [`GUARD_BASELINES`] as the other candidates, `name` with
/// first-come-first-served queues where it orders them by slack (`fifo:`), `name` run with
/// each other batch and hedging rule of its action space ([`ActionSpace`]), a learned policy's
/// untrained prior with each of those rules too where its weights are not the prior's
/// ([`PRIOR_PREFIX`]), and where that space batches, the batching baselines
/// ([`BATCHING_BASELINE_NAMES`]). `config.weights`
/// scores the replays; `config.background` judges on a thread (real runs).
///
/// ```
/// use cosched::{policies::resolve_policy, DeviceProfile, ObjectiveWeights, Policy};
/// let device = DeviceProfile::builtin("jetson-agx-orin").unwrap();
/// let p = resolve_policy("guard:drl", &device, ObjectiveWeights::BALANCED).unwrap();
/// assert_eq!(p.name(), "guard(drl:balanced)");
/// ```
pub fn resolve_guarded(
    name: &str,
    device: &DeviceProfile,
    weights: ObjectiveWeights,
    config: GuardConfig,
) -> Result<Guard, PolicyError> {
    if name.starts_with(GUARD_PREFIX) || name.starts_with(UNGUARDED_PREFIX) {
        return Err(PolicyError::Unknown(format!("{GUARD_PREFIX}{name}")));
    }
    let mut candidates = Vec::new();
    let (first, prior, space): (Candidate, Option<Candidate>, ActionSpace) = match baseline(name, device, weights) {
        Some(_) => (
            baseline_candidate(name, device, weights),
            None,
            ActionSpace::for_device(device),
        ),
        None => {
            let drl = resolve_drl_policy(name, device)?;
            let space = drl
                .action_space()
                .cloned()
                .unwrap_or_else(|| ActionSpace::for_device(device));
            let prior = (!drl.network().has_zero_heads())
                .then(|| drl_candidate(drl.prior_policy(format!("{PRIOR_PREFIX}{}", drl.name()))));
            (drl_candidate(drl), prior, space)
        }
    };
    candidates.push(first.clone());
    // The guarded policy with first-come-first-served queues too, where it orders them by
    // slack: which order suits a workload is a choice the replay can make.
    if (first.make)().queue_order() != QueueOrder::Fifo {
        candidates.push(wrapped_candidate(&first, FIFO_PREFIX, device));
    }
    for b in GUARD_BASELINES {
        if candidates[0].name != *b {
            candidates.push(baseline_candidate(b, device, weights));
        }
    }
    // The second stage of the action: the guarded policy also runs with each batch and hedging
    // rule of its action space (Kum's rule and Triton's dynamic batcher where processors batch,
    // tail hedging where they stall), so that the replays choose batch size, wait and copies.
    // On the validation family the batching rules raised the cases no worse than the best
    // baseline on every board that batches (docs/guard.md).
    candidates.extend(space.alternatives().map(|alt| rule_candidate(&first, alt, device)));
    // A learned policy's untrained prior too, with each rule of the action space: what the
    // policy learned holds on the workloads it was trained on, and where a workload is unlike
    // them the rule it learned from is the safer choice (docs/guard.md).
    if let Some(prior) = prior {
        candidates.push(prior.clone());
        candidates.extend(space.alternatives().map(|alt| rule_candidate(&prior, alt, device)));
    }
    // Where the board batches, Kum's rule and Triton's dynamic batcher as baselines too (their
    // own earliest-finish placement): on the validation family they lowered the geometric mean
    // of the objective on every board that batches (docs/guard.md).
    if space.batch.len() > 1 {
        for b in BATCHING_BASELINE_NAMES {
            if candidates[0].name != *b {
                candidates.push(baseline_candidate(b, device, weights));
            }
        }
    }
    Ok(Guard::new(device, candidates, GuardConfig { weights, ..config }))
}

/// `first` run with another rule of its action space, named by the rule's prefix.
fn rule_candidate(first: &Candidate, alt: Alternative, device: &DeviceProfile) -> Candidate {
    let prefix = match alt {
        Alternative::Batch(BatchRule::Kum) => KUM_PREFIX,
        Alternative::Batch(BatchRule::DynamicBatch) => DYNAMIC_BATCH_PREFIX,
        Alternative::Batch(BatchRule::Greedy) | Alternative::Hedge(HedgeRule::None) => {
            return first.clone();
        }
        Alternative::Hedge(HedgeRule::Tail) => HEDGE_TAIL_PREFIX,
    };
    wrapped_candidate(first, prefix, device)
}

/// `first` wrapped by the rule of `prefix` (one of [`WRAPPERS`]), named by it.
fn wrapped_candidate(first: &Candidate, prefix: &'static str, device: &DeviceProfile) -> Candidate {
    let wrap = WRAPPERS
        .iter()
        .find(|(p, _)| *p == prefix)
        .map(|&(_, w)| w)
        .expect("every rule's prefix is in WRAPPERS");
    let (make, device) = (first.make.clone(), device.clone());
    let name = format!("{prefix}{}", first.name);
    let n = name.clone();
    Candidate {
        name,
        make: Arc::new(move || wrap(make(), &device, n.clone())),
    }
}

fn drl_candidate(drl: DrlPolicy) -> Candidate {
    Candidate {
        name: drl.name().to_string(),
        make: Arc::new(move || Box::new(drl.clone()) as Box<dyn Policy>),
    }
}

fn baseline_candidate(name: &str, device: &DeviceProfile, weights: ObjectiveWeights) -> Candidate {
    let (name, device) = (name.to_string(), device.clone());
    Candidate {
        name: name.clone(),
        make: Arc::new(move || baseline(&name, &device, weights).expect("a baseline name")),
    }
}

/// [`resolve_policy`] with online fine-tuning ([`FineTuned`]): the DRL policy `name` keeps
/// learning from completions, with `config`'s fallback guard. A baseline cannot be fine-tuned.
///
/// ```
/// use cosched::{policies::resolve_fine_tuned, DeviceProfile, FineTuneConfig, Policy};
/// let device = DeviceProfile::builtin("jetson-agx-orin").unwrap();
/// let p = resolve_fine_tuned("drl", &device, FineTuneConfig::default()).unwrap();
/// assert_eq!(p.name(), "drl:balanced+finetune");
/// // A learned policy's untrained prior can be fine-tuned too.
/// let q = resolve_fine_tuned("prior:drl", &device, FineTuneConfig::default()).unwrap();
/// assert_eq!(q.name(), "prior:drl:balanced+finetune");
/// assert!(resolve_fine_tuned("least-slack", &device, FineTuneConfig::default()).is_err());
/// ```
pub fn resolve_fine_tuned(
    name: &str,
    device: &DeviceProfile,
    config: FineTuneConfig,
) -> Result<FineTuned, PolicyError> {
    if BASELINE_NAMES.contains(&name) {
        return Err(PolicyError::NotLearned(name.to_string()));
    }
    Ok(FineTuned::new(resolve_drl_policy(name, device)?, config))
}

/// `drl[:objective]` (pretrained, compiled in) or a policy file on disk, or either's prior
/// (`prior:drl`).
fn resolve_drl_policy(name: &str, device: &DeviceProfile) -> Result<DrlPolicy, PolicyError> {
    if let Some(inner) = name.strip_prefix(PRIOR_PREFIX) {
        if inner.starts_with(PRIOR_PREFIX) {
            return Err(PolicyError::Unknown(name.to_string()));
        }
        let drl = resolve_drl_policy(inner, device)?;
        return Ok(drl.prior_policy(format!("{PRIOR_PREFIX}{}", drl.name())));
    }
    if name == "drl" || name.starts_with("drl:") {
        let objective = name.strip_prefix("drl:").unwrap_or("balanced");
        if !DRL_OBJECTIVES.contains(&objective) {
            return Err(PolicyError::UnknownObjective(name.to_string()));
        }
        let want = format!("{}-{objective}", device.name);
        let Some((_, files)) = PRETRAINED.iter().find(|(n, _)| *n == want) else {
            let shipped: Vec<&str> = pretrained_names().collect();
            return Err(PolicyError::NoPretrained {
                name: name.to_string(),
                device: device.name.clone(),
                objective: objective.to_string(),
                shipped: if shipped.is_empty() {
                    "none".into()
                } else {
                    shipped.join(", ")
                },
            });
        };
        let origin = format!("policies/{want}.policy (compiled in)");
        return Ok(cosched_rl::load_policy_files(&origin, files, device)?);
    }
    let path = Path::new(name);
    if path.exists() {
        return Ok(cosched_rl::load_policy(path, device)?);
    }
    Err(PolicyError::Unknown(name.to_string()))
}
