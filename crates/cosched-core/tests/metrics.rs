//! `MetricsRecorder` accounting, the objective, percentiles, and `LatencyEstimator`.

use cosched_core::{
    DeviceProfile, LatencyEstimator, MetricsRecorder, ModelId, ObjectiveWeights, ProcessorId, RunInfo, RunReport,
};
use proptest::prelude::*;

/// Two processors (1 and 2 slots) and three models, so that transposed indexing shows.
const DEVICE: &str = r#"name = "metrics-board"
source = "tests"

[[processor]]
id = "p0"
kind = "cpu"
ep = "cpu"
slots = 1
idle_power_w = 1.0
busy_power_w = 5.0

[[processor]]
id = "p1"
kind = "gpu"
ep = "cuda"
slots = 2
idle_power_w = 2.0
busy_power_w = 20.0

[[model]]
name = "m0"
memory_mb = 1.0
latency_ms = { p0 = 10.0, p1 = 20.0 }

[[model]]
name = "m1"
memory_mb = 1.0
latency_ms = { p1 = 4.0 }

[[model]]
name = "m2"
memory_mb = 1.0
latency_ms = { p0 = 7.0, p1 = 3.0 }
"#;

fn device() -> DeviceProfile {
    DeviceProfile::from_toml_str(DEVICE, "metrics-board.toml").unwrap()
}

fn info<'a>(device: &'a DeviceProfile, run_ms: f64, energy_j: Vec<f64>, busy_slot_ms: Vec<f64>) -> RunInfo<'a> {
    RunInfo {
        policy: "test-policy",
        device,
        workload: "test-workload",
        stream_names: vec!["s0".into(), "s1".into()],
        seed: 7,
        mode: "sim",
        energy_source: "modelled".into(),
        load: Some(0.5),
        run_ms,
        energy_j,
        busy_slot_ms,
        weights: ObjectiveWeights::BALANCED,
    }
}

#[track_caller]
fn close(got: f64, want: f64, rel: f64) {
    assert!(
        (got - want).abs() <= rel * want.abs().max(1e-300),
        "got {got}, want {want}"
    );
}

/// Five requests worked out by hand; every reference energy is 0.05 J (one model's).
///
/// | req | stream | where      | latency | slo | latency/slo | violated        |
/// |-----|--------|------------|---------|-----|-------------|-----------------|
/// | 1   | 0      | p0         | 20      | 50  | 0.4         | no              |
/// | 2   | 0      | p1         | 60      | 50  | 1.2         | late            |
/// | 3   | 1      | p1         | 10      | 20  | 0.5         | no              |
/// | 4   | 1      | unfinished | 30      | 20  | 1.5         | unfinished      |
/// | 5   | 1      | p0         | 20      | 20  | 1.0         | no (not later)  |
fn tiny_run(reference: [f64; 5]) -> MetricsRecorder {
    let mut m = MetricsRecorder::new(2, 2);
    let streams = [0, 0, 1, 1, 1];
    for (s, r) in streams.iter().zip(reference) {
        m.arrival(*s, r);
    }
    assert!(!m.completion(0, 0, 20.0, 50.0));
    assert!(m.completion(0, 1, 60.0, 50.0), "60 ms against 50 ms is late");
    assert!(!m.completion(1, 1, 10.0, 20.0));
    m.unfinished(1, 30.0, 20.0);
    assert!(
        !m.completion(1, 0, 20.0, 20.0),
        "finishing exactly at the deadline is in time"
    );
    m
}

