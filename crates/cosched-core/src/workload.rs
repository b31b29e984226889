//! Workloads: streams of inference requests, from the TOML format of docs/design.md or built in.

use crate::device::DeviceProfile;
use crate::error::{positive, positive_below, ConfigError};
use crate::ids::ModelId;
use crate::text_file::{read_text, MAX_CONFIG_BYTES};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Built-in workloads: `(name, TOML text)`. The same files live in `workloads/` at the top of
/// the repository, so every built-in is also an example of the file format.
pub const BUILTIN_WORKLOADS: &[(&str, &str)] = &[
    ("single-stream", include_str!("../../../workloads/single-stream.toml")),
    ("multi-stream", include_str!("../../../workloads/multi-stream.toml")),
    ("server", include_str!("../../../workloads/server.toml")),
    ("offline", include_str!("../../../workloads/offline.toml")),
    (
        "camera-pipeline",
        include_str!("../../../workloads/camera-pipeline.toml"),
    ),
    (
        "bursty-multitenant",
        include_str!("../../../workloads/bursty-multitenant.toml"),
    ),
    ("mixed-slo", include_str!("../../../workloads/mixed-slo.toml")),
];

/// A request deadline, absolute or relative to the model's fastest profiled latency on the device.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Slo {
    /// A fixed deadline in ms after arrival.
    Ms(f64),
    /// `factor` times the model's lowest profiled latency on the device, so that one workload
    /// means the same on a fast board and a slow one.
    Factor(f64),
}

/// How a stream's requests arrive.
#[derive(Debug, Clone, PartialEq)]
pub enum Arrival {
    /// Poisson arrivals at `rate_hz`.
    Poisson {
        /// Mean arrivals per second.
        rate_hz: f64,
    },
    /// One arrival every `1 / rate_hz` seconds (random phase).
    Periodic {
        /// Arrivals per second.
        rate_hz: f64,
    },
    /// Two-state Markov-modulated Poisson process: bursty arrivals.
    Mmpp {
        /// Poisson rate in each state.
        rates_hz: [f64; 2],
        /// Mean (exponential) time spent in each state.
        dwell_s: [f64; 2],
    },
    /// Closed loop: `concurrency` requests always outstanding (MLPerf Offline-style).
    Closed {
        /// Requests outstanding at any time.
        concurrency: u32,
    },
    /// Replay of a CSV file of `timestamp_ms,model` rows.
    Trace {
        /// The file, resolved against the workload file's folder.
        file: PathBuf,
        /// The rows, sorted by time.
        events: Arc<Vec<(f64, String)>>,
    },
}

impl Arrival {
    /// Long-run mean arrival rate in Hz of an open-loop arrival process; `None` for closed loops.
    pub fn mean_rate_hz(&self, duration_s: f64) -> Option<f64> {
        match self {
            Arrival::Poisson { rate_hz } | Arrival::Periodic { rate_hz } => Some(*rate_hz),
            Arrival::Mmpp { rates_hz, dwell_s } => {
                Some((rates_hz[0] * dwell_s[0] + rates_hz[1] * dwell_s[1]) / (dwell_s[0] + dwell_s[1]))
            }
            Arrival::Closed { .. } => None,
            // Rows past the window never arrive (a trace longer than `--duration`).
            Arrival::Trace { events, .. } => {
                Some(events.partition_point(|(t, _)| *t < duration_s * 1000.0) as f64 / duration_s)
            }
        }
    }
}

/// One stream of requests.
#[derive(Debug, Clone, PartialEq)]
pub struct Stream {
    /// Name for reports (defaults to the model name).
    pub name: String,
    /// Model of every request; for a trace stream, each row names its model.
    pub model: Option<String>,
    /// Arrival process.
    pub arrival: Arrival,
    /// Deadline of each request.
    pub slo: Slo,
}

