//! Device profile and workload validation: every error names the file and the field on one
//! line; the shipped profiles and workloads are valid; load scaling and saturation throughput.

use cosched_core::workload::BUILTIN_WORKLOADS;
use cosched_core::{
    saturation_rps, Arrival, ConfigError, DeviceProfile, FileProblem, ModelId, ResolvedArrival, Slo, Workload,
    BUILTIN_DEVICES, MAX_TRACE_BYTES,
};
use std::path::PathBuf;

const DEV_FILE: &str = "tiny-board.toml";
const WL_FILE: &str = "tiny-workload.toml";

/// Two processors and two models: `a` runs on both (10 ms on the 1-slot cpu, 20 ms on the
/// 2-slot gpu), `b` only on the gpu (4 ms).
const DEVICE: &str = r#"name = "tiny"
source = "tests"

[[processor]]
id = "cpu"
kind = "cpu"
ep = "cpu"
slots = 1
idle_power_w = 1.0
busy_power_w = 5.0
dvfs_mhz = [500.0, 1000.0, 1500.0]

[[processor]]
id = "gpu"
kind = "gpu"
ep = "cuda"
slots = 2
idle_power_w = 2.0
busy_power_w = 20.0

[[model]]
name = "a"
memory_mb = 10.0
[model.latency_ms]
cpu = 10.0
gpu = 20.0
[model.latency_cv]
cpu = 0.1
[model.batch_alpha]
gpu = 0.5
[model.source]
cpu = "measured"
gpu = "measured"

[[model]]
name = "b"
memory_mb = 12.0
[model.latency_ms]
gpu = 4.0
"#;

const WORKLOAD: &str = r#"name = "w"
duration_s = 10.0

[[stream]]
model = "a"
arrival = "poisson"
rate_hz = 10.0
slo_ms = 50.0
"#;

/// `text` with the only occurrence of `from` replaced by `to`.
fn with(text: &str, from: &str, to: &str) -> String {
    assert_eq!(
        text.matches(from).count(),
        1,
        "test bug: {from:?} must occur exactly once"
    );
    text.replacen(from, to, 1)
}

fn device() -> DeviceProfile {
    DeviceProfile::from_toml_str(DEVICE, DEV_FILE).expect("base profile is valid")
}

/// 1-based line of the only line of `text` equal to `line`.
fn line_of(text: &str, line: &str) -> usize {
    let hits: Vec<usize> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| *l == line)
        .map(|(i, _)| i + 1)
        .collect();
    assert_eq!(hits.len(), 1, "test bug: {line:?} must be one line");
    hits[0]
}

fn assert_one_line(msg: &str) {
    assert!(!msg.contains('\n') && !msg.contains('\r'), "not one line: {msg:?}");
    assert!(!msg.trim().is_empty());
}

/// The error of parsing a profile, checked to be one line naming the file and containing every
/// string of `must_contain`.
#[track_caller]
fn dev_err(text: &str, must_contain: &[&str]) -> ConfigError {
    let err = match DeviceProfile::from_toml_str(text, DEV_FILE) {
        Ok(_) => panic!("accepted an invalid profile:\n{text}"),
        Err(e) => e,
    };
    check(&err, DEV_FILE, must_contain);
    err
}

#[track_caller]
fn wl_err(text: &str, must_contain: &[&str]) -> ConfigError {
    let err = match Workload::from_toml_str(text, WL_FILE, None) {
        Ok(w) => panic!("accepted an invalid workload:\n{text}\n{w:?}"),
        Err(e) => e,
    };
    check(&err, WL_FILE, must_contain);
    err
}

#[track_caller]
fn check(err: &ConfigError, file: &str, must_contain: &[&str]) {
    let msg = err.to_string();
    assert_one_line(&msg);
    assert!(
        msg.starts_with(&format!("{file}: ")),
        "does not start with the file name: {msg}"
    );
    for s in must_contain {
        assert!(msg.contains(s), "{msg:?} does not contain {s:?}");
    }
}

// ---------------------------------------------------------------- device profiles

#[test]
fn the_base_profile_parses_as_written() {
    let d = device();
    assert_eq!(d.name, "tiny");
    assert_eq!(d.processors.len(), 2);
    assert_eq!(d.models.len(), 2);
    let (a, b) = (d.model_id("a").unwrap(), d.model_id("b").unwrap());
    let (cpu, gpu) = (d.processor_id("cpu").unwrap(), d.processor_id("gpu").unwrap());
    assert_eq!(d.processor(gpu).slots, 2);
    assert_eq!(d.processor(cpu).max_batch, 1, "max_batch defaults to 1");
    assert_eq!(d.processor(cpu).dvfs_mhz, vec![500.0, 1000.0, 1500.0]);
    assert_eq!(d.processor(cpu).freq_scale(0), 500.0 / 1500.0);
    assert_eq!(d.processor(cpu).freq_scale(99), 1.0);
    assert_eq!(d.processor(gpu).freq_scale(0), 1.0);
    let a_cpu = d.on(a, cpu).unwrap();
    assert_eq!((a_cpu.mean_ms, a_cpu.cv, a_cpu.batch_alpha), (10.0, 0.1, 0.0));
    assert_eq!(a_cpu.source, "measured");
    let a_gpu = d.on(a, gpu).unwrap();
    assert_eq!((a_gpu.mean_ms, a_gpu.cv, a_gpu.batch_alpha), (20.0, 0.0, 0.5));
    // latency(b) = l1 * (alpha + (1 - alpha) * b): batch 4 at alpha 0.5 is 2.5x.
    assert_eq!(a_gpu.batch_factor(4), 2.5);
    assert_eq!(a_gpu.batch_factor(1), 1.0);
    assert!(d.on(b, cpu).is_none());
    assert_eq!(d.on(b, gpu).unwrap().mean_ms, 4.0);
    assert_eq!(d.best_latency_ms(a), 10.0);
    assert_eq!(d.fastest_processor(a), cpu);
    assert_eq!(d.fastest_processor(b), gpu);
    assert_eq!(d.model_id("c"), None);
    assert_eq!(d.processor_id("npu"), None);
    // Energy of one inference on one slot: the slot's share of busy power times latency.
    // cpu: 5 W / 1 slot * 10 ms = 0.05 J; gpu: 20 W / 2 slots * 20 ms = 0.2 J.
    assert!((d.reference_energy_j(a) - 0.05).abs() < 1e-12);
    // b only on the gpu: 10 W * 4 ms = 0.04 J.
    assert!((d.reference_energy_j(b) - 0.04).abs() < 1e-12);
    // No [interference]: no slowdown.
    assert_eq!(d.interference.slowdown(5), 1.0);
}

#[test]
fn unknown_processor_kind() {
    let t = with(DEVICE, "kind = \"cpu\"", "kind = \"tpu\"");
    dev_err(&t, &["processor[0]", "kind", "tpu"]);
}

#[test]
fn unknown_execution_provider() {
    let t = with(DEVICE, "ep = \"cuda\"", "ep = \"cudnn\"");
    dev_err(&t, &["processor[1]", ".ep", "cudnn"]);
}

#[test]
fn duplicate_processor_id() {
    let t = with(DEVICE, "id = \"gpu\"", "id = \"cpu\"");
    dev_err(&t, &["processor[1]", "id", "duplicate"]);
}

#[test]
fn duplicate_model_name() {
    let t = with(DEVICE, "name = \"b\"", "name = \"a\"");
    dev_err(&t, &["model[1]", "name", "duplicate"]);
}

#[test]
fn model_that_no_processor_can_run() {
    let t = with(DEVICE, "[model.latency_ms]\ngpu = 4.0\n", "[model.latency_ms]\n");
    dev_err(&t, &["model[1]", "latency_ms", "no processor"]);
}