#[test]
fn tiny_run_counts_and_objective_by_hand() {
    let d = device();
    let mut m = tiny_run([0.05; 5]);
    m.invalid_action();
    assert_eq!(m.arrived(), 5);
    assert_eq!(m.completed(), 4);
    let r = m.finish(info(&d, 1000.0, vec![0.3, 0.5], vec![300.0, 500.0]));

    assert_eq!(
        (r.arrived, r.completed, r.late, r.unfinished, r.violated),
        (5, 4, 1, 1, 2)
    );
    assert_eq!(r.invalid_actions, 1);
    // mean(latency / slo) = (0.4 + 1.2 + 0.5 + 1.5 + 1.0) / 5
    close(r.mean_latency_over_slo, 0.92, 1e-12);
    close(r.slo_violation_rate, 0.4, 1e-12);
    // 0.8 J over 4 completions.
    close(r.energy_j, 0.8, 1e-12);
    close(r.energy_per_inference_mj, 200.0, 1e-12);
    // docs/design.md: mean_latency_over_slo + 4 x slo_violation_rate + energy_per_inference / reference_energy
    //          = 0.92 + 1.6 + 0.2 / 0.05 = 6.52
    close(r.objective, 6.52, 1e-12);
    assert_eq!(r.objective_weights, ObjectiveWeights::BALANCED);

    close(r.duration_s, 1.0, 1e-12);
    close(r.throughput_rps, 4.0, 1e-12);
    close(r.avg_power_w, 0.8, 1e-12);
    // Latency of all arrivals, the unfinished one at its age: 20, 60, 10, 30, 20.
    close(r.latency_ms.mean, 28.0, 1e-12);
    close(r.latency_ms.max, 60.0, 1e-3);
    close(r.latency_ms.p50, 20.0, 1e-3);

    assert_eq!(r.per_processor.len(), 2);
    assert_eq!(
        (r.per_processor[0].id.as_str(), r.per_processor[0].kind.as_str()),
        ("p0", "cpu")
    );
    assert_eq!(
        (r.per_processor[1].id.as_str(), r.per_processor[1].kind.as_str()),
        ("p1", "gpu")
    );
    assert_eq!((r.per_processor[0].completed, r.per_processor[1].completed), (2, 2));
    // 300 busy slot-ms of 1 slot x 1000 ms; 500 of 2 x 1000.
    close(r.per_processor[0].utilization, 0.3, 1e-12);
    close(r.per_processor[1].utilization, 0.25, 1e-12);
    assert_eq!((r.per_processor[0].energy_j, r.per_processor[1].energy_j), (0.3, 0.5));

    assert_eq!(r.per_stream.len(), 2);
    let (s0, s1) = (&r.per_stream[0], &r.per_stream[1]);
    assert_eq!(
        (s0.name.as_str(), s0.arrived, s0.completed, s0.violated),
        ("s0", 2, 2, 1)
    );
    assert_eq!(
        (s1.name.as_str(), s1.arrived, s1.completed, s1.violated),
        ("s1", 3, 2, 1)
    );
    close(s0.mean_latency_ms, 40.0, 1e-12);
    close(s1.mean_latency_ms, 20.0, 1e-12);

    assert_eq!(r.policy, "test-policy");
    assert_eq!(r.device, "metrics-board");
    assert_eq!(r.workload, "test-workload");
    assert_eq!(
        (r.seed, r.mode.as_str(), r.energy_source.as_str(), r.load),
        (7, "sim", "modelled", Some(0.5))
    );
}

#[test]
fn objective_weights_apply_term_by_term() {
    let d = device();
    for (w, want) in [
        // 1 x 0.92 + 0 x 0.4 + 0 x 4
        ((1.0, 0.0, 0.0), 0.92),
        ((0.0, 1.0, 0.0), 0.4),
        ((0.0, 0.0, 1.0), 4.0),
        ((0.5, 4.0, 3.0), 0.46 + 1.6 + 12.0),
    ] {
        let weights = ObjectiveWeights {
            latency: w.0,
            violation: w.1,
            energy: w.2,
        };
        let mut i = info(&d, 1000.0, vec![0.3, 0.5], vec![0.0, 0.0]);
        i.weights = weights;
        let r = tiny_run([0.05; 5]).finish(i);
        close(r.objective, want, 1e-12);
        assert_eq!(r.objective_weights, weights);
        // The objective does not depend on how long the run was, only on per-request quantities.
        let mut i = info(&d, 5000.0, vec![0.3, 0.5], vec![0.0, 0.0]);
        i.weights = weights;
        close(tiny_run([0.05; 5]).finish(i).objective, want, 1e-12);
    }
}

#[test]
fn objective_with_a_model_mix_uses_the_arrival_weighted_reference_energy() {
    // Two requests of a model with reference 0.05 J and three with 0.04 J: the reference for the
    // run is the mean over arrivals, 0.22 / 5 = 0.044 J.
    let d = device();
    let r = tiny_run([0.05, 0.05, 0.04, 0.04, 0.04]).finish(info(&d, 1000.0, vec![0.3, 0.5], vec![0.0, 0.0]));
    close(r.objective, 0.92 + 1.6 + 0.2 / 0.044, 1e-12);
}