/// A parsed workload, not yet checked against a device.
///
/// ```
/// let w = cosched_core::Workload::builtin("camera-pipeline").unwrap();
/// assert!(w.streams.len() >= 3);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Workload {
    /// Name.
    pub name: String,
    /// Human description.
    pub description: String,
    /// Length of the arrival window, seconds.
    pub duration_s: f64,
    /// If set, open-loop rates are relative and get scaled to this fraction of the device's
    /// saturation throughput (overridden by `--load`).
    pub load: Option<f64>,
    /// The streams.
    pub streams: Vec<Stream>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWorkload {
    name: String,
    #[serde(default)]
    description: String,
    duration_s: f64,
    load: Option<f64>,
    #[serde(default)]
    stream: Vec<RawStream>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStream {
    name: Option<String>,
    model: Option<String>,
    arrival: String,
    rate_hz: Option<f64>,
    rates_hz: Option<Vec<f64>>,
    dwell_s: Option<Vec<f64>>,
    concurrency: Option<i64>,
    file: Option<String>,
    slo_ms: Option<f64>,
    slo_factor: Option<f64>,
}

/// Upper bound on rates (Hz) and dwell times (s): far beyond any board, and small enough that
/// sums over 1024 streams stay finite.
const MAX_RATE_HZ: f64 = 1e9;

/// Check a load fraction given on the command line or in a file.
pub fn check_load(file: &str, field: &str, load: f64) -> Result<f64, ConfigError> {
    if load.is_finite() && load > 0.0 && load <= 10.0 {
        Ok(load)
    } else {
        Err(ConfigError::invalid(
            file,
            field,
            format!("load must be in (0, 10], got {load}"),
        ))
    }
}

impl Workload {
    /// A built-in workload by name.
    pub fn builtin(name: &str) -> Option<Workload> {
        BUILTIN_WORKLOADS.iter().find(|(n, _)| *n == name).map(|(n, text)| {
            Workload::from_toml_str(text, &format!("built-in workload {n}"), None)
                .expect("built-in workloads are valid")
        })
    }

    /// Names of the built-in workloads.
    pub fn builtin_names() -> impl Iterator<Item = &'static str> {
        BUILTIN_WORKLOADS.iter().map(|(n, _)| *n)
    }

    /// A built-in name or a path to a workload file.
    pub fn load(name_or_path: &str) -> Result<Workload, ConfigError> {
        if let Some(w) = Workload::builtin(name_or_path) {
            return Ok(w);
        }
        let path = Path::new(name_or_path);
        if !path.exists() {
            let names: Vec<_> = Workload::builtin_names().collect();
            return Err(ConfigError::invalid(
                name_or_path,
                "workload",
                format!(
                    "no such file and no built-in workload of that name (built-ins: {})",
                    names.join(", ")
                ),
            ));
        }
        Workload::from_file(path)
    }

    /// Read a workload file; trace files are resolved against its folder.
    pub fn from_file(path: &Path) -> Result<Workload, ConfigError> {
        let text = read_text(path, MAX_CONFIG_BYTES).map_err(|e| e.into_config_error(path, false))?;
        Workload::from_toml_str(&text, &path.display().to_string(), path.parent())
    }

    /// Parse and validate a workload; `file` is the name used in errors and `dir` the folder
    /// trace files are relative to (`None`: trace streams are refused).
    pub fn from_toml_str(text: &str, file: &str, dir: Option<&Path>) -> Result<Workload, ConfigError> {
        let raw: RawWorkload = toml::from_str(text).map_err(|e| ConfigError::from_toml(file, text, e))?;
        if raw.name.trim().is_empty() {
            return Err(ConfigError::invalid(file, "name", "must not be empty"));
        }
        let duration_s = positive(file, "duration_s", raw.duration_s)?;
        if duration_s > 1e6 {
            return Err(ConfigError::invalid(
                file,
                "duration_s",
                format!("{duration_s} s is more than 1e6 s"),
            ));
        }
        let load = raw.load.map(|l| check_load(file, "load", l)).transpose()?;
        if raw.stream.is_empty() {
            return Err(ConfigError::invalid(
                file,
                "stream",
                "a workload needs at least one [[stream]]",
            ));
        }
        if raw.stream.len() > 1024 {
            return Err(ConfigError::invalid(
                file,
                "stream",
                "at most 1024 streams are supported",
            ));
        }
        let mut streams = Vec::with_capacity(raw.stream.len());
        for (i, s) in raw.stream.into_iter().enumerate() {
            let f = |name: &str| format!("stream[{i}].{name}");
            let unused = |name: &str, present: bool| -> Result<(), ConfigError> {
                if present {
                    Err(ConfigError::invalid(
                        file,
                        f(name),
                        format!("is not used by \"{}\" arrivals", s.arrival),
                    ))
                } else {
                    Ok(())
                }
            };
            let rate = |v: Option<f64>| -> Result<f64, ConfigError> {
                let v = v.ok_or_else(|| {
                    ConfigError::invalid(
                        file,
                        f("rate_hz"),
                        format!("is required for \"{}\" arrivals", s.arrival),
                    )
                })?;
                positive_below(file, &f("rate_hz"), v, MAX_RATE_HZ)
            };
            let arrival = match s.arrival.as_str() {
                "poisson" | "periodic" => {
                    unused("rates_hz", s.rates_hz.is_some())?;
                    unused("dwell_s", s.dwell_s.is_some())?;
                    unused("concurrency", s.concurrency.is_some())?;
                    unused("file", s.file.is_some())?;
                    let rate_hz = rate(s.rate_hz)?;
                    if s.arrival == "poisson" {
                        Arrival::Poisson { rate_hz }
                    } else {
                        Arrival::Periodic { rate_hz }
                    }
                }
                "mmpp" => {
                    unused("rate_hz", s.rate_hz.is_some())?;
                    unused("concurrency", s.concurrency.is_some())?;
                    unused("file", s.file.is_some())?;
                    let pair = |name: &str, v: &Option<Vec<f64>>| -> Result<[f64; 2], ConfigError> {
                        match v.as_deref() {
                            Some([a, b]) => Ok([
                                positive_below(file, &f(name), *a, MAX_RATE_HZ)?,
                                positive_below(file, &f(name), *b, MAX_RATE_HZ)?,
                            ]),
                            Some(other) => Err(ConfigError::invalid(
                                file,
                                f(name),
                                format!("needs exactly 2 values, got {}", other.len()),
                            )),
                            None => Err(ConfigError::invalid(file, f(name), "is required for \"mmpp\" arrivals")),
                        }
                    };
                    Arrival::Mmpp {
                        rates_hz: pair("rates_hz", &s.rates_hz)?,
                        dwell_s: pair("dwell_s", &s.dwell_s)?,
                    }
                }
                "closed" => {
                    unused("rate_hz", s.rate_hz.is_some())?;
                    unused("rates_hz", s.rates_hz.is_some())?;
                    unused("dwell_s", s.dwell_s.is_some())?;
                    unused("file", s.file.is_some())?;
                    let c = s.concurrency.ok_or_else(|| {
                        ConfigError::invalid(file, f("concurrency"), "is required for \"closed\" arrivals")
                    })?;
                    if !(1..=100_000).contains(&c) {
                        return Err(ConfigError::invalid(
                            file,
                            f("concurrency"),
                            format!("must be from 1 to 100000, got {c}"),
                        ));
                    }
                    Arrival::Closed { concurrency: c as u32 }
                }
                "trace" => {
                    unused("rate_hz", s.rate_hz.is_some())?;
                    unused("rates_hz", s.rates_hz.is_some())?;
                    unused("dwell_s", s.dwell_s.is_some())?;
                    unused("concurrency", s.concurrency.is_some())?;
                    let name = s
                        .file
                        .as_ref()
                        .ok_or_else(|| ConfigError::invalid(file, f("file"), "is required for \"trace\" arrivals"))?;
                    let dir = dir.ok_or_else(|| {
                        ConfigError::invalid(file, f("file"), "trace files need a workload read from a file")
                    })?;
                    let path = dir.join(name);
                    let events = read_trace(&path, s.model.as_deref())?;
                    Arrival::Trace {
                        file: path,
                        events: Arc::new(events),
                    }
                }
                other => {
                    return Err(ConfigError::invalid(
                        file,
                        f("arrival"),
                        format!(
                            "unknown arrival \"{other}\" (expected one of: poisson, periodic, mmpp, closed, trace)"
                        ),
                    ))
                }
            };
            if s.model.is_none() && !matches!(arrival, Arrival::Trace { .. }) {
                return Err(ConfigError::invalid(file, f("model"), "is required"));
            }
            let slo = match (s.slo_ms, s.slo_factor) {
                (Some(ms), None) => Slo::Ms(positive(file, &f("slo_ms"), ms)?),
                (None, Some(x)) => Slo::Factor(positive(file, &f("slo_factor"), x)?),
                (Some(_), Some(_)) => {
                    return Err(ConfigError::invalid(
                        file,
                        f("slo_ms"),
                        "give slo_ms or slo_factor, not both",
                    ))
                }
                (None, None) => {
                    return Err(ConfigError::invalid(
                        file,
                        f("slo_ms"),
                        "a deadline is required (slo_ms or slo_factor)",
                    ))
                }
            };
            let name = s
                .name
                .or_else(|| s.model.clone())
                .unwrap_or_else(|| format!("stream{i}"));
            streams.push(Stream {
                name,
                model: s.model,
                arrival,
                slo,
            });
        }
        Ok(Workload {
            name: raw.name,
            description: raw.description,
            duration_s,
            load,
            streams,
        })
    }
}

