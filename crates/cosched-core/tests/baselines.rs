//! The defining behaviour of every baseline policy, on hand-built observations.

use cosched_core::baselines::{
    prob_exceeds, EarliestFinish, EnergyGreedy, FastestOnly, LeastLoaded, LeastSlack, ObjectiveGreedy, RandomPolicy,
    RoundRobin, ShortestExpectedLatency,
};
use cosched_core::{
    baseline, DeviceProfile, ModelId, ObjectiveWeights, Observation, Policy, ProcessorId, ProcessorView, QueueOrder,
    BASELINE_NAMES,
};
use proptest::prelude::*;

/// Three processors; `m0` is fastest on the GPU, then the NPU, then the CPU; `m1` cannot run on
/// the GPU and is fastest on the NPU.
const DEVICE: &str = r#"
name = "test-board"
source = "hand-written for tests"

[[processor]]
id = "cpu"
kind = "cpu"
ep = "cpu"
slots = 2
idle_power_w = 1.0
busy_power_w = 5.0

[[processor]]
id = "gpu"
kind = "gpu"
ep = "cuda"
slots = 1
idle_power_w = 2.0
busy_power_w = 20.0

[[processor]]
id = "npu"
kind = "npu"
ep = "qnn"
slots = 1
idle_power_w = 0.5
busy_power_w = 3.0

[[model]]
name = "m0"
memory_mb = 10.0
latency_ms = { cpu = 40.0, gpu = 2.0, npu = 5.0 }

[[model]]
name = "m1"
memory_mb = 10.0
latency_ms = { cpu = 10.0, npu = 3.0 }
"#;

const CPU: ProcessorId = ProcessorId(0);
const GPU: ProcessorId = ProcessorId(1);
const NPU: ProcessorId = ProcessorId(2);

fn device() -> DeviceProfile {
    DeviceProfile::from_toml_str(DEVICE, "test-board.toml").expect("test profile is valid")
}

/// An available processor with one slot, idle, with this latency and backlog.
fn pv(est_latency_ms: f64, backlog_ms: f64) -> ProcessorView {
    ProcessorView {
        available: true,
        queue_len: 0,
        in_flight: 0,
        slots: 1,
        backlog_ms,
        est_latency_ms,
        latency_cv: 0.0,
        stall: None,
        est_energy_j: 1.0,
        utilization: 0.0,
        freq_scale: 1.0,
    }
}

fn unavailable() -> ProcessorView {
    ProcessorView::default()
}

fn obs_with(views: Vec<ProcessorView>) -> Observation {
    let mut obs = Observation::empty(views.len(), 2);
    obs.processors = views;
    obs
}

fn decide(policy: &mut dyn Policy, obs: &Observation) -> ProcessorId {
    policy.decide(obs).processor
}

// ---------------------------------------------------------------- registry

#[test]
fn every_baseline_name_builds_a_policy_of_that_name() {
    let d = device();
    for &name in BASELINE_NAMES {
        let p = baseline(name, &d, ObjectiveWeights::default()).unwrap_or_else(|| panic!("{name} not built"));
        assert_eq!(p.name(), name);
    }
    assert_eq!(BASELINE_NAMES.len(), 9);
    assert!(baseline("no-such-policy", &d, ObjectiveWeights::default()).is_none());
    assert!(baseline("", &d, ObjectiveWeights::default()).is_none());
}

#[test]
fn only_least_slack_asks_for_least_slack_first_queues_even_boxed() {
    let d = device();
    for &name in BASELINE_NAMES {
        let p = baseline(name, &d, ObjectiveWeights::default()).unwrap();
        let want = if name == "least-slack" {
            QueueOrder::LeastSlackFirst
        } else {
            QueueOrder::Fifo
        };
        assert_eq!(p.queue_order(), want, "{name}");
    }
    assert_eq!(LeastSlack.queue_order(), QueueOrder::LeastSlackFirst);
    assert_eq!(EarliestFinish.queue_order(), QueueOrder::Fifo);
}

// ---------------------------------------------------------------- fastest-only