#[test]
fn reference_energy_in_the_objective_comes_from_the_profile() {
    // One request of m0 alone on its most efficient processor, with exactly the profile's energy:
    // the energy term is then 1.
    let d = device();
    let m0 = d.model_id("m0").unwrap();
    let reference = d.reference_energy_j(m0);
    // p0: 5 W x 10 ms = 0.05 J; p1: 20 W / 2 slots x 20 ms = 0.2 J.
    close(reference, 0.05, 1e-12);
    let mut m = MetricsRecorder::new(2, 2);
    m.arrival(0, reference);
    m.completion(0, 0, 10.0, 40.0);
    let mut i = info(&d, 10.0, vec![reference, 0.0], vec![10.0, 0.0]);
    i.weights = ObjectiveWeights {
        latency: 0.0,
        violation: 0.0,
        energy: 1.0,
    };
    close(m.finish(i).objective, 1.0, 1e-12);
}

#[test]
fn an_empty_run_gives_finite_zeros() {
    let d = device();
    let r = MetricsRecorder::new(2, 2).finish(info(&d, 0.0, vec![0.0, 0.0], vec![0.0, 0.0]));
    assert_eq!(
        (r.arrived, r.completed, r.violated, r.late, r.unfinished),
        (0, 0, 0, 0, 0)
    );
    for x in [
        r.mean_latency_over_slo,
        r.slo_violation_rate,
        r.objective,
        r.throughput_rps,
        r.energy_per_inference_mj,
        r.avg_power_w,
        r.latency_ms.mean,
        r.latency_ms.p99,
        r.per_processor[0].utilization,
        r.per_stream[1].mean_latency_ms,
    ] {
        assert_eq!(x, 0.0);
    }
    // And the report is valid JSON that reads back.
    let json = serde_json::to_string(&r).unwrap();
    let back: RunReport = serde_json::from_str(&json).unwrap();
    assert_eq!(back, r);
}

#[test]
fn the_report_has_the_json_fields_of_design_md() {
    let d = device();
    let r = tiny_run([0.05; 5]).finish(info(&d, 1000.0, vec![0.3, 0.5], vec![300.0, 500.0]));
    let v: serde_json::Value = serde_json::to_value(&r).unwrap();
    for key in [
        "policy",
        "device",
        "workload",
        "seed",
        "mode",
        "energy_source",
        "arrived",
        "completed",
        "violated",
        "throughput_rps",
        "latency_ms",
        "mean_latency_over_slo",
        "slo_violation_rate",
        "energy_j",
        "energy_per_inference_mj",
        "avg_power_w",
        "objective",
        "per_processor",
    ] {
        assert!(v.get(key).is_some(), "missing {key}");
    }
    for key in ["mean", "p50", "p95", "p99", "max"] {
        assert!(v["latency_ms"].get(key).is_some(), "missing latency_ms.{key}");
    }
    for key in ["id", "kind", "completed", "utilization", "energy_j"] {
        assert!(v["per_processor"][0].get(key).is_some(), "missing per_processor.{key}");
    }
    assert_eq!(v["violated"], 2);
    let back: RunReport = serde_json::from_value(v).unwrap();
    assert_eq!(back, r);
}

/// Nearest-rank percentile of a sorted slice.
fn nearest_rank(sorted: &[f64], q: f64) -> f64 {
    let rank = ((q * sorted.len() as f64).ceil() as usize).max(1);
    sorted[rank - 1]
}

fn percentiles_of(latencies: &[f64]) -> RunReport {
    let d = device();
    let mut m = MetricsRecorder::new(2, 2);
    for &l in latencies {
        m.arrival(0, 1.0);
        m.completion(0, 0, l, 1e9);
    }
    m.finish(info(&d, 1000.0, vec![0.0, 0.0], vec![0.0, 0.0]))
}

