//! The scenario generator: deterministic from (seed, index), covering the distribution that
//! docs/scenarios.md promises, and written to files that read back to the same workload.

use cosched_core::scenario::{generate, generate_set, scenario_name, DURATION_S, LOAD, SLO_FACTOR, STREAMS};
use cosched_core::{Arrival, DeviceProfile, Slo, Workload};
use std::collections::BTreeSet;
use std::path::PathBuf;

fn devices() -> Vec<DeviceProfile> {
    DeviceProfile::builtin_names()
        .map(|n| DeviceProfile::builtin(n).unwrap())
        .collect()
}

fn orin() -> DeviceProfile {
    DeviceProfile::builtin("jetson-agx-orin").unwrap()
}

fn kind(a: &Arrival) -> &'static str {
    match a {
        Arrival::Poisson { .. } => "poisson",
        Arrival::Periodic { .. } => "periodic",
        Arrival::Mmpp { .. } => "mmpp",
        Arrival::Closed { .. } => "closed",
        Arrival::Trace { .. } => "trace",
    }
}

/// Shape of a scenario without its model names: what must not depend on the device.
fn shape(w: &Workload) -> String {
    let mut w = w.clone();
    for s in &mut w.streams {
        s.model = None;
        if let Arrival::Trace { events, .. } = &mut s.arrival {
            *events = std::sync::Arc::new(events.iter().map(|(t, _)| (*t, String::new())).collect());
        }
    }
    format!("{w:?}")
}

#[test]
fn the_same_seed_gives_the_same_scenarios_and_another_seed_does_not() {
    let d = orin();
    let a = generate_set(&d, 1000, 20);
    assert_eq!(a, generate_set(&d, 1000, 20));
    let b = generate_set(&d, 1001, 20);
    assert!(a.iter().zip(&b).all(|(x, y)| x != y));
    // Scenario i does not depend on how many were generated before it.
    assert_eq!(generate(&d, 1000, 17), a[17]);
    assert_eq!(a[3].name, scenario_name(1000, 3));
    assert_eq!(a[3].name, "scn-1000-3");
    let names: BTreeSet<_> = a.iter().map(|w| w.name.clone()).collect();
    assert_eq!(names.len(), a.len());
}

#[test]
fn a_seed_means_the_same_shapes_on_every_board() {
    let devs = devices();
    for i in 0..50 {
        let first = shape(&generate(&devs[0], 3000, i));
        for d in &devs[1..] {
            assert_eq!(shape(&generate(d, 3000, i)), first, "scenario {i} on {}", d.name);
        }
    }
}

#[test]
fn two_hundred_scenarios_cover_the_documented_distribution() {
    let d = orin();
    let set = generate_set(&d, 2000, 200);
    let mut kinds = BTreeSet::new();
    let mut stream_counts = BTreeSet::new();
    let (mut light_only, mut heavy_only, mut mixed) = (0, 0, 0);
    let (mut min_slo, mut max_slo) = (f64::INFINITY, 0.0f64);
    // The lighter and heavier halves by fastest latency (8 models: 4 and 4).
    let mut by_latency: Vec<_> = d.models.iter().enumerate().collect();
    by_latency.sort_by(|a, b| {
        let la = d.best_latency_ms(cosched_core::ModelId(a.0 as u16));
        let lb = d.best_latency_ms(cosched_core::ModelId(b.0 as u16));
        la.total_cmp(&lb)
    });
    let heavy: BTreeSet<&str> = by_latency[4..].iter().map(|(_, m)| m.name.as_str()).collect();
    for w in &set {
        let n = w.streams.len();
        assert!((STREAMS.0..=STREAMS.1).contains(&n), "{}: {n} streams", w.name);
        stream_counts.insert(n);
        assert!(
            (f64::from(DURATION_S.0)..=f64::from(DURATION_S.1)).contains(&w.duration_s),
            "{}",
            w.name
        );
        let load = w.load.expect("every scenario has a load");
        assert!((LOAD.0..=LOAD.1).contains(&load), "{}: load {load}", w.name);
        assert!(
            w.streams.iter().any(|s| !matches!(s.arrival, Arrival::Closed { .. })),
            "{}: closed loops only",
            w.name
        );
        let mut heavies = 0;
        for s in &w.streams {
            kinds.insert(kind(&s.arrival));
            let Slo::Factor(x) = s.slo else {
                panic!("{}: deadlines are slo_factor", w.name)
            };
            assert!((SLO_FACTOR.0..=SLO_FACTOR.1).contains(&x), "{}: slo_factor {x}", w.name);
            min_slo = min_slo.min(x);
            max_slo = max_slo.max(x);
            match &s.arrival {
                Arrival::Closed { concurrency } => assert!((1..=4).contains(concurrency)),
                Arrival::Mmpp { rates_hz, dwell_s } => {
                    assert!(rates_hz[1] > rates_hz[0], "{}: a burst is faster", w.name);
                    assert!(dwell_s.iter().all(|d| *d > 0.0));
                }
                Arrival::Trace { events, .. } => {
                    assert!(!events.is_empty());
                    assert!(events.windows(2).all(|e| e[0].0 <= e[1].0), "sorted");
                    assert!(events.iter().all(|(t, _)| *t >= 0.0 && *t <= w.duration_s * 1000.0));
                }
                _ => {}
            }
            heavies += usize::from(heavy.contains(s.model.as_deref().unwrap()));
        }
        if heavies == 0 {
            light_only += 1;
        } else if heavies == n {
            heavy_only += 1;
        } else {
            mixed += 1;
        }
    }
    let want: BTreeSet<_> = ["poisson", "periodic", "mmpp", "closed", "trace"].into();
    assert_eq!(kinds, want);
    assert_eq!(stream_counts, (1..=6).collect());
    // Each mix is drawn with probability 1/3 (a one-stream "mixed" one lands in a pure class).
    for (what, count) in [("light-only", light_only), ("heavy-only", heavy_only), ("mixed", mixed)] {
        assert!(count >= 30, "{what}: {count} of 200");
    }
    // Tight and loose deadlines both occur.
    assert!(min_slo < 2.5 && max_slo > 25.0, "slo_factor {min_slo}..{max_slo}");
}

