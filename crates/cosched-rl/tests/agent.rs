//! The agent: the deployed forward equals burn's, training is deterministic, masking holds,
//! and a trained policy runs in the simulator with every arrival accounted for.

use burn::prelude::*;
use cosched_core::{DeviceProfile, Observation, Policy, ProcessorId, Workload};
use cosched_rl::net::QNet;
use cosched_rl::{train, DrlPolicy, TrainConfig};
use cosched_sim::{simulate, SimConfig};
use rand::{Rng, SeedableRng};

fn nano() -> DeviceProfile {
    DeviceProfile::builtin("jetson-orin-nano").unwrap()
}

fn short(device: DeviceProfile, steps: u64) -> TrainConfig {
    TrainConfig {
        steps,
        eval_every: steps,
        eval_duration_s: 2.0,
        ..TrainConfig::new(device)
    }
}

#[test]
fn plain_forward_equals_burns_forward() {
    let device = Device::flex();
    let (n_in, hidden, actions) = (69, 64, 6);
    let init = burn::nn::Initializer::Uniform { min: -0.5, max: 0.5 };
    let net = QNet::seeded_with_head_init(&device, 3, n_in, hidden, actions, init);
    // Through burn's file format and back, as a deployed policy is loaded.
    let net = QNet::from_bytes(&device, n_in, hidden, actions, &net.to_bytes().unwrap()).unwrap();
    let plain = net.to_plain();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(9);
    let mut scratch = vec![0.0; plain.scratch_len()];
    let mut out = vec![0.0; plain.actions()];
    let mut max_abs = 0.0f32;
    for _ in 0..50 {
        // Observation-like inputs: many exact zeros (the plain forward skips them).
        let x: Vec<f32> = (0..n_in)
            .map(|_| {
                if rng.random_bool(0.3) {
                    0.0
                } else {
                    rng.random_range(-1.0..2.0)
                }
            })
            .collect();
        plain.forward(&x, &mut scratch, &mut out);
        let burn_out = net
            .forward(Tensor::<2>::from_data(TensorData::new(x.clone(), [1, n_in]), &device))
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        for (a, b) in out.iter().zip(&burn_out) {
            assert!((a - b).abs() < 1e-5, "plain {a} vs burn {b}");
            max_abs = max_abs.max(b.abs());
        }
    }
    assert!(max_abs > 1e-2, "outputs are not trivially zero");
}

#[test]
fn training_is_deterministic_for_a_seed() {
    let cfg = TrainConfig {
        eval_every: 5_000,
        ..short(nano(), 20_000)
    };
    let a = train(&cfg, &mut |_| {}).unwrap();
    let b = train(&cfg, &mut |_| {}).unwrap();
    assert!(a.plain == b.plain && a.last == b.last, "same seed, other weights");
    // And as the file's bytes: burn draws parameter ids at random, which `to_bytes` numbers.
    assert!(a.weights == b.weights, "same weights, other bytes");
    let c = train(&TrainConfig { seed: 2, ..cfg.clone() }, &mut |_| {}).unwrap();
    assert!(a.last != c.last, "another seed trains other weights");
    // Meaningful only if training moved the weights: the heads start at zero.
    let mut out = vec![0.0; a.last.actions()];
    let mut scratch = vec![0.0; a.last.scratch_len()];
    a.last.forward(&vec![0.5; a.last.inputs()], &mut scratch, &mut out);
    assert!(out.iter().any(|v| v.abs() > 1e-4), "training left the heads at zero");
}

#[test]
fn an_untrained_policy_is_earliest_finish_and_never_picks_a_masked_processor() {
    let device = DeviceProfile::builtin("jetson-agx-orin").unwrap();
    let n_proc = device.processors.len();
    let n_models = device.models.len();
    let net = QNet::new(&Device::flex(), Observation::feature_len(n_proc, n_models), 16, n_proc);
    let mut p = DrlPolicy::new("t", net.to_plain(), n_models);
    let mut obs = Observation::empty(n_proc, n_models);
    obs.request.slo_ms = 100.0;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    for _ in 0..500 {
        for v in obs.processors.iter_mut() {
            v.available = rng.random_bool(0.5);
            v.slots = 1;
            v.backlog_ms = rng.random_range(0.0..200.0);
            v.est_latency_ms = rng.random_range(1.0..50.0);
        }
        if !obs.processors.iter().any(|v| v.available) {
            obs.processors[0].available = true;
        }
        let a = p.decide(&obs).processor;
        assert!(obs.is_valid(a), "chose masked processor {a:?}");
        // Zero heads: exactly the earliest finish (the prior), up to float ties.
        let ef: ProcessorId = obs.argmin_valid(|v| v.est_finish_ms()).unwrap();
        let fa = obs.processors[a.index()].est_finish_ms();
        let fe = obs.processors[ef.index()].est_finish_ms();
        assert!((fa - fe).abs() <= 1e-3 * fe.max(1.0), "{fa} vs {fe}");
    }
}

#[test]
fn a_trained_policy_accounts_for_every_arrival() {
    let device = nano();
    let t = train(&short(device.clone(), 5_000), &mut |_| {}).unwrap();
    let mut p = DrlPolicy::new("drl:test", t.plain, device.models.len());
    for name in ["mixed-slo", "bursty-multitenant"] {
        let w = Workload::builtin(name)
            .unwrap()
            .resolve(&device, Some(0.9), name)
            .unwrap();
        let r = simulate(&device, &w, &mut p, &SimConfig::with_seed(4));
        assert!(r.arrived > 100);
        assert_eq!(r.arrived, r.completed + r.unfinished, "{name}");
        assert_eq!(r.invalid_actions, 0, "{name}");
    }
}
