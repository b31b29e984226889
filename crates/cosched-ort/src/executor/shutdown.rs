//! Shutting down: no new requests, queued ones drained or cancelled, workers stopped and joined.

use super::config::ShutdownMode;
use super::failover::fail_request;
use super::shared::{lock, Job};
use super::Executor;
use crate::error::InferenceError;
use std::time::Duration;

impl Executor {
    /// Stop accepting requests, drain or cancel the queued ones, wait for the running ones and
    /// stop the workers. Every accepted request has its completion when this returns.
    pub fn shutdown(&mut self, mode: ShutdownMode) {
        if self.shut_down {
            return;
        }
        self.shut_down = true;
        let sh = &*self.shared;
        let mut st = lock(&sh.state);
        st.closing = true;
        sh.changed.notify_all();
        let mut replies = Vec::new();
        if mode == ShutdownMode::Cancel {
            // Hedged copies still waiting for their delay go first, so that their originals
            // are cancelled as ordinary requests.
            for mut copy in st.dispatch.drain_deferred() {
                copy.disarm();
            }
            for p in 0..st.procs.len() {
                for r in st.dispatch.drain(p) {
                    fail_request(sh, &mut st, r, p, InferenceError::Cancelled, &mut replies);
                }
            }
        }
        // Queued requests on a processor with no live worker can never run: fail them.
        for p in 0..st.procs.len() {
            if st.dispatch.lane(p).all_down() && st.dispatch.lane(p).queue_len() > 0 {
                for r in st.dispatch.drain(p) {
                    let e = InferenceError::Failed {
                        processor: sh.device.processors[p].id.clone(),
                        message: "no worker left on this processor".into(),
                    };
                    fail_request(sh, &mut st, r, p, e, &mut replies);
                }
            }
        }
        drop(st);
        for (reply, c) in replies {
            reply.deliver(c);
        }
        let mut st = lock(&sh.state);
        while st.stats.outstanding > 0 {
            let (g, _) = sh
                .changed
                .wait_timeout(st, Duration::from_millis(50))
                .unwrap_or_else(|e| e.into_inner());
            st = g;
        }
        for p in &st.procs {
            for s in &p.senders {
                let _ = s.try_send(Job::Stop);
            }
        }
        drop(st);
        sh.timer.stop();
        loop {
            let h = sh.handles.lock().unwrap_or_else(|e| e.into_inner()).pop();
            match h {
                Some(h) => {
                    let _ = h.join();
                }
                None => break,
            }
        }
    }
}

impl Drop for Executor {
    fn drop(&mut self) {
        self.shutdown(ShutdownMode::Cancel);
    }
}
