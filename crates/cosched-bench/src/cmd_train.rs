//! `cosched-bench train`: train a DRL policy in the simulator and write a policy file.

use crate::inputs::BadInput;
use clap::Args;
use cosched_core::{DeviceProfile, ObjectiveWeights, Workload};
use cosched_rl::{save_policy, train_restarts, Manifest, PriorForm, RlError, TrainBackend, TrainConfig, TrainMethod};
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
    /// Independent runs with seeds SEED, SEED+1, ...; the one that scores best against the
    /// baselines on the validation cases is kept.
    #[arg(long, default_value_t = 3)]
    restarts: u32,
    /// Hidden layer width.
    #[arg(long, default_value_t = 64)]
    hidden: usize,
    /// Placements between evaluations.
    #[arg(long)]
    eval_every: Option<u64>,
    /// Discount per placement (default 0.99).
    #[arg(long)]
    gamma: Option<f32>,
    /// Adam learning rate (default 5e-4).
    #[arg(long)]
    learning_rate: Option<f64>,
    /// Checkpoint folder (one seed-N/ inside per restart), written at every evaluation and
    /// removed once the policy is saved [default: OUT.checkpoint next to --out].
    #[arg(long)]
    checkpoint: Option<PathBuf>,
    /// Where burn computes the updates: flex (CPU) or wgpu (GPU; needs a build with
    /// `--features wgpu`).
    #[arg(long, default_value = "flex")]
    backend: String,
    /// Resume an interrupted run from its checkpoint (same --device, --objective, --seed,
    /// --hidden and workloads; --steps may be raised).
    #[arg(long)]
    resume: bool,
    /// The heuristic the network learns corrections to: priced-objective, earliest-finish, or
    /// auto (learn over priced-objective, and keep the untrained earliest-finish policy if it
    /// loses fewer evaluation cases to the baselines than anything trained).
    #[arg(long, default_value = "auto")]
    prior: String,
    /// Where the randomised episodes come from: SEED:COUNT (scenarios 0..COUNT of a training
    /// seed of the scenario generator, docs/scenarios.md) or `mixes` (the older random mixes).
    #[arg(long, default_value = "1000:1000")]
    train_scenarios: String,
    /// Fraction of episodes drawn from --train-scenarios; the rest run --workloads.
    #[arg(long, default_value_t = 0.5)]
    scenario_fraction: f64,
    /// What the weights are selected on: SEED:COUNT (generated scenarios of a validation seed,
    /// at loads 0.5, 0.8 and 0.95) or `workloads` (the training workloads and four random
    /// mixes, which favours what was trained on).
    #[arg(long, default_value = "2500:12")]
    validation: String,
    /// Simulated seconds of each selection case (a scenario's own window when shorter).
    #[arg(long)]
    eval_duration: Option<f64>,
    /// Weights are kept only if no selection case is worse than the untrained prior's by more
    /// than this fraction.
    #[arg(long)]
    max_case_regression: Option<f64>,
    /// Randomised boards: each latency and power of an episode's true board is the profile's
    /// times U(1 - P, 1 + P) (default 0.35).
    #[arg(long)]
    perturb: Option<f64>,
    /// How the policy is learned: dqn (Double DQN corrections to the prior, per processor) or
    /// rules (the network chooses among placement rules, learned from rollouts of each rule in
    /// copies of the simulator; experimental, docs/training.md).
    #[arg(long, default_value = "dqn")]
    method: String,
    /// With --method rules: placements between two sampled decisions (default 8).
    #[arg(long)]
    rollout_every: Option<u64>,
    /// With --method rules: placements a rollout counts (default 100).
    #[arg(long)]
    rollout_horizon: Option<usize>,
    /// A training episode is cut to about this many arrivals (default 4000): shorter episodes
    /// see more workloads in the same number of placements.
    #[arg(long)]
    episode_placements: Option<f64>,
}

/// `SEED:COUNT` of a scenario family, or `None` for the keyword `off`.
fn family(flag: &str, value: &str, off: &str) -> Result<Option<(u64, u64)>, BadInput> {
    if value == off {
        return Ok(None);
    }
    let parsed = value
        .split_once(':')
        .and_then(|(s, n)| Some((s.trim().parse::<u64>().ok()?, n.trim().parse::<u64>().ok()?)));
    match parsed {
        Some((seed, count)) if (1..=100_000).contains(&count) => Ok(Some((seed, count))),
        _ => Err(BadInput(format!(
            "{flag}: expected SEED:COUNT (COUNT in 1..=100000) or {off}, got \"{value}\""
        ))),
    }
}