#[test]
fn processor_that_runs_no_model() {
    let t = with(
        DEVICE,
        "[[model]]\nname = \"a\"",
        "[[processor]]\nid = \"npu\"\nkind = \"npu\"\nep = \"qnn\"\nslots = 1\nidle_power_w = 0.1\nbusy_power_w = 1.0\n\n[[model]]\nname = \"a\"",
    );
    dev_err(&t, &["processor[2]", "npu", "none of the models"]);
}

#[test]
fn latency_for_an_unknown_processor() {
    let t = with(DEVICE, "gpu = 4.0", "npu = 4.0");
    dev_err(&t, &["model[1]", "latency_ms.npu"]);
}

#[test]
fn non_positive_or_non_finite_latency() {
    for bad in ["-4.0", "0.0", "-0.0", "nan", "inf", "-inf"] {
        let t = with(DEVICE, "gpu = 4.0", &format!("gpu = {bad}"));
        dev_err(&t, &["model[1]", "latency_ms.gpu"]);
    }
}

#[test]
fn busy_power_below_idle_power() {
    let t = with(DEVICE, "busy_power_w = 5.0", "busy_power_w = 0.5");
    dev_err(&t, &["processor[0]", "busy_power_w"]);
    // Equal is fine (a processor whose power does not depend on load).
    let t = with(DEVICE, "busy_power_w = 5.0", "busy_power_w = 1.0");
    assert!(DeviceProfile::from_toml_str(&t, DEV_FILE).is_ok());
}

#[test]
fn negative_or_non_finite_power() {
    let t = with(DEVICE, "idle_power_w = 1.0", "idle_power_w = -1.0");
    dev_err(&t, &["processor[0]", "idle_power_w"]);
    let t = with(DEVICE, "busy_power_w = 20.0", "busy_power_w = inf");
    dev_err(&t, &["processor[1]", "busy_power_w"]);
    let t = with(DEVICE, "idle_power_w = 2.0", "idle_power_w = nan");
    dev_err(&t, &["processor[1]", "idle_power_w"]);
}

#[test]
fn dvfs_must_be_strictly_ascending_and_positive() {
    for bad in [
        "[500.0, 1500.0, 1000.0]",
        "[1500.0, 1000.0]",
        "[500.0, 500.0]",
        "[-100.0, 1000.0]",
        "[0.0, 1000.0]",
    ] {
        let t = with(
            DEVICE,
            "dvfs_mhz = [500.0, 1000.0, 1500.0]",
            &format!("dvfs_mhz = {bad}"),
        );
        dev_err(&t, &["processor[0]", "dvfs_mhz"]);
    }
    // A single level and an empty table are fine.
    for good in ["[800.0]", "[]"] {
        let t = with(
            DEVICE,
            "dvfs_mhz = [500.0, 1000.0, 1500.0]",
            &format!("dvfs_mhz = {good}"),
        );
        let d = DeviceProfile::from_toml_str(&t, DEV_FILE).unwrap();
        assert_eq!(d.processors[0].freq_scale(0), 1.0);
    }
}

#[test]
fn slots_must_be_a_positive_count() {
    for bad in ["0", "-1", "100000"] {
        let t = with(DEVICE, "slots = 2", &format!("slots = {bad}"));
        dev_err(&t, &["processor[1]", "slots"]);
    }
    let t = with(DEVICE, "slots = 2", "slots = 2\nmax_batch = 0");
    dev_err(&t, &["processor[1]", "max_batch"]);
    let t = with(DEVICE, "slots = 2", "slots = 2\nthreads = 0");
    dev_err(&t, &["processor[1]", "threads"]);
}

#[test]
fn latency_cv_out_of_range() {
    for bad in ["-0.1", "11.0", "nan"] {
        let t = with(
            DEVICE,
            "[model.latency_cv]\ncpu = 0.1",
            &format!("[model.latency_cv]\ncpu = {bad}"),
        );
        dev_err(&t, &["model[0]", "latency_cv.cpu"]);
    }
    // A cv for a processor the model has no latency on.
    let t = with(
        DEVICE,
        "[model.latency_ms]\ngpu = 4.0\n",
        "[model.latency_ms]\ngpu = 4.0\n[model.latency_cv]\ncpu = 0.2\n",
    );
    dev_err(&t, &["model[1]", "latency_cv.cpu"]);
    // ... or for no processor at all.
    let t = with(
        DEVICE,
        "[model.latency_cv]\ncpu = 0.1",
        "[model.latency_cv]\ncpu = 0.1\ndsp = 0.1",
    );
    dev_err(&t, &["model[0]", "latency_cv.dsp"]);
}

#[test]
fn batch_alpha_out_of_range() {
    for bad in ["1.5", "-0.5", "inf"] {
        let t = with(
            DEVICE,
            "[model.batch_alpha]\ngpu = 0.5",
            &format!("[model.batch_alpha]\ngpu = {bad}"),
        );
        dev_err(&t, &["model[0]", "batch_alpha.gpu"]);
    }
    for good in ["0.0", "1.0"] {
        let t = with(
            DEVICE,
            "[model.batch_alpha]\ngpu = 0.5",
            &format!("[model.batch_alpha]\ngpu = {good}"),
        );
        assert!(DeviceProfile::from_toml_str(&t, DEV_FILE).is_ok(), "{good}");
    }
}

#[test]
fn source_for_a_processor_without_latency() {
    let t = with(
        DEVICE,
        "[model.latency_ms]\ngpu = 4.0\n",
        "[model.latency_ms]\ngpu = 4.0\n[model.source]\ncpu = \"x\"\n",
    );
    dev_err(&t, &["model[1]", "source.cpu"]);
}

#[test]
fn unknown_key_is_an_error_at_its_line() {
    // A typo in a processor, in a model and at the top level.
    let cases = [
        ("slots = 2", "slot = 2", "slot"),
        ("memory_mb = 12.0", "memory_mbb = 12.0", "memory_mbb"),
        ("source = \"tests\"", "sorce = \"tests\"", "sorce"),
        (
            "busy_power_w = 20.0",
            "busy_power_w = 20.0\nbusy_power = 20.0",
            "busy_power",
        ),
    ];
    for (from, to, key) in cases {
        let t = with(DEVICE, from, to);
        let bad_line = to.lines().last().unwrap();
        let line = line_of(&t, bad_line);
        dev_err(&t, &[key, &format!("line {line}")]);
    }
}

#[test]
fn interference_values_are_checked() {
    let base = format!("{DEVICE}\n[interference]\nslowdown_per_busy = 0.1\nmax_slowdown = 1.5\n");
    let d = DeviceProfile::from_toml_str(&base, DEV_FILE).unwrap();
    assert!((d.interference.slowdown(2) - 1.2).abs() < 1e-12);
    assert_eq!(d.interference.slowdown(10), 1.5, "capped");
    let t = with(&base, "max_slowdown = 1.5", "max_slowdown = 0.5");
    dev_err(&t, &["interference.max_slowdown"]);
    let t = with(&base, "slowdown_per_busy = 0.1", "slowdown_per_busy = -0.1");
    dev_err(&t, &["interference.slowdown_per_busy"]);
    // Without a cap the slowdown grows without bound.
    let t = with(&base, "max_slowdown = 1.5\n", "");
    let d = DeviceProfile::from_toml_str(&t, DEV_FILE).unwrap();
    assert!((d.interference.slowdown(10) - 2.0).abs() < 1e-12);
}

