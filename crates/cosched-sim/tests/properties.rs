//! Properties of every run (accounting, no NaN, bounded utilisation) over random boards and
//! workloads, determinism, the RL environment's bookkeeping, and the project's bar on the
//! shipped Orin profile.

use cosched_core::{
    baseline, Action, BatchPlan, DeviceProfile, HedgePlan, ObjectiveWeights, Observation, Policy, ProcessorId,
    QueueOrder, ResolvedWorkload, RunReport, Workload, BASELINE_NAMES,
};
use cosched_sim::{simulate, SimConfig, SimEnv, Simulator};
use proptest::prelude::*;
use proptest::test_runner::RngSeed;
use std::fmt::Write as _;

// ---------------------------------------------------------------------------------------------
// Random boards and workloads

#[derive(Debug, Clone)]
struct ProcSpec {
    slots: u32,
    max_batch: u32,
    idle_w: f64,
    extra_w: f64,
    /// Number of DVFS levels (0: no table) and the level to run at (may be past the table).
    dvfs: (usize, usize),
}

/// Per processor (first `n` of 4 used): latency ms, cv, batch alpha.
type ModelSpec = Vec<Option<(f64, f64, f64)>>;

#[derive(Debug, Clone)]
enum ArrivalSpec {
    Poisson(f64),
    Periodic(f64),
    Mmpp([f64; 2], [f64; 2]),
    Closed(u32),
}

#[derive(Debug, Clone)]
struct StreamSpec {
    model: usize,
    arrival: ArrivalSpec,
    /// `slo_ms` if true, else `slo_factor`.
    slo_in_ms: bool,
    slo: f64,
}

#[derive(Debug, Clone)]
struct Case {
    procs: Vec<ProcSpec>,
    models: Vec<ModelSpec>,
    interference: Option<(f64, Option<f64>)>,
    streams: Vec<StreamSpec>,
    load: f64,
    duration_s: f64,
    /// `None`: the default drain window (at least 1 s); short ones leave requests unfinished.
    drain_ms: Option<f64>,
    policy: usize,
    seed: u64,
}

fn proc_spec() -> impl Strategy<Value = ProcSpec> {
    (1u32..=4, 1u32..=4, 0.0..2.0f64, 0.0..10.0f64, (0usize..=4, 0usize..=4)).prop_map(
        |(slots, max_batch, idle_w, extra_w, dvfs)| ProcSpec {
            slots,
            max_batch,
            idle_w,
            extra_w,
            dvfs,
        },
    )
}

fn model_spec() -> impl Strategy<Value = ModelSpec> {
    let cv = prop_oneof![Just(0.0), 0.0..1.5f64];
    let on = prop::option::weighted(0.7, (0.5..50.0f64, cv, 0.0..=1.0f64));
    prop::collection::vec(on, 4)
}

fn arrival_spec() -> impl Strategy<Value = ArrivalSpec> {
    prop_oneof![
        (1.0..100.0f64).prop_map(ArrivalSpec::Poisson),
        (1.0..100.0f64).prop_map(ArrivalSpec::Periodic),
        (1.0..50.0f64, 20.0..200.0f64, 0.02..0.3f64, 0.01..0.1f64)
            .prop_map(|(lo, hi, d0, d1)| ArrivalSpec::Mmpp([lo, hi], [d0, d1])),
        (1u32..=8).prop_map(ArrivalSpec::Closed),
    ]
}

fn stream_spec() -> impl Strategy<Value = StreamSpec> {
    (0usize..3, arrival_spec(), any::<bool>(), 1.0..10.0f64, 1.0..500.0f64).prop_map(
        |(model, arrival, slo_in_ms, factor, ms)| StreamSpec {
            model,
            arrival,
            slo_in_ms,
            slo: if slo_in_ms { ms } else { factor },
        },
    )
}

