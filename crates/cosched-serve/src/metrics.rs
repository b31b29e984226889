//! Prometheus metrics (`GET /metrics`): counted per request, and read from the executor per scrape.

use cosched_ort::Executor;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ModelLabels {
    model: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    model: String,
    code: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProcessorLabels {
    processor: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EnergyLabels {
    processor: String,
    source: String,
}

type Histograms = Family<ModelLabels, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    // 0.1 ms .. ~3.3 s.
    Histogram::new(exponential_buckets(0.0001, 2.0, 16))
}

/// The server's metrics.
pub(crate) struct Metrics {
    registry: Mutex<Registry>,
    latency: Histograms,
    requests: Family<RequestLabels, Counter>,
    slo_violations: Family<ModelLabels, Counter>,
    rejected: Family<ReasonLabels, Counter>,
    queue_length: Family<ProcessorLabels, Gauge>,
    running: Family<ProcessorLabels, Gauge>,
    energy: Family<EnergyLabels, Gauge<f64, AtomicU64>>,
    policy_switches: Counter,
    switches_seen: AtomicU64,
    in_flight: Gauge,
    outstanding: Gauge,
}

impl Metrics {
    pub(crate) fn new() -> Metrics {
        let m = Metrics {
            registry: Mutex::new(Registry::default()),
            latency: Histograms::new_with_constructor(latency_histogram),
            requests: Family::default(),
            slo_violations: Family::default(),
            rejected: Family::default(),
            queue_length: Family::default(),
            running: Family::default(),
            energy: Family::default(),
            policy_switches: Counter::default(),
            switches_seen: AtomicU64::new(0),
            in_flight: Gauge::default(),
            outstanding: Gauge::default(),
        };
        {
            let mut r = m.registry.lock().unwrap_or_else(|e| e.into_inner());
            r.register(
                "cosched_request_duration_seconds",
                "Inference requests answered with outputs: arrival at the server to response, seconds",
                m.latency.clone(),
            );
            r.register(
                "cosched_infer_requests",
                "Inference requests answered, by model and HTTP status",
                m.requests.clone(),
            );
            r.register(
                "cosched_slo_violations",
                "Inferences that completed after their deadline (deadline_ms or the model's default)",
                m.slo_violations.clone(),
            );
            r.register(
                "cosched_requests_rejected",
                "Inference requests refused for load: server_busy (in-flight limit), queue_full (executor queue), shutting_down",
                m.rejected.clone(),
            );
            r.register(
                "cosched_processor_queue_length",
                "Requests waiting in each processor's queue",
                m.queue_length.clone(),
            );
            r.register(
                "cosched_processor_in_flight",
                "Slots of each processor running an inference",
                m.running.clone(),
            );
            r.register(
                "cosched_processor_energy_joules",
                "Energy per processor since start; source=modelled: the profile's power times measured busy time, no sensor",
                m.energy.clone(),
            );
            r.register(
                "cosched_policy_switches",
                "Changes of the deciding policy by the run-time guard",
                m.policy_switches.clone(),
            );
            r.register(
                "cosched_server_requests_in_flight",
                "Inference requests in the server now",
                m.in_flight.clone(),
            );
            r.register(
                "cosched_executor_outstanding",
                "Requests accepted by the executor and not completed",
                m.outstanding.clone(),
            );
        }
        m
    }

    /// A request answered with `code`, after `seconds` when it had outputs.
    pub(crate) fn answered(&self, model: &str, code: u16, seconds: Option<f64>) {
        self.requests
            .get_or_create(&RequestLabels {
                model: model.to_string(),
                code,
            })
            .inc();
        if let Some(s) = seconds {
            self.latency
                .get_or_create(&ModelLabels {
                    model: model.to_string(),
                })
                .observe(s);
        }
    }

    pub(crate) fn slo_violation(&self, model: &str) {
        self.slo_violations
            .get_or_create(&ModelLabels {
                model: model.to_string(),
            })
            .inc();
    }

    pub(crate) fn rejected(&self, reason: &str) {
        self.rejected
            .get_or_create(&ReasonLabels {
                reason: reason.to_string(),
            })
            .inc();
    }

    /// The text exposition, with the executor's state read now.
    pub(crate) fn render(&self, exec: &Executor, in_flight: usize) -> String {
        let procs = &exec.device().processors;
        for (p, load) in procs.iter().zip(exec.processor_load()) {
            let l = ProcessorLabels {
                processor: p.id.clone(),
            };
            self.queue_length.get_or_create(&l).set(load.queued as i64);
            self.running.get_or_create(&l).set(i64::from(load.running));
        }
        for (p, j) in procs.iter().zip(exec.usage().energy_j) {
            self.energy
                .get_or_create(&EnergyLabels {
                    processor: p.id.clone(),
                    source: "modelled".into(),
                })
                .set(j);
        }
        let switches = exec.policy_switches().len() as u64;
        let seen = self.switches_seen.swap(switches, Ordering::Relaxed);
        self.policy_switches.inc_by(switches.saturating_sub(seen));
        self.in_flight.set(in_flight as i64);
        self.outstanding.set(exec.stats().outstanding as i64);
        let mut out = String::new();
        let r = self.registry.lock().unwrap_or_else(|e| e.into_inner());
        prometheus_client::encoding::text::encode(&mut out, &r).expect("writing to a String does not fail");
        out
    }
}