#[test]
fn syntax_error_reports_the_right_line() {
    let t = with(DEVICE, "slots = 2", "slots = = 2");
    let line = line_of(&t, "slots = = 2");
    let err = dev_err(&t, &[&format!("line {line},")]);
    assert!(
        matches!(err, ConfigError::Syntax { line: l, .. } if l == line),
        "{err:?}"
    );
    // An unterminated string on the first line.
    let t = with(DEVICE, "name = \"tiny\"", "name = \"tiny");
    dev_err(&t, &["line 1,"]);
    // Last line.
    let t = format!("{DEVICE}oops");
    let line = t.lines().count();
    dev_err(&t, &[&format!("line {line},")]);
}

#[test]
fn wrong_type_reports_the_line() {
    let t = with(DEVICE, "slots = 2", "slots = \"two\"");
    let line = line_of(&t, "slots = \"two\"");
    dev_err(&t, &[&format!("line {line},")]);
}

#[test]
fn wrong_type_names_the_field() {
    let t = with(DEVICE, "slots = 2", "slots = \"two\"");
    dev_err(&t, &["slots"]);
}

#[test]
fn missing_required_fields_are_named() {
    let t = with(DEVICE, "memory_mb = 12.0\n", "");
    dev_err(&t, &["memory_mb"]);
    let t = with(DEVICE, "ep = \"cuda\"\n", "");
    dev_err(&t, &["ep"]);
    let t = with(DEVICE, "source = \"tests\"\n", "");
    dev_err(&t, &["source"]);
}

#[test]
fn empty_names_and_missing_sections() {
    dev_err(&with(DEVICE, "name = \"tiny\"", "name = \"  \""), &["name"]);
    dev_err(&with(DEVICE, "id = \"cpu\"", "id = \"\""), &["processor[0].id"]);
    dev_err(&with(DEVICE, "name = \"b\"", "name = \"\""), &["model[1].name"]);
    dev_err("name = \"x\"\nsource = \"y\"\n", &["processor"]);
    let only_procs = DEVICE.split("[[model]]").next().unwrap();
    dev_err(only_procs, &["model"]);
}

#[test]
fn device_names_with_newlines_still_give_one_line_errors() {
    let t = with(
        DEVICE,
        "id = \"gpu\"\nkind = \"gpu\"",
        "id = \"gpu\"\nkind = \"g\\npu\"",
    );
    dev_err(&t, &["processor[1]", "kind"]);
    let t = with(
        &with(DEVICE, "id = \"gpu\"", "id = \"g\\npu\""),
        "slots = 2",
        "slots = 0",
    );
    dev_err(&t, &["processor[1]", "slots"]);
}

#[test]
fn workload_names_with_newlines_still_give_one_line_errors() {
    let t = with(WORKLOAD, "arrival = \"poisson\"", "arrival = \"pois\\nson\"");
    wl_err(&t, &["stream[0].arrival"]);
    let t = with(WORKLOAD, "model = \"a\"", "model = \"a\\n\"");
    let w = Workload::from_toml_str(&t, WL_FILE, None).unwrap();
    let err = w.resolve(&device(), None, WL_FILE).unwrap_err();
    check(&err, WL_FILE, &["stream[0].model"]);
}

#[test]
fn missing_device_file_is_a_one_line_error() {
    let name = "no-such-device-profile-xyz";
    let msg = DeviceProfile::load(name).unwrap_err().to_string();
    assert_one_line(&msg);
    assert!(msg.contains(name), "{msg}");
    let path = std::env::temp_dir().join("cosched-core-no-such-dir/x.toml");
    let msg = DeviceProfile::from_file(&path).unwrap_err().to_string();
    assert_one_line(&msg);
    assert!(msg.contains("x.toml"), "{msg}");
}

// ---------------------------------------------------------------- shipped profiles

const MODELS: [&str; 8] = [
    "resnet50",
    "resnet18",
    "mobilenet_v2",
    "squeezenet",
    "shufflenet",
    "densenet121",
    "inception_v1",
    "vgg19",
];

#[test]
fn shipped_profiles_parse_and_cover_the_test_models() {
    let names: Vec<&str> = DeviceProfile::builtin_names().collect();
    assert!(names.len() >= 5, "{names:?}");
    assert_eq!(names.len(), BUILTIN_DEVICES.len());
    for name in names {
        let d = DeviceProfile::from_toml_str(
            BUILTIN_DEVICES.iter().find(|(n, _)| *n == name).unwrap().1,
            &format!("devices/{name}.toml"),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(DeviceProfile::builtin(name).as_ref(), Some(&d));
        assert!(!d.source.trim().is_empty(), "{name}: no source");
        for m in MODELS {
            assert!(d.model_id(m).is_some(), "{name} lacks {m}");
        }
        for (pi, p) in d.processors.iter().enumerate() {
            assert!(p.busy_power_w >= p.idle_power_w);
            assert!(p.slots >= 1);
            assert!(
                d.models.iter().any(|m| m.on[pi].is_some()),
                "{name}: {} runs nothing",
                p.id
            );
        }
        for m in &d.models {
            for (pi, o) in m.on.iter().enumerate() {
                if let Some(o) = o {
                    assert!(
                        !o.source.trim().is_empty(),
                        "{name}: {} on {} has no source",
                        m.name,
                        d.processors[pi].id
                    );
                    assert!(o.mean_ms > 0.0 && o.mean_ms.is_finite());
                }
            }
            let mid = d.model_id(&m.name).unwrap();
            let r = d.reference_energy_j(mid);
            assert!(r > 0.0 && r.is_finite(), "{name}: {}: reference energy {r}", m.name);
        }
    }
    assert!(DeviceProfile::builtin("no-such-board").is_none());
}

#[test]
fn shipped_profile_files_match_the_builtin_copies() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../devices");
    for (name, text) in BUILTIN_DEVICES {
        let path = dir.join(format!("{name}.toml"));
        let on_disk = std::fs::read_to_string(&path).unwrap();
        assert_eq!(on_disk.as_str(), *text, "{name}");
        let d = DeviceProfile::from_file(&path).unwrap();
        assert_eq!(d.name, DeviceProfile::builtin(name).unwrap().name);
    }
}

#[test]
fn every_builtin_workload_resolves_on_every_shipped_profile() {
    assert_eq!(Workload::builtin_names().count(), BUILTIN_WORKLOADS.len());
    for wname in Workload::builtin_names() {
        let w = Workload::builtin(wname).unwrap();
        assert_eq!(w.name, wname, "a built-in's name is its file name");
        assert_eq!(Workload::load(wname).unwrap(), w);
        for dname in DeviceProfile::builtin_names() {
            let d = DeviceProfile::builtin(dname).unwrap();
            let r = w
                .resolve(&d, None, wname)
                .unwrap_or_else(|e| panic!("{wname} on {dname}: {e}"));
            assert_eq!(r.streams.len(), w.streams.len());
            assert!(r.max_slo_ms() > 0.0 && r.max_slo_ms().is_finite());
            for (i, s) in r.streams.iter().enumerate() {
                if let Some(m) = s.model {
                    let slo = r.slo_ms(i, m);
                    assert!(slo > 0.0 && slo.is_finite());
                    if let Slo::Factor(x) = s.slo {
                        assert!((slo - x * d.best_latency_ms(m)).abs() <= 1e-9 * slo);
                    }
                }
            }
            let open = w.streams.iter().any(|s| !matches!(s.arrival, Arrival::Closed { .. }));
            if open {
                assert!(
                    r.saturation_rps > 0.0 && r.saturation_rps.is_finite(),
                    "{wname} on {dname}"
                );
                if let Some(l) = w.load {
                    assert_eq!(r.load, Some(l));
                    let want = l * r.saturation_rps;
                    assert!((r.offered_rps - want).abs() <= 1e-9 * want, "{wname} on {dname}");
                }
            }
            // And at an explicit load.
            let r = w.resolve(&d, Some(0.5), wname).unwrap();
            if open {
                assert!((r.offered_rps - 0.5 * r.saturation_rps).abs() <= 1e-9 * r.saturation_rps);
            }
        }
    }
}