#[test]
fn fastest_only_ignores_queues_and_estimates() {
    let d = device();
    let mut p = FastestOnly::new(&d);
    // The GPU has a huge backlog and the online estimate says the CPU is fastest; fastest-only
    // still follows the profile.
    let mut views = vec![pv(0.5, 0.0), pv(100.0, 10_000.0), pv(5.0, 0.0)];
    views[1].queue_len = 500;
    views[1].in_flight = 1;
    let mut obs = obs_with(views);
    obs.request.model = ModelId(0);
    assert_eq!(decide(&mut p, &obs), GPU);
    // m1 cannot run on the GPU: its fastest is the NPU.
    obs.request.model = ModelId(1);
    obs.processors[GPU.index()].available = false;
    assert_eq!(decide(&mut p, &obs), NPU);
}

#[test]
fn fastest_only_falls_back_in_profiled_order() {
    let d = device();
    let mut p = FastestOnly::new(&d);
    let mut obs = obs_with(vec![pv(40.0, 0.0), unavailable(), pv(5.0, 0.0)]);
    obs.request.model = ModelId(0);
    // GPU down: next fastest is the NPU (5 ms), not the CPU (40 ms, first in processor order).
    assert_eq!(decide(&mut p, &obs), NPU);
    obs.processors[NPU.index()].available = false;
    assert_eq!(decide(&mut p, &obs), CPU);
    // Back up: back to the GPU.
    obs.processors[GPU.index()] = pv(2.0, 0.0);
    assert_eq!(decide(&mut p, &obs), GPU);
}

#[test]
fn fastest_only_via_registry_matches_profile() {
    let d = device();
    let mut p = baseline("fastest-only", &d, ObjectiveWeights::default()).unwrap();
    let mut obs = obs_with(vec![pv(1.0, 0.0), pv(1.0, 0.0), pv(1.0, 0.0)]);
    obs.request.model = ModelId(0);
    assert_eq!(decide(p.as_mut(), &obs), d.fastest_processor(ModelId(0)));
    assert_eq!(d.fastest_processor(ModelId(0)), GPU);
    assert_eq!(d.fastest_processor(ModelId(1)), NPU);
}

// ---------------------------------------------------------------- round-robin

#[test]
fn round_robin_cycles_over_all_processors() {
    let mut p = RoundRobin::default();
    let obs = obs_with(vec![pv(1.0, 0.0), pv(1.0, 0.0), pv(1.0, 0.0)]);
    let got: Vec<u16> = (0..7).map(|_| decide(&mut p, &obs).0).collect();
    assert_eq!(got, vec![0, 1, 2, 0, 1, 2, 0]);
}

#[test]
fn round_robin_skips_unavailable_and_resets() {
    let mut p = RoundRobin::default();
    let obs = obs_with(vec![pv(1.0, 0.0), unavailable(), pv(1.0, 0.0)]);
    let got: Vec<u16> = (0..5).map(|_| decide(&mut p, &obs).0).collect();
    assert_eq!(got, vec![0, 2, 0, 2, 0]);
    // The pointer has moved on to 1; after reset it starts at 0 again.
    p.reset(7);
    let all = obs_with(vec![pv(1.0, 0.0), pv(1.0, 0.0), pv(1.0, 0.0)]);
    assert_eq!(decide(&mut p, &all), ProcessorId(0));
    assert_eq!(decide(&mut p, &all), ProcessorId(1));
    // Processor 2 goes down: the cycle continues at the next available one.
    let two_down = obs_with(vec![pv(1.0, 0.0), pv(1.0, 0.0), unavailable()]);
    assert_eq!(decide(&mut p, &two_down), ProcessorId(0));
    assert_eq!(decide(&mut p, &two_down), ProcessorId(1));
}

#[test]
fn round_robin_with_a_single_valid_processor_always_picks_it() {
    let mut p = RoundRobin::default();
    let obs = obs_with(vec![unavailable(), unavailable(), pv(1.0, 0.0), unavailable()]);
    for _ in 0..10 {
        assert_eq!(decide(&mut p, &obs), ProcessorId(2));
    }
}

// ---------------------------------------------------------------- random

