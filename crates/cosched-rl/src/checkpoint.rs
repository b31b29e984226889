//! Training checkpoints: the state of a run at its last evaluation, so that an interrupted run
//! can be resumed instead of restarted.
//!
//! A checkpoint is a folder with `state.json` (counters, the best evaluation so far, checksums)
//! and two networks in burn's format, `online.bpk` (the network being trained) and `best.bpk`
//! (the weights kept so far). Files are written under temporary names and renamed, weights
//! before state, so a run killed while writing leaves the previous checkpoint or a complete new
//! one, never a torn mix (the checksums in `state.json` would catch one).
//!
//! What is not saved: the replay buffer (tens of MB), Adam's moments and the random generator's
//! position. A resumed run refills its replay buffer, restarts Adam's moments and draws from a
//! generator seeded by (seed, step): it is deterministic for a given checkpoint, but not
//! bit-identical to the run that was never interrupted.

use crate::error::RlError;
use cosched_core::ObjectiveWeights;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::Path;

/// Version of the checkpoint layout.
pub const CHECKPOINT_FORMAT: u32 = 1;

/// Counters and results of a training run at one evaluation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckpointState {
    /// [`CHECKPOINT_FORMAT`].
    pub format: u32,
    /// [`crate::device_hash`] of the profile trained for.
    pub device_hash: String,
    /// Objective weights of the reward.
    pub objective_weights: ObjectiveWeights,
    /// Seed of the run.
    pub seed: u64,
    /// Hidden width of the network.
    pub hidden: usize,
    /// [`crate::TrainMethod::name`] of the run (checkpoints from before there was a choice are
    /// DQN's).
    #[serde(default = "dqn")]
    pub method: String,
    /// Placements done.
    pub step: u64,
    /// Episodes finished.
    pub episodes: u64,
    /// Gradient updates done.
    pub updates: u64,
    /// Placement of the next evaluation.
    pub next_eval: u64,
    /// Placement whose weights are kept (0: the untrained prior).
    pub best_step: u64,
    /// Mean evaluation ratio to the prior of the kept weights.
    pub best_ratio: f64,
    /// Evaluation objectives of the kept weights, per case.
    pub best_objectives: Vec<f64>,
    /// Ratio at the last evaluation.
    pub last_ratio: Option<f64>,
    /// SHA-256 of `online.bpk`.
    pub online_sha256: String,
    /// SHA-256 of `best.bpk`.
    pub best_sha256: String,
}

fn dqn() -> String {
    "dqn".into()
}

/// A checkpoint: state and both networks (burnpack bytes).
#[derive(Debug, Clone)]
pub struct Checkpoint {
    /// Counters and results.
    pub state: CheckpointState,
    /// The network being trained.
    pub online: Vec<u8>,
    /// The weights kept so far.
    pub best: Vec<u8>,
}

pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

fn err(dir: &Path, problem: impl std::fmt::Display) -> RlError {
    RlError::Checkpoint {
        dir: dir.display().to_string(),
        problem: problem.to_string(),
    }
}

fn write_atomically(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), RlError> {
    let tmp = dir.join(format!("{name}.tmp"));
    std::fs::write(&tmp, bytes).map_err(|e| err(dir, format!("writing {name}: {e}")))?;
    std::fs::rename(&tmp, dir.join(name)).map_err(|e| err(dir, format!("renaming {name}: {e}")))
}

/// Write `ck` into `dir` (created if needed), replacing the checkpoint there.
pub fn save_checkpoint(dir: &Path, ck: &Checkpoint) -> Result<(), RlError> {
    std::fs::create_dir_all(dir).map_err(|e| err(dir, e))?;
    let mut state = ck.state.clone();
    state.online_sha256 = sha256_hex(&ck.online);
    state.best_sha256 = sha256_hex(&ck.best);
    let json = serde_json::to_vec_pretty(&state).map_err(|e| err(dir, e))?;
    write_atomically(dir, "online.bpk", &ck.online)?;
    write_atomically(dir, "best.bpk", &ck.best)?;
    write_atomically(dir, "state.json", &json)
}

/// Read and verify the checkpoint in `dir`: layout version and the checksums of both networks.
/// Whether it fits a training configuration is checked by [`crate::train()`].
pub fn load_checkpoint(dir: &Path) -> Result<Checkpoint, RlError> {
    let read = |name: &str| std::fs::read(dir.join(name)).map_err(|e| err(dir, format!("reading {name}: {e}")));
    let state: CheckpointState =
        serde_json::from_slice(&read("state.json")?).map_err(|e| err(dir, format!("state.json: {e}")))?;
    if state.format != CHECKPOINT_FORMAT {
        return Err(err(
            dir,
            format!(
                "checkpoint format {} (this build reads {CHECKPOINT_FORMAT})",
                state.format
            ),
        ));
    }
    let online = read("online.bpk")?;
    let best = read("best.bpk")?;
    for (name, bytes, sum) in [
        ("online.bpk", &online, &state.online_sha256),
        ("best.bpk", &best, &state.best_sha256),
    ] {
        if &sha256_hex(bytes) != sum {
            return Err(err(
                dir,
                format!("{name} does not match its SHA-256 in state.json (corrupted?)"),
            ));
        }
    }
    Ok(Checkpoint { state, online, best })
}
