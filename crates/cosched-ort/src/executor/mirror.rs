//! The scheduling mirror of `cosched-sim` on the real queues: the observation the policy
//! sees, energy and utilisation integrated over time, and batches started on free slots.

use super::request::Req;
use super::shared::{ms_since, Job, ProcState, Shared, State};
use cosched_core::{ProcessorId, ProcessorView, RequestId, RequestView, RunningEstimate};

/// Time constant of the smoothed utilisation and arrival-rate features, ms (as in the simulator).
pub(super) const SMOOTHING_MS: f64 = 1000.0;

pub(super) fn settle(sh: &Shared, st: &mut ProcState, p: usize, now: f64) {
    let proc_ = &sh.device.processors[p];
    let dt = now - st.last_ms;
    if dt > 0.0 {
        st.energy_j += proc_.power_w(st.active, 1.0) * dt / 1000.0;
        st.busy_slot_ms += f64::from(st.active) * dt;
        let frac = f64::from(st.active) / f64::from(proc_.slots);
        let decay = (-dt / SMOOTHING_MS).exp();
        st.util_ema = st.util_ema * decay + frac * (1.0 - decay);
        st.last_ms = now;
    }
}

/// The simulator's `build_observation`, on the real queues. `exclude` is a bit set of processors
/// to mark unavailable (those a failing request already tried).
pub(super) fn build_observation(sh: &Shared, st: &mut State, req: &Req, now: f64, exclude: u64) {
    let obs = &mut st.obs;
    obs.now_ms = now;
    obs.request = RequestView {
        id: RequestId(req.id),
        model: req.model,
        stream: req.stream,
        arrival_ms: req.arrival_ms,
        slo_ms: req.slo_ms,
        reference_energy_j: sh.reference_energy_j[req.model.index()],
    };
    let sat_per_ms = sh.saturation_rps / 1000.0;
    obs.recent_load = if sat_per_ms > 0.0 {
        st.arrival_rate_ema * (-(now - st.last_arrival_ms) / SMOOTHING_MS).exp() / sat_per_ms
    } else {
        0.0
    };
    let loaded = sh.models[req.model.index()].is_some();
    for (p, (ps, view)) in st.procs.iter().zip(obs.processors.iter_mut()).enumerate() {
        let proc_ = &sh.device.processors[p];
        let pid = ProcessorId(p as u16);
        let live = ps.usable && !ps.offline && loaded && exclude & (1 << p) == 0;
        let est = if live {
            st.estimator.estimate(req.model, pid)
        } else {
            None
        };
        let queue_len = ps.queue.len() as u32;
        let backlog_ms = if ps.active < proc_.slots && queue_len == 0 {
            0.0
        } else {
            let running: f64 = ps
                .slots
                .iter()
                .filter(|s| s.busy)
                .map(|s| s.running.remaining_ms(now))
                .sum();
            (running + ps.queued_work_ms) / f64::from(proc_.slots)
        };
        let decay = (-(now - ps.last_ms) / SMOOTHING_MS).exp();
        let utilization = ps.util_ema * decay + f64::from(ps.active) / f64::from(proc_.slots) * (1.0 - decay);
        *view = match est {
            Some(lat) => ProcessorView {
                available: true,
                queue_len,
                in_flight: ps.active,
                slots: proc_.slots,
                backlog_ms,
                est_latency_ms: lat,
                latency_cv: sh.device.on(req.model, pid).map_or(0.0, |o| o.cv),
                est_energy_j: proc_.energy_per_inference_j(lat, 1.0),
                utilization,
                freq_scale: 1.0,
            },
            None => ProcessorView {
                available: false,
                queue_len,
                in_flight: ps.active,
                slots: proc_.slots,
                backlog_ms,
                utilization,
                freq_scale: 1.0,
                ..ProcessorView::default()
            },
        };
    }
}

pub(super) fn enqueue(sh: &Shared, st: &mut State, p: usize, req: Req) {
    let ps = &mut st.procs[p];
    ps.queued_work_ms += req.est_ms;
    ps.queue.push(req);
    try_start(sh, st, p);
}

/// Start queued work on every free slot of `p` (the simulator's `try_start`).
pub(super) fn try_start(sh: &Shared, st: &mut State, p: usize) {
    let max_batch = sh.device.processors[p].max_batch as usize;
    let now = ms_since(sh.epoch);
    loop {
        let ps = &mut st.procs[p];
        let Some(&slot) = ps.free.last() else { return };
        let Some(first) = ps.queue.pop() else { return };
        ps.free.pop();
        let model = first.model;
        let limit = if sh.models[model.index()].as_ref().is_some_and(|m| m.batchable) {
            max_batch
        } else {
            1
        };
        let mut batch = vec![first];
        while batch.len() < limit && ps.queue.peek_model() == Some(model) {
            batch.push(ps.queue.pop().expect("peeked"));
        }
        let queued: f64 = batch.iter().map(|r| r.est_ms).sum();
        ps.queued_work_ms = (ps.queued_work_ms - queued).max(0.0);
        if ps.queue.is_empty() {
            ps.queued_work_ms = 0.0;
        }
        settle(sh, &mut st.procs[p], p, now);
        let b = batch.len() as u32;
        let pid = ProcessorId(p as u16);
        let factor = sh.device.on(model, pid).map_or(1.0, |o| o.batch_factor(b));
        let on = sh.device.on(model, pid);
        let est = st
            .estimator
            .estimate(model, pid)
            .or(on.map(|o| o.mean_ms))
            .unwrap_or(0.0)
            * factor;
        let ps = &mut st.procs[p];
        ps.active += 1;
        ps.slots[slot].busy = true;
        ps.slots[slot].running = RunningEstimate::start(now, est, on.map_or(0.0, |o| o.cv));
        if let Err(e) = ps.senders[slot].try_send(Job::Run(batch)) {
            // The worker is gone: put the work back and mark the slot down.
            let batch = match e.into_inner() {
                Job::Run(b) => b,
                Job::Stop => Vec::new(),
            };
            ps.active -= 1;
            ps.slots[slot].busy = false;
            ps.slots[slot].down = true;
            for r in batch {
                ps.queued_work_ms += r.est_ms;
                ps.queue.push(r);
            }
            tracing::error!("worker {p}/{slot} is gone; its slot is down");
        }
    }
}