/// Largest trace file read (256 MiB): far more arrivals than a run replays, and a bound on what
/// a mistyped path can make `sim` read into memory.
pub const MAX_TRACE_BYTES: u64 = 256 << 20;

/// Read a `timestamp_ms,model` CSV trace (a header line and `#` comments are allowed; with a
/// stream-level `model`, rows may hold the timestamp alone).
fn read_trace(path: &Path, model: Option<&str>) -> Result<Vec<(f64, String)>, ConfigError> {
    let file = path.display().to_string();
    let text = read_text(path, MAX_TRACE_BYTES).map_err(|e| e.into_config_error(path, true))?;
    let mut events = Vec::new();
    let mut header_seen = false;
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut cols = line.split(',').map(str::trim);
        let ts = cols.next().unwrap_or("");
        let Ok(t) = ts.parse::<f64>() else {
            if events.is_empty() && !header_seen {
                header_seen = true;
                continue; // a header line, possibly after comments
            }
            return Err(ConfigError::invalid(
                &file,
                format!("line {}", i + 1),
                format!("timestamp \"{ts}\" is not a number"),
            ));
        };
        if !t.is_finite() || t < 0.0 {
            return Err(ConfigError::invalid(
                &file,
                format!("line {}", i + 1),
                format!("timestamp {t} must be >= 0"),
            ));
        }
        let m = match (cols.next().filter(|s| !s.is_empty()), model) {
            (Some(m), _) => m.to_string(),
            (None, Some(m)) => m.to_string(),
            (None, None) => {
                return Err(ConfigError::invalid(
                    &file,
                    format!("line {}", i + 1),
                    "no model column and the stream names no model",
                ))
            }
        };
        events.push((t, m));
    }
    if events.is_empty() {
        return Err(ConfigError::invalid(&file, "rows", "the trace has no arrivals"));
    }
    events.sort_by(|a, b| a.0.total_cmp(&b.0));
    Ok(events)
}

