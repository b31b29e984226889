//! The offload decision pays (examples/offload, docs/remote.md): on the phone plus an edge
//! server behind a 20 ms round trip, at a load the phone alone cannot carry, a policy that reads
//! the queues does better on the objective and on deadline misses than the phone alone and than
//! sending everything to the server.

use cosched_core::{baseline, DeviceProfile, RunReport, Workload};
use cosched_sim::{simulate, SimConfig};
use std::path::PathBuf;

fn repo(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..").join(path)
}

fn run(device: &str, policy: &str) -> RunReport {
    let device = DeviceProfile::from_file(&repo(device)).expect("valid profile");
    let mut workload = Workload::from_file(&repo("examples/offload/camera-offload.toml")).expect("valid workload");
    workload.duration_s = 20.0;
    let resolved = workload
        .resolve(&device, None, "camera-offload.toml")
        .expect("resolves");
    let mut p = baseline(policy, &device, Default::default()).expect("baseline");
    simulate(&device, &resolved, p.as_mut(), &SimConfig::with_seed(1))
}

#[test]
fn offloading_beats_the_board_alone_and_always_offloading() {
    let edge = run("examples/offload/android-flagship-edge.toml", "objective-greedy");
    for policy in ["objective-greedy", "least-slack", "earliest-finish"] {
        let alone = run("devices/android-flagship.toml", policy);
        assert!(
            edge.objective < 0.5 * alone.objective && edge.slo_violation_rate < alone.slo_violation_rate,
            "{policy} on the phone alone: objective {} violations {}; with the edge server {} {}",
            alone.objective,
            alone.slo_violation_rate,
            edge.objective,
            edge.slo_violation_rate
        );
        let remote = run("examples/offload/edge-only.toml", policy);
        assert!(
            edge.objective < 0.5 * remote.objective && edge.slo_violation_rate < remote.slo_violation_rate,
            "always offloading: {} {}",
            remote.objective,
            remote.slo_violation_rate
        );
    }
    // Requests really went to the server, and not all of them.
    let on_edge = edge
        .per_processor
        .iter()
        .find(|p| p.id == "edge")
        .expect("edge in the report");
    assert!(
        on_edge.completed > 0 && on_edge.completed < edge.completed,
        "{on_edge:?}"
    );
}