fn case() -> impl Strategy<Value = Case> {
    (
        prop::collection::vec(proc_spec(), 1..=4),
        prop::collection::vec(model_spec(), 1..=3),
        prop::option::of((0.0..0.5f64, prop::option::of(1.0..3.0f64))),
        prop::collection::vec(stream_spec(), 1..=4),
        0.05..3.0f64,
        0.05..2.0f64,
        prop::option::of(0.0..300.0f64),
        0..BASELINE_NAMES.len(),
        any::<u64>(),
    )
        .prop_map(
            |(procs, models, interference, streams, load, duration_s, drain_ms, policy, seed)| Case {
                procs,
                models,
                interference,
                streams,
                load,
                duration_s,
                drain_ms,
                policy,
                seed,
            },
        )
}

impl Case {
    /// Which processors run which model, fixed up so every model runs somewhere and every
    /// processor runs something (both are profile errors otherwise).
    fn placement(&self) -> Vec<Vec<Option<(f64, f64, f64)>>> {
        let n = self.procs.len();
        let mut on: Vec<Vec<_>> = self.models.iter().map(|m| m[..n].to_vec()).collect();
        for (m, row) in on.iter_mut().enumerate() {
            if row.iter().all(Option::is_none) {
                row[m % n] = Some((5.0, 0.1, 0.5));
            }
        }
        for p in 0..n {
            if on.iter().all(|row| row[p].is_none()) {
                on[0][p] = Some((7.0, 0.2, 0.3));
            }
        }
        on
    }

    fn device_toml(&self) -> String {
        let mut t = String::from("name = \"random-board\"\nsource = \"proptest\"\n");
        for (i, p) in self.procs.iter().enumerate() {
            let _ = write!(
                t,
                "[[processor]]\nid = \"p{i}\"\nkind = \"cpu\"\nep = \"cpu\"\nslots = {}\nmax_batch = {}\n\
                 idle_power_w = {}\nbusy_power_w = {}\n",
                p.slots,
                p.max_batch,
                p.idle_w,
                p.idle_w + p.extra_w
            );
            if p.dvfs.0 > 0 {
                let mhz: Vec<String> = (1..=p.dvfs.0).map(|k| format!("{}", 300 * k)).collect();
                let _ = writeln!(t, "dvfs_mhz = [{}]", mhz.join(", "));
            }
        }
        for (m, row) in self.placement().iter().enumerate() {
            let table = |f: &dyn Fn(&(f64, f64, f64)) -> f64| {
                let items: Vec<String> = row
                    .iter()
                    .enumerate()
                    .filter_map(|(p, o)| o.as_ref().map(|o| format!("p{p} = {}", f(o))))
                    .collect();
                format!("{{ {} }}", items.join(", "))
            };
            let _ = write!(
                t,
                "[[model]]\nname = \"m{m}\"\nmemory_mb = 1.0\nlatency_ms = {}\nlatency_cv = {}\nbatch_alpha = {}\n",
                table(&|o| o.0),
                table(&|o| o.1),
                table(&|o| o.2)
            );
        }
        if let Some((s, cap)) = self.interference {
            let _ = writeln!(t, "[interference]\nslowdown_per_busy = {s}");
            if let Some(cap) = cap {
                let _ = writeln!(t, "max_slowdown = {cap}");
            }
        }
        t
    }

    fn workload_toml(&self) -> String {
        let mut t = format!(
            "name = \"random-workload\"\nduration_s = {}\nload = {}\n",
            self.duration_s, self.load
        );
        for (i, s) in self.streams.iter().enumerate() {
            let _ = writeln!(
                t,
                "[[stream]]\nname = \"s{i}\"\nmodel = \"m{}\"",
                s.model % self.models.len()
            );
            let _ = match s.arrival {
                ArrivalSpec::Poisson(r) => writeln!(t, "arrival = \"poisson\"\nrate_hz = {r}"),
                ArrivalSpec::Periodic(r) => writeln!(t, "arrival = \"periodic\"\nrate_hz = {r}"),
                ArrivalSpec::Mmpp(r, d) => writeln!(
                    t,
                    "arrival = \"mmpp\"\nrates_hz = [{}, {}]\ndwell_s = [{}, {}]",
                    r[0], r[1], d[0], d[1]
                ),
                ArrivalSpec::Closed(c) => writeln!(t, "arrival = \"closed\"\nconcurrency = {c}"),
            };
            let _ = if s.slo_in_ms {
                writeln!(t, "slo_ms = {}", s.slo)
            } else {
                writeln!(t, "slo_factor = {}", s.slo)
            };
        }
        t
    }

