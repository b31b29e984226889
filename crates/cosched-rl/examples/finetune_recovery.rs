//! Online fine-tuning against a profile that is wrong: the board's processor P is 30 % slower
//! than its profile says (`latency`), or draws 30 % more power when busy (`power`). Runs the
//! pretrained policy with and without fine-tuning on that board (same arrivals), and, for
//! reference, the pretrained policy on the board as profiled, the pretrained policy told the
//! true power from the start (what a perfect calibration would give), and the best baseline on
//! the wrong board. Baselines read the same online latency estimates, so with `latency` that
//! column is what adapting through the estimator alone achieves with a heuristic; nothing but
//! fine-tuning's energy calibration learns power online.
//!
//! `cargo run --release -p cosched-rl --example finetune_recovery -- [POLICY_DIR] [DEVICE] [PROCESSOR] [WORKLOAD] [latency|power] [FACTOR]`
//!
//! Defaults: policies/jetson-agx-orin-balanced.policy, jetson-agx-orin, gpu, camera-pipeline,
//! power, 1.3 (the board's figure over the profile's). `FT_LR`, `FT_WINDOW`, `FT_MARGIN` and
//! `FT_ENERGY_RATE` override the fine-tuning settings (e.g. `FT_LR=0.001` lets the output heads
//! learn too).

use cosched_core::{DeviceProfile, Workload};
use cosched_rl::{load_policy, FineTuneConfig, FineTuned};
use cosched_sim::{simulate, SimConfig};
use std::path::PathBuf;
use std::sync::Arc;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, d: &str| args.get(i).cloned().unwrap_or_else(|| d.to_string());
    let policy_dir = PathBuf::from(arg(0, "policies/jetson-agx-orin-balanced.policy"));
    let device = DeviceProfile::load(&arg(1, "jetson-agx-orin"))?;
    let proc_id = arg(2, "gpu");
    let workload_name = arg(3, "camera-pipeline");
    let p = device.processor_id(&proc_id).ok_or(format!("no processor {proc_id}"))?;
    let what = arg(4, "power");
    let factor: f64 = arg(5, "1.3").parse().map_err(|e| format!("factor: {e}"))?;
    let off = format!("{:.0} %", (factor - 1.0).abs() * 100.0);
    let mut wrong = device.clone();
    let how = match what.as_str() {
        "latency" => {
            for m in &mut wrong.models {
                if let Some(o) = m.on[p.index()].as_mut() {
                    o.mean_ms *= factor;
                }
            }
            format!("{off} {}", if factor >= 1.0 { "slower" } else { "faster" })
        }
        "power" => {
            wrong.processors[p.index()].busy_power_w *= factor;
            format!(
                "{off} {} power-hungry when busy",
                if factor >= 1.0 { "more" } else { "less" }
            )
        }
        other => return Err(format!("what is wrong: latency or power, not {other:?}").into()),
    };
    println!(
        "board: {} with {proc_id} {how} than profiled; workload {workload_name}",
        device.name
    );
    println!(
        "{:>5} {:>12} {:>12} {:>12} {:>12} {:>10} {:>8}  best baseline on the wrong board",
        "load", "as profiled", "pretrained", "fine-tuned", "told truth", "fallbacks", "learned"
    );
    let env = |k: &str, d: f64| std::env::var(k).ok().and_then(|v| v.parse().ok()).unwrap_or(d);
    let cfg = FineTuneConfig {
        learning_rate: env("FT_LR", f64::from(FineTuneConfig::default().learning_rate)) as f32,
        window: env("FT_WINDOW", FineTuneConfig::default().window as f64) as usize,
        margin: env("FT_MARGIN", FineTuneConfig::default().margin),
        energy_rate: env("FT_ENERGY_RATE", FineTuneConfig::default().energy_rate),
        ..FineTuneConfig::default()
    };
    println!("fine-tuning: {cfg:?}");
    // The truth as a fixed calibration: the board's busy power over the profile's.
    let truth: Vec<f64> = device
        .processors
        .iter()
        .zip(&wrong.processors)
        .map(|(a, b)| b.busy_power_w / a.busy_power_w)
        .collect();
    let frozen = FineTuneConfig {
        learning_rate: 0.0,
        energy_rate: 0.0,
        // No guard: it would reset the told calibration on a window that happens to be
        // worse than the first.
        margin: f64::INFINITY,
        ..cfg
    };
    for load in [0.5, 0.8, 0.95] {
        let mut w = Workload::load(&workload_name)?;
        w.duration_s = 300.0;
        let w = w.resolve(&device, Some(load), &workload_name)?;
        let exact = SimConfig::with_seed(11);
        let skewed = SimConfig {
            true_device: Some(Arc::new(wrong.clone())),
            ..SimConfig::with_seed(11)
        };
        let mut pre = load_policy(&policy_dir, &device)?;
        let as_profiled = simulate(&device, &w, &mut pre, &exact).objective;
        let mut pre = load_policy(&policy_dir, &device)?;
        let pretrained = simulate(&device, &w, &mut pre, &skewed).objective;
        let mut ft = FineTuned::new(load_policy(&policy_dir, &device)?, cfg);
        let tuned = simulate(&device, &w, &mut ft, &skewed).objective;
        let mut told = FineTuned::new(load_policy(&policy_dir, &device)?, frozen).with_energy_scale(truth.clone());
        let told_truth = simulate(&device, &w, &mut told, &skewed).objective;
        let (best_name, best) = cosched_core::BASELINE_NAMES
            .iter()
            .filter_map(|name| cosched_core::baseline(name, &device, cfg.weights).map(|b| (*name, b)))
            .map(|(name, mut b)| (name, simulate(&device, &w, b.as_mut(), &skewed).objective))
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .expect("there are baselines");
        println!(
            "{load:>5.2} {as_profiled:>12.4} {pretrained:>12.4} {tuned:>12.4} {told_truth:>12.4} {:>10} {:>8.3}  {best:.4} ({best_name})",
            ft.fallbacks(),
            ft.energy_scale().get(p.index()).copied().unwrap_or(1.0),
        );
    }
    Ok(())
}
