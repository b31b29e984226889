//! An accepted request and its exactly-once guarantee: whatever path drops it answers it.

use super::clock::Clock;
use super::completion::{Completion, Reply};
use super::model::Inputs;
use crate::error::InferenceError;
use cosched_core::{Pending, ProcessorId, Queued, RequestId};
use ndarray::ArrayD;
use std::sync::{Arc, Mutex};

/// An accepted request.
pub(crate) struct Req {
    /// What the dispatcher knows of it.
    pub(crate) head: Pending,
    pub(crate) inputs: Arc<Inputs>,
    /// Where its completion goes; `None` once answered or disarmed.
    pub(super) reply: Option<ReplySlot>,
    pub(super) attempts: u32,
    pub(super) tried: u64,
    pub(super) clock: Clock,
}

/// A request's reply: its own, or shared by the two copies of a hedged request (the first to
/// take it answers; the other finds it gone).
pub(super) enum ReplySlot {
    Own(Reply),
    Shared(Arc<Mutex<Option<Reply>>>),
}

impl From<Reply> for ReplySlot {
    fn from(r: Reply) -> ReplySlot {
        ReplySlot::Own(r)
    }
}

impl Req {
    /// Drop the reply without answering: an error return answers instead, or the other copy of
    /// a hedged request does.
    pub(super) fn disarm(&mut self) {
        self.reply = None;
    }

    /// The reply to answer with, if nobody answered yet.
    pub(super) fn take_reply(&mut self) -> Option<Reply> {
        match self.reply.take()? {
            ReplySlot::Own(r) => Some(r),
            ReplySlot::Shared(s) => s.lock().unwrap_or_else(|e| e.into_inner()).take(),
        }
    }

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
        if let Some(reply) = self.take_reply() {
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
    fn hedge_copy(&mut self) -> Option<Req> {
        let shared = match self.reply.take()? {
            ReplySlot::Own(r) => Arc::new(Mutex::new(Some(r))),
            ReplySlot::Shared(s) => s,
        };
        self.reply = Some(ReplySlot::Shared(shared.clone()));
        Some(Req {
            head: self.head,
            inputs: self.inputs.clone(),
            reply: Some(ReplySlot::Shared(shared)),
            attempts: self.attempts,
            tried: self.tried,
            clock: self.clock.clone(),
        })
    }
}