    fn build(&self) -> (DeviceProfile, ResolvedWorkload, SimConfig) {
        let device = DeviceProfile::from_toml_str(&self.device_toml(), "random-board.toml")
            .unwrap_or_else(|e| panic!("{e}\n{}", self.device_toml()));
        let workload = Workload::from_toml_str(&self.workload_toml(), "random-workload.toml", None)
            .and_then(|w| w.resolve(&device, None, "random-workload.toml"))
            .unwrap_or_else(|e| panic!("{e}\n{}", self.workload_toml()));
        let mut config = SimConfig::with_seed(self.seed);
        config.dvfs_levels = self.procs.iter().map(|p| p.dvfs.1).collect();
        config.drain_ms = self.drain_ms;
        (device, workload, config)
    }
}

/// Every number of the report, found by walking its JSON: NaN and infinities serialise as `null`.
fn assert_no_nan(report: &RunReport) {
    fn walk(v: &serde_json::Value, path: &str) {
        match v {
            serde_json::Value::Null => assert!(path.ends_with(".load"), "{path} is null (NaN or infinite?)"),
            serde_json::Value::Number(n) => assert!(n.as_f64().is_some_and(f64::is_finite), "{path} = {n}"),
            serde_json::Value::Array(a) => a.iter().enumerate().for_each(|(i, x)| walk(x, &format!("{path}[{i}]"))),
            serde_json::Value::Object(o) => o.iter().for_each(|(k, x)| walk(x, &format!("{path}.{k}"))),
            _ => {}
        }
    }
    walk(&serde_json::to_value(report).unwrap(), "report");
    let floats = [
        report.duration_s,
        report.throughput_rps,
        report.latency_ms.mean,
        report.latency_ms.p50,
        report.latency_ms.p95,
        report.latency_ms.p99,
        report.latency_ms.max,
        report.mean_latency_over_slo,
        report.slo_violation_rate,
        report.energy_j,
        report.energy_per_inference_mj,
        report.avg_power_w,
        report.objective,
    ];
    assert!(floats.iter().all(|x| x.is_finite()), "{floats:?}");
}

fn check_accounting(r: &RunReport) {
    assert!(r.late <= r.completed);
    assert_eq!(
        r.arrived,
        (r.completed - r.late) + r.late + r.unfinished,
        "every arrival once"
    );
    assert_eq!(r.violated, r.late + r.unfinished);
    assert_eq!(r.per_stream.iter().map(|s| s.arrived).sum::<u64>(), r.arrived);
    assert_eq!(r.per_stream.iter().map(|s| s.completed).sum::<u64>(), r.completed);
    assert_eq!(r.per_stream.iter().map(|s| s.violated).sum::<u64>(), r.violated);
    assert_eq!(r.per_processor.iter().map(|p| p.completed).sum::<u64>(), r.completed);
    for p in &r.per_processor {
        // Float noise only: the strict bound is `utilization_never_exceeds_one`, which fails today.
        assert!(
            (0.0..=1.0 + 1e-9).contains(&p.utilization),
            "{} utilization {}",
            p.id,
            p.utilization
        );
        assert!(p.energy_j >= 0.0);
    }
    let board: f64 = r.per_processor.iter().map(|p| p.energy_j).sum();
    assert!((board - r.energy_j).abs() <= 1e-9 * r.energy_j.max(1.0));
    assert!((0.0..=1.0).contains(&r.slo_violation_rate));
    let l = r.latency_ms;
    assert!(l.p50 <= l.p95 && l.p95 <= l.p99 && l.p99 <= l.max, "{l:?}");
    if r.arrived > 0 {
        // The histogram rounds to 1 us and 3 significant digits.
        assert!(l.mean <= l.max * 1.001 + 0.001, "{l:?}");
    }
    assert_no_nan(r);
}

