//! Several runs of different seeds, the best kept: RL runs differ a lot from seed to seed.

use super::config::TrainConfig;
use super::result::{TrainProgress, TrainedPolicy};
use super::train;
use crate::error::RlError;
use std::path::PathBuf;

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
