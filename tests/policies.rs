//! What a policy name means: learned policies run under the run-time guard unless asked not to.

use cosched::policies::{resolve_guarded, resolve_policy, resolve_policy_on, Clock};
use cosched::sim::guard::GuardConfig;
use cosched::sim::{simulate, SimConfig};
use cosched::{scenario, DeviceProfile, ObjectiveWeights, RunReport};

/// A generated scenario on which the guard moves the decisions (found by running it; the test
/// checks that it still does).
fn case() -> (DeviceProfile, cosched::ResolvedWorkload) {
    let device = DeviceProfile::builtin("jetson-agx-orin").unwrap();
    let mut w = scenario::generate(&device, 2000, 2);
    w.duration_s = 20.0;
    let r = w.resolve(&device, Some(0.95), "scn-2000-2").unwrap();
    (device, r)
}

fn run(name: &str) -> RunReport {
    let (device, w) = case();
    let mut p = resolve_policy(name, &device, ObjectiveWeights::BALANCED).unwrap();
    simulate(&device, &w, &mut *p, &SimConfig::with_seed(1))
}

#[test]
fn drl_runs_guarded_under_its_own_name() {
    let drl = run("drl");
    assert_eq!(drl.policy, "drl:balanced");
    assert!(!drl.policy_switches.is_empty(), "the guard never moved the decisions");
    // It also replays the learned policy with first-come-first-served queues (its own order
    // is least slack first).
    let replayed: Vec<&str> = drl.policy_switches[0]
        .predicted
        .iter()
        .map(|(n, _)| n.as_str())
        .collect();
    assert_eq!(replayed[..2], ["drl:balanced", "fifo:drl:balanced"], "{replayed:?}");
    let mut guarded = run("guard:drl");
    assert_eq!(guarded.policy, "guard(drl:balanced)");
    guarded.policy = drl.policy.clone();
    assert_eq!(guarded, drl, "drl and guard:drl decide alike");
}

/// The guard also replays a learned policy's untrained prior, and the prior under each rule of
/// its action space, where the policy learned something (agx's weights); a policy file that
/// kept its prior (android-flagship's) has no second copy of it.
#[test]
fn the_guard_replays_the_prior_of_a_policy_that_learned() {
    let names = |device: &str| -> Vec<String> {
        let device = DeviceProfile::builtin(device).unwrap();
        let guard = resolve_guarded("drl", &device, ObjectiveWeights::BALANCED, GuardConfig::default()).unwrap();
        guard.candidate_names().map(str::to_string).collect()
    };
    let agx = names("jetson-agx-orin");
    for want in [
        "prior:drl:balanced",
        "kum:prior:drl:balanced",
        "dynamic-batch:prior:drl:balanced",
    ] {
        assert!(agx.iter().any(|n| n == want), "{want} not in {agx:?}");
    }
    let flagship = names("android-flagship");
    assert!(!flagship.iter().any(|n| n.contains("prior:")), "{flagship:?}");
    assert_eq!(flagship[0], "drl:balanced");
}

/// `prior:P` takes out what P learned: on android-flagship, whose policy file kept its prior,
/// it decides as the policy does; on jetson-agx-orin, whose policy learned, it does not.
#[test]
fn prior_takes_out_what_a_policy_learned() {
    let run_on = |device: &str, name: &str| {
        let device = DeviceProfile::builtin(device).unwrap();
        let mut w = scenario::generate(&device, 2000, 2);
        w.duration_s = 10.0;
        let w = w.resolve(&device, Some(0.8), "scn-2000-2").unwrap();
        let mut p = resolve_policy(name, &device, ObjectiveWeights::BALANCED).unwrap();
        let r = simulate(&device, &w, &mut *p, &SimConfig::with_seed(1));
        assert_eq!(r.arrived, r.completed + r.unfinished);
        r
    };
    let prior = run_on("android-flagship", "unguarded:prior:drl");
    assert_eq!(prior.policy, "unguarded:prior:drl:balanced");
    let kept = run_on("android-flagship", "unguarded:drl");
    assert_eq!(prior.objective.to_bits(), kept.objective.to_bits());
    let prior = run_on("jetson-agx-orin", "unguarded:prior:drl");
    let learned = run_on("jetson-agx-orin", "unguarded:drl");
    assert_ne!(prior.objective, learned.objective, "agx's policy decides as its prior");
    // Guarded by default, like the policy it comes from.
    assert_eq!(run_on("jetson-agx-orin", "prior:drl").policy, "prior:drl:balanced");
}

