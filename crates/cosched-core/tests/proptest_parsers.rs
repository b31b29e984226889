//! The parsers never panic, whatever they are fed, and their errors are always one line.

use cosched_core::{DeviceProfile, Workload, BUILTIN_DEVICES};
use proptest::prelude::*;

/// A small valid profile using every optional field.
const DEVICE: &str = r#"name = "tiny"
description = "for fuzzing"
source = "tests"

[[processor]]
id = "cpu"
kind = "cpu"
ep = "xnnpack"
slots = 2
max_batch = 4
threads = 2
idle_power_w = 1.0
busy_power_w = 5.0
dvfs_mhz = [500.0, 1000.0, 1500.0]
source = "s"

[[processor]]
id = "gpu"
kind = "gpu"
ep = "cuda"
slots = 1
idle_power_w = 2.0
busy_power_w = 20.0

[[model]]
name = "a"
memory_mb = 10.0
[model.latency_ms]
cpu = 10.0
gpu = 2.5
[model.latency_cv]
cpu = 0.1
gpu = 0.05
[model.batch_alpha]
gpu = 0.5
[model.source]
cpu = "measured"

[[model]]
name = "b"
memory_mb = 12.0
latency_ms = { gpu = 4.0, cpu = 30.0 }

[interference]
slowdown_per_busy = 0.1
max_slowdown = 1.5
source = "guess"
"#;

/// A valid workload using every arrival kind but traces.
const WORKLOAD: &str = r#"name = "w"
description = "for fuzzing"
duration_s = 10.0
load = 0.5

[[stream]]
name = "s0"
model = "a"
arrival = "poisson"
rate_hz = 10.0
slo_ms = 50.0

[[stream]]
model = "b"
arrival = "periodic"
rate_hz = 30.0
slo_factor = 4.0

[[stream]]
model = "a"
arrival = "mmpp"
rates_hz = [5.0, 80.0]
dwell_s = [2.0, 0.5]
slo_factor = 3.0

[[stream]]
model = "b"
arrival = "closed"
concurrency = 2
slo_ms = 100.0
"#;

/// Replacement numbers, the nasty ones first.
const NASTY: &[&str] = &[
    "nan",
    "+nan",
    "-nan",
    "inf",
    "+inf",
    "-inf",
    "-0",
    "-0.0",
    "0",
    "0.0",
    "1e308",
    "-1e308",
    "1.7976931348623157e308",
    "1e-308",
    "5e-324",
    "4096",
    "4097",
    "100000",
    "100001",
    "-1",
    "9223372036854775807",
    "-9223372036854775808",
    "1e6",
    "1000001.0",
    "10.0",
    "10.000001",
    "1",
    "2",
    "3",
];

#[derive(Debug, Clone)]
enum Mutation {
    /// Remove up to `len` bytes from a position.
    Delete(u64, usize),
    /// Repeat a line right after itself.
    DuplicateLine(u64),
    /// Replace one number of the text.
    ReplaceNumber(u64, String),
    /// Insert a string somewhere.
    Insert(u64, String),
}

fn number() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => proptest::sample::select(NASTY).prop_map(str::to_string),
        1 => any::<f64>().prop_map(|x| format!("{x:?}")),
        1 => any::<i64>().prop_map(|x| x.to_string()),
        1 => (-1e4f64..1e4).prop_map(|x| format!("{x:e}")),
    ]
}

/// A mutation; with `escapes`, inserted text may hold TOML escapes that put a newline into a
/// string value.
fn mutation(escapes: bool) -> impl Strategy<Value = Mutation> {
    let escape = if escapes { "\\n" } else { "n" };
    prop_oneof![
        1 => (any::<u64>(), 0usize..40).prop_map(|(i, n)| Mutation::Delete(i, n)),
        1 => any::<u64>().prop_map(Mutation::DuplicateLine),
        3 => (any::<u64>(), number()).prop_map(|(i, s)| Mutation::ReplaceNumber(i, s)),
        1 => (
            any::<u64>(),
            prop_oneof![
                Just("\n".to_string()),
                Just("[[processor]]\n".to_string()),
                Just("[[model]]\n".to_string()),
                Just("[[stream]]\n".to_string()),
                Just("\"".to_string()),
                Just("=".to_string()),
                Just("[".to_string()),
                Just(escape.to_string()),
                ".{0,8}",
            ]
        )
            .prop_map(|(i, s)| Mutation::Insert(i, s)),
    ]
}

