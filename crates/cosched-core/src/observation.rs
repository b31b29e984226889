//! What a policy sees when it places a request, built the same way by the simulator and by the
//! real executor.

use crate::ids::{ModelId, ProcessorId, RequestId, StreamId};
use crate::stall::Stall;
use crate::tail::LatencyTail;

/// Version of the feature layout of [`Observation::encode`]. Policy files record it and refuse
/// to load under another version.
pub const OBSERVATION_VERSION: u32 = 1;

/// Features per processor in [`Observation::encode`].
pub const FEATURES_PER_PROCESSOR: usize = 9;

/// Features that do not depend on the processor count, besides the model one-hot.
pub const GLOBAL_FEATURES: usize = 3;

/// The request being placed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RequestView {
    /// Its id.
    pub id: RequestId,
    /// Its model.
    pub model: ModelId,
    /// The stream it came from.
    pub stream: StreamId,
    /// Arrival time, ms since the start of the run.
    pub arrival_ms: f64,
    /// Deadline relative to arrival, ms.
    pub slo_ms: f64,
    /// Energy of one inference of this model on its most efficient processor, J.
    pub reference_energy_j: f64,
}

impl RequestView {
    /// Absolute deadline, ms since the start of the run.
    #[inline]
    pub fn deadline_ms(&self) -> f64 {
        self.arrival_ms + self.slo_ms
    }
}

/// State of one processor as seen by the policy.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ProcessorView {
    /// Whether the processor can take this request: it runs the model and is up.
    pub available: bool,
    /// Requests waiting in its queue.
    pub queue_len: u32,
    /// Inferences running now.
    pub in_flight: u32,
    /// Slots (concurrent inferences).
    pub slots: u32,
    /// Estimated wait before a request queued now would start, ms.
    pub backlog_ms: f64,
    /// Estimated latency of this request there (online estimate at the current frequency), ms;
    /// 0 when unavailable.
    pub est_latency_ms: f64,
    /// Coefficient of variation of that latency (from the profile; of an inference that does
    /// not stall).
    pub latency_cv: f64,
    /// How the processor stalls (from the profile), if it does.
    pub stall: Option<Stall>,
    /// Estimated energy of this inference there, J.
    pub est_energy_j: f64,
    /// Recent fraction of slots busy, in [0, 1] (exponentially smoothed, time constant 1 s).
    pub utilization: f64,
    /// Current frequency relative to the highest, in (0, 1].
    pub freq_scale: f64,
}

impl ProcessorView {
    /// Estimated time from now until this request would finish there, ms.
    #[inline]
    pub fn est_finish_ms(&self) -> f64 {
        self.backlog_ms + self.est_latency_ms
    }

    /// The distribution of this request's latency there.
    #[inline]
    pub fn latency_tail(&self) -> LatencyTail {
        LatencyTail {
            mean_ms: self.est_latency_ms,
            cv: self.latency_cv,
            stall: self.stall,
        }
    }
}

/// Everything a policy may look at to place one request.
///
/// The structured fields serve heuristics; [`Observation::encode`] turns them into the fixed
/// feature vector a neural policy reads.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    /// Now, ms since the start of the run.
    pub now_ms: f64,
    /// The request to place.
    pub request: RequestView,
    /// One entry per processor, indexed by [`ProcessorId`].
    pub processors: Vec<ProcessorView>,
    /// Recent arrival rate over the saturation throughput of the workload (1.0 = saturated).
    pub recent_load: f64,
    /// Number of models in the device profile (length of the model one-hot).
    pub n_models: usize,
}

impl Observation {
    /// An observation for a device with `n_processors` processors and `n_models` models, with
    /// every processor unavailable; the simulator and executor fill it in place.
    pub fn empty(n_processors: usize, n_models: usize) -> Observation {
        Observation {
            now_ms: 0.0,
            request: RequestView {
                id: RequestId(0),
                model: ModelId(0),
                stream: StreamId(0),
                arrival_ms: 0.0,
                slo_ms: 1.0,
                reference_energy_j: 1.0,
            },
            processors: vec![ProcessorView::default(); n_processors],
            recent_load: 0.0,
            n_models,
        }
    }