// ---------------------------------------------------------------- workloads

#[test]
fn the_base_workload_parses_as_written() {
    let w = Workload::from_toml_str(WORKLOAD, WL_FILE, None).unwrap();
    assert_eq!(w.name, "w");
    assert_eq!(w.duration_s, 10.0);
    assert_eq!(w.load, None);
    assert_eq!(w.streams.len(), 1);
    assert_eq!(w.streams[0].name, "a", "the name defaults to the model");
    assert_eq!(w.streams[0].arrival, Arrival::Poisson { rate_hz: 10.0 });
    assert_eq!(w.streams[0].slo, Slo::Ms(50.0));
    let r = w.resolve(&device(), None, WL_FILE).unwrap();
    assert_eq!(r.duration_ms, 10_000.0);
    assert_eq!(r.streams[0].arrival, ResolvedArrival::Poisson { rate_per_ms: 0.01 });
    assert_eq!(r.offered_rps, 10.0, "no load: rates as written");
    assert_eq!(r.slo_ms(0, ModelId(0)), 50.0);
}

#[test]
fn rate_must_be_positive_and_present() {
    for bad in ["0.0", "-5.0", "nan", "inf"] {
        let t = with(WORKLOAD, "rate_hz = 10.0", &format!("rate_hz = {bad}"));
        wl_err(&t, &["stream[0].rate_hz"]);
    }
    let t = with(WORKLOAD, "rate_hz = 10.0\n", "");
    wl_err(&t, &["stream[0].rate_hz", "required"]);
    let t = with(
        WORKLOAD,
        "arrival = \"poisson\"\nrate_hz = 10.0\n",
        "arrival = \"periodic\"\n",
    );
    wl_err(&t, &["stream[0].rate_hz", "required"]);
}

#[test]
fn mmpp_needs_exactly_two_rates_and_dwells() {
    let mmpp = "arrival = \"mmpp\"\nrates_hz = [5.0, 80.0]\ndwell_s = [2.0, 0.5]\n";
    let ok = with(WORKLOAD, "arrival = \"poisson\"\nrate_hz = 10.0\n", mmpp);
    let w = Workload::from_toml_str(&ok, WL_FILE, None).unwrap();
    // Mean rate: (5 * 2 + 80 * 0.5) / 2.5 = 20.
    assert!((w.streams[0].arrival.mean_rate_hz(10.0).unwrap() - 20.0).abs() < 1e-12);
    wl_err(
        &with(&ok, "rates_hz = [5.0, 80.0]", "rates_hz = [5.0, 80.0, 3.0]"),
        &["stream[0].rates_hz", "3"],
    );
    wl_err(
        &with(&ok, "rates_hz = [5.0, 80.0]", "rates_hz = [5.0]"),
        &["stream[0].rates_hz"],
    );
    wl_err(
        &with(&ok, "dwell_s = [2.0, 0.5]", "dwell_s = [2.0, 0.0]"),
        &["stream[0].dwell_s"],
    );
    wl_err(
        &with(&ok, "dwell_s = [2.0, 0.5]\n", ""),
        &["stream[0].dwell_s", "required"],
    );
    wl_err(
        &with(&ok, "rates_hz = [5.0, 80.0]", "rates_hz = [-5.0, 80.0]"),
        &["stream[0].rates_hz"],
    );
}

#[test]
fn slo_ms_and_slo_factor_are_exclusive_and_one_is_required() {
    let t = with(WORKLOAD, "slo_ms = 50.0", "slo_ms = 50.0\nslo_factor = 3.0");
    wl_err(&t, &["stream[0].slo"]);
    let t = with(WORKLOAD, "slo_ms = 50.0\n", "");
    wl_err(&t, &["stream[0].slo"]);
    for bad in ["slo_ms = 0.0", "slo_ms = -1.0", "slo_factor = 0.0", "slo_factor = nan"] {
        let t = with(WORKLOAD, "slo_ms = 50.0", bad);
        let field = bad.split(' ').next().unwrap();
        wl_err(&t, &[&format!("stream[0].{field}")]);
    }
    let t = with(WORKLOAD, "slo_ms = 50.0", "slo_factor = 3.0");
    let w = Workload::from_toml_str(&t, WL_FILE, None).unwrap();
    let r = w.resolve(&device(), None, WL_FILE).unwrap();
    // 3 x the fastest latency of `a` (10 ms on the cpu).
    assert_eq!(r.slo_ms(0, ModelId(0)), 30.0);
}

#[test]
fn unknown_arrival() {
    let t = with(WORKLOAD, "arrival = \"poisson\"", "arrival = \"bursty\"");
    wl_err(&t, &["stream[0].arrival", "bursty"]);
}

#[test]
fn a_field_the_arrival_kind_does_not_use() {
    let cases = [
        ("poisson", "concurrency = 4", "concurrency"),
        ("poisson", "rates_hz = [1.0, 2.0]", "rates_hz"),
        ("poisson", "dwell_s = [1.0, 2.0]", "dwell_s"),
        ("poisson", "file = \"x.csv\"", "file"),
        ("periodic", "concurrency = 4", "concurrency"),
    ];
    for (arrival, extra, field) in cases {
        let t = with(
            WORKLOAD,
            "arrival = \"poisson\"",
            &format!("arrival = \"{arrival}\"\n{extra}"),
        );
        wl_err(&t, &[&format!("stream[0].{field}"), arrival]);
    }
    let closed = with(
        WORKLOAD,
        "arrival = \"poisson\"\nrate_hz = 10.0",
        "arrival = \"closed\"\nconcurrency = 2",
    );
    assert!(Workload::from_toml_str(&closed, WL_FILE, None).is_ok());
    wl_err(&format!("{closed}rate_hz = 1.0\n"), &["stream[0].rate_hz", "closed"]);
    let mmpp = with(
        WORKLOAD,
        "arrival = \"poisson\"",
        "arrival = \"mmpp\"\nrates_hz = [1.0, 2.0]\ndwell_s = [1.0, 1.0]",
    );
    wl_err(&mmpp, &["stream[0].rate_hz", "mmpp"]);
}

#[test]
fn closed_needs_a_concurrency() {
    let t = with(
        WORKLOAD,
        "arrival = \"poisson\"\nrate_hz = 10.0",
        "arrival = \"closed\"",
    );
    wl_err(&t, &["stream[0].concurrency", "required"]);
    for bad in ["0", "-3", "1000000"] {
        let t = with(
            WORKLOAD,
            "arrival = \"poisson\"\nrate_hz = 10.0",
            &format!("arrival = \"closed\"\nconcurrency = {bad}"),
        );
        wl_err(&t, &["stream[0].concurrency"]);
    }
}

#[test]
fn other_workload_errors() {
    wl_err(
        &with(WORKLOAD, "duration_s = 10.0", "duration_s = 0.0"),
        &["duration_s"],
    );
    wl_err(
        &with(WORKLOAD, "duration_s = 10.0", "duration_s = 1e9"),
        &["duration_s"],
    );
    wl_err(
        &with(WORKLOAD, "duration_s = 10.0", "duration_s = 10.0\nload = 0.0"),
        &["load"],
    );
    wl_err(
        &with(WORKLOAD, "duration_s = 10.0", "duration_s = 10.0\nload = 11.0"),
        &["load"],
    );
    wl_err(&with(WORKLOAD, "model = \"a\"\n", ""), &["stream[0].model"]);
    wl_err(&with(WORKLOAD, "name = \"w\"", "name = \"\""), &["name"]);
    wl_err("name = \"w\"\nduration_s = 1.0\n", &["stream"]);
    let typo = with(WORKLOAD, "rate_hz = 10.0", "rate_hz = 10.0\nrate = 10.0");
    let line = line_of(&typo, "rate = 10.0");
    wl_err(&typo, &["rate", &format!("line {line},")]);
    // A stream that is not the first is named by its index.
    let two = format!("{WORKLOAD}\n[[stream]]\nmodel = \"b\"\narrival = \"poisson\"\nrate_hz = -1.0\nslo_ms = 5.0\n");
    wl_err(&two, &["stream[1].rate_hz"]);
}

