//! A worker thread per processor slot: it owns its sessions, runs the batches it is sent and,
//! after a panic, hands its channel to a fresh replacement.

use super::config::Fault;
use super::failover::fail_over;
use super::finish::{on_done, Done, RunFailure};
use super::health::{claim_probe, probe, probe_interval};
use super::host::try_start;
use super::shared::{lock, Job, Shared};
use super::spin::recv_job;
use crate::backend::{BackendSession, Batch};
use crate::error::BackendError;
use crossbeam_channel::{Receiver, Sender};
use std::panic::AssertUnwindSafe;
use std::sync::atomic::Ordering as AtomicOrdering;
use std::sync::Arc;
use std::time::Duration;
use thiserror::Error;

/// A session a worker could not open.
#[derive(Debug, Error)]
#[error("model \"{model}\": {error}")]
pub(super) struct OpenError {
    /// The model's name.
    pub(super) model: String,
    /// Why.
    pub(super) error: BackendError,
}

/// A worker's start-up report: processor, slot, sessions opened or why not.
pub(super) type ReadyReport = (usize, usize, Result<(), OpenError>);

type Ready = Sender<ReadyReport>;

/// One session per model that runs on processor `p` (`None` for the others), indexed by model.
fn open_sessions(sh: &Shared, p: usize) -> Result<Vec<Option<Box<dyn BackendSession>>>, OpenError> {
    let proc_ = &sh.device.processors[p];
    let mut sessions = Vec::with_capacity(sh.models.len());
    for (m, info) in sh.models.iter().enumerate() {
        sessions.push(match info {
            Some(info) if sh.device.models[m].on[p].is_some() => {
                Some(sh.backend.open(proc_, info).map_err(|error| OpenError {
                    model: info.name.clone(),
                    error,
                })?)
            }
            _ => None,
        });
    }
    Ok(sessions)
}

fn panic_message(e: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = e.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = e.downcast_ref::<String>() {
        s.clone()
    } else {
        "worker panicked".to_string()
    }
}

/// A worker: build the sessions, announce readiness, then run jobs until told to stop. After a
/// panic it hands its channel to a freshly spawned replacement and exits.
pub(super) fn worker_main(sh: Arc<Shared>, p: usize, slot: usize, rx: Receiver<Job>, ready: Option<Ready>) {
    let sessions = open_sessions(&sh, p);
    let mut sessions = match sessions {
        Ok(s) => s,
        Err(e) => {
            let msg = e.to_string();
            tracing::error!("worker {}/{slot}: {msg}", sh.device.processors[p].id);
            let mut replies = Vec::new();
            {
                let mut st = lock(&sh.state);
                let st = &mut *st;
                if st.dispatch.slot_down(p, slot) {
                    // Nothing will ever run here again: move its queue elsewhere.
                    st.procs[p].usable = false;
                    for r in st.dispatch.drain(p) {
                        fail_over(&sh, st, r, p, msg.clone(), &mut replies);
                    }
                }
                sh.changed.notify_all();
            }
            for (r, c) in replies {
                r.deliver(c);
            }
            if let Some(ready) = ready {
                let _ = ready.send((p, slot, Err(e)));
            }
            return;
        }
    };
    let mut probing = {
        let mut st = lock(&sh.state);
        let st = &mut *st;
        st.dispatch.slot_up(p, slot);
        try_start(&sh, st, p);
        claim_probe(st, p)
    };
    if let Some(ready) = ready {
        let _ = ready.send((p, slot, Ok(())));
    }
    let interval = probe_interval(&sh, p);
    let mut spin = Duration::ZERO;
    loop {
        let job = if probing {
            // Down: ask the backend every interval, and still take a stop (or a job sent
            // before the processor went down) as it comes.
            match rx.recv_timeout(interval) {
                Ok(job) => job,
                Err(crossbeam_channel::RecvTimeoutError::Timeout) => {
                    probing = !probe(&sh, p);
                    continue;
                }
                Err(crossbeam_channel::RecvTimeoutError::Disconnected) => break,
            }
        } else {
            match recv_job(&rx, spin) {
                Some(job) => job,
                None => break,
            }
        };
        let batch = match job {
            Job::Run(b) => b,
            Job::Stop => break,
        };
        let start_ms = sh.clock.now_ms();
        let model = batch[0].head.model;
        let fault = sh.faults[p].swap(0, AtomicOrdering::SeqCst);
        let run = std::panic::catch_unwind(AssertUnwindSafe(|| {
            if fault == Fault::Panic as u8 {
                panic!("injected worker panic on processor {p}");
            }
            if fault == Fault::Error as u8 {
                return Err(RunFailure::Injected);
            }
            match sessions[model.index()].as_mut() {
                Some(s) => s.run(Batch::new(&batch)).map_err(RunFailure::Backend),
                None => Err(RunFailure::NoSession),
            }
        }));
        let end_ms = sh.clock.now_ms();
        let (result, panicked) = match run {
            Ok(r) => (r, false),
            Err(e) => (Err(RunFailure::Panicked(panic_message(&*e))), true),
        };
        let after = on_done(
            &sh,
            p,
            slot,
            batch,
            Done {
                start_ms,
                end_ms,
                result,
                panicked,
            },
        );
        probing |= after.probe;
        for (r, c) in after.replies {
            r.deliver(c);
        }
        if panicked {
            // Replace this worker: a new thread with fresh sessions takes over the channel (and
            // the probing, if this one was probing).
            drop(sessions);
            if probing {
                lock(&sh.state).procs[p].probing = false;
            }
            let sh2 = sh.clone();
            let name = format!("cosched-{}-{slot}", sh.device.processors[p].id);
            match std::thread::Builder::new()
                .name(name)
                .spawn(move || worker_main(sh2, p, slot, rx, None))
            {
                Ok(h) => sh.handles.lock().unwrap_or_else(|e| e.into_inner()).push(h),
                Err(e) => tracing::error!("cannot replace worker {p}/{slot}: {e}"),
            }
            return;
        }
        spin = sh.worker_spin;
    }
}
