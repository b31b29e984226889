//! A worker thread per processor slot: it owns its sessions, runs the batches it is sent and,
//! after a panic, hands its channel to a fresh replacement.

use super::config::Fault;
use super::failover::fail_over;
use super::finish::{on_done, Done, RunResult};
use super::mirror::try_start;
use super::request::Req;
use super::shared::{lock, ms_since, Job, Shared};
use super::spin::recv_job;
use crossbeam_channel::{Receiver, Sender};
use ndarray::{ArrayD, Axis};
use std::panic::AssertUnwindSafe;
use std::sync::atomic::Ordering as AtomicOrdering;
use std::sync::Arc;
use std::time::Duration;

/// A worker's start-up report: processor, slot, sessions built or why not.
pub(super) type Ready = Sender<(usize, usize, Result<(), String>)>;

pub(super) fn build_sessions(sh: &Shared, p: usize) -> Result<Vec<Option<ort::session::Session>>, String> {
    let proc_ = &sh.device.processors[p];
    let mut sessions = Vec::with_capacity(sh.models.len());
    for (m, info) in sh.models.iter().enumerate() {
        sessions.push(match info {
            Some(info) if sh.device.models[m].on[p].is_some() => Some(
                sh.session_spec
                    .build(proc_, info)
                    .map_err(|e| format!("model \"{}\": {e}", info.name))?,
            ),
            _ => None,
        });
    }
    Ok(sessions)
}

pub(super) fn run_batch(session: &mut ort::session::Session, batch: &[Req]) -> RunResult {
    use ort::session::SessionInputValue;
    use ort::value::TensorRef;
    let n_inputs = batch[0].inputs.len();
    let e = |e: ort::Error| e.to_string();
    let outputs_owned: Vec<ArrayD<f32>> = if batch.len() == 1 {
        let values: Vec<SessionInputValue<'_>> = batch[0]
            .inputs
            .iter()
            .map(|a| TensorRef::from_array_view(a).map(Into::into))
            .collect::<Result<_, _>>()
            .map_err(e)?;
        let out = session.run(values.as_slice()).map_err(e)?;
        out.values()
            .map(|v| v.try_extract_array::<f32>().map(|a| a.to_owned()).map_err(e))
            .collect::<Result<_, _>>()?
    } else {
        let joined: Vec<ArrayD<f32>> = (0..n_inputs)
            .map(|i| {
                let views: Vec<_> = batch.iter().map(|r| r.inputs[i].view()).collect();
                ndarray::concatenate(Axis(0), &views).map_err(|e| e.to_string())
            })
            .collect::<Result<_, _>>()?;
        let values: Vec<SessionInputValue<'_>> = joined
            .iter()
            .map(|a| TensorRef::from_array_view(a).map(Into::into))
            .collect::<Result<_, _>>()
            .map_err(e)?;
        let out = session.run(values.as_slice()).map_err(e)?;
        out.values()
            .map(|v| v.try_extract_array::<f32>().map(|a| a.to_owned()).map_err(e))
            .collect::<Result<_, _>>()?
    };
    if batch.len() == 1 {
        return Ok(vec![outputs_owned]);
    }
    let mut per_req: Vec<Vec<ArrayD<f32>>> = vec![Vec::with_capacity(outputs_owned.len()); batch.len()];
    for o in &outputs_owned {
        if o.shape().first() != Some(&batch.len()) {
            return Err(format!(
                "batched output has shape {:?}, expected a first dimension of {}",
                o.shape(),
                batch.len()
            ));
        }
        for (i, out) in per_req.iter_mut().enumerate() {
            out.push(o.slice_axis(Axis(0), (i..i + 1).into()).to_owned());
        }
    }
    Ok(per_req)
}

pub(super) fn panic_message(e: &(dyn std::any::Any + Send)) -> String {
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
    let sessions = build_sessions(&sh, p);
    let mut sessions = match sessions {
        Ok(s) => s,
        Err(msg) => {
            tracing::error!("worker {}/{slot}: {msg}", sh.device.processors[p].id);
            let mut replies = Vec::new();
            {
                let mut st = lock(&sh.state);
                let st = &mut *st;
                st.procs[p].slots[slot].down = true;
                if st.procs[p].slots.iter().all(|s| s.down) {
                    // Nothing will ever run here again: move its queue elsewhere.
                    st.procs[p].usable = false;
                    let reqs = st.procs[p].queue.drain_all();
                    st.procs[p].queued_work_ms = 0.0;
                    for r in reqs {
                        fail_over(&sh, st, r, p, msg.clone(), &mut replies);
                    }
                }
                sh.changed.notify_all();
            }
            for (r, c) in replies {
                r.deliver(c);
            }
            if let Some(ready) = ready {
                let _ = ready.send((p, slot, Err(msg)));
            }
            return;
        }
    };
    {
        let mut st = lock(&sh.state);
        let st = &mut *st;
        st.procs[p].slots[slot].down = false;
        st.procs[p].free.push(slot);
        try_start(&sh, st, p);
    }
    if let Some(ready) = ready {
        let _ = ready.send((p, slot, Ok(())));
    }
    let mut spin = Duration::ZERO;
    while let Some(job) = recv_job(&rx, spin) {
        let batch = match job {
            Job::Run(b) => b,
            Job::Stop => break,
        };
        let start_ms = ms_since(sh.epoch);
        let model = batch[0].model;
        let fault = sh.faults[p].swap(0, AtomicOrdering::SeqCst);
        let run = std::panic::catch_unwind(AssertUnwindSafe(|| {
            if fault == Fault::Panic as u8 {
                panic!("injected worker panic on processor {p}");
            }
            if fault == Fault::Error as u8 {
                return Err("injected inference error".to_string());
            }
            match sessions[model.index()].as_mut() {
                Some(s) => run_batch(s, &batch),
                None => Err("no session for this model on this processor".to_string()),
            }
        }));
        let end_ms = ms_since(sh.epoch);
        let (result, panicked) = match run {
            Ok(r) => (r, false),
            Err(e) => (Err(format!("worker panicked: {}", panic_message(&*e))), true),
        };
        let replies = on_done(
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
        for (r, c) in replies {
            r.deliver(c);
        }
        if panicked {
            // Replace this worker: a new thread with fresh sessions takes over the channel.
            drop(sessions);
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
