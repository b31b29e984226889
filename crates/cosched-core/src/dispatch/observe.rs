//! The observation a policy decides on.

use super::{Dispatcher, SMOOTHING_MS};
use crate::dispatch::Pending;
use crate::ids::ProcessorId;
use crate::observation::{Observation, ProcessorView};
use crate::queue::Queued;

impl<R: Queued> Dispatcher<R> {
    /// Build the observation for placing `req` at `now` and return it. Bit `p` of `exclude`
    /// marks processor `p` unavailable whatever its profile says (down, or already tried by a
    /// request that failed there); processors 64 and up cannot be excluded.
    pub fn observe(&mut self, req: &Pending, now: f64, exclude: u64) -> &Observation {
        let obs = &mut self.obs;
        obs.now_ms = now;
        obs.request = req.view(self.reference_energy_j[req.model.index()]);
        let sat_per_ms = self.saturation_rps / 1000.0;
        obs.recent_load = if sat_per_ms > 0.0 {
            self.arrival_rate_ema * (-(now - self.last_arrival_ms) / SMOOTHING_MS).exp() / sat_per_ms
        } else {
            0.0
        };
        for (p, (lane, view)) in self.lanes.iter().zip(obs.processors.iter_mut()).enumerate() {
            let proc_ = &self.device.processors[p];
            let pid = ProcessorId(p as u16);
            let excluded = p < 64 && (exclude >> p) & 1 == 1;
            let est = if excluded {
                None
            } else {
                self.estimator.estimate(req.model, pid)
            };
            let queue_len = lane.queue.len() as u32;
            let backlog_ms = lane.backlog_ms(proc_.slots, now);
            let utilization = lane.utilization(proc_.slots, now);
            let freq_scale = lane.freq_scale;
            *view = match est {
                Some(est) => {
                    let lat = est / freq_scale;
                    ProcessorView {
                        available: true,
                        queue_len,
                        in_flight: lane.active,
                        slots: proc_.slots,
                        backlog_ms,
                        est_latency_ms: lat,
                        latency_cv: self.device.on(req.model, pid).map_or(0.0, |o| o.cv),
                        stall: proc_.stall,
                        est_energy_j: proc_.energy_per_inference_j(lat, freq_scale),
                        utilization,
                        freq_scale,
                    }
                }
                None => ProcessorView {
                    available: false,
                    queue_len,
                    in_flight: lane.active,
                    slots: proc_.slots,
                    backlog_ms,
                    utilization,
                    freq_scale,
                    ..ProcessorView::default()
                },
            };
        }
        &self.obs
    }
}