    /// Whether `p` is a valid action.
    #[inline]
    pub fn is_valid(&self, p: ProcessorId) -> bool {
        self.processors.get(p.index()).is_some_and(|v| v.available)
    }

    /// The valid actions, in processor order.
    pub fn valid(&self) -> impl Iterator<Item = ProcessorId> + '_ {
        self.processors
            .iter()
            .enumerate()
            .filter(|(_, v)| v.available)
            .map(|(i, _)| ProcessorId(i as u16))
    }

    /// The valid processor minimising `key` (first on ties), or `None` if nothing is valid.
    #[inline]
    pub fn argmin_valid(&self, mut key: impl FnMut(&ProcessorView) -> f64) -> Option<ProcessorId> {
        let mut best: Option<(f64, usize)> = None;
        for (i, v) in self.processors.iter().enumerate() {
            if v.available {
                let k = key(v);
                if best.is_none_or(|(bk, _)| k < bk) {
                    best = Some((k, i));
                }
            }
        }
        best.map(|(_, i)| ProcessorId(i as u16))
    }

    /// Length of the feature vector for a device.
    pub fn feature_len(n_processors: usize, n_models: usize) -> usize {
        GLOBAL_FEATURES + n_models + FEATURES_PER_PROCESSOR * n_processors
    }

    /// Write the feature vector (layout [`OBSERVATION_VERSION`]) into `out`, which must have
    /// length [`Observation::feature_len`]. Allocates nothing.
    ///
    /// Times are divided by the request's SLO, so that a feature means "how much of my deadline"
    /// on any board; everything is clipped to a small range so that overload does not blow up
    /// a network's inputs.
    pub fn encode(&self, out: &mut [f32]) {
        debug_assert_eq!(out.len(), Self::feature_len(self.processors.len(), self.n_models));
        let slo = self.request.slo_ms.max(1e-6);
        let clip = |x: f64, hi: f64| x.clamp(0.0, hi) as f32;
        out[0] = clip(self.recent_load, 4.0);
        out[1] = clip((1.0 + slo).log10() / 4.0, 2.0);
        // How much of the deadline is already gone while waiting for a decision.
        out[2] = clip((self.now_ms - self.request.arrival_ms) / slo, 4.0);
        let one_hot = &mut out[GLOBAL_FEATURES..GLOBAL_FEATURES + self.n_models];
        one_hot.fill(0.0);
        if let Some(x) = one_hot.get_mut(self.request.model.index()) {
            *x = 1.0;
        }
        let base = GLOBAL_FEATURES + self.n_models;
        for (i, p) in self.processors.iter().enumerate() {
            let f = &mut out[base + i * FEATURES_PER_PROCESSOR..base + (i + 1) * FEATURES_PER_PROCESSOR];
            if !p.available {
                f.fill(0.0);
                f[1] = clip(f64::from(p.queue_len) / 8.0, 4.0);
                f[2] = clip(f64::from(p.in_flight) / f64::from(p.slots.max(1)), 1.0);
                f[7] = clip(p.utilization, 1.0);
                f[8] = clip(p.freq_scale, 1.0);
                continue;
            }
            f[0] = 1.0;
            f[1] = clip(f64::from(p.queue_len) / 8.0, 4.0);
            f[2] = clip(f64::from(p.in_flight) / f64::from(p.slots.max(1)), 1.0);
            f[3] = clip(p.backlog_ms / slo, 10.0);
            f[4] = clip(p.est_latency_ms / slo, 10.0);
            f[5] = clip(p.est_finish_ms() / slo, 10.0);
            f[6] = clip(p.est_energy_j / self.request.reference_energy_j.max(1e-12), 10.0);
            f[7] = clip(p.utilization, 1.0);
            f[8] = clip(p.freq_scale, 1.0);
        }
    }
}
