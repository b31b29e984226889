//! An accepted request and its exactly-once guarantee: whatever path drops it answers it.

use super::completion::{Completion, Reply};
use super::model::Inputs;
use super::shared::ms_since;
use crate::error::InferenceError;
use cosched_core::{ModelId, ProcessorId, Queued, RequestId, StreamId};
use ndarray::ArrayD;
use std::sync::Arc;
use std::time::Instant;

/// An accepted request.
pub(crate) struct Req {
    pub(super) id: u64,
    pub(crate) model: ModelId,
    pub(super) stream: StreamId,
    pub(super) arrival_ms: f64,
    pub(super) slo_ms: f64,
    pub(super) est_ms: f64,
    pub(crate) inputs: Arc<Inputs>,
    pub(super) reply: Option<Reply>,
    pub(super) attempts: u32,
    pub(super) tried: u64,
    pub(super) epoch: Instant,
}

impl Req {
    pub(super) fn completion(
        &self,
        result: Result<Vec<ArrayD<f32>>, InferenceError>,
        run: Option<(ProcessorId, f64, u32, f64)>,
    ) -> Completion {
        Completion {
            request: RequestId(self.id),
            model: self.model,
            stream: self.stream,
            slo_ms: self.slo_ms,
            result,
            processor: run.map(|r| r.0),
            arrival_ms: self.arrival_ms,
            start_ms: run.map(|r| r.1),
            end_ms: ms_since(self.epoch),
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
    fn seq(&self) -> u64 {
        self.id
    }
    fn model(&self) -> ModelId {
        self.model
    }
    fn slack_key(&self) -> f64 {
        self.arrival_ms + self.slo_ms - self.est_ms
    }
}