#[test]
fn generated_scenarios_resolve_on_every_built_in_device() {
    for d in devices() {
        for w in generate_set(&d, 2000, 30) {
            for load in [None, Some(0.5), Some(0.95)] {
                let r = w.resolve(&d, load, &w.name).unwrap();
                assert!(
                    r.saturation_rps > 0.0 && r.offered_rps > 0.0,
                    "{} on {}",
                    w.name,
                    d.name
                );
                let want = load.or(w.load).unwrap();
                let got = r.offered_rps / r.saturation_rps;
                assert!(
                    (got - want).abs() < 1e-6 * want,
                    "{} on {}: {got} vs {want}",
                    w.name,
                    d.name
                );
            }
        }
    }
}

struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("cosched-scenarios-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn written_scenarios_read_back_equal() {
    let dir = TempDir::new("roundtrip");
    let d = orin();
    let mut traces = 0;
    for w in generate_set(&d, 1000, 40) {
        let path = w.write_to_dir(&dir.0).unwrap();
        assert_eq!(path, dir.0.join(format!("{}.toml", w.name)));
        let back = Workload::from_file(&path).unwrap();
        // The one difference: a trace's file is now the CSV written beside the TOML file.
        let mut want = w.clone();
        for s in &mut want.streams {
            if let Arrival::Trace { file, .. } = &mut s.arrival {
                *file = dir.0.join(file.file_name().unwrap());
                assert!(file.is_file());
                traces += 1;
            }
        }
        assert_eq!(back, want, "{}", w.name);
        // And it resolves the same as the in-memory scenario.
        assert_eq!(
            back.resolve(&d, Some(0.8), "a").unwrap(),
            w.resolve(&d, Some(0.8), "a").unwrap()
        );
    }
    assert!(traces > 0, "no trace stream in 40 scenarios");
}

#[test]
fn a_trace_cut_by_a_shorter_window_counts_only_the_rows_inside_it() {
    let d = orin();
    let w = (0..200)
        .map(|i| generate(&d, 1000, i))
        .find(|w| w.streams.len() == 1 && matches!(w.streams[0].arrival, Arrival::Trace { .. }))
        .expect("a one-stream trace scenario among 200");
    let mut short = w.clone();
    short.duration_s = 10.0;
    let Arrival::Trace { events, .. } = &w.streams[0].arrival else {
        unreachable!()
    };
    let inside = events.iter().filter(|(t, _)| *t < 10_000.0).count() as f64;
    let rate = short.streams[0].arrival.mean_rate_hz(10.0).unwrap();
    assert!((rate - inside / 10.0).abs() < 1e-9, "{rate} vs {}", inside / 10.0);
    // And load scaling uses that rate: times are divided by load x saturation / rate.
    let r = short.resolve(&d, Some(0.5), "short").unwrap();
    let cosched_core::ResolvedArrival::Trace {
        events: scaled,
        repeat_ms,
    } = &r.streams[0].arrival
    else {
        unreachable!()
    };
    let scale = 0.5 * r.saturation_rps / (inside / 10.0);
    let mid = inside as usize / 2;
    let (t0, t1) = (events[mid].0, scaled[mid].0);
    assert!((t1 - t0 / scale).abs() < 1e-9 * t0.max(1.0), "{t1} vs {}", t0 / scale);
    // Compressed, only the window's rows are kept, and they repeat one compressed window apart.
    assert!(scale > 1.0, "a generated trace is far below half the saturation");
    assert_eq!(scaled.len(), inside as usize);
    let period = repeat_ms.expect("a compressed trace repeats");
    assert!((period - 10_000.0 / scale).abs() < 1e-9 * period, "{period}");
}
