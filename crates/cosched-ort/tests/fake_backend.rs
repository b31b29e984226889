//! The executor over a fake backend (no ONNX Runtime): every accepted request gets exactly one
//! completion, through batching, failed batches with failover, a processor whose provider fails,
//! and shutdown.

mod common;

use common::{device, TestBackend};
use cosched_core::{baseline, DeviceProfile, ModelId, Processor, StreamId};
use cosched_ort::backend::{Backend, BackendSession, Batch};
use cosched_ort::{
    BackendError, Backpressure, Completion, ExecError, Executor, ExecutorConfig, InferenceError, ProviderError, Reply,
    ShutdownMode,
};
use ndarray::ArrayD;
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What the fake does, shared by its sessions so that a test can change it while running.
#[derive(Default)]
struct Script {
    /// How long each batch takes.
    delay: Duration,
    /// Processors every batch fails on.
    fail_always: Vec<String>,
    /// Batches still to fail on the processor of this id, one each.
    fail_next: Mutex<HashMap<String, u32>>,
    /// Processors whose sessions fail to open with this error.
    open_fails: Vec<(String, BackendError)>,
    /// Batches run, per processor id.
    batches: Mutex<HashMap<String, u32>>,
}

/// One input `x` of shape `[-1, 4]`; the output `y` is `2 x`, so a request's outputs say whose
/// they are.
fn fake(script: Arc<Script>) -> impl Backend {
    TestBackend {
        width: 4,
        open: move |processor: &Processor| -> Result<Box<dyn BackendSession>, BackendError> {
            if let Some((_, e)) = script.open_fails.iter().find(|(id, _)| *id == processor.id) {
                return Err(e.clone());
            }
            Ok(Box::new(FakeSession {
                processor: processor.id.clone(),
                script: script.clone(),
            }))
        },
    }
}

struct FakeSession {
    processor: String,
    script: Arc<Script>,
}

impl BackendSession for FakeSession {
    fn run(&mut self, batch: Batch<'_>) -> Result<Vec<Vec<ArrayD<f32>>>, BackendError> {
        let s = &self.script;
        *s.batches.lock().unwrap().entry(self.processor.clone()).or_default() += 1;
        std::thread::sleep(s.delay);
        let failing = s.fail_always.contains(&self.processor) || {
            let mut next = s.fail_next.lock().unwrap();
            match next.get_mut(&self.processor) {
                Some(n) if *n > 0 => {
                    *n -= 1;
                    true
                }
                _ => false,
            }
        };
        if failing {
            return Err(BackendError::Run(format!("fake failure on {}", self.processor)));
        }
        Ok(batch.iter().map(|inputs| vec![&inputs[0] * 2.0]).collect())
    }
}

/// Two processors (`cpu-a`, and `b` on `ep_b`), one slot each, batches of up to 4.
fn fake_device(ep_b: &str) -> DeviceProfile {
    let mut d = device(&[("cpu-a", "cpu", 1), ("b", ep_b, 1)], &[("fake", 1.0)]);
    for p in &mut d.processors {
        p.max_batch = 4;
    }
    d
}

fn start(dev: &DeviceProfile, script: Script) -> Result<(Executor, Arc<Script>), ExecError> {
    let script = Arc::new(script);
    let config = ExecutorConfig {
        backpressure: Backpressure::Block,
        ..ExecutorConfig::new(baseline("least-loaded", dev, Default::default()).expect("baseline"))
    };
    let exec = Executor::with_backend(dev, Path::new("no-models-here"), config, Arc::new(fake(script.clone())))?;
    Ok((exec, script))
}

/// Completions by request id, with how many times each came.
#[derive(Default)]
struct Sink {
    done: Mutex<HashMap<u64, (u32, Completion)>>,
}

impl Sink {
    fn reply(self: &Arc<Self>) -> Reply {
        let s = self.clone();
        Reply::Callback(Box::new(move |c: Completion| {
            let mut d = s.done.lock().unwrap();
            d.entry(c.request.0).or_insert((0, c.clone())).0 += 1;
        }))
    }
}

