//! Dispatch overhead of the real executor: the `tiny` test model (100 MatMul+Add+Relu blocks,
//! microseconds of compute) run through `cosched_ort::Executor` (submit, policy decision, queue,
//! worker hand-off, completion hand-back) against the same model on a direct ONNX Runtime
//! session in the same process.
//!
//! ```sh
//! scripts/fetch-onnxruntime.sh && python3 scripts/make-test-models.py
//! cargo bench --bench dispatch_overhead
//! ```
//!
//! Besides criterion's timings of both paths it prints the added latency per request (caller's
//! round trip minus the worker's own inference time) at p50 and p99, with the bars of the issue
//! (p50 < 20 us, p99 < 50 us).

use cosched::{baseline, DeviceProfile};
use cosched_ort::{Executor, ExecutorConfig};
use criterion::{criterion_group, criterion_main, Criterion};
use std::path::PathBuf;
use std::time::Instant;

const PROFILE: &str = r#"
name = "bench"
source = "dispatch_overhead bench: one single-threaded CPU worker"
[[processor]]
id = "cpu"
kind = "cpu"
ep = "cpu"
slots = 1
threads = 1
idle_power_w = 0.5
busy_power_w = 8.0
[[model]]
name = "tiny"
memory_mb = 2.0
latency_ms = { cpu = 0.05 }
"#;

fn models_dir() -> PathBuf {
    let dir = std::env::var_os("COSCHED_MODELS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models"));
    assert!(
        dir.join("tiny.onnx").is_file(),
        "{}/tiny.onnx missing: run python3 scripts/make-test-models.py",
        dir.display()
    );
    dir
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

fn dispatch_overhead(c: &mut Criterion) {
    let device = DeviceProfile::from_toml_str(PROFILE, "bench.toml").expect("profile");
    let policy = baseline("earliest-finish", &device, Default::default()).expect("baseline");
    let exec = Executor::new(&device, &models_dir(), ExecutorConfig::new(policy)).expect("executor");
    let model = device.model_id("tiny").expect("tiny");
    let info = exec.model(model).expect("loaded").clone();
    let inputs = info.random_inputs(&mut rand::rng());
    let env = cosched_ort::runtime::environment(None).expect("ort");
    let mut direct = ort::session::Session::builder(&env)
        .and_then(|b| b.with_intra_threads(1).map_err(Into::into))
        .and_then(|b| b.with_intra_op_spinning(false).map_err(Into::into))
        .and_then(|mut b| b.commit_from_file(&info.path))
        .expect("direct session");
    let mut run_direct = || {
        let values: Vec<ort::session::SessionInputValue<'_>> = inputs
            .iter()
            .map(|a| ort::value::TensorRef::from_array_view(a).expect("tensor").into())
            .collect();
        let out = direct.run(values.as_slice()).expect("run");
        out.values()
            .map(|v| v.try_extract_array::<f32>().expect("f32").to_owned())
            .collect::<Vec<_>>()
    };

    // Added latency per request, and direct vs executor round trips, interleaved.
    let n = 5000;
    let (mut added, mut t_direct, mut t_exec) = (Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n));
    for i in 0..n + 500 {
        let t = Instant::now();
        std::hint::black_box(run_direct());
        let d = t.elapsed().as_secs_f64() * 1e6;
        let t = Instant::now();
        let c = exec.submit(model, inputs.clone()).expect("submit").wait();
        let e = t.elapsed().as_secs_f64() * 1e6;
        assert!(c.result.is_ok());
        if i >= 500 {
            let service_us = (c.end_ms - c.start_ms.expect("started")) * 1000.0;
            added.push(e - service_us);
            t_direct.push(d);
            t_exec.push(e);
        }
    }
    for v in [&mut added, &mut t_direct, &mut t_exec] {
        v.sort_by(f64::total_cmp);
    }
    let (p50, p99) = (quantile(&added, 0.5), quantile(&added, 0.99));
    println!(
        "dispatch_overhead: tiny direct p50 {:.1} us p99 {:.1} us | executor p50 {:.1} us p99 {:.1} us",
        quantile(&t_direct, 0.5),
        quantile(&t_direct, 0.99),
        quantile(&t_exec, 0.5),
        quantile(&t_exec, 0.99)
    );
    println!(
        "dispatch_overhead: added latency per request p50 {p50:.1} us (bar < 20: {}) p99 {p99:.1} us (bar < 50: {})",
        if p50 < 20.0 { "met" } else { "MISSED" },
        if p99 < 50.0 { "met" } else { "MISSED" }
    );
    println!(
        "dispatch_overhead: added latency quantiles (us): {}",
        [0.9, 0.95, 0.98, 0.99, 0.995, 0.999]
            .map(|q| format!("p{}: {:.1}", q * 100.0, quantile(&added, q)))
            .join(", ")
    );
    println!(
        "dispatch_overhead: executor minus direct, p50 {:.1} us p99 {:.1} us",
        quantile(&t_exec, 0.5) - quantile(&t_direct, 0.5),
        quantile(&t_exec, 0.99) - quantile(&t_direct, 0.99)
    );

    let mut group = c.benchmark_group("dispatch_overhead");
    group.sample_size(50);
    group.bench_function("tiny/direct-session", |b| b.iter(&mut run_direct));
    group.bench_function("tiny/executor", |b| {
        b.iter(|| exec.submit(model, inputs.clone()).expect("submit").wait())
    });
    group.finish();
}

criterion_group!(benches, dispatch_overhead);
criterion_main!(benches);
