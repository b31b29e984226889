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

/// A backend for executor tests: every model has one input `x` of shape `[-1, width]` and one
/// output `y`; `open` makes the sessions (or fails, as a provider would).
pub struct TestBackend<F> {
    pub width: i64,
    pub open: F,
}

impl<F> cosched_ort::backend::Backend for TestBackend<F>
where
    F: Fn(&cosched_core::Processor) -> Result<Box<dyn cosched_ort::backend::BackendSession>, cosched_ort::BackendError>
        + Send
        + Sync,
{
    fn provider(&self, _processor: &cosched_core::Processor) -> Result<String, cosched_ort::ProviderError> {
        Ok("TestProvider".into())
    }

    fn locate(&self, models_dir: &std::path::Path, model: &str) -> Result<PathBuf, cosched_ort::BackendError> {
        Ok(models_dir.join(model))
    }

    fn probe(
        &self,
        _processor: &cosched_core::Processor,
        name: &str,
        path: &std::path::Path,
    ) -> Result<cosched_ort::ModelInfo, cosched_ort::BackendError> {
        Ok(cosched_ort::ModelInfo::new(
            name,
            path,
            vec![("x".into(), vec![-1, self.width])],
            vec!["y".into()],
        ))
    }

    fn open(
        &self,
        processor: &cosched_core::Processor,
        _model: &cosched_ort::ModelInfo,
    ) -> Result<Box<dyn cosched_ort::backend::BackendSession>, cosched_ort::BackendError> {
        (self.open)(processor)
    }
}
