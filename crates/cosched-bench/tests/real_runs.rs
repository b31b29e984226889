//! `cosched-bench run` as a user runs it: real ONNX Runtime sessions on host-cpu with the test
//! models (scripts/setup-test-deps.sh), every built-in workload for a short window.

use serde_json::Value;
use std::path::PathBuf;
use std::process::{Command, Output};

fn bench(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cosched-bench"))
        .args(args)
        .env("COSCHED_CACHE_DIR", tmp("cache"))
        .output()
        .expect("cosched-bench runs")
}

fn models() -> String {
    concat!(env!("CARGO_MANIFEST_DIR"), "/../../models").to_string()
}

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("cosched-real-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn report(args: &[&str], json: &PathBuf) -> Value {
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["--json", json.to_str().unwrap()]);
    let o = bench(&all);
    assert!(
        o.status.success(),
        "{args:?}: exit {:?}: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_str(&std::fs::read_to_string(json).unwrap()).unwrap()
}

fn u(v: &Value, k: &str) -> u64 {
    v[k].as_u64().unwrap_or_else(|| panic!("{k} missing in {v}"))
}

/// The smoke test of issue 13: arrivals keep coming for the whole window (open-loop streams get
/// exactly the simulator's arrivals for the same seed, closed loops many rounds), every arrival
/// is counted once, the report says `real`, exit code 0.
#[test]
fn every_builtin_workload_runs_for_real_for_its_whole_window() {
    let dir = tmp("smoke");
    let models = models();
    let workloads = [
        "single-stream",
        "multi-stream",
        "server",
        "offline",
        "camera-pipeline",
        "bursty-multitenant",
        "mixed-slo",
    ];
    for w in workloads {
        let common = [
            "--device",
            "host-cpu",
            "--workload",
            w,
            "--duration",
            "2",
            "--load",
            "0.3",
            "--seed",
            "3",
            "--policy",
            "least-slack",
        ];
        let mut run_args = vec!["run", "--models", models.as_str()];
        run_args.extend(common);
        let real = report(&run_args, &dir.join(format!("{w}-real.json")));
        let mut sim_args = vec!["sim"];
        sim_args.extend(common);
        let sim = report(&sim_args, &dir.join(format!("{w}-sim.json")));
        assert_eq!(real["mode"], "real", "{w}");
        assert_eq!(
            u(&real, "arrived"),
            u(&real, "completed") + u(&real, "unfinished"),
            "{w}: every arrival counted once"
        );
        assert!(real["duration_s"].as_f64().unwrap() >= 2.0, "{w}: {real}");
        let workload = cosched_core::Workload::builtin(w).unwrap();
        for (i, s) in workload.streams.iter().enumerate() {
            let real_n = u(&real["per_stream"][i], "arrived");
            match s.arrival {
                // The bug this guards against stopped a closed loop after its first round
                // (arrivals == concurrency); heavy models on a slow host complete only a few
                // rounds in 2 s, so more than one round is what can be asked for.
                cosched_core::Arrival::Closed { concurrency } => assert!(
                    real_n >= u64::from(concurrency) + 4,
                    "{w}: closed stream {i} stopped early: {real_n} arrivals for concurrency {concurrency}"
                ),
                _ => assert_eq!(
                    real_n,
                    u(&sim["per_stream"][i], "arrived"),
                    "{w}: open stream {i} should get the simulator's arrivals"
                ),
            }
        }
    }
}

