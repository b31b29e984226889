//! Run metrics and the run report of docs/design.md.

use crate::action_stats::{ActionStats, HedgeCounts};
use crate::device::DeviceProfile;
use crate::objective::ObjectiveWeights;
use crate::profile_fit::FitEntry;
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// Latency summary in ms.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
pub struct LatencySummary {
    /// Mean.
    pub mean: f64,
    /// Median.
    pub p50: f64,
    /// 95th percentile.
    pub p95: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Maximum.
    pub max: f64,
}

/// One processor's share of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProcessorReport {
    /// Processor id from the profile.
    pub id: String,
    /// Its kind.
    pub kind: String,
    /// Inferences it completed.
    pub completed: u64,
    /// Fraction of slot-time busy over the run.
    pub utilization: f64,
    /// Energy it used, J (idle included).
    pub energy_j: f64,
}

/// One stream's share of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StreamReport {
    /// Stream name.
    pub name: String,
    /// Requests that arrived.
    pub arrived: u64,
    /// Requests completed (in time or late).
    pub completed: u64,
    /// Requests late or unfinished.
    pub violated: u64,
    /// Mean latency, ms (unfinished count with their age at the end).
    pub mean_latency_ms: f64,
}

/// The report of one run (`--json`), the schema of docs/design.md.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunReport {
    /// Policy name.
    pub policy: String,
    /// Device profile name.
    pub device: String,
    /// Workload name.
    pub workload: String,
    /// Seed of the run.
    pub seed: u64,
    /// `sim` or `real`.
    pub mode: String,
    /// `measured:<sensor>` or `modelled`.
    pub energy_source: String,
    /// Load fraction the workload was scaled to, if any.
    pub load: Option<f64>,
    /// Length of the run (arrival window plus drain), s.
    pub duration_s: f64,
    /// Requests that arrived.
    pub arrived: u64,
    /// Requests completed (in time or late).
    pub completed: u64,
    /// Requests late or unfinished at the end; every arrival is counted once in
    /// `completed - late + violated`.
    pub violated: u64,
    /// Completed after their deadline.
    pub late: u64,
    /// Not finished at the end of the run.
    pub unfinished: u64,
    /// Completions per second.
    pub throughput_rps: f64,
    /// Latency of all arrivals (unfinished ones with their age at the end), ms.
    pub latency_ms: LatencySummary,
    /// Mean of latency / SLO over all arrivals.
    pub mean_latency_over_slo: f64,
    /// `violated / arrived`.
    pub slo_violation_rate: f64,
    /// Energy of the whole board over the run, J.
    pub energy_j: f64,
    /// `energy_j / completed`, mJ.
    pub energy_per_inference_mj: f64,
    /// `energy_j / duration_s`, W.
    pub avg_power_w: f64,
    /// The objective (lower is better).
    pub objective: f64,
    /// Weights of the objective.
    pub objective_weights: ObjectiveWeights,
    /// Decisions the runtime had to correct because the policy chose an invalid processor.
    pub invalid_actions: u64,
    /// Per processor.
    pub per_processor: Vec<ProcessorReport>,
    /// Per stream.
    pub per_stream: Vec<StreamReport>,
    /// Real runs: measured service time against the profile per model and processor (see
    /// [`crate::profile_fit`]); empty in the simulator.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub profile_fit: Vec<FitEntry>,
    /// Batching and hedging.
    #[serde(default)]
    pub actions: ActionStats,
    /// With the run-time guard: every change of the policy deciding.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policy_switches: Vec<crate::policy::PolicySwitch>,
}

#[derive(Debug, Clone, Default)]
struct StreamTally {
    arrived: u64,
    completed: u64,
    violated: u64,
    sum_latency_ms: f64,
}