/// The smallest board found where a fully busy processor reports a utilization above 1.
#[test]
fn utilization_never_exceeds_one() {
    let device = DeviceProfile::from_toml_str(
        r#"
name = "three-slots"
source = "tests"
[[processor]]
id = "p"
kind = "cpu"
ep = "cpu"
slots = 3
idle_power_w = 0.0
busy_power_w = 1.0
[[model]]
name = "m"
memory_mb = 1.0
latency_ms = { p = 0.1 }
"#,
        "three-slots.toml",
    )
    .unwrap();
    let workload = resolve(
        &device,
        r#"
name = "saturating"
duration_s = 1.0
[[stream]]
model = "m"
arrival = "closed"
concurrency = 3
slo_ms = 1000.0
"#,
        None,
    );
    let r = run(&device, &workload, "fastest-only", &SimConfig::with_seed(1));
    assert_eq!(r.completed, 30_000);
    let u = r.per_processor[0].utilization;
    assert!((u - 1.0).abs() < 1e-9, "busy all run: {u}");
    assert!(u <= 1.0, "utilization {u} > 1");
}

proptest! {
    // A fixed seed, so that CI is reproducible (explored with 20,000 random cases while writing).
    #![proptest_config(ProptestConfig {
        cases: 512,
        failure_persistence: None,
        rng_seed: RngSeed::Fixed(0x5eed_c05c),
        ..ProptestConfig::default()
    })]

    #[test]
    fn every_arrival_is_accounted_for_once(case in case()) {
        let (device, workload, config) = case.build();
        let name = BASELINE_NAMES[case.policy];
        let mut policy = baseline(name, &device, config.weights).unwrap();
        let r = simulate(&device, &workload, &mut *policy, &config);
        prop_assert_eq!(&r.policy, name);
        check_accounting(&r);
    }

    #[test]
    fn every_arrival_is_accounted_for_once_with_batch_plans_and_hedges(
        case in case(),
        seed in any::<u64>(),
        hedge_share in 0.0f64..1.0,
    ) {
        let (device, workload, config) = case.build();
        let name = BASELINE_NAMES[case.policy];
        let inner = baseline(name, &device, config.weights).unwrap();
        let mut policy = Extras { inner, state: seed | 1, hedge_share, n_proc: device.processors.len() as u64 };
        let r = simulate(&device, &workload, &mut policy, &config);
        check_accounting(&r);
        let a = r.actions;
        // Each hedged request has at most one losing copy, run or cancelled.
        prop_assert!(a.hedges_wasted + a.hedges_cancelled <= a.hedges_sent, "{:?}", a);
        prop_assert!(a.hedges_won <= a.hedges_sent, "{:?}", a);
        prop_assert!(a.mean_batch == 0.0 || a.mean_batch >= 1.0, "mean batch {}", a.mean_batch);
    }
}

/// A baseline's placements with a random batch plan and, for a share of requests, a random
/// hedge (any processor, even an invalid one or its own, any delay).
struct Extras {
    inner: Box<dyn Policy>,
    state: u64,
    hedge_share: f64,
    n_proc: u64,
}

impl Extras {
    fn next(&mut self) -> u64 {
        // xorshift64: cheap, and deterministic for the case.
        self.state ^= self.state << 13;
        self.state ^= self.state >> 7;
        self.state ^= self.state << 17;
        self.state
    }
}