#[test]
fn resolving_against_a_device_without_the_model_is_an_error() {
    let t = with(WORKLOAD, "model = \"a\"", "model = \"vgg19\"");
    let w = Workload::from_toml_str(&t, WL_FILE, None).unwrap();
    let err = w.resolve(&device(), None, WL_FILE).unwrap_err();
    check(&err, WL_FILE, &["stream[0].model", "vgg19", "tiny"]);
}

#[test]
fn bad_load_on_the_command_line_is_an_error() {
    let w = Workload::from_toml_str(WORKLOAD, WL_FILE, None).unwrap();
    for bad in [0.0, -1.0, 10.5, f64::NAN, f64::INFINITY] {
        let err = w.resolve(&device(), Some(bad), WL_FILE).unwrap_err();
        check(&err, WL_FILE, &["--load"]);
    }
    assert!(w.resolve(&device(), Some(10.0), WL_FILE).is_ok());
}

#[test]
fn missing_workload_file_is_a_one_line_error() {
    let name = "no-such-workload-xyz.toml";
    let msg = Workload::load(name).unwrap_err().to_string();
    assert_one_line(&msg);
    assert!(msg.contains(name), "{msg}");
}

#[test]
fn overflowing_mmpp_rates_are_rejected() {
    let d = device();
    let mmpp = "arrival = \"mmpp\"\nrates_hz = [5.0, 80.0]\ndwell_s = [2.0, 0.5]\n";
    let base = with(WORKLOAD, "arrival = \"poisson\"\nrate_hz = 10.0\n", mmpp);
    for (from, to) in [
        ("rates_hz = [5.0, 80.0]", "rates_hz = [1e308, 80.0]"),
        ("dwell_s = [2.0, 0.5]", "dwell_s = [1e308, 0.5]"),
    ] {
        let t = with(&base, from, to);
        // Either the file is refused, or resolving it gives finite numbers.
        if let Ok(w) = Workload::from_toml_str(&t, WL_FILE, None) {
            match w.resolve(&d, Some(0.5), WL_FILE) {
                Err(e) => check(&e, WL_FILE, &["stream[0]"]),
                Ok(r) => {
                    assert!(r.saturation_rps.is_finite(), "{to}: saturation {}", r.saturation_rps);
                    assert!(r.offered_rps.is_finite(), "{to}: offered {}", r.offered_rps);
                    let ResolvedArrival::Mmpp { rate_per_ms, .. } = r.streams[0].arrival else {
                        panic!()
                    };
                    assert!(rate_per_ms.iter().all(|x| x.is_finite()), "{to}: {rate_per_ms:?}");
                }
            }
        }
    }
    // Two poisson streams of one model whose rates add up past f64::MAX.
    let t = format!("{WORKLOAD}\n[[stream]]\nmodel = \"a\"\narrival = \"poisson\"\nrate_hz = 1.5e308\nslo_ms = 5.0\n")
        .replace("rate_hz = 10.0", "rate_hz = 1.5e308");
    if let Ok(w) = Workload::from_toml_str(&t, WL_FILE, None) {
        if let Ok(r) = w.resolve(&d, Some(0.5), WL_FILE) {
            assert!(r.saturation_rps.is_finite() && r.offered_rps.is_finite(), "{r:?}");
        }
    }
}

// ---------------------------------------------------------------- traces

/// A fresh folder under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("cosched-core-parsing-{}-{tag}", std::process::id()));
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

const TRACE_WORKLOAD: &str = r#"name = "t"
duration_s = 2.0

[[stream]]
arrival = "trace"
file = "arrivals.csv"
slo_ms = 100.0
"#;

fn write_trace_workload(dir: &TempDir, csv: Option<&str>) -> PathBuf {
    let wl = dir.0.join("trace.toml");
    std::fs::write(&wl, TRACE_WORKLOAD).unwrap();
    if let Some(csv) = csv {
        std::fs::write(dir.0.join("arrivals.csv"), csv).unwrap();
    }
    wl
}

#[test]
fn a_valid_trace_is_read_sorted_and_scaled() {
    let dir = TempDir::new("valid");
    let wl = write_trace_workload(&dir, Some("timestamp_ms,model\n# comment\n300,b\n100,a\n\n200.5, a\n"));
    let w = Workload::from_file(&wl).unwrap();
    let Arrival::Trace { file, events } = &w.streams[0].arrival else {
        panic!("{:?}", w.streams[0].arrival)
    };
    assert_eq!(file, &dir.0.join("arrivals.csv"));
    let want = vec![
        (100.0, "a".to_string()),
        (200.5, "a".to_string()),
        (300.0, "b".to_string()),
    ];
    assert_eq!(**events, want);
    assert_eq!(w.streams[0].arrival.mean_rate_hz(2.0), Some(1.5));
    let d = device();
    let r = w.resolve(&d, None, "trace.toml").unwrap();
    let ResolvedArrival::Trace { events, .. } = &r.streams[0].arrival else {
        panic!()
    };
    assert_eq!(
        **events,
        vec![(100.0, ModelId(0)), (200.5, ModelId(0)), (300.0, ModelId(1))]
    );
    assert!((r.offered_rps - 1.5).abs() < 1e-12);
    // At a load, time is compressed so that the offered rate is load x saturation.
    let r = w.resolve(&d, Some(0.5), "trace.toml").unwrap();
    let want = 0.5 * r.saturation_rps;
    assert!((r.offered_rps - want).abs() <= 1e-9 * want);
    let ResolvedArrival::Trace { events, .. } = &r.streams[0].arrival else {
        panic!()
    };
    let scale = want / 1.5;
    assert!((events[0].0 - 100.0 / scale).abs() < 1e-9 * 100.0);
    assert!((events[2].0 - 300.0 / scale).abs() < 1e-9 * 300.0);
}

/// Every arrival `arrival` yields in a run of `duration_ms`, in order.
fn arrivals_of(arrival: &ResolvedArrival, duration_ms: f64) -> Vec<(f64, Option<ModelId>)> {
    let mut s = cosched_core::arrivals::StreamArrivals::new(arrival, 1, 0);
    let mut out: Vec<(f64, Option<ModelId>)> = s.first(duration_ms).into_iter().collect();
    while let Some(next) = out.last().and_then(|&(t, _)| s.next_after(t, duration_ms)) {
        out.push(next);
    }
    out
}