/// Accumulates what happens to every request of a run; [`MetricsRecorder::finish`] turns it
/// into a [`RunReport`].
#[derive(Debug, Clone)]
pub struct MetricsRecorder {
    hist: Histogram<u64>,
    arrived: u64,
    completed: u64,
    late: u64,
    unfinished: u64,
    sum_latency_ms: f64,
    sum_latency_over_slo: f64,
    sum_reference_energy_j: f64,
    per_processor_completed: Vec<u64>,
    streams: Vec<StreamTally>,
    invalid_actions: u64,
    // Sum over completed requests of 1 / their batch's size: the number of batches.
    batches: f64,
    batched: u64,
    hedges: HedgeCounts,
}

/// Everything about a run that is not a per-request count.
#[derive(Debug, Clone)]
pub struct RunInfo<'a> {
    /// Policy name.
    pub policy: &'a str,
    /// Device.
    pub device: &'a DeviceProfile,
    /// Workload name.
    pub workload: &'a str,
    /// Stream names, by stream id.
    pub stream_names: Vec<String>,
    /// Seed.
    pub seed: u64,
    /// `sim` or `real`.
    pub mode: &'a str,
    /// `measured:<sensor>` or `modelled`.
    pub energy_source: String,
    /// Load fraction, if scaled.
    pub load: Option<f64>,
    /// Length of the run, ms.
    pub run_ms: f64,
    /// Energy per processor, J.
    pub energy_j: Vec<f64>,
    /// Busy slot-time per processor, ms.
    pub busy_slot_ms: Vec<f64>,
    /// Objective weights.
    pub weights: ObjectiveWeights,
}

impl MetricsRecorder {
    /// For a device with `n_processors` processors and a workload with `n_streams` streams.
    pub fn new(n_processors: usize, n_streams: usize) -> MetricsRecorder {
        MetricsRecorder {
            // 1 us .. 1 hour with 3 significant digits.
            hist: Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid histogram bounds"),
            arrived: 0,
            completed: 0,
            late: 0,
            unfinished: 0,
            sum_latency_ms: 0.0,
            sum_latency_over_slo: 0.0,
            sum_reference_energy_j: 0.0,
            per_processor_completed: vec![0; n_processors],
            streams: vec![StreamTally::default(); n_streams],
            invalid_actions: 0,
            batches: 0.0,
            batched: 0,
            hedges: HedgeCounts::default(),
        }
    }

    /// A request arrived.
    #[inline]
    pub fn arrival(&mut self, stream: usize, reference_energy_j: f64) {
        self.arrived += 1;
        self.sum_reference_energy_j += reference_energy_j;
        self.streams[stream].arrived += 1;
    }

    /// A request completed on `processor`; returns whether it violated its deadline.
    #[inline]
    pub fn completion(&mut self, stream: usize, processor: usize, latency_ms: f64, slo_ms: f64) -> bool {
        let violated = latency_ms > slo_ms;
        self.completed += 1;
        self.late += u64::from(violated);
        self.per_processor_completed[processor] += 1;
        self.record_latency(stream, latency_ms, slo_ms, violated, true);
        violated
    }

    /// A request was still queued or running when the run ended, `age_ms` after it arrived.
    pub fn unfinished(&mut self, stream: usize, age_ms: f64, slo_ms: f64) {
        self.unfinished += 1;
        self.record_latency(stream, age_ms, slo_ms, true, false);
    }

    /// A completed request ran in a batch of `size` (call once per completed request).
    #[inline]
    pub fn batch_member(&mut self, size: u32) {
        if size > 0 {
            self.batches += 1.0 / f64::from(size);
            self.batched += 1;
        }
    }

    /// The hedged copies of the run, as the dispatcher counted them.
    pub fn hedges(&mut self, counts: HedgeCounts) {
        self.hedges = counts;
    }

    /// A policy chose an invalid processor and the runtime corrected it.
    pub fn invalid_action(&mut self) {
        self.invalid_actions += 1;
    }

