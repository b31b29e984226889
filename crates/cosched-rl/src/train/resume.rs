//! Checkpoints of a training run: the state written at every evaluation, and the checks that
//! a checkpoint belongs to the run that resumes from it.

use super::config::TrainConfig;
use super::selection::Kept;
use crate::checkpoint::{CheckpointState, CHECKPOINT_FORMAT};
use crate::error::RlError;
use crate::policy_file::device_hash;
use std::path::Path;

/// Where a run is besides its placements: episodes so far, and when it evaluates next.
#[derive(Debug, Clone, Copy)]
pub(super) struct Counters {
    pub episodes: u64,
    pub next_eval: u64,
}

/// The checkpoint state of a run at placement `step` and `at`, after `updates` gradient
/// updates, with the weights `kept` so far.
pub(super) fn state(
    cfg: &TrainConfig,
    step: u64,
    at: Counters,
    updates: u64,
    kept: &Kept,
    last_ratio: Option<f64>,
) -> CheckpointState {
    CheckpointState {
        format: CHECKPOINT_FORMAT,
        device_hash: device_hash(&cfg.device),
        objective_weights: cfg.weights,
        seed: cfg.seed,
        hidden: cfg.hidden,
        method: cfg.method.name().into(),
        step,
        episodes: at.episodes,
        updates,
        next_eval: at.next_eval,
        best_step: kept.step,
        best_ratio: kept.ratio,
        best_objectives: kept.objectives.clone(),
        last_ratio,
        online_sha256: String::new(),
        best_sha256: String::new(),
    }
}

/// Whether a checkpoint belongs to this run: same device, objective, seed, width and number
/// of evaluation cases, and not past the end.
pub(super) fn check_fits(dir: &Path, s: &CheckpointState, cfg: &TrainConfig, eval_cases: usize) -> Result<(), RlError> {
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
