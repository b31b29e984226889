//! An accepted request and its exactly-once guarantee: whatever path drops it answers it.

use super::clock::Clock;
use super::completion::{Completion, Reply};
use super::model::Inputs;
use crate::error::InferenceError;
use cosched_core::{Pending, ProcessorId, Queued, RequestId};
use ndarray::ArrayD;
use std::sync::Arc;

/// An accepted request.
pub(crate) struct Req {
    /// What the dispatcher knows of it.
    pub(crate) head: Pending,
    pub(crate) inputs: Arc<Inputs>,
    pub(super) reply: Option<Reply>,
    pub(super) attempts: u32,
    pub(super) tried: u64,
    pub(super) clock: Clock,
}

impl Req {
    pub(super) fn completion(
        &self,
        result: Result<Vec<ArrayD<f32>>, InferenceError>,
        run: Option<(ProcessorId, f64, u32, f64)>,
    ) -> Completion {
        let h = &self.head;
        Completion {
            request: RequestId(h.id),
            model: h.model,
            stream: h.stream,
            slo_ms: h.slo_ms,
            result,
            processor: run.map(|r| r.0),
            arrival_ms: h.arrival_ms,
            start_ms: run.map(|r| r.1),
            end_ms: self.clock.now_ms(),
            attempts: self.attempts,
            batch: run.map_or(0, |r| r.2),
            energy_j: run.map_or(0.0, |r| r.3),
        }
    }
}

impl Drop for Req {
    fn drop(&mut self) {
        // Last line of defence: a request is never lost silently, whatever path dropped it.
        if let Some(reply) = self.reply.take() {
            let c = self.completion(Err(InferenceError::Cancelled), None);
            reply.deliver(c);
        }
    }
}

impl Queued for Req {
    fn pending(&self) -> &Pending {
        &self.head
    }
    fn pending_mut(&mut self) -> &mut Pending {
        &mut self.head
    }
}
