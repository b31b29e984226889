//! `cosched-bench evaluate`: one policy against every baseline over a matrix of devices,
//! workloads (or a scenario set) and loads, in the simulator, with a Markdown table of the
//! outcome.
//!
//! This is how the README's DRL table is produced: every case runs the policy and every
//! baseline on the same arrivals (same seeds), and the policy's objective is compared with the
//! best baseline's of that case.

use crate::inputs::{check_duration, BadInput, Inputs};
use crate::scenario_set::ScenarioSet;
use anyhow::Context;
use clap::Args;
use cosched_core::{ActionStats, DeviceProfile, ObjectiveWeights, Workload, BASELINE_NAMES};
use cosched_sim::SimConfig;
use serde::Serialize;
use std::fmt::Write as _;
use std::path::PathBuf;

/// Default cap of a scenario's arrival window, s: scenarios last 20-120 s, and 100 of them x
/// 3 loads x 10 policies x 2 seeds at their full length would take hours on two cores.
const SCENARIO_CAP_S: f64 = 10.0;

/// A case where even the baseline with the fewest late requests leaves more than this share
/// late is counted as out of reach: the nominal load (or the deadlines) are beyond what the
/// board gets to with any of the schedules tried.
const OUT_OF_REACH_LATE: f64 = 0.5;

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
    /// A scenario set instead of --workloads: a folder (every *.toml in it, e.g. written by
    /// `cosched-bench scenarios`) or random:N:SEED (scenarios 0..N of SEED, generated for each
    /// device; seed families in docs/scenarios.md).
    #[arg(long, conflicts_with = "workloads")]
    scenarios: Option<String>,
    /// Comma-separated baselines to compare against; default: the nine placement baselines.
    /// The batching ones (kum, triton-batcher) and prefixed names (`batch1:least-slack`,
    /// `hedge:earliest-finish`) are accepted too.
    #[arg(long, value_delimiter = ',')]
    baselines: Vec<String>,
    /// Comma-separated loads (fractions of saturation throughput).
    #[arg(long, value_delimiter = ',', default_value = "0.5,0.8,0.95")]
    loads: Vec<f64>,
    /// Comma-separated seeds; objectives are averaged over them.
    #[arg(long, value_delimiter = ',', default_value = "1,2")]
    seeds: Vec<u64>,
    /// Objective weights: balanced, latency, energy, or `latency,violation,energy`.
    #[arg(long, default_value = "balanced")]
    objective: String,
    /// Arrival window, seconds: replaces each workload's; with --scenarios, caps each
    /// scenario's own instead (default cap 10 s; a large value runs them in full).
    #[arg(long, allow_negative_numbers = true)]
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
    /// The nominal load (fraction of the fluid saturation throughput).
    load: f64,
    /// The arrival window it ran, s.
    duration_s: f64,
    /// The lowest share of requests late or unfinished that any baseline reached (mean over
    /// the seeds): how far the nominal load really was within reach. Near 0 the board kept up;
    /// near 1 no schedule tried did, and the case says little about scheduling.
    fewest_late: f64,
    policy_objective: f64,
    best_baseline: String,
    best_baseline_objective: f64,
    /// `(best baseline - policy) / best baseline`: positive when the policy is better.
    improvement: f64,
    /// Whether the policy is worse than that baseline beyond the seed-to-seed noise: the mean
    /// of the paired per-seed differences is above zero by more than a one-sided 95 %
    /// Student-t bound. Always false with one seed.
    worse_beyond_noise: bool,
    /// Every baseline's objective (mean over the seeds), so that a reader can see how close
    /// the others came, not only the best.
    baselines: std::collections::BTreeMap<String, f64>,
    /// What the policy's batching and hedging did (mean batch over the seeds, hedges summed).
    policy_actions: ActionStats,
    /// How many times the run-time guard moved the decisions to another candidate (mean over
    /// the seeds; 0 for an unguarded policy): a guard that keeps switching between two close
    /// candidates pays a judgement after each switch.
    policy_switches: f64,
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
    let duration = args.duration.map(check_duration).transpose()?;
    let device_names: Vec<String> = if args.devices.is_empty() {
        DeviceProfile::builtin_names().map(str::to_string).collect()
    } else {
        args.devices.clone()
    };
    let set = args.scenarios.as_deref().map(ScenarioSet::parse).transpose()?;
    // Every device, workload and the policy are checked before the first simulation, so that a
    // typo or a model a board lacks fails at once, not after minutes of simulation.
    let mut matrix: Vec<(DeviceProfile, Vec<(String, Workload)>)> = Vec::with_capacity(device_names.len());
    for name in &device_names {
        let device = DeviceProfile::load(name).map_err(BadInput::from)?;
        let workloads = match &set {
            Some(set) => {
                let cap = duration.unwrap_or(SCENARIO_CAP_S);
                let mut ws = set.workloads(&device);
                for (_, w) in &mut ws {
                    w.duration_s = w.duration_s.min(cap);
                }
                ws
            }
            None => {
                let names: Vec<String> = if args.workloads.is_empty() {
                    Workload::builtin_names().map(str::to_string).collect()
                } else {
                    args.workloads.clone()
                };
                let mut ws = Vec::with_capacity(names.len());
                for n in names {
                    let mut w = Workload::load(&n).map_err(BadInput::from)?;
                    if let Some(d) = duration {
                        w.duration_s = d;
                    }
                    ws.push((n, w));
                }
                ws
            }
        };
        for (file, w) in &workloads {
            w.resolve(&device, None, file).map_err(BadInput::from)?;
        }
        cosched::resolve_policy(&args.policy, &device, weights).map_err(|e| BadInput(e.to_string()))?;
        matrix.push((device, workloads));
    }
    let mut names: Vec<String> = if args.baselines.is_empty() {
        BASELINE_NAMES.iter().map(|s| s.to_string()).collect()
    } else {
        args.baselines.clone()
    };
    for (device, _) in &matrix {
        for b in &names {
            cosched::resolve_policy(b, device, weights).map_err(|e| BadInput(format!("--baselines: {e}")))?;
        }
    }
    names.push(args.policy.clone());
    let total: usize = matrix.iter().map(|(_, ws)| ws.len() * args.loads.len()).sum();
    let bar = crate::progress::bar(total as u64, "cases");
    let mut cases = Vec::with_capacity(total);
    for (device, workloads) in &matrix {
        for (file, w) in workloads {
            for &load in &args.loads {
                let inputs = Inputs::resolve(device.clone(), w, Some(load), file)?;
                let n_seeds = args.seeds.len() as f64;
                let mut sums = vec![0.0; names.len()];
                let mut late = vec![0.0; names.len()];
                // Objectives per seed, one row per seed, one column per name.
                let mut per_seed: Vec<Vec<f64>> = Vec::with_capacity(args.seeds.len());
                let mut policy_actions = ActionStats::default();
                let mut policy_switches = 0.0;
                for &seed in &args.seeds {
                    let config = SimConfig {
                        weights,
                        ..SimConfig::with_seed(seed)
                    };
                    let reports = crate::compare(&inputs, &names, weights, &config)?;
                    for ((s, l), r) in sums.iter_mut().zip(&mut late).zip(&reports) {
                        *s += r.objective / n_seeds;
                        *l += r.slo_violation_rate / n_seeds;
                    }
                    per_seed.push(reports.iter().map(|r| r.objective).collect());
                    if let Some(r) = reports.last() {
                        policy_actions.mean_batch += r.actions.mean_batch / n_seeds;
                        policy_actions.add_hedges(&r.actions);
                        policy_switches += r.policy_switches.len() as f64 / n_seeds;
                    }
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
                    duration_s: w.duration_s,
                    fewest_late: late[..names.len() - 1].iter().cloned().fold(f64::INFINITY, f64::min),
                    policy_objective: *policy_objective,
                    best_baseline: names[bi].clone(),
                    best_baseline_objective: *best,
                    improvement: relative_improvement(*best, *policy_objective),
                    worse_beyond_noise: worse_beyond_noise(
                        per_seed.iter().map(|row| (row[names.len() - 1], row[bi])),
                        *best,
                    ),
                    baselines: names.iter().cloned().zip(baselines.iter().copied()).collect(),
                    policy_actions,
                    policy_switches,
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

/// The table, then the summary over all cases and, with several devices, per device.
fn markdown(policy: &str, cases: &[Case], seeds: &[u64]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "| device | workload | load | fewest late | {policy} | best baseline | its objective | {policy} vs best | worse beyond noise |"
    );
    let _ = writeln!(s, "|---|---|---:|---:|---:|---|---:|---:|:---:|");
    for c in cases {
        let _ = writeln!(
            s,
            "| {} | {} | {:.2} | {:.1}% | {:.4} | {} | {:.4} | {:+.1}% | {} |",
            c.device,
            c.workload,
            c.load,
            c.fewest_late * 100.0,
            c.policy_objective,
            c.best_baseline,
            c.best_baseline_objective,
            c.improvement * 100.0,
            if c.worse_beyond_noise { "yes" } else { "" }
        );
    }
    let all = Summary::of(cases.iter());
    let _ = writeln!(s, "\n{policy} vs the best baseline of each case, {} cases", all.cases);
    let _ = writeln!(
        s,
        "(objective averaged over seeds {seeds:?}; simulated, energy modelled):"
    );
    let _ = writeln!(
        s,
        "- no worse than the best baseline (within 1%): {}/{} ({:.0}%); strictly: {}",
        all.within_1,
        all.cases,
        all.share_within_1() * 100.0,
        all.no_worse
    );
    let batch = cases.iter().map(|c| c.policy_actions.mean_batch).sum::<f64>() / cases.len().max(1) as f64;
    let mut total = ActionStats::default();
    for c in cases {
        total.add_hedges(&c.policy_actions);
    }
    let (sent, won, ran, cancelled) = (
        total.hedges_sent,
        total.hedges_won,
        total.hedges_wasted,
        total.hedges_cancelled,
    );
    if batch > 1.0 || sent > 0 {
        let _ = writeln!(
            s,
            "- {policy}: mean batch {batch:.2}; hedges sent {sent} (answered by the copy {won}, losing copies run {ran}, cancelled {cancelled})"
        );
    }
    let switches = cases.iter().map(|c| c.policy_switches).sum::<f64>();
    if switches > 0.0 {
        let most = cases.iter().map(|c| c.policy_switches).fold(0.0, f64::max);
        let _ = writeln!(
            s,
            "- guard switches: {switches:.0} over {} cases ({:.1} per case, at most {most:.0} in one)",
            cases.len(),
            switches / cases.len().max(1) as f64
        );
    }
    if let Some(w) = all.worst {
        let _ = writeln!(
            s,
            "- worst case: {:.3}x the best baseline ({}, {}, load {:.2}, vs {})",
            ratio(w),
            w.device,
            w.workload,
            w.load,
            w.best_baseline
        );
    }
    let _ = writeln!(
        s,
        "- mean gain over the best baseline at load >= 0.8: {} ({} cases)",
        all.heavy_gain_text(),
        all.heavy
    );
    let _ = writeln!(
        s,
        "- worse beyond seed noise (paired over seeds, one-sided 95%): {}",
        all.beyond_noise
    );
    let _ = writeln!(
        s,
        "- load out of reach (every baseline > {:.0}% late): {} cases",
        OUT_OF_REACH_LATE * 100.0,
        all.out_of_reach
    );
    let mut devices: Vec<&str> = Vec::new();
    for c in cases {
        if !devices.contains(&c.device.as_str()) {
            devices.push(&c.device);
        }
    }
    if devices.len() > 1 {
        let _ = writeln!(
            s,
            "\nper device: within 1% | worst | gain at load >= 0.8 | beyond noise | out of reach"
        );
        for d in devices {
            let sum = Summary::of(cases.iter().filter(|c| c.device == d));
            let _ = writeln!(
                s,
                "- {d}: {}/{} ({:.0}%) | {:.3}x | {} | {} | {}",
                sum.within_1,
                sum.cases,
                sum.share_within_1() * 100.0,
                sum.worst.map_or(1.0, ratio),
                sum.heavy_gain_text(),
                sum.beyond_noise,
                sum.out_of_reach
            );
        }
    }
    s
}

/// The policy's objective over the best baseline's (1 - improvement, so ties are exactly 1).
fn ratio(c: &Case) -> f64 {
    1.0 - c.improvement
}

/// The figures of the bar over a group of cases.
struct Summary<'a> {
    cases: usize,
    no_worse: usize,
    within_1: usize,
    worst: Option<&'a Case>,
    heavy: usize,
    heavy_gain: f64,
    beyond_noise: usize,
    out_of_reach: usize,
}

impl<'a> Summary<'a> {
    fn of(cases: impl Iterator<Item = &'a Case>) -> Summary<'a> {
        let mut s = Summary {
            cases: 0,
            no_worse: 0,
            within_1: 0,
            worst: None,
            heavy: 0,
            heavy_gain: 0.0,
            beyond_noise: 0,
            out_of_reach: 0,
        };
        for c in cases {
            s.cases += 1;
            s.no_worse += usize::from(c.improvement >= 0.0);
            s.within_1 += usize::from(c.improvement >= -0.01);
            if s.worst.is_none_or(|w| c.improvement < w.improvement) {
                s.worst = Some(c);
            }
            if c.load >= 0.8 {
                s.heavy += 1;
                s.heavy_gain += c.improvement;
            }
            s.beyond_noise += usize::from(c.worse_beyond_noise);
            s.out_of_reach += usize::from(c.fewest_late > OUT_OF_REACH_LATE);
        }
        s
    }

    fn share_within_1(&self) -> f64 {
        self.within_1 as f64 / self.cases.max(1) as f64
    }

    fn heavy_gain_text(&self) -> String {
        if self.heavy == 0 {
            "n/a".to_string()
        } else {
            format!("{:+.1}%", self.heavy_gain / self.heavy as f64 * 100.0)
        }
    }
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
