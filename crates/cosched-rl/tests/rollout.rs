//! Policies over placement rules and their rollout targets: a rollout measures what following a
//! rule costs without disturbing the episode it branches from, rules that place alike get the
//! same return (common random numbers), an untrained rule policy is exactly its prior, and
//! training on rollouts is deterministic, moves the weights and writes a file that loads.

use burn::prelude::*;
use cosched_core::{Action, DeviceProfile, ObjectiveWeights, Observation, ProcessorId, Workload};
use cosched_rl::net::QNet;
use cosched_rl::options::{Rule, RULES};
use cosched_rl::rollout::{rule_costs, RolloutScratch, RolloutSpec};
use cosched_rl::{load_policy, save_policy, train, DrlPolicy, Manifest, PlainMlp, PriorForm, TrainConfig, TrainMethod};
use cosched_sim::{simulate, SimConfig, SimEnv};

/// Two processors of equal power, one ten times faster than the other.
fn fast_and_slow() -> DeviceProfile {
    DeviceProfile::from_toml_str(
        r#"
name = "fast-and-slow"
source = "test"
[[processor]]
id = "slow"
kind = "cpu"
ep = "cpu"
slots = 1
idle_power_w = 1.0
busy_power_w = 2.0
[[processor]]
id = "fast"
kind = "gpu"
ep = "cuda"
slots = 1
idle_power_w = 1.0
busy_power_w = 2.0
[[model]]
name = "m"
memory_mb = 1.0
latency_ms = { slow = 20.0, fast = 2.0 }
"#,
        "fast-and-slow.toml",
    )
    .unwrap()
}

fn env_of(device: &DeviceProfile, rate_hz: f64) -> SimEnv {
    let w = Workload::from_toml_str(
        &format!(
            r#"
name = "w"
duration_s = 2.0
[[stream]]
model = "m"
arrival = "poisson"
rate_hz = {rate_hz}
slo_ms = 50.0
"#
        ),
        "w.toml",
        None,
    )
    .unwrap()
    .resolve(device, None, "w.toml")
    .unwrap();
    SimEnv::new(device, &w, SimConfig::with_seed(3)).unwrap()
}

fn untrained(device: &DeviceProfile, rules: bool) -> PlainMlp {
    let n_proc = device.processors.len();
    let inputs = Observation::feature_len(n_proc, device.models.len());
    let outputs = if rules { RULES.len() } else { n_proc };
    let mut plain = QNet::new(&Device::flex(), inputs, 8, outputs).to_plain();
    plain.set_prior_weights(&ObjectiveWeights::BALANCED);
    plain.set_prior_form(PriorForm::PricedObjective);
    if rules {
        plain.set_options(RULES.to_vec());
    }
    plain
}

const SPEC: RolloutSpec = RolloutSpec {
    horizon: 50,
    drain: 200,
    gamma: 0.99,
    max_cost: 12.0,
};

fn costs_of(env: &SimEnv) -> Vec<f64> {
    let mut costs = Vec::new();
    rule_costs(
        env,
        &untrained(&fast_and_slow(), true),
        &SPEC,
        &ObjectiveWeights::BALANCED,
        &mut RolloutScratch::default(),
        &mut costs,
    );
    costs
}

/// Place every request on the first valid processor until the end; the episode's report.
fn run_out(mut env: SimEnv) -> (u64, f64) {
    while let Some(obs) = env.observation() {
        let p = obs.valid().next().unwrap();
        if env.step(Action::to(p)).done {
            break;
        }
    }
    let r = env.finish("first-valid");
    (r.completed, r.objective)
}

#[test]
fn a_rollout_leaves_the_episode_it_branches_from_as_it_was() {
    let device = fast_and_slow();
    let mut env = env_of(&device, 200.0);
    let mut reference = env_of(&device, 200.0);
    // Some way into the run, with queues.
    for e in [&mut env, &mut reference] {
        for _ in 0..40 {
            e.observation().unwrap();
            e.step(Action::to(ProcessorId(0)));
        }
    }
    env.observation().unwrap();
    let costs = costs_of(&env);
    assert!(costs.iter().all(|&c| c > 0.0), "{costs:?}");
    let a = run_out(env);
    let b = run_out(reference);
    assert_eq!(a.0, b.0);
    assert_eq!(a.1.to_bits(), b.1.to_bits(), "the rollouts changed the episode");
}