#[test]
fn random_only_picks_valid_processors_and_covers_them_all() {
    let mut p = RandomPolicy::new(1);
    let obs = obs_with(vec![
        pv(1.0, 0.0),
        unavailable(),
        pv(1.0, 0.0),
        unavailable(),
        pv(1.0, 0.0),
    ]);
    let mut counts = [0u32; 5];
    let n = 3000;
    for _ in 0..n {
        counts[decide(&mut p, &obs).index()] += 1;
    }
    assert_eq!(counts[1], 0);
    assert_eq!(counts[3], 0);
    // Uniform over 3: expect 1000 each, standard deviation ~26; allow ~7 sigma.
    for &i in &[0, 2, 4] {
        assert!((820..=1180).contains(&counts[i]), "counts {counts:?}");
    }
}

#[test]
fn random_is_reproducible_after_reset() {
    let obs = obs_with(vec![pv(1.0, 0.0); 6]);
    let run = |p: &mut dyn Policy, seed: u64| -> Vec<ProcessorId> {
        p.reset(seed);
        (0..200).map(|_| decide(p, &obs)).collect()
    };
    let mut a = RandomPolicy::new(123);
    let mut b = baseline("random", &device(), ObjectiveWeights::default()).unwrap();
    let a1 = run(&mut a, 42);
    let a2 = run(&mut a, 42);
    let b1 = run(b.as_mut(), 42);
    assert_eq!(a1, a2, "same seed after reset, same decisions");
    assert_eq!(a1, b1, "the construction seed does not matter after reset");
    let a3 = run(&mut a, 43);
    assert_ne!(a1, a3, "another seed gives other decisions (200 draws over 6)");
}

// ---------------------------------------------------------------- least-loaded

#[test]
fn least_loaded_uses_queue_plus_in_flight_per_slot() {
    let mut views = vec![pv(1.0, 0.0), pv(1.0, 0.0), pv(1.0, 0.0)];
    // 7 / 4 = 1.75
    views[0].slots = 4;
    views[0].queue_len = 3;
    views[0].in_flight = 4;
    // 2 / 1 = 2
    views[1].queue_len = 1;
    views[1].in_flight = 1;
    // 3 / 2 = 1.5: fewest per slot, though most in absolute terms after processor 0.
    views[2].slots = 2;
    views[2].in_flight = 3;
    let obs = obs_with(views);
    assert_eq!(decide(&mut LeastLoaded, &obs), ProcessorId(2));
}

#[test]
fn least_loaded_ignores_backlog_and_breaks_ties_by_latency() {
    // Equal load 1/1; the second is faster. Backlog (estimated wait) is not part of the rule.
    let mut views = vec![pv(30.0, 0.0), pv(10.0, 500.0), unavailable()];
    for v in &mut views[..2] {
        v.queue_len = 1;
    }
    views[2].est_latency_ms = 0.1; // unavailable, never chosen
    let obs = obs_with(views);
    assert_eq!(decide(&mut LeastLoaded, &obs), ProcessorId(1));
    // One more request queued on the fast one: now the slow one has less load.
    let mut obs2 = obs.clone();
    obs2.processors[1].queue_len = 2;
    assert_eq!(decide(&mut LeastLoaded, &obs2), ProcessorId(0));
}

#[test]
fn least_loaded_does_not_overflow_on_huge_counts() {
    let mut views = vec![pv(1.0, 0.0), pv(1.0, 0.0)];
    views[0].queue_len = u32::MAX;
    views[0].in_flight = 1;
    views[1].queue_len = 5;
    let obs = obs_with(views);
    // Processor 0 holds 2^32 requests, processor 1 five: the second is less loaded.
    assert_eq!(decide(&mut LeastLoaded, &obs), ProcessorId(1));
}

// ---------------------------------------------------------------- shortest expected latency

#[test]
fn sel_picks_lowest_estimate_even_with_a_long_queue() {
    let mut views = vec![pv(20.0, 0.0), pv(5.0, 1000.0), pv(8.0, 0.0)];
    views[1].queue_len = 100;
    let obs = obs_with(views);
    assert_eq!(decide(&mut ShortestExpectedLatency, &obs), ProcessorId(1));
    // An unavailable processor with a lower estimate is skipped.
    let mut obs2 = obs.clone();
    obs2.processors.push(ProcessorView {
        est_latency_ms: 1.0,
        ..unavailable()
    });
    assert_eq!(decide(&mut ShortestExpectedLatency, &obs2), ProcessorId(1));
    // It follows the online estimate, not the profile: processor 2's estimate drops.
    obs2.processors[2].est_latency_ms = 4.0;
    assert_eq!(decide(&mut ShortestExpectedLatency, &obs2), ProcessorId(2));
}