/// Train and save.
pub fn run(args: TrainArgs) -> anyhow::Result<()> {
    let device = DeviceProfile::load(&args.device).map_err(|e| BadInput(e.to_string()))?;
    let weights = ObjectiveWeights::parse(&args.objective).map_err(|e| BadInput(format!("--objective: {e}")))?;
    if args.steps == 0 || args.hidden == 0 || args.hidden > 4096 || !(1..=32).contains(&args.restarts) {
        return Err(BadInput("--steps must be positive, --hidden in 1..=4096 and --restarts in 1..=32".into()).into());
    }
    let backend = TrainBackend::parse(&args.backend)
        .ok_or_else(|| BadInput(format!("--backend: expected flex or wgpu, got \"{}\"", args.backend)))?;
    let mut cfg = TrainConfig::new(device);
    cfg.backend = backend;
    cfg.method = TrainMethod::parse(&args.method)
        .ok_or_else(|| BadInput(format!("--method: expected dqn or rules, got \"{}\"", args.method)))?;
    if let TrainMethod::Rules { every, horizon } = &mut cfg.method {
        if let Some(e) = args.rollout_every {
            if e == 0 {
                return Err(BadInput("--rollout-every: must be positive".into()).into());
            }
            *every = e;
        }
        if let Some(h) = args.rollout_horizon {
            if !(1..=100_000).contains(&h) {
                return Err(BadInput(format!("--rollout-horizon: must be 1-100000 placements, got {h}")).into());
            }
            *horizon = h;
        }
    } else if args.rollout_every.is_some() || args.rollout_horizon.is_some() {
        return Err(BadInput("--rollout-every and --rollout-horizon need --method rules".into()).into());
    }
    if args.prior != "auto" {
        let form = PriorForm::parse(&args.prior).ok_or_else(|| {
            BadInput(format!(
                "--prior: expected auto, priced-objective or earliest-finish, got \"{}\"",
                args.prior
            ))
        })?;
        cfg.prior_forms = vec![form];
    }
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
    cfg.train_family = family("--train-scenarios", &args.train_scenarios, "mixes")?;
    cfg.validation = family("--validation", &args.validation, "workloads")?;
    if !(0.0..=1.0).contains(&args.scenario_fraction) {
        return Err(BadInput(format!(
            "--scenario-fraction: must be in [0, 1], got {}",
            args.scenario_fraction
        ))
        .into());
    }
    cfg.random_mix_fraction = args.scenario_fraction;
    if let Some(d) = args.eval_duration {
        if !(d.is_finite() && (1.0..=600.0).contains(&d)) {
            return Err(BadInput(format!("--eval-duration: must be 1-600 seconds, got {d}")).into());
        }
        cfg.eval_duration_s = d;
    }
    if let Some(p) = args.perturb {
        if !(p.is_finite() && (0.0..0.9).contains(&p)) {
            return Err(BadInput(format!("--perturb: must be in [0, 0.9), got {p}")).into());
        }
        cfg.perturb = p;
    }
    if let Some(r) = args.max_case_regression {
        if !(r.is_finite() && r >= 0.0) {
            return Err(BadInput(format!("--max-case-regression: must be a fraction >= 0, got {r}")).into());
        }
        cfg.max_case_regression = r;
    }
    if let Some(n) = args.episode_placements {
        if !(n.is_finite() && (50.0..=1e7).contains(&n)) {
            return Err(BadInput(format!("--episode-placements: must be 50-10000000, got {n}")).into());
        }
        cfg.episode_placements = n;
    }
    cfg.objective_name = args.objective.clone();
    cfg.weights = weights;
    cfg.steps = args.steps;
    cfg.seed = args.seed;
    cfg.hidden = args.hidden;
    if let Some(e) = args.eval_every {
        cfg.eval_every = e.max(1);
    }
    if let Some(g) = args.gamma {
        if !(0.0..1.0).contains(&g) {
            return Err(BadInput(format!("--gamma: must be in [0, 1), got {g}")).into());
        }
        cfg.gamma = g;
    }
    if let Some(lr) = args.learning_rate {
        if !(lr.is_finite() && lr > 0.0 && lr < 1.0) {
            return Err(BadInput(format!("--learning-rate: must be in (0, 1), got {lr}")).into());
        }
        cfg.learning_rate = lr;
    }
    let checkpoint = args.checkpoint.clone().unwrap_or_else(|| {
        let mut name = args.out.file_name().unwrap_or_default().to_os_string();
        name.push(".checkpoint");
        args.out.with_file_name(name)
    });
    // One checkpoint folder per restart: seed-N/.
    let has_checkpoint = (0..u64::from(args.restarts)).any(|i| {
        checkpoint
            .join(format!("seed-{}", args.seed + i))
            .join("state.json")
            .is_file()
    });
    if args.resume && !has_checkpoint {
        return Err(BadInput(format!("--resume: no checkpoint in {}", checkpoint.display())).into());
    }
    cfg.checkpoint_dir = Some(checkpoint.clone());
    cfg.resume_from = args.resume.then(|| checkpoint.clone());
    let command = format!(
        "cosched-bench train --device {} --objective {} --steps {} --eval-every {} --seed {} --restarts {} --hidden {} --gamma {} --learning-rate {} --prior {} --train-scenarios {} --scenario-fraction {} --validation {} --eval-duration {} --max-case-regression {} --perturb {} --episode-placements {} --method {}{}",
        cfg.device.name,
        args.objective,
        args.steps,
        cfg.eval_every,
        args.seed,
        args.restarts,
        args.hidden,
        cfg.gamma,
        cfg.learning_rate,
        args.prior,
        args.train_scenarios,
        args.scenario_fraction,
        args.validation,
        cfg.eval_duration_s,
        cfg.max_case_regression,
        cfg.perturb,
        cfg.episode_placements,
        match cfg.method {
            TrainMethod::Rules { every, horizon } => format!("rules --rollout-every {every} --rollout-horizon {horizon}"),
            TrainMethod::Dqn => "dqn".into(),
        },
        if args.workloads.is_empty() {
            String::new()
        } else {
            format!(" --workloads {}", args.workloads.join(","))
        }
    );
    let bar = crate::progress::bar(cfg.steps * u64::from(args.restarts), "placements");
    let trained = train_restarts(&cfg, args.restarts, &mut |p| {
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
        RlError::Checkpoint { .. } | RlError::Config(_) => anyhow::Error::from(BadInput(e.to_string())),
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
        "wrote {} ({} runs of {} placements in {:.0} s; kept seed {} at placement {} (placement 0: the untrained {} prior); evaluation objective / prior {:.3}, selection score {:.3}: cases lost to the best baseline, plus ties broken below 1)",
        args.out.display(),
        args.restarts,
        trained.steps,
        trained.wall_s,
        trained.seed,
        trained.best_step,
        trained.prior.name(),
        trained.eval_ratio,
        trained.score
    );
    Ok(())
}