impl Policy for Extras {
    fn name(&self) -> &str {
        "extras"
    }
    fn decide(&mut self, obs: &Observation) -> Action {
        let mut a = self.inner.decide(obs);
        let r = self.next();
        if !r.is_multiple_of(3) {
            a = a.with_batch(BatchPlan {
                size: (r >> 8) as u16 % 9,
                max_wait_us: (r >> 24) as u32 % 50_000,
            });
        }
        if (self.next() % 1000) as f64 / 1000.0 < self.hedge_share {
            let r = self.next();
            a = a.with_hedge(HedgePlan {
                processor: ProcessorId((r % self.n_proc) as u16),
                after_us: (r >> 16) as u32 % 30_000,
            });
        }
        a
    }
    fn queue_order(&self) -> QueueOrder {
        self.inner.queue_order()
    }
}

// ---------------------------------------------------------------------------------------------
// Determinism

const BOARD: &str = r#"
name = "three-processors"
source = "tests"
[[processor]]
id = "big"
kind = "cpu"
ep = "cpu"
slots = 2
max_batch = 2
idle_power_w = 0.5
busy_power_w = 6.0
dvfs_mhz = [600, 1200, 2400]
[[processor]]
id = "gpu"
kind = "gpu"
ep = "cuda"
slots = 2
max_batch = 4
idle_power_w = 1.0
busy_power_w = 15.0
[[processor]]
id = "npu"
kind = "npu"
ep = "qnn"
slots = 1
idle_power_w = 0.1
busy_power_w = 2.0
[[model]]
name = "det"
memory_mb = 50.0
latency_ms = { big = 20.0, gpu = 3.0, npu = 6.0 }
latency_cv = { big = 0.15, gpu = 0.05, npu = 0.03 }
batch_alpha = { big = 0.1, gpu = 0.7 }
[[model]]
name = "cls"
memory_mb = 10.0
latency_ms = { big = 4.0, gpu = 1.0 }
latency_cv = { big = 0.3, gpu = 0.1 }
batch_alpha = { gpu = 0.8 }
[interference]
slowdown_per_busy = 0.1
max_slowdown = 1.15
"#;

/// Open-loop streams only, so that arrivals cannot depend on the policy.
const OPEN_WORKLOAD: &str = r#"
name = "open-mix"
duration_s = 5.0
load = 0.9
[[stream]]
name = "camera"
model = "det"
arrival = "periodic"
rate_hz = 30.0
slo_ms = 40.0
[[stream]]
name = "crops"
model = "cls"
arrival = "poisson"
rate_hz = 90.0
slo_factor = 6.0
[[stream]]
name = "bursts"
model = "cls"
arrival = "mmpp"
rates_hz = [10.0, 200.0]
dwell_s = [0.5, 0.1]
slo_ms = 15.0
"#;

fn board() -> DeviceProfile {
    DeviceProfile::from_toml_str(BOARD, "three-processors.toml").unwrap()
}

fn resolve(device: &DeviceProfile, text: &str, load: Option<f64>) -> ResolvedWorkload {
    Workload::from_toml_str(text, "workload.toml", None)
        .unwrap()
        .resolve(device, load, "workload.toml")
        .unwrap()
}

fn run(device: &DeviceProfile, workload: &ResolvedWorkload, policy: &str, config: &SimConfig) -> RunReport {
    let mut p = baseline(policy, device, config.weights).unwrap();
    simulate(device, workload, &mut *p, config)
}

#[test]
fn the_same_seed_gives_the_same_report_byte_for_byte() {
    let device = board();
    let workload = resolve(&device, OPEN_WORKLOAD, None);
    let mut config = SimConfig::with_seed(11);
    config.dvfs_levels = vec![1, 0, 0];
    for policy in ["earliest-finish", "random", "least-slack", "objective-greedy"] {
        let a = serde_json::to_string(&run(&device, &workload, policy, &config)).unwrap();
        let b = serde_json::to_string(&run(&device, &workload, policy, &config)).unwrap();
        assert_eq!(a, b, "{policy}: same seed, different report");
        let mut other = config.clone();
        other.seed = 12;
        let c = serde_json::to_string(&run(&device, &workload, policy, &other)).unwrap();
        assert_ne!(a, c, "{policy}: another seed, same report");
    }
}