#[test]
fn percentiles_are_within_a_tenth_of_a_percent_of_exact() {
    // 1..=1000 ms: p50 = 500, p95 = 950, p99 = 990, max = 1000, mean = 500.5.
    let lat: Vec<f64> = (1..=1000).map(f64::from).collect();
    let r = percentiles_of(&lat);
    close(r.latency_ms.p50, 500.0, 1e-3);
    close(r.latency_ms.p95, 950.0, 1e-3);
    close(r.latency_ms.p99, 990.0, 1e-3);
    close(r.latency_ms.max, 1000.0, 1e-3);
    close(r.latency_ms.mean, 500.5, 1e-12);

    // A skewed set in a scrambled order, with sub-millisecond and multi-second values.
    let mut lat: Vec<f64> = (1..=5000u32)
        .map(|i| 0.37 * f64::from((i * 7919) % 5000 + 1).powf(1.5) / 10.0)
        .collect();
    lat.push(0.25);
    lat.push(20_345.6);
    let r = percentiles_of(&lat);
    let mut sorted = lat.clone();
    sorted.sort_by(f64::total_cmp);
    close(r.latency_ms.p50, nearest_rank(&sorted, 0.50), 1e-3);
    close(r.latency_ms.p95, nearest_rank(&sorted, 0.95), 1e-3);
    close(r.latency_ms.p99, nearest_rank(&sorted, 0.99), 1e-3);
    close(r.latency_ms.max, 20_345.6, 1e-3);
    close(r.latency_ms.mean, lat.iter().sum::<f64>() / lat.len() as f64, 1e-12);
}

#[test]
fn a_single_latency_is_every_percentile() {
    let r = percentiles_of(&[42.0]);
    for x in [
        r.latency_ms.p50,
        r.latency_ms.p95,
        r.latency_ms.p99,
        r.latency_ms.max,
        r.latency_ms.mean,
    ] {
        close(x, 42.0, 1e-3);
    }
}

#[derive(Debug, Clone)]
enum Fate {
    Done { processor: usize, latency: f64, slo: f64 },
    Unfinished { age: f64, slo: f64 },
}