/// `fifo:P` is P's placements with first-come-first-served queues (the guard replays the
/// learned policy so too: `drl_runs_guarded_under_its_own_name`).
#[test]
fn fifo_runs_a_policy_first_come_first_served() {
    let device = DeviceProfile::builtin("jetson-agx-orin").unwrap();
    let p = resolve_policy("fifo:least-slack", &device, ObjectiveWeights::BALANCED).unwrap();
    assert_eq!(p.name(), "fifo:least-slack");
    assert_eq!(p.queue_order(), cosched::QueueOrder::Fifo);
    let ls = resolve_policy("least-slack", &device, ObjectiveWeights::BALANCED).unwrap();
    assert_eq!(ls.queue_order(), cosched::QueueOrder::LeastSlackFirst);
    // Same placements, another order: the two runs differ.
    assert_ne!(run("fifo:least-slack").objective, run("least-slack").objective);
}

#[test]
fn unguarded_drl_decides_alone() {
    let alone = run("unguarded:drl");
    assert_eq!(alone.policy, "unguarded:drl:balanced");
    assert!(alone.policy_switches.is_empty());
    assert_eq!(alone.arrived, alone.completed + alone.unfinished);
    assert_ne!(
        alone.objective,
        run("drl").objective,
        "the guard changed nothing on this case"
    );
    // A baseline has no guard to take off.
    let mut b = run("unguarded:least-slack");
    assert_eq!(b.policy, "least-slack");
    b.policy = "least-slack".into();
    assert_eq!(b, run("least-slack"));
}

#[test]
fn prefixes_do_not_nest() {
    let device = DeviceProfile::builtin("jetson-agx-orin").unwrap();
    for name in [
        "guard:guard:drl",
        "guard:unguarded:drl",
        "unguarded:guard:drl",
        "prior:prior:drl",
        "prior:least-slack",
    ] {
        let e = resolve_policy(name, &device, ObjectiveWeights::BALANCED).err();
        assert!(e.is_some(), "{name} was accepted");
    }
}

#[test]
fn a_wall_clock_guard_judges_in_the_background_and_still_counts_every_arrival() {
    let (device, w) = case();
    let mut p = resolve_policy_on("drl", &device, ObjectiveWeights::BALANCED, Clock::Wall).unwrap();
    let r = simulate(&device, &w, &mut *p, &SimConfig::with_seed(1));
    assert_eq!(r.policy, "drl:balanced");
    assert_eq!(r.arrived, r.completed + r.unfinished);
}

/// A board whose GPUs stall (the hedging check's profile, modelled), one classifier stream at 40 %
/// of saturation: the guard replays the tail-hedged variant of the guarded policy, which its
/// action space offers only because the GPUs stall, and hands it the decisions.
#[test]
fn on_a_stalling_board_the_guard_chooses_tail_hedging_by_replay() {
    let device = DeviceProfile::from_toml_str(
        include_str!("../devices/hedging/stalling-gpu-pair.toml"),
        "stalling-gpu-pair.toml",
    )
    .unwrap();
    let mut w = cosched::Workload::from_toml_str(
        include_str!("../workloads/hedging/classify.toml"),
        "classify.toml",
        None,
    )
    .unwrap();
    w.duration_s = 30.0;
    let w = w.resolve(&device, Some(0.4), "classify.toml").unwrap();
    let run = |name: &str| {
        let mut p = resolve_policy(name, &device, ObjectiveWeights::LATENCY).unwrap();
        let r = simulate(&device, &w, &mut *p, &SimConfig::with_seed(1));
        assert_eq!(r.arrived, r.completed + r.unfinished);
        r
    };
    let guarded = run("guard:least-slack");
    let first = guarded.policy_switches.first().expect("the guard switched");
    let replayed: Vec<&str> = first.predicted.iter().map(|(n, _)| n.as_str()).collect();
    assert!(replayed.contains(&"hedge-tail:least-slack"), "{replayed:?}");
    let last = guarded.policy_switches.last().expect("a first switch");
    assert_eq!(last.to, "hedge-tail:least-slack", "{:?}", guarded.policy_switches);
    assert!(guarded.actions.hedges_sent > 0);
    let plain = run("least-slack");
    assert!(
        guarded.latency_ms.p99 < 0.8 * plain.latency_ms.p99,
        "p99 {} guarded against {}",
        guarded.latency_ms.p99,
        plain.latency_ms.p99
    );
}