#[test]
fn a_trace_compressed_by_a_load_repeats_to_the_end_of_the_run_at_that_load() {
    let dir = TempDir::new("repeat");
    // Three rows in a 2 s window, and one past it (never arrives, and must not repeat).
    let wl = write_trace_workload(&dir, Some("100,a\n200.5,a\n300,b\n2500,b\n"));
    let w = Workload::from_file(&wl).unwrap();
    let d = device();
    let r = w.resolve(&d, Some(0.5), "trace.toml").unwrap();
    let got = arrivals_of(&r.streams[0].arrival, r.duration_ms);
    // The run offers what it reports, to the end: not one burst and then silence.
    let offered = r.offered_rps * r.duration_ms / 1000.0;
    assert!(
        (got.len() as f64 - offered).abs() <= 3.0,
        "{} arrivals in the run, {offered} offered",
        got.len()
    );
    let last = got.last().unwrap().0;
    assert!(
        last > 0.9 * r.duration_ms,
        "the last arrival at {last} ms of {}",
        r.duration_ms
    );
    assert!(got.windows(2).all(|p| p[0].0 <= p[1].0), "in order");
    // Each repetition is the window's rows, compressed, in their order: a, a, b.
    let models: Vec<u16> = got.iter().map(|(_, m)| m.unwrap().0).collect();
    assert!(models.chunks(3).all(|c| c == &[0, 0, 1][..c.len()]), "{models:?}");
    // A trace faster than the load is stretched, not repeated: its rows past the run's end
    // never arrive.
    let rows = (4.0 * r.saturation_rps * 2.0).ceil() as usize;
    let dense: String = (0..rows)
        .map(|i| format!("{},a\n", i as f64 * 2000.0 / rows as f64))
        .collect();
    let wl = write_trace_workload(&dir, Some(&dense));
    let r = Workload::from_file(&wl)
        .unwrap()
        .resolve(&d, Some(0.5), "trace.toml")
        .unwrap();
    let ResolvedArrival::Trace { repeat_ms, .. } = &r.streams[0].arrival else {
        panic!()
    };
    assert_eq!(*repeat_ms, None);
    let n = arrivals_of(&r.streams[0].arrival, r.duration_ms).len();
    assert!(n < rows / 4 + 2, "{n} of {rows} rows arrived");
}

#[test]
fn a_trace_with_a_bad_row_names_the_trace_and_the_line() {
    let dir = TempDir::new("bad-row");
    let wl = write_trace_workload(&dir, Some("0,a\n5,b\nsoon,a\n"));
    let err = Workload::from_file(&wl).unwrap_err();
    check(
        &err,
        &dir.0.join("arrivals.csv").display().to_string(),
        &["arrivals.csv", "line 3", "soon"],
    );

    let wl = write_trace_workload(&dir, Some("0,a\n-5,b\n"));
    let err = Workload::from_file(&wl).unwrap_err();
    check(&err, &dir.0.join("arrivals.csv").display().to_string(), &["line 2"]);

    // No model column and no stream model.
    let wl = write_trace_workload(&dir, Some("0\n"));
    let err = Workload::from_file(&wl).unwrap_err();
    check(&err, &dir.0.join("arrivals.csv").display().to_string(), &["line 1"]);

    // No rows.
    let wl = write_trace_workload(&dir, Some("timestamp_ms,model\n# nothing\n"));
    let err = Workload::from_file(&wl).unwrap_err();
    check(
        &err,
        &dir.0.join("arrivals.csv").display().to_string(),
        &["arrivals.csv"],
    );
}

#[test]
fn a_trace_naming_a_model_the_device_lacks_fails_to_resolve() {
    let dir = TempDir::new("bad-model");
    let wl = write_trace_workload(&dir, Some("0,a\n5,vgg19\n"));
    let w = Workload::from_file(&wl).unwrap();
    let err = w.resolve(&device(), None, "trace.toml").unwrap_err();
    let msg = err.to_string();
    assert_one_line(&msg);
    assert!(msg.contains("arrivals.csv") && msg.contains("vgg19"), "{msg}");
}

#[test]
fn a_missing_trace_file_is_a_one_line_error() {
    let dir = TempDir::new("missing");
    let wl = write_trace_workload(&dir, None);
    let msg = Workload::from_file(&wl).unwrap_err().to_string();
    assert_one_line(&msg);
    assert!(msg.contains("arrivals.csv"), "{msg}");
    // A trace in a workload given as text has no folder to be relative to.
    let err = Workload::from_toml_str(TRACE_WORKLOAD, WL_FILE, None).unwrap_err();
    check(&err, WL_FILE, &["stream[0].file"]);
}

/// A workload whose trace stream reads `file` (absolute paths replace the workload's folder).
fn trace_workload_reading(dir: &TempDir, file: &str) -> PathBuf {
    let wl = dir.0.join("trace.toml");
    std::fs::write(&wl, TRACE_WORKLOAD.replace("arrivals.csv", file)).unwrap();
    wl
}

#[cfg(unix)]
#[test]
fn a_trace_that_is_a_device_is_refused_instead_of_read_forever() {
    let dir = TempDir::new("device");
    let wl = trace_workload_reading(&dir, "/dev/urandom");
    let err = Workload::from_file(&wl).unwrap_err();
    assert!(
        matches!(
            &err,
            ConfigError::Trace {
                problem: FileProblem::NotRegularFile { .. },
                ..
            }
        ),
        "{err:?}"
    );
    check(&err, "/dev/urandom", &["not a regular file", "character device"]);
}

#[test]
fn a_trace_that_is_a_folder_is_refused() {
    let dir = TempDir::new("folder");
    std::fs::create_dir(dir.0.join("arrivals.csv")).unwrap();
    let wl = write_trace_workload(&dir, None);
    let err = Workload::from_file(&wl).unwrap_err();
    check(
        &err,
        &dir.0.join("arrivals.csv").display().to_string(),
        &["not a regular file", "folder"],
    );
}

#[test]
fn a_trace_larger_than_the_limit_is_refused_unread() {
    let dir = TempDir::new("too-large");
    let wl = write_trace_workload(&dir, Some("0,a\n"));
    // Sparse: the size is what is checked, nothing of it is read.
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(dir.0.join("arrivals.csv"))
        .unwrap();
    f.set_len(MAX_TRACE_BYTES + 1).unwrap();
    let err = Workload::from_file(&wl).unwrap_err();
    assert!(
        matches!(
            &err,
            ConfigError::Trace {
                problem: FileProblem::TooLarge {
                    limit: MAX_TRACE_BYTES,
                    ..
                },
                ..
            }
        ),
        "{err:?}"
    );
    check(
        &err,
        &dir.0.join("arrivals.csv").display().to_string(),
        &[&(MAX_TRACE_BYTES + 1).to_string(), "more than"],
    );
}

#[test]
fn a_header_after_leading_comments_is_allowed() {
    let dir = TempDir::new("header-after-comment");
    let wl = write_trace_workload(&dir, Some("# recorded on the board\ntimestamp_ms,model\n0,a\n5,b\n"));
    let w = Workload::from_file(&wl).unwrap_or_else(|e| panic!("{e}"));
    let Arrival::Trace { events, .. } = &w.streams[0].arrival else {
        panic!()
    };
    assert_eq!(events.len(), 2);
}

#[test]
fn a_stream_model_fills_in_rows_without_one() {
    let dir = TempDir::new("stream-model");
    let wl = dir.0.join("trace.toml");
    std::fs::write(
        &wl,
        TRACE_WORKLOAD.replace("arrival = \"trace\"", "model = \"b\"\narrival = \"trace\""),
    )
    .unwrap();
    std::fs::write(dir.0.join("arrivals.csv"), "10\n20,a\n").unwrap();
    let w = Workload::from_file(&wl).unwrap();
    let Arrival::Trace { events, .. } = &w.streams[0].arrival else {
        panic!()
    };
    assert_eq!(**events, vec![(10.0, "b".to_string()), (20.0, "a".to_string())]);
}

// ---------------------------------------------------------------- load scaling and saturation

