//! Batch plans and hedged copies in the real executor (a fake backend that sleeps, on the wall
//! clock): a held batch starts when full or when its wait ends (the timer thread), a hedged
//! request is answered once by the first copy to finish, and shutdown answers every request
//! once whatever its copies were doing.

mod common;

use common::TestBackend;
use cosched_core::{
    Action, BatchPlan, DeviceProfile, HedgePlan, ModelId, Observation, Policy, Processor, ProcessorId, StreamId,
};
use cosched_ort::backend::{Backend, BackendSession, Batch};
use cosched_ort::{BackendError, Completion, Executor, ExecutorConfig, Reply, ShutdownMode};
use ndarray::ArrayD;
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// `fast` (5 ms a batch) and `slow` (300 ms), batches of up to 4, one model `m`.
const DEVICE: &str = r#"
name = "two"
source = "test"
[[processor]]
id = "fast"
kind = "cpu"
ep = "cpu"
slots = 1
max_batch = 4
idle_power_w = 0.5
busy_power_w = 5.0
[[processor]]
id = "slow"
kind = "cpu"
ep = "cpu"
slots = 1
max_batch = 4
idle_power_w = 0.5
busy_power_w = 5.0
[[model]]
name = "m"
memory_mb = 1.0
latency_ms = { fast = 5.0, slow = 300.0 }
"#;

/// (processor id, batch size) of every batch run, in order.
type Batches = Arc<Mutex<Vec<(String, usize)>>>;

/// Sessions that sleep per processor; `y = 2 x` so that outputs say whose they are.
fn sleepy(batches: Batches, slow_ms: u64) -> impl Backend {
    TestBackend {
        width: 2,
        open: move |processor: &Processor| -> Result<Box<dyn BackendSession>, BackendError> {
            Ok(Box::new(SleepySession {
                id: processor.id.clone(),
                batches: batches.clone(),
                slow_ms,
            }))
        },
    }
}

struct SleepySession {
    id: String,
    batches: Batches,
    slow_ms: u64,
}

impl BackendSession for SleepySession {
    fn run(&mut self, batch: Batch<'_>) -> Result<Vec<Vec<ArrayD<f32>>>, BackendError> {
        self.batches.lock().unwrap().push((self.id.clone(), batch.len()));
        std::thread::sleep(Duration::from_millis(if self.id == "slow" { self.slow_ms } else { 5 }));
        Ok(batch.iter().map(|inputs| vec![&inputs[0] * 2.0]).collect())
    }
}

/// Every request the same action.
struct Fixed(Action);

impl Policy for Fixed {
    fn name(&self) -> &str {
        "fixed"
    }
    fn decide(&mut self, _obs: &Observation) -> Action {
        self.0
    }
}

fn start(action: Action) -> (Executor, Batches) {
    start_with(Box::new(Fixed(action)), 300)
}

fn start_with(policy: Box<dyn Policy>, slow_ms: u64) -> (Executor, Batches) {
    let dev = DeviceProfile::from_toml_str(DEVICE, "two.toml").unwrap();
    let batches = Arc::new(Mutex::new(Vec::new()));
    let backend = sleepy(batches.clone(), slow_ms);
    let exec = Executor::with_backend(
        &dev,
        Path::new("no-models"),
        ExecutorConfig::new(policy),
        Arc::new(backend),
    )
    .expect("executor");
    (exec, batches)
}

/// Completions by request id, with how many times each came.
#[derive(Default)]
struct Sink(Mutex<HashMap<u64, Vec<Completion>>>);

