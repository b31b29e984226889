//! Device profiles: the processors of a board and the latency of each model on each of them.
//!
//! The format is the `devices/*.toml` format of docs/design.md. Parsing is strict (unknown keys are
//! errors, so a typo cannot silently fall back to a default) and every error names the file and
//! the field.

use crate::error::{non_negative, positive, ConfigError};
use crate::ids::{ModelId, ProcessorId};
use crate::remote::{RawRemote, RemoteSpec};
use crate::stall::Stall;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};
use std::path::Path;

/// What kind of silicon a processor is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProcessorKind {
    /// A CPU cluster.
    Cpu,
    /// A GPU.
    Gpu,
    /// A neural processing unit (Hexagon, APU, ...).
    Npu,
    /// An NVIDIA deep-learning accelerator core.
    Dla,
    /// A DSP.
    Dsp,
    /// A remote inference server.
    Remote,
}

impl ProcessorKind {
    /// The name used in profiles and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            ProcessorKind::Cpu => "cpu",
            ProcessorKind::Gpu => "gpu",
            ProcessorKind::Npu => "npu",
            ProcessorKind::Dla => "dla",
            ProcessorKind::Dsp => "dsp",
            ProcessorKind::Remote => "remote",
        }
    }
}

/// The ONNX Runtime execution provider that runs a processor's inferences.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ExecutionProviderKind {
    /// The default CPU provider.
    Cpu,
    /// CUDA.
    Cuda,
    /// TensorRT on the GPU.
    Tensorrt,
    /// TensorRT with `trt_dla_enable`.
    TensorrtDla,
    /// Android NNAPI.
    Nnapi,
    /// Qualcomm QNN (Hexagon).
    Qnn,
    /// XNNPACK (ARM/x86 CPU).
    Xnnpack,
    /// Intel OpenVINO.
    Openvino,
    /// A KServe v2 / Triton server.
    Remote,
}

/// One processor of a board.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Processor {
    /// Unique name, e.g. `gpu`, `dla0`, `cpu-big`.
    pub id: String,
    /// Kind of silicon.
    pub kind: ProcessorKind,
    /// Execution provider used for real runs.
    pub ep: ExecutionProviderKind,
    /// Inferences it runs at the same time.
    pub slots: u32,
    /// Largest batch of same-model requests it may run as one inference.
    pub max_batch: u32,
    /// Intra-op threads for a CPU processor in real runs.
    pub threads: Option<u32>,
    /// Power when idle, watts.
    pub idle_power_w: f64,
    /// Power with all slots busy at the highest frequency, watts.
    pub busy_power_w: f64,
    /// DVFS frequencies, ascending; empty when the profile gives none.
    pub dvfs_mhz: Vec<f64>,
    /// Where the numbers of this processor come from.
    pub source: String,
    /// The server, for a remote processor (kind and ep `remote`); `None` for the others.
    pub remote: Option<RemoteSpec>,
    /// Occasional long inferences (modelled; the simulator draws them); `None`: no stalls.
    pub stall: Option<Stall>,
}

impl Processor {
    /// Relative frequency (0, 1] of a DVFS level; 1.0 when the processor has no DVFS table.
    /// Levels past the table are clamped to the highest frequency.
    pub fn freq_scale(&self, level: usize) -> f64 {
        match self.dvfs_mhz.last() {
            Some(&max) => self.dvfs_mhz[level.min(self.dvfs_mhz.len() - 1)] / max,
            None => 1.0,
        }
    }

    /// Modelled power draw in watts with `active` slots busy at relative frequency `freq_scale`.
    ///
    /// Idle power is always drawn; the busy increment is shared evenly between slots and scales
    /// with `freq_scale^2` (dynamic power ~ f·V², with voltage only partly following frequency).
    pub fn power_w(&self, active: u32, freq_scale: f64) -> f64 {
        let dynamic = (self.busy_power_w - self.idle_power_w) * freq_scale * freq_scale;
        self.idle_power_w + dynamic * f64::from(active) / f64::from(self.slots)
    }

    /// Energy in joules attributed to one inference of `latency_ms` on one slot: the slot's share
    /// of idle power plus its busy increment.
    pub fn energy_per_inference_j(&self, latency_ms: f64, freq_scale: f64) -> f64 {
        self.power_w(self.slots, freq_scale) / f64::from(self.slots) * latency_ms / 1000.0
    }
}