#[test]
fn every_policy_sees_the_same_arrivals_for_a_seed() {
    let device = board();
    // Below and above saturation: overload must not change the arrivals either.
    for load in [0.5, 2.0] {
        let workload = resolve(&device, OPEN_WORKLOAD, Some(load));
        for seed in [1, 2] {
            let config = SimConfig::with_seed(seed);
            let reports: Vec<RunReport> = BASELINE_NAMES
                .iter()
                .map(|name| run(&device, &workload, name, &config))
                .collect();
            let arrivals = |r: &RunReport| (r.arrived, r.per_stream.iter().map(|s| s.arrived).collect::<Vec<_>>());
            let first = arrivals(&reports[0]);
            assert!(first.0 > 500, "load {load}: {} arrivals", first.0);
            for r in &reports {
                check_accounting(r);
                assert_eq!(
                    arrivals(r),
                    first,
                    "load {load} seed {seed}: {} saw other arrivals",
                    r.policy
                );
            }
            // ... and yet the policies do differ.
            let distinct: std::collections::BTreeSet<String> =
                reports.iter().map(|r| format!("{:.9}", r.latency_ms.mean)).collect();
            assert!(distinct.len() > 3, "load {load}: policies look identical");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The RL environment

/// A deterministic placement that spreads requests: the valid processor indexed by request id.
fn spread(obs: &Observation) -> Action {
    let valid: Vec<ProcessorId> = obs.valid().collect();
    Action::to(valid[(obs.request.id.0 as usize) % valid.len()])
}

/// Overloaded (some requests are left unfinished) with a closed stream too.
const ENV_WORKLOAD: &str = r#"
name = "env"
duration_s = 2.0
load = 2.5
[[stream]]
name = "crops"
model = "cls"
arrival = "poisson"
rate_hz = 100.0
slo_ms = 10.0
[[stream]]
name = "det"
model = "det"
arrival = "mmpp"
rates_hz = [20.0, 100.0]
dwell_s = [0.3, 0.2]
slo_ms = 30.0
[[stream]]
name = "batch"
model = "det"
arrival = "closed"
concurrency = 2
slo_ms = 200.0
"#;

/// Runs one episode; returns the number of steps, the sum of rewards and the observations.
fn episode(env: &mut SimEnv, first_seed: Option<u64>) -> (u64, f64, Vec<Observation>) {
    let mut seen = Vec::new();
    let mut steps = 0;
    let mut total = 0.0;
    let mut obs = match first_seed {
        Some(s) => env.reset(s).cloned(),
        None => env.observation().cloned(),
    };
    while let Some(o) = obs {
        let step = env.step(spread(&o));
        seen.push(o);
        steps += 1;
        total += step.reward;
        if step.done {
            assert!(env.observation().is_none(), "done, yet another observation");
            break;
        }
        obs = env.observation().cloned();
        assert!(obs.is_some(), "not done, yet no observation");
    }
    (steps, total, seen)
}

#[test]
fn an_episode_makes_one_decision_per_arrival_and_its_rewards_sum_to_the_costs() {
    let device = board();
    let workload = resolve(&device, ENV_WORKLOAD, None);
    for weights in [
        ObjectiveWeights::BALANCED,
        ObjectiveWeights {
            latency: 1.0,
            violation: 4.0,
            energy: 0.0,
        },
    ] {
        let mut config = SimConfig::with_seed(21);
        config.weights = weights;
        let mut env = SimEnv::new(&device, &workload, config.clone()).unwrap();
        let (steps, reward, _) = episode(&mut env, None);
        let report = env.finish("spread");
        check_accounting(&report);
        assert!(
            report.unfinished > 0,
            "the workload is meant to leave requests unfinished"
        );
        assert!(report.late > 0);
        assert_eq!(steps, report.arrived, "one decision per arrival");
        assert_eq!(report.invalid_actions, 0);

        // The same run driven by hand, collecting every outcome.
        let mut sim = Simulator::new(&device, &workload, QueueOrder::Fifo, &config).unwrap();
        let mut outcomes = Vec::new();
        while let Some(obs) = sim.next_decision() {
            let a = spread(obs);
            sim.dispatch(a);
            outcomes.extend(sim.take_outcomes());
        }
        outcomes.extend(sim.take_outcomes());
        assert_eq!(outcomes.len() as u64, report.arrived, "one outcome per request");
        let mut ids: Vec<u64> = outcomes.iter().map(|o| o.request.0).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len() as u64, report.arrived, "no request reported twice");
        assert_eq!(outcomes.iter().filter(|o| o.violated).count() as u64, report.violated);
        let cost: f64 = outcomes.iter().map(|o| weights.outcome_cost(o)).sum();
        eprintln!("env weights {weights:?}: {steps} steps, sum of rewards {reward:.6}, sum of request costs {cost:.6}");
        assert!((reward + cost).abs() <= 1e-9 * cost, "{reward} vs -{cost}");
        let again = sim.finish("spread");
        assert_eq!(
            serde_json::to_string(&again).unwrap(),
            serde_json::to_string(&report).unwrap()
        );

        // With no energy term the cost follows from the report alone.
        if weights.energy == 0.0 {
            let from_report = weights.latency * report.mean_latency_over_slo * report.arrived as f64
                + weights.violation * report.violated as f64;
            assert!(
                (reward + from_report).abs() <= 1e-9 * from_report,
                "{reward} vs -{from_report}"
            );
        }
    }
}

#[test]
fn reset_with_the_same_seed_replays_the_same_observations() {
    let device = board();
    let workload = resolve(&device, ENV_WORKLOAD, Some(0.7));
    let mut env = SimEnv::new(&device, &workload, SimConfig::with_seed(5)).unwrap();
    let (n1, r1, first) = episode(&mut env, None);
    let (n2, _, other) = episode(&mut env, Some(6));
    let (n3, r3, replay) = episode(&mut env, Some(5));
    assert!(n1 > 100);
    assert_eq!((n1, r1), (n3, r3));
    assert!(first == replay, "reset(5) did not replay the first episode");
    assert!(n2 != n1 || first != other, "another seed replayed the same episode");
    // Mid-episode reset too.
    let mut obs = env.reset(6).cloned();
    for _ in 0..50 {
        let o = obs.unwrap();
        env.step(spread(&o));
        obs = env.observation().cloned();
    }
    let (_, _, replay) = episode(&mut env, Some(5));
    assert!(
        first == replay,
        "a reset in the middle of an episode did not start afresh"
    );
}

// ---------------------------------------------------------------------------------------------
// The bar of the project

#[test]
fn earliest_finish_beats_round_robin_and_fastest_only_on_orin_camera_pipeline() {
    let device = DeviceProfile::builtin("jetson-agx-orin").unwrap();
    let workload = Workload::builtin("camera-pipeline")
        .unwrap()
        .resolve(&device, Some(0.8), "camera-pipeline")
        .unwrap();
    let config = SimConfig::with_seed(1);
    let objective = |name: &str| {
        let r = run(&device, &workload, name, &config);
        check_accounting(&r);
        eprintln!(
            "orin camera-pipeline load 0.8 seed 1: {name:<16} objective {:.4} (latency/slo {:.4}, violations {:.4}, {:.3} mJ/inference, {} requests)",
            r.objective, r.mean_latency_over_slo, r.slo_violation_rate, r.energy_per_inference_mj, r.arrived
        );
        r.objective
    };
    let ef = objective("earliest-finish");
    let rr = objective("round-robin");
    let fo = objective("fastest-only");
    assert!(ef < rr, "earliest-finish {ef} vs round-robin {rr}");
    assert!(ef < fo, "earliest-finish {ef} vs fastest-only {fo}");
}
