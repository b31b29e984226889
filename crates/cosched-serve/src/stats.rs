//! Per-model statistics in the shape of Triton's statistics extension, from measured times.

use serde_json::{json, Value};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

/// Where the time of one successful request went, ns.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Timing {
    /// Request start (in the handler) to submission: reading and decoding the body.
    pub input_ns: u64,
    /// Arrival in the executor to the start of its inference.
    pub queue_ns: u64,
    /// The inference (start to end, as the executor measured it).
    pub infer_ns: u64,
    /// Completion to the response body being ready: encoding the outputs.
    pub output_ns: u64,
    /// Request start to response ready.
    pub total_ns: u64,
}

#[derive(Debug, Clone, Copy, Default)]
struct Duration {
    count: u64,
    ns: u64,
}

impl Duration {
    fn add(&mut self, ns: u64) {
        self.count += 1;
        self.ns = self.ns.saturating_add(ns);
    }

    fn json(&self) -> Value {
        json!({ "count": self.count, "ns": self.ns })
    }
}

#[derive(Debug, Default)]
struct Inner {
    success: Duration,
    fail: Duration,
    queue: Duration,
    compute_input: Duration,
    compute_infer: Duration,
    compute_output: Duration,
    /// Unix time of the last completed inference, ms (0: none yet).
    last_inference_ms: u64,
}

/// The statistics of one model.
#[derive(Debug, Default)]
pub(crate) struct ModelStats {
    inner: Mutex<Inner>,
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl ModelStats {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A request answered with outputs.
    pub(crate) fn success(&self, t: Timing) {
        let mut s = self.lock();
        s.success.add(t.total_ns);
        s.queue.add(t.queue_ns);
        s.compute_input.add(t.input_ns);
        s.compute_infer.add(t.infer_ns);
        s.compute_output.add(t.output_ns);
        s.last_inference_ms = unix_ms();
    }

    /// A request that reached the model and got an error, after `ns`.
    pub(crate) fn failure(&self, ns: u64) {
        self.lock().fail.add(ns);
    }

    /// Triton's `model_stats` entry. Every request is one inference of batch 1, so
    /// `inference_count` and `execution_count` are both the successes (the executor may run
    /// several in one batch; that is not counted separately).
    pub(crate) fn json(&self, name: &str) -> Value {
        let s = self.lock();
        let zero = Duration::default().json();
        json!({
            "name": name,
            "version": "1",
            "last_inference": s.last_inference_ms,
            "inference_count": s.success.count,
            "execution_count": s.success.count,
            "inference_stats": {
                "success": s.success.json(),
                "fail": s.fail.json(),
                "queue": s.queue.json(),
                "compute_input": s.compute_input.json(),
                "compute_infer": s.compute_infer.json(),
                "compute_output": s.compute_output.json(),
                "cache_hit": zero,
                "cache_miss": zero,
            },
            "batch_stats": [],
        })
    }
}