/// How a model behaves on one processor.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelOnProcessor {
    /// Mean batch-1 latency at the highest frequency, ms.
    pub mean_ms: f64,
    /// Coefficient of variation of the latency (0 = deterministic).
    pub cv: f64,
    /// Batch scaling: `latency(b) = mean_ms * (alpha + (1 - alpha) * b)`.
    pub batch_alpha: f64,
    /// Where the number comes from.
    pub source: String,
}

impl ModelOnProcessor {
    /// Latency multiplier of a batch of `b` relative to batch 1.
    #[inline]
    pub fn batch_factor(&self, b: u32) -> f64 {
        self.batch_alpha + (1.0 - self.batch_alpha) * f64::from(b.max(1))
    }
}

/// A model and where it can run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelProfile {
    /// Name, e.g. `resnet50`.
    pub name: String,
    /// Memory it needs, MB.
    pub memory_mb: f64,
    /// Indexed by [`ProcessorId`]; `None` where the processor cannot run the model.
    pub on: Vec<Option<ModelOnProcessor>>,
}

/// Shared-DRAM contention between processors.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Interference {
    /// Extra latency fraction for each other busy processor, for as long as it is busy: the
    /// simulator slows a running inference's progress to 1 / [`Interference::slowdown`] of its
    /// isolated speed and re-rates it whenever another processor becomes busy or idle.
    pub slowdown_per_busy: f64,
    /// Cap on the slowdown factor.
    pub max_slowdown: f64,
    /// Where the numbers come from.
    pub source: String,
}

impl Default for Interference {
    fn default() -> Self {
        Interference {
            slowdown_per_busy: 0.0,
            max_slowdown: 1.0,
            source: String::new(),
        }
    }
}

impl Interference {
    /// Slowdown factor (>= 1) of an inference while `other_busy` other processors are busy.
    #[inline]
    pub fn slowdown(&self, other_busy: u32) -> f64 {
        (1.0 + self.slowdown_per_busy * f64::from(other_busy)).min(self.max_slowdown.max(1.0))
    }
}

/// A validated device profile.
///
/// ```
/// let text = r#"
/// name = "tiny"
/// source = "example"
/// [[processor]]
/// id = "cpu"
/// kind = "cpu"
/// ep = "cpu"
/// slots = 1
/// idle_power_w = 1.0
/// busy_power_w = 5.0
/// source = "example"
/// [[model]]
/// name = "m"
/// memory_mb = 10.0
/// [model.latency_ms]
/// cpu = 4.0
/// [model.source]
/// cpu = "example"
/// "#;
/// let device = cosched_core::DeviceProfile::from_toml_str(text, "tiny.toml").unwrap();
/// assert_eq!(device.processors.len(), 1);
/// assert_eq!(device.best_latency_ms(device.model_id("m").unwrap()), 4.0);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeviceProfile {
    /// Name of the board profile.
    pub name: String,
    /// Human description.
    pub description: String,
    /// Where the numbers come from, overall.
    pub source: String,
    /// The processors, indexed by [`ProcessorId`].
    pub processors: Vec<Processor>,
    /// The models, indexed by [`ModelId`].
    pub models: Vec<ModelProfile>,
    /// DRAM contention model.
    pub interference: Interference,
}

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct RawDevice {
    name: String,
    #[serde(default)]
    description: String,
    source: String,
    #[serde(default)]
    processor: Vec<RawProcessor>,
    #[serde(default)]
    model: Vec<RawModel>,
    #[serde(skip_serializing_if = "Option::is_none")]
    interference: Option<RawInterference>,
}

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct RawProcessor {
    id: String,
    kind: String,
    ep: String,
    slots: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_batch: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    threads: Option<i64>,
    idle_power_w: f64,
    busy_power_w: f64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    dvfs_mhz: Vec<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    stall: Option<Stall>,
    #[serde(default)]
    source: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    endpoint: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    remote_models: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    timeout_ms: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    connect_timeout_ms: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    probe_interval_ms: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    protocol: Option<String>,
}

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct RawModel {
    name: String,
    memory_mb: f64,
    latency_ms: BTreeMap<String, f64>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    latency_cv: BTreeMap<String, f64>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    batch_alpha: BTreeMap<String, f64>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    source: BTreeMap<String, String>,
}

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct RawInterference {
    slowdown_per_busy: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_slowdown: Option<f64>,
    #[serde(default)]
    source: String,
}