/// Position `at` scaled into `0..size` (`size > 0`).
fn idx(at: u64, size: usize) -> usize {
    ((size as u128 * at as u128) >> 64) as usize
}

/// The largest char boundary of `s` at or below `i`.
fn floor_boundary(s: &str, i: usize) -> usize {
    let mut i = i.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// Byte ranges of the numbers of `s` (runs of digits with signs, dots and exponents).
fn numbers(s: &str) -> Vec<(usize, usize)> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_digit() {
            let mut start = i;
            if start > 0 && (b[start - 1] == b'-' || b[start - 1] == b'+') {
                start -= 1;
            }
            let mut end = i;
            while end < b.len() && (b[end].is_ascii_digit() || b"._eE+-".contains(&b[end])) {
                end += 1;
            }
            out.push((start, end));
            i = end;
        } else {
            i += 1;
        }
    }
    out
}

fn apply(text: &str, mutations: &[Mutation]) -> String {
    let mut s = text.to_string();
    for m in mutations {
        match m {
            Mutation::Delete(at, len) => {
                if s.is_empty() {
                    continue;
                }
                let start = floor_boundary(&s, idx(*at, s.len()));
                let end = floor_boundary(&s, start + len);
                s.replace_range(start..end, "");
            }
            Mutation::DuplicateLine(at) => {
                let lines: Vec<&str> = s.split_inclusive('\n').collect();
                if lines.is_empty() {
                    continue;
                }
                let k = idx(*at, lines.len());
                let mut out = String::with_capacity(s.len() + lines[k].len() + 1);
                for (i, l) in lines.iter().enumerate() {
                    out.push_str(l);
                    if i == k {
                        if !l.ends_with('\n') {
                            out.push('\n');
                        }
                        out.push_str(l);
                    }
                }
                s = out;
            }
            Mutation::ReplaceNumber(at, with) => {
                let nums = numbers(&s);
                if nums.is_empty() {
                    continue;
                }
                let (start, end) = nums[idx(*at, nums.len())];
                s.replace_range(start..end, with);
            }
            Mutation::Insert(at, what) => {
                let i = floor_boundary(&s, idx(*at, s.len() + 1));
                s.insert_str(i, what);
            }
        }
    }
    s
}

#[track_caller]
fn assert_one_line(msg: &str) {
    assert!(
        !msg.contains('\n') && !msg.contains('\r'),
        "error is not one line: {msg:?}"
    );
    assert!(!msg.trim().is_empty(), "empty error");
}

fn base_device() -> DeviceProfile {
    DeviceProfile::from_toml_str(DEVICE, "tiny.toml").unwrap()
}

/// Parse a profile text; if it is valid, also resolve the base workload on it.
fn check_device_text(text: &str, load: Option<f64>) {
    match DeviceProfile::from_toml_str(text, "fuzz.toml") {
        Err(e) => {
            let msg = e.to_string();
            assert_one_line(&msg);
            assert!(msg.starts_with("fuzz.toml: "), "{msg}");
        }
        Ok(d) => {
            assert!(!d.processors.is_empty() && !d.models.is_empty());
            let w = Workload::from_toml_str(WORKLOAD, "w.toml", None).unwrap();
            check_resolve(&w, &d, load);
        }
    }
}

/// Parse a workload text; if it is valid, resolve it on the base device and a shipped one.
fn check_workload_text(text: &str, load: Option<f64>) {
    match Workload::from_toml_str(text, "fuzz.toml", None) {
        Err(e) => {
            let msg = e.to_string();
            assert_one_line(&msg);
            assert!(msg.starts_with("fuzz.toml: "), "{msg}");
        }
        Ok(w) => {
            check_resolve(&w, &base_device(), load);
            let shipped = DeviceProfile::builtin(BUILTIN_DEVICES[0].0).unwrap();
            check_resolve(&w, &shipped, load);
        }
    }
}