/// Arrival process of a [`ResolvedStream`], in milliseconds and model ids.
#[derive(Debug, Clone, PartialEq)]
pub enum ResolvedArrival {
    /// Poisson with this many arrivals per ms.
    Poisson {
        /// Arrivals per ms.
        rate_per_ms: f64,
    },
    /// Periodic.
    Periodic {
        /// Time between arrivals, ms.
        period_ms: f64,
    },
    /// Two-state MMPP.
    Mmpp {
        /// Arrivals per ms in each state.
        rate_per_ms: [f64; 2],
        /// Mean dwell time of each state, ms.
        dwell_ms: [f64; 2],
    },
    /// Closed loop.
    Closed {
        /// Requests outstanding.
        concurrency: u32,
    },
    /// Trace replay, time-scaled by the load factor.
    Trace {
        /// `(arrival ms, model)`, sorted.
        events: Arc<Vec<(f64, ModelId)>>,
        /// The events repeat every this many ms: a trace compressed by a load above its own
        /// rate covers only part of the run, and is repeated so that the run offers the load it
        /// reports rather than one burst and then silence. `None`: played once.
        repeat_ms: Option<f64>,
    },
}

/// One stream checked against a device.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedStream {
    /// Name for reports.
    pub name: String,
    /// Model of every request (trace streams carry a model per event).
    pub model: Option<ModelId>,
    /// Arrival process.
    pub arrival: ResolvedArrival,
    /// Deadline rule.
    pub slo: Slo,
}