/// Two 1-slot processors A and B, and the given models with `(latency on A, latency on B)`,
/// `None` where the model cannot run.
fn two_processor_device(models: &[(Option<f64>, Option<f64>)], slots: (u32, u32)) -> DeviceProfile {
    let mut t = String::from("name = \"two\"\nsource = \"hand-made\"\n");
    for (id, s) in [("A", slots.0), ("B", slots.1)] {
        t += &format!(
            "[[processor]]\nid = \"{id}\"\nkind = \"cpu\"\nep = \"cpu\"\nslots = {s}\nidle_power_w = 0.0\nbusy_power_w = 1.0\n"
        );
    }
    for (i, (a, b)) in models.iter().enumerate() {
        t += &format!("[[model]]\nname = \"m{i}\"\nmemory_mb = 1.0\n[model.latency_ms]\n");
        if let Some(a) = a {
            t += &format!("A = {a:?}\n");
        }
        if let Some(b) = b {
            t += &format!("B = {b:?}\n");
        }
    }
    DeviceProfile::from_toml_str(&t, "two.toml").unwrap()
}

#[track_caller]
fn assert_close(got: f64, want: f64) {
    assert!((got - want).abs() <= 1e-9 * want.abs(), "got {got}, want {want}");
}

#[test]
fn saturation_of_one_model_on_two_processors_adds_their_rates() {
    // 10 ms -> 100/s, 20 ms -> 50/s.
    let d = two_processor_device(&[(Some(10.0), Some(20.0))], (1, 1));
    assert_close(saturation_rps(&d, &[1.0]), 150.0);
    assert_close(saturation_rps(&d, &[42.0]), 150.0);
    // Slots multiply a processor's rate: 2 x 100 + 3 x 50.
    let d = two_processor_device(&[(Some(10.0), Some(20.0))], (2, 3));
    assert_close(saturation_rps(&d, &[1.0]), 350.0);
}

#[test]
fn saturation_with_dedicated_processors_is_limited_by_the_busier_one() {
    // m0 only on A (10 ms), m1 only on B (20 ms).
    let d = two_processor_device(&[(Some(10.0), None), (None, Some(20.0))], (1, 1));
    // Equal mix: B needs lambda/2 x 0.02 s <= 1 -> 100/s (A would allow 200/s).
    assert_close(saturation_rps(&d, &[1.0, 1.0]), 100.0);
    // 3:1 mix: A needs 0.75 lambda x 0.01 <= 1 -> 133.3; B 0.25 lambda x 0.02 <= 1 -> 200.
    assert_close(saturation_rps(&d, &[3.0, 1.0]), 400.0 / 3.0);
    // Only m0 offered: A alone.
    assert_close(saturation_rps(&d, &[1.0, 0.0]), 100.0);
    assert_eq!(saturation_rps(&d, &[0.0, 0.0]), 0.0);
}

#[test]
fn saturation_uses_comparative_advantage() {
    // m0: A 10, B 40; m1: A 10, B 20; equal mix. Best: B runs only m1 (50/s), A runs the rest:
    // lambda/2 + (lambda/2 - 50) = 100 -> lambda = 150. Each on its fastest would give 100.
    let d = two_processor_device(&[(Some(10.0), Some(40.0)), (Some(10.0), Some(20.0))], (1, 1));
    assert_close(saturation_rps(&d, &[1.0, 1.0]), 150.0);
}

#[test]
fn saturation_of_the_base_profile() {
    // a: 10 ms on the 1-slot cpu, 20 ms on the 2-slot gpu (10 ms per slot-equivalent);
    // b: 4 ms on the gpu only (2 ms). Mix 1:3. Work per request: 0.25 x 10 + 0.75 x 2 = 4 ms
    // over 2 processor-equivalents -> 500/s, feasible since b's work (0.75 x 2 x 500 = 750 ms/s)
    // fits on the gpu with room for 250 ms/s of a.
    assert_close(saturation_rps(&device(), &[1.0, 3.0]), 500.0);
}

#[test]
fn load_scales_open_loop_rates_to_a_fraction_of_saturation() {
    let two = format!("{WORKLOAD}\n[[stream]]\nmodel = \"b\"\narrival = \"periodic\"\nrate_hz = 30.0\nslo_ms = 20.0\n");
    let w = Workload::from_toml_str(&two, WL_FILE, None).unwrap();
    let d = device();
    for load in [0.1, 0.3, 0.9, 1.0, 2.5] {
        let r = w.resolve(&d, Some(load), WL_FILE).unwrap();
        assert_close(r.saturation_rps, 500.0);
        assert_close(r.offered_rps, load * r.saturation_rps);
        assert_eq!(r.load, Some(load));
        let ResolvedArrival::Poisson { rate_per_ms } = r.streams[0].arrival else {
            panic!()
        };
        let ResolvedArrival::Periodic { period_ms } = r.streams[1].arrival else {
            panic!()
        };
        let (ra, rb) = (rate_per_ms * 1000.0, 1000.0 / period_ms);
        // The mix is kept (1:3) and the rates add up to the offered rate.
        assert_close(rb / ra, 3.0);
        assert_close(ra + rb, r.offered_rps);
    }
    // The file's own load applies when none is given, and the command line overrides it.
    let with_load = with(&two, "duration_s = 10.0", "duration_s = 10.0\nload = 0.4");
    let w = Workload::from_toml_str(&with_load, WL_FILE, None).unwrap();
    assert_close(w.resolve(&d, None, WL_FILE).unwrap().offered_rps, 200.0);
    assert_close(w.resolve(&d, Some(0.8), WL_FILE).unwrap().offered_rps, 400.0);
}

#[test]
fn load_scales_mmpp_and_leaves_closed_loops_alone() {
    let t = r#"name = "mix"
duration_s = 5.0

[[stream]]
model = "a"
arrival = "mmpp"
rates_hz = [10.0, 90.0]
dwell_s = [3.0, 1.0]
slo_ms = 50.0

[[stream]]
model = "b"
arrival = "closed"
concurrency = 3
slo_ms = 50.0
"#;
    let w = Workload::from_toml_str(t, WL_FILE, None).unwrap();
    let d = device();
    let r = w.resolve(&d, Some(0.5), WL_FILE).unwrap();
    // Only `a` is offered open-loop: saturation is a's 100/s on the cpu plus 100/s on the gpu.
    assert_close(r.saturation_rps, 200.0);
    assert_close(r.offered_rps, 100.0);
    // Mean MMPP rate (10 x 3 + 90 x 1) / 4 = 30/s, scaled by 100/30.
    let ResolvedArrival::Mmpp { rate_per_ms, dwell_ms } = r.streams[0].arrival else {
        panic!()
    };
    assert_close(rate_per_ms[0] * 1000.0, 10.0 * 100.0 / 30.0);
    assert_close(rate_per_ms[1] * 1000.0, 90.0 * 100.0 / 30.0);
    assert_eq!(dwell_ms, [3000.0, 1000.0]);
    assert_eq!(r.streams[1].arrival, ResolvedArrival::Closed { concurrency: 3 });
    // A closed loop alone has no open-loop rate to scale.
    let closed_only = t.split("\n[[stream]]\nmodel = \"a\"").next().unwrap().to_string()
        + "\n[[stream]]\nmodel = \"b\"\narrival = \"closed\"\nconcurrency = 3\nslo_ms = 50.0\n";
    let w = Workload::from_toml_str(&closed_only, WL_FILE, None).unwrap();
    let r = w.resolve(&d, Some(0.5), WL_FILE).unwrap();
    assert_eq!(r.offered_rps, 0.0);
    assert_eq!(r.load, None);
}