/// Submit `n` requests whose input is filled with their index; returns (id, index) pairs.
fn submit_n(exec: &Executor, sink: &Arc<Sink>, n: usize) -> Vec<(u64, f32)> {
    let m = ModelId(0);
    (0..n)
        .map(|i| {
            let x = ArrayD::from_elem(vec![1, 4], i as f32);
            let id = exec
                .submit_with_reply(m, StreamId(0), 1000.0, vec![x], sink.reply())
                .expect("accepted");
            (id.0, i as f32)
        })
        .collect()
}

/// Every accepted request completed exactly once; returns the completions by index.
fn exactly_once(sink: &Sink, accepted: &[(u64, f32)]) -> Vec<(f32, Completion)> {
    let done = sink.done.lock().unwrap();
    assert_eq!(done.len(), accepted.len(), "every accepted request completes");
    accepted
        .iter()
        .map(|(id, i)| {
            let (n, c) = &done[id];
            assert_eq!(*n, 1, "request {id} completed {n} times");
            (*i, c.clone())
        })
        .collect()
}

#[test]
fn failed_batches_fail_over_and_every_request_completes_once_with_its_own_outputs() {
    let dev = fake_device("cpu");
    let script = Script {
        delay: Duration::from_millis(1),
        // Only on one processor, so that every failed-over request succeeds on the other.
        fail_next: Mutex::new(HashMap::from([("cpu-a".to_string(), 10)])),
        ..Script::default()
    };
    let (mut exec, script) = start(&dev, script).expect("executor");
    assert!(exec
        .processor_status()
        .iter()
        .all(|s| s.active_ep.as_deref() == Some("TestProvider")));
    let sink = Arc::new(Sink::default());
    let accepted = submit_n(&exec, &sink, 200);
    exec.shutdown(ShutdownMode::Drain);
    let done = exactly_once(&sink, &accepted);
    assert!(
        done.iter().any(|(_, c)| c.batch > 1),
        "requests queued behind a busy slot run batched"
    );
    for (i, c) in done {
        let out = c.result.unwrap_or_else(|e| panic!("request {i}: {e}"));
        assert_eq!(out.len(), 1);
        assert_eq!(
            out[0],
            ArrayD::from_elem(vec![1, 4], 2.0 * i),
            "request {i} got another's outputs"
        );
        assert!(c.attempts == 1 || c.attempts == 2);
    }
    let stats = exec.stats();
    assert_eq!(stats.completed, 200);
    assert_eq!(stats.failed, 0);
    assert!(
        stats.failovers >= 10,
        "10 failed batches, {} failovers",
        stats.failovers
    );
    assert_eq!(stats.outstanding, 0);
    let batches = script.batches.lock().unwrap();
    assert!(
        batches["cpu-a"] > 10 && batches["b"] > 0,
        "both processors ran batches: {batches:?}"
    );
}

#[test]
fn a_batch_failing_everywhere_fails_each_request_once_after_one_failover() {
    let dev = fake_device("cpu");
    let script = Script {
        fail_always: vec!["cpu-a".into(), "b".into()],
        ..Script::default()
    };
    let (mut exec, _) = start(&dev, script).expect("executor");
    let sink = Arc::new(Sink::default());
    let accepted = submit_n(&exec, &sink, 40);
    exec.shutdown(ShutdownMode::Drain);
    for (i, c) in exactly_once(&sink, &accepted) {
        match &c.result {
            Err(InferenceError::Failed { message, .. }) => assert!(message.starts_with("fake failure on")),
            other => panic!("request {i}: {other:?}"),
        }
        assert_eq!(c.attempts, 2, "request {i}: tried once on each processor");
    }
    let stats = exec.stats();
    assert_eq!((stats.failed, stats.completed, stats.outstanding), (40, 0, 0));
}

