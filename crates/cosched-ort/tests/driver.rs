//! A workload on the wall clock through the executor: every arrival counted once, report mode
//! "real", the simulator's arrivals.

mod common;

use cosched_core::{baseline, ModelId, Workload};
use cosched_ort::driver::{drive, DriveConfig};
use cosched_ort::profile::{self, ProfileConfig};
use cosched_ort::{Executor, ExecutorConfig};

#[test]
fn a_real_run_counts_every_arrival_once_and_matches_the_simulators_arrivals() {
    let dev = common::two_cpus(&[("tiny", 0.1), ("squeezenet", 7.0)]);
    let w = Workload::from_toml_str(
        "name = \"w\"\nduration_s = 0.8\n[[stream]]\nmodel = \"tiny\"\narrival = \"poisson\"\nrate_hz = 300.0\nslo_ms = 20.0\n[[stream]]\nmodel = \"squeezenet\"\narrival = \"closed\"\nconcurrency = 2\nslo_ms = 200.0\n[[stream]]\nmodel = \"tiny\"\narrival = \"periodic\"\nrate_hz = 50.0\nslo_ms = 20.0\n",
        "w.toml",
        None,
    )
    .unwrap()
    .resolve(&dev, None, "w.toml")
    .unwrap();
    let policy = baseline("least-slack", &dev, Default::default()).unwrap();
    let mut exec = Executor::new(
        &dev,
        &common::models_dir(),
        ExecutorConfig {
            saturation_rps: w.saturation_rps,
            ..ExecutorConfig::new(policy)
        },
    )
    .unwrap();
    let mut rng = rand::rng();
    let inputs: Vec<_> = (0..2)
        .map(|m| exec.model(ModelId(m)).map(|i| i.random_inputs(&mut rng)))
        .collect();
    let config = DriveConfig {
        drain_ms: Some(500.0),
        ..DriveConfig::default()
    };
    let run = drive(&mut exec, &w, &inputs, &config, &mut |_| {});
    let r = run.report("least-slack", &dev, &w, &config, None);
    assert_eq!(r.mode, "real");
    assert_eq!(r.energy_source, "modelled");
    assert!(r.arrived > 100, "arrived {}", r.arrived);
    assert_eq!(r.arrived, r.completed + r.unfinished);
    assert_eq!(r.violated, r.late + r.unfinished);
    assert!(r.energy_j > 0.0 && r.per_processor.iter().map(|p| p.completed).sum::<u64>() == r.completed);
    // Open-loop streams draw the simulator's arrivals for the same seed.
    let mut p = baseline("least-slack", &dev, Default::default()).unwrap();
    let sim = cosched_sim::simulate(&dev, &w, &mut *p, &cosched_sim::SimConfig::with_seed(config.seed));
    assert_eq!(r.per_stream[0].arrived, sim.per_stream[0].arrived);
    assert_eq!(r.per_stream[2].arrived, sim.per_stream[2].arrived);
}

#[test]
fn profiling_the_tiny_model_gives_a_parsable_profile() {
    let dir = common::models_dir();
    let config = ProfileConfig {
        iters: 5,
        warmup: 1,
        max_concurrency: 2,
        ..ProfileConfig::default()
    };
    let procs = profile::processors(&[cosched_core::ExecutionProviderKind::Cpu], &config);
    let m = profile::measure("tiny", &dir.join("tiny.onnx"), &procs[0], &config, &mut || {}).unwrap();
    assert!(m.mean_ms > 0.0 && m.batch_alpha.is_some(), "{m:?}");
    let text = profile::render("t", "test host", &procs, &[m], &config).unwrap();
    let d = cosched_core::DeviceProfile::from_toml_str(&text, "t.toml").unwrap();
    assert_eq!(d.models[0].name, "tiny");
}

/// A closed loop larger than the queues can hold: refused requests come back, completions
/// resubmit from the workers, and every arrival is still counted exactly once, for the whole
/// window.
#[test]
fn a_closed_loop_past_the_queue_capacity_counts_every_arrival_once() {
    let dev = common::two_cpus(&[("tiny", 0.1), ("squeezenet", 7.0)]);
    let w = Workload::from_toml_str(
        "name = \"c\"\nduration_s = 1.0\n[[stream]]\nmodel = \"tiny\"\narrival = \"closed\"\nconcurrency = 8\nslo_ms = 50.0\n",
        "c.toml",
        None,
    )
    .unwrap()
    .resolve(&dev, None, "c.toml")
    .unwrap();
    let policy = baseline("least-slack", &dev, Default::default()).unwrap();
    let mut exec = Executor::new(
        &dev,
        &common::models_dir(),
        ExecutorConfig {
            queue_capacity: 1,
            models: Some(vec!["tiny".into()]),
            ..ExecutorConfig::new(policy)
        },
    )
    .unwrap();
    let mut rng = rand::rng();
    let inputs: Vec<_> = (0..2)
        .map(|m| exec.model(ModelId(m)).map(|i| i.random_inputs(&mut rng)))
        .collect();
    let config = DriveConfig::default();
    let run = drive(&mut exec, &w, &inputs, &config, &mut |_| {});
    assert!(
        run.rejected > 0,
        "8 outstanding on 2 workers with queues of 1 must refuse some"
    );
    let r = run.report("least-slack", &dev, &w, &config, None);
    assert_eq!(r.arrived, r.completed + r.unfinished);
    assert!(
        r.completed > 200,
        "only {} completed in a 1 s loop of a tiny model",
        r.completed
    );
    assert!(r.duration_s >= 1.0);
}
