//! Decision latency of a deployed DRL policy: observation encoding + plain forward + masked
//! argmax, on real observations of a jetson-agx-orin simulation (64-wide network), compared
//! side by side with burn's own forward of the same weights at batch 1; a policy over placement
//! rules; and the policy under the run-time guard.
//!
//! ```sh
//! cargo bench -p cosched-rl --bench decision_latency
//! ```
//!
//! Besides criterion's timings it prints p50 and p99 of single decisions timed one by one
//! (the bars: p50 < 10 us, p99 < 50 us).

use burn::prelude::*;
use cosched_core::{baseline, DeviceProfile, Observation, Policy, Workload};
use cosched_rl::net::QNet;
use cosched_rl::options::RULES;
use cosched_rl::DrlPolicy;
use cosched_sim::{Candidate, Guard, GuardConfig, SimConfig, SimEnv};
use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

/// Observations met while earliest-finish runs the camera pipeline at 90 % load.
fn observations(device: &DeviceProfile) -> Vec<Observation> {
    let w = Workload::builtin("camera-pipeline")
        .unwrap()
        .resolve(device, Some(0.9), "camera-pipeline")
        .unwrap();
    let mut env = SimEnv::new(device, &w, SimConfig::with_seed(1)).unwrap();
    let mut ef = baseline("earliest-finish", device, Default::default()).unwrap();
    let mut out = Vec::new();
    while let Some(obs) = env.observation() {
        if out.len() < 4096 {
            out.push(obs.clone());
        }
        let a = ef.decide(obs);
        if env.step(a).done {
            break;
        }
    }
    out
}

fn decision_latency(c: &mut Criterion) {
    let device = DeviceProfile::builtin("jetson-agx-orin").unwrap();
    let n_proc = device.processors.len();
    let n_models = device.models.len();
    let inputs = Observation::feature_len(n_proc, n_models);
    let bdev = Device::flex();
    let init = burn::nn::Initializer::Uniform { min: -0.3, max: 0.3 };
    let net = QNet::seeded_with_head_init(&bdev, 1, inputs, 64, n_proc, init.clone());
    let mut policy = DrlPolicy::new("drl:bench", net.to_plain(), n_models);
    let obs = observations(&device);

    let mut i = 0;
    c.bench_function("drl decide (encode + plain forward + masked argmax)", |b| {
        b.iter(|| {
            i = (i + 1) % obs.len();
            black_box(policy.decide(black_box(&obs[i])))
        })
    });
    let mut x = vec![0.0f32; inputs];
    c.bench_function("burn forward at batch 1 (same weights, for comparison)", |b| {
        b.iter(|| {
            i = (i + 1) % obs.len();
            obs[i].encode(&mut x);
            let t = Tensor::<2>::from_data(TensorData::new(x.clone(), [1, inputs]), &bdev);
            black_box(net.forward(t).into_data())
        })
    });

    // Single decisions timed one by one, for the tail.
    let plain = single_decisions(&mut policy, &obs);
    report("drl", &plain, "p50 < 10 us, p99 < 50 us");

    // A policy over placement rules (the shipped method on some boards): the same forward with
    // one output per rule, then the held rule's placement.
    let rules_net = QNet::seeded_with_head_init(&bdev, 2, inputs, 64, RULES.len(), init);
    let mut rules_plain = rules_net.to_plain();
    rules_plain.set_options(RULES.to_vec());
    let mut rules = DrlPolicy::new("drl:rules-bench", rules_plain, n_models);
    let samples = single_decisions(&mut rules, &obs);
    report("drl over rules", &samples, "p50 < 10 us, p99 < 50 us");

    // The same policy under the run-time guard, judging on its background thread as in a real
    // run: a judgement every 100 ms of observation time, so that replays keep the second core
    // busy while decisions are timed.
    let drl = policy.clone();
    let mut candidates = vec![Candidate {
        name: "drl:bench".into(),
        make: Arc::new(move || Box::new(drl.clone()) as Box<dyn Policy>),
    }];
    for b in ["least-slack", "objective-greedy"] {
        let d = device.clone();
        candidates.push(Candidate {
            name: b.into(),
            make: Arc::new(move || baseline(b, &d, Default::default()).unwrap()),
        });
    }
    let mut guarded = Guard::new(
        &device,
        candidates,
        GuardConfig {
            period_ms: 100.0,
            window_ms: 1_000.0,
            background: true,
            ..GuardConfig::default()
        },
    );
    let samples = single_decisions(&mut guarded, &obs);
    report(
        "guard(drl), judging in the background",
        &samples,
        "p50 < 5 us, p99 < 20 us",
    );
}

/// 200,000 decisions timed one by one; the clock of the observations keeps moving forward
/// across passes over them (a guard judges by that clock).
fn single_decisions(policy: &mut dyn Policy, obs: &[Observation]) -> Vec<f64> {
    let span = obs.last().map_or(0.0, |o| o.now_ms) + 1.0;
    let mut samples = Vec::with_capacity(200_000);
    let mut o = obs[0].clone();
    for k in 0..200_000 {
        let src = &obs[k % obs.len()];
        o.clone_from(src);
        let pass = (k / obs.len()) as f64;
        o.now_ms = src.now_ms + pass * span;
        o.request.arrival_ms = src.request.arrival_ms + pass * span;
        o.request.id = cosched_core::RequestId(k as u64);
        let t = Instant::now();
        black_box(policy.decide(black_box(&o)));
        samples.push(t.elapsed().as_secs_f64() * 1e6);
    }
    samples.sort_by(f64::total_cmp);
    samples
}

fn report(what: &str, samples: &[f64], bars: &str) {
    let q = |p: f64| samples[((samples.len() - 1) as f64 * p).round() as usize];
    println!(
        "{what}: decision latency over {} single decisions: p50 {:.2} us, p99 {:.2} us, max {:.1} us (bars: {bars})",
        samples.len(),
        q(0.5),
        q(0.99),
        q(1.0)
    );
}

criterion_group!(benches, decision_latency);
criterion_main!(benches);
