//! Processors that go down and come back: a remote server that cannot be reached is taken out
//! of the policy's actions, its queue moves to other processors, and one of its workers probes
//! it until it is ready again.

use super::completion::{Completion, Reply};
use super::failover::fail_over;
use super::host::try_start;
use super::shared::{lock, Shared, State};
use std::time::Duration;

/// Probe interval of a processor without a remote spec (only remote processors go down today).
const DEFAULT_PROBE_INTERVAL: Duration = Duration::from_millis(500);

/// How often a worker asks whether its processor `p` is ready again.
pub(super) fn probe_interval(sh: &Shared, p: usize) -> Duration {
    sh.device.processors[p]
        .remote
        .as_ref()
        .map_or(DEFAULT_PROBE_INTERVAL, |r| {
            Duration::from_secs_f64(r.probe_interval_ms / 1000.0)
        })
}

/// Take `p` down after `message`: its queued requests fail over. True when the caller is to
/// probe it (no other worker is probing it yet).
pub(super) fn take_down(
    sh: &Shared,
    st: &mut State,
    p: usize,
    message: &str,
    replies: &mut Vec<(Reply, Completion)>,
) -> bool {
    if !st.procs[p].offline {
        st.procs[p].offline = true;
        st.stats.processor_downs += 1;
        tracing::warn!(
            "processor \"{}\" is down ({message}); its queue moves to other processors until it is ready again",
            sh.device.processors[p].id
        );
        for r in st.dispatch.drain(p) {
            fail_over(sh, st, r, p, message.to_string(), replies);
        }
    }
    claim_probe(st, p)
}

/// Make the caller `p`'s prober if it is down and nobody probes it yet.
pub(super) fn claim_probe(st: &mut State, p: usize) -> bool {
    let ps = &mut st.procs[p];
    if ps.offline && !ps.probing {
        ps.probing = true;
        true
    } else {
        false
    }
}

/// Ask the backend once whether `p` is ready; when it is, bring `p` back. True when it is back.
pub(super) fn probe(sh: &Shared, p: usize) -> bool {
    let proc_ = &sh.device.processors[p];
    match sh.backend.ready(proc_) {
        Ok(()) => {
            let mut st = lock(&sh.state);
            let st = &mut *st;
            st.procs[p].offline = false;
            st.procs[p].probing = false;
            st.stats.processor_recoveries += 1;
            tracing::info!("processor \"{}\" is ready again", proc_.id);
            try_start(sh, st, p);
            sh.changed.notify_all();
            true
        }
        Err(e) => {
            tracing::debug!("processor \"{}\" is still down: {e}", proc_.id);
            false
        }
    }
}