// ---------------------------------------------------------------- earliest finish / least slack

#[test]
fn earliest_finish_minimises_backlog_plus_latency() {
    // Finishes: 20, 5 + 30 = 35, 8 + 10 = 18, unavailable 1.
    let obs = obs_with(vec![
        pv(20.0, 0.0),
        pv(5.0, 30.0),
        pv(8.0, 10.0),
        ProcessorView {
            est_latency_ms: 1.0,
            ..unavailable()
        },
    ]);
    assert_eq!(decide(&mut EarliestFinish, &obs), ProcessorId(2));
    assert_eq!(decide(&mut LeastSlack, &obs), ProcessorId(2));
    // SEL on the same observation picks the lowest latency instead.
    assert_eq!(decide(&mut ShortestExpectedLatency, &obs), ProcessorId(1));
    // Ties go to the first.
    let tie = obs_with(vec![pv(10.0, 10.0), pv(15.0, 5.0)]);
    assert_eq!(decide(&mut EarliestFinish, &tie), ProcessorId(0));
}

// ---------------------------------------------------------------- energy-greedy

fn energy_obs() -> Observation {
    // Fast and hungry, slow and frugal, medium; plus an unavailable one that would be the most frugal.
    let mut views = vec![pv(10.0, 0.0), pv(60.0, 0.0), pv(30.0, 0.0), unavailable()];
    views[0].est_energy_j = 1.0;
    views[1].est_energy_j = 0.1;
    views[2].est_energy_j = 0.4;
    views[3].est_energy_j = 0.01;
    views[3].est_latency_ms = 1.0;
    let mut obs = obs_with(views);
    obs.now_ms = 100.0;
    obs.request.arrival_ms = 90.0;
    obs
}

#[test]
fn energy_greedy_takes_the_most_frugal_processor_that_meets_the_deadline() {
    let mut obs = energy_obs();
    // Deadline at 90 + 200 = 290, 190 ms from now: everything meets it; the frugal one wins.
    obs.request.slo_ms = 200.0;
    assert_eq!(decide(&mut EnergyGreedy, &obs), ProcessorId(1));
    // 50 ms from now (slo 60 with 10 already elapsed): the 60 ms one misses, the 30 ms one meets.
    obs.request.slo_ms = 60.0;
    assert_eq!(decide(&mut EnergyGreedy, &obs), ProcessorId(2));
    // Exactly on the deadline counts as meeting it (a violation is finishing *later*).
    obs.request.slo_ms = 70.0;
    assert_eq!(decide(&mut EnergyGreedy, &obs), ProcessorId(1));
    // Backlog counts: the frugal one's queue pushes it past the deadline.
    obs.processors[1].backlog_ms = 1.0;
    assert_eq!(decide(&mut EnergyGreedy, &obs), ProcessorId(2));
}

#[test]
fn energy_greedy_falls_back_to_earliest_finish_when_nothing_meets() {
    let mut obs = energy_obs();
    // 5 ms from now: nothing meets it. Earliest finish: processor 0 (10 ms) — though it uses the most energy.
    obs.request.slo_ms = 15.0;
    assert_eq!(decide(&mut EnergyGreedy, &obs), ProcessorId(0));
    // Give processor 0 a backlog so that processor 2 finishes first.
    obs.processors[0].backlog_ms = 25.0;
    assert_eq!(decide(&mut EnergyGreedy, &obs), ProcessorId(2));
    // Deadline already passed.
    obs.now_ms = 1000.0;
    assert_eq!(decide(&mut EnergyGreedy, &obs), ProcessorId(2));
}

// ---------------------------------------------------------------- objective-greedy