#[test]
fn shutdown_cancelling_answers_queued_and_running_requests_once() {
    let dev = fake_device("cpu");
    let script = Script {
        delay: Duration::from_millis(20),
        ..Script::default()
    };
    let (mut exec, _) = start(&dev, script).expect("executor");
    let sink = Arc::new(Sink::default());
    let accepted = submit_n(&exec, &sink, 60);
    exec.shutdown(ShutdownMode::Cancel);
    let done = exactly_once(&sink, &accepted);
    let cancelled = done
        .iter()
        .filter(|(_, c)| matches!(c.result, Err(InferenceError::Cancelled)))
        .count();
    assert!(cancelled > 0, "60 requests of 20 ms batches cannot all have run");
    for (i, c) in &done {
        assert!(
            matches!(c.result, Ok(_) | Err(InferenceError::Cancelled)),
            "request {i}: {:?}",
            c.result
        );
    }
    assert_eq!(exec.stats().outstanding, 0);
}

/// A ticket waits for the completion, not for the dispatcher's estimate of it: it sleeps until
/// shortly before the expected finish, and must still wake at once when the inference is far
/// quicker than the profile says, and keep waiting when it is far slower.
#[test]
fn a_ticket_returns_with_the_completion_whatever_the_estimate() {
    // One request on a profile that says `profiled_ms` while the inference takes `delay`:
    // its completion and how long `wait` took.
    let one = |profiled_ms: f64, delay: Duration| {
        let profile = device(&[("cpu-a", "cpu", 1)], &[("fake", profiled_ms)]);
        let script = Script {
            delay,
            ..Script::default()
        };
        let (exec, _) = start(&profile, script).expect("executor");
        let t0 = Instant::now();
        let c = exec
            .submit(ModelId(0), vec![ArrayD::from_elem(vec![1, 4], 1.0)])
            .expect("accepted")
            .wait();
        (c, t0.elapsed())
    };
    let (c, waited) = one(3000.0, Duration::from_millis(2));
    assert!(c.result.is_ok(), "{:?}", c.result);
    assert!(
        waited < Duration::from_millis(1000),
        "waited {waited:?} for a 2 ms inference estimated at 3 s"
    );
    let (c, waited) = one(0.1, Duration::from_millis(30));
    assert_eq!(c.result.expect("outputs")[0], ArrayD::from_elem(vec![1, 4], 2.0));
    assert!(waited >= Duration::from_millis(30));
}

#[test]
fn a_provider_failing_at_open_masks_its_processor_and_a_bad_model_on_the_cpu_is_fatal() {
    // `b` asks for CUDA; its sessions fail inside the provider: masked, cpu-a runs everything.
    let dev = fake_device("cuda");
    let script = Script {
        open_fails: vec![(
            "b".into(),
            BackendError::Provider(ProviderError::Session("FakeProvider: no device".into())),
        )],
        ..Script::default()
    };
    let (mut exec, script) = start(&dev, script).expect("executor");
    let status = &exec.processor_status()[1];
    assert_eq!(status.active_ep, None);
    assert_eq!(status.error.as_deref(), Some("model \"fake\": FakeProvider: no device"));
    let sink = Arc::new(Sink::default());
    let accepted = submit_n(&exec, &sink, 20);
    exec.shutdown(ShutdownMode::Drain);
    for (i, c) in exactly_once(&sink, &accepted) {
        assert!(c.result.is_ok(), "request {i}: {:?}", c.result);
        assert_eq!(c.processor.map(|p| p.index()), Some(0));
    }
    assert!(!script.batches.lock().unwrap().contains_key("b"));

    // The same failure typed as the model's, on the CPU: the executor does not start.
    let dev = fake_device("cpu");
    let script = Script {
        open_fails: vec![("cpu-a".into(), BackendError::Model("corrupt".into()))],
        ..Script::default()
    };
    match start(&dev, script) {
        Err(ExecError::Model { processor, message, .. }) => {
            assert_eq!(processor, "cpu-a");
            assert_eq!(message, "model \"fake\": corrupt");
        }
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("a bad model on the CPU must be fatal"),
    }
}
