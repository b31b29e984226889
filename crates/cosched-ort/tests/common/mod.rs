//! Shared by the integration tests: where the test models are, and small device profiles.
#![allow(dead_code)]

use cosched_core::DeviceProfile;
use std::path::PathBuf;

/// `models/` at the repository root (written by scripts/make-test-models.py), or `COSCHED_MODELS`.
pub fn models_dir() -> PathBuf {
    let dir = std::env::var_os("COSCHED_MODELS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models"));
    assert!(
        dir.join("tiny.onnx").is_file(),
        "test models missing in {}: run `pip install onnx==1.23.2 && python3 scripts/make-test-models.py`",
        dir.display()
    );
    dir
}

/// A profile with `procs` as `(id, ep, slots)` CPU processors that run `models` as `(name, latency_ms)`.
pub fn device(procs: &[(&str, &str, u32)], models: &[(&str, f64)]) -> DeviceProfile {
    let mut t = String::from("name = \"test\"\nsource = \"test\"\n");
    for (id, ep, slots) in procs {
        t += &format!(
            "[[processor]]\nid = \"{id}\"\nkind = \"cpu\"\nep = \"{ep}\"\nslots = {slots}\nthreads = 1\nidle_power_w = 0.5\nbusy_power_w = 8.0\n"
        );
    }
    for (name, ms) in models {
        t += &format!("[[model]]\nname = \"{name}\"\nmemory_mb = 10.0\n[model.latency_ms]\n");
        for (id, _, _) in procs {
            t += &format!("{id} = {ms}\n");
        }
    }
    DeviceProfile::from_toml_str(&t, "test.toml").expect("valid test profile")
}

pub fn two_cpus(models: &[(&str, f64)]) -> DeviceProfile {
    device(&[("cpu-a", "cpu", 1), ("cpu-b", "cpu", 1)], models)
}
