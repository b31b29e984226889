//! `cosched-bench train`: train a DRL policy in the simulator and write a policy file.

use crate::inputs::BadInput;
use clap::Args;
use cosched_core::{DeviceProfile, ObjectiveWeights, Workload};
use cosched_rl::{save_policy, train, Manifest, RlError, TrainConfig};
use std::path::PathBuf;

/// Arguments of `cosched-bench train`.
#[derive(Args)]
pub struct TrainArgs {
    /// Device profile: a path or a name in devices/.
    #[arg(long)]
    device: String,
    /// Comma-separated training workloads (paths or built-in names); default: every built-in
    /// workload except the held-out mixed-slo and bursty-multitenant.
    #[arg(long, value_delimiter = ',')]
    workloads: Vec<String>,
    /// Objective: balanced, latency, energy, or `latency,violation,energy` weights.
    #[arg(long, default_value = "balanced")]
    objective: String,
    /// Where to write the policy directory (NAME.policy/).
    #[arg(long)]
    out: PathBuf,
    /// Placements to train for.
    #[arg(long, default_value_t = 500_000)]
    steps: u64,
    /// Seed (training is deterministic for a given seed).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Hidden layer width.
    #[arg(long, default_value_t = 64)]
    hidden: usize,
    /// Placements between evaluations.
    #[arg(long)]
    eval_every: Option<u64>,
    /// Checkpoint folder, written at every evaluation and removed once the policy is saved
    /// [default: OUT.checkpoint next to --out].
    #[arg(long)]
    checkpoint: Option<PathBuf>,
    /// Resume an interrupted run from its checkpoint (same --device, --objective, --seed,
    /// --hidden and workloads; --steps may be raised).
    #[arg(long)]
    resume: bool,
}

/// Train and save.
pub fn run(args: TrainArgs) -> anyhow::Result<()> {
    let device = DeviceProfile::load(&args.device).map_err(|e| BadInput(e.to_string()))?;
    let weights = ObjectiveWeights::parse(&args.objective).map_err(|e| BadInput(format!("--objective: {e}")))?;
    if args.steps == 0 || args.hidden == 0 || args.hidden > 4096 {
        return Err(BadInput("--steps must be positive and --hidden in 1..=4096".into()).into());
    }
    let mut cfg = TrainConfig::new(device);
    if !args.workloads.is_empty() {
        cfg.workloads = args
            .workloads
            .iter()
            .map(|w| Ok((w.clone(), Workload::load(w).map_err(|e| BadInput(e.to_string()))?)))
            .collect::<Result<_, BadInput>>()?;
    }
    // Every workload must fit the device before minutes of training start.
    for (name, w) in &cfg.workloads {
        w.resolve(&cfg.device, None, name)
            .map_err(|e| BadInput(e.to_string()))?;
    }
    cfg.objective_name = args.objective.clone();
    cfg.weights = weights;
    cfg.steps = args.steps;
    cfg.seed = args.seed;
    cfg.hidden = args.hidden;
    if let Some(e) = args.eval_every {
        cfg.eval_every = e.max(1);
    }
    let checkpoint = args.checkpoint.clone().unwrap_or_else(|| {
        let mut name = args.out.file_name().unwrap_or_default().to_os_string();
        name.push(".checkpoint");
        args.out.with_file_name(name)
    });
    if args.resume && !checkpoint.join("state.json").is_file() {
        return Err(BadInput(format!("--resume: no checkpoint in {}", checkpoint.display())).into());
    }
    cfg.checkpoint_dir = Some(checkpoint.clone());
    cfg.resume_from = args.resume.then(|| checkpoint.clone());
    let command = format!(
        "cosched-bench train --device {} --objective {} --steps {} --seed {} --hidden {}{}",
        cfg.device.name,
        args.objective,
        args.steps,
        args.seed,
        args.hidden,
        if args.workloads.is_empty() {
            String::new()
        } else {
            format!(" --workloads {}", args.workloads.join(","))
        }
    );
    let bar = crate::progress::bar(cfg.steps, "placements");
    let trained = train(&cfg, &mut |p| {
        bar.set_position(p.step);
        let ret = p.last_return_per_request.map_or("-".into(), |r| format!("{r:.3}"));
        let eval = p.eval_ratio.map_or("-".into(), |r| format!("{r:.3}"));
        bar.set_message(format!(
            "episode {} return/req {ret} eval/prior {eval} best {:.3}",
            p.episodes, p.best_ratio
        ));
    })
    .map_err(|e| match e {
        // A checkpoint that does not fit is the user's input, like a bad profile.
        RlError::Checkpoint { .. } => anyhow::Error::from(BadInput(e.to_string())),
        other => anyhow::Error::from(other).context("training"),
    })?;
    bar.finish();
    let manifest = Manifest::new(&cfg, &trained, &command);
    save_policy(&args.out, &manifest, &trained.weights)?;
    // The policy is safe on disk: the checkpoint has served its purpose.
    if let Err(e) = std::fs::remove_dir_all(&checkpoint) {
        tracing::warn!("could not remove the checkpoint {}: {e}", checkpoint.display());
    }
    println!(
        "wrote {} ({} placements in {:.0} s; kept the weights of placement {}; evaluation objective / prior {:.3})",
        args.out.display(),
        trained.steps,
        trained.wall_s,
        trained.best_step,
        trained.eval_ratio
    );
    Ok(())
}