    #[inline]
    fn record_latency(&mut self, stream: usize, latency_ms: f64, slo_ms: f64, violated: bool, completed: bool) {
        self.hist
            .saturating_record((latency_ms * 1000.0).round().max(1.0) as u64);
        self.sum_latency_ms += latency_ms;
        self.sum_latency_over_slo += latency_ms / slo_ms;
        let s = &mut self.streams[stream];
        s.completed += u64::from(completed);
        s.violated += u64::from(violated);
        s.sum_latency_ms += latency_ms;
    }

    /// Requests arrived so far.
    pub fn arrived(&self) -> u64 {
        self.arrived
    }

    /// Requests completed so far.
    pub fn completed(&self) -> u64 {
        self.completed
    }

    /// Build the report.
    pub fn finish(self, info: RunInfo<'_>) -> RunReport {
        let run_s = (info.run_ms / 1000.0).max(1e-9);
        let arrived = self.arrived.max(1) as f64;
        let q = |p: f64| self.hist.value_at_quantile(p) as f64 / 1000.0;
        let latency_ms = if self.arrived == 0 {
            LatencySummary::default()
        } else {
            LatencySummary {
                mean: self.sum_latency_ms / arrived,
                p50: q(0.50),
                p95: q(0.95),
                p99: q(0.99),
                max: self.hist.max() as f64 / 1000.0,
            }
        };
        let energy_j: f64 = info.energy_j.iter().sum();
        let energy_per_inference_j = energy_j / self.completed.max(1) as f64;
        let violated = self.late + self.unfinished;
        let mean_latency_over_slo = self.sum_latency_over_slo / arrived;
        let slo_violation_rate = violated as f64 / arrived;
        let mean_reference_energy_j = if self.arrived == 0 {
            1.0
        } else {
            self.sum_reference_energy_j / arrived
        };
        let w = info.weights;
        let objective = w.latency * mean_latency_over_slo
            + w.violation * slo_violation_rate
            + w.energy * energy_per_inference_j / mean_reference_energy_j.max(1e-12);
        let per_processor = info
            .device
            .processors
            .iter()
            .enumerate()
            .map(|(i, p)| ProcessorReport {
                id: p.id.clone(),
                kind: p.kind.as_str().to_string(),
                completed: self.per_processor_completed[i],
                // Busy time is a float sum over many events and can land a few ulps past 100 %.
                utilization: (info.busy_slot_ms[i] / (f64::from(p.slots) * info.run_ms.max(1e-9))).clamp(0.0, 1.0),
                energy_j: info.energy_j[i],
            })
            .collect();
        let per_stream = self
            .streams
            .iter()
            .zip(&info.stream_names)
            .map(|(s, name)| StreamReport {
                name: name.clone(),
                arrived: s.arrived,
                completed: s.completed,
                violated: s.violated,
                mean_latency_ms: s.sum_latency_ms / s.arrived.max(1) as f64,
            })
            .collect();
        RunReport {
            policy: info.policy.to_string(),
            device: info.device.name.clone(),
            workload: info.workload.to_string(),
            seed: info.seed,
            mode: info.mode.to_string(),
            energy_source: info.energy_source,
            load: info.load,
            duration_s: run_s,
            arrived: self.arrived,
            completed: self.completed,
            violated,
            late: self.late,
            unfinished: self.unfinished,
            throughput_rps: self.completed as f64 / run_s,
            latency_ms,
            mean_latency_over_slo,
            slo_violation_rate,
            energy_j,
            energy_per_inference_mj: energy_per_inference_j * 1000.0,
            avg_power_w: energy_j / run_s,
            objective,
            objective_weights: w,
            invalid_actions: self.invalid_actions,
            per_processor,
            per_stream,
            profile_fit: Vec::new(),
            actions: ActionStats::new(
                if self.batches > 0.0 {
                    self.batched as f64 / self.batches
                } else {
                    0.0
                },
                self.hedges,
            ),
            policy_switches: Vec::new(),
        }
    }
}
