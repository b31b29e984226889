//! Online fine-tuning: it learns (the weights move), every arrival is still accounted for, and
//! the guard returns to the pretrained weights when learning makes things worse.

use cosched_core::{DeviceProfile, Workload};
use cosched_rl::{train, DrlPolicy, FineTuneConfig, FineTuned, TrainConfig};
use cosched_sim::{simulate, SimConfig};
use std::sync::Arc;

fn setup() -> (DeviceProfile, DrlPolicy, cosched_core::ResolvedWorkload, SimConfig) {
    let device = DeviceProfile::builtin("jetson-orin-nano").unwrap();
    let cfg = TrainConfig {
        steps: 5_000,
        eval_every: 5_000,
        eval_duration_s: 2.0,
        ..TrainConfig::new(device.clone())
    };
    let t = train(&cfg, &mut |_| {}).unwrap();
    let policy = DrlPolicy::new("drl:test", t.plain, device.models.len());
    let mut w = Workload::builtin("camera-pipeline").unwrap();
    w.duration_s = 60.0;
    let w = w.resolve(&device, Some(0.9), "camera-pipeline").unwrap();
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

#[test]
fn fine_tuning_moves_the_weights_and_loses_no_request() {
    let (device, policy, w, sim) = setup();
    let before = policy.network().clone();
    let mut ft = FineTuned::new(policy, FineTuneConfig::default());
    let r = simulate(&device, &w, &mut ft, &sim);
    assert_eq!(r.arrived, r.completed + r.unfinished);
    assert!(
        ft.updates() as f64 > 0.9 * r.completed as f64,
        "{} updates",
        ft.updates()
    );
    assert!(*ft.network() != before, "online learning changed nothing");
}

#[test]
fn the_guard_falls_back_to_the_pretrained_weights_when_learning_hurts() {
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
}
