//! Online fine-tuning: the energy calibration learns a board's real power and then decides as if
//! told it, changes nothing on a board that matches its profile; head updates move the weights;
//! every arrival is still accounted for; the guard returns to the pretrained weights when
//! learning makes things worse.

use cosched_core::{DeviceProfile, Workload};
use cosched_rl::{train, DrlPolicy, FineTuneConfig, FineTuned, PriorForm, TrainConfig};
use cosched_sim::{simulate, SimConfig};
use std::sync::Arc;

fn setup() -> (DeviceProfile, DrlPolicy, cosched_core::ResolvedWorkload, SimConfig) {
    let (device, policy, w) = trained();
    // The board's GPU is 30 % slower than its profile says.
    let mut wrong = device.clone();
    let gpu = device.processor_id("gpu").unwrap();
    for m in &mut wrong.models {
        if let Some(o) = m.on[gpu.index()].as_mut() {
            o.mean_ms *= 1.3;
        }
    }
    let sim = SimConfig {
        true_device: Some(Arc::new(wrong)),
        ..SimConfig::with_seed(5)
    };
    (device, policy, w, sim)
}

fn trained() -> (DeviceProfile, DrlPolicy, cosched_core::ResolvedWorkload) {
    let device = DeviceProfile::builtin("jetson-orin-nano").unwrap();
    let cfg = TrainConfig {
        steps: 5_000,
        eval_every: 5_000,
        eval_duration_s: 2.0,
        // The form that reads energy estimates: the earliest finish ignores them, and a short
        // run's selection may keep it.
        prior_forms: vec![PriorForm::PricedObjective],
        ..TrainConfig::new(device.clone())
    };
    let t = train(&cfg, &mut |_| {}).unwrap();
    let policy = DrlPolicy::new("drl:test", t.plain, device.models.len());
    let mut w = Workload::builtin("camera-pipeline").unwrap();
    w.duration_s = 60.0;
    let w = w.resolve(&device, Some(0.9), "camera-pipeline").unwrap();
    (device, policy, w)
}

/// Runs `policy` fine-tuned with `cfg` (and, if given, a fixed energy scale) on `board`:
/// (objective, learned energy scale).
fn run_on(
    device: &DeviceProfile,
    board: &DeviceProfile,
    policy: &DrlPolicy,
    w: &cosched_core::ResolvedWorkload,
    cfg: FineTuneConfig,
    told: Option<Vec<f64>>,
) -> (f64, Vec<f64>) {
    let mut ft = FineTuned::new(policy.clone(), cfg);
    if let Some(scale) = told {
        ft = ft.with_energy_scale(scale);
    }
    let sim = SimConfig {
        true_device: Some(Arc::new(board.clone())),
        ..SimConfig::with_seed(5)
    };
    let r = simulate(device, w, &mut ft, &sim);
    assert_eq!(r.arrived, r.completed + r.unfinished);
    (r.objective, ft.energy_scale().to_vec())
}

#[test]
fn energy_calibration_learns_the_boards_power_and_then_decides_as_if_told() {
    let (device, policy, w) = trained();
    let gpu = device.processor_id("gpu").unwrap().index();
    let mut board = device.clone();
    board.processors[gpu].busy_power_w *= 1.3;
    let heads_frozen = FineTuneConfig::default();
    assert_eq!(
        heads_frozen.learning_rate, 0.0,
        "the default fine-tuning calibrates only"
    );

    let (tuned, scale) = run_on(&device, &board, &policy, &w, heads_frozen, None);
    assert!((scale[gpu] - 1.3).abs() < 0.01, "learned {scale:?}");
    for (p, k) in scale.iter().enumerate().filter(|&(p, _)| p != gpu) {
        assert!((k - 1.0).abs() < 0.01, "processor {p} learned {k}");
    }
    let told_scale: Vec<f64> = (0..scale.len()).map(|p| if p == gpu { 1.3 } else { 1.0 }).collect();
    // Nothing learns and no guard resets the told calibration.
    let frozen = FineTuneConfig {
        energy_rate: 0.0,
        margin: f64::INFINITY,
        ..heads_frozen
    };
    let (told, _) = run_on(&device, &board, &policy, &w, frozen, Some(told_scale));
    let (untold, _) = run_on(&device, &board, &policy, &w, frozen, None);
    assert!(
        (tuned / told - 1.0).abs() < 0.01,
        "calibrated online {tuned}, told the truth {told}"
    );
    // Whether knowing the power helps depends on the board and the load (see the example); that
    // it changes what the policy does does not.
    assert_ne!(tuned, untold, "calibration changed no decision");
}

#[test]
fn on_a_board_that_matches_its_profile_calibration_changes_nothing() {
    let (device, policy, w) = trained();
    let (tuned, scale) = run_on(&device, &device, &policy, &w, FineTuneConfig::default(), None);
    assert!(scale.iter().all(|k| (k - 1.0).abs() < 1e-9), "learned {scale:?}");
    let frozen = FineTuneConfig {
        energy_rate: 0.0,
        ..FineTuneConfig::default()
    };
    let (pretrained, _) = run_on(&device, &device, &policy, &w, frozen, None);
    assert_eq!(tuned, pretrained);
}

#[test]
fn fine_tuning_moves_the_weights_and_loses_no_request() {
    let (device, policy, w, sim) = setup();
    let before = policy.network().clone();
    // No guard here (it has its own test): every completion after the reference window teaches.
    let heads_learn = FineTuneConfig {
        learning_rate: 0.001,
        margin: f64::INFINITY,
        ..FineTuneConfig::default()
    };
    let mut ft = FineTuned::new(policy, heads_learn);
    let r = simulate(&device, &w, &mut ft, &sim);
    assert_eq!(r.arrived, r.completed + r.unfinished);
    let after_reference = r.completed.saturating_sub(heads_learn.window as u64);
    assert!(
        ft.updates() as f64 > 0.9 * after_reference as f64 && after_reference > 1000,
        "{} updates of {} completions",
        ft.updates(),
        r.completed
    );
    assert!(*ft.network() != before, "online learning changed nothing");
}

#[test]
fn the_guard_falls_back_to_the_pretrained_weights_when_learning_hurts() {
    // (It measures the pretrained reference over the first window, then judges each window.)
    let (device, policy, w, sim) = setup();
    // A destructive step size: every update overshoots.
    let cfg = FineTuneConfig {
        learning_rate: 50.0,
        window: 200,
        margin: 0.05,
        ..FineTuneConfig::default()
    };
    let mut ft = FineTuned::new(policy, cfg);
    let r = simulate(&device, &w, &mut ft, &sim);
    assert_eq!(r.arrived, r.completed + r.unfinished);
    assert!(ft.fallbacks() > 0, "the guard never fired");
    // Each fallback pauses learning for twice as long as the one before (a reference window,
    // a judged window and 2^n paused windows of 200 each), so learning that keeps hurting
    // runs ever more rarely: without the pause it would fire every other window.
    let bound = (r.completed as f64 / 200.0).log2().ceil() as u64;
    assert!(
        ft.fallbacks() <= bound,
        "{} fallbacks in {} completions",
        ft.fallbacks(),
        r.completed
    );
}
