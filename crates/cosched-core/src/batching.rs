//! Batching rules: policies that wrap a placement policy and add a [`BatchPlan`] to its actions.
//!
//! - [`KumBatching`]: Kum et al. (Sensors 2022), the largest batch that still meets the
//!   real-time condition. A batch of `b` requests of a model that arrive every `T` ms on the
//!   chosen processor waits `(b - 1) T` for its last request and then runs `L(b)`; the rule takes
//!   the largest `b` whose wait plus `L(b)` fits in the request's deadline, at least the
//!   smallest that keeps up with the arrivals (`L(b) <= b T`), and holds a free slot open for
//!   the wait.
//! - [`DynamicBatching`]: Triton's dynamic batcher, as a server operator configures it: a
//!   preferred batch size (the processor's `max_batch`) and a fixed `max_queue_delay`.
//! - [`FixedBatch`]: batches of at most `size` and no waiting (`size` 1: no batching), the
//!   yardstick a batching rule is measured against.

use crate::device::DeviceProfile;
use crate::ids::{ModelId, ProcessorId};
use crate::observation::Observation;
use crate::policy::{Action, BatchPlan, Policy};
use crate::wrapper::delegate_to_inner;

/// Weight of a new gap in the smoothed inter-placement time.
const GAP_ALPHA: f64 = 0.2;

/// How far a gap between requests may stretch by jitter: the batch wait reaches this far past
/// the expected last arrival, and a batch keeps up while its latency is within this of its gaps.
const GAP_JITTER: f64 = 1.1;

/// Each processor's largest batch, as the rules ask for it.
fn max_batches(device: &DeviceProfile) -> Vec<u16> {
    device
        .processors
        .iter()
        .map(|p| p.max_batch.clamp(1, u32::from(u16::MAX)) as u16)
        .collect()
}

/// Kum et al.'s rule over a placement policy (see the [module docs](self)).
pub struct KumBatching {
    inner: Box<dyn Policy>,
    name: String,
    // The profile's batch factors, per (model, processor).
    device: DeviceProfile,
    max_batch: Vec<u16>,
    // Per (model, processor): when the policy last placed one there, and the smoothed gap.
    last_ms: Vec<f64>,
    gap_ms: Vec<f64>,
}

impl KumBatching {
    /// Kum's batching over `inner`'s placements, reported as `name`.
    pub fn new(inner: Box<dyn Policy>, device: &DeviceProfile, name: String) -> KumBatching {
        let n = device.models.len() * device.processors.len();
        KumBatching {
            inner,
            name,
            device: device.clone(),
            max_batch: max_batches(device),
            last_ms: vec![f64::NAN; n],
            gap_ms: vec![f64::NAN; n],
        }
    }

    /// Index of a (model, processor) pair in the per-pair tables.
    fn index(&self, model: ModelId, p: ProcessorId) -> usize {
        model.index() * self.device.processors.len() + p.index()
    }

    /// The batch for a request on `p`, and how long its first request may wait for the rest,
    /// ms; `None` while the arrival gap there is not known yet.
    ///
    /// The largest batch whose wait for its last request, the processor's backlog and the
    /// batch's latency fit in the time left to the deadline;
    /// but never smaller than the smallest batch that keeps up with the arrivals (`L(b) <= b T`,
    /// Kum's real-time condition): when the two conflict, a batch that cannot keep up would only
    /// let the queue grow until every deadline is missed.
    fn plan(&self, obs: &Observation, p: ProcessorId) -> Option<(u16, f64)> {
        let model = obs.request.model;
        let gap = self.gap_ms[self.index(model, p)];
        if !gap.is_finite() {
            return None;
        }
        let view = &obs.processors[p.index()];
        // Two standard deviations of margin: the rule spends all of the slack otherwise, and
        // every batch that runs a little long misses.
        let l1 = view.est_latency_ms * (1.0 + 2.0 * view.latency_cv);
        let max = self.max_batch[p.index()];
        let left = obs.request.deadline_ms() - obs.now_ms;
        let on = self.device.on(model, p);
        let latency = |b: u16| l1 * on.map_or(1.0, |o| o.batch_factor(u32::from(b)));
        // A little past the expected last arrival, so that jitter does not cut the batch short.
        let wait = |b: u16| f64::from(b - 1) * gap * GAP_JITTER;
        // Keeping up is a matter of means, within the gap's jitter, not of the margin: with the
        // margin, a closed-loop client (whose gap is the latency itself) looked too fast for
        // batch 1, and its request was held open for a second one that cannot come until this
        // one is answered.
        let mean = |b: u16| view.est_latency_ms * on.map_or(1.0, |o| o.batch_factor(u32::from(b)));
        let keeps_up = (1..=max)
            .find(|&b| mean(b) <= f64::from(b) * gap * GAP_JITTER)
            .unwrap_or(max);
        let fits = (1..=max)
            .take_while(|&b| wait(b) + view.backlog_ms + latency(b) <= left)
            .last()
            .unwrap_or(1);
        let b = fits.max(keeps_up);
        Some((b, wait(b)))
    }
}