#[test]
fn prob_exceeds_is_half_at_the_median_and_monotone() {
    for &(mean, cv) in &[(10.0, 0.1), (10.0, 0.5), (3.0, 2.0), (250.0, 0.05)] {
        let median = mean / f64::sqrt(1.0 + cv * cv);
        let p = prob_exceeds(mean, cv, median);
        assert!((p - 0.5).abs() < 1e-12, "mean {mean} cv {cv}: {p}");
        // Decreasing in the budget, from ~1 to ~0.
        let mut last = 1.0;
        for k in 1..=400 {
            let budget = mean * f64::from(k) / 100.0;
            let q = prob_exceeds(mean, cv, budget);
            assert!((0.0..=1.0).contains(&q));
            assert!(q <= last + 1e-15, "not monotone at budget {budget}: {q} > {last}");
            last = q;
        }
        assert!(prob_exceeds(mean, cv, mean * 1e-3) > 0.99);
        assert!(prob_exceeds(mean, cv, mean * 1e3) < 0.01);
        // Increasing in the mean for a fixed budget.
        assert!(prob_exceeds(mean * 1.5, cv, mean) > prob_exceeds(mean, cv, mean));
    }
    // Lognormal: the mean is above the median, so P(X > mean) < 0.5.
    assert!(prob_exceeds(10.0, 0.5, 10.0) < 0.5);
    // A budget <= 0 is always missed.
    assert_eq!(prob_exceeds(10.0, 0.5, 0.0), 1.0);
    assert_eq!(prob_exceeds(10.0, 0.0, -1.0), 1.0);
}

#[test]
fn prob_exceeds_is_a_step_at_cv_zero() {
    assert_eq!(prob_exceeds(10.0, 0.0, 9.999), 1.0);
    assert_eq!(prob_exceeds(10.0, 0.0, 10.001), 0.0);
    // Finishing exactly at the budget is not exceeding it.
    assert_eq!(prob_exceeds(10.0, 0.0, 10.0), 0.0);
    // A tiny cv approaches the step.
    assert!(prob_exceeds(10.0, 1e-4, 9.9) > 0.999);
    assert!(prob_exceeds(10.0, 1e-4, 10.1) < 0.001);
}

/// A fast, hungry processor and a slow, efficient one.
fn fast_vs_efficient(slo_ms: f64) -> Observation {
    let mut views = vec![pv(10.0, 0.0), pv(30.0, 0.0)];
    views[0].est_energy_j = 1.0;
    views[1].est_energy_j = 0.2;
    let mut obs = obs_with(views);
    obs.request.slo_ms = slo_ms;
    obs.request.reference_energy_j = 0.2;
    obs
}

#[test]
fn objective_greedy_without_energy_weight_picks_the_faster() {
    let w = ObjectiveWeights {
        latency: 1.0,
        violation: 4.0,
        energy: 0.0,
    };
    assert_eq!(
        decide(&mut ObjectiveGreedy::new(w), &fast_vs_efficient(1000.0)),
        ProcessorId(0)
    );
}

#[test]
fn objective_greedy_with_large_energy_weight_and_loose_deadline_picks_the_efficient() {
    let w = ObjectiveWeights {
        latency: 1.0,
        violation: 4.0,
        energy: 10.0,
    };
    // fast: 10/1000 + 0 + 10 * 1.0/0.2 = 50.01; efficient: 30/1000 + 0 + 10 * 1 = 10.03
    assert_eq!(
        decide(&mut ObjectiveGreedy::new(w), &fast_vs_efficient(1000.0)),
        ProcessorId(1)
    );
}

#[test]
fn objective_greedy_pays_the_violation_penalty() {
    let w = ObjectiveWeights {
        latency: 1.0,
        violation: 4.0,
        energy: 1.0,
    };
    // Loose: fast 0.01 + 5 = 5.01, efficient 0.03 + 1 = 1.03 -> efficient.
    assert_eq!(
        decide(&mut ObjectiveGreedy::new(w), &fast_vs_efficient(1000.0)),
        ProcessorId(1)
    );
    // SLO 20 ms: the efficient one misses for sure (cv 0): 1.5 + 4 + 1 = 6.5 vs fast 0.5 + 5 = 5.5.
    assert_eq!(
        decide(&mut ObjectiveGreedy::new(w), &fast_vs_efficient(20.0)),
        ProcessorId(0)
    );
    // Same, but the time already spent waiting counts: with 15 ms gone of a 40 ms SLO the
    // efficient one (30 ms) misses: (15+30)/40 + 4 + 1 = 6.125 vs fast (25/40) + 5 = 5.625.
    let mut obs = fast_vs_efficient(40.0);
    assert_eq!(
        decide(&mut ObjectiveGreedy::new(w), &obs),
        ProcessorId(1),
        "with no time spent it meets"
    );
    obs.now_ms = 15.0;
    assert_eq!(decide(&mut ObjectiveGreedy::new(w), &obs), ProcessorId(0));
}

