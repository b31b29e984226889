//! `cosched-bench evaluate`: one policy against every baseline over a matrix of devices,
//! workloads and loads, in the simulator, with a Markdown table of the outcome.
//!
//! This is how the README's DRL table is produced: every case runs the policy and every
//! baseline on the same arrivals (same seeds), and the policy's objective is compared with the
//! best baseline's of that case.

use crate::inputs::{BadInput, Inputs};
use anyhow::Context;
use clap::Args;
use cosched_core::{DeviceProfile, ObjectiveWeights, Workload, BASELINE_NAMES};
use cosched_sim::SimConfig;
use serde::Serialize;
use std::fmt::Write as _;
use std::path::PathBuf;

/// Arguments of `cosched-bench evaluate`.
#[derive(Args)]
pub struct EvalArgs {
    /// The policy to evaluate (e.g. drl, drl:energy, a policy file, or a baseline).
    #[arg(long, default_value = "drl")]
    policy: String,
    /// Comma-separated device profiles; default: every built-in device.
    #[arg(long, value_delimiter = ',')]
    devices: Vec<String>,
    /// Comma-separated workloads; default: every built-in workload.
    #[arg(long, value_delimiter = ',')]
    workloads: Vec<String>,
    /// Comma-separated loads (fractions of saturation throughput).
    #[arg(long, value_delimiter = ',', default_value = "0.5,0.8,0.95")]
    loads: Vec<f64>,
    /// Comma-separated seeds; objectives are averaged over them.
    #[arg(long, value_delimiter = ',', default_value = "1,2")]
    seeds: Vec<u64>,
    /// Objective weights: balanced, latency, energy, or `latency,violation,energy`.
    #[arg(long, default_value = "balanced")]
    objective: String,
    /// Override each workload's arrival window, seconds.
    #[arg(long)]
    duration: Option<f64>,
    /// Write the table as Markdown to this file.
    #[arg(long)]
    markdown: Option<PathBuf>,
    /// Write every case as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
}

/// One (device, workload, load) case.
#[derive(Debug, Clone, Serialize)]
struct Case {
    device: String,
    workload: String,
    load: f64,
    policy_objective: f64,
    best_baseline: String,
    best_baseline_objective: f64,
    /// `(best baseline - policy) / best baseline`: positive when the policy is better.
    improvement: f64,
    /// Whether the policy is worse than that baseline beyond the seed-to-seed noise: the mean
    /// of the paired per-seed differences is above zero by more than a one-sided 95 %
    /// Student-t bound. Always false with one seed.
    worse_beyond_noise: bool,
}

