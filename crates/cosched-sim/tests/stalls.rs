//! Stalling processors in the simulator: stalls come as often and as long as the profile says,
//! with the profile's mean kept, and tail hedging cuts the stalled tail when the board has room
//! and stops sending copies under load.

use cosched_core::hedging::TailHedging;
use cosched_core::{baseline, DeviceProfile, Policy, RunReport, Workload};
use cosched_sim::{simulate, SimConfig};

/// One deterministic processor whose mean, stalls included, is 10 ms: one inference in ten
/// stalls at 5x, so the others take 10 / 1.4 ms.
const ONE_STALLING: &str = r#"
name = "one-stalling"
source = "tests"
[[processor]]
id = "gpu"
kind = "gpu"
ep = "cpu"
slots = 1
idle_power_w = 0.0
busy_power_w = 1.0
stall = { probability = 0.1, factor = 5.0 }
[[model]]
name = "m"
memory_mb = 1.0
latency_ms = { gpu = 10.0 }
"#;

#[test]
fn stalls_come_as_often_and_as_long_as_the_profile_says_and_keep_its_mean() {
    let dev = DeviceProfile::from_toml_str(ONE_STALLING, "one-stalling.toml").unwrap();
    // A request every 100 ms: nothing ever queues, so latency is service time.
    let w = Workload::from_toml_str(
        "name = \"w\"\nduration_s = 200.0\n[[stream]]\nname = \"s\"\nmodel = \"m\"\narrival = \"periodic\"\nrate_hz = 10.0\nslo_ms = 1000.0\n",
        "w.toml",
        None,
    )
    .unwrap()
    .resolve(&dev, None, "w.toml")
    .unwrap();
    let mut p = baseline("earliest-finish", &dev, Default::default()).unwrap();
    let r = simulate(&dev, &w, p.as_mut(), &SimConfig::with_seed(5));
    assert_eq!(r.completed, 2000);
    let body = 10.0 / 1.4;
    // The report's percentiles come from a histogram of three significant digits.
    assert!((r.latency_ms.p50 / body - 1.0).abs() < 2e-3, "p50 {}", r.latency_ms.p50);
    assert!(
        (r.latency_ms.max / (5.0 * body) - 1.0).abs() < 2e-3,
        "max {}",
        r.latency_ms.max
    );
    // 2000 draws at p = 0.1: the share of stalls is within 0.1 +- 0.02 (more than 3 sigma).
    let stalled = (r.latency_ms.mean - body) / (4.0 * body);
    assert!((stalled - 0.1).abs() < 0.02, "stalled share {stalled}");
    assert!((r.latency_ms.mean - 10.0).abs() < 0.9, "mean {}", r.latency_ms.mean);
}

/// Two GPUs of similar speed that run two inferences each and stall one time in thirty at 8x,
/// and a slow CPU (the hedging check's profile, modelled).
const STALLING_PAIR: &str = include_str!("../../../devices/hedging/stalling-gpu-pair.toml");
/// One camera stream of the classifier, deadline 4x its fastest latency.
const CLASSIFY: &str = include_str!("../../../workloads/hedging/classify.toml");

fn classify(dev: &DeviceProfile, load: f64) -> cosched_core::ResolvedWorkload {
    let mut w = Workload::from_toml_str(CLASSIFY, "classify.toml", None).unwrap();
    w.duration_s = 30.0;
    w.resolve(dev, Some(load), "classify.toml").unwrap()
}

fn run(dev: &DeviceProfile, load: f64, hedged: bool) -> RunReport {
    let inner = baseline("least-slack", dev, Default::default()).unwrap();
    let mut p: Box<dyn Policy> = if hedged {
        Box::new(TailHedging::new(inner, "hedge-tail:least-slack".into()))
    } else {
        inner
    };
    let r = simulate(dev, &classify(dev, load), p.as_mut(), &SimConfig::with_seed(2));
    assert_eq!(r.arrived, r.completed + r.unfinished, "every arrival counted once");
    r
}

#[test]
fn tail_hedging_cuts_the_stalled_tail_with_room_and_stops_under_load() {
    let dev = DeviceProfile::from_toml_str(STALLING_PAIR, "stalling-gpu-pair.toml").unwrap();
    let (plain, hedged) = (run(&dev, 0.5, false), run(&dev, 0.5, true));
    assert!(
        hedged.latency_ms.p99 <= 0.75 * plain.latency_ms.p99,
        "p99 {} hedged against {}",
        hedged.latency_ms.p99,
        plain.latency_ms.p99
    );
    let extra = hedged.actions.extra_inference_share(hedged.completed);
    assert!(extra > 0.0 && extra <= 0.15, "extra inferences {extra}");
    // The few copies left go out while the arrival-rate average is still rising from zero.
    let busy = run(&dev, 0.95, true);
    assert!(
        (busy.actions.hedges_sent as f64) < 0.02 * busy.arrived as f64,
        "{} copies for {} arrivals at 95 % load",
        busy.actions.hedges_sent,
        busy.arrived
    );
}