fn check_resolve(w: &Workload, d: &DeviceProfile, load: Option<f64>) {
    match w.resolve(d, load, "fuzz.toml") {
        Err(e) => assert_one_line(&e.to_string()),
        Ok(r) => {
            assert_eq!(r.streams.len(), w.streams.len());
            // With a finite total offered rate the linear program must give a number (rates so
            // large that their mean overflows are a known gap: see parsing.rs
            // `overflowing_mmpp_rates_are_rejected`).
            let offered: f64 = w
                .streams
                .iter()
                .filter_map(|s| s.arrival.mean_rate_hz(w.duration_s))
                .sum();
            if offered.is_finite() {
                assert!(!r.saturation_rps.is_nan(), "saturation NaN for {w:?} on {d:?}");
                assert!(r.saturation_rps >= 0.0);
            }
            if let Some(l) = r.load {
                let want = l * r.saturation_rps;
                // (Away from under- and overflow of the scale factor `want / offered`.)
                if want.is_finite() && want > 1e-200 && offered < 1e200 {
                    assert!(
                        (r.offered_rps - want).abs() <= 1e-9 * want,
                        "offered {} != {l} x {}",
                        r.offered_rps,
                        r.saturation_rps
                    );
                }
            }
        }
    }
}

fn load() -> impl Strategy<Value = Option<f64>> {
    prop_oneof![
        Just(None),
        (0.01f64..3.0).prop_map(Some),
        proptest::sample::select(vec![0.0, -1.0, 10.0, 10.5, f64::NAN, f64::INFINITY, 1e-300]).prop_map(Some),
    ]
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 512,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512), load in load()) {
        let text = String::from_utf8_lossy(&bytes);
        check_device_text(&text, load);
        check_workload_text(&text, load);
    }

    #[test]
    fn arbitrary_toml_like_text_never_panics(
        text in "([a-z_]{1,12} = ([0-9.e+-]{1,8}|\"[a-z\\\\]{0,6}\"|\\[[0-9., ]{0,12}\\]|\\{[a-z =0-9.,]{0,16}\\}|nan|inf|true)\n|\\[\\[(processor|model|stream)\\]\\]\n|\\[(model\\.latency_ms|model\\.latency_cv|interference)\\]\n){0,30}",
        load in load(),
    ) {
        check_device_text(&text, load);
        check_workload_text(&text, load);
    }

    #[test]
    fn mutated_profiles_never_panic(muts in proptest::collection::vec(mutation(false), 1..4), load in load()) {
        let text = apply(DEVICE, &muts);
        check_device_text(&text, load);
    }

    #[test]
    fn mutated_shipped_profiles_never_panic(
        which in any::<u64>(),
        muts in proptest::collection::vec(mutation(false), 1..4),
        load in load(),
    ) {
        let (_, base) = BUILTIN_DEVICES[idx(which, BUILTIN_DEVICES.len())];
        let text = apply(base, &muts);
        match DeviceProfile::from_toml_str(&text, "fuzz.toml") {
            Err(e) => assert_one_line(&e.to_string()),
            Ok(d) => {
                for name in Workload::builtin_names() {
                    check_resolve(&Workload::builtin(name).unwrap(), &d, load);
                }
            }
        }
    }

    #[test]
    fn mutated_workloads_never_panic(muts in proptest::collection::vec(mutation(false), 1..4), load in load()) {
        let text = apply(WORKLOAD, &muts);
        check_workload_text(&text, load);
    }

    /// Only numbers change: the structure stays valid, so resolving (and its linear program)
    /// sees extreme rates, latencies and slot counts.
    #[test]
    fn extreme_numbers_never_panic(
        dev_muts in proptest::collection::vec((any::<u64>(), number()), 0..6),
        wl_muts in proptest::collection::vec((any::<u64>(), number()), 0..6),
        load in load(),
    ) {
        let to_muts = |v: Vec<(u64, String)>| -> Vec<Mutation> {
            v.into_iter().map(|(i, s)| Mutation::ReplaceNumber(i, s)).collect()
        };
        let dtext = apply(DEVICE, &to_muts(dev_muts));
        let wtext = apply(WORKLOAD, &to_muts(wl_muts));
        let d = DeviceProfile::from_toml_str(&dtext, "fuzz.toml");
        let w = Workload::from_toml_str(&wtext, "fuzz.toml", None);
        for e in [d.as_ref().err(), w.as_ref().err()].into_iter().flatten() {
            assert_one_line(&e.to_string());
        }
        if let (Ok(d), Ok(w)) = (d, w) {
            check_resolve(&w, &d, load);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 20_000, ..config() })]

    /// The same as `mutated_profiles_never_panic`, and inserted text may hold a `\n` escape.
    #[test]
    fn mutated_profiles_with_escapes_give_one_line_errors(muts in proptest::collection::vec(mutation(true), 1..4)) {
        check_device_text(&apply(DEVICE, &muts), None);
    }

    /// The same for workloads.
    #[test]
    fn mutated_workloads_with_escapes_give_one_line_errors(muts in proptest::collection::vec(mutation(true), 1..4)) {
        check_workload_text(&apply(WORKLOAD, &muts), None);
    }
}