/// Run the matrix and print (and optionally write) the table.
pub fn evaluate(args: EvalArgs) -> anyhow::Result<()> {
    let weights = ObjectiveWeights::parse(&args.objective).map_err(|e| BadInput(format!("--objective: {e}")))?;
    if args.seeds.is_empty() || args.loads.is_empty() {
        return Err(BadInput("--seeds and --loads need at least one value each".into()).into());
    }
    if let Some(l) = args.loads.iter().find(|l| !(l.is_finite() && **l > 0.0 && **l <= 10.0)) {
        return Err(BadInput(format!("--loads: {l} is not in (0, 10]")).into());
    }
    let devices: Vec<String> = if args.devices.is_empty() {
        DeviceProfile::builtin_names().map(str::to_string).collect()
    } else {
        args.devices.clone()
    };
    let workloads: Vec<String> = if args.workloads.is_empty() {
        Workload::builtin_names().map(str::to_string).collect()
    } else {
        args.workloads.clone()
    };
    let mut names: Vec<String> = BASELINE_NAMES.iter().map(|s| s.to_string()).collect();
    names.push(args.policy.clone());
    let total = devices.len() * workloads.len() * args.loads.len();
    let bar = crate::progress::bar(total as u64, "cases");
    let mut cases = Vec::with_capacity(total);
    for device in &devices {
        for workload in &workloads {
            for &load in &args.loads {
                let inputs = Inputs::load(device, workload, Some(load), args.duration)?;
                // Fail on a missing policy before any simulation of this device.
                inputs.policy(&args.policy, weights)?;
                let mut sums = vec![0.0; names.len()];
                // Objectives per seed, one row per seed, one column per name.
                let mut per_seed: Vec<Vec<f64>> = Vec::with_capacity(args.seeds.len());
                for &seed in &args.seeds {
                    let config = SimConfig {
                        weights,
                        ..SimConfig::with_seed(seed)
                    };
                    let reports = crate::compare(&inputs, &names, weights, &config)?;
                    for (s, r) in sums.iter_mut().zip(&reports) {
                        *s += r.objective / args.seeds.len() as f64;
                    }
                    per_seed.push(reports.iter().map(|r| r.objective).collect());
                }
                let (policy_objective, baselines) = sums.split_last().expect("names is never empty");
                let (bi, best) = baselines
                    .iter()
                    .enumerate()
                    .min_by(|a, b| a.1.total_cmp(b.1))
                    .expect("there are baselines");
                cases.push(Case {
                    device: inputs.device.name.clone(),
                    workload: inputs.workload.name.clone(),
                    load,
                    policy_objective: *policy_objective,
                    best_baseline: names[bi].clone(),
                    best_baseline_objective: *best,
                    improvement: relative_improvement(*best, *policy_objective),
                    worse_beyond_noise: worse_beyond_noise(
                        per_seed.iter().map(|row| (row[names.len() - 1], row[bi])),
                        *best,
                    ),
                });
                bar.inc(1);
            }
        }
    }
    bar.finish();
    let md = markdown(&args.policy, &cases, &args.seeds);
    print!("{md}");
    if let Some(path) = &args.markdown {
        std::fs::write(path, &md).with_context(|| format!("writing {}", path.display()))?;
    }
    if let Some(path) = &args.json {
        let json = serde_json::to_string_pretty(&cases)?;
        std::fs::write(path, format!("{json}\n")).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

/// How much lower `policy` is than `best`, relative to `best`. Differences below
/// [`ROUNDING`] are the rounding of sums over the same schedule in another order, not a
/// different outcome, and count as a tie.
fn relative_improvement(best: f64, policy: f64) -> f64 {
    let r = (best - policy) / best.abs().max(1e-12);
    if r.abs() < ROUNDING {
        0.0
    } else {
        r
    }
}

/// Whether the policy is worse beyond noise, from its objective and the baseline's on each
/// seed (`(policy, baseline)` pairs, same arrivals): the mean paired difference exceeds a
/// one-sided 95 % Student-t bound. A difference that is the same on every seed is systematic
/// and counts; one seed alone says nothing about noise and never counts.
fn worse_beyond_noise(pairs: impl Iterator<Item = (f64, f64)>, best: f64) -> bool {
    let d: Vec<f64> = pairs.map(|(p, b)| (p - b) / best.abs().max(1e-12)).collect();
    let n = d.len();
    if n < 2 {
        return false;
    }
    let mean = d.iter().sum::<f64>() / n as f64;
    if mean < ROUNDING {
        return false;
    }
    let var = d.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
    let se = (var / n as f64).sqrt();
    mean > t_one_sided_95(n - 1) * se
}

/// One-sided 95 % quantile of Student's t with `dof` degrees of freedom.
fn t_one_sided_95(dof: usize) -> f64 {
    const T: [f64; 10] = [6.314, 2.920, 2.353, 2.132, 2.015, 1.943, 1.895, 1.860, 1.833, 1.812];
    match dof {
        0 => f64::INFINITY,
        d if d <= T.len() => T[d - 1],
        d if d <= 30 => 1.70,
        _ => 1.645,
    }
}

/// Relative differences of objectives below this are floating-point rounding.
const ROUNDING: f64 = 1e-9;

/// The table, then the two summary figures of the DRL issue's bar.
fn markdown(policy: &str, cases: &[Case], seeds: &[u64]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "| device | workload | load | {policy} | best baseline | its objective | {policy} vs best | worse beyond noise |"
    );
    let _ = writeln!(s, "|---|---|---:|---:|---|---:|---:|:---:|");
    for c in cases {
        let _ = writeln!(
            s,
            "| {} | {} | {:.2} | {:.4} | {} | {:.4} | {:+.1}% | {} |",
            c.device,
            c.workload,
            c.load,
            c.policy_objective,
            c.best_baseline,
            c.best_baseline_objective,
            c.improvement * 100.0,
            if c.worse_beyond_noise { "yes" } else { "" }
        );
    }
    let n = cases.len().max(1) as f64;
    let no_worse = cases.iter().filter(|c| c.improvement >= 0.0).count();
    let within_1 = cases.iter().filter(|c| c.improvement >= -0.01).count();
    let beyond_noise = cases.iter().filter(|c| c.worse_beyond_noise).count();
    let heavy: Vec<_> = cases.iter().filter(|c| c.load >= 0.8).collect();
    let heavy_mean = heavy.iter().map(|c| c.improvement).sum::<f64>() / heavy.len().max(1) as f64;
    let _ = writeln!(
        s,
        "\n{policy} no worse than the best baseline in {no_worse}/{} cases ({:.0}%), within 1% in {within_1} \
         ({:.0}%); worse beyond the seed-to-seed noise (paired over the seeds, one-sided 95 %) in \
         {beyond_noise}; mean improvement over the best baseline at load >= 0.8: {:+.1}% (objective \
         averaged over seeds {seeds:?}; simulated, energy modelled).",
        cases.len(),
        no_worse as f64 / n * 100.0,
        within_1 as f64 / n * 100.0,
        heavy_mean * 100.0,
    );
    s
}

#[cfg(test)]
mod tests {
    use super::{relative_improvement, worse_beyond_noise};

    #[test]
    fn rounding_of_equal_objectives_is_a_tie_and_real_differences_are_not() {
        // Two sums of the same costs in another order (the host-cpu single-stream case).
        assert_eq!(
            relative_improvement(1.728_662_305_208_399, 1.728_662_305_208_400_3),
            0.0
        );
        assert!(relative_improvement(1.104_526_871, 1.104_551_602) < 0.0);
        assert!(relative_improvement(2.0, 1.0) > 0.49);
    }

    #[test]
    fn worse_beyond_noise_needs_a_difference_larger_than_the_spread_over_seeds() {
        // Worse on every seed by about 10 %, with little spread: beyond noise.
        let steady = [(1.10, 1.0), (2.21, 2.0), (1.65, 1.5), (1.32, 1.2)];
        assert!(worse_beyond_noise(steady.into_iter(), 1.425));
        // Worse on average, but better on half the seeds: noise.
        let mixed = [(1.30, 1.0), (1.80, 2.0), (1.70, 1.5), (1.00, 1.2)];
        assert!(!worse_beyond_noise(mixed.into_iter(), 1.425));
        // Better: never.
        let better = [(0.9, 1.0), (0.95, 1.0)];
        assert!(!worse_beyond_noise(better.into_iter(), 1.0));
        // The same small loss on every seed is systematic.
        let same = [(1.001, 1.0), (1.001, 1.0)];
        assert!(worse_beyond_noise(same.into_iter(), 1.0));
        // One seed says nothing about noise.
        assert!(!worse_beyond_noise([(2.0, 1.0)].into_iter(), 1.0));
    }
}