fn fate() -> impl Strategy<Value = (usize, f64, Fate)> {
    let lat = prop_oneof![0.0f64..2.0, 0.0f64..500.0, 1.0f64..1e6];
    let slo = prop_oneof![1.0f64..100.0, 10.0f64..1000.0];
    (
        0usize..2,
        0.001f64..1.0,
        prop_oneof![
            3 => (0usize..2, lat.clone(), slo.clone()).prop_map(|(processor, latency, slo)| Fate::Done { processor, latency, slo }),
            1 => (lat, slo).prop_map(|(age, slo)| Fate::Unfinished { age, slo }),
        ],
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    /// Every arrival is counted exactly once: completed in time, late, or unfinished.
    #[test]
    fn every_arrival_is_counted_once(fates in proptest::collection::vec(fate(), 0..300)) {
        let d = device();
        let mut m = MetricsRecorder::new(2, 2);
        for (s, r, _) in &fates {
            m.arrival(*s, *r);
        }
        let (mut in_time, mut late, mut unfinished) = (0u64, 0u64, 0u64);
        let mut sum_over_slo = 0.0;
        for (s, _, f) in &fates {
            match *f {
                Fate::Done { processor, latency, slo } => {
                    let v = m.completion(*s, processor, latency, slo);
                    prop_assert_eq!(v, latency > slo);
                    if v { late += 1 } else { in_time += 1 }
                    sum_over_slo += latency / slo;
                }
                Fate::Unfinished { age, slo } => {
                    m.unfinished(*s, age, slo);
                    unfinished += 1;
                    sum_over_slo += age / slo;
                }
            }
        }
        let r = m.finish(info(&d, 1000.0, vec![1.0, 2.0], vec![10.0, 10.0]));
        prop_assert_eq!(r.arrived, fates.len() as u64);
        prop_assert_eq!(r.arrived, in_time + r.late + r.unfinished);
        prop_assert_eq!(r.violated, r.late + r.unfinished);
        prop_assert_eq!((r.late, r.unfinished), (late, unfinished));
        prop_assert_eq!(r.completed, in_time + late);
        prop_assert_eq!(r.per_processor.iter().map(|p| p.completed).sum::<u64>(), r.completed);
        prop_assert_eq!(r.per_stream.iter().map(|s| s.arrived).sum::<u64>(), r.arrived);
        prop_assert_eq!(r.per_stream.iter().map(|s| s.completed).sum::<u64>(), r.completed);
        prop_assert_eq!(r.per_stream.iter().map(|s| s.violated).sum::<u64>(), r.violated);
        if !fates.is_empty() {
            let n = fates.len() as f64;
            prop_assert!((r.slo_violation_rate - r.violated as f64 / n).abs() < 1e-12);
            prop_assert!((r.mean_latency_over_slo - sum_over_slo / n).abs() <= 1e-9 * (sum_over_slo / n).max(1.0));
            let l = r.latency_ms;
            prop_assert!(l.p50 <= l.p95 && l.p95 <= l.p99 && l.p99 <= l.max, "{:?}", l);
            prop_assert!(r.objective.is_finite() && r.objective >= 0.0);
        }
    }
}

// ---------------------------------------------------------------- latency estimator

#[test]
fn estimator_starts_from_the_profile() {
    let d = device();
    let e = LatencyEstimator::new(&d, LatencyEstimator::DEFAULT_ALPHA);
    let (p0, p1) = (ProcessorId(0), ProcessorId(1));
    assert_eq!(e.estimate(ModelId(0), p0), Some(10.0));
    assert_eq!(e.estimate(ModelId(0), p1), Some(20.0));
    assert_eq!(e.estimate(ModelId(1), p0), None);
    assert_eq!(e.estimate(ModelId(1), p1), Some(4.0));
    assert_eq!(e.estimate(ModelId(2), p0), Some(7.0));
    assert_eq!(e.estimate(ModelId(2), p1), Some(3.0));
}

#[test]
fn estimator_is_an_exponential_moving_average() {
    let d = device();
    let mut e = LatencyEstimator::new(&d, 0.25);
    let (m, p) = (ModelId(0), ProcessorId(0));
    // 10 + 0.25 (20 - 10) = 12.5; + 0.25 (20 - 12.5) = 14.375; + 0.25 (2 - 14.375) = 11.28125
    e.update(m, p, 20.0);
    assert_eq!(e.estimate(m, p), Some(12.5));
    e.update(m, p, 20.0);
    assert_eq!(e.estimate(m, p), Some(14.375));
    e.update(m, p, 2.0);
    assert_eq!(e.estimate(m, p), Some(11.28125));
    // Only that pair moved.
    assert_eq!(e.estimate(ModelId(0), ProcessorId(1)), Some(20.0));
    assert_eq!(e.estimate(ModelId(2), ProcessorId(0)), Some(7.0));
    assert_eq!(e.estimate(ModelId(1), ProcessorId(1)), Some(4.0));
}

#[test]
fn estimator_converges_geometrically() {
    let d = device();
    let mut e = LatencyEstimator::new(&d, LatencyEstimator::DEFAULT_ALPHA);
    let (m, p) = (ModelId(2), ProcessorId(1));
    for n in 1..=50 {
        e.update(m, p, 30.0);
        // 30 - (30 - 3) x 0.9^n
        let want = 30.0 - 27.0 * 0.9f64.powi(n);
        close(e.estimate(m, p).unwrap(), want, 1e-12);
    }
}

#[test]
fn estimator_ignores_bad_observations_and_pairs_that_cannot_run() {
    let d = device();
    let mut e = LatencyEstimator::new(&d, 0.5);
    let (m, p) = (ModelId(0), ProcessorId(1));
    for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -5.0, 0.0, -0.0] {
        e.update(m, p, bad);
        assert_eq!(e.estimate(m, p), Some(20.0), "after {bad}");
    }
    e.update(ModelId(1), ProcessorId(0), 5.0);
    assert_eq!(
        e.estimate(ModelId(1), ProcessorId(0)),
        None,
        "a pair that cannot run stays so"
    );
    e.update(m, p, 10.0);
    assert_eq!(e.estimate(m, p), Some(15.0));
}

#[test]
fn estimator_alpha_is_clamped() {
    let d = device();
    let (m, p) = (ModelId(0), ProcessorId(0));
    // Above 1: the newest observation replaces the estimate.
    let mut e = LatencyEstimator::new(&d, 5.0);
    e.update(m, p, 33.0);
    assert_eq!(e.estimate(m, p), Some(33.0));
    // Zero or negative: a tiny positive weight, so the estimate still moves, a little.
    for alpha in [0.0, -1.0] {
        let mut e = LatencyEstimator::new(&d, alpha);
        e.update(m, p, 1010.0);
        let v = e.estimate(m, p).unwrap();
        assert!(v > 10.0 && v < 10.01, "alpha {alpha}: {v}");
    }
}

#[test]
fn estimator_with_a_nan_alpha_stays_usable() {
    let d = device();
    let (m, p) = (ModelId(0), ProcessorId(0));
    let mut e = LatencyEstimator::new(&d, f64::NAN);
    e.update(m, p, 12.0);
    let v = e.estimate(m, p).expect("a pair that runs keeps an estimate");
    assert!(v.is_finite() && (10.0..=12.0).contains(&v), "{v}");
}