#[test]
fn objective_greedy_counts_the_queue_in_the_miss_probability() {
    let w = ObjectiveWeights {
        latency: 1.0,
        violation: 4.0,
        energy: 1.0,
    };
    // Loose deadline of 100 ms: the efficient one is chosen, until its backlog makes it miss.
    let mut obs = fast_vs_efficient(100.0);
    assert_eq!(decide(&mut ObjectiveGreedy::new(w), &obs), ProcessorId(1));
    obs.processors[1].backlog_ms = 80.0;
    // efficient: 110/100 + 4 + 1 = 6.1; fast: 0.1 + 5 = 5.1
    assert_eq!(decide(&mut ObjectiveGreedy::new(w), &obs), ProcessorId(0));
}

// ---------------------------------------------------------------- properties

/// A processor view with small integer-valued times, so that sums are exact.
fn arb_view() -> impl Strategy<Value = ProcessorView> {
    (
        any::<bool>(),
        0u32..20,
        0u32..8,
        1u32..8,
        0u32..200,
        1u32..100,
        prop_oneof![Just(0.0), 0.0f64..2.0],
        0.001f64..10.0,
    )
        .prop_map(
            |(available, queue_len, in_flight, slots, backlog, lat, cv, energy)| ProcessorView {
                available,
                queue_len,
                in_flight,
                slots,
                backlog_ms: f64::from(backlog),
                est_latency_ms: f64::from(lat),
                latency_cv: cv,
                stall: None,
                est_energy_j: energy,
                utilization: 0.5,
                freq_scale: 1.0,
            },
        )
}

fn arb_obs() -> impl Strategy<Value = Observation> {
    (
        proptest::collection::vec(arb_view(), 1..8),
        any::<prop::sample::Index>(),
        0u32..300,
        0u32..100,
        1u32..500,
        0u16..2,
        0.01f64..5.0,
    )
        .prop_map(|(mut views, force, now, waited, slo, model, reference)| {
            if !views.iter().any(|v| v.available) {
                let i = force.index(views.len());
                views[i].available = true;
            }
            let mut obs = obs_with(views);
            obs.now_ms = f64::from(now + waited);
            obs.request.arrival_ms = f64::from(now);
            obs.request.slo_ms = f64::from(slo);
            obs.request.model = ModelId(model);
            obs.request.reference_energy_j = reference;
            obs
        })
}

/// A processor view with anything in its numbers, NaN and infinities included.
fn arb_wild_view() -> impl Strategy<Value = ProcessorView> {
    let num = prop_oneof![
        4 => -1e3f64..1e6,
        1 => Just(f64::NAN),
        1 => Just(f64::INFINITY),
        1 => Just(f64::NEG_INFINITY),
        1 => Just(0.0),
    ];
    // Counts stay below 2^31 each: see `least_loaded_does_not_overflow_on_huge_counts` for more.
    (
        any::<bool>(),
        0u32..1 << 31,
        0u32..1 << 31,
        any::<u32>(),
        num.clone(),
        num.clone(),
        num.clone(),
        num,
    )
        .prop_map(
            |(available, queue_len, in_flight, slots, backlog, lat, cv, energy)| ProcessorView {
                available,
                queue_len,
                in_flight,
                slots,
                backlog_ms: backlog,
                est_latency_ms: lat,
                latency_cv: cv,
                stall: None,
                est_energy_j: energy,
                utilization: 0.0,
                freq_scale: 1.0,
            },
        )
}