#[test]
fn every_builtin_profile_survives_a_round_trip_through_its_toml_writer() {
    for (name, _) in BUILTIN_DEVICES {
        let d = DeviceProfile::builtin(name).unwrap();
        let text = d.to_toml_string();
        let back = DeviceProfile::from_toml_str(&text, "written.toml")
            .unwrap_or_else(|e| panic!("{name}: the written profile does not parse: {e}\n{text}"));
        assert_eq!(back, d, "{name}");
    }
    // A changed latency is written, not the original text.
    let mut d = DeviceProfile::builtin("host-cpu").unwrap();
    d.models[0].on[0].as_mut().unwrap().mean_ms = 123.25;
    let back = DeviceProfile::from_toml_str(&d.to_toml_string(), "x.toml").unwrap();
    assert_eq!(back.models[0].on[0].as_ref().unwrap().mean_ms, 123.25);
}

#[test]
fn profile_fit_reports_the_measured_ratio_once_a_pair_has_enough_samples() {
    use cosched_core::{ProcessorId, ProfileFit};
    let d = DeviceProfile::builtin("host-cpu").unwrap();
    let m = d.model_id("squeezenet").unwrap();
    let p = ProcessorId(1);
    let profile_ms = d.on(m, p).unwrap().mean_ms;
    let mut fit = ProfileFit::new(&d);
    let base = fit.clone();
    let mut reached = 0;
    for i in 0..ProfileFit::MIN_SAMPLES {
        assert!(fit.entries(&d).is_empty() || i == ProfileFit::MIN_SAMPLES);
        // Batches of 2 at twice the profile's speed-adjusted time: normalised by the factor.
        if fit.record(m, p, 2.0 * profile_ms * 2.0, 2.0) {
            reached += 1;
        }
    }
    assert_eq!(reached, 1, "the threshold is announced exactly once");
    let e = fit.entry(&d, m, p).unwrap();
    assert!((e.ratio - 2.0).abs() < 1e-9, "{e:?}");
    assert!(e.mismatched(1.3) && !e.mismatched(2.5));
    assert_eq!(fit.entries(&d).len(), 1);
    assert!(fit.since(&fit).entries(&d).is_empty());
    assert_eq!(fit.since(&base).entries(&d), fit.entries(&d));
    // Garbage samples are ignored, not averaged in.
    assert!(!fit.record(m, p, f64::NAN, 1.0));
    assert_eq!(fit.entry(&d, m, p).unwrap().samples, ProfileFit::MIN_SAMPLES);
}

// ---------------------------------------------------------------- remote processors

/// The base profile with its gpu turned into a remote server with `fields` (TOML lines).
fn remote_profile(fields: &str) -> String {
    with(
        &with(
            DEVICE,
            "kind = \"gpu\"\nep = \"cuda\"",
            "kind = \"remote\"\nep = \"remote\"",
        ),
        "busy_power_w = 20.0\n",
        &format!("busy_power_w = 20.0\n{fields}\n"),
    )
}

#[test]
fn remote_processor_parses_with_defaults_and_round_trips() {
    let text = remote_profile("endpoint = \"http://127.0.0.1:8000/\"\nremote_models = { a = \"a_onnx\" }");
    let d = DeviceProfile::from_toml_str(&text, DEV_FILE).expect("valid remote profile");
    let r = d.processors[1].remote.as_ref().expect("the gpu is remote now");
    assert_eq!(r.endpoint, "http://127.0.0.1:8000");
    assert_eq!(r.authority(), "127.0.0.1:8000");
    assert_eq!(r.server_model("a"), "a_onnx");
    assert_eq!(r.server_model("b"), "b");
    assert_eq!(r.timeout_ms, cosched_core::RemoteSpec::DEFAULT_TIMEOUT_MS);
    assert_eq!(r.protocol, cosched_core::RemoteProtocol::Auto);
    assert!(d.processors[0].remote.is_none());
    let again = DeviceProfile::from_toml_str(&d.to_toml_string(), DEV_FILE).expect("written profile reads back");
    assert_eq!(again, d);
}

#[test]
fn remote_processor_without_endpoint() {
    dev_err(&remote_profile(""), &["processor[1] \"gpu\".endpoint", "missing"]);
}

#[test]
fn remote_processor_with_bad_endpoint_or_settings() {
    dev_err(
        &remote_profile("endpoint = \"https://h:443\""),
        &["endpoint", "https is not supported"],
    );
    dev_err(&remote_profile("endpoint = \"http://h\""), &["endpoint", "no port"]);
    dev_err(
        &remote_profile("endpoint = \"http://h:1\"\ntimeout_ms = 0.0"),
        &["\"gpu\".timeout_ms"],
    );
    dev_err(
        &remote_profile("endpoint = \"http://h:1\"\nprotocol = \"grpc\""),
        &["\"gpu\".protocol", "auto, json, binary"],
    );
}

#[test]
fn remote_settings_on_a_local_processor_or_half_remote_kind() {
    dev_err(
        &with(
            DEVICE,
            "busy_power_w = 20.0\n",
            "busy_power_w = 20.0\nendpoint = \"http://h:1\"\n",
        ),
        &["\"gpu\".endpoint", "not remote"],
    );
    dev_err(
        &with(
            DEVICE,
            "kind = \"gpu\"\nep = \"cuda\"",
            "kind = \"remote\"\nep = \"cuda\"",
        ),
        &["\"gpu\".kind", "kind = \"remote\" and ep = \"remote\""],
    );
}

#[cfg(unix)]
#[test]
fn a_profile_or_workload_that_is_a_device_is_refused_instead_of_read_forever() {
    let err = DeviceProfile::from_file(std::path::Path::new("/dev/zero")).unwrap_err();
    assert!(
        matches!(
            &err,
            ConfigError::File {
                problem: FileProblem::NotRegularFile { .. },
                ..
            }
        ),
        "{err:?}"
    );
    check(&err, "/dev/zero", &["not a regular file", "character device", "TOML"]);
    let err = Workload::from_file(std::path::Path::new("/dev/urandom")).unwrap_err();
    check(&err, "/dev/urandom", &["not a regular file", "character device"]);
}

#[test]
fn a_workload_larger_than_the_limit_is_refused_unread() {
    let dir = TempDir::new("large-workload");
    let path = dir.0.join("w.toml");
    let f = std::fs::File::create(&path).unwrap();
    f.set_len(64 << 20).unwrap();
    let err = Workload::from_file(&path).unwrap_err();
    assert!(
        matches!(
            &err,
            ConfigError::File {
                problem: FileProblem::TooLarge { .. },
                ..
            }
        ),
        "{err:?}"
    );
    check(&err, &path.display().to_string(), &["more than"]);
}

#[test]
fn a_stalling_processor_parses_round_trips_and_names_bad_values() {
    let stalls = |v: &str| {
        with(
            DEVICE,
            "busy_power_w = 20.0\n",
            &format!("busy_power_w = 20.0\nstall = {v}\n"),
        )
    };
    let d = DeviceProfile::from_toml_str(&stalls("{ probability = 0.02, factor = 6.0 }"), DEV_FILE).unwrap();
    let s = d.processors[1].stall.expect("the gpu stalls");
    assert_eq!((s.probability, s.factor), (0.02, 6.0));
    assert!(d.processors[0].stall.is_none());
    let again = DeviceProfile::from_toml_str(&d.to_toml_string(), DEV_FILE).expect("written profile reads back");
    assert_eq!(again, d);
    dev_err(
        &stalls("{ probability = 1.5, factor = 6.0 }"),
        &["processor[1] \"gpu\".stall.probability", "outside [0, 1)"],
    );
    dev_err(
        &stalls("{ probability = 0.1, factor = 0.5 }"),
        &["processor[1] \"gpu\".stall.factor", "below 1"],
    );
    dev_err(&stalls("{ probability = 0.1 }"), &["factor"]);
    dev_err(&stalls("{ probability = 0.1, factor = 2.0, every = 3 }"), &["every"]);
}