fn parse_enum<T: for<'de> Deserialize<'de>>(
    file: &str,
    field: &str,
    value: &str,
    allowed: &str,
) -> Result<T, ConfigError> {
    T::deserialize(serde::de::value::StrDeserializer::<serde::de::value::Error>::new(value)).map_err(|_| {
        ConfigError::invalid(
            file,
            field,
            format!("unknown value \"{value}\" (expected one of: {allowed})"),
        )
    })
}

fn count(file: &str, field: &str, v: i64) -> Result<u32, ConfigError> {
    if (1..=4096).contains(&v) {
        Ok(v as u32)
    } else {
        Err(ConfigError::invalid(
            file,
            field,
            format!("must be an integer from 1 to 4096, got {v}"),
        ))
    }
}

/// Device profiles shipped with cosched: `(name, TOML text)`, the files of `devices/`.
pub const BUILTIN_DEVICES: &[(&str, &str)] = &[
    ("jetson-agx-orin", include_str!("../../../devices/jetson-agx-orin.toml")),
    (
        "jetson-orin-nano",
        include_str!("../../../devices/jetson-orin-nano.toml"),
    ),
    (
        "jetson-xavier-nx",
        include_str!("../../../devices/jetson-xavier-nx.toml"),
    ),
    (
        "android-flagship",
        include_str!("../../../devices/android-flagship.toml"),
    ),
    ("host-cpu", include_str!("../../../devices/host-cpu.toml")),
];

impl DeviceProfile {
    /// A profile shipped with cosched, by name.
    pub fn builtin(name: &str) -> Option<DeviceProfile> {
        BUILTIN_DEVICES.iter().find(|(n, _)| *n == name).map(|(n, text)| {
            DeviceProfile::from_toml_str(text, &format!("devices/{n}.toml")).expect("shipped profiles are valid")
        })
    }