/// A workload checked against a device, with rates scaled to the requested load.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedWorkload {
    /// Workload name.
    pub name: String,
    /// Arrival window, ms.
    pub duration_ms: f64,
    /// The load fraction rates were scaled to, if any.
    pub load: Option<f64>,
    /// Saturation throughput of the device for this workload's open-loop mix, requests/s.
    pub saturation_rps: f64,
    /// Offered open-loop rate after scaling, requests/s.
    pub offered_rps: f64,
    /// Streams.
    pub streams: Vec<ResolvedStream>,
    /// Lowest profiled latency per model (for `Slo::Factor`).
    best_latency_ms: Vec<f64>,
}

impl ResolvedWorkload {
    /// Deadline in ms after arrival for a request of `model` on stream `stream`.
    #[inline]
    pub fn slo_ms(&self, stream: usize, model: ModelId) -> f64 {
        match self.streams[stream].slo {
            Slo::Ms(ms) => ms,
            Slo::Factor(x) => x * self.best_latency_ms[model.index()],
        }
    }

    /// The largest deadline of any stream, ms.
    pub fn max_slo_ms(&self) -> f64 {
        let max_best = self.best_latency_ms.iter().cloned().fold(0.0, f64::max);
        self.streams
            .iter()
            .map(|s| match s.slo {
                Slo::Ms(ms) => ms,
                Slo::Factor(x) => x * max_best,
            })
            .fold(0.0, f64::max)
    }
}

impl Workload {
    /// Check the workload against a device and scale rates to `load` (or the file's own `load`).
    ///
    /// `file` names the workload in errors.
    pub fn resolve(
        &self,
        device: &DeviceProfile,
        load: Option<f64>,
        file: &str,
    ) -> Result<ResolvedWorkload, ConfigError> {
        let model = |field: String, name: &str| {
            device.model_id(name).ok_or_else(|| {
                ConfigError::invalid(
                    file,
                    field,
                    format!("model \"{name}\" is not in device profile \"{}\"", device.name),
                )
            })
        };
        let mut streams = Vec::with_capacity(self.streams.len());
        for (i, s) in self.streams.iter().enumerate() {
            let m = s
                .model
                .as_deref()
                .map(|n| model(format!("stream[{i}].model"), n))
                .transpose()?;
            let arrival = match &s.arrival {
                Arrival::Poisson { rate_hz } => ResolvedArrival::Poisson {
                    rate_per_ms: rate_hz / 1000.0,
                },
                Arrival::Periodic { rate_hz } => ResolvedArrival::Periodic {
                    period_ms: 1000.0 / rate_hz,
                },
                Arrival::Mmpp { rates_hz, dwell_s } => ResolvedArrival::Mmpp {
                    rate_per_ms: [rates_hz[0] / 1000.0, rates_hz[1] / 1000.0],
                    dwell_ms: [dwell_s[0] * 1000.0, dwell_s[1] * 1000.0],
                },
                Arrival::Closed { concurrency } => ResolvedArrival::Closed {
                    concurrency: *concurrency,
                },
                Arrival::Trace { file: tf, events } => {
                    let mut out = Vec::with_capacity(events.len());
                    for (t, name) in events.iter() {
                        let id = device.model_id(name).ok_or_else(|| {
                            ConfigError::invalid(
                                &tf.display().to_string(),
                                "model",
                                format!("model \"{name}\" is not in device profile \"{}\"", device.name),
                            )
                        })?;
                        out.push((*t, id));
                    }
                    ResolvedArrival::Trace {
                        events: Arc::new(out),
                        repeat_ms: None,
                    }
                }
            };
            streams.push(ResolvedStream {
                name: s.name.clone(),
                model: m,
                arrival,
                slo: s.slo,
            });
        }
        // The offered mix of the open-loop streams decides the saturation throughput.
        let mut per_model = vec![0.0; device.models.len()];
        for (s, r) in self.streams.iter().zip(&streams) {
            let Some(rate) = s.arrival.mean_rate_hz(self.duration_s) else {
                continue;
            };
            match &r.arrival {
                ResolvedArrival::Trace { events, .. } => {
                    for (_, m) in events.iter().take_while(|(t, _)| *t < self.duration_s * 1000.0) {
                        per_model[m.index()] += 1.0 / self.duration_s;
                    }
                }
                _ => per_model[r.model.expect("non-trace streams have a model").index()] += rate,
            }
        }
        let offered: f64 = per_model.iter().sum();
        let saturation_rps = if offered > 0.0 {
            saturation_rps(device, &per_model)
        } else {
            0.0
        };
        let load = match load {
            Some(l) => Some(check_load(file, "--load", l)?),
            None => self.load,
        };
        let scale = match load {
            Some(l) if offered > 0.0 => l * saturation_rps / offered,
            _ => 1.0,
        };
        if scale != 1.0 {
            for r in &mut streams {
                match &mut r.arrival {
                    ResolvedArrival::Poisson { rate_per_ms } => *rate_per_ms *= scale,
                    ResolvedArrival::Periodic { period_ms } => *period_ms /= scale,
                    ResolvedArrival::Mmpp { rate_per_ms, .. } => {
                        rate_per_ms[0] *= scale;
                        rate_per_ms[1] *= scale;
                    }
                    ResolvedArrival::Closed { .. } => {}
                    ResolvedArrival::Trace { events, repeat_ms } => {
                        // Compressed, the window's rows end before the run does: they repeat,
                        // one window (compressed) apart, so that the load holds to the end.
                        let window_ms = self.duration_s * 1000.0;
                        let compressed = scale > 1.0;
                        *events = Arc::new(
                            events
                                .iter()
                                .take_while(|(t, _)| !compressed || *t < window_ms)
                                .map(|&(t, m)| (t / scale, m))
                                .collect(),
                        );
                        *repeat_ms = compressed.then_some(window_ms / scale);
                    }
                }
            }
        }
        let best_latency_ms = (0..device.models.len())
            .map(|m| device.best_latency_ms(ModelId(m as u16)))
            .collect();
        Ok(ResolvedWorkload {
            name: self.name.clone(),
            duration_ms: self.duration_s * 1000.0,
            load: if offered > 0.0 { load } else { None },
            saturation_rps,
            offered_rps: offered * scale,
            streams,
            best_latency_ms,
        })
    }
}

