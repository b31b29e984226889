//! `cosched-bench`: simulate, compare, (later) train, profile and run cosched schedulers.
//!
//! Exit codes: 0 on success, 2 on bad input (with a one-line reason naming the file and the
//! problem), 1 on any other failure.

mod cmd_eval;
mod cmd_real;
mod cmd_scenarios;
mod cmd_serve;
mod cmd_train;
mod inputs;
mod plot;
mod progress;
mod scenario_set;
mod table;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use cosched_core::{ObjectiveWeights, RunReport};
use cosched_sim::{simulate_with_progress, SimConfig};
use inputs::{BadInput, Inputs};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "cosched-bench",
    version,
    about = "Benchmark and compare cosched schedulers on simulated and real boards"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Simulate one policy on a device profile and workload.
    Sim {
        #[command(flatten)]
        common: Common,
        /// Policy: a baseline name (see `compare --help`), drl / drl:balanced|latency|energy
        /// (the pretrained policy of the device), or a policy directory.
        #[arg(long, default_value = "least-slack")]
        policy: String,
    },
    /// Simulate several policies on the same arrivals and compare them.
    Compare {
        #[command(flatten)]
        common: Common,
        /// Comma-separated policies; default: every baseline (fastest-only, round-robin, random,
        /// least-loaded, shortest-expected-latency, earliest-finish, least-slack, energy-greedy,
        /// objective-greedy) and, when one is shipped for the device and objective, the
        /// pretrained DRL policy.
        #[arg(long, value_delimiter = ',')]
        policies: Vec<String>,
        /// Write an SVG plot of p99 latency, SLO violation rate and energy per inference.
        #[arg(long)]
        svg: Option<PathBuf>,
    },
    /// Run a workload for real on ONNX Runtime (wall clock, real inferences; report mode "real").
    Run(cmd_real::RunArgs),
    /// Measure a device profile of this machine's ONNX Runtime execution providers.
    Profile(cmd_real::ProfileArgs),
    /// Train a DRL policy in the simulator and write a policy directory.
    Train(cmd_train::TrainArgs),
    /// Compare one policy with every baseline over devices x workloads x loads (simulated).
    Evaluate(cmd_eval::EvalArgs),
    /// Write a generated scenario set (docs/scenarios.md) as workload files.
    Scenarios(cmd_scenarios::ScenariosArgs),
    /// Serve the board's models over the KServe v2 REST protocol (docs/serve.md).
    Serve(cmd_serve::ServeArgs),
}

#[derive(Args)]
struct Common {
    /// Device profile: a path, or the name of a file in devices/ (jetson-agx-orin, jetson-orin-nano,
    /// jetson-xavier-nx, android-flagship, host-cpu).
    #[arg(long, default_value = "jetson-agx-orin")]
    device: String,
    /// Workload: a path or a built-in name (single-stream, multi-stream, server, offline,
    /// camera-pipeline, bursty-multitenant, mixed-slo).
    #[arg(long, default_value = "mixed-slo")]
    workload: String,
    /// Scale open-loop arrival rates to this fraction of the device's saturation throughput
    /// (e.g. 0.5, 0.8, 0.95); default: the workload file's own `load`, if any.
    #[arg(long, allow_negative_numbers = true)]
    load: Option<f64>,
    /// Override the workload's arrival window, seconds.
    #[arg(long, allow_negative_numbers = true)]
    duration: Option<f64>,
    /// Seed of arrivals, service times and randomised policies.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Objective weights: balanced, latency, energy, or `latency,violation,energy` weights.
    #[arg(long, default_value = "balanced")]
    objective: String,
    /// Write the report(s) as JSON to this file (`-` for stdout, which then gets no table).
    #[arg(long)]
    json: Option<PathBuf>,
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("COSCHED_LOG").unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .init();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // Usage errors get the same one-line form as every other bad input; --help and
        // --version print in full.
        Err(e) if e.use_stderr() => {
            let text = e.to_string();
            let first = text
                .lines()
                .next()
                .unwrap_or("invalid arguments")
                .trim_start_matches("error: ");
            eprintln!("cosched-bench: error: {first} (see --help)");
            return ExitCode::from(2);
        }
        Err(e) => e.exit(),
    };
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let code = if e.downcast_ref::<BadInput>().is_some() { 2 } else { 1 };
            // One line: the error and its causes joined.
            let msg = e.chain().map(|c| c.to_string()).collect::<Vec<_>>().join(": ");
            eprintln!("cosched-bench: error: {msg}");
            ExitCode::from(code)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Sim { common, policy } => {
            let inputs = Inputs::load(&common.device, &common.workload, common.load, common.duration)?;
            let weights = parse_objective(&common.objective)?;
            let mut p = inputs.policy(&policy, weights)?;
            let config = SimConfig {
                weights,
                ..SimConfig::with_seed(common.seed)
            };
            let bar = progress::bar(1, "simulating");
            let report = simulate_with_progress(&inputs.device, &inputs.workload, &mut *p, &config, &mut |f| {
                bar.set_fraction(f)
            });
            bar.finish();
            emit(&common, std::slice::from_ref(&report), &inputs, false)
        }
        Command::Compare { common, policies, svg } => {
            let inputs = Inputs::load(&common.device, &common.workload, common.load, common.duration)?;
            let weights = parse_objective(&common.objective)?;
            let names: Vec<String> = if policies.is_empty() {
                let mut names: Vec<String> = cosched_core::BASELINE_NAMES.iter().map(|s| s.to_string()).collect();
                // The pretrained policy joins the baselines whenever one exists for this
                // device and objective.
                if cosched::policies::has_pretrained(&inputs.device.name, &common.objective) {
                    // Guarded, as `drl` runs; and alone, side by side.
                    names.push(format!("drl:{}", common.objective));
                    names.push(format!(
                        "{}drl:{}",
                        cosched::policies::UNGUARDED_PREFIX,
                        common.objective
                    ));
                }
                names
            } else {
                policies
            };
            // Build every policy first, so a typo fails before minutes of simulation.
            for n in &names {
                inputs.policy(n, weights)?;
            }
            let config = SimConfig {
                weights,
                ..SimConfig::with_seed(common.seed)
            };
            let reports = compare(&inputs, &names, weights, &config)?;
            if let Some(path) = &svg {
                plot::write_svg(path, &reports, &inputs).with_context(|| format!("writing {}", path.display()))?;
            }
            emit(&common, &reports, &inputs, true)
        }
        Command::Run(args) => cmd_real::run(args),
        Command::Profile(args) => cmd_real::profile(args),
        Command::Evaluate(args) => cmd_eval::evaluate(args),
        Command::Train(args) => cmd_train::run(args),
        Command::Scenarios(args) => cmd_scenarios::run(args),
        Command::Serve(args) => cmd_serve::serve(args),
    }
}