impl Sink {
    fn reply(self: &Arc<Self>) -> Reply {
        let s = self.clone();
        Reply::Callback(Box::new(move |c: Completion| {
            s.0.lock().unwrap().entry(c.request.0).or_default().push(c);
        }))
    }
    fn wait_for(&self, n: usize) {
        let t0 = Instant::now();
        while self.0.lock().unwrap().len() < n {
            assert!(
                t0.elapsed() < Duration::from_secs(10),
                "timed out waiting for {n} completions"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    /// Every request answered exactly once, with its own outputs.
    fn check_once(&self, inputs: &HashMap<u64, f32>) {
        let done = self.0.lock().unwrap();
        assert_eq!(done.len(), inputs.len(), "every request answered");
        for (id, cs) in done.iter() {
            assert_eq!(cs.len(), 1, "request {id} answered {} times", cs.len());
            if let Ok(out) = &cs[0].result {
                let want = 2.0 * inputs[id];
                assert!(out[0].iter().all(|&y| y == want), "request {id} got another's outputs");
            }
        }
    }
}

fn submit(exec: &Executor, sink: &Arc<Sink>, inputs: &mut HashMap<u64, f32>, value: f32) {
    let x = ArrayD::from_elem(vec![1, 2], value);
    let id = exec
        .submit_with_reply(ModelId(0), StreamId(0), 10_000.0, vec![x], sink.reply())
        .expect("accepted");
    inputs.insert(id.0, value);
}

#[test]
fn a_held_batch_starts_when_its_wait_ends_and_when_it_is_full() {
    let plan = BatchPlan {
        size: 4,
        max_wait_us: 60_000,
    };
    let (mut exec, batches) = start(Action::to(ProcessorId(0)).with_batch(plan));
    let sink = Arc::new(Sink::default());
    let mut inputs = HashMap::new();
    // Alone: nothing arrives or completes, the timer starts it when its wait ends.
    let t0 = Instant::now();
    submit(&exec, &sink, &mut inputs, 1.0);
    sink.wait_for(1);
    let waited = t0.elapsed();
    assert!(
        waited >= Duration::from_millis(55),
        "started after {waited:?}, before its wait ended"
    );
    assert!(
        waited < Duration::from_millis(2000),
        "the timer never woke it ({waited:?})"
    );
    // Four at once: one batch of four, long before the wait ends.
    let t0 = Instant::now();
    for v in 2..6 {
        submit(&exec, &sink, &mut inputs, v as f32);
    }
    sink.wait_for(5);
    assert!(t0.elapsed() < Duration::from_millis(55), "a full batch does not wait");
    assert_eq!(
        *batches.lock().unwrap(),
        vec![("fast".to_string(), 1), ("fast".to_string(), 4)]
    );
    exec.shutdown(ShutdownMode::Drain);
    sink.check_once(&inputs);
}

#[test]
fn a_hedged_request_is_answered_once_by_the_first_copy() {
    let hedge = HedgePlan {
        processor: ProcessorId(0),
        after_us: 0,
    };
    let (mut exec, _) = start(Action::to(ProcessorId(1)).with_hedge(hedge));
    let sink = Arc::new(Sink::default());
    let mut inputs = HashMap::new();
    let t0 = Instant::now();
    submit(&exec, &sink, &mut inputs, 7.0);
    sink.wait_for(1);
    assert!(t0.elapsed() < Duration::from_millis(200), "the fast copy answered");
    exec.shutdown(ShutdownMode::Drain);
    sink.check_once(&inputs);
    let done = sink.0.lock().unwrap();
    let c = &done.values().next().unwrap()[0];
    assert_eq!(c.processor, Some(ProcessorId(0)));
    let h = exec.stats().hedges;
    assert_eq!((h.sent, h.won, h.wasted, h.cancelled), (1, 1, 1, 0), "{h:?}");
    assert_eq!(exec.stats().outstanding, 0);
}

#[test]
fn a_delayed_copy_is_cancelled_when_the_original_answers_first() {
    let hedge = HedgePlan {
        processor: ProcessorId(1),
        after_us: 100_000,
    };
    let (mut exec, batches) = start(Action::to(ProcessorId(0)).with_hedge(hedge));
    let sink = Arc::new(Sink::default());
    let mut inputs = HashMap::new();
    for v in 0..3 {
        submit(&exec, &sink, &mut inputs, v as f32);
    }
    sink.wait_for(3);
    std::thread::sleep(Duration::from_millis(150));
    exec.shutdown(ShutdownMode::Drain);
    sink.check_once(&inputs);
    assert!(batches.lock().unwrap().iter().all(|(p, _)| p == "fast"), "no copy ran");
    let h = exec.stats().hedges;
    assert_eq!((h.sent, h.won, h.wasted, h.cancelled), (3, 0, 0, 3), "{h:?}");
}

#[test]
fn shutdown_answers_every_hedged_request_once() {
    for after_us in [0, 50_000, 1_000_000] {
        let hedge = HedgePlan {
            processor: ProcessorId(0),
            after_us,
        };
        let plan = BatchPlan {
            size: 4,
            max_wait_us: 30_000,
        };
        let (mut exec, _) = start(Action::to(ProcessorId(1)).with_hedge(hedge).with_batch(plan));
        let sink = Arc::new(Sink::default());
        let mut inputs = HashMap::new();
        for v in 0..20 {
            submit(&exec, &sink, &mut inputs, v as f32);
        }
        std::thread::sleep(Duration::from_millis(20));
        exec.shutdown(ShutdownMode::Cancel);
        sink.check_once(&inputs);
        assert_eq!(exec.stats().outstanding, 0);
    }
}

/// Random batch plans and hedges (any processor, any delay) for every request.
struct Scrambled(u64);

impl Policy for Scrambled {
    fn name(&self) -> &str {
        "scrambled"
    }
    fn decide(&mut self, _obs: &Observation) -> Action {
        let mut next = || {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        };
        let r = next();
        let mut a = Action::to(ProcessorId((r % 2) as u16));
        if !r.is_multiple_of(3) {
            a = a.with_batch(BatchPlan {
                size: (r >> 8) as u16 % 6,
                max_wait_us: (r >> 24) as u32 % 20_000,
            });
        }
        let r = next();
        if r.is_multiple_of(2) {
            a = a.with_hedge(HedgePlan {
                processor: ProcessorId((r >> 4) as u16 % 2),
                after_us: (r >> 16) as u32 % 15_000,
            });
        }
        a
    }
}

#[test]
fn every_request_is_answered_once_under_random_plans_and_hedges() {
    for (seed, mode) in [
        (1, ShutdownMode::Drain),
        (2, ShutdownMode::Cancel),
        (3, ShutdownMode::Drain),
    ] {
        let (mut exec, _) = start_with(Box::new(Scrambled(u64::wrapping_mul(seed, 0x9e37_79b9_7f4a_7c15))), 20);
        let sink = Arc::new(Sink::default());
        let mut inputs = HashMap::new();
        for v in 0..150 {
            submit(&exec, &sink, &mut inputs, v as f32);
            if v % 10 == 0 {
                std::thread::sleep(Duration::from_millis(3));
            }
        }
        exec.shutdown(mode);
        sink.check_once(&inputs);
        let s = exec.stats();
        assert_eq!(s.outstanding, 0);
        assert_eq!(s.completed + s.failed, 150, "{s:?}");
        assert!(
            s.hedges.sent > 0 && s.hedges.wasted + s.hedges.cancelled <= s.hedges.sent,
            "{s:?}"
        );
    }
}
