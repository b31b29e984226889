//! The `wgpu` feature: training runs on a wgpu device and burn's forward there equals the
//! deployed plain forward. Built only with `--features wgpu` (not in CI: the wgpu build is
//! long); on a machine without a GPU, Mesa's lavapipe (`mesa-vulkan-drivers`) provides a
//! Vulkan adapter on the CPU.
#![cfg(feature = "wgpu")]

use burn::prelude::*;
use cosched_core::DeviceProfile;
use cosched_rl::net::QNet;
use cosched_rl::{train, TrainBackend, TrainConfig};

#[test]
fn burn_forward_on_wgpu_equals_the_plain_forward() {
    let device = TrainBackend::Wgpu.device().expect("a wgpu adapter");
    let (n_in, hidden, actions) = (47, 64, 4);
    let init = burn::nn::Initializer::Uniform { min: -0.5, max: 0.5 };
    let net = QNet::with_head_init(&device, n_in, hidden, actions, init);
    let plain = net.to_plain();
    let mut scratch = vec![0.0; plain.scratch_len()];
    let mut out = vec![0.0; actions];
    for k in 0..20 {
        let x: Vec<f32> = (0..n_in).map(|i| ((i * 7 + k * 13) % 11) as f32 / 5.0 - 1.0).collect();
        plain.forward(&x, &mut scratch, &mut out);
        let gpu = net
            .forward(Tensor::<2>::from_data(TensorData::new(x, [1, n_in]), &device))
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        for (a, b) in out.iter().zip(&gpu) {
            assert!((a - b).abs() < 1e-4, "plain {a} vs wgpu {b}");
        }
    }
}

#[test]
fn training_runs_on_wgpu() {
    let cfg = TrainConfig {
        steps: 10_000,
        eval_every: 5_000,
        eval_duration_s: 2.0,
        backend: TrainBackend::Wgpu,
        ..TrainConfig::new(DeviceProfile::builtin("jetson-orin-nano").unwrap())
    };
    let t = train(&cfg, &mut |_| {}).unwrap();
    let mut out = vec![0.0; t.last.actions()];
    let mut scratch = vec![0.0; t.last.scratch_len()];
    t.last.forward(&vec![0.5; t.last.inputs()], &mut scratch, &mut out);
    assert!(out.iter().any(|v| v.abs() > 1e-4), "training on wgpu moved the heads");
}
