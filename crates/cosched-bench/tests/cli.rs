//! The command-line contract of docs/design.md: exit codes, one-line errors, JSON reports,
//! determinism.

use std::path::PathBuf;
use std::process::{Command, Output};

fn bench(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cosched-bench"))
        .args(args)
        .output()
        .expect("cosched-bench runs")
}

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("cosched-cli-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Bad input: exit code 2 and exactly one line on stderr that names the file or option.
fn assert_bad_input(o: &Output, needle: &str) {
    assert_eq!(o.status.code(), Some(2), "stderr: {}", stderr(o));
    let err = stderr(o);
    assert_eq!(err.trim_end().lines().count(), 1, "one-line error expected, got: {err}");
    assert!(err.contains(needle), "error should mention {needle:?}: {err}");
}

#[test]
fn sim_json_has_the_report_schema_and_counts_every_arrival_once() {
    let dir = tmp("schema");
    let json = dir.join("r.json");
    let o = bench(&[
        "sim",
        "--device",
        "jetson-agx-orin",
        "--workload",
        "camera-pipeline",
        "--load",
        "0.8",
        "--duration",
        "5",
        "--policy",
        "least-slack",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
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
        assert!(v.get(key).is_some(), "missing {key} in {v}");
    }
    for key in ["mean", "p50", "p95", "p99", "max"] {
        assert!(v["latency_ms"][key].as_f64().is_some(), "latency_ms.{key}");
    }
    assert_eq!(v["mode"], "sim");
    assert_eq!(v["energy_source"], "modelled");
    let n = |k: &str| v[k].as_u64().unwrap();
    assert!(n("arrived") > 1000);
    assert_eq!(n("arrived"), n("completed") - n("late") + n("violated"));
    let per_proc: u64 = v["per_processor"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["completed"].as_u64().unwrap())
        .sum();
    assert_eq!(per_proc, n("completed"));
    // The human table goes to stdout alongside and says that energy is modelled.
    assert!(String::from_utf8_lossy(&o.stdout).contains("modelled"));
}

#[test]
fn same_seed_gives_identical_json_and_another_seed_does_not() {
    let run = |seed: &str| {
        let o = bench(&[
            "compare",
            "--device",
            "android-flagship",
            "--workload",
            "bursty-multitenant",
            "--duration",
            "5",
            "--policies",
            "random,least-loaded,objective-greedy",
            "--seed",
            seed,
            "--json",
            "-",
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        o.stdout
    };
    let a = run("7");
    assert_eq!(a, run("7"));
    assert_ne!(a, run("8"));
    let v: serde_json::Value = serde_json::from_slice(&a).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 3);
}

#[test]
fn compare_writes_an_svg_and_marks_the_best_policy() {
    let dir = tmp("svg");
    let svg = dir.join("c.svg");
    let o = bench(&[
        "compare",
        "--workload",
        "mixed-slo",
        "--load",
        "0.8",
        "--duration",
        "3",
        "--svg",
        svg.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(text.starts_with("<svg") || text.contains("<svg"));
    assert!(text.contains("least-slack") && text.contains("p99 latency"));
    let stdout = String::from_utf8_lossy(&o.stdout);
    // The best policy is marked; ties are all marked (in 3 s the guard never judges, so the
    // guarded drl decides exactly as drl).
    let marked: Vec<&str> = stdout
        .lines()
        .filter(|l| l.contains(" * ") || l.ends_with('*'))
        .collect();
    assert!(!marked.is_empty(), "a best policy is marked:\n{stdout}");
    let objective = |l: &str| l.split_whitespace().find_map(|w| w.parse::<f64>().ok()).unwrap();
    let first = objective(marked[0]);
    assert!(
        marked.iter().all(|l| objective(l) == first),
        "only ties are marked together:\n{stdout}"
    );
    assert!(marked.len() <= 2, "{stdout}");
    // Not a terminal: no progress bar noise on stderr.
    assert!(stderr(&o).is_empty(), "stderr: {}", stderr(&o));
}

#[test]
fn the_header_says_what_a_closed_loop_offers_instead_of_a_zero_rate() {
    let header = |workload: &str| {
        let o = bench(&[
            "compare",
            "--workload",
            workload,
            "--duration",
            "2",
            "--policies",
            "fastest-only",
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .next()
            .unwrap_or_default()
            .to_string()
    };
    // `offline` is one closed loop of 16 outstanding requests.
    let closed = header("offline");
    assert!(closed.contains("closed loops of 16 outstanding only"), "{closed}");
    assert!(!closed.contains("req/s"), "{closed}");
    let open = header("mixed-slo");
    assert!(open.contains("req/s saturation") && !open.contains("closed"), "{open}");
}

#[test]
fn a_run_in_which_nothing_arrives_says_so() {
    let dir = tmp("late-trace");
    std::fs::write(dir.join("late.csv"), "time_ms,model\n600000,resnet18\n").unwrap();
    let workload = dir.join("late.toml");
    std::fs::write(
        &workload,
        "name = \"late\"\nduration_s = 700\n[[stream]]\nname = \"a\"\narrival = \"trace\"\nfile = \"late.csv\"\nslo_factor = 3\n",
    )
    .unwrap();
    // The window cut to 2 s ends long before the trace's only arrival.
    let o = bench(&[
        "sim",
        "--workload",
        workload.to_str().unwrap(),
        "--duration",
        "2",
        "--policy",
        "least-slack",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("no request arrived in the 2.0 s window"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn bad_inputs_exit_2_with_one_line() {
    let dir = tmp("bad");
    let profile = dir.join("broken.toml");
    std::fs::write(
        &profile,
        "name = \"x\"\nsource = \"s\"\n[[processor]]\nid = \"gpu\"\nkind = \"tpu\"\n",
    )
    .unwrap();
    assert_bad_input(&bench(&["sim", "--device", profile.to_str().unwrap()]), "broken.toml");
    assert_bad_input(&bench(&["sim", "--device", "no-such-board"]), "no-such-board");
    assert_bad_input(&bench(&["sim", "--workload", "no-such-workload"]), "no-such-workload");
    assert_bad_input(&bench(&["sim", "--policy", "fastest-everything"]), "fastest-everything");
    assert_bad_input(&bench(&["sim", "--load", "-1"]), "--load");
    assert_bad_input(&bench(&["sim", "--objective", "cheap"]), "objective");
    let workload = dir.join("w.toml");
    std::fs::write(
        &workload,
        "name = \"w\"\nduration_s = 1.0\n[[stream]]\nmodel = \"yolo\"\narrival = \"poisson\"\nrate_hz = 5.0\nslo_ms = 10.0\n",
    )
    .unwrap();
    assert_bad_input(&bench(&["sim", "--workload", workload.to_str().unwrap()]), "yolo");
    let garbage = dir.join("garbage.toml");
    std::fs::write(&garbage, [0xff, 0xfe, 0x00, 0x9c]).unwrap();
    assert_bad_input(&bench(&["sim", "--device", garbage.to_str().unwrap()]), "garbage.toml");
}

#[test]
fn train_removes_its_checkpoint_when_done_and_refuses_a_damaged_one() {
    let dir = tmp("train");
    let out = dir.join("p.policy");
    let out_s = out.to_str().unwrap();
    let ck = dir.join("p.policy.checkpoint");
    let args = [
        "train",
        "--device",
        "jetson-orin-nano",
        "--out",
        out_s,
        "--eval-every",
        "5000",
    ];
    assert_bad_input(
        &bench(&[&args[..], &["--steps", "10000", "--resume"]].concat()),
        "no checkpoint",
    );
    assert_bad_input(&bench(&[&args[..], &["--prior", "fastest"]].concat()), "--prior");
    assert_bad_input(&bench(&[&args[..], &["--method", "sarsa"]].concat()), "--method");
    assert_bad_input(
        &bench(&[&args[..], &["--episode-placements", "5"]].concat()),
        "--episode-placements",
    );
    assert_bad_input(
        &bench(&[&args[..], &["--rollout-horizon", "50"]].concat()),
        "--rollout-horizon",
    );
    assert_bad_input(
        &bench(&[&args[..], &["--method", "rules", "--rollout-every", "0"]].concat()),
        "--rollout-every",
    );
    // A policy over rules trains, names its rules, and runs wherever a policy file does.
    let rules = dir.join("rules.policy");
    let o = bench(&[
        "train",
        "--device",
        "jetson-orin-nano",
        "--out",
        rules.to_str().unwrap(),
        "--method",
        "rules",
        "--steps",
        "4000",
        "--restarts",
        "1",
        "--eval-every",
        "4000",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let manifest = std::fs::read_to_string(rules.join("manifest.toml")).unwrap();
    assert!(
        manifest.contains("rules = [") && manifest.contains("--method rules"),
        "{manifest}"
    );
    // The recorded command reproduces the run, the evaluation interval included.
    assert!(
        manifest.contains("--steps 4000 --eval-every 4000 ") && manifest.contains("--restarts 1 "),
        "{manifest}"
    );
    let o = bench(&[
        "sim",
        "--device",
        "jetson-orin-nano",
        "--workload",
        "camera-pipeline",
        "--policy",
        rules.to_str().unwrap(),
        "--json",
        dir.join("rules-sim.json").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    // A finished run leaves its policy and removes its checkpoint.
    let o = bench(&[&args[..], &["--steps", "10000"]].concat());
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(out.join("manifest.toml").is_file() && !ck.exists());
    // A damaged checkpoint is bad input, named, with exit code 2.
    std::fs::create_dir_all(ck.join("seed-1")).unwrap();
    std::fs::write(ck.join("seed-1").join("state.json"), "{ not json").unwrap();
    assert_bad_input(
        &bench(&[&args[..], &["--steps", "10000", "--resume"]].concat()),
        "state.json",
    );
}

#[test]
fn drl_without_a_pretrained_policy_for_the_device_is_a_one_line_error() {
    let dir = tmp("drl-none");
    let device = dir.join("other-board.toml");
    std::fs::write(
        &device,
        r#"
name = "other-board"
source = "test"
[[processor]]
id = "cpu"
kind = "cpu"
ep = "cpu"
slots = 1
idle_power_w = 1.0
busy_power_w = 5.0
[[model]]
name = "resnet50"
memory_mb = 100.0
latency_ms = { cpu = 30.0 }
"#,
    )
    .unwrap();
    let o = bench(&[
        "sim",
        "--device",
        device.to_str().unwrap(),
        "--workload",
        "single-stream",
        "--policy",
        "drl",
    ]);
    assert_bad_input(&o, "no pretrained policy for device \"other-board\"");
    let o = bench(&["sim", "--policy", "drl:fastest"]);
    assert_bad_input(&o, "unknown DRL objective");
}

#[test]
fn a_corrupt_policy_directory_is_a_one_line_error_with_exit_2() {
    let dir = tmp("drl-corrupt");
    let p = dir.join("bad.policy");
    std::fs::create_dir_all(&p).unwrap();
    std::fs::write(p.join("manifest.toml"), "format_version = 1\nalgorithm = \n").unwrap();
    std::fs::write(p.join("weights.bpk"), b"garbage").unwrap();
    let o = bench(&["sim", "--policy", p.to_str().unwrap(), "--duration", "1"]);
    assert_bad_input(&o, "manifest.toml");
    assert!(stderr(&o).contains("bad.policy"), "{}", stderr(&o));
}

#[test]
fn every_device_has_a_pretrained_policy_that_runs_and_joins_compare() {
    for device in [
        "jetson-agx-orin",
        "jetson-orin-nano",
        "jetson-xavier-nx",
        "android-flagship",
        "host-cpu",
    ] {
        let o = bench(&[
            "compare",
            "--device",
            device,
            "--workload",
            "server",
            "--load",
            "0.8",
            "--duration",
            "2",
            "--json",
            "-",
        ]);
        assert_eq!(o.status.code(), Some(0), "{device}: {}", stderr(&o));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        let drl = v
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["policy"] == "drl:balanced")
            .unwrap_or_else(|| panic!("{device}: compare has no drl:balanced"));
        assert_eq!(
            drl["arrived"],
            drl["completed"].as_u64().unwrap() + drl["unfinished"].as_u64().unwrap()
        );
        let guarded = v
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["policy"] == "unguarded:drl:balanced")
            .unwrap_or_else(|| panic!("{device}: compare has no unguarded drl"));
        assert_eq!(guarded["arrived"], drl["arrived"], "same arrivals for every policy");
    }
}

#[test]
fn evaluating_a_baseline_never_beats_the_best_baseline_and_ties_with_itself() {
    let dir = tmp("evaluate");
    let json = dir.join("e.json");
    let md = dir.join("e.md");
    let o = bench(&[
        "evaluate",
        "--policy",
        "least-slack",
        "--devices",
        "jetson-orin-nano,host-cpu",
        "--workloads",
        "multi-stream,mixed-slo",
        "--loads",
        "0.5,0.95",
        "--seeds",
        "1,2,3",
        "--duration",
        "3",
        "--json",
        json.to_str().unwrap(),
        "--markdown",
        md.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let cases: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let cases = cases.as_array().unwrap();
    assert_eq!(cases.len(), 8);
    for c in cases {
        let imp = c["improvement"].as_f64().unwrap();
        // least-slack is one of the baselines: the best of them is at least as good.
        assert!(imp <= 0.0, "{c}");
        assert_eq!(c["policy_switches"], 0.0, "an unguarded policy never switches: {c}");
        if c["best_baseline"] == "least-slack" {
            // The same schedule: exactly a tie, never "worse beyond noise".
            assert_eq!(imp, 0.0, "{c}");
            assert_eq!(c["worse_beyond_noise"], false, "{c}");
        }
    }
    let table = std::fs::read_to_string(&md).unwrap();
    assert!(table.contains("worse beyond noise") && table.contains("no worse than the best baseline (within 1%)"));
}

#[test]
fn evaluate_counts_the_guards_switches() {
    // The guard leaves the learned policy for objective-greedy after its first 256 placements
    // here (README's example), so the case has at least one switch, and the summary says so.
    let dir = tmp("evaluate-switches");
    let json = dir.join("e.json");
    let o = bench(&[
        "evaluate",
        "--policy",
        "drl",
        "--devices",
        "jetson-agx-orin",
        "--workloads",
        "camera-pipeline",
        "--loads",
        "0.95",
        "--seeds",
        "1",
        "--duration",
        "1",
        "--baselines",
        "least-slack",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let cases: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let switches = cases[0]["policy_switches"].as_f64().unwrap();
    assert!(switches >= 1.0, "{cases}");
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("guard switches: "), "{stdout}");
}

#[test]
fn scenarios_writes_files_that_simulate_and_regenerate_identically() {
    let dir = tmp("scenarios");
    let out = dir.join("set");
    let _ = std::fs::remove_dir_all(&out);
    let args = [
        "scenarios",
        "--device",
        "jetson-orin-nano",
        "--count",
        "12",
        "--seed",
        "2000",
        "--out",
        out.to_str().unwrap(),
    ];
    let o = bench(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    let mut tomls: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    tomls.sort();
    assert_eq!(tomls.len(), 12);
    assert!(out.join("scn-2000-0.toml").is_file() && out.join("scn-2000-11.toml").is_file());
    // Regenerating from the seed gives the same bytes.
    let read_all = || {
        let mut files: Vec<_> = std::fs::read_dir(&out).unwrap().map(|e| e.unwrap().path()).collect();
        files.sort();
        files.iter().map(|p| std::fs::read(p).unwrap()).collect::<Vec<_>>()
    };
    let first = read_all();
    assert!(bench(&args).status.success());
    assert_eq!(first, read_all());
    // Every file is an ordinary workload that `sim` accepts.
    for t in &tomls {
        let o = bench(&[
            "sim",
            "--device",
            "jetson-orin-nano",
            "--workload",
            t.to_str().unwrap(),
            "--duration",
            "1",
            "--json",
            "-",
        ]);
        assert!(o.status.success(), "{}: {}", t.display(), stderr(&o));
    }
    // The folder is a scenario set for evaluate.
    let o = bench(&[
        "evaluate",
        "--policy",
        "least-loaded",
        "--scenarios",
        out.to_str().unwrap(),
        "--devices",
        "host-cpu",
        "--loads",
        "0.5",
        "--seeds",
        "1",
        "--duration",
        "1",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("12 cases"));
}

#[test]
fn evaluate_on_random_scenarios_summarises_every_case() {
    let dir = tmp("evaluate-random");
    let json = dir.join("e.json");
    let o = bench(&[
        "evaluate",
        "--scenarios",
        "random:3:5",
        "--devices",
        "host-cpu",
        "--loads",
        "0.5",
        "--seeds",
        "1",
        "--duration",
        "2",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let cases: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let cases = cases.as_array().unwrap();
    assert_eq!(cases.len(), 3);
    for (i, c) in cases.iter().enumerate() {
        assert_eq!(c["workload"], format!("scn-5-{i}"));
        assert_eq!(c["duration_s"], 2.0);
        let late = c["fewest_late"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&late), "{c}");
    }
    let stdout = String::from_utf8_lossy(&o.stdout);
    for needle in [
        "3 cases",
        "no worse than the best baseline (within 1%)",
        "worst case:",
        "load >= 0.8: n/a",
        "beyond seed noise",
        "fewest late",
    ] {
        assert!(stdout.contains(needle), "{needle:?} missing:\n{stdout}");
    }
    assert!(stdout.lines().all(|l| l.len() <= 100 || l.starts_with('|')), "{stdout}");
}

#[test]
fn bad_scenario_sets_exit_2_with_one_line() {
    let dir = tmp("bad-scenarios");
    let empty = dir.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let eval = |spec: &str| bench(&["evaluate", "--scenarios", spec, "--devices", "host-cpu", "--seeds", "1"]);
    assert_bad_input(&eval("random:x:y"), "random:x:y");
    assert_bad_input(&eval("random:0:1"), "random:0:1");
    assert_bad_input(&eval("random:3"), "random:3");
    assert_bad_input(&eval(empty.to_str().unwrap()), "no *.toml");
    assert_bad_input(&eval(dir.join("missing").to_str().unwrap()), "missing");
    let broken = dir.join("broken");
    std::fs::create_dir_all(&broken).unwrap();
    std::fs::write(broken.join("w.toml"), "name = \"w\"\n").unwrap();
    assert_bad_input(&eval(broken.to_str().unwrap()), "w.toml");
    assert_bad_input(
        &bench(&["evaluate", "--scenarios", "random:2:1", "--workloads", "server"]),
        "--scenarios",
    );
    let out = dir.join("out");
    let gen = |count: &str, device: &str| {
        bench(&[
            "scenarios",
            "--device",
            device,
            "--count",
            count,
            "--seed",
            "1",
            "--out",
            out.to_str().unwrap(),
        ])
    };
    assert_bad_input(&gen("0", "host-cpu"), "--count");
    assert_bad_input(&gen("-3", "host-cpu"), "--count");
    assert_bad_input(&gen("2", "no-such-board"), "no-such-board");
    // --out is a file, not a folder.
    let file = dir.join("a-file");
    std::fs::write(&file, "x").unwrap();
    let o = bench(&[
        "scenarios",
        "--count",
        "1",
        "--seed",
        "1",
        "--out",
        file.to_str().unwrap(),
    ]);
    assert_bad_input(&o, "a-file");
}