/// A trace row: mostly plausible, sometimes junk; with `raw`, junk may hold control characters
/// such as a lone carriage return.
fn trace_line(raw: bool) -> impl Strategy<Value = String> {
    let junk = if raw {
        "\\PC{0,20}|[\\r\\x00-\\x1f]{1,4}"
    } else {
        "[ -~]{0,20}"
    };
    prop_oneof![
        4 => (number(), proptest::sample::select(vec!["a", "b", "", " a ", "vgg19"]))
            .prop_map(|(t, m)| if m.is_empty() { t } else { format!("{t},{m}") }),
        1 => Just("timestamp_ms,model".to_string()),
        1 => Just("# comment".to_string()),
        1 => Just(String::new()),
        1 => "[ -~]{0,20}",
        1 => junk,
    ]
}

/// A fresh folder for one test, removed on drop.
struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    /// Trace files of any printable content never panic reading or resolving.
    #[test]
    fn arbitrary_traces_never_panic(
        lines in proptest::collection::vec(trace_line(false), 0..12),
        stream_model in proptest::option::of(proptest::sample::select(vec!["a", "b", "zz"])),
        load in load(),
    ) {
        check_trace(&lines, stream_model, load);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 5_000, failure_persistence: None, ..ProptestConfig::default() })]

    /// The same with control characters in the rows.
    #[test]
    fn arbitrary_raw_traces_give_one_line_errors(
        lines in proptest::collection::vec(trace_line(true), 0..12),
        stream_model in proptest::option::of(proptest::sample::select(vec!["a", "b", "zz"])),
    ) {
        check_trace(&lines, stream_model, None);
    }
}

/// Write a trace workload with these rows to a fresh folder; read and resolve it.
fn check_trace(lines: &[String], stream_model: Option<&str>, load: Option<f64>) {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let dir = TempDir(std::env::temp_dir().join(format!(
        "cosched-core-fuzz-trace-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )));
    std::fs::create_dir_all(&dir.0).unwrap();
    let model_line = stream_model.map(|m| format!("model = \"{m}\"\n")).unwrap_or_default();
    let wl = format!(
        "name = \"t\"\nduration_s = 2.0\n[[stream]]\n{model_line}arrival = \"trace\"\nfile = \"trace.csv\"\nslo_ms = 10.0\n"
    );
    let wl_path = dir.0.join("w.toml");
    std::fs::write(&wl_path, wl).unwrap();
    std::fs::write(dir.0.join("trace.csv"), lines.join("\n")).unwrap();
    match Workload::from_file(&wl_path) {
        Err(e) => assert_one_line(&e.to_string()),
        Ok(w) => check_resolve(&w, &base_device(), load),
    }
}

#[test]
fn the_mutation_helpers_do_what_they_say() {
    assert_eq!(numbers("a = 1.5\nb = [-2, 3e-4]"), vec![(4, 7), (13, 15), (17, 21)]);
    let m = [Mutation::ReplaceNumber(0, "nan".into())];
    // Index 0 of any length is the first element.
    assert_eq!(apply("x = 12\n", &m), "x = nan\n");
    let d = [Mutation::DuplicateLine(0)];
    assert_eq!(apply("a\nb\n", &d), "a\na\nb\n");
    // The bases are valid, so mutations start from a real profile and workload.
    base_device();
    Workload::from_toml_str(WORKLOAD, "w.toml", None).unwrap();
}

#[test]
fn deeply_nested_input_is_an_error_not_a_crash() {
    for depth in [100, 10_000] {
        let text = format!("name = {}{}", "[".repeat(depth), "]".repeat(depth));
        let e = DeviceProfile::from_toml_str(&text, "deep.toml").unwrap_err();
        assert_one_line(&e.to_string());
        let text = format!("x = {}1{}", "{a = ".repeat(depth), "}".repeat(depth));
        let e = Workload::from_toml_str(&text, "deep.toml", None).unwrap_err();
        assert_one_line(&e.to_string());
    }
}
