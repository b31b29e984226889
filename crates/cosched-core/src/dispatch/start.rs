//! Queueing a placed request, and forming and starting batches on free slots.

use super::hedge::Hedge;
use super::{Dispatcher, Host, Placement, Start};
use crate::estimator::RunningEstimate;
use crate::ids::ProcessorId;
use crate::queue::Queued;

impl<R: Queued> Dispatcher<R> {
    /// Queue `req` where `placement` says, with the estimate of the last observation (built
    /// for `req`), and start whatever the free slots there can take.
    /// With a hedge, a copy goes to the hedge's processor too ([`Dispatcher::claim`]).
    pub fn place<H: Host<R>>(&mut self, placement: &Placement, mut req: R, now: f64, host: &mut H) {
        let p = placement.processor.index();
        let h = req.pending_mut();
        h.est_ms = self.obs.processors[p].est_latency_ms;
        if let Some(plan) = placement.batch {
            h.batch_limit = plan.size.max(1);
            h.hold_until_ms = h.arrival_ms + f64::from(plan.max_wait_us) / 1000.0;
        }
        let copy = placement.hedge.and_then(|plan| {
            req.pending_mut().hedged = true;
            let mut copy = req.hedge_copy()?;
            let q = plan.processor.index();
            copy.pending_mut().est_ms = self.obs.processors[q].est_latency_ms;
            Some((q, now + f64::from(plan.after_us) / 1000.0, copy))
        });
        if copy.is_none() {
            req.pending_mut().hedged = false;
        }
        let id = req.pending().id;
        self.lanes[p].push(req);
        if let Some((q, _, _)) = &copy {
            self.hedges.insert(id, Hedge::new(p, *q));
            self.hedge_counts.sent += 1;
        }
        self.try_start(p, now, host);
        match copy {
            Some((q, due, copy)) if due > now => {
                self.deferred.push((due, q, copy));
                host.wake_at(q, due);
            }
            Some((q, _, copy)) => {
                self.lanes[q].push(copy);
                self.try_start(q, now, host);
            }
            None => {}
        }
    }

    /// Queue the deferred hedged copies for `p` that are due.
    fn release_deferred(&mut self, p: usize, now: f64) {
        let mut i = 0;
        while i < self.deferred.len() {
            if self.deferred[i].1 == p && self.deferred[i].0 <= now {
                let (_, _, copy) = self.deferred.swap_remove(i);
                self.lanes[p].push(copy);
            } else {
                i += 1;
            }
        }
    }

    /// Start queued work on every free slot of `p`: the queue's next request, with the
    /// same-model requests right behind it up to the processor's batch limit.
    pub fn try_start<H: Host<R>>(&mut self, p: usize, now: f64, host: &mut H) {
        let max_batch = self.device.processors[p].max_batch as usize;
        if !self.deferred.is_empty() {
            self.release_deferred(p, now);
        }
        loop {
            let lane = &mut self.lanes[p];
            let Some(&slot) = lane.free.last() else { return };
            let Some(head) = lane.queue.peek().map(|r| *r.pending()) else {
                return;
            };
            let model = head.model;
            let limit = match (self.batchable[model.index()], head.batch_limit) {
                (false, _) => 1,
                (true, 0) => max_batch,
                (true, b) => max_batch.min(usize::from(b)),
            };
            // A batch held open (Kum's real-time batching, Triton's queue delay): the free slot
            // waits for more of its model until the head's deadline for waiting.
            if limit > 1 && now < head.hold_until_ms && (lane.queued_per_model[model.index()] as usize) < limit {
                if !(lane.wake_ms > now && lane.wake_ms <= head.hold_until_ms) {
                    lane.wake_ms = head.hold_until_ms;
                    host.wake_at(p, head.hold_until_ms);
                }
                return;
            }
            let first = lane.pop().expect("peeked");
            lane.free.pop();
            let mut batch = host.batch_buffer(p, slot);
            batch.clear();
            batch.push(first);
            while batch.len() < limit && lane.queue.peek_model() == Some(model) {
                batch.push(lane.pop().expect("peeked"));
            }
            lane.unqueue_work(batch.iter().map(|r| r.pending().est_ms).sum());
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
            lane.slots[slot].running = RunningEstimate::start(
                now,
                est,
                believed.map_or(0.0, |o| o.cv),
                self.device.processors[p].stall,
            );
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