/// A closed-only workload keeps `concurrency` requests outstanding for the whole window, and
/// its throughput is that of the processors kept busy: here two CPU workers on a light model,
/// so far more than `concurrency` requests complete, and the run lasts the window.
#[test]
fn a_closed_loop_keeps_running_for_the_whole_window() {
    let dir = tmp("closed");
    let w = dir.join("closed.toml");
    std::fs::write(
        &w,
        "name = \"closed\"\nduration_s = 3.0\n[[stream]]\nmodel = \"squeezenet\"\narrival = \"closed\"\nconcurrency = 4\nslo_factor = 50.0\n",
    )
    .unwrap();
    let r = report(
        &[
            "run",
            "--models",
            &models(),
            "--device",
            "host-cpu",
            "--workload",
            w.to_str().unwrap(),
        ],
        &dir.join("r.json"),
    );
    let arrived = u(&r, "arrived");
    assert!(
        arrived > 100,
        "a 3 s closed loop of squeezenet stopped after {arrived} requests"
    );
    assert_eq!(arrived, u(&r, "completed") + u(&r, "unfinished"));
    assert!(r["duration_s"].as_f64().unwrap() >= 3.0, "{r}");
    // The measured/profile ratio of the one pair that ran is in the report.
    let fit = r["profile_fit"].as_array().expect("profile_fit in a real report");
    assert!(fit
        .iter()
        .any(|e| e["model"] == "squeezenet" && e["ratio"].as_f64().unwrap() > 0.0));
}

/// `profile --quick` writes a calibrated copy that keeps the profile's processors and models,
/// loads as a device profile, and whose latencies are this machine's: a run on it fits within
/// the tolerance that warns.
#[test]
fn quick_calibration_writes_a_profile_that_runs_fit() {
    let dir = tmp("calibrate");
    let out = dir.join("host-cpu.toml");
    let o = bench(&[
        "profile",
        "--quick",
        "--device",
        "host-cpu",
        "--models",
        &models(),
        "--only",
        "squeezenet,shufflenet",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let cal = cosched_core::DeviceProfile::from_file(&out).expect("the calibrated profile parses");
    let orig = cosched_core::DeviceProfile::builtin("host-cpu").unwrap();
    assert_eq!(cal.name, orig.name);
    assert_eq!(cal.processor_set_hash(), orig.processor_set_hash());
    assert_eq!(cal.models.len(), orig.models.len());
    let sq = cal.model_id("squeezenet").unwrap();
    assert!(cal.models[sq.index()].on[0]
        .as_ref()
        .unwrap()
        .source
        .contains("calibrated"));
    assert!(cal.source.contains("Calibrated"));
    // A pretrained policy of the device still loads on the calibrated copy.
    let o = bench(&[
        "sim",
        "--device",
        out.to_str().unwrap(),
        "--workload",
        "single-stream",
        "--policy",
        "drl",
        "--duration",
        "1",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn run_refuses_a_bad_tolerance_and_profile_refuses_device_without_quick() {
    let o = bench(&["run", "--models", &models(), "--profile-tolerance", "0.5"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--profile-tolerance"));
    let o = bench(&[
        "profile",
        "--models",
        &models(),
        "--device",
        "host-cpu",
        "--out",
        "x.toml",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--quick"));
}

/// The run-time guard in a real run: replays on a background thread, every arrival still
/// counted once, the report names the guarded policy. `drl` is guarded by default.
#[test]
fn a_guarded_real_run_counts_every_arrival_once() {
    let dir = tmp("guard");
    let r = report(
        &[
            "run",
            "--models",
            &models(),
            "--device",
            "host-cpu",
            "--workload",
            "multi-stream",
            "--load",
            "0.3",
            "--duration",
            "6",
            "--policy",
            "drl",
        ],
        &dir.join("r.json"),
    );
    // `drl` runs guarded (judging on a background thread) under its own name.
    assert_eq!(r["policy"], "drl:balanced");
    // Listed when there are any (an empty list is left out of the report).
    let switches = r
        .get("policy_switches")
        .and_then(|s| s.as_array())
        .cloned()
        .unwrap_or_default();
    assert!(switches.iter().all(|s| s["from"].is_string() && s["to"].is_string()));
    assert_eq!(u(&r, "arrived"), u(&r, "completed") + u(&r, "unfinished"));
    assert!(u(&r, "arrived") > 50);
}