/// Saturation throughput (requests/s) of `device` for a mix of models given as relative rates
/// per model (indexed by [`ModelId`]).
///
/// This is the fluid bound at batch 1 and full frequency: the largest rate `λ` for which the
/// mix's work can be split over processors (each model only where it runs) with no processor's
/// slots more than 100 % busy, found by a linear program. Real schedulers saturate below it
/// without batching (variance, imperfect placement); processors with `max_batch > 1` can go
/// past it once queues form batches, at the cost of queueing latency. The full-batch bound was
/// tried and rejected: batches only form behind a queue, so at "80 % of the full-batch bound"
/// every policy was already deep in overload.
pub fn saturation_rps(device: &DeviceProfile, mix: &[f64]) -> f64 {
    use microlp::{ComparisonOp, OptimizationDirection, Problem};
    let total: f64 = mix.iter().sum();
    if total <= 0.0 {
        return 0.0;
    }
    let mut lp = Problem::new(OptimizationDirection::Maximize);
    let lambda = lp.add_var(1.0, (0.0, f64::INFINITY));
    let mut load_terms: Vec<Vec<(microlp::Variable, f64)>> = vec![Vec::new(); device.processors.len()];
    for (m, &w) in mix.iter().enumerate() {
        if w <= 0.0 {
            continue;
        }
        // x[m][p]: requests/s of model m sent to p; they must add up to the model's share of λ.
        let mut split = vec![(lambda, -w / total)];
        for (p, proc_) in device.processors.iter().enumerate() {
            if let Some(o) = &device.models[m].on[p] {
                let x = lp.add_var(0.0, (0.0, f64::INFINITY));
                split.push((x, 1.0));
                load_terms[p].push((x, o.mean_ms / 1000.0 / f64::from(proc_.slots)));
            }
        }
        lp.add_constraint(&split, ComparisonOp::Eq, 0.0);
    }
    for terms in load_terms.iter().filter(|t| !t.is_empty()) {
        lp.add_constraint(terms, ComparisonOp::Le, 1.0);
    }
    match lp.solve().ok().and_then(|o| o.into_solution().ok()) {
        Some(sol) => sol.objective(),
        // Unreachable for a validated profile (the LP is always feasible and bounded); fall back
        // to the sum of per-processor rates of the mix on its fastest processor.
        None => {
            let per_req_s: f64 = mix
                .iter()
                .enumerate()
                .filter(|(_, &w)| w > 0.0)
                .map(|(m, &w)| w / total * device.best_latency_ms(ModelId(m as u16)) / 1000.0)
                .sum();
            1.0 / per_req_s
        }
    }
}