    /// Names of the shipped profiles.
    pub fn builtin_names() -> impl Iterator<Item = &'static str> {
        BUILTIN_DEVICES.iter().map(|(n, _)| *n)
    }

    /// A path to a profile, else `devices/NAME.toml` under the current folder, else a shipped
    /// profile of that name.
    pub fn load(name_or_path: &str) -> Result<DeviceProfile, ConfigError> {
        let path = Path::new(name_or_path);
        if path.exists() {
            return DeviceProfile::from_file(path);
        }
        let local = Path::new("devices").join(format!("{name_or_path}.toml"));
        if local.exists() {
            return DeviceProfile::from_file(&local);
        }
        DeviceProfile::builtin(name_or_path).ok_or_else(|| {
            let names: Vec<_> = DeviceProfile::builtin_names().collect();
            ConfigError::invalid(
                name_or_path,
                "device",
                format!(
                    "no such file and no device profile of that name (shipped: {})",
                    names.join(", ")
                ),
            )
        })
    }

    /// Read and validate a profile file.
    pub fn from_file(path: &Path) -> Result<DeviceProfile, ConfigError> {
        let text = crate::text_file::read_text(path, crate::text_file::MAX_CONFIG_BYTES)
            .map_err(|e| e.into_config_error(path, false))?;
        Self::from_toml_str(&text, &path.display().to_string())
    }

    /// Parse and validate a profile; `file` is the name used in errors.
    pub fn from_toml_str(text: &str, file: &str) -> Result<DeviceProfile, ConfigError> {
        let raw: RawDevice = toml::from_str(text).map_err(|e| ConfigError::from_toml(file, text, e))?;
        if raw.name.trim().is_empty() {
            return Err(ConfigError::invalid(file, "name", "must not be empty"));
        }
        if raw.processor.is_empty() {
            return Err(ConfigError::invalid(
                file,
                "processor",
                "a profile needs at least one [[processor]]",
            ));
        }
        if raw.processor.len() > 64 {
            return Err(ConfigError::invalid(
                file,
                "processor",
                "at most 64 processors are supported",
            ));
        }
        if raw.model.is_empty() {
            return Err(ConfigError::invalid(
                file,
                "model",
                "a profile needs at least one [[model]]",
            ));
        }
        if raw.model.len() > 1024 {
            return Err(ConfigError::invalid(file, "model", "at most 1024 models are supported"));
        }
        let mut processors = Vec::with_capacity(raw.processor.len());
        let mut ids = HashSet::new();
        for (i, p) in raw.processor.into_iter().enumerate() {
            let f = |name: &str| format!("processor[{i}] \"{}\".{name}", p.id);
            if p.id.trim().is_empty() {
                return Err(ConfigError::invalid(
                    file,
                    format!("processor[{i}].id"),
                    "must not be empty",
                ));
            }
            if !ids.insert(p.id.clone()) {
                return Err(ConfigError::invalid(file, f("id"), "duplicate processor id"));
            }
            let kind = parse_enum(file, &f("kind"), &p.kind, "cpu, gpu, npu, dla, dsp, remote")?;
            let ep = parse_enum(
                file,
                &f("ep"),
                &p.ep,
                "cpu, cuda, tensorrt, tensorrt-dla, nnapi, qnn, xnnpack, openvino, remote",
            )?;
            let slots = count(file, &f("slots"), p.slots)?;
            let max_batch = count(file, &f("max_batch"), p.max_batch.unwrap_or(1))?;
            let threads = p.threads.map(|t| count(file, &f("threads"), t)).transpose()?;
            let idle = non_negative(file, &f("idle_power_w"), p.idle_power_w)?;
            let busy = non_negative(file, &f("busy_power_w"), p.busy_power_w)?;
            if busy < idle {
                return Err(ConfigError::invalid(
                    file,
                    f("busy_power_w"),
                    format!("busy power {busy} W is below idle power {idle} W"),
                ));
            }
            for (k, w) in p.dvfs_mhz.windows(2).enumerate() {
                if w[1] <= w[0] {
                    return Err(ConfigError::invalid(
                        file,
                        f("dvfs_mhz"),
                        format!("must be strictly ascending (entry {})", k + 1),
                    ));
                }
            }
            for &mhz in &p.dvfs_mhz {
                positive(file, &f("dvfs_mhz"), mhz)?;
            }
            let is_remote = kind == ProcessorKind::Remote || ep == ExecutionProviderKind::Remote;
            if is_remote && (kind != ProcessorKind::Remote || ep != ExecutionProviderKind::Remote) {
                return Err(ConfigError::invalid(
                    file,
                    f("kind"),
                    "a remote processor has kind = \"remote\" and ep = \"remote\" (one without the other is a typo)",
                ));
            }
            let remote = RawRemote {
                endpoint: p.endpoint,
                remote_models: p.remote_models,
                timeout_ms: p.timeout_ms,
                connect_timeout_ms: p.connect_timeout_ms,
                probe_interval_ms: p.probe_interval_ms,
                protocol: p.protocol,
            }
            .validate(file, is_remote, f)?;
            let stall = p.stall.map(|s| s.validate(file, &f("stall"))).transpose()?;
            processors.push(Processor {
                id: p.id,
                kind,
                ep,
                slots,
                max_batch,
                threads,
                idle_power_w: idle,
                busy_power_w: busy,
                dvfs_mhz: p.dvfs_mhz,
                source: p.source,
                remote,
                stall,
            });
        }
        let proc_index = |name: &str| processors.iter().position(|p| p.id == name);
        let mut models = Vec::with_capacity(raw.model.len());
        let mut names = HashSet::new();
        for (i, m) in raw.model.into_iter().enumerate() {
            let f = |name: &str| format!("model[{i}] \"{}\".{name}", m.name);
            if m.name.trim().is_empty() {
                return Err(ConfigError::invalid(
                    file,
                    format!("model[{i}].name"),
                    "must not be empty",
                ));
            }
            if !names.insert(m.name.clone()) {
                return Err(ConfigError::invalid(file, f("name"), "duplicate model name"));
            }
            let memory_mb = non_negative(file, &f("memory_mb"), m.memory_mb)?;
            let mut on: Vec<Option<ModelOnProcessor>> = vec![None; processors.len()];
            for (pid, &lat) in &m.latency_ms {
                let field = f(&format!("latency_ms.{pid}"));
                let idx =
                    proc_index(pid).ok_or_else(|| ConfigError::invalid(file, &field, "no processor with this id"))?;
                let mean_ms = positive(file, &field, lat)?;
                on[idx] = Some(ModelOnProcessor {
                    mean_ms,
                    cv: 0.0,
                    batch_alpha: 0.0,
                    source: m.source.get(pid).cloned().unwrap_or_default(),
                });
            }
            if on.iter().all(Option::is_none) {
                return Err(ConfigError::invalid(
                    file,
                    f("latency_ms"),
                    "no processor can run this model",
                ));
            }
            for (table, values) in [("latency_cv", &m.latency_cv), ("batch_alpha", &m.batch_alpha)] {
                for (pid, &v) in values {
                    let field = f(&format!("{table}.{pid}"));
                    let idx = proc_index(pid)
                        .ok_or_else(|| ConfigError::invalid(file, &field, "no processor with this id"))?;
                    let entry = on[idx].as_mut().ok_or_else(|| {
                        ConfigError::invalid(file, &field, "the model has no latency_ms on this processor")
                    })?;
                    let v = non_negative(file, &field, v)?;
                    if table == "latency_cv" {
                        if v > 10.0 {
                            return Err(ConfigError::invalid(
                                file,
                                &field,
                                format!("coefficient of variation {v} is implausible (> 10)"),
                            ));
                        }
                        entry.cv = v;
                    } else {
                        if v > 1.0 {
                            return Err(ConfigError::invalid(
                                file,
                                &field,
                                format!("must be in [0, 1], got {v}"),
                            ));
                        }
                        entry.batch_alpha = v;
                    }
                }
            }
            for pid in m.source.keys() {
                if !m.latency_ms.contains_key(pid) {
                    return Err(ConfigError::invalid(
                        file,
                        f(&format!("source.{pid}")),
                        "no latency_ms entry for this processor",
                    ));
                }
            }
            models.push(ModelProfile {
                name: m.name,
                memory_mb,
                on,
            });
        }
        for (i, p) in processors.iter().enumerate() {
            if models.iter().all(|m| m.on[i].is_none()) {
                return Err(ConfigError::invalid(
                    file,
                    format!("processor[{i}] \"{}\"", p.id),
                    "runs none of the models",
                ));
            }
        }
        let interference = match raw.interference {
            None => Interference::default(),
            Some(r) => {
                let slowdown_per_busy = non_negative(file, "interference.slowdown_per_busy", r.slowdown_per_busy)?;
                let max_slowdown = match r.max_slowdown {
                    Some(v) => {
                        let v = positive(file, "interference.max_slowdown", v)?;
                        if v < 1.0 {
                            return Err(ConfigError::invalid(
                                file,
                                "interference.max_slowdown",
                                format!("must be >= 1, got {v}"),
                            ));
                        }
                        v
                    }
                    None => f64::INFINITY,
                };
                Interference {
                    slowdown_per_busy,
                    max_slowdown,
                    source: r.source,
                }
            }
        };
        Ok(DeviceProfile {
            name: raw.name,
            description: raw.description,
            source: raw.source,
            processors,
            models,
            interference,
        })
    }

    /// The profile in the `devices/*.toml` format: [`DeviceProfile::from_toml_str`] reads it back
    /// to an equal profile. Used to write calibrated copies of a profile.
    pub fn to_toml_string(&self) -> String {
        fn name_of<T: Serialize>(v: T) -> String {
            match toml::Value::try_from(v) {
                Ok(toml::Value::String(s)) => s,
                _ => unreachable!("unit enum variants serialize as strings"),
            }
        }
        let processor = self
            .processors
            .iter()
            .map(|p| (p, RawRemote::from_spec(p.remote.as_ref())))
            .map(|(p, remote)| RawProcessor {
                id: p.id.clone(),
                kind: p.kind.as_str().to_string(),
                ep: name_of(p.ep),
                slots: i64::from(p.slots),
                max_batch: Some(i64::from(p.max_batch)),
                threads: p.threads.map(i64::from),
                idle_power_w: p.idle_power_w,
                busy_power_w: p.busy_power_w,
                dvfs_mhz: p.dvfs_mhz.clone(),
                stall: p.stall,
                source: p.source.clone(),
                endpoint: remote.endpoint,
                remote_models: remote.remote_models,
                timeout_ms: remote.timeout_ms,
                connect_timeout_ms: remote.connect_timeout_ms,
                probe_interval_ms: remote.probe_interval_ms,
                protocol: remote.protocol,
            })
            .collect();
        let model = self
            .models
            .iter()
            .map(|m| {
                let mut raw = RawModel {
                    name: m.name.clone(),
                    memory_mb: m.memory_mb,
                    latency_ms: BTreeMap::new(),
                    latency_cv: BTreeMap::new(),
                    batch_alpha: BTreeMap::new(),
                    source: BTreeMap::new(),
                };
                for (p, on) in self.processors.iter().zip(&m.on) {
                    let Some(on) = on else { continue };
                    raw.latency_ms.insert(p.id.clone(), on.mean_ms);
                    raw.latency_cv.insert(p.id.clone(), on.cv);
                    raw.batch_alpha.insert(p.id.clone(), on.batch_alpha);
                    if !on.source.is_empty() {
                        raw.source.insert(p.id.clone(), on.source.clone());
                    }
                }
                raw
            })
            .collect();
        let i = &self.interference;
        let interference = (*i != Interference::default()).then(|| RawInterference {
            slowdown_per_busy: i.slowdown_per_busy,
            max_slowdown: i.max_slowdown.is_finite().then_some(i.max_slowdown),
            source: i.source.clone(),
        });
        let raw = RawDevice {
            name: self.name.clone(),
            description: self.description.clone(),
            source: self.source.clone(),
            processor,
            model,
            interference,
        };
        toml::to_string(&raw).expect("a profile of strings, numbers and tables serializes")
    }

    /// Id of the processor named `name`.
    pub fn processor_id(&self, name: &str) -> Option<ProcessorId> {
        self.processors
            .iter()
            .position(|p| p.id == name)
            .map(|i| ProcessorId(i as u16))
    }

    /// Id of the model named `name`.
    pub fn model_id(&self, name: &str) -> Option<ModelId> {
        self.models
            .iter()
            .position(|m| m.name == name)
            .map(|i| ModelId(i as u16))
    }

    /// The processor with this id.
    #[inline]
    pub fn processor(&self, p: ProcessorId) -> &Processor {
        &self.processors[p.index()]
    }

    /// How `model` behaves on `processor`, or `None` if it cannot run there.
    #[inline]
    pub fn on(&self, model: ModelId, processor: ProcessorId) -> Option<&ModelOnProcessor> {
        self.models[model.index()].on[processor.index()].as_ref()
    }

    /// Lowest profiled batch-1 latency of a model over all processors, ms.
    pub fn best_latency_ms(&self, model: ModelId) -> f64 {
        self.models[model.index()]
            .on
            .iter()
            .flatten()
            .map(|o| o.mean_ms)
            .fold(f64::INFINITY, f64::min)
    }

    /// The processor with the lowest profiled latency for `model` (first on ties).
    pub fn fastest_processor(&self, model: ModelId) -> ProcessorId {
        let mut best = (f64::INFINITY, ProcessorId(0));
        for (i, o) in self.models[model.index()].on.iter().enumerate() {
            if let Some(o) = o {
                if o.mean_ms < best.0 {
                    best = (o.mean_ms, ProcessorId(i as u16));
                }
            }
        }
        best.1
    }

    /// Reference energy of one inference of `model`: that of the most energy-efficient processor
    /// for it alone, at the highest frequency (joules). The denominator of the objective's energy term.
    pub fn reference_energy_j(&self, model: ModelId) -> f64 {
        self.models[model.index()]
            .on
            .iter()
            .zip(&self.processors)
            .filter_map(|(o, p)| o.as_ref().map(|o| p.energy_per_inference_j(o.mean_ms, 1.0)))
            .fold(f64::INFINITY, f64::min)
    }

    /// A stable hash of the processor set (ids, kinds, slots), so that a policy trained for one
    /// set of processors is refused on another.
    pub fn processor_set_hash(&self) -> u64 {
        // FNV-1a: stable across platforms and Rust versions, unlike `DefaultHasher`.
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for p in &self.processors {
            for b in
                p.id.bytes()
                    .chain([0])
                    .chain(p.kind.as_str().bytes())
                    .chain(p.slots.to_le_bytes())
            {
                h ^= u64::from(b);
                h = h.wrapping_mul(0x0100_0000_01b3);
            }
        }
        h
    }
}