fn every_baseline(weights: ObjectiveWeights) -> Vec<Box<dyn Policy>> {
    let d = device();
    BASELINE_NAMES
        .iter()
        .map(|n| baseline(n, &d, weights).unwrap())
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn no_baseline_returns_an_invalid_processor(obs in arb_obs(), seed in any::<u64>()) {
        for mut p in every_baseline(ObjectiveWeights::default()) {
            p.reset(seed);
            for _ in 0..3 {
                let a = p.decide(&obs);
                prop_assert!(obs.is_valid(a.processor), "{} chose {:?}", p.name(), a.processor);
            }
        }
    }

    #[test]
    fn no_baseline_returns_an_invalid_processor_on_wild_numbers(
        views in proptest::collection::vec(arb_wild_view(), 1..8),
        force in any::<prop::sample::Index>(),
        now in prop_oneof![Just(f64::NAN), -1e9f64..1e9],
        slo in prop_oneof![Just(f64::NAN), Just(0.0), -1.0f64..1e6],
        reference in prop_oneof![Just(0.0), Just(f64::NAN), 0.0f64..10.0],
        model in 0u16..4,
    ) {
        let mut views = views;
        if !views.iter().any(|v| v.available) {
            let i = force.index(views.len());
            views[i].available = true;
        }
        let mut obs = obs_with(views);
        obs.now_ms = now;
        obs.request.slo_ms = slo;
        obs.request.reference_energy_j = reference;
        obs.request.model = ModelId(model);
        for mut p in every_baseline(ObjectiveWeights::ENERGY) {
            let a = p.decide(&obs);
            prop_assert!(obs.is_valid(a.processor), "{} chose {:?}", p.name(), a.processor);
        }
    }

    #[test]
    fn least_slack_places_like_earliest_finish(obs in arb_obs()) {
        prop_assert_eq!(LeastSlack.decide(&obs), EarliestFinish.decide(&obs));
    }

    #[test]
    fn earliest_finish_is_a_minimum_of_backlog_plus_latency(obs in arb_obs()) {
        let chosen = EarliestFinish.decide(&obs).processor;
        let f = obs.processors[chosen.index()].est_finish_ms();
        for v in obs.processors.iter().filter(|v| v.available) {
            prop_assert!(f <= v.est_finish_ms());
        }
        let sel = ShortestExpectedLatency.decide(&obs).processor;
        let l = obs.processors[sel.index()].est_latency_ms;
        for v in obs.processors.iter().filter(|v| v.available) {
            prop_assert!(l <= v.est_latency_ms);
        }
    }

    /// With no energy weight and deterministic latencies, every term of objective-greedy's cost
    /// grows with the finish time, so it places like earliest finish.
    #[test]
    fn objective_greedy_without_energy_is_earliest_finish_on_deterministic_latencies(
        obs in arb_obs(),
        latency_w in 0.01f64..5.0,
        violation_w in 0.0f64..10.0,
    ) {
        let mut obs = obs;
        for v in &mut obs.processors {
            v.latency_cv = 0.0;
        }
        let w = ObjectiveWeights { latency: latency_w, violation: violation_w, energy: 0.0 };
        let og = ObjectiveGreedy::new(w).decide(&obs).processor;
        let ef = EarliestFinish.decide(&obs).processor;
        prop_assert_eq!(
            obs.processors[og.index()].est_finish_ms(),
            obs.processors[ef.index()].est_finish_ms()
        );
        prop_assert_eq!(og, ef);
    }

    /// Energy-greedy's choice meets the deadline whenever some valid processor does, and no
    /// valid processor that meets it uses less energy.
    #[test]
    fn energy_greedy_choice_is_the_cheapest_feasible(obs in arb_obs()) {
        let remaining = obs.request.deadline_ms() - obs.now_ms;
        let chosen = EnergyGreedy.decide(&obs).processor;
        let c = obs.processors[chosen.index()];
        let feasible: Vec<_> = obs.processors.iter().filter(|v| v.available && v.est_finish_ms() <= remaining).collect();
        if feasible.is_empty() {
            prop_assert_eq!(chosen, EarliestFinish.decide(&obs).processor);
        } else {
            prop_assert!(c.est_finish_ms() <= remaining);
            for v in feasible {
                prop_assert!(c.est_energy_j <= v.est_energy_j);
            }
        }
    }

    #[test]
    fn prob_exceeds_is_a_probability_and_monotone(
        mean in 0.001f64..1e4,
        cv in 0.0f64..10.0,
        b1 in 0.0f64..1e5,
        b2 in 0.0f64..1e5,
    ) {
        let (lo, hi) = if b1 <= b2 { (b1, b2) } else { (b2, b1) };
        let p_lo = prob_exceeds(mean, cv, lo);
        let p_hi = prob_exceeds(mean, cv, hi);
        prop_assert!((0.0..=1.0).contains(&p_lo) && (0.0..=1.0).contains(&p_hi));
        prop_assert!(p_hi <= p_lo + 1e-12);
    }
}