fn parse_objective(s: &str) -> anyhow::Result<ObjectiveWeights> {
    ObjectiveWeights::parse(s).map_err(|e| BadInput(format!("--objective: {e}")).into())
}

/// Run every policy on the same arrivals (same seed), in parallel on the available cores.
fn compare(
    inputs: &Inputs,
    names: &[String],
    weights: ObjectiveWeights,
    config: &SimConfig,
) -> anyhow::Result<Vec<RunReport>> {
    let bar = progress::bar(names.len() as u64, "policies");
    let next = std::sync::atomic::AtomicUsize::new(0);
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(names.len());
    let mut results: Vec<Option<RunReport>> = vec![None; names.len()];
    std::thread::scope(|s| -> anyhow::Result<()> {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| -> anyhow::Result<Vec<(usize, RunReport)>> {
                    let mut done = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(name) = names.get(i) else { return Ok(done) };
                        let mut p = inputs.policy(name, weights)?;
                        let r = simulate_with_progress(&inputs.device, &inputs.workload, &mut *p, config, &mut |_| {});
                        bar.inc(1);
                        done.push((i, r));
                    }
                })
            })
            .collect();
        for h in handles {
            for (i, r) in h
                .join()
                .map_err(|_| anyhow::anyhow!("a simulation thread panicked"))??
            {
                results[i] = Some(r);
            }
        }
        Ok(())
    })?;
    bar.finish();
    Ok(results.into_iter().map(|r| r.expect("every policy ran")).collect())
}

fn emit(common: &Common, reports: &[RunReport], inputs: &Inputs, as_array: bool) -> anyhow::Result<()> {
    if reports.iter().all(|r| r.arrived == 0) {
        // A trace that starts after a shortened window, say: the figures would be the idle
        // board's alone.
        tracing::warn!(
            "no request arrived in the {:.1} s window of workload {}: the report shows an idle board \
             (energy per inference is the idle energy)",
            inputs.workload.duration_ms / 1000.0,
            inputs.workload.name
        );
    }
    let json = if as_array {
        serde_json::to_string_pretty(reports)?
    } else {
        serde_json::to_string_pretty(&reports[0])?
    };
    let to_stdout = common.json.as_deref() == Some(std::path::Path::new("-"));
    if let Some(path) = common.json.as_deref().filter(|_| !to_stdout) {
        std::fs::write(path, format!("{json}\n")).with_context(|| format!("writing {}", path.display()))?;
    }
    let mut out = std::io::stdout().lock();
    if to_stdout {
        writeln!(out, "{json}")?;
    } else {
        write!(out, "{}", table::render(reports, inputs))?;
        for r in reports.iter().filter(|r| !r.policy_switches.is_empty()) {
            writeln!(out, "{}:", r.policy)?;
            table::write_switches(&mut out, &r.policy_switches)?;
        }
    }
    Ok(())
}
