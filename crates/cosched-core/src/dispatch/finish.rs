//! A finished batch: its slot freed, energy charged, the estimator taught, outcomes made.

use super::Dispatcher;
use crate::ids::{ModelId, ProcessorId, RequestId};
use crate::policy::Outcome;
use crate::queue::Queued;
use crate::Pending;

/// What a finished batch left for its requests' [`Outcome`]s.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Finished {
    /// Where it ran.
    pub processor: ProcessorId,
    /// How long it ran, ms.
    pub service_ms: f64,
    /// Requests in it.
    pub batch: u32,
    /// Energy charged to each of its requests, J.
    pub energy_j: f64,
    /// What the believed profile predicted for it, ms.
    pub expected_service_ms: f64,
    /// Whether its processor has no slot running now.
    pub now_idle: bool,
}

impl Finished {
    /// The outcome of `req`, one of the batch's requests, `latency_ms` after its arrival.
    pub fn outcome(&self, req: &Pending, latency_ms: f64, reference_energy_j: f64, violated: bool) -> Outcome {
        Outcome {
            request: RequestId(req.id),
            model: req.model,
            stream: req.stream,
            processor: self.processor,
            latency_ms,
            slo_ms: req.slo_ms,
            energy_j: self.energy_j,
            service_ms: self.service_ms,
            batch: self.batch,
            expected_service_ms: self.expected_service_ms,
            reference_energy_j,
            violated,
        }
    }
}

impl<R: Queued> Dispatcher<R> {
    /// The batch of `batch` requests on slot `slot` of `p` ended at `now` after running
    /// `service_ms`. With `reuse` the slot takes work again; without it (its worker panicked)
    /// it is down until [`Dispatcher::slot_up`]. Call [`Dispatcher::try_start`] after.
    pub fn finish_slot(
        &mut self,
        p: usize,
        slot: usize,
        now: f64,
        service_ms: f64,
        batch: u32,
        reuse: bool,
    ) -> Finished {
        let proc_ = &self.power.processors[p];
        let lane = &mut self.lanes[p];
        lane.settle(proc_, now);
        lane.active -= 1;
        let now_idle = lane.active == 0;
        if now_idle {
            self.busy_processors -= 1;
        }
        let s = &mut lane.slots[slot];
        s.busy = false;
        if reuse {
            lane.free.push(slot);
        } else {
            s.down = true;
        }
        Finished {
            processor: ProcessorId(p as u16),
            service_ms,
            batch,
            // The slot's share of the processor's power over the service time.
            energy_j: proc_.energy_per_inference_j(service_ms, lane.freq_scale) / f64::from(batch.max(1)),
            expected_service_ms: lane.slots[slot].expected_ms,
            now_idle,
        }
    }

    /// Teach the estimator that a batch of `batch` requests of `model` ran `service_ms` on `p`;
    /// returns the profile's batch factor it scaled by.
    pub fn learn(&mut self, model: ModelId, p: usize, service_ms: f64, batch: u32) -> f64 {
        let pid = ProcessorId(p as u16);
        let factor = self.device.on(model, pid).map_or(1.0, |o| o.batch_factor(batch));
        let freq = self.lanes[p].freq_scale;
        self.estimator.update(model, pid, service_ms * freq / factor);
        factor
    }

    /// Energy an inference of `service_ms` on `p` costs at its frequency, J.
    pub fn energy_j(&self, p: usize, service_ms: f64) -> f64 {
        self.power.processors[p].energy_per_inference_j(service_ms, self.lanes[p].freq_scale)
    }
}