#[test]
fn rules_that_place_alike_get_the_same_return_and_a_queue_tells_them_apart() {
    let device = fast_and_slow();
    // Light traffic: every rule sends every request to the idle fast processor, and the copies
    // draw the same service times, so the returns are equal to the bit.
    let mut env = env_of(&device, 20.0);
    env.observation().unwrap();
    let costs = costs_of(&env);
    let first = costs[0];
    assert!(costs.iter().all(|c| c.to_bits() == first.to_bits()), "{costs:?}");
    // The same question asked twice gets the same answer.
    assert_eq!(costs_of(&env), costs);
    // With a queue on the fast processor (everything sent there so far, faster than it
    // serves), earliest finish sends the next requests to the idle slow one and the fastest
    // rule does not: their returns differ.
    let mut env = env_of(&device, 700.0);
    for _ in 0..60 {
        env.observation().unwrap();
        env.step(Action::to(ProcessorId(1)));
    }
    env.observation().unwrap();
    let costs = costs_of(&env);
    let at = |r: Rule| costs[RULES.iter().position(|&x| x == r).unwrap()];
    assert_ne!(
        at(Rule::EarliestFinish).to_bits(),
        at(Rule::Fastest).to_bits(),
        "{costs:?}"
    );
}

#[test]
fn an_untrained_rule_policy_is_its_prior() {
    let device = DeviceProfile::builtin("jetson-agx-orin").unwrap();
    let n_models = device.models.len();
    for name in ["camera-pipeline", "bursty-multitenant"] {
        let mut w = Workload::builtin(name).unwrap();
        w.duration_s = 5.0;
        for load in [0.5, 1.1] {
            let r = w.resolve(&device, Some(load), name).unwrap();
            let cfg = SimConfig::with_seed(4);
            let a = simulate(
                &device,
                &r,
                &mut DrlPolicy::new("p", untrained(&device, false), n_models),
                &cfg,
            );
            let b = simulate(
                &device,
                &r,
                &mut DrlPolicy::new("r", untrained(&device, true), n_models),
                &cfg,
            );
            assert!(a.completed > 100);
            assert_eq!(
                (a.completed, a.objective.to_bits()),
                (b.completed, b.objective.to_bits()),
                "{name} at {load}"
            );
        }
    }
}

#[test]
fn rule_training_is_deterministic_moves_the_weights_and_saves_a_policy_that_loads() {
    let device = DeviceProfile::builtin("jetson-orin-nano").unwrap();
    let cfg = TrainConfig {
        steps: 6_000,
        eval_every: 6_000,
        eval_duration_s: 2.0,
        method: TrainMethod::Rules { every: 4, horizon: 40 },
        ..TrainConfig::new(device.clone())
    };
    let a = train(&cfg, &mut |_| {}).unwrap();
    let b = train(&cfg, &mut |_| {}).unwrap();
    assert!(a.last == b.last, "same seed, other weights");
    assert_eq!(a.last.options(), RULES);
    let mut out = vec![0.0; a.last.actions()];
    let mut scratch = vec![0.0; a.last.scratch_len()];
    a.last.forward(&vec![0.5; a.last.inputs()], &mut scratch, &mut out);
    assert!(
        out.iter().any(|v| v.abs() > 1e-4),
        "rule training left the heads at zero"
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nano-rules.policy");
    save_policy(&path, &Manifest::new(&cfg, &a, "test"), &a.weights).unwrap();
    let loaded = load_policy(&path, &device).unwrap();
    assert_eq!(loaded.network(), &a.plain);
    let text = std::fs::read_to_string(path.join("manifest.toml")).unwrap();
    assert!(text.contains("rules = [\n    \"prior\",\n    \"fastest\","), "{text}");
}