impl Policy for KumBatching {
    fn name(&self) -> &str {
        &self.name
    }

    fn decide(&mut self, obs: &Observation) -> Action {
        let a = self.inner.decide(obs);
        let p = a.processor;
        if !obs.is_valid(p) {
            return a;
        }
        let i = self.index(obs.request.model, p);
        let last = self.last_ms[i];
        if last.is_finite() {
            let gap = obs.now_ms - last;
            let g = &mut self.gap_ms[i];
            *g = if g.is_finite() {
                *g + GAP_ALPHA * (gap - *g)
            } else {
                gap
            };
        }
        self.last_ms[i] = obs.now_ms;
        match self.plan(obs, p) {
            Some((size, wait_ms)) => a.with_batch(BatchPlan {
                size,
                max_wait_us: (wait_ms * 1000.0).min(f64::from(u32::MAX)) as u32,
            }),
            None => a,
        }
    }

    delegate_to_inner!(|this| {
        this.last_ms.iter_mut().for_each(|v| *v = f64::NAN);
        this.gap_ms.iter_mut().for_each(|v| *v = f64::NAN);
    });
}

/// Triton's dynamic batcher over a placement policy (see the [module docs](self)).
pub struct DynamicBatching {
    inner: Box<dyn Policy>,
    name: String,
    max_batch: Vec<u16>,
    max_queue_delay_us: u32,
}

impl DynamicBatching {
    /// The queue delay a Triton operator would start from for camera-rate work: 5 ms.
    pub const DEFAULT_MAX_QUEUE_DELAY_US: u32 = 5_000;

    /// Dynamic batching over `inner`'s placements, preferred size each processor's
    /// `max_batch`, waiting at most `max_queue_delay_us`; reported as `name`.
    pub fn new(inner: Box<dyn Policy>, device: &DeviceProfile, max_queue_delay_us: u32, name: String) -> Self {
        DynamicBatching {
            inner,
            name,
            max_batch: max_batches(device),
            max_queue_delay_us,
        }
    }
}

impl Policy for DynamicBatching {
    fn name(&self) -> &str {
        &self.name
    }

    fn decide(&mut self, obs: &Observation) -> Action {
        let a = self.inner.decide(obs);
        match self.max_batch.get(a.processor.index()) {
            Some(&size) => a.with_batch(BatchPlan {
                size,
                max_wait_us: self.max_queue_delay_us,
            }),
            None => a,
        }
    }

    delegate_to_inner!();
}

/// Batches of at most `size`, never waiting (see the [module docs](self)).
pub struct FixedBatch {
    inner: Box<dyn Policy>,
    name: String,
    size: u16,
}

impl FixedBatch {
    /// `inner`'s placements in batches of at most `size`, reported as `name`.
    pub fn new(inner: Box<dyn Policy>, size: u16, name: String) -> FixedBatch {
        FixedBatch {
            inner,
            name,
            size: size.max(1),
        }
    }
}

impl Policy for FixedBatch {
    fn name(&self) -> &str {
        &self.name
    }

    fn decide(&mut self, obs: &Observation) -> Action {
        self.inner.decide(obs).with_batch(BatchPlan {
            size: self.size,
            max_wait_us: 0,
        })
    }

    delegate_to_inner!();
}
