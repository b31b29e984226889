//! Queueing a placed request, and forming and starting batches on free slots.

use super::{Dispatcher, Host, Start};
use crate::estimator::RunningEstimate;
use crate::ids::ProcessorId;
use crate::queue::Queued;

impl<R: Queued> Dispatcher<R> {
    /// Queue `req` on processor `p` with the estimate of the last observation (built for
    /// `req`), and start whatever the free slots of `p` can take.
    pub fn place<H: Host<R>>(&mut self, p: usize, mut req: R, now: f64, host: &mut H) {
        req.pending_mut().est_ms = self.obs.processors[p].est_latency_ms;
        self.lanes[p].push(req);
        self.try_start(p, now, host);
    }

    /// Start queued work on every free slot of `p`: the queue's next request, with the
    /// same-model requests right behind it up to the processor's batch limit.
    pub fn try_start<H: Host<R>>(&mut self, p: usize, now: f64, host: &mut H) {
        let max_batch = self.device.processors[p].max_batch as usize;
        loop {
            let lane = &mut self.lanes[p];
            let Some(&slot) = lane.free.last() else { return };
            let Some(first) = lane.queue.pop() else { return };
            lane.free.pop();
            let model = first.pending().model;
            let limit = if self.batchable[model.index()] { max_batch } else { 1 };
            let mut batch = host.batch_buffer(p, slot);
            batch.clear();
            batch.push(first);
            while batch.len() < limit && lane.queue.peek_model() == Some(model) {
                batch.push(lane.queue.pop().expect("peeked"));
            }
            let queued: f64 = batch.iter().map(|r| r.pending().est_ms).sum();
            lane.queued_work_ms = (lane.queued_work_ms - queued).max(0.0);
            if lane.queue.is_empty() {
                lane.queued_work_ms = 0.0; // drop accumulated rounding
            }
            lane.settle(&self.power.processors[p], now);
            let b = batch.len() as u32;
            let pid = ProcessorId(p as u16);
            let believed = self.device.on(model, pid);
            let factor = believed.map_or(1.0, |o| o.batch_factor(b));
            let freq = lane.freq_scale;
            let est = self
                .estimator
                .estimate(model, pid)
                .or(believed.map(|o| o.mean_ms))
                .unwrap_or(0.0)
                * factor
                / freq;
            let newly_busy = lane.active == 0;
            let others_busy = self.busy_processors - u32::from(!newly_busy);
            // From the profile the scheduler believes, not the truth: the ratio of the measured
            // service time to this is what the guard corrects its replays by.
            let expected_ms =
                believed.map_or(0.0, |o| o.mean_ms * factor) / freq * self.device.interference.slowdown(others_busy);
            lane.active += 1;
            lane.slots[slot].busy = true;
            lane.slots[slot].running = RunningEstimate::start(now, est, believed.map_or(0.0, |o| o.cv));
            lane.slots[slot].expected_ms = expected_ms;
            if newly_busy {
                self.busy_processors += 1;
            }
            let start = Start {
                processor: p,
                slot,
                now_ms: now,
                others_busy,
                newly_busy,
                busy_processors: self.busy_processors,
                freq_scale: freq,
            };
            if let Err(batch) = host.start(start, batch) {
                let lane = &mut self.lanes[p];
                lane.active -= 1;
                lane.slots[slot].busy = false;
                lane.slots[slot].down = true;
                if newly_busy {
                    self.busy_processors -= 1;
                }
                for r in batch {
                    lane.push(r);
                }
            }
        }
    }
}
