//! What a submitter gets back: the completion of a request, and the ticket or callback it arrives by.

use super::spin::recv_spin;
use crate::error::InferenceError;
use cosched_core::{ModelId, ProcessorId, RequestId, StreamId};
use crossbeam_channel::{Receiver, Sender};
use ndarray::ArrayD;
use std::panic::AssertUnwindSafe;
use std::time::{Duration, Instant};

/// The result of one accepted request, delivered exactly once.
#[derive(Debug, Clone)]
pub struct Completion {
    /// The request.
    pub request: RequestId,
    /// Its model.
    pub model: ModelId,
    /// Its stream.
    pub stream: StreamId,
    /// Its deadline relative to arrival, ms.
    pub slo_ms: f64,
    /// The outputs in the model's output order, or why there are none.
    pub result: Result<Vec<ArrayD<f32>>, InferenceError>,
    /// The processor that ran it last; `None` if it never started.
    pub processor: Option<ProcessorId>,
    /// Arrival, ms since the executor started.
    pub arrival_ms: f64,
    /// Start of the (last) inference, ms since the executor started.
    pub start_ms: Option<f64>,
    /// Completion, ms since the executor started.
    pub end_ms: f64,
    /// Inferences tried (2 after a failover).
    pub attempts: u32,
    /// Size of the batch it ran in.
    pub batch: u32,
    /// Modelled energy attributed to it, J.
    pub energy_j: f64,
}

impl Completion {
    /// Arrival to completion, ms.
    pub fn latency_ms(&self) -> f64 {
        self.end_ms - self.arrival_ms
    }
}

/// How long [`Ticket::wait`] polls past the expected finish before sleeping.
pub const TICKET_SPIN: Duration = Duration::from_micros(100);

/// The longest [`Ticket::wait`] polls in all; a request expected later than this sleeps until
/// shortly before its expected finish first.
pub const TICKET_SPIN_MAX: Duration = Duration::from_millis(1);

/// Receives the completion of one request.
#[derive(Debug)]
pub struct Ticket {
    pub(super) id: RequestId,
    pub(super) rx: Receiver<Completion>,
    /// When the dispatcher expected it to finish (estimated wait plus service time).
    pub(super) expected: Instant,
}

impl Ticket {
    /// The request's id.
    pub fn id(&self) -> RequestId {
        self.id
    }

    /// Wait for the completion.
    ///
    /// Polls (see [`recv_spin`]) until [`TICKET_SPIN`] past the request's expected finish, at
    /// most [`TICKET_SPIN_MAX`], and sleeps before that if the finish is further away. A fixed
    /// poll window shorter than the inference made the waiter sleep whenever an inference ran a
    /// little long, and waking a sleeping thread on another core was most of the dispatch
    /// overhead's 1 % tail (`benches/dispatch_overhead.rs`).
    pub fn wait(self) -> Completion {
        let now = Instant::now();
        let poll_from = self.expected.checked_sub(TICKET_SPIN).unwrap_or(now);
        if poll_from > now + TICKET_SPIN_MAX {
            if let Ok(c) = self.rx.recv_deadline(poll_from) {
                return c;
            }
        }
        let now = Instant::now();
        let spin = (self.expected.saturating_duration_since(now) + TICKET_SPIN).min(TICKET_SPIN_MAX);
        // The executor always answers (see `Req::drop`), so the channel never closes empty.
        recv_spin(&self.rx, spin).expect("the executor answers every accepted request")
    }

    /// Wait at most `timeout`; `Err(self)` if it has not completed by then.
    pub fn wait_timeout(self, timeout: Duration) -> Result<Completion, Ticket> {
        match self.rx.recv_timeout(timeout) {
            Ok(c) => Ok(c),
            Err(_) => Err(self),
        }
    }

    /// The completion if it is there.
    pub fn try_take(&self) -> Option<Completion> {
        self.rx.try_recv().ok()
    }
}

/// How a completion reaches the submitter.
pub enum Reply {
    /// A channel (what [`Ticket`] reads).
    Channel(Sender<Completion>),
    /// A callback, run on a worker thread (keep it short).
    Callback(Box<dyn FnOnce(Completion) + Send>),
}

impl Reply {
    pub(super) fn deliver(self, c: Completion) {
        match self {
            Reply::Channel(tx) => {
                let _ = tx.try_send(c);
            }
            Reply::Callback(f) => {
                if std::panic::catch_unwind(AssertUnwindSafe(|| f(c))).is_err() {
                    tracing::error!("a completion callback panicked");
                }
            }
        }
    }
}
