//! The executor as the core dispatcher's host: batches go to the slot's worker over its
//! channel, and the processors that are down or already failed a request are left out of the
//! policy's choices.

use super::request::Req;
use super::shared::{Job, ProcState, Shared, State};
use super::timer::Timer;
use cosched_core::{Host, Placement, Start};

/// The workers' channels and the timer, as the dispatcher's [`Host`].
pub(super) struct Workers<'a>(pub(super) &'a [ProcState], pub(super) &'a Timer);

impl Host<Req> for Workers<'_> {
    fn wake_at(&mut self, processor: usize, at_ms: f64) {
        self.1.wake_at(processor, at_ms);
    }

    fn start(&mut self, start: Start, batch: Vec<Req>) -> Result<(), Vec<Req>> {
        let (p, slot) = (start.processor, start.slot);
        self.0[p].senders[slot].try_send(Job::Run(batch)).map_err(|e| {
            tracing::error!("worker {p}/{slot} is gone; its slot is down");
            match e.into_inner() {
                Job::Run(b) => b,
                Job::Stop => Vec::new(),
            }
        })
    }
}

/// The processors `req` may not go to: those whose worker cannot run (no usable provider, or
/// down until a probe finds them ready), those in `tried`, and all of them when its model has
/// no session.
pub(super) fn excluded(sh: &Shared, st: &State, req: &Req, tried: u64) -> u64 {
    if sh.models[req.head.model.index()].is_none() {
        return u64::MAX;
    }
    st.procs
        .iter()
        .enumerate()
        .filter(|(_, ps)| !ps.usable || ps.offline)
        .fold(tried, |m, (p, _)| if p < 64 { m | 1 << p } else { m })
}

/// Build the observation for placing `req` now, leaving out the processors in `tried`.
pub(super) fn observe(sh: &Shared, st: &mut State, req: &Req, tried: u64) {
    let exclude = excluded(sh, st, req, tried);
    st.dispatch.observe(&req.head, sh.clock.now_ms(), exclude);
}

/// Queue `req` on `p` (the last observation was built for it) and start what can start.
pub(super) fn enqueue(sh: &Shared, st: &mut State, placement: &Placement, req: Req) {
    let now = sh.clock.now_ms();
    st.dispatch
        .place(placement, req, now, &mut Workers(&st.procs, &sh.timer));
}

/// Start queued work on every free slot of `p`.
pub(super) fn try_start(sh: &Shared, st: &mut State, p: usize) {
    let now = sh.clock.now_ms();
    st.dispatch.try_start(p, now, &mut Workers(&st.procs, &sh.timer));
}
